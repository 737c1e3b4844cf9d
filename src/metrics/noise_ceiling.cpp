// Noise ceilings (noise_ceiling.hpp, METRICS.md §1).
#include "brainsweep/noise_ceiling.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "brainsweep/errors.hpp"
#include "brainsweep/ridge.hpp"

namespace brainsweep {

std::vector<std::vector<double>> isc_leave_one_out(const std::vector<MatrixF>& series) {
  if (series.size() < 2)
    throw ConfigError("an inter-subject ceiling needs at least 2 subjects, found " + std::to_string(series.size()));
  const long t = series[0].rows(), p = series[0].cols();
  MatrixD sum = MatrixD::Zero(t, p);
  for (size_t s = 0; s < series.size(); ++s) {
    if (series[s].rows() != t || series[s].cols() != p)
      throw DimensionMismatch("subject " + std::to_string(s) + " has " + std::to_string(series[s].rows()) + "×" +
                              std::to_string(series[s].cols()) + " samples × targets, subject 0 " + std::to_string(t) +
                              "×" + std::to_string(p));
    sum += series[s].cast<double>();
  }
  std::vector<std::vector<double>> out;
  const double others = static_cast<double>(series.size() - 1);
  for (const auto& x : series) {
    const MatrixD own = x.cast<double>();
    const MatrixD mean_others = (sum - own) / others;
    out.push_back(column_pearson(own, mean_others));
  }
  return out;
}

SplitHalf split_half(const std::vector<std::vector<MatrixF>>& groups) {
  std::vector<std::vector<MatrixD>> d;
  for (const auto& g : groups) {
    d.emplace_back();
    for (const auto& m : g) d.back().push_back(m.cast<double>());
  }
  return split_half(d);
}

SplitHalf split_half(const std::vector<std::vector<MatrixD>>& groups) {
  SplitHalf r;
  if (groups.empty()) throw ConfigError("split_half: no repeated stimulus");
  long p = -1;
  for (const auto& g : groups) {
    if (g.size() < 2) throw ConfigError("split_half: a stimulus with " + std::to_string(g.size()) + " repetition(s)");
    if (r.k == 0) r.k = static_cast<int>(g.size());
    if (static_cast<int>(g.size()) != r.k)
      throw ConfigError("split_half: stimuli repeated " + std::to_string(r.k) + " and " + std::to_string(g.size()) +
                        " times (expected the same number of repetitions for every stimulus)");
    for (const auto& m : g) {
      if (p < 0) p = m.cols();
      if (m.cols() != p)
        throw DimensionMismatch("split_half: repetitions with " + std::to_string(p) + " and " + std::to_string(m.cols()) +
                                " targets");
    }
  }
  std::vector<double> sum(p, 0.0);
  for (const auto& g : groups) {
    long rows = g[0].rows();
    for (const auto& m : g) rows = std::min(rows, m.rows());
    for (size_t i = 0; i < g.size(); ++i)
      for (size_t j = i + 1; j < g.size(); ++j) {
        const MatrixD a = g[i].topRows(rows), b = g[j].topRows(rows);
        const auto c = column_pearson(a, b);
        for (long q = 0; q < p; ++q) sum[q] += c[q];
        ++r.pairs;
      }
  }
  const double k = r.k;
  for (long q = 0; q < p; ++q) {
    const double rho = sum[q] / static_cast<double>(r.pairs);
    const double den = 1.0 + (k - 1.0) * rho;  // 0 only for rho = −1/(k − 1): perfectly anti-reliable
    const double rho_k = den > 0 ? k * rho / den : -std::numeric_limits<double>::infinity();
    r.rho.push_back(rho);
    r.rho_k.push_back(rho_k);
    r.ceiling.push_back(std::sqrt(std::max(rho_k, 0.0)));
  }
  return r;
}

Ncsnr ncsnr(const std::vector<MatrixD>& sessions) {
  if (sessions.size() < 2)
    throw ConfigError("ncsnr: " + std::to_string(sessions.size()) + " repeat(s) (expected at least 2 sessions)");
  const long c = sessions[0].rows(), p = sessions[0].cols();
  if (c < 2) throw ConfigError("ncsnr: " + std::to_string(c) + " stimulus (expected at least 2)");
  for (size_t s = 0; s < sessions.size(); ++s)
    if (sessions[s].rows() != c || sessions[s].cols() != p)
      throw DimensionMismatch("ncsnr: session " + std::to_string(s) + " is " + std::to_string(sessions[s].rows()) + "×" +
                              std::to_string(sessions[s].cols()) + " stimuli × targets, session 0 " +
                              std::to_string(c) + "×" + std::to_string(p));
  Ncsnr r;
  r.repeats = static_cast<int>(sessions.size());
  const double n = r.repeats, nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<bool> constant(p, false);
  std::vector<MatrixD> z;
  for (const auto& x : sessions) {
    MatrixD zs = x.rowwise() - x.colwise().mean();
    for (long q = 0; q < p; ++q) {
      const double sd = std::sqrt(zs.col(q).squaredNorm() / static_cast<double>(c));
      if (!(sd > 0)) constant[q] = true;
      else zs.col(q) /= sd;
    }
    z.push_back(std::move(zs));
  }
  for (long q = 0; q < p; ++q) {
    if (constant[q]) {
      r.noise_variance.push_back(nan);
      r.ncsnr.push_back(0);
      r.nc.push_back(0);
      r.ceiling.push_back(0);
      continue;
    }
    double var_sum = 0;  // Σ over stimuli of the variance across repeats
    for (long i = 0; i < c; ++i) {
      double mean = 0;
      for (const auto& zs : z) mean += zs(i, q);
      mean /= n;
      double ss = 0;
      for (const auto& zs : z) ss += (zs(i, q) - mean) * (zs(i, q) - mean);
      var_sum += ss / (n - 1.0);
    }
    const double noise = var_sum / static_cast<double>(c);
    const double snr = noise > 0 ? std::sqrt(std::max(1.0 - noise, 0.0)) / std::sqrt(noise)
                                 : std::numeric_limits<double>::infinity();
    const double nc = std::isinf(snr) ? 1.0 : snr * snr / (snr * snr + 1.0 / n);
    r.noise_variance.push_back(noise);
    r.ncsnr.push_back(snr);
    r.nc.push_back(nc);
    r.ceiling.push_back(std::sqrt(nc));
  }
  return r;
}

}  // namespace brainsweep
