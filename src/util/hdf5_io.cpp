#include "brainsweep/hdf5_io.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include <libdeflate.h>

#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"

namespace brainsweep::h5 {
namespace {

/// Closes an HDF5 identifier with the matching close function.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

struct SilenceErrors {
  SilenceErrors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const SilenceErrors silence_errors;

/// Reads a 2-D float32 dataset whose only filter is deflate (gzip) into `m` chunk by chunk: the raw
/// chunks (H5Dread_chunk) inflated by libdeflate, which decodes whole buffers about twice as fast
/// as zlib's streaming inflate that HDF5's own filter uses (on Sherlock's fMRI chunks, 60 × 61
/// float32 and barely compressible: 50 µs instead of 93 µs; every rank of a sweep inflates every
/// subject's runs). HDF5 1.10 does not let a program replace its predefined deflate filter
/// (H5Zregister refuses ids below 256), hence this path. Returns false for any other layout, filter
/// pipeline or type, for unallocated chunks (fill values) and for chunks that do not inflate to
/// their size; the caller then reads the whole dataset with H5Dread, over anything filled so far.
/// The IEEE binary16 type of the files brainsweep and numpy write (little-endian).
hid_t half_type() {
  hid_t t = H5Tcopy(H5T_IEEE_F32LE);
  H5Tset_fields(t, 15, 10, 5, 0, 10);  // sign bit 15, exponent 10..14 (bias 15), mantissa 0..9
  H5Tset_size(t, 2);
  H5Tset_precision(t, 16);
  H5Tset_ebias(t, 15);
  return t;
}

/// True if `t` is IEEE binary16, little-endian (numpy's '<f2').
bool is_half(hid_t t) {
  if (H5Tget_class(t) != H5T_FLOAT || H5Tget_size(t) != 2 || H5Tget_order(t) != H5T_ORDER_LE) return false;
  size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
  if (H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize) < 0) return false;
  return spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10 && H5Tget_ebias(t) == 15;
}

bool read_deflate_chunks(hid_t ds, MatrixF& m) {
  Handle type{H5Dget_type(ds), H5Tclose};
  Handle space{H5Dget_space(ds), H5Sclose};
  Handle dcpl{H5Dget_create_plist(ds), H5Pclose};
  if (H5Tequal(type.id, H5T_NATIVE_FLOAT) <= 0 || H5Sget_simple_extent_ndims(space.id) != 2 ||
      H5Pget_layout(dcpl.id) != H5D_CHUNKED || H5Pget_nfilters(dcpl.id) != 1)
    return false;
  unsigned flags = 0;
  size_t n_values = 0;
  if (H5Pget_filter2(dcpl.id, 0, &flags, &n_values, nullptr, 0, nullptr, nullptr) != H5Z_FILTER_DEFLATE) return false;
  hsize_t chunk[2] = {0, 0};
  if (H5Pget_chunk(dcpl.id, 2, chunk) != 2 || chunk[0] == 0 || chunk[1] == 0) return false;
  const long rows = m.rows(), cols = m.cols(), cr = static_cast<long>(chunk[0]), cc = static_cast<long>(chunk[1]);
  const size_t chunk_bytes = static_cast<size_t>(cr * cc) * sizeof(float);
  thread_local std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> inflater(
      libdeflate_alloc_decompressor(), libdeflate_free_decompressor);
  if (!inflater) return false;
  std::vector<unsigned char> raw;
  std::vector<float> block(static_cast<size_t>(cr * cc));
  for (long r0 = 0; r0 < rows; r0 += cr)
    for (long c0 = 0; c0 < cols; c0 += cc) {
      const hsize_t offset[2] = {static_cast<hsize_t>(r0), static_cast<hsize_t>(c0)};
      hsize_t stored = 0;
      if (H5Dget_chunk_storage_size(ds, offset, &stored) < 0 || stored == 0) return false;
      raw.resize(stored);
      uint32_t skipped = 0;  // bit 0 set: this chunk was stored without the deflate filter
      if (H5Dread_chunk(ds, H5P_DEFAULT, offset, &skipped, raw.data()) < 0) return false;
      size_t out = 0;
      if (skipped & 1u) {
        if (stored != chunk_bytes) return false;
        std::memcpy(block.data(), raw.data(), chunk_bytes);
      } else if (libdeflate_zlib_decompress(inflater.get(), raw.data(), stored, block.data(), chunk_bytes, &out) !=
                     LIBDEFLATE_SUCCESS ||
                 out != chunk_bytes) {
        return false;
      }
      const long nr = std::min(cr, rows - r0), nc = std::min(cc, cols - c0);
      for (long i = 0; i < nr; ++i)
        std::memcpy(m.data() + (r0 + i) * cols + c0, block.data() + i * cc, static_cast<size_t>(nc) * sizeof(float));
    }
  return true;
}

hid_t link_create_plist() {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  return lcpl;
}

}  // namespace

File::File(const std::string& path, Mode mode) : path_(path) {
  if (mode == Mode::read) {
    if (!std::filesystem::exists(path)) throw DataError(path + ": file not found");
    id_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (id_ < 0) throw DataError(path + ": cannot open as HDF5");
  } else if (mode == Mode::truncate) {
    errno = 0;
    id_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (id_ < 0)
      throw Error(path + ": cannot create HDF5 file" + (errno ? std::string(": ") + std::strerror(errno) : ""));
  } else {
    Handle fapl{H5Pcreate(H5P_FILE_ACCESS), H5Pclose};
    // 4 MiB steps: the image grows by realloc (mremap for large blocks), no backing store.
    if (fapl.id < 0 || H5Pset_fapl_core(fapl.id, 4u << 20, 0) < 0)
      throw Error(path + ": cannot set up an in-memory HDF5 file");
    id_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id);
    if (id_ < 0) throw Error(path + ": cannot create an in-memory HDF5 file (out of memory?)");
  }
}

void File::save_atomic(const std::string& path) const {
  if (H5Fflush(id_, H5F_SCOPE_GLOBAL) < 0) throw Error(path + ": cannot flush the in-memory HDF5 file");
  const ssize_t n = H5Fget_file_image(id_, nullptr, 0);
  if (n < 0) throw Error(path + ": cannot take the in-memory HDF5 file's image");
  std::vector<char> image(static_cast<size_t>(n));
  if (n > 0 && H5Fget_file_image(id_, image.data(), image.size()) != n)
    throw Error(path + ": cannot copy the in-memory HDF5 file's image");
  fs::write_bytes_atomic(path, image.data(), image.size());
}

File::~File() {
  if (id_ >= 0) H5Fclose(id_);
}

File::File(File&& other) noexcept : id_(other.id_), path_(std::move(other.path_)) { other.id_ = -1; }

bool File::has(const std::string& name) const {
  // Check each component so that a missing intermediate group is not an HDF5 error.
  std::string prefix;
  size_t start = name[0] == '/' ? 1 : 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    prefix += "/" + name.substr(start, end - start);
    if (H5Lexists(id_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    start = end + 1;
  }
  return true;
}

bool File::is_group(const std::string& name) const {
  if (!has(name)) throw DataError(where(name) + " not found");
  Handle o{H5Oopen(id_, name.c_str(), H5P_DEFAULT), H5Oclose};
  if (o.id < 0) throw DataError(where(name) + ": cannot open");
  return H5Iget_type(o.id) == H5I_GROUP;
}

std::vector<std::string> File::list(const std::string& group) const {
  std::vector<std::string> names;
  Handle g{H5Gopen2(id_, group.c_str(), H5P_DEFAULT), H5Gclose};
  if (g.id < 0) throw DataError(path_ + ": group '" + group + "' not found");
  H5G_info_t info;
  H5Gget_info(g.id, &info);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len = H5Lget_name_by_idx(g.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<size_t>(len), '\0');
    H5Lget_name_by_idx(g.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT);
    names.push_back(name);
  }
  return names;
}

std::vector<hsize_t> File::shape(const std::string& name) const {
  if (!has(name)) throw DataError(where(name) + " not found");
  Handle ds{H5Dopen2(id_, name.c_str(), H5P_DEFAULT), H5Dclose};
  if (ds.id < 0) throw DataError(where(name) + " is not a dataset");
  Handle space{H5Dget_space(ds.id), H5Sclose};
  int rank = H5Sget_simple_extent_ndims(space.id);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  return dims;
}

std::string File::unavailable_filter(const std::string& name) const {
  if (!has(name)) throw DataError(where(name) + " not found");
  Handle ds{H5Dopen2(id_, name.c_str(), H5P_DEFAULT), H5Dclose};
  if (ds.id < 0) throw DataError(where(name) + " is not a dataset");
  Handle dcpl{H5Dget_create_plist(ds.id), H5Pclose};
  const int n = H5Pget_nfilters(dcpl.id);
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0;
    size_t n_values = 0;
    char label[128] = "";
    const H5Z_filter_t id = H5Pget_filter2(dcpl.id, static_cast<unsigned>(i), &flags, &n_values, nullptr, sizeof label,
                                           label, nullptr);
    if (id >= 0 && H5Zfilter_avail(id) <= 0)
      return "filter '" + std::string(label[0] ? label : "unnamed") + "' (id " + std::to_string(id) +
             "), not available in this HDF5";
  }
  return "";
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits = 0;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: man · 2^-24, normalised
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while (!(man & 0x400u));
      bits = sign | (static_cast<std::uint32_t>(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

std::uint16_t float_to_half(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const std::uint32_t sign = (x >> 16) & 0x8000u, man = x & 0x7fffffu;
  const int exp = static_cast<int>((x >> 23) & 0xffu);
  if (exp == 255) return static_cast<std::uint16_t>(sign | 0x7c00u | (man ? 0x200u : 0u));  // inf, NaN
  const int e = exp - 127 + 15;
  if (e >= 31) return static_cast<std::uint16_t>(sign | 0x7c00u);  // overflow: inf
  if (e <= 0) {  // a half subnormal (or zero): (1.m · 2^23) >> (14 − e), rounded
    if (e < -10) return static_cast<std::uint16_t>(sign);
    const std::uint32_t full = man | 0x800000u;
    const int shift = 14 - e;
    std::uint32_t h = full >> shift;
    const std::uint32_t rem = full & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1u))) ++h;
    return static_cast<std::uint16_t>(sign | h);
  }
  std::uint32_t h = sign | (static_cast<std::uint32_t>(e) << 10) | (man >> 13);
  const std::uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is right (up to inf)
  return static_cast<std::uint16_t>(h);
}

namespace {
/// Read a float16 dataset raw (no HDF5 conversion) and convert it.
bool read_half(hid_t ds, hid_t file_type, MatrixF& m) {
  if (!is_half(file_type)) return false;
  std::vector<std::uint16_t> raw(static_cast<size_t>(m.size()));
  if (H5Dread(ds, file_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0) return false;
  float* out = m.data();
  for (size_t i = 0; i < raw.size(); ++i) out[i] = half_to_float(raw[i]);
  return true;
}
}  // namespace

MatrixF File::read_f32(const std::string& name) const {
  auto dims = shape(name);
  if (dims.empty() || dims.size() > 2)
    throw DataError(where(name) + ": expected a 1-D or 2-D array, found " + std::to_string(dims.size()) + "-D");
  Handle ds{H5Dopen2(id_, name.c_str(), H5P_DEFAULT), H5Dclose};
  Handle type{H5Dget_type(ds.id), H5Tclose};
  if (H5Tget_class(type.id) != H5T_FLOAT && H5Tget_class(type.id) != H5T_INTEGER)
    throw DataError(where(name) + ": expected a numeric (float16/float32) array");
  MatrixF m(static_cast<Eigen::Index>(dims[0]), static_cast<Eigen::Index>(dims.size() == 2 ? dims[1] : 1));
  if (m.size() > 0 && !(dims.size() == 2 && read_deflate_chunks(ds.id, m)) && !read_half(ds.id, type.id, m) &&
      H5Dread(ds.id, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.data()) < 0) {
    const std::string filter = unavailable_filter(name);
    throw DataError(where(name) + ": read failed" +
                    (filter.empty() ? std::string(" (corrupt or truncated file?)")
                                    : ": stored with " + filter + " (rewrite it with gzip, e.g. `h5repack -f GZIP=4 IN OUT`)"));
  }
  return m;
}

std::vector<double> File::read_f64(const std::string& name) const {
  auto dims = shape(name);
  size_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<double> v(n);
  Handle ds{H5Dopen2(id_, name.c_str(), H5P_DEFAULT), H5Dclose};
  if (n > 0 && H5Dread(ds.id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
    throw DataError(where(name) + ": read failed");
  return v;
}

std::vector<std::string> File::read_string_attr(const std::string& obj, const std::string& attr) const {
  std::vector<std::string> out;
  if (H5Aexists_by_name(id_, obj.c_str(), attr.c_str(), H5P_DEFAULT) <= 0) return out;
  Handle a{H5Aopen_by_name(id_, obj.c_str(), attr.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  Handle type{H5Aget_type(a.id), H5Tclose};
  Handle space{H5Aget_space(a.id), H5Sclose};
  if (H5Tget_class(type.id) != H5T_STRING)
    throw DataError(path_ + ": attribute '" + attr + "' of '" + obj + "' is not a string array");
  hssize_t n = H5Sget_simple_extent_npoints(space.id);
  if (H5Tis_variable_str(type.id) > 0) {
    std::vector<char*> ptrs(static_cast<size_t>(n));
    Handle mem{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(mem.id, H5T_VARIABLE);
    H5Aread(a.id, mem.id, ptrs.data());
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem.id, space.id, H5P_DEFAULT, ptrs.data());
  } else {
    size_t len = H5Tget_size(type.id);
    std::vector<char> buf(static_cast<size_t>(n) * len);
    Handle mem{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(mem.id, len);
    H5Tset_strpad(mem.id, H5T_STR_NULLPAD);
    H5Aread(a.id, mem.id, buf.data());
    for (hssize_t i = 0; i < n; ++i) {
      const char* s = buf.data() + static_cast<size_t>(i) * len;
      out.emplace_back(s, strnlen(s, len));
    }
  }
  return out;
}

std::string File::read_string_attr1(const std::string& attr) const {
  auto v = read_string_attr("/", attr);
  return v.empty() ? std::string() : v.front();
}

void File::write_f32(const std::string& name, const float* data, hsize_t rows, hsize_t cols, bool as_float16) {
  errno = 0;  // an errno left by earlier calls must not be reported as this write's
  hsize_t dims[2] = {rows, cols};
  Handle space{H5Screate_simple(2, dims, nullptr), H5Sclose};
  Handle lcpl{link_create_plist(), H5Pclose};
  Handle type{as_float16 ? half_type() : H5Tcopy(H5T_IEEE_F32LE), H5Tclose};
  Handle ds{H5Dcreate2(id_, name.c_str(), type.id, space.id, lcpl.id, H5P_DEFAULT, H5P_DEFAULT), H5Dclose};
  bool ok = ds.id >= 0;
  if (ok && as_float16) {  // converted here, written raw
    std::vector<std::uint16_t> half(static_cast<size_t>(rows * std::max<hsize_t>(cols, 1)));
    for (size_t i = 0; i < half.size(); ++i) half[i] = float_to_half(data[i]);
    ok = H5Dwrite(ds.id, type.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, half.data()) >= 0;
  } else if (ok) {
    ok = H5Dwrite(ds.id, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
  }
  if (!ok) throw Error(where(name) + ": write failed" + (errno ? std::string(": ") + std::strerror(errno) : ""));
}

void File::write_f64(const std::string& name, const double* data, hsize_t rows, hsize_t cols) {
  errno = 0;
  hsize_t dims[2] = {rows, cols};
  Handle space{H5Screate_simple(cols == 0 ? 1 : 2, dims, nullptr), H5Sclose};
  Handle lcpl{link_create_plist(), H5Pclose};
  Handle ds{H5Dcreate2(id_, name.c_str(), H5T_IEEE_F64LE, space.id, lcpl.id, H5P_DEFAULT, H5P_DEFAULT), H5Dclose};
  if (ds.id < 0 || H5Dwrite(ds.id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    throw Error(where(name) + ": write failed" + (errno ? std::string(": ") + std::strerror(errno) : ""));
}

void File::write_string_attr(const std::string& attr, const std::vector<std::string>& values) {
  size_t len = 1;
  for (const auto& v : values) len = std::max(len, v.size());
  std::vector<char> buf(values.size() * len, '\0');
  for (size_t i = 0; i < values.size(); ++i) values[i].copy(buf.data() + i * len, len);
  hsize_t n = values.size();
  Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, len);
  H5Tset_strpad(type.id, H5T_STR_NULLPAD);
  Handle space{H5Screate_simple(1, &n, nullptr), H5Sclose};
  Handle a{H5Acreate2(id_, attr.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  if (a.id < 0 || H5Awrite(a.id, type.id, buf.data()) < 0)
    throw Error(path_ + ": cannot write attribute '" + attr + "'");
}

void File::write_string_attr1(const std::string& attr, const std::string& value) {
  Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, std::max<size_t>(1, value.size()));
  H5Tset_strpad(type.id, H5T_STR_NULLPAD);
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  Handle a{H5Acreate2(id_, attr.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  std::string buf = value.empty() ? std::string(1, '\0') : value;
  if (a.id < 0 || H5Awrite(a.id, type.id, buf.data()) < 0)
    throw Error(path_ + ": cannot write attribute '" + attr + "'");
}

void File::write_int_attr(const std::string& attr, long long value) {
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  Handle a{H5Acreate2(id_, attr.c_str(), H5T_STD_I64LE, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  if (a.id < 0 || H5Awrite(a.id, H5T_NATIVE_LLONG, &value) < 0)
    throw Error(path_ + ": cannot write attribute '" + attr + "'");
}

}  // namespace brainsweep::h5
