// OpenBLAS core detection check (see blas_core.hpp).
#include "brainsweep/blas_core.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" char* openblas_get_corename(void);
extern "C" char* openblas_get_config(void);
extern "C" int openblas_get_num_threads(void);

namespace brainsweep {

namespace {
constexpr const char* kRestartedFrom = "BRAINSWEEP_BLAS_DETECTED";
}

std::string corrected_blas_core(const std::string& detected, bool avx512_usable, bool avx2_fma_usable) {
  if (detected != "Prescott") return "";
  if (avx512_usable) return "SkylakeX";
  if (avx2_fma_usable) return "Haswell";
  return "";
}

void restart_with_corrected_blas_core(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const char* core = openblas_get_corename();
  if (core == nullptr) return;
  // GCC's CPU model checks whether the OS saves the AVX / AVX-512 state (XCR0), not only CPUID.
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const std::string want = corrected_blas_core(core, avx512, avx2);
  if (want.empty()) return;
  setenv("OPENBLAS_CORETYPE", want.c_str(), 1);
  setenv(kRestartedFrom, core, 1);
  execv("/proc/self/exe", argv);
  std::fprintf(stderr,
               "brainsweep: warning: OpenBLAS runs its %s kernels on a CPU that can run %s ones (OpenBLAS issue "
               "#4267), and restarting with OPENBLAS_CORETYPE=%s failed (%s); set it in the environment\n",
               core, want.c_str(), want.c_str(), std::strerror(errno));
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv(kRestartedFrom);
}

std::string blas_description() {
  std::string s = openblas_get_config();  // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64"
  const auto sp = s.find(' ', s.find(' ') + 1);
  s = s.substr(0, sp) + ", core " + openblas_get_corename();
  if (const char* from = std::getenv(kRestartedFrom))
    s += std::string(" (OPENBLAS_CORETYPE set by brainsweep: OpenBLAS detected ") + from + ")";
  const int threads = openblas_get_num_threads();
  s += ", " + std::to_string(threads) + (threads == 1 ? " thread" : " threads");
  return s;
}

}  // namespace brainsweep
