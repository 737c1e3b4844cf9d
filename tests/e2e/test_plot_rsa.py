#!/usr/bin/python3
"""tools/plot_rsa.py (issue #13): on `brainsweep rsa --save-rdms` of the 92-image data, the bar plot
and the RDM heatmaps are written as PNGs of the expected size; the category order puts the 48
animate images first (humans first among them), and heatmap ranks average ties.

Usage: test_plot_rsa.py BRAINSWEEP_BINARY RSA92_H5
"""
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "..", "..", "tools", "plot_rsa.py")
sys.path.insert(0, os.path.dirname(TOOL))
import plot_rsa  # noqa: E402

BIN = RSA92 = None


class PlotRsa(unittest.TestCase):
    def test_order_and_ranks(self):
        with h5py.File(RSA92) as f:
            cats = f["category_vectors"][()]  # uint8: the case that once put the inanimate images first
        order = plot_rsa.category_order(cats)
        self.assertTrue(cats[order][:48, 0].all())        # animate first
        self.assertFalse(cats[order][48:, 0].any())
        self.assertTrue(cats[order][:24, 2].all())        # humans first among them
        self.assertEqual(sorted(order), list(range(92)))
        np.testing.assert_array_equal(plot_rsa.ranks(np.array([0.3, 0.1, 0.3, 0.2])), [3.5, 1, 3.5, 2])

    def test_plots_written(self):
        import matplotlib.image as mpimg
        with tempfile.TemporaryDirectory() as d:
            csv, rdms = os.path.join(d, "r.csv"), os.path.join(d, "r.h5")
            r = subprocess.run([BIN, "rsa", "--rdms", RSA92, "--brain", "hIT", "--model", "models", "--comparison",
                                "corr,tau-a", "--bootstrap", "20", "--permutations", "0", "--out", csv, "--save-rdms",
                                rdms], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with h5py.File(rdms) as f:
                self.assertEqual(sorted(f["subjects/hIT"]), ["BE", "KO"])
                self.assertEqual(len(f["models/models"]), 8)
                self.assertEqual(f["subjects/hIT/BE"].shape, (92, 92))
            r = subprocess.run([sys.executable, TOOL, csv, "--rdms", rdms, "--order-by", RSA92 + ":/category_vectors",
                                "--out", os.path.join(d, "plots")], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            names = sorted(os.listdir(os.path.join(d, "plots")))
            self.assertEqual(names, ["bars_hIT_corr.png", "bars_hIT_tau-a.png", "rdms.png"])
            img = mpimg.imread(os.path.join(d, "plots", "rdms.png"))
            self.assertGreater(img.shape[0], 300)
            self.assertGreater(img.std(), 0.05)  # not a blank canvas
            r = subprocess.run([sys.executable, TOOL, rdms], capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("not the CSV of `brainsweep rsa`", r.stderr)


if __name__ == "__main__":
    BIN, RSA92 = os.path.abspath(sys.argv.pop(1)), sys.argv.pop(1)
    unittest.main(verbosity=2)
