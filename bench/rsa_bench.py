#!/usr/bin/python3
"""RSA speed (issue #13 §4): `brainsweep rsa` against a numpy/scipy implementation of the same
computation (METRICS.md §2), on one core: one model RDM against 2 subjects' RDMs, with B bootstrap
resamples of the conditions and P permutations of the model's conditions, for 92 and 1000 conditions
(4186 and 499 500 pairs), per comparison method.

numpy/scipy, as rsatoolbox users compute it: per resample the resampled RDM vectors (self-pairs
dropped) or the permuted model vector, then np.corrcoef (corr), scipy.stats.spearmanr (spearman),
scipy.stats.kendalltau converted to τa with numpy's tie counts (tau-a), and a numpy cosine; for
`cka`/`cka-debiased` (issue #26 §3) Net2Brain's CKA steps on the patterns (Gram, H K H, trace of a
product; debiased: Kornblith's unbiased centring), brainsweep on their euclidean RDMs. Its time
per resample is measured on `--numpy-resamples` of each kind and multiplied out to B + P (stated in
the output); brainsweep runs all B + P (its CSV write included, the HDF5 read excluded by timing the
same command with B = P = 0 and subtracting).

Usage: bench/rsa_bench.py [--build build] [--conditions 92,1000] [--bootstrap 1000] [--permutations 1000]
       [--numpy-resamples 20] [--methods corr,spearman,tau-a,cosine,cka,cka-debiased]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"
import h5py  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import metrics_reference as ref  # noqa: E402  (the resampling streams)


def rdm(P):
    z = P - P.mean(1, keepdims=True)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    d = 1 - z @ z.T
    np.fill_diagonal(d, 0)
    return (d + d.T) / 2


def tau_a(x, y):
    n0 = len(x) * (len(x) - 1) / 2
    ties = lambda v: float((lambda c: (c * (c - 1) / 2).sum())(np.unique(v, return_counts=True)[1]))  # noqa: E731
    tb = stats.kendalltau(x, y)[0]
    return tb * np.sqrt((n0 - ties(x)) * (n0 - ties(y))) / n0


COMPARE = {
    "corr": lambda x, y: np.corrcoef(x, y)[0, 1],
    "spearman": lambda x, y: stats.spearmanr(x, y)[0],
    "tau-a": tau_a,
    "cosine": lambda x, y: x @ y / np.sqrt((x @ x) * (y @ y)),
}


def numpy_per_resample(model, subjects, method, k, seed=0):
    """Seconds per bootstrap resample and per permutation (both subjects), measured on k of each."""
    n = len(model)
    iu = np.triu_indices(n, 1)
    f = COMPARE[method]
    t0 = time.perf_counter()
    for b in range(k):
        idx = ref.index_from_draw(ref.splitmix64_at(seed, np.arange(b * n, (b + 1) * n, dtype=np.uint64)), n).astype(int)
        a, c = idx[iu[0]], idx[iu[1]]
        keep = a != c
        mv = model[a, c][keep]
        for s in subjects:
            f(mv, s[a, c][keep])
    t1 = time.perf_counter()
    rng = np.random.default_rng(seed)
    sv = [s[iu] for s in subjects]
    for _ in range(k):
        p = rng.permutation(n)
        mv = model[np.ix_(p, p)][iu]
        for v in sv:
            f(mv, v)
    t2 = time.perf_counter()
    return (t1 - t0) / k, (t2 - t1) / k


def euclidean_rdm(P):
    """Squared distance / channels (the RDM CKA is computed from)."""
    sq = (P * P).sum(1)
    d = np.maximum(sq[:, None] + sq[None, :] - 2 * P @ P.T, 0) / P.shape[1]
    np.fill_diagonal(d, 0)
    return (d + d.T) / 2


def net2brain_cka(x, y, debiased):
    """Net2Brain's CKA.linear_CKA steps on the patterns (Gram, H K H with H a matrix, HSIC as the trace
    of a product), without its StandardScaler; debiased: Kornblith's center_gram(unbiased=True) and a
    dot product."""
    if debiased:
        def centre(g):
            n = len(g)
            g = g.copy()
            np.fill_diagonal(g, 0)
            m = g.sum(0) / (n - 2)
            m -= m.sum() / (2 * (n - 1))
            g -= m[:, None] + m[None, :]
            np.fill_diagonal(g, 0)
            return g
        k, l = centre(x @ x.T), centre(y @ y.T)
        return (k * l).sum() / np.sqrt((k * k).sum() * (l * l).sum())
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return np.trace(k @ l) / np.sqrt(np.trace(k @ k) * np.trace(l @ l))


def numpy_cka_per_resample(model, subjects, debiased, k, seed=0):
    """Seconds per bootstrap resample and per permutation (both subjects) of CKA on the patterns."""
    n = len(model)
    t0 = time.perf_counter()
    for b in range(k):
        idx = ref.index_from_draw(ref.splitmix64_at(seed, np.arange(b * n, (b + 1) * n, dtype=np.uint64)), n).astype(int)
        for s in subjects:
            net2brain_cka(model[idx], s[idx], debiased)
    t1 = time.perf_counter()
    rng = np.random.default_rng(seed)
    for _ in range(k):
        p = rng.permutation(n)
        for s in subjects:
            net2brain_cka(model[p], s, debiased)
    t2 = time.perf_counter()
    return (t1 - t0) / k, (t2 - t1) / k


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--conditions", default="92,1000")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--numpy-resamples", type=int, default=20)
    ap.add_argument("--methods", default="corr,spearman,tau-a,cosine,cka,cka-debiased")
    args = ap.parse_args()
    exe = os.path.join(args.build, "brainsweep")
    rng = np.random.default_rng(0)
    print(f"RSA: 1 model vs 2 subjects, {args.bootstrap} bootstrap resamples + {args.permutations} permutations, one "
          f"thread; numpy/scipy timed on {args.numpy_resamples} of each and multiplied out")
    print(f"{'conditions':>10} {'pairs':>8} {'method':>9} {'brainsweep s':>13} {'numpy/scipy s':>14} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as d:
        for n in [int(x) for x in args.conditions.split(",")]:
            base = rng.standard_normal((n, 50))
            model_p = base + rng.standard_normal((n, 50))
            subject_p = [base + 2 * rng.standard_normal((n, 50)) for _ in range(2)]
            model = rdm(model_p)
            subjects = [rdm(p) for p in subject_p]
            path = os.path.join(d, f"r{n}.h5")
            with h5py.File(path, "w") as f:
                f["model"] = model
                for i, s in enumerate(subjects):
                    f[f"brain/s{i + 1}"] = s
            cka_path = os.path.join(d, f"e{n}.h5")  # CKA: euclidean RDMs of the same patterns
            with h5py.File(cka_path, "w") as f:
                f["model"] = euclidean_rdm(model_p)
                for i, p in enumerate(subject_p):
                    f[f"brain/s{i + 1}"] = euclidean_rdm(p)
            for method in args.methods.split(","):
                is_cka = method.startswith("cka")
                def timed(b, p):
                    out = os.path.join(d, f"o{n}{method}{b}.csv")
                    t0 = time.perf_counter()
                    subprocess.run([exe, "rsa", "--rdms", cka_path if is_cka else path, "--brain", "brain", "--model",
                                    "model", "--comparison",
                                    method, "--bootstrap", str(b), "--permutations", str(p), "--out", out], check=True,
                                   stdout=subprocess.DEVNULL)
                    return time.perf_counter() - t0
                bs = timed(args.bootstrap, args.permutations) - timed(0, 0)
                per_b, per_p = (numpy_cka_per_resample(model_p, subject_p, method == "cka-debiased", args.numpy_resamples)
                                if is_cka else numpy_per_resample(model, subjects, method, args.numpy_resamples))
                npy = per_b * args.bootstrap + per_p * args.permutations
                print(f"{n:>10} {n * (n - 1) // 2:>8} {method:>9} {bs:>13.3f} {npy:>14.2f} {npy / bs:>6.1f}×", flush=True)


if __name__ == "__main__":
    main()
