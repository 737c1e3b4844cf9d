#pragma once
/// Representational similarity analysis (METRICS.md §2; rsatoolbox's conventions): RDMs as vectors
/// of their upper triangles, their comparisons, the leave-one-subject-out noise ceiling, and a
/// bootstrap over conditions and a permutation test drawn from the counter-based stream of
/// random.hpp (identical for any split of the work).
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "brainsweep/matrix.hpp"

namespace brainsweep {

/// The upper triangle of a conditions × conditions RDM, row by row: entry (i, j), i < j, at
/// i·n − i(i+1)/2 + j − i − 1.
struct Rdm {
  long n = 0;                 ///< conditions
  std::vector<double> v;      ///< n(n − 1)/2 dissimilarities
  /// Empty, or why the RDM is not defined (rdm_from_patterns: a correlation distance over fewer than 3
  /// channels, or conditions with a constant pattern). Every comparison with such an RDM is NaN.
  std::string undefined;
};

/// Check an RDM read from `where` (square, symmetric to 1e-6 of its largest entry, zero diagonal to
/// the same tolerance, finite) and take its upper triangle.
/// @throw DataError  naming `where` and what is wrong (the first offending entry)
Rdm rdm_from_matrix(const MatrixD& m, const std::string& where);

/// RDM of condition patterns (conditions × channels): `correlation` 1 − Pearson r of two patterns,
/// `euclidean` their squared distance divided by the number of channels (rsatoolbox),
/// `standardized-euclidean` the same after every channel is z-scored over the conditions (population
/// SD, as scikit-learn's StandardScaler; a constant channel, SD ≤ 1e-7 of its largest |value|, becomes
/// 0): with `cka`, Net2Brain's standardised CKA. Entries are
/// rounded to 1e-10 of the largest one, so that dissimilarities equal in exact arithmetic tie.
/// The correlation distance is undefined (Rdm::undefined says why) over fewer than 3 channels (over
/// 2, every correlation is ±1) and for a condition whose pattern is constant (SD ≤ 1e-7 of its
/// largest |value|, or all zero), where rsatoolbox's entries are NaN.
/// @throw ConfigError  for another name; DataError if fewer than 3 conditions
/// `crossnobis` needs the runs separately: use rdm_crossnobis.
Rdm rdm_from_patterns(const MatrixD& patterns, const std::string& distance);

/// Cross-validated squared euclidean distance over runs (rsatoolbox calc_rdm_crossnobis with the
/// identity as noise precision, leave one run out; Walther et al. 2016): for each run f, with A the
/// mean of the other runs' patterns and B run f's, d_ij(f) = (a_i − a_j)·(b_i − b_j) / channels;
/// the RDM is the mean over the runs. Unbiased: its expectation is the true squared distance, so
/// entries can be negative (two conditions that do not differ). Rounded as rdm_from_patterns.
/// @param runs  per run, conditions × channels (the same conditions in the same order in every run)
/// @throw DataError  with fewer than 2 runs or 3 conditions; DimensionMismatch if the runs' shapes differ
Rdm rdm_crossnobis(const std::vector<MatrixD>& runs);

enum class Comparison { corr, spearman, tau_a, cosine, cka, cka_debiased };
/// "corr", "spearman", "tau-a", "cosine", "cka", "cka-debiased". @throw ConfigError naming `option`
Comparison parse_comparison(const std::string& name, const std::string& option = "--comparison");
/// The `--comparison` names, at least one. @throw ConfigError for an unknown name or none
std::vector<Comparison> parse_comparisons(const std::vector<std::string>& names);
std::string to_string(Comparison c);

/// Compare two RDM vectors (METRICS.md §2): `corr` Pearson r; `spearman` Pearson r of the ranks
/// (ties averaged); `tau-a` Kendall's τa, (concordant − discordant) / (M(M − 1)/2) with ties
/// counting as neither, in O(M log M) (Knight 1966: the entries sorted by (x, y), the discordant
/// pairs counted as the inversions of y, here by a most-significant-digit radix over y's ranks);
/// `cosine`; `cka` linear centred kernel alignment (Kornblith et al. 2019) of the patterns whose
/// squared distances the RDMs hold: ⟨H G_x H, H G_y H⟩_F / (‖H G_x H‖_F ‖H G_y H‖_F) with G = −½D
/// as a full matrix (equal to CKA of X Xᵀ: the centring removes the terms −½D adds), so a
/// `euclidean` RDM gives CKA of the condition patterns and a `correlation` RDM CKA of the patterns
/// z-scored per condition; `cka-debiased` the same with U-centring (Song et al. 2012's unbiased HSIC,
/// Kornblith's center_gram(unbiased=True); NaN under 4 conditions). With `weights` (one non-negative integer per entry, e.g. the bootstrap's c_i·c_j), the
/// comparison is that of the vectors with entry k repeated weights[k] times (M = Σ weights), computed
/// without expanding them. A constant vector (or, for τa, one whose every pair is tied) gives NaN:
/// the comparison is undefined, never 0.
/// @throw DimensionMismatch  if the lengths differ
double compare_rdms(const std::vector<double>& x, const std::vector<double>& y, Comparison c,
                    const std::vector<double>* weights = nullptr);

/// The vector that stands for several subjects' RDMs in the noise ceiling, by comparison (rsatoolbox
/// pool_rdm): corr z-scores each vector (ddof 0), averages and subtracts the minimum; cosine divides
/// each by its root mean square and averages; spearman and tau-a average their ranks.
std::vector<double> pool_rdms(const std::vector<const std::vector<double>*>& rdms, Comparison c);

/// Leave-one-subject-out noise ceiling (rsatoolbox boot_noise_ceiling's point estimate): upper = mean
/// over s of compare(pool(all), RDM_s), lower = mean over s of compare(pool(all but s), RDM_s).
/// @throw ConfigError  with fewer than 2 subjects
std::pair<double, double> noise_ceiling(const std::vector<std::vector<double>>& subject_rdms, Comparison c);

/// One model against the subjects of one ROI, for every comparison asked.
struct RsaResult {
  std::vector<double> similarity;  ///< per subject, then the mean over subjects (last)
  std::vector<double> bootstrap_sd, ci_low, ci_high;  ///< same layout; NaN without bootstrap
  std::vector<double> p_permutation;                  ///< same layout; NaN without permutations
  /// Same layout: the resamples the bootstrap used, those with at least 3 distinct conditions whose
  /// statistic is defined (a resample in which an RDM is constant is left out); 0 without bootstrap.
  std::vector<long> bootstrap_n;
};

struct RsaOptions {
  long bootstrap = 1000;     ///< resamples of the conditions (0: none)
  long permutations = 1000;  ///< permutations of the model's condition labels (0: none)
  std::uint64_t seed = 0;
};

/// Compare `model` with each subject's RDM and their mean.
/// - Bootstrap b draws n conditions with replacement (index_from_draw(splitmix64_at(seed, b·n + i), n));
///   the resampled RDMs keep the pairs of different draws, i.e. entry (i, j) weighted c_i·c_j (c: the
///   draw counts; pairs of a condition with itself dropped); a resample with fewer than 3 distinct
///   conditions is skipped (2 give one distinct pair: no correlation), and one whose statistic is
///   undefined (NaN) is left out of that row's SD and interval (RsaResult::bootstrap_n counts the rest).
///   SD ddof 1, 95 % interval the 2.5 and 97.5 percentiles (linear).
/// - An undefined model or subject RDM (Rdm::undefined) makes every value NaN.
/// - Permutation k permutes the model's conditions (Fisher–Yates, i = n − 1 … 1 swapping i with
///   index_from_draw(splitmix64_at(seed ^ 0x5DEECE66D, k·n + i), i + 1)); p = (1 + #{similarity_k ≥
///   observed}) / (1 + permutations); NaN where the observed similarity is.
RsaResult rsa_compare(const Rdm& model, const std::vector<Rdm>& subjects, Comparison c, const RsaOptions& options);

/// A named model RDM, and an ROI: its subjects' RDMs.
struct NamedRdm {
  std::string name;
  Rdm rdm;
};
struct RsaRoi {
  std::string name;
  std::vector<std::string> subjects;
  std::vector<Rdm> rdms;
};

/// One model × ROI × comparison: the result and the ROI's noise ceiling (NaN without one). An entry
/// with an empty `model` stands for an ROI without models (its ceiling is reported, no CSV row).
struct RsaEntry {
  std::string model, roi;
  Comparison comparison = Comparison::corr;
  std::vector<std::string> subjects;
  long n_conditions = 0;
  RsaResult result;
  std::pair<double, double> ceiling;  ///< lower, upper
  std::string undefined;              ///< the model RDM's Rdm::undefined (the report says it)
};

/// The leave-one-subject-out noise ceiling of an ROI's subjects (noise_ceiling).
std::pair<double, double> rsa_noise_ceiling(const RsaRoi& roi, Comparison c);

/// Write the CSV (kRsaColumns; one row per entry × subject, then `mean`) atomically to `out` (none if
/// empty) and print, per run of consecutive entries with the same ROI and comparison, the models
/// ranked by their mean similarity against the ceiling. `rsa`, `rsa --sweep` and the gather of an
/// RSA plan all write through it, so their outputs agree byte for byte.
void write_rsa_table(const std::vector<RsaEntry>& entries, const RsaOptions& options, const std::string& out,
                     std::ostream& report);

/// Compare every model with every ROI for each comparison; write the CSV (kRsaColumns) atomically to
/// `out` and print the ranking per ROI × comparison. @throw ConfigError for an ROI of one subject when
/// `ceiling`; DimensionMismatch when conditions differ
/// An empty `out` writes no CSV (a sweep without features: RDMs only).
/// With `save_rdms`, also write every RDM compared, as square matrices, to that HDF5 file (atomically):
/// `models/<model name>`, `subjects/<roi>/<subject>`, and the root attribute `conditions` when given.
void compare_and_report(const std::vector<NamedRdm>& models, const std::vector<RsaRoi>& rois,
                        const std::vector<Comparison>& comparisons, const RsaOptions& options, bool ceiling,
                        const std::string& out, std::ostream& report, const std::string& save_rdms = "",
                        const std::vector<std::string>& conditions = {});

/// `brainsweep rsa` on RDMs stored in one HDF5 file (the 92-image data: `hIT/<subject>/session<k>`,
/// `mIT`, `models/*`).
struct RsaCommand {
  std::string rdms;                  ///< the HDF5 file
  std::vector<std::string> brain;    ///< ROI groups: each child is a subject (a dataset, or a group of
                                     ///< session datasets, averaged: the subject's RDM)
  std::vector<std::string> models;   ///< datasets, or groups whose datasets are models
  /// Stimulus-level feature files (one row per condition, in the RDMs' order; e.g. the 92 images
  /// through `brainsweep extract` with `image:`): `FILE.h5` (every 2-D dataset a layer) or
  /// `FILE.h5:LAYER`; each layer one model RDM by `distance`, named `<name>/<layer>` (the file's
  /// attribute `name`, written by extract, else the file's stem)
  std::vector<std::string> features;
  std::string distance = "correlation";  ///< of the feature RDMs: correlation | euclidean
  std::vector<std::string> comparisons{"corr"};
  RsaOptions options;
  bool ceiling = true;               ///< the noise ceiling (needs 2 subjects per ROI); false: empty columns
  std::string out;                   ///< CSV, refused if it exists
  std::string save_rdms;             ///< optional HDF5 file of the RDMs compared (refused if it exists)
};

/// Columns of the CSV: one row per model × ROI × comparison × subject, then the row `mean` (the
/// similarity averaged over subjects, its bootstrap and permutation test over the same resamples).
inline constexpr const char* kRsaColumns =
    "model,roi,subject,comparison,similarity,bootstrap_sd,ci_low,ci_high,p_permutation,ceiling_lower,ceiling_upper,"
    "n_conditions,n_subjects,n_bootstrap,n_permutations,seed";

/// The models and ROIs of an `rsa --rdms` command, read and checked (what run_rsa_command compares;
/// `wrsa` reads its RDMs through it too). A `--model` group contributes every dataset below it,
/// nested groups included; a subject group's session datasets are averaged.
/// @throw ConfigError, DataError  as run_rsa_command
struct RsaInputs {
  std::vector<NamedRdm> models;
  std::vector<RsaRoi> rois;
};
RsaInputs read_rsa_inputs(const RsaCommand& c);

/// Read, compare, write the CSV atomically, and print per ROI × comparison the models ranked by
/// their mean similarity against the noise ceiling.
/// @throw ConfigError, DataError  naming the file and dataset: a path that is neither, an RDM that
///        is not square, symmetric, zero-diagonal and finite, models and subjects whose conditions
///        differ in number, fewer than 3 conditions, an ROI of one subject while `ceiling` is asked
void run_rsa_command(const RsaCommand& c, std::ostream& report);

}  // namespace brainsweep
