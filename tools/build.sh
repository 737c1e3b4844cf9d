#!/usr/bin/env bash
# Configure and build brainsweep (Release) in ./build. The CUDA backend is built when nvcc is found
# (BRAINSWEEP_WITH_CUDA=ON, architectures 80;90); it compiles without a GPU and says so at run time.
# Feature extraction (BRAINSWEEP_WITH_TORCH=ON) is built when Debian's libtorch-dev is installed;
# BRAINSWEEP_WITH_TORCH=OFF in the environment turns it off. Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${CUDACXX:-/usr/local/cuda/bin/nvcc}
cuda=()
if [ -x "$NVCC" ]; then
  cuda=(-DBRAINSWEEP_WITH_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" "-DCMAKE_CUDA_ARCHITECTURES=80;90")
fi
torch=()
if [ "${BRAINSWEEP_WITH_TORCH:-auto}" != OFF ] && ls /usr/lib/*/cmake/Torch/TorchConfig.cmake > /dev/null 2>&1; then
  torch=(-DBRAINSWEEP_WITH_TORCH=ON)
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${cuda[@]}" "${torch[@]}" "$@" > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j"$(nproc)" >> build.log 2>&1 || { tail -50 build.log; exit 1; }
grep -m1 "brainsweep .*: build" build.log || true
