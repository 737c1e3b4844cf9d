#!/usr/bin/python3
"""Linear CKA, written from PEER_ANALYSES.md card C and the papers it cites, not from brainsweep's code
(which computes CKA from RDMs; this file works on the feature matrices themselves).

- cka(X, Y): Kornblith et al. 2019's feature-space form ‖Ycᵀ Xc‖²_F / (‖Xcᵀ Xc‖_F ‖Ycᵀ Yc‖_F),
  columns centred.
- cka_net2brain(X, Y): Net2Brain's CKA.linear_CKA (cka.py:71-101): StandardScaler on both, Gram
  matrices, H K H, HSIC = tr(Kc Lc), normalised.
- cka_debiased(X, Y): the unbiased HSIC estimator of Song et al. 2012 (their eq. 5),
  HSIC₁(K, L) = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1 / ((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)), K̃ the Gram
  with its diagonal zeroed, normalised as CKA.
- noise_ceiling(reps): leave-one-subject-out, as RSA's (METRICS.md §2) with subjects pooled as the
  mean of their normalised centred Grams: (lower, upper).

Usage: cka_reference.py --self-test
"""
import sys

import numpy as np


def _centre(a):
    return a - a.mean(0)


def cka(x, y):
    xc, yc = _centre(np.asarray(x, float)), _centre(np.asarray(y, float))
    return np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))


def _standard_scaler(a):
    a = np.asarray(a, float)
    sd = a.std(0)
    return (a - a.mean(0)) / np.where(sd == 0, 1.0, sd)


def cka_net2brain(x, y):
    k, l = _standard_scaler(x) @ _standard_scaler(x).T, _standard_scaler(y) @ _standard_scaler(y).T
    n = len(k)
    h = np.eye(n) - np.ones((n, n)) / n
    kc, lc = h @ k @ h, h @ l @ h
    return np.trace(kc @ lc) / np.sqrt(np.trace(kc @ kc) * np.trace(lc @ lc))


def _hsic_unbiased(k, l):
    n = len(k)
    kt, lt = k.copy(), l.copy()
    np.fill_diagonal(kt, 0)
    np.fill_diagonal(lt, 0)
    one = np.ones(n)
    return (np.trace(kt @ lt) + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ kt @ lt @ one)) / (n * (n - 3))


def cka_debiased(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    k, l = x @ x.T, y @ y.T
    return _hsic_unbiased(k, l) / np.sqrt(_hsic_unbiased(k, k) * _hsic_unbiased(l, l))


def _normalised_centred_gram(x):
    xc = _centre(np.asarray(x, float))
    k = xc @ xc.T
    return k / np.linalg.norm(k)


def noise_ceiling(reps):
    grams = [_normalised_centred_gram(r) for r in reps]

    def cos(a, b):
        return (a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b))
    upper = np.mean([cos(np.mean(grams, axis=0), g) for g in grams])
    lower = np.mean([cos(np.mean([h for j, h in enumerate(grams) if j != i], axis=0), g) for i, g in enumerate(grams)])
    return lower, upper


def cka_stats(model, subjects, kind="cka", bootstrap=0, permutations=0, seed=0):
    """The statistics of `brainsweep rsa --comparison cka|cka-debiased` from the patterns themselves:
    model (n, d), subjects [(n, v)]; per subject + mean: similarity; bootstrap SD, percentiles and
    count over resamples of the conditions (rows drawn with repeats; < 3 distinct skipped); permutation
    p over permutations of the model's rows. The resampling streams are METRICS.md's (the functions of
    metrics_reference.py)."""
    import metrics_reference as mr
    f = {"cka": cka, "cka-debiased": cka_debiased, "cka-standardized": cka_net2brain}[kind]
    n = len(model)
    sim = [f(model, s) for s in subjects]
    sim.append(float(np.mean(sim)))
    out = {"similarity": np.array(sim)}
    if bootstrap:
        samples = []
        for b in range(bootstrap):
            idx = mr.index_from_draw(mr.splitmix64_at(seed, np.arange(b * n, (b + 1) * n, dtype=np.uint64)), n).astype(int)
            if len(set(idx)) < 3:
                continue
            vals = [f(model[idx], s[idx]) for s in subjects]
            samples.append(vals + [np.mean(vals)])
        samples = np.array(samples)
        out["n_bootstrap"] = np.array([np.sum(~np.isnan(samples[:, c])) for c in range(len(sim))])
        out["bootstrap_sd"] = samples.std(0, ddof=1)
        out["ci_low"], out["ci_high"] = np.percentile(samples, [2.5, 97.5], axis=0)
    if permutations:
        ge = np.zeros(len(sim))
        pseed = seed ^ 0x5DEECE66D
        for k in range(permutations):
            perm = np.arange(n)
            for i in range(n - 1, 0, -1):
                j = int(mr.index_from_draw(mr.splitmix64_at(pseed, np.array([k * n + i], dtype=np.uint64)), i + 1)[0])
                perm[i], perm[j] = perm[j], perm[i]
            vals = [f(model[perm], s) for s in subjects]
            ge += np.array(vals + [np.mean(vals)]) >= out["similarity"] - 1e-12
        out["p_permutation"] = (1 + ge) / (1 + permutations)
    return out


def self_test():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 12))
    q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    assert abs(cka(x, x @ q * 2.5 + 3) - 1) < 1e-12          # orthogonal, isotropic scale, translation
    y = rng.standard_normal((40, 7))
    assert abs(cka(x, y) - cka(y, x)) < 1e-12                  # symmetric
    # the Gram form equals the feature form (Kornblith et al. 2019, eq. after 3)
    xc, yc = _centre(x), _centre(y)
    k, l = xc @ xc.T, yc @ yc.T
    assert abs((k * l).sum() / np.sqrt((k * k).sum() * (l * l).sum()) - cka(x, y)) < 1e-12
    # Net2Brain's = the plain form on standardised columns
    assert abs(cka_net2brain(x, y) - cka(_standard_scaler(x), _standard_scaler(y))) < 1e-12
    # the unbiased HSIC does not see a translation of the features
    assert abs(cka_debiased(x + 5, y - 2) - cka_debiased(x, y)) < 1e-10
    lo, up = noise_ceiling([x, x + 0.1 * rng.standard_normal(x.shape), x + 0.2 * rng.standard_normal(x.shape)])
    assert 0 < lo <= up <= 1
    print("cka_reference self-test: ok")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
