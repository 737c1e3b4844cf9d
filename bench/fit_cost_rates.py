#!/usr/bin/env python3
"""Fit the cost model's machine rates (cost.hpp MachineRates) to measured unit times.

Reads the per-unit CSV of bench/cost_model.sh (gemm_flops, eig_cubes, stream, measured_s) and solves
  measured ≈ overhead + gemm_flops / gemm_rate + eig_cubes / eig_rate + stream / stream_rate
by non-negative least squares on relative errors (every unit weighs the same, small or large).
Prints the rates and, per sweep, predicted vs measured totals.
Usage: /usr/bin/python3 bench/fit_cost_rates.py bench/cost_model.csv
"""
import csv
import sys

import numpy as np
from scipy.optimize import nnls

rows = list(csv.DictReader(open(sys.argv[1])))
A = np.array([[1.0, float(r["gemm_flops"]), float(r["eig_cubes"]), float(r["stream"])] for r in rows])
y = np.array([float(r["measured_s"]) for r in rows])
scale = A.max(axis=0)
coef, _ = nnls(A / scale / y[:, None], np.ones_like(y))
coef = coef / scale
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
