#!/usr/bin/python3
"""Independent numpy reference of the encoding-model conventions (docs: ENCODING.md §1-5).

Usage:
    encoding_reference.py PLAN_JSON OUT_CSV     compute results.csv for every job of a plan
    encoding_reference.py --self-test           check ridge, folds and alignment on tiny examples

A test oracle: plain float64 numpy, written to be read, not to be fast.
"""
import csv
import functools
import json
import sys

import h5py
import numpy as np

HEADER = ["job_id", "model", "layers", "hrf_delay", "stimulus_window", "subject",
          "parcel", "alpha", "cv_r", "eval_set", "eval_r"]


# ---------------------------------------------------------------- inputs (cached)
@functools.lru_cache(maxsize=None)
def load_dataset(path, name):
    with h5py.File(path, "r") as f:
        a = np.asarray(f[name][...], dtype=np.float64)
    a.setflags(write=False)
    return a


def parcel_names(path, n_parcels):
    with h5py.File(path, "r") as f:
        names = f.attrs.get("parcel_names")
    if names is None:
        return [str(i) for i in range(n_parcels)]
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


# ---------------------------------------------------------------- §1 design matrix
def align(F, T, hrf_delay, window):
    """Row s = feature rows s-hrf_delay-window+1 .. s-hrf_delay (oldest first), clamped."""
    s = np.arange(T)
    idx = [np.clip(s - hrf_delay - window + 1 + j, 0, len(F) - 1) for j in range(window)]
    return np.hstack([F[i] for i in idx])


def design(plan, model, layers, episode, T, hrf_delay, window):
    path = plan["features"][model][episode]
    return np.hstack([align(load_dataset(path, layer), T, hrf_delay, window) for layer in layers])


# ---------------------------------------------------------------- §3 ridge, §5 Pearson
def ridge_solver(X, Y):
    """Returns W(alpha) = (X'X + alpha I)^-1 X'Y, exactly, via the thin SVD of X (or, where
    LAPACK's SVD does not converge, the eigendecomposition of X'X; both exact in float64)."""
    try:
        U, s, Vt = np.linalg.svd(X, full_matrices=False)
    except np.linalg.LinAlgError:
        lam, V = np.linalg.eigh(X.T @ X)
        lam = np.clip(lam, 0.0, None)
        VtXtY = V.T @ (X.T @ Y)
        return lambda alpha: V @ (VtXtY / (lam + alpha)[:, None])
    UtY = U.T @ Y

    def W(alpha):
        d = np.divide(s, s * s + alpha, out=np.zeros_like(s), where=(s * s + alpha) > 0)
        return Vt.T @ (d[:, None] * UtY)
    return W


def pearson(a, b):
    """Pearson r per column; a column pair where either side is constant scores 0."""
    ac, bc = a - a.mean(0), b - b.mean(0)
    num = (ac * bc).sum(0)
    den = np.sqrt((ac * ac).sum(0) * (bc * bc).sum(0))
    const = (np.ptp(a, 0) == 0) | (np.ptp(b, 0) == 0)
    return np.where(const, 0.0, num / np.where(const, 1.0, den))


# ---------------------------------------------------------------- §4 folds
def cv_folds(run_lengths, K):
    """List of K index arrays into the concatenated (post-exclusion) training rows."""
    starts = np.concatenate([[0], np.cumsum(run_lengths)])
    R, n = len(run_lengths), int(starts[-1])
    if R >= K:  # whole runs: fold k holds runs floor(kR/K) .. floor((k+1)R/K)-1
        return [np.arange(starts[k * R // K], starts[(k + 1) * R // K]) for k in range(K)]
    sizes = [n // K + (1 if k < n % K else 0) for k in range(K)]  # sklearn KFold, no shuffle
    edges = np.concatenate([[0], np.cumsum(sizes)])
    return [np.arange(edges[k], edges[k + 1]) for k in range(K)]


def choose_alpha(scores):
    """Index of the best alpha per target (scores: n_alphas x P); ties go to the larger alpha."""
    return len(scores) - 1 - np.argmax(scores[::-1], axis=0)


# ---------------------------------------------------------------- one job
def split_scores(y, parts):
    """Scores of a prediction split into parts (issue #26 §2), written from himalaya's definitions
    (PEER_ANALYSES.md §4: `correlation_score_split`, `r2_score_split` with and without
    include_correlation), not from brainsweep's code. y: n x t measurement, parts: K x n x t.
    y is centred first (himalaya requires a zero-mean y and leaves that to its user).
    Returns r (K x t), r2 (K x t), r2_alone (K x t), r2_joint (t)."""
    y = y - y.mean(0)
    parts = np.asarray(parts, dtype=np.float64)
    total = parts.sum(0)
    sst = (y ** 2).sum(0)
    # correlation split: mean(y * centred part) / (std(y) * std(sum)), population std, 0 std -> 1
    sd_y, sd_p = y.std(0), total.std(0)
    sd_y = np.where(sd_y == 0, 1.0, sd_y)
    sd_p = np.where(sd_p == 0, 1.0, sd_p)
    r = np.array([(y * (pk - pk.mean(0))).mean(0) / (sd_y * sd_p) for pk in parts])
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.array([(2 * y * pk - pk * total).sum(0) / sst for pk in parts])
        r2_alone = np.array([(2 * y * pk - pk * pk).sum(0) / sst for pk in parts])
        joint = 1 - ((y - total) ** 2).sum(0) / sst
    return r, r2, r2_alone, joint


def run_job(plan, job, test_predictions=None, train_stats=None, eval_split=None):
    """Fit one job. When `test_predictions` is a dict, it receives the predictions of every test set
    (issue #5): {set: {episode: n_samples x P}}, n_samples from the plan's counts for the subject.
    When `train_stats` is a dict, it receives the mean and SD (ddof 0) per target of the training
    rows' own predictions ({"mean": P, "sd": P}; what `stitch --zscore` scales by)."""
    ds = plan["dataset"]
    ex0, ex1 = int(ds.get("exclude_start", 0)), int(ds.get("exclude_end", 0))
    subj, model, layers = job["subject"], job["model"], job["layers"]
    hrf, win = int(job["hrf_delay"]), int(job["stimulus_window"])
    alphas = [float(a) for a in plan["ridge"]["alphas"]]
    K = int(plan["ridge"]["folds"])
    fmri = plan["fmri"][subj]

    # a banded job (issue #14): its bands side by side, band k's standardised columns times sqrt(gamma_k)
    bands = [(b["model"], b["layers"], float(b["gamma"])) for b in job.get("bands", [])]

    def full_design(ep, T):
        if not bands:
            return design(plan, model, layers, ep, T, hrf, win)
        return np.hstack([design(plan, m, ls, ep, T, hrf, win) for m, ls, _ in bands])

    def episode(ep):  # full design matrix and fMRI of one episode, and the kept rows
        Y = load_dataset(fmri[ep]["file"], fmri[ep]["dataset"])
        X = full_design(ep, len(Y))
        return X, Y, slice(ex0, len(Y) - ex1)

    # training rows (after exclusion), runs in listed order
    train = [episode(ep) for ep in plan["train"] if ep in fmri]
    Xtr = np.vstack([X[k] for X, Y, k in train])
    Ytr = np.vstack([Y[k] for X, Y, k in train])
    lengths = [len(Y[k]) for X, Y, k in train]

    # §2 standardisation from all training rows, used inside CV too
    mu, sd = Xtr.mean(0), Xtr.std(0)
    dead = sd <= 1e-7 * np.abs(Xtr).max(0)  # constant within float32 resolution (relative)

    scale = np.ones(Xtr.shape[1])
    if bands:
        widths = [design(plan, m, ls, plan["train"][0], 1, hrf, win).shape[1] for m, ls, _ in bands]
        scale = np.concatenate([np.full(w, np.sqrt(g)) for w, (_, _, g) in zip(widths, bands)])

    def zscore(X):
        Z = (X - mu) / np.where(dead, 1.0, sd) * scale
        Z[:, dead] = 0.0
        return Z
    ymu = Ytr.mean(0)
    Xs, Yc = zscore(Xtr), Ytr - ymu

    # §4 CV score per alpha and target
    scores = np.zeros((len(alphas), Yc.shape[1]))
    for test in cv_folds(lengths, K):
        fit = np.setdiff1d(np.arange(len(Xs)), test)
        W = ridge_solver(Xs[fit], Yc[fit])
        for i, a in enumerate(alphas):
            scores[i] += pearson(Xs[test] @ W(a), Yc[test])
    scores /= K
    best = choose_alpha(scores)
    cv_r = scores[best, np.arange(len(best))]

    # refit on all training rows with each target's alpha
    Wfun = ridge_solver(Xs, Yc)
    W = np.zeros((Xs.shape[1], Yc.shape[1]))
    for i in np.unique(best):
        W[:, best == i] = Wfun(alphas[i])[:, best == i]

    if train_stats is not None:
        fitted = Xs @ W + ymu
        train_stats["mean"], train_stats["sd"] = fitted.mean(0), fitted.std(0)

    # §5 eval sets: per movie, concatenate kept rows of its episodes, r per target, mean over movies
    eval_r = {}
    for es in plan["eval"]:
        movies = {}
        for ep in es["episodes"]:
            if ep not in fmri:
                continue
            X, Y, k = episode(ep)
            pred = zscore(X) @ W + ymu
            m = es.get("movies", {}).get(ep, ep)
            movies.setdefault(m, ([], [], []))
            movies[m][0].append(pred[k])
            movies[m][1].append(Y[k])
            if bands:  # each band's part of the prediction: its columns times its rows of W, no intercept
                Z, at, parts = zscore(X)[k], 0, []
                for w in widths:
                    parts.append(Z[:, at:at + w] @ W[at:at + w])
                    at += w
                movies[m][2].append(parts)
        rs = [pearson(np.vstack(p), np.vstack(y)) for p, y, _ in movies.values()]
        eval_r[es["name"]] = np.mean(rs, axis=0) if rs else np.full(Yc.shape[1], np.nan)
        if bands and eval_split is not None and movies:
            per_movie = []
            for _, y, parts in movies.values():
                stacked = [np.vstack([pp[b] for pp in parts]) for b in range(len(bands))]
                per_movie.append(split_scores(np.vstack(y), stacked))
            eval_split[es["name"]] = tuple(np.mean([pm[i] for pm in per_movie], axis=0) for i in range(4))

    if test_predictions is not None:
        for ts in plan.get("test", []):
            for ep, n in ts["n_samples"][subj]:
                X = full_design(ep, int(n))
                test_predictions.setdefault(ts["name"], {})[ep] = zscore(X) @ W + ymu

    first = plan["train"][0] if plan["train"][0] in fmri else next(iter(fmri))
    names = parcel_names(fmri[first]["file"], Yc.shape[1])
    return names, np.asarray(alphas)[best], cv_r, eval_r


def main(plan_path, out_path):
    with open(plan_path) as f:
        plan = json.load(f)
    fmt = lambda x: repr(float(x))
    with open(out_path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for job in plan["jobs"]:
            names, alpha, cv_r, eval_r = run_job(plan, job)
            for p, name in enumerate(names):
                for es in plan["eval"]:
                    w.writerow([job["job_id"], job["model"], "+".join(job["layers"]),
                                job["hrf_delay"], job["stimulus_window"], job["subject"], name,
                                fmt(alpha[p]), fmt(cv_r[p]), es["name"], fmt(eval_r[es["name"]][p])])
            print(f"{job['job_id']} {job['subject']} {job['model']} {'+'.join(job['layers'])} "
                  f"hrf={job['hrf_delay']} win={job['stimulus_window']} done", file=sys.stderr)


# ---------------------------------------------------------------- self-test
def self_test():
    rng = np.random.default_rng(0)
    for n, p, t in [(50, 8, 3), (12, 30, 2)]:  # p < n and p > n
        X, Y = rng.standard_normal((n, p)), rng.standard_normal((n, t))
        W = ridge_solver(X, Y)
        for a in [1e-1, 1.0, 31.6, 1e7]:
            direct = np.linalg.solve(X.T @ X + a * np.eye(p), X.T @ Y)
            assert np.allclose(W(a), direct, rtol=1e-8, atol=1e-8 * np.abs(direct).max()), (n, p, a)

    blocks = lambda folds: [list(map(int, f)) for f in folds]
    # fewer runs than folds: sklearn KFold(3) on 7 rows -> sizes 3, 2, 2
    assert blocks(cv_folds([7], 3)) == [[0, 1, 2], [3, 4], [5, 6]]
    assert blocks(cv_folds([4, 6], 5)) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    # 7 runs of 2 rows, K=5: runs floor(kR/K) = 0,1,2,4,5,7 -> {0},{1},{2,3},{4},{5,6}
    assert blocks(cv_folds([2] * 7, 5)) == [[0, 1], [2, 3], [4, 5, 6, 7], [8, 9], [10, 11, 12, 13]]
    assert blocks(cv_folds([1, 2, 3], 3)) == [[0], [1, 2], [3, 4, 5]]

    # alpha choice: best score, ties to the larger alpha
    assert choose_alpha(np.array([[0.1, 0.5, 0.2], [0.3, 0.5, 0.2], [0.3, 0.4, 0.2]])).tolist() == [2, 1, 2]

    # alignment: T_f=4, T=6, hrf 1, window 2 -> rows (s-2, s-1) clamped to [0, 3]
    F = np.arange(4.0)[:, None]
    assert align(F, 6, 1, 2).tolist() == [[0, 0], [0, 0], [0, 1], [1, 2], [2, 3], [3, 3]]
    assert align(F, 4, 0, 1)[:, 0].tolist() == [0, 1, 2, 3]

    # Pearson: constant side scores 0
    a = np.array([[1.0, 2.0], [2.0, 2.0], [4.0, 2.0]])
    r = pearson(a, a[:, [0, 0]])
    assert abs(r[0] - 1) < 1e-12 and r[1] == 0.0
    print("self-test passed")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    elif len(sys.argv) == 3:
        main(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)
