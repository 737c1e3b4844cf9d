#pragma once
// Pieces shared by the metrics commands (odd_one_out.cpp, rsa.cpp, rsa_command.cpp): the summary of
// bootstrap resamples and the CSV fields they write.
#include "brainsweep/csv.hpp"
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace brainsweep::metrics {

/// SD (ddof 1; NaN for fewer than 2 samples) and the 2.5 / 97.5 percentiles (numpy's default linear
/// interpolation, position (n − 1)·q / 100) of bootstrap resamples. `samples` must not be empty.
struct Spread {
  double sd, ci_low, ci_high;
};
inline Spread bootstrap_spread(std::vector<double> samples) {
  const double n = static_cast<double>(samples.size());
  double mean = 0, ss = 0;
  for (double a : samples) mean += a;
  mean /= n;
  for (double a : samples) ss += (a - mean) * (a - mean);
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    const double pos = (n - 1) * q / 100.0;
    const auto lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, samples.size() - 1);
    return samples[lo] + (samples[hi] - samples[lo]) * (pos - static_cast<double>(lo));
  };
  return {samples.size() > 1 ? std::sqrt(ss / (n - 1)) : std::numeric_limits<double>::quiet_NaN(), at(2.5), at(97.5)};
}

/// A number for a CSV cell: 9 significant digits, empty for NaN (not defined).
inline std::string csv_number(double x) { return std::isnan(x) ? std::string() : fmt::format("{:.9g}", x); }

/// A text CSV cell, quoted (RFC 4180) when it needs it (csv.hpp).
using brainsweep::csv_text;

}  // namespace brainsweep::metrics
