#!/usr/bin/python3
"""Trained encoders on real fMRI (issue #23, docs/trained-encoders.md "Sherlock: encoder against ridge").

Sherlock, 8 subjects, the roi6 atlas: encoders (annotations; annotations + LSA) trained on scan 1 and
early-stopped on its last 20 %, a ridge job beside them, every model scored on scan 2. Checked:
- results.csv is byte-identical on 1, 2 and 3 MPI ranks (OpenBLAS on one thread per rank);
- each encoder job's scan-2 r in results.csv is numpy's Pearson r of the job file's scan-2 predictions
  against the dataset's fMRI (data/sherlock/fmri/<subject>/func/…_atlas-roi6_bold.h5);
- the encoders predict the auditory ROI on held-out data (mean r over subjects > 0.15: the bench
  measured 0.27-0.29 with MedARC's 10 epochs; 2 epochs here) and the training curve and best epoch
  in the job file are those of early stopping (best epoch = argmax of val_r).

Usage: test_encoder_sherlock.py BRAINSWEEP SHERLOCK_DIR
"""
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np
import pandas as pd

BIN = SHERLOCK = None
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
SUBJECTS = [f"sub-0{i}" for i in range(1, 9)]


def pearson_columns(a, b):
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


class EncoderSherlock(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="brainsweep-encoder-sherlock-")
        cls.sweep = os.path.join(cls.tmp.name, "sweep.yaml")
        with open(cls.sweep, "w") as f:
            f.write(f"""dataset: {SOURCE}/configs/datasets/sherlock.yaml
dataset_root: {SHERLOCK}
atlas: roi6
subjects: [{", ".join(SUBJECTS)}]
features:
  - {{model: description_lsa, layers: [lsa64]}}
grid: {{hrf_delay: [0], stimulus_window: [5]}}
ridge: {{folds: 5}}
train: [sherlock01]
eval: {{test: [sherlock02]}}
encoder:
  features:
    - [{{model: annotations, layers: [all]}}]
    - [{{model: annotations, layers: [all]}}, {{model: description_lsa, layers: [lsa64]}}]
  early_stopping: {{holdout: 0.2}}
  epochs: 2
  num_samples: 1000
  threads: 1
""")
        cls.csv = {}
        for ranks in (1, 2, 3):
            run = os.path.join(cls.tmp.name, f"run{ranks}")
            r = subprocess.run([BIN, "generate", cls.sweep, "--out", run], capture_output=True, text=True, env=ENV)
            assert r.returncode == 0, r.stderr + r.stdout
            cmd = [BIN, "run", run] if ranks == 1 else ["mpirun", "-n", str(ranks), BIN, "run", run]
            r = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
            assert r.returncode == 0, r.stderr + r.stdout
            with open(os.path.join(run, "results.csv")) as f:
                cls.csv[ranks] = f.read()
        cls.run_dir = os.path.join(cls.tmp.name, "run1")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_identical_on_1_2_3_ranks(self):
        self.assertEqual(self.csv[1], self.csv[2])
        self.assertEqual(self.csv[1], self.csv[3])
        d = pd.read_csv(os.path.join(self.run_dir, "results.csv"))
        # 8 subjects × 6 ROIs × (2 encoders + 1 ridge job) on the one eval set
        self.assertEqual(len(d), 8 * 6 * 3)
        self.assertEqual(sorted(d.model.unique()), ["description_lsa", "encoder"])

    def test_scores_are_pearson_of_the_stored_predictions(self):
        d = pd.read_csv(os.path.join(self.run_dir, "results.csv"))
        enc = d[d.model == "encoder"]
        checked = 0
        for job_id, g in enc.groupby("job_id"):
            with h5py.File(os.path.join(self.run_dir, "jobs", f"{job_id}.h5"), "r") as jf:
                subject = jf.attrs["subject"]
                subject = subject.decode() if isinstance(subject, bytes) else subject
                names = [n.decode() if isinstance(n, bytes) else n for n in jf.attrs["parcel_names"]]
                pred = np.asarray(jf["predictions/sherlock02"][()], dtype=np.float64)
                val_r = jf["encoder/val_r"][()]
                self.assertEqual(int(jf.attrs["encoder_best_epoch"]), int(np.argmax(val_r)))
                self.assertEqual(len(jf["encoder/loss"][()]), 2 * int(np.ceil(1000 / 16)))
            path = os.path.join(SHERLOCK, "fmri", subject, "func",
                                f"{subject}_task-sherlock_space-MNI152_atlas-roi6_bold.h5")
            with h5py.File(path, "r") as ff:
                y = np.asarray(ff["ses-001_task-sherlock02"][()], dtype=np.float64)
            n = min(len(y), len(pred))
            r = pearson_columns(pred[:n], y[:n])
            got = g.set_index("parcel").eval_r
            for i, name in enumerate(names):
                self.assertAlmostEqual(got[name], r[i], delta=2e-4, msg=f"{job_id} {name}")
                checked += 1
        self.assertEqual(checked, 2 * 8 * 6)

    def test_encoders_predict_auditory_cortex_on_scan_2(self):
        d = pd.read_csv(os.path.join(self.run_dir, "results.csv"))
        enc = d[(d.model == "encoder") & (d.parcel == "aud_early")]
        means = enc.groupby("layers").eval_r.mean()
        print("encoder scan-2 r on aud_early (mean over 8 subjects):", means.round(4).to_dict())
        self.assertEqual(len(means), 2)
        self.assertTrue((means > 0.15).all(), means)


if __name__ == "__main__":
    BIN, SHERLOCK = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0], "-v"])
