#pragma once
/// Ridge regression with one alpha per target chosen by K-fold CV (ENCODING.md §2–4).
#include <string>
#include <vector>

#include "brainsweep/backend.hpp"
#include "brainsweep/matrix.hpp"

namespace brainsweep {

/// Training statistics of the design columns (ENCODING.md §2): mean and 1/std (ddof = 0);
/// the scale of a column whose std is below 1e-8 is 0, which sets the column to 0.
struct ColumnStats {
  VectorD mean;
  VectorD inv_std;
};

/// Column mean and 1/std of `x` (n × p), computed in float64.
ColumnStats column_stats(const MatrixF& x);
/// In place: x ← (x − mean) · inv_std, column-wise. @throw DimensionMismatch if widths differ
void standardize(MatrixF& x, const ColumnStats& stats);

/// Pearson r per column between `pred` and `truth` (both n × t), in float64. A column where
/// either side has zero variance scores 0 (ENCODING.md §4).
/// @throw DimensionMismatch  if the shapes differ
std::vector<double> column_pearson(const MatrixF& pred, const MatrixF& truth);
std::vector<double> column_pearson(const MatrixD& pred, const MatrixD& truth);

/// Fold of every training row (ENCODING.md §4). With R = run_lengths.size() >= k, fold j holds runs
/// ⌊jR/k⌋ … ⌊(j+1)R/k⌋ − 1; otherwise the concatenated rows are cut into k contiguous blocks, the
/// first n mod k one row longer (scikit-learn KFold, no shuffling).
/// @return  one fold index in [0, k) per row, rows of the runs concatenated in order
/// @throw DataError  if there are fewer rows than folds
std::vector<int> fold_assignment(const std::vector<long>& run_lengths, int k);

/// Result of `ridge_cv`.
struct RidgeCvResult {
  MatrixD cv_scores;           ///< n_alphas × t: mean over folds of the held-out Pearson r
  std::vector<double> alpha;   ///< t: chosen alpha (highest score, ties to the larger alpha)
  std::vector<double> cv_r;    ///< t: cv score at the chosen alpha
  MatrixD weights;             ///< p × t, for standardised x and centred y, refit on all rows
  std::string solver;          ///< "primal" (eig of XᵀX, p <= n) or "dual" (eig of XXᵀ, p > n)
};

/// Fit ridge with one alpha per target chosen by K-fold CV, then refit on all rows (ENCODING.md §3–4).
/// @param x  design, n × p, standardised (column_stats of all training rows), row-major, host
/// @param y  targets, n × t, centred with the training mean
/// @param fold_of_row  n fold indices in [0, n_folds), from fold_assignment
/// @param alphas  candidate strengths, > 0, ascending
/// @throw DimensionMismatch  if x, y and fold_of_row differ in rows
/// Not collective. Products and decompositions in float64 (ENCODING.md §7 allows wider than float32).
/// Method: one symmetric eigendecomposition per fold and one for the refit
/// (XᵀX = V S Vᵀ when p <= n, else XXᵀ = U S Uᵀ with W = XᵀU (S + α)⁻¹ UᵀY), reused for every
/// alpha and target (Hastie, Tibshirani & Friedman 2009, §3.4.1).
RidgeCvResult ridge_cv(const Backend& backend, const MatrixF& x, const MatrixF& y, const std::vector<int>& fold_of_row,
                       int n_folds, const std::vector<double>& alphas);

}  // namespace brainsweep
