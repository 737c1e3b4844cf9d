#pragma once
/// Thin RAII layer over the HDF5 C API (serial use of Debian's parallel HDF5 build).
/// Every error is a DataError naming the file and the dataset.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "brainsweep/matrix.hpp"

namespace brainsweep::h5 {

/// IEEE binary16 → float32, exactly (subnormals, ±inf and NaN included).
float half_to_float(std::uint16_t h);
/// float32 → IEEE binary16, rounded to nearest, ties to even (numpy's astype(float16)); beyond
/// the largest half, ±inf; NaN stays NaN.
std::uint16_t float_to_half(float f);

/// An open HDF5 file. Not collective: opened with the default (serial) driver.
class File {
 public:
  /// read: an existing file. truncate: create (or empty) the file on disk. in_memory: the file is
  /// built in memory (HDF5's core driver, no backing store) and reaches the disk only through
  /// save_atomic, whose every write is checked. Outputs that must never be half written use it:
  /// HDF5 1.10 cannot recover from a flush that fails in H5Fclose (a full disk): the file stays
  /// registered and the library crashes at exit (H5F__close_cb), after a damaged file may have
  /// been renamed into place.
  enum class Mode { read, truncate, in_memory };
  /// @throw DataError  if the file is missing or not HDF5 (read)
  /// @throw Error  if it cannot be created (truncate, in_memory), with the errno's text
  File(const std::string& path, Mode mode = Mode::read);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  File(File&& other) noexcept;

  hid_t id() const { return id_; }
  const std::string& path() const { return path_; }
  /// True if `name` (a path such as "eval/test/r") names a link in the file.
  bool has(const std::string& name) const;
  /// True if `name` is a group (false for a dataset). @throw DataError if it does not exist
  bool is_group(const std::string& name) const;
  /// Names of the links in group `group`, in HDF5's name order.
  std::vector<std::string> list(const std::string& group = "/") const;
  /// Shape of dataset `name`. @throw DataError if it does not exist.
  std::vector<hsize_t> shape(const std::string& name) const;

  /// For a dataset stored with a filter that this HDF5 cannot decode (LZF from h5py, Blosc, ... without
  /// their plugins): a description such as "filter 'lzf' (id 32000), not available in this HDF5";
  /// "" if every filter of its pipeline is available. @throw DataError if `name` is not a dataset
  std::string unavailable_filter(const std::string& name) const;

  /// Read a 1-D or 2-D dataset of any floating type as float32 (row-major, rows × cols;
  /// a 1-D dataset is one column). IEEE float16 (little-endian) is read raw and converted by
  /// half_to_float; other types by HDF5.
  MatrixF read_f32(const std::string& name) const;
  /// Read a 1-D or 2-D floating dataset as float64, flattened.
  std::vector<double> read_f64(const std::string& name) const;
  /// Read a string array attribute (fixed or variable length) of object `obj`;
  /// empty if the attribute is absent.
  std::vector<std::string> read_string_attr(const std::string& obj, const std::string& attr) const;
  std::string read_string_attr1(const std::string& attr) const;

  /// Write a rows × cols dataset from float32 data (intermediate groups are created), stored as
  /// IEEE float32, or as IEEE float16 (what numpy's float16 reads) when `as_float16`, converted by
  /// float_to_half (HDF5's own software conversion of float16 is about 10× slower than the I/O).
  void write_f32(const std::string& name, const float* data, hsize_t rows, hsize_t cols, bool as_float16 = false);
  /// Write a 1-D (cols = 0) or 2-D float64 dataset.
  void write_f64(const std::string& name, const double* data, hsize_t rows, hsize_t cols = 0);
  /// Write a string attribute (array of fixed-length strings) on the root group.
  void write_string_attr(const std::string& attr, const std::vector<std::string>& values);
  void write_string_attr1(const std::string& attr, const std::string& value);
  void write_int_attr(const std::string& attr, long long value);

  /// Mode::in_memory only: write the file's image to `path` atomically (a temporary name beside it,
  /// written, fsync'ed and closed with every result checked, then renamed). The file stays open.
  /// @throw Error  naming the file and the errno (e.g. "No space left on device"); no temporary
  ///        file survives and an existing `path` is left as it was
  void save_atomic(const std::string& path) const;

 private:
  std::string where(const std::string& name) const { return path_ + ": dataset '" + name + "'"; }
  hid_t id_ = -1;
  std::string path_;
};

}  // namespace brainsweep::h5
