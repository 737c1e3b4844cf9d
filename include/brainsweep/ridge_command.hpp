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

/// A fitted encoder (ENCODING.md §2–4): the training statistics of X (column mean and 1/std), the
/// training mean of Y, the CV result (chosen alpha per target, CV scores, weights for standardised X
/// and centred Y) and the alphas it chose from. What `brainsweep ridge` and the Python module's
/// `RidgeCV` fit (the same function, so the same bits for the same input).
struct RidgeModel {
  ColumnStats x_stats;
  VectorD y_mean;
  std::vector<double> alphas;
  RidgeCvResult fit;
};

/// Options of ridge_cv from the user-facing ones: `alphas` empty means ENCODING.md's grid
/// (10^-1 … 10^7, 17 values); alphas are checked (> 0, finite), sorted and made unique.
/// @throw ConfigError  naming `--alphas`/`alphas`, `--precision`, `--solver` or `--target-batch`
RidgeOptions ridge_options(std::vector<double> alphas, const std::string& precision, const std::string& solver,
                           long target_batch);

/// Fit: z-score `x` with its column statistics and centre `y` with its mean (both in place: they are
/// the engine's copies), contiguous K-fold CV over the rows (one run, fold_assignment; or `fold_of_row`
/// when given: the fold of every row, each fold one contiguous block, as `run` makes them over several
/// runs), refit. With `column_scale` (p factors), column j's standardised values are multiplied by
/// column_scale[j] (folded into the statistics, as a banded unit scales band k by √γ_k: himalaya's
/// GroupRidgeCV scaling), so that predictions and coefficients carry it too.
/// @param x  n × p training design (float32, row-major); @param y  n × t training targets
/// @throw DimensionMismatch  if x and y differ in rows (or column_scale has not p entries); DataError if
///        n < folds or a fold is not one contiguous block; ConfigError if folds < 2 or a fold index is
///        outside [0, folds)
RidgeModel fit_ridge_model(const Backend& backend, MatrixF x, MatrixF y, int folds, const RidgeOptions& options,
                           const std::vector<int>* fold_of_row = nullptr,
                           const std::vector<double>* column_scale = nullptr);

/// Predictions of a fitted model for `x` (m × p, standardised here, in place, with the training
/// statistics), intercept added: m × t float32.
/// @throw DimensionMismatch  if x has not the training design's p columns
MatrixF predict_ridge_model(const Backend& backend, const RidgeModel& model, MatrixF x);

/// Parse "--alphas" text: "1,10,100" or "logspace:START:STOP:NUM" (10^START … 10^STOP, NUM values).
/// @throw ConfigError  on malformed text or alphas <= 0
std::vector<double> parse_alphas(const std::string& text);

/// Run the command: reads the matrices, fits, writes `alphas` (t), `cv_scores` (n_alphas × t),
/// `predictions` (n_test × t) and with y_test `test_r` (t) to `out` (atomically).
/// @return  timings: seconds and GFLOP/s of each phase, peak RSS (MB), shapes, solver
/// @throw DataError, DimensionMismatch, ConfigError  on bad input (names file and dataset)
nlohmann::json run_ridge_command(const RidgeCommandOptions& options);

}  // namespace brainsweep
