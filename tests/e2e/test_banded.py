#!/usr/bin/python3
"""Banded ridge (issue #14 §2): a feature set of bands, one grid point per scaling (the uniform
point, the one-hot corners, Dirichlet samples), against the independent numpy implementation of
ENCODING.md in tests/reference/encoding_reference.py (its run_job scales each band's standardised
columns by √γ and runs the same CV ridge), on Sherlock (annotation and LSA bands) and on a planted
synthetic where a narrow band drives three parcels and three columns of a 300-wide band drive three
others: the random search must beat plain concatenation (the uniform point) on held-out r and
recover which band drives which parcel. Bad bands are refused by name.

Usage: test_banded.py BRAINSWEEP SHERLOCK_DIR
"""
import json
import os
import re
import subprocess
import sys
import unittest

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import encoding_reference as enc  # noqa: E402
import e2e_util as e2e  # noqa: E402

BIN = None
SHERLOCK = None


def bs(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, cwd=SOURCE)


read_csv = e2e.read_csv


class Banded(e2e.TempDirTest):
    def run_sweep(self, text, name):
        sweep = os.path.join(self.d, f"{name}.yaml")
        with open(sweep, "w") as f:
            f.write(text)
        run = os.path.join(self.d, name)
        for cmd in (["generate", sweep, "--out", run], ["run", run]):
            r = bs(*cmd)
            self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(run, "plan.json")) as f:
            return run, json.load(f)

    def check_against_numpy(self, run, plan):
        """Every banded job's alpha, CV r and eval r against the reference; returns {job_id: cv_r}."""
        rows = read_csv(os.path.join(run, "results.csv"))
        cv = {}
        for job in plan["jobs"]:
            if job["model"] != "banded":
                continue
            split = {}
            names, alpha, cv_r, ev = enc.run_job(plan, job, eval_split=split)
            got = [r for r in rows if r["job_id"] == job["job_id"]]
            self.check_split(run, job, split["test"], [float(r["eval_r"]) for r in got])
            self.assertEqual([r["parcel"] for r in got], list(names))
            np.testing.assert_allclose([float(r["cv_r"]) for r in got], cv_r, atol=2e-5, err_msg=job["layers"])
            # (1e-4: a parcel without signal in a band, fitted with the largest alpha, has near-constant
            # float32 predictions whose r is ill-conditioned)
            np.testing.assert_allclose([float(r["eval_r"]) for r in got], ev["test"], atol=1e-4, err_msg=job["layers"])
            np.testing.assert_allclose([float(r["alpha"]) for r in got], alpha, rtol=1e-8)
            cv[job["job_id"]] = np.array([float(r["cv_r"]) for r in got])  # the engine's, checked above
        # results_split.csv: one row per banded job × parcel × eval set × band, the job files' values
        split_rows = read_csv(os.path.join(run, "results_split.csv"))
        banded = [j for j in plan["jobs"] if j["model"] == "banded"]
        self.assertEqual(len(split_rows), sum(len(j["bands"]) for j in banded) * len(names))
        for j in banded[:3]:
            with h5py.File(os.path.join(run, "jobs", j["job_id"] + ".h5"), "r") as f:
                r2a = f["eval/test/r2_alone"][()]
            mine = [r for r in split_rows if r["job_id"] == j["job_id"]]
            for i, r in enumerate(mine):  # parcel-major, bands within a parcel
                c, k = divmod(i, len(j["bands"]))
                self.assertEqual(r["parcel"], names[c])
                self.assertAlmostEqual(float(r["gamma"]), j["bands"][k]["gamma"], delta=1e-8)
                self.assertAlmostEqual(float(r["r2_alone"]), r2a[k, c], delta=1e-8)
        return cv, rows

    def check_split(self, run, job, want, eval_r):
        """Issue #26 §2: the job file's per-band split of the test set's scores against the reference's
        himalaya formulas, and the identities of himalaya's tests: the correlation split sums to the
        job's r, the product-measure R² split to the joint R²; a band weighted 0 (a one-hot corner)
        has a zero part and the other band the whole r."""
        with h5py.File(os.path.join(run, "jobs", job["job_id"] + ".h5"), "r") as f:
            got = {k: f[f"eval/test/{k}"][()] for k in ("r_split", "r2_split", "r2_alone", "r2")}
        K = len(job["bands"])
        for i, k in enumerate(("r_split", "r2_split", "r2_alone", "r2")):
            self.assertEqual(got[k].shape, want[i].shape, k)
            np.testing.assert_allclose(got[k], want[i], atol=2e-4, err_msg=f"{job['layers']} {k}")
        self.assertEqual(got["r_split"].shape[0], K)
        # (eval r comes from the float32 prediction with its intercept; at the largest alphas the
        # prediction is nearly constant and its r ill-conditioned, as in check_against_numpy)
        np.testing.assert_allclose(got["r_split"].sum(0), eval_r, atol=1e-4)
        np.testing.assert_allclose(got["r2_split"].sum(0), got["r2"], atol=1e-12)
        gammas = [b["gamma"] for b in job["bands"]]
        if sorted(gammas) == [0.0, 1.0]:
            off = gammas.index(0.0)
            for k in ("r_split", "r2_split", "r2_alone"):
                self.assertTrue(np.all(got[k][off] == 0.0), (k, got[k]))
            np.testing.assert_allclose(got["r_split"][1 - off], eval_r, atol=1e-4)
            np.testing.assert_allclose(got["r2_alone"][1 - off], got["r2"], atol=1e-12)
        self.split_checked = getattr(self, "split_checked", 0) + 1

    def check_scalings(self, run, plan, cv):
        """stitch --top-k 1: the γ of each subject × parcel's best banded job (the argmax of its CV r,
        ties to the lower job id) in stitched/scalings.csv."""
        r = bs("stitch", run, "--select", "cv", "--eval", "test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("banded winners: mean scaling γ per band", r.stdout)
        got = read_csv(os.path.join(run, "stitched", "scalings.csv"))
        jobs = {j["job_id"]: j for j in plan["jobs"]}
        # banded sets have no layer depth (-1 in networks.csv, "none" in the summary), and the summary
        # names every band in full
        for n in read_csv(os.path.join(run, "stitched", "networks.csv")):
            if n["feature_set"].startswith("banded/"):
                self.assertEqual(float(n["mean_layer_index"]), -1.0, n)
                self.assertRegex(r.stdout, re.escape(n["feature_set"]) + r" +\d+ +[\d.]+% +none\n")
        for band in {g["band"] for g in got}:
            self.assertIn(" " + band, r.stdout.split("banded winners")[1].splitlines()[1])
        checked = 0
        for sub in plan["subjects"]:
            ids = sorted(j for j in cv if jobs[j]["subject"] == sub)
            scores = np.array([cv[j] for j in ids])
            parcels = sorted({g["parcel"] for g in got})
            for c in range(scores.shape[1]):
                best = ids[max(range(len(ids)), key=lambda k: (scores[k, c], -k))]
                parcel_rows = [g for g in got if g["subject"] == sub and g["job_id"] == best]
                self.assertTrue(parcel_rows, (sub, c, best))
                want = {f"{b['model']}/{'+'.join(b['layers'])}": b["gamma"] for b in jobs[best]["bands"]}
                with h5py.File(os.path.join(run, "jobs", best + ".h5"), "r") as f:
                    rs, r2s = f["eval/test/r_split"][()], f["eval/test/r2_split"][()]
                    c_name = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["parcel_names"]][c]
                    bands = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["bands"]]
                for g in parcel_rows:
                    self.assertAlmostEqual(float(g["gamma"]), want[g["band"]], delta=1e-8)
                    if g["parcel"] == c_name:  # the winner's split on --eval (issue #26 §2)
                        k = bands.index(g["band"])
                        self.assertEqual(g["eval_set"], "test")
                        self.assertAlmostEqual(float(g["r_split"]), rs[k, c], delta=1e-8)
                        self.assertAlmostEqual(float(g["r2_split"]), r2s[k, c], delta=1e-8)
                        checked += 1
            self.assertTrue(parcels)
        self.assertEqual(checked, len(got))  # every winner row carries its split
        return got, r.stdout

    def test_sherlock_annotation_and_lsa_bands(self):
        run, plan = self.run_sweep(f"""dataset: {SOURCE}/configs/datasets/sherlock.yaml
dataset_root: {SHERLOCK}
atlas: roi6
subjects: [sub-01, sub-02, sub-03]
features:
  - bands:
      - {{model: annotations, layers: [all]}}
      - {{model: description_lsa, layers: [lsa64]}}
    scalings: {{samples: 5, concentrations: [0.1, 1.0], seed: 1}}
grid: {{hrf_delay: [0], stimulus_window: [1, 3]}}
train: [sherlock01]
eval: {{test: [sherlock02]}}
""", "sherlock")
        gammas = [[b["gamma"] for b in u["bands"]] for u in plan["units"] if u["stimulus_window"] == 1]
        self.assertEqual(len(plan["units"]), 2 * (1 + 2 + 5))
        self.assertEqual(len(gammas), 1 + 2 + 5)
        self.assertEqual(gammas[0], [0.5, 0.5])
        self.assertEqual(gammas[1:3], [[1.0, 0.0], [0.0, 1.0]])
        for g in gammas:
            self.assertAlmostEqual(sum(g), 1.0, delta=1e-12)
        cv, _ = self.check_against_numpy(run, plan)
        self.assertEqual(self.split_checked, 3 * 2 * (1 + 2 + 5))
        self.check_scalings(run, plan, cv)
        # Python: read_split gives results_split.csv as a DataFrame whose r_split sums over bands to
        # read_results' r_test
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(BIN)), "python"))
        import brainsweep
        sp, res = brainsweep.read_split(run), brainsweep.read_results(run)
        self.assertEqual(list(sp.columns), ["job_id", "subject", "parcel", "eval_set", "band", "gamma", "r_split",
                                            "r2_split", "r2_alone", "r2"])
        self.assertEqual(len(sp), 3 * 6 * 2 * 2 * (1 + 2 + 5))
        summed = sp.groupby(["job_id", "parcel"]).r_split.sum()
        joined = res.set_index(["job_id", "parcel"]).r_test.loc[summed.index]
        np.testing.assert_allclose(summed.to_numpy(), joined.to_numpy(), atol=1e-4)
        os.remove(os.path.join(run, "results_split.csv"))
        with self.assertRaisesRegex(ValueError, "results_split.csv: missing; it is written for sweeps with banded"):
            brainsweep.read_split(run)

    def planted(self):
        root = os.path.join(self.d, "planted")
        rng = np.random.default_rng(7)
        episodes = [f"run{k}" for k in range(1, 6)]  # run1-4 train, run5 test
        T = 200
        feats = {ep: {"narrow": rng.standard_normal((T, 3)), "wide": rng.standard_normal((T, 300))} for ep in episodes}
        a = rng.standard_normal((3, 3))
        b = rng.standard_normal((3, 3))
        for s in ("sub-01", "sub-02"):
            os.makedirs(os.path.join(root, "fmri", s))
            with h5py.File(os.path.join(root, "fmri", s, f"{s}_bold.h5"), "w") as f:
                for ep in episodes:
                    y = np.hstack([feats[ep]["narrow"] @ a, feats[ep]["wide"][:, :3] @ b])
                    y += 2.0 * rng.standard_normal(y.shape)
                    f[f"ses-001_task-{ep}"] = y.astype("f4")
                f.attrs["parcel_names"] = np.array([b"n0", b"n1", b"n2", b"w0", b"w1", b"w2"])
        e2e.write_flat_features(root, {ep: feats[ep] for ep in episodes})
        return e2e.flat_descriptor(root, "planted", 1.0)

    def test_planted_bands(self):
        desc = self.planted()
        run, plan = self.run_sweep(f"""dataset: {desc}
atlas: none
subjects: [sub-01, sub-02]
features:
  - bands:
      - {{model: narrow, layers: [x]}}
      - {{model: wide, layers: [x]}}
    scalings: {{samples: 12, concentrations: [0.1, 1.0], seed: 0}}
grid: {{hrf_delay: [0], stimulus_window: [1]}}
ridge: {{folds: 4}}
train: [run1, run2, run3, run4]
eval: {{test: [run5]}}
""", "planted_run")
        cv, rows = self.check_against_numpy(run, plan)
        self.assertEqual(self.split_checked, 2 * (1 + 2 + 12))
        got, report = self.check_scalings(run, plan, cv)
        # the split of the uniform point: the narrow band's part explains the narrow parcels, the wide
        # band's part the others
        uniform = next(j for j in plan["jobs"] if [b["gamma"] for b in j["bands"]] == [0.5, 0.5])
        with h5py.File(os.path.join(run, "jobs", uniform["job_id"] + ".h5"), "r") as f:
            r2s = f["eval/test/r2_split"][()]
            parcels = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["parcel_names"]]
        for c, name in enumerate(parcels):
            mine, other = (0, 1) if name.startswith("n") else (1, 0)
            self.assertGreater(r2s[mine, c], r2s[other, c], name)
        print("planted, uniform scaling: R² split per band (narrow, wide) per parcel:",
              {n: (round(float(r2s[0, c]), 3), round(float(r2s[1, c]), 3)) for c, n in enumerate(parcels)})
        # recovery: the narrow band drives n0-n2, the wide one w0-w2
        for g in got:
            if g["band"] == "narrow/x":
                if g["parcel"].startswith("n"):
                    self.assertGreater(float(g["gamma"]), 0.5, g)
                else:
                    self.assertLess(float(g["gamma"]), 0.5, g)
        # held-out r: the stitched random search against plain concatenation (the uniform point)
        scores = read_csv(os.path.join(run, "stitched", "scores.csv"))
        uniform = [j["job_id"] for j in plan["jobs"] if [b["gamma"] for b in j["bands"]] == [0.5, 0.5]]
        concat = [r for r in rows if r["job_id"] in uniform]
        banded_r = np.mean([float(r["r"]) for r in scores])
        concat_r = np.mean([float(r["eval_r"]) for r in concat])
        narrow_gain = np.mean([float(r["r"]) for r in scores if r["parcel"].startswith("n")]) - np.mean(
            [float(r["eval_r"]) for r in concat if r["parcel"].startswith("n")])
        print(f"planted: held-out r, banded random search {banded_r:.4f} vs concatenation {concat_r:.4f} "
              f"(narrow-band parcels +{narrow_gain:.4f})")
        self.assertGreater(banded_r, concat_r)
        self.assertGreater(narrow_gain, 0.0)

    def test_bad_bands(self):
        desc = self.planted()
        base = f"""dataset: {desc}
atlas: none
subjects: [sub-01]
grid: {{hrf_delay: [0], stimulus_window: [1]}}
train: [run1, run2, run3, run4]
eval: {{test: [run5]}}
"""
        cases = [
            ("features: [{bands: [{model: narrow, layers: [x]}, {model: narrow, layers: [x]}]}]",
             r"features\[0\].bands\[1\]': layer 'narrow/x' is also in features\[0\].bands\[0\]"),
            ("features: [{bands: [{model: narrow, layers: [x]}]}]", r"features\[0\].bands': expected a list of at least 2 bands"),
            ("features: [{bands: [{model: narrow, layers: [x]}, {model: wide, layers: [x]}], scalings: {concentrations: [0]}}]",
             r"features\[0\].scalings.concentrations': expected finite numbers > 0"),
            ("features: [{bands: [{model: narrow, layers: [x]}, {model: wide, layers: [x]}], scalings: {n: 3}}]",
             r"features\[0\].scalings.n': unknown key"),
            ("features: [{bands: [{model: narrow, layers: [x]}, {model: wide, layers: [x]}], scalings: {samples: -1}}]",
             r"features\[0\].scalings.samples': expected a count >= 0, found -1"),
            # issue #25: 1e11 samples grew memory until the kernel killed generate
            ("features: [{bands: [{model: narrow, layers: [x]}, {model: wide, layers: [x]}], scalings: {samples: 100000000000}}]",
             r"features\[0\].scalings.samples': expected at most 100000 .* found 100000000000"),
        ]
        for features, pattern in cases:
            with self.subTest(pattern=pattern):
                sweep = os.path.join(self.d, "bad.yaml")
                with open(sweep, "w") as f:
                    f.write(base + features + "\n")
                out = os.path.join(self.d, "bad_run")
                r = bs("generate", sweep, "--out", out)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)
                self.assertFalse(os.path.exists(out))

        # issue #25: concentration 0.001 puts the samples on the corners (and the uniform point); a
        # scaling drawn twice is fitted once, with a warning (it was refused as "listed twice")
        sweep = os.path.join(self.d, "tiny.yaml")
        with open(sweep, "w") as f:
            f.write(base + "features: [{bands: [{model: narrow, layers: [x]}, {model: wide, layers: [x]}], "
                           "scalings: {samples: 20, concentrations: [0.001]}}]\n")
        out = os.path.join(self.d, "tiny_run")
        r = bs("generate", sweep, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"(\d+) of the 20 Dirichlet samples repeat a scaling already in the set .* (\d+) in all", r.stdout + r.stderr)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        with open(os.path.join(out, "plan.json")) as f:
            gammas = [tuple(b["gamma"] for b in u["bands"]) for u in json.load(f)["units"]]
        self.assertEqual(len(gammas), len(set(gammas)))  # every scaling once
        self.assertEqual(len(gammas), int(m.group(2)))
        self.assertEqual(len(gammas), 3 + 20 - int(m.group(1)))  # uniform + 2 corners + the distinct samples

if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv.pop(1))
    SHERLOCK = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
