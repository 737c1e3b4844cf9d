#!/usr/bin/python3
"""End-to-end bad-input tests for brainsweep.

Usage: /usr/bin/python3 tests/e2e/test_bad_input.py BRAINSWEEP_BINARY [unittest args]

Each test builds a small Sherlock dataset (2 subjects, roi6, the feature files it needs) in a fresh
temporary directory, copied or modified from ../shared/data/sherlock (override with
BRAINSWEEP_SHERLOCK), writes a sweep there and runs the binary in it. Project rules checked:
a bad input gives exit code 2 and an error that names the file and the key, dataset, episode or
layer, says what was expected and what was found; nothing already in RUN_DIR is overwritten or
lost, and a failed `run` writes no results.csv.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[2]
DESCRIPTOR = REPO / "configs" / "datasets" / "sherlock.yaml"
SHERLOCK = Path(os.environ.get("BRAINSWEEP_SHERLOCK", REPO.parent / "shared" / "data" / "sherlock")).resolve()
BINARY = None  # set from argv in __main__

SUBJECTS = ("sub-01", "sub-02")
EPISODES = ("sherlock01", "sherlock02")  # scan 1: 946 TRs, scan 2: 1030 TRs
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_btl": "self,vader",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
}


# ---------------------------------------------------------------- dataset and sweep helpers

def fmri_rel(subject):
    return Path("fmri", subject, "func", f"{subject}_task-sherlock_space-MNI152_atlas-roi6_bold.h5")


def fmri_key(episode):
    return f"ses-001_task-{episode}"


def feature_rel(model, episode):
    return Path("features", model, "movies", "sherlock", f"movies_{episode}.h5")


def replace_dataset(path, name, data):
    """Rewrite dataset `name` of an HDF5 file with `data` (any shape)."""
    with h5py.File(path, "r+") as f:
        dtype = f[name].dtype
        del f[name]
        f.create_dataset(name, data=np.asarray(data, dtype=dtype))


def set_value(path, name, index, value):
    with h5py.File(path, "r+") as f:
        f[name][index] = value


def snapshot(directory):
    """{relative path: bytes} of every file under `directory`."""
    directory = Path(directory)
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def sweep_text(root, subjects=SUBJECTS, features=(("annotations", ("speech",)),),
               grid="{hrf_delay: [0], stimulus_window: [1]}", ridge="{folds: 5}",
               train="[sherlock01]", eval_="{test: [sherlock02]}"):
    lines = [f"dataset: {DESCRIPTOR}",
             f"dataset_root: {root}",
             "atlas: roi6",
             f"subjects: [{', '.join(subjects)}]",
             "features:"]
    lines += [f"  - {{model: {m}, layers: [{', '.join(layers)}]}}" for m, layers in features]
    lines += [f"grid: {grid}", f"ridge: {ridge}", f"train: {train}", f"eval: {eval_}"]
    return "\n".join(lines) + "\n"


def line_of(text, needle):
    """1-based number of the first line of `text` containing `needle`."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in sweep text")


class BrainsweepCase(unittest.TestCase):
    """A fresh temporary directory `self.tmp` with the dataset in `self.root`."""

    models = ("annotations",)

    def setUp(self):
        if not SHERLOCK.is_dir():
            self.skipTest(f"Sherlock data not found at {SHERLOCK} (set BRAINSWEEP_SHERLOCK)")
        self.tmp = Path(tempfile.mkdtemp(prefix="brainsweep-bad-input-")).resolve()
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.root = self.tmp / "data"
        for subject in SUBJECTS:
            self.copy(fmri_rel(subject))
        for model in self.models:
            for episode in EPISODES:
                self.copy(feature_rel(model, episode))

    def copy(self, rel, dest_rel=None):
        dest = self.root / (dest_rel or rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHERLOCK / rel, dest)  # copyfile: the copy is writable even if the source is not
        return dest

    def fmri(self, subject):
        return self.root / fmri_rel(subject)

    def feature(self, model, episode):
        return self.root / feature_rel(model, episode)

    def write_sweep(self, name="sweep.yaml", text=None, **kwargs):
        text = text if text is not None else sweep_text(self.root, **kwargs)
        (self.tmp / name).write_text(text)
        return name

    def cli(self, *args):
        env = dict(os.environ, **MPI_ENV)
        return subprocess.run([BINARY, *map(str, args)], cwd=self.tmp, env=env, capture_output=True,
                              text=True, timeout=120)

    def generate(self, sweep="sweep.yaml", out="run"):
        return self.cli("generate", sweep, "--out", out)

    # ------------------------------------------------------------ assertions

    def describe(self, proc):
        return (f"\ncommand: {' '.join(map(str, proc.args))}\nexit code: {proc.returncode}"
                f"\nstderr:\n{proc.stderr}\nstdout:\n{proc.stdout}")

    def assertOk(self, proc):
        self.assertEqual(proc.returncode, 0, "expected success" + self.describe(proc))

    def assertBadInput(self, proc, *needles, patterns=()):
        """Exit code 2 and stderr holds every needle (plain text) and every regex pattern."""
        self.assertEqual(proc.returncode, 2, "expected exit code 2" + self.describe(proc))
        for needle in needles:
            self.assertIn(str(needle), proc.stderr, f"stderr should name {needle!r}" + self.describe(proc))
        for pattern in patterns:
            self.assertRegex(proc.stderr, pattern, "stderr lacks the expected text" + self.describe(proc))

    def assertNoPlan(self, out="run"):
        self.assertFalse((self.tmp / out / "plan.json").exists(), "a failed generate left a plan.json")

    def assertConfigError(self, proc, sweep, key, text):
        """`<sweep file>:<line of the key>: key '<key path>'` (the file as given or absolute)."""
        line = line_of(text, key.rsplit(".", 1)[-1].split("[")[0])
        self.assertBadInput(proc, patterns=[rf"(^|[\s/]){re.escape(sweep)}:{line}: key '{re.escape(key)}'"])
        self.assertNoPlan()

    def assertRunDirKept(self, before, run_dir):
        """Every file that was in RUN_DIR before is still there, byte for byte."""
        after = snapshot(run_dir)
        for rel, content in before.items():
            self.assertIn(rel, after, f"{rel} was removed from RUN_DIR")
            self.assertTrue(after[rel] == content, f"{rel} in RUN_DIR was changed")

    def assertRunDirUnchanged(self, before, run_dir, what):
        """RUN_DIR holds exactly the files it held before, byte for byte."""
        after = snapshot(run_dir)
        changed = sorted(r for r in before.keys() | after.keys() if before.get(r) != after.get(r))
        self.assertEqual(changed, [], f"{what} changed these files in RUN_DIR")


# ---------------------------------------------------------------- generate: missing data

class TestMissingData(BrainsweepCase):

    def test_01_missing_fmri_file(self):
        self.write_sweep(subjects=("sub-01", "sub-03"))  # sub-03 is not in the temporary dataset
        proc = self.generate()
        self.assertBadInput(proc, self.fmri("sub-03"))
        self.assertNoPlan()

    def test_02_missing_feature_file(self):
        self.write_sweep(features=(("nomodel", ("speech",)),))
        proc = self.generate()
        self.assertBadInput(proc, "nomodel",
                            patterns=[re.escape(str(self.root / "features" / "nomodel") + os.sep) + r"\S*\.h5"])
        self.assertNoPlan()

    def test_03_missing_episode_key(self):
        # sherlock03 matches the descriptor's episode pattern; give it a feature file so that only the
        # fMRI files lack the key.
        self.copy(feature_rel("annotations", "sherlock01"), feature_rel("annotations", "sherlock03"))
        self.write_sweep(train="[sherlock03]")
        proc = self.generate()
        files = "|".join(re.escape(str(self.fmri(s))) for s in SUBJECTS)
        self.assertBadInput(proc, "sherlock03", patterns=[files])
        self.assertNoPlan()

    def test_04_missing_layer(self):
        self.write_sweep(features=(("annotations", ("speach",)),))
        proc = self.generate()
        with h5py.File(self.feature("annotations", "sherlock01"), "r") as f:
            present = sorted(f.keys())
        files = "|".join(re.escape(str(self.feature("annotations", e))) for e in EPISODES)
        self.assertBadInput(proc, "speach", *present, patterns=[files])
        self.assertNoPlan()

    def test_05_feature_rows_far_fewer_than_fmri(self):
        path = self.feature("annotations", "sherlock01")
        with h5py.File(path, "r") as f:
            short = f["speech"][:100]
        replace_dataset(path, "speech", short)
        self.write_sweep()
        proc = self.generate()
        self.assertBadInput(proc, path, "speech", patterns=[r"\b100\b", r"\b946\b"])
        self.assertNoPlan()


# ---------------------------------------------------------------- run: non-finite values

class TestNonFinite(BrainsweepCase):

    models = ("description_lsa", "annotations")

    def generate_ok(self, **kwargs):
        self.write_sweep(**kwargs)
        self.assertOk(self.generate())
        return self.tmp / "run"

    def assertRunFails(self, run_dir, *needles):
        before = snapshot(run_dir)
        proc = self.cli("run", "run")
        self.assertBadInput(proc, *needles)
        self.assertFalse((run_dir / "results.csv").exists(), "a failed run wrote results.csv")
        self.assertRunDirKept(before, run_dir)
        return proc

    def unit_of(self, run_dir, model):
        plan = json.loads((run_dir / "plan.json").read_text())
        return next(u["unit_id"] for u in plan["units"] if u["model"] == model)

    def test_06_nan_in_feature(self):
        # Two feature sets: a clean one (fitted, kept) and one with a NaN in the training episode.
        path = self.feature("annotations", "sherlock01")
        set_value(path, "speech", (10, 1), np.nan)
        run_dir = self.generate_ok(features=(("description_lsa", ("lsa16",)), ("annotations", ("speech",))))
        self.assertRunFails(run_dir, path, "speech")
        self.assertTrue(any((run_dir / "units").glob("*.done")), "the clean unit was not kept")
        bad_unit = self.unit_of(run_dir, "annotations")
        self.assertFalse((run_dir / "units" / f"{bad_unit}.done").exists(), "the failed unit was marked done")
        # A second run over the partly filled RUN_DIR fails the same way and keeps what the first wrote.
        self.assertRunFails(run_dir, path, "speech")

    def test_07_inf_in_fmri(self):
        path = self.fmri("sub-02")
        set_value(path, fmri_key("sherlock02"), (20, 3), np.inf)  # eval episode
        run_dir = self.generate_ok()
        self.assertRunFails(run_dir, path, fmri_key("sherlock02"))
        bad_unit = self.unit_of(run_dir, "annotations")
        self.assertFalse((run_dir / "units" / f"{bad_unit}.done").exists(), "the failed unit was marked done")


# ---------------------------------------------------------------- generate: sweep errors

class TestSweepErrors(BrainsweepCase):

    def check(self, name, old, new, key):
        text = sweep_text(self.root)
        self.assertIn(old, text)
        text = text.replace(old, new, 1)
        self.write_sweep(name, text=text)
        proc = self.generate(name)
        self.assertConfigError(proc, name, key, text)
        return proc

    def test_08_unknown_key_in_grid(self):
        self.check("typo_grid.yaml", "grid: {hrf_delay:", "grid: {hrf_dealy:", "grid.hrf_dealy")

    def test_08_unknown_top_level_key(self):
        self.check("typo_top.yaml", "atlas: roi6", "atlass: roi6", "atlass")

    def test_09_empty_grid(self):
        self.check("empty_grid.yaml", "grid: {hrf_delay: [0], stimulus_window: [1]}",
                   "grid: {stimulus_window: []}", "grid.stimulus_window")

    def test_10_zero_alpha(self):
        proc = self.check("alpha_zero.yaml", "ridge: {folds: 5}", "ridge: {alphas: [1, 0]}", "ridge.alphas")
        self.assertRegex(proc.stderr, r"found:? 0(\.0*)?\b")

    def test_10_negative_alpha(self):
        proc = self.check("alpha_neg.yaml", "ridge: {folds: 5}", "ridge: {alphas: [-1, 2]}", "ridge.alphas")
        self.assertRegex(proc.stderr, r"found:? -1(\.0*)?\b")

    def test_11_stimulus_window_below_one(self):
        proc = self.check("window_zero.yaml", "stimulus_window: [1]", "stimulus_window: [0]",
                          "grid.stimulus_window")
        self.assertRegex(proc.stderr, r"found:? 0\b")


# ---------------------------------------------------------------- RUN_DIR identity

class TestRunDir(BrainsweepCase):

    def test_12_run_dir_holds_a_different_plan(self):
        self.write_sweep("a.yaml")
        self.write_sweep("b.yaml", grid="{hrf_delay: [0], stimulus_window: [2]}")
        self.assertOk(self.generate("a.yaml"))
        self.assertOk(self.cli("run", "run"))  # a finished run: more in RUN_DIR to lose
        run_dir = self.tmp / "run"
        before = snapshot(run_dir)

        proc = self.generate("b.yaml")
        self.assertBadInput(proc, "different plan", patterns=[r"(^|[\s/])run(/plan\.json)?\b"])
        self.assertRunDirUnchanged(before, run_dir, "the refused generate")

        proc = self.generate("a.yaml")
        self.assertOk(proc)
        self.assertRunDirUnchanged(before, run_dir, "regenerating the same plan")


# ---------------------------------------------------------------- command line

class TestCommandLine(BrainsweepCase):

    def setUp(self):  # no dataset needed
        self.tmp = Path(tempfile.mkdtemp(prefix="brainsweep-bad-input-")).resolve()
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def test_13_help(self):
        for sub in ([], ["generate"], ["run"], ["stitch"], ["demo-data"]):
            with self.subTest(subcommand=sub):
                proc = self.cli(*sub, "--help")
                self.assertOk(proc)
                self.assertIn("Usage", proc.stdout, self.describe(proc))
                for other in sub:
                    self.assertIn(other, proc.stdout)

    def test_13_missing_required_argument(self):
        cases = [([], "subcommand"),
                 (["generate", "--out", "run"], "SWEEP"),
                 (["generate", "sweep.yaml"], "--out"),
                 (["run"], "RUN_DIR"),
                 (["submit", "run"], "--test-set"),  # stitch --eval is optional (issue #14)
                 (["stitch", "--eval", "test"], "RUN_DIR"),
                 (["demo-data"], "--out")]
        for args, missing in cases:
            with self.subTest(args=args):
                self.assertBadInput(self.cli(*args), missing)
        self.assertFalse((self.tmp / "run").exists())

    def test_13_unknown_option(self):
        self.assertBadInput(self.cli("generate", "sweep.yaml", "--out", "run", "--frobnicate"), "--frobnicate")
        self.assertFalse((self.tmp / "run").exists())

    def test_13_unknown_subcommand(self):
        self.assertBadInput(self.cli("bogus"), "bogus")


# ---------------------------------------------------------------- stitch

class TestStitch(BrainsweepCase):

    def test_14_stitch_bad_sets(self):
        self.write_sweep()
        self.assertOk(self.generate())
        self.assertOk(self.cli("run", "run"))
        self.assertOk(self.cli("stitch", "run", "--eval", "test"))  # stitched/ exists: must survive
        run_dir = self.tmp / "run"
        before = snapshot(run_dir)

        proc = self.cli("stitch", "run", "--select", "test", "--eval", "test")
        self.assertBadInput(proc, "test", "select")
        self.assertRunDirUnchanged(before, run_dir, "the refused stitch")

        proc = self.cli("stitch", "run", "--eval", "nosuch")
        self.assertBadInput(proc, "'nosuch'", "test")  # names the unknown set and lists the plan's
        self.assertRunDirUnchanged(before, run_dir, "the refused stitch")

        proc = self.cli("stitch", "run", "--select", "nosuch", "--eval", "test")
        self.assertBadInput(proc, "'nosuch'")
        self.assertRunDirUnchanged(before, run_dir, "the refused stitch")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(f"usage: {sys.argv[0]} BRAINSWEEP_BINARY [unittest args]")
    BINARY = str(Path(sys.argv[1]).resolve())
    if not os.access(BINARY, os.X_OK):
        sys.exit(f"{BINARY}: not an executable")
    unittest.main(argv=[sys.argv[0], *sys.argv[2:]], verbosity=2)
