#pragma once
/// Stitching (ENCODING.md §6): per subject and parcel, the equal-weight mean of the top-k jobs'
/// predictions ranked by a named selection score, scored on a separate evaluation set.
#include <limits>
#include <ostream>
#include <string>

namespace brainsweep {

struct StitchOptions {
  std::string select = "cv";  ///< "cv" (the CV score) or the name of an eval set
  int top_k = 1;              ///< jobs averaged per subject and parcel (1: best job)
  std::string eval;           ///< eval set to score the stitched predictions on; must differ from `select`
  /// A parcel whose best selection score is below this uses the best single job, not the top-k mean.
  double min_score = -std::numeric_limits<double>::infinity();
  /// Optional text file of parcel names (one per line, or a Schaefer `*_order.txt`), for the
  /// per-network report when the fMRI files carry no Schaefer names.
  std::string parcel_names;
  /// Optional ceiling CSV of `brainsweep ceiling` on the --eval set (METRICS.md §1): scores.csv and
  /// the summary then also give the ceiling and r / ceiling per subject and parcel.
  std::string ceiling;
  /// Parcels whose ceiling is below this are not normalised (r_normalized empty), counted and listed.
  double min_ceiling = 0.1;
};

/// Stitch a finished run. Writes RUN_DIR/stitched/scores.csv (`subject,parcel,eval_set,r,job_ids`,
/// job ids in rank order joined by '+') and RUN_DIR/stitched/predictions.h5 (`/<subject>/<episode>`,
/// T × P float32), each atomically, and prints a per-parcel summary (mean r over subjects and the
/// feature sets that won) to `report`. Ties in the ranking go to the lower job id.
/// For every test set of the plan (issue #5), applies the same per-subject, per-parcel choice to the
/// jobs' test predictions and writes RUN_DIR/stitched/test_<set>.h5 (`/<subject>/<episode>`,
/// n_samples × P float32). Writes the winners per subject and parcel (stitched/winners.csv) and a
/// per-network summary (stitched/networks.csv, Schaefer 7 networks, from the parcel names).
/// With `ceiling`, scores.csv has two more columns, `ceiling` and `r_normalized` (r / ceiling, empty
/// where the ceiling is below min_ceiling), and the summary a column of the mean normalised r over
/// the subjects whose ceiling passes, and the count and list of the subject × parcel pairs that do
/// not. The ceiling file must hold every subject and parcel, and have been computed on `eval`.
/// @throw ConfigError  if the sets are unknown, equal, top_k < 1 or above a subject's number of jobs,
///        min_score or min_ceiling is NaN, or the ceiling was computed on another set
/// @throw DataError  if the ceiling file is unreadable or lacks a subject × parcel (read_ceiling_csv)
/// @throw DataError  if a job file is missing or not its job's (job_file_problem)
/// @throw DataError  if the run is not complete (a job file is missing)
void stitch(const std::string& run_dir, const StitchOptions& options, std::ostream& report);

}  // namespace brainsweep
