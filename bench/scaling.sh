#!/usr/bin/env bash
# Benchmarks of issue #4, one BLAS thread per rank, on the real Sherlock data:
# 1. subjects sharing a unit: the same sweep over 4 subjects and over 1 subject (pmc481: 481 voxels
#    per subject; 3 units: annotations/all, description_lsa/lsa64, topic_model/t100 at
#    stimulus_window 5, p = 180, 320, 500), 1 rank; prints the time ratio (target <= 1.5) and the
#    ratio the cost model predicts;
# 2. ranks: a sweep of 60 units (pmc481, 3 subjects, 3 feature sets × 4 hrf_delay × 5 stimulus_window,
#    ~0.3 s each) on 1 and 2 ranks, dynamic schedule; prints jobs/s and the speedup (target >= 1.8).
# Usage: bench/scaling.sh [build/brainsweep]. Say how many cores the machine has and who else uses
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
s1=$(timed_run r1 1)
s2=$(timed_run r2 2)
cmp "$WORK/r1/results.csv" "$WORK/r2/results.csv" || { echo "results differ between 1 and 2 ranks" >&2; exit 1; }
echo "ranks: $units units, $jobs jobs: 1 rank $s1 s ($(echo "scale=1; $jobs / $s1" | bc) jobs/s), 2 ranks $s2 s ($(echo "scale=1; $jobs / $s2" | bc) jobs/s): speedup $(echo "scale=2; $s1 / $s2" | bc) of the wall time (mpirun and start-up included)"
f1=$(sed -nE 's/.*fitting took ([0-9.]+) s.*/\1/p' "$WORK/r1.log")
f2=$(sed -nE 's/.*fitting took ([0-9.]+) s.*/\1/p' "$WORK/r2.log")
echo "  fitting phase (rank 0's 'fitting took'): 1 rank $f1 s ($(echo "scale=1; $jobs / $f1" | bc) jobs/s), 2 ranks $f2 s ($(echo "scale=1; $jobs / $f2" | bc) jobs/s): throughput speedup $(echo "scale=2; $f1 / $f2" | bc) (target >= 1.8)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg) (other users included)"
