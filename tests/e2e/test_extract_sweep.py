#!/usr/bin/env python3
"""A sweep that starts from stimuli (issue #6): extract → generate → run → stitch on a small
synthetic movie. Six 60 s episodes (ffmpeg's `life` source, Friends layout) → features from two tiny
TorchScript models (2 MPI ranks, split by episode) → fMRI of 2 subjects × 20 parcels planted from
the image model's features (hrf_delay 3, noise) → sweep over both models → stitch: the image
model must win and recover the planted signal on the held-out episode.
Usage: test_extract_sweep.py BRAINSWEEP"""
import csv
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "extract"))
import tiny_models as tm  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EPISODES = ["s01e01a", "s01e01b", "s01e02a", "s01e02b", "s01e03a", "s01e03b"]
ATLAS = "Schaefer18_parcel-1000Par7Net"
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
for k, v in (("OMPI_ALLOW_RUN_AS_ROOT", "1"), ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"), ("OMPI_MCA_btl", "self,vader"),
             ("OMPI_MCA_rmaps_base_oversubscribe", "1")):
    ENV.setdefault(k, v)


def sh(*args):
    r = subprocess.run(list(args), capture_output=True, text=True, env=ENV)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit(f"FAIL: {' '.join(args[:4])} exited {r.returncode}")
    return r.stdout


def main():
    with tempfile.TemporaryDirectory() as root:
        movies = f"{root}/stimuli/movies/friends/s1"
        os.makedirs(movies)
        for i, ep in enumerate(EPISODES):
            sh("ffmpeg", "-v", "error", "-f", "lavfi", "-i",
               f"life=size=48x32:rate=4:seed={i + 1}:ratio=0.3:mold=25:life_color=#ff8020:death_color=#2040c0",
               "-t", "60", "-c:v", "libx264", "-pix_fmt", "yuv420p", f"{movies}/friends_{ep}.mkv")
        os.makedirs(f"{root}/models")
        tm.save(tm.make("image"), f"{root}/models/image.pt", None)
        tm.save(tm.make("video"), f"{root}/models/video.pt", torch.randn(1, 2, 3, 16, 16), traced=True)
        for name, layers, pool, layout in (("image", "[features]", "{mode: mean, channel_dim: 1}", "frames"),
                                           ("video", "[blocks.1]", "{mode: mean}", "BTCHW")):
            with open(f"{root}/{name}.yaml", "w") as f:
                f.write(f"""name: {name}
model: {{path: {root}/models/{name}.pt, threads: 1, batch_size: 16}}
layers: {layers}
pool: {pool}
tr: 1.49
video: {{frames_per_chunk: 2, size: [16, 16], layout: {layout}}}
stimuli: [{{stimset: friends, group: s1, files: "{movies}/*.mkv"}}]
out: {root}/features
""")
            sh("mpirun", "-n", "2", BIN, "extract", f"{root}/{name}.yaml")
        # fMRI planted from the image features: y[s] = F[clamp(s - 3)] W + noise, 40 TRs per episode
        rng = np.random.default_rng(7)
        n_tr, n_parcels = 40, 20
        for si, sub in enumerate(["sub-01", "sub-02"]):
            w = rng.standard_normal((6, n_parcels))
            d = f"{root}/fmri/{sub}/func"
            os.makedirs(d)
            path = f"{d}/{sub}_task-friends_space-MNI152NLin2009cAsym_atlas-{ATLAS}_desc-s123456_bold.h5"
            with h5py.File(path, "w") as f:
                for ep in EPISODES:
                    with h5py.File(f"{root}/features/image/friends/s1/friends_{ep}.h5") as ff:
                        x = ff["features"][()].astype(np.float64)
                    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
                    rows = np.clip(np.arange(n_tr) - 3, 0, len(x) - 1)
                    signal = x[rows] @ w
                    y = signal / signal.std(0) + 0.7 * rng.standard_normal((n_tr, n_parcels))
                    f[f"ses-001_task-{ep}"] = y.astype(np.float32)
        with open(f"{root}/sweep.yaml", "w") as f:
            f.write(f"""dataset: {SRC}/configs/datasets/algonauts2025.yaml
dataset_root: {root}
atlas: {ATLAS}
subjects: [sub-01, sub-02]
features:
  - {{model: image, layers: [features]}}
  - {{model: video, layers: [blocks.1]}}
grid: {{hrf_delay: [3], stimulus_window: [1]}}
train: [s01e01a, s01e01b, s01e02a, s01e02b]
eval: {{val: [s01e03a], test: [s01e03b]}}
""")
        sh(BIN, "generate", f"{root}/sweep.yaml", "--out", f"{root}/run")
        sh("mpirun", "-n", "2", BIN, "run", f"{root}/run")
        print(sh(BIN, "stitch", f"{root}/run", "--select", "val", "--top-k", "1", "--eval", "test"))
        jobs = {j["job_id"]: j for j in json.load(open(f"{root}/run/plan.json"))["jobs"]}
        rows = list(csv.DictReader(open(f"{root}/run/stitched/scores.csv")))
        r = np.array([float(x["r"]) for x in rows])
        won = np.mean([jobs[x["job_ids"]]["model"] == "image" for x in rows])
        print(f"{len(rows)} subject-parcels: stitched test r mean {r.mean():.3f} (min {r.min():.3f}); "
              f"the image model (planted) wins {won:.0%}")
        assert len(rows) == 2 * n_parcels, len(rows)
        assert won >= 0.9, "the planted model does not win"
        assert r.mean() > 0.5, "the planted signal is not recovered on the held-out episode"
        print("ok")


if __name__ == "__main__":
    main()
