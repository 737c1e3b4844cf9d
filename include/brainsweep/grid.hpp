#pragma once
/// Grid points of a sweep: feature set × hrf_delay × stimulus_window, filtered by include/exclude
/// rules and optionally subsampled at random, reproducibly (`grid.include`, `grid.exclude`,
/// `sample: {n, seed}` in the sweep file).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "brainsweep/config.hpp"

namespace brainsweep {

/// One point of the grid; `feature_set` indexes Sweep::features.
struct GridPoint {
  size_t feature_set = 0;
  int hrf_delay = 0, stimulus_window = 1;
  bool operator==(const GridPoint&) const = default;
};

/// The grid points of a sweep in expansion order (feature sets, then hrf_delay, then
/// stimulus_window, as listed): those matching at least one `include` rule (all when there is none)
/// and no `exclude` rule; then, with `sample_n` set, `sample_n` of them drawn without replacement
/// by `sample_indices(count, sample_n, sample_seed)`, kept in expansion order.
/// Pure function. @throw ConfigError  if the rules leave no point (names the sweep file)
std::vector<GridPoint> grid_points(const Sweep& sweep);

/// `k` distinct indices of [0, n), ascending, drawn uniformly (partial Fisher–Yates over
/// std::mt19937_64 seeded with `seed`, bounded draws by rejection): the same on every platform and
/// compiler (std::shuffle and std::uniform_int_distribution are implementation-defined).
/// k >= n returns all indices. Pure function.
std::vector<size_t> sample_indices(size_t n, size_t k, std::uint64_t seed);

}  // namespace brainsweep
