#!/usr/bin/python3
"""Weighted RSA (issue #26 §5, docs/metrics.md "Weighted RSA"): `brainsweep wrsa` against the numpy
reference tests/reference/wrsa_reference.py (written from the page; its fitters reproduce rsatoolbox
f1f83cad's fit_regress / fit_regress_nn to 1e-15, recorded there with provenance):

- the 92-image data: the 8 model RDMs against the 16 behavioural subjects and the human IT ROI (2
  subjects, their sessions averaged), every row of every cv mode (folds, weights, mixture and single
  scores, ceilings, counts, mean rows) within 1e-7;
- the 50 Sherlock scenes: the scene RDMs that `rsa --sweep --save-rdms` writes (nested model groups),
  roi6's 8 subjects, 10 models;
- a closed form: subjects that are exactly a·d1 + b·d2 give the weights (a, b)/‖(a, b)‖ in every
  fold, r = 1 and a lower ceiling of 1;
- bad input (exit 2 naming the option, ROI or dataset; nothing written).

Usage: test_wrsa.py BRAINSWEEP RSA92_H5 SHERLOCK_DIR
"""
import math
import os
import subprocess
import sys
import unittest

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import wrsa_reference as ref  # noqa: E402
import e2e_util as e2e  # noqa: E402

BIN = RSA92 = SHERLOCK = None


def bs(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, cwd=SOURCE,
                          env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))


def num(s):
    return float(s) if s != "" else math.nan


class Wrsa(e2e.TempDirTest):
    def compare(self, got_rows, want_rows, tol=1e-7):
        """Rows matched by (roi, model, fit, fold); every column."""
        key = lambda r: (r["roi"], r["model"], r["fit"], str(r["fold"]))  # noqa: E731
        got = {key(r): r for r in got_rows}
        self.assertEqual(len(got), len(got_rows))
        self.assertEqual(len(got_rows), len(want_rows))
        for w in want_rows:
            g = got[key(w)]
            for col in ref.COLUMNS:
                if col in ("roi", "model", "fit", "fold"):
                    continue
                if col == "cv":
                    self.assertEqual(g[col], w[col])
                    continue
                a, b = num(g[col]), float(w[col])
                if math.isnan(b):
                    self.assertTrue(math.isnan(a), (key(w), col, g[col]))
                else:
                    self.assertAlmostEqual(a, b, delta=tol * max(1.0, abs(b)), msg=(key(w), col))

    def run_wrsa(self, *args):
        out = self.out()
        r = bs("wrsa", *args, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        return e2e.read_csv(out), r.stdout

    def test_rsa92_every_mode(self):
        with h5py.File(RSA92, "r") as f:
            models = {f"models/{k}": f["models"][k][()] for k in sorted(f["models"])}
            behaviour = [f["behaviour"][s][()] for s in sorted(f["behaviour"])]
            hit = [np.mean([f["hIT"][s][x][()].astype(float) for x in sorted(f["hIT"][s])], axis=0) for s in sorted(f["hIT"])]
        for cv, extra, kw in [("both", [], {}),
                              ("stimuli", ["--stimulus-folds", "7", "--ridge-weight", "0.5"],
                               {"stimulus_folds": 7, "ridge_weight": 0.5})]:
            with self.subTest(cv=cv):
                rows, report = self.run_wrsa("--rdms", RSA92, "--brain", "behaviour", "--brain", "hIT", "--model",
                                             "models", "--cv", cv, *extra)
                self.compare(rows, ref.wrsa(models, behaviour, cv=cv, roi="behaviour", **kw) +
                             ref.wrsa(models, hit, cv=cv, roi="hIT", **kw))
                self.assertIn("behaviour (16 subjects, 92 conditions, 8 models)", report)
        # leave one subject out on both ROIs
        rows, _ = self.run_wrsa("--rdms", RSA92, "--brain", "behaviour", "--brain", "hIT", "--model", "models",
                                "--cv", "subjects", "--fit", "nnls")
        want = ref.wrsa(models, behaviour, fits=("nnls",), cv="subjects", roi="behaviour") + \
            ref.wrsa(models, hit, fits=("nnls",), cv="subjects", roi="hIT")
        self.compare(rows, want)
        # 4 subject folds (shuffled) on the behavioural ROI
        rows, _ = self.run_wrsa("--rdms", RSA92, "--brain", "behaviour", "--model", "models", "--cv", "subjects",
                                "--subject-folds", "4", "--seed", "3")
        self.compare(rows, ref.wrsa(models, behaviour, cv="subjects", subject_folds=4, seed=3, roi="behaviour"))
        nnls = [float(r["weight"]) for r in rows if r["fit"] == "nnls" and r["weight"] != ""]
        self.assertTrue(min(nnls) >= 0 and any(w == 0 for w in nnls))
        ols = [float(r["weight"]) for r in rows if r["fit"] == "ols" and r["weight"] != ""]
        self.assertTrue(min(ols) < 0)  # RADON's OLS weight is negative: the constraint binds

    def test_sherlock_scene_rdms(self):
        rdms = os.path.join(self.d, "scenes.h5")
        r = bs("rsa", "--sweep", "sweeps/sherlock_rsa.yaml", "--events",
               os.path.join(SHERLOCK, "events", "{episode}_events.tsv"), "--set", "train,test", "--distance",
               "euclidean", "--bootstrap", "0", "--permutations", "0", "--out", os.path.join(self.d, "rsa.csv"),
               "--save-rdms", rdms)
        self.assertEqual(r.returncode, 0, r.stderr)
        with h5py.File(rdms, "r") as f:
            models = {}
            f["models"].visititems(lambda name, obj: models.__setitem__("models/" + name, obj[()])
                                   if isinstance(obj, h5py.Dataset) else None)
            subjects = [f["subjects/roi6"][s][()] for s in sorted(f["subjects/roi6"])]
        self.assertEqual(len(models), 10)
        rows, report = self.run_wrsa("--rdms", rdms, "--brain", "subjects/roi6", "--model", "models",
                                     "--stimulus-folds", "4")
        self.compare(rows, ref.wrsa(dict(sorted(models.items())), subjects, stimulus_folds=4, roi="subjects/roi6"))
        self.assertIn("32 folds (subjects × conditions)", report)

    def test_closed_form(self):
        rng = np.random.default_rng(5)
        n = 15
        iu = np.triu_indices(n, 1)

        def square(v):
            m = np.zeros((n, n))
            m[iu] = v
            return m + m.T
        d1, d2, d3 = (rng.random(len(iu[0])) for _ in range(3))
        path = os.path.join(self.d, "closed.h5")
        with h5py.File(path, "w") as f:
            f["m/d1"], f["m/d2"], f["m/d3"] = square(d1), square(d2), square(d3)
            for s in range(4):  # each subject an affine transform of 0.6·d1 + 0.8·d2
                f[f"roi/s{s}"] = square((1 + s) * (0.6 * d1 + 0.8 * d2) + s)
        rows, _ = self.run_wrsa("--rdms", path, "--brain", "roi", "--model", "m", "--stimulus-folds", "3")
        for r in rows:
            if r["fit"] in ("ols", "nnls") and r["model"] != "weighted":
                want = {"m/d1": 0.6, "m/d2": 0.8, "m/d3": 0.0}[r["model"]]
                self.assertAlmostEqual(float(r["weight"]), want, delta=1e-9)
            if r["model"] == "weighted":
                self.assertAlmostEqual(float(r["similarity"]), 1.0, delta=1e-9)
                self.assertAlmostEqual(float(r["ceiling_lower"]), 1.0, delta=1e-9)
                self.assertAlmostEqual(float(r["percent_of_ceiling"]), 100.0, delta=1e-6)

    def test_refusals(self):
        path = os.path.join(self.d, "bad.h5")
        rng = np.random.default_rng(1)
        n = 12

        def rdm():
            m = rng.random((n, n))
            m = m + m.T
            np.fill_diagonal(m, 0)
            return m
        with h5py.File(path, "w") as f:
            f["m/a"], f["m/b"] = rdm(), rdm()
            f["flat/c"] = np.ones((n, n)) - np.eye(n)
            f["one/s0"] = rdm()
            for s in range(3):
                f[f"roi/s{s}"] = rdm()
        base = ["wrsa", "--rdms", path, "--brain", "roi", "--model", "m"]
        cases = [
            (["wrsa", "--rdms", path, "--brain", "one", "--model", "m"], "--brain one: 1 subject"),
            (base + ["--cv", "subjects", "--subject-folds", "1"], "--subject-folds: expected 2 … 3"),
            (base + ["--cv", "subjects", "--subject-folds", "4"], "--subject-folds: expected 2 … 3"),
            (base + ["--stimulus-folds", "5"], "--stimulus-folds 5: 12 conditions leave a fold 2"),
            (base + ["--stimulus-folds", "1"], "--stimulus-folds: expected at least 2"),
            (base + ["--fit", "ols,lasso"], "--fit: expected ols or nnls"),
            (base + ["--cv", "runs"], "--cv: expected subjects, stimuli or both"),
            (base + ["--ridge-weight", "-1"], "--ridge-weight: expected ≥ 0"),
            (["wrsa", "--rdms", path, "--brain", "roi", "--model", "flat"], "model 'flat/c' is a constant RDM"),
            (["wrsa", "--rdms", path, "--brain", "roi", "--model", "nope"], "--model 'nope' not found"),
        ]
        for args, message in cases:
            with self.subTest(args=args[5:]):
                out = self.out()
                r = bs(*args, "--out", out)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(message, r.stderr)
                self.assertFalse(os.path.exists(out))
        out = self.out()
        with open(out, "w") as f:
            f.write("keep")
        r = bs(*base, "--out", out)
        self.assertEqual(r.returncode, 2)
        self.assertIn("exists; refusing to overwrite", r.stderr)
        with open(out) as f:
            self.assertEqual(f.read(), "keep")


if __name__ == "__main__":
    BIN, RSA92, SHERLOCK = sys.argv[1], sys.argv[2], sys.argv[3]
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:])
