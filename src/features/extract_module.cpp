// Feature extraction as a module (libbrainsweep_extract.so) that `brainsweep extract` loads on first
// use (module.hpp): libtorch and FFmpeg cost ~150 MB of resident memory in every process that loads
// them, which the ranks of a ridge sweep should not pay. The interface is C; no exception crosses it.
#include <mpi.h>

#include <cstring>
#include <iostream>

#include "brainsweep/errors.hpp"
#include "brainsweep/extract.hpp"

namespace {
void set_error(char* err, size_t err_len, const char* what) {
  if (!err || err_len == 0) return;
  std::strncpy(err, what, err_len - 1);
  err[err_len - 1] = '\0';
}
}  // namespace

extern "C" {

/// mode 0: read and check EXTRACT.yaml; 1: print the extracted and pending episodes (extract_status);
/// 2: extract (run_extract, collective over `comm`). Returns the exit code; on an error escaping
/// the library, its message is in `err` (run_extract reports episode failures itself).
int brainsweep_extract_entry(int mode, const char* yaml, const char* dump_inputs, int overwrite, MPI_Comm comm,
                             char* err, size_t err_len) {
  set_error(err, err_len, "");
  try {
    const auto cfg = brainsweep::ExtractConfig::load(yaml);
    if (mode == 0) return 0;
    if (mode == 1) return brainsweep::extract_status(cfg, std::cout);
    return brainsweep::run_extract(cfg, {dump_inputs ? dump_inputs : "", overwrite != 0}, comm);
  } catch (const brainsweep::Error& e) {
    set_error(err, err_len, e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    set_error(err, err_len, e.what());
    return 1;
  }
}
}
