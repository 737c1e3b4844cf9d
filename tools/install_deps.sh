#!/usr/bin/env bash
# Install the Debian bookworm packages brainsweep needs, skipping those already installed.
# Parallel HDF5 only: never install the serial libhdf5-dev beside libhdf5-openmpi-dev.
set -euo pipefail
PACKAGES=(
  cmake g++ make pkg-config
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
  libeigen3-dev libopenblas-dev liblapacke-dev
  libyaml-cpp-dev libcli11-dev libspdlog-dev nlohmann-json3-dev libxxhash-dev libzip-dev
  libdeflate-dev  # gzip HDF5 chunks inflated by libdeflate (src/util/hdf5_io.cpp)
  libgtest-dev libgmock-dev
  libboost-dev  # Boost.Math's Student t (header-only): the t-test of `vpa` (src/metrics/vpa.cpp)
  python3-numpy python3-h5py
  pybind11-dev python3-dev python3-pandas  # the Python module (src/python, python/brainsweep) and its readers
  python3-matplotlib  # tools/plot_results.py
  slurm-wlm munge bc
  python3-scipy  # bench/fit_cost_rates.py (non-negative least squares)
  python3-sklearn  # brainsweep.RidgeCV as a scikit-learn regressor, and its estimator checks in the tests
  # feature extraction (issue #6): libtorch (CPU), FFmpeg's libraries, SentencePiece; python3-torch,
  # ffmpeg and python3-sentencepiece make the tests' tiny models, movies and tokenizer
  libtorch-dev python3-torch ffmpeg libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  libswresample-dev libsentencepiece-dev python3-sentencepiece
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
