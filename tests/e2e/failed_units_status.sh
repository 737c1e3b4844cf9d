#!/usr/bin/env bash
# Failure records (issue #4): a unit that fails on bad data (a NaN in one feature file) is recorded
# in units/<id>.failed with its error, the sweep goes on (the other units are done), the run exits 2
# with a summary, and `status` lists done / failed (with the error) / pending. After the data are
# fixed, the same command fits only the failed unit, removes its record and completes.
source "$(dirname "$0")/common.sh"
mkdir -p "$WORK/data"
cp -r "$SHERLOCK_DIR/features" "$WORK/data/"
for s in sub-01 sub-02; do
  mkdir -p "$WORK/data/fmri/$s/func"
  cp "$SHERLOCK_DIR"/fmri/$s/func/*roi6* "$WORK/data/fmri/$s/func/"
done
chmod -R u+w "$WORK/data"
cat > "$WORK/sweep.yaml" <<YAML
dataset: $SOURCE_DIR/configs/datasets/sherlock.yaml
dataset_root: $WORK/data
atlas: roi6
subjects: [sub-01, sub-02]
features:
  - {model: annotations, layers: [speech]}
  - {model: description_lsa, layers: [lsa16]}
grid: {hrf_delay: [0], stimulus_window: [1, 2]}
ridge: {folds: 5}
train: [sherlock01]
eval: {test: [sherlock02]}
YAML
BAD="$WORK/data/features/description_lsa/movies/sherlock/movies_sherlock01.h5"
cp "$BAD" "$WORK/good.h5"
$PY -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); d = f['lsa16']; d[7, 3] = float('nan')" "$BAD"
"$BRAINSWEEP" generate "$WORK/sweep.yaml" --out "$WORK/run" > /dev/null
rc=0; mpirun -n 2 "$BRAINSWEEP" run "$WORK/run" > "$WORK/run.log" 2>&1 || rc=$?
cat "$WORK/run.log"
[ "$rc" -eq 2 ] || fail "run with a NaN feature exited $rc, expected 2"
grep -q "2 of 4 units failed" "$WORK/run.log" || fail "no failure summary"
[ ! -e "$WORK/run/results.csv" ] || fail "a failed run wrote results.csv"
[ "$(ls "$WORK/run/units" | grep -c '\.failed$')" -eq 2 ] || fail "expected 2 failure records"
[ "$(ls "$WORK/run/units" | grep -c '\.done$')" -eq 2 ] || fail "expected 2 done units (the sweep must go on)"
grep -q "movies_sherlock01.h5" "$WORK"/run/units/*.failed || fail "the failure record does not name the file"

rc=0; "$BRAINSWEEP" status "$WORK/run" > "$WORK/status.txt" || rc=$?
cat "$WORK/status.txt"
[ "$rc" -eq 1 ] || fail "status exit code $rc with failed units, expected 1"
grep -Eq "done +2 units \(4 jobs\)" "$WORK/status.txt" || fail "status: wrong done count"
grep -Eq "failed +2 units" "$WORK/status.txt" || fail "status: wrong failed count"
grep -Eq "pending +0 units" "$WORK/status.txt" || fail "status: wrong pending count"
[ "$(grep -c "^failed unit .*description_lsa lsa16" "$WORK/status.txt")" -eq 2 ] || fail "status does not list the failed units"
grep -q "lsa16" "$WORK/status.txt" && grep -q "NaN\|nan\|non-finite" "$WORK/status.txt" || fail "status does not show the error"

cp "$WORK/good.h5" "$BAD"
mpirun -n 2 "$BRAINSWEEP" run "$WORK/run" > "$WORK/rerun.log" 2>&1 || { cat "$WORK/rerun.log"; fail "rerun after the fix failed"; }
grep -q "units fitted 2, already done 2, failed 0" "$WORK/rerun.log" || fail "the rerun did not fit exactly the 2 failed units"
[ "$(ls "$WORK/run/units" | grep -c '\.failed$')" -eq 0 ] || fail "failure records were not removed"
"$BRAINSWEEP" status "$WORK/run" | grep -Eq "done +4 units" || fail "status after the fix"
rows=$(($(wc -l < "$WORK/run/results.csv") - 1))
[ "$rows" -eq $((4 * 2 * 6)) ] || fail "expected 48 rows, found $rows"
echo "failure recorded, reported by status, and fixed by a rerun ($rows rows)"

# A changed sweep is refused (nothing in RUN_DIR changes) unless told to start over, which deletes the
# old plan's results but not other files (e.g. SLURM logs); a unit record of another plan stops `run`.
sed 's/stimulus_window: \[1, 2\]/stimulus_window: [1]/' "$WORK/sweep.yaml" > "$WORK/changed.yaml"
echo "log" > "$WORK/run/brainsweep-run-7.out"
before=$(cd "$WORK/run" && find . -type f | sort | xargs md5sum)
rc=0; "$BRAINSWEEP" generate "$WORK/changed.yaml" --out "$WORK/run" 2> "$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "holds a different plan" "$WORK/err.txt" || fail "a changed sweep was not refused (exit $rc)"
[ "$before" = "$(cd "$WORK/run" && find . -type f | sort | xargs md5sum)" ] || fail "a refused generate changed RUN_DIR"
"$BRAINSWEEP" generate "$WORK/changed.yaml" --out "$WORK/run" --start-over > /dev/null || fail "--start-over"
[ "$(cd "$WORK/run" && ls | tr '\n' ' ')" = "brainsweep-run-7.out plan.json run.lock sweep.yaml " ] || fail "--start-over left $(ls "$WORK/run")"
mkdir -p "$WORK/run/units" && echo x > "$WORK/run/units/0123456789abcdef.done"
rc=0; "$BRAINSWEEP" run "$WORK/run" 2> "$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "a unit record of another plan" "$WORK/err.txt" || fail "run mixed two plans (exit $rc)"
echo "changed sweep refused; --start-over deletes the old results and keeps other files; mixed records refused"
