#!/usr/bin/env bash
# Issue #2 acceptance on real fMRI: sweeps/sherlock.yaml (8 subjects, 5 feature sets, stimulus_window
# 1 and 3) on 2 ranks; every job × subject × parcel against the independent numpy implementation of
# ENCODING.md (|Δ eval r| <= 0.005, identical alphas on >= 95 % of targets); then the stitched
# aud_early score (mean over subjects) must reach 0.28.
source "$(dirname "$0")/common.sh"
[ -d "$SHERLOCK_DIR" ] || fail "no Sherlock data at $SHERLOCK_DIR"
sed "s#^dataset_root:.*#dataset_root: $SHERLOCK_DIR#" sweeps/sherlock.yaml > "$WORK/sherlock.yaml"
"$BRAINSWEEP" generate "$WORK/sherlock.yaml" --out "$WORK/run"
mpirun -n 2 "$BRAINSWEEP" run "$WORK/run"
$PY tests/reference/encoding_reference.py "$WORK/run/plan.json" "$WORK/reference.csv" > /dev/null
$PY tests/reference/compare_results.py "$WORK/run/results.csv" "$WORK/reference.csv" \
  --max-abs-diff 0.005 --min-alpha-agreement 0.95
"$BRAINSWEEP" stitch "$WORK/run" --select cv --top-k 1 --eval test
$PY - "$WORK/run/stitched/scores.csv" <<'PYEOF'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["parcel"] == "aud_early"]
assert len(rows) == 8, f"expected 8 subjects for aud_early, found {len(rows)}"
mean = sum(float(r["r"]) for r in rows) / len(rows)
print(f"stitched aud_early mean r over 8 subjects: {mean:.4f} (target >= 0.28)")
sys.exit(0 if mean >= 0.28 else 1)
PYEOF
