#!/usr/bin/env bash
# SLURM for real (issue #4): start a single-node cluster (slurm/local_cluster.sh: munged, slurmctld,
# slurmd from Debian's slurm-wlm and munge), submit a small Sherlock sweep through slurm/submit.sh
# (run on 2 tasks with srun --mpi=pmix, then gather + stitch chained with afterok), poll squeue, and
# check the results against a plain mpirun run. First a submission whose launcher runs nothing (the
# "srun exits 0 when nothing ran" case): the run job must fail on `status` and the chained gather
# job must be cancelled, not wait forever. Then the same submit command again resumes and completes.
# Stops every job and daemon it started, by PID. Skips (77) without slurm-wlm or root, unless CI=true.
source "$(dirname "$0")/common.sh"
if ! command -v slurmctld > /dev/null || [ "$(id -u)" -ne 0 ]; then
  [ "${CI:-}" = true ] && fail "CI must run the SLURM test: slurm-wlm/munge missing or not root"
  echo "SKIP: needs root and the slurm-wlm and munge packages (tools/install_deps.sh)"
  exit 77
fi
STATE=$(mktemp -d /tmp/brainsweep-slurm.XXXXXX)
trap '"$SOURCE_DIR/slurm/local_cluster.sh" stop "$STATE"; rm -rf "$WORK"' EXIT
eval "$("$SOURCE_DIR/slurm/local_cluster.sh" start "$STATE")"
export SLURM_CONF
sinfo

cat > "$WORK/sweep.yaml" <<YAML
dataset: $SOURCE_DIR/configs/datasets/sherlock.yaml
dataset_root: $SHERLOCK_DIR
atlas: roi6
subjects: [sub-01, sub-02, sub-03]
features:
  - {model: annotations, layers: [speech, music]}
  - {model: description_lsa, layers: [lsa16]}
grid: {hrf_delay: [0], stimulus_window: [1, 2]}
train: [sherlock01]
eval: {test: [sherlock02]}
YAML
"$BRAINSWEEP" generate "$WORK/sweep.yaml" --out "$WORK/ref" > /dev/null
mpirun -n 2 "$BRAINSWEEP" run "$WORK/ref" > /dev/null 2>&1 || fail "reference run failed"

# Wait until none of the jobs is in the queue (poll squeue: sbatch --wait polls every 32 s).
wait_jobs() {
  for _ in $(seq 1200); do
    [ -z "$(squeue -h -j "$1" -o %i 2> /dev/null)" ] && return 0
    sleep 0.25
  done
  squeue
  fail "jobs $1 still queued after 300 s"
}
state_of() { scontrol show job "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
submit() {
  local out
  out=$(BRAINSWEEP="$BRAINSWEEP" STITCH="--select cv --top-k 1 --eval test" "$SOURCE_DIR/slurm/submit.sh" \
        "$WORK/sweep.yaml" "$WORK/run" --ntasks=2 --time=10)
  echo "$out" >&2
  echo "$out" | sed -nE 's/^submitted run job ([0-9]+) and gather job ([0-9]+).*/\1 \2/p'
}

# 1. A launcher that runs nothing and exits 0: run.sbatch sees pending units and fails; the gather
#    job depending on it is cancelled (kill_invalid_depend).
read -r run_id gather_id < <(BRAINSWEEP_LAUNCHER=true submit)
[ -n "$gather_id" ] || fail "submit.sh did not print the job ids"
wait_jobs "$run_id,$gather_id"
echo "launcher that ran nothing: run job $(state_of "$run_id"), gather job $(state_of "$gather_id")"
[ "$(state_of "$run_id")" = FAILED ] || fail "run job: $(state_of "$run_id"), expected FAILED"
[ "$(state_of "$gather_id")" = CANCELLED ] || fail "gather job: $(state_of "$gather_id"), expected CANCELLED"
grep -q "pending" "$WORK/run/brainsweep-run-$run_id.out" || fail "the run log does not show the pending units"
[ ! -e "$WORK/run/results.h5" ] || fail "results.h5 written by a run that did nothing"

# 2. The same command again (plan unchanged) runs, gathers and stitches.
read -r run_id gather_id < <(submit)
wait_jobs "$run_id,$gather_id"
echo "resubmitted: run job $(state_of "$run_id"), gather job $(state_of "$gather_id")"
cat "$WORK/run/brainsweep-run-$run_id.out" "$WORK/run/brainsweep-gather-$gather_id.out"
[ "$(state_of "$run_id")" = COMPLETED ] || fail "run job: $(state_of "$run_id")"
[ "$(state_of "$gather_id")" = COMPLETED ] || fail "gather job: $(state_of "$gather_id")"
grep -q "on 2 ranks" "$WORK/run/brainsweep-run-$run_id.out" || fail "the run did not have 2 ranks"
grep -q "units fitted 4, already done 0, failed 0" "$WORK/run/brainsweep-run-$run_id.out" || fail "run log"
cmp "$WORK/ref/results.csv" "$WORK/run/results.csv" || fail "results.csv differs from the mpirun run"
h5diff "$WORK/ref/results.h5" "$WORK/run/results.h5" || fail "results.h5 differs from the mpirun run"
[ -s "$WORK/run/stitched/scores.csv" ] || fail "stitch did not run"
"$BRAINSWEEP" status "$WORK/run" > /dev/null || fail "status is not complete"
echo "SLURM: submit.sh → run (2 tasks, srun --mpi=pmix) → gather + stitch: results identical to mpirun"

# 3. From stimuli (issue #6), when brainsweep has extraction: EXTRACT=... submit.sh → extract job
#    (2 tasks, episodes split) that then generates the plan → run → gather + stitch.
if ! "$BRAINSWEEP" extract /nonexistent.yaml 2>&1 | grep -q "without libtorch"; then
  X=$WORK/x
  mkdir -p "$X/stimuli/movies/friends/s1" "$X/models" "$X/fmri/sub-01/func"
  for ep in s01e01a s01e01b; do
    ffmpeg -v error -f lavfi -i "testsrc2=size=48x32:rate=4" -t 60 -c:v libx264 -pix_fmt yuv420p \
      "$X/stimuli/movies/friends/s1/friends_$ep.mkv"
  done
  (cd "$SOURCE_DIR/tests/extract" && $PY -c "import tiny_models as tm; tm.save(tm.make('image'), '$X/models/image.pt', None)")
  $PY - "$X/fmri/sub-01/func/sub-01_task-friends_space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-1000Par7Net_desc-s123456_bold.h5" <<'PYEOF'
import sys, h5py, numpy as np
rng = np.random.default_rng(0)
with h5py.File(sys.argv[1], "w") as f:
    for ep in ("s01e01a", "s01e01b"):
        f[f"ses-001_task-{ep}"] = rng.standard_normal((40, 10)).astype(np.float32)
PYEOF
  cat > "$X/extract.yaml" <<YAML
name: image
model: {path: $X/models/image.pt, threads: 1}
layers: [features]
pool: {mode: mean, channel_dim: 1}
video: {frames_per_chunk: 2, size: [16, 16], layout: frames}
stimuli: [{stimset: friends, group: s1, files: "$X/stimuli/movies/friends/s1/*.mkv"}]
out: $X/features
YAML
  cat > "$X/sweep.yaml" <<YAML
dataset: $SOURCE_DIR/configs/datasets/algonauts2025.yaml
dataset_root: $X
atlas: Schaefer18_parcel-1000Par7Net
subjects: [sub-01]
features: [{model: image, layers: [features]}]
grid: {hrf_delay: [3], stimulus_window: [1]}
ridge: {folds: 2}   # 30 training samples: every fold needs at least 10
train: [s01e01a]
eval: {test: [s01e01b]}
YAML
  out=$(cd "$X" && BRAINSWEEP="$BRAINSWEEP" EXTRACT="extract.yaml" STITCH="--select cv --top-k 1 --eval test" \
        "$SOURCE_DIR/slurm/submit.sh" sweep.yaml run --ntasks=2 --time=10)
  echo "$out"
  extract_id=$(echo "$out" | sed -nE 's/^submitted extract job ([0-9]+).*/\1/p')
  read -r run_id gather_id < <(echo "$out" | sed -nE 's/^submitted run job ([0-9]+) and gather job ([0-9]+).*/\1 \2/p')
  [ -n "$extract_id" ] && [ -n "$gather_id" ] || fail "submit.sh with EXTRACT did not print three job ids"
  wait_jobs "$extract_id,$run_id,$gather_id"
  cat "$X/brainsweep-extract-$extract_id.out"
  for j in "$extract_id" "$run_id" "$gather_id"; do
    [ "$(state_of "$j")" = COMPLETED ] || fail "job $j: $(state_of "$j")"
  done
  grep -q "2 episodes, 0 already extracted, 2 to do on 2 rank(s)" "$X/brainsweep-extract-$extract_id.out" \
    || fail "the extract job did not split 2 episodes over 2 ranks"
  "$BRAINSWEEP" extract "$X/extract.yaml" --status || fail "extract --status: episodes pending"
  [ -s "$X/run/results.csv" ] && [ -s "$X/run/stitched/scores.csv" ] || fail "run/stitch after extract did not finish"
  echo "SLURM: EXTRACT=... submit.sh → extract (2 tasks) + generate → run → gather + stitch"
fi
