#!/usr/bin/env bash
# Generate the plan of SWEEP.yaml in RUN_DIR and submit the run and, chained with
# --dependency=afterok, gather (+ stitch when STITCH is set). The sbatch options apply to both jobs
# (e.g. --ntasks=256 --time=12:00:00 --partition=cpu --account=lab).
#   slurm/submit.sh SWEEP.yaml RUN_DIR [sbatch options]
# Resubmitting the same command after a time-out resumes: the plan is unchanged, finished units are
# skipped. A changed sweep is refused (use a new RUN_DIR). Prints the job ids.
# With EXTRACT="a.yaml b.yaml" the chain starts from the stimuli: an extract job (extract.sbatch,
# log in the current directory) extracts the features and then generates the plan, and the run job
# waits for it (afterok). Extracted episodes are skipped when resubmitting.
# Environment: BRAINSWEEP (default: build/brainsweep beside this script), STITCH, EXTRACT,
# BRAINSWEEP_SETUP, BRAINSWEEP_LAUNCHER, OPENBLAS_NUM_THREADS (see run.sbatch).
set -euo pipefail
if [ $# -lt 2 ] || [[ $1 == -* ]]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
SWEEP=$1 RUN_DIR=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
BRAINSWEEP=${BRAINSWEEP:-$HERE/../build/brainsweep}
[ -x "$BRAINSWEEP" ] || { echo "submit.sh: no brainsweep binary at $BRAINSWEEP (set BRAINSWEEP)" >&2; exit 2; }
BRAINSWEEP=$(cd "$(dirname "$BRAINSWEEP")" && pwd)/$(basename "$BRAINSWEEP")
after=()
if [ -n "${EXTRACT:-}" ]; then
  # The features do not exist yet: the extract job generates the plan once it has made them.
  abs=()
  for cfg in $EXTRACT; do abs+=("$(realpath "$cfg")"); done
  EXTRACT="${abs[*]}" SWEEP=$(realpath "$SWEEP") RUN_DIR=$(realpath -m "$RUN_DIR")
  export BRAINSWEEP EXTRACT SWEEP RUN_DIR
  extract_id=$(sbatch --parsable --chdir="$PWD" --export=ALL "$@" "$HERE/extract.sbatch")
  extract_id=${extract_id%%;*}
  echo "submitted extract job $extract_id (then generate $RUN_DIR)"
  after=(--dependency=afterok:"$extract_id")
  unset SWEEP
else
  "$BRAINSWEEP" generate "$SWEEP" --out "$RUN_DIR"
  RUN_DIR=$(cd "$RUN_DIR" && pwd)
  export BRAINSWEEP RUN_DIR
fi
run_id=$(sbatch --parsable --chdir="$RUN_DIR" --export=ALL "${after[@]}" "$@" "$HERE/run.sbatch")
run_id=${run_id%%;*}
gather_id=$(sbatch --parsable --chdir="$RUN_DIR" --export=ALL --dependency=afterok:"$run_id" "$@" "$HERE/gather_stitch.sbatch")
gather_id=${gather_id%%;*}
echo "submitted run job $run_id and gather job $gather_id (afterok:$run_id) for $RUN_DIR"
echo "follow: squeue -j $run_id,$gather_id; brainsweep status $RUN_DIR; logs in $RUN_DIR/brainsweep-*-<job>.out"
