#include "brainsweep/scoring.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "brainsweep/errors.hpp"
#include "brainsweep/ridge.hpp"

namespace brainsweep {

MatrixF kept_rows(const MatrixF& m, int exclude_start, int exclude_end) {
  const long n = std::max(0L, m.rows() - exclude_start - exclude_end);
  return m.middleRows(std::min<long>(exclude_start, m.rows()), n);
}

std::vector<double> score_eval_set(const EvalSet& set, const std::map<std::string, MatrixF>& pred,
                                   const std::map<std::string, MatrixF>& truth, int exclude_start, int exclude_end) {
  std::vector<std::string> movies;
  for (const auto& ep : set.episodes) {
    const auto& mv = set.movies.at(ep);
    if (std::find(movies.begin(), movies.end(), mv) == movies.end()) movies.push_back(mv);
  }
  std::vector<double> mean;
  for (const auto& mv : movies) {
    // The movie's episodes, their kept rows taken together without copying them.
    std::vector<RowBlock> blocks;
    for (const auto& ep : set.episodes) {
      if (set.movies.at(ep) != mv) continue;
      const MatrixF& p = pred.at(ep);
      const MatrixF& t = truth.at(ep);
      if (p.rows() != t.rows() || p.cols() != t.cols())
        throw DimensionMismatch("episode '" + ep + "': prediction is " + std::to_string(p.rows()) + "×" +
                                std::to_string(p.cols()) + ", fMRI is " + std::to_string(t.rows()) + "×" +
                                std::to_string(t.cols()));
      const long row0 = std::min<long>(exclude_start, p.rows());
      blocks.push_back({&p, &t, row0, std::max(0L, p.rows() - exclude_start - exclude_end)});
    }
    const auto r = column_pearson(blocks);
    if (mean.empty()) mean.assign(r.size(), 0.0);
    for (size_t j = 0; j < r.size(); ++j) mean[j] += r[j] / static_cast<double>(movies.size());
  }
  return mean;
}

void SplitMoments::add(const float* y, const std::vector<const float*>& parts, long rows, long stride) {
  const long K = static_cast<long>(parts.size());
  if (sp.rows() == 0) {
    sy = syy = Eigen::RowVectorXd::Zero(t);
    sp = syp = MatrixD::Zero(K, t);
    spp = MatrixD::Zero(K * (K + 1) / 2, t);
  }
  double* const a_sy = sy.data();
  double* const a_syy = syy.data();
  for (long i = 0; i < rows; ++i) {  // row by row: each input row is read once, contiguously
    const float* const yr = y + i * stride;
    for (long j = 0; j < t; ++j) {
      const double v = yr[j];
      a_sy[j] += v;
      a_syy[j] += v * v;
    }
    long q = 0;
    for (long k = 0; k < K; ++k) {
      const float* const pk = parts[static_cast<size_t>(k)] + i * stride;
      double* const a_sp = sp.row(k).data();
      double* const a_syp = syp.row(k).data();
      for (long j = 0; j < t; ++j) {
        const double v = pk[j];
        a_sp[j] += v;
        a_syp[j] += v * static_cast<double>(yr[j]);
      }
      for (long k2 = k; k2 < K; ++k2, ++q) {  // the upper triangle of Σ ŷ_k ŷ_k2, row by row
        const float* const pk2 = parts[static_cast<size_t>(k2)] + i * stride;
        double* const a_spp = spp.row(q).data();
        for (long j = 0; j < t; ++j) a_spp[j] += static_cast<double>(pk[j]) * static_cast<double>(pk2[j]);
      }
    }
  }
  n += rows;
}

void SplitMoments::add_to(SplitScores& out, double weight) const {
  const long K = sp.rows();
  const double nn = static_cast<double>(std::max(n, 1L));
  auto pp = [&](long k, long k2, long j) {  // Σ ŷ_k ŷ_k2 from the packed upper triangle
    if (k > k2) std::swap(k, k2);
    return spp(k * K - k * (k - 1) / 2 + (k2 - k), j);
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (long j = 0; j < t; ++j) {
    // centred sums from the raw ones (y centred on the movie; ŷ_k as given, ŝ = Σ_k ŷ_k)
    const double my = sy[j] / nn;
    double m_sum = 0, s_ss = 0;
    for (long k = 0; k < K; ++k) m_sum += sp(k, j) / nn;
    for (long k = 0; k < K; ++k)
      for (long k2 = 0; k2 < K; ++k2) s_ss += pp(k, k2, j);
    const double syy_c = std::max(0.0, syy[j] - nn * my * my), sss_c = std::max(0.0, s_ss - nn * m_sum * m_sum);
    // himalaya's correlation_score_split: population SDs, an SD of 0 replaced by 1 (so a constant
    // y gives 0, as a constant column's Pearson r is scored).
    const double sd_y = syy_c > 0 ? std::sqrt(syy_c / nn) : 1.0, sd_s = sss_c > 0 ? std::sqrt(sss_c / nn) : 1.0;
    double joint = 0;
    for (long k = 0; k < K; ++k) {
      const double syk = syp(k, j) - nn * my * (sp(k, j) / nn);  // Σ (y − ȳ) ŷ_k
      double sks = 0;
      for (long k2 = 0; k2 < K; ++k2) sks += pp(k, k2, j);
      const double skk = pp(k, k, j);
      out.r(k, j) += weight * (syk / nn) / (sd_y * sd_s);
      const double r2 = syy_c > 0 ? (2 * syk - sks) / syy_c : nan;
      out.r2(k, j) += weight * r2;
      out.r2_alone(k, j) += weight * (syy_c > 0 ? (2 * syk - skk) / syy_c : nan);
      joint += r2;
    }
    out.r2_joint[static_cast<size_t>(j)] += weight * joint;
  }
}

SplitScores split_scores(const float* y, const std::vector<const float*>& parts, long n, long t) {
  SplitScores out;
  const long K = static_cast<long>(parts.size());
  out.r = MatrixD::Zero(K, t), out.r2 = MatrixD::Zero(K, t), out.r2_alone = MatrixD::Zero(K, t);
  out.r2_joint.assign(static_cast<size_t>(t), 0.0);
  SplitMoments m(t);
  m.add(y, parts, n, t);
  m.add_to(out, 1.0);
  return out;
}

SplitScores split_eval_set(const EvalSet& set, const std::vector<std::map<std::string, MatrixF>>& band_pred,
                           const std::map<std::string, MatrixF>& truth, int exclude_start, int exclude_end) {
  const long K = static_cast<long>(band_pred.size());
  std::vector<std::string> movies;
  for (const auto& ep : set.episodes) {
    const auto& mv = set.movies.at(ep);
    if (std::find(movies.begin(), movies.end(), mv) == movies.end()) movies.push_back(mv);
  }
  long t = -1;
  for (const auto& ep : set.episodes) {
    const MatrixF& y = truth.at(ep);
    if (t >= 0 && y.cols() != t) throw DimensionMismatch("split_eval_set: episodes of different widths in set " + set.name);
    t = y.cols();
    for (long k = 0; k < K; ++k) {
      const MatrixF& p = band_pred[static_cast<size_t>(k)].at(ep);
      if (p.rows() != y.rows() || p.cols() != y.cols())
        throw DimensionMismatch(fmt::format("episode '{}': band {} prediction is {}×{}, fMRI is {}×{}", ep, k, p.rows(),
                                            p.cols(), y.rows(), y.cols()));
    }
  }
  t = std::max(0L, t);
  SplitScores out;
  out.r = MatrixD::Zero(K, t), out.r2 = MatrixD::Zero(K, t), out.r2_alone = MatrixD::Zero(K, t);
  out.r2_joint.assign(static_cast<size_t>(t), 0.0);
  const double w = 1.0 / static_cast<double>(movies.size());
  for (const auto& mv : movies) {
    // one pass over the kept rows of the movie's episodes (concatenated, as r is scored)
    SplitMoments m(t);
    for (const auto& ep : set.episodes) {
      if (set.movies.at(ep) != mv) continue;
      const MatrixF& y = truth.at(ep);
      const long row0 = std::min<long>(exclude_start, y.rows()), rows = std::max(0L, y.rows() - exclude_start - exclude_end);
      std::vector<const float*> parts;
      for (long k = 0; k < K; ++k) parts.push_back(band_pred[static_cast<size_t>(k)].at(ep).data() + row0 * t);
      m.add(y.data() + row0 * t, parts, rows, t);
    }
    m.add_to(out, w);
  }
  return out;
}

}  // namespace brainsweep
