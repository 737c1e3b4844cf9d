#!/usr/bin/python3
"""Odd-one-out speed (issue #13 §4): `brainsweep odd-one-out` against a vectorised numpy
implementation of the same computation (METRICS.md §3), on one core, for 100 000 triplets of the
THINGS items with the VICE embedding (1854 × 42) and 1000 bootstrap resamples.

numpy: the three pair similarities with einsum, argmax, then the bootstrap as numpy users write it
(rng.integers(n, size=(chunk, n)) indices, the mean of the correct flags they pick), 100 resamples
at a time; the human ceiling with np.unique. brainsweep: the command's own compute time (--timings:
reading excluded) and its process wall time. Both run on one thread (OPENBLAS_NUM_THREADS=1).

Usage: bench/odd_one_out_bench.py [--build build] [--triplets 100000] [--bootstrap 1000] [--repeats 3]
       [--things ../shared/data/things_triplets]
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"
import numpy as np  # noqa: E402


def numpy_odd_one_out(E, items, choice, bootstrap, seed):
    t0 = time.perf_counter()
    a, b, c = E[items[:, 0]], E[items[:, 1]], E[items[:, 2]]
    s = np.stack([np.einsum("ij,ij->i", a, b), np.einsum("ij,ij->i", a, c), np.einsum("ij,ij->i", b, c)], axis=1)
    odd = 2 - np.argmax(s, axis=1)
    correct = (odd == choice).astype(np.float64)
    t1 = time.perf_counter()
    rng = np.random.default_rng(seed)
    n = len(correct)
    acc = []
    for start in range(0, bootstrap, 100):
        idx = rng.integers(0, n, size=(min(100, bootstrap - start), n))
        acc.append(correct[idx].mean(axis=1))
    acc = np.concatenate(acc)
    sd, lo, hi = acc.std(ddof=1), *np.percentile(acc, [2.5, 97.5])
    t2 = time.perf_counter()
    key = np.sort(items, axis=1)
    chosen = items[np.arange(n), choice]
    _, tri = np.unique(key, axis=0, return_inverse=True)
    _, cnt = np.unique(np.stack([tri, chosen], axis=1), axis=0, return_counts=True)
    t3 = time.perf_counter()
    return correct.mean(), sd, lo, hi, (t1 - t0, t2 - t1, t3 - t2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--triplets", type=int, default=100000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--things", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                     "things_triplets"))
    args = ap.parse_args()
    emb = os.path.join(args.things, "embedding_vice42.npy")
    E = np.ascontiguousarray(np.load(emb), dtype=np.float64)
    rng = np.random.default_rng(0)
    n = args.triplets
    items = np.stack([rng.choice(len(E), 3, replace=False) for _ in range(n // 4)])
    items = items[rng.integers(0, len(items), n)]  # each triplet about 4 times: a human ceiling exists
    choice = rng.integers(0, 3, n)
    print(f"odd-one-out: {n} triplets ({len(np.unique(np.sort(items, 1), axis=0))} distinct) of {len(E)} items × "
          f"{E.shape[1]} dimensions, {args.bootstrap} bootstrap resamples, one thread")
    with tempfile.TemporaryDirectory() as d:
        tsv = os.path.join(d, "t.tsv")
        with open(tsv, "w") as f:
            f.write("item_a\titem_b\titem_c\todd_one_out\n")
            for (a, b, c), h in zip(items + 1, choice + 1):
                f.write(f"{a}\t{b}\t{c}\t{h}\n")
        bs_compute, bs_wall, np_total = [], [], []
        for rep in range(args.repeats):
            out = os.path.join(d, f"o{rep}.csv")
            t0 = time.perf_counter()
            r = subprocess.run([os.path.join(args.build, "brainsweep"), "odd-one-out", "--embedding", emb, "--triplets",
                                tsv, "--bootstrap", str(args.bootstrap), "--out", out, "--timings"],
                               check=True, capture_output=True, text=True)
            bs_wall.append(time.perf_counter() - t0)
            j = json.loads(next(line for line in r.stdout.splitlines() if line.startswith("{")))
            bs_compute.append(j["compute_s"])
            acc, sd, lo, hi, parts = numpy_odd_one_out(E, items, choice, args.bootstrap, rep)
            np_total.append(sum(parts))
            print(f"  repeat {rep + 1}: brainsweep {bs_compute[-1]:.3f} s computing ({bs_wall[-1]:.3f} s process, "
                  f"reading the TSV included); numpy {np_total[-1]:.3f} s (similarities {parts[0]:.3f}, bootstrap "
                  f"{parts[1]:.3f}, ceiling {parts[2]:.3f})", flush=True)
        with open(out) as f:
            row = dict(zip(*[line.strip().split(",") for line in f]))
        med = lambda v: float(np.median(v))  # noqa: E731
        print(f"median: brainsweep {med(bs_compute):.3f} s computing, {med(bs_wall):.3f} s process; numpy "
              f"{med(np_total):.3f} s; numpy / brainsweep computing = {med(np_total) / med(bs_compute):.1f}×, "
              f"/ process = {med(np_total) / med(bs_wall):.1f}×")
        print(f"accuracy: brainsweep {float(row['accuracy']):.6f}, numpy {acc:.6f}; bootstrap SD {float(row['bootstrap_sd']):.5f} "
              f"vs {sd:.5f} (different resampling streams)")


if __name__ == "__main__":
    main()
