#pragma once
/// Design matrices of episodes for a unit (ENCODING.md §1), read by ridge units (fit_unit) and RSA units.
#include <string>
#include <vector>

#include "brainsweep/matrix.hpp"
#include "brainsweep/plan.hpp"

namespace brainsweep {

/// Design matrix of one episode for a unit (ENCODING.md §1): every layer of the unit's model aligned
/// with `n_tr` fMRI samples (hrf_delay, stimulus_window), then concatenated column-wise in order.
/// @throw DataError  naming the feature file and layer when it is missing or too short
/// A banded unit's design is its bands' layers side by side, in band order; `band_columns`, when
/// given, receives each band's number of columns (the layer widths × stimulus_window).
MatrixF episode_design(const Plan& p, const Unit& u, const std::string& episode, long n_tr,
                       std::vector<long>* band_columns = nullptr);

}  // namespace brainsweep
