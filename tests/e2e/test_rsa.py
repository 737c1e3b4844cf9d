#!/usr/bin/python3
"""`brainsweep rsa` (issue #13 §2, METRICS.md §2) on the 92-image RDMs (Kriegeskorte et al. 2008):
the 8 model RDMs and the monkey IT RDM against the human IT RDMs of subjects BE and KO (their two
sessions averaged), every comparison, with bootstrap and permutation test, and the
leave-one-subject-out noise ceiling, against the independent numpy implementation in
tests/reference/metrics_reference.py; the 16 behavioural RDMs as a 16-subject ROI; bad input.

RsaManyConditions: τa at 1500 and corr/cosine at 4001 synthetic conditions (the paths only large RDMs
take) against scipy/numpy.

RsaUndefined: undefined statistics (constant RDMs, one-column layers, resamples of few conditions)
are NaN with a count, or refused (issue #25).

RsaCka: linear CKA (plain, debiased, Net2Brain's standardised) as comparisons on Sherlock's scenes,
against tests/reference/cka_reference.py (issue #26 §3).

Usage: test_rsa.py BRAINSWEEP_BINARY [RSA92_H5] [Rsa | RsaManyConditions | RsaUndefined | RsaCka]
"""
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
RSA92 = os.path.join(HERE, "..", "..", "..", "shared", "data", "rsa92", "rsa92.h5")


def run(*args):
    return subprocess.run([BIN, "rsa", *args], capture_output=True, text=True)


read_csv = e2e.read_csv


class Rsa(e2e.TempDirTest):
    @classmethod
    def setUpClass(cls):
        with h5py.File(RSA92) as f:
            cls.hit = {s: np.mean([f[f"hIT/{s}/{k}"][()].astype(np.float64) for k in f[f"hIT/{s}"]], axis=0)
                       for s in f["hIT"]}
            cls.models = {f"models/{m}": f[f"models/{m}"][()] for m in f["models"]}
            cls.models["mIT"] = f["mIT"][()]
            cls.behaviour = {s: f[f"behaviour/{s}"][()] for s in f["behaviour"]}

    def test_92_images_against_numpy(self):
        B, P, seed = 25, 25, 3
        out = self.out()
        r = run("--rdms", RSA92, "--brain", "hIT", "--model", "models", "--model", "mIT", "--comparison",
                "corr,spearman,tau-a,cosine", "--bootstrap", str(B), "--permutations", str(P), "--seed", str(seed),
                "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = read_csv(out)
        subjects = sorted(self.hit)
        self.assertEqual(subjects, ["BE", "KO"])
        self.assertEqual(len(rows), 9 * 4 * 3)
        for method in ("corr", "spearman", "tau-a", "cosine"):
            lower, upper = ref.rdm_noise_ceiling([ref.upper(self.hit[s]) for s in subjects], method)
            for name, m in self.models.items():
                want = ref.rsa(m, [self.hit[s] for s in subjects], method, bootstrap=B, permutations=P, seed=seed)
                got = [row for row in rows if row["model"] == name and row["comparison"] == method]
                self.assertEqual([g["subject"] for g in got], subjects + ["mean"])
                for k, g in enumerate(got):
                    with self.subTest(method=method, model=name, subject=g["subject"]):
                        self.assertAlmostEqual(float(g["similarity"]), want["similarity"][k], delta=1e-8)
                        self.assertAlmostEqual(float(g["bootstrap_sd"]), want["bootstrap_sd"][k], delta=1e-8)
                        self.assertAlmostEqual(float(g["ci_low"]), want["ci_low"][k], delta=1e-8)
                        self.assertAlmostEqual(float(g["ci_high"]), want["ci_high"][k], delta=1e-8)
                        self.assertAlmostEqual(float(g["p_permutation"]), want["p_permutation"][k], delta=1e-8)
                        self.assertAlmostEqual(float(g["ceiling_lower"]), lower, delta=1e-8)
                        self.assertAlmostEqual(float(g["ceiling_upper"]), upper, delta=1e-8)
                        self.assertEqual((g["n_conditions"], g["n_subjects"]), ("92", "2"))
        # the report ranks models per ROI against the ceiling
        self.assertIn("hIT (2 subjects, 92 conditions), corr: noise ceiling [", r.stdout)
        corr = {row["model"]: float(row["similarity"]) for row in rows if row["comparison"] == "corr" and row["subject"] == "mean"}
        block = r.stdout.split("corr: noise ceiling")[1].split("spearman")[0]
        listed = [line.split()[0] for line in block.splitlines()[2:] if line.startswith("  ")]
        self.assertEqual(listed, sorted(corr, key=lambda m: -corr[m]))
        # boot SD and p in the report are the CSV's to 3 significant digits (never a cut string)
        mean_rows = {row["model"]: row for row in rows if row["comparison"] == "corr" and row["subject"] == "mean"}
        for line in block.splitlines()[2:]:
            if not line.startswith("  ") or not line.split()[0] in mean_rows:
                continue
            name, _, sd, p = line.split()[:4]
            for shown, full in ((sd, mean_rows[name]["bootstrap_sd"]), (p, mean_rows[name]["p_permutation"])):
                self.assertEqual(float(shown), float(f"{float(full):.3g}"), (name, line))
        # mIT and models/monkeyIT are the same RDM
        self.assertAlmostEqual(corr["mIT"], corr["models/monkeyIT"], places=12)

    def test_behaviour_16_subjects_ceiling(self):
        out = self.out()
        r = run("--rdms", RSA92, "--brain", "behaviour", "--model", "models/animacy", "--model", "mIT", "--comparison",
                "corr,tau-a", "--bootstrap", "0", "--permutations", "0", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = read_csv(out)
        subs = sorted(self.behaviour)
        for method in ("corr", "tau-a"):
            lower, upper = ref.rdm_noise_ceiling([ref.upper(self.behaviour[s]) for s in subs], method)
            got = [row for row in rows if row["comparison"] == method]
            self.assertEqual(len(got), 2 * 17)
            for g in got:
                self.assertAlmostEqual(float(g["ceiling_lower"]), lower, delta=1e-8)
                self.assertAlmostEqual(float(g["ceiling_upper"]), upper, delta=1e-8)
                self.assertEqual((g["bootstrap_sd"], g["p_permutation"]), ("", ""))
                if g["subject"] != "mean":
                    want = ref.compare(ref.upper(self.models[g["model"]]), ref.upper(self.behaviour[g["subject"]]), method)
                    self.assertAlmostEqual(float(g["similarity"]), want, delta=1e-9)
            self.assertLess(lower, upper)

    def test_sherlock_scenes_against_numpy(self):
        """The 50 scenes of both scans: brain RDMs of the 8 subjects (roi6 and the 481 pmc voxels),
        model RDMs of the annotation, LSA and topic feature sets (windows 1 and 3), against numpy."""
        sys.path.insert(0, os.path.join(HERE, "..", "reference"))
        import encoding_reference as enc  # the ENCODING.md reference's alignment (design rows)
        sherlock = os.path.join(os.path.dirname(RSA92), "..", "sherlock")
        events = {ep: ref.read_events(os.path.join(sherlock, "events", f"{ep}_events.tsv")) for ep in ("sherlock01", "sherlock02")}
        conditions = list(dict.fromkeys(e[2] for ep in ("sherlock01", "sherlock02") for e in events[ep]))
        self.assertEqual(len(conditions), 50)
        for atlas in ("roi6", "pmc481"):
            with self.subTest(atlas=atlas):
                sweep = e2e.sherlock_sweep(os.path.join(self.d, f"sherlock_{atlas}.yaml"), sherlock, atlas)
                out = self.out()
                r = run("--sweep", sweep, "--events", os.path.join(sherlock, "events", "{episode}_events.tsv"), "--set",
                        "train,test", "--comparison", "corr,spearman", "--bootstrap", "0", "--permutations", "0", "--out", out)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("50 conditions from 683 events", r.stdout)
                rows = read_csv(out)
                subjects = [f"sub-0{i}" for i in range(1, 9)]
                brain = {}
                for s in subjects:
                    with h5py.File(os.path.join(sherlock, "fmri", s, "func", f"{s}_task-sherlock_space-MNI152_atlas-{atlas}_bold.h5")) as f:
                        runs = [(f[f"ses-001_task-{ep}"][()], events[ep]) for ep in ("sherlock01", "sherlock02")]
                    brain[s] = ref.rdm_correlation(ref.condition_patterns(runs, conditions, 1.5, 0))
                n_tr = {ep: len(runs[k][0]) for k, ep in enumerate(("sherlock01", "sherlock02"))}
                for model, layer in (("annotations", "all"), ("description_lsa", "lsa64"), ("topic_model", "t100")):
                    for window in (1, 3):
                        design = []
                        for ep in ("sherlock01", "sherlock02"):
                            with h5py.File(os.path.join(sherlock, "features", model, "movies", "sherlock", f"movies_{ep}.h5")) as f:
                                design.append((enc.align(f[layer][()].astype(np.float64), n_tr[ep], 0, window), events[ep]))
                        m = ref.rdm_correlation(ref.condition_patterns(design, conditions, 1.5, 0))
                        name = f"{model}/{layer} w{window} d0"
                        for method in ("corr", "spearman"):
                            got = {g["subject"]: float(g["similarity"]) for g in rows
                                   if g["model"] == name and g["comparison"] == method}
                            want = [ref.compare(m, brain[s], method) for s in subjects]
                            tol = 1e-7
                            for k, s in enumerate(subjects):
                                self.assertAlmostEqual(got[s], want[k], delta=tol, msg=(atlas, name, method, s))
                            self.assertAlmostEqual(got["mean"], float(np.mean(want)), delta=tol)
                for method in ("corr", "spearman"):
                    lower, upper = ref.rdm_noise_ceiling([brain[s] for s in subjects], method)
                    g = next(g for g in rows if g["comparison"] == method)
                    self.assertAlmostEqual(float(g["ceiling_lower"]), lower, delta=1e-6)
                    self.assertAlmostEqual(float(g["ceiling_upper"]), upper, delta=1e-6)

    def test_sherlock_rois_by_regex(self):
        """--roi NAME=REGEX: two halves of the 481 PMC voxels (pmc_vox000-199, 200-480) against numpy."""
        sherlock = os.path.join(os.path.dirname(RSA92), "..", "sherlock")
        sweep = e2e.sherlock_sweep(os.path.join(self.d, "pmc.yaml"), sherlock, "pmc481")
        out = self.out()
        r = run("--sweep", sweep, "--events", os.path.join(sherlock, "events", "{episode}_events.tsv"), "--set", "test",
                "--roi", "low=pmc_vox[01][0-9][0-9]", "--roi", "high=pmc_vox[2-4][0-9][0-9]", "--bootstrap", "0",
                "--permutations", "0", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = read_csv(out)
        self.assertEqual({g["roi"] for g in rows}, {"low", "high"})
        events = ref.read_events(os.path.join(sherlock, "events", "sherlock02_events.tsv"))
        conditions = list(dict.fromkeys(e[2] for e in events))
        for roi, cols in (("low", slice(0, 200)), ("high", slice(200, 481))):
            brain = []
            for s in [f"sub-0{i}" for i in range(1, 9)]:
                with h5py.File(os.path.join(sherlock, "fmri", s, "func", f"{s}_task-sherlock_space-MNI152_atlas-pmc481_bold.h5")) as f:
                    x = f["ses-001_task-sherlock02"][()][:, cols]
                brain.append(ref.rdm_correlation(ref.condition_patterns([(x, events)], conditions, 1.5, 0)))
            lower, upper = ref.rdm_noise_ceiling(brain, "corr")
            got = next(g for g in rows if g["roi"] == roi)
            self.assertAlmostEqual(float(got["ceiling_lower"]), lower, delta=1e-7)
            self.assertAlmostEqual(float(got["ceiling_upper"]), upper, delta=1e-7)
        r = run("--sweep", sweep, "--events", os.path.join(sherlock, "events", "{episode}_events.tsv"), "--set", "test",
                "--roi", "x=nomatch", "--out", self.out())
        self.assertEqual(r.returncode, 2)
        self.assertIn("--roi 'x=nomatch': no parcel of", r.stderr)

    def test_rois_per_group_and_events_per_subject(self):
        """#27 §10: --roi '{1}=REGEX' gives one ROI per distinct capture (per parcel: '(.*)', euclidean),
        against numpy; an events template with {subject} whose files agree gives the same table as one
        file per episode, and subjects' events that differ are refused (exit 2, nothing written)."""
        import shutil
        sherlock = os.path.join(os.path.dirname(RSA92), "..", "sherlock")
        sweep = e2e.sherlock_sweep(os.path.join(self.d, "roi6.yaml"), sherlock, "roi6")
        events = os.path.join(sherlock, "events", "{episode}_events.tsv")
        out = self.out()
        r = run("--sweep", sweep, "--events", events, "--set", "test", "--roi", "{1}=(.*)", "--distance", "euclidean",
                "--bootstrap", "0", "--permutations", "0", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = read_csv(out)
        names = ["early_visual", "aud_early", "pmc_nn", "post_parahipp", "bilateral_hipp", "ddmn_mpfc"]
        self.assertEqual(list(dict.fromkeys(g["roi"] for g in rows)), names)
        ev = ref.read_events(os.path.join(sherlock, "events", "sherlock02_events.tsv"))
        conditions = list(dict.fromkeys(e[2] for e in ev))
        brain = []
        for s in [f"sub-0{i}" for i in range(1, 9)]:
            with h5py.File(os.path.join(sherlock, "fmri", s, "func", f"{s}_task-sherlock_space-MNI152_atlas-roi6_bold.h5")) as f:
                x = f["ses-001_task-sherlock02"][()][:, 2:3]  # pmc_nn, one channel
            pat = ref.condition_patterns([(x, ev)], conditions, 1.5, 0)
            brain.append(ref.upper((pat[:, None, 0] - pat[None, :, 0]) ** 2))
        lower, upper = ref.rdm_noise_ceiling(brain, "corr")
        got = next(g for g in rows if g["roi"] == "pmc_nn")
        self.assertAlmostEqual(float(got["ceiling_lower"]), lower, delta=1e-7)
        self.assertAlmostEqual(float(got["ceiling_upper"]), upper, delta=1e-7)
        for roi, pattern in (("{1}=.*", "the name holds \\{1\\} but the expression has no capture group"),
                             ("{1}=(.*)", "ROI 'early_visual' has 1 parcel .* a correlation distance needs at least 3")):
            r = run("--sweep", sweep, "--events", events, "--set", "test", "--roi", roi, "--out", self.out())
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertRegex(r.stderr, pattern)
        # {subject}: a copy of the episode's events per subject
        per = os.path.join(self.d, "events")
        os.makedirs(per)
        for i in range(1, 9):
            for ep in ("sherlock01", "sherlock02"):
                shutil.copy(os.path.join(sherlock, "events", f"{ep}_events.tsv"), os.path.join(per, f"sub-0{i}_{ep}.tsv"))
        plain, same = os.path.join(self.d, "plain.csv"), os.path.join(self.d, "same.csv")
        for target, ev_arg in ((plain, events), (same, os.path.join(per, "{subject}_{episode}.tsv"))):
            r = run("--sweep", sweep, "--events", ev_arg, "--set", "test", "--bootstrap", "20", "--permutations", "20",
                    "--out", target)
            self.assertEqual(r.returncode, 0, r.stderr)
        with open(plain) as a, open(same) as b:
            self.assertEqual(a.read(), b.read())
        path = os.path.join(per, "sub-03_sherlock02.tsv")
        with open(path) as f:
            lines = f.read().splitlines()
        cols = lines[4].split("\t")
        cols[2] = "99. Other"
        lines[4] = "\t".join(cols)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        never = os.path.join(self.d, "never.csv")
        r = run("--sweep", sweep, "--events", os.path.join(per, "{subject}_{episode}.tsv"), "--set", "test", "--out", never)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("sub-03_sherlock02.tsv (line 5) differs from sub-01's", r.stderr)
        self.assertFalse(os.path.exists(never))

    def haxby_sweep(self, runs=range(1, 13), hrf=2):
        haxby = os.path.join(os.path.dirname(RSA92), "..", "haxby2001")
        source = os.path.abspath(os.path.join(HERE, "..", ".."))
        path = os.path.join(self.d, f"haxby_{len(os.listdir(self.d))}.yaml")
        with open(path, "w") as f:
            f.write(f"""dataset: {source}/configs/datasets/haxby2001.yaml
dataset_root: {haxby}
atlas: slice
subjects: [sub-01]
grid: {{hrf_delay: [{hrf}]}}
train: [{", ".join(f"run-{r:02d}" for r in runs)}]
""")
        return path

    def test_haxby_crossnobis_against_numpy(self):
        """--distance crossnobis on the 12 runs of Haxby 2001 (8 categories, 530 voxels, a sweep
        without features: brain RDMs only, to --save-rdms), against numpy's leave-one-run-out
        cross-validated euclidean distance (rsatoolbox calc_rdm_crossnobis, identity noise); and the
        euclidean RDM of the mean patterns, which crossnobis corrects for the noise's bias."""
        haxby = os.path.join(os.path.dirname(RSA92), "..", "haxby2001")
        events = os.path.join(haxby, "sub-01_task-objectviewing_{episode}_events.tsv")
        runs = []
        with h5py.File(os.path.join(haxby, "sub-01_task-objectviewing_bold.h5")) as f:
            for r in range(1, 13):
                runs.append((f[f"run-{r:02d}"][()], ref.read_events(events.format(episode=f"run-{r:02d}"))))
        conditions = list(dict.fromkeys(c for _, ev in runs for _, _, c in ev))
        for hrf in (0, 2):
            with self.subTest(hrf=hrf):
                got = {}
                for distance in ("crossnobis", "euclidean"):
                    rdms = os.path.join(self.d, f"haxby_{distance}_{hrf}.h5")
                    r = run("--sweep", self.haxby_sweep(hrf=hrf), "--events", events, "--set", "train", "--distance",
                            distance, "--no-ceiling", "--save-rdms", rdms)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    with h5py.File(rdms) as f:
                        self.assertEqual([c.decode() for c in f.attrs["conditions"]], conditions)
                        self.assertEqual(list(f), ["subjects"])
                        got[distance] = ref.upper(f["subjects/slice/sub-01"][()])
                want = ref.rdm_crossnobis([ref.condition_patterns([run], conditions, 2.5, hrf) for run in runs])
                np.testing.assert_allclose(got["crossnobis"], want, rtol=1e-9, atol=1e-9 * np.abs(want).max())
                mean = ref.condition_patterns(runs, conditions, 2.5, hrf)
                eucl = ref.upper(((mean[:, None, :] - mean[None, :, :]) ** 2).sum(axis=2) / mean.shape[1])
                np.testing.assert_allclose(got["euclidean"], eucl, rtol=1e-9, atol=1e-9 * eucl.max())
                # the noise adds to every euclidean entry; crossnobis removes it (and can go below 0)
                self.assertGreater(got["euclidean"].min(), got["crossnobis"].min())
                print(f"haxby hrf_delay {hrf}: crossnobis mean {got['crossnobis'].mean():.2f} "
                      f"(min {got['crossnobis'].min():.2f}), euclidean of the mean patterns {got['euclidean'].mean():.2f} "
                      f"(min {got['euclidean'].min():.2f}); Pearson r {np.corrcoef(got['crossnobis'], got['euclidean'])[0, 1]:.3f}")

    def test_crossnobis_bad_input(self):
        haxby = os.path.join(os.path.dirname(RSA92), "..", "haxby2001")
        good = os.path.join(haxby, "sub-01_task-objectviewing_{episode}_events.tsv")
        ev = os.path.join(self.d, "ev")
        os.makedirs(ev)
        for r in range(1, 13):
            with open(good.format(episode=f"run-{r:02d}")) as f:
                lines = f.read().splitlines(keepends=True)
            if r == 4:
                lines = [line for line in lines if "\tshoe" not in line]
            with open(os.path.join(ev, f"run-{r:02d}_events.tsv"), "w") as f:
                f.write("".join(lines))
        edited = os.path.join(ev, "{episode}_events.tsv")
        rdms = os.path.join(self.d, "r.h5")
        cases = [
            ([self.haxby_sweep(), "--events", edited], r"run-04_events.tsv: no event of condition 'shoe' \(--distance crossnobis"),
            ([self.haxby_sweep(runs=[1]), "--events", good], r"--distance crossnobis: set train of .* has 1 run \(run-01\)"),
            ([self.haxby_sweep(), "--events", good, "--out", os.path.join(self.d, "o.csv")], r"has no features, so there is no model"),
        ]
        for args, pattern in cases:
            with self.subTest(pattern=pattern):
                r = run("--sweep", *args, "--set", "train", "--distance", "crossnobis", "--no-ceiling", "--save-rdms", rdms)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)
                self.assertFalse(os.path.exists(rdms))
        r = run("--sweep", self.haxby_sweep(), "--events", good, "--set", "train", "--distance", "crossnobis")
        self.assertEqual(r.returncode, 2)
        self.assertIn("has no features: rsa --sweep can only write its brain RDMs; give --save-rdms", r.stderr)
        # Sherlock's two scans show different scenes: no run holds every condition
        sherlock = os.path.join(os.path.dirname(RSA92), "..", "sherlock")
        sweep = e2e.sherlock_sweep(os.path.join(self.d, "s.yaml"), sherlock)
        out = os.path.join(self.d, "o.csv")
        r = run("--sweep", sweep, "--events", os.path.join(sherlock, "events", "{episode}_events.tsv"), "--set", "train,test",
                "--distance", "crossnobis", "--out", out)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertRegex(r.stderr, r"sherlock01_events.tsv: no event of condition '28. Cartoon' \(--distance crossnobis needs every condition "
                         r"of the 2 episodes of set train,test in every run")
        self.assertFalse(os.path.exists(out))

    def test_events_bad_input(self):
        sherlock = os.path.join(os.path.dirname(RSA92), "..", "sherlock")
        sweep = e2e.sherlock_sweep(os.path.join(self.d, "s.yaml"), sherlock)
        ev = os.path.join(self.d, "ev")
        os.makedirs(ev)
        def write(rows):
            with open(os.path.join(ev, "sherlock02_events.tsv"), "w") as f:
                f.write("onset\tduration\ttrial_type\n" + "".join(f"{a}\t{b}\t{c}\n" for a, b, c in rows))
        good = [(0, 15, "a"), (15, 15, "b"), (30, 15, "c")]
        cases = [
            (good + [(1540, 30, "d")], r"sherlock02_events.tsv:5: the event \[1540, 1570\) s ends after its run \(1030 samples × 1.5 s = 1545 s\)"),
            (good + [(20, "x", "d")], r"sherlock02_events.tsv:5: column duration: expected a number of seconds, found 'x'"),
            (good + [(20, 0, "d")], r"sherlock02_events.tsv:5: duration 0 \(expected > 0 s\)"),
            (good + [(20.1, 0.5, "d")], r"sherlock02_events.tsv:5: the event \[20.1, 20.6\) s of 'd' holds no sample"),
            (good[:2], r"2 conditions \(expected at least 3"),
        ]
        for rows, pattern in cases:
            with self.subTest(pattern=pattern):
                write(rows)
                out = os.path.join(self.d, "o.csv")
                r = run("--sweep", sweep, "--events", os.path.join(ev, "{episode}_events.tsv"), "--set", "test",
                        "--bootstrap", "0", "--permutations", "0", "--out", out)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)
                self.assertFalse(os.path.exists(out))
        write(good)
        for args, pattern in ((["--set", "val"], r"'val' is not a set of"),
                              (["--set", "test", "--distance", "cityblock"], r"--distance: expected correlation, euclidean, standardized-euclidean or crossnobis"),
                              (["--set", "test", "--rdms", RSA92], r"give one of --rdms .* --sweep .* or --predictions")):
            with self.subTest(pattern=pattern):
                r = run("--sweep", sweep, "--events", os.path.join(ev, "{episode}_events.tsv"), *args, "--bootstrap", "0",
                        "--permutations", "0", "--out", os.path.join(self.d, "o.csv"))
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)

    def test_bad_input(self):
        bad = os.path.join(self.d, "bad.h5")
        good = self.models["models/animacy"]
        with h5py.File(bad, "w") as f:
            f["subj/a"] = good
            f["subj/b"] = self.models["models/EVA"]
            f["one/a"] = good
            f["rect"] = np.zeros((92, 91))
            asym = good.copy()
            asym[3, 5] += 1
            f["asym"] = asym
            diag = good.copy()
            diag[7, 7] = 0.5
            f["diag"] = diag
            nan = good.copy()
            nan[10, 2] = nan[2, 10] = np.nan
            f["nan"] = nan
            f["small"] = np.array([[0, 1], [1, 0.0]])
            f["other_n"] = np.zeros((50, 50))
            f["cube"] = np.zeros((3, 3, 3))
        cases = [
            (["--brain", "subj", "--model", "rect"], r"bad.h5: dataset 'rect': an RDM must be square .* found 92×91"),
            (["--brain", "subj", "--model", "asym"], r"dataset 'asym': not symmetric \(entry \(3, 5\)"),
            (["--brain", "subj", "--model", "diag"], r"dataset 'diag': non-zero diagonal \(0.5 at row 7"),
            (["--brain", "subj", "--model", "nan"], r"dataset 'nan': non-finite value \(nan\) at row 2, column 10"),
            (["--brain", "subj", "--model", "small"], r"dataset 'small': 2 conditions \(expected at least 3\)"),
            (["--brain", "subj", "--model", "other_n"], r"'subj/a' has 92 conditions, the model 'other_n' 50"),
            (["--brain", "subj", "--model", "cube"], r"dataset 'cube': an RDM must be 2-D"),
            (["--brain", "subj", "--model", "missing"], r"--model 'missing' not found"),
            (["--brain", "rect", "--model", "subj/a"], r"--brain 'rect': expected a group of subjects"),
            (["--brain", "one", "--model", "subj/a"], r"--brain one: 1 subject \(a\); the noise ceiling needs at least 2"),
            (["--brain", "subj", "--model", "subj/a", "--comparison", "corr,kendall"], r"--comparison: expected corr, spearman, tau-a, cosine, cka or cka-debiased, found 'kendall'"),
            # issue #25: CLI11 saturated these silently; '' wrote a header-only CSV with exit 0
            (["--brain", "subj", "--model", "subj/a", "--seed", "-1"], r"--seed: expected an integer in \[0, 2\^64 - 1\], found '-1'"),
            (["--brain", "subj", "--model", "subj/a", "--seed", str(2**64)], r"--seed: expected an integer .* found '18446744073709551616'"),
            (["--brain", "subj", "--model", "subj/a", "--comparison", ""], r"--comparison: expected at least one of corr"),
        ]
        for args, pattern in cases:
            with self.subTest(pattern=pattern):
                out = os.path.join(self.d, "o.csv")
                r = run("--rdms", bad, *args, "--out", out)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, pattern)
                self.assertFalse(os.path.exists(out))
        out = os.path.join(self.d, "o.csv")
        r = run("--rdms", bad, "--brain", "one", "--model", "subj/b", "--no-ceiling", "--bootstrap", "0",
                "--permutations", "0", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual({row["ceiling_lower"] for row in read_csv(out)}, {""})
        keep = os.path.join(self.d, "keep.csv")
        with open(keep, "w") as f:
            f.write("earlier\n")
        r = run("--rdms", bad, "--brain", "subj", "--model", "subj/a", "--out", keep)
        self.assertEqual(r.returncode, 2)
        with open(keep) as f:
            self.assertEqual(f.read(), "earlier\n")


class RsaManyConditions(e2e.TempDirTest):
    """RDMs of thousands of conditions, synthetic (their own ctest entry, e2e.rsa_many_conditions)."""

    def against_reference(self, model, subjects, methods, B, P, seed):
        """`rsa` on the model and the subjects a, b, … (written to one HDF5 file) with B resamples and
        P permutations: every method's similarity, bootstrap SD and interval and permutation p per
        subject and their mean against metrics_reference.rsa within 1e-9."""
        names = [chr(ord("a") + k) for k in range(len(subjects))]
        path = os.path.join(self.d, "rdms.h5")
        with h5py.File(path, "w") as f:
            f["model"] = model
            for name, s in zip(names, subjects):
                f[f"brain/{name}"] = s
        out = self.out()
        r = run("--rdms", path, "--brain", "brain", "--model", "model", "--comparison", ",".join(methods), "--bootstrap",
                str(B), "--permutations", str(P), "--seed", str(seed), "--no-ceiling", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = read_csv(out)
        for method in methods:
            want = ref.rsa(model, subjects, method, bootstrap=B, permutations=P, seed=seed)
            got = [row for row in rows if row["comparison"] == method]
            self.assertEqual([g["subject"] for g in got], names + ["mean"])
            for k, g in enumerate(got):
                with self.subTest(method=method, subject=g["subject"]):
                    for key in ("similarity", "bootstrap_sd", "ci_low", "ci_high", "p_permutation"):
                        self.assertAlmostEqual(float(g[key]), want[key][k], delta=1e-9, msg=key)

    def test_corr_cosine_4001_conditions_against_numpy(self):
        """corr and cosine beyond 4000 conditions (8 002 000 pairs), where a bootstrap resample is a
        weighted vector instead of quadratic forms of the draw counts, against numpy."""
        n = 4001
        rng = np.random.default_rng(9)
        base = rng.standard_normal((n, 8))

        def rdm(x):
            sq = (x * x).sum(1)
            d = (sq[:, None] + sq[None, :] - 2 * x @ x.T) / x.shape[1]  # squared euclidean
            d = (d + d.T) / 2
            np.fill_diagonal(d, 0)
            return d

        model = rdm(base + rng.standard_normal((n, 8)))
        subjects = [rdm(base + 2 * rng.standard_normal((n, 8))) for _ in range(2)]
        self.against_reference(model, subjects, ["corr", "cosine"], B=2, P=2, seed=4)

    def test_tau_a_1500_conditions_against_scipy(self):
        """τa beyond 2^20 distinct values (1500 conditions, 1 124 250 pairs: the inversion count's
        three radix levels), a continuous model against a continuous subject and a subject with
        ties (rounded), with bootstrap and permutations, against scipy's Knight algorithm."""
        n = 1500
        rng = np.random.default_rng(5)
        base = rng.standard_normal((n, 40))

        def rdm(x):
            z = x - x.mean(1, keepdims=True)
            z /= np.linalg.norm(z, axis=1, keepdims=True)
            d = 1 - z @ z.T
            d = (d + d.T) / 2
            np.fill_diagonal(d, 0)
            return d

        model = rdm(base + rng.standard_normal((n, 40)))
        subjects = [rdm(base + 2 * rng.standard_normal((n, 40))), np.round(rdm(base + 3 * rng.standard_normal((n, 40))), 2)]
        self.assertGreater(len(np.unique(ref.upper(model))), 2 ** 20)
        self.assertLess(len(np.unique(ref.upper(subjects[1]))), 500)
        self.against_reference(model, subjects, ["tau-a"], B=3, P=3, seed=11)


class RsaCka(e2e.TempDirTest):
    """Linear CKA as an RSA comparison (issue #26 §3): Sherlock's 50 scenes, roi6 and the 481 PMC
    voxels of 8 subjects against annotation and LSA features, `--comparison cka,cka-debiased` on
    euclidean RDMs and `cka` on standardized-euclidean ones (Net2Brain's CKA), with bootstrap,
    permutation p and the noise ceiling, against tests/reference/cka_reference.py, which computes CKA
    from the condition patterns themselves (feature-space formula, Song et al.'s unbiased HSIC,
    Net2Brain's StandardScaler + HKH)."""

    def test_sherlock_scenes_against_numpy(self):
        import cka_reference as cref
        import encoding_reference as enc
        sherlock = os.path.join(os.path.dirname(RSA92), "..", "sherlock")
        eps = ("sherlock01", "sherlock02")
        events = {ep: ref.read_events(os.path.join(sherlock, "events", f"{ep}_events.tsv")) for ep in eps}
        conditions = list(dict.fromkeys(e[2] for ep in eps for e in events[ep]))
        subjects = [f"sub-0{i}" for i in range(1, 9)]
        for atlas, distance, kinds in (("roi6", "euclidean", ("cka", "cka-debiased")),
                                       ("pmc481", "standardized-euclidean", ("cka",))):
            with self.subTest(atlas=atlas, distance=distance):
                sweep = e2e.sherlock_sweep(os.path.join(self.d, f"sherlock_{atlas}.yaml"), sherlock, atlas)
                out = self.out()
                r = run("--sweep", sweep, "--events", os.path.join(sherlock, "events", "{episode}_events.tsv"), "--set",
                        "train,test", "--distance", distance, "--comparison", ",".join(kinds), "--bootstrap", "40",
                        "--permutations", "40", "--seed", "11", "--out", out)
                self.assertEqual(r.returncode, 0, r.stderr)
                rows = read_csv(out)
                brain = {}
                for s in subjects:
                    with h5py.File(os.path.join(sherlock, "fmri", s, "func", f"{s}_task-sherlock_space-MNI152_atlas-{atlas}_bold.h5")) as f:
                        runs = [(f[f"ses-001_task-{ep}"][()], events[ep]) for ep in eps]
                    brain[s] = ref.condition_patterns(runs, conditions, 1.5, 0)
                n_tr = {ep: len(runs[k][0]) for k, ep in enumerate(eps)}
                for model, layer in (("annotations", "all"), ("description_lsa", "lsa64")):
                    design = []
                    for ep in eps:
                        with h5py.File(os.path.join(sherlock, "features", model, "movies", "sherlock", f"movies_{ep}.h5")) as f:
                            design.append((enc.align(f[layer][()].astype(np.float64), n_tr[ep], 0, 1), events[ep]))
                    x = ref.condition_patterns(design, conditions, 1.5, 0)
                    name = f"{model}/{layer} w1 d0"
                    for kind in kinds:
                        # standardized-euclidean: the channels z-scored once over all conditions (the RDM's
                        # patterns), resamples and permutations then taken of those; the similarity itself is
                        # Net2Brain's linear_CKA (StandardScaler inside), checked first
                        xs, ys = x, [brain[s] for s in subjects]
                        if distance == "standardized-euclidean":
                            net2brain = cref.cka_stats(x, ys, "cka-standardized")["similarity"]
                            xs, ys = cref._standard_scaler(x), [cref._standard_scaler(y) for y in ys]
                        want = cref.cka_stats(xs, ys, kind, bootstrap=40, permutations=40, seed=11)
                        if distance == "standardized-euclidean":
                            np.testing.assert_allclose(want["similarity"], net2brain, atol=1e-12)
                        got = [g for g in rows if g["model"] == name and g["comparison"] == kind]
                        self.assertEqual([g["subject"] for g in got], subjects + ["mean"])
                        for k, g in enumerate(got):
                            for key in ("similarity", "bootstrap_sd", "ci_low", "ci_high", "p_permutation"):
                                self.assertAlmostEqual(float(g[key]), want[key][k], delta=1e-7,
                                                       msg=(atlas, name, kind, g["subject"], key))
                            self.assertEqual(int(g["n_bootstrap"]), want["n_bootstrap"][k])
                        print(f"{atlas} {distance} {name} {kind}: mean {want['similarity'][-1]:.4f}")
                for kind in kinds:
                    grams = [cref._standard_scaler(brain[s]) if distance == "standardized-euclidean" else brain[s]
                             for s in subjects]
                    if kind == "cka":
                        lower, upper = cref.noise_ceiling(grams)
                        g = next(g for g in rows if g["comparison"] == kind)
                        self.assertAlmostEqual(float(g["ceiling_lower"]), lower, delta=1e-7)
                        self.assertAlmostEqual(float(g["ceiling_upper"]), upper, delta=1e-7)


    def test_cka_sweep_through_mpirun(self):
        """`rsa: {comparisons: [cka, cka-debiased], distance: standardized-euclidean}` through generate →
        mpirun -n 2 run: results.csv byte for byte the table `rsa --sweep` writes."""
        sherlock = os.path.abspath(os.path.join(os.path.dirname(RSA92), "..", "sherlock"))
        source = os.path.abspath(os.path.join(HERE, "..", ".."))
        with open(os.path.join(source, "sweeps", "sherlock_rsa.yaml")) as f:
            text = f.read()
        text = (text.replace("dataset: configs", f"dataset: {source}/configs")
                .replace("../shared/data/sherlock", sherlock)
                .replace("comparisons: [corr, spearman]", "comparisons: [cka, cka-debiased]\n  distance: standardized-euclidean")
                .replace("bootstrap: 1000", "bootstrap: 20").replace("permutations: 1000", "permutations: 20"))
        sweep = os.path.join(self.d, "cka_sweep.yaml")
        with open(sweep, "w") as f:
            f.write(text)
        rd = os.path.join(self.d, "cka_run")
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader",
                   OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
        for cmd in ([BIN, "generate", sweep, "--out", rd], ["mpirun", "-n", "2", BIN, "run", rd]):
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        out = self.out()
        r = run("--sweep", sweep, "--events", os.path.join(sherlock, "events", "{episode}_events.tsv"), "--set",
                "train,test", "--comparison", "cka,cka-debiased", "--distance", "standardized-euclidean", "--bootstrap",
                "20", "--permutations", "20", "--seed", "0", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as a, open(os.path.join(rd, "results.csv")) as b:
            cli, swept = a.read(), b.read()
        self.assertEqual(cli, swept)
        rows = read_csv(out)
        self.assertEqual({g["comparison"] for g in rows}, {"cka", "cka-debiased"})
        self.assertEqual(len(rows), 2 * 10 * 9)  # comparisons × units × (8 subjects + mean), one ROI (all parcels)


class RsaUndefined(e2e.TempDirTest):
    """Issue #25: statistics that are undefined are NaN with a count, or refused; never 0."""

    def rsa_file(self, models, subjects):
        path = os.path.join(self.d, f"rdms{len(os.listdir(self.d))}.h5")
        with h5py.File(path, "w") as f:
            for name, m in models.items():
                f[name] = m
            for name, s in subjects.items():
                f[f"brain/{name}"] = s
        return path

    @staticmethod
    def square(n, v):
        m = np.zeros((n, n))
        m[np.triu_indices(n, 1)] = v
        return m + m.T

    def test_four_conditions_bootstrap_against_numpy(self):
        """4 conditions: many resamples have fewer than 3 distinct conditions (skipped) or a constant
        resampled RDM (left out of that row); SD, interval and the count of resamples used against
        metrics_reference.rsa, for every comparison."""
        rng = np.random.default_rng(3)
        model = self.square(4, [1, 2, 2, 3, 1, 2.0])
        subjects = [self.square(4, rng.standard_normal(6).round(1) + 3) for _ in range(3)]
        path = self.rsa_file({"model": model}, {k: s for k, s in zip("abc", subjects)})
        out = self.out()
        r = run("--rdms", path, "--brain", "brain", "--model", "model", "--comparison", "corr,spearman,tau-a,cosine",
                "--bootstrap", "500", "--permutations", "100", "--seed", "7", "--no-ceiling", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = read_csv(out)
        for method in ("corr", "spearman", "tau-a", "cosine"):
            want = ref.rsa(model, subjects, method, bootstrap=500, permutations=100, seed=7)
            got = [row for row in rows if row["comparison"] == method]
            for k, g in enumerate(got):
                with self.subTest(method=method, subject=g["subject"]):
                    self.assertEqual(int(g["n_bootstrap"]), want["n_bootstrap"][k])
                    self.assertLess(int(g["n_bootstrap"]), 500)  # some resamples are undefined here
                    for key in ("similarity", "bootstrap_sd", "ci_low", "ci_high", "p_permutation"):
                        self.assertAlmostEqual(float(g[key]), want[key][k], delta=1e-9, msg=key)

    def test_constant_rdm_is_nan(self):
        """A constant model RDM: every comparison NaN (empty in the CSV), no resample used, and the
        report says it is undefined instead of ranking it (numpy's corrcoef is nan there too)."""
        brain = {k: self.models_like(k) for k in "ab"}
        path = self.rsa_file({"flat": np.ones((5, 5)) - np.eye(5), "good": brain["a"]}, brain)
        out = self.out()
        r = run("--rdms", path, "--brain", "brain", "--model", "flat", "--model", "good", "--comparison",
                "corr,spearman,tau-a", "--bootstrap", "50", "--permutations", "50", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        for row in read_csv(out):
            if row["model"] == "flat":
                self.assertEqual((row["similarity"], row["bootstrap_sd"], row["p_permutation"], row["n_bootstrap"]),
                                 ("", "", "", "0"), row)
            else:
                self.assertNotEqual(row["similarity"], "")
        self.assertRegex(r.stdout, r"flat +NaN +- +-  \(undefined: a constant RDM\)")
        self.assertNotRegex(r.stdout, r"flat.*within the ceiling")
        lines = [line for line in r.stdout.splitlines() if line.strip().startswith(("flat", "good"))]
        self.assertTrue(all(a.strip().startswith("good") for a in lines[::2]), lines)  # NaN ranks last

    def models_like(self, seed):
        return self.square(5, np.random.default_rng(ord(seed)).random(10) + 0.5)

    def test_features_layers(self):
        """--features: a one-column layer's correlation RDM is undefined (a warning, NaN rows); float64
        layers are read as float64 (rows that differ at 1e-9 stay apart; 1e39 is finite)."""
        brain = {k: self.models_like(k) for k in "ab"}
        path = self.rsa_file({}, brain)
        feats = os.path.join(self.d, "feats.h5")
        rng = np.random.default_rng(5)
        fine = np.ones((5, 4)) + 1e-9 * rng.standard_normal((5, 4))
        with h5py.File(feats, "w") as f:
            f["one"] = rng.standard_normal((5, 1)).astype(np.float32)
            f["fine"] = fine
            f["huge"] = rng.standard_normal((5, 4)) * 1e39
        out = self.out()
        r = run("--rdms", path, "--brain", "brain", "--features", feats, "--distance", "euclidean", "--bootstrap", "0",
                "--permutations", "0", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {(row["model"], row["subject"]): row for row in read_csv(out)}
        for name, x in (("fine", fine), ("huge", None)):
            with h5py.File(feats) as f:
                x = f[name][()]
            m = ((x[:, None] - x[None]) ** 2).sum(-1) / 4
            want = ref.compare(ref.upper(m), ref.upper(brain["a"]), "corr")
            self.assertAlmostEqual(float(rows[("feats/" + name, "a")]["similarity"]), want, delta=1e-7, msg=name)
        out = self.out()
        r = run("--rdms", path, "--brain", "brain", "--features", feats + ":one", "--bootstrap", "0",
                "--permutations", "0", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("model feats/one: its RDM is undefined (correlation distance over 1 channel (needs at least 3", r.stdout)
        self.assertEqual({row["similarity"] for row in read_csv(out)}, {""})

    def test_refused(self):
        """Duplicate model names and a subject named 'mean' are refused (exit 2, nothing written)."""
        good = self.models_like("a")
        path = self.rsa_file({"m": good}, {"a": good, "mean": self.models_like("b")})
        path2 = self.rsa_file({"m": good}, {"a": good, "b": self.models_like("b")})
        for args, pattern in (
                (["--rdms", path2, "--brain", "brain", "--model", "m", "--model", "m"], r"the model 'm' is given twice"),
                (["--rdms", path, "--brain", "brain", "--model", "m"], r"--brain 'brain': a subject named 'mean'")):
            out = os.path.join(self.d, "never.csv")
            r = run(*args, "--save-rdms", os.path.join(self.d, "never.h5"), "--out", out)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertRegex(r.stderr, pattern)
            self.assertFalse(os.path.exists(out) or os.path.exists(os.path.join(self.d, "never.h5")))


if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv.pop(1))
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        RSA92 = sys.argv.pop(1)
    unittest.main(verbosity=2)
