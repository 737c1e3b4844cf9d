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

    def test_labels_a_scientist_can_read(self):
        """#27 §13: the figures carry what they show — bar titles with ROI, subjects, conditions, comparison
        and the --title; significance stars from the permutation p; the legend outside the axes; the RDM
        figure's colour bar and statement that colours are ranks, and the category names as tick labels."""
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        with tempfile.TemporaryDirectory() as d:
            csv, rdms = os.path.join(d, "r.csv"), os.path.join(d, "r.h5")
            r = subprocess.run([BIN, "rsa", "--rdms", RSA92, "--brain", "hIT", "--model", "models", "--comparison",
                                "corr", "--bootstrap", "50", "--permutations", "200", "--out", csv, "--save-rdms", rdms],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            figures = {}
            original = Figure.savefig

            def record(fig, path, *args, **kwargs):
                figures[os.path.basename(str(path))] = fig
                return original(fig, path, *args, **kwargs)
            Figure.savefig = record
            argv = sys.argv
            try:
                sys.argv = ["plot_rsa.py", csv, "--rdms", rdms, "--order-by", RSA92 + ":/category_vectors", "--title",
                            "92 images", "--out", os.path.join(d, "plots")]
                plot_rsa.main()
            finally:
                Figure.savefig, sys.argv = original, argv
            bars = figures["bars_hIT_corr.png"]
            ax = bars.axes[0]
            self.assertEqual(ax.get_title(), "92 images: hIT (2 subjects, 92 conditions), comparison corr")
            ticks = [t.get_text() for t in ax.get_xticklabels()]
            self.assertEqual(ticks[0], "models/animacy")  # sorted by the mean similarity
            with open(csv) as f:
                import csv as csvmod
                rows = [row for row in csvmod.DictReader(f) if row["subject"] == "mean"]
            p = {row["model"]: float(row["p_permutation"]) for row in rows}
            stars = [t.get_text() for t in ax.texts]
            self.assertEqual(len(stars), sum(v < 0.05 for v in p.values()))  # one mark per significant model
            self.assertTrue(all(set(s) == {"*"} for s in stars), stars)
            legend = ax.get_legend()
            texts = [t.get_text() for t in legend.get_texts()]
            self.assertTrue(any(t.startswith("noise ceiling [") for t in texts), texts)
            self.assertTrue(any("permutation" in t for t in texts), texts)
            # the legend lies right of the axes: it covers neither bars nor the ceiling band
            bars.canvas.draw()
            renderer = bars.canvas.get_renderer()
            self.assertGreaterEqual(legend.get_window_extent(renderer).x0, ax.get_window_extent(renderer).x1)
            heat = figures["rdms.png"]
            self.assertIn("colour = rank of each dissimilarity", heat._suptitle.get_text())
            colorbars = [a for a in heat.axes if a.get_ylabel().startswith("dissimilarity rank")]
            self.assertEqual(len(colorbars), 1)
            labels = [t.get_text() for t in heat.axes[0].get_yticklabels()]
            self.assertEqual(labels, ["animate/human", "animate/nonhumani", "inanim/natObj", "inanim/artiObj"])



if __name__ == "__main__":
    BIN, RSA92 = os.path.abspath(sys.argv.pop(1)), sys.argv.pop(1)
    unittest.main(verbosity=2)
