#pragma once
/// Gather the per-job results of a finished run into one file, `RUN_DIR/results.h5`, with parallel
/// HDF5 (MPI-IO driver, collective writes). Schema: docs/results-format.md.
#include <mpi.h>

#include <string>

namespace brainsweep {

/// A noise ceiling to report beside the eval-set scores (`gather --ceiling`): the CSV of `brainsweep
/// ceiling` on one eval set of the plan, and the threshold below which a parcel is not normalised.
struct GatherCeiling {
  std::string file;          ///< empty: no ceiling
  double min_ceiling = 0.1;  ///< ceilings below it give no normalised score (NaN, empty in the CSV)
};

/// Write RUN_DIR/results.h5 from RUN_DIR/jobs/*.h5. Collective over `comm`: every rank creates the
/// same groups and datasets (shapes come from plan.json), reads the job files of its share of each
/// subject's jobs (contiguous blocks) and writes them with collective H5Dwrite calls. The file is
/// written as `results.h5.tmp` and renamed into place by rank 0 when complete.
/// @return  exit code, the same on every rank: 0; 2 if a job file is missing or malformed (the
///          message names it, printed by the rank that found it); 1 on an HDF5/MPI-IO failure
/// Rank 0 holds RUN_DIR/run.lock meanwhile (`take_lock`; `run` gathers under its own lock). The job
/// files are checked first (job_file_problem), and the free space of RUN_DIR's file system against
/// the size of the datasets; a failed write removes `results.h5.tmp`.
/// With `ceiling.file`, also `subjects/<s>/ceiling/<set>` (parcels) and `subjects/<s>/eval/<set>/r_normalized`
/// (r / ceiling, NaN where the ceiling is below `min_ceiling`) and the root attributes `ceiling_*`;
/// results.csv is rewritten with the columns `ceiling,r_normalized` (write_results_csv). The table is
/// checked first on every rank (exit 2, nothing written: not a ceiling CSV, a set that is not an eval
/// set of the plan, a subject × parcel without a ceiling, a NaN threshold).
int gather_results(const std::string& run_dir, MPI_Comm comm, bool take_lock = true, const GatherCeiling& ceiling = {});

}  // namespace brainsweep
