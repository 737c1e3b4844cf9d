// Design matrices of episodes for a unit (ENCODING.md §1): what ridge and RSA units read.
#include "brainsweep/design.hpp"

#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"

namespace brainsweep {

MatrixF episode_design(const Plan& p, const Unit& u, const std::string& episode, long n_tr,
                       std::vector<long>* band_columns) {
  std::vector<MatrixF> parts;
  long cols = 0;
  std::vector<FeatureBand> sources = u.bands;  // a banded set's bands, or the set itself
  if (sources.empty()) sources.push_back({u.model, u.layers});
  if (band_columns) band_columns->clear();
  for (const auto& band : sources) {
    const std::string& file = p.features.at(band.model).at(episode);
    long band_cols = 0;
    for (const auto& layer : band.layers) {
      const MatrixF f = read_feature_layer(file, layer);
      if (f.rows() < n_tr - p.max_missing_feature_rows)
        throw DataError(file + ": dataset '" + layer + "' has " + std::to_string(f.rows()) + " rows, fMRI has " +
                        std::to_string(n_tr));
      parts.push_back(align_features(f, n_tr, u.hrf_delay, u.stimulus_window));
      band_cols += parts.back().cols();
    }
    cols += band_cols;
    if (band_columns) band_columns->push_back(band_cols);
  }
  MatrixF x(n_tr, cols);
  long at = 0;
  for (const auto& m : parts) {
    x.middleCols(at, m.cols()) = m;
    at += m.cols();
  }
  return x;
}

}  // namespace brainsweep
