#!/usr/bin/python3
"""Trained encoders against ridge on Sherlock (docs/trained-encoders.md): 8 subjects, trained on scan 1
(sherlock01), every model scored on scan 2 (sherlock02), which no model sees while training or
stopping. Ridge: the five feature sets of sweeps/sherlock.yaml at stimulus_window 1, 3 and 5 (alpha
per parcel by 5-fold CV on scan 1). Encoder: MedARC's defaults (d 192, k 45, AdamW 3e-4 / 0.1, 16 × 64-TR
windows, 2000 per epoch, at most 10 epochs), early-stopped on the last 20 % of scan 1 (`early_stopping:
{holdout: 0.2}`), on three feature sets. Prints, per ROI (mean over subjects and parcels of scan 2's r):
the encoders, the ridge job with the best mean CV r, and the best ridge job by scan 2 itself (an
optimistic bound for ridge: chosen on the test data).

Usage: bench/encoder_sherlock.py [--atlas roi6|pmc481] [--build build] [--ranks 2] [--keep DIR]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--atlas", default="roi6")
    ap.add_argument("--build", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--keep", help="run directory to keep (default: a temporary one)")
    a = ap.parse_args()
    binary = os.path.join(os.path.abspath(a.build), "brainsweep")
    sherlock = os.path.abspath(os.path.join(SOURCE, "..", "shared", "data", "sherlock"))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader",
               OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        run = a.keep or os.path.join(tmp, "run")
        sweep = os.path.join(tmp, "sweep.yaml")
        with open(sweep, "w") as f:
            f.write(f"""dataset: {SOURCE}/configs/datasets/sherlock.yaml
dataset_root: {sherlock}
atlas: {a.atlas}
subjects: [sub-01, sub-02, sub-03, sub-04, sub-05, sub-06, sub-07, sub-08]
features:
  - {{model: annotations, layers: [all]}}
  - {{model: annotations, layers: [speech]}}
  - {{model: annotations, layers: [scene]}}
  - {{model: description_lsa, layers: [lsa64]}}
  - {{model: topic_model, layers: [t100]}}
grid: {{hrf_delay: [0], stimulus_window: [1, 3, 5]}}
ridge: {{folds: 5}}
train: [sherlock01]
eval: {{test: [sherlock02]}}
encoder:
  features:
    - [{{model: annotations, layers: [all]}}]
    - [{{model: annotations, layers: [all]}}, {{model: description_lsa, layers: [lsa64]}}]
    - [{{model: annotations, layers: [all]}}, {{model: description_lsa, layers: [lsa64]}}, {{model: topic_model, layers: [t100]}}]
  early_stopping: {{holdout: 0.2}}
  threads: 1
""")
        subprocess.run([binary, "generate", sweep, "--out", run], check=True, env=env, stdout=subprocess.DEVNULL)
        t0 = time.time()
        r = subprocess.run(["mpirun", "-n", str(a.ranks), binary, "run", run], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(r.stderr)
        seconds = time.time() - t0
        d = pd.read_csv(os.path.join(run, "results.csv"))
        d = d[d.eval_set == "test"].copy()
        d["roi"] = d.parcel if a.atlas == "roi6" else "pmc (481 voxels)"
        d["set"] = d.model + "/" + d.layers + " w" + d.stimulus_window.astype(str)
        enc = d[d.model == "encoder"]
        ridge = d[d.model != "encoder"]
        by_cv = ridge.groupby("set").cv_r.mean().idxmax()
        rows = []
        for roi, g in d.groupby("roi", sort=False):
            row = {"roi": roi}
            for name, eg in enc[enc.roi == roi].groupby("layers"):
                row["encoder " + name] = eg.eval_r.mean()
            rg = ridge[ridge.roi == roi]
            row[f"ridge, best CV ({by_cv})"] = rg[rg.set == by_cv].eval_r.mean()
            best = rg.groupby("set").eval_r.mean()
            row["ridge, best on scan 2 (optimistic)"] = best.max()
            row["that job"] = best.idxmax()
            rows.append(row)
        table = pd.DataFrame(rows)
        mean = {c: table[c].mean() for c in table.columns if c not in ("roi", "that job")}
        mean["roi"] = "mean"
        table = pd.concat([table, pd.DataFrame([mean])], ignore_index=True)
        pd.set_option("display.width", 250)
        pd.set_option("display.max_columns", 20)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"\n{len(ridge.job_id.unique())} ridge jobs, {len(enc.job_id.unique())} encoder jobs; run on {a.ranks} ranks "
              f"in {seconds:.1f} s ({a.atlas})")


if __name__ == "__main__":
    main()
