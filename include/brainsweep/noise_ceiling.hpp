#pragma once
/// Noise ceilings of METRICS.md §1 on response matrices (samples × targets).
#include <vector>

#include "brainsweep/matrix.hpp"

namespace brainsweep {

/// Leave-one-out inter-subject correlation (Chen et al. 2017; Nastase et al. 2019): for subject s,
/// the Pearson r per column between series[s] and the mean of the other subjects' series, all in
/// float64; a column of zero variance on either side gives 0 (as ENCODING.md §4).
/// @param series  one samples × targets matrix per subject, all of one shape, at least 2
/// @return  subjects × targets
/// @throw DimensionMismatch  if the shapes differ; ConfigError if fewer than 2 subjects
std::vector<std::vector<double>> isc_leave_one_out(const std::vector<MatrixF>& series);

/// Split-half reliability over repetitions of one stimulus (METRICS.md §1, `split_half`).
struct SplitHalf {
  std::vector<double> rho;      ///< per target: mean Pearson r over every pair of repetitions
  std::vector<double> rho_k;    ///< Spearman–Brown: k·rho / (1 + (k − 1)·rho)
  std::vector<double> ceiling;  ///< √max(rho_k, 0): the ceiling on r for a model of the mean of k repetitions
  int k = 0;                    ///< repetitions per stimulus
  long pairs = 0;               ///< pairs averaged into rho (over all stimuli)
};

/// @param groups  per stimulus, its k repetitions (samples × targets each; within a group the same
///        width, the rows truncated to the shortest repetition); every group the same k ≥ 2
/// @throw ConfigError  if a group has fewer than 2 repetitions or the groups differ in k;
///        DimensionMismatch if widths differ
SplitHalf split_half(const std::vector<std::vector<MatrixF>>& groups);

}  // namespace brainsweep
