#!/usr/bin/env bash
# Benchmark: the cost model's predicted time against the measured time, per unit and per sweep, on
# one rank with one BLAS thread. Sweeps of different shapes: Sherlock pmc481 (t = 1443 voxels,
# p = 30…256), Sherlock pmc481 × 4 subjects (t = 1924, p = 180…800, primal and dual), Sherlock roi6 (t = 48, p up to 300), the demo dataset (4 subjects × 1000 parcels).
# Prints, per sweep, predicted and measured seconds and the relative error, and writes
# per-unit rows (shape, predicted, measured) to $OUT (default bench/cost_model.csv) for
# `bench/fit_cost_rates.py`. Usage: bench/cost_model.sh [build/brainsweep]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/brainsweep}
OUT=${OUT:-bench/cost_model.csv}
SHERLOCK=${SHERLOCK_DIR:-../shared/data/sherlock}
export OPENBLAS_NUM_THREADS=1
WORK=$(mktemp -d /tmp/brainsweep-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/pmc.yaml" <<YAML
dataset: $PWD/configs/datasets/sherlock.yaml
dataset_root: $SHERLOCK
atlas: pmc481
subjects: [sub-01, sub-02, sub-03]
features:
  - {model: annotations, layers: [all]}
  - {model: description_lsa, layers: [lsa64]}
  - {model: annotations, layers: [scene, characters]}
grid: {hrf_delay: [0, 1], stimulus_window: [1, 2, 3, 4]}
train: [sherlock01]
eval: {test: [sherlock02]}
YAML
cat > "$WORK/pmc4.yaml" <<YAML
dataset: $PWD/configs/datasets/sherlock.yaml
dataset_root: $SHERLOCK
atlas: pmc481
subjects: [sub-01, sub-02, sub-03, sub-04]
features:
  - {model: annotations, layers: [all]}
  - {model: description_lsa, layers: [lsa64]}
  - {model: topic_model, layers: [t100]}
grid: {hrf_delay: [0], stimulus_window: [5, 8]}
train: [sherlock01]
eval: {test: [sherlock02]}
YAML
cat > "$WORK/roi6.yaml" <<YAML
dataset: $PWD/configs/datasets/sherlock.yaml
dataset_root: $SHERLOCK
atlas: roi6
subjects: [sub-01, sub-02, sub-03, sub-04, sub-05, sub-06, sub-07, sub-08]
features:
  - {model: annotations, layers: [all]}
  - {model: description_lsa, layers: [lsa64]}
  - {model: topic_model, layers: [t100]}
grid: {hrf_delay: [0], stimulus_window: [1, 3]}
train: [sherlock01]
eval: {test: [sherlock02]}
YAML
"$BIN" demo-data --out "$WORK/demo" > /dev/null
sed "s#^dataset_root:.*#dataset_root: $WORK/demo#" sweeps/demo.yaml > "$WORK/demo.yaml"
echo "sweep,unit_id,n,p,t,folds,n_alphas,n_eval,predicted_s,gemm_flops,eig_cubes,stream,measured_s" > "$OUT"
printf "%-6s %6s %12s %12s %8s\n" sweep units predicted_s measured_s error
for s in pmc pmc4 roi6 demo; do
  "$BIN" generate "$WORK/$s.yaml" --out "$WORK/run_$s" > /dev/null
  "$BIN" plan-cost "$WORK/run_$s" --ranks 1 --per-unit | grep -E '^[0-9a-f]{16},' | sort > "$WORK/$s.pred"
  start=$(date +%s.%N)
  "$BIN" run "$WORK/run_$s" --no-gather > "$WORK/$s.log" 2>&1
  end=$(date +%s.%N)
  grep -oE 'unit [0-9a-f]{16} .*unit [0-9.]+ s' "$WORK/$s.log" | sed -E 's/unit ([0-9a-f]+) .*unit ([0-9.]+) s/\1,\2/' | sort > "$WORK/$s.meas"
  join -t, "$WORK/$s.pred" "$WORK/$s.meas" | sed "s/^/$s,/" >> "$OUT"
  # Predicted: the 1-rank makespan of plan-cost (units + the per-run overhead).
  pred=$("$BIN" plan-cost "$WORK/run_$s" --ranks 1 | awk '$1 == "1" { print $2 }')
  awk -v s=$s -v n=$(wc -l < "$WORK/$s.pred") -v p="$pred" -v wall=$(echo "$end - $start" | bc) 'BEGIN {
    printf "%-6s %6d %12.2f %12.2f %+7.0f%%\n", s, n, p, wall, 100 * (p - wall) / wall }'
done
echo "machine: $(nproc) cores shared with other users (load $(cut -d' ' -f1-3 /proc/loadavg)); per-unit rows in $OUT"
