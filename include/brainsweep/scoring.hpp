#pragma once
/// Scores of ENCODING.md §5.
#include <map>
#include <string>
#include <vector>

#include "brainsweep/matrix.hpp"
#include "brainsweep/plan.hpp"

namespace brainsweep {

/// Rows [exclude_start, T − exclude_end) of m.
MatrixF kept_rows(const MatrixF& m, int exclude_start, int exclude_end);

/// Pearson r per target on an evaluation set (ENCODING.md §5): the episodes of each movie are
/// concatenated, in the set's order, after exclusion; r per column per movie; mean over movies.
/// @param pred, truth  episode → T × t (every sample; exclusion is applied here)
/// @throw DimensionMismatch  if an episode's prediction and measurement differ in shape
std::vector<double> score_eval_set(const EvalSet& set, const std::map<std::string, MatrixF>& pred,
                                   const std::map<std::string, MatrixF>& truth, int exclude_start, int exclude_end);

/// A banded ridge job's eval-set scores split per feature space (issue #26 §2), as himalaya's
/// `correlation_score_split` and `r2_score_split` (gallantlab/himalaya, himalaya/scoring.py;
/// PEER_ANALYSES.md §4, card B) compute them, on each movie of the set (its episodes' kept rows
/// concatenated, as score_eval_set), then averaged over movies. With y the measurement centred on
/// those rows (himalaya requires a zero-mean y), ŷ_k = X_k W_k band k's part of the prediction
/// (standardised, √γ_k-scaled columns times their rows of the weights; no intercept) and ŝ = Σ_k ŷ_k:
/// - r[k]        = mean(y·(ŷ_k − mean ŷ_k)) / (SD(y)·SD(ŝ)), population SDs, an SD of 0 taken as 1:
///                 sums over k to the Pearson r of the job's prediction (0 where y is constant);
/// - r2[k]       = Σ (2 y ŷ_k − ŷ_k ŝ) / Σ y² (the product measure): sums over k to r2_joint;
/// - r2_alone[k] = 1 − Σ (y − ŷ_k)² / Σ y², band k's part on its own (himalaya's
///                 include_correlation=False);
/// - r2_joint    = 1 − Σ (y − ŝ)² / Σ y²: the R² of the joint prediction against the centred
///                 measurement (the intercept replaced by the set's own mean).
/// R² values are NaN where y is constant (Σ y² = 0).
struct SplitScores {
  MatrixD r, r2, r2_alone;         ///< bands × targets
  std::vector<double> r2_joint;    ///< targets
};
/// @param band_pred  per band: episode → T × t (every sample, no intercept); band_pred[k] holds
///   every episode of the set
/// @param truth      episode → T × t
/// @throw DimensionMismatch  if a band's prediction and the measurement of an episode differ in shape
SplitScores split_eval_set(const EvalSet& set, const std::vector<std::map<std::string, MatrixF>>& band_pred,
                           const std::map<std::string, MatrixF>& truth, int exclude_start, int exclude_end);

/// The raw sums of one pass over rows that split_eval_set's scores need, per target: Σy, Σy², Σŷ_k,
/// Σ y ŷ_k and Σ ŷ_k ŷ_k' (k ≤ k'), in float64 from float32 rows; the centred sums follow from them
/// (Σ (y − ȳ)² = Σy² − n ȳ², …). One pass, no temporary: the memory is read once.
struct SplitMoments {
  explicit SplitMoments(long targets) : t(targets) {}
  /// Add `rows` rows of y and of every band's part (row-major, `stride` floats apart).
  void add(const float* y, const std::vector<const float*>& parts, long rows, long stride);
  /// Add `weight` × this movie's scores to `out` (sized bands × t).
  void add_to(SplitScores& out, double weight) const;
  long t, n = 0;
  Eigen::RowVectorXd sy, syy;
  MatrixD sp, syp, spp;  ///< bands × t, bands × t, bands(bands + 1)/2 × t (k ≤ k', row by row)
};

/// split_eval_set's scores of one movie held in memory: y and the bands' parts, each n × t row-major
/// float32 (no exclusion; the Python module's score_split, without copying the arrays).
SplitScores split_scores(const float* y, const std::vector<const float*>& parts, long n, long t);

}  // namespace brainsweep
