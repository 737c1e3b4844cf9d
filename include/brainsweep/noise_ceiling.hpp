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
/// The same on float64 responses (e.g. condition patterns, conditions × targets per repetition).
SplitHalf split_half(const std::vector<std::vector<MatrixD>>& groups);

/// Noise-ceiling SNR of stimulus-level responses with repeats (METRICS.md §1 `ncsnr`; Allen et al.
/// 2022, NSD). Every session holds each stimulus once (a repeat), in the same stimulus order.
struct Ncsnr {
  std::vector<double> noise_variance;  ///< per target: mean over stimuli of the variance across repeats (ddof 1)
  std::vector<double> ncsnr;           ///< √max(1 − σ²_noise, 0) / √σ²_noise (∞ when σ²_noise is 0)
  std::vector<double> nc;              ///< explainable variance of the mean of n repeats: ncsnr² / (ncsnr² + 1/n)
  std::vector<double> ceiling;         ///< √nc: the ceiling on Pearson r for a model of that mean
  int repeats = 0;                     ///< n: sessions
};

/// @param sessions  n ≥ 2 matrices, stimuli × targets, of one shape (≥ 2 stimuli); each target is
///        z-scored within its session over the stimuli (population SD, ddof 0, as scipy.stats.zscore)
///        before the variance across repeats. A target constant within some session has no
///        defined z-score: its ncsnr, nc and ceiling are 0 (noise_variance NaN).
/// @throw ConfigError  for fewer than 2 sessions or stimuli; DimensionMismatch if shapes differ
Ncsnr ncsnr(const std::vector<MatrixD>& sessions);

}  // namespace brainsweep
