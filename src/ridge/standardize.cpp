#include <cmath>

#include "brainsweep/errors.hpp"
#include "brainsweep/ridge.hpp"

namespace brainsweep {

ColumnStats column_stats(const MatrixF& x) {
  const long n = x.rows(), p = x.cols();
  ColumnStats s{VectorD::Zero(p), VectorD::Zero(p)};
  if (n == 0) return s;
  for (long i = 0; i < n; ++i) s.mean += x.row(i).cast<double>().transpose();
  s.mean /= static_cast<double>(n);
  VectorD var = VectorD::Zero(p), peak = VectorD::Zero(p);
  for (long i = 0; i < n; ++i) {
    var += (x.row(i).cast<double>().transpose() - s.mean).array().square().matrix();
    peak = peak.cwiseMax(x.row(i).cast<double>().transpose().cwiseAbs());
  }
  var /= static_cast<double>(n);
  for (long j = 0; j < p; ++j) {
    const double sd = std::sqrt(var(j));
    // Constant within float32 resolution of the column's own values (relative, issue #25: features
    // scaled by 1e-9 are not constant; ENCODING.md §2's absolute 1e-8 dropped every such column).
    s.inv_std(j) = sd <= kConstantColumn * peak(j) ? 0.0 : 1.0 / sd;
  }
  return s;
}

void standardize(MatrixF& x, const ColumnStats& stats) {
  if (x.cols() != stats.mean.size())
    throw DimensionMismatch("standardize: x has " + std::to_string(x.cols()) + " columns, statistics have " +
                            std::to_string(stats.mean.size()));
  for (long i = 0; i < x.rows(); ++i)
    for (long j = 0; j < x.cols(); ++j)
      x(i, j) = static_cast<float>((x(i, j) - stats.mean(j)) * stats.inv_std(j));
}

VectorD center_targets(MatrixF& y) {
  VectorD mean = VectorD::Zero(y.cols());
  for (long i = 0; i < y.rows(); ++i) mean += y.row(i).cast<double>().transpose();
  mean /= static_cast<double>(std::max(1L, static_cast<long>(y.rows())));
  for (long i = 0; i < y.rows(); ++i)
    for (long j = 0; j < y.cols(); ++j) y(i, j) = static_cast<float>(y(i, j) - mean(j));
  return mean;
}

void add_intercept(MatrixF& pred, const VectorD& mean) {
  if (pred.cols() != mean.size())
    throw DimensionMismatch("add_intercept: predictions have " + std::to_string(pred.cols()) + " columns, the mean " +
                            std::to_string(mean.size()));
  for (long i = 0; i < pred.rows(); ++i)
    for (long j = 0; j < pred.cols(); ++j) pred(i, j) = static_cast<float>(pred(i, j) + mean(j));
}

namespace {
/// `rows` consecutive rows of a row-major prediction and its measurement, from their first rows.
template <class S>
struct Rows {
  const S* pred;
  const S* truth;
  long rows;
};

/// Pearson r per column over all blocks' rows (t columns each): two passes (means, then centred
/// sums) on restrict-qualified row pointers, so that the compiler vectorises over the columns.
template <class S>
std::vector<double> pearson_rows(const std::vector<Rows<S>>& blocks, long t) {
  std::vector<double> r(static_cast<size_t>(t), 0.0);
  long n = 0;
  for (const auto& b : blocks) n += b.rows;
  if (n < 2) return r;
  std::vector<double> means(2 * static_cast<size_t>(t), 0.0), sums(3 * static_cast<size_t>(t), 0.0);
  double* __restrict mp = means.data();
  double* __restrict mt = means.data() + t;
  for (const auto& b : blocks)
    for (long i = 0; i < b.rows; ++i) {
      const S* __restrict pi = b.pred + i * t;
      const S* __restrict ti = b.truth + i * t;
      for (long j = 0; j < t; ++j) {
        mp[j] += static_cast<double>(pi[j]);
        mt[j] += static_cast<double>(ti[j]);
      }
    }
  for (long j = 0; j < 2 * t; ++j) means[static_cast<size_t>(j)] /= static_cast<double>(n);
  double* __restrict sxy = sums.data();
  double* __restrict sxx = sums.data() + t;
  double* __restrict syy = sums.data() + 2 * t;
  for (const auto& b : blocks)
    for (long i = 0; i < b.rows; ++i) {
      const S* __restrict pi = b.pred + i * t;
      const S* __restrict ti = b.truth + i * t;
      for (long j = 0; j < t; ++j) {
        const double a = static_cast<double>(pi[j]) - mp[j], c = static_cast<double>(ti[j]) - mt[j];
        sxy[j] += a * c;
        sxx[j] += a * a;
        syy[j] += c * c;
      }
    }
  for (long j = 0; j < t; ++j) {
    // Zero variance: exactly constant columns give exactly zero sums in float64.
    if (sxx[j] > 0 && syy[j] > 0) r[static_cast<size_t>(j)] = sxy[j] / std::sqrt(sxx[j] * syy[j]);
  }
  return r;
}

template <class M>
std::vector<double> pearson_impl(const M& pred, const M& truth) {
  static_assert(M::IsRowMajor, "column_pearson: row-major matrices");
  if (pred.rows() != truth.rows() || pred.cols() != truth.cols())
    throw DimensionMismatch("column_pearson: prediction is " + std::to_string(pred.rows()) + "×" +
                            std::to_string(pred.cols()) + ", measurement is " + std::to_string(truth.rows()) + "×" +
                            std::to_string(truth.cols()));
  using S = typename M::Scalar;
  return pearson_rows<S>({Rows<S>{pred.data(), truth.data(), pred.rows()}}, pred.cols());
}
}  // namespace

std::vector<double> column_pearson(const std::vector<RowBlock>& blocks) {
  std::vector<Rows<float>> rows;
  long t = -1;
  for (const auto& b : blocks) {
    const MatrixF &p = *b.pred, &m = *b.truth;
    if (p.rows() != m.rows() || p.cols() != m.cols() || b.row0 < 0 || b.rows < 0 || b.row0 + b.rows > p.rows() ||
        (t >= 0 && p.cols() != t))
      throw DimensionMismatch("column_pearson: prediction is " + std::to_string(p.rows()) + "×" +
                              std::to_string(p.cols()) + ", measurement " + std::to_string(m.rows()) + "×" +
                              std::to_string(m.cols()) + ", rows [" + std::to_string(b.row0) + ", " +
                              std::to_string(b.row0 + b.rows) + ")" +
                              (t >= 0 ? ", other blocks " + std::to_string(t) + " wide" : std::string()));
    t = p.cols();
    rows.push_back({p.data() + b.row0 * t, m.data() + b.row0 * t, b.rows});
  }
  return pearson_rows<float>(rows, std::max(0L, t));
}

std::vector<double> column_pearson(const MatrixF& pred, const MatrixF& truth) { return pearson_impl(pred, truth); }
std::vector<double> column_pearson(const MatrixD& pred, const MatrixD& truth) { return pearson_impl(pred, truth); }

std::vector<int> fold_assignment(const std::vector<long>& run_lengths, int k) {
  long n = 0;
  for (long l : run_lengths) n += l;
  if (n < k)
    throw DataError("cross-validation: " + std::to_string(n) + " training samples for " + std::to_string(k) +
                    " folds (need at least one sample per fold)");
  std::vector<int> fold;
  fold.reserve(static_cast<size_t>(n));
  const long r_count = static_cast<long>(run_lengths.size());
  if (r_count >= k) {
    for (int j = 0; j < k; ++j) {
      const long first = j * r_count / k, last = (j + 1) * r_count / k;
      for (long r = first; r < last; ++r) fold.insert(fold.end(), static_cast<size_t>(run_lengths[r]), j);
    }
  } else {
    for (int j = 0; j < k; ++j) {
      const long size = n / k + (j < n % k ? 1 : 0);
      fold.insert(fold.end(), static_cast<size_t>(size), j);
    }
  }
  return fold;
}

}  // namespace brainsweep
