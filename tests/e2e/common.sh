# Shared set-up of the end-to-end tests (sourced). ctest sets BRAINSWEEP, SOURCE_DIR, SHERLOCK_DIR
# and the OpenMPI variables; running a script by hand works from the repository root too.
set -euo pipefail
: "${SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BRAINSWEEP:=$SOURCE_DIR/build/brainsweep}"
: "${SHERLOCK_DIR:=$SOURCE_DIR/../shared/data/sherlock}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/brainsweep-e2e.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$SOURCE_DIR"
fail() { echo "FAIL: $*" >&2; exit 1; }
