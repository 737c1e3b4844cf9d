#!/usr/bin/python3
"""`import brainsweep` (issue #15): RidgeCV against `brainsweep ridge` (the same bits) and against the
independent numpy reference of ENCODING.md §2-4; the scikit-learn conventions; errors; the GIL; and
read_results / read_stitched against the files the CLI writes, on the real Sherlock data.

Usage: PYTHONPATH=build/python test_python_module.py BRAINSWEEP_BINARY
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import unittest

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import test_ridge_command as trc  # noqa: E402  (its numpy reference of `brainsweep ridge`)

import brainsweep  # noqa: E402

BIN = None
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
SHERLOCK = os.environ.get("SHERLOCK_DIR", os.path.join(SOURCE, "..", "shared", "data", "sherlock"))


def synthetic(n, p, t, m, seed):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, p)) * np.arange(1, p + 1) ** -0.5).astype("f4")
    Xt = (rng.standard_normal((m, p)) * np.arange(1, p + 1) ** -0.5).astype("f4")
    B = rng.standard_normal((p, t))
    noise = np.logspace(-1, 1, t)
    Y = (X @ B + noise * rng.standard_normal((n, t)) + 5).astype("f4")
    Yt = (Xt @ B + noise * rng.standard_normal((m, t)) + 5).astype("f4")
    X[:, 3] = 2.0  # a zero-variance column
    Xt[:, 3] = 2.0
    return X, Y, Xt, Yt


def sherlock_design(subject="sub-01", model="annotations", layer="all"):
    """Features (TR-aligned in this packaging: hrf_delay 0, stimulus_window 1) and roi6 fMRI."""
    out = {}
    fmri = os.path.join(SHERLOCK, "fmri", subject, "func", f"{subject}_task-sherlock_space-MNI152_atlas-roi6_bold.h5")
    with h5py.File(fmri) as f:
        for ep in ("sherlock01", "sherlock02"):
            Y = f[f"ses-001_task-{ep}"][()].astype("f4")
            with h5py.File(os.path.join(SHERLOCK, "features", model, "movies", "sherlock", f"movies_{ep}.h5")) as g:
                X = g[layer][: len(Y)].astype("f4")
            out[ep] = (X, Y)
        names = [n.decode() for n in f.attrs["parcel_names"]]
    return out, names


class AgainstTheCli(unittest.TestCase):
    """RidgeCV and `brainsweep ridge` are one engine: identical alphas, CV scores and predictions."""

    def cli(self, X, Y, Xt, alphas, folds, *extra):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "in.h5")
            with h5py.File(path, "w") as f:
                f["X"], f["Y"], f["Xt"] = X, Y, Xt
            out = os.path.join(d, "out.h5")
            cmd = [BIN, "ridge", "--x-train", path + ":/X", "--y-train", path + ":/Y", "--x-test", path + ":/Xt",
                   "--folds", str(folds), "--out", out, *extra]
            if alphas is not None:
                cmd += ["--alphas", ",".join(repr(float(a)) for a in alphas)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with h5py.File(out) as f:
                return f["alphas"][()], f["cv_scores"][()], f["predictions"][()], f.attrs["solver"]

    def check_identical(self, X, Y, Xt, alphas=None, folds=5, **kw):
        extra = []
        for k in ("precision", "solver"):
            if k in kw:
                extra += ["--" + k, kw[k]]
        a, s, pred, solver = self.cli(X, Y, Xt, alphas, folds, *extra)
        m = brainsweep.RidgeCV(alphas=alphas, cv=folds, **kw).fit(X, Y)
        np.testing.assert_array_equal(m.alphas_, a)
        np.testing.assert_array_equal(m.cv_scores_, s)
        np.testing.assert_array_equal(m.predict(Xt), pred)
        self.assertEqual(m.solver_, solver.decode() if isinstance(solver, bytes) else solver)
        return m

    def test_primal_dual_and_precisions_bit_identical(self):
        X, Y, Xt, _ = synthetic(300, 40, 25, 50, 1)
        self.assertEqual(self.check_identical(X, Y, Xt, alphas=np.logspace(-2, 4, 7)).solver_, "primal")
        self.check_identical(X, Y, Xt, precision="float64")
        Xw, Yw, Xtw, _ = synthetic(120, 300, 10, 30, 2)  # p > n: dual
        self.assertEqual(self.check_identical(Xw, Yw, Xtw, alphas=np.logspace(0, 5, 6)).solver_, "dual")
        self.check_identical(X, Y, Xt, solver="dual", folds=4)

    def test_sherlock_bit_identical(self):
        data, _ = sherlock_design()
        X, Y = data["sherlock01"]
        Xt, _ = data["sherlock02"]
        self.check_identical(X, Y, Xt)

    def test_layouts_and_dtypes_give_the_same_fit(self):
        X, Y, Xt, _ = synthetic(200, 30, 8, 40, 3)
        X_before, Y_before = X.copy(), Y.copy()
        ref = brainsweep.RidgeCV(cv=4).fit(X, Y)
        np.testing.assert_array_equal(X, X_before)  # the caller's arrays are not modified
        np.testing.assert_array_equal(Y, Y_before)
        for Xv, Yv in ((np.asfortranarray(X), Y), (X.astype("f8"), Y.astype("f8")), (X[:, :], np.asfortranarray(Y))):
            m = brainsweep.RidgeCV(cv=4).fit(Xv, Yv)
            np.testing.assert_array_equal(m.cv_scores_, ref.cv_scores_)
            np.testing.assert_array_equal(m.predict(Xt), ref.predict(Xt))
        # a non-contiguous view (every other column) equals its contiguous copy
        v = X[:, ::2]
        np.testing.assert_array_equal(brainsweep.RidgeCV(cv=4).fit(v, Y).cv_scores_,
                                      brainsweep.RidgeCV(cv=4).fit(np.ascontiguousarray(v), Y).cv_scores_)


class AgainstNumpy(unittest.TestCase):
    """The numbers themselves, against the float64 numpy reference of ENCODING.md (trc.reference)."""

    def test_synthetic_and_sherlock(self):
        X, Y, Xt, Yt = synthetic(400, 60, 30, 80, 4)
        alphas = list(np.logspace(-1, 5, 13))
        cases = [(X, Y, Xt, Yt, 5)]
        data, _ = sherlock_design(model="description_lsa", layer="lsa64")
        cases.append((*data["sherlock01"], *data["sherlock02"], 5))
        for X, Y, Xt, Yt, K in cases:
            a_ref, s_ref, p_ref = trc.reference(X.astype("f8"), Y.astype("f8"), Xt.astype("f8"), alphas, K)
            m = brainsweep.RidgeCV(alphas=alphas, cv=K).fit(X, Y)
            agree = np.mean(m.alphas_ == a_ref)
            self.assertGreaterEqual(agree, 0.99, f"alphas agree on {agree:.1%} of targets")
            np.testing.assert_allclose(m.cv_scores_, s_ref, atol=2e-5)
            same = m.alphas_ == a_ref
            np.testing.assert_allclose(m.predict(Xt)[:, same], p_ref[:, same], rtol=2e-4,
                                       atol=2e-4 * np.abs(p_ref).max())
            # coef_/intercept_ on the original features reproduce predict
            lin = Xt.astype("f8") @ m.coef_.T + m.intercept_
            np.testing.assert_allclose(lin, m.predict(Xt), atol=1e-4 * np.abs(lin).max())
            # score = mean Pearson r per target, as numpy computes it
            pr = m.predict(Xt).astype("f8")
            r = [np.corrcoef(pr[:, j], Yt[:, j].astype("f8"))[0, 1] for j in range(Y.shape[1])]
            self.assertAlmostEqual(m.score(Xt, Yt), float(np.mean(r)), places=6)

    def test_one_target(self):
        X, Y, Xt, Yt = synthetic(200, 20, 3, 50, 5)
        m1 = brainsweep.RidgeCV(cv=4).fit(X, Y[:, 1])
        m = brainsweep.RidgeCV(cv=4).fit(X, Y)
        self.assertEqual(m1.predict(Xt).shape, (50,))
        np.testing.assert_array_equal(m1.predict(Xt), m.predict(Xt)[:, 1])
        self.assertAlmostEqual(m1.score(Xt, Yt[:, 1]), np.corrcoef(m1.predict(Xt), Yt[:, 1])[0, 1], places=6)


class Conventions(unittest.TestCase):
    def test_params(self):
        m = brainsweep.RidgeCV(alphas=[1, 10], cv=3, precision="float64")
        p = m.get_params()
        self.assertEqual(p, {"alphas": [1, 10], "cv": 3, "backend": "cpu", "precision": "float64",
                             "solver": "auto", "target_batch": 4096, "threads": 0})
        clone = brainsweep.RidgeCV(**p)
        self.assertEqual(clone.get_params(), p)
        self.assertIs(m.set_params(cv=4, solver="primal"), m)
        self.assertEqual((m.cv, m.solver), (4, "primal"))
        with self.assertRaisesRegex(ValueError, "Invalid parameter 'folds' for estimator RidgeCV"):
            m.set_params(folds=3)
        X, Y, _, _ = synthetic(100, 10, 4, 10, 6)
        m.fit(X, Y)
        self.assertEqual(m.cv_scores_.shape, (2, 4))
        np.testing.assert_array_equal(m.alpha_grid_, [1.0, 10.0])
        self.assertEqual(m.coef_.shape, (4, 10))
        self.assertEqual(m.intercept_.shape, (4,))
        self.assertEqual(m.n_features_in_, 10)
        np.testing.assert_allclose(brainsweep.default_alphas(), np.logspace(-1, 7, 17), rtol=1e-15)
        self.assertEqual(brainsweep.RidgeCV().fit(X, Y).cv_scores_.shape, (17, 4))

    def test_errors_name_the_argument(self):
        X, Y, Xt, _ = synthetic(100, 10, 4, 10, 7)
        bad = X.copy()
        bad[5, 2] = np.inf
        cases = [
            # shapes and types: scikit-learn's own messages (check_X_y), which its users' code matches
            (dict(), (X.ravel(), Y), r"^Expected 2D array, got 1D array instead"),
            (dict(), (X, Y[:50]), r"^Found input variables with inconsistent numbers of samples: \[100, 50\]"),
            (dict(), (bad, Y), r"^X: contains infinity \(non-finite value inf at row 5, column 2\)"),
            (dict(), (X[:0], Y[:0]), r"^Found array with 0 sample\(s\)"),
            (dict(cv=1), (X, Y), r"^cv: expected 2 <= cv <= n_samples \(100\), found 1"),
            (dict(cv=101), (X, Y), r"^cv: expected 2 <= cv"),
            (dict(cv=2.5), (X, Y), r"^cv: expected an integer"),
            (dict(alphas=[1, 0]), (X, Y), r"^alphas: expected values > 0 and finite, found 0.0"),
            (dict(alphas=[np.nan]), (X, Y), r"^alphas: expected values > 0"),
            (dict(alphas=[]), (X, Y), r"^alphas: expected at least one alpha"),
            (dict(precision="half"), (X, Y), r"^precision: expected one of mixed, float64, found 'half'"),
            (dict(solver="svd"), (X, Y), r"^solver: expected one of auto, primal, dual"),
            (dict(backend="tpu"), (X, Y), r"^backend: expected one of cpu, cuda"),
            (dict(target_batch=0), (X, Y), r"^target_batch: expected >= 1"),
            (dict(threads=-1), (X, Y), r"^threads: expected >= 0"),
            (dict(), ("not an array", Y), r"^could not convert string to float: 'not an array'"),
        ]
        for params, args, pattern in cases:
            with self.subTest(params=params, pattern=pattern):
                with self.assertRaisesRegex(ValueError, pattern):
                    brainsweep.RidgeCV(**params).fit(*args)
        m = brainsweep.RidgeCV(cv=3)
        with self.assertRaisesRegex(ValueError, "not fitted yet"):
            m.predict(Xt)
        m.fit(X, Y)
        with self.assertRaisesRegex(ValueError, "X has 9 features, but RidgeCV is expecting 10 features as input"):
            m.predict(Xt[:, :9])
        with self.assertRaisesRegex(ValueError, r"Y: expected shape \(10, 4\)"):
            m.score(Xt, Y[:10, :3])
        if not brainsweep._engine.__doc__:  # pragma: no cover
            self.fail("module has no docstring")

    def test_gil_released_during_fit(self):
        X, Y, _, _ = synthetic(3000, 400, 2000, 10, 8)
        done = threading.Event()
        box = {}

        def work():
            box["m"] = brainsweep.RidgeCV(alphas=np.logspace(-1, 7, 30), cv=5, threads=1).fit(X, Y)
            done.set()

        # the loop's rate alone, for 0.2 s
        import time
        rate_spins, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 0.2:
            rate_spins += 1
        rate = rate_spins / (time.perf_counter() - t0)
        t = threading.Thread(target=work)
        t.start()
        spins = 0
        while not done.is_set():  # the main thread runs Python while the engine fits
            spins += 1
            time.perf_counter()
        t.join()
        fit_s = box["m"].fit_seconds_
        # Released, the loop runs throughout the fit (at about its rate alone: the engine has its own
        # core here with threads=1); held, only before the engine starts and after it ends (measured
        # with the release removed: 7 % of rate × fit time; released: 91-100 %).
        self.assertGreater(fit_s, 0.2)
        self.assertGreater(spins, 0.25 * rate * fit_s, f"{spins} iterations in a {fit_s:.2f} s fit, {rate:.0f}/s alone")


class RsaFunctions(unittest.TestCase):
    """brainsweep.rdm / compare / noise_ceiling against the numpy reference of METRICS.md, on the
    92-image RDMs (hIT BE, KO) and on patterns."""

    def test_undefined_rdms_are_refused(self):
        """Issue #25: vector RDMs of a wrong length or with NaN, and RDMs whose correlation distance is not
        defined (constant patterns, fewer than 3 channels), raise ValueError instead of giving NaN or 0; a
        constant RDM compares as NaN."""
        v = np.arange(1.0, 7.0)  # 4 conditions
        self.assertAlmostEqual(brainsweep.compare(v, v), 1.0)
        with self.assertRaisesRegex(ValueError, r"^x: a vector RDM has n\(n - 1\)/2 entries .* found 5"):
            brainsweep.compare(v[:5], v[:5])
        bad = v.copy()
        bad[2] = np.nan
        with self.assertRaisesRegex(ValueError, r"^y: entry 2 of the vector RDM is nan"):
            brainsweep.compare(v, bad)
        with self.assertRaisesRegex(ValueError, r"^rdms\[1\]: entry 2"):
            brainsweep.noise_ceiling([v, bad])
        rng = np.random.default_rng(1)
        p = rng.standard_normal((5, 4))
        p[3] = 2.0
        with self.assertRaisesRegex(ValueError, r"^patterns: the RDM is not defined: correlation distance of a constant "
                                    r"pattern: 1 of 5 conditions \(the first: condition 3\)"):
            brainsweep.rdm(p)
        p[3] = 2.0 + 1e-9 * rng.standard_normal(4)  # SD 1e-9 of 2: constant by the relative rule
        with self.assertRaisesRegex(ValueError, r"constant pattern: 1 of 5 conditions"):
            brainsweep.rdm(p)
        for channels in (1, 2):  # over 2 channels every correlation is ±1
            with self.assertRaisesRegex(ValueError, rf"^patterns: the RDM is not defined: correlation distance over "
                                        rf"{channels} channels? \(needs at least 3"):
                brainsweep.rdm(rng.standard_normal((5, channels)))
        self.assertEqual(len(brainsweep.rdm(p, "euclidean")), 10)
        # a constant RDM compares as NaN (undefined), never 0, in every method; numpy's corrcoef agrees
        flat = np.ones(6)
        for method in ("corr", "spearman", "tau-a", "cosine"):
            self.assertTrue(np.isnan(brainsweep.compare(v, flat * (0 if method == "cosine" else 1), method)), method)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.assertTrue(np.isnan(np.corrcoef(v, flat)[0, 1]))

    def test_against_numpy(self):
        sys.path.insert(0, os.path.join(HERE, "..", "reference"))
        import metrics_reference as mref
        path = os.path.join(SOURCE, "..", "shared", "data", "rsa92", "rsa92.h5")
        with h5py.File(path) as f:
            hit = [np.mean([f[f"hIT/{s}/{k}"][()].astype("f8") for k in f[f"hIT/{s}"]], axis=0) for s in ("BE", "KO")]
            model = f["models/animacy"][()]
        for method in ("corr", "spearman", "tau-a", "cosine"):
            want = mref.compare(mref.upper(model), mref.upper(hit[0]), method)
            self.assertAlmostEqual(brainsweep.compare(model, hit[0], method), want, delta=1e-10)
            self.assertAlmostEqual(brainsweep.compare(mref.upper(model), mref.upper(hit[0]), method), want, delta=1e-10)
            lo, up = brainsweep.noise_ceiling(hit, method)
            want_lo, want_up = mref.rdm_noise_ceiling([mref.upper(h) for h in hit], method)
            self.assertAlmostEqual(lo, want_lo, delta=1e-10)
            self.assertAlmostEqual(up, want_up, delta=1e-10)
        P = np.random.default_rng(0).standard_normal((20, 7))
        np.testing.assert_allclose(brainsweep.rdm(P), mref.rdm_correlation(P), atol=1e-9)
        np.testing.assert_allclose(brainsweep.rdm(P, "euclidean"),
                                   mref.upper(((P[:, None] - P[None]) ** 2).sum(-1) / 7), rtol=1e-9)
        bad = model.copy()
        bad[1, 2] += 1
        with self.assertRaisesRegex(ValueError, "not symmetric"):
            brainsweep.compare(bad, model)
        with self.assertRaisesRegex(ValueError, "method: expected corr, spearman, tau-a, cosine, cka or cka-debiased"):
            brainsweep.compare(model, model, "kendall")
        with self.assertRaisesRegex(ValueError, "at least 2 subjects"):
            brainsweep.noise_ceiling([model])
        with self.assertRaisesRegex(ValueError, "expected at least 3"):
            brainsweep.rdm(P[:2])


class Cka(unittest.TestCase):
    """brainsweep.cka / compare(..., "cka") (issue #26 §3) against tests/reference/cka_reference.py
    (feature-space formulas), Net2Brain's own number and CKA's invariances."""

    @classmethod
    def setUpClass(cls):
        sys.path.insert(0, os.path.join(HERE, "..", "reference"))
        import cka_reference
        cls.ref = cka_reference

    def test_against_reference(self):
        rng = np.random.default_rng(5)
        for n, d1, d2 in ((30, 5, 200), (100, 50, 8), (6, 3, 3), (12, 40, 40)):
            x = rng.standard_normal((n, d1))
            y = x[:, :min(d1, d2)] @ rng.standard_normal((min(d1, d2), d2)) + rng.standard_normal((n, d2))
            with self.subTest(n=n, d1=d1, d2=d2):
                self.assertAlmostEqual(brainsweep.cka(x, y), self.ref.cka(x, y), delta=1e-9)
                self.assertAlmostEqual(brainsweep.cka(x, y, standardize=True), self.ref.cka_net2brain(x, y), delta=1e-9)
                self.assertAlmostEqual(brainsweep.cka(x, y, debiased=True), self.ref.cka_debiased(x, y), delta=1e-9)
                # a correlation RDM is the squared distance of patterns z-scored per condition
                z = lambda a: (a - a.mean(1, keepdims=True)) / a.std(1, keepdims=True)  # noqa: E731
                self.assertAlmostEqual(brainsweep.compare(brainsweep.rdm(x, "correlation"), brainsweep.rdm(y, "correlation"),
                                                          "cka"), self.ref.cka(z(x), z(y)), delta=1e-9)

    def test_net2brain_notebook_case(self):
        """Net2Brain's notebooks/3_Evaluation.ipynb CKA example: np.random.seed(45), rand(100, 20),
        rand(100, 10). Net2Brain's CKA().linear_CKA (cvai-roig-lab/Net2Brain b59ed47, cka.py, run once
        with numpy 1.24 and scikit-learn 1.2.1) gave 0.09819883413040802."""
        np.random.seed(45)
        x, y = np.random.rand(100, 20), np.random.rand(100, 10)
        self.assertAlmostEqual(brainsweep.cka(x, y, standardize=True), 0.09819883413040802, delta=1e-9)

    def test_invariances_and_errors(self):
        rng = np.random.default_rng(2)
        x, y = rng.standard_normal((40, 12)), rng.standard_normal((40, 7))
        q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
        self.assertAlmostEqual(brainsweep.cka(x, x @ q * 3.0 + 1.0), 1.0, delta=1e-9)
        self.assertAlmostEqual(brainsweep.cka(x, y), brainsweep.cka(y, x), delta=1e-12)
        self.assertTrue(np.isnan(brainsweep.cka(x, np.ones((40, 3)))))  # no variance: undefined, not 0
        with self.assertRaisesRegex(ValueError, "x has 40 conditions \\(rows\\), y 39"):
            brainsweep.cka(x, y[:39])
        with self.assertRaisesRegex(ValueError, "at least 4 conditions, found 3"):
            brainsweep.cka(x[:3], y[:3], debiased=True)
        bad = x.copy()
        bad[2, 1] = np.nan
        with self.assertRaisesRegex(ValueError, "NaN"):
            brainsweep.cka(bad, y)
        # the ceiling of subjects that are noisy copies of one representation is high, and ordered
        reps = [x + 0.3 * rng.standard_normal(x.shape) for _ in range(4)]
        lower, upper = brainsweep.noise_ceiling([brainsweep.rdm(r, "euclidean") for r in reps], "cka")
        want = self.ref.noise_ceiling(reps)
        self.assertAlmostEqual(lower, want[0], delta=1e-9)
        self.assertAlmostEqual(upper, want[1], delta=1e-9)


class Readers(unittest.TestCase):
    """read_results / read_stitched against results.csv, results.h5 and stitched/*.csv of a real run."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.run_dir = os.path.join(cls.tmp.name, "sherlock")
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        for cmd in ([BIN, "generate", os.path.join(SOURCE, "sweeps", "sherlock.yaml"), "--out", cls.run_dir],
                    [BIN, "run", cls.run_dir],
                    [BIN, "stitch", cls.run_dir, "--select", "cv", "--top-k", "2", "--eval", "test"]):
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=SOURCE, env=env)
            assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_read_results(self):
        df = brainsweep.read_results(self.run_dir)
        with open(os.path.join(self.run_dir, "results.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(df), len(rows))  # one eval set: one row per job × subject × parcel
        self.assertEqual(len(df), 80 * 6)
        self.assertEqual(list(df.columns), ["job_id", "model", "layers", "hrf_delay", "stimulus_window", "subject",
                                            "parcel", "alpha", "cv_r", "r_test"])
        for i in (0, 7, 479):
            for k in ("job_id", "model", "layers", "subject", "parcel"):
                self.assertEqual(df[k][i], rows[i][k])
            self.assertEqual(df["stimulus_window"][i], int(rows[i]["stimulus_window"]))
            self.assertAlmostEqual(df["alpha"][i] / float(rows[i]["alpha"]), 1.0, places=14)
            self.assertAlmostEqual(df["r_test"][i], float(rows[i]["eval_r"]), places=14)
        # the same numbers as results.h5 (full float64 there; results.csv keeps 9 digits)
        with h5py.File(os.path.join(self.run_dir, "results.h5")) as f:
            jobs = [j.decode() for j in f["jobs/job_id"][()]]
            g = f["subjects/sub-03"]
            names = [n.decode() for n in g["parcel_names"][()]]
            for k, ji in enumerate(g["job_index"][()]):
                sub = df[(df.job_id == jobs[ji]) & (df.subject == "sub-03")]
                self.assertEqual(list(sub.parcel), names)
                np.testing.assert_allclose(sub.cv_r, g["cv_r"][k], rtol=1e-8, atol=1e-12)
                np.testing.assert_allclose(sub.r_test, g["eval/test/r"][k], rtol=1e-8, atol=1e-12)
                np.testing.assert_allclose(sub.alpha, g["alpha"][k], rtol=1e-8)
        # the best job per parcel, found with pandas, is what stitch --top-k 1 would choose by CV r
        best = df.loc[df.groupby(["subject", "parcel"]).cv_r.idxmax()]
        self.assertEqual(len(best), 8 * 6)

    def test_ridgecv_reproduces_a_job_of_the_run(self):
        """RidgeCV on the design of job (annotations/all, hrf_delay 0, stimulus_window 1, sub-01)
        gives the run's alphas, CV r and test r (the run fits 8 subjects' targets in one unit)."""
        data, names = sherlock_design()
        (X, Y), (Xt, Yt) = data["sherlock01"], data["sherlock02"]
        m = brainsweep.RidgeCV(cv=5).fit(X, Y)
        df = brainsweep.read_results(self.run_dir)
        job = df[(df.model == "annotations") & (df.layers == "all") & (df.stimulus_window == 1) & (df.subject == "sub-01")]
        self.assertEqual(list(job.parcel), names)
        with h5py.File(os.path.join(self.run_dir, "results.h5")) as f:
            jobs = [j.decode() for j in f["jobs/job_id"][()]]
            g = f["subjects/sub-01"]
            k = list(g["job_index"][()]).index(jobs.index(job.job_id.iloc[0]))
            np.testing.assert_array_equal(m.alphas_, g["alpha"][k])
            np.testing.assert_allclose(m.cv_scores_.max(axis=0), g["cv_r"][k], atol=1e-6)
            np.testing.assert_allclose(brainsweep.pearson_r(m.predict(Xt), Yt), g["eval/test/r"][k], atol=1e-6)

    def test_plots_name_their_parcels_and_explain_their_marks(self):
        """#27 §13: scores_per_parcel.png names the six ROIs on the axis (not 0-5), draws the ensemble as a
        bar per parcel (no line across categorical parcels) and explains the dots; winners_per_network.png
        has an x label, its whole title and its legend outside the bars."""
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        sys.path.insert(0, os.path.join(SOURCE, "tools"))
        import plot_results
        figures, original, argv = {}, Figure.savefig, sys.argv

        def record(fig, path, *args, **kwargs):
            figures[os.path.basename(str(path))] = fig
            return original(fig, path, *args, **kwargs)
        with tempfile.TemporaryDirectory() as d:
            Figure.savefig = record
            try:
                sys.argv = ["plot_results.py", self.run_dir, "--out", d]
                plot_results.main()
            finally:
                Figure.savefig, sys.argv = original, argv
        ax = figures["scores_per_parcel.png"].axes[0]
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        with open(os.path.join(self.run_dir, "stitched", "scores.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        mean = {}
        for row in rows:
            mean.setdefault(row["parcel"], []).append(float(row["r"]))
        self.assertEqual(ticks, sorted(mean, key=lambda p: -np.mean(mean[p])))  # names, best first
        self.assertEqual(len(ax.get_lines()) - 1, 10)  # 10 feature set × grid point dot series (+ the zero line)
        self.assertTrue(all(line.get_linestyle() == "None" for line in ax.get_lines()[:-1]))  # no joining lines
        legend = ax.get_legend()
        self.assertIn("dots: one feature set × grid point", legend.get_title().get_text())
        self.assertIn("stitched ensemble", [t.get_text() for t in legend.get_texts()])
        wax = figures["winners_per_network.png"].axes[0]
        self.assertTrue(wax.get_xlabel().startswith("network"))
        self.assertEqual(wax.get_title(), "winning feature set per network")
        fig = figures["winners_per_network.png"]
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        self.assertGreaterEqual(wax.get_legend().get_window_extent(renderer).x0, wax.get_window_extent(renderer).x1)
        self.assertLessEqual(wax.title.get_window_extent(renderer).x1, fig.bbox.x1)  # the title is not cut off

    def test_read_stitched(self):
        s = brainsweep.read_stitched(self.run_dir)
        with open(os.path.join(self.run_dir, "stitched", "scores.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(list(s.scores.columns), ["subject", "parcel", "eval_set", "r", "job_ids"])
        self.assertEqual(len(s.scores), len(rows))
        for i, row in enumerate(rows):
            self.assertEqual(s.scores["job_ids"][i], row["job_ids"])
            self.assertAlmostEqual(float(s.scores["r"][i]), float(row["r"]), places=14)
        self.assertEqual(len(s.winners), 8 * 6 * 2)  # top-2 per subject × parcel
        self.assertEqual(set(s.winners["rank"]), {1, 2})
        self.assertTrue(s.predictions.is_file())
        self.assertEqual(s.test_sets, {})
        aud = s.scores[s.scores.parcel == "aud_early"].r.mean()
        self.assertGreater(aud, 0.2)

    def test_reader_errors(self):
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(ValueError, "not a brainsweep run directory"):
                brainsweep.read_results(d)
            with open(os.path.join(d, "plan.json"), "w") as f:
                f.write("{}")
            with self.assertRaisesRegex(ValueError, "results.csv: missing"):
                brainsweep.read_results(d)
            with self.assertRaisesRegex(ValueError, "scores.csv: missing"):
                brainsweep.read_stitched(d)



class ReadersOfOtherRuns(unittest.TestCase):
    """Issue #27 §4, §12: readers on RSA and trained-encoder runs."""

    def test_rsa_run_and_encoder_rows(self):
        with tempfile.TemporaryDirectory() as d:
            sweep = os.path.join(d, "rsa.yaml")
            with open(os.path.join(SOURCE, "sweeps", "sherlock_rsa.yaml")) as f:
                text = f.read().replace("dataset: configs", f"dataset: {SOURCE}/configs").replace(
                    "../shared/data/sherlock", os.path.join(SOURCE, "..", "shared", "data", "sherlock"))
            with open(sweep, "w") as f:
                f.write(text)
            run = os.path.join(d, "rsa")
            self.assertEqual(subprocess.run([BIN, "generate", sweep, "--out", run], capture_output=True).returncode, 0)
            with self.assertRaisesRegex(ValueError, "an RSA run; its results.csv is the RSA table"):
                brainsweep.read_results(run)
            with self.assertRaisesRegex(ValueError, "an RSA run; `stitch` combines encoding models"):
                brainsweep.read_stitched(run)
            plot = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "tools", "plot_results.py"), run],
                                  capture_output=True, text=True)
            self.assertNotEqual(plot.returncode, 0)
            self.assertIn("an RSA run; plot its results with tools/plot_rsa.py", plot.stderr)


class RunWiseFolds(unittest.TestCase):
    """#27 §8: RidgeCV(cv=K).fit(X, Y, groups=episodes) reproduces a run trained on several episodes
    (whole episodes per fold), and a scikit-learn splitter of contiguous blocks gives the same folds."""

    def test_groups_reproduce_a_two_episode_run(self):
        with tempfile.TemporaryDirectory() as d:
            sweep = os.path.join(d, "two.yaml")
            with open(os.path.join(SOURCE, "sweeps", "sherlock.yaml")) as f:
                text = f.read()
            text = text.replace("dataset: configs", f"dataset: {SOURCE}/configs").replace(
                "dataset_root: ../shared/data/sherlock", f"dataset_root: {SHERLOCK}")
            text = text.replace("train: [sherlock01]\neval: {test: [sherlock02]}", "train: [sherlock01, sherlock02]")
            text = text.replace("ridge: {folds: 5}", "ridge: {folds: 2}").replace("stimulus_window: [1, 3]", "stimulus_window: [1]")
            with open(sweep, "w") as f:
                f.write(text)
            run_dir = os.path.join(d, "run")
            env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
            for cmd in ([BIN, "generate", sweep, "--out", run_dir], [BIN, "run", run_dir]):
                r = subprocess.run(cmd, capture_output=True, text=True, env=env)
                self.assertEqual(r.returncode, 0, r.stderr)
            data, names = sherlock_design()
            X = np.vstack([data[ep][0] for ep in ("sherlock01", "sherlock02")])
            Y = np.vstack([data[ep][1] for ep in ("sherlock01", "sherlock02")])
            groups = np.repeat(["sherlock01", "sherlock02"], [len(data["sherlock01"][0]), len(data["sherlock02"][0])])
            df = brainsweep.read_results(run_dir)
            job = df[(df.model == "annotations") & (df.layers == "all") & (df.subject == "sub-01")]
            self.assertEqual(list(job.parcel), names)
            m = brainsweep.RidgeCV(cv=2, threads=1).fit(X, Y, groups=groups)
            with h5py.File(os.path.join(run_dir, "results.h5")) as f:  # full precision (results.csv: 9 digits)
                jobs = [j.decode() for j in f["jobs/job_id"][()]]
                g = f["subjects/sub-01"]
                k = list(g["job_index"][()]).index(jobs.index(job.job_id.iloc[0]))
                np.testing.assert_array_equal(m.alphas_, g["alpha"][k])
                np.testing.assert_allclose(m.cv_scores_.max(axis=0), g["cv_r"][k], atol=1e-6)
            # the same folds from a splitter: LeaveOneGroupOut over the two episodes
            from sklearn.model_selection import LeaveOneGroupOut
            s = brainsweep.RidgeCV(cv=LeaveOneGroupOut(), threads=1).fit(X, Y, groups=groups)
            np.testing.assert_array_equal(s.cv_scores_, m.cv_scores_)
            # without groups, 2 blocks of equal size: other folds, other CV scores (the reason for groups)
            plain = brainsweep.RidgeCV(cv=2, threads=1).fit(X, Y)
            self.assertGreater(np.abs(plain.cv_scores_ - m.cv_scores_).max(), 1e-4)
            split = groups.copy()
            split[:5] = "sherlock02"  # sherlock02, sherlock01, sherlock02: a run in two places
            with self.assertRaisesRegex(ValueError, r"^groups: run 'sherlock02' is not one contiguous block"):
                brainsweep.RidgeCV(cv=2).fit(X, Y, groups=split)
            from sklearn.model_selection import GroupKFold
            with self.assertRaisesRegex(ValueError, r"^cv: fold 0's test rows are not one contiguous block"):
                brainsweep.RidgeCV(cv=GroupKFold(2)).fit(X, Y, groups=np.arange(len(X)) % 7)


class Banded(unittest.TestCase):
    """brainsweep.BandedRidgeCV and score_split (issue #26 §2): the scalings, alphas, CV scores and
    predictions of a sweep's banded set as `run` + `stitch --select cv` choose them, and himalaya's
    split identities."""

    def test_against_the_sweep_and_stitch(self):
        with tempfile.TemporaryDirectory() as d:
            sweep = os.path.join(d, "band.yaml")
            with open(sweep, "w") as f:
                f.write(f"""dataset: {SOURCE}/configs/datasets/sherlock.yaml
dataset_root: {SHERLOCK}
atlas: roi6
subjects: [sub-01]
features:
  - bands:
      - {{model: annotations, layers: [all]}}
      - {{model: description_lsa, layers: [lsa64]}}
    scalings: {{samples: 3, seed: 4}}
grid: {{hrf_delay: [0], stimulus_window: [1]}}
ridge: {{folds: 5}}
train: [sherlock01]
eval: {{test: [sherlock02]}}
""")
            run = os.path.join(d, "run")
            for cmd in ([BIN, "generate", sweep, "--out", run], [BIN, "run", run],
                        [BIN, "stitch", run, "--select", "cv", "--top-k", "1", "--eval", "test"]):
                r = subprocess.run(cmd, capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
            ann, names = sherlock_design(model="annotations", layer="all")
            lsa, _ = sherlock_design(model="description_lsa", layer="lsa64")
            X = np.hstack([ann["sherlock01"][0], lsa["sherlock01"][0]])
            Xt = np.hstack([ann["sherlock02"][0], lsa["sherlock02"][0]])
            Y, Yt = ann["sherlock01"][1], ann["sherlock02"][1]
            widths = [ann["sherlock01"][0].shape[1], lsa["sherlock01"][0].shape[1]]
            m = brainsweep.BandedRidgeCV(bands=widths, n_samples=3, seed=4, cv=5, threads=1).fit(X, Y)
            self.assertEqual(m.scalings_.shape, (1 + 2 + 3, 2))
            with open(os.path.join(run, "plan.json")) as f:
                plan = json.load(f)
            # the candidate scalings are the plan's units' (uniform, corners, the seeded draws)
            plan_g = sorted(tuple(round(b["gamma"], 12) for b in j["bands"]) for j in plan["jobs"])
            self.assertEqual(sorted(tuple(round(x, 12) for x in g) for g in m.scalings_), plan_g)
            # per parcel the scaling and alpha stitch chose, the CV score and scan 2's prediction
            sc = {}
            with open(os.path.join(run, "stitched", "scalings.csv")) as f:
                for row in csv.DictReader(f):
                    sc.setdefault(row["parcel"], {})[row["band"]] = float(row["gamma"])
            with open(os.path.join(run, "stitched", "winners.csv")) as f:
                winners = {row["parcel"]: row for row in csv.DictReader(f)}
            pred = m.predict(Xt)
            for j, name in enumerate(names):
                want = sc[name]
                np.testing.assert_allclose(m.gammas_[j], [want["annotations/all"], want["description_lsa/lsa64"]],
                                           atol=1e-6)
                self.assertAlmostEqual(m.alphas_[j], float(winners[name]["alpha"]), delta=1e-8 * m.alphas_[j])  # 9 digits
                self.assertAlmostEqual(m.cv_scores_.max(axis=0)[j], float(winners[name]["select_score"]), delta=1e-6)
                with h5py.File(os.path.join(run, "jobs", winners[name]["job_id"] + ".h5"), "r") as f:
                    np.testing.assert_allclose(pred[:, j], f["predictions/sherlock02"][:, j], rtol=1e-4,
                                               atol=1e-4 * np.abs(pred[:, j]).max())
                    job_split = f["eval/test/r_split"][:, j]
                parts = m.predict(Xt, split=True)
                s = brainsweep.score_split(Yt, list(parts))
                np.testing.assert_allclose(s["r"][:, j], job_split, atol=1e-4)
            # himalaya's identities: the parts sum to the prediction less the training mean of Y,
            # the r split to the Pearson r of the prediction, the R² split to the joint R²
            np.testing.assert_allclose(parts.sum(0) + Y.astype(np.float64).mean(0), pred, rtol=1e-7, atol=1e-7)
            np.testing.assert_allclose(s["r"].sum(0), brainsweep.pearson_r(pred, Yt), atol=1e-6)
            np.testing.assert_allclose(s["r2"].sum(0), s["r2_joint"], atol=1e-9)
            yc = Yt - Yt.mean(0)
            for k in range(2):  # include_correlation=False: each part's own R² against the centred Y
                own = 1 - ((yc - parts[k]) ** 2).sum(0) / (yc ** 2).sum(0)
                np.testing.assert_allclose(s["r2_alone"][k], own, rtol=1e-5, atol=1e-6)
            print("BandedRidgeCV on Sherlock sub-01: chosen γ(annotations)", np.round(m.gammas_[:, 0], 3).tolist())

    def test_bad_input(self):
        X, Y, _, _ = synthetic(60, 6, 2, 10, 3)
        with self.assertRaisesRegex(ValueError, r"^bands: the widths sum to 5, X has 6 features"):
            brainsweep.BandedRidgeCV(bands=[2, 3]).fit(X, Y)
        with self.assertRaisesRegex(ValueError, r"^bands: expected at least 2 widths >= 1"):
            brainsweep.BandedRidgeCV(bands=[6]).fit(X, Y)
        with self.assertRaisesRegex(ValueError, r"^concentrations: expected finite values > 0"):
            brainsweep.BandedRidgeCV(bands=[3, 3], concentrations=[0]).fit(X, Y)
        with self.assertRaisesRegex(ValueError, r"Y_split\[1\]: expected a 2-D array"):
            brainsweep.score_split(Y, [Y, Y[:, 0]])


class ScikitLearn(unittest.TestCase):
    """brainsweep.RidgeCV as scikit-learn users expect (issue #25 §2)."""

    def test_passes_check_estimator_as_a_regressor(self):
        from sklearn.base import is_regressor
        from sklearn.utils.estimator_checks import check_estimator
        self.assertTrue(is_regressor(brainsweep.RidgeCV()))
        n = 0
        for est, check in check_estimator(brainsweep.RidgeCV(), generate_only=True):
            check(est)  # raises on a failure, naming the check
            n += 1
        print(f"scikit-learn {__import__('sklearn').__version__}: {n} estimator checks pass")
        self.assertGreater(n, 35)

    def test_pickle_and_joblib_round_trip_predict_the_same_bits(self):
        import pickle
        import joblib
        X, Y, Xt, _ = synthetic(120, 12, 5, 30, 11)
        backends = ["cpu"]
        try:
            brainsweep.RidgeCV(cv=2, backend="cuda").fit(np.eye(8, 2), np.arange(8.0))
            backends.append("cuda")
        except RuntimeError:
            pass
        for backend in backends:
            m = brainsweep.RidgeCV(cv=3, backend=backend).fit(X, Y)
            for name, back in (("pickle", pickle.loads(pickle.dumps(m))), ("joblib", None)):
                if back is None:
                    with tempfile.TemporaryDirectory() as d:
                        joblib.dump(m, os.path.join(d, "m.joblib"))
                        back = joblib.load(os.path.join(d, "m.joblib"))
                with self.subTest(backend=backend, via=name):
                    np.testing.assert_array_equal(back.predict(Xt), m.predict(Xt))
                    np.testing.assert_array_equal(back.alphas_, m.alphas_)
                    np.testing.assert_array_equal(back.coef_, m.coef_)
                    self.assertEqual(back.get_params(), m.get_params())
                    self.assertEqual(back.score(Xt, m.predict(Xt)), m.score(Xt, m.predict(Xt)))
        unfitted = pickle.loads(pickle.dumps(brainsweep.RidgeCV(cv=4)))
        self.assertEqual(unfitted.cv, 4)
        with self.assertRaisesRegex(ValueError, "not fitted yet"):
            unfitted.predict(Xt)

    def test_nan_is_not_a_score_of_zero(self):
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal((50, 3)), rng.standard_normal((50, 3))
        b[7, 1] = np.nan
        b[9, 2] = np.inf
        r = brainsweep.pearson_r(a, b)
        self.assertTrue(np.isnan(r[1]) and np.isnan(r[2]))
        self.assertAlmostEqual(r[0], np.corrcoef(a[:, 0], b[:, 0])[0, 1], places=12)
        m = brainsweep.RidgeCV(cv=3).fit(a, rng.standard_normal((50, 2)))
        with self.assertRaisesRegex(ValueError, r"^Y: contains NaN \(non-finite value nan at row 3, column 0\)"):
            m.score(a, np.where(np.arange(50)[:, None] == 3, np.nan, b[:, :2]))

if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv.pop(1))
    trc.BIN = BIN
    unittest.main(verbosity=2)
