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
        const MatrixD a = g[i].topRows(rows).cast<double>(), b = g[j].topRows(rows).cast<double>();
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

}  // namespace brainsweep
