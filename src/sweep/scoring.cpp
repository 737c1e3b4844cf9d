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
    std::vector<std::pair<const std::string*, long>> blocks;  // episode, first kept row
    long n = 0;
    for (const auto& ep : set.episodes) {
      if (set.movies.at(ep) != mv) continue;
      blocks.emplace_back(&ep, std::min<long>(exclude_start, truth.at(ep).rows()));
      n += std::max(0L, truth.at(ep).rows() - exclude_start - exclude_end);
    }
    auto rows_of = [&](const std::string& ep) { return std::max(0L, truth.at(ep).rows() - exclude_start - exclude_end); };
    // Pass 1: means of y, of every ŷ_k and of ŝ.
    MatrixD mean = MatrixD::Zero(K + 1, t);  // rows 0..K-1: ŷ_k; row K: y
    for (const auto& [ep, row0] : blocks)
      for (long i = row0; i < row0 + rows_of(*ep); ++i) {
        for (long k = 0; k < K; ++k) mean.row(k) += band_pred[static_cast<size_t>(k)].at(*ep).row(i).cast<double>();
        mean.row(K) += truth.at(*ep).row(i).cast<double>();
      }
    if (n > 0) mean /= static_cast<double>(n);
    Eigen::RowVectorXd m_sum = mean.topRows(K).colwise().sum();
    // Pass 2: Σ y², Σ (ŝ − mean ŝ)², and per band Σ y ŷ_k, Σ y (ŷ_k − mean ŷ_k) (equal: y is centred),
    // Σ ŷ_k ŝ, Σ ŷ_k².
    Eigen::RowVectorXd syy = Eigen::RowVectorXd::Zero(t), sss = Eigen::RowVectorXd::Zero(t);
    MatrixD syk = MatrixD::Zero(K, t), sks = MatrixD::Zero(K, t), skk = MatrixD::Zero(K, t);
    Eigen::RowVectorXd yc(t), s(t), yk(t);
    for (const auto& [ep, row0] : blocks)
      for (long i = row0; i < row0 + rows_of(*ep); ++i) {
        yc = truth.at(*ep).row(i).cast<double>() - mean.row(K);
        s.setZero();
        for (long k = 0; k < K; ++k) s += band_pred[static_cast<size_t>(k)].at(*ep).row(i).cast<double>();
        syy += yc.cwiseProduct(yc);
        sss += (s - m_sum).cwiseProduct(s - m_sum);
        for (long k = 0; k < K; ++k) {
          yk = band_pred[static_cast<size_t>(k)].at(*ep).row(i).cast<double>();
          syk.row(k) += yc.cwiseProduct(yk);
          sks.row(k) += yk.cwiseProduct(s);
          skk.row(k) += yk.cwiseProduct(yk);
        }
      }
    for (long j = 0; j < t; ++j) {
      // himalaya's correlation_score_split: population SDs, an SD of 0 replaced by 1 (so a constant
      // y gives 0, as a constant column's Pearson r is scored).
      const double nn = static_cast<double>(std::max(n, 1L));
      const double sd_y = syy[j] > 0 ? std::sqrt(syy[j] / nn) : 1.0, sd_s = sss[j] > 0 ? std::sqrt(sss[j] / nn) : 1.0;
      const double nan = std::numeric_limits<double>::quiet_NaN();
      double joint = 0;
      for (long k = 0; k < K; ++k) {
        out.r(k, j) += w * (syk(k, j) / nn) / (sd_y * sd_s);
        const double r2 = syy[j] > 0 ? (2 * syk(k, j) - sks(k, j)) / syy[j] : nan;
        out.r2(k, j) += w * r2;
        out.r2_alone(k, j) += w * (syy[j] > 0 ? (2 * syk(k, j) - skk(k, j)) / syy[j] : nan);
        joint += r2;
      }
      out.r2_joint[static_cast<size_t>(j)] += w * joint;
    }
  }
  return out;
}

}  // namespace brainsweep
