// RidgeCV per target (ENCODING.md §3–4), written once against the Backend kernels.
#include "brainsweep/errors.hpp"
#include "brainsweep/ridge.hpp"

namespace brainsweep {
namespace {

/// Spectral form of a ridge problem on (x, y): W(α) = basis · diag(1 / (s + α)) · b.
/// Primal (p <= n): XᵀX = V S Vᵀ, basis = V (p × p), b = Vᵀ XᵀY.
/// Dual (p > n):    XXᵀ = U S Uᵀ, basis = XᵀU (p × n), b = UᵀY.
struct Spectral {
  MatrixD basis;
  VectorD s;
  MatrixD b;
  bool dual = false;
};

Spectral decompose(const Backend& be, const MatrixD& x, const MatrixD& y) {
  Spectral sp;
  sp.dual = x.cols() > x.rows();
  MatrixD vec;
  be.gemm(!sp.dual, sp.dual, x, x, vec);  // XᵀX or XXᵀ
  be.syevd(vec, sp.s);
  sp.s = sp.s.cwiseMax(0.0);  // round-off can make eigenvalues of a PSD matrix slightly negative
  if (!sp.dual) {
    MatrixD xty;
    be.gemm(true, false, x, y, xty);
    sp.basis = vec;
    be.gemm(true, false, vec, xty, sp.b);
  } else {
    be.gemm(true, false, x, vec, sp.basis);
    be.gemm(true, false, vec, y, sp.b);
  }
  return sp;
}

/// b with row i of column j divided by (s_i + alpha_j).
MatrixD shrink(const Spectral& sp, const std::vector<double>& alpha_of_col) {
  MatrixD out(sp.b.rows(), sp.b.cols());
  for (long i = 0; i < sp.b.rows(); ++i)
    for (long j = 0; j < sp.b.cols(); ++j) out(i, j) = sp.b(i, j) / (sp.s(i) + alpha_of_col[static_cast<size_t>(j)]);
  return out;
}

MatrixD take_rows(const MatrixD& m, const std::vector<long>& rows) {
  MatrixD out(static_cast<long>(rows.size()), m.cols());
  for (size_t i = 0; i < rows.size(); ++i) out.row(static_cast<long>(i)) = m.row(rows[i]);
  return out;
}

}  // namespace

RidgeCvResult ridge_cv(const Backend& be, const MatrixF& x_f, const MatrixF& y_f, const std::vector<int>& fold_of_row,
                       int n_folds, const std::vector<double>& alphas) {
  // Products in float64: a float32 Gram matrix of collinear features (smooth, windowed) has
  // eigenvalue errors of the order of the smallest alphas (seen on Sherlock's topic_model).
  const MatrixD x = x_f.cast<double>(), y = y_f.cast<double>();
  const long n = x.rows(), t = y.cols();
  if (y.rows() != n || static_cast<long>(fold_of_row.size()) != n)
    throw DimensionMismatch("ridge_cv: x has " + std::to_string(n) + " rows, y " + std::to_string(y.rows()) +
                            ", fold_of_row " + std::to_string(fold_of_row.size()));
  if (alphas.empty()) throw ConfigError("ridge_cv: empty alpha grid");
  const long n_alphas = static_cast<long>(alphas.size());

  RidgeCvResult res;
  res.cv_scores = MatrixD::Zero(n_alphas, t);
  for (int k = 0; k < n_folds; ++k) {
    std::vector<long> train_rows, val_rows;
    for (long i = 0; i < n; ++i) (fold_of_row[static_cast<size_t>(i)] == k ? val_rows : train_rows).push_back(i);
    if (val_rows.empty() || train_rows.empty())
      throw DataError("ridge_cv: fold " + std::to_string(k) + " has " + std::to_string(val_rows.size()) +
                      " held-out and " + std::to_string(train_rows.size()) + " training rows");
    const MatrixD x_val = take_rows(x, val_rows), y_val = take_rows(y, val_rows);
    const Spectral sp = decompose(be, take_rows(x, train_rows), take_rows(y, train_rows));
    MatrixD a, pred;
    be.gemm(false, false, x_val, sp.basis, a);  // held-out rows in the spectral basis
    for (long ai = 0; ai < n_alphas; ++ai) {
      be.gemm(false, false, a, shrink(sp, std::vector<double>(static_cast<size_t>(t), alphas[ai])), pred);
      const auto r = column_pearson(pred, y_val);
      for (long j = 0; j < t; ++j) res.cv_scores(ai, j) += r[static_cast<size_t>(j)] / n_folds;
    }
  }

  res.alpha.resize(static_cast<size_t>(t));
  res.cv_r.resize(static_cast<size_t>(t));
  for (long j = 0; j < t; ++j) {
    long best = 0;
    for (long ai = 1; ai < n_alphas; ++ai)
      if (res.cv_scores(ai, j) >= res.cv_scores(best, j)) best = ai;  // ties go to the larger alpha
    res.alpha[static_cast<size_t>(j)] = alphas[static_cast<size_t>(best)];
    res.cv_r[static_cast<size_t>(j)] = res.cv_scores(best, j);
  }

  const Spectral full = decompose(be, x, y);
  be.gemm(false, false, full.basis, shrink(full, res.alpha), res.weights);
  res.solver = full.dual ? "dual" : "primal";
  return res;
}

}  // namespace brainsweep
