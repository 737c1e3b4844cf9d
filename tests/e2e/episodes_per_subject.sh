#!/usr/bin/env bash
# Subjects whose training episodes differ (Algonauts sub-02 and sub-05 miss runs, DATA.md), on the
# demo dataset with s01e02b deleted from sub-02's fMRI file:
# - episodes: per_subject (default): sub-02 trains on the 4 episodes it has, in its own units; its
#   jobs have the ids and the numbers of a sweep over sub-02 alone listing those 4 episodes, and the
#   other subjects' jobs are those of the full sweep without sub-02's loss;
# - episodes: common: every subject trains on the 4 shared episodes, in shared units, with the ids
#   and numbers of a sweep that lists those 4 episodes;
# - an evaluation episode missing for one subject is an input error (exit 2) naming file and episode.
source "$(dirname "$0")/common.sh"
"$BRAINSWEEP" demo-data --out "$WORK/data" --parcels 40 > /dev/null
SUB02="$WORK/data/fmri/sub-02/func/sub-02_task-friends_space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-1000Par7Net_desc-s123456_bold.h5"
$PY -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); del f['ses-002_task-s01e02b']" "$SUB02"
sweep() {  # sweep NAME SUBJECTS TRAIN [EXTRA]
  cat > "$WORK/$1.yaml" <<YAML
dataset: $SOURCE_DIR/configs/datasets/algonauts2025.yaml
dataset_root: $WORK/data
atlas: Schaefer18_parcel-1000Par7Net
subjects: [$2]
features:
  - {model: vjepa2, layers: [blocks.12]}
  - {model: Llama-3.2-1B, layers: [model.layers.7]}
grid: {hrf_delay: [3], stimulus_window: [1]}
train: [$3]
eval: {test: [s01e04a, bourne02]}
${4:-}
YAML
}
ALL="sub-01, sub-02, sub-03, sub-05"
FULL="s01e01a, s01e01b, s01e02a, s01e02b, bourne01"
SHARED="s01e01a, s01e01b, s01e02a, bourne01"
sweep per_subject "$ALL" "$FULL"
sweep common "$ALL" "$FULL" "episodes: common"
sweep sub02_alone "sub-02" "$SHARED"
sweep others_full "sub-01, sub-03, sub-05" "$FULL"
sweep all_shared "$ALL" "$SHARED"
for s in per_subject common sub02_alone others_full all_shared; do
  "$BRAINSWEEP" generate "$WORK/$s.yaml" --out "$WORK/$s" > "$WORK/$s.gen" || { cat "$WORK/$s.gen"; fail "generate $s"; }
  mpirun -n 2 "$BRAINSWEEP" run "$WORK/$s" > "$WORK/$s.log" 2>&1 || { cat "$WORK/$s.log"; fail "run $s"; }
done
cat "$WORK/per_subject.gen" "$WORK/common.gen"
grep -q "sub-02 trains on 4 of 5 episodes in its own units (lacks: s01e02b)" "$WORK/per_subject.gen" || fail "generate does not say what sub-02 lacks"
grep -q "dropped: s01e02b" "$WORK/common.gen" || fail "generate does not say which episode common drops"
$PY - "$WORK" <<'PYEOF'
import csv, json, sys
w = sys.argv[1]
plan = lambda r: json.load(open(f"{w}/{r}/plan.json"))
rows = lambda r: {(x["job_id"], x["parcel"], x["eval_set"]): x for x in csv.DictReader(open(f"{w}/{r}/results.csv"))}
ps, cm = plan("per_subject"), plan("common")
assert ps["episodes"] == "per_subject" and cm["episodes"] == "common"
assert len(ps["units"]) == 4, f"per_subject: expected 2 feature sets × (shared + sub-02) = 4 units, found {len(ps['units'])}"
own = [u for u in ps["units"] if u.get("train")]
assert [u["subjects"] for u in own] == [["sub-02"], ["sub-02"]], own
assert own[0]["train"] == ["s01e01a", "s01e01b", "s01e02a", "bourne01"], own[0]["train"]
assert len(cm["units"]) == 2 and cm["train"] == own[0]["train"], (len(cm["units"]), cm["train"])
# Same jobs (ids) and same numbers as the equivalent sweeps.
def same(a, b, subjects):
    ra, rb = rows(a), rows(b)
    ka = {k: v for k, v in ra.items() if v["subject"] in subjects}
    assert ka and ka.keys() == rb.keys(), f"{a} vs {b}: different jobs"
    assert all(ka[k] == rb[k] for k in ka), f"{a} vs {b}: different numbers"
    return len(ka)
n1 = same("per_subject", "sub02_alone", {"sub-02"})
n2 = same("per_subject", "others_full", {"sub-01", "sub-03", "sub-05"})
n3 = same("common", "all_shared", {"sub-01", "sub-02", "sub-03", "sub-05"})
print(f"per_subject: sub-02 = its own sweep ({n1} rows), others = the full sweep ({n2} rows); "
      f"common = the sweep of the shared episodes ({n3} rows)")
PYEOF
# A missing evaluation episode is an input error.
sweep eval_missing "$ALL" "s01e01a, bourne01" && sed -i 's/^eval: .*/eval: {test: [s01e02b]}/' "$WORK/eval_missing.yaml"
rc=0; "$BRAINSWEEP" generate "$WORK/eval_missing.yaml" --out "$WORK/eval_missing" 2> "$WORK/err.txt" || rc=$?
cat "$WORK/err.txt"
[ "$rc" -eq 2 ] || fail "a missing eval episode: exit $rc, expected 2"
grep -q "sub-02_task-friends.*s01e02b" "$WORK/err.txt" || fail "the error does not name the file and the episode"
[ ! -e "$WORK/eval_missing" ] || fail "a failed generate created RUN_DIR"
