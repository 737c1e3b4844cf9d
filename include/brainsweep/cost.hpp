#pragma once
#include <optional>
/// Cost model of a work unit and the makespan of a schedule (ARCHITECTURE.md, Distribution).
/// The cost of a unit is dominated by the dense kernels of RidgeCV (ENCODING.md §3–4): per fold and
/// for the refit, one Gram matrix, one symmetric eigendecomposition and a few products; the held-out
/// Pearson r of every alpha from moments (a few products per fold, ridge.hpp). Counting them from n, p, t, K and the number of alphas gives
/// the floating-point work; two machine rates and a per-unit overhead turn it into seconds.
#include <string>
#include <vector>

#include "brainsweep/plan.hpp"

namespace brainsweep {

/// Sizes that determine the cost of one unit.
struct UnitShape {
  long n = 0;        ///< training rows (samples after exclusion, all training runs)
  long p = 0;        ///< design columns (feature columns × stimulus_window, all layers)
  long t = 0;        ///< targets: parcels of every subject of the unit
  int folds = 5;     ///< K
  int n_alphas = 17;
  long n_eval = 0;   ///< samples predicted for evaluation (every eval episode, all samples)
  /// A trained encoder's unit: the multiply-adds of its training and evaluation ×2 (flops), which
  /// replace the ridge terms: per step 6·B·L·M (forward 2, backward 4; M = Σ D_i·d + streams·d·k +
  /// heads·d·P, the model's multiply-adds per TR), per epoch one forward pass over the eval episodes.
  double encoder_flops = 0;
  /// An RSA unit (its plan has `rsa:`): conditions, ROIs, subjects per ROI, resamples and
  /// permutations, and its comparisons by kind; replace the ridge terms (n, p: the design rows read).
  struct Rsa {
    long conditions = 0, rois = 1, subjects = 1, bootstrap = 0, permutations = 0;
    int linear = 0;  ///< comparisons corr / cosine (bootstrap as quadratic forms: GEMMs)
    int ranked = 0;  ///< spearman (weighted ranks per resample)
    int tau = 0;     ///< tau-a (inversion counts per resample and permutation)
  };
  std::optional<Rsa> rsa;
  /// A PLS unit (`pls:` in the sweep; pls.hpp): the largest count of components and the subjects
  /// fitted one by one (t / pls_subjects parcels each); replace the ridge terms. Per subject and fit
  /// (K folds and the refit): the design in float64 and centred, M = XᵀY, and per component the Gram
  /// of M (min(p, t_s)² · max(p, t_s)), its eigendecomposition (min(p, t_s)³) and the scores and
  /// deflation (passes over X and Y); then every count's held-out predictions.
  long pls_components = 0;
  long pls_subjects = 1;
  int pls_options = 1;  ///< counts in pls.components
};

/// Floating-point work of one unit, split by kind.
struct UnitWork {
  /// matrix products, 2·m·n·k each (Grams, projections, predictions), in float64 equivalents: a
  /// float32 product (mixed precision: those with the targets and the eigenvectors) counts half,
  /// SGEMM running at twice DGEMM's rate (235 and 117 GFLOP/s on the development machine)
  double gemm_flops = 0;
  double eig_cubes = 0;   ///< sum of m³ over the symmetric eigendecompositions (m = p primal, n_train dual)
  double stream = 0;      ///< element passes outside BLAS (copies, casts, standardisation, Pearson r)
};

/// Machine rates for one rank with one BLAS thread. The defaults were fitted (`bench/fit_cost_rates.py`,
/// every rate free) to unit times measured by bench/cost_model.sh on the development machine (2 cores of
/// an Emerald Rapids Xeon, OpenBLAS SkylakeX kernels, one thread per rank; 2026-12-02, after the
/// held-out moments from the fold Grams). They sit above what `plan-cost --calibrate` measures
/// (dgemm 5.1e10, dsyevd 3.8e9 here): the benchmark's Sherlock designs are rank-deficient (the
/// topic model's stacked windows: 400 of 500 eigenvalues null), which dsyevd deflates and the CV
/// leaves out, while UnitWork counts full rank. `plan-cost --calibrate` measures dgemm, dsyevd and a
/// stream pass on the machine it runs on instead.
struct MachineRates {
  double gemm_flops_per_s = 1.08e11;  ///< products of ridge_cv in float64 equivalents (UnitWork), one thread
  double eig_cubes_per_s = 6.4e9;     ///< m³/s of LAPACK dsyevd with eigenvectors, one thread
  double stream_per_s = 4.2e8;        ///< elements/s of the non-BLAS passes (incl. HDF5 reads and writes)
  double unit_overhead_s = 0.0052;    ///< fixed seconds per unit (opening files, writing results)
  double run_overhead_s = 0.5;       ///< fixed seconds per run (start-up, plan, results.csv), not per unit
  /// Where the rates come from, for plan-cost's output: empty for these built-in CPU rates, else the
  /// rates file's `source` (e.g. "fitted by bench/fit_cost_rates.py to 20 units on an H200, cuda").
  std::string source;
  std::string backend = "cpu";  ///< the backend the rates were measured on (a rates file's `backend`)
};

/// Rates from a JSON file written by `bench/fit_cost_rates.py --json` (the unit times of a sweep on the
/// machine and backend to predict, e.g. a GPU node with `ridge.backend: cuda`): keys gemm_flops_per_s,
/// eig_cubes_per_s, stream_per_s, unit_overhead_s (required, > 0 and finite or +inf for a rate whose
/// work the fit found free), run_overhead_s (default 0.5), backend (cpu | cuda), source (text).
/// @throw DataError  naming the file and the key that is missing or out of range
MachineRates rates_from_json(const std::string& path);

/// Floating-point work of RidgeCV on a unit of this shape, counted as `ridge_cv` does it: primal
/// (eig of XᵀX) when p <= rows, else dual (eig of XXᵀ), for each of the K folds (n(K−1)/K rows) and
/// for the refit (n rows), plus the eval predictions. Pure function. @throw nothing
UnitWork unit_work(const UnitShape& shape);

/// Predicted seconds of one unit on one rank with one BLAS thread. Pure function.
double unit_seconds(const UnitShape& shape, const MachineRates& rates = {});

/// Shape of every unit of a plan, in plan order. Reads the shapes of the feature datasets of the
/// first training episode (HDF5 metadata only, each model/layer once). Not collective.
/// @throw DataError  if a feature file or layer is missing
std::vector<UnitShape> unit_shapes(const Plan& plan);

/// Units ordered for dynamic scheduling: indices into `seconds`, largest cost first, ties to the
/// lower index (so that every rank computes the same order).
std::vector<int> largest_first(const std::vector<double>& seconds);

/// Predicted makespan of a schedule (units only: add MachineRates::run_overhead_s for a whole run).
struct Makespan {
  int ranks = 1;
  double total_s = 0;     ///< sum of unit costs
  double makespan_s = 0;  ///< time until the last rank finishes its last unit
  double efficiency = 1;  ///< total / (ranks × makespan), 1 = perfect balance
};

/// Makespan on `ranks` ranks. dynamic: every unit, largest first, goes to the rank that becomes idle
/// first (what `run --schedule dynamic` does); static: unit i goes to rank i mod ranks.
/// @throw ConfigError  if ranks < 1
Makespan predict_makespan(const std::vector<double>& seconds, int ranks, bool dynamic);

/// Measure the rates of this machine on the CPU backend (a dgemm and a dsyevd of size `size`,
/// a stream pass), one thread as configured by the caller. Takes about a second at size 768.
MachineRates calibrate_rates(long size = 768);

}  // namespace brainsweep
