#!/usr/bin/python3
"""`brainsweep odd-one-out` (issue #13, METRICS.md §3) on the real THINGS triplets and the VICE
embedding, against the independent numpy implementation in tests/reference/metrics_reference.py;
embedding formats; ties; and bad input (exit 2 naming the file and line, nothing written).

Usage: test_odd_one_out.py BRAINSWEEP_BINARY [THINGS_DIR]
"""
import csv
import os
import subprocess
import sys
import unittest

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import metrics_reference as ref  # noqa: E402
import e2e_util as e2e  # noqa: E402

BIN = None
THINGS = os.path.join(HERE, "..", "..", "..", "shared", "data", "things_triplets")


def run(*args):
    return subprocess.run([BIN, "odd-one-out", *args], capture_output=True, text=True)


class OddOneOut(e2e.TempDirTest):
    @classmethod
    def setUpClass(cls):
        cls.emb = os.path.join(THINGS, "embedding_vice42.npy")
        cls.tsv = os.path.join(THINGS, "triplets.tsv")
        cls.E = np.load(cls.emb)
        cls.items, cls.choice = ref.read_triplets(cls.tsv)

    def cli(self, emb, tsv, *extra):
        out = os.path.join(self.d, f"out{len(os.listdir(self.d))}.csv")
        r = run("--embedding", emb, "--triplets", tsv, "--out", out, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 1)
        return rows[0], r.stdout

    def check(self, row, want):
        self.assertEqual(int(row["n_triplets"]), want["n_triplets"])
        self.assertEqual(int(row["n_correct"]), want["n_correct"])
        for k in ("accuracy", "chance", "bootstrap_sd", "ci_low", "ci_high", "human_ceiling"):
            if k in want:
                self.assertAlmostEqual(float(row[k]), want[k], delta=1e-8 * max(1.0, abs(want[k])), msg=k)
        self.assertEqual(int(row["n_distinct_triplets"]), want["n_distinct"])
        self.assertEqual(int(row["n_repeated_triplets"]), want["n_repeated"])

    def test_vice_against_numpy(self):
        """THINGS: VICE 42-d, 10 070 trials on 500 triplets; every similarity × rule, bootstrap exact."""
        for similarity in ("dot", "cosine"):
            for rule in ("odd-one-out", "anchor"):
                with self.subTest(similarity=similarity, rule=rule):
                    row, out = self.cli(self.emb, self.tsv, "--similarity", similarity, "--rule", rule, "--seed", "7")
                    want = ref.odd_one_out(self.E, self.items, self.choice, similarity, rule, bootstrap=1000, seed=7)
                    if rule == "anchor":  # the repeated triplets' ceiling bounds the odd-one-out task only
                        want.pop("human_ceiling")
                        self.assertEqual(row["human_ceiling"], "")
                        self.assertIn("no human noise ceiling for the anchor rule", out)
                        self.assertNotIn("human noise ceiling 0.", out)
                    self.check(row, want)
                    self.assertEqual((row["similarity"], row["rule"], row["seed"]), (similarity, rule, "7"))
        row, out = self.cli(self.emb, self.tsv)
        self.assertAlmostEqual(float(row["accuracy"]), 6403 / 10070, places=9)  # the figure in the README
        self.assertIn("accuracy 0.6358", out)
        self.assertIn("human noise ceiling 0.6724 over 500 repeated triplets", out)
        # the bootstrap SD is close to the binomial closed form sqrt(p(1-p)/n)
        p = 6403 / 10070
        self.assertLess(abs(float(row["bootstrap_sd"]) / np.sqrt(p * (1 - p) / 10070) - 1), 0.1)

    def test_bootstrap_seed_and_none(self):
        a, _ = self.cli(self.emb, self.tsv, "--seed", "1")
        b, _ = self.cli(self.emb, self.tsv, "--seed", "2")
        self.assertNotEqual(a["bootstrap_sd"], b["bootstrap_sd"])
        self.assertEqual(a["accuracy"], b["accuracy"])
        c, out = self.cli(self.emb, self.tsv, "--bootstrap", "0")
        self.assertEqual((c["bootstrap_sd"], c["ci_low"], c["ci_high"], c["n_bootstrap"]), ("", "", "", "0"))
        self.assertNotIn("bootstrap SD", out)

    def test_embedding_formats_agree(self):
        """Fortran-order float32 (the file), C-order float64 .npy and an HDF5 feature-file layer."""
        base, _ = self.cli(self.emb, self.tsv)
        c64 = os.path.join(self.d, "c64.npy")
        np.save(c64, np.ascontiguousarray(self.E, dtype=np.float64))
        h5 = os.path.join(self.d, "features.h5")
        with h5py.File(h5, "w") as f:
            f["layer.7"] = np.ascontiguousarray(self.E)
        for spec in (c64, h5 + ":layer.7"):
            row, _ = self.cli(spec, self.tsv)
            for k in ("n_correct", "accuracy", "bootstrap_sd", "human_ceiling", "n_items", "n_dimensions"):
                self.assertEqual(row[k], base[k], (spec, k))

    def test_several_embeddings(self):
        """Layers of a model in one call: one row each, equal to separate calls; a bad one writes nothing."""
        h5 = os.path.join(self.d, "model.h5")
        with h5py.File(h5, "w") as f:
            f["layer.1"] = np.ascontiguousarray(self.E[:, :10])
            f["layer.2"] = np.ascontiguousarray(self.E[:, 10:])
        out = os.path.join(self.d, "layers.csv")
        r = run("--embedding", h5 + ":layer.1", "--embedding", h5 + ":layer.2", "--embedding", self.emb, "--triplets",
                self.tsv, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([row["embedding"] for row in rows], [h5 + ":layer.1", h5 + ":layer.2", self.emb])
        for k, E in enumerate((self.E[:, :10], self.E[:, 10:], self.E)):
            want = ref.odd_one_out(E, self.items, self.choice, bootstrap=1000, seed=0)
            self.check(rows[k], want)
        self.assertEqual([row["n_dimensions"] for row in rows], ["10", "32", "42"])
        # the whole feature file: one row per layer, in HDF5 name order, equal to naming them
        whole = os.path.join(self.d, "whole.csv")
        r = run("--embedding", h5, "--triplets", self.tsv, "--out", whole)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(whole, newline="") as f:
            rows2 = list(csv.DictReader(f))
        self.assertEqual([row["embedding"] for row in rows2], [h5 + ":/layer.1", h5 + ":/layer.2"])
        for k in range(2):
            for key in ("n_correct", "accuracy", "bootstrap_sd", "n_dimensions"):
                self.assertEqual(rows2[k][key], rows[k][key], (k, key))
        empty = os.path.join(self.d, "empty.h5")
        with h5py.File(empty, "w") as f:
            f["v"] = np.zeros(5)
        r = run("--embedding", empty, "--triplets", self.tsv, "--out", os.path.join(self.d, "never.csv"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("empty.h5: no 2-D dataset (items × dimensions)", r.stderr)
        bad = os.path.join(self.d, "bad.csv")
        r = run("--embedding", self.emb, "--embedding", h5 + ":missing", "--triplets", self.tsv, "--out", bad)
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing", r.stderr)
        self.assertFalse(os.path.exists(bad))

    def test_ties_and_no_repeats(self):
        """An all-zero embedding ties every pair: the odd one is c (pair ab first); no repeated triplet."""
        E = np.zeros((10, 3), dtype=np.float32)
        emb = os.path.join(self.d, "zero.npy")
        np.save(emb, E)
        rng = np.random.default_rng(0)
        trials = [rng.choice(10, 3, replace=False) + 1 for _ in range(40)]
        choice = rng.integers(1, 4, 40)
        tsv = os.path.join(self.d, "t.tsv")
        seen, rows = set(), []
        for t, c in zip(trials, choice):
            key = tuple(sorted(t))
            if key in seen:
                continue
            seen.add(key)
            rows.append((t, c))
        with open(tsv, "w") as f:
            f.write("subject\titem_a\titem_b\titem_c\todd_one_out\n")  # columns in another order
            for t, c in rows:
                f.write(f"s1\t{t[0]}\t{t[1]}\t{t[2]}\t{c}\n")
        row, out = self.cli(emb, tsv)
        self.assertEqual(int(row["n_correct"]), sum(1 for _, c in rows if c == 3))
        self.assertEqual((row["n_repeated_triplets"], row["human_ceiling"]), ("0", ""))
        self.assertIn("no triplet repeats", out)
        want = ref.odd_one_out(E, np.array([t for t, _ in rows]) - 1, np.array([c for _, c in rows]) - 1)
        self.check(row, {k: v for k, v in want.items() if k != "human_ceiling"})

    def test_bad_input(self):
        good = "item_a\titem_b\titem_c\todd_one_out\n1\t2\t3\t1\n"
        cases = [
            ("item_a\titem_b\titem_c\todd_one_out\n1\t2\t3\t1\n5\t2\t1855\t2\n", r"t.tsv:3: column item_c: item 1855 is outside 1…1854"),
            ("item_a\titem_b\titem_c\todd_one_out\n1\t2\t3\t4\n", r"t.tsv:2: column odd_one_out: expected 1, 2 or 3"),
            ("item_a\titem_b\titem_c\todd_one_out\n1\t2\t3\t0\n", r"t.tsv:2: column odd_one_out: expected 1, 2 or 3"),
            ("item_a\titem_b\titem_c\todd_one_out\n7\t2\t7\t1\n", r"t.tsv:2: the triplet \(7, 2, 7\) repeats an item"),
            ("item_a\titem_b\titem_c\todd_one_out\n0\t2\t3\t1\n", r"t.tsv:2: column item_a: item 0 is outside"),
            ("item_a\titem_b\titem_c\todd_one_out\n1\tx\t3\t1\n", r"t.tsv:2: column item_b: expected an integer, found 'x'"),
            ("item_a\titem_b\titem_c\todd_one_out\n1\t2\t3\n", r"t.tsv:2: expected 4 tab-separated fields"),
            ("item_a\titem_b\titem_c\tchoice\n1\t2\t3\t1\n", r"t.tsv:1: the header has no column 'odd_one_out'"),
            ("item_a\titem_b\titem_c\todd_one_out\n", r"t.tsv: no triplet after the header"),
            ("", r"t.tsv: empty file"),
        ]
        for text, pattern in cases:
            with self.subTest(pattern=pattern):
                tsv = os.path.join(self.d, "t.tsv")
                with open(tsv, "w") as f:
                    f.write(text)
                out = os.path.join(self.d, "o.csv")
                r = run("--embedding", self.emb, "--triplets", tsv, "--out", out)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)
                self.assertFalse(os.path.exists(out))
                self.assertEqual([n for n in os.listdir(self.d) if n != "t.tsv"], [])
        tsv = os.path.join(self.d, "t.tsv")
        with open(tsv, "w") as f:
            f.write(good)
        bad_npy = []
        np.save(os.path.join(self.d, "int.npy"), np.ones((5, 2), dtype=np.int32))
        bad_npy.append(("int.npy", r"int.npy: npy dtype '<i4', expected float32"))
        np.save(os.path.join(self.d, "three.npy"), np.ones((5, 2, 2), dtype=np.float32))
        bad_npy.append(("three.npy", r"three.npy: npy shape \(5, 2, 2\), expected a non-empty 2-D array"))
        nan = np.ones((5, 2), dtype=np.float32)
        nan[3, 1] = np.nan
        np.save(os.path.join(self.d, "nan.npy"), nan)
        bad_npy.append(("nan.npy", r"nan.npy: non-finite value \(nan\) at row 3, column 1"))
        with open(os.path.join(self.d, "trunc.npy"), "wb") as f, open(self.emb, "rb") as src:
            f.write(src.read()[:-4])
        bad_npy.append(("trunc.npy", r"trunc.npy: npy data has 311468 bytes, expected 311472"))
        bad_npy.append(("missing.npy", r"missing.npy"))
        for name, pattern in bad_npy:
            with self.subTest(embedding=name):
                out = os.path.join(self.d, "o.csv")
                r = run("--embedding", os.path.join(self.d, name), "--triplets", tsv, "--out", out)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)
                self.assertFalse(os.path.exists(out))
        small = os.path.join(self.d, "small.npy")
        np.save(small, np.ones((2, 3), dtype=np.float32))
        r = run("--embedding", small, "--triplets", tsv, "--out", os.path.join(self.d, "o.csv"))
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"t.tsv:2: column item_c: item 3 is outside 1…2")
        for opts, pattern in ((["--similarity", "euclid"], r"--similarity: expected dot or cosine, found 'euclid'"),
                              (["--rule", "majority"], r"--rule: expected odd-one-out or anchor"),
                              (["--bootstrap", "-1"], r"--bootstrap")):
            with self.subTest(opts=opts):
                r = run("--embedding", self.emb, "--triplets", tsv, "--out", os.path.join(self.d, "o.csv"), *opts)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)
                self.assertFalse(os.path.exists(os.path.join(self.d, "o.csv")))
        # an existing output is never overwritten
        out = os.path.join(self.d, "keep.csv")
        with open(out, "w") as f:
            f.write("earlier result\n")
        r = run("--embedding", self.emb, "--triplets", tsv, "--out", out)
        self.assertEqual(r.returncode, 2)
        self.assertIn("exists; refusing to overwrite it", r.stderr)
        with open(out) as f:
            self.assertEqual(f.read(), "earlier result\n")


if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv.pop(1))
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        THINGS = sys.argv.pop(1)
    unittest.main(verbosity=2)
