#pragma once
/// The MPI driver: every rank fits its share of a plan's work units and writes one file per job;
/// rank 0 then writes results.csv (docs/plan-format.md).
#include <mpi.h>

#include <string>

#include "brainsweep/backend.hpp"
#include "brainsweep/plan.hpp"

namespace brainsweep {

/// Fit one work unit (ENCODING.md §1–5) and write `RUN_DIR/jobs/<job_id>.h5` for each of its jobs,
/// each atomically (temporary file, then rename), then the marker `RUN_DIR/units/<unit_id>.done`.
/// Not collective. @throw DataError  on missing or non-finite input (names file and dataset)
void fit_unit(const Plan& plan, const Unit& unit, const Backend& backend, const std::string& run_dir);

/// True if the unit's marker and all its job files exist (a rerun skips it).
bool unit_done(const Plan& plan, const Unit& unit, const std::string& run_dir);

/// Write RUN_DIR/results.csv from the job files: one row per job × parcel × eval set, in plan order.
/// @throw DataError  if a job file is missing
void write_results_csv(const Plan& plan, const std::string& run_dir);

/// Run a plan over `comm`. Collective. Units go to ranks round-robin (unit i to rank i mod N);
/// the numbers do not depend on N. Units already done are skipped. A unit that fails is reported
/// as `[rank r/N] unit <id>: <error>` and the others go on; results.csv is written only when every
/// unit succeeded.
/// @return  exit code, the same on every rank: 0, or the largest exit code of the failed units
int run_plan(const std::string& run_dir, MPI_Comm comm);

}  // namespace brainsweep
