#!/usr/bin/python3
"""Parcel names with commas and quotes (Harvard-Oxford labels have them; issue #25 §3) through every
CSV brainsweep writes: results.csv (plain and with `gather --ceiling`), the ceiling CSV, and stitch's
scores.csv, winners.csv, networks.csv; pandas reads each with the names intact and no shifted column,
`stitch --ceiling` reads brainsweep's own ceiling file, and ceilings that are not correlations (NaN,
Inf, 5) are refused by `stitch --ceiling` and `gather --ceiling` (exit 2, nothing written).

Usage: test_csv_names.py BRAINSWEEP
"""
import os
import subprocess
import sys
import unittest

import h5py
import numpy as np
import pandas as pd

import e2e_util as e2e  # noqa: E402

BIN = None
NAMES = ["Frontal Pole, left", 'Heschl\'s Gyrus "H1", right', "plain"]
SUBJECTS = ["sub-01", "sub-02"]


def bs(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True)


class CommaNames(e2e.TempDirTest):
    def setUp(self):
        super().setUp()
        root = os.path.join(self.d, "data")
        rng = np.random.default_rng(3)
        lengths = {"run1": 120, "run2": 120, "run3": 100}
        feats = {ep: rng.standard_normal((T, 4)) for ep, T in lengths.items()}
        for sub in SUBJECTS:
            os.makedirs(os.path.join(root, "fmri", sub))
            with h5py.File(os.path.join(root, "fmri", sub, f"{sub}_bold.h5"), "w") as f:
                for ep, T in lengths.items():
                    f[f"ses-001_task-{ep}"] = (feats[ep] @ rng.standard_normal((4, 3)) + rng.standard_normal((T, 3))).astype("f4")
                f.attrs["parcel_names"] = np.array([n.encode() for n in NAMES])
        e2e.write_flat_features(root, {ep: {"m": feats[ep]} for ep in lengths})
        desc = e2e.flat_descriptor(root, "names", 1.0)
        self.sweep = os.path.join(self.d, "sweep.yaml")
        with open(self.sweep, "w") as f:
            f.write(f"""dataset: {desc}
atlas: none
subjects: [{", ".join(SUBJECTS)}]
features: [{{model: m, layers: [x]}}]
grid: {{hrf_delay: [0], stimulus_window: [1, 2]}}
ridge: {{folds: 2}}
train: [run1, run2]
eval: {{val: [run2], test: [run3]}}
""")
        self.run = os.path.join(self.d, "run")
        for cmd in (["generate", self.sweep, "--out", self.run], ["run", self.run]):
            r = bs(*cmd)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_names_survive_every_csv(self):
        res = pd.read_csv(os.path.join(self.run, "results.csv"))
        self.assertEqual(list(res.columns), ["job_id", "model", "layers", "hrf_delay", "stimulus_window", "subject",
                                             "parcel", "alpha", "cv_r", "eval_set", "eval_r"])
        self.assertEqual(sorted(set(res.parcel)), sorted(NAMES))
        self.assertTrue(np.isfinite(res.eval_r).all())
        ceiling = os.path.join(self.d, "isc.csv")
        r = bs("ceiling", self.sweep, "--method", "isc", "--set", "test", "--out", ceiling)
        self.assertEqual(r.returncode, 0, r.stderr)
        c = pd.read_csv(ceiling)
        self.assertEqual(sorted(set(c.parcel)), sorted(NAMES))
        r = bs("gather", self.run, "--ceiling", ceiling)
        self.assertEqual(r.returncode, 0, r.stderr)
        res = pd.read_csv(os.path.join(self.run, "results.csv"))
        self.assertEqual(sorted(set(res.parcel)), sorted(NAMES))
        self.assertTrue(res[res.eval_set == "test"].ceiling.notna().all())
        r = bs("stitch", self.run, "--select", "val", "--eval", "test", "--ceiling", ceiling, "--min-ceiling", "-1")
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in ("scores.csv", "winners.csv"):
            t = pd.read_csv(os.path.join(self.run, "stitched", name))
            self.assertEqual(sorted(set(t.parcel)), sorted(NAMES), name)
            self.assertEqual(sorted(set(t.subject)), SUBJECTS, name)
        scores = pd.read_csv(os.path.join(self.run, "stitched", "scores.csv"))
        self.assertTrue(np.allclose(scores.r / scores.ceiling, scores.r_normalized))
        # a later plain gather takes the ceiling columns out of results.csv, as out of results.h5
        r = bs("gather", self.run)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("ceiling", pd.read_csv(os.path.join(self.run, "results.csv")).columns)
        with h5py.File(os.path.join(self.run, "results.h5")) as f:
            self.assertNotIn("ceiling", f[f"subjects/{SUBJECTS[0]}"])
        # --top-k 0 is refused, not read as the default
        r = bs("stitch", self.run, "--select", "val", "--eval", "test", "--top-k", "0")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--top-k: expected >= 1 candidates per parcel, found 0", r.stderr)
        self.assertEqual(len(pd.read_csv(os.path.join(self.run, "stitched", "networks.csv")).columns), 6)

    def test_a_nan_selection_score_is_no_candidate(self):
        """A job whose selection score is NaN for a parcel (a fit that failed numerically) is left out
        of that parcel's candidates (weights and predictions stay finite, scores are not 0); a parcel
        whose every candidate is NaN is refused (exit 2)."""
        with open(os.path.join(self.run, "plan.json")) as f:
            plan = __import__("json").load(f)
        jobs = [j["job_id"] for j in plan["jobs"] if j["subject"] == "sub-01"]
        path = lambda j: os.path.join(self.run, "jobs", j + ".h5")  # noqa: E731
        with h5py.File(path(jobs[0]), "r") as f:
            best_first = f["eval/val/r"][0]
        with h5py.File(path(jobs[1]), "r") as f:
            best_second = f["eval/val/r"][0]
        winner = jobs[0] if best_first >= best_second else jobs[1]
        with h5py.File(path(winner), "a") as f:
            r = f["eval/val/r"][()]
            r[0] = np.nan
            f["eval/val/r"][...] = r
        st = bs("stitch", self.run, "--select", "val", "--eval", "test", "--weights", "softmax", "--temperature", "0.1")
        self.assertEqual(st.returncode, 0, st.stderr)
        w = pd.read_csv(os.path.join(self.run, "stitched", "winners.csv"))
        mine = w[(w.subject == "sub-01") & (w.parcel == NAMES[0])]
        self.assertNotIn(winner, set(mine.job_id))
        self.assertTrue(np.isfinite(w.weight).all())
        scores = pd.read_csv(os.path.join(self.run, "stitched", "scores.csv"))
        self.assertTrue(np.isfinite(scores.r).all() and (scores.r != 0).all())
        with h5py.File(os.path.join(self.run, "stitched", "predictions.h5")) as f:
            self.assertTrue(np.isfinite(f["sub-01/run3"][()]).all())
        for j in jobs:
            with h5py.File(path(j), "a") as f:
                r = f["eval/val/r"][()]
                r[0] = np.nan
                f["eval/val/r"][...] = r
        st = bs("stitch", self.run, "--select", "val", "--eval", "test")
        self.assertEqual(st.returncode, 2, st.stderr)
        self.assertIn(f"sub-01 parcel {NAMES[0]}: every candidate job's selection score (eval/val/r) is NaN", st.stderr)

    def test_ceilings_that_are_not_correlations_are_refused(self):
        good = os.path.join(self.d, "isc.csv")
        self.assertEqual(bs("ceiling", self.sweep, "--method", "isc", "--set", "test", "--out", good).returncode, 0)
        c = pd.read_csv(good)
        with open(os.path.join(self.run, "results.csv")) as f:
            before = f.read()
        for bad in (np.nan, "nan", np.inf, 5.0):
            c2 = c.copy()
            c2.loc[1, "ceiling"] = bad
            path = os.path.join(self.d, f"bad_{bad}.csv")
            c2.to_csv(path, index=False)
            for cmd in (["stitch", self.run, "--select", "val", "--eval", "test", "--ceiling", path],
                        ["gather", self.run, "--ceiling", path]):
                r = bs(*cmd)
                self.assertEqual(r.returncode, 2, (cmd, r.stderr))
                self.assertRegex(r.stderr, f"{path}:3: column ceiling: expected a (number|correlation in \\[-1, 1\\])")
            with open(os.path.join(self.run, "results.csv")) as f:
                self.assertEqual(f.read(), before)


if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv[1])
    unittest.main(argv=sys.argv[:1], verbosity=2)
