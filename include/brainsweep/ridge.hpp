#pragma once
/// Ridge regression with one alpha per target chosen by K-fold CV (ENCODING.md §2–4).
#include <string>
#include <vector>

#include "brainsweep/backend.hpp"
#include "brainsweep/config.hpp"
#include "brainsweep/matrix.hpp"

namespace brainsweep {

/// A column is constant when its std is at most this fraction of its largest |value| (float32's
/// resolution; relative, so that features in any unit are kept: ENCODING.md §2 says an absolute 1e-8,
/// which dropped every column of features scaled by 1e-9; issue #25).
inline constexpr double kConstantColumn = 1e-7;

/// Training statistics of the design columns (ENCODING.md §2): mean and 1/std (ddof = 0);
/// the scale of a constant column (std <= kConstantColumn · max |value|) is 0, which sets it to 0.
struct ColumnStats {
  VectorD mean;
  VectorD inv_std;
};

/// Column mean and 1/std of `x` (n × p), computed in float64.
ColumnStats column_stats(const MatrixF& x);
/// In place: x ← (x − mean) · inv_std, column-wise. @throw DimensionMismatch if widths differ
void standardize(MatrixF& x, const ColumnStats& stats);

/// Centre the targets with their training mean (ENCODING.md §2), in place; returns the mean (1 × t,
/// float64), which add_intercept puts back into predictions.
VectorD center_targets(MatrixF& y);
/// In place: pred(i, j) += mean(j). @throw DimensionMismatch if widths differ
void add_intercept(MatrixF& pred, const VectorD& mean);

/// Pearson r per column between `pred` and `truth` (both n × t), in float64. A column where
/// either side has zero variance scores 0 (ENCODING.md §4).
/// @throw DimensionMismatch  if the shapes differ
std::vector<double> column_pearson(const MatrixF& pred, const MatrixF& truth);
std::vector<double> column_pearson(const MatrixD& pred, const MatrixD& truth);

/// Rows [row0, row0 + rows) of a prediction and of its measurement (same shape).
struct RowBlock {
  const MatrixF* pred;
  const MatrixF* truth;
  long row0, rows;
};
/// Pearson r per column over the rows of every block taken together, as column_pearson of their
/// concatenation but without copying them (eval sets of several episodes; ENCODING.md §4).
/// @throw DimensionMismatch  if a block's prediction and measurement differ in shape, its rows
///   exceed them, or the blocks differ in width
std::vector<double> column_pearson(const std::vector<RowBlock>& blocks);

/// Fold of every training row (ENCODING.md §4). With R = run_lengths.size() >= k, fold j holds runs
/// ⌊jR/k⌋ … ⌊(j+1)R/k⌋ − 1; otherwise the concatenated rows are cut into k contiguous blocks, the
/// first n mod k one row longer (scikit-learn KFold, no shuffling).
/// @return  one fold index in [0, k) per row, rows of the runs concatenated in order
/// @throw DataError  if there are fewer rows than folds
std::vector<int> fold_assignment(const std::vector<long>& run_lengths, int k);

/// Arithmetic of the fit (ENCODING.md §7).
/// - mixed (default): Gram matrices, their decompositions and the CV moments (M = AᵀA, C·B and the
///   per-alpha sums) in float64; the products with the targets (XᵀY, X_kᵀY_k, B = Vᵀ X₋ₖᵀY₋ₖ,
///   H = Aᵀ Y_k), the held-out rows' products with the eigenvectors and the weights in float32. A
///   float32 Gram of collinear features has eigenvalue errors of the order of the smallest alphas
///   (seen on Sherlock's topic_model: |Δr| up to 1e-2), hence float64 there; the partial-fraction
///   split of Σŷ² cancels, hence C·B in float64 (B converted exactly). Float32 products leave
///   round-off in B on the null space, which is left out of the scores and the refit.
/// - float64: everything in float64 (reference runs).
/// - float32: everything in float32, eigenvalues clamped at 0 (guard against negative ones). Not
///   offered for results (parse_precision refuses it, kFloat32Refused in config.hpp says why); brainsweep_bench
///   still times it.
enum class Precision { mixed, float64, float32 };
/// "mixed" or "float64" (or "float32" only with allow_float32: brainsweep_bench's timed variant).
/// @throw ConfigError  for float32 (kFloat32Refused) or another name
Precision parse_precision(const std::string& name, bool allow_float32 = false);
std::string to_string(Precision p);

struct RidgeOptions {
  std::vector<double> alphas;            ///< candidate strengths, > 0, ascending
  Precision precision = Precision::mixed;
  std::string solver = "auto";           ///< auto (primal when p <= n_train of every fold), primal, dual
  long target_batch = 4096;              ///< targets processed together (bounds the work space)
  /// Elements per block when float32 rows (columns, dual) of X and Y are converted to float64 for
  /// the Gram matrix and XᵀY (no full float64 copy of X or Y is made): 2^20 = 8 MB per operand, but
  /// at least convert_block / 1024 rows (1024) per block of the XᵀX and XᵀY products.
  /// Results depend on it only through the order of float64 additions.
  long convert_block = 1L << 20;
  /// Eigendecompositions run at once (Backend::syevd_many): 0 = the backend's concurrency (CPU: its
  /// BLAS threads, one each), capped by the folds + 1 and by 1 GiB of extra work space; 1 = one at a
  /// time on all threads. Results do not depend on it.
  int concurrent_decompositions = 0;
};

/// Seconds and GFLOP of each phase of a fit.
struct RidgeTimings {
  double gram_s = 0, decompose_s = 0, cv_s = 0, refit_s = 0;
  double gram_gflop = 0, decompose_gflop = 0, cv_gflop = 0, refit_gflop = 0;
};

/// Result of `ridge_cv`.
struct RidgeCvResult {
  MatrixD cv_scores;           ///< n_alphas × t: mean over folds of the held-out Pearson r
  std::vector<double> alpha;   ///< t: chosen alpha (highest score, ties to the larger alpha)
  std::vector<double> cv_r;    ///< t: cv score at the chosen alpha
  MatrixF weights;             ///< p × t, for standardised x and centred y, refit on all rows
  std::string solver;          ///< "primal" (eig of XᵀX) or "dual" (eig of XXᵀ)
  long tied_groups = 0;        ///< groups of (nearly) equal fold eigenvalues merged for CV scoring
  long null_eigenvalues = 0;   ///< fold eigenvalues left out of CV scoring as numerically zero (all folds)
  long refit_null_eigenvalues = 0;  ///< eigenvalues of the refit's Gram matrix left out as numerically zero
  RidgeTimings timings;
};

/// Fit ridge with one alpha per target chosen by K-fold CV, then refit on all rows (ENCODING.md §3–4).
/// @param x  design, n × p, standardised (column_stats of all training rows), row-major, host
/// @param y  targets, n × t, centred with the training mean, host
/// @param fold_of_row  n fold indices in [0, n_folds), from fold_assignment; every fold must be
///        one contiguous block of rows (as fold_assignment makes them)
/// @throw DimensionMismatch  if x, y and fold_of_row differ in rows
/// @throw DataError  if a fold is not contiguous or empty
/// Not collective. Method: the Gram matrix G = XᵀX (or K = XXᵀ, dual) is formed once; the Gram of
/// fold k's training rows is G − X_kᵀX_k (dual: a sub-matrix of K). One symmetric
/// eigendecomposition per fold and one for the refit, reused for every alpha and target:
/// held-out predictions for alpha are A (S + α)⁻¹ B with A = X_k V and B = Vᵀ X_{-k}ᵀ Y_{-k}
/// (dual: A = X_k X_{-k}ᵀ U, B = Uᵀ Y_{-k}); never a p × n matrix per alpha
/// (Hastie, Tibshirani & Friedman 2009, §3.4.1; himalaya's solve_ridge_cv_eigenvalues).
/// The held-out Pearson r of every alpha comes from the predictions' moments, not from the
/// predictions: with M = AᵀA (once per fold), Σŷ² splits by partial fractions in the eigenvalues
/// into one product C·B per fold (C_ij = M_ij / (λ_j − λ_i)) and per-alpha weighted sums, so the
/// per-target work per fold is 2·r·t·(m + r + 4·alphas) float64 flops instead of 2·m·r·t per alpha
/// (r = p primal, n_train dual). Eigenvalues at most r·ε·λ_max (the training rows' numerical null
/// space, where B is 0 up to round-off) are left out (RidgeCvResult::null_eigenvalues), and so are
/// those of the refit (RidgeCvResult::refit_null_eigenvalues; XᵀY has no component there in exact
/// arithmetic, so the weights still solve the normal equations, with minimum norm). Nearly equal
/// eigenvalues (gap below 1e-7 of λ + the smallest alpha) are merged into a group whose pairs
/// enter through ‖A_g b_g‖², 2·m·k·t flops per fold for a group of k (RidgeCvResult::tied_groups).
/// Scores agree with per-fold solves to about 1e-9 in float64 (tests/unit/test_ridge.cpp).
RidgeCvResult ridge_cv(const Backend& backend, const MatrixF& x, const MatrixF& y, const std::vector<int>& fold_of_row,
                       int n_folds, const RidgeOptions& options);

/// Whether ridge_cv's primal solver keeps the folds' X_kᵀY_k (folds × p × t elements of
/// `element_bytes` each) from forming XᵀY as their sum, so that the folds reuse them: when they take
/// at most 1 GiB and half the memory of X and Y in float32 (n training rows). The cost model
/// (cost.cpp) counts the per-fold products by the same rule. Pure function.
bool keeps_fold_products(long n, long p, long t, int folds, int element_bytes);

/// Whether ridge_cv's primal solver keeps the folds' Gram matrices G_k = X_kᵀX_k (folds × p × p
/// elements of `element_bytes` each) from forming XᵀX as their sum: by the same bound as
/// keeps_fold_products. The training Grams are then XᵀX − G_k, and a fold for which
/// moments_from_fold_gram holds takes the moments of its held-out predictions from G_k. The cost
/// model counts by the same rules. Pure function.
bool keeps_fold_grams(long n, long p, long t, int folds, int element_bytes);

/// Whether a fold with m held-out rows and p features takes M = Vᵀ G_k V (2·p·r·(p + r) flops) when
/// its G_k is kept, instead of A = X_k V (2·m·p², float32: half price) and M = AᵀA (2·m·r²): when
/// 3m > 4p. Pure function.
bool moments_from_fold_gram(long m, long p);

/// Predictions x · weights (float32 products on the backend).
/// @param x  n × p, standardised like the training design; @param weights  p × t (RidgeCvResult::weights)
/// @return  n × t, host. @throw DimensionMismatch if p differs
MatrixF predict(const Backend& backend, const MatrixF& x, const MatrixF& weights);

/// Compatibility form: default options with the given alphas.
RidgeCvResult ridge_cv(const Backend& backend, const MatrixF& x, const MatrixF& y, const std::vector<int>& fold_of_row,
                       int n_folds, const std::vector<double>& alphas);

}  // namespace brainsweep
