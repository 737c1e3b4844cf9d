#!/usr/bin/python3
"""veRSA (issue #26 §4, docs/metrics.md "veRSA"): `brainsweep rsa --predictions RUN_DIR` compares the
RDM of every job's held-out predictions with its subject's brain RDM. On Sherlock (sweeps/sherlock.yaml:
trained on scan 1, predictions of scan 2; roi6, 8 subjects, 10 units), against numpy composing the
same steps from the files themselves (the job file's predictions → condition patterns of scan 2's
events → correlation RDM → Pearson r with the brain RDM, tests/reference/metrics_reference.py):

- every subject's similarity, bootstrap SD and interval, count and permutation p (metrics_reference.rsa
  with one subject); the mean row is the mean over subjects; the noise ceiling is `rsa --sweep`'s on
  the same set;
- bad input: a set that is not an eval set, crossnobis, an incomplete run, --hrf-delay without
  --predictions (exit 2 naming what).

Usage: test_versa.py BRAINSWEEP SHERLOCK_DIR
"""
import os
import shutil
import subprocess
import sys
import unittest

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import metrics_reference as ref  # noqa: E402
import e2e_util as e2e  # noqa: E402

BIN = SHERLOCK = None


def bs(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, cwd=SOURCE,
                          env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))


def square(v, n):
    m = np.zeros((n, n))
    m[np.triu_indices(n, 1)] = v
    return m + m.T


class Versa(e2e.TempDirTest):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.tmp = tempfile.TemporaryDirectory()
        cls.sweep = e2e.sherlock_sweep(os.path.join(cls.tmp.name, "sherlock.yaml"), SHERLOCK)
        cls.run_dir = os.path.join(cls.tmp.name, "run")
        for cmd in (("generate", cls.sweep, "--out", cls.run_dir), ("run", cls.run_dir)):
            r = bs(*cmd)
            assert r.returncode == 0, r.stderr
        cls.events = os.path.join(SHERLOCK, "events", "{episode}_events.tsv")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_against_numpy(self):
        out = self.out()
        r = bs("rsa", "--predictions", self.run_dir, "--events", self.events, "--set", "test", "--comparison", "corr",
               "--bootstrap", "40", "--permutations", "40", "--seed", "5", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("veRSA: 23 conditions", r.stdout)
        rows = e2e.read_csv(out)
        events = ref.read_events(os.path.join(SHERLOCK, "events", "sherlock02_events.tsv"))
        conditions = list(dict.fromkeys(e[2] for e in events))
        n = len(conditions)
        import json
        with open(os.path.join(self.run_dir, "plan.json")) as f:
            plan = json.load(f)
        subjects = plan["subjects"]
        brain = {}
        for s in subjects:
            with h5py.File(os.path.join(SHERLOCK, "fmri", s, "func", f"{s}_task-sherlock_space-MNI152_atlas-roi6_bold.h5")) as f:
                brain[s] = square(ref.rdm_correlation(ref.condition_patterns([(f["ses-001_task-sherlock02"][()], events)],
                                                                             conditions, 1.5, 0)), n)
        checked = 0
        for u in plan["units"]:
            name = f"{u['model']}/{'+'.join(u['layers'])} w{u['stimulus_window']} d{u['hrf_delay']}"
            got = {g["subject"]: g for g in rows if g["model"] == name}
            sims = []
            for s, job_id in zip(u["subjects"], u["jobs"]):
                with h5py.File(os.path.join(self.run_dir, "jobs", job_id + ".h5")) as f:
                    pred = f["predictions/sherlock02"][()].astype(np.float64)
                model = square(ref.rdm_correlation(ref.condition_patterns([(pred, events)], conditions, 1.5, 0)), n)
                want = ref.rsa(model, [brain[s]], "corr", bootstrap=40, permutations=40, seed=5)
                g = got[s]
                for key in ("similarity", "bootstrap_sd", "ci_low", "ci_high", "p_permutation"):
                    self.assertAlmostEqual(float(g[key]), want[key][0], delta=1e-6, msg=(name, s, key))
                self.assertEqual(int(g["n_bootstrap"]), want["n_bootstrap"][0])
                sims.append(want["similarity"][0])
                checked += 1
            self.assertAlmostEqual(float(got["mean"]["similarity"]), np.mean(sims), delta=1e-6)
            self.assertEqual(got["mean"]["p_permutation"], "")  # no statistic of its own (docs)
        self.assertEqual(checked, 10 * 8)
        # the ceiling is the brain side's, as rsa --sweep computes it on the same set
        out2 = self.out()
        r = bs("rsa", "--sweep", self.sweep, "--events", self.events, "--set", "test", "--comparison", "corr",
               "--bootstrap", "0", "--permutations", "0", "--out", out2)
        self.assertEqual(r.returncode, 0, r.stderr)
        c2 = e2e.read_csv(out2)[0]
        self.assertEqual((rows[0]["ceiling_lower"], rows[0]["ceiling_upper"]), (c2["ceiling_lower"], c2["ceiling_upper"]))

    def test_bad_input(self):
        cases = [
            (["--set", "train"], "--set train: 'train' is not an eval set of"),
            (["--set", "test", "--distance", "crossnobis"], "--distance crossnobis: not with --predictions"),
            (["--set", "test", "--save-rdms", os.path.join(self.d, "x.h5")], "--save-rdms: not with --predictions"),
        ]
        for k, (args, message) in enumerate(cases):
            with self.subTest(case=k):
                out = os.path.join(self.d, f"o{k}.csv")
                r = bs("rsa", "--predictions", self.run_dir, "--events", self.events, *args, "--out", out)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(message, r.stderr)
                self.assertFalse(os.path.exists(out))
        r = bs("rsa", "--sweep", self.sweep, "--events", self.events, "--set", "test", "--hrf-delay", "2", "--out",
               os.path.join(self.d, "h.csv"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("--hrf-delay: only with --predictions", r.stderr)
        # an incomplete run: a job file missing
        broken = os.path.join(self.d, "broken")
        shutil.copytree(self.run_dir, broken)
        victim = sorted(os.listdir(os.path.join(broken, "jobs")))[0]
        os.remove(os.path.join(broken, "jobs", victim))
        r = bs("rsa", "--predictions", broken, "--events", self.events, "--set", "test", "--out", os.path.join(self.d, "b.csv"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("the run is not complete", r.stderr)
        self.assertIn(victim.replace(".h5", ""), r.stderr)


if __name__ == "__main__":
    BIN, SHERLOCK = os.path.abspath(sys.argv.pop(1)), os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
