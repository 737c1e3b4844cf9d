// Which OpenBLAS kernels this process runs, and the restart that corrects OpenBLAS's CPU detection.
#pragma once
#include <string>

namespace brainsweep {

/// The OpenBLAS core type whose kernels this CPU should run when OpenBLAS detected `detected`:
/// "SkylakeX" (AVX-512 F/BW/DQ/VL usable) or "Haswell" (AVX2 and FMA usable) when `detected` is
/// "Prescott", else "" (nothing to correct).
///
/// OpenBLAS before 0.3.25 (Debian bookworm ships 0.3.21) falls back to its Prescott (SSE3) kernels
/// on any Intel CPU whose model number it does not know (OpenBLAS issue #4267, fixed by PR #4268),
/// e.g. Emerald Rapids (family 6, model 207): SGEMM ran at 48 GFLOP/s instead of 235 on 2 cores.
/// Inputs are explicit so that the rule can be tested without such a CPU.
std::string corrected_blas_core(const std::string& detected, bool avx512_usable, bool avx2_fma_usable);

/// Call first thing in main(), before MPI_Init and before any thread starts. When OpenBLAS runs
/// its Prescott fallback on a CPU that can run better kernels (corrected_blas_core) and
/// OPENBLAS_CORETYPE is not set, re-executes this program (/proc/self/exe, same argv and PID) with
/// OPENBLAS_CORETYPE set, since OpenBLAS reads it only when it is loaded. A set OPENBLAS_CORETYPE
/// is always left as it is (OPENBLAS_CORETYPE=Prescott keeps the detected kernels). Returns when
/// nothing is to be done; if the exec fails, prints a warning and returns.
void restart_with_corrected_blas_core(char** argv);

/// "OpenBLAS <version>, core <name>, <threads> threads" (for --version and the run log), the core
/// followed by "(OPENBLAS_CORETYPE set by brainsweep: OpenBLAS detected <name>)" when
/// restart_with_corrected_blas_core re-executed this process.
std::string blas_description();

}  // namespace brainsweep
