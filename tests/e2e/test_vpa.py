#!/usr/bin/python3
"""Net2Brain's RDM-level variance partitioning (issue #26 §1, docs/metrics.md "Variance partitioning of
RDMs"): `brainsweep vpa` against tests/reference/vpa_reference.py (written from the page; sklearn's
LinearRegression.score, scipy's ttest_1samp) and against Net2Brain b59ed47's own VPA values, recorded
in that file with the script that made them:

- Net2Brain's case (12 conditions, 6 subjects, 2 spaces of 2 + 1 RDMs and 4 spaces of 1 + 2 + 2 + 1):
  every per-subject R² and partition Net2Brain returns (1e-9) and its Significance (the mean row's p);
- every row of the CSV against the reference (values, t, p, BH-adjusted p, flags), also with
  --average-models;
- the 92-image data: the 16 behavioural subjects, 3 spaces of the model RDMs;
- bad input (exit 2 naming the option or space; nothing written).

Usage: test_vpa.py BRAINSWEEP RSA92_H5
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
import vpa_reference as ref  # noqa: E402
import e2e_util as e2e  # noqa: E402

BIN = RSA92 = None


def bs(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, cwd=SOURCE)


def num(s):
    return float(s) if s != "" else math.nan


class Vpa(e2e.TempDirTest):
    def write_golden(self, k):
        """golden_case(k) in the layout of `rsa --rdms`: roi/<subject>, space<j>/rdm<i>."""
        subjects, spaces, names = ref.golden_case(k)
        path = os.path.join(self.d, f"golden{k}.h5")
        with h5py.File(path, "w") as f:
            for s, rdm in enumerate(subjects):
                f[f"roi/s{s}"] = rdm
            for j, space in enumerate(spaces):
                for i, rdm in enumerate(space):
                    f[f"space{j}/rdm{i}"] = rdm
        args = [f"--space={names[j]}=space{j}" for j in range(len(spaces))]
        return path, args, subjects, spaces, names

    def run_vpa(self, *args):
        out = self.out()
        r = bs("vpa", *args, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        return e2e.read_csv(out), r.stdout

    def compare(self, got, want, tol=2e-8):  # the CSV holds 9 significant digits
        self.assertEqual(len(got), len(want))
        for g, w in zip(got, want):
            for col in ref.COLUMNS:
                if col in ("roi", "subject", "kind", "spaces"):
                    self.assertEqual(g[col], str(w[col]), (w["subject"], w["spaces"], col))
                    continue
                a, b = num(g[col]), float(w[col])
                if math.isnan(b):
                    self.assertTrue(math.isnan(a), (w["subject"], w["kind"], w["spaces"], col, g[col]))
                else:
                    self.assertAlmostEqual(a, b, delta=tol * max(1.0, abs(b)), msg=(w["subject"], w["kind"], w["spaces"], col))

    def test_net2brain_case(self):
        vals, sig = ref._read_golden()
        for k in (2, 4):
            with self.subTest(k=k):
                path, spaces_args, subjects, spaces, names = self.write_golden(k)
                rows, report = self.run_vpa("--rdms", path, "--brain", "roi", *spaces_args)
                self.compare(rows, ref.vpa(subjects, spaces, names, roi="roi",
                                           subject_names=[f"s{s}" for s in range(len(subjects))]))
                # Net2Brain's own numbers: R<digits> a subset model's R², y<digits> a partition
                for key, per_subject in vals[k].items():
                    mask = ref._key_mask(key)
                    label = "+".join(names[j] for j in range(k) if mask >> j & 1)
                    kind = "model" if key[0] == "R" else ("unique" if bin(mask).count("1") == 1 else "shared")
                    got = [float(r["value"]) for r in rows if r["kind"] == kind and r["spaces"] == label
                           and r["subject"] != "mean"]
                    np.testing.assert_allclose(got, per_subject, atol=1e-9, err_msg=key)
                    mean = [r for r in rows if r["kind"] == kind and r["spaces"] == label and r["subject"] == "mean"][0]
                    self.assertAlmostEqual(float(mean["p"]), sig[k][key][0], delta=1e-9, msg=key)
                self.assertIn("roi (6 subjects, 66 pairs)", report)
        # --average-models: each space's RDMs averaged into one regressor
        path, spaces_args, subjects, spaces, names = self.write_golden(4)
        rows, _ = self.run_vpa("--rdms", path, "--brain", "roi", *spaces_args, "--average-models")
        self.compare(rows, ref.vpa(subjects, spaces, names, average_models=True, roi="roi",
                                   subject_names=[f"s{s}" for s in range(len(subjects))]))

    def test_rsa92_behaviour(self):
        spaces_spec = {"category": ["models/animacy", "models/FaceBodyManmadeNatobj"],
                       "visual": ["models/HMAX", "models/V1", "models/EVA"], "it": ["models/monkeyIT"]}
        with h5py.File(RSA92, "r") as f:
            subjects = [f["behaviour"][s][()].astype(float) for s in sorted(f["behaviour"])]
            spaces = [[f[d][()].astype(float) for d in ds] for ds in spaces_spec.values()]
            names = sorted(f["behaviour"])
        args = [f"--space={k}={','.join(v)}" for k, v in spaces_spec.items()]
        rows, report = self.run_vpa("--rdms", RSA92, "--brain", "behaviour", *args)
        self.compare(rows, ref.vpa(subjects, spaces, list(spaces_spec), roi="behaviour", subject_names=names), tol=1e-8)
        self.assertIn("behaviour (16 subjects, 4186 pairs)", report)

    def test_refusals(self):
        path, spaces_args, *_ = self.write_golden(2)
        with h5py.File(path, "a") as f:
            f["one/s0"] = f["roi/s0"][()]
        cases = [
            (["--brain", "roi", spaces_args[0]], "--space: expected 2 to 4 feature spaces"),
            (["--brain", "roi"] + [f"--space=s{j}=space0/rdm0" if j == 0 else f"--space=s{j}=space1/rdm0"
                                   for j in range(5)], "--space: expected 2 to 4 feature spaces"),
            (["--brain", "roi", "--space=a=space0", "--space=b="], "--space b: no model RDM (zero columns"),
            (["--brain", "roi", "--space=a=space0", "--space=b=space0/rdm1"], "the RDM 'space0/rdm1' is also in space a"),
            (["--brain", "roi", "--space=a=space0", "--space=a=space1"], "--space a: named twice"),
            (["--brain", "roi", "--space=a=space0", "--space", "space1"], "expected NAME=DATASET"),
            (["--brain", "one"] + spaces_args, "--brain one: 1 subject"),
            (["--brain", "roi", "--space=a=space0", "--space=b=nope"], "--model 'nope' not found"),
        ]
        for args, message in cases:
            with self.subTest(message=message):
                out = self.out()
                r = bs("vpa", "--rdms", path, *args, "--out", out)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(message, r.stderr)
                self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    BIN, RSA92 = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:])
