#!/usr/bin/env bash
# `cmake --install` (issue #27 §12): the executables in PREFIX/bin, the optional modules in
# PREFIX/lib/brainsweep (where src/util/module.cpp looks for them beside the executable's bin/), and
# the installed brainsweep generates and runs the demo sweep from outside the build tree.
source "$(dirname "$0")/common.sh"
BUILD_DIR=$(dirname "$BRAINSWEEP")
cmake --install "$BUILD_DIR" --prefix "$WORK/prefix" > "$WORK/install.log" || { cat "$WORK/install.log"; fail "cmake --install failed"; }
for exe in brainsweep brainsweep_bench; do
  [ -x "$WORK/prefix/bin/$exe" ] || fail "cmake --install did not install bin/$exe"
done
for module in "$BUILD_DIR"/libbrainsweep_*.so; do
  [ -e "$module" ] || continue
  [ -e "$WORK/prefix/lib/brainsweep/$(basename "$module")" ] || fail "module $(basename "$module") not installed in lib/brainsweep"
done
BS="$WORK/prefix/bin/brainsweep"
"$BS" demo-data --out "$WORK/data" --parcels 20 > "$WORK/demo.log" 2>&1 || { cat "$WORK/demo.log"; fail "installed demo-data failed"; }
sed -e "s#^dataset_root:.*#dataset_root: $WORK/data#" -e "s#^dataset: configs#dataset: $SOURCE_DIR/configs#" sweeps/demo.yaml > "$WORK/demo.yaml"
"$BS" generate "$WORK/demo.yaml" --out "$WORK/run" > "$WORK/gen.log" 2>&1 || { cat "$WORK/gen.log"; fail "installed generate failed"; }
(cd "$WORK" && mpirun -n 2 "$BS" run run > run.log 2>&1) || { cat "$WORK/run.log"; fail "installed run failed"; }
"$BS" status "$WORK/run" | grep -Eq "done +[0-9]+ units" || fail "the installed run did not finish its units"
echo "installed: $(ls "$WORK/prefix/bin" | tr '\n' ' ')and $(ls "$WORK/prefix/lib/brainsweep" 2>/dev/null | wc -l) modules"
