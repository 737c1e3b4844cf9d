#!/usr/bin/env python3
"""Stimulus-level features for RSA (issue #13 §2): `brainsweep extract` with `image:` over the 92
images of Kriegeskorte et al. 2008 (the HDF5 array `images` of rsa92.h5, and the same images as PNG
files), against the same TorchScript model run in PyTorch on the same pixels; then `brainsweep rsa
--rdms rsa92.h5 --brain hIT --features FILE.h5`, the model RDMs from the feature rows, against numpy
(tests/reference/metrics_reference.py). Bad input: a dataset that is not N × H × W × 3, a feature file
whose rows are not the conditions.

Usage: test_image_rsa.py BRAINSWEEP RSA92_H5
"""
import csv
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "extract"))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import metrics_reference as ref  # noqa: E402
import tiny_models as tm  # noqa: E402

BIN = None
RSA92 = None
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def run(*args, ranks=1):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k, v in (("OMPI_ALLOW_RUN_AS_ROOT", "1"), ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"), ("OMPI_MCA_btl", "self,vader"),
                 ("OMPI_MCA_rmaps_base_oversubscribe", "1")):
        env.setdefault(k, v)
    cmd = [BIN, *args] if ranks == 1 else ["mpirun", "-n", str(ranks), BIN, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


class ImageRsa(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.d = cls.tmp.name
        with h5py.File(RSA92) as f:
            cls.images = f["images"][()]
            cls.hit = {s: np.mean([f[f"hIT/{s}/{k}"][()] for k in f[f"hIT/{s}"]], axis=0) for s in f["hIT"]}
        torch.manual_seed(0)
        cls.model = tm.make("image")
        cls.model_path = os.path.join(cls.d, "image.pt")
        tm.save(cls.model, cls.model_path, None)
        # the first 7 images as PNG files (lossless: the same pixels)
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        cls.png = os.path.join(cls.d, "png")
        os.makedirs(cls.png)
        for i in range(7):
            plt.imsave(os.path.join(cls.png, f"image{i:02d}.png"), cls.images[i])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def config(self, name, stimuli, size="[32, 32]"):
        path = os.path.join(self.d, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(f"""name: {name}
model: {{path: {self.model_path}, batch_size: 10}}
layers: [features, classifier]
pool: {{mode: mean, channel_dim: 1}}
dtype: float32
image: {{size: {size}, mean: {MEAN}, std: {STD}}}
stimuli: [{stimuli}]
out: {self.d}/features_{name}
""")
        return path

    def reference(self, images):
        """The model on the same pixels in PyTorch: resize (bilinear, no antialiasing), normalise."""
        x = torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2) / 255.0
        x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        out = tm.hooked_outputs(self.model, x, ["features", "classifier"])
        return {k: tm.pool(v, "mean", 1).numpy() for k, v in out.items()}

    def test_92_images_extract_and_rsa(self):
        cfg = self.config("tiny", f"{{stimset: rsa92, group: images, files: {RSA92}, dataset: images}}")
        r = run("extract", cfg, ranks=2)
        self.assertEqual(r.returncode, 0, r.stderr)
        feat = os.path.join(self.d, "features_tiny", "tiny", "rsa92", "images", "rsa92_images.h5")
        want = self.reference(self.images)
        with h5py.File(feat) as f:
            self.assertEqual(f["features"].shape, (92, 6))
            self.assertEqual(f["classifier"].shape, (92, 4))
            names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["stimulus_names"]]
            self.assertEqual(names[:2], ["images[0]", "images[1]"])
            got = {k: f[k][()] for k in ("features", "classifier")}
        for k in want:
            np.testing.assert_allclose(got[k], want[k], atol=1e-5, err_msg=k)
        # PNG files: the same rows as the first 7 images of the array
        cfg = self.config("tiny_png", f"{{stimset: rsa92, group: png, files: '{self.png}/*.png'}}")
        r = run("extract", cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        with h5py.File(os.path.join(self.d, "features_tiny_png", "tiny_png", "rsa92", "png", "rsa92_png.h5")) as f:
            np.testing.assert_allclose(f["features"][()], got["features"][:7], atol=1e-6)
            self.assertEqual([n.decode() if isinstance(n, bytes) else n for n in f.attrs["stimulus_names"]][:2],
                             ["image00.png", "image01.png"])
        # RSA: each layer one model RDM (1 − Pearson r of its rows) against hIT's BE and KO
        out = os.path.join(self.d, "rsa.csv")
        r = run("rsa", "--rdms", RSA92, "--brain", "hIT", "--features", feat, "--model", "models/animacy",
                "--comparison", "corr,spearman", "--bootstrap", "20", "--permutations", "20", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual({g["model"] for g in rows}, {"tiny/features", "tiny/classifier", "models/animacy"})
        for layer in ("features", "classifier"):
            m = ref.rdm_correlation(got[layer].astype(np.float64))
            for method in ("corr", "spearman"):
                for s in ("BE", "KO"):
                    g = next(g for g in rows if g["model"] == f"tiny/{layer}" and g["subject"] == s and g["comparison"] == method)
                    self.assertAlmostEqual(float(g["similarity"]), ref.compare(m, ref.upper(self.hit[s]), method), delta=1e-6,
                                           msg=(layer, method, s))
        mean = {g["model"]: float(g["similarity"]) for g in rows if g["subject"] == "mean" and g["comparison"] == "corr"}
        print(f"92 images, random-weight tiny image model vs hIT (corr, mean of BE and KO): features {mean['tiny/features']:.3f}, "
              f"classifier {mean['tiny/classifier']:.3f}; the animacy model {mean['models/animacy']:.3f}")
        # one layer by name
        out2 = os.path.join(self.d, "rsa2.csv")
        r = run("rsa", "--rdms", RSA92, "--brain", "hIT", "--features", f"{feat}:classifier", "--bootstrap", "0",
                "--permutations", "0", "--out", out2)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out2, newline="") as f:
            self.assertEqual({g["model"] for g in csv.DictReader(f)}, {"tiny/classifier"})

    def test_bad_input(self):
        bad = os.path.join(self.d, "bad.h5")
        with h5py.File(bad, "w") as f:
            f["gray"] = np.zeros((5, 8, 8), np.uint8)
            f["floaty"] = np.full((5, 8, 8, 3), 0.5)
            f["rows50"] = np.ones((50, 4), np.float32)
        for ds, pattern in (("gray", r"dataset 'gray': expected images N × height × width × 3 \(RGB\), found 3-D 5×8×8"),
                            ("floaty", r"dataset 'floaty': value 0.5 at flat index 0 \(expected uint8 RGB"),
                            ("missing", r"no dataset 'missing'")):
            with self.subTest(ds=ds):
                cfg = self.config(f"bad_{ds}", f"{{stimset: x, group: y, files: {bad}, dataset: {ds}}}")
                r = run("extract", cfg)
                self.assertNotEqual(r.returncode, 0)
                self.assertRegex(r.stderr, pattern)
                self.assertFalse(os.path.exists(os.path.join(self.d, f"features_bad_{ds}", f"bad_{ds}", "x", "y", "x_y.h5")))
        cfg = self.config("bad_two", f"{{stimset: x, group: y, files: '{self.png}/*.png', dataset: images}}")
        r = run("extract", cfg)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("matches 7 files; with 'dataset' it must name one HDF5 file", r.stderr)
        out = os.path.join(self.d, "never.csv")
        for args, pattern in (([f"{bad}:rows50"], r"'hIT/BE' has 92 conditions, the model 'bad/rows50' 50"),
                              ([f"{bad}:nothere"], r"has no dataset 'nothere'"),
                              ([os.path.join(self.d, "nofile.h5")], r"nofile.h5: no such file")):
            with self.subTest(args=args):
                r = run("rsa", "--rdms", RSA92, "--brain", "hIT", "--features", *args, "--out", out)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)
                self.assertFalse(os.path.exists(out))
        r = run("rsa", "--rdms", RSA92, "--brain", "hIT", "--features", f"{bad}:rows50", "--distance", "crossnobis", "--out", out)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--distance: expected correlation, euclidean or standardized-euclidean for --features", r.stderr)


if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv.pop(1))
    RSA92 = sys.argv.pop(1)
    unittest.main(verbosity=2)
