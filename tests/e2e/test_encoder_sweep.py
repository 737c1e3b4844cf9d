#!/usr/bin/python3
"""Trained encoders through the sweep (issue #23, docs/trained-encoders.md).

- Known answer: a synthetic dataset made by a planted affine encoder (two feature streams, a 31-TR
  temporal kernel whose weight spreads over lags 0-15 TRs, a shared head plus one head per subject, 4
  subjects, noise): the trained encoder's held-out r approaches the planted r and beats the best ridge
  job of the same sweep (stimulus_window up to 5, hrf_delay 0 or 3); stitch on a validation episode
  mixes both kinds, and `stitch --select cv` refuses the encoder jobs.
- The same plan on 1, 2 and 3 MPI ranks, and after a unit is removed and rerun: results.csv identical.
- Bad input: an early-stopping set the sweep lacks, a stream whose width differs between episodes,
  non-finite features, a learning rate that makes the loss overflow.

Usage: test_encoder_sweep.py BRAINSWEEP
"""
import os
import re
import subprocess
import sys
import unittest

import h5py
import numpy as np

import e2e_util as e2e  # noqa: E402  (the directory of this script is on sys.path)

BIN = None
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
S, P = 4, 20
SUBJECTS = [f"sub-0{i}" for i in range(1, S + 1)]
LENGTHS = {**{f"run{i}": 300 for i in range(1, 7)}, "val1": 300, "test1": 300}


def bs(*args, ranks=0):
    cmd = ([BIN] if ranks == 0 else ["mpirun", "-n", str(ranks), BIN]) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV)


def planted_kernel(k=31):
    """Per latent channel, weights over the 31 taps: 0 on the future (taps > 15), a hump at lag 5 and a
    slow tail to lag 15 on the past (tap 15 - lag)."""
    lags = np.arange(16)
    w = np.exp(-0.5 * ((lags - 5) / 2.5) ** 2) + 0.5 * np.exp(-lags / 8.0)
    kern = np.zeros(k)
    kern[15 - lags] = w
    return kern / np.abs(kern).sum()


def conv_same(x, kern):
    """Cross-correlation with zero 'same' padding along time (rows), per column: y[t] = Σ_j k[j] x[t + j - 15]."""
    T, k = len(x), len(kern)
    pad = np.vstack([np.zeros((k // 2, x.shape[1])), x, np.zeros((k // 2, x.shape[1]))])
    return sum(kern[j] * pad[j:j + T] for j in range(k))


def make_dataset(root, noise=1.0, seed=7):
    """Features of two streams (12 and 8 columns, smoothed noise) and fMRI of 4 subjects; returns the
    sweep path and the planted r (mean over subjects and parcels on test1)."""
    rng = np.random.default_rng(seed)
    wa, wb = rng.standard_normal((12, 4)), rng.standard_normal((8, 4))
    shared, own = rng.standard_normal((4, P)), [0.5 * rng.standard_normal((4, P)) for _ in range(S)]
    kern = planted_kernel()
    feats, signal = {}, {}
    for ep, T in LENGTHS.items():
        a = conv_same(rng.standard_normal((T, 12)), np.ones(3) / 3)
        b = conv_same(rng.standard_normal((T, 8)), np.ones(3) / 3)
        feats[ep] = {"a": a, "b": b}
        z = conv_same(a @ wa, kern) + conv_same(b @ wb, kern)
        signal[ep] = [z @ (shared + own[s]) for s in range(S)]
    scale = np.mean([np.std(signal["run1"][s]) for s in range(S)])
    planted = []
    for s, sub in enumerate(SUBJECTS):
        os.makedirs(os.path.join(root, "fmri", sub))
        with h5py.File(os.path.join(root, "fmri", sub, f"{sub}_bold.h5"), "w") as f:
            for ep, T in LENGTHS.items():
                clean = signal[ep][s] / scale
                y = clean + noise * rng.standard_normal((T, P))
                f[f"ses-001_task-{ep}"] = y.astype("f4")
                if ep == "test1":
                    planted += [np.corrcoef(clean[:, j], y[:, j])[0, 1] for j in range(P)]
            f.attrs["parcel_names"] = np.array([f"p{k:02d}".encode() for k in range(P)])
    e2e.write_flat_features(root, feats)
    desc = e2e.flat_descriptor(root, "planted", 1.49)
    sweep = os.path.join(root, "sweep.yaml")
    with open(sweep, "w") as f:
        f.write(f"""dataset: {desc}
atlas: none
subjects: [{", ".join(SUBJECTS)}]
features:
  - {{model: a, layers: [x]}}
  - {{model: b, layers: [x]}}
  - bands:
      - {{model: a, layers: [x]}}
      - {{model: b, layers: [x]}}
    scalings: {{samples: 0}}
grid: {{hrf_delay: [0, 3], stimulus_window: [1, 3, 5]}}
ridge: {{folds: 3}}
train: [run1, run2, run3, run4, run5, run6]
eval: {{val: [val1], test: [test1]}}
encoder:
  features:
    - [{{model: a, layers: [x]}}, {{model: b, layers: [x]}}]
  early_stopping: val
  kernel_size: 31
  embed_dim: 16
  lr: 3e-3
  weight_decay: 0.01
  num_samples: 512
  sample_length: 64
  batch_size: 16
  epochs: 12
  patience: 2
  threads: 1
""")
    return sweep, float(np.mean(planted))


def mean_eval(csv_path):
    """(job_id, model, layers, window, delay) → mean test r over subjects and parcels."""
    out = {}
    for row in e2e.read_csv(csv_path):
        if row["eval_set"] != "test":
            continue
        key = (row["model"], row["layers"], row["stimulus_window"], row["hrf_delay"])
        out.setdefault(key, []).append(float(row["eval_r"]))
    return {k: float(np.mean(v)) for k, v in out.items()}


class EncoderSweep(e2e.TempDirTest):
    def setUp(self):
        super().setUp()
        self.sweep, self.planted = make_dataset(os.path.join(self.d, "data"))

    def test_known_answer_against_ridge_and_planted(self):
        run = os.path.join(self.d, "run")
        g = bs("generate", self.sweep, "--out", run)
        self.assertEqual(g.returncode, 0, g.stderr)
        self.assertIn("trained-encoder jobs in 1 units", g.stdout)
        r = bs("run", run, ranks=2)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr + r.stdout, r"epoch \d+/12")
        scores = mean_eval(os.path.join(run, "results.csv"))
        enc = [v for k, v in scores.items() if k[0] == "encoder"]
        ridge = {k: v for k, v in scores.items() if k[0] != "encoder"}
        best_key = max(ridge, key=ridge.get)
        print(f"planted r {self.planted:.4f}; trained encoder {enc[0]:.4f}; best ridge job {ridge[best_key]:.4f} "
              f"({best_key[0]}/{best_key[1]} w{best_key[2]} d{best_key[3]}); {len(ridge)} ridge jobs")
        self.assertEqual(len(enc), 1)
        self.assertGreater(enc[0], ridge[best_key] + 0.05)
        self.assertGreater(enc[0], 0.85 * self.planted)
        self.assertLessEqual(enc[0], self.planted + 0.02)
        # the job files: curve, weights, no alpha / CV score
        rows = [x for x in e2e.read_csv(os.path.join(run, "results.csv")) if x["model"] == "encoder"]
        self.assertEqual({x["alpha"] for x in rows} | {x["cv_r"] for x in rows}, {""})
        with h5py.File(os.path.join(run, "jobs", rows[0]["job_id"] + ".h5")) as f:
            loss, val_r = f["encoder/loss"][()], f["encoder/val_r"][()]
            best = int(f.attrs["encoder_best_epoch"])
            self.assertEqual(len(loss), 32 * int(f.attrs["encoder_epochs_run"]))
            self.assertEqual(best, int(np.argmax(val_r)))
            self.assertLess(loss[-32:].mean(), loss[:32].mean())
            self.assertEqual(f["encoder/weights/feat_embeds.0.conv.weight"].shape[0], 16 * 31)
            self.assertIn("encoder/weights/subject_decoders.0.weight", f)
            self.assertNotIn("encoder/weights/subject_decoders.1.weight", f)
        # the Python reader: encoder rows with NaN alpha and cv_r, the columns stay numeric
        sys.path.insert(0, os.path.join(os.path.dirname(BIN), "python"))
        import brainsweep
        df = brainsweep.read_results(run)
        self.assertEqual(df.alpha.dtype.kind, "f")
        self.assertTrue(df[df.model == "encoder"].alpha.isna().all() and df[df.model != "encoder"].alpha.notna().all())
        self.assertAlmostEqual(df[df.model == "encoder"].r_test.mean(), enc[0], places=6)
        # stitch: both kinds compete per parcel on val, scored on test; cv refused
        st = bs("stitch", run, "--select", "val", "--eval", "test", "--top-k", "1")
        self.assertEqual(st.returncode, 0, st.stderr)
        stitched = float(re.search(r"mean r over parcels and subjects: (-?[0-9.]+)", st.stdout).group(1))
        self.assertGreater(stitched, ridge[best_key] + 0.05)
        self.assertIn("encoder/a/x+b/x", st.stdout)
        cv = bs("stitch", run, "--select", "cv", "--eval", "test")
        self.assertEqual(cv.returncode, 2)
        self.assertIn("trained-encoder jobs", cv.stderr)
        self.assertIn("--select val", cv.stderr)

    def test_ranks_and_resume_give_identical_results(self):
        with open(self.sweep) as f:
            text = f.read()
        with open(self.sweep, "w") as f:  # encoders only, shorter: the identity is what is checked
            f.write(re.sub(r"features:\n  - \{model: a.*?ridge: \{folds: 3\}\n", "ridge: {folds: 3}\n", text, flags=re.S)
                    .replace("epochs: 12", "epochs: [2, 3]"))
        csvs = []
        for ranks in (1, 2, 3):
            run = os.path.join(self.d, f"run{ranks}")
            self.assertEqual(bs("generate", self.sweep, "--out", run).returncode, 0)
            r = bs("run", run, ranks=ranks)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(run, "results.csv")) as f:
                csvs.append(f.read())
        self.assertEqual(csvs[0], csvs[1])
        self.assertEqual(csvs[0], csvs[2])
        self.assertEqual(len(csvs[0].splitlines()), 1 + 2 * S * P * 2)
        # resume: a unit's record and job files removed, the rerun fits exactly it, same bytes
        run = os.path.join(self.d, "run1")
        done = sorted(x for x in os.listdir(os.path.join(run, "units")) if x.endswith(".done"))
        os.remove(os.path.join(run, "units", done[0]))
        with open(os.path.join(run, "units", done[0].replace(".done", ".epoch")), "w") as f:
            f.write("epoch 1/2 val r 0.123456\n")  # what a unit in training leaves
        st = bs("status", run)
        self.assertEqual(st.returncode, 3, st.stderr)
        self.assertRegex(st.stdout, r"pending unit \w+ \(encoder a/x\+b/x k=31 d=16 lr=0.003 \[sub-01,.*\]; training: "
                                    r"epoch 1/2 val r 0.123456\)")
        r = bs("run", run)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("units fitted 1, already done 1", r.stderr + r.stdout)
        self.assertFalse(any(x.endswith(".epoch") for x in os.listdir(os.path.join(run, "units"))))
        with open(os.path.join(run, "results.csv")) as f:
            self.assertEqual(f.read(), csvs[0])

    def test_bad_input(self):
        with open(self.sweep) as f:
            text = f.read()

        def generate(new_text, name):
            path = os.path.join(self.d, f"{name}.yaml")
            with open(path, "w") as f:
                f.write(new_text)
            return bs("generate", path, "--out", os.path.join(self.d, name)), path

        g, path = generate(text.replace("early_stopping: val", "early_stopping: valid"), "stop")
        self.assertEqual(g.returncode, 2)
        self.assertIn(f"{path}:", g.stderr)
        self.assertIn("key 'encoder.early_stopping': 'valid' is not an eval set of this sweep", g.stderr)
        g, _ = generate(text.replace("kernel_size: 31", "kernel_size: 30\n  causal: true"), "causal")
        self.assertEqual(g.returncode, 2)
        self.assertIn("causal: true with an even kernel_size", g.stderr)
        g, _ = generate(text.replace("sample_length: 64", "sample_length: 400"), "long")
        self.assertEqual(g.returncode, 2)
        self.assertIn("key 'encoder.sample_length' 400: training episode", g.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.d, "long")))
        # a stream whose width differs in one episode
        fpath = os.path.join(self.d, "data", "features", "b", "s", "g", "s_run3.h5")
        with h5py.File(fpath, "a") as f:
            x = f["x"][()]
            del f["x"]
            f["x"] = np.hstack([x, x[:, :1]])
        g, _ = generate(text, "width")
        self.assertEqual(g.returncode, 2)
        self.assertIn("s_run3.h5: dataset 'x' has 9 columns", g.stderr)
        with h5py.File(fpath, "a") as f:
            del f["x"]
            x[5, 2] = np.nan
            f["x"] = x
        # non-finite features: refused when the unit reads them (exit 2), no job file of the unit written
        enc_only = re.sub(r"features:\n  - \{model: a.*?ridge: \{folds: 3\}\n", "ridge: {folds: 3}\n", text, flags=re.S)
        g, _ = generate(enc_only, "nan")
        self.assertEqual(g.returncode, 0, g.stderr)
        r = bs("run", os.path.join(self.d, "nan"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("s_run3.h5: dataset 'x': non-finite value (nan) at row 5, column 2", r.stderr)
        self.assertEqual(os.listdir(os.path.join(self.d, "nan", "jobs")), [])
        with h5py.File(fpath, "a") as f:
            x[5, 2] = 0
            f["x"][...] = x
        # a learning rate that makes the loss overflow: a failed unit (exit 1), named
        g, _ = generate(enc_only.replace("lr: 3e-3", "lr: 1e30"), "nanloss")
        self.assertEqual(g.returncode, 0, g.stderr)
        r = bs("run", os.path.join(self.d, "nanloss"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"the (training loss became|validation score of epoch \d+ is) (NaN|[+-]Inf)")


if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv[1])
    unittest.main(argv=sys.argv[:1], verbosity=2)
