#pragma once
/// `brainsweep ridge`: RidgeCV on matrices already prepared in HDF5 files (no alignment), with
/// the standardisation of ENCODING.md §2 and the CV of §4 (contiguous K-fold blocks, one run).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "brainsweep/ridge.hpp"

namespace brainsweep {

struct RidgeCommandOptions {
  std::string x_train, y_train, x_test, y_test;  ///< "FILE.h5:/dataset"; y_test optional
  std::vector<double> alphas;                    ///< default: ENCODING.md's grid
  int folds = 5;
  std::string backend = "cpu";
  int threads = 0;                               ///< BLAS threads (0: library default)
  std::string precision = "mixed";
  std::string solver = "auto";
  long target_batch = 4096;
  std::string out;                               ///< output HDF5 file (refused if it exists)
};

/// Parse "--alphas" text: "1,10,100" or "logspace:START:STOP:NUM" (10^START … 10^STOP, NUM values).
/// @throw ConfigError  on malformed text or alphas <= 0
std::vector<double> parse_alphas(const std::string& text);

/// Run the command: reads the matrices, fits, writes `alphas` (t), `cv_scores` (n_alphas × t),
/// `predictions` (n_test × t) and with y_test `test_r` (t) to `out` (atomically).
/// @return  timings: seconds and GFLOP/s of each phase, peak RSS (MB), shapes, solver
/// @throw DataError, DimensionMismatch, ConfigError  on bad input (names file and dataset)
nlohmann::json run_ridge_command(const RidgeCommandOptions& options);

}  // namespace brainsweep
