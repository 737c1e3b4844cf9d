#!/usr/bin/python3
"""Ensembles on data with a known answer (issue #14 §4): a synthetic dataset whose planted signal
differs by film and feature set. Vision features drive some parcels, language features others, both
drive the rest — except in the silent film (`chaplin01`), where the language features of the file
carry nothing the brain responds to. Out-of-distribution films have fMRI (eval sets `ood_silent`,
`ood_talk`), so every stitching rule gets a held-out score. Printed side by side (the README's
table): top-1, top-5, softmax at two temperatures, z-scored top-5, a language-free override for the
silent film, and banded ridge against plain concatenation. Asserted: the language-free override
raises the silent film's score over top-1 and leaves the talking film's unchanged; the banded random
search is at least as good as concatenation out of distribution.

Usage: test_ensembles_known_answer.py BRAINSWEEP
"""
import os
import re
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
P = 30  # parcels: 0-9 vision, 10-19 language, 20-29 both


def bs(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, cwd=SOURCE)


def make_dataset(root):
    rng = np.random.default_rng(2025)
    lengths = {"s01e01a": 300, "s01e01b": 300, "s01e02a": 300, "s01e02b": 300, "s01e03a": 250,
               "chaplin01": 250, "wolf01": 250}
    Mv, Ml = rng.standard_normal((5, 24)), rng.standard_normal((5, 150))  # a narrow and a wide band
    a, b = rng.standard_normal((5, P)), rng.standard_normal((5, P))
    vis_w = np.r_[np.ones(10), np.zeros(10), 0.7 * np.ones(10)]
    lang_w = np.r_[np.zeros(10), np.ones(10), 0.7 * np.ones(10)]
    feats, latent = {}, {}
    for ep, T in lengths.items():
        v, l = rng.standard_normal((T, 5)), rng.standard_normal((T, 5))
        latent[ep] = (v, l)
        feats[ep] = {"vis": v @ Mv + 0.5 * rng.standard_normal((T, 24)),
                     "lang": l @ Ml + 3.0 * rng.standard_normal((T, 150))}
    for s in ("sub-01", "sub-02"):
        os.makedirs(os.path.join(root, "fmri", s))
        with h5py.File(os.path.join(root, "fmri", s, f"{s}_bold.h5"), "w") as f:
            for ep, T in lengths.items():
                v, l = latent[ep]
                speech = 0.0 if ep.startswith("chaplin") else 1.0  # the silent film: no language response
                y = vis_w * (v @ a) + speech * lang_w * (l @ b) + 3.0 * rng.standard_normal((T, P))
                f[f"ses-001_task-{ep}"] = y.astype("f4")
            f.attrs["parcel_names"] = np.array([f"p{k:02d}".encode() for k in range(P)])
    d = os.path.join(root, "features", "mm", "s", "g")
    os.makedirs(d)
    for ep in lengths:
        with h5py.File(os.path.join(d, f"s_{ep}.h5"), "w") as f:
            for layer, x in feats[ep].items():
                f[layer] = x.astype("f4")
    desc = e2e.flat_descriptor(root, "films", 1.49)
    sweep = os.path.join(root, "sweep.yaml")
    with open(sweep, "w") as f:
        f.write(f"""dataset: {desc}
atlas: none
subjects: [sub-01, sub-02]
features:
  - {{model: mm, layers: [vis]}}
  - {{model: mm, layers: [lang]}}
  - {{model: mm, layers: [vis, lang]}}
  - bands:
      - {{model: mm, layers: [vis]}}
      - {{model: mm, layers: [lang]}}
    scalings: {{samples: 6, concentrations: [0.1, 1.0], seed: 0}}
grid: {{hrf_delay: [0], stimulus_window: [1, 2]}}
ridge: {{folds: 4}}
train: [s01e01a, s01e01b, s01e02a, s01e02b]
eval: {{val: [s01e03a], ood_silent: [chaplin01], ood_talk: [wolf01]}}
""")
    return sweep


class KnownAnswer(unittest.TestCase):
    def test_ensembles_side_by_side(self):
        with tempfile.TemporaryDirectory() as d:
            sweep = make_dataset(os.path.join(d, "data"))
            run = os.path.join(d, "run")
            for cmd in (["generate", sweep, "--out", run], ["run", run]):
                r = bs(*cmd)
                self.assertEqual(r.returncode, 0, r.stderr)

            def score(args, eval_set):
                r = bs("stitch", run, "--select", "val", "--eval", eval_set, *args)
                self.assertEqual(r.returncode, 0, r.stderr)
                return float(re.search(r"mean r over parcels and subjects: (-?[0-9.]+)", r.stdout).group(1))

            no_lang = ["--override", "chaplin*!=.*lang.*"]
            rules = [
                ("top-1", ["--top-k", "1"]),
                ("top-5", ["--top-k", "5"]),
                ("softmax T=0.05", ["--weights", "softmax", "--temperature", "0.05"]),
                ("softmax T=0.01", ["--weights", "softmax", "--temperature", "0.01"]),
                ("z-scored top-5", ["--top-k", "5", "--zscore"]),
                ("top-1, language-free chaplin", ["--top-k", "1", *no_lang]),
                ("top-5, language-free chaplin", ["--top-k", "5", *no_lang]),
                ("banded only (top-1)", ["--top-k", "1", "--override", "*=banded/.*"]),
                ("concatenation mm/vis+lang (top-1)", ["--top-k", "1", "--override", r"*=mm/vis\+lang"]),
            ]
            table = {name: (score(args, "ood_silent"), score(args, "ood_talk")) for name, args in rules}
            print("\nheld-out r (mean over 30 parcels × 2 subjects), selected on val:")
            print(f"{'rule':<36} {'silent film':>12} {'talking film':>13}")
            for name, (silent, talk) in table.items():
                print(f"{name:<36} {silent:>12.4f} {talk:>13.4f}")
            self.assertGreater(table["top-1, language-free chaplin"][0], table["top-1"][0] + 0.01)
            self.assertEqual(table["top-1, language-free chaplin"][1], table["top-1"][1])
            self.assertGreater(table["top-5, language-free chaplin"][0], table["top-5"][0])
            banded, concat = table["banded only (top-1)"], table["concatenation mm/vis+lang (top-1)"]
            self.assertGreaterEqual(banded[1], concat[1] - 1e-3)


if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
