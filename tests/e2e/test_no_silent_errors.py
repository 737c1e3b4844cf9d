#!/usr/bin/python3
"""Issue #16: nothing silently wrong, nothing half-written.

Usage: /usr/bin/python3 tests/e2e/test_no_silent_errors.py BRAINSWEEP_BINARY [unittest args]

A sibling of test_bad_input.py (same small Sherlock dataset, same assertions): every input that
gave a wrong answer with exit 0, a damaged file or a late, unclear error now gives a clear error
(exit 2 for input, 1 for a failed write) and leaves RUN_DIR as it was. The disk-full test mounts a
small tmpfs (root only; skipped where mounting is refused).
"""

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_bad_input as tb  # noqa: E402
from test_bad_input import (BrainsweepCase, feature_rel, fmri_key, replace_dataset, snapshot,  # noqa: E402
                            sweep_text)


def temporaries(directory):
    return sorted(str(p) for p in Path(directory).rglob("*") if ".tmp" in p.name)


class RunCase(BrainsweepCase):
    """Helpers for a generated and finished run."""

    def finished_run(self, **kwargs):
        self.write_sweep(**kwargs)
        self.assertOk(self.generate())
        self.assertOk(self.cli("run", "run"))
        return self.tmp / "run"

    def plan(self, run_dir):
        return json.loads((run_dir / "plan.json").read_text())


# ---------------------------------------------------------------- 1. a full disk

class TestDiskFull(RunCase):

    def setUp(self):
        super().setUp()
        self.mnt = self.tmp / "small"
        self.mnt.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(self.mnt)], capture_output=True)
        if proc.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
        self.addCleanup(subprocess.run, ["umount", "-l", str(self.mnt)])

    def fill(self, leave_bytes):
        """Fill the tmpfs until `leave_bytes` are free."""
        free = shutil.disk_usage(self.mnt).free
        with open(self.mnt / "filler", "wb") as f:
            f.write(b"\0" * max(0, free - leave_bytes))

    def test_run_and_gather_fail_cleanly_and_resume(self):
        self.write_sweep(grid="{hrf_delay: [0], stimulus_window: [1, 2, 3, 4]}")
        out = self.mnt / "run"
        self.assertOk(self.generate(out=out))
        self.fill(40_000)  # room for about one job file of the eight
        proc = self.cli("run", out)
        self.assertEqual(proc.returncode, 1, "a full disk must fail the run with exit 1" + self.describe(proc))
        self.assertIn("No space left on device", proc.stderr, self.describe(proc))
        self.assertRegex(proc.stderr, re.escape(str(out / "jobs")) + r"/[0-9a-f]{16}\.h5")
        self.assertNotIn("Segmentation", proc.stderr)
        self.assertEqual(temporaries(out), [], "temporary files survived the failed writes")
        plan = self.plan(out)
        for job in (out / "jobs").glob("*.h5"):  # every job file that is there is complete and its own
            with h5py.File(job, "r") as f:
                self.assertEqual(f.attrs["job_id"].decode(), job.stem)
                self.assertEqual(f.attrs["plan_checksum"].decode(), plan["checksum"])
                self.assertEqual(f["predictions/sherlock02"].shape, (1030, 6))
        self.assertFalse((out / "results.csv").exists())
        for unit in plan["units"]:  # a unit marked done has all its job files
            if (out / "units" / f"{unit['unit_id']}.done").exists():
                for job_id in unit["jobs"]:
                    self.assertTrue((out / "jobs" / f"{job_id}.h5").exists())

        # Space again: the same command resumes and completes; the results equal a run elsewhere.
        (self.mnt / "filler").unlink()
        self.assertOk(self.cli("run", out, "--no-gather"))
        self.assertEqual(self.cli("status", out).returncode, 0)
        ref = self.tmp / "ref"
        self.assertOk(self.generate(out=ref))
        self.assertOk(self.cli("run", ref))
        self.assertEqual((out / "results.csv").read_text(), (ref / "results.csv").read_text())

        # gather on a full disk: refused before anything is written, exit 1, no temporary.
        self.fill(20_000)
        proc = self.cli("gather", out)
        self.assertEqual(proc.returncode, 1, self.describe(proc))
        self.assertIn("free", proc.stderr)
        self.assertIn("results.h5", proc.stderr)
        self.assertEqual(temporaries(out), [])
        self.assertFalse((out / "results.h5").exists())


# ---------------------------------------------------------------- 2. duplicates in lists

class TestDuplicates(RunCase):

    def check(self, kwargs, key, item):
        self.write_sweep(**kwargs)
        proc = self.generate()
        self.assertBadInput(proc, f"key '{key}", f"'{item}' is listed twice")
        self.assertNoPlan()

    def test_duplicated_training_episode(self):
        self.check({"train": "[sherlock01, sherlock01]", "eval_": "{test: [sherlock02]}"}, "train", "sherlock01")

    def test_duplicated_subject(self):
        self.check({"subjects": ("sub-01", "sub-02", "sub-01")}, "subjects", "sub-01")

    def test_duplicated_eval_episode(self):
        self.check({"eval_": "{test: [sherlock02, sherlock02]}"}, "eval.test", "sherlock02")

    def test_duplicated_layer_and_feature_set(self):
        self.check({"features": (("annotations", ("speech", "speech")),)}, "features[0].layers", "speech")
        self.write_sweep(features=(("annotations", ("speech",)), ("annotations", ("speech",))))
        self.assertBadInput(self.generate(), "key 'features[1]'", "the same feature set as features[0]")


# ---------------------------------------------------------------- 3. job files of another job or plan

class TestJobFileIdentity(RunCase):

    def setUp(self):
        super().setUp()
        self.run_dir = self.finished_run(grid="{hrf_delay: [0], stimulus_window: [1, 2]}")
        self.csv = (self.run_dir / "results.csv").read_text()
        jobs = self.plan(self.run_dir)["jobs"]
        self.a = next(j["job_id"] for j in jobs if j["subject"] == "sub-01")
        self.b = next(j["job_id"] for j in jobs if j["subject"] == "sub-02")

    def job(self, job_id):
        return self.run_dir / "jobs" / f"{job_id}.h5"

    def assertRefusedEverywhere(self, *needles):
        for args in (("gather", "run"), ("stitch", "run", "--eval", "test")):
            with self.subTest(command=args[0]):
                before = snapshot(self.run_dir)
                proc = self.cli(*args)
                self.assertBadInput(proc, f"run/jobs/{self.a}.h5", *needles)
                self.assertNotIn("MPI_ABORT", proc.stderr + proc.stdout)
                self.assertRunDirUnchanged(before, self.run_dir, f"the refused {args[0]}")
        status = self.cli("status", "run")
        self.assertEqual(status.returncode, 3, self.describe(status))
        self.assertIn("marked done, but", status.stdout)
        self.assertIn(f"run/jobs/{self.a}.h5", status.stdout)

    def assertRefitRestores(self):
        proc = self.cli("run", "run")
        self.assertOk(proc)
        self.assertIn("fitting it again", proc.stdout + proc.stderr)
        with h5py.File(self.job(self.a), "r") as f:
            self.assertEqual(f.attrs["job_id"].decode(), self.a)
            self.assertEqual(f.attrs["subject"].decode(), "sub-01")
        self.assertEqual((self.run_dir / "results.csv").read_text(), self.csv)

    def test_copied_from_another_subject(self):
        shutil.copyfile(self.job(self.b), self.job(self.a))
        self.assertRefusedEverywhere("attribute 'job_id'", self.b)
        self.assertRefitRestores()

    def test_symlink_to_another_job(self):
        self.job(self.a).unlink()
        self.job(self.a).symlink_to(self.job(self.b))
        self.assertRefusedEverywhere("another job")
        self.assertRefitRestores()

    def test_file_of_another_plan(self):
        with h5py.File(self.job(self.a), "r+") as f:
            f.attrs["plan_checksum"] = np.bytes_("0123456789abcdef")
        self.assertRefusedEverywhere("attribute 'plan_checksum'", "another plan")
        self.assertRefitRestores()

    def test_unreadable_job_file(self):
        self.job(self.a).write_bytes(b"not HDF5")
        self.assertRefusedEverywhere("unreadable")
        self.assertRefitRestores()


# ---------------------------------------------------------------- 4. an edited plan.json

class TestEditedPlan(RunCase):

    def test_edited_plan_is_refused_and_restored_by_generate(self):
        run_dir = self.finished_run()
        plan_path = run_dir / "plan.json"
        original = plan_path.read_text()
        self.assertIn('"folds": 5', original)
        plan_path.write_text(original.replace('"folds": 5', '"folds": 2'))
        before = snapshot(run_dir)
        for args in (("run", "run"), ("gather", "run"), ("stitch", "run", "--eval", "test"), ("status", "run"),
                     ("plan-cost", "run")):
            with self.subTest(command=args[0]):
                proc = self.cli(*args)
                self.assertBadInput(proc, "run/plan.json", "edited after `generate`", "checksum")
                self.assertNotIn("MPI_ABORT", proc.stderr + proc.stdout)
                self.assertRunDirUnchanged(before, run_dir, f"{args[0]} on an edited plan")
        # The sweep that made the results writes the plan again and keeps them.
        proc = self.generate()
        self.assertOk(proc)
        self.assertEqual(plan_path.read_text(), original)
        proc = self.cli("run", "run")
        self.assertOk(proc)
        self.assertIn("0 to fit", proc.stdout + proc.stderr)

    def test_plan_without_checksum(self):
        run_dir = self.finished_run()
        plan = self.plan(run_dir)
        del plan["checksum"]
        (run_dir / "plan.json").write_text(json.dumps(plan, indent=1))
        self.assertBadInput(self.cli("run", "run"), "no checksum")


# ---------------------------------------------------------------- 5. duplicate YAML keys

class TestDuplicateYamlKeys(RunCase):

    def test_top_level_and_nested(self):
        text = sweep_text(self.root)
        cases = [("top", text.replace("atlas: roi6\n", "atlas: roi6\natlas: pmc481\n"), "atlas", 3, 4),
                 ("nested", text.replace("ridge: {folds: 5}", "ridge: {folds: 5, folds: 3}"), "ridge.folds",
                  text.splitlines().index("ridge: {folds: 5}") + 1, None)]
        for label, bad, key, first, second in cases:
            with self.subTest(case=label):
                name = f"dup_{label}.yaml"
                self.write_sweep(name, text=bad)
                proc = self.generate(name)
                line = second or first
                self.assertBadInput(proc, f"{name}:{line}: key '{key}'", "duplicate key", f"first given on line {first}")
                self.assertNoPlan()

    def test_in_a_dataset_descriptor(self):
        desc = self.tmp / "desc.yaml"
        desc.write_text(tb.DESCRIPTOR.read_text().replace("tr: 1.5\n", "tr: 1.5\ntr: 2.0\n"))
        self.write_sweep(text=sweep_text(self.root).replace(f"dataset: {tb.DESCRIPTOR}", f"dataset: {desc}"))
        self.assertBadInput(self.generate(), str(desc), "key 'tr'", "duplicate key")


# ---------------------------------------------------------------- 6. grid values against the data

class TestGridAgainstData(RunCase):

    def check(self, needles, **kwargs):
        self.write_sweep(**kwargs)
        proc = self.generate()
        self.assertBadInput(proc, *needles)
        self.assertNoPlan()
        return proc

    def test_hrf_delay_beyond_the_episodes(self):
        self.check(["'grid.hrf_delay' 5000", "0 of the 946 samples", "at least half"], grid="{hrf_delay: [0, 5000], stimulus_window: [1]}")

    def test_stimulus_window_beyond_the_episodes(self):
        proc = self.check(["'grid.stimulus_window' 100000"], grid="{hrf_delay: [0], stimulus_window: [100000]}")
        self.assertNotIn("bad_alloc", proc.stderr)

    def test_a_lag_that_leaves_half_is_accepted(self):
        # 946 samples in scan 1: hrf_delay + window − 1 = 470 leaves 476 with their window, enough.
        self.write_sweep(grid="{hrf_delay: [466], stimulus_window: [5]}")
        self.assertOk(self.generate())

    def test_more_folds_than_samples_allow(self):
        self.check(["key 'ridge.folds' 200", "sub-01", "at least 10"], ridge="{folds: 200}")

    def test_exclusions_that_leave_a_handful(self):
        desc = self.tmp / "desc.yaml"
        desc.write_text(tb.DESCRIPTOR.read_text().replace("exclude_start: 0", "exclude_start: 460")
                        .replace("exclude_end: 0", "exclude_end: 460"))
        text = sweep_text(self.root).replace(f"dataset: {tb.DESCRIPTOR}", f"dataset: {desc}")
        self.write_sweep(text=text)
        proc = self.generate()
        self.assertBadInput(proc, "key 'ridge.folds' 5", "26 training samples", "exclude_start 460")
        self.assertNoPlan()


# ---------------------------------------------------------------- 7. one run per RUN_DIR

class TestRunLock(RunCase):

    def hold(self, run_dir, text="brainsweep run on 4 ranks, pid 4242 on node17 since 12:00"):
        fd = os.open(run_dir / "run.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
        os.write(fd, text.encode())
        self.addCleanup(os.close, fd)
        return fd

    def test_second_run_is_refused_and_a_killed_holder_blocks_nothing(self):
        self.write_sweep()
        self.assertOk(self.generate())
        run_dir = self.tmp / "run"
        fd = self.hold(run_dir)
        before = snapshot(run_dir)
        for args in (("run", "run"), ("gather", "run")):
            with self.subTest(command=args[0]):
                proc = self.cli(*args)
                self.assertBadInput(proc, "run/run.lock", "locked by another brainsweep", "node17",
                                    "pid 4242")
                self.assertNotIn("MPI_ABORT", proc.stderr + proc.stdout)
                self.assertRunDirUnchanged(before, run_dir, f"the refused {args[0]}")
        self.write_sweep("b.yaml", grid="{hrf_delay: [0], stimulus_window: [2]}")
        proc = self.cli("generate", "b.yaml", "--out", "run", "--start-over")
        self.assertBadInput(proc, "locked by another brainsweep")
        self.assertRunDirUnchanged(before, run_dir, "the refused --start-over")
        fcntl.flock(fd, fcntl.LOCK_UN)

        # A holder killed with SIGKILL: the kernel releases its lock.
        holder = subprocess.Popen([sys.executable, "-c",
                                   "import fcntl, os, sys, time\n"
                                   "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
                                   "fcntl.flock(fd, fcntl.LOCK_EX)\n"
                                   "print('locked', flush=True)\n"
                                   "time.sleep(600)\n", str(run_dir / "run.lock")], stdout=subprocess.PIPE, text=True)
        self.assertEqual(holder.stdout.readline().strip(), "locked")
        self.assertBadInput(self.cli("run", "run"), "locked by another brainsweep")
        holder.kill()
        holder.wait()
        self.assertOk(self.cli("run", "run"))
        self.assertEqual((run_dir / "run.lock").read_text(), "", "a finished run leaves its lock file empty")


# ---------------------------------------------------------------- late or unclear errors

class TestLateErrors(RunCase):

    def test_feature_width_differs_between_episodes(self):
        path = self.feature("annotations", "sherlock02")
        with h5py.File(path, "r") as f:
            rows = f["speech"].shape[0]
        replace_dataset(path, "speech", np.zeros((rows, 3)))
        self.write_sweep()
        self.assertBadInput(self.generate(), str(path), "'speech' has 3 columns",
                            str(self.feature("annotations", "sherlock01")), "has 2")
        self.assertNoPlan()

    def test_lzf_compressed_feature_is_named_at_generate(self):
        path = self.feature("annotations", "sherlock01")
        with h5py.File(path, "r+") as f:
            data = f["speech"][...]
            del f["speech"]
            f.create_dataset("speech", data=data, compression="lzf")
        self.write_sweep()
        self.assertBadInput(self.generate(), str(path), "'speech'", "lzf", "gzip")
        self.assertNoPlan()

    def test_feature_file_far_longer_than_the_fmri(self):
        path = self.feature("annotations", "sherlock01")
        replace_dataset(path, "speech", np.zeros((2000, 2)))
        self.write_sweep()
        self.assertBadInput(self.generate(), str(path), "2000 rows", "946", "max_extra_feature_rows")
        self.assertNoPlan()

    def test_parcel_names_of_the_wrong_length(self):
        path = self.fmri("sub-02")
        with h5py.File(path, "r+") as f:
            f.attrs["parcel_names"] = np.array([b"a", b"b", b"c", b"d", b"e"])
        self.write_sweep()
        self.assertBadInput(self.generate(), str(path), "'parcel_names' has 5 names", "6 parcels")
        self.assertNoPlan()

    def test_exit_2_not_1(self):
        (self.tmp / "adir.yaml").mkdir()
        self.assertBadInput(self.generate("adir.yaml"), "adir.yaml", "is a directory")
        (self.tmp / "afile").write_text("x")
        self.write_sweep()
        self.assertBadInput(self.generate(out="afile/run"), "afile", "is a file")
        self.assertBadInput(self.generate(out="afile"), "afile", "is a file")
        (self.tmp / "noplan").mkdir()
        proc = self.cli("gather", "noplan")
        self.assertBadInput(proc, "noplan", "no plan")
        self.assertNotIn("MPI_ABORT", proc.stderr + proc.stdout)
        proc = self.cli("run", "noplan")
        self.assertBadInput(proc, "no plan")

    def test_ridge_command(self):
        data = self.tmp / "m.h5"
        rng = np.random.default_rng(0)
        with h5py.File(data, "w") as f:
            f["X"] = rng.standard_normal((60, 4)).astype(np.float32)
            f["Y"] = rng.standard_normal((50, 3)).astype(np.float32)
            f["Xt"] = rng.standard_normal((20, 5)).astype(np.float32)
            f["Y60"] = rng.standard_normal((60, 3)).astype(np.float32)
        base = ["ridge", "--x-train", f"{data}:/X", "--x-test", f"{data}:/Xt"]
        self.assertBadInput(self.cli(*base, "--y-train", f"{data}:/Y", "--out", "o.h5"), "--x-train", "60 rows",
                            "--y-train", "50")
        self.assertBadInput(self.cli(*base, "--y-train", f"{data}:/Y60", "--out", "o.h5"), "--x-test", "5 columns",
                            "4")
        good = ["ridge", "--x-train", f"{data}:/X", "--x-test", f"{data}:/X", "--y-train", f"{data}:/Y60"]
        self.assertBadInput(self.cli(*good, "--target-batch", "0", "--out", "o.h5"), "--target-batch: expected an integer >= 1, found '0'")
        self.assertBadInput(self.cli(*good, "--threads", "-1", "--out", "o.h5"), "--threads")
        # #27 §11: a missing output directory is made before the work; one that cannot be made is refused
        # before it, naming the option (it was found after the work, on a temporary file's name)
        proc = self.cli(*good, "--out", "new/dir/o.h5")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue((self.tmp / "new" / "dir" / "o.h5").exists())
        self.assertBadInput(self.cli(*good, "--out", "/proc/brainsweep/o.h5"), "--out /proc/brainsweep/o.h5: cannot create /proc/brainsweep")
        # a sweep's missing dataset names the key, the absolute path and the working directory used
        (self.tmp / "nowhere.yaml").write_text("dataset: nothere/d.yaml\natlas: roi6\nsubjects: [sub-01]\ntrain: [a]\n"
                                               "features: [{model: m, layers: [x]}]\n")
        self.assertBadInput(self.cli("generate", "nowhere.yaml", "--out", "never"),
                            f"key 'dataset': {self.tmp.resolve() / 'nothere' / 'd.yaml'}: no such file (a relative path is "
                            f"resolved against the working directory, {self.tmp.resolve()})")
        self.assertFalse((self.tmp / "never").exists())
        self.assertFalse((self.tmp / "o.h5").exists())

    def test_options_accepted_without_a_word(self):
        run_dir = self.finished_run()
        before = snapshot(run_dir)
        self.assertBadInput(self.cli("stitch", "run", "--eval", "test", "--min-score", "nan"), "--min-score", "nan")
        self.assertBadInput(self.cli("stitch", "run", "--eval", "test", "--top-k", "5"), "--top-k 5",
                            "only 1 jobs")
        self.assertRunDirUnchanged(before, run_dir, "a refused stitch")
        self.assertBadInput(self.cli("submit", "run", "--test-set", "x", "--out", "subs",
                                     "--subjects", "sub-01", "sub-02", "sub-01"), "--subjects", "'sub-01' is listed twice")
        self.assertBadInput(self.cli("submit", "run", "--test-set", "x", "--out", "subs", "--parcels", "0"), "--parcels")
        self.assertFalse((self.tmp / "subs").exists())
        for ranks in ("100000000", "0"):
            with self.subTest(ranks=ranks):
                proc = self.cli("plan-cost", "run", "--ranks", ranks)
                self.assertBadInput(proc, "--ranks")
                self.assertNotIn("bad_alloc", proc.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(f"usage: {sys.argv[0]} BRAINSWEEP_BINARY [unittest args]")
    tb.BINARY = str(Path(sys.argv[1]).resolve())
    if not os.access(tb.BINARY, os.X_OK):
        sys.exit(f"{tb.BINARY}: not an executable")
    unittest.main(argv=[sys.argv[0], *sys.argv[2:]], verbosity=2)
