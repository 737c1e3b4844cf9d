#!/usr/bin/env bash
# Set-up command 2: install what is missing, build, and run the whole test suite (unit, MPI and
# end-to-end tests; the end-to-end tests read the real Sherlock data in ../shared/data/sherlock).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh -DBRAINSWEEP_BUILD_TESTS=ON
cd build
ctest --output-on-failure -j2
