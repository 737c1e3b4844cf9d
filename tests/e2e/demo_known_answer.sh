#!/usr/bin/env bash
# The main job on the embedded demo dataset (Algonauts 2025 layout, 4 subjects, 1000 parcels):
# demo-data → generate → run (2 ranks) → stitch reaches the planted answer: the informative layer
# (vjepa2/blocks.12) wins most parcels, and the stitched r per parcel tracks the planted r.
source "$(dirname "$0")/common.sh"
"$BRAINSWEEP" demo-data --out "$WORK/data"
sed "s#^dataset_root:.*#dataset_root: $WORK/data#" sweeps/demo.yaml > "$WORK/demo.yaml"
"$BRAINSWEEP" generate "$WORK/demo.yaml" --out "$WORK/run"
mpirun -n 2 "$BRAINSWEEP" run "$WORK/run"
"$BRAINSWEEP" stitch "$WORK/run" --select val --top-k 1 --eval test > "$WORK/stitch.txt"
cat "$WORK/stitch.txt"
$PY - "$WORK/data/planted_r.csv" "$WORK/run/stitched/scores.csv" "$WORK/run/plan.json" <<'PYEOF'
import csv, json, sys
import numpy as np
planted = {r["parcel"]: float(r["planted_r"]) for r in csv.DictReader(open(sys.argv[1]))}
rows = list(csv.DictReader(open(sys.argv[2])))
jobs = {j["job_id"]: j for j in json.load(open(sys.argv[3]))["jobs"]}
assert len(rows) == 4 * 1000, len(rows)
r = np.array([float(x["r"]) for x in rows]); p = np.array([planted[x["parcel"]] for x in rows])
won = np.mean([jobs[x["job_ids"]]["layers"] == ["blocks.12"] for x in rows if planted[x["parcel"]] > 0.3])
corr = np.corrcoef(r, p)[0, 1]
print(f"stitched mean r {r.mean():.4f}, planted mean r {p.mean():.4f}, corr(stitched, planted) {corr:.3f}, "
      f"blocks.12 wins {won:.1%} of parcels with planted r > 0.3")
# The fit can only lose signal (r <= planted up to sampling noise), and must recover most of it.
assert 0.9 * p.mean() <= r.mean() <= p.mean() + 0.02, "stitched mean r is not near the planted mean"
assert corr > 0.95, "stitched r does not track planted r"
assert won > 0.9, "the informative layer does not win"
PYEOF
