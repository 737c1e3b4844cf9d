#pragma once
/// Weighted RSA (issue #26 §5; PEER_ANALYSES.md card F; docs/metrics.md#weighted-rsa-brainsweep-wrsa):
/// a mixture Σ_k θ_k d_k of model RDMs fitted to the brain's RDM on some subjects and conditions
/// (rsatoolbox fit_regress / fit_regress_nn, method 'corr') and scored by Pearson r on others, with
/// the noise ceiling computed in the same folds.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "brainsweep/matrix.hpp"
#include "brainsweep/rsa.hpp"

namespace brainsweep {

enum class WrsaFit { ols, nnls };
enum class WrsaCv { subjects, stimuli, both };

/// Non-negative least squares on the normal equations: argmin_θ≥0 θᵀAθ − 2θᵀb (A = XᵀX + λI, b = Xᵀy),
/// Lawson & Hanson 1974's active-set algorithm in the form of rsatoolbox's _nn_least_squares (Bro &
/// de Jong 1997): add the free variable of largest gradient b − Aθ while it exceeds 100 ε, solve the
/// passive set, step back to the boundary while a passive entry is negative.
/// @param a  k × k symmetric positive semi-definite; @param b  k
/// @return θ (k), θ ≥ 0
/// @throw DimensionMismatch  if the sizes differ
Eigen::VectorXd nnls_normal(const MatrixD& a, const Eigen::VectorXd& b);

/// The weights of a mixture of models fitted to a target RDM vector (rsatoolbox fit_regress(method='corr')
/// for ols, fit_regress_nn for nnls) from the normal equations of the models' centred columns X:
/// θ = (XᵀX + λI)⁻¹Xᵀy (λ = 0: the minimum-norm solution, that of least squares, so collinear models
/// do not fail) or its non-negative version (nnls_normal); then θ / ‖θ‖₂ (an all-zero θ stays zero).
/// @param gram  XᵀX of the centred columns (models × models); @param b  Xᵀy (models)
/// @throw DimensionMismatch  if the sizes differ
Eigen::VectorXd wrsa_weights(const MatrixD& gram, const Eigen::VectorXd& b, WrsaFit fit, double ridge_weight);

/// One fold: training and test subjects (indices into the ROI's subjects) and conditions, sorted.
struct WrsaFold {
  std::vector<long> train_subjects, test_subjects, train_conditions, test_conditions;
};

/// The folds of `cv` (docs/metrics.md): subjects and conditions shuffled by Fisher–Yates from the
/// streams seed ^ 0x5EB1EC7 (subjects) and seed ^ 0xC0D1710 (conditions), dealt round-robin; leave one
/// subject out (subject_folds == subjects) unshuffled; `both` numbers fold (a, b) as a·stimulus_folds + b.
/// @throw ConfigError  naming --subject-folds / --stimulus-folds: fewer than 2 subjects, subject_folds
///        outside 2 … subjects, stimulus_folds < 2 or a condition fold of fewer than 3 conditions
std::vector<WrsaFold> wrsa_folds(long subjects, long conditions, WrsaCv cv, long subject_folds, long stimulus_folds,
                                 std::uint64_t seed);

/// `brainsweep wrsa`: the RDMs of `rsa --rdms` (input.rdms, brain, models), and how to fit and fold.
struct WrsaCommand {
  RsaCommand input;                     ///< rdms, brain, models (features, comparisons and resampling unused)
  std::vector<std::string> fits{"ols", "nnls"};
  std::string cv = "both";              ///< subjects | stimuli | both
  long subject_folds = 0;               ///< 0: leave one subject out
  long stimulus_folds = 5;
  double ridge_weight = 0;
  std::uint64_t seed = 0;
  std::string out;                      ///< CSV, refused if it exists
};

inline constexpr const char* kWrsaColumns =
    "roi,model,fit,cv,fold,weight,similarity,similarity_squared,sem,ceiling_lower,ceiling_upper,percent_of_ceiling,"
    "n_train_subjects,n_test_subjects,n_train_conditions,n_test_conditions,seed";

/// Fit and score every ROI (docs/metrics.md#weighted-rsa-brainsweep-wrsa), write the CSV (kWrsaColumns)
/// atomically and print per ROI the mixtures and the single models against the ceiling.
/// @throw ConfigError, DataError  naming the option, ROI or dataset (see the docs' Refused list)
void run_wrsa_command(const WrsaCommand& c, std::ostream& report);

}  // namespace brainsweep
