#!/usr/bin/env bash
# Throughput of `brainsweep extract` (issue #6) on one synthetic episode: a 640x360, 24 fps H.264
# movie of DURATION seconds (ffmpeg's testsrc2), torchvision's resnet18 (random weights, exported
# with tools/export_torchscript.py), 4 frames per 1.49 s chunk at 224x224, layers layer3 and layer4
# (layout frames, mean pooling). Prints the episode's log line (seconds in the model and in decoding
# and the rest) and the rates. Needs python3-torchvision.
# Usage: bench/extract_bench.sh [build/brainsweep] [DURATION=300] [THREADS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-build/brainsweep}")
DURATION=${2:-300}
THREADS=${3:-2}
WORK=$(mktemp -d /tmp/brainsweep-extract-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/movies"
ffmpeg -v error -f lavfi -i "testsrc2=size=640x360:rate=24" -t "$DURATION" -c:v libx264 -preset veryfast \
  -pix_fmt yuv420p "$WORK/movies/friends_s01e01a.mkv"
/usr/bin/python3 tools/export_torchscript.py --torchvision resnet18 --input 1,3,224,224 --out "$WORK/resnet18.pt" > /dev/null
cat > "$WORK/extract.yaml" <<YAML
name: resnet18
model: {path: $WORK/resnet18.pt, threads: $THREADS, batch_size: 8}
layers: [layer3, layer4]
pool: {mode: mean, channel_dim: 1}
tr: 1.49
video: {frames_per_chunk: 4, size: [224, 224], layout: frames}
stimuli: [{stimset: friends, group: s1, files: "$WORK/movies/*.mkv"}]
out: $WORK/features
YAML
t0=$(date +%s.%N)
log=$(OPENBLAS_NUM_THREADS=1 "$BIN" extract "$WORK/extract.yaml" 2>&1)
t1=$(date +%s.%N)
echo "$log" | grep "chunks in"
chunks=$(echo "$log" | sed -nE 's/.*: ([0-9]+) chunks in.*/\1/p')
model=$(echo "$log" | sed -nE 's/.*\(model ([0-9.]+) s.*/\1/p')
rest=$(echo "$log" | sed -nE 's/.*decoding and the rest ([0-9.]+) s.*/\1/p')
wall=$(echo "$t1 - $t0" | bc)
echo "extract: ${DURATION} s of 640x360 24 fps video, $chunks chunks x 4 frames, resnet18 on $THREADS threads:" \
     "command ${wall} s; model $model s ($(echo "scale=1; $chunks * 4 / $model" | bc) frames/s);" \
     "decoding all $((DURATION * 24)) frames + resize + write $rest s ($(echo "scale=0; $DURATION * 24 / $rest" | bc) decoded frames/s);" \
     "$(echo "scale=1; $DURATION / $wall" | bc)x real time"
