#!/usr/bin/env bash
# Per-phase profile of the subjects-sharing benchmark (issue #4): the sweep of bench/scaling.sh
# (Sherlock pmc481, 481 voxels per subject; annotations/all, description_lsa/lsa64, topic_model/t100
# at stimulus_window 5: p = 180, 320, 500; 3 units) over 1 and over 4 subjects, on 1 rank with one
# BLAS thread, runs interleaved (1, 4, 1, 4, ...) so that a change of load hits both alike.
# Prints the wall time of every run, the ratio of the medians, and per sweep the median over runs of
# each phase summed over the 3 units (the `SPDLOG_LEVEL=debug` lines of `brainsweep run`, seconds):
# design (features read, aligned, standardised), fmri_train/fmri_eval (fMRI read: gzip inflate),
# center, ridge = gram + decompose + cv + refit (RidgeTimings), eval_pred, slice, eval_score,
# h5_write (job files), unit_total, results_csv.
# Usage: bench/sharing_profile.sh [build/brainsweep] [runs, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-build/brainsweep}")
N=${2:-5}
SHERLOCK=$(realpath "${SHERLOCK_DIR:-../shared/data/sherlock}")
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
export SPDLOG_LEVEL=debug
WORK=$(mktemp -d /tmp/brainsweep-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
for s in one four; do
  subjects="sub-01"
  [ $s = four ] && subjects="sub-01, sub-02, sub-03, sub-04"
  cat > "$WORK/$s.yaml" <<YAML
dataset: $PWD/configs/datasets/sherlock.yaml
dataset_root: $SHERLOCK
atlas: pmc481
subjects: [$subjects]
features:
  - {model: annotations, layers: [all]}
  - {model: description_lsa, layers: [lsa64]}
  - {model: topic_model, layers: [t100]}
grid: {hrf_delay: [0], stimulus_window: [5]}
train: [sherlock01]
eval: {test: [sherlock02]}
YAML
  "$BIN" generate "$WORK/$s.yaml" --out "$WORK/$s" > /dev/null
done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$N"); do
  for s in one four; do
    rm -rf "$WORK/$s/jobs" "$WORK/$s/units" "$WORK/$s/results.csv"
    t0=$(date +%s.%N)
    mpirun -n 1 "$BIN" run "$WORK/$s" --no-gather > "$WORK/$s.$i.log" 2>&1
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc > "$WORK/$s.$i.wall"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$WORK" "$N" <<'PY'
import re, statistics as st, sys
work, n = sys.argv[1], int(sys.argv[2])
def phases(log):
    tot = {}
    for line in open(log):
        if "phases (s):" in line:
            toks = line.split("phases (s):")[1].replace("|", " ").replace("=", " ").split()
            for k, v in zip(toks[0::2], toks[1::2]):
                tot[k] = tot.get(k, 0.0) + float(v)
        m = re.search(r", unit ([0-9.]+) s$", line.strip())
        if m:
            tot["unit_total"] = tot.get("unit_total", 0.0) + float(m.group(1))
        m = re.search(r"results.csv \(([0-9.]+) s\)", line)
        if m:
            tot["results_csv"] = float(m.group(1))
    return tot
wall = {s: [float(open(f"{work}/{s}.{i}.wall").read()) for i in range(1, n + 1)] for s in ("one", "four")}
for s in ("one", "four"):
    print(f"wall {s:4s}: " + " ".join(f"{w:.2f}" for w in wall[s]) + f"  median {st.median(wall[s]):.2f} s")
print("ratio per pair: " + " ".join(f"{b / a:.2f}" for a, b in zip(wall["one"], wall["four"])) +
      f"; ratio of medians {st.median(wall['four']) / st.median(wall['one']):.2f} (target <= 1.5)")
runs = {s: [phases(f"{work}/{s}.{i}.log") for i in range(1, n + 1)] for s in ("one", "four")}
keys = list(runs["one"][0].keys())
print(f"{'phase (s, sum of 3 units)':26s} {'1 subject':>10s} {'4 subjects':>10s} {'4 - 1':>8s}")
for k in keys:
    a = st.median([r.get(k, 0.0) for r in runs["one"]])
    b = st.median([r.get(k, 0.0) for r in runs["four"]])
    print(f"{k:26s} {a:10.3f} {b:10.3f} {b - a:8.3f}")
PY
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (other users included in the load)"
