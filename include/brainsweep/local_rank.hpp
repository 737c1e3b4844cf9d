#pragma once
/// The rank's index among the ranks of its node, from the launcher's environment (OpenMPI, SLURM,
/// MPICH): which GPU a rank takes (the CUDA backend, libtorch's feature extraction and trained encoders).
#include <cstdlib>

namespace brainsweep {

/// OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID or MPI_LOCALRANKID, the first one set; 0 without a launcher.
inline int node_local_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"})
    if (const char* s = std::getenv(v)) return std::atoi(s);
  return 0;
}

}  // namespace brainsweep
