#!/usr/bin/python3
"""Weighted (reweighted) RSA, written from docs/metrics.md ("Weighted RSA (`brainsweep wrsa`)") and
PEER_ANALYSES.md card F, not from brainsweep's code. A test oracle: plain numpy and scipy, written to
be read, not to be fast.

- fold_assignment(...): the documented folds: Fisher–Yates with splitmix64_at(seed ^ key, i) and
  index_from_draw (metrics_reference.py), keys 0x5EB1EC7 (subjects) and 0xC0D1710 (conditions),
  dealt round-robin (shuffled position q → fold q mod F); leave one subject out is unshuffled; a fold
  of `both` is (subject fold a, condition fold b), numbered a·F_c + b.
- pool_corr(vectors): rsatoolbox's pool_rdm(method='corr'): each vector z-scored (ddof 0), averaged,
  minus its minimum, plus 0.01.
- fit_ols / fit_nnls(X_models, y, ridge_weight): regressors demeaned; OLS by the normal equations
  (λ = 0: numpy's minimum-norm lstsq), NNLS by scipy.optimize.nnls (λ > 0: on [X; √λ I], [y; 0]);
  θ divided by its L2 norm (an all-zero θ stays zero).
- wrsa(models, subjects, ...): the CSV rows of `brainsweep wrsa` for one ROI, as dicts.

Undefined values are NaN (an empty CSV field). The pairs of a condition set are the upper-triangle
entries (i, j), i < j, both in the set, in row-by-row order.

Usage: wrsa_reference.py --self-test
"""
import itertools
import os
import sys

import numpy as np
from scipy.optimize import nnls as scipy_nnls

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metrics_reference as mr  # noqa: E402  (splitmix64_at, index_from_draw, upper, pearson)

SUBJECT_KEY = 0x5EB1EC7
CONDITION_KEY = 0xC0D1710
MASK64 = (1 << 64) - 1

COLUMNS = ["roi", "model", "fit", "cv", "fold", "weight", "similarity", "similarity_squared", "sem",
           "ceiling_lower", "ceiling_upper", "percent_of_ceiling", "n_train_subjects", "n_test_subjects",
           "n_train_conditions", "n_test_conditions", "seed"]

NAN = float("nan")


# ---------------------------------------------------------------- folds
def shuffled(n, seed, key):
    """Fisher–Yates: i = n − 1 … 1 swaps i with index_from_draw(splitmix64_at(seed ^ key, i), i + 1)."""
    stream = (seed ^ key) & MASK64
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        j = int(mr.index_from_draw(mr.splitmix64_at(stream, np.array([i], dtype=np.uint64)), i + 1)[0])
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def deal(n, folds, seed, key, leave_one_out=False):
    """Fold → sorted members. The element at shuffled position q goes to fold q mod folds."""
    if leave_one_out:
        return [[s] for s in range(n)]
    out = [[] for _ in range(folds)]
    for q, element in enumerate(shuffled(n, seed, key)):
        out[q % folds].append(element)
    return [sorted(f) for f in out]


def fold_assignment(n_subjects, n_conditions, cv, subject_folds=None, stimulus_folds=5, seed=0):
    """List of folds (train_subjects, test_subjects, train_conditions, test_conditions), sorted index
    lists, in the documented numbering (`both`: a·F_c + b; `subjects`: a; `stimuli`: b).
    Raises ValueError on what the page says `wrsa` refuses about folds."""
    if cv not in ("subjects", "stimuli", "both"):
        raise ValueError(f"--cv {cv!r}")
    if n_subjects < 2:
        raise ValueError("an ROI of fewer than 2 subjects")
    subject_folds = n_subjects if subject_folds is None else subject_folds
    all_s, all_c = list(range(n_subjects)), list(range(n_conditions))
    if cv in ("subjects", "both"):
        if not 2 <= subject_folds <= n_subjects:
            raise ValueError("--subject-folds outside 2 … subjects")
        s_folds = deal(n_subjects, subject_folds, seed, SUBJECT_KEY, leave_one_out=subject_folds == n_subjects)
        s_pairs = [(sorted(set(all_s) - set(f)), f) for f in s_folds]
    else:
        s_pairs = [(all_s, all_s)]  # `stimuli`: S_tr = S_te = all subjects
    if cv in ("stimuli", "both"):
        if stimulus_folds < 2 or n_conditions // stimulus_folds < 3:  # round-robin: smallest fold ⌊n/F⌋
            raise ValueError("--stimulus-folds < 2 or leaving a fold fewer than 3 conditions")
        c_folds = deal(n_conditions, stimulus_folds, seed, CONDITION_KEY)
        c_pairs = [(sorted(set(all_c) - set(f)), f) for f in c_folds]
    else:
        c_pairs = [(all_c, all_c)]  # `subjects`: one condition "fold", C_tr = C_te = all conditions
    # a·F_c + b: subject fold outer, condition fold inner
    return [(s_tr, s_te, c_tr, c_te) for s_tr, s_te in s_pairs for c_tr, c_te in c_pairs]


def pair_mask(n_conditions, conditions):
    """Boolean mask over the upper-triangle entries: both conditions in the set."""
    inside = np.zeros(n_conditions, bool)
    inside[list(conditions)] = True
    i, j = np.triu_indices(n_conditions, 1)
    return inside[i] & inside[j]


# ---------------------------------------------------------------- fit
def pool_corr(vectors):
    """rsatoolbox pool_rdm(method='corr'): z-score each row (ddof 0), mean over rows, − min + 0.01."""
    v = np.asarray(vectors, dtype=np.float64)
    z = (v - v.mean(axis=1, keepdims=True)) / v.std(axis=1, keepdims=True)
    p = z.mean(axis=0)
    return p - p.min() + 0.01


def _normalise(theta):
    norm = np.sqrt(np.sum(theta ** 2))
    return theta / norm if norm > 0 else theta


def _demeaned(X_models):
    X = np.asarray(X_models, dtype=np.float64)
    return X - X.mean(axis=0, keepdims=True)


def fit_ols(X_models, y, ridge_weight=0.0, normalize=True):
    """X_models: (pairs, models), the models' raw vectors on the training pairs (demeaned here);
    y: the pooled target. θ = (XᵀX + λI)⁻¹Xᵀy; λ = 0: the minimum-norm least-squares θ."""
    X, y = _demeaned(X_models), np.asarray(y, dtype=np.float64)
    if ridge_weight == 0:
        theta = np.linalg.lstsq(X, y, rcond=None)[0]
    else:
        theta = np.linalg.solve(X.T @ X + ridge_weight * np.eye(X.shape[1]), X.T @ y)
    return _normalise(theta) if normalize else theta


def fit_nnls(X_models, y, ridge_weight=0.0, normalize=True):
    """argmin ‖Xθ − y‖² + λ‖θ‖² subject to θ ≥ 0, X demeaned; scipy's Lawson–Hanson NNLS, on the
    augmented system [X; √λ I], [y; 0] when λ > 0."""
    X, y = _demeaned(X_models), np.asarray(y, dtype=np.float64)
    if ridge_weight > 0:
        k = X.shape[1]
        X = np.vstack([X, np.sqrt(ridge_weight) * np.eye(k)])
        y = np.concatenate([y, np.zeros(k)])
    theta = scipy_nnls(X, y)[0]
    return _normalise(theta) if normalize else theta


FITTERS = {"ols": fit_ols, "nnls": fit_nnls}


# ---------------------------------------------------------------- wrsa
def _as_vector(rdm):
    a = np.asarray(rdm, dtype=np.float64)
    return mr.upper(a) if a.ndim == 2 else a


def _n_conditions(n_pairs):
    n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    if n * (n - 1) // 2 != n_pairs:
        raise ValueError(f"{n_pairs} entries is not an upper triangle")
    return n


def _scores(prediction, test_vectors):
    """(mean r, mean r²) of the prediction against each test subject's vector (Pearson; NaN if undefined)."""
    rs = np.array([mr.pearson(prediction, v) for v in test_vectors])
    return float(np.mean(rs)), float(np.mean(rs ** 2))


def _percent(similarity, lower):
    return 100.0 * similarity / lower if lower != 0 else NAN  # lower = 0: undefined (the page is silent)


def wrsa(models, subjects, fits=("ols", "nnls"), cv="both", subject_folds=None, stimulus_folds=5,
         ridge_weight=0.0, seed=0, roi=None):
    """models: dict name → square RDM or upper-triangle vector; subjects: list of the same.
    Returns the rows (dicts with COLUMNS; `roi` only when given), per fit: the weighted mixture's
    rows, then each model's weight rows; then each model's `single` rows; each block its folds then
    `mean`. Weight rows leave every score column (similarity … percent_of_ceiling) empty; `mean`
    rows leave n_train/test_* empty (the folds' sizes may differ). Both choices are this file's
    reading of the page."""
    for f in fits:
        if f not in FITTERS:
            raise ValueError(f"--fit {f!r}")
    if ridge_weight < 0:
        raise ValueError("negative --ridge-weight")
    if not models:
        raise ValueError("no model")
    names = list(models)
    D = np.array([_as_vector(models[k]) for k in names])            # (models, pairs)
    B = np.array([_as_vector(s) for s in subjects])                  # (subjects, pairs)
    for k, d in zip(names, D):
        if not np.all(np.isfinite(d)) or np.all(d == d[0]):
            raise ValueError(f"model {k!r}: undefined or constant RDM")
    n_cond = _n_conditions(D.shape[1])
    folds = fold_assignment(len(B), n_cond, cv, subject_folds, stimulus_folds, seed)

    per_fold = []  # per fold: dict of the fold's numbers
    for s_tr, s_te, c_tr, c_te in folds:
        tr, te = pair_mask(n_cond, c_tr), pair_mask(n_cond, c_te)
        y = pool_corr(B[s_tr][:, tr])
        X = D[:, tr].T
        thetas = {f: FITTERS[f](X, y, ridge_weight) for f in fits}
        test_vectors = B[s_te][:, te]
        lower = np.mean([mr.pearson(pool_corr(B[[o for o in s_tr if o != s]][:, te]), B[s, te]) for s in s_te])
        upper_ = np.mean([mr.pearson(pool_corr(B[:, te]), B[s, te]) for s in s_te])
        per_fold.append({
            "theta": thetas,
            "weighted": {f: _scores(thetas[f] @ D[:, te], test_vectors) for f in fits},
            "single": [_scores(D[k, te], test_vectors) for k in range(len(names))],
            "lower": float(lower), "upper": float(upper_),
            "n": (len(s_tr), len(s_te), len(c_tr), len(c_te)),
        })

    def row(model, fit, fold, weight=NAN, sim=NAN, sq=NAN, sem=NAN, lower=NAN, upper_=NAN, pct=NAN,
            n=(NAN, NAN, NAN, NAN)):
        r = {"model": model, "fit": fit, "cv": cv, "fold": fold, "weight": weight, "similarity": sim,
             "similarity_squared": sq, "sem": sem, "ceiling_lower": lower, "ceiling_upper": upper_,
             "percent_of_ceiling": pct, "n_train_subjects": n[0], "n_test_subjects": n[1],
             "n_train_conditions": n[2], "n_test_conditions": n[3], "seed": seed}
        if roi is not None:
            r = {"roi": roi, **r}
        return r

    def score_block(model, fit, scores):
        """Fold rows and the mean row of one scored thing; scores: per fold (similarity, squared)."""
        out = []
        for f, (sim, sq) in enumerate(scores):
            pf = per_fold[f]
            out.append(row(model, fit, f, sim=sim, sq=sq, lower=pf["lower"], upper_=pf["upper"],
                           pct=_percent(sim, pf["lower"]), n=pf["n"]))
        sims = np.array([s for s, _ in scores])
        sim = float(np.mean(sims))
        lower = float(np.mean([pf["lower"] for pf in per_fold]))
        out.append(row(model, fit, "mean", sim=sim, sq=float(np.mean([q for _, q in scores])),
                       sem=float(np.std(sims, ddof=1) / np.sqrt(len(sims))), lower=lower,
                       upper_=float(np.mean([pf["upper"] for pf in per_fold])), pct=_percent(sim, lower)))
        return out

    rows = []
    for fit in fits:
        rows += score_block("weighted", fit, [pf["weighted"][fit] for pf in per_fold])
        for k, name in enumerate(names):
            ws = [float(pf["theta"][fit][k]) for pf in per_fold]
            rows += [row(name, fit, f, weight=w, n=per_fold[f]["n"]) for f, w in enumerate(ws)]
            rows.append(row(name, fit, "mean", weight=float(np.mean(ws))))
    for k, name in enumerate(names):
        rows += score_block(name, "single", [pf["single"][k] for pf in per_fold])
    return rows


# ---------------------------------------------------------------- self-test
def _nnls_brute(X_models, y, ridge_weight=0.0):
    """Unnormalised NNLS by trying every active set: unconstrained (ridge) LS on the subset, kept if
    non-negative; the feasible one of least objective."""
    X, y = _demeaned(X_models), np.asarray(y, float)
    k = X.shape[1]
    best, best_loss = np.zeros(k), float(y @ y)
    for size in range(1, k + 1):
        for subset in itertools.combinations(range(k), size):
            Xs = X[:, subset]
            t = np.linalg.solve(Xs.T @ Xs + ridge_weight * np.eye(size), Xs.T @ y)
            if np.all(t >= 0):
                theta = np.zeros(k)
                theta[list(subset)] = t
                loss = float(np.sum((X @ theta - y) ** 2) + ridge_weight * theta @ theta)
                if loss < best_loss:
                    best, best_loss = theta, loss
    return best


def _splitmix_int(seed, k):
    x = (seed + (k + 1) * 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def _golden_data():
    """The seeded data of the rsatoolbox provenance block below (squareform order = row by row)."""
    rng = np.random.default_rng(7)
    models = [rng.random(66) for _ in range(6)]   # 12 conditions
    data = [rng.random(66) for _ in range(10)]
    return np.array(models), np.array(data)


def self_test():
    rng = np.random.default_rng(3)
    # helpers of metrics_reference used here do what the page says
    m = rng.random((5, 5))
    assert list(mr.upper(m)) == [m[i, j] for i in range(5) for j in range(i + 1, 5)]  # row by row
    v = rng.random((4, 10))
    assert np.allclose(pool_corr(v) - 0.01, mr.pool(v, "corr"), atol=1e-15)  # mr.pool omits the + 0.01
    assert np.isnan(mr.pearson(np.zeros(6), rng.random(6)))

    # (a) closed form: target a·d1 + b·d2 (+ c) with centred d's → OLS θ ∝ (a, b), NNLS = OLS
    d = rng.random((2, 66))
    d -= d.mean(axis=1, keepdims=True)
    for a, b in ((0.3, 1.7), (2.0, 0.5)):
        y = a * d[0] + b * d[1] + 4.0
        want = np.array([a, b]) / np.hypot(a, b)
        assert np.allclose(fit_ols(d.T, y), want, atol=1e-12)
        assert np.allclose(fit_nnls(d.T, y), want, atol=1e-12)
        assert np.allclose(fit_ols(d.T, y, normalize=False), [a, b], atol=1e-12)
        # and through wrsa: identical subjects a·d1 + b·d2 + 5 pool to a positive affine map of it,
        # so every fold's θ ∝ (a, b) and the mixture, the subjects and the ceilings agree (r = 1)
        subs = [a * d[0] + b * d[1] + 5.0] * 4
        rows = wrsa({"d1": d[0], "d2": d[1]}, subs, cv="both", subject_folds=2, stimulus_folds=3, seed=11)
        for r in rows:
            if r["fit"] in ("ols", "nnls") and r["model"] != "weighted":
                assert abs(r["weight"] - want[int(r["model"] == "d2")]) < 1e-12, r
            if r["model"] == "weighted":
                assert abs(r["similarity"] - 1) < 1e-12 and abs(r["ceiling_lower"] - 1) < 1e-12, r
                assert abs(r["percent_of_ceiling"] - 100) < 1e-9, r
        assert len(rows) == (2 * (1 + 2) + 2) * (2 * 3 + 1)
    # collinear models, λ = 0: the minimum-norm θ splits the weight evenly
    y = 2.0 * d[0] + 1.0
    assert np.allclose(fit_ols(np.array([d[0], d[0]]).T, y), [2 ** -0.5] * 2, atol=1e-12)
    # ridge OLS = least squares on the augmented system
    X, y, lam = rng.random((40, 5)), rng.random(40), 3.0
    Xa = np.vstack([_demeaned(X), np.sqrt(lam) * np.eye(5)])
    assert np.allclose(fit_ols(X, y, lam, normalize=False),
                       np.linalg.lstsq(Xa, np.concatenate([y, np.zeros(5)]), rcond=None)[0], atol=1e-12)

    # (b) NNLS against a brute-force search over active sets, on cases where OLS has negative weights
    checked = 0
    for trial in range(20):
        X = rng.random((45, 5))
        y = X @ rng.standard_normal(5) + 0.3 * rng.standard_normal(45)
        if not np.any(fit_ols(X, y) < 0):
            continue
        for lam in (0.0, 0.7):
            got, want = fit_nnls(X, y, lam, normalize=False), _nnls_brute(X, y, lam)
            assert np.allclose(got, want, atol=1e-10), (got, want)
            assert np.allclose(fit_nnls(X, y, lam), _normalise(want), atol=1e-10)
            checked += 1
    assert checked >= 10
    # the target anti-correlated with every model: θ = 0 is kept, the mixture's similarity NaN
    d2 = rng.random((2, 15))
    assert np.all(fit_nnls(d2.T, -(d2[0] + d2[1])) == 0)
    rows = wrsa({"p": d2[0], "q": d2[1]}, [10 - d2[0] - d2[1] + 0.01 * rng.random(15) for _ in range(3)],
                fits=("nnls",), cv="subjects")
    assert all(np.isnan(r["similarity"]) for r in rows if r["model"] == "weighted")

    # (c) folds: the stream against Python integers, every subject/condition once a test member per
    # axis, train and test disjoint, round-robin sizes, numbering a·F_c + b, leave-one-out unshuffled
    for seed in (0, 1, 12345, 2 ** 63 + 5):
        for n in (2, 5, 13):
            perm = list(range(n))
            for i in range(n - 1, 0, -1):
                j = (_splitmix_int((seed ^ SUBJECT_KEY) & MASK64, i) * (i + 1)) >> 64
                perm[i], perm[j] = perm[j], perm[i]
            assert shuffled(n, seed, SUBJECT_KEY) == perm
    for n_s, n_c, fs, fc, seed in ((7, 20, 3, 5, 0), (7, 20, None, 4, 9), (10, 30, 4, 3, 123), (2, 6, None, 2, 1)):
        for cv in ("subjects", "stimuli", "both"):
            folds = fold_assignment(n_s, n_c, cv, fs, fc, seed)
            n_sf = (n_s if fs is None else fs) if cv != "stimuli" else 1
            n_cf = fc if cv != "subjects" else 1
            assert len(folds) == n_sf * n_cf
            for s_tr, s_te, c_tr, c_te in folds:
                assert s_tr == sorted(s_tr) and s_te == sorted(s_te) and c_tr == sorted(c_tr) and c_te == sorted(c_te)
                if cv == "stimuli":
                    assert s_tr == s_te == list(range(n_s))
                else:
                    assert not set(s_tr) & set(s_te) and sorted(s_tr + s_te) == list(range(n_s))
                if cv == "subjects":
                    assert c_tr == c_te == list(range(n_c))
                else:
                    assert not set(c_tr) & set(c_te) and sorted(c_tr + c_te) == list(range(n_c))
                    assert len(c_te) >= 3
            if cv != "stimuli":  # fold a·F_c + b has subject fold a: each subject a test member in one a
                tests = [s for a in range(n_sf) for s in folds[a * n_cf][1]]
                assert sorted(tests) == list(range(n_s))
                assert all(folds[a * n_cf + b][1] == folds[a * n_cf][1] for a in range(n_sf) for b in range(n_cf))
                sizes = [len(folds[a * n_cf][1]) for a in range(n_sf)]
                assert max(sizes) - min(sizes) <= 1
                if fs is None:
                    assert [folds[a * n_cf][1] for a in range(n_sf)] == [[s] for s in range(n_s)]
            if cv != "subjects":
                tests = [c for b in range(n_cf) for c in folds[b][3]]
                assert sorted(tests) == list(range(n_c))
                assert all(folds[a * n_cf + b][3] == folds[b][3] for a in range(n_sf) for b in range(n_cf))
                sizes = [len(folds[b][3]) for b in range(n_cf)]
                assert max(sizes) - min(sizes) <= 1
    # round-robin by hand: shuffled position q → fold q mod F
    perm = shuffled(11, 4, CONDITION_KEY)
    assert deal(11, 3, 4, CONDITION_KEY) == [sorted(perm[q] for q in range(11) if q % 3 == f) for f in range(3)]
    for bad in ((1, 20, "both", None, 5), (5, 20, "both", 6, 5), (5, 20, "both", 1, 5), (5, 20, "stimuli", None, 7),
                (5, 20, "both", None, 1), (5, 20, "rows", None, 5)):
        try:
            fold_assignment(*bad)
        except ValueError:
            continue
        raise AssertionError(f"not refused: {bad}")

    # (d) rsatoolbox's fit_regress / fit_regress_nn (method='corr') on the seeded data of the block below
    models, data = _golden_data()
    y = pool_corr(data)
    for got, want in ((fit_ols(models.T, y), RSATOOLBOX_OLS), (fit_nnls(models.T, y), RSATOOLBOX_NNLS),
                      (fit_ols(models.T, y, 2.0), RSATOOLBOX_OLS_RIDGE2),
                      (fit_nnls(models.T, y, 2.0), RSATOOLBOX_NNLS_RIDGE2)):
        assert np.max(np.abs(got - np.array(want))) < 1e-10, (got, want)

    # the mean row and the fold rows agree with their definitions
    subs = [rng.random(45) for _ in range(6)]
    rows = wrsa({"a": rng.random(45), "b": rng.random(45), "c": rng.random(45)}, subs, cv="both",
                subject_folds=3, stimulus_folds=3, ridge_weight=0.5, seed=2, roi="V1")
    assert all(list(r) == COLUMNS for r in rows)
    w = [r for r in rows if r["model"] == "weighted" and r["fit"] == "ols"]
    sims = np.array([r["similarity"] for r in w[:-1]])
    assert len(sims) == 9 and w[-1]["fold"] == "mean"
    assert abs(w[-1]["sem"] - sims.std(ddof=1) / 3) < 1e-15 and abs(w[-1]["similarity"] - sims.mean()) < 1e-15
    assert abs(w[-1]["percent_of_ceiling"] - 100 * w[-1]["similarity"] / w[-1]["ceiling_lower"]) < 1e-12
    assert all(r["n_train_conditions"] + r["n_test_conditions"] == 10 for r in w[:-1])
    print("wrsa_reference self-test: ok")


# ---------------------------------------------------------------- provenance
# rsatoolbox f1f83cad (rsagroup/rsatoolbox), fit_regress / fit_regress_nn with method='corr',
# normalize=True, on all data (no CV); ridge_weight 0 (the brief's two vectors) and 2.0 (extra).
# The self-test recomputes them with fit_ols / fit_nnls from _golden_data() and pool_corr (1e-10).
RSATOOLBOX_OLS = [0.38179034721243277, 0.76722115271871727, -0.036615303749272028, -0.41768619203139279,
                  -0.15593782804790804, 0.25590778006488346]
RSATOOLBOX_NNLS = [0.43316706430581947, 0.84286451239879756, 0, 0, 0, 0.31928937993521672]
RSATOOLBOX_OLS_RIDGE2 = [0.40173486551949678, 0.76113469842501158, -0.061129152791073123, -0.35861344040439147,
                         -0.181055231371158, 0.30685778287833343]
RSATOOLBOX_NNLS_RIDGE2 = [0.44949106533666283, 0.82199782438975333, 0, 0, 0, 0.34968179661089621]
#
# Generated by (/usr/bin/python3: numpy 1.24, scipy 1.10; rsatoolbox's src/ on disk, not installed):
#
# --- golden.py ---------------------------------------------------------------------------------
# import numpy as np
# from scipy.spatial.distance import squareform
# import stubs  # noqa: F401  (rsatoolbox f1f83cad from /tmp/rsatoolbox/src, see stubs.py)
# from rsatoolbox.rdm import RDMs
# from rsatoolbox.model import ModelWeighted
# from rsatoolbox.model.fitter import fit_regress, fit_regress_nn
#
# rng = np.random.default_rng(7)
# models = [squareform(rng.random(66)) for _ in range(6)]   # 12 x 12, zero diagonal, positive off-diagonal
# data = [squareform(rng.random(66)) for _ in range(10)]
# model = ModelWeighted("weighted", RDMs(np.array(models)))
# subjects = RDMs(np.array(data))
# fmt = lambda t: "[" + ", ".join(f"{v:.17g}" for v in t) + "]"  # noqa: E731
# print("OLS =", fmt(fit_regress(model, subjects, method="corr")))
# print("NNLS =", fmt(fit_regress_nn(model, subjects, method="corr")))
# print("OLS_RIDGE2 =", fmt(fit_regress(model, subjects, method="corr", ridge_weight=2.0)))
# print("NNLS_RIDGE2 =", fmt(fit_regress_nn(model, subjects, method="corr", ridge_weight=2.0)))
#
# --- stubs.py (beside golden.py) ----------------------------------------------------------------
# """Load rsatoolbox f1f83cad from /tmp/rsatoolbox/src without installing it: the package __init__ (which
# asks importlib.metadata for a version) is skipped, and third-party modules missing here and not used
# by fit_regress / fit_regress_nn are stubbed."""
# import sys, types, importlib.abc, importlib.machinery
# from unittest import mock
#
# STUB = {"networkx", "matplotlib", "pandas", "tqdm", "joblib", "h5py", "PIL", "sklearn", "skimage", "petname"}
#
# class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
#     def find_spec(self, name, path, target=None):
#         if name == "rsatoolbox.cengine" or name.startswith("rsatoolbox.cengine."):
#             return importlib.machinery.ModuleSpec(name, self, is_package=True)  # the Cython engine, unbuilt
#         top = name.split(".")[0]
#         if top in STUB:
#             if importlib.machinery.PathFinder.find_spec(top) is not None:
#                 return None  # installed here: use the real one
#             return importlib.machinery.ModuleSpec(name, self, is_package=True)
#         return None
#     def create_module(self, spec):
#         m = mock.MagicMock(name=spec.name)
#         m.__path__ = []
#         m.__spec__ = spec
#         return m
#     def exec_module(self, module):
#         pass
#
# sys.meta_path.insert(0, _Finder())
# pkg = types.ModuleType("rsatoolbox")
# pkg.__path__ = ["/tmp/rsatoolbox/src/rsatoolbox"]
# pkg.__version__ = "f1f83cad"
# sys.modules["rsatoolbox"] = pkg
#
# (Stubbed in that run: networkx, tqdm, rsatoolbox.cengine; fitter.py, pooling.py, model.py, rdms.py real.)
#
# Output:
# OLS = [0.38179034721243277, 0.76722115271871727, -0.036615303749272028, -0.41768619203139279, -0.15593782804790804, 0.25590778006488346]
# NNLS = [0.43316706430581947, 0.84286451239879756, 0, 0, 0, 0.31928937993521672]
# OLS_RIDGE2 = [0.40173486551949678, 0.76113469842501158, -0.061129152791073123, -0.35861344040439147, -0.181055231371158, 0.30685778287833343]
# NNLS_RIDGE2 = [0.44949106533666283, 0.82199782438975333, 0, 0, 0, 0.34968179661089621]


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    else:
        sys.exit(__doc__)
