#!/usr/bin/python3
"""Independent numpy implementation of METRICS.md (odd-one-out, §3), written from the page, for tests.

A test oracle: plain numpy and Python, written to be read, not to be fast. The resampling stream is
the documented one (include/brainsweep/random.hpp: SplitMix64 at seed + (k + 1)·golden, index
⌊z·n / 2^64⌋), reproduced here with uint64 arithmetic, so bootstrap figures can be compared exactly.
"""
from collections import Counter, defaultdict

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)


def splitmix64_at(seed, k):
    """Draws k (uint64 array) of stream seed."""
    k = np.asarray(k, dtype=np.uint64)
    z = np.uint64(seed) + (k + np.uint64(1)) * GOLDEN
    z = (z ^ (z >> np.uint64(30))) * M1
    z = (z ^ (z >> np.uint64(27))) * M2
    return z ^ (z >> np.uint64(31))


def index_from_draw(z, n):
    """⌊z·n / 2^64⌋ exactly, for n < 2^31, in uint64 (z·n split into 32-bit halves)."""
    n = np.uint64(n)
    hi, lo = z >> np.uint64(32), z & np.uint64(0xFFFFFFFF)
    return (hi * n + ((lo * n) >> np.uint64(32))) >> np.uint64(32)


def read_triplets(path):
    """(items (n, 3) 0-based, choice (n,) 0-based position) from a THINGS-style TSV."""
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        cols = [header.index(c) for c in ("item_a", "item_b", "item_c", "odd_one_out")]
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    items = np.array([[int(r[c]) - 1 for c in cols[:3]] for r in rows])
    choice = np.array([int(r[cols[3]]) - 1 for r in rows])
    return items, choice


def odd_one_out(E, items, choice, similarity="dot", rule="odd-one-out", bootstrap=1000, seed=0):
    E = np.asarray(E, dtype=np.float64)
    if similarity == "cosine":
        norm = np.linalg.norm(E, axis=1)
        E = E / np.where(norm > 0, norm, np.inf)[:, None]  # all-zero rows: similarity 0
    sim = lambda x, y: float(E[x] @ E[y])  # noqa: E731
    correct = []
    for (a, b, c), h in zip(items, choice):
        if rule == "odd-one-out":
            pairs = [(sim(a, b), 2), (sim(a, c), 1), (sim(b, c), 0)]  # (similarity, odd position)
            best = max(p[0] for p in pairs)
            odd = next(p[1] for p in pairs if p[0] == best)  # first of the largest, in order ab, ac, bc
            correct.append(odd == h)
        else:
            rest = [p for p in range(3) if p != h]
            t = (a, b, c)
            correct.append(sim(t[rest[0]], t[rest[1]]) > sim(t[rest[0]], t[h]))
    correct = np.array(correct, dtype=float)
    n = len(correct)
    out = {"n_triplets": n, "n_correct": int(correct.sum()), "accuracy": correct.mean(),
           "chance": 1 / 3 if rule == "odd-one-out" else 0.5}
    if bootstrap > 0:
        ordered = np.sort(correct)[::-1]  # correct trials first
        acc = np.empty(bootstrap)
        for b in range(bootstrap):
            k = np.arange(b * n, (b + 1) * n, dtype=np.uint64)
            acc[b] = ordered[index_from_draw(splitmix64_at(seed, k), n).astype(np.int64)].mean()
        out["bootstrap_sd"] = acc.std(ddof=1) if bootstrap > 1 else np.nan
        out["ci_low"], out["ci_high"] = np.percentile(acc, [2.5, 97.5])
    # human noise ceiling: per distinct triplet (same items, any order) answered at least twice
    answers = defaultdict(Counter)
    for (a, b, c), h in zip(items, choice):
        answers[tuple(sorted((a, b, c)))][(a, b, c)[h]] += 1
    shares = [max(cnt.values()) / sum(cnt.values()) for cnt in answers.values() if sum(cnt.values()) >= 2]
    out["n_distinct"] = len(answers)
    out["n_repeated"] = len(shares)
    out["human_ceiling"] = float(np.mean(shares)) if shares else np.nan
    return out


# ---------------------------------------------------------------- noise ceilings (§1)
def pearson_columns(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.zeros(a.shape[1])
    for j in range(a.shape[1]):
        x, y = a[:, j] - a[:, j].mean(), b[:, j] - b[:, j].mean()
        den = np.sqrt((x @ x) * (y @ y))
        out[j] = (x @ y) / den if den > 0 else 0.0
    return out


def isc_leave_one_out(series):
    """series: subject → (samples, targets); returns subject → Pearson r with the mean of the others."""
    subs = list(series)
    return {s: pearson_columns(series[s], np.mean([series[o] for o in subs if o != s], axis=0)) for s in subs}


def split_half(groups):
    """groups: per stimulus the list of its k repetitions (samples, targets). Returns (rho, rho_k, ceiling, k)."""
    k = len(groups[0])
    rs = []
    for reps in groups:
        n = min(len(r) for r in reps)
        for i in range(k):
            for j in range(i + 1, k):
                rs.append(pearson_columns(reps[i][:n], reps[j][:n]))
    rho = np.mean(rs, axis=0)
    rho_k = k * rho / (1 + (k - 1) * rho)
    return rho, rho_k, np.sqrt(np.maximum(rho_k, 0)), k


def ncsnr(sessions):
    """sessions: n arrays (stimuli, targets), one repeat of every stimulus each (NSD's recipe, Allen
    et al. 2022): z-score per session (scipy.stats.zscore: ddof 0), noise variance = mean over
    stimuli of the variance across repeats (ddof 1). Returns (noise_variance, ncsnr, nc, ceiling)."""
    z = np.array([(s - s.mean(axis=0)) / s.std(axis=0) for s in np.asarray(sessions, dtype=np.float64)])
    noise = z.var(axis=0, ddof=1).mean(axis=0)           # (targets,)
    snr = np.sqrt(np.maximum(1 - noise, 0)) / np.sqrt(noise)
    nc = snr ** 2 / (snr ** 2 + 1 / len(sessions))
    return noise, snr, nc, np.sqrt(nc)


# ---------------------------------------------------------------- RSA (§2)
def upper(m):
    """Upper triangle (i < j) of a square matrix, row by row."""
    m = np.asarray(m, dtype=np.float64)
    i, j = np.triu_indices(len(m), 1)
    return m[i, j]


def rank_average(x):
    """1-based ranks, ties averaged (no scipy)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    sx = x[order]
    start = 0
    while start < len(x):
        end = start
        while end < len(x) and sx[end] == sx[start]:
            end += 1
        r[order[start:end]] = (start + 1 + end) / 2
        start = end
    return r


def pearson(x, y):
    x = np.asarray(x, float) - np.mean(x)
    y = np.asarray(y, float) - np.mean(y)
    den = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / den) if den > 0 else float("nan")  # a constant vector: undefined (numpy's corrcoef: nan)


def tau_a(x, y):
    """Kendall's τa = (concordant − discordant) / (n(n−1)/2), from scipy's τb (Knight's algorithm)
    and the tie counts: C − D = τb · √((n0 − n1)(n0 − n2)), n1 and n2 the pairs tied in x and in y.
    Checked against tau_a_brute in the self-test."""
    from scipy.stats import kendalltau
    x, y = np.asarray(x, float), np.asarray(y, float)
    n0 = len(x) * (len(x) - 1) / 2
    ties = lambda v: float(sum(c * (c - 1) / 2 for c in np.unique(v, return_counts=True)[1]))  # noqa: E731
    n1, n2 = ties(x), ties(y)
    if n0 == n1 or n0 == n2:  # a constant vector: no pair is concordant or discordant, τa undefined
        return float("nan")
    tau_b = kendalltau(x, y).statistic if hasattr(kendalltau(x, y), "statistic") else kendalltau(x, y)[0]
    return float(tau_b * np.sqrt((n0 - n1) * (n0 - n2)) / n0)


def tau_a_brute(x, y):
    """(concordant − discordant) / (n(n−1)/2) by brute force over all pairs, in blocks."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n, s = len(x), 0.0
    for a in range(0, n, 2048):
        sx = np.sign(x[a:a + 2048, None] - x[None, :])
        sy = np.sign(y[a:a + 2048, None] - y[None, :])
        s += float((sx * sy).sum())
    return s / 2 / (n * (n - 1) / 2)  # every pair counted twice above


def compare(x, y, method):
    if method == "corr":
        return pearson(x, y)
    if method == "spearman":
        return pearson(rank_average(x), rank_average(y))
    if method == "tau-a":
        return tau_a(x, y)
    if method == "cosine":
        den = np.sqrt((x @ x) * (y @ y))
        return float(x @ y / den) if den > 0 else float("nan")
    raise ValueError(method)


def pool(vectors, method):
    v = np.asarray(vectors, dtype=np.float64)
    if method == "corr":
        z = (v - v.mean(axis=1, keepdims=True)) / v.std(axis=1, keepdims=True)
        p = z.mean(axis=0)
        return p - p.min()
    if method == "cosine":
        return (v / np.sqrt((v ** 2).mean(axis=1, keepdims=True))).mean(axis=0)
    return np.array([rank_average(r) for r in v]).mean(axis=0)


def rdm_noise_ceiling(vectors, method):
    """Leave-one-subject-out (lower, upper)."""
    n = len(vectors)
    upper_ = np.mean([compare(pool(vectors, method), vectors[s], method) for s in range(n)])
    lower_ = np.mean([compare(pool([vectors[o] for o in range(n) if o != s], method), vectors[s], method)
                      for s in range(n)])
    return lower_, upper_


def rsa(model, subjects, method, bootstrap=0, permutations=0, seed=0):
    """model: (n, n); subjects: list of (n, n). Returns per subject + mean: similarity, bootstrap SD,
    2.5/97.5 percentiles, permutation p, with the documented resampling streams. Undefined values are
    NaN: a resample with fewer than 3 distinct conditions is skipped, and per column the resamples whose
    statistic is NaN are left out (their number: n_bootstrap); p is NaN where the similarity is."""
    model = np.asarray(model, float)
    subs = [np.asarray(s, float) for s in subjects]
    n = len(model)
    sim = [compare(upper(model), upper(s), method) for s in subs]
    sim.append(float(np.mean(sim)))
    out = {"similarity": np.array(sim)}
    if bootstrap:
        samples = []
        for b in range(bootstrap):
            idx = index_from_draw(splitmix64_at(seed, np.arange(b * n, (b + 1) * n, dtype=np.uint64)), n).astype(int)
            if len(set(idx)) < 3:
                continue
            a, c = np.triu_indices(n, 1)
            keep = idx[a] != idx[c]  # pairs of a condition with itself dropped
            vals = [compare(model[idx[a], idx[c]][keep], s[idx[a], idx[c]][keep], method) for s in subs]
            samples.append(vals + [np.mean(vals)])
        samples = np.array(samples).reshape(-1, len(subs) + 1)
        out["bootstrap_sd"], out["ci_low"], out["ci_high"], out["n_bootstrap"] = (np.full(len(subs) + 1, np.nan)
                                                                                  for _ in range(4))
        for c in range(len(subs) + 1):
            col = samples[~np.isnan(samples[:, c]), c]
            out["n_bootstrap"][c] = len(col)
            if len(col) > 1:
                out["bootstrap_sd"][c] = col.std(ddof=1)
                out["ci_low"][c], out["ci_high"][c] = np.percentile(col, [2.5, 97.5])
    if permutations:
        ge = np.zeros(len(subs) + 1)
        pseed = seed ^ 0x5DEECE66D
        for k in range(permutations):
            perm = np.arange(n)
            for i in range(n - 1, 0, -1):
                j = int(index_from_draw(splitmix64_at(pseed, np.array([k * n + i], dtype=np.uint64)), i + 1)[0])
                perm[i], perm[j] = perm[j], perm[i]
            pm = upper(model[np.ix_(perm, perm)])
            vals = [compare(pm, upper(s), method) for s in subs]
            ge += np.array(vals + [np.mean(vals)]) >= out["similarity"]
        out["p_permutation"] = np.where(np.isnan(out["similarity"]), np.nan, (1 + ge) / (1 + permutations))
    return out


def read_events(path):
    """[(onset, duration, trial_type)] of a BIDS events TSV, events without a trial_type left out."""
    import csv
    with open(path, newline="") as f:
        return [(float(r["onset"]), float(r["duration"]), r["trial_type"])
                for r in csv.DictReader(f, delimiter="\t") if r["trial_type"] not in ("", "n/a")]


def condition_patterns(runs, conditions, tr, hrf_delay):
    """runs: [(samples (T, C), events)]. Sample t belongs to an event when (t − hrf)·tr is in
    [onset, onset + duration); event pattern = mean of its samples; condition = mean of its events."""
    per = {c: [] for c in conditions}
    for x, events in runs:
        times = (np.arange(len(x)) - hrf_delay) * tr
        for onset, duration, cond in events:
            sel = (times >= onset - 1e-9) & (times < onset + duration - 1e-9)
            per[cond].append(np.asarray(x, dtype=np.float64)[sel].mean(axis=0))
    return np.array([np.mean(per[c], axis=0) for c in conditions])


def rdm_correlation(patterns):
    """1 − Pearson r of every pair of patterns, rounded to 1e-10 of the largest entry (METRICS' ties:
    dissimilarities equal in exact arithmetic stay equal)."""
    v = upper(1 - np.corrcoef(patterns))
    q = np.abs(v).max() * 1e-10
    return np.round(v / q) * q if q > 0 else v


def rdm_crossnobis(runs):
    """Cross-validated squared euclidean distance (rsatoolbox calc_rdm_crossnobis, identity noise,
    leave one run out): runs is a list of (conditions, channels) patterns; for each run f, A the mean
    of the others, B = run f, d_ij += (A_i − A_j)·(B_i − B_j) / channels; mean over f; upper triangle,
    rounded like rdm_correlation."""
    runs = [np.asarray(r, dtype=np.float64) for r in runs]
    n, channels = runs[0].shape
    d = np.zeros((n, n))
    for f in range(len(runs)):
        a = np.mean([r for k, r in enumerate(runs) if k != f], axis=0)
        b = runs[f]
        for i in range(n):
            for j in range(n):
                d[i, j] += np.dot(a[i] - a[j], b[i] - b[j]) / channels
    v = upper(d / len(runs))
    q = np.abs(v).max() * 1e-10
    return np.round(v / q) * q if q > 0 else v


def self_test():
    # the stream against direct Python integer arithmetic
    seed, ks = 12345, [0, 1, 2, 10**12]
    z = splitmix64_at(seed, ks)
    mask = (1 << 64) - 1
    for k, v in zip(ks, z):
        x = (seed + (k + 1) * 0x9E3779B97F4A7C15) & mask
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
        assert int(v) == x ^ (x >> 31)
        for n in (1, 7, 10070, 2**31 - 1):
            assert int(index_from_draw(np.array([v]), n)[0]) == (int(v) * n) >> 64
    # a tiny odd-one-out by hand: items 0 and 1 alike, 2 apart
    E = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    r = odd_one_out(E, np.array([[0, 1, 2], [2, 0, 1], [0, 1, 2]]), np.array([2, 0, 0]), bootstrap=0)
    assert r["n_correct"] == 2 and r["n_repeated"] == 1 and abs(r["human_ceiling"] - 2 / 3) < 1e-15  # item 2 twice, item 0 once
    # ISC of three copies of one series plus independent noise: r = 1 / sqrt((1 + σ²)(1 + σ²/2))
    rng = np.random.default_rng(0)
    base = rng.standard_normal((200000, 1))
    sig = 0.5
    isc = isc_leave_one_out({s: base + sig * rng.standard_normal((200000, 1)) for s in "abc"})
    want = 1 / np.sqrt((1 + sig**2) * (1 + sig**2 / 2))
    assert all(abs(v[0] - want) < 5e-3 for v in isc.values()), (isc, want)
    # split-half of two noisy copies: rho = 1 / (1 + σ²), and Spearman–Brown by hand
    rho, rho_k, ceil, k = split_half([[base + sig * rng.standard_normal((200000, 1)) for _ in range(2)]])
    assert abs(rho[0] - 1 / (1 + sig**2)) < 5e-3 and abs(rho_k[0] - 2 * rho[0] / (1 + rho[0])) < 1e-12
    # tau-a on a small case by hand: x = (1, 2, 3), y = (1, 3, 2): pairs (+,+), (+,+), (+,−) → (2 − 1) / 3
    for f in (tau_a, tau_a_brute):
        assert abs(f([1, 2, 3], [1, 3, 2]) - 1 / 3) < 1e-15
        assert abs(f([1, 1, 2], [1, 2, 3]) - 2 / 3) < 1e-15  # a tie in x counts as neither
    x, y = rng.integers(0, 20, 3000).astype(float), rng.standard_normal(3000).round(1)  # many ties
    assert abs(tau_a(x, y) - tau_a_brute(x, y)) < 1e-12
    assert list(rank_average([3, 1, 3, 2])) == [3.5, 1, 3.5, 2]
    # crossnobis of identical runs is the squared euclidean distance / channels; of signal plus
    # independent noise its expectation is the noise-free distance (unbiased), unlike euclidean's
    pat = rng.standard_normal((4, 3))
    want = upper(((pat[:, None, :] - pat[None, :, :]) ** 2).sum(axis=2) / 3)
    assert np.allclose(rdm_crossnobis([pat, pat, pat]), want, rtol=1e-9)
    big = rng.standard_normal((3, 4000))
    truth = upper(((big[:, None, :] - big[None, :, :]) ** 2).sum(axis=2) / 4000)
    noisy = [big + rng.standard_normal(big.shape) for _ in range(4)]
    assert np.allclose(rdm_crossnobis(noisy), truth, atol=0.1), (rdm_crossnobis(noisy), truth)
    print("metrics_reference self-test passed")


if __name__ == "__main__":
    self_test()
