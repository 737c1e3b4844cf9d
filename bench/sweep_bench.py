#!/usr/bin/python3
"""A sweep of Algonauts-size units end to end (issue #24): synthetic features and fMRI (4 subjects ×
1000 parcels, training episodes of ~480 TRs up to --n-train samples, one held-out episode), --units
units (feature layers × hrf delays × stimulus windows, drawn by the sweep's `sample`; the 4 subjects
share each unit's design), through `generate` →
`mpirun -n R run`, on each backend asked for in the same call: units per minute, and where the run
spends its time per phase, summed over units from the debug log of `run` (reading the features and
building the designs, reading the fMRI, centring, the ridge fit, the predictions, writing the job
files), beside plan-cost's prediction for the backend with rates fitted to these units' times
(bench/fit_cost_rates.py; in-sample: `plan-cost RUN --rates rates_<backend>.json` predicts other sweeps
on that machine, written with --keep DIR).

On the GPU machine (issue #24's figure; n 150 000 × p up to 8190 per unit by default):
    bench/sweep_bench.py --backends cuda,cpu --ranks-cuda 1 --ranks-cpu 16 --threads-cpu 1
Here (a smoke run of the same code at 1/50 of the size):
    bench/sweep_bench.py --backends cpu --scale 50

Usage: bench/sweep_bench.py [--build build] [--backends cpu,cuda] [--units 20] [--n-train 150000]
       [--width 2730] [--windows 1,2,3] [--parcels 1000] [--scale 1] [--ranks-cpu 2] [--threads-cpu 1]
       [--ranks-cuda 1] [--keep DIR]
(p = width × window columns per unit, up to 8190 by default; --scale divides n-train, width and parcels.)
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))
import e2e_util as e2e  # noqa: E402  (the flat synthetic layout's descriptor)
SUBJECTS = ["sub-01", "sub-02", "sub-03", "sub-05"]
PHASES = ["design", "fmri_train", "fmri_eval", "center", "ridge", "eval_pred", "test_pred", "slice", "eval_score",
          "h5_write"]
PHASE_RE = re.compile(r"phases \(s\): design (\S+) fmri_train (\S+) fmri_eval (\S+) center (\S+) \| ridge (\S+) = gram "
                      r"(\S+) decompose (\S+) cv (\S+) refit (\S+) other (\S+) \| eval_pred (\S+) test_pred (\S+) slice "
                      r"(\S+) eval_score (\S+) h5_write (\S+)")


def make_dataset(root, n_train, width, parcels, layers, episode_len=480):
    """Flat layout (tests/e2e/e2e_util.py's flat_descriptor): features/<model>/s/g/s_<episode>.h5 with `layers` datasets of
    `width` float16 columns, fmri/<subject>/<subject>_bold.h5 with float32 (T, parcels) runs."""
    rng = np.random.default_rng(24)
    n_ep = max(2, -(-n_train // episode_len))
    episodes = [f"run{k:03d}" for k in range(n_ep + 1)]  # the last one held out
    w = rng.standard_normal((8, parcels)).astype(np.float32)
    files = {}
    for s in SUBJECTS:
        (root / "fmri" / s).mkdir(parents=True, exist_ok=True)
        files[s] = h5py.File(root / "fmri" / s / f"{s}_bold.h5", "w")
    for ep in episodes:
        t = episode_len
        z = rng.standard_normal((t, 8)).astype(np.float32)
        d = root / "features" / "model" / "s" / "g"
        d.mkdir(parents=True, exist_ok=True)
        with h5py.File(d / f"s_{ep}.h5", "w") as f:
            mix = rng.standard_normal((8, width)).astype(np.float32)
            for layer in layers:
                f[layer] = (z @ mix + rng.standard_normal((t, width)).astype(np.float32)).astype(np.float16)
        for s, f in files.items():
            f[f"ses-001_task-{ep}"] = (z @ w + 2 * rng.standard_normal((t, parcels)).astype(np.float32))
    for f in files.values():
        f.attrs["parcel_names"] = np.array([f"parcel{i}" for i in range(parcels)], dtype="S")
        f.close()
    desc = e2e.flat_descriptor(str(root), "synthetic", 1.49)
    return desc, episodes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(HERE.parent / "build"))
    ap.add_argument("--backends", default="cpu", help="comma-separated: cpu, cuda (each timed on the same sweep)")
    ap.add_argument("--units", type=int, default=20)
    ap.add_argument("--n-train", type=int, default=150000)
    ap.add_argument("--width", type=int, default=2730, help="feature columns per layer")
    ap.add_argument("--windows", default="1,2,3", help="stimulus_window values: p = width × window (up to 8190)")
    ap.add_argument("--parcels", type=int, default=1000)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--ranks-cpu", type=int, default=2)
    ap.add_argument("--threads-cpu", type=int, default=1)
    ap.add_argument("--ranks-cuda", type=int, default=1)
    ap.add_argument("--keep")
    a = ap.parse_args()
    binary = Path(a.build).resolve() / "brainsweep"
    n_train, width, parcels = (max(8, int(v / a.scale)) for v in (a.n_train, a.width, a.parcels))
    hrfs = [2, 3]
    windows = [int(w) for w in a.windows.split(",")]
    n_layers = -(-a.units // (len(hrfs) * len(windows)))
    layers = [f"layer{k}" for k in range(n_layers)]
    root = Path(a.keep).resolve() if a.keep else Path(tempfile.mkdtemp(prefix="brainsweep-sweep-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        desc, episodes = make_dataset(root / "data", n_train, width, parcels, layers,
                                      episode_len=max(16, int(480 / max(1.0, a.scale ** 0.5))))
        print(f"dataset: {len(episodes) - 1} training episodes ({n_train} samples asked), {len(SUBJECTS)} subjects × "
              f"{parcels} parcels, {len(layers)} layers of {width} columns, windows {a.windows} (p up to {width * max(windows)}); "
              f"{time.perf_counter() - t0:.1f} s to write")
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader",
                   OMPI_MCA_rmaps_base_oversubscribe="1", SPDLOG_LEVEL="debug")
        rows = []
        for backend in a.backends.split(","):
            sweep = root / f"sweep_{backend}.yaml"
            feats = "\n".join(f"  - {{model: model, layers: [{layer}]}}" for layer in layers)
            sweep.write_text(f"""dataset: {desc}
atlas: none
subjects: [{", ".join(SUBJECTS)}]
features:
{feats}
grid: {{hrf_delay: [{", ".join(map(str, hrfs))}], stimulus_window: [{a.windows}]}}
sample: {{n: {a.units}, seed: 0}}
ridge: {{folds: 5, backend: {backend}}}
train: [{", ".join(episodes[:-1])}]
eval: {{val: [{episodes[-1]}]}}
""")
            run = root / f"run_{backend}"
            shutil.rmtree(run, ignore_errors=True)
            subprocess.run([binary, "generate", sweep, "--out", run], check=True, capture_output=True)
            cost = subprocess.run([binary, "plan-cost", run], capture_output=True, text=True).stdout
            ranks = a.ranks_cuda if backend == "cuda" else a.ranks_cpu
            renv = dict(env, OPENBLAS_NUM_THREADS=str(a.threads_cpu if backend == "cpu" else 1))
            t1 = time.perf_counter()
            r = subprocess.run(["mpirun", "-n", str(ranks), binary, "run", run], capture_output=True, text=True, env=renv)
            wall = time.perf_counter() - t1
            if r.returncode:
                sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
                raise SystemExit(f"run on {backend} failed (exit {r.returncode})")
            sums = defaultdict(float)
            n_units = 0
            for m in PHASE_RE.finditer(r.stdout + r.stderr):
                n_units += 1
                v = [float(x) for x in m.groups()]
                for name, x in zip(["design", "fmri_train", "fmri_eval", "center", "ridge", "gram", "decompose", "cv",
                                    "refit", "other", "eval_pred", "test_pred", "slice", "eval_score", "h5_write"], v):
                    sums[name] += x
            # the cost model on this backend: every unit's work (plan-cost --per-unit) and its measured
            # time (the `unit … unit X s` line of run) → rates fitted here (bench/fit_cost_rates.py) → plan-cost
            work = {}
            per_unit = subprocess.run([binary, "plan-cost", run, "--per-unit", "--ranks", str(ranks)],
                                      capture_output=True, text=True).stdout
            for line in per_unit.splitlines():
                f = line.split(",")
                if len(f) == 11 and f[0] != "unit_id":
                    work[f[0]] = (f[8], f[9], f[10])
            measured = dict(re.findall(r"unit (\w+) \(.*?unit (\d+\.\d+) s", r.stdout + r.stderr))
            csv_path = root / f"units_{backend}.csv"
            with open(csv_path, "w") as f:
                f.write("sweep,unit_id,gemm_flops,eig_cubes,stream,measured_s\n")
                for u, (g, e, st) in work.items():
                    if u in measured:
                        f.write(f"{backend},{u},{g},{e},{st},{measured[u]}\n")
            rates = root / f"rates_{backend}.json"
            fit = subprocess.run([sys.executable, str(HERE / "fit_cost_rates.py"), str(csv_path), "--json", str(rates),
                                  "--backend", backend, "--source",
                                  f"fitted by bench/sweep_bench.py to {len(measured)} units on {backend}"],
                                 capture_output=True, text=True)
            cost = subprocess.run([binary, "plan-cost", run, "--rates", str(rates), "--ranks", str(ranks)],
                                  capture_output=True, text=True).stdout if fit.returncode == 0 else ""
            predicted = re.search(rf"^\s+{ranks}\s+(\d+\.\d+) s", cost, re.M)
            if a.keep:
                print(f"{backend}: per-unit work and times in {csv_path}, fitted rates in {rates}")
            rows.append((backend, ranks, n_units, wall, sums, predicted.group(1) if predicted else "-"))
        print(f"{'backend':<8} {'ranks':>5} {'units':>5} {'wall s':>8} {'units/min':>10} {'fitted s':>11}  "
              "phases summed over units (s): read features+design | fMRI | centre | fit (gram/decompose/cv/refit) | "
              "predict | write")
        for backend, ranks, n, wall, s, pred in rows:
            print(f"{backend:<8} {ranks:>5} {n:>5} {wall:>8.2f} {60 * n / wall:>10.2f} {pred:>11}  "
                  f"{s['design']:.2f} | {s['fmri_train'] + s['fmri_eval']:.2f} | {s['center']:.2f} | {s['ridge']:.2f} "
                  f"({s['gram']:.2f}/{s['decompose']:.2f}/{s['cv']:.2f}/{s['refit']:.2f}) | "
                  f"{s['eval_pred'] + s['test_pred'] + s['slice'] + s['eval_score']:.2f} | {s['h5_write']:.2f}")
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
