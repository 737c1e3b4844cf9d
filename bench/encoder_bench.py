#!/usr/bin/python3
"""Time per training configuration of the trained encoder at MedARC's default size (issue #23,
docs/trained-encoders.md#speed): 5 streams of widths 3072, 1280, 2048, 5120, 1408; 4 subjects × 1000
parcels; d 192, k 45; batches of 16 × 64-TR windows; 3,492,296 parameters. brainsweep (libtorch, via
tests/encoder/reference_driver.cpp) and the PyTorch reference (tests/reference/trained_encoder_reference.py)
train the same steps from the same weights on the same synthetic data and threads; the time of the
later steps (the first one warms up) is extrapolated to MedARC's 1250 steps (10 epochs of 125). Also
prints each process's peak RSS. Not a test.

Usage: bench/encoder_bench.py [--build build] [--threads 2] [--steps 21] [--episodes 10] [--trs 400] [--repeats 4]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
DIMS = (3072, 1280, 2048, 5120, 1408)
S, P, D, K, B, L = 4, 1000, 192, 45, 16, 64


def write_input(path, steps, episodes, trs, seed=0):
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        for key, val in dict(embed_dim=D, kernel_size=K, causal=0, positive=0, tied=0, shared_head=1,
                             subject_heads=1, n_subjects=S, n_parcels=P, n_streams=len(DIMS), sample_length=L).items():
            f.attrs[key] = np.int64(val)
        f.attrs["lr"], f.attrs["weight_decay"] = np.float64(3e-4), np.float64(0.1)
        for i, dim in enumerate(DIMS):
            f[f"init/feat_embeds.{i}.fc.weight"] = (0.02 * rng.standard_normal((D, dim))).astype(np.float32)
            f[f"init/feat_embeds.{i}.fc.bias"] = np.zeros(D, np.float32)
            f[f"init/feat_embeds.{i}.conv.weight"] = (0.02 * rng.standard_normal((D, 1, K))).astype(np.float32)
            f[f"init/feat_embeds.{i}.conv.bias"] = np.zeros(D, np.float32)
        f["init/shared_decoder.weight"] = (0.02 * rng.standard_normal((P, D))).astype(np.float32)
        f["init/shared_decoder.bias"] = np.zeros(P, np.float32)
        for s in range(S):
            f[f"init/subject_decoders.{s}.weight"] = (0.02 * rng.standard_normal((P, D))).astype(np.float32)
            f[f"init/subject_decoders.{s}.bias"] = np.zeros(P, np.float32)
        names = [f"ep{i:03d}" for i in range(episodes)]
        f.create_dataset("train_episodes", data=names, dtype=h5py.string_dtype())
        for name in names:
            f[f"train/{name}/fmri"] = rng.standard_normal((S, trs, P)).astype(np.float32)
            for i, dim in enumerate(DIMS):
                f[f"train/{name}/stream{i}"] = rng.standard_normal((trs, dim)).astype(np.float32)
        f["schedule"] = np.stack([rng.integers(0, episodes, (steps, B)), rng.integers(0, trs - L + 1, (steps, B))], -1)




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=21)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--trs", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=4)
    a = ap.parse_args()
    driver = os.path.join(os.path.abspath(a.build), "tests", "brainsweep_encoder_driver")
    reference = os.path.join(SOURCE, "tests", "reference", "trained_encoder_reference.py")
    # Both processes get `threads` cores: OpenBLAS (the GEMMs) on `threads`; brainsweep runs libtorch's
    # own ops on one thread (conv_encoder.cpp), PyTorch is timed both ways and its faster setting counts.
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.h5")
        write_input(src, a.steps, a.episodes, a.trs)
        results = {}
        runs = (("brainsweep", [driver, src, os.path.join(d, "bs.h5"), str(D), str(K), "0", "0", "0", "1",
                                "1", "3e-4", "0.1", str(S), str(P), str(len(DIMS)), str(L), str(a.threads)]),
                ("PyTorch", ["/usr/bin/python3", reference, src, os.path.join(d, "ref.h5")]),
                ("PyTorch-1", ["/usr/bin/python3", reference, src, os.path.join(d, "ref1.h5")]))
        torch_threads = {"PyTorch": a.threads, "PyTorch-1": 1, "brainsweep": a.threads}
        # Alternating order, each `--repeats` times; the fastest time per step of each (a shared
        # machine's load moves single runs by ±20 %).
        for rep in range(a.repeats):
            for name, cmd in (runs if rep % 2 == 0 else runs[::-1]):
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=dict(env, REFERENCE_THREADS=str(torch_threads[name])))
                _, status, usage = os.wait4(proc.pid, 0)
                out, err = proc.stdout.read(), proc.stderr.read()
                if status != 0:
                    sys.exit(f"{name} failed:\n{err}")
                m = re.search(r"timing: steps (\d+), first step ([\d.]+) s, later steps ([\d.]+) s", out)
                later = float(m.group(3)) / (int(m.group(1)) - 1)
                prev = results.get(name, (float("inf"), 0.0))
                results[name] = (min(prev[0], later), max(prev[1], usage.ru_maxrss / 1024))
        with h5py.File(os.path.join(d, "bs.h5")) as f, h5py.File(os.path.join(d, "ref.h5")) as g:
            dloss = np.abs(f["loss"][()] / g["loss"][()] - 1).max()
    print(f"MedARC default size: {len(DIMS)} streams {DIMS}, {S} subjects × {P} parcels, d {D}, k {K}, "
          f"batch {B} × {L} TRs, 3,492,296 parameters; {a.threads} threads; {a.steps} steps timed after the first, "
          f"fastest of {a.repeats} alternating runs each")
    for name, (step, rss) in results.items():
        label = {"PyTorch": f"PyTorch, {a.threads} torch threads", "PyTorch-1": "PyTorch, 1 torch thread"}.get(name, name)
        print(f"  {label:<28} {1000 * step:8.1f} ms per step → {1250 * step:7.1f} s per configuration (1250 steps); "
              f"peak RSS {rss:.0f} MB")
    best = min(results["PyTorch"][0], results["PyTorch-1"][0])
    ratio = results["brainsweep"][0] / best
    print(f"  brainsweep / PyTorch's faster setting, time per step: {ratio:.3f}; loss curves agree to {dloss:.1e} "
          "(relative)")


if __name__ == "__main__":
    main()
