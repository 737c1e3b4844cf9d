#!/usr/bin/python3
"""Every precision that brainsweep offers agrees with float64 (issue #25): the Sherlock pmc481 sweep
(80 jobs × 8 subjects × 481 voxels) through generate → run, `brainsweep ridge` and
brainsweep.RidgeCV on its worst-conditioned design (topic_model t100), and the W1 benchmark
workload; alphas identical on >= 99 % of targets, |Δ r| <= 1e-3 (CV and held-out). On the cpu backend
always; on cuda too where a GPU is visible (and then required when BRAINSWEEP_REQUIRE_GPU=1).
`precision: float32` is refused with the reason, exit 2, in the sweep, the command and Python.

Usage: test_precision.py BRAINSWEEP_BINARY BRAINSWEEP_BENCH SHERLOCK_DIR
"""
import os
import re
import subprocess
import sys
import unittest

import h5py
import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as e2e  # noqa: E402

BIN = BENCH = SHERLOCK = None
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader")
KEY = ["model", "layers", "hrf_delay", "stimulus_window", "subject", "parcel", "eval_set"]


def gpu_backends():
    """["cpu"] plus "cuda" when the module's RidgeCV can fit on it; BRAINSWEEP_REQUIRE_GPU=1 makes a
    missing GPU a failure."""
    import brainsweep
    try:
        brainsweep.RidgeCV(cv=2, backend="cuda").fit(np.eye(8, 2), np.arange(8.0))
        return ["cpu", "cuda"]
    except RuntimeError as e:
        if os.environ.get("BRAINSWEEP_REQUIRE_GPU") == "1":
            raise AssertionError(f"BRAINSWEEP_REQUIRE_GPU=1 but cuda is not usable: {e}")
        return ["cpu"]


def agreement(a, b):
    """(share of identical alphas, max |Δ cv_r|, max |Δ eval_r|) of two results.csv frames."""
    m = a.merge(b, on=KEY, suffixes=("", "_o"))
    assert len(m) == len(a) == len(b), (len(m), len(a), len(b))
    same = np.isclose(m.alpha, m.alpha_o, rtol=1e-9, atol=0).mean()
    return same, (m.cv_r - m.cv_r_o).abs().max(), (m.eval_r - m.eval_r_o).abs().max()


class Precision(e2e.TempDirTest):
    def sweep(self, precision, backend="cpu"):
        y = e2e.sherlock_sweep(os.path.join(self.d, f"{precision}_{backend}.yaml"), SHERLOCK, atlas="pmc481")
        with open(y) as f:
            text = f.read().replace("ridge: {folds: 5}", f"ridge: {{folds: 5, precision: {precision}, backend: {backend}}}")
        with open(y, "w") as f:
            f.write(text)
        run = os.path.join(self.d, f"run_{precision}_{backend}")
        g = subprocess.run([BIN, "generate", y, "--out", run], capture_output=True, text=True, env=ENV)
        return g, run, y

    def test_sweep_every_precision_and_backend_agrees_with_cpu_float64(self):
        g, ref_run, _ = self.sweep("float64")
        self.assertEqual(g.returncode, 0, g.stderr)
        subprocess.run([BIN, "run", ref_run], check=True, capture_output=True, env=ENV)
        ref = pd.read_csv(f"{ref_run}/results.csv")
        self.assertEqual(len(ref), 80 * 481)
        for backend in gpu_backends():
            for precision in ("mixed", "float64"):
                if (backend, precision) == ("cpu", "float64"):
                    continue
                g, run, _ = self.sweep(precision, backend)
                self.assertEqual(g.returncode, 0, g.stderr)
                subprocess.run(["mpirun", "-n", "2", BIN, "run", run], check=True, capture_output=True, env=ENV)
                same, dcv, deval = agreement(ref, pd.read_csv(f"{run}/results.csv"))
                print(f"sherlock pmc481 {backend} {precision} vs cpu float64: alphas identical {100 * same:.2f} %, "
                      f"max |Δ cv_r| {dcv:.2e}, max |Δ eval_r| {deval:.2e}")
                self.assertGreaterEqual(same, 0.99, (backend, precision))
                self.assertLessEqual(dcv, 1e-3, (backend, precision))
                self.assertLessEqual(deval, 1e-3, (backend, precision))

    def test_float32_refused_by_the_sweep_with_the_reason(self):
        g, run, y = self.sweep("float32")
        self.assertEqual(g.returncode, 2, g.stderr)
        self.assertIn(f"{y}:", g.stderr)
        self.assertIn("key 'ridge.precision': float32 refused", g.stderr)
        self.assertIn("use mixed", g.stderr)
        self.assertFalse(os.path.exists(run))

    def topic_model(self):
        d = SHERLOCK
        x = h5py.File(f"{d}/features/topic_model/movies/sherlock/movies_sherlock01.h5")["t100"][:].astype(np.float32)
        xt = h5py.File(f"{d}/features/topic_model/movies/sherlock/movies_sherlock02.h5")["t100"][:].astype(np.float32)
        f = h5py.File(f"{d}/fmri/sub-06/func/sub-06_task-sherlock_space-MNI152_atlas-pmc481_bold.h5")
        return x, f["ses-001_task-sherlock01"][:], xt, f["ses-001_task-sherlock02"][:]

    def test_ridge_command(self):
        x, y, xt, yt = self.topic_model()
        path = os.path.join(self.d, "m.h5")
        with h5py.File(path, "w") as f:
            f["X"], f["Y"], f["Xt"], f["Yt"] = x, y, xt, yt
        out = {}
        for backend in gpu_backends():
            for precision in ("float64", "mixed", "float32"):
                o = os.path.join(self.d, f"{backend}_{precision}.h5")
                r = subprocess.run([BIN, "ridge", "--x-train", f"{path}:/X", "--y-train", f"{path}:/Y", "--x-test",
                                    f"{path}:/Xt", "--y-test", f"{path}:/Yt", "--precision", precision,
                                    "--backend", backend, "--out", o], capture_output=True, text=True, env=ENV)
                if precision == "float32":
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn("precision 'float32': refused", r.stderr)
                    self.assertFalse(os.path.exists(o))
                    continue
                self.assertEqual(r.returncode, 0, r.stderr)
                with h5py.File(o) as f:
                    out[backend, precision] = {k: f[k][:] for k in ("alphas", "cv_scores", "test_r")}
        ref = out["cpu", "float64"]
        for key, o in out.items():
            same = (o["alphas"] == ref["alphas"]).mean()
            self.assertGreaterEqual(same, 0.99, key)
            self.assertLessEqual(np.abs(o["cv_scores"] - ref["cv_scores"]).max(), 1e-3, key)
            self.assertLessEqual(np.abs(o["test_r"] - ref["test_r"]).max(), 1e-3, key)

    def test_python_ridgecv(self):
        import brainsweep
        x, y, xt, yt = self.topic_model()
        ref = brainsweep.RidgeCV(precision="float64").fit(x, y)
        for backend in gpu_backends():
            m = brainsweep.RidgeCV(precision="mixed", backend=backend).fit(x, y)
            self.assertGreaterEqual((m.alphas_ == ref.alphas_).mean(), 0.99)
            self.assertLessEqual(np.abs(m.cv_scores_ - ref.cv_scores_).max(), 1e-3)
            self.assertLessEqual(abs(m.score(xt, yt) - ref.score(xt, yt)), 1e-3)
        with self.assertRaisesRegex(ValueError, r"^precision: 'float32' is refused: .*use mixed"):
            brainsweep.RidgeCV(precision="float32").fit(x, y)

    def test_w1_mixed_agrees_with_float64(self):
        for backend in gpu_backends():
            r = subprocess.run([BENCH, "--workload", "W1", "--repeats", "1", "--backend", backend],
                               capture_output=True, text=True, check=True)
            m = re.search(r"alphas identical on ([\d.]+) % of targets, max \|test r diff\| ([\d.e+-]+)", r.stdout)
            self.assertIsNotNone(m, r.stdout)
            print(f"W1 {backend} mixed vs float64: alphas identical {m.group(1)} %, max |Δ test r| {m.group(2)}")
            self.assertGreaterEqual(float(m.group(1)), 99.0)
            self.assertLessEqual(float(m.group(2)), 1e-3)


if __name__ == "__main__":
    BIN, BENCH, SHERLOCK = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
    sys.path.insert(0, os.path.join(os.path.dirname(BIN), "python"))
    unittest.main(argv=sys.argv[:1], verbosity=2)
