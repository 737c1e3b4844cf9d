#!/usr/bin/python3
"""Speed of issue #26's analyses against their peers' implementations, on the same data, one thread:

- split scores (himalaya): brainsweep.score_split (the engine's split of job files) against
  himalaya's numpy-backend steps for correlation_score_split and r2_score_split (the product
  measure), n samples × t targets × 3 bands;
- RDM-level variance partitioning (Net2Brain): `brainsweep vpa` against Net2Brain's VPA steps
  (per subject and subset, sklearn LinearRegression().fit(X, y).score(X, y), then scipy's
  ttest_1samp), C conditions, S subjects, 3 spaces of 2 RDMs (7 subset models per subject);
- weighted RSA (rsatoolbox/Net2Brain): `brainsweep wrsa --cv subjects --fit ols` against the
  rsatoolbox-style loop Net2Brain runs (per fold pool_rdm('corr') of the training subjects, the
  centred model vectors, θ = solve(XXᵀ, Xy), the held-out subjects' Pearson r and the noise ceiling
  of the fold);
- variance partitioning at the encoding level: a 3-space `partition:` sweep on Sherlock through
  `run`: the sum of its 7 subset units' fit times against the run's total (what the partition adds:
  partition.csv), and plan-cost's prediction.

CKA (issue #26 §3) is timed by bench/rsa_bench.py --methods cka,cka-debiased.
The CLI timings include reading the HDF5 input and writing the CSV (the peer steps start from arrays
in memory); each is the best of --repeats runs.

Usage: bench/peer_analyses_bench.py [--build build] [--repeats 3] [--samples 3000] [--targets 1000]
       [--conditions 300] [--subjects 10]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"
import h5py  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def best_of(f, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        out.append(time.perf_counter() - t0)
    return min(out)


def cli_times(cmd, out, repeats):
    """Best of `repeats`: the computation the command reports ("… in X s": from the RDMs in memory to
    the CSV's rows, what the peer steps time) and the whole command's wall time."""
    compute, total = [], []
    for _ in range(repeats):
        if os.path.exists(out):
            os.remove(out)
        t0 = time.perf_counter()
        r = subprocess.run(cmd + ["--out", out], check=True, capture_output=True, text=True)
        total.append(time.perf_counter() - t0)
        compute.append(float(re.search(r" in (\d+\.\d+) s\)", r.stdout).group(1)))
    return min(compute), min(total)


# ---------------------------------------------------------------- himalaya's numpy steps
def himalaya_correlation_split(y_true, y_pred):
    """himalaya/scoring.py correlation_score_split (numpy backend, 0d3ed4c): y_pred (bands, n, t)."""
    y_true = y_true - y_true.mean(0, keepdims=True)
    y_pred = y_pred - y_pred.mean(1, keepdims=True)
    y_true_std = y_true.std(0)
    y_true_std[y_true_std == 0] = 1
    y_pred_std = y_pred.sum(0, keepdims=True).std(1)
    y_pred_std[y_pred_std == 0] = 1
    return (y_true[None] * y_pred).mean(1) / (y_true_std * y_pred_std)


def himalaya_r2_split(y_true, y_pred):
    """himalaya/scoring.py r2_score_split, include_correlation=True (the product measure); y_true
    zero-mean, as it requires."""
    sst = (y_true ** 2).sum(0)
    r2 = np.zeros_like(y_pred[:, 0, :])
    for fsi in range(len(y_pred)):
        asst = (y_pred[fsi] * y_pred).sum(0)
        inter = y_true * y_pred[fsi]
        r2[fsi, :] = ((2 * inter - asst) / sst).sum(0)
    return r2


def bench_split(args, brainsweep):
    rng = np.random.default_rng(0)
    n, t = args.samples, args.targets
    parts = rng.standard_normal((3, n, t)).astype("f4")
    y = (parts.sum(0) + 2 * rng.standard_normal((n, t))).astype("f4")
    yd, pd = y.astype(np.float64), parts.astype(np.float64)
    peer = best_of(lambda: (himalaya_correlation_split(yd, pd), himalaya_r2_split(yd - yd.mean(0), pd)), args.repeats)
    ours = best_of(lambda: brainsweep.score_split(y, list(parts)), args.repeats)
    s = brainsweep.score_split(y, list(parts))
    err = max(np.abs(s["r"] - himalaya_correlation_split(yd, pd)).max(),
              np.abs(s["r2"] - himalaya_r2_split(yd - yd.mean(0), pd)).max())
    return [("split scores (r and R², 3 bands)", f"n {n}, t {t}", ours, peer, f"max |Δ| {err:.1e}")]


# ---------------------------------------------------------------- Net2Brain's VPA steps
def upper(m):
    return m[np.triu_indices(len(m), 1)]


def random_rdm(rng, c):
    u = np.triu(rng.random((c, c)), 1)
    return u + u.T


def net2brain_vpa(y_subjects, spaces):
    from sklearn.linear_model import LinearRegression
    k = len(spaces)
    out = {}
    for m in range(1, 1 << k):
        x = np.hstack([np.stack(spaces[j], 1) for j in range(k) if m >> j & 1])
        out[m] = [LinearRegression().fit(x, y).score(x, y) for y in y_subjects]
    for m in out:  # Net2Brain's Significance: a t-test per partition (here per subset value)
        stats.ttest_1samp(out[m], 0)
    return out


def bench_vpa(args, binary, d):
    rng = np.random.default_rng(1)
    c, s = args.conditions, args.subjects
    path = os.path.join(d, "vpa.h5")
    spaces = [[upper(random_rdm(rng, c)) for _ in range(2)] for _ in range(3)]
    subjects = []
    with h5py.File(path, "w") as f:
        for j in range(3):
            for i in range(2):
                v = spaces[j][i]
                f[f"space{j}/rdm{i}"] = _square(v, c)
        for k in range(s):
            y = sum(rng.random() * v for sp in spaces for v in sp) + 0.5 * upper(random_rdm(rng, c))
            subjects.append(y)
            f[f"roi/s{k}"] = _square(y, c)
    peer = best_of(lambda: net2brain_vpa(subjects, spaces), args.repeats)

    cmd = [binary, "vpa", "--rdms", path, "--brain", "roi", "--space=a=space0", "--space=b=space1", "--space=c=space2"]
    compute, total = cli_times(cmd, os.path.join(d, "vpa.csv"), args.repeats)
    return [("RDM variance partitioning (3 spaces × 2 RDMs)", f"{c} conditions ({c * (c - 1) // 2} pairs), {s} subjects",
             compute, peer, f"the whole command {total:.3f} s ({peer / total:.1f}×) with the HDF5 read")]


def _square(v, c):
    m = np.zeros((c, c))
    m[np.triu_indices(c, 1)] = v
    return m + m.T


# ---------------------------------------------------------------- rsatoolbox-style WRSA
def pool_corr(v):
    z = (v - v.mean(1, keepdims=True)) / v.std(1, keepdims=True)
    z = z.mean(0)
    return z - z.min() + 0.01


def wrsa_loop(models, subjects):
    """Leave one subject out, fit_regress(method='corr'), r of the held-out subject, and the fold's
    noise ceiling (rsatoolbox cv_noise_ceiling's lower and upper bounds)."""
    x = models - models.mean(1, keepdims=True)
    out = []
    for s in range(len(subjects)):
        train = np.delete(subjects, s, 0)
        y = pool_corr(train)
        theta = np.linalg.solve(x @ x.T, x @ y)
        theta /= np.linalg.norm(theta)
        pred = theta @ models
        r = np.corrcoef(pred, subjects[s])[0, 1]
        lower = np.corrcoef(pool_corr(train), subjects[s])[0, 1]
        upper_ = np.corrcoef(pool_corr(subjects), subjects[s])[0, 1]
        singles = [np.corrcoef(m, subjects[s])[0, 1] for m in models]
        out.append((r, lower, upper_, singles))
    return out


def bench_wrsa(args, binary, d):
    rng = np.random.default_rng(2)
    c, s_n, k = args.conditions, 2 * args.subjects, 10
    models = np.stack([upper(random_rdm(rng, c)) for _ in range(k)])
    subjects = np.stack([rng.random(k) @ models + 2.0 * upper(random_rdm(rng, c)) for _ in range(s_n)])
    path = os.path.join(d, "wrsa.h5")
    with h5py.File(path, "w") as f:
        for i, m in enumerate(models):
            f[f"models/m{i}"] = _square(m, c)
        for i, v in enumerate(subjects):
            f[f"roi/s{i:02d}"] = _square(v, c)
    peer = best_of(lambda: wrsa_loop(models, subjects), args.repeats)

    cmd = [binary, "wrsa", "--rdms", path, "--brain", "roi", "--model", "models", "--cv", "subjects", "--fit", "ols"]
    compute, total = cli_times(cmd, os.path.join(d, "wrsa.csv"), args.repeats)
    return [("weighted RSA (ols, leave one subject out)", f"{c} conditions, {s_n} subjects, {k} models", compute, peer,
             f"the whole command {total:.3f} s ({peer / total:.1f}×) with the HDF5 read")]


# ---------------------------------------------------------------- encoding-level partition
def bench_partition(binary, d):
    sherlock = os.path.join(SOURCE, "..", "shared", "data", "sherlock")
    sweep = os.path.join(d, "partition.yaml")
    with open(sweep, "w") as f:
        f.write(f"""dataset: {SOURCE}/configs/datasets/sherlock.yaml
dataset_root: {sherlock}
atlas: pmc481
subjects: [sub-01, sub-02, sub-03, sub-04, sub-05, sub-06, sub-07, sub-08]
features:
  - partition:
      - {{model: annotations, layers: [all]}}
      - {{model: description_lsa, layers: [lsa64]}}
      - {{model: topic_model, layers: [t100]}}
grid: {{hrf_delay: [0], stimulus_window: [3]}}
ridge: {{folds: 5}}
train: [sherlock01]
eval: {{test: [sherlock02]}}
""")
    run = os.path.join(d, "prun")
    subprocess.run([binary, "generate", sweep, "--out", run], check=True, capture_output=True)
    cost = subprocess.run([binary, "plan-cost", run], capture_output=True, text=True).stdout
    t0 = time.perf_counter()
    r = subprocess.run([binary, "run", run], check=True, capture_output=True, text=True,
                       env=dict(os.environ, SPDLOG_LEVEL="info"))
    total = time.perf_counter() - t0
    units = [float(x) for x in re.findall(r"unit (\d+\.\d+) s", r.stdout + r.stderr)]
    predicted = re.search(r"^\s+1\s+(\d+\.\d+) s", cost, re.M)  # the 1-rank row of plan-cost's table
    return len(units), sum(units), total, f"{predicted.group(1)} s on 1 rank" if predicted else "(no prediction)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--samples", type=int, default=3000)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--conditions", type=int, default=300)
    ap.add_argument("--subjects", type=int, default=10)
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.build, "python"))
    import brainsweep
    binary = os.path.join(args.build, "brainsweep")
    print(f"one thread (OPENBLAS_NUM_THREADS=1), best of {args.repeats}; {brainsweep.blas_info()}")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        rows += bench_split(args, brainsweep)
        rows += bench_vpa(args, binary, d)
        rows += bench_wrsa(args, binary, d)
        print(f"{'analysis':<46} {'data':<44} {'brainsweep':>11} {'peer':>9} {'ratio':>7}  note")
        for name, data, ours, peer, note in rows:
            print(f"{name:<46} {data:<44} {ours:>10.4f}s {peer:>8.4f}s {peer / ours:>6.1f}×  {note}")
        n, summed, total, predicted = bench_partition(binary, d)
        print(f"encoding-level partition, 3 spaces on Sherlock pmc481 (8 subjects, window 3): {n} subset units, "
              f"sum of their fit times {summed:.2f} s, the whole run {total:.2f} s (start-up, partition.csv and "
              f"results included); plan-cost: {predicted}")


if __name__ == "__main__":
    main()
