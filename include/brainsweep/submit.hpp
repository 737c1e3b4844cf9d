#pragma once
/// Algonauts 2025 submissions (DATA.md, "Submission"): the Codabench file
/// (`fmri_predictions_<test set>.npy` in a stored zip) and a validator that repeats the scorer's
/// checks and, given fMRI for the episodes, its score.
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "brainsweep/matrix.hpp"
#include "brainsweep/sample_counts.hpp"

namespace brainsweep {

/// File name of a submission inside its zip: `fmri_predictions_<test set>.npy` with '-' → '_'
/// (`fmri_predictions_friends_s7.npy`, `fmri_predictions_ood.npy`).
std::string submission_npy_name(const std::string& test_set);

/// Write a zip holding one file `entry_name` with the bytes of `file`, stored (no compression),
/// atomically (temporary file, then rename). Uses libzip.
/// @throw Error  on any libzip failure (names the zip)
void write_stored_zip(const std::string& zip_path, const std::string& entry_name, const std::string& file);

/// Names of the entries of a zip, in order. @throw DataError naming the zip if it cannot be opened
std::vector<std::string> zip_entries(const std::string& zip_path);

/// Whole content of entry `name` of a zip. @throw DataError naming the zip and the entry
std::string read_zip_entry(const std::string& zip_path, const std::string& name);

struct SubmitOptions {
  std::string test_set;   ///< a test set of the plan (e.g. friends-s7, ood)
  std::string out_dir;    ///< where the zip goes (created)
  long n_parcels = 1000;  ///< required prediction columns (Schaefer 1000 for Algonauts 2025)
  /// Subjects the scorer requires (all four of Algonauts 2025); the counts are read for them from
  /// the plan's sample-count source.
  std::vector<std::string> subjects{"sub-01", "sub-02", "sub-03", "sub-05"};
  bool overwrite = false;  ///< replace an existing zip (refused otherwise, before any work)
};

/// Write OUT/fmri_predictions_<test set>.zip from RUN_DIR/stitched/test_<test set>.h5 (written by
/// `stitch`) and the plan's sample counts: `{subject: {episode: float32 (n_samples, n_parcels)}}`,
/// subjects in plan order, episodes in the count files' order, byte for byte what NumPy 1.24's
/// `np.save` writes. Checks everything first and writes nothing when a check fails.
/// @return  path of the zip
/// @throw DataError (exit 2)  naming the subject and episode, when a subject or episode is missing or
///        extra, a shape differs from (count, n_parcels), a value is NaN/Inf, or a column is constant
std::string submit(const std::string& run_dir, const SubmitOptions& options, std::ostream& report);

struct ValidateOptions {
  std::string test_set;
  std::string counts;       ///< JSON or template, as read_sample_counts
  std::vector<std::string> subjects{"sub-01", "sub-02", "sub-03", "sub-05"};
  long n_parcels = 1000;
  /// Optional ground truth for a dry run: a dataset descriptor and root (fMRI files and movies as
  /// DATA.md), and the atlas name. When `descriptor` is empty, no score is computed.
  std::string descriptor, root, atlas = "Schaefer18_parcel-1000Par7Net";
  int exclude_start = 5, exclude_end = 5;
};

/// Result of validate_submission: `problems` is empty when the file would be accepted.
struct Validation {
  std::vector<std::string> problems;
  bool scored = false;
  double score = 0;                                     ///< mean over subjects of the subject scores
  std::map<std::string, std::map<std::string, double>> movie_r;  ///< subject → movie → mean r over parcels
};

/// Repeat every check of the Algonauts 2025 scorer on a submission zip: exactly one .npy inside, an
/// npy of a pickled dict that names no `numpy._core` module (NumPy 2 pickles are rejected), all
/// subjects, every episode of the counts and no extra key, shapes (count, n_parcels), no NaN/Inf, no
/// constant column. With ground truth, compute the score as the server does: drop exclude_start +
/// exclude_end samples per episode, concatenate the episodes of each movie (in count order), Pearson
/// r per parcel (float64), mean over parcels, then movies, then subjects.
/// @throw DataError  when the counts or the ground truth cannot be read (problems of the submission
///        itself are returned, not thrown)
Validation validate_submission(const std::string& zip_path, const ValidateOptions& options);

/// Pearson r per column of two equally shaped matrices (float64); a constant column gives NaN, as
/// numpy's corrcoef does (the scorer then reports NaN).
std::vector<double> pearson_columns(const MatrixD& a, const MatrixD& b);

}  // namespace brainsweep
