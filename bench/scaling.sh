#!/usr/bin/env bash
# Benchmarks of issue #4, one BLAS thread per rank, on the real Sherlock data:
# 1. subjects sharing a unit: the same sweep over 4 subjects and over 1 subject (pmc481: 481 voxels
#    per subject; 3 units: annotations/all, description_lsa/lsa64, topic_model/t100 at
#    stimulus_window 5, p = 180, 320, 500), 1 rank; prints the time ratio (target <= 1.5) and the
#    ratio the cost model predicts;
# 2. ranks: a sweep of 60 units (pmc481, 3 subjects, 3 feature sets × 4 hrf_delay × 5 stimulus_window,
#    ~0.05 s each) on 1 and 2 ranks alternately, $RUNS times (default 3), dynamic schedule; prints
#    jobs/s and the speedup of the medians, and per pair (target >= 1.8).
# Usage: [RUNS=3] bench/scaling.sh [build/brainsweep]. Say how many cores the machine has and who else uses
# it when you report the figures (printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/brainsweep}
SHERLOCK=${SHERLOCK_DIR:-../shared/data/sherlock}
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
WORK=$(mktemp -d /tmp/brainsweep-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
now() { date +%s.%N; }
sweep() {  # NAME ATLAS SUBJECTS FEATURES GRID
  cat > "$WORK/$1.yaml" <<YAML
dataset: $PWD/configs/datasets/sherlock.yaml
dataset_root: $SHERLOCK
atlas: $2
subjects: [$3]
features:
$4
grid: $5
train: [sherlock01]
eval: {test: [sherlock02]}
YAML
  "$BIN" generate "$WORK/$1.yaml" --out "$WORK/$1" > /dev/null
}
timed_run() {  # RUN RANKS → seconds
  local t0 t1
  t0=$(now)
  mpirun -n "$2" "$BIN" run "$WORK/$1" --no-gather > "$WORK/$1.log" 2>&1
  t1=$(now)
  echo "$t1 - $t0" | bc
}
BIG="  - {model: annotations, layers: [all]}
  - {model: description_lsa, layers: [lsa64]}
  - {model: topic_model, layers: [t100]}"
sweep one pmc481 "sub-01" "$BIG" "{hrf_delay: [0], stimulus_window: [5]}"
sweep four pmc481 "sub-01, sub-02, sub-03, sub-04" "$BIG" "{hrf_delay: [0], stimulus_window: [5]}"
t1=$(timed_run one 1)
t4=$(timed_run four 1)
echo "subjects sharing units: 1 subject $t1 s, 4 subjects $t4 s (3 units each, 1 rank): ratio $(echo "scale=2; $t4 / $t1" | bc) (target <= 1.5)"
w() { "$BIN" plan-cost "$WORK/$1" --ranks 1 | sed -nE 's/.* ([0-9.]+) s of work.*/\1/p'; }
echo "  cost model: 1 subject $(w one) s, 4 subjects $(w four) s: predicted ratio $(echo "scale=2; $(w four) / $(w one)" | bc)"

THREE="  - {model: annotations, layers: [all]}
  - {model: annotations, layers: [scene, characters]}
  - {model: description_lsa, layers: [lsa16]}"
for r in r1 r2; do
  sweep $r pmc481 "sub-01, sub-02, sub-03" "$THREE" "{hrf_delay: [0, 1, 2, 3], stimulus_window: [1, 2, 3, 4, 5]}"
done
units=$(/usr/bin/python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["units"]))' "$WORK/r1/plan.json")
jobs=$(/usr/bin/python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["jobs"]))' "$WORK/r1/plan.json")
# 1 and 2 ranks alternately, $RUNS times (default 3): the guest's speed drifts within minutes.
RUNS=${RUNS:-3}
walls1=() walls2=() fits1=() fits2=()
for i in $(seq "$RUNS"); do
  rm -rf "$WORK"/r1/{jobs,units,results.csv} "$WORK"/r2/{jobs,units,results.csv}
  walls1+=("$(timed_run r1 1)")
  fits1+=("$(sed -nE 's/.*fitting took ([0-9.]+) s.*/\1/p' "$WORK/r1.log")")
  walls2+=("$(timed_run r2 2)")
  fits2+=("$(sed -nE 's/.*fitting took ([0-9.]+) s.*/\1/p' "$WORK/r2.log")")
  cmp "$WORK/r1/results.csv" "$WORK/r2/results.csv" || { echo "results differ between 1 and 2 ranks" >&2; exit 1; }
done
/usr/bin/python3 - "$units" "$jobs" "${walls1[*]}" "${walls2[*]}" "${fits1[*]}" "${fits2[*]}" <<'PY'
import statistics as st, sys
units, jobs = int(sys.argv[1]), int(sys.argv[2])
w1, w2, f1, f2 = ([float(v) for v in a.split()] for a in sys.argv[3:7])
pairs = lambda a, b: " ".join(f"{x / y:.2f}" for x, y in zip(a, b))
print(f"ranks: {units} units, {jobs} jobs, {len(w1)} runs of each, alternating: wall time 1 rank {st.median(w1):.2f} s, "
      f"2 ranks {st.median(w2):.2f} s (medians): speedup {st.median(w1) / st.median(w2):.2f} (pairs {pairs(w1, w2)}; "
      "mpirun and start-up included)")
print(f"  fitting phase (rank 0's 'fitting took'): 1 rank {st.median(f1):.3f} s ({jobs / st.median(f1):.1f} jobs/s), "
      f"2 ranks {st.median(f2):.3f} s ({jobs / st.median(f2):.1f} jobs/s): throughput speedup "
      f"{st.median(f1) / st.median(f2):.2f} (pairs {pairs(f1, f2)}) (target >= 1.8)")
PY
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg) (other users included)"
