#include <cmath>

#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/path_template.hpp"

namespace brainsweep {

constexpr size_t kEpisodePrefix = 13;  // "ses-XXX_task-"

namespace {
/// Whether HDF5 key `key` holds `episode`: equal to the filled template, or (no template) the key
/// after its `ses-XXX_task-` prefix.
bool holds_episode(const std::string& key, const std::string& episode, const std::string& key_template) {
  if (!key_template.empty()) return key == fill_template(key_template, {{"episode", episode}});
  return key.size() > kEpisodePrefix && key.substr(kEpisodePrefix) == episode;
}
}  // namespace

std::string fmri_dataset_of(const std::string& file, const std::string& episode, const std::string& key_template) {
  h5::File f(file);
  std::string found;
  for (const auto& key : f.list()) {
    if (holds_episode(key, episode, key_template)) return key;
    const bool prefixed = key_template.empty() && key.size() > kEpisodePrefix;
    found += (found.empty() ? "" : ", ") + (prefixed ? key.substr(kEpisodePrefix) : key);
  }
  if (!key_template.empty())
    throw DataError(file + ": no dataset for episode '" + episode + "' (expected a key '" +
                    fill_template(key_template, {{"episode", episode}}) + "' from the descriptor's dataset template '" +
                    key_template + "'; keys found: " + (found.empty() ? "none" : found) + ")");
  throw DataError(file + ": no dataset for episode '" + episode + "' (expected a key 'ses-XXX_task-" + episode +
                  "'; episodes found: " + (found.empty() ? "none" : found) + ")");
}

bool fmri_has_episode(const std::string& file, const std::string& episode, const std::string& key_template) {
  h5::File f(file);
  for (const auto& key : f.list())
    if (holds_episode(key, episode, key_template)) return true;
  return false;
}

std::pair<long, long> fmri_shape(const std::string& file, const std::string& dataset) {
  h5::File f(file);
  auto dims = f.shape(dataset);
  if (dims.size() != 2)
    throw DataError(file + ": dataset '" + dataset + "': expected 2-D (n_TR, n_parcels), found " +
                    std::to_string(dims.size()) + "-D");
  return {static_cast<long>(dims[0]), static_cast<long>(dims[1])};
}

void check_finite(const MatrixF& m, const std::string& where) {
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j)
      if (!std::isfinite(m(i, j)))
        throw DataError(where + ": non-finite value (" + std::to_string(m(i, j)) + ") at row " + std::to_string(i) +
                        ", column " + std::to_string(j));
}

MatrixF read_fmri(const std::string& file, const std::string& dataset) {
  fmri_shape(file, dataset);
  h5::File f(file);
  MatrixF y = f.read_f32(dataset);
  check_finite(y, file + ": dataset '" + dataset + "'");
  return y;
}

std::vector<std::string> parcel_names(const std::string& file, long n_parcels) {
  h5::File f(file);
  auto names = f.read_string_attr("/", "parcel_names");
  if (static_cast<long>(names.size()) != n_parcels) {
    names.clear();
    for (long i = 0; i < n_parcels; ++i) names.push_back(std::to_string(i));
  }
  return names;
}

namespace {
void require_layer(const h5::File& f, const std::string& layer) {
  if (f.has(layer)) return;
  std::string present;
  for (const auto& k : f.list()) present += (present.empty() ? "" : ", ") + k;
  throw DataError(f.path() + ": layer dataset '" + layer + "' not found (layers present: " + present + ")");
}
}  // namespace

std::pair<long, long> feature_shape(const std::string& file, const std::string& layer) {
  h5::File f(file);
  require_layer(f, layer);
  auto dims = f.shape(layer);
  if (dims.size() != 2 || dims[0] == 0 || dims[1] == 0)
    throw DataError(file + ": dataset '" + layer + "': expected a non-empty 2-D (n_chunks, C) array");
  if (const std::string filter = f.unavailable_filter(layer); !filter.empty())
    throw DataError(file + ": dataset '" + layer + "' is stored with " + filter +
                    " (rewrite it with gzip, e.g. `h5repack -f GZIP=4 IN OUT`, or h5py's compression='gzip')");
  return {static_cast<long>(dims[0]), static_cast<long>(dims[1])};
}

long feature_rows(const std::string& file, const std::string& layer) { return feature_shape(file, layer).first; }

std::vector<std::string> checked_parcel_names(const std::string& file, long n_parcels) {
  h5::File f(file);
  auto names = f.read_string_attr("/", "parcel_names");
  if (!names.empty() && static_cast<long>(names.size()) != n_parcels)
    throw DataError(file + ": attribute 'parcel_names' has " + std::to_string(names.size()) + " names, its datasets " +
                    std::to_string(n_parcels) + " parcels (expected one name per parcel)");
  return names;
}

MatrixF read_feature_layer(const std::string& file, const std::string& layer) {
  feature_rows(file, layer);
  h5::File f(file);
  MatrixF x = f.read_f32(layer);
  check_finite(x, file + ": dataset '" + layer + "'");
  return x;
}

MatrixF align_features(const MatrixF& features, long n_samples, int hrf_delay, int stimulus_window) {
  const long tf = features.rows(), c = features.cols();
  if (tf <= 0) throw DataError("align_features: empty feature matrix");
  MatrixF x(n_samples, c * stimulus_window);
  for (long s = 0; s < n_samples; ++s) {
    for (int w = 0; w < stimulus_window; ++w) {
      long src = s - hrf_delay - stimulus_window + 1 + w;  // oldest first
      src = std::clamp(src, 0L, tf - 1);
      x.block(s, w * c, 1, c) = features.row(src);
    }
  }
  return x;
}

}  // namespace brainsweep
