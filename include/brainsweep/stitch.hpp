#pragma once
/// Stitching (ENCODING.md §6): per subject and parcel, the equal-weight mean of the top-k jobs'
/// predictions ranked by a named selection score, scored on a separate evaluation set.
#include <limits>
#include <ostream>
#include <string>
#include <vector>

namespace brainsweep {

/// An override (issue #14): for the episodes matching `episodes` (a glob, e.g. `chaplin*`), only the
/// jobs whose feature set `model/layers` matches `regex` in full (`keep`), or does not (`!keep`),
/// are candidates. Given as `GLOB=REGEX` or `GLOB!=REGEX`.
struct StitchOverride {
  std::string spec;      ///< as given, recorded in the outputs
  std::string episodes;  ///< glob over episode names (fnmatch)
  std::string regex;
  bool keep = true;
};

/// `GLOB=REGEX` or `GLOB!=REGEX`. @throw ConfigError naming the option for another form or a bad regex
StitchOverride parse_stitch_override(const std::string& spec);

struct StitchOptions {
  std::string select = "cv";  ///< "cv" (the CV score) or the name of an eval set
  /// Candidates per subject and parcel: the top_k jobs by the selection score; 0: 1 for `topk`
  /// weights, every job for `softmax`.
  int top_k = 0;
  /// `topk`: equal weights over the candidates (MedARC); `softmax`: weights ∝ exp(score / temperature)
  /// over them (TRIBE), per subject and parcel.
  std::string weights = "topk";
  double temperature = std::numeric_limits<double>::quiet_NaN();  ///< softmax only; > 0
  /// Eval set to score the stitched predictions on; must differ from `select`. Empty: no held-out
  /// score; scores.csv and the summary give the ensemble's selection score (optimistic).
  std::string eval;
  std::vector<StitchOverride> overrides;  ///< the first one whose glob matches an episode applies to it
  /// VIBE: each candidate's predictions z-scored per parcel with the mean and SD of its own training
  /// predictions (job datasets train_pred_mean, train_pred_sd; the same for eval and test episodes)
  /// before the weighted sum; the sum is then rescaled to the weighted mean of those means and SDs.
  bool zscore = false;
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

/// Stitch a finished run. Per subject, parcel and rule (the default, or an override for its
/// episodes): the candidates are the top-k jobs by the selection score (score descending, ties to the
/// lower job id; below `min_score` the best single job), weighted as `weights` says; the stitched
/// prediction of an episode is the weighted sum of its rule's candidates' predictions. Writes RUN_DIR/stitched/scores.csv (`subject,parcel,eval_set,r,job_ids`,
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
/// Every option is recorded as attributes of predictions.h5 and test_<set>.h5 (`select`, `eval_set`,
/// `top_k`, `weights`, `temperature`, `overrides`), and winners.csv gives each candidate's `weight`
/// and the `episodes` its rule applies to (`*` for the default).
/// @throw ConfigError  if the sets are unknown, equal, top_k < 0 or above a subject's number of jobs,
///        weights other than topk/softmax, a temperature ≤ 0 or missing with softmax (or given with
///        topk), an override that matches no job of a subject (a parcel without candidates),
///        min_score or min_ceiling is NaN, or the ceiling was computed on another set
/// @throw DataError  if the ceiling file is unreadable or lacks a subject × parcel (read_ceiling_csv)
/// @throw DataError  if a job file is missing or not its job's (job_file_problem)
/// @throw DataError  if the run is not complete (a job file is missing)
void stitch(const std::string& run_dir, const StitchOptions& options, std::ostream& report);

}  // namespace brainsweep
