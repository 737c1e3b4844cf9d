#!/usr/bin/env bash
# RSA through the MPI driver (issue #13 §2): the Sherlock scene RSA sweep (sweeps/sherlock_rsa.yaml)
# on 1, 2 and 3 ranks, dynamic and static, gives results.csv and rsa_report.txt byte-identical to
# each other and to `brainsweep rsa --sweep` (tested against numpy in e2e.rsa); a rerun skips every
# unit; a run SIGKILLed partway and rerun ends identical; `gather` rewrites the same files; `stitch`
# and bad `rsa:` keys are refused before anything is written.
source "$(dirname "$0")/common.sh"
EVENTS="$SHERLOCK_DIR/events/{episode}_events.tsv"
sed -e "s|dataset: configs|dataset: $SOURCE_DIR/configs|" -e "s|dataset_root: ../shared/data/sherlock|dataset_root: $SHERLOCK_DIR|" \
    -e "s|events: ../shared/data/sherlock/events/{episode}_events.tsv|events: $EVENTS|" \
    -e "s|bootstrap: 1000|bootstrap: ${RSA_BOOTSTRAP:-200}|" -e "s|permutations: 1000|permutations: ${RSA_PERMUTATIONS:-200}|" \
    sweeps/sherlock_rsa.yaml > "$WORK/sweep.yaml"
grep -q "events: $EVENTS" "$WORK/sweep.yaml" || fail "the sweep's events were not rewritten"
"$BRAINSWEEP" rsa --sweep "$WORK/sweep.yaml" --events "$EVENTS" --set train,test --comparison corr,spearman \
  --bootstrap "${RSA_BOOTSTRAP:-200}" --permutations "${RSA_PERMUTATIONS:-200}" --seed 0 --out "$WORK/direct.csv" > "$WORK/direct.txt"
for n in 1 2 3 2s 3s; do
  schedule=dynamic; [[ $n == *s ]] && schedule=static
  "$BRAINSWEEP" generate "$WORK/sweep.yaml" --out "$WORK/run$n" > "$WORK/gen$n.txt"
  mpirun -n ${n%s} "$BRAINSWEEP" run "$WORK/run$n" --schedule $schedule > "$WORK/run$n.log" 2>&1 \
    || { cat "$WORK/run$n.log"; fail "run on $n ranks failed"; }
  cmp "$WORK/direct.csv" "$WORK/run$n/results.csv" || fail "results.csv on $n ranks differs from rsa --sweep"
  cmp "$WORK/run1/rsa_report.txt" "$WORK/run$n/rsa_report.txt" || fail "rsa_report.txt differs (1 vs $n ranks)"
  [ ! -e "$WORK/run$n/results.h5" ] || fail "an RSA run wrote results.h5"
done
grep -q "rsa: 50 conditions from 683 events over 2 runs of set train,test" "$WORK/gen1.txt" || fail "generate does not describe the RSA"
# the report is the one rsa --sweep prints (its first line aside)
tail -n +2 "$WORK/direct.txt" | grep -v '^wrote' | cmp - "$WORK/run1/rsa_report.txt" || fail "rsa_report.txt differs from rsa --sweep's report"
rows=$(($(wc -l < "$WORK/run1/results.csv") - 1))
[ "$rows" -eq $((10 * 2 * 9)) ] || fail "expected 180 rows (10 models × 2 comparisons × (8 subjects + mean)), found $rows"
# the job files open in h5py with the documented layout
$PY - "$WORK/run1" <<'PY'
import glob, sys, h5py, numpy as np, csv
run = sys.argv[1]
rows = list(csv.DictReader(open(f"{run}/results.csv")))
for path in glob.glob(f"{run}/jobs/*.h5"):
    with h5py.File(path) as f:
        assert f.attrs["metric"] == b"rsa" or f.attrs["metric"] == "rsa", f.attrs["metric"]
        name = f.attrs["model_name"]; name = name.decode() if isinstance(name, bytes) else name
        sub = f.attrs["subject"]; sub = sub.decode() if isinstance(sub, bytes) else sub
        assert f["rsa/subject"].shape == (2, 6) and f["rsa/ceiling"].shape == (2, 2)
        undefined = f.attrs["model_rdm_undefined"]; undefined = undefined.decode() if isinstance(undefined, bytes) else undefined
        for k, comp in enumerate(("corr", "spearman")):
            row = next(r for r in rows if r["model"] == name and r["subject"] == sub and r["comparison"] == comp)
            if name.startswith("annotations/speech"):
                # window 1: 2 channels; window 3: 6 channels, constant over 12 of the 50 scenes (no speech):
                # the correlation RDM is undefined, every value NaN
                assert undefined.startswith("correlation distance over 2 channels" if " w1 " in name else
                                            "correlation distance of a constant pattern: 12 of 50"), undefined
                assert row["similarity"] == row["p_permutation"] == row["bootstrap_sd"] == "", row
                assert np.isnan(f["rsa/subject"][k, 0]) and row["n_bootstrap"] == "0", row
            else:
                assert undefined == "", (path, name, undefined)
                assert abs(float(row["similarity"]) - f["rsa/subject"][k, 0]) < 1e-9, (path, comp)
                assert int(row["n_bootstrap"]) == int(f["rsa/subject"][k, 5]) > 0, row  # resamples used
            assert abs(float(row["ceiling_lower"]) - f["rsa/ceiling"][k, 0]) < 1e-8
print("job files match results.csv")
PY
grep -q "annotations/speech w1 d0 *NaN *- *-  (undefined: correlation distance over 2 channels" "$WORK/run1/rsa_report.txt" \
  || { cat "$WORK/run1/rsa_report.txt"; fail "the report does not say that the speech model's RDM is undefined"; }
grep -q "the model RDM is undefined (correlation distance over 2 channels" "$WORK/run1.log" || fail "run does not warn of the undefined model RDM"
# plan-cost counts RSA units as RSA work (it used the ridge model) and generate does not describe folds or alphas
"$BRAINSWEEP" plan-cost "$WORK/run1" --ranks 1,2 > "$WORK/cost.txt" || fail "plan-cost of an RSA plan failed"
grep -q "RSA units: 50 conditions × 1 ROI × 8 subjects, comparisons corr,spearman, bootstrap ${RSA_BOOTSTRAP:-200}" "$WORK/cost.txt" \
  || { cat "$WORK/cost.txt"; fail "plan-cost does not count the RSA work"; }
! grep -q "fold CV" "$WORK/gen1.txt" || { cat "$WORK/gen1.txt"; fail "generate describes folds and alphas for an RSA plan"; }
# status counts RSA units like ridge units and names the RSA outputs
"$BRAINSWEEP" status "$WORK/run1" > "$WORK/status.txt" || fail "status of a finished RSA run exited non-zero"
grep -Eq "done +10 units \(80 jobs\)" "$WORK/status.txt" || { cat "$WORK/status.txt"; fail "status does not count 10 done units"; }
grep -q "results.csv (the RSA table): written; rsa_report.txt: written" "$WORK/status.txt" || fail "status does not name the RSA outputs"
# a rerun skips every unit and leaves the outputs as they were
mpirun -n 2 "$BRAINSWEEP" run "$WORK/run2" > "$WORK/rerun.log" 2>&1 || { cat "$WORK/rerun.log"; fail "rerun failed"; }
grep -q "10 units already done, 0 to fit" "$WORK/rerun.log" || { cat "$WORK/rerun.log"; fail "the rerun did not skip the done units"; }
cmp "$WORK/direct.csv" "$WORK/run2/results.csv" || fail "results.csv changed on a rerun"
# two units' records removed: the rerun fits exactly those two
for u in $(ls "$WORK/run3/units" | grep '\.done$' | head -2); do rm "$WORK/run3/units/$u"; done
rm "$WORK/run3/results.csv"
mpirun -n 3 "$BRAINSWEEP" run "$WORK/run3" > "$WORK/refit.log" 2>&1 || { cat "$WORK/refit.log"; fail "refit failed"; }
grep -q "8 units already done, 2 to fit" "$WORK/refit.log" || { cat "$WORK/refit.log"; fail "the rerun did not refit exactly 2 units"; }
cmp "$WORK/direct.csv" "$WORK/run3/results.csv" || fail "results.csv differs after refitting 2 units"
# killed partway (SIGKILL to mpirun and its ranks once the first unit is done), then rerun
"$BRAINSWEEP" generate "$WORK/sweep.yaml" --out "$WORK/killed" > /dev/null
sed -i -e "s|bootstrap: ${RSA_BOOTSTRAP:-200}|bootstrap: 4000|" -e "s|permutations: ${RSA_PERMUTATIONS:-200}|permutations: 4000|" "$WORK/sweep.yaml"
"$BRAINSWEEP" generate "$WORK/sweep.yaml" --out "$WORK/slow_ref" > /dev/null
mpirun -n 2 "$BRAINSWEEP" run "$WORK/slow_ref" > "$WORK/slow_ref.log" 2>&1 || fail "slow reference run failed"
"$BRAINSWEEP" generate "$WORK/sweep.yaml" --out "$WORK/slow" > /dev/null
mpirun -n 2 "$BRAINSWEEP" run "$WORK/slow" > "$WORK/slow.killed.log" 2>&1 &
launcher=$!
for _ in $(seq 1200); do compgen -G "$WORK/slow/units/*.done" > /dev/null && break; sleep 0.02; done
ranks=$(pgrep -P "$launcher" || true)
kill -9 "$launcher" $ranks 2> /dev/null || true
wait "$launcher" 2> /dev/null || true
for pid in $ranks; do for _ in $(seq 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done; done
done_at_kill=$(ls "$WORK/slow/units" | grep -c '\.done$' || true)
echo "killed with $done_at_kill of 10 RSA units done"
[ ! -e "$WORK/slow/results.csv" ] || [ "$done_at_kill" -eq 10 ] || fail "a killed run wrote results.csv"
mpirun -n 2 "$BRAINSWEEP" run "$WORK/slow" > "$WORK/slow.log" 2>&1 || { cat "$WORK/slow.log"; fail "rerun after the kill failed"; }
grep -q "$done_at_kill units already done" "$WORK/slow.log" || { cat "$WORK/slow.log"; fail "the rerun did not keep the $done_at_kill done units"; }
cmp "$WORK/slow_ref/results.csv" "$WORK/slow/results.csv" || fail "results.csv after kill + rerun differs from an uninterrupted run"
# gather rewrites the same files
rm "$WORK/run1/results.csv" "$WORK/run1/rsa_report.txt"
mpirun -n 2 "$BRAINSWEEP" gather "$WORK/run1" > "$WORK/gather.log" 2>&1 || { cat "$WORK/gather.log"; fail "gather failed"; }
cmp "$WORK/direct.csv" "$WORK/run1/results.csv" || fail "gather wrote another results.csv"
cmp "$WORK/run2/rsa_report.txt" "$WORK/run1/rsa_report.txt" || fail "gather wrote another report"
# events changed after a run: every unit is stale (status pending, gather refuses), run fits them again
mkdir -p "$WORK/events"
cp "$SHERLOCK_DIR"/events/sherlock0[12]_events.tsv "$WORK/events/"
sed -e "s|events: $EVENTS|events: $WORK/events/{episode}_events.tsv|" -e "s|bootstrap: 4000|bootstrap: ${RSA_BOOTSTRAP:-200}|" \
    -e "s|permutations: 4000|permutations: ${RSA_PERMUTATIONS:-200}|" "$WORK/sweep.yaml" > "$WORK/sweep_ev.yaml"
"$BRAINSWEEP" generate "$WORK/sweep_ev.yaml" --out "$WORK/ev" > /dev/null
mpirun -n 2 "$BRAINSWEEP" run "$WORK/ev" > "$WORK/ev.log" 2>&1 || { cat "$WORK/ev.log"; fail "run on copied events failed"; }
cmp "$WORK/direct.csv" "$WORK/ev/results.csv" || fail "copied events gave another results.csv"
# one segment of scene 2 becomes a new, 51st condition
$PY - "$WORK/events/sherlock02_events.tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
rows[5]["trial_type"] = "51. New scene"
with open(sys.argv[1], "w", newline="") as f:
    w = csv.DictWriter(f, rows[0].keys(), delimiter="\t"); w.writeheader(); w.writerows(rows)
PY
"$BRAINSWEEP" status "$WORK/ev" > "$WORK/ev_status.txt" || true
grep -Eq "pending +10 units" "$WORK/ev_status.txt" || { cat "$WORK/ev_status.txt"; fail "status does not count the stale units as pending"; }
rc=0; "$BRAINSWEEP" gather "$WORK/ev" > "$WORK/ev_gather.txt" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && grep -q "computed from other events than the plan's current events files" "$WORK/ev_gather.txt" \
  || { cat "$WORK/ev_gather.txt"; fail "gather of stale RSA units: exit $rc"; }
cmp "$WORK/direct.csv" "$WORK/ev/results.csv" || fail "a refused gather changed results.csv"
mpirun -n 2 "$BRAINSWEEP" run "$WORK/ev" > "$WORK/ev2.log" 2>&1 || { cat "$WORK/ev2.log"; fail "rerun after the events changed failed"; }
grep -q "0 units already done, 10 to fit" "$WORK/ev2.log" || { cat "$WORK/ev2.log"; fail "the rerun did not refit all 10 stale units"; }
grep -q "was computed from other events" "$WORK/ev2.log" || fail "the rerun does not say why it refits"
$PY - "$WORK/ev/results.csv" <<'PY'
import csv, sys
n = {r["n_conditions"] for r in csv.DictReader(open(sys.argv[1]))}
assert n == {"51"}, n
PY
# stitch refuses an RSA plan
rc=0; "$BRAINSWEEP" stitch "$WORK/run1" --select cv --top-k 1 --eval test > "$WORK/stitch.txt" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -q "an RSA plan" "$WORK/stitch.txt" || { cat "$WORK/stitch.txt"; fail "stitch did not refuse an RSA plan (rc $rc)"; }
[ ! -e "$WORK/run1/stitched" ] || fail "stitch wrote stitched/ for an RSA plan"
# bad rsa: keys, refused by generate before anything is written
bad() {  # bad NAME SED-EXPRESSION PATTERN
  sed -e "$2" "$WORK/sweep.yaml" > "$WORK/bad_$1.yaml"
  local rc=0; "$BRAINSWEEP" generate "$WORK/bad_$1.yaml" --out "$WORK/bad_$1" > "$WORK/bad_$1.txt" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { cat "$WORK/bad_$1.txt"; fail "$1: exit $rc, expected 2"; }
  grep -Eq "$3" "$WORK/bad_$1.txt" || { cat "$WORK/bad_$1.txt"; fail "$1: message does not match '$3'"; }
  [ ! -e "$WORK/bad_$1" ] || fail "$1: generate wrote $WORK/bad_$1"
}
bad set "s|set: \[train, test\]|set: [train, val]|" "key 'rsa.set': 'val' is not a set of this sweep"
bad distance "s|  comparisons:|  distance: cityblock\n  comparisons:|" "key 'rsa.distance': expected correlation, euclidean, standardized-euclidean or crossnobis, found 'cityblock'"
bad comparison "s|comparisons: \[corr, spearman\]|comparisons: [corr, kendall]|" "key 'rsa.comparisons': expected corr, spearman, tau-a, cosine, cka or cka-debiased, found 'kendall'"
bad events "s|_events.tsv|_nothere.tsv|" "sherlock01_nothere.tsv"
bad template "s|{episode}_events.tsv|sherlock01_events.tsv|" "key 'rsa.events': expected a path template holding \{episode\}"
bad roi "s|  comparisons:|  rois: {vis: 'nomatch'}\n  comparisons:|" "key 'rsa.rois.vis' \('nomatch'\): no parcel of .* matches"
bad crossnobis "s|  comparisons:|  distance: crossnobis\n  comparisons:|" "sherlock01_events.tsv: no event of condition '.*' \(key 'rsa.distance' crossnobis"
bad hrf "s|hrf_delay: \[0\]|hrf_delay: [0, 1]|" "key 'rsa': the grid has 2 hrf_delay values"
bad unknown "s|  seed: 0|  seeds: 0|" "rsa.seeds'?: unknown key"
bad roi2 "s|  comparisons:|  rois: {two: 'early_visual\|aud_early'}\n  comparisons:|" "key 'rsa.rois.two' .*: 2 parcels \(early_visual\); a correlation distance needs at least 3 channels"
bad ceiling "s|subjects: \[sub-01, sub-02, sub-03, sub-04, sub-05, sub-06, sub-07, sub-08\]|subjects: [sub-01]|" "key 'rsa.ceiling': 1 subject \(sub-01\); the noise ceiling needs at least 2"
echo "RSA plan: identical results.csv ($rows rows) and report on 1, 2, 3 ranks (dynamic, static) and rsa --sweep; rerun, refit, kill + rerun, gather; refusals"
