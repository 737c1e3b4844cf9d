#!/usr/bin/env bash
# OpenBLAS 0.3.21 runs its Prescott (SSE3) kernels on Intel CPUs it does not know (OpenBLAS issue
# #4267); brainsweep restarts itself with OPENBLAS_CORETYPE set (src/backends/cpu/blas_core.cpp).
# On a CPU with AVX2 and FMA the kernels in use must not be Prescott's; a user's OPENBLAS_CORETYPE
# is kept as it is.
source "$(dirname "$0")/common.sh"
line=$("$BRAINSWEEP" --version)
echo "brainsweep --version: $line"
core=$(sed -n 's/.*, core \([A-Za-z0-9]*\).*/\1/p' <<< "$line")
[ -n "$core" ] || fail "no BLAS core in '$line'"
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
if grep -qw avx2 <<< "$flags" && grep -qw fma <<< "$flags"; then
  [ "$core" != Prescott ] || fail "the CPU has AVX2 and FMA but OpenBLAS runs its Prescott kernels: '$line'"
  echo "CPU with AVX2/FMA: core $core"
fi
line=$(OPENBLAS_CORETYPE=Prescott "$BRAINSWEEP" --version)
grep -q ", core Prescott, " <<< "$line" || fail "OPENBLAS_CORETYPE=Prescott was not kept: '$line'"
grep -q "set by brainsweep" <<< "$line" && fail "a user's OPENBLAS_CORETYPE was reported as brainsweep's: '$line'"
echo "PASS"
