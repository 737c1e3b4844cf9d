#pragma once
/// Net2Brain's RDM-level variance partitioning (issue #26 §1; PEER_ANALYSES.md card A;
/// docs/metrics.md#variance-partitioning-of-rdms-brainsweep-vpa-net2brains-vpa): per subject, the
/// brain RDM regressed in-sample (OLS with intercept) on every subset of 2–4 spaces of model RDMs,
/// the partitions by Möbius inversion, and a one-sample t-test over subjects with BH-FDR.
#include <ostream>
#include <string>
#include <vector>

#include "brainsweep/matrix.hpp"
#include "brainsweep/rsa.hpp"

namespace brainsweep {

/// In-sample R² of ordinary least squares with an intercept (scikit-learn's
/// LinearRegression().fit(x_S, y).score(x_S, y)) for every column subset S of `x` and every target y
/// (a column of `y`): 1 − Σ(y − ŷ)² / Σ(y − ȳ)². The columns and targets are
/// centred and G = XᵀX, B = XᵀY formed once; per subset G_SS is decomposed once (complete orthogonal
/// decomposition: the minimum-norm solution where columns are collinear, whose fit is the same) and
/// β = G_SS⁺ B_S solved for every target, R² = b_Sᵀβ / Σ(y − ȳ)² (the residual is orthogonal to the
/// fit). NaN for a constant target.
/// @param x  n × k regressors; @param y  n × targets; @param subsets  per subset, its column indices
/// @return targets × subsets
/// @throw DimensionMismatch  if the rows differ
MatrixD ols_r2_subsets(const MatrixD& x, const MatrixD& y, const std::vector<std::vector<long>>& subsets);

/// Benjamini–Hochberg adjusted p-values (statsmodels' fdrcorrection, method 'indep'):
/// p_adj(i) = min over j with p_(j) ≥ p_(i) of m·p_(j)/rank(j), at most 1; NaN entries are left out of
/// the family (m counts the others) and stay NaN.
std::vector<double> bh_adjust(const std::vector<double>& p);

/// Two-sided one-sample t-test of `x` against 0 (scipy's ttest_1samp): t = mean / (SD/√n), SD ddof 1,
/// p from Student's t with n − 1 degrees of freedom (Boost.Math). n < 2: NaN; SD 0: t ±∞ and p 0
/// (mean ≠ 0) or NaN (mean 0).
std::pair<double, double> one_sample_t(const std::vector<double>& x);

/// `brainsweep vpa`: RDMs of one HDF5 file (the layout of `rsa --rdms`) and 2–4 spaces.
struct VpaCommand {
  std::string rdms;
  std::vector<std::string> brain;    ///< ROI groups (as rsa --brain)
  std::vector<std::string> spaces;   ///< NAME=DATASET[,DATASET…] (a dataset or a group of them)
  bool average_models = false;       ///< each space's RDMs averaged into one regressor
  std::string out;                   ///< CSV, refused if it exists
};

inline constexpr const char* kVpaColumns = "roi,subject,kind,spaces,value,t,p,p_fdr,negative,n_subjects,n_pairs";

/// Fit, partition, test, write the CSV atomically and print the mean partitions per ROI.
/// @throw ConfigError, DataError  naming the option, space, ROI or dataset: fewer than 2 or more than 4
///        spaces, a space without RDMs, a dataset in two spaces, a space named twice, an ROI of fewer
///        than 2 subjects, an existing --out, and what `rsa` refuses for the RDMs
void run_vpa_command(const VpaCommand& c, std::ostream& report);

}  // namespace brainsweep
