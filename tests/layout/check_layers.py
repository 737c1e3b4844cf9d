#!/usr/bin/python3
"""Check that every module of src/ includes only headers of its own module or of modules below it
(issue #15: no arrow from a lower floor up to a higher one).

The floors, bottom first, and the public headers (include/brainsweep/) each module owns are listed
below; a header or source folder missing from the list is an error too, so that a new one is placed
on a floor when it is added. Exit 0 when the layering holds, 1 listing every violation.

Usage: tests/layout/check_layers.py [REPO_ROOT]
"""
import re
import sys
from pathlib import Path

# (module, source folders, headers it owns), bottom floor first
FLOORS = [
    ("util", ["src/util"], ["errors", "fs", "hdf5_io", "matrix", "module", "build_config", "random", "tsv", "path_template",
                            "csv", "local_rank", "partition"]),
    ("config", ["src/config"], ["config"]),
    ("data", ["src/data"], ["data", "npy", "sample_counts", "events"]),
    ("backends", ["src/backends/cpu", "src/backends/cuda"], ["backend", "blas_core"]),
    ("ridge", ["src/ridge"], ["ridge", "ridge_command", "pls"]),
    ("encoder", ["src/encoder", "src/encoder/torch"], ["encoder"]),
    ("metrics", ["src/metrics"], ["odd_one_out", "noise_ceiling", "rsa", "weighted_rsa", "vpa"]),
    ("sweep", ["src/sweep"], ["plan", "grid", "scoring", "ceiling"]),
    ("run", ["src/run"], ["run", "cost", "scheduler", "status", "gather", "rsa_sweep", "job_files", "unit_kind",
                                "design"]),
    ("stitch", ["src/stitch"], ["stitch"]),
    ("submit", ["src/submit"], ["submit"]),
    ("features", ["src/features", "src/features/torch"], ["extract", "media", "text", "torch_model"]),
    ("demo", ["src/demo"], ["demo"]),
    ("python", ["src/python"], []),
    ("cli", ["src/cli"], []),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"brainsweep/([A-Za-z0-9_]+)\.hpp"', re.M)


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
    floor_of_header, floor_of_dir, problems = {}, {}, []
    for level, (name, dirs, headers) in enumerate(FLOORS):
        for h in headers:
            floor_of_header[h] = (level, name)
        for d in dirs:
            floor_of_dir[d] = (level, name)
    # every header and every source folder must be placed
    for h in sorted((root / "include/brainsweep").glob("*.hpp*")):
        stem = h.name.split(".")[0]
        if stem not in floor_of_header:
            problems.append(f"include/brainsweep/{h.name}: not placed on a floor in {__file__}")
    src_dirs = {str(p.parent.relative_to(root)) for p in (root / "src").rglob("*")
                if p.suffix in (".cpp", ".cu", ".hpp", ".cuh")}
    for d in sorted(src_dirs - set(floor_of_dir)):
        problems.append(f"{d}/: source folder not placed on a floor in {__file__}")

    files = []  # (file, owning floor)
    for d, floor in floor_of_dir.items():
        files += [(p, floor) for p in sorted((root / d).glob("*")) if p.suffix in (".cpp", ".cu", ".hpp", ".cuh")]
    files += [(root / "include/brainsweep" / f"{h}.hpp", f) for h, f in floor_of_header.items()
              if (root / "include/brainsweep" / f"{h}.hpp").exists()]
    checked = 0
    for path, (level, name) in files:
        for m in INCLUDE.finditer(path.read_text()):
            checked += 1
            target = floor_of_header.get(m.group(1))
            if target is None:
                problems.append(f"{path.relative_to(root)}: includes brainsweep/{m.group(1)}.hpp, which is on no floor")
            elif target[0] > level:
                problems.append(f"{path.relative_to(root)} (floor '{name}') includes brainsweep/{m.group(1)}.hpp "
                                f"of the higher floor '{target[1]}'")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"layering holds: {checked} includes in {len(files)} files over {len(FLOORS)} floors "
          f"({' < '.join(f[0] for f in FLOORS)})")


if __name__ == "__main__":
    main()
