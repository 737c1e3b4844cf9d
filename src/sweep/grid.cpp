// Grid expansion with include/exclude rules and a reproducible random subsample.
#include "brainsweep/grid.hpp"

#include <algorithm>
#include <numeric>
#include <random>

#include "brainsweep/config.hpp"
#include "brainsweep/errors.hpp"

namespace brainsweep {

namespace {
bool matches(const GridRule& r, const Sweep& s, const GridPoint& p) {
  const FeatureSet& f = s.features[p.feature_set];
  return (!r.model || *r.model == f.model) && (!r.layers || *r.layers == f.layers) &&
         (!r.hrf_delay || *r.hrf_delay == p.hrf_delay) && (!r.stimulus_window || *r.stimulus_window == p.stimulus_window);
}
}  // namespace

std::vector<size_t> sample_indices(size_t n, size_t k, std::uint64_t seed) {
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), size_t{0});
  if (k >= n) return idx;
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < k; ++i) {
    // Uniform in [0, n - i) by rejection of the top partial range of the 64-bit output.
    const std::uint64_t range = n - i, limit = UINT64_MAX - UINT64_MAX % range;
    std::uint64_t x;
    do x = rng();
    while (x >= limit);
    std::swap(idx[i], idx[i + static_cast<size_t>(x % range)]);
  }
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

std::vector<GridPoint> grid_points(const Sweep& s) {
  std::vector<GridPoint> all;
  for (size_t f = 0; f < s.features.size(); ++f)
    for (int hrf : s.hrf_delay)
      for (int win : s.stimulus_window) {
        const GridPoint p{f, hrf, win};
        const bool in = s.include.empty() || std::any_of(s.include.begin(), s.include.end(),
                                                         [&](const GridRule& r) { return matches(r, s, p); });
        const bool out = std::any_of(s.exclude.begin(), s.exclude.end(), [&](const GridRule& r) { return matches(r, s, p); });
        if (in && !out) all.push_back(p);
      }
  if (all.empty() && !s.features.empty())  // no `features`: an encoder-only sweep has no ridge grid
    throw ConfigError(s.path + ": key 'grid': the include/exclude rules leave no grid point");
  if (!s.sample_n) return all;
  std::vector<GridPoint> kept;
  for (size_t i : sample_indices(all.size(), *s.sample_n, s.sample_seed)) kept.push_back(all[i]);
  return kept;
}

}  // namespace brainsweep
