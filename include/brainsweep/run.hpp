#pragma once
/// The MPI driver: every rank fits its share of a plan's work units and writes one file per job;
/// rank 0 then writes results.csv (docs/plan-format.md).
#include <mpi.h>

#include <map>
#include <string>
#include <vector>

#include "brainsweep/backend.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/plan.hpp"

namespace brainsweep {

/// Fit one work unit (ENCODING.md §1–5) and write `RUN_DIR/jobs/<job_id>.h5` for each of its jobs,
/// each atomically (temporary file, then rename), then the marker `RUN_DIR/units/<unit_id>.done`.
/// Not collective. @throw DataError  on missing or non-finite input (names file and dataset)
void fit_unit(const Plan& plan, const Unit& unit, const Backend& backend, const std::string& run_dir);

/// Train a trained encoder's unit (Unit::encoder; docs/trained-encoders.md) in the module
/// libbrainsweep_encoder_unit.so, which holds libtorch, and write its job files and marker as fit_unit.
/// Not collective. @throw NotCompiled  in a build without libtorch; ConfigError / Error with the module's message
void encoder_unit(const Plan& plan, const Unit& unit, const std::string& run_dir);

/// Run one unit of any kind: an RSA plan's (rsa_unit), a trained encoder's (encoder_unit) or a ridge
/// unit (fit_unit). What `run` calls for every unit.
void run_unit(const Plan& plan, const Unit& unit, const Backend& backend, const std::string& run_dir);

/// True if the unit's marker exists and every job file of the unit is usable (job_file_problem
/// empty): a rerun skips it.
bool unit_done(const Plan& plan, const Unit& unit, const std::string& run_dir);

/// For a unit whose marker `units/<id>.done` exists: why it is not done after all (the first job
/// file that is missing or fails job_file_problem), or "" if it is done or has no marker.
std::string unit_record_problem(const Plan& plan, const Unit& unit, const std::string& run_dir);

/// RUN_DIR/jobs/<job_id>.h5
std::string job_file_path(const std::string& run_dir, const std::string& job_id);

/// Why the job file of `job` cannot be used, or "" when it can. It must exist, open as HDF5 and
/// carry the attributes `job_id`, `subject` and `plan_checksum` of this job and plan: a file
/// copied or linked from another job, or left by another plan, is refused. Reads attributes only.
/// Not collective; never throws.
std::string job_file_problem(const Plan& plan, const Job& job, const std::string& run_dir);

/// Write the attributes that identify a job file, for ridge and RSA units alike: `job_id`, `unit_id`,
/// `subject`, `plan_checksum` (what job_file_problem checks), `model`, `layers` (joined by '+'),
/// `hrf_delay`, `stimulus_window`.
void write_job_identity(h5::File& f, const Plan& plan, const Unit& unit, const std::string& job_id,
                        const std::string& subject);

/// Open the job file of `job` after checking it (job_file_problem).
/// @throw DataError  naming the file and the problem
h5::File open_job_file(const Plan& plan, const Job& job, const std::string& run_dir);

/// Write RUN_DIR/results.csv from the job files: one row per job × parcel × eval set, in plan order.
/// With `ceiling` (subject → parcel → ceiling on eval set `ceiling_set`), two more columns:
/// `ceiling` and `r_normalized` = eval_r / ceiling, filled on the rows of that set whose ceiling is at
/// least `min_ceiling` (`ceiling` alone where it is below; both empty on other sets' rows).
/// @throw DataError  if a job file is missing
void write_results_csv(const Plan& plan, const std::string& run_dir,
                       const std::map<std::string, std::vector<double>>* ceiling = nullptr,
                       const std::string& ceiling_set = "", double min_ceiling = 0.1);

/// Options of `brainsweep run`.
struct RunOptions {
  /// "dynamic": rank 0's shared counter hands out the pending units largest predicted cost first
  /// (cost.hpp), each to the next idle rank; "static": pending unit k (plan order) to rank k mod N.
  std::string schedule = "dynamic";
  double progress_interval_s = 10;  ///< seconds between progress lines when stderr is not a terminal
  bool gather = true;               ///< gather results.h5 at the end (gather.hpp)
};

/// Run a plan over `comm`. Collective. Every rank, rank 0 included, fits units (RunOptions::schedule);
/// the numbers do not depend on the number of ranks or the schedule. Rank 0 holds RUN_DIR/run.lock
/// throughout (run_lock_path; a second run on the same RUN_DIR exits 2). Units already done are skipped
/// and temporary files of a killed run are removed first. A unit that fails is reported as
/// `[rank r/N] unit <id>: <error>`, recorded in `RUN_DIR/units/<id>.failed` (removed when a rerun
/// succeeds), and the other units go on; results.csv and results.h5 are written only when every unit
/// succeeded, and the failures are summarised on rank 0.
/// @return  exit code, the same on every rank: 0, or the largest exit code of the failed units
int run_plan(const std::string& run_dir, MPI_Comm comm, const RunOptions& options = {});

/// Design matrix of one episode for a unit (ENCODING.md §1): every layer of the unit's model aligned
/// with `n_tr` fMRI samples (hrf_delay, stimulus_window), then concatenated column-wise in order.
/// @throw DataError  naming the feature file and layer when it is missing or too short
/// A banded unit's design is its bands' layers side by side, in band order; `band_columns`, when
/// given, receives each band's number of columns (the layer widths × stimulus_window).
MatrixF episode_design(const Plan& p, const Unit& u, const std::string& episode, long n_tr,
                       std::vector<long>* band_columns = nullptr);

}  // namespace brainsweep
