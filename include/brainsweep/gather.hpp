#pragma once
/// Gather the per-job results of a finished run into one file, `RUN_DIR/results.h5`, with parallel
/// HDF5 (MPI-IO driver, collective writes). Schema: docs/results-format.md.
#include <mpi.h>

#include <string>

namespace brainsweep {

/// Write RUN_DIR/results.h5 from RUN_DIR/jobs/*.h5. Collective over `comm`: every rank creates the
/// same groups and datasets (shapes come from plan.json), reads the job files of its share of each
/// subject's jobs (contiguous blocks) and writes them with collective H5Dwrite calls. The file is
/// written as `results.h5.tmp` and renamed into place by rank 0 when complete.
/// @return  exit code, the same on every rank: 0; 2 if a job file is missing or malformed (the
///          message names it, printed by the rank that found it); 1 on an HDF5/MPI-IO failure
/// Rank 0 holds RUN_DIR/run.lock meanwhile (`take_lock`; `run` gathers under its own lock). The job
/// files are checked first (job_file_problem), and the free space of RUN_DIR's file system against
/// the size of the datasets; a failed write removes `results.h5.tmp`.
int gather_results(const std::string& run_dir, MPI_Comm comm, bool take_lock = true);

}  // namespace brainsweep
