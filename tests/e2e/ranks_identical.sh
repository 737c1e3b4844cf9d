#!/usr/bin/env bash
# The same Sherlock sweep on 1, 2 and 3 MPI ranks, with dynamic and static scheduling, gives
# byte-identical results.csv, identical predictions (h5diff), identical results.h5 content and
# identical stitched scores (ENCODING.md §7).
source "$(dirname "$0")/common.sh"
cat > "$WORK/sweep.yaml" <<YAML
dataset: $SOURCE_DIR/configs/datasets/sherlock.yaml
dataset_root: $SHERLOCK_DIR
atlas: roi6
subjects: [sub-01, sub-02, sub-03, sub-04, sub-05]
features:
  - {model: annotations, layers: [speech, music]}
  - {model: description_lsa, layers: [lsa16]}
  - {model: topic_model, layers: [t100]}
grid: {hrf_delay: [0], stimulus_window: [1, 2]}
ridge: {folds: 5}
train: [sherlock01]
eval: {test: [sherlock02]}
YAML
for n in 1 2 3 2s 3s; do
  schedule=dynamic; [[ $n == *s ]] && schedule=static
  "$BRAINSWEEP" generate "$WORK/sweep.yaml" --out "$WORK/run$n" > /dev/null
  mpirun -n ${n%s} "$BRAINSWEEP" run "$WORK/run$n" --schedule $schedule
  "$BRAINSWEEP" stitch "$WORK/run$n" --select cv --top-k 2 --eval test > /dev/null
done
for n in 2 3 2s 3s; do
  h5diff "$WORK/run1/results.h5" "$WORK/run$n/results.h5" || fail "results.h5 differs between 1 and $n ranks"
  cmp "$WORK/run1/results.csv" "$WORK/run$n/results.csv" || fail "results.csv differs between 1 and $n ranks"
  cmp "$WORK/run1/stitched/scores.csv" "$WORK/run$n/stitched/scores.csv" || fail "stitched scores differ (1 vs $n ranks)"
  for f in "$WORK"/run1/jobs/*.h5; do
    h5diff "$f" "$WORK/run$n/jobs/$(basename "$f")" || fail "$(basename "$f") differs between 1 and $n ranks"
  done
done
rows=$(($(wc -l < "$WORK/run1/results.csv") - 1))
[ "$rows" -eq $((3 * 2 * 5 * 6)) ] || fail "expected 180 rows, found $rows"
echo "identical results on 1, 2 and 3 ranks, dynamic and static schedule ($rows rows, $(ls "$WORK"/run1/jobs | wc -l) job files)"
