#pragma once
/// The MPI driver: every rank fits its share of a plan's work units and writes one file per job;
/// rank 0 then writes results.csv (docs/plan-format.md).
#include <mpi.h>

#include <map>
#include <string>
#include <vector>

#include "brainsweep/backend.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/design.hpp"
#include "brainsweep/job_files.hpp"
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

/// Run one unit of any kind through its UnitKind (unit_kind.hpp: an RSA plan's rsa_unit, a trained
/// encoder's encoder_unit, a ridge unit's fit_unit). What `run` calls for every unit.
void run_unit(const Plan& plan, const Unit& unit, const Backend& backend, const std::string& run_dir);

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



}  // namespace brainsweep
