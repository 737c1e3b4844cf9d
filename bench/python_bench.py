#!/usr/bin/python3
"""brainsweep.RidgeCV against `brainsweep ridge` and a numpy implementation of the same algorithm
(issue #15), on workload W1 of issue #3 (n 5000, p 2048, t 1000, alphas logspace(0, 6, 13), 5 folds,
primal; docs/performance.md), with the same BLAS threads.

Prints, per repeat and as medians:
- `brainsweep ridge`: its fit time (standardisation, CV, refit: `fit_s` of --timings) and wall time;
- RidgeCV.fit: wall time in Python (input checks, the copy into the engine, the fit, the fitted
  attributes) and the engine's own fit time; the Python layer's share = wall / CLI fit - 1;
- numpy: the eigendecomposition algorithm of ENCODING.md §3-4 in float64 (per fold: eigh of the
  training Gram, held-out predictions A (S + alpha)^-1 B for every alpha, Pearson r; refit), once;
and the agreement of the three (alphas, max |Δ cv score|).

Usage: PYTHONPATH=build/python bench/python_bench.py [--build build] [--threads 2] [--repeats 4]
       [--scale 1] (--scale 4: every size / 4, a smoke run)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--no-numpy", action="store_true", help="skip the numpy implementation")
    args = ap.parse_args()
    # BLAS threads for numpy too: set before numpy loads OpenBLAS
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import h5py
    import numpy as np

    sys.path.insert(0, os.path.join(args.build, "python"))
    import brainsweep

    exe = os.path.join(args.build, "brainsweep")
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([os.path.join(args.build, "brainsweep_bench"), "--workload", "W1", "--scale", str(args.scale),
                        "--save-h5", d], check=True, stdout=subprocess.DEVNULL)
        path = os.path.join(d, "W1.h5")
        with h5py.File(path) as f:
            X, Y, Xt = f["X"][()], f["Y"][()], f["Xt"][()]
        alphas = np.logspace(0, 6, 13)
        print(f"W1: n {X.shape[0]}, p {X.shape[1]}, t {Y.shape[1]}, test {Xt.shape[0]}, {len(alphas)} alphas, "
              f"5 folds, {args.threads} BLAS threads, brainsweep {brainsweep.__version__}")
        cli_fit, cli_wall, py_wall, py_engine = [], [], [], []

        def run_cli(rep):
            out = os.path.join(d, f"out{rep}.h5")
            t0 = time.perf_counter()
            r = subprocess.run([exe, "ridge", "--x-train", path + ":/X", "--y-train", path + ":/Y", "--x-test",
                                path + ":/Xt", "--alphas", ",".join(repr(float(a)) for a in alphas), "--threads",
                                str(args.threads), "--timings", "--out", out], check=True, capture_output=True, text=True)
            cli_wall.append(time.perf_counter() - t0)
            cli_fit.append(json.loads(r.stdout[r.stdout.index("{"):])["fit_s"])
            return out

        def run_py():
            t0 = time.perf_counter()
            m = brainsweep.RidgeCV(alphas=alphas, cv=5, threads=args.threads).fit(X, Y)
            py_wall.append(time.perf_counter() - t0)
            py_engine.append(m.fit_seconds_)
            return m

        # Pairs in alternating order: the second fit of a pair tends to be the slower one, and the
        # guest's speed drifts by up to ±20 % within minutes (docs/performance.md).
        for rep in range(args.repeats):
            if rep % 2 == 0:
                m, out = run_py(), run_cli(rep)
            else:
                out, m = run_cli(rep), run_py()
            print(f"  pair {rep + 1} ({'RidgeCV first' if rep % 2 == 0 else 'CLI first'}): brainsweep ridge fit "
                  f"{cli_fit[-1]:.2f} s (process {cli_wall[-1]:.2f} s); RidgeCV.fit {py_wall[-1]:.2f} s (engine "
                  f"{py_engine[-1]:.2f} s, Python layer {py_wall[-1] - py_engine[-1]:.3f} s); "
                  f"RidgeCV.fit / CLI fit {py_wall[-1] / cli_fit[-1]:.3f}", flush=True)
        with h5py.File(out) as f:
            cli_alphas, cli_scores = f["alphas"][()], f["cv_scores"][()]
        med = lambda v: float(np.median(v))  # noqa: E731
        print(f"median: brainsweep ridge fit {med(cli_fit):.2f} s; RidgeCV.fit {med(py_wall):.2f} s "
              f"(engine {med(py_engine):.2f} s); Python layer {med(np.subtract(py_wall, py_engine)):.3f} s = "
              f"{100 * med(np.subtract(py_wall, py_engine)) / med(py_engine):.1f} % of the fit; "
              f"RidgeCV.fit / CLI fit: median of pairs {med(np.divide(py_wall, cli_fit)):.3f}, of medians "
              f"{med(py_wall) / med(cli_fit):.3f}")
        print(f"RidgeCV vs brainsweep ridge: alphas identical on {np.mean(m.alphas_ == cli_alphas):.1%} of targets, "
              f"max |Δ cv score| {np.abs(m.cv_scores_ - cli_scores).max():.1e}")
        if args.no_numpy:
            return
        t0 = time.perf_counter()
        a_np, s_np = numpy_ridge_cv(X, Y, alphas, 5, np)
        np_s = time.perf_counter() - t0
        print(f"numpy (float64 eigh per fold, same algorithm): {np_s:.2f} s = {np_s / med(py_wall):.1f}× RidgeCV.fit; "
              f"alphas identical on {np.mean(a_np == m.alphas_):.1%} of targets, max |Δ cv score| "
              f"{np.abs(s_np - m.cv_scores_).max():.1e}")


def numpy_ridge_cv(X, Y, alphas, K, np):
    """ENCODING.md §2-4 in float64 numpy: z-score X, centre Y, contiguous folds; per fold the
    eigendecomposition of the training Gram, held-out predictions for every alpha, Pearson r; the
    best alpha per target (ties to the larger); refit on all rows. Returns (alphas, cv scores)."""
    X = X.astype(np.float64)
    Y = Y.astype(np.float64)
    mu, sd = X.mean(0), X.std(0)
    X = np.where(sd < 1e-8, 0.0, (X - mu) / np.where(sd < 1e-8, 1.0, sd))
    Y = Y - Y.mean(0)
    n = len(X)
    sizes = [n // K + (1 if k < n % K else 0) for k in range(K)]
    starts = np.cumsum([0] + sizes)
    bounds = [(starts[k], starts[k + 1]) for k in range(K)]
    scores = np.zeros((len(alphas), Y.shape[1]))
    for lo, hi in bounds:
        tr = np.r_[0:lo, hi:n]
        s, V = np.linalg.eigh(X[tr].T @ X[tr])
        B = V.T @ (X[tr].T @ Y[tr])
        A = X[lo:hi] @ V
        yt = Y[lo:hi] - Y[lo:hi].mean(0)
        for i, a in enumerate(alphas):
            P = A @ (B / (s + a)[:, None])
            P -= P.mean(0)
            den = np.sqrt((P * P).sum(0) * (yt * yt).sum(0))
            scores[i] += np.where(den > 0, (P * yt).sum(0) / np.where(den > 0, den, 1), 0) / K
    best = len(alphas) - 1 - np.argmax(scores[::-1], axis=0)  # ties to the larger alpha
    s, V = np.linalg.eigh(X.T @ X)
    B = V.T @ (X.T @ Y)
    chosen = np.asarray(alphas)[best]
    W = V @ (B / (s[:, None] + chosen[None, :]))  # the refit's weights (p × t), as the engine computes them
    del W
    return chosen, scores


if __name__ == "__main__":
    main()
