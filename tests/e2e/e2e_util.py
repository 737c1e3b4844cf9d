"""Helpers shared by the end-to-end tests (Python): CSV rows, the sweeps/sherlock.yaml copy with
absolute paths, and the descriptor of a small synthetic dataset in the flat layout the tests write
(fmri/<subject>/<subject>_bold.h5, features/<model>/s/g/s_<episode>.h5, one movie per episode), and a
test case with a temporary directory per test."""
import csv
import os
import tempfile
import unittest

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


class TempDirTest(unittest.TestCase):
    """A test case whose every test gets a fresh temporary directory, self.d, removed after it."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def out(self):
        """A new CSV path in self.d (o0.csv, o1.csv, … by what the directory holds)."""
        return os.path.join(self.d, f"o{len(os.listdir(self.d))}.csv")


def read_csv(path):
    """The rows of a CSV as dicts (pandas-free)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def sherlock_sweep(path, sherlock, atlas="roi6"):
    """sweeps/sherlock.yaml with its descriptor and data root made absolute (and another atlas),
    written to `path`; returns `path`."""
    with open(os.path.join(SOURCE, "sweeps", "sherlock.yaml")) as f:
        text = f.read().replace("atlas: roi6", f"atlas: {atlas}").replace(
            "dataset: configs", f"dataset: {SOURCE}/configs").replace(
            "dataset_root: ../shared/data/sherlock", f"dataset_root: {sherlock}")
    with open(path, "w") as f:
        f.write(text)
    return path


def write_flat_features(root, feats, layer="x"):
    """Feature files of the flat layout: feats {episode: {model: array (T × C)}} → dataset `layer` of
    features/<model>/s/g/s_<episode>.h5 under root, float32."""
    import h5py
    for ep, models in feats.items():
        for model, x in models.items():
            d = os.path.join(root, "features", model, "s", "g")
            os.makedirs(d, exist_ok=True)
            with h5py.File(os.path.join(d, f"s_{ep}.h5"), "w") as f:
                f[layer] = x.astype("f4")


def flat_descriptor(root, name, tr, exclude_start=None, exclude_end=None):
    """Write <root>/<name>.yaml, the descriptor of a synthetic dataset in the flat layout; returns its path."""
    path = os.path.join(root, f"{name}.yaml")
    exclude = "".join(f"{key}: {v}\n" for key, v in (("exclude_start", exclude_start), ("exclude_end", exclude_end))
                      if v is not None)
    with open(path, "w") as f:
        f.write(f"""name: {name}
root: {root}
tr: {tr}
{exclude}fmri:
  - file: "fmri/{{subject}}/{{subject}}_bold.h5"
    episodes: '.*'
features: "features/{{model}}/{{stimset}}/{{group}}/{{stimset}}_{{episode}}.h5"
stimuli:
  - episodes: '(.*)'
    stimset: s
    group: g
    movie: '{{1}}'
""")
    return path
