#!/usr/bin/env bash
# Set-up command 1: install what is missing, build in Release, and run the main job on the embedded
# demo dataset: demo-data → generate → run on 2 MPI ranks → stitch, printing the stitched scores.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
rm -rf build/demo-data runs/demo   # the demo starts clean each time
build/brainsweep demo-data --out build/demo-data
build/brainsweep generate sweeps/demo.yaml --out runs/demo
mpirun -n 2 build/brainsweep run runs/demo
build/brainsweep stitch runs/demo --select val --top-k 1 --eval test
awk -F, 'NR > 1 { s += $2; n++ } END { printf "planted mean r (the known answer the stitched mean r approaches): %.4f\n", s / n }' \
  build/demo-data/planted_r.csv
