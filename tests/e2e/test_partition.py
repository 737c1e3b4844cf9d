#!/usr/bin/python3
"""Variance partitioning (issue #26 §1, docs/ridge-engine.md "Variance partitioning"): a `partition:`
feature set expands into its 2^K − 1 subset models, each a ridge job of the plan; partition.csv holds
their held-out R² (and signed r²) and the unique and shared partitions. Checked on Sherlock (roi6,
3 subjects; annotation, LSA and topic features, K = 3, and two annotation spaces, K = 2):

- every subset model's R² on scan 2 against the numpy reference (tests/reference/encoding_reference.py
  fits the subset as the concatenation of its spaces and scores it with split_scores);
- the partitions against the inclusion–exclusion formulas written out for K = 2 and 3
  (PEER_ANALYSES.md card A: y12 = R1 + R2 − R12, y1 = R12 − R2; y123 = ΣRi − ΣRij + R123,
  y12 = R1 + R2 − R12 − y123, y1 = R1 − y12 − y13 − y123), and their sum = R(all spaces);
- the negative flag; brainsweep.read_partition; bad partitions refused by name (exit 2).

Usage: test_partition.py BRAINSWEEP SHERLOCK_DIR
"""
import itertools
import json
import os
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

BIN = SHERLOCK = None


def bs(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, cwd=SOURCE)


SPACES3 = [("annotations", ["all"]), ("description_lsa", ["lsa64"]), ("topic_model", ["t100"])]
SPACES2 = [("annotations", ["speech"]), ("annotations", ["scene"])]


def sweep_text(*partitions, extra=""):
    parts = ""
    for spaces in partitions:
        parts += "  - partition:\n" + "".join(f"      - {{model: {m}, layers: [{', '.join(ls)}]}}\n" for m, ls in spaces)
    return f"""dataset: {SOURCE}/configs/datasets/sherlock.yaml
dataset_root: {SHERLOCK}
atlas: roi6
subjects: [sub-01, sub-02, sub-03]
features:
{parts}{extra}grid: {{hrf_delay: [0], stimulus_window: [3]}}
train: [sherlock01]
eval: {{test: [sherlock02]}}
"""


def explicit_partitions(R, K):
    """The formulas of PEER_ANALYSES.md card A; R: {frozenset of space indices: value}."""
    r = lambda *s: R[frozenset(s)]  # noqa: E731
    if K == 2:
        y12 = r(0) + r(1) - r(0, 1)
        return {frozenset([0]): r(0, 1) - r(1), frozenset([1]): r(0, 1) - r(0), frozenset([0, 1]): y12}
    y123 = r(0) + r(1) + r(2) - r(0, 1) - r(0, 2) - r(1, 2) + r(0, 1, 2)
    y = {frozenset([0, 1, 2]): y123}
    for a, b in ((0, 1), (0, 2), (1, 2)):
        y[frozenset([a, b])] = r(a) + r(b) - r(a, b) - y123
    for a in range(3):
        others = [b for b in range(3) if b != a]
        y[frozenset([a])] = (r(a) - y[frozenset([a, others[0]])] - y[frozenset([a, others[1]])] - y123)
    return y


class Partition(e2e.TempDirTest):
    def test_sherlock_partitions_against_numpy(self):
        sweep = os.path.join(self.d, "vp.yaml")
        with open(sweep, "w") as f:
            f.write(sweep_text(SPACES3, SPACES2))
        run = os.path.join(self.d, "vp")
        r = bs("generate", sweep, "--out", run)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("partition/annotations/all+description_lsa/lsa64+topic_model/t100", r.stdout)
        r = bs("run", run)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(run, "plan.json")) as f:
            plan = json.load(f)
        self.assertEqual(len(plan["units"]), 7 + 3)
        rows = e2e.read_csv(os.path.join(run, "partition.csv"))
        subjects = plan["subjects"]
        checked = 0
        for spaces in (SPACES3, SPACES2):
            names = [f"{m}/{'+'.join(ls)}" for m, ls in spaces]
            family = "|".join(names)
            K = len(names)
            for sub in subjects:
                jobs = [j for j in plan["jobs"] if j.get("partition") == family and j["subject"] == sub]
                self.assertEqual(len(jobs), 2 ** K - 1)
                R2, RSQ, parcels = {}, {}, None
                for j in jobs:
                    split = {}
                    parcels, _, _, ev = enc.run_job(plan, j, eval_split=split)
                    key = frozenset(names.index(f"{b['model']}/{'+'.join(b['layers'])}") for b in j["bands"])
                    R2[key] = split["test"][3]
                    RSQ[key] = ev["test"] * np.abs(ev["test"])
                    with h5py.File(os.path.join(run, "jobs", j["job_id"] + ".h5")) as f:
                        got = f["eval/test/r2"][()]
                    # (rtol 3e-4: with the topic features, whose columns nearly constant in scan 1 are
                    # z-scored far out in scan 2, predictions run to 100× the fMRI's scale and R² to −10^4;
                    # the float32 products then agree with float64 to ~1e-4 relative)
                    np.testing.assert_allclose(got, R2[key], rtol=3e-4, atol=2e-4, err_msg=j["layers"])
                for measure, R in (("r2", R2), ("rsq", RSQ)):
                    want = explicit_partitions(R, K)
                    mine = [g for g in rows if g["partition"] == family and g["subject"] == sub and g["measure"] == measure]
                    self.assertEqual(len(mine), len(parcels) * 2 * (2 ** K - 1))
                    for c, parcel in enumerate(parcels):
                        prow = {g["spaces"] + ":" + g["kind"]: g for g in mine if g["parcel"] == parcel}
                        total = 0.0
                        for t, v in want.items():
                            spaces_t = "+".join(names[i] for i in sorted(t))
                            kind = "unique" if len(t) == 1 else "shared"
                            g = prow[spaces_t + ":" + kind]
                            # (float32 predictions: the engine's R² agree to ~1e-5 relative, and a partition
                            # sums up to 2^K of them: tolerance relative to the largest |R| of the family)
                            scale = max(1.0, max(abs(x[c]) for x in R.values()))
                            self.assertAlmostEqual(float(g["value"]), v[c], delta=3e-4 * scale, msg=(measure, parcel, spaces_t))
                            self.assertEqual(g["negative"], "1" if float(g["value"]) < 0 else "0")
                            total += float(g["value"])
                            checked += 1
                        # the partitions add up to the full model's value
                        full = float(prow["+".join(names) + ":model"]["value"])
                        # (the CSV's 9 significant digits of partitions as large as the family's |R|)
                        self.assertAlmostEqual(total, full, delta=1e-7 * max(1.0, max(abs(x[c]) for x in R.values())))
        self.assertEqual(checked, len(subjects) * 6 * 2 * (7 + 3))
        # Python
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(BIN)), "python"))
        import brainsweep
        df = brainsweep.read_partition(run)
        self.assertEqual(len(df), len(rows))
        self.assertEqual(list(df.columns), ["partition", "hrf_delay", "stimulus_window", "subject", "parcel", "eval_set",
                                            "measure", "kind", "spaces", "value", "negative"])
        self.assertEqual(df.negative.dtype, bool)
        lsa = df[(df.measure == "rsq") & (df.kind == "unique") & (df.spaces == "description_lsa/lsa64")]
        print("unique signed r² of LSA (over annotations and topics), mean over subjects:",
              lsa.groupby("parcel").value.mean().round(4).to_dict())

    def test_bad_partitions(self):
        cases = (
            (sweep_text(SPACES3[:1]), "key 'features[0].partition': expected a list of 2 to 4 feature spaces {model, layers} (2^K − 1 subset models are fitted), found 1 entry"),
            (sweep_text(SPACES3 + SPACES2), "expected a list of 2 to 4 feature spaces {model, layers} (2^K − 1 subset "
                                            "models are fitted), found 5 entries"),
            (sweep_text([("annotations", ["all"]), ("annotations", ["all", "speech"])]),
             "key 'features[0].partition[1]': layer 'annotations/all' is also in features[0].partition[0] (a layer belongs to one feature space)"),
            (sweep_text([("annotations", ["all"]), ("description_lsa", [])]), "features[0].partition[1].layers"),
        )
        for k, (text, message) in enumerate(cases):
            with self.subTest(case=k):
                sweep = os.path.join(self.d, f"bad{k}.yaml")
                with open(sweep, "w") as f:
                    f.write(text)
                out = os.path.join(self.d, f"bad{k}")
                r = bs("generate", sweep, "--out", out)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn(message, r.stderr)
                self.assertFalse(os.path.exists(os.path.join(out, "plan.json")))

    def test_space_with_zero_columns(self):
        """#26's bad input: a feature space whose layer has zero columns is refused by `generate`,
        naming the file and the dataset (exit 2), before any unit is planned."""
        import h5py
        import numpy as np
        root = os.path.join(self.d, "zero")
        rng = np.random.default_rng(3)
        episodes = ["run1", "run2", "run3"]
        feats = {ep: {"good": rng.standard_normal((60, 4)), "empty": np.zeros((60, 0))} for ep in episodes}
        os.makedirs(os.path.join(root, "fmri", "sub-01"))
        with h5py.File(os.path.join(root, "fmri", "sub-01", "sub-01_bold.h5"), "w") as f:
            for ep in episodes:
                f[f"ses-001_task-{ep}"] = rng.standard_normal((60, 3)).astype("f4")
        e2e.write_flat_features(root, feats)
        desc = e2e.flat_descriptor(root, "zero", 1.0)
        sweep = os.path.join(self.d, "zero.yaml")
        with open(sweep, "w") as f:
            f.write(f"""dataset: {desc}
atlas: none
subjects: [sub-01]
features:
  - partition:
      - {{model: good, layers: [x]}}
      - {{model: empty, layers: [x]}}
grid: {{hrf_delay: [0], stimulus_window: [1]}}
ridge: {{folds: 2}}
train: [run1, run2]
eval: {{test: [run3]}}
""")
        out = os.path.join(self.d, "zero_run")
        r = bs("generate", sweep, "--out", out)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("s_run1.h5: dataset 'x': expected a non-empty 2-D (n_chunks, C) array", r.stderr)
        self.assertIn("empty", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "plan.json")))


if __name__ == "__main__":
    BIN, SHERLOCK = os.path.abspath(sys.argv.pop(1)), sys.argv.pop(1)
    unittest.main(verbosity=2)
