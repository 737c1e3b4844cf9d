#!/usr/bin/python3
"""PLS encoders (issue #26 §6, docs/ridge-engine.md "PLS encoding"): a sweep's `pls:` fits, beside
every plain feature set's ridge job, a PLS regression whose number of components is chosen per
parcel by the sweep's CV. On Sherlock (3 subjects, annotations and LSA at windows 1 and 3, trained on
scan 1, scored on scan 2), against scikit-learn's PLSRegression (scale=True, NIPALS; tol 1e-12) fed
the design that tests/reference/encoding_reference.py builds (ENCODING.md §1-2) and the same folds:

- per job and parcel the CV score of every count (mean over folds of the held-out Pearson r), the
  count chosen (highest score, ties to fewer) and its cv_r; the held-out predictions of scan 2 from
  the refit with the parcel's count, and their eval r;
- results.csv (alpha empty for PLS jobs), results_pls.csv, and `stitch` choosing among ridge and PLS
  jobs by cv_r;
- BBScore's literature variant (Yamins et al. 2014): `components: [25]` fixes 25 components, the
  predictions equal PLSRegression(25);
- a closed form: with as many components as the design's rank (< rows), PLS predicts what ordinary
  least squares does (and a count above the rank stops there: no blow-up);
- `mpirun -n 2 run` writes the same results.csv and results_pls.csv as one rank;
- bad input: counts < 1 or listed twice, `pls:` without a plain feature set, a count no fold can fit
  (exit 2 naming the key).

Usage: test_pls.py BRAINSWEEP SHERLOCK_DIR
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np
from sklearn.cross_decomposition import PLSRegression

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import encoding_reference as ref  # noqa: E402
import e2e_util as e2e  # noqa: E402

BIN = SHERLOCK = None


def bs(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, cwd=SOURCE,
                          env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))


def sweep_text(components, features, subjects="[sub-01, sub-02, sub-03]", windows="[1, 3]"):
    return f"""dataset: {SOURCE}/configs/datasets/sherlock.yaml
dataset_root: {SHERLOCK}
atlas: roi6
subjects: {subjects}
features:
{features}
grid: {{hrf_delay: [0], stimulus_window: {windows}}}
ridge: {{folds: 5}}
pls: {{components: {components}}}
train: [sherlock01]
eval: {{test: [sherlock02]}}
"""


class Cleaned:
    """scikit-learn's PLSRegression on X with its constant columns zeroed (SD ≤ 1e-7 of the column's
    largest |value| on the rows fitted), the one rule brainsweep adds (docs/ridge-engine.md: scikit-
    learn divides a constant column's rounding residue, SD ~1e-16, by that SD)."""

    def __init__(self, k, X, Y):
        Xc = X - X.mean(0)
        self.const = Xc.std(0, ddof=1) <= 1e-7 * np.abs(X).max(0)
        self.model = PLSRegression(n_components=k, scale=True, tol=1e-12, max_iter=10000).fit(self.clean(X), Y)

    def clean(self, X):
        X = X.copy()
        X[:, self.const] = 0.0
        return X

    def predict(self, X):
        return self.model.predict(self.clean(X))


def sk_pls(k, X, Y):
    return Cleaned(k, X, Y)


def design_of(plan, job):
    """Standardised training design, centred training fMRI, run lengths, and scan 2's design and fMRI
    (encoding_reference's ENCODING.md §1-2 steps, the PLS job's one band as the feature set)."""
    band = job["bands"][0]
    subj, hrf, win = job["subject"], int(job["hrf_delay"]), int(job["stimulus_window"])
    fmri = plan["fmri"][subj]

    def episode(ep):
        Y = ref.load_dataset(fmri[ep]["file"], fmri[ep]["dataset"])
        return ref.design(plan, band["model"], band["layers"], ep, len(Y), hrf, win), Y
    Xtr, Ytr = episode(plan["train"][0])
    mu, sd = Xtr.mean(0), Xtr.std(0)
    dead = sd <= 1e-7 * np.abs(Xtr).max(0)

    def z(X):
        Z = (X - mu) / np.where(dead, 1.0, sd)
        Z[:, dead] = 0.0
        return Z
    Xe, Ye = episode(plan["eval"][0]["episodes"][0])
    return z(Xtr), Ytr - Ytr.mean(0), Ytr.mean(0), [len(Ytr)], z(Xe), Ye


def run_sweep(d, text, name):
    """Write the sweep `text` to d/<name>.yaml, generate and run it (one rank); (run dir, plan)."""
    sweep = os.path.join(d, f"{name}.yaml")
    with open(sweep, "w") as f:
        f.write(text)
    run = os.path.join(d, f"run_{name}")
    for cmd in (("generate", sweep, "--out", run), ("run", run)):
        r = bs(*cmd)
        assert r.returncode == 0, r.stderr
    with open(os.path.join(run, "plan.json")) as f:
        return run, json.load(f)


class Pls(e2e.TempDirTest):
    @classmethod
    def setUpClass(cls):
        cls.tmpc = tempfile.TemporaryDirectory()
        cls.sweep = os.path.join(cls.tmpc.name, "pls.yaml")
        with open(cls.sweep, "w") as f:
            f.write(sweep_text("[1, 2, 5, 10, 20]", "  - {model: annotations, layers: [all]}\n"
                                                   "  - {model: description_lsa, layers: [lsa64]}"))
        cls.run_dir = os.path.join(cls.tmpc.name, "run")
        for cmd in (("generate", cls.sweep, "--out", cls.run_dir), ("run", cls.run_dir)):
            r = bs(*cmd)
            assert r.returncode == 0, r.stderr
        with open(os.path.join(cls.run_dir, "plan.json")) as f:
            cls.plan = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.tmpc.cleanup()

    def test_against_sklearn(self):
        jobs = [j for j in self.plan["jobs"] if j.get("estimator") == "pls"]
        self.assertEqual(len(jobs), 12)  # 2 feature sets × 2 windows × 3 subjects
        options = [1, 2, 5, 10, 20]
        pls_rows = e2e.read_csv(os.path.join(self.run_dir, "results_pls.csv"))
        results = e2e.read_csv(os.path.join(self.run_dir, "results.csv"))
        for job in jobs:
            with self.subTest(job=job["layers"][0], window=job["stimulus_window"], subject=job["subject"]):
                X, Y, ymu, lengths, Xe, Ye = design_of(self.plan, job)
                folds = ref.cv_folds(lengths, 5)
                scores = np.zeros((len(options), Y.shape[1]))
                for test in folds:
                    fit = np.setdiff1d(np.arange(len(X)), test)
                    for o, k in enumerate(options):
                        scores[o] += ref.pearson(sk_pls(k, X[fit], Y[fit]).predict(X[test]), Y[test]) / len(folds)
                with h5py.File(os.path.join(self.run_dir, "jobs", job["job_id"] + ".h5"), "r") as f:
                    np.testing.assert_allclose(f["pls_cv_scores"][()], scores, atol=2e-5)
                    chosen = f["n_components"][()].astype(int)
                    cv_r = f["cv_r"][()]
                    pred = f["predictions"]["sherlock02"][()]
                    self.assertTrue(np.all(np.isnan(f["alpha"][()])))
                    solver = f.attrs["solver"]
                    self.assertEqual(solver.decode() if isinstance(solver, bytes) else solver, "pls")
                # the count: highest score, ties to fewer (exact ties do not occur here; a margin of
                # 1e-4 keeps float32 designs from flipping near-ties)
                for j in range(Y.shape[1]):
                    best = int(np.argmax(scores[:, j]))
                    second = np.sort(scores[:, j])[-2]
                    if scores[best, j] - second > 1e-4:
                        self.assertEqual(chosen[j], options[best])
                    self.assertAlmostEqual(cv_r[j], scores[options.index(chosen[j]), j], delta=2e-5)
                    want = sk_pls(int(chosen[j]), X, Y).predict(Xe)[:, j] + ymu[j]
                    np.testing.assert_allclose(pred[:, j], want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
                mine = [r for r in pls_rows if r["job_id"] == job["job_id"]]
                self.assertEqual([int(r["n_components"]) for r in mine], list(chosen))
                rows = [r for r in results if r["job_id"] == job["job_id"]]
                self.assertEqual({r["model"] for r in rows}, {"pls"})
                self.assertEqual({r["alpha"] for r in rows}, {""})
                eval_r = ref.pearson(pred, Ye)
                np.testing.assert_allclose([float(r["eval_r"]) for r in rows], eval_r, atol=1e-6)

    def test_identical_on_2_ranks(self):
        """The PLS sweep through `mpirun -n 2 run`: results.csv and results_pls.csv byte for byte those of
        one rank (a PLS unit is a plan unit: scheduled, fitted and written like ridge's)."""
        run = os.path.join(self.d, "run2")
        self.assertEqual(bs("generate", self.sweep, "--out", run).returncode, 0)
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader",
                   OPENBLAS_NUM_THREADS="1")
        r = subprocess.run(["mpirun", "--oversubscribe", "-n", "2", BIN, "run", run], capture_output=True, text=True,
                           cwd=SOURCE, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in ("results.csv", "results_pls.csv"):
            with open(os.path.join(run, name)) as a, open(os.path.join(self.run_dir, name)) as b:
                self.assertEqual(a.read(), b.read(), name)

    def test_python_reader(self):
        sys.path.insert(0, os.path.join(os.path.dirname(BIN), "python"))
        import brainsweep
        df = brainsweep.read_pls(self.run_dir)
        self.assertEqual(list(df.columns), ["job_id", "feature_set", "hrf_delay", "stimulus_window", "subject", "parcel",
                                            "n_components", "cv_r"])
        self.assertEqual(len(df), 12 * 6)
        self.assertTrue(set(df.n_components) <= {1, 2, 5, 10, 20})
        self.assertEqual(df.cv_r.dtype, np.float64)
        with self.assertRaisesRegex(ValueError, "not a brainsweep run directory"):
            brainsweep.read_pls(self.d)

    def test_stitch_chooses_among_ridge_and_pls(self):
        r = bs("stitch", self.run_dir, "--select", "cv", "--top-k", "1", "--eval", "test")
        self.assertEqual(r.returncode, 0, r.stderr)
        results = e2e.read_csv(os.path.join(self.run_dir, "results.csv"))
        best = {}
        for row in results:
            key = (row["subject"], row["parcel"])
            if key not in best or float(row["cv_r"]) > float(best[key]["cv_r"]):
                best[key] = row
        self.assertTrue(any(b["model"] == "pls" for b in best.values()))
        self.assertTrue(any(b["model"] != "pls" for b in best.values()))
        self.assertIn("pls/", r.stdout + open(os.path.join(self.run_dir, "stitched", "winners.csv")).read()
                      if os.path.exists(os.path.join(self.run_dir, "stitched", "winners.csv")) else r.stdout)

    def test_many_parcels(self):
        """481 parcels × 192 columns (LSA at window 3; p·t far above p + t, where scikit-learn's power
        method needs many iterations and PLS2's components mix many targets), against scikit-learn."""
        run, plan = run_sweep(self.d, sweep_text("[2, 5]", "  - {model: description_lsa, layers: [lsa64]}", "[sub-03]",
                                                 "[3]").replace("atlas: roi6", "atlas: pmc481"), "pmc")
        job = [j for j in plan["jobs"] if j.get("estimator") == "pls"][0]
        X, Y, ymu, lengths, Xe, _ = design_of(plan, job)
        self.assertEqual(Y.shape[1], 481)
        scores = np.zeros((2, Y.shape[1]))
        for test in ref.cv_folds(lengths, 5):
            fit = np.setdiff1d(np.arange(len(X)), test)
            for o, k in enumerate([2, 5]):
                scores[o] += ref.pearson(sk_pls(k, X[fit], Y[fit]).predict(X[test]), Y[test]) / 5
        with h5py.File(os.path.join(run, "jobs", job["job_id"] + ".h5"), "r") as f:
            np.testing.assert_allclose(f["pls_cv_scores"][()], scores, atol=1e-4)
            pred = f["predictions"]["sherlock02"][()]
            chosen = f["n_components"][()].astype(int)
        for k in (2, 5):
            cols = chosen == k
            want = sk_pls(k, X, Y).predict(Xe)[:, cols] + ymu[cols]
            np.testing.assert_allclose(pred[:, cols], want, rtol=1e-3, atol=1e-3 * np.abs(want).max())

    def test_fixed_25_components(self):
        run, plan = run_sweep(self.d, sweep_text("[25]", "  - {model: description_lsa, layers: [lsa64]}", "[sub-02]", "[1]"),
                              "p25")
        job = [j for j in plan["jobs"] if j.get("estimator") == "pls"][0]
        X, Y, ymu, _, Xe, _ = design_of(plan, job)
        with h5py.File(os.path.join(run, "jobs", job["job_id"] + ".h5"), "r") as f:
            self.assertEqual(set(f["n_components"][()].astype(int)), {25})
            pred = f["predictions"]["sherlock02"][()]
        want = sk_pls(25, X, Y).predict(Xe) + ymu
        np.testing.assert_allclose(pred, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())

    def test_all_components_is_ols(self):
        job = [j for j in self.plan["jobs"] if j.get("estimator") == "pls" and j["stimulus_window"] == 1
               and j["bands"][0]["model"] == "annotations"][0]
        X, Y, ymu, _, Xe, _ = design_of(self.plan, job)
        live = X.std(0) > 0
        p = int(np.linalg.matrix_rank(X[:, live] - X[:, live].mean(0)))  # collinear annotation columns
        run, plan = run_sweep(self.d, sweep_text(f"[{p}]", "  - {model: annotations, layers: [all]}", f"[{job['subject']}]",
                                                 "[1]"), "ols")
        pjob = [j for j in plan["jobs"] if j.get("estimator") == "pls"][0]
        with h5py.File(os.path.join(run, "jobs", pjob["job_id"] + ".h5"), "r") as f:
            pred = f["predictions"]["sherlock02"][()]
        B, *_ = np.linalg.lstsq(X[:, live], Y, rcond=None)
        want = Xe[:, live] @ B + ymu
        np.testing.assert_allclose(pred, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())

    def test_refusals(self):
        cases = [
            (sweep_text("[0, 5]", "  - {model: annotations, layers: [all]}"), "pls.components", "expected counts >= 1"),
            (sweep_text("[5, 5]", "  - {model: annotations, layers: [all]}"), "pls.components", "a count listed twice"),
            (sweep_text("[5]", "  - bands:\n      - {model: annotations, layers: [all]}\n"
                               "      - {model: description_lsa, layers: [lsa64]}"), "pls", "no plain feature set"),
        ]
        for text, key, message in cases:
            with self.subTest(message=message):
                sweep = os.path.join(self.d, "bad.yaml")
                with open(sweep, "w") as f:
                    f.write(text)
                out = os.path.join(self.d, "run_bad")
                r = bs("generate", sweep, "--out", out)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(key, r.stderr)
                self.assertIn(message, r.stderr)
                self.assertFalse(os.path.exists(out))
        # a count no fold can fit: the speech annotation has 2 columns at window 1
        sweep = os.path.join(self.d, "wide.yaml")
        with open(sweep, "w") as f:
            f.write(sweep_text("[3]", "  - {model: annotations, layers: [speech]}", "[sub-01]", "[1]"))
        run = os.path.join(self.d, "run_wide")
        self.assertEqual(bs("generate", sweep, "--out", run).returncode, 0)
        r = bs("run", run)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("pls.components: the smallest count is 3, but the design has 2 columns", r.stderr)


if __name__ == "__main__":
    BIN, SHERLOCK = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:])
