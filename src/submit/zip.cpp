// Submission file names and stored zips (libzip).
#include <zip.h>

#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/submit.hpp"

namespace brainsweep {
namespace sfs = std::filesystem;

std::string submission_npy_name(const std::string& test_set) {
  std::string s = test_set;
  for (char& c : s)
    if (c == '-') c = '_';
  return "fmri_predictions_" + s + ".npy";
}

namespace {
struct ZipCloser {
  void operator()(zip_t* z) const {
    if (z) zip_discard(z);
  }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;

ZipPtr open_zip(const std::string& path, int flags) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), flags, &err);
  if (!z) {
    zip_error_t e;
    zip_error_init_with_code(&e, err);
    const std::string msg = zip_error_strerror(&e);
    zip_error_fini(&e);
    throw DataError(path + ": cannot open zip: " + msg);
  }
  return ZipPtr(z);
}
}  // namespace

void write_stored_zip(const std::string& zip_path, const std::string& entry_name, const std::string& file) {
  const std::string tmp = fs::temp_name(zip_path);
  try {
    ZipPtr z = open_zip(tmp, ZIP_CREATE | ZIP_TRUNCATE);
    zip_source_t* src = zip_source_file(z.get(), file.c_str(), 0, -1);
    if (!src) throw Error(zip_path + ": " + zip_strerror(z.get()));
    const zip_int64_t idx = zip_file_add(z.get(), entry_name.c_str(), src, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    if (idx < 0) {
      zip_source_free(src);
      throw Error(zip_path + ": " + zip_strerror(z.get()));
    }
    if (zip_set_file_compression(z.get(), static_cast<zip_uint64_t>(idx), ZIP_CM_STORE, 0) != 0)
      throw Error(zip_path + ": cannot store uncompressed: " + zip_strerror(z.get()));
    zip_t* raw = z.release();
    if (zip_close(raw) != 0) {
      const std::string msg = zip_strerror(raw);
      zip_discard(raw);
      throw Error(zip_path + ": writing the zip failed: " + msg);
    }
  } catch (...) {
    std::error_code ec;
    sfs::remove(tmp, ec);
    throw;
  }
  try {
    fs::sync_file(tmp);
    fs::commit(tmp, zip_path);  // e.g. the final name is a directory: the temporary goes
  } catch (...) {
    std::error_code ec;
    sfs::remove(tmp, ec);
    throw;
  }
}

std::vector<std::string> zip_entries(const std::string& zip_path) {
  ZipPtr z = open_zip(zip_path, ZIP_RDONLY);
  std::vector<std::string> names;
  const zip_int64_t n = zip_get_num_entries(z.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(z.get(), static_cast<zip_uint64_t>(i), 0);
    names.emplace_back(name ? name : "");
  }
  return names;
}

std::string read_zip_entry(const std::string& zip_path, const std::string& name) {
  ZipPtr z = open_zip(zip_path, ZIP_RDONLY);
  zip_stat_t st;
  if (zip_stat(z.get(), name.c_str(), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
    throw DataError(zip_path + ": no entry '" + name + "'");
  zip_file_t* f = zip_fopen(z.get(), name.c_str(), 0);
  if (!f) throw DataError(zip_path + ": cannot read entry '" + name + "': " + zip_strerror(z.get()));
  std::string data(static_cast<size_t>(st.size), '\0');
  zip_uint64_t done = 0;
  while (done < st.size) {
    const zip_int64_t got = zip_fread(f, data.data() + done, st.size - done);
    if (got <= 0) {
      zip_fclose(f);
      throw DataError(zip_path + ": entry '" + name + "' is truncated or corrupt");
    }
    done += static_cast<zip_uint64_t>(got);
  }
  zip_fclose(f);
  return data;
}

}  // namespace brainsweep
