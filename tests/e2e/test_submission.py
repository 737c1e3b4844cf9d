#!/usr/bin/python3
"""End-to-end tests of Algonauts 2025 submissions (issue #5).

Usage: /usr/bin/python3 tests/e2e/test_submission.py BRAINSWEEP_BINARY [unittest args]

TestPipeline builds a synthetic dataset in the full Algonauts 2025 layout (4 subjects, 1000
Schaefer-named parcels, a few training episodes, all 49 Friends s7 and 12 OOD test episodes with the
real sample counts of ../shared/data/algonauts2025/target_sample_counts.json, written as np.save'd
count files; feature files 4 rows shorter than the counts) and runs generate -> run (2 ranks) ->
stitch -> submit for friends-s7, ood and a dry-run pseudo test set of held-out episodes that have
fMRI. It checks, with Debian's numpy 1.24 and h5py as the independent side:
- every submission loads with np.load(..., allow_pickle=True).item() with every shape, and the ood
  file is byte for byte what np.save writes for the loaded dict;
- test-set predictions of a job equal the numpy reference (tests/reference) fitted independently;
- the stitched test predictions apply the per-parcel choice (top-k mean, --min-score fallback);
- the validator accepts the files and its dry-run score equals numpy's scorer formula to 1e-6;
- every refusal of `submit` exits 2 naming the subject and episode and writes nothing.
TestValidator checks every refusal of `validate-submission` on small numpy-written files.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[2]
COUNTS_JSON = Path(os.environ.get("ALGONAUTS_COUNTS", REPO.parent / "shared" / "data" / "algonauts2025" /
                                  "target_sample_counts.json"))
sys.path.insert(0, str(REPO / "tests" / "reference"))
import encoding_reference as ref  # noqa: E402

BINARY = None  # set from argv in __main__
SUBJECTS = ["sub-01", "sub-02", "sub-03", "sub-05"]
ATLAS = "Schaefer18_parcel-1000Par7Net"
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_btl": "self,vader",
           "OMPI_MCA_rmaps_base_oversubscribe": "1", "OPENBLAS_NUM_THREADS": "1"}
# Schaefer 2018, 1000 parcels, 7 networks: parcels per network and hemisphere (synthetic split).
NETWORKS = [("Vis", 75), ("SomMot", 74), ("DorsAttn", 65), ("SalVentAttn", 59), ("Limbic", 33), ("Cont", 67),
            ("Default", 127)]
SENSORY = {"Vis", "SomMot"}
HRF = 3
SHORTFALL = 4  # feature files have this many rows fewer than the fMRI / the sample counts
TRAIN = {"s01e01a": 300, "s01e01b": 290, "s01e02a": 310, "bourne01": 320}
VAL = {"s01e02b": 280}
DRYRUN = {"s01e03a": 260, "s01e03b": 270, "bourne02": 250}
MOVIE = {"s01e03a": "friends-s1", "s01e03b": "friends-s1", "bourne02": "bourne"}


def parcel_names():
    names = []
    for hemi in ("LH", "RH"):
        for net, n in NETWORKS:
            names += [f"7Networks_{hemi}_{net}_{i + 1}" for i in range(n)]
    return names


def feature_path(root, model, ep):
    if ep.startswith("s0"):
        stimset, group = "friends", "s" + str(int(ep[1:3]))
    elif ep.startswith("bourne"):
        stimset, group = "movie10", "bourne"
    else:
        stimset, group = "ood", ep.rstrip("0123456789")
    return root / "features" / model / stimset / group / f"{stimset}_{ep}.h5"


def fmri_path(root, sub, task):
    desc = "_desc-s123456" if task == "friends" else ""
    return root / "fmri" / sub / "func" / f"{sub}_task-{task}_space-MNI152NLin2009cAsym_atlas-{ATLAS}{desc}_bold.h5"


def make_dataset(root, counts):
    """Write the synthetic full-layout dataset; returns the parcel names."""
    rng = np.random.default_rng(2025)
    names = parcel_names()
    sensory = np.array([n.split("_")[2] in SENSORY for n in names])
    # Planted strength grows with the parcel index inside each network, 0 .. 1.
    strength = np.concatenate([np.linspace(0.0, 1.0, n) for _ in range(2) for _, n in NETWORKS])
    mix_lo, mix_hi = rng.standard_normal((2, 8)), rng.standard_normal((2, 8))
    w = rng.standard_normal((2, 1000)) / np.sqrt(2)

    def latent(t):
        z = rng.standard_normal((t, 4))
        for i in range(1, t):
            z[i] = 0.6 * z[i - 1] + 0.8 * z[i]
        return z

    def write_features(ep, z):
        path = feature_path(root, "vjepa2", ep)
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            f["blocks.4"] = (z[:, :2] @ mix_lo + 0.3 * rng.standard_normal((len(z), 8))).astype(np.float16)
            f["blocks.12"] = (z[:, 2:] @ mix_hi + 0.3 * rng.standard_normal((len(z), 8))).astype(np.float16)

    fmri = {sub: {} for sub in SUBJECTS}
    for ep, n in {**TRAIN, **VAL, **DRYRUN}.items():
        z = latent(n - SHORTFALL)
        write_features(ep, z)
        zs = z[np.clip(np.arange(n) - HRF, 0, len(z) - 1)]
        signal = np.where(sensory, (zs[:, :2] @ w), (zs[:, 2:] @ w))
        for sub in SUBJECTS:
            noise = rng.standard_normal((n, 1000))
            fmri[sub][ep] = (strength * signal + noise + 10.0).astype(np.float32)
    for test_set in ("friends-s7", "ood"):
        for ep in counts[test_set]["sub-01"]:
            n_max = max(counts[test_set][s][ep] for s in SUBJECTS)
            write_features(ep, latent(n_max - SHORTFALL))
    for sub in SUBJECTS:
        for task, eps in (("friends", [e for e in fmri[sub] if e.startswith("s0")]),
                          ("movie10", [e for e in fmri[sub] if e.startswith("bourne")])):
            path = fmri_path(root, sub, task)
            path.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(path, "w") as f:
                for ep in eps:
                    f[f"ses-001_task-{ep}"] = fmri[sub][ep]
                f.attrs["parcel_names"] = np.array(names, dtype="S")
        tsn = root / "fmri" / sub / "target_sample_number"
        tsn.mkdir(parents=True, exist_ok=True)
        for test_set in ("friends-s7", "ood"):
            np.save(tsn / f"{sub}_{test_set}_fmri_samples.npy", {ep: int(n) for ep, n in counts[test_set][sub].items()})
        np.save(tsn / f"{sub}_dryrun_fmri_samples.npy", dict(DRYRUN))
    return names


def scorer_formula(pred, truth, movies):
    """The Algonauts 2025 score (DATA.md) in numpy: drop 5 + 5 samples per episode, concatenate the
    episodes of each movie, Pearson r per parcel, mean over parcels, movies, subjects."""
    per_subject = []
    for sub in SUBJECTS:
        per_movie = []
        for movie in dict.fromkeys(movies.values()):
            eps = [e for e in movies if movies[e] == movie]
            p = np.vstack([pred[sub][e][5:-5].astype(np.float64) for e in eps])
            y = np.vstack([truth[sub][e][5:-5].astype(np.float64) for e in eps])
            pc, yc = p - p.mean(0), y - y.mean(0)
            r = (pc * yc).sum(0) / np.sqrt((pc * pc).sum(0) * (yc * yc).sum(0))
            per_movie.append(r.mean())
        per_subject.append(np.mean(per_movie))
    return float(np.mean(per_subject))


class Case(unittest.TestCase):
    def cli(self, *args, cwd=None, mpi=0):
        cmd = ([shutil.which("mpirun"), "-n", str(mpi)] if mpi else []) + [BINARY, *map(str, args)]
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **MPI_ENV})

    def assertOk(self, proc):
        self.assertEqual(proc.returncode, 0, f"{proc.args}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")

    def assertRefused(self, proc, *fragments):
        self.assertEqual(proc.returncode, 2, f"{proc.args}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        for frag in fragments:
            self.assertIn(frag, proc.stderr, f"{proc.args}: message lacks {frag!r}")


class TestPipeline(Case):
    """generate -> run -> stitch -> submit on the full layout; one set-up for all checks."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="brainsweep-submission-")).resolve()
        cls.counts = json.loads(COUNTS_JSON.read_text())
        t0 = time.time()
        cls.names = make_dataset(cls.tmp / "data", cls.counts)
        t1 = time.time()
        sweep = cls.tmp / "sweep.yaml"
        sweep.write_text(f"""dataset: {REPO}/configs/datasets/algonauts2025.yaml
dataset_root: {cls.tmp}/data
atlas: {ATLAS}
subjects: [{", ".join(SUBJECTS)}]
features:
  - {{model: vjepa2, layers: [blocks.4]}}
  - {{model: vjepa2, layers: [blocks.12]}}
grid: {{hrf_delay: [{HRF}], stimulus_window: [1]}}
ridge: {{folds: 3, alphas: [1, 100, 10000]}}
train: [{", ".join(TRAIN)}]
eval: {{val: [{", ".join(VAL)}]}}
test: {{friends-s7: auto, ood: auto, dryrun: [{", ".join(DRYRUN)}]}}
""")
        cls.run_dir = cls.tmp / "run"
        steps = [("generate", [sweep, "--out", cls.run_dir], 0), ("run", [cls.run_dir], 2),
                 ("stitch", [cls.run_dir, "--select", "cv", "--top-k", "2", "--min-score", "0.2", "--eval", "val"], 0)]
        cls.outputs = {}
        for name, args, ranks in steps:
            proc = cls.cli(cls, name, *args, mpi=ranks)
            if proc.returncode != 0:
                raise RuntimeError(f"{name} failed:\n{proc.stdout}\n{proc.stderr}")
            cls.outputs[name] = proc.stdout
        t2 = time.time()
        for test_set in ("friends-s7", "ood", "dryrun"):
            proc = cls.cli(cls, "submit", cls.run_dir, "--test-set", test_set, "--out", cls.tmp / "submissions")
            if proc.returncode != 0:
                raise RuntimeError(f"submit {test_set} failed:\n{proc.stdout}\n{proc.stderr}")
            print(proc.stdout, end="")
        t3 = time.time()
        print(f"[timing] dataset {t1 - t0:.1f} s, generate+run+stitch {t2 - t1:.1f} s, submit x3 {t3 - t2:.1f} s")
        cls.plan = json.loads((cls.run_dir / "plan.json").read_text())

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("BRAINSWEEP_KEEP_TMP"):
            print(f"kept {cls.tmp}")
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def zip_path(self, test_set):
        return self.tmp / "submissions" / f"fmri_predictions_{test_set.replace('-', '_')}.zip"

    def load_submission(self, test_set):
        with zipfile.ZipFile(self.zip_path(test_set)) as z:
            infos = z.infolist()
            self.assertEqual([i.filename for i in infos], [f"fmri_predictions_{test_set.replace('-', '_')}.npy"])
            self.assertEqual(infos[0].compress_type, zipfile.ZIP_STORED)
            raw = z.read(infos[0])
        return raw, np.load(io.BytesIO(raw), allow_pickle=True).item()

    def test_numpy_loads_every_submission_with_every_shape(self):
        for test_set in ("friends-s7", "ood"):
            with self.subTest(test_set=test_set):
                raw, d = self.load_submission(test_set)
                self.assertNotIn(b"numpy._core", raw)
                self.assertEqual(list(d), SUBJECTS)
                for sub in SUBJECTS:
                    expected = self.counts[test_set][sub]
                    self.assertEqual(list(d[sub]), list(expected))
                    for ep, n in expected.items():
                        self.assertEqual(d[sub][ep].shape, (n, 1000), f"{sub} {ep}")
                        self.assertEqual(d[sub][ep].dtype, np.float32)
                n_eps = {"friends-s7": 49, "ood": 12}[test_set]
                self.assertEqual(len(d["sub-01"]), n_eps)
                print(f"{test_set}: zip {self.zip_path(test_set).stat().st_size} bytes, "
                      f"{sum(a.shape[0] for a in d['sub-02'].values())} samples for sub-02")
        self.assertEqual(sum(v.shape[0] for v in self.load_submission("friends-s7")[1]["sub-02"].values()), 23464)

    def test_ood_file_is_byte_for_byte_what_numpy_saves(self):
        raw, d = self.load_submission("ood")
        interned = {sys.intern(s): {sys.intern(e): a for e, a in eps.items()} for s, eps in d.items()}
        buf = io.BytesIO()
        np.save(buf, interned)
        self.assertEqual(len(raw), len(buf.getvalue()))
        self.assertTrue(raw == buf.getvalue(), "the submission differs from np.save's bytes")

    def test_test_predictions_match_the_numpy_reference(self):
        job = next(j for j in self.plan["jobs"] if j["subject"] == "sub-02" and j["layers"] == ["blocks.12"])
        expected = {}
        ref.run_job(self.plan, job, test_predictions=expected)
        with h5py.File(self.run_dir / "jobs" / f"{job['job_id']}.h5", "r") as f:
            worst = 0.0
            for test_set in ("ood", "dryrun", "friends-s7"):
                for ep, want in expected[test_set].items():
                    got = f[f"test/{test_set}/{ep}"][...]
                    self.assertEqual(got.shape, want.shape, ep)
                    worst = max(worst, float(np.max(np.abs(got - want)) / np.max(np.abs(want - want.mean(0)))))
            # Clamping (ENCODING.md §1): features end SHORTFALL rows early, so the last samples repeat.
            got = f["test/ood/chaplin1"][...]
            np.testing.assert_array_equal(got[-1], got[-2])
            np.testing.assert_array_equal(got[0], got[HRF])
        print(f"test predictions vs numpy reference: max relative |diff| {worst:.2e}")
        self.assertLess(worst, 1e-4)

    def test_stitch_applies_the_per_parcel_choice_to_test_sets(self):
        jobs = [j for j in self.plan["jobs"] if j["subject"] == "sub-03"]
        cv = {}
        preds = {}
        for j in jobs:
            with h5py.File(self.run_dir / "jobs" / f"{j['job_id']}.h5", "r") as f:
                cv[j["job_id"]] = f["cv_r"][...]
                preds[j["job_id"]] = f["test/ood/wot1"][...]
        ids = sorted(cv)  # ties go to the lower job id
        scores = np.vstack([cv[i] for i in ids])
        best = np.argmax(scores, axis=0)  # first maximum: the lower id on ties
        mean2 = (preds[ids[0]] + preds[ids[1]]) / 2
        best_pred = np.where(best == 0, 0, 1)
        single = np.where(best_pred[None, :] == 0, preds[ids[0]], preds[ids[1]])
        fallback = scores.max(0) < 0.2
        expected = np.where(fallback[None, :], single, mean2)
        with h5py.File(self.run_dir / "stitched" / "test_ood.h5", "r") as f:
            got = f["sub-03/wot1"][...]
        self.assertTrue(0 < fallback.sum() < 1000, f"{fallback.sum()} parcels below --min-score: not a real test")
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)

    def test_override_reaches_the_submission(self):
        """stitch --override for some test episodes (issue #14): their candidates are only the matching
        feature set, recorded in test_ood.h5, and `submit` packs exactly those predictions; the other
        episodes keep the default choice. The class's stitch is restored afterwards."""
        override = [self.run_dir, "--select", "cv", "--top-k", "1", "--eval", "val", "--override",
                    r"wot*=vjepa2/blocks\.4"]
        self.assertOk(self.cli("stitch", *override))
        try:
            jobs = {j["job_id"]: j for j in self.plan["jobs"] if j["subject"] == "sub-02"}
            low = next(i for i, j in jobs.items() if j["layers"] == ["blocks.4"])
            cv = {i: h5py.File(self.run_dir / "jobs" / f"{i}.h5", "r")["cv_r"][...] for i in jobs}
            ids = sorted(cv)
            best = np.argmax(np.vstack([cv[i] for i in ids]), axis=0)
            with h5py.File(self.run_dir / "stitched" / "test_ood.h5", "r") as f:
                self.assertEqual([x.decode() if isinstance(x, bytes) else x for x in f.attrs["overrides"]],
                                 [r"wot*=vjepa2/blocks\.4"])
                eps = [e for e in f["sub-02"]]
                wot = [e for e in eps if e.startswith("wot")]
                other = next(e for e in eps if not e.startswith("wot"))
                self.assertTrue(wot)
                with h5py.File(self.run_dir / "jobs" / f"{low}.h5", "r") as j:
                    for e in wot:
                        np.testing.assert_array_equal(f[f"sub-02/{e}"][...], j[f"test/ood/{e}"][...])
                chosen = {}
                for i in ids:
                    with h5py.File(self.run_dir / "jobs" / f"{i}.h5", "r") as j:
                        chosen[i] = j[f"test/ood/{other}"][...]
                want = np.stack([chosen[i] for i in ids])[best, :, np.arange(best.size)].T
                np.testing.assert_array_equal(f[f"sub-02/{other}"][...], want)
                stitched_wot = f[f"sub-02/{wot[0]}"][...]
            out = self.tmp / "override_submission"
            self.assertOk(self.cli("submit", self.run_dir, "--test-set", "ood", "--out", out))
            with zipfile.ZipFile(out / "fmri_predictions_ood.zip") as z:
                d = np.load(io.BytesIO(z.read("fmri_predictions_ood.npy")), allow_pickle=True).item()
            np.testing.assert_array_equal(d["sub-02"][wot[0]], stitched_wot)
        finally:
            self.assertOk(self.cli("stitch", self.run_dir, "--select", "cv", "--top-k", "2", "--min-score", "0.2",
                                   "--eval", "val"))

    def test_reports_show_the_planted_hierarchy(self):
        import csv
        with open(self.run_dir / "stitched" / "networks.csv") as f:
            rows = list(csv.DictReader(f))
        won = {(r["network"], r["feature_set"]): float(r["share"]) for r in rows}
        # Sensory parcels carry the signal of blocks.4, the others that of blocks.12.
        self.assertGreater(won.get(("Vis", "vjepa2/blocks.4"), 0), 0.7)
        self.assertGreater(won.get(("Default", "vjepa2/blocks.12"), 0), 0.7)
        with open(self.run_dir / "stitched" / "winners.csv") as f:
            winners = list(csv.DictReader(f))
        self.assertEqual(len([w for w in winners if w["rank"] == "1"]), 4 * 1000)
        self.assertEqual({w["alpha"] for w in winners} <= {"1", "100", "10000"}, True)
        print(self.outputs["stitch"][-1500:])

    def test_validator_accepts_and_scores_the_dry_run_like_numpy(self):
        for test_set in ("friends-s7", "ood"):
            proc = self.cli("validate-submission", self.zip_path(test_set), "--test-set", test_set,
                            "--counts", COUNTS_JSON)
            self.assertOk(proc)
        template = f"{self.tmp}/data/fmri/{{subject}}/target_sample_number/{{subject}}_{{test_set}}_fmri_samples.npy"
        proc = self.cli("validate-submission", self.zip_path("dryrun"), "--test-set", "dryrun", "--counts", template,
                        "--dataset", REPO / "configs" / "datasets" / "algonauts2025.yaml", "--root", self.tmp / "data")
        self.assertOk(proc)
        score = float(proc.stdout.strip().splitlines()[-1].split()[-1])
        _, pred = self.load_submission("dryrun")
        truth = {}
        for sub in SUBJECTS:
            truth[sub] = {}
            for ep in DRYRUN:
                task = "friends" if ep.startswith("s0") else "movie10"
                with h5py.File(fmri_path(self.tmp / "data", sub, task), "r") as f:
                    truth[sub][ep] = f[f"ses-001_task-{ep}"][...]
        expected = scorer_formula(pred, truth, MOVIE)
        print(f"dry run: validator score {score:.9f}, numpy scorer formula {expected:.9f}, "
              f"|diff| {abs(score - expected):.2e}")
        self.assertGreater(expected, 0.1)  # the planted signal is found
        self.assertAlmostEqual(score, expected, delta=1e-6)

    def test_stitch_refuses_parcel_names_of_the_wrong_count_and_keeps_its_files(self):
        names = self.tmp / "names.txt"
        names.write_text("".join(f"{i + 1}\t{n}\t0\t0\t0\t0\n" for i, n in enumerate(self.names[:999])))
        stitched = self.run_dir / "stitched"
        before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in stitched.iterdir()}
        proc = self.cli("stitch", self.run_dir, "--select", "cv", "--top-k", "2", "--eval", "val",
                        "--parcel-names", names)
        self.assertRefused(proc, str(names), "999 parcel names, the run has 1000")
        after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in stitched.iterdir()}
        self.assertEqual(before, after)

    def test_submit_refusals_name_subject_and_episode_and_write_nothing(self):
        def mutate_h5(fn):
            def apply(path):
                with h5py.File(path, "r+") as f:
                    fn(f)
            return apply

        def replace(name, fn):
            def apply(f):
                a = f[name][...]
                del f[name]
                f[name] = fn(a)
            return apply

        def set_cell(a, i, j, v):
            a = a.copy()
            a[i, j] = v
            return a

        def set_col(a, j, v):
            a = a.copy()
            a[:, j] = v
            return a

        cases = [
            ("missing subject", lambda f: f.__delitem__("sub-05"), ["sub-05", "missing"]),
            ("extra subject", lambda f: f.create_dataset("sub-04/chaplin1", data=np.ones((2, 2))), ["sub-04", "extra"]),
            ("missing episode", lambda f: f.__delitem__("sub-02/wot2"), ["sub-02", "'wot2'", "missing"]),
            ("extra episode", lambda f: f.create_dataset("sub-01/extra1", data=np.ones((2, 2))),
             ["sub-01", "'extra1'", "extra"]),
            ("wrong shape", replace("sub-03/chaplin1", lambda a: a[:-1]), ["sub-03", "'chaplin1'", "431×1000", "432"]),
            ("NaN", replace("sub-01/mononoke2", lambda a: set_cell(a, 7, 3, np.nan)),
             ["sub-01", "'mononoke2'", "non-finite", "sample 7, parcel 3"]),
            ("constant column", replace("sub-05/pulpfiction1", lambda a: set_col(a, 10, 0.5)),
             ["sub-05", "'pulpfiction1'", "parcel 10", "constant"]),
        ]
        for label, change, fragments in cases:
            with self.subTest(case=label):
                run = self.tmp / f"refusal-{label.replace(' ', '-')}"
                (run / "stitched").mkdir(parents=True)
                shutil.copy(self.run_dir / "plan.json", run / "plan.json")
                shutil.copy(self.run_dir / "stitched" / "test_ood.h5", run / "stitched" / "test_ood.h5")
                mutate_h5(change)(run / "stitched" / "test_ood.h5")
                out = run / "out"
                out.mkdir()
                (out / "fmri_predictions_ood.zip").write_bytes(b"an earlier submission")
                proc = self.cli("submit", run, "--test-set", "ood", "--out", out, "--overwrite")
                self.assertRefused(proc, *fragments)
                self.assertEqual(sorted(p.name for p in out.iterdir()), ["fmri_predictions_ood.zip"])
                self.assertEqual((out / "fmri_predictions_ood.zip").read_bytes(), b"an earlier submission")
                shutil.rmtree(run)
        # an existing zip is not replaced unasked (#27 §11: one rule for named outputs); --overwrite replaces it
        out = self.tmp / "earlier"
        out.mkdir()
        (out / "fmri_predictions_ood.zip").write_bytes(b"an earlier submission")
        proc = self.cli("submit", self.run_dir, "--test-set", "ood", "--out", out)
        self.assertRefused(proc, "fmri_predictions_ood.zip exists; refusing to replace it (--overwrite replaces it)")
        self.assertEqual((out / "fmri_predictions_ood.zip").read_bytes(), b"an earlier submission")
        self.assertOk(self.cli("submit", self.run_dir, "--test-set", "ood", "--out", out, "--overwrite"))
        self.assertTrue(zipfile.is_zipfile(out / "fmri_predictions_ood.zip"))
        shutil.rmtree(out)
        # the zip's name taken by a directory: refused before anything is built (exit 2), nothing written
        out = self.tmp / "dir-in-the-way"
        (out / "fmri_predictions_ood.zip").mkdir(parents=True)
        proc = self.cli("submit", self.run_dir, "--test-set", "ood", "--out", out)
        self.assertRefused(proc, "fmri_predictions_ood.zip is a directory")
        self.assertEqual(sorted(p.name for p in out.iterdir()), ["fmri_predictions_ood.zip"])
        shutil.rmtree(out)

    def test_generate_refuses_bad_test_sets_and_writes_nothing(self):
        base = (self.tmp / "sweep.yaml").read_text()
        counts = {"ood": {s: dict(self.counts["ood"][s]) for s in SUBJECTS}}
        counts["ood"]["sub-03"]["chaplin1"] += 20  # more samples than the feature file can cover
        (self.tmp / "inflated.json").write_text(json.dumps(counts))
        cases = [
            ("unknown episode", "test: {ood: [chaplin1, nosuch9]}",
             ["'nosuch9'", "sub-01", "sub-01_ood_fmri_samples.npy"]),
            ("missing count file", f"test: {{ood: auto}}\nsample_counts: {self.tmp}/nowhere/{{subject}}_{{test_set}}.npy",
             [f"{self.tmp}/nowhere/sub-01_ood.npy", "missing"]),
            ("features too short", f"test: {{ood: [chaplin1]}}\nsample_counts: {self.tmp}/inflated.json",
             ["ood_chaplin1.h5", "'blocks.4'", "428 rows", "452 samples", "'chaplin1'"]),
        ]
        for label, test_lines, fragments in cases:
            with self.subTest(case=label):
                sweep = self.tmp / "bad_sweep.yaml"
                sweep.write_text(base.split("test:")[0] + test_lines + "\n")
                out = self.tmp / "bad_run"
                self.assertRefused(self.cli("generate", sweep, "--out", out), *fragments)
                self.assertFalse(out.exists())


class TestEncoderPipeline(Case):
    """Trained encoders in the Algonauts layout (issue #23): a sweep with ridge and encoder jobs →
    run on 2 ranks → stitch on the validation episode (both kinds compete per parcel) → submit →
    validate-submission accepts every file and scores the dry run as the numpy formula does."""

    def test_generate_run_stitch_submit_validate(self):
        tmp = Path(tempfile.mkdtemp(prefix="brainsweep-encoder-submission-")).resolve()
        try:
            counts = json.loads(COUNTS_JSON.read_text())
            make_dataset(tmp / "data", counts)
            sweep = tmp / "sweep.yaml"
            sweep.write_text(f"""dataset: {REPO}/configs/datasets/algonauts2025.yaml
dataset_root: {tmp}/data
atlas: {ATLAS}
subjects: [{", ".join(SUBJECTS)}]
features:
  - {{model: vjepa2, layers: [blocks.4]}}
grid: {{hrf_delay: [{HRF}], stimulus_window: [1]}}
ridge: {{folds: 3, alphas: [1, 100, 10000]}}
train: [{", ".join(TRAIN)}]
eval: {{val: [{", ".join(VAL)}]}}
test: {{ood: auto, dryrun: [{", ".join(DRYRUN)}]}}
encoder:
  features: [[{{model: vjepa2, layers: [blocks.12]}}]]
  early_stopping: val
  kernel_size: 9
  embed_dim: 16
  lr: 3e-3
  num_samples: 256
  epochs: 4
  threads: 1
""")
            run = tmp / "run"
            self.assertOk(self.cli("generate", sweep, "--out", run))
            self.assertOk(self.cli("run", run, mpi=2))
            st = self.cli("stitch", run, "--select", "val", "--top-k", "1")
            self.assertOk(st)
            self.assertIn("encoder/vjepa2/blocks.12", st.stdout)  # the encoder wins parcels (blocks.12 carries the signal)
            for test_set in ("ood", "dryrun"):
                self.assertOk(self.cli("submit", run, "--test-set", test_set, "--out", tmp / "submissions"))
            zip_of = lambda t: tmp / "submissions" / f"fmri_predictions_{t}.zip"  # noqa: E731
            self.assertOk(self.cli("validate-submission", zip_of("ood"), "--test-set", "ood", "--counts", COUNTS_JSON))
            template = f"{tmp}/data/fmri/{{subject}}/target_sample_number/{{subject}}_{{test_set}}_fmri_samples.npy"
            proc = self.cli("validate-submission", zip_of("dryrun"), "--test-set", "dryrun", "--counts", template,
                            "--dataset", REPO / "configs" / "datasets" / "algonauts2025.yaml", "--root", tmp / "data")
            self.assertOk(proc)
            score = float(proc.stdout.strip().splitlines()[-1].split()[-1])
            with zipfile.ZipFile(zip_of("dryrun")) as z:
                pred = np.load(io.BytesIO(z.read(z.infolist()[0])), allow_pickle=True).item()
            truth = {}
            for sub in SUBJECTS:
                truth[sub] = {}
                for ep in DRYRUN:
                    task = "friends" if ep.startswith("s0") else "movie10"
                    with h5py.File(fmri_path(tmp / "data", sub, task), "r") as f:
                        truth[sub][ep] = f[f"ses-001_task-{ep}"][...]
            expected = scorer_formula(pred, truth, MOVIE)
            print(f"encoder + ridge dry run: validator score {score:.6f}, numpy formula {expected:.6f}")
            self.assertGreater(expected, 0.1)
            self.assertAlmostEqual(score, expected, delta=1e-6)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class TestValidator(Case):
    """Every refusal of validate-submission, on small files that numpy writes (3 parcels)."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="brainsweep-validator-")).resolve()
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.counts = {"tiny": {s: {"ep1": 20, "ep2": 15} for s in SUBJECTS}}
        (self.tmp / "counts.json").write_text(json.dumps(self.counts))
        rng = np.random.default_rng(5)
        self.good = {s: {e: rng.standard_normal((n, 3)).astype(np.float32) for e, n in eps.items()}
                     for s, eps in self.counts["tiny"].items()}

    def write_zip(self, obj, name="bad.zip", extra=None, raw=None):
        buf = io.BytesIO()
        np.save(buf, obj, allow_pickle=True)
        data = raw(buf.getvalue()) if raw else buf.getvalue()
        path = self.tmp / name
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr("fmri_predictions_tiny.npy", data)
            if extra:
                z.writestr(extra, data)
        return path

    def validate(self, path):
        return self.cli("validate-submission", path, "--test-set", "tiny", "--counts", self.tmp / "counts.json",
                        "--parcels", "3")

    @staticmethod
    def zero_d(obj):
        a = np.empty((), dtype=object)
        a[()] = obj
        return a

    def variant(self, fn):
        d = {s: dict(eps) for s, eps in self.good.items()}
        fn(d)
        return d

    def test_accepts_a_good_file(self):
        proc = self.validate(self.write_zip(self.good))
        self.assertOk(proc)
        self.assertIn("valid submission", proc.stdout)

    def test_refusals(self):
        nan = self.good["sub-02"]["ep2"].copy()
        nan[4, 1] = np.nan
        const = self.good["sub-03"]["ep1"].copy()
        const[:, 2] = 1.25
        cases = [
            ("missing subject", self.variant(lambda d: d.pop("sub-03")), {}, ["sub-03", "missing"]),
            ("extra key", self.variant(lambda d: d.__setitem__("sub-04", {})), {}, ["'sub-04'", "extra"]),
            ("missing episode", self.variant(lambda d: d["sub-01"].pop("ep2")), {}, ["sub-01", "'ep2'", "missing"]),
            ("extra episode", self.variant(lambda d: d["sub-05"].__setitem__("ep3", self.good["sub-05"]["ep1"])), {},
             ["sub-05", "'ep3'", "extra"]),
            ("wrong shape", self.variant(lambda d: d["sub-02"].__setitem__("ep1", self.good["sub-02"]["ep1"][:19])),
             {}, ["sub-02", "'ep1'", "shape (19, 3)", "(20, 3)"]),
            ("NaN", self.variant(lambda d: d["sub-02"].__setitem__("ep2", nan)), {},
             ["sub-02", "'ep2'", "non-finite", "sample 4, parcel 1"]),
            ("constant column", self.variant(lambda d: d["sub-03"].__setitem__("ep1", const)), {},
             ["sub-03", "'ep1'", "parcel 2", "constant"]),
            ("numpy._core", self.good,
             {"raw": lambda b: b.replace(b"numpy.core.multiarray\n", b"numpy._core.multiarray\n")}, ["numpy._core"]),
            ("two npy files", self.good, {"extra": "second.npy"}, ["exactly one .npy", "found 2"]),
            ("not a dict", np.zeros((2, 2)), {}, ["pickled object"]),
            ("list", self.zero_d([1, 2]), {}, ["expected a dict", "list"]),
        ]
        for label, obj, kw, fragments in cases:
            with self.subTest(case=label):
                proc = self.validate(self.write_zip(obj, name=label.replace(" ", "_") + ".zip", **kw))
                self.assertRefused(proc, *fragments)
                self.assertIn("INVALID", proc.stderr)

    def test_reports_every_problem_of_an_array(self):
        # Issue #16: two NaNs and two constant parcels in one array, and a NaN in another: all told.
        bad = self.good["sub-01"]["ep1"].copy()
        bad[3, 0] = np.nan
        bad[9, 0] = np.inf
        bad[:, 1] = 0.5
        bad[:, 2] = -2.0
        other = self.good["sub-05"]["ep2"].copy()
        other[0, 2] = np.nan
        proc = self.validate(self.write_zip(self.variant(lambda d: (d["sub-01"].__setitem__("ep1", bad),
                                                                    d["sub-05"].__setitem__("ep2", other))),
                                            name="many.zip"))
        self.assertRefused(proc, "sub-01, episode 'ep1': 2 non-finite values (the first at sample 3, parcel 0)",
                           "sub-01, episode 'ep1': parcel 1, 2 constant (2 parcels)",
                           "sub-05, episode 'ep2': 1 non-finite value (the first at sample 0, parcel 2)")
        self.assertIn("(3 problems)", proc.stderr)

    def test_reports_values_after_a_wrong_shape(self):
        # Issue #25: an array of the wrong shape still has its NaN and constant parcels told
        short = self.good["sub-02"]["ep1"][:19].copy()
        short[2, 0] = np.nan
        short[:, 1] = 3.0
        proc = self.validate(self.write_zip(self.variant(lambda d: d["sub-02"].__setitem__("ep1", short)), name="short.zip"))
        self.assertRefused(proc, "sub-02, episode 'ep1': shape (19, 3) (expected (20, 3))",
                           "sub-02, episode 'ep1': 1 non-finite value (the first at sample 2, parcel 0)",
                           "sub-02, episode 'ep1': parcel 1 constant (1 parcel)")
        self.assertIn("(3 problems)", proc.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(f"usage: {sys.argv[0]} BRAINSWEEP_BINARY [unittest args]")
    BINARY = str(Path(sys.argv[1]).resolve())
    unittest.main(argv=[sys.argv[0], *sys.argv[2:]], verbosity=2)
