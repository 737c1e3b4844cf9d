#!/usr/bin/python3
"""`brainsweep ridge` on prepared matrices against the numpy reference of ENCODING.md §2-4.

Usage: test_ridge_command.py BRAINSWEEP_BINARY
"""
import os
import subprocess
import sys
import unittest

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import encoding_reference as ref  # noqa: E402
import e2e_util as e2e  # noqa: E402

BIN = None


def reference(X, Y, Xt, alphas, K):
    mu, sd = X.mean(0), X.std(0)
    dead = sd <= 1e-7 * np.abs(X).max(0)  # constant within float32 resolution (relative)
    z = lambda A: np.where(dead, 0.0, (A - mu) / np.where(dead, 1.0, sd))
    Xs, Xts, ymu = z(X), z(Xt), Y.mean(0)
    Yc = Y - ymu
    scores = np.zeros((len(alphas), Y.shape[1]))
    for test in ref.cv_folds([len(X)], K):
        fit = np.setdiff1d(np.arange(len(X)), test)
        W = ref.ridge_solver(Xs[fit], Yc[fit])
        for i, a in enumerate(alphas):
            scores[i] += ref.pearson(Xs[test] @ W(a), Yc[test])
    scores /= K
    best = ref.choose_alpha(scores)
    Wf = ref.ridge_solver(Xs, Yc)
    pred = np.column_stack([Xts @ Wf(alphas[b])[:, j] for j, b in enumerate(best)]) + ymu
    return np.asarray(alphas)[best], scores, pred


class RidgeCommand(e2e.TempDirTest):
    def data(self, n, p, t, m, seed):
        rng = np.random.default_rng(seed)
        X = (rng.standard_normal((n, p)) * np.arange(1, p + 1) ** -0.5).astype("f4")
        Xt = (rng.standard_normal((m, p)) * np.arange(1, p + 1) ** -0.5).astype("f4")
        B = rng.standard_normal((p, t))
        noise = np.logspace(-1, 1, t)
        Y = (X @ B + noise * rng.standard_normal((n, t)) + 5).astype("f4")
        Yt = (Xt @ B + noise * rng.standard_normal((m, t)) + 5).astype("f4")
        X[:, 3] = 2.0  # a zero-variance column
        Xt[:, 3] = 2.0
        path = os.path.join(self.d, "in.h5")
        with h5py.File(path, "w") as f:
            f["X"], f["Y"], f["Xt"], f["Yt"] = X, Y, Xt, Yt
        return path, X.astype("f8"), Y.astype("f8"), Xt.astype("f8"), Yt.astype("f8")

    def run_cmd(self, *args):
        return subprocess.run([BIN, "ridge", *args], capture_output=True, text=True)

    def check(self, n, p, t, solver, precision):
        path, X, Y, Xt, Yt = self.data(n, p, t, 60, seed=n + p)
        out = os.path.join(self.d, f"out-{solver}-{precision}.h5")
        r = self.run_cmd("--x-train", f"{path}:/X", "--y-train", f"{path}:/Y", "--x-test", f"{path}:/Xt",
                         "--y-test", f"{path}:/Yt", "--alphas", "logspace:-1:4:11", "--folds", "4",
                         "--solver", solver, "--precision", precision, "--out", out, "--timings")
        self.assertEqual(r.returncode, 0, r.stderr)
        alphas = np.logspace(-1, 4, 11)
        a_ref, s_ref, p_ref = reference(X, Y, Xt, alphas, 4)
        with h5py.File(out) as f:
            a, s, pred, test_r = f["alphas"][...], f["cv_scores"][...], f["predictions"][...], f["test_r"][...]
            self.assertEqual(f.attrs["solver"].decode(), solver)
        tol = 1e-6 if precision == "float64" else 1e-4
        self.assertLess(np.abs(s - s_ref).max(), tol)
        self.assertGreaterEqual(np.mean(np.isclose(a, a_ref, rtol=1e-9, atol=0)), 0.99)
        self.assertLess(np.abs(test_r - ref.pearson(p_ref, Yt)).max(), tol)
        self.assertLess(np.abs(pred - p_ref).max(), 1e-3 * np.abs(p_ref).max())

    def test_primal_mixed(self):
        self.check(200, 30, 12, "primal", "mixed")

    def test_dual_mixed(self):
        self.check(80, 150, 12, "dual", "mixed")

    def test_primal_float64(self):
        self.check(200, 30, 12, "primal", "float64")

    def test_tiny_units_are_not_constant_and_one_sample_folds_are_refused(self):
        """Issue #25: features scaled by 1e-9 keep their columns (relative constant-column rule) and give
        the unscaled fit's alphas and CV scores; folds of one held-out sample are refused, not scored 0."""
        path, X, Y, Xt, Yt = self.data(80, 6, 3, 20, seed=5)
        with h5py.File(path, "a") as f:
            f["Xs"], f["Xts"] = (X * 1e-9).astype(np.float32), (Xt * 1e-9).astype(np.float32)
        outs = {}
        for name in ("X", "Xs"):
            outs[name] = os.path.join(self.d, f"{name}.h5")
            r = self.run_cmd("--x-train", f"{path}:/{name}", "--y-train", f"{path}:/Y", "--x-test",
                             f"{path}:/{'Xt' if name == 'X' else 'Xts'}", "--y-test", f"{path}:/Yt", "--out", outs[name])
            self.assertEqual(r.returncode, 0, r.stderr)
        with h5py.File(outs["X"]) as a, h5py.File(outs["Xs"]) as b:
            np.testing.assert_array_equal(a["alphas"][()], b["alphas"][()])
            self.assertLess(np.abs(a["cv_scores"][()] - b["cv_scores"][()]).max(), 1e-4)
            self.assertGreater(np.abs(b["test_r"][()]).max(), 0.1)  # not the all-zero fit of dropped columns
        r = self.run_cmd("--x-train", f"{path}:/X", "--y-train", f"{path}:/Y", "--x-test", f"{path}:/Xt",
                         "--folds", "80", "--out", os.path.join(self.d, "one.h5"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("fold 0 holds 1 held-out samples of 80; a Pearson r needs at least 2 (use fewer folds: at most 40", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.d, "one.h5")))

    def test_empty_matrices_are_refused(self):
        path, X, Y, Xt, Yt = self.data(40, 4, 2, 10, seed=9)
        with h5py.File(path, "a") as f:
            f["Y0"], f["X0"], f["Xt0"] = np.zeros((40, 0), "f4"), np.zeros((40, 0), "f4"), np.zeros((10, 0), "f4")
        for x, y, xt, what in (("X", "Y0", "Xt", "Y0' (--y-train) is 40 × 0"), ("X0", "Y", "Xt0", "X0' (--x-train) is 40 × 0")):
            out = os.path.join(self.d, f"{x}{y}.h5")
            r = self.run_cmd("--x-train", f"{path}:/{x}", "--y-train", f"{path}:/{y}", "--x-test", f"{path}:/{xt}", "--out", out)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(f"dataset '/{what}; expected at least one row and one column", r.stderr)
            self.assertFalse(os.path.exists(out))

    def test_bad_input_exits_2_and_keeps_existing_output(self):
        path = self.data(50, 5, 2, 10, seed=1)[0]
        out = os.path.join(self.d, "exists.h5")
        with open(out, "w") as f:
            f.write("keep")
        base = ["--x-train", f"{path}:/X", "--y-train", f"{path}:/Y", "--x-test", f"{path}:/Xt"]
        r = self.run_cmd(*base, "--out", out)
        self.assertEqual(r.returncode, 2)
        self.assertIn("exists", r.stderr)
        self.assertEqual(open(out).read(), "keep")
        r = self.run_cmd(*base, "--alphas", "1,0", "--out", os.path.join(self.d, "a.h5"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("alphas", r.stderr)
        r = self.run_cmd("--x-train", f"{path}:/nope", "--y-train", f"{path}:/Y", "--x-test", f"{path}:/Xt",
                         "--out", os.path.join(self.d, "b.h5"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("dataset '/nope' not found", r.stderr)
        self.assertIn(path, r.stderr)
        r = self.run_cmd("--x-train", f"{path}:/X", "--y-train", f"{path}:/Xt", "--x-test", f"{path}:/Xt",
                         "--out", os.path.join(self.d, "c.h5"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("rows", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.d, "c.h5")))


if __name__ == "__main__":
    BIN = sys.argv.pop(1)
    unittest.main()
