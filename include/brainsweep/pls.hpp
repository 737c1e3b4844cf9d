#pragma once
/// PLS regression encoders (issue #26 §6; PEER_ANALYSES.md card D; docs/ridge-engine.md#pls-encoding):
/// scikit-learn's PLSRegression (PLS2, NIPALS, mode A, `scale=True`) with the number of components
/// chosen per parcel by the sweep's K-fold CV, as ridge chooses alpha.
#include <vector>

#include "brainsweep/matrix.hpp"

namespace brainsweep {

/// A fitted PLS2 model in scikit-learn's terms (sklearn/cross_decomposition/_pls.py, 1.2).
struct PlsModel {
  Eigen::VectorXd x_mean, x_std, y_mean, y_std;  ///< the training rows' (ddof 1; SD 0 → 1; all 1 without scale)
  MatrixD x_weights;   ///< W, p × K
  MatrixD x_loadings;  ///< P, p × K
  MatrixD y_loadings;  ///< Q, t × K
  /// The coefficients of the first k components on raw x: B_k = diag(1/x_std) W_k (P_kᵀW_k)⁻¹ Q_kᵀ
  /// diag(y_std) (p × t); the prediction is (x − x_mean) B_k + y_mean.
  MatrixD coefficients(long k) const;
};

/// Fit K components by NIPALS (Wold; scikit-learn's `_PLS.fit`, mode A, regression deflation): X and Y
/// centred (and, with `scale`, divided by their SDs, ddof 1); per component w, the first left singular
/// vector of M = XₖᵀYₖ (what scikit-learn's power method converges to; here exactly, from the top
/// eigenvector of the smaller of MᵀM and MMᵀ), its sign so that the largest |w| is positive, the x
/// scores Xₖw, then X and Y deflated by them; M is formed once (n·p·t) and updated by rank one per
/// component (X₊ᵀY₊ = M − ‖Xₖw‖² p qᵀ). Y columns whose residual is below 10 ε are zeroed first, as
/// scikit-learn does; K is cut where Y's residual is all zero or X's is below 1e-10 of its squared
/// norm (the design's numerical rank). Unlike scikit-learn, a column whose SD is at most 1e-7 of its
/// largest |value| counts as constant (zeroed; scikit-learn divides its rounding residue by it).
/// Cost per component: min(p, t)² · max(p, t) for the Gram matrix and its eigendecomposition, 4n(p + t)
/// for the scores and the deflation.
/// @param x  n × p; @param y  n × t (n ≥ 2)
/// @throw DimensionMismatch  if the rows differ; ConfigError if k < 1
PlsModel pls_fit(const MatrixD& x, const MatrixD& y, long k, bool scale);

/// The result of pls_cv: what ridge_cv gives for alpha, for the number of components.
struct PlsCvResult {
  MatrixD cv_scores;                ///< options × t: mean over folds of the held-out Pearson r
  std::vector<long> n_components;   ///< t: chosen per parcel (highest score, ties to fewer components)
  std::vector<double> cv_r;         ///< t: the CV score at the chosen count (NaN where every option is)
  MatrixF weights;                  ///< p × t on the given (standardised) x, refit on all rows
  Eigen::VectorXd intercept;        ///< t: added to x · weights (with y centred, about 0)
};

/// K-fold CV over `components` (each ≥ 1; those above min(training rows of the smallest fold − 1, p) are
/// skipped, their scores NaN): every fold's PLS fitted once
/// with the largest count, its held-out predictions for each count from the leading components; per
/// parcel the count of the best mean held-out r; then a refit on all rows with the largest count
/// chosen, each parcel's coefficients from its own count.
/// @param fold_of_row  n fold indices in [0, n_folds) (fold_assignment)
/// @throw DimensionMismatch; ConfigError if no count can be fitted
PlsCvResult pls_cv(const MatrixF& x, const MatrixF& y, const std::vector<int>& fold_of_row, int n_folds,
                   const std::vector<long>& components, bool scale);

}  // namespace brainsweep
