#pragma once
/// Readers for fMRI and feature files (DATA.md) and the temporal alignment of ENCODING.md §1.
#include <string>
#include <vector>

#include "brainsweep/matrix.hpp"

namespace brainsweep {

/// Name of the dataset that holds `episode` in an fMRI file: with `key_template` empty, the key
/// whose text after its 13-character `ses-XXX_task-` prefix is the episode; otherwise the template
/// with `{episode}` replaced (a descriptor's `fmri[].dataset`, DatasetDescriptor::fmri_key).
/// @throw DataError naming the file and listing the keys found, if none matches.
std::string fmri_dataset_of(const std::string& file, const std::string& episode, const std::string& key_template = "");

/// True if the fMRI file has a dataset for `episode` (as fmri_dataset_of).
/// @throw DataError  if the file is missing or not HDF5
bool fmri_has_episode(const std::string& file, const std::string& episode, const std::string& key_template = "");

/// Shape (n_TR, n_parcels) of an fMRI dataset. @throw DataError if missing or not 2-D.
std::pair<long, long> fmri_shape(const std::string& file, const std::string& dataset);

/// Read an fMRI run: n_TR × n_parcels, float32, row-major.
/// @throw DataError  if missing, not 2-D, or holding NaN/Inf (the message names file, dataset, row)
MatrixF read_fmri(const std::string& file, const std::string& dataset);

/// Parcel names from the file attribute `parcel_names`, or "0", "1", ... when absent.
std::vector<std::string> parcel_names(const std::string& file, long n_parcels);

/// Read one feature layer: n_chunks × C, float16 or float32 on disk, float32 in memory.
/// @throw DataError  if the file or dataset is missing (listing the layers present), or holds NaN/Inf
MatrixF read_feature_layer(const std::string& file, const std::string& layer);

/// Rows of a feature layer dataset. @throw DataError as feature_shape.
long feature_rows(const std::string& file, const std::string& layer);

/// (rows, columns) of a feature layer dataset, without reading it.
/// @throw DataError  if the file or dataset is missing (listing the layers present), is not a
///        non-empty 2-D array, or is stored with a filter this HDF5 cannot decode (e.g. h5py's LZF)
std::pair<long, long> feature_shape(const std::string& file, const std::string& layer);

/// Parcel names of an fMRI file (attribute `parcel_names`), checked against its parcel count.
/// @return  the names, or empty when the file has no such attribute
/// @throw DataError  naming the file when the attribute has another number of names than `n_parcels`
std::vector<std::string> checked_parcel_names(const std::string& file, long n_parcels);

/// Design matrix of one episode (ENCODING.md §1): row s is the concatenation, oldest first, of
/// feature rows s - hrf_delay - stimulus_window + 1 … s - hrf_delay, each clamped to [0, T_f - 1].
/// @param features  T_f × C
/// @param n_samples  T, fMRI samples of the episode
/// @return  T × (C · stimulus_window)
MatrixF align_features(const MatrixF& features, long n_samples, int hrf_delay, int stimulus_window);

/// Throw DataError naming `where` and the first row/column holding NaN or Inf.
void check_finite(const MatrixF& m, const std::string& where);

}  // namespace brainsweep
