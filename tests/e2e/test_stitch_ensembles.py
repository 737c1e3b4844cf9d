#!/usr/bin/python3
"""`brainsweep stitch` ensembles (issue #14 §1) on the Sherlock run of sweeps/sherlock.yaml (8
subjects, 10 feature sets × windows, roi6), against numpy built from the job files: softmax weights
(TRIBE) over every job and over the top 3, per subject and parcel; a large temperature tending to
the equal-weight top-k mean; an override that drops the annotation feature sets for the eval episode;
no --eval (the selection score, optimistic); every refusal, with nothing written.

Usage: test_stitch_ensembles.py BRAINSWEEP SHERLOCK_DIR
"""
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

import e2e_util as e2e  # noqa: E402  (the directory of this script is on sys.path)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = None
SHERLOCK = None


def bs(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, cwd=SOURCE)


read_csv = e2e.read_csv


def pearson_columns(a, b):
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


class StitchEnsembles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.run_dir = os.path.join(cls.tmp.name, "run")
        sweep = e2e.sherlock_sweep(os.path.join(cls.tmp.name, "sweep.yaml"), SHERLOCK)
        for cmd in (["generate", sweep, "--out", cls.run_dir], ["run", cls.run_dir]):
            r = bs(*cmd)
            assert r.returncode == 0, r.stderr
        with open(os.path.join(cls.run_dir, "plan.json")) as f:
            import json
            plan = json.load(f)
        cls.subjects = plan["subjects"]
        cls.jobs = {s: sorted([j for j in plan["jobs"] if j["subject"] == s], key=lambda j: j["job_id"]) for s in cls.subjects}
        cls.cv, cls.pred, cls.label = {}, {}, {}
        for s in cls.subjects:
            cv, pred = [], []
            for j in cls.jobs[s]:
                with h5py.File(os.path.join(cls.run_dir, "jobs", j["job_id"] + ".h5")) as f:
                    cv.append(f["cv_r"][()])
                    pred.append(f["predictions/sherlock02"][()].astype(np.float64))
                    cls.parcels = [n.decode() for n in f.attrs["parcel_names"]]
            cls.cv[s], cls.pred[s] = np.array(cv), np.array(pred)   # jobs × parcels, jobs × T × parcels
            cls.label[s] = [f"{j['model']}/{'+'.join(j['layers'])}" for j in cls.jobs[s]]
        cls.truth = {}
        for s in cls.subjects:
            with h5py.File(os.path.join(SHERLOCK, "fmri", s, "func", f"{s}_task-sherlock_space-MNI152_atlas-roi6_bold.h5")) as f:
                cls.truth[s] = f["ses-001_task-sherlock02"][()].astype(np.float64)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def ensemble(self, s, temperature=None, top_k=None, allowed=None):
        """numpy: per parcel, candidates = top_k by cv_r (ties to the lower job id) among allowed jobs,
        weights equal or ∝ exp(cv / T); returns weights (jobs × parcels) and the prediction."""
        cv = self.cv[s]
        n_jobs, n_parcels = cv.shape
        ok = np.ones(n_jobs, bool) if allowed is None else np.array([allowed(l) for l in self.label[s]])
        w = np.zeros((n_jobs, n_parcels))
        for c in range(n_parcels):
            idx = [j for j in sorted(range(n_jobs), key=lambda j: (-cv[j, c], self.jobs[s][j]["job_id"])) if ok[j]]
            idx = idx[:top_k] if top_k else idx
            if temperature is None:
                w[idx, c] = 1 / len(idx)
            else:
                e = np.exp(cv[idx, c] / temperature)
                w[idx, c] = e / e.sum()
        return w, np.einsum("jp,jtp->tp", w, self.pred[s])

    def stitch(self, *args, expect=0):
        r = bs("stitch", self.run_dir, "--select", "cv", *args)
        self.assertEqual(r.returncode, expect, r.stderr)
        return r

    def test_alphas_at_the_grid_edges_are_counted(self):
        """#27 §9: stitch warns with the number of best jobs whose alpha is an edge of the grid (10^-1 or
        10^7), counted here from winners.csv; gather warns with the count over every job × parcel."""
        r = self.stitch("--top-k", "1", "--eval", "test")
        winners = [w for w in read_csv(os.path.join(self.run_dir, "stitched", "winners.csv")) if w["rank"] == "1"]
        edge = sum(float(w["alpha"]) in (0.1, 1e7) for w in winners)
        self.assertGreater(edge, 0)
        self.assertIn(f"warning: {edge} of {len(winners)} best jobs (subject × parcel) chose an alpha at an edge of "
                      "the grid (0.1 or 1e+07)", r.stdout)
        rows = read_csv(os.path.join(self.run_dir, "results.csv"))
        fits = [x for x in rows if x["eval_set"] == "test"]
        top, bottom = sum(float(x["alpha"]) == 1e7 for x in fits), sum(float(x["alpha"]) == 0.1 for x in fits)
        g = bs("gather", self.run_dir)
        self.assertEqual(g.returncode, 0, g.stderr)
        self.assertIn(f"{top + bottom} of {len(fits)} job × parcel fits chose an alpha at an edge of the grid ({top} at "
                      f"the top", g.stderr + g.stdout)

    def check_against(self, want_w, want_pred, tol_r=2e-5):
        scores = {(row["subject"], row["parcel"]): float(row["r"]) for row in read_csv(os.path.join(self.run_dir, "stitched", "scores.csv"))}
        winners = read_csv(os.path.join(self.run_dir, "stitched", "winners.csv"))
        with h5py.File(os.path.join(self.run_dir, "stitched", "predictions.h5")) as f:
            for s in self.subjects:
                got = f[f"{s}/sherlock02"][()]
                np.testing.assert_allclose(got, want_pred[s], atol=2e-5, rtol=1e-5, err_msg=s)
                r = pearson_columns(want_pred[s], self.truth[s])
                for c, parcel in enumerate(self.parcels):
                    self.assertAlmostEqual(scores[(s, parcel)], r[c], delta=tol_r, msg=(s, parcel))
                    rows = [w for w in winners if w["subject"] == s and w["parcel"] == parcel and w["episodes"] == "*"]
                    ids = [j["job_id"] for j in self.jobs[s]]
                    got_w = np.zeros(len(ids))
                    for w in rows:
                        got_w[ids.index(w["job_id"])] = float(w["weight"])
                    np.testing.assert_allclose(got_w, want_w[s][:, c], atol=1e-8, err_msg=(s, parcel))

    def test_softmax_over_every_job(self):
        T = 0.05
        r = self.stitch("--weights", "softmax", "--temperature", str(T), "--eval", "test")
        self.assertIn("weights softmax (temperature 0.05) over every job", r.stdout)
        want = {s: self.ensemble(s, temperature=T) for s in self.subjects}
        self.check_against({s: v[0] for s, v in want.items()}, {s: v[1] for s, v in want.items()})
        with h5py.File(os.path.join(self.run_dir, "stitched", "predictions.h5")) as f:
            self.assertEqual(f.attrs["weights"], b"softmax" if isinstance(f.attrs["weights"], bytes) else "softmax")
        winners = read_csv(os.path.join(self.run_dir, "stitched", "winners.csv"))
        self.assertEqual(len(winners), 8 * 6 * 10)  # every job a candidate
        top1 = self.ensemble("sub-01", temperature=T)[0].max(axis=0)
        print(f"softmax T={T}: the best job's weight per parcel of sub-01: {np.round(top1, 3).tolist()}")

    def test_softmax_top3_and_large_temperature(self):
        self.stitch("--weights", "softmax", "--temperature", "0.02", "--top-k", "3", "--eval", "test")
        want = {s: self.ensemble(s, temperature=0.02, top_k=3) for s in self.subjects}
        self.check_against({s: v[0] for s, v in want.items()}, {s: v[1] for s, v in want.items()})
        # T → ∞: the equal-weight mean of the same 3
        r = self.stitch("--weights", "softmax", "--temperature", "1e9", "--top-k", "3", "--eval", "test")
        # a run holds one stitch: the earlier one is replaced, and said so (#27 §11)
        self.assertIn(f"replacing the earlier stitch in {os.path.join(self.run_dir, 'stitched')}", r.stdout)
        soft = read_csv(os.path.join(self.run_dir, "stitched", "scores.csv"))
        self.stitch("--top-k", "3", "--eval", "test")
        equal = read_csv(os.path.join(self.run_dir, "stitched", "scores.csv"))
        for a, b in zip(soft, equal):
            self.assertAlmostEqual(float(a["r"]), float(b["r"]), delta=1e-6)
            self.assertEqual(a["job_ids"], b["job_ids"])

    def test_override_drops_feature_sets(self):
        spec = "sherlock0[2-9]!=annotations/.*"
        r = self.stitch("--top-k", "2", "--override", spec, "--eval", "test")
        self.assertIn("overrides sherlock0[2-9]!=annotations/.*", r.stdout)
        allowed = lambda label: not label.startswith("annotations/")  # noqa: E731
        want = {s: self.ensemble(s, top_k=2, allowed=allowed) for s in self.subjects}
        default = {s: self.ensemble(s, top_k=2) for s in self.subjects}
        # the eval episode follows the override; winners.csv lists both rules, each job's weight
        with h5py.File(os.path.join(self.run_dir, "stitched", "predictions.h5")) as f:
            self.assertEqual([x.decode() if isinstance(x, bytes) else x for x in f.attrs["overrides"]], [spec])
            for s in self.subjects:
                np.testing.assert_allclose(f[f"{s}/sherlock02"][()], want[s][1], atol=2e-5, rtol=1e-5)
        winners = read_csv(os.path.join(self.run_dir, "stitched", "winners.csv"))
        over = [w for w in winners if w["episodes"] == "sherlock0[2-9]"]
        self.assertEqual(len(over), 8 * 6 * 2)
        self.assertFalse(any(w["model"] == "annotations" for w in over))
        self.assertEqual(len([w for w in winners if w["episodes"] == "*"]), 8 * 6 * 2)
        for s in self.subjects:
            got = {(w["parcel"], w["job_id"]): float(w["weight"]) for w in winners if w["subject"] == s and w["episodes"] == "*"}
            ids = [j["job_id"] for j in self.jobs[s]]
            for (parcel, jid), wt in got.items():
                self.assertAlmostEqual(wt, default[s][0][ids.index(jid), self.parcels.index(parcel)], delta=1e-9)
        # a glob that matches nothing: a warning, and the default choice
        r = self.stitch("--top-k", "2", "--override", "chaplin*=annotations/.*", "--eval", "test")
        self.assertIn("warning: --override 'chaplin*=annotations/.*': 'chaplin*' matches no episode stitched here", r.stderr)
        with h5py.File(os.path.join(self.run_dir, "stitched", "predictions.h5")) as f:
            for s in self.subjects:
                np.testing.assert_allclose(f[f"{s}/sherlock02"][()], default[s][1], atol=2e-5, rtol=1e-5)
        # a regex that matches no feature set (case: 'Annotations'): a warning naming the run's sets, the default choice
        r = self.stitch("--top-k", "2", "--override", "sherlock02!=Annotations/.*", "--eval", "test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: --override 'sherlock02!=Annotations/.*': 'Annotations/.*' matches no feature set of the "
                      "run (case-sensitive", r.stderr)
        self.assertIn("annotations/all, annotations/scene", r.stderr)
        with h5py.File(os.path.join(self.run_dir, "stitched", "predictions.h5")) as f:
            for s in self.subjects:
                np.testing.assert_allclose(f[f"{s}/sherlock02"][()], default[s][1], atol=2e-5, rtol=1e-5)
        r = self.stitch("--top-k", "2", "--override", spec, "--eval", "test")
        self.assertNotIn("matches no feature set", r.stderr)
        # keep-form: only the LSA feature set
        self.stitch("--override", "sherlock02=description_lsa/lsa64", "--eval", "test")
        winners = read_csv(os.path.join(self.run_dir, "stitched", "winners.csv"))
        self.assertEqual({w["model"] for w in winners if w["episodes"] == "sherlock02"}, {"description_lsa"})

    def test_zscore(self):
        """--zscore (VIBE): each candidate z-scored with its training predictions' mean and SD (checked
        against the ENCODING.md reference's refit for three jobs), the weighted sum rescaled."""
        sys.path.insert(0, os.path.join(HERE, "..", "reference"))
        import json
        import encoding_reference as enc
        with open(os.path.join(self.run_dir, "plan.json")) as f:
            plan = json.load(f)
        stats = {}
        for s in self.subjects:
            m, sd = [], []
            for j in self.jobs[s]:
                with h5py.File(os.path.join(self.run_dir, "jobs", j["job_id"] + ".h5")) as f:
                    m.append(f["train_pred_mean"][()])
                    sd.append(f["train_pred_sd"][()])
            stats[s] = (np.array(m), np.array(sd))
        for j in self.jobs["sub-01"][:3]:
            want = {}
            enc.run_job(plan, j, train_stats=want)
            k = self.jobs["sub-01"].index(j)
            np.testing.assert_allclose(stats["sub-01"][0][k], want["mean"], rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(stats["sub-01"][1][k], want["sd"], rtol=2e-4, atol=1e-5)
        self.stitch("--zscore", "--top-k", "3", "--weights", "softmax", "--temperature", "0.05", "--eval", "test")
        scores = {(row["subject"], row["parcel"]): float(row["r"]) for row in read_csv(os.path.join(self.run_dir, "stitched", "scores.csv"))}
        with h5py.File(os.path.join(self.run_dir, "stitched", "predictions.h5")) as f:
            self.assertEqual(int(f.attrs["zscore"]), 1)
            for s in self.subjects:
                w, _ = self.ensemble(s, temperature=0.05, top_k=3)
                m, sd = stats[s]
                z = (self.pred[s] - m[:, None, :]) / sd[:, None, :]
                want = np.einsum("jp,jtp->tp", w, z) * (w * sd).sum(0) + (w * m).sum(0)
                np.testing.assert_allclose(f[f"{s}/sherlock02"][()], want, atol=5e-5, rtol=1e-4, err_msg=s)
                r = pearson_columns(want, self.truth[s])
                for c, parcel in enumerate(self.parcels):
                    self.assertAlmostEqual(scores[(s, parcel)], r[c], delta=2e-5)

    def test_float16_predictions(self):
        """ridge.prediction_dtype: float16: the job files hold float16 predictions equal to numpy's
        rounding of the float32 run's (brainsweep's own float_to_half: round to nearest even), and
        stitch scores them within 1e-3 of the float32 run."""
        run16 = os.path.join(self.tmp.name, "run16")
        sweep = os.path.join(self.tmp.name, "sweep16.yaml")
        with open(os.path.join(self.tmp.name, "sweep.yaml")) as f:
            text = f.read().replace("ridge: {folds: 5}", "ridge: {folds: 5, prediction_dtype: float16}")
        self.assertIn("prediction_dtype: float16", text)
        with open(sweep, "w") as f:
            f.write(text)
        for cmd in (["generate", sweep, "--out", run16], ["run", run16]):
            r = bs(*cmd)
            self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(run16, "plan.json")) as f:
            import json
            plan16 = json.load(f)
        jobs16 = sorted((j for j in plan16["jobs"] if j["subject"] == "sub-01"), key=lambda j: (j["model"], j["layers"], j["stimulus_window"]))
        jobs32 = sorted(self.jobs["sub-01"], key=lambda j: (j["model"], j["layers"], j["stimulus_window"]))
        for j16, j32 in zip(jobs16, jobs32):
            with h5py.File(os.path.join(run16, "jobs", j16["job_id"] + ".h5")) as f16, \
                    h5py.File(os.path.join(self.run_dir, "jobs", j32["job_id"] + ".h5")) as f32:
                p16, p32 = f16["predictions/sherlock02"], f32["predictions/sherlock02"][()]
                self.assertEqual(p16.dtype, np.float16)
                np.testing.assert_array_equal(p16[()], p32.astype(np.float16))
        r = bs("stitch", run16, "--select", "cv", "--top-k", "3", "--eval", "test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.stitch("--top-k", "3", "--eval", "test")
        a = read_csv(os.path.join(run16, "stitched", "scores.csv"))
        b = read_csv(os.path.join(self.run_dir, "stitched", "scores.csv"))
        self.assertEqual([x["job_ids"] == y["job_ids"] for x, y in zip(a, b)].count(False), len(a))  # other job ids
        for x, y in zip(a, b):
            self.assertAlmostEqual(float(x["r"]), float(y["r"]), delta=1e-3)

    def test_without_eval(self):
        r = self.stitch("--weights", "softmax", "--temperature", "0.1")
        self.assertIn("no --eval: the scores below are the ensemble's selection score (cv), optimistic", r.stdout)
        rows = read_csv(os.path.join(self.run_dir, "stitched", "scores.csv"))
        self.assertEqual({row["eval_set"] for row in rows}, {"selection:cv"})
        for s in self.subjects:
            w, _ = self.ensemble(s, temperature=0.1)
            want = (w * self.cv[s]).sum(0)
            for c, parcel in enumerate(self.parcels):
                got = next(float(row["r"]) for row in rows if row["subject"] == s and row["parcel"] == parcel)
                self.assertAlmostEqual(got, want[c], delta=1e-8)
        self.assertFalse(os.path.exists(os.path.join(self.run_dir, "stitched", "predictions.h5")))

    def test_refusals(self):
        self.stitch("--top-k", "1", "--eval", "test")
        files = sorted(os.listdir(os.path.join(self.run_dir, "stitched")))
        with open(os.path.join(self.run_dir, "stitched", "scores.csv")) as f:
            before = f.read()
        cases = [
            (["--weights", "softmax", "--eval", "test"], r"--weights softmax: needs --temperature T"),
            (["--weights", "softmax", "--temperature", "0", "--eval", "test"], r"--temperature: expected > 0, found 0"),
            (["--weights", "softmax", "--temperature", "-1", "--eval", "test"], r"--temperature: expected > 0, found -1"),
            (["--temperature", "0.3", "--eval", "test"], r"--temperature: only with --weights softmax"),
            (["--weights", "mean", "--eval", "test"], r"--weights: expected topk or softmax, found 'mean'"),
            (["--override", "sherlock02=nothing", "--eval", "test"], r"--override 'sherlock02=nothing': no job of sub-01 is left"),
            (["--override", "sherlock02", "--eval", "test"], r"--override 'sherlock02': expected GLOB=REGEX"),
            (["--override", "x=(", "--eval", "test"], r"--override 'x=\(': '\(' is not a regular expression"),
            (["--top-k", "11", "--eval", "test"], r"--top-k 11: sub-01 has only 10 jobs"),
            (["--ceiling", "x.csv"], r"--ceiling: needs --eval"),
        ]
        for args, pattern in cases:
            with self.subTest(args=args):
                r = self.stitch(*args, expect=2)
                self.assertRegex(r.stderr, pattern)
                self.assertEqual(sorted(os.listdir(os.path.join(self.run_dir, "stitched"))), files)
                with open(os.path.join(self.run_dir, "stitched", "scores.csv")) as f:
                    self.assertEqual(f.read(), before)
        # --zscore on job files without the training statistics (an earlier brainsweep's)
        import shutil
        old = os.path.join(self.tmp.name, "old_run")
        shutil.copytree(self.run_dir, old)
        job = self.jobs["sub-01"][0]["job_id"]
        with h5py.File(os.path.join(old, "jobs", job + ".h5"), "a") as f:
            del f["train_pred_sd"]
        r = bs("stitch", old, "--select", "cv", "--zscore", "--eval", "test")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(f"{job}.h5: no dataset 'train_pred_sd'", r.stderr)


if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv.pop(1))
    SHERLOCK = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
