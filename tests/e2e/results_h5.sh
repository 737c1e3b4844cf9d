#!/usr/bin/env bash
# results.h5 (docs/results-format.md), read with h5py: gathered on 3 ranks (uneven blocks of jobs),
# every score, alpha and prediction equals the job files, results.csv and plan.json; `brainsweep
# gather` run again on 2 ranks writes the same content.
source "$(dirname "$0")/common.sh"
cat > "$WORK/sweep.yaml" <<YAML
dataset: $SOURCE_DIR/configs/datasets/sherlock.yaml
dataset_root: $SHERLOCK_DIR
atlas: roi6
subjects: [sub-01, sub-02, sub-03]
features:
  - {model: annotations, layers: [speech, music]}
  - {model: description_lsa, layers: [lsa16]}
grid: {hrf_delay: [0], stimulus_window: [1, 2]}
ridge: {folds: 4, alphas: [1, 100, 10000]}
train: [sherlock01]
eval: {test: [sherlock02], again: [sherlock02]}
YAML
"$BRAINSWEEP" generate "$WORK/sweep.yaml" --out "$WORK/run" --ranks 1,2,8 > "$WORK/gen.txt"
# The predicted makespan table: 4 units; 1 rank is perfectly balanced, 8 ranks cannot be (4 units).
cat "$WORK/gen.txt"
grep -Eq '^ +1 +[0-9.]+ s +100\.0%' "$WORK/gen.txt" || fail "plan-cost: 1 rank should be 100 % efficient"
eff8=$(awk '$1 == "8" { print $4 }' "$WORK/gen.txt" | tr -d %)
[ -n "$eff8" ] && [ "$(echo "$eff8 <= 50" | bc)" -eq 1 ] || fail "plan-cost: 8 ranks for 4 units should be <= 50 % efficient ($eff8)"
mpirun -n 3 "$BRAINSWEEP" run "$WORK/run" > "$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; fail "run"; }
cp "$WORK/run/results.h5" "$WORK/first.h5"
mpirun -n 2 "$BRAINSWEEP" gather "$WORK/run" || fail "gather on 2 ranks"
h5diff "$WORK/first.h5" "$WORK/run/results.h5" || fail "gather on 2 ranks differs from 3"
$PY - "$WORK/run" <<'PYEOF'
import csv, json, sys
import h5py
import numpy as np
run = sys.argv[1]
plan = json.load(open(f"{run}/plan.json"))
csv_rows = {(r["job_id"], r["parcel"], r["eval_set"]): r for r in csv.DictReader(open(f"{run}/results.csv"))}
s = lambda a: [x.decode() for x in a[()]]
with h5py.File(f"{run}/results.h5", "r") as f:
    assert f.attrs["format"].decode() == "brainsweep-results/1", f.attrs["format"]
    assert f.attrs["dataset"].decode() == "sherlock" and f.attrs["atlas"].decode() == "roi6"
    assert np.array_equal(f["alphas"][()], plan["ridge"]["alphas"])
    assert s(f["eval_sets"]) == ["test", "again"]
    assert s(f["subject_names"]) == plan["subjects"]
    jobs = plan["jobs"]
    assert s(f["jobs/job_id"]) == [j["job_id"] for j in jobs]
    assert s(f["jobs/subject"]) == [j["subject"] for j in jobs]
    assert s(f["jobs/layers"]) == ["+".join(j["layers"]) for j in jobs]
    assert list(f["jobs/stimulus_window"][()]) == [j["stimulus_window"] for j in jobs]
    checked = 0
    for sub in plan["subjects"]:
        g = f[f"subjects/{sub}"]
        idx = g["job_index"][()]
        assert [jobs[i]["subject"] for i in idx] == [sub] * len(idx)
        names = s(g["parcel_names"])
        assert g["alpha"].shape == (4, 6) and g["cv_scores"].shape == (4, 3, 6)
        assert g["predictions/sherlock02"].shape == (4, 1030, 6) and g["predictions/sherlock02"].dtype == np.float32
        for row, i in enumerate(idx):
            jid = jobs[i]["job_id"]
            with h5py.File(f"{run}/jobs/{jid}.h5", "r") as j:
                for name in ("alpha", "cv_r", "cv_scores", "eval/test/r", "eval/again/r"):
                    assert np.array_equal(g[name][row], j[name][()]), (sub, jid, name)
                assert np.array_equal(g["predictions/sherlock02"][row], j["predictions/sherlock02"][()])
            for p, parcel in enumerate(names):
                c = csv_rows[(jid, parcel, "test")]
                assert float(c["eval_r"]) == float(f"{g['eval/test/r'][row, p]:.9g}")
                assert float(c["alpha"]) == g["alpha"][row, p]
                checked += 1
print(f"results.h5 matches the job files and results.csv ({checked} job × parcel values, 3 subjects)")
PYEOF
