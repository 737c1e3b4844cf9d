// PLS regression encoders (pls.hpp; docs/ridge-engine.md#pls-encoding).
#include "brainsweep/pls.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Eigenvalues>
#include <fmt/format.h>

#include "brainsweep/errors.hpp"

namespace brainsweep {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

// Column means and SDs (ddof 1), as scikit-learn's _center_scale_xy, except that a column whose SD is
// at most 1e-7 of its largest |value| is constant (zeroed, SD 1): scikit-learn takes an SD of 0 as 1
// but divides a constant column's rounding residue (SD ~1e-16) by its SD, amplifying it to O(1).
void center_scale(MatrixD& m, Eigen::VectorXd& mean, Eigen::VectorXd& sd, bool scale) {
  const double n = static_cast<double>(m.rows());
  const Eigen::VectorXd top = m.cwiseAbs().colwise().maxCoeff().transpose();
  mean = m.colwise().mean().transpose();
  m.rowwise() -= mean.transpose();
  sd = Eigen::VectorXd::Ones(m.cols());
  for (long c = 0; c < m.cols(); ++c) {
    const double s = std::sqrt(m.col(c).squaredNorm() / (n - 1));
    if (s <= 1e-7 * top(c)) m.col(c).setZero();
    else if (scale) sd(c) = s;
  }
  if (scale) m.array().rowwise() /= sd.transpose().array();
}

// Pearson r of two columns (NaN when either is constant).
double pearson(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  const Eigen::ArrayXd da = a.array() - a.mean(), db = b.array() - b.mean();
  const double den = std::sqrt((da * da).sum() * (db * db).sum());
  return den > 0 ? (da * db).sum() / den : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

MatrixD PlsModel::coefficients(long k) const {
  k = std::min<long>(k, x_weights.cols());
  const MatrixD w = x_weights.leftCols(k), pw = x_loadings.leftCols(k).transpose() * w;
  const MatrixD rotations = w * pw.completeOrthogonalDecomposition().pseudoInverse();  // scikit-learn: pinv
  MatrixD b = rotations * y_loadings.leftCols(k).transpose();  // p × t on scaled x, scaled y
  b.array().colwise() /= x_std.array();
  b.array().rowwise() *= y_std.transpose().array();
  return b;
}

PlsModel pls_fit(const MatrixD& x_in, const MatrixD& y_in, long k, bool scale) {
  if (x_in.rows() != y_in.rows())
    throw DimensionMismatch(fmt::format("pls_fit: x has {} rows, y {}", x_in.rows(), y_in.rows()));
  if (k < 1) throw ConfigError(fmt::format("pls_fit: expected at least 1 component, found {}", k));
  PlsModel m;
  MatrixD xk = x_in, yk = y_in;
  center_scale(xk, m.x_mean, m.x_std, scale);
  center_scale(yk, m.y_mean, m.y_std, scale);
  const long p = xk.cols(), t = yk.cols();
  std::vector<Eigen::VectorXd> ws, ps, qs;
  const double x0 = xk.squaredNorm();
  MatrixD cross = xk.transpose() * yk;  // M = XₖᵀYₖ, then updated by rank one per component
  for (long c = 0; c < k; ++c) {
    // X's residual numerically zero: the design's rank is reached (a further component would divide
    // rounding residue by its own tiny norm: coefficients of 1e13 where scikit-learn has no guard)
    if (!(xk.squaredNorm() > 1e-10 * x0)) break;
    // Y columns whose residual is numerically zero are zeroed (scikit-learn: 10 ε)
    bool any = false;
    for (long j = 0; j < t; ++j) {
      if (yk.col(j).cwiseAbs().maxCoeff() < 10 * kEps) yk.col(j).setZero(), cross.col(j).setZero();
      else any = true;
    }
    if (!any) break;  // Y's residual is all zero: no further component
    // w: the first left singular vector of M, from the top eigenvector of the smaller of MᵀM and MMᵀ
    Eigen::VectorXd w;
    if (t <= p) {
      Eigen::SelfAdjointEigenSolver<MatrixD> es(cross.transpose() * cross);
      w = cross * es.eigenvectors().col(t - 1);
    } else {
      Eigen::SelfAdjointEigenSolver<MatrixD> es(cross * cross.transpose());
      w = es.eigenvectors().col(p - 1);
    }
    const double nw = w.norm();
    if (!(nw > 0)) break;  // XₖᵀYₖ = 0: nothing left for a component to explain
    w /= nw;
    long big = 0;  // _svd_flip_1d: the largest |w| positive
    w.cwiseAbs().maxCoeff(&big);
    if (w(big) < 0) w = -w;
    const Eigen::VectorXd xs = xk * w;
    const double ss = xs.squaredNorm();
    const Eigen::VectorXd pl = xk.transpose() * xs / ss, ql = yk.transpose() * xs / ss;
    xk.noalias() -= xs * pl.transpose();
    yk.noalias() -= xs * ql.transpose();
    // X₊ᵀxs = 0, so X₊ᵀY₊ = X₊ᵀYₖ = M − p (xsᵀYₖ) = M − ss · p qᵀ
    cross.noalias() -= ss * pl * ql.transpose();
    ws.push_back(w), ps.push_back(pl), qs.push_back(ql);
  }
  const long kk = static_cast<long>(ws.size());
  m.x_weights.resize(p, kk);
  m.x_loadings.resize(p, kk);
  m.y_loadings.resize(t, kk);
  for (long c = 0; c < kk; ++c) {
    m.x_weights.col(c) = ws[static_cast<size_t>(c)];
    m.x_loadings.col(c) = ps[static_cast<size_t>(c)];
    m.y_loadings.col(c) = qs[static_cast<size_t>(c)];
  }
  return m;
}

PlsCvResult pls_cv(const MatrixF& x, const MatrixF& y, const std::vector<int>& fold_of_row, int n_folds,
                   const std::vector<long>& components, bool scale) {
  const long n = x.rows(), t = y.cols();
  if (y.rows() != n || static_cast<long>(fold_of_row.size()) != n)
    throw DimensionMismatch(fmt::format("pls_cv: x has {} rows, y {}, folds {}", n, y.rows(), fold_of_row.size()));
  if (components.empty()) throw ConfigError("pls.components: expected at least one count");
  // Counts above min(training rows − 1, columns) of the smallest fold cannot be fitted: skipped (NaN)
  long limit = x.cols();
  for (int f = 0; f < n_folds; ++f)
    limit = std::min<long>(limit, n - 1 - std::count(fold_of_row.begin(), fold_of_row.end(), f));
  long k_max = 0;
  for (long k : components)
    if (k <= limit) k_max = std::max(k_max, k);
  if (k_max == 0)
    throw ConfigError(fmt::format("pls.components: the smallest count is {}, but the design has {} columns and {} rows "
                                  "in {} folds (at most {} components: list a smaller count)", components.front(), x.cols(),
                                  n, n_folds, limit));
  const MatrixD xd = x.cast<double>(), yd = y.cast<double>();
  const long n_opt = static_cast<long>(components.size());
  PlsCvResult out;
  out.cv_scores = MatrixD::Zero(n_opt, t);
  for (long o = 0; o < n_opt; ++o)
    if (components[static_cast<size_t>(o)] > limit) out.cv_scores.row(o).setConstant(std::numeric_limits<double>::quiet_NaN());
  for (int f = 0; f < n_folds; ++f) {
    std::vector<long> tr, te;
    for (long i = 0; i < n; ++i) (fold_of_row[static_cast<size_t>(i)] == f ? te : tr).push_back(i);
    const PlsModel m = pls_fit(xd(tr, Eigen::all), yd(tr, Eigen::all), k_max, scale);
    const MatrixD xte = xd(te, Eigen::all), yte = yd(te, Eigen::all);
    for (long o = 0; o < n_opt; ++o) {
      if (components[static_cast<size_t>(o)] > limit) continue;
      const MatrixD pred = ((xte.rowwise() - m.x_mean.transpose()) * m.coefficients(components[static_cast<size_t>(o)]))
                               .rowwise() + m.y_mean.transpose();
      for (long j = 0; j < t; ++j) out.cv_scores(o, j) += pearson(pred.col(j), yte.col(j)) / n_folds;
    }
  }
  out.n_components.assign(static_cast<size_t>(t), components.front());
  out.cv_r.assign(static_cast<size_t>(t), std::numeric_limits<double>::quiet_NaN());
  long k_refit = 0;
  for (long j = 0; j < t; ++j) {
    long best = -1;
    for (long o = 0; o < n_opt; ++o) {
      const double s = out.cv_scores(o, j);
      if (std::isnan(s)) continue;
      const double b = best < 0 ? 0 : out.cv_scores(best, j);
      if (best < 0 || s > b || (s == b && components[static_cast<size_t>(o)] < components[static_cast<size_t>(best)])) best = o;
    }
    if (best >= 0) {
      out.n_components[static_cast<size_t>(j)] = components[static_cast<size_t>(best)];
      out.cv_r[static_cast<size_t>(j)] = out.cv_scores(best, j);
    }
    k_refit = std::max(k_refit, out.n_components[static_cast<size_t>(j)]);
  }
  const PlsModel m = pls_fit(xd, yd, k_refit, scale);
  out.weights.resize(x.cols(), t);
  out.intercept.resize(t);
  std::vector<long> counts = out.n_components;
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  for (long k : counts) {
    const MatrixD b = m.coefficients(k);
    for (long j = 0; j < t; ++j)
      if (out.n_components[static_cast<size_t>(j)] == k) {
        out.weights.col(j) = b.col(j).cast<float>();
        out.intercept(j) = m.y_mean(j) - m.x_mean.dot(b.col(j));
      }
  }
  return out;
}

}  // namespace brainsweep
