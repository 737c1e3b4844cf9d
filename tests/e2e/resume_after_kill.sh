#!/usr/bin/env bash
# Crash safety (issue #4): a 2-rank sweep killed with SIGKILL partway — all ranks, then one rank
# only — and rerun with the same command ends with results identical to an uninterrupted run:
# byte-identical results.csv, identical job files (h5diff) and results.h5. The kill lands after the
# first unit marker appears, on a sweep of 24 units of ~0.5 s each, so that most units are pending.
source "$(dirname "$0")/common.sh"
cat > "$WORK/sweep.yaml" <<YAML
dataset: $SOURCE_DIR/configs/datasets/sherlock.yaml
dataset_root: $SHERLOCK_DIR
atlas: pmc481
subjects: [sub-01, sub-02, sub-03]
features:
  - {model: annotations, layers: [all]}
  - {model: description_lsa, layers: [lsa64]}
  - {model: annotations, layers: [scene, characters]}
grid: {hrf_delay: [0, 1], stimulus_window: [1, 2, 3, 4]}
ridge: {folds: 5}
train: [sherlock01]
eval: {test: [sherlock02]}
YAML
UNITS=24
"$BRAINSWEEP" generate "$WORK/sweep.yaml" --out "$WORK/ref" > /dev/null
mpirun -n 2 "$BRAINSWEEP" run "$WORK/ref" > "$WORK/ref.log" 2>&1 || { cat "$WORK/ref.log"; fail "uninterrupted run failed"; }
# Progress on rank 0, one line per update when stderr is not a terminal; the last one says 24/24.
grep -q "progress: $UNITS/$UNITS units (100%), 72/72 jobs" "$WORK/ref.log" || fail "no final progress line"

# Start a 2-rank run in the background and SIGKILL (which) once the first unit is done.
# which = all: mpirun and both ranks; which = one: rank 1 only (mpirun then ends the others).
kill_partway() {
  local run=$1 which=$2
  mpirun -n 2 "$BRAINSWEEP" run "$run" > "$WORK/$(basename "$run").killed.log" 2>&1 &
  local launcher=$!
  for _ in $(seq 600); do
    compgen -G "$run/units/*.done" > /dev/null && break
    sleep 0.05
  done
  local ranks; ranks=$(pgrep -P "$launcher" || true)
  [ -n "$ranks" ] || fail "no rank processes under mpirun $launcher"
  if [ "$which" = all ]; then
    kill -9 "$launcher" $ranks
  else
    for pid in $ranks; do
      tr '\0' '\n' < "/proc/$pid/environ" | grep -qx OMPI_COMM_WORLD_RANK=1 && kill -9 "$pid"
    done
  fi
  wait "$launcher" && fail "the killed run ($which) exited 0" || true
  for pid in $ranks; do  # the ranks must be gone before the rerun starts
    for _ in $(seq 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2> /dev/null && fail "rank process $pid survived the kill ($which)"
  done
  local done_at_kill; done_at_kill=$(ls "$run/units" | grep -c '\.done$' || true)
  echo "killed ($which ranks) with $done_at_kill of $UNITS units done"
  [ "$done_at_kill" -ge 1 ] && [ "$done_at_kill" -lt "$UNITS" ] || fail "the kill did not land mid-run ($done_at_kill done)"
  [ ! -e "$run/results.csv" ] || fail "a killed run wrote results.csv"
  # status sees the pending units (exit 3: pending, none failed).
  local rc=0; "$BRAINSWEEP" status "$run" > "$WORK/status.txt" || rc=$?
  cat "$WORK/status.txt"
  [ "$rc" -eq 3 ] || fail "status exit code $rc after a kill, expected 3 (pending)"
  grep -Eq "done +$done_at_kill units" "$WORK/status.txt" || fail "status does not count $done_at_kill done units"
}

for which in all one; do
  run="$WORK/run_$which"
  "$BRAINSWEEP" generate "$WORK/sweep.yaml" --out "$run" > /dev/null
  kill_partway "$run" "$which"
  mpirun -n 2 "$BRAINSWEEP" run "$run" > "$WORK/rerun_$which.log" 2>&1 || { cat "$WORK/rerun_$which.log"; fail "rerun failed"; }
  grep -E "units fitted [0-9]+, already done [1-9]" "$WORK/rerun_$which.log" || fail "the rerun did not skip finished units"
  cmp "$WORK/ref/results.csv" "$run/results.csv" || fail "results.csv differs after kill ($which) and rerun"
  [ "$(ls "$run/jobs" | wc -l)" -eq "$(ls "$WORK/ref/jobs" | wc -l)" ] || fail "job file count differs (leftover temporaries?)"
  for f in "$WORK"/ref/jobs/*.h5; do
    h5diff "$f" "$run/jobs/$(basename "$f")" > /dev/null || fail "$(basename "$f") differs after kill ($which)"
  done
  h5diff "$WORK/ref/results.h5" "$run/results.h5" > /dev/null || fail "results.h5 differs after kill ($which)"
  "$BRAINSWEEP" status "$run" > /dev/null || fail "status after the rerun is not complete"
  echo "kill -9 ($which ranks) + rerun: identical results ($(($(wc -l < "$run/results.csv") - 1)) rows)"
done
