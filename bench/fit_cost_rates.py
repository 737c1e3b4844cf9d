#!/usr/bin/env python3
"""Fit the cost model's machine rates (cost.hpp MachineRates) to measured unit times.

Reads the per-unit CSV of bench/cost_model.sh (gemm_flops, eig_cubes, stream, measured_s) and solves
  measured ≈ overhead + gemm_flops / gemm_rate + eig_cubes / eig_rate + stream / stream_rate
by non-negative least squares on relative errors (every unit weighs the same, small or large).
Prints the rates and, per sweep, predicted vs measured totals.
With --eig-rate R the dsyevd rate is fixed at R (m³/s, e.g. from `plan-cost --calibrate`) and only
the other rates are fitted: the benchmark's sweeps spend little time in eigendecompositions, so a free
fit can put any rate there, which then mispredicts units with large p.
With --json OUT the rates are also written for `plan-cost --rates OUT` (with --backend cpu|cuda, the
backend the units ran on, and --source TEXT, where they were measured).
Usage: /usr/bin/python3 bench/fit_cost_rates.py bench/cost_model.csv [more.csv ...] [--eig-rate R]
       [--json OUT --backend cuda --source "20 units on an H200"]
"""
import json
import csv
import sys

import numpy as np
from scipy.optimize import nnls

args = sys.argv[1:]
opts = {}
for key in ("--json", "--backend", "--source"):
    if key in args:
        i = args.index(key)
        opts[key] = args[i + 1]
        del args[i:i + 2]
eig_rate = None
if "--eig-rate" in args:
    i = args.index("--eig-rate")
    eig_rate = float(args[i + 1])
    del args[i:i + 2]
rows = [r for path in args for r in csv.DictReader(open(path))]
A = np.array([[1.0, float(r["gemm_flops"]), float(r["eig_cubes"]), float(r["stream"])] for r in rows])
y = np.array([float(r["measured_s"]) for r in rows])
free = [0, 1, 3] if eig_rate else [0, 1, 2, 3]
target = y - (A[:, 2] / eig_rate if eig_rate else 0.0)
scale = A[:, free].max(axis=0)
sol, _ = nnls(A[:, free] / scale / y[:, None], target / y)
coef = np.zeros(4)
coef[free] = sol / scale
if eig_rate:
    coef[2] = 1 / eig_rate
pred = A @ coef
rate = lambda c: float("inf") if c == 0 else 1 / c
print(f"unit_overhead_s  {coef[0]:.4g}")
print(f"gemm_flops_per_s {rate(coef[1]):.4g}")
print(f"eig_cubes_per_s  {rate(coef[2]):.4g}")
print(f"stream_per_s     {rate(coef[3]):.4g}")
print(f"per-unit relative error: median {np.median(np.abs(pred / y - 1)):.1%}, max {np.max(np.abs(pred / y - 1)):.1%}")
for s in dict.fromkeys(r["sweep"] for r in rows):
    idx = [i for i, r in enumerate(rows) if r["sweep"] == s]
    print(f"{s:6s} predicted {pred[idx].sum():8.2f} s  measured (sum of units) {y[idx].sum():8.2f} s")
if "--json" in opts:
    def finite(c):
        return "inf" if c == 0 else 1 / c
    with open(opts["--json"], "w") as f:
        json.dump({"gemm_flops_per_s": finite(coef[1]), "eig_cubes_per_s": finite(coef[2]),
                   "stream_per_s": finite(coef[3]), "unit_overhead_s": float(coef[0]),
                   "backend": opts.get("--backend", "cpu"),
                   "source": opts.get("--source", f"fitted by bench/fit_cost_rates.py to {len(rows)} units")}, f, indent=1)
    print(f"wrote {opts['--json']}")
