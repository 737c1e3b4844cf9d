#!/usr/bin/python3
"""`brainsweep ceiling` and `stitch --ceiling` (issue #13 §1, METRICS.md §1): the Sherlock
inter-subject ceilings of every subject × ROI against an independent numpy leave-one-out ISC (roi6
and pmc481, both scans), the stitched aud_early score normalised, split-half ceilings of repeated
episodes on a synthetic dataset against numpy, split-half and NCSNR ceilings of Haxby 2001's 530
voxels over its 12 runs against numpy, and bad input (exit 2, nothing written).

Usage: test_ceiling.py BRAINSWEEP_BINARY [SHERLOCK_DIR]
"""
import os
import subprocess
import sys
import unittest

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import metrics_reference as ref  # noqa: E402
import e2e_util as e2e  # noqa: E402

BIN = None
SHERLOCK = os.path.join(SOURCE, "..", "shared", "data", "sherlock")
SUBJECTS = [f"sub-0{i}" for i in range(1, 9)]


def bs(*args, cwd=SOURCE):
    return subprocess.run([BIN, *args], capture_output=True, text=True, cwd=cwd)


def haxby_dir():
    return os.path.join(os.path.dirname(os.path.abspath(SHERLOCK)), "haxby2001")


read_csv = e2e.read_csv


def sherlock_sweep(d, atlas="roi6", subjects=SUBJECTS):
    path = os.path.join(d, f"sherlock_{atlas}_{len(subjects)}.yaml")
    with open(path, "w") as f:
        f.write(f"""dataset: {SOURCE}/configs/datasets/sherlock.yaml
dataset_root: {SHERLOCK}
atlas: {atlas}
subjects: [{", ".join(subjects)}]
features:
  - {{model: annotations, layers: [all]}}
grid: {{hrf_delay: [0], stimulus_window: [1]}}
train: [sherlock01]
eval: {{test: [sherlock02]}}
""")
    return path


class Ceiling(e2e.TempDirTest):
    def test_sherlock_isc_against_numpy(self):
        for atlas in ("roi6", "pmc481"):
            for set_name, episode in (("test", "sherlock02"), ("train", "sherlock01")):
                with self.subTest(atlas=atlas, set=set_name):
                    out = os.path.join(self.d, f"{atlas}_{set_name}.csv")
                    r = bs("ceiling", sherlock_sweep(self.d, atlas), "--method", "isc", "--set", set_name, "--out", out)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    rows = read_csv(out)
                    series = {}
                    for s in SUBJECTS:
                        p = os.path.join(SHERLOCK, "fmri", s, "func", f"{s}_task-sherlock_space-MNI152_atlas-{atlas}_bold.h5")
                        with h5py.File(p) as f:
                            series[s] = f[f"ses-001_task-{episode}"][()]
                            names = [n.decode() for n in f.attrs["parcel_names"]] if "parcel_names" in f.attrs else \
                                [str(i) for i in range(series[s].shape[1])]
                    want = ref.isc_leave_one_out(series)
                    self.assertEqual(len(rows), 8 * len(names))
                    got = {(row["subject"], row["parcel"]): float(row["ceiling"]) for row in rows}
                    diff = max(abs(got[(s, n)] - want[s][j]) for s in SUBJECTS for j, n in enumerate(names))
                    self.assertLess(diff, 1e-7, f"max |Δ ISC| {diff}")
                    self.assertEqual({row["method"] for row in rows}, {"isc"})
                    self.assertEqual({row["set"] for row in rows}, {set_name})
                    self.assertEqual({row["n_subjects"] for row in rows}, {"8"})
                    self.assertEqual({row["n_samples"] for row in rows}, {str(len(series["sub-01"]))})

    def test_stitch_normalised_by_the_ceiling(self):
        run = os.path.join(self.d, "run")
        sweep = os.path.join(SOURCE, "sweeps", "sherlock.yaml")
        for cmd in (["generate", sweep, "--out", run], ["run", run]):
            r = bs(*cmd)
            self.assertEqual(r.returncode, 0, r.stderr)
        ceil = os.path.join(self.d, "isc.csv")
        self.assertEqual(bs("ceiling", sweep, "--method", "isc", "--set", "test", "--out", ceil).returncode, 0)
        r = bs("stitch", run, "--select", "cv", "--top-k", "1", "--eval", "test", "--ceiling", ceil)
        self.assertEqual(r.returncode, 0, r.stderr)
        scores = read_csv(os.path.join(run, "stitched", "scores.csv"))
        ceilings = {(row["subject"], row["parcel"]): float(row["ceiling"]) for row in read_csv(ceil)}
        for row in scores:
            c = ceilings[(row["subject"], row["parcel"])]
            self.assertAlmostEqual(float(row["ceiling"]), c, places=8)
            self.assertAlmostEqual(float(row["r_normalized"]), float(row["r"]) / c, delta=1e-7)
        aud = [row for row in scores if row["parcel"] == "aud_early"]
        raw = np.mean([float(row["r"]) for row in aud])
        norm = np.mean([float(row["r"]) / ceilings[(row["subject"], "aud_early")] for row in aud])
        self.assertAlmostEqual(raw, 0.3258, delta=5e-4)  # the stitched score of the README
        line = next(line for line in r.stdout.splitlines() if line.startswith("aud_early"))
        self.assertIn(f"{raw:.4f}", line)
        self.assertIn(f"{norm:.4f}", line)
        self.assertIn("48 of 48 subject × parcel pairs", r.stdout)
        # a threshold above some ceilings: those pairs are not normalised, counted and listed
        thr = 0.45
        low = sorted(f"{s}/{p}" for (s, p), c in ceilings.items() if c < thr)
        self.assertGreater(len(low), 0)
        r = bs("stitch", run, "--select", "cv", "--top-k", "1", "--eval", "test", "--ceiling", ceil, "--min-ceiling",
               str(thr))
        self.assertEqual(r.returncode, 0, r.stderr)
        scores = read_csv(os.path.join(run, "stitched", "scores.csv"))
        empty = sorted(f"{row['subject']}/{row['parcel']}" for row in scores if row["r_normalized"] == "")
        self.assertEqual(empty, low)
        self.assertEqual(len(scores), 48)  # nothing dropped
        self.assertIn(f"{48 - len(low)} of 48 subject × parcel pairs", r.stdout)
        self.assertIn(f"not normalised (ceiling below {thr}): {len(low)} pairs", r.stdout)
        # gather --ceiling: results.csv and results.h5 give r / ceiling beside r on the ceiling's set
        for threshold in ("0.1", str(thr)):
            r = bs("gather", run, "--ceiling", ceil, "--min-ceiling", threshold)
            self.assertEqual(r.returncode, 0, r.stderr)
            rows = read_csv(os.path.join(run, "results.csv"))
            self.assertEqual(len(rows), 10 * 8 * 6)
            n_low = 0
            for row in rows:
                c = ceilings[(row["subject"], row["parcel"])]
                self.assertAlmostEqual(float(row["ceiling"]), c, places=8)
                if c >= float(threshold):
                    self.assertAlmostEqual(float(row["r_normalized"]), float(row["eval_r"]) / c, delta=1e-7)
                else:
                    self.assertEqual(row["r_normalized"], "")
                    n_low += 1
            self.assertEqual(n_low, 10 * sum(1 for c in ceilings.values() if c < float(threshold)))
            with h5py.File(os.path.join(run, "results.h5")) as f:
                self.assertEqual(f.attrs["ceiling_set"], b"test" if isinstance(f.attrs["ceiling_set"], bytes) else "test")
                for sub in [f"sub-0{i}" for i in range(1, 9)]:
                    g = f[f"subjects/{sub}"]
                    names = [n.decode() for n in g["parcel_names"][()]]
                    c = np.array([ceilings[(sub, n)] for n in names])
                    np.testing.assert_allclose(g["ceiling/test"][()], c, rtol=1e-8)
                    want = np.where(c >= float(threshold), g["eval/test/r"][()] / c, np.nan)
                    np.testing.assert_allclose(g["eval/test/r_normalized"][()], want, rtol=1e-12, equal_nan=True)
        for path, pattern in ((os.path.join(self.d, "isc_train_g.csv"), r"computed on set 'train', which is not an eval set of"),
                              (None, r"no ceiling for sub-03 parcel ddmn_mpfc")):
            with self.subTest(gather=pattern):
                if path:
                    self.assertEqual(bs("ceiling", sweep, "--method", "isc", "--set", "train", "--out", path).returncode, 0)
                else:
                    path = os.path.join(self.d, "partial_g.csv")
                    with open(ceil) as f, open(path, "w") as g:
                        g.writelines(line for line in f if "ddmn_mpfc" not in line or "sub-03" not in line)
                with open(os.path.join(run, "results.csv")) as f:
                    csv_before = f.read()
                r = bs("gather", run, "--ceiling", path)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)
                with open(os.path.join(run, "results.csv")) as f:
                    self.assertEqual(f.read(), csv_before)
        # refusals: nothing in stitched/ changes
        with open(os.path.join(run, "stitched", "scores.csv")) as f:
            before = f.read()
        train_ceil = os.path.join(self.d, "isc_train.csv")
        self.assertEqual(bs("ceiling", sweep, "--method", "isc", "--set", "train", "--out", train_ceil).returncode, 0)
        partial = os.path.join(self.d, "partial.csv")
        with open(ceil) as f, open(partial, "w") as g:
            g.writelines(line for line in f if "ddmn_mpfc" not in line or "sub-03" not in line)
        broken = os.path.join(self.d, "broken.csv")
        with open(ceil) as f, open(broken, "w") as g:
            lines = f.readlines()
            g.writelines(lines[:5] + [lines[5].replace(",isc,test,0.", ",isc,test,x")] + lines[6:])
        for path, pattern in ((train_ceil, r"computed on set 'train', the stitched score is on --eval test"),
                              (partial, r"no ceiling for sub-03 parcel ddmn_mpfc"),
                              (broken, r"broken.csv:6: column ceiling: expected a number")):
            with self.subTest(ceiling=os.path.basename(path)):
                r = bs("stitch", run, "--select", "cv", "--top-k", "1", "--eval", "test", "--ceiling", path)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)
                with open(os.path.join(run, "stitched", "scores.csv")) as f:
                    self.assertEqual(f.read(), before)

    def synthetic_repeats(self, k=2):
        """Two stimuli shown k times (<stim>_run-<n>), a training run; 3 subjects × 5 parcels whose
        repetitions share a signal of parcel-dependent strength."""
        root = os.path.join(self.d, f"rep{k}")
        rng = np.random.default_rng(3)
        episodes = ["train01"] + [f"{stim}_run-{n}" for stim in ("figures01", "life01") for n in range(1, k + 1)]
        lengths = {"train01": 120, "figures01": 90, "life01": 100}
        signal = {stim: rng.standard_normal((lengths[stim], 5)) for stim in ("figures01", "life01")}
        strength = np.array([2.0, 1.0, 0.5, 0.25, 0.0])
        data = {}
        for s in ("sub-01", "sub-02", "sub-03"):
            os.makedirs(os.path.join(root, "fmri", s), exist_ok=True)
            with h5py.File(os.path.join(root, "fmri", s, f"{s}_bold.h5"), "w") as f:
                for ep in episodes:
                    stim = ep.split("_run-")[0]
                    n = lengths[stim] - (1 if ep.endswith("_run-2") else 0)  # runs one TR apart in length
                    x = rng.standard_normal((n, 5))
                    if stim in signal:
                        x += strength * signal[stim][:n]
                    f[f"ses-001_task-{ep}"] = x.astype("f4")
                    data[(s, ep)] = x.astype("f4")
        feat = os.path.join(root, "features", "f", "s", "g")
        os.makedirs(feat)
        for ep in episodes:
            with h5py.File(os.path.join(feat, f"s_{ep}.h5"), "w") as f:
                f["l"] = rng.standard_normal((lengths[ep.split("_run-")[0]], 4)).astype("f4")
        desc = e2e.flat_descriptor(root, "rep", 1.49, exclude_start=2, exclude_end=1)
        sweep = os.path.join(root, "sweep.yaml")
        with open(sweep, "w") as f:
            f.write(f"""dataset: {desc}
atlas: none
subjects: [sub-01, sub-02, sub-03]
features: [{{model: f, layers: [l]}}]
grid: {{hrf_delay: [0], stimulus_window: [1]}}
train: [train01]
eval: {{rep: [{", ".join(episodes[1:])}], single: [train01]}}
""")
        return sweep, data, episodes

    def test_split_half_against_numpy(self):
        for k in (2, 3):
            with self.subTest(k=k):
                sweep, data, episodes = self.synthetic_repeats(k)
                out = os.path.join(self.d, f"sh{k}.csv")
                r = bs("ceiling", sweep, "--method", "split_half", "--set", "rep", "--out", out)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(f"repeated stimuli: figures01, life01 ({k} runs each)", r.stdout)
                rows = read_csv(out)
                self.assertEqual(len(rows), 3 * 5)
                for s in ("sub-01", "sub-02", "sub-03"):
                    groups = [[data[(s, f"{stim}_run-{n}")][2:-1] for n in range(1, k + 1)] for stim in ("figures01", "life01")]
                    rho, rho_k, ceil, kk = ref.split_half(groups)
                    got = [row for row in rows if row["subject"] == s]
                    np.testing.assert_allclose([float(g["rho"]) for g in got], rho, atol=1e-7)
                    np.testing.assert_allclose([float(g["ceiling"]) for g in got], ceil, atol=1e-7)
                    self.assertEqual({g["repetitions"] for g in got}, {str(k)})
                    self.assertGreater(float(got[0]["ceiling"]), 0.8)  # strong signal
                    self.assertLess(float(got[4]["ceiling"]), 0.4)     # no signal
                r = bs("ceiling", sweep, "--method", "split_half", "--set", "single", "--out", os.path.join(self.d, "x.csv"))
                self.assertEqual(r.returncode, 2)
                self.assertIn("set 'single'", r.stderr)
                self.assertIn("has no repeated episode", r.stderr)
                self.assertFalse(os.path.exists(os.path.join(self.d, "x.csv")))

    def haxby_sweep(self, hrf="[2]", subjects="[sub-01]"):
        path = os.path.join(self.d, f"haxby_{len(os.listdir(self.d))}.yaml")
        with open(path, "w") as f:
            f.write(f"""dataset: {SOURCE}/configs/datasets/haxby2001.yaml
dataset_root: {haxby_dir()}
atlas: slice
subjects: {subjects}
grid: {{hrf_delay: {hrf}}}
train: [{", ".join(f"run-{r:02d}" for r in range(1, 13))}]
eval: {{one: [run-01]}}
""")
        return path

    def test_haxby_split_half_and_ncsnr_against_numpy(self):
        """The 12 runs of Haxby 2001 as repeats of its 8 categories (530 voxels), both methods
        against numpy (METRICS.md §1), and the closed form that ties them: with per-run z-scores
        the NCSNR noise variance is 1 − ρ, so nc equals Spearman–Brown's ρ_k."""
        events = os.path.join(haxby_dir(), "{subject}_task-objectviewing_{episode}_events.tsv")
        runs = []
        with h5py.File(os.path.join(haxby_dir(), "sub-01_task-objectviewing_bold.h5")) as f:
            for r in range(1, 13):
                ev = ref.read_events(os.path.join(haxby_dir(), f"sub-01_task-objectviewing_run-{r:02d}_events.tsv"))
                runs.append((f[f"run-{r:02d}"][()], ev))
        conditions = list(dict.fromkeys(c for _, ev in runs for _, _, c in ev))
        self.assertEqual(len(conditions), 8)
        for hrf in (0, 2):
            sessions = [ref.condition_patterns([run], conditions, 2.5, hrf) for run in runs]
            rho, rho_k, sh_ceiling, k = ref.split_half([sessions])
            noise, snr, nc, nc_ceiling = ref.ncsnr(sessions)
            got = {}
            for method in ("split_half", "ncsnr"):
                out = os.path.join(self.d, f"haxby_{method}_{hrf}.csv")
                r = bs("ceiling", self.haxby_sweep(f"[{hrf}]"), "--method", method, "--set", "train", "--events", events,
                       "--out", out)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("8 conditions (scissors, face, cat, shoe, house, scrambledpix, bottle, chair), each once "
                              f"in each of 12 runs; patterns at hrf_delay {hrf}", r.stdout)
                rows = read_csv(out)
                self.assertEqual(len(rows), 530)
                self.assertEqual({(row["n_samples"], row["repetitions"]) for row in rows}, {("8", "12")})
                got[method] = {key: np.array([float(row[key]) if row[key] else np.nan for row in rows])
                               for key in ("ceiling", "rho", "ncsnr", "nc")}
            with self.subTest(hrf=hrf):
                np.testing.assert_allclose(got["split_half"]["rho"], rho, atol=1e-9)
                np.testing.assert_allclose(got["split_half"]["ceiling"], sh_ceiling, atol=1e-9)
                np.testing.assert_allclose(got["ncsnr"]["ncsnr"], snr, atol=1e-9)
                np.testing.assert_allclose(got["ncsnr"]["nc"], nc, atol=1e-9)
                np.testing.assert_allclose(got["ncsnr"]["ceiling"], nc_ceiling, atol=1e-9)
                np.testing.assert_allclose(noise, 1 - rho, atol=1e-12)  # the identity, in numpy
                pos = rho > 0
                np.testing.assert_allclose(got["ncsnr"]["nc"][pos], rho_k[pos], atol=1e-9)
                np.testing.assert_allclose(got["ncsnr"]["ceiling"], got["split_half"]["ceiling"], atol=1e-9)
        # half of the slice's voxels have a ceiling above 0.5 (measured: 51 % at hrf_delay 2)
        self.assertGreater(np.mean(got["ncsnr"]["ceiling"] > 0.5), 0.2)

    def edited_events(self, folder, run, edit):
        """Haxby's 12 events files copied into `folder`, run `run`'s lines passed through `edit`."""
        folder = os.path.join(self.d, folder)
        os.makedirs(folder)
        for r in range(1, 13):
            name = f"sub-01_task-objectviewing_run-{r:02d}_events.tsv"
            with open(os.path.join(haxby_dir(), name)) as f:
                lines = f.readlines()
            with open(os.path.join(folder, name), "w") as f:
                f.writelines(edit(lines) if r == run else lines)
        return folder

    def test_haxby_bad_input(self):
        events_dir = self.edited_events("events", 5, lambda lines: [line for line in lines if "\tcat" not in line])
        late = self.edited_events("late", 3, lambda lines: lines + ["290.0\t22.5\tface\n"])
        good = os.path.join(haxby_dir(), "{subject}_task-objectviewing_{episode}_events.tsv")
        out = os.path.join(self.d, "h.csv")
        cases = [
            (["--method", "ncsnr"], self.haxby_sweep(), r"--method ncsnr: needs --events"),
            (["--method", "isc", "--events", good], self.haxby_sweep(), r"--events: used by split_half and ncsnr"),
            (["--method", "ncsnr", "--events", os.path.join(self.d, "x.tsv")], self.haxby_sweep(), r"holding \{episode\}"),
            (["--method", "ncsnr", "--events", good], self.haxby_sweep("[1, 2]"), r"key 'grid.hrf_delay' lists 2 values"),
            (["--method", "split_half", "--events", os.path.join(events_dir, "{subject}_task-objectviewing_{episode}_events.tsv")],
             self.haxby_sweep(), r"run-05_events.tsv: no event of condition 'cat'"),
            (["--method", "ncsnr", "--events", os.path.join(late, "{subject}_task-objectviewing_{episode}_events.tsv")],
             self.haxby_sweep(), r"run-03_events.tsv:10: the event \[290, 312.5\) s ends after its run"),
            (["--method", "ncsnr", "--set", "one", "--events", good], self.haxby_sweep(), r"set 'one' .* has 1 run"),
            (["--method", "ncsnr", "--events", good], self.haxby_sweep(subjects="[sub-02]"), r"sub-02_task-objectviewing_bold.h5"),
        ]
        for args, sweep, pattern in cases:
            with self.subTest(pattern=pattern):
                if "--set" not in args:
                    args = args + ["--set", "train"]
                r = bs("ceiling", sweep, *args, "--out", out)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)
                self.assertFalse(os.path.exists(out))
        # a sweep without features is for `ceiling` only
        r = bs("generate", self.haxby_sweep(), "--out", os.path.join(self.d, "run"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("key 'features': missing", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.d, "run")))

    def test_bad_input(self):
        sweep = sherlock_sweep(self.d)
        out = os.path.join(self.d, "c.csv")
        cases = [
            (["ceiling", sherlock_sweep(self.d, subjects=["sub-01"]), "--method", "isc", "--set", "test", "--out", out],
             r"needs at least 2 subjects; .* lists 1 \(sub-01\)"),
            (["ceiling", sweep, "--method", "isc", "--set", "val", "--out", out], r"--set val: not a set of .* \(sets: train, test\)"),
            (["ceiling", sweep, "--method", "noise", "--set", "test", "--out", out], r"--method: expected isc, split_half or ncsnr"),
            (["ceiling", os.path.join(self.d, "missing.yaml"), "--method", "isc", "--set", "test", "--out", out], r"missing.yaml"),
        ]
        for args, pattern in cases:
            with self.subTest(pattern=pattern):
                r = bs(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)
                self.assertFalse(os.path.exists(out))
        with open(out, "w") as f:
            f.write("earlier\n")
        r = bs("ceiling", sweep, "--method", "isc", "--set", "test", "--out", out)
        self.assertEqual(r.returncode, 2)
        self.assertIn("exists; refusing to overwrite it", r.stderr)
        with open(out) as f:
            self.assertEqual(f.read(), "earlier\n")


if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv.pop(1))
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        SHERLOCK = sys.argv.pop(1)
    unittest.main(verbosity=2)
