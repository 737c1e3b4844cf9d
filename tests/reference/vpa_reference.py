#!/usr/bin/python3
"""RDM-level variance partitioning (`brainsweep vpa`, Net2Brain's VPA), written from the section
"Variance partitioning of RDMs (`brainsweep vpa`), Net2Brain's VPA" of docs/metrics.md and card
"A. Variance partitioning" of PEER_ANALYSES.md, not from brainsweep's code. The golden values at the
bottom come from running Net2Brain's own VPA (commit b59ed47), see there.

- upper(m): the upper triangle (i < j) of a square matrix, row by row (numpy's triu_indices(n, 1)).
- subset_r2(y, spaces, average_models): for every non-empty subset S of the spaces (mask: bit k =
  space k), the in-sample R² of OLS with an intercept of y on the columns of S's RDMs
  (scikit-learn's LinearRegression().fit(X, y).score(X, y)). average_models: each space's RDMs
  averaged into one regressor first.
- partitions(r2, K): the Möbius inversion of the spec, v(T) = Σ_{∅≠S⊆T} (−1)^{|T|−|S|}
  (R²(all) − R²(all \\ S)), R²(∅) = 0: the part explained by exactly the spaces of T.
- bh(p): Benjamini–Hochberg adjusted p (what statsmodels' fdrcorrection returns as its second value).
- vpa(subject_rdms, spaces, names, ...): the rows of the CSV `roi, subject, kind, spaces, value, t,
  p, p_fdr, negative, n_subjects, n_pairs`, per subject and then subject `mean`.
- golden_case(k): the seeded synthetic data (k = 2 or 4 spaces) on which Net2Brain's VPA was run.

Choices where the spec is silent (this file's, to be checked against brainsweep):
- row order: per subject, the kind=model rows of every subset sorted by (number of spaces, mask),
  then the unique/shared rows in the same order; then the same for `mean`.
- the `mean` model rows carry t and p (the spec: "The `mean` rows ... carry Net2Brain's test", and
  Net2Brain tests its R's too) but p_fdr is NaN: the spec's BH family is "the ROI's unique and shared
  rows" only.
- `negative` is 1 for value < 0 on every row (model rows included, where it is 0 for R² ≥ 0);
  n_subjects (the ROI's subject count) and n_pairs (the RDM vector's length) on every row.
- empty fields are NaN.

Usage: vpa_reference.py --self-test
"""
import math
import os
import sys

import numpy as np
from scipy import stats
from sklearn.linear_model import LinearRegression

COLUMNS = ["roi", "subject", "kind", "spaces", "value", "t", "p", "p_fdr", "negative", "n_subjects",
           "n_pairs"]


def upper(m):
    m = np.asarray(m, float)
    return m[np.triu_indices(len(m), 1)]


def _vec(r):
    r = np.asarray(r, float)
    return upper(r) if r.ndim == 2 else r


def _columns(spaces, average_models):
    """One (n_pairs, n_regressors) block per space."""
    out = []
    for space in spaces:
        vs = np.array([_vec(r) for r in space])
        out.append(vs.mean(0)[:, None] if average_models else vs.T)
    return out


def masks_in_order(K):
    """Non-empty subsets of K spaces, fewest spaces first, then by mask value."""
    return sorted(range(1, 1 << K), key=lambda m: (bin(m).count("1"), m))


def subset_r2(y, spaces, average_models=False):
    y = _vec(y)
    cols = _columns(spaces, average_models)
    r2 = {}
    for mask in range(1, 1 << len(spaces)):
        x = np.hstack([cols[k] for k in range(len(spaces)) if mask >> k & 1])
        r2[mask] = LinearRegression().fit(x, y).score(x, y)
    return r2


def _r2_lstsq(y, x):
    """The same R² with numpy: least squares on [1, X] (minimum norm), 1 − SSE/SST."""
    a = np.hstack([np.ones((len(y), 1)), x])
    beta = np.linalg.lstsq(a, y, rcond=None)[0]
    res = y - a @ beta
    return 1 - (res @ res) / ((y - y.mean()) @ (y - y.mean()))


def partitions(r2, K):
    full = (1 << K) - 1
    R = dict(r2)
    R[0] = 0.0
    v = {}
    for T in range(1, full + 1):
        tot = 0.0
        S = T
        while S:  # every non-empty S ⊆ T
            sign = -1.0 if (bin(T).count("1") - bin(S).count("1")) % 2 else 1.0
            tot += sign * (R[full] - R[full & ~S])
            S = (S - 1) & T
        v[T] = tot
    return v


def bh(p):
    """Benjamini–Hochberg: p_(i) m / i, then the running minimum from the largest p down, capped at 1."""
    p = np.asarray(p, float)
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    adj = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum(np.minimum.accumulate(adj[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adj
    return out


def bh_brute(p):
    """The definition: adj(i) = min(1, min over j with p_j ≥ p_i of m p_j / #{l : p_l ≤ p_j})."""
    p = np.asarray(p, float)
    m = len(p)
    return np.array([min(1.0, min(m * pj / np.sum(p <= pj) for pj in p if pj >= pi)) for pi in p])


def _row(roi, subject, kind, spaces_name, value, t, p, p_fdr, n_subjects, n_pairs):
    return dict(zip(COLUMNS, [roi, subject, kind, spaces_name, float(value), t, p, p_fdr,
                              1 if value < 0 else 0, n_subjects, n_pairs]))


def vpa(subject_rdms, spaces, names, average_models=False, roi="roi", subject_names=None):
    K = len(spaces)
    assert 2 <= K <= 4 and len(names) == K
    n_sub = len(subject_rdms)
    if subject_names is None:
        subject_names = [f"sub-{i + 1:02d}" for i in range(n_sub)]
    order = masks_in_order(K)
    label = {m: "+".join(names[k] for k in range(K) if m >> k & 1) for m in order}
    n_pairs = len(_vec(subject_rdms[0]))
    nan = float("nan")
    rows, model_vals, part_vals = [], [], []
    for name, y in zip(subject_names, subject_rdms):
        r2 = subset_r2(y, spaces, average_models)
        v = partitions(r2, K)
        model_vals.append([r2[m] for m in order])
        part_vals.append([v[m] for m in order])
        for m in order:
            rows.append(_row(roi, name, "model", label[m], r2[m], nan, nan, nan, n_sub, n_pairs))
        for m in order:
            kind = "unique" if bin(m).count("1") == 1 else "shared"
            rows.append(_row(roi, name, kind, label[m], v[m], nan, nan, nan, n_sub, n_pairs))
    model_vals, part_vals = np.array(model_vals), np.array(part_vals)
    tm, pm = stats.ttest_1samp(model_vals, 0.0, axis=0)
    tp, pp = stats.ttest_1samp(part_vals, 0.0, axis=0)
    pf = bh(pp)
    for i, m in enumerate(order):
        rows.append(_row(roi, "mean", "model", label[m], model_vals[:, i].mean(), float(tm[i]), float(pm[i]),
                         nan, n_sub, n_pairs))
    for i, m in enumerate(order):
        kind = "unique" if bin(m).count("1") == 1 else "shared"
        rows.append(_row(roi, "mean", kind, label[m], part_vals[:, i].mean(), float(tp[i]), float(pp[i]),
                         float(pf[i]), n_sub, n_pairs))
    return rows


# ---------------------------------------------------------------------------------------------
# Seeded synthetic data of the golden values

GOLDEN_COUNTS = {2: [2, 1], 4: [1, 2, 2, 1]}
GOLDEN_NAMES = ["alpha", "beta", "gamma", "delta"]
GOLDEN_N_CONDITIONS = 12
GOLDEN_N_SUBJECTS = 6


def golden_case(k):
    """(subject square RDMs [6 × (12, 12)], spaces [[(12, 12), …] per space], names) for k = 2 or 4.

    rng = default_rng(11), fresh for each k. A "random RDM" is a (12, 12) draw of rng.random, its
    strict upper triangle mirrored, diagonal 0. In this order: common = random RDM; for each space
    in order, for each of its RDMs (2: [2, 1] RDMs; 4: [1, 2, 2, 1]): round(0.5 common + random RDM,
    3); then for each of 6 subjects: w = rng.random(number of model RDMs), the subject RDM =
    round(Σ w_j model_j + 0.8 random RDM, 3), model RDMs in space order. Every entry is a multiple of
    0.001 (rounded with np.round), symmetric, zero diagonal, nonnegative."""
    rng = np.random.default_rng(11)
    n = GOLDEN_N_CONDITIONS

    def rdm():
        u = np.triu(rng.random((n, n)), 1)
        return u + u.T

    common = rdm()
    spaces = [[np.round(0.5 * common + rdm(), 3) for _ in range(c)] for c in GOLDEN_COUNTS[k]]
    models = [m for s in spaces for m in s]
    subjects = []
    for _ in range(GOLDEN_N_SUBJECTS):
        w = rng.random(len(models))
        subjects.append(np.round(sum(wj * mj for wj, mj in zip(w, models)) + 0.8 * rdm(), 3))
    return subjects, spaces, GOLDEN_NAMES[:k]


def _key_mask(key):
    """Net2Brain's 'R12' / 'y134' → the mask of spaces 1, 2 / 1, 3, 4."""
    return sum(1 << (int(c) - 1) for c in key[1:])


def _read_golden():
    """The recorded values: {k: {key: [per-subject values]}} and {k: {key: Significance}}."""
    vals, sig = {}, {}
    with open(os.path.abspath(__file__), encoding="utf-8") as f:
        for line in f:
            if line.startswith("# N2B "):
                _, _, k, kind, key, rest = line.split(None, 5)
                nums = [float(x) for x in rest.split()]
                (vals if kind == "values" else sig).setdefault(int(k), {})[key] = nums
    return vals, sig


# ---------------------------------------------------------------------------------------------

def _net2brain_formulas(R, K):
    """Net2Brain's explicit inclusion–exclusion (card A; variance_partitioning_analysis.py 291-293,
    340-346, 405-419), R keyed by strings of 1-based space digits: '1', '12', …. The card writes out
    2 and 3 spaces and only y1234 of 4 ("and so on"); the other 4-space lines are transcribed from
    that file (Net2Brain's formulas, not brainsweep's code)."""
    y = {}
    if K == 2:
        y["12"] = R["1"] + R["2"] - R["12"]
        y["1"] = R["1"] - y["12"]
        y["2"] = R["2"] - y["12"]
    elif K == 3:
        y["123"] = R["1"] + R["2"] + R["3"] - R["12"] - R["13"] - R["23"] + R["123"]
        y["12"] = R["1"] + R["2"] - R["12"] - y["123"]
        y["13"] = R["1"] + R["3"] - R["13"] - y["123"]
        y["23"] = R["2"] + R["3"] - R["23"] - y["123"]
        y["1"] = R["1"] - y["12"] - y["13"] - y["123"]
        y["2"] = R["2"] - y["12"] - y["23"] - y["123"]
        y["3"] = R["3"] - y["13"] - y["23"] - y["123"]
    else:
        y["1234"] = (R["1"] + R["2"] + R["3"] + R["4"] - R["12"] - R["13"] - R["14"] - R["23"] - R["24"]
                     - R["34"] + R["123"] + R["134"] + R["124"] + R["234"] - R["1234"])
        y["123"] = R["1"] + R["2"] + R["3"] - R["12"] - R["13"] - R["23"] + R["123"] - y["1234"]
        y["124"] = R["1"] + R["2"] + R["4"] - R["12"] - R["14"] - R["24"] + R["124"] - y["1234"]
        y["134"] = R["1"] + R["3"] + R["4"] - R["13"] - R["14"] - R["34"] + R["134"] - y["1234"]
        y["234"] = R["2"] + R["3"] + R["4"] - R["23"] - R["24"] - R["34"] + R["234"] - y["1234"]
        y["12"] = R["1"] + R["2"] - R["12"] - y["123"] - y["124"] - y["1234"]
        y["13"] = R["1"] + R["3"] - R["13"] - y["123"] - y["134"] - y["1234"]
        y["14"] = R["1"] + R["4"] - R["14"] - y["124"] - y["134"] - y["1234"]
        y["23"] = R["2"] + R["3"] - R["23"] - y["123"] - y["234"] - y["1234"]
        y["24"] = R["2"] + R["4"] - R["24"] - y["124"] - y["234"] - y["1234"]
        y["34"] = R["3"] + R["4"] - R["34"] - y["134"] - y["234"] - y["1234"]
        y["1"] = R["1"] - y["12"] - y["13"] - y["14"] - y["123"] - y["124"] - y["134"] - y["1234"]
        y["2"] = R["2"] - y["12"] - y["23"] - y["24"] - y["123"] - y["234"] - y["124"] - y["1234"]
        y["3"] = R["3"] - y["13"] - y["23"] - y["34"] - y["123"] - y["234"] - y["134"] - y["1234"]
        y["4"] = R["4"] - y["14"] - y["24"] - y["34"] - y["124"] - y["134"] - y["234"] - y["1234"]
    return y


def _digits(mask):
    return "".join(str(k + 1) for k in range(4) if mask >> k & 1)


def _random_spaces(rng, counts, n_pairs=66):
    return [[rng.random(n_pairs) for _ in range(c)] for c in counts]


def self_test():
    rng = np.random.default_rng(5)
    n_pairs = 66

    # sklearn's score = numpy lstsq R², random, collinear and golden inputs
    def check_lstsq(y, spaces, average_models=False):
        r2 = subset_r2(y, spaces, average_models)
        cols = _columns(spaces, average_models)
        for mask, val in r2.items():
            x = np.hstack([cols[k] for k in range(len(spaces)) if mask >> k & 1])
            assert abs(val - _r2_lstsq(_vec(y), x)) < 1e-12, (mask, val)
    a, b = rng.random(n_pairs), rng.random(n_pairs)
    check_lstsq(rng.random(n_pairs), [[a, b], [a + 2 * b, rng.random(n_pairs)], [rng.random(n_pairs)]])
    for K in (2, 3, 4):
        check_lstsq(rng.random(n_pairs), _random_spaces(rng, [1, 2, 3, 2][:K]))
        check_lstsq(rng.random(n_pairs), _random_spaces(rng, [1, 2, 3, 2][:K]), True)

    # (a) two orthogonal centred regressors: shared = 0, uniques = the single R²
    x1 = rng.standard_normal(n_pairs)
    x1 -= x1.mean()
    x2 = rng.standard_normal(n_pairs)
    x2 -= x2.mean()
    x2 -= (x2 @ x1) / (x1 @ x1) * x1
    assert abs(x1.mean()) < 1e-12 and abs(x2.mean()) < 1e-12 and abs(x1 @ x2) < 1e-12
    y = 0.7 * x1 - 0.4 * x2 + rng.standard_normal(n_pairs)
    r2 = subset_r2(y, [[x1], [x2]])
    v = partitions(r2, 2)
    assert abs(v[3]) < 1e-12, v
    assert abs(v[1] - r2[1]) < 1e-12 and abs(v[2] - r2[2]) < 1e-12

    # (b) the same RDM in spaces 1 and 2: unique 1 = unique 2 = 0, shared = R²(1)
    for spaces in ([[x1], [x1]], [[a, b], [a, b]]):
        r2 = subset_r2(y, spaces)
        v = partitions(r2, 2)
        assert abs(v[1]) < 1e-12 and abs(v[2]) < 1e-12 and abs(v[3] - r2[1]) < 1e-12, v
    # and with a third space: the duplicated pair's uniques vanish, what they share is theirs
    c = rng.random(n_pairs)
    r2 = subset_r2(y, [[x1], [x1], [c]])
    v = partitions(r2, 3)
    assert abs(v[1]) < 1e-12 and abs(v[2]) < 1e-12 and abs(v[3] - (r2[7] - r2[4])) < 1e-12

    # (c) the partitions add up to R²(all); (d) Net2Brain's explicit formulas = the Möbius inversion
    for K in (2, 3, 4):
        for trial in range(5):
            spaces = _random_spaces(rng, rng.integers(1, 3, K))
            y = sum(rng.random() * r for s in spaces for r in s) + rng.random(n_pairs)
            r2 = subset_r2(y, spaces)
            v = partitions(r2, K)
            full = (1 << K) - 1
            assert abs(sum(v.values()) - r2[full]) < 1e-12
            # and each subset's R² is the sum of the parts that touch it (the other Möbius direction)
            for S in r2:
                assert abs(sum(val for T, val in v.items() if T & S) - r2[S]) < 1e-12
            y2 = _net2brain_formulas({_digits(m): val for m, val in r2.items()}, K)
            assert set(y2) == {_digits(m) for m in v}
            for m, val in v.items():
                assert abs(y2[_digits(m)] - val) < 1e-12, (K, m, y2[_digits(m)], val)

    # (e) Benjamini–Hochberg against its definition, with ties and values that cap at 1
    for trial in range(200):
        m = int(rng.integers(1, 16))
        p = rng.random(m) ** 3
        if m > 3:
            p[1] = p[2]
            p[0] = 0.99
        assert np.allclose(bh(p), bh_brute(p), rtol=0, atol=1e-15), (p, bh(p), bh_brute(p))
    assert np.allclose(bh([0.01, 0.04, 0.03, 0.2]), [0.04, 0.16 / 3, 0.16 / 3, 0.2])  # by hand
    assert np.allclose(bh([0.5]), [0.5])

    # the rows: columns, order, counts, mean rows
    subjects, spaces, names = golden_case(4)
    rows = vpa(subjects, spaces, names, roi="V1", subject_names=[f"s{i}" for i in range(6)])
    assert all(list(r) == COLUMNS for r in rows)
    assert len(rows) == 7 * 2 * 15
    assert rows[0]["spaces"] == "alpha" and rows[4]["spaces"] == "alpha+beta" and rows[14]["spaces"] == \
        "alpha+beta+gamma+delta"
    assert [r["kind"] for r in rows[:30]] == ["model"] * 15 + ["unique"] * 4 + ["shared"] * 11
    assert [r["subject"] for r in rows[::30]] == ["s0", "s1", "s2", "s3", "s4", "s5", "mean"]
    assert all(r["n_pairs"] == 66 and r["n_subjects"] == 6 and r["roi"] == "V1" for r in rows)
    assert all(math.isnan(r["t"]) and math.isnan(r["p"]) and math.isnan(r["p_fdr"]) for r in rows[:180])
    mean = rows[180:]
    assert all(not math.isnan(r["p"]) and math.isnan(r["p_fdr"]) for r in mean[:15])
    assert np.allclose([r["p_fdr"] for r in mean[15:]], bh([r["p"] for r in mean[15:]]))
    for i, r in enumerate(mean):
        vals = [rows[s * 30 + i]["value"] for s in range(6)]
        assert abs(r["value"] - np.mean(vals)) < 1e-15
        t = np.mean(vals) / (np.std(vals, ddof=1) / np.sqrt(6))
        assert abs(r["t"] - t) < 1e-9 * abs(t)
        assert abs(r["p"] - 2 * stats.t.sf(abs(t), 5)) < 1e-12
    assert all(r["negative"] == (1 if r["value"] < 0 else 0) for r in rows)
    assert any(r["negative"] for r in rows)  # the golden data has negative partitions
    # square and vector inputs agree; average_models = one averaged regressor per space
    rows_v = vpa([upper(s) for s in subjects], [[upper(m) for m in sp] for sp in spaces], names, roi="V1",
                 subject_names=[f"s{i}" for i in range(6)])
    assert all(r["value"] == q["value"] for r, q in zip(rows, rows_v))
    rows_a = vpa(subjects, spaces, names, average_models=True)
    rows_m = vpa(subjects, [[np.mean(sp, axis=0)] for sp in spaces], names)
    assert all(abs(r["value"] - q["value"]) < 1e-12 for r, q in zip(rows_a, rows_m))

    # golden values: Net2Brain b59ed47's VPA on golden_case(2) and golden_case(4)
    gold, gsig = _read_golden()
    assert set(gold) == {2, 4} and set(gsig) == {2, 4}
    n_checked = 0
    for k in (2, 4):
        subjects, spaces, names = golden_case(k)
        check_lstsq(subjects[0], spaces)
        rows = vpa(subjects, spaces, names)
        order = masks_in_order(k)
        per = len(order) * 2
        for key, vals in gold[k].items():
            mask = _key_mask(key)
            i = order.index(mask) + (0 if key[0] == "R" else len(order))
            mine = [rows[s * per + i]["value"] for s in range(6)]
            assert np.allclose(mine, vals, rtol=0, atol=1e-10), (k, key, mine, vals)
            # Net2Brain's Significance with one time point is the t-test's p itself
            p_mine = rows[6 * per + i]["p"]
            assert abs(p_mine - gsig[k][key][0]) < 1e-10, (k, key, p_mine, gsig[k][key])
            n_checked += 1
    assert n_checked == (3 + 3) + (11 + 15)
    print("vpa_reference self-test: ok")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()


# ---------------------------------------------------------------------------------------------
# Net2Brain b59ed47 VPA, generated by: /usr/bin/python3 run_n2b_vpa.py (the script below, run from
# /tmp; numpy 1.24.2, scipy 1.10.1, scikit-learn 1.2.1, pandas 1.5.3, matplotlib 3.6.3).
# Net2Brain: cvai-roig-lab/Net2Brain commit b59ed47dc88e3c120e43f5726ede126e902843e8,
# net2brain/evaluations/variance_partitioning_analysis.py and eval_helper.py (both byte-identical to
# that commit's), VPA(...).evaluate(average_models=False), run unmodified. Stubbed: statsmodels
# (not installed), its stats.multitest.fdrcorrection replaced by the Benjamini-Hochberg function in
# the script; a bare package shell replaces net2brain/__init__.py and evaluations/__init__.py (which
# import torch etc.) so that the file's `from .eval_helper import *` finds the real eval_helper.py.
# With one time point the stub's BH returns p itself, so 'significance' is the t-test's p.
# Data: golden_case(k) above, written as brain.npy (6, 1, 66) = upper() of each subject's RDM, and
# one space<j>_rdm<i>.npz per model RDM (key 'rdm', the square 12 x 12 matrix).
# 'values' lines: Net2Brain's Variable, then Values[:, 0] for subjects 1..6 ('%.17g'); 'significance'
# lines: its Significance (one time point). Net2Brain's evaluate_4 returns R1..R4, the six pairs and
# R1234 but not the triples R123, R124, R134, R234 (its R_values dict has no slots for them), and all
# fifteen y's. Keys: digit d = space d (1-based), 'R' = R² of that subset, 'y' = its partition.
#
#   # Runs Net2Brain b59ed47's VPA (net2brain/evaluations/variance_partitioning_analysis.py, imported by
#   # path) on golden_case(2) and golden_case(4) of vpa_reference.py, and prints the "# N2B" lines.
#   import os, sys, types, importlib.util, tempfile
#   os.environ.setdefault("MPLBACKEND", "Agg")
#   import numpy as np
#   sys.path.insert(0, "/work/main/tests/reference")
#   from vpa_reference import golden_case, upper
#
#   # stub: statsmodels is not installed; fdrcorrection = Benjamini-Hochberg (method 'indep'), returning
#   # (rejected, corrected) like statsmodels
#   def fdrcorrection(pvals, alpha=0.05, method="indep", is_sorted=False):
#       p = np.asarray(pvals, float); m = len(p); o = np.argsort(p, kind="mergesort")
#       adj = np.minimum.accumulate((p[o] * m / np.arange(1, m + 1))[::-1])[::-1]
#       out = np.empty(m); out[o] = np.minimum(adj, 1.0)
#       return out <= alpha, out
#   sm, sms, smm = (types.ModuleType(n) for n in ("statsmodels", "statsmodels.stats", "statsmodels.stats.multitest"))
#   smm.fdrcorrection = fdrcorrection; sms.multitest = smm; sm.stats = sms
#   sys.modules.update({"statsmodels": sm, "statsmodels.stats": sms, "statsmodels.stats.multitest": smm})
#   # a package shell over the real evaluations folder, so `from .eval_helper import *` loads Net2Brain's
#   # eval_helper.py without running net2brain/__init__.py (torch, ...)
#   EV = "/tmp/n2b/net2brain/evaluations"
#   pkg = types.ModuleType("n2b_ev"); pkg.__path__ = [EV]; sys.modules["n2b_ev"] = pkg
#   spec = importlib.util.spec_from_file_location("n2b_ev.variance_partitioning_analysis",
#                                                 EV + "/variance_partitioning_analysis.py")
#   vpa_mod = importlib.util.module_from_spec(spec); sys.modules[spec.name] = vpa_mod
#   spec.loader.exec_module(vpa_mod)
#
#   for k in (2, 4):
#       subjects, spaces, names = golden_case(k)
#       d = tempfile.mkdtemp(prefix=f"n2b_vpa{k}_")
#       dep = os.path.join(d, "brain.npy")
#       np.save(dep, np.array([upper(s) for s in subjects])[:, None, :])   # (6, 1, 66)
#       ind = []
#       for j, space in enumerate(spaces):
#           paths = []
#           for i, m in enumerate(space):
#               paths.append(os.path.join(d, f"space{j + 1}_rdm{i + 1}.npz"))
#               np.savez(paths[-1], rdm=m)                                   # square 12 x 12
#           ind.append(paths)
#       df = vpa_mod.VPA(dep, ind, names).evaluate(average_models=False)
#       for _, row in df.iterrows():
#           vals = np.asarray(row["Values"], float)
#           assert vals.shape == (6, 1)
#           print(f"# N2B {k} values {row['Variable']} " + " ".join(f"{v:.17g}" for v in vals[:, 0]))
#       for _, row in df.iterrows():
#           sig = np.asarray(row["Significance"], float)
#           print(f"# N2B {k} significance {row['Variable']} " + " ".join(f"{v:.17g}" for v in sig))
#
# N2B 2 values R1 0.66963335036519767 0.70955775854720593 0.51884182729465467 0.40714178116877142 0.092632189629937023 0.51165073576374465
# N2B 2 values R2 0.41422841071625205 0.039877311381002034 0.3709822042778913 0.38490525024687949 0.66200444808247094 0.21508397271622148
# N2B 2 values R12 0.86010521543882035 0.71249570260077388 0.73769769590590217 0.62945229492307531 0.69786237083388758 0.62939419538543007
# N2B 2 values y12 0.22375654564262926 0.036939367327434081 0.1521263356666438 0.16259473649257561 0.056774266878520385 0.097340513094536063
# N2B 2 values y1 0.44587680472256841 0.67261839121977185 0.36671549162801087 0.24454704467619581 0.035857922751416638 0.41431022266920858
# N2B 2 values y2 0.19047186507362279 0.0029379440535679535 0.21885586861124751 0.22231051375430388 0.60523018120395056 0.11774345962168542
# N2B 2 significance R1 0.0030623350636072833
# N2B 2 significance R2 0.0094891997206598584
# N2B 2 significance R12 5.2258913095526593e-06
# N2B 2 significance y12 0.0083970091329217227
# N2B 2 significance y1 0.0086383236482598814
# N2B 2 significance y2 0.041460303339334086
# N2B 4 values R1 0.30337874670696019 0.15077512326646691 0.020143820132919044 0.17177831495136775 0.32896095080445087 0.16271461067202864
# N2B 4 values R2 0.41733120479710351 0.62899520312719326 0.58681589107570264 0.60393082393137187 0.48685248484733445 0.64212904521470571
# N2B 4 values R3 0.50563685092485633 0.51212450098225848 0.52228302718388531 0.45853786884203218 0.32700754238927521 0.48548012043057098
# N2B 4 values R4 0.22334743351949082 0.41684846767746253 0.35165276662046063 0.46394573478510959 0.3512723964357265 0.32143513999866657
# N2B 4 values R12 0.59947700102857393 0.68015018400176186 0.58681612024283525 0.66504312592848569 0.6744902652877186 0.71805484388467122
# N2B 4 values R13 0.76271311999223634 0.63040637656957021 0.53198470770571527 0.59766358551076504 0.616723098891241 0.61501728483921259
# N2B 4 values R14 0.52131227018076098 0.56241612503004657 0.37006836986091651 0.62985971794313222 0.6731624607138873 0.47939560815501725
# N2B 4 values R23 0.69724362155239983 0.84856648926918932 0.84227236740239919 0.79477176414721717 0.6158232213147774 0.83967788985711711
# N2B 4 values R24 0.44057627414913991 0.69902744013917961 0.63902872005020928 0.70418337542190046 0.55539371914612723 0.67534200368828268
# N2B 4 values R34 0.56982062114938736 0.70055388775181615 0.67305417555109348 0.69604926959449032 0.50919339636423411 0.61257603330733668
# N2B 4 values R1234 0.88806640128284331 0.94731377884190626 0.86258330682657969 0.93581855955483872 0.8685187163264898 0.93336112750720202
# N2B 4 values y1 0.18793601024390894 0.065554846941458633 0.0001175770396248943 0.08206841580269375 0.21383252696372179 0.083767253083143922
# N2B 4 values y2 0.058208495883551592 0.12504526115730485 0.17893746422153567 0.096463365301710291 0.064327117288806357 0.18829848898080093
# N2B 4 values y3 0.24425186255235753 0.17892755341624111 0.22260151962459751 0.1466661519030904 0.090526417569916529 0.16668854198224536
# N2B 4 values y4 0.012508943823424046 0.046280713587128819 0.020239240438817641 0.078038885291478399 0.066482873093630768 0.018986898723824419
# N2B 4 values y12 0.072101274005995752 0.056159782991326512 0.010474090014325421 0.061237508855944256 0.08116567570972788 0.04871935213592038
# N2B 4 values y13 0.01530225433743726 0.0038039383450269026 0.00083549011214778535 0.0029006164271541124 0.0087660526467245869 0.0075633287535299409
# N2B 4 values y14 -0.0096221743368891666 -0.013088270955870507 -4.587805426237157e-05 -0.019060505686550822 -0.027619905045639825 -0.0090709141568835472
# N2B 4 values y23 0.064293772666173532 0.080924839238313617 0.090975953119529773 0.062829324406905696 0.040502720753879951 0.098978488389138364
# N2B 4 values y24 0.054635841583631661 0.14558142752790226 0.13142189446051089 0.16365272345088488 0.12098562705281202 0.11105845496336397
# N2B 4 values y34 0.031828593878488132 0.041955327836774359 0.032926426520329066 0.046070396431784122 0.037019160375224236 0.029630842916460898
# N2B 4 values y123 0.022625298073928213 0.020049089074771986 0.0069884460743577792 0.019707442072230519 0.018125808957986544 0.017910534183756432
# N2B 4 values y124 0.0066611591543644932 0.0096555166103970969 -0.00084410847785798548 0.014880297696645672 0.022337258874155941 0.0061214733464608484
# N2B 4 values y134 -0.011470294012986604 -0.0051155334560464283 -0.00090695993037770428 -0.0047962245461832254 -0.0073408941244224035 -0.0063338690098247996
# N2B 4 values y234 0.11896014418825696 0.17782353281177421 0.16533698830833987 0.17031939781761707 0.11971384938776941 0.15700480087933932
# N2B 4 values y1234 0.019845219241201306 0.013755753715402719 0.0035251633549612249 0.014840764329433487 0.019694426822196354 0.01403745233592546
# N2B 4 significance R1 0.0091970494092718704
# N2B 4 significance R2 2.1007338939582825e-05
# N2B 4 significance R3 1.8827269855209672e-05
# N2B 4 significance R4 0.00013459533010398161
# N2B 4 significance R12 5.9191936415044146e-07
# N2B 4 significance R13 5.3897186760563648e-06
# N2B 4 significance R14 6.6976978575506696e-05
# N2B 4 significance R23 6.1162368356668969e-06
# N2B 4 significance R24 2.624954748204386e-05
# N2B 4 significance R34 5.8640931137555545e-06
# N2B 4 significance R1234 2.5385687800736948e-08
# N2B 4 significance y1 0.023493785728863938
# N2B 4 significance y2 0.0034819843853916383
# N2B 4 significance y3 0.00055436478844465939
# N2B 4 significance y4 0.015481187345024544
# N2B 4 significance y12 0.0027990701553172823
# N2B 4 significance y13 0.027920047795615955
# N2B 4 significance y14 0.019313774874256336
# N2B 4 significance y23 0.00040215182734265901
# N2B 4 significance y24 0.00051783660504714805
# N2B 4 significance y34 3.2899134740846557e-05
# N2B 4 significance y123 0.00052539110159626531
# N2B 4 significance y124 0.030007669010617914
# N2B 4 significance y134 0.0081833996672515015
# N2B 4 significance y234 2.9478441811690885e-05
# N2B 4 significance y1234 0.0020099236870618313
