"""brainsweep from Python: the ridge engine of ``brainsweep ridge`` as a scikit-learn-style estimator,
and readers for what the command line writes into a run directory.

    import brainsweep
    model = brainsweep.RidgeCV(alphas=np.logspace(-1, 7, 17), cv=5).fit(X_train, Y_train)
    r = model.score(X_test, Y_test)            # mean Pearson r over targets
    df = brainsweep.read_results("runs/sherlock")

Build: the normal build (``tools/build.sh``) writes this package to ``build/python/brainsweep``; use it
with ``PYTHONPATH=build/python /usr/bin/python3`` (Debian's numpy; pandas for the readers), or
install it with ``cmake --install build``. Reference: docs/python.md.
"""
import math as _math
from dataclasses import dataclass as _dataclass
from pathlib import Path as _Path

import numpy as _np

from . import _engine

try:  # a scikit-learn regressor when scikit-learn is installed (Debian: python3-sklearn)
    from sklearn.base import BaseEstimator as _BaseEstimator, RegressorMixin as _RegressorMixin
    from sklearn.utils.validation import check_array as _check_array, check_X_y as _check_X_y
    from sklearn.utils.validation import check_is_fitted as _check_is_fitted
    _SKLEARN = True
except ImportError:  # the same estimator without scikit-learn's base classes and input checks
    _SKLEARN = False

    class _BaseEstimator:
        def get_params(self, deep=True):
            """The constructor parameters as a dict (scikit-learn convention)."""
            return {k: getattr(self, k) for k in self._PARAMS}

        def set_params(self, **params):
            """Set constructor parameters; returns self. Raises ValueError for an unknown one."""
            for k, v in params.items():
                if k not in self._PARAMS:
                    raise ValueError(f"Invalid parameter {k!r} for estimator {type(self).__name__} (expected one "
                                     f"of {', '.join(self._PARAMS)})")
                setattr(self, k, v)
            return self

        def __repr__(self):
            return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self._PARAMS)})"

    class _RegressorMixin:
        _estimator_type = "regressor"

__version__ = _engine.__version__
__all__ = ["RidgeCV", "BandedRidgeCV", "score_split", "pearson_r", "read_results", "read_split", "read_partition", "read_pls", "read_stitched", "Stitched", "default_alphas", "blas_info",
           "rdm", "compare", "cka", "noise_ceiling"]

blas_info = _engine.blas_info  # "OpenBLAS 0.3.21, core Cooperlake, 2 threads": the kernels this process runs


def default_alphas():
    """ENCODING.md's alpha grid: 10^-1 ... 10^7 in 17 log-spaced steps (numpy float64 array)."""
    return _np.asarray(_engine.default_alphas())


def _rdm_vector(x, name):
    a = _np.asarray(x, dtype=_np.float64)
    if a.ndim == 2:
        return _engine.rdm_vector(a)  # checked: square, symmetric, zero diagonal, finite
    if a.ndim == 1:
        # an upper triangle of n ≥ 3 conditions has n(n − 1)/2 entries, all finite
        n = int(round((1 + _math.sqrt(1 + 8 * a.size)) / 2))
        if a.size < 3 or n * (n - 1) // 2 != a.size:
            raise ValueError(f"{name}: a vector RDM has n(n - 1)/2 entries for n >= 3 conditions (3, 6, 10, 15, …), "
                             f"found {a.size}")
        bad = _np.flatnonzero(~_np.isfinite(a))
        if bad.size:
            raise ValueError(f"{name}: entry {int(bad[0])} of the vector RDM is {a[bad[0]]} ({bad.size} non-finite "
                             "entries; a dissimilarity must be a number)")
        return a
    raise ValueError(f"{name}: expected an RDM (conditions × conditions) or its upper-triangle vector, found {a.ndim}-D")


def rdm(patterns, distance="correlation"):
    """RDM of condition patterns (conditions × channels) as its upper-triangle vector (i < j, row by
    row; n(n − 1)/2 entries): `correlation` 1 − Pearson r, `euclidean` squared distance / channels
    (rsatoolbox), `standardized-euclidean` the same after z-scoring every channel over the conditions, rounded to 1e-10 of the largest entry so that exact ties stay ties (METRICS.md §2).
    Raises ValueError for fewer than 3 conditions or another distance, and for a correlation distance
    that is not defined (fewer than 3 channels, where every correlation is ±1, or a condition whose
    pattern is constant: SD ≤ 1e-7 of its largest |value|): never NaN or a made-up 0."""
    return _engine.rdm(patterns, distance)


def compare(x, y, method="corr"):
    """Compare two RDMs (square matrices or upper-triangle vectors): `corr`, `spearman` (ties
    averaged), `tau-a` (Kendall's τa, O(N log N)), `cosine` (METRICS.md §2), or `cka` /
    `cka-debiased`: linear CKA of the patterns whose squared distances the RDMs hold (a `euclidean`
    RDM: CKA of the patterns; `standardized-euclidean`: of the channel-z-scored patterns, Net2Brain's
    CKA; `correlation`: of the patterns z-scored per condition; see ``cka``). ValueError for an RDM
    that is not square, symmetric, zero-diagonal and finite, for lengths that differ, or another method."""
    return _engine.compare(_rdm_vector(x, "x"), _rdm_vector(y, "y"), method)


def cka(x, y, debiased=False, standardize=False):
    """Linear centred kernel alignment of two representations of the same n conditions (stimuli):
    x (n, d1), y (n, d2), e.g. a layer's activations and an ROI's voxels (Kornblith et al. 2019):
    ‖Ycᵀ Xc‖²_F / (‖Xcᵀ Xc‖_F ‖Ycᵀ Yc‖_F) with column-centred Xc, Yc, in [0, 1]; invariant to
    orthogonal transforms and isotropic scaling of either side.

    standardize=True z-scores every column first (population SD; a constant column becomes 0), as
    Net2Brain's CKA does (StandardScaler, PEER_ANALYSES.md card C); debiased=True uses the unbiased
    HSIC (Song et al. 2012; Kornblith's center_gram(unbiased=True)), which can be slightly negative.
    Computed by the engine from the two squared-Euclidean RDMs (the ``rsa`` command's
    ``--comparison cka``): O(n²(d1 + d2)). NaN if a side has no variance. ValueError for fewer than 3
    conditions (4 for debiased), different n, or non-finite values."""
    a = _np.asarray(x, dtype=_np.float64)
    b = _np.asarray(y, dtype=_np.float64)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"cka: expected two 2-D arrays (conditions × features), found {a.ndim}-D and {b.ndim}-D")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"cka: x has {a.shape[0]} conditions (rows), y {b.shape[0]}: the rows must be the same conditions")
    if debiased and a.shape[0] < 4:
        raise ValueError(f"cka: the debiased estimator needs at least 4 conditions, found {a.shape[0]}")
    _check_finite(a, "cka: x")
    _check_finite(b, "cka: y")
    distance = "standardized-euclidean" if standardize else "euclidean"
    return _engine.compare(_engine.rdm(a, distance), _engine.rdm(b, distance), "cka-debiased" if debiased else "cka")


def noise_ceiling(rdms, method="corr"):
    """Leave-one-subject-out noise ceiling (lower, upper) of one RDM per subject (rsatoolbox's pooling
    by method; METRICS.md §2). ValueError with fewer than 2 subjects."""
    return _engine.noise_ceiling([_rdm_vector(r, f"rdms[{i}]") for i, r in enumerate(rdms)], method)


def pearson_r(pred, truth):
    """Pearson r per column of two (n_samples, n_targets) arrays, in float64; a column where either
    side has zero variance scores 0 (ENCODING.md §4: the engine's column_pearson), a column holding
    NaN or infinity is NaN (as numpy's corrcoef: not defined). Raises ValueError if the shapes differ."""
    r = _engine.pearson_r(pred, truth)
    bad = ~(_np.isfinite(_np.asarray(pred, dtype=_np.float64)).all(0) & _np.isfinite(_np.asarray(truth, dtype=_np.float64)).all(0))
    r[bad] = _np.nan
    return r


def _check_finite(a, name):
    """ValueError naming the first NaN or infinite value of `a` (its row and column), with the words
    "NaN" or "infinity" that scikit-learn's messages use."""
    bad = ~_np.isfinite(a)
    if bad.any():
        where = tuple(int(i) for i in _np.argwhere(bad)[0])
        kind = "NaN" if _np.isnan(a[where]) else "infinity"
        place = f"row {where[0]}, column {where[1]}" if len(where) == 2 else f"row {where[0]}"
        raise ValueError(f"{name}: contains {kind} (non-finite value {a[where]} at {place})")


class RidgeCV(_RegressorMixin, _BaseEstimator):
    """Ridge regression with one alpha per target chosen by K-fold cross-validation: brainsweep's
    engine (ENCODING.md §2-4), the one ``brainsweep ridge`` and ``brainsweep run`` use, so the same
    input gives the same bits.

    Conventions: X is z-scored with its training column mean and std (ddof 0; a column with std
    at most 1e-7 of its largest |value| is constant and set to 0) and Y centred with its training mean; the folds are contiguous blocks
    of rows (scikit-learn's KFold without shuffling; no shuffling because fMRI samples are a time
    series); the score of an alpha is the mean over folds of the held-out Pearson r; each target takes
    the alpha with the highest score (ties to the larger alpha); the model is refitted on all rows.

    Parameters
    ----------
    alphas : sequence of float > 0, optional
        Candidate regularisation strengths (sorted, duplicates removed). Default: ENCODING.md's grid,
        10^-1 ... 10^7 in 17 steps (``default_alphas()``).
    cv : int or scikit-learn splitter, default 5
        An int K: K folds, as ``brainsweep run`` makes them: with ``fit(..., groups=runs)`` (a run or
        episode label per sample, each run one contiguous block) and at least K runs, whole runs per
        fold (fold k holds runs floor(kR/K) ... floor((k+1)R/K) - 1); otherwise K contiguous blocks of
        rows. A splitter (an object with ``split(X, y, groups)``, e.g. ``LeaveOneGroupOut()`` or
        ``KFold(5)``) or a list of (train, test) index pairs: its test sets must partition the rows
        into contiguous blocks, each fold training on all the other rows (ValueError otherwise:
        the engine's CV fits the complement of each held-out block).
    backend : {"cpu", "cuda"}, default "cpu"
        "cuda" needs a build with BRAINSWEEP_WITH_CUDA and a visible GPU (else RuntimeError).
    precision : {"mixed", "float64"}, default "mixed"
        Arithmetic of the fit (ENCODING.md §7; "mixed": Gram matrices and decompositions in float64).
        "float32" raises ValueError: its CV scores differ from float64 on real data (docs/ridge-engine.md).
    solver : {"auto", "primal", "dual"}, default "auto"
        "auto": primal (eigendecomposition of XᵀX) when n_features <= training rows of every fold.
    target_batch : int, default 4096
        Targets processed together (bounds the work space, not the result).
    threads : int, default 0
        BLAS threads (0: OpenBLAS's default, OPENBLAS_NUM_THREADS).

    Fitted attributes
    -----------------
    alphas_ : (n_targets,) float64, the chosen alpha of each target
    cv_scores_ : (n_alphas, n_targets) float64, mean held-out Pearson r over folds per candidate alpha
    alpha_grid_ : (n_alphas,) float64, the candidate alphas, ascending
    coef_ : (n_targets, n_features) float64, weights on the original (unstandardised) features
    intercept_ : (n_targets,) float64
    n_features_in_ : int
    solver_ : str, "primal" or "dual"
    fit_seconds_ : float, wall time of the engine's fit

    ``predict`` runs the engine's own prediction (z-score with the training statistics, float32
    product with the weights, intercept added), which ``X @ coef_.T + intercept_`` equals up to
    float32 round-off.

    Inputs: 2-D arrays (n_samples, n_features) and (n_samples, n_targets), finite. A C-contiguous
    float32 array is copied once, with memcpy, into the engine (which standardises its copy in place;
    your array is never modified); other dtypes and layouts are converted to float32 by numpy first.
    The GIL is released during the fit and the prediction. Bad shapes, values or options raise
    ValueError naming the argument.

    scikit-learn: with scikit-learn installed it is a regressor (``RegressorMixin``, ``BaseEstimator``)
    whose inputs are checked by ``check_X_y``/``check_array`` (sparse, complex, object, empty, NaN/Inf
    input refused with scikit-learn's messages), passing ``sklearn.utils.estimator_checks.check_estimator``
    (tests/python/test_python_module.py); it pickles (and so works with joblib), and the unpickled model
    predicts the same bits on the backend it was fitted on. ``score`` stays the mean Pearson r, not R².
    """

    _PARAMS = ("alphas", "cv", "backend", "precision", "solver", "target_batch", "threads")

    def __init__(self, alphas=None, cv=5, backend="cpu", precision="mixed", solver="auto", target_batch=4096,
                 threads=0):
        self.alphas = alphas
        self.cv = cv
        self.backend = backend
        self.precision = precision
        self.solver = solver
        self.target_batch = target_batch
        self.threads = threads

    def _more_tags(self):
        return {"multioutput": True}

    def __getstate__(self):
        """Pickling (and joblib): the parameters, the fitted attributes and the engine's arrays."""
        state = {k: v for k, v in self.__dict__.items() if k != "_fitted"}
        if "_fitted" in self.__dict__:
            f = self._fitted
            state["_engine_state"] = dict(backend=f.backend, x_mean=f.x_mean, x_inv_std=f.x_inv_std,
                                          weights=f.weights, y_mean=f.y_mean, solver=f.solver)
        return state

    def __setstate__(self, state):
        engine = state.pop("_engine_state", None)
        self.__dict__.update(state)
        if engine is not None:  # the same arrays on the same backend: the same predictions, bit for bit
            self._fitted = _engine.restore(engine["backend"], int(self.threads), engine["x_mean"], engine["x_inv_std"],
                                           engine["weights"], engine["y_mean"], engine["solver"])

    def _checked_alphas(self):
        if self.alphas is None:
            return []
        a = _np.asarray(self.alphas, dtype=_np.float64).ravel()
        if a.size == 0:
            raise ValueError("alphas: expected at least one alpha (or None for the default grid)")
        bad = [x for x in a if not (_math.isfinite(x) and x > 0)]
        if bad:
            raise ValueError(f"alphas: expected values > 0 and finite, found {bad[0]!r}")
        return [float(x) for x in a]

    def fit(self, X, Y, groups=None):
        """Fit on X (n_samples, n_features) and Y (n_samples, n_targets, or (n_samples,) for one
        target); ``groups`` (n_samples,): the run (episode) of each sample, for run-wise folds (see
        ``cv``) as ``brainsweep run`` makes them over several training episodes. Returns self.
        Raises ValueError for shapes, non-finite values, options, and folds the engine cannot use."""
        for name in (("target_batch", "threads") if self._cv_splits() else ("cv", "target_batch", "threads")):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, _np.integer)):
                raise ValueError(f"{name}: expected an integer, found {v!r}")
        if self.precision == "float32":
            raise ValueError("precision: 'float32' is " + _engine.FLOAT32_REFUSED)
        for name, allowed in (("backend", ("cpu", "cuda")), ("precision", ("mixed", "float64")),
                              ("solver", ("auto", "primal", "dual"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: expected one of {', '.join(allowed)}, found {getattr(self, name)!r}")
        if _SKLEARN:  # shapes, sparse, complex and object input with scikit-learn's messages
            X, Y = _check_X_y(X, Y, dtype=[_np.float32, _np.float64], multi_output=True, y_numeric=True,
                              ensure_min_samples=2, force_all_finite=False, estimator=self)
            _check_finite(X, "X")
            _check_finite(Y, "Y")
        Y = _np.asarray(Y)
        y_1d = Y.ndim == 1
        if y_1d:
            Y = Y[:, None]
        k, folds = self._folds(X, Y, groups)
        f = _engine.fit(X, Y, self._checked_alphas(), k, self.backend, int(self.threads), self.precision,
                        self.solver, int(self.target_batch), folds)
        self._fitted, self._y_1d = f, y_1d
        self.alphas_ = f.alphas
        self.cv_scores_ = f.cv_scores
        self.alpha_grid_ = f.alpha_grid
        w = f.weights.astype(_np.float64) * f.x_inv_std[:, None]  # (p, t) on the original features
        self.coef_ = _np.ascontiguousarray(w.T)
        self.intercept_ = f.y_mean - f.x_mean @ w
        self.n_features_in_ = int(w.shape[0])
        self.solver_ = f.solver
        self.fit_seconds_ = f.fit_seconds
        return self

    def _cv_splits(self):
        return not isinstance(self.cv, (int, _np.integer)) and (hasattr(self.cv, "split") or
                                                               isinstance(self.cv, (list, tuple)))

    def _folds(self, X, Y, groups):
        """(K, fold of every row or None) for the engine, from cv and groups (see the class doc)."""
        n = len(X)
        if groups is not None:
            g = _np.asarray(groups).ravel()
            if len(g) != n:
                raise ValueError(f"groups: {len(g)} labels for {n} samples")
        if not self._cv_splits():
            k = int(self.cv)
            if groups is None:
                return k, None
            starts = _np.flatnonzero(_np.r_[True, g[1:] != g[:-1]])
            labels = g[starts]
            if len(set(labels.tolist())) != len(labels):
                seen = set()
                again = next(x for x in labels.tolist() if x in seen or seen.add(x))
                raise ValueError(f"groups: run {again!r} is not one contiguous block of samples (runs must follow "
                                 "each other, as a sweep's episodes do)")
            lengths = _np.diff(_np.r_[starts, n]).tolist()
            if not 2 <= k <= n:
                raise ValueError(f"cv: expected 2 <= cv <= n_samples ({n}), found {k}")
            return k, [int(v) for v in _engine.fold_assignment(lengths, k)]
        splits = list(self.cv.split(X, Y, groups)) if hasattr(self.cv, "split") else list(self.cv)
        fold = _np.full(n, -1)
        for i, (train, test) in enumerate(splits):
            test = _np.sort(_np.asarray(test, dtype=_np.int64).ravel())
            train = _np.asarray(train, dtype=_np.int64).ravel()
            if test.size == 0 or test[-1] - test[0] + 1 != test.size or len(_np.unique(test)) != test.size:
                raise ValueError(f"cv: fold {i}'s test rows are not one contiguous block (the engine's folds are blocks "
                                 "of consecutive samples; fMRI samples are a time series)")
            if _np.any(fold[test] >= 0):
                raise ValueError(f"cv: fold {i}'s test rows overlap an earlier fold's")
            fold[test] = i
            if train.size != n - test.size or _np.intersect1d(train, test).size:
                raise ValueError(f"cv: fold {i} does not train on all the other rows ({train.size} training rows, "
                                 f"expected {n - test.size})")
        if len(splits) < 2 or _np.any(fold < 0):
            raise ValueError(f"cv: the splitter's test sets must cover every row in at least 2 folds "
                             f"({int((fold < 0).sum())} rows in no test set, {len(splits)} folds)")
        return len(splits), fold.tolist()

    def _check_fitted(self):
        if _SKLEARN:
            _check_is_fitted(self, "_fitted")  # NotFittedError, a ValueError
        elif not hasattr(self, "_fitted"):
            raise ValueError("this RidgeCV is not fitted yet: call fit(X, Y) first")

    def predict(self, X):
        """Predictions for X (n_samples, n_features): float64 (n_samples, n_targets), or (n_samples,)
        when fitted on a 1-D Y, holding the engine's float32 values (scikit-learn's regressors return
        float64). Raises ValueError if X has not n_features_in_ columns."""
        self._check_fitted()
        if _SKLEARN:
            X = _check_array(X, dtype=[_np.float32, _np.float64], force_all_finite=False, estimator=self)
            _check_finite(X, "X")
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but RidgeCV is expecting {self.n_features_in_} "
                                 "features as input.")
        pred = self._fitted.predict(X)
        pred = pred.astype(_np.float64)  # scikit-learn expects float64 predictions; the values are float32's
        return pred[:, 0] if self._y_1d else pred

    def score(self, X, Y):
        """Mean over targets of the Pearson r between predict(X) and Y (ENCODING.md §4: the field's
        score; not scikit-learn's R²). Per-target values: ``pearson_r(model.predict(X), Y)``."""
        pred = self.predict(X)
        Y = (_check_array(Y, ensure_2d=False, dtype=[_np.float64, _np.float32], force_all_finite=False, input_name="Y")
             if _SKLEARN else _np.asarray(Y, dtype=_np.float64))
        _check_finite(Y, "Y")  # a Pearson r over NaN or infinity is not defined: refused, never scored 0
        if pred.ndim == 1:
            pred, Y = pred[:, None], Y.reshape(-1, 1)
        if Y.shape != pred.shape:
            raise ValueError(f"Y: expected shape {pred.shape} (X's samples × the fitted targets), found {Y.shape}")
        return float(pearson_r(pred, Y).mean())


def score_split(Y, parts):
    """A banded model's scores split per feature space (himalaya's ``correlation_score_split`` and
    ``r2_score_split``; docs/ridge-engine.md#split-scores-per-band), computed by the engine that
    writes ``eval/<set>/r_split`` in job files. ``Y``: (n, t) measurements; ``parts``: per band the
    (n, t) part of the prediction without intercept (``BandedRidgeCV.predict(X, split=True)``).
    Returns a dict of float64 arrays: ``r`` and ``r2`` (bands, t), which sum over bands to the Pearson
    r of the summed prediction and to ``r2_joint`` (t), the R² of the summed prediction against the
    centred Y; ``r2_alone`` (bands, t), each part's own R² (``include_correlation=False``). Y is
    centred here (himalaya asks its user to); R² is NaN for a constant target. Raises ValueError for
    shapes that differ."""
    parts = [_np.asarray(p) for p in parts]
    if len(parts) < 1:
        raise ValueError("parts: expected at least one band's part of the prediction")
    return dict(_engine.split_scores(Y, parts))


class BandedRidgeCV(_RegressorMixin, _BaseEstimator):
    """Banded ridge: one scaling γ of the feature spaces (bands) and one alpha per target, chosen by
    K-fold CV, as a sweep's ``bands:`` feature set and ``stitch`` choose them (docs/ridge-engine.md#banded-ridge;
    himalaya's ``BandedRidgeCV(solver="random_search")``, whose kernel weights are the γ).

    For every candidate γ on the simplex (the uniform point, the one-hot corners, then ``n_samples``
    Dirichlet draws, draw i with concentration ``concentrations[i mod len]`` from the counter-based
    stream of ``seed``: the same scalings a sweep draws), band k's standardised columns are multiplied
    by √γ_k and ``RidgeCV``'s engine fits every alpha; each target keeps the (γ, alpha) of its highest
    CV score (ties: the earlier γ, then as RidgeCV the larger alpha).

    Parameters
    ----------
    bands : sequence of int
        Widths of the bands, in column order (at least 2, each ≥ 1, summing to n_features).
    n_samples : int, default 20; concentrations : sequence of float > 0, default (0.1, 1.0); seed : int, default 0
    alphas, cv, backend, precision, threads : as RidgeCV

    Fitted attributes
    -----------------
    scalings_ : (n_scalings, n_bands) float64, the candidate γ
    gammas_ : (n_targets, n_bands) float64, the chosen γ of each target
    alphas_ : (n_targets,) float64, the chosen alpha
    cv_scores_ : (n_scalings, n_targets) float64, the best CV score over alphas of each γ
    coef_ : (n_targets, n_features), intercept_ : (n_targets,), on the original features
    x_mean_ : (n_features,), the training column means (what ``predict(split=True)`` centres by)

    ``predict(X)`` is ``X @ coef_.T + intercept_``; ``predict(X, split=True)`` returns (n_bands,
    n_samples, n_targets), band k's part (X_k − x_mean_k) @ coef_k.T without intercept, whose sum
    plus the training mean of Y is the prediction (himalaya's ``predict(split=True)``); ``score_split``
    scores those parts. ``score`` is the mean Pearson r (as RidgeCV).
    """

    _PARAMS = ("bands", "n_samples", "concentrations", "seed", "alphas", "cv", "backend", "precision", "threads")

    def __init__(self, bands=(1, 1), n_samples=20, concentrations=(0.1, 1.0), seed=0, alphas=None, cv=5,
                 backend="cpu", precision="mixed", threads=0):
        self.bands = bands
        self.n_samples = n_samples
        self.concentrations = concentrations
        self.seed = seed
        self.alphas = alphas
        self.cv = cv
        self.backend = backend
        self.precision = precision
        self.threads = threads

    def _more_tags(self):
        return {"multioutput": True}

    def _widths(self, p):
        try:
            w = [int(b) for b in self.bands]
        except TypeError:
            raise ValueError(f"bands: expected a sequence of band widths, found {self.bands!r}") from None
        if len(w) < 2 or min(w) < 1:
            raise ValueError(f"bands: expected at least 2 widths >= 1, found {list(self.bands)!r}")
        if sum(w) != p:
            raise ValueError(f"bands: the widths sum to {sum(w)}, X has {p} features")
        return w

    def fit(self, X, Y, groups=None):
        """Fit on X (n_samples, n_features) and Y (n_samples, n_targets) or (n_samples,); ``groups`` as
        RidgeCV. Returns self. Raises ValueError for shapes, bands and options."""
        base = RidgeCV(alphas=self.alphas, cv=self.cv, backend=self.backend, precision=self.precision,
                       threads=self.threads)
        if _SKLEARN:
            X, Y = _check_X_y(X, Y, dtype=[_np.float32, _np.float64], multi_output=True, y_numeric=True,
                              ensure_min_samples=2, force_all_finite=False, estimator=self)
        X, Y = _np.asarray(X), _np.asarray(Y)
        _check_finite(X, "X")
        _check_finite(Y, "Y")
        y_1d = Y.ndim == 1
        if y_1d:
            Y = Y[:, None]
        widths = self._widths(X.shape[1])
        n_bands = len(widths)
        if isinstance(self.n_samples, bool) or not isinstance(self.n_samples, (int, _np.integer)) or self.n_samples < 0:
            raise ValueError(f"n_samples: expected an integer >= 0, found {self.n_samples!r}")
        conc = [float(c) for c in self.concentrations]
        if not conc or any(not (c > 0) or not _math.isfinite(c) for c in conc):
            raise ValueError(f"concentrations: expected finite values > 0, found {list(self.concentrations)!r}")
        scalings = [[1.0 / n_bands] * n_bands] + [[float(i == k) for i in range(n_bands)] for k in range(n_bands)]
        scalings += [list(g) for g in _engine.dirichlet_samples(int(self.n_samples), n_bands, conc, int(self.seed))]
        k, folds = base._folds(X, Y, groups)
        t = Y.shape[1]
        best = _np.full(t, -_np.inf)
        choice = _np.zeros(t, dtype=_np.int64)
        coef = _np.zeros((t, X.shape[1]))
        intercept = _np.zeros(t)
        alphas = _np.full(t, _np.nan)
        scores = _np.full((len(scalings), t), _np.nan)
        for i, g in enumerate(scalings):
            scale = _np.repeat(_np.sqrt(g), widths).tolist()
            f = _engine.fit(X, Y, base._checked_alphas(), k, self.backend, int(self.threads), self.precision, "auto",
                            4096, folds, scale)
            s = _np.nanmax(f.cv_scores, axis=0) if _np.isfinite(f.cv_scores).any() else _np.full(t, _np.nan)
            scores[i] = s
            better = s > best  # strictly: ties keep the earlier γ
            if better.any():
                w = f.weights.astype(_np.float64) * f.x_inv_std[:, None]  # (p, t) on the original features
                coef[better] = w[:, better].T
                intercept[better] = (f.y_mean - f.x_mean @ w)[better]
                alphas[better] = f.alphas[better]
                best[better] = s[better]
                choice[better] = i
                self.x_mean_ = _np.asarray(f.x_mean, dtype=_np.float64)
        self.scalings_ = _np.asarray(scalings, dtype=_np.float64)
        self.gammas_ = self.scalings_[choice]
        self.alphas_ = alphas
        self.cv_scores_ = scores
        self.coef_, self.intercept_ = coef, intercept
        self.n_features_in_ = int(X.shape[1])
        self._widths_ = widths
        self._y_1d = y_1d
        return self

    def predict(self, X, split=False):
        """Predictions (n_samples, n_targets) float64, or with ``split=True`` the bands' parts
        (n_bands, n_samples, n_targets) without intercept (see the class doc)."""
        if _SKLEARN:
            _check_is_fitted(self, "coef_")
            X = _check_array(X, dtype=[_np.float64, _np.float32], force_all_finite=False, estimator=self)
        elif not hasattr(self, "coef_"):
            raise ValueError("this BandedRidgeCV is not fitted yet: call fit(X, Y) first")
        X = _np.asarray(X, dtype=_np.float64)
        _check_finite(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but BandedRidgeCV is expecting {self.n_features_in_} "
                             "features as input.")
        if split:
            edges = _np.cumsum([0] + self._widths_)
            parts = _np.stack([(X[:, a:b] - self.x_mean_[a:b]) @ self.coef_[:, a:b].T
                               for a, b in zip(edges[:-1], edges[1:])])
            return parts[..., 0] if self._y_1d else parts
        pred = X @ self.coef_.T + self.intercept_
        return pred[:, 0] if self._y_1d else pred

    def score(self, X, Y):
        """Mean over targets of the Pearson r between predict(X) and Y (as RidgeCV.score)."""
        pred = _np.asarray(self.predict(X))
        Y = _np.asarray(Y, dtype=_np.float64)
        _check_finite(Y, "Y")
        if pred.ndim == 1:
            pred, Y = pred[:, None], Y.reshape(-1, 1)
        if Y.shape != pred.shape:
            raise ValueError(f"Y: expected shape {pred.shape} (X's samples × the fitted targets), found {Y.shape}")
        return float(pearson_r(pred, Y).mean())


def _run_dir(run_dir):
    d = _Path(run_dir)
    if not (d / "plan.json").is_file():
        raise ValueError(f"{d}: not a brainsweep run directory (no plan.json)")
    return d


def _is_rsa(d):
    import json
    with open(d / "plan.json") as f:
        return "rsa" in json.load(f)


def _pandas():
    try:
        import pandas
    except ImportError as e:  # pragma: no cover - the install step installs python3-pandas
        raise ImportError("brainsweep's readers need pandas (Debian: apt-get install python3-pandas)") from e
    return pandas


def read_results(run_dir):
    """Results of a finished run as a pandas DataFrame, one row per job × subject × parcel, in the
    order of RUN_DIR/results.csv (written by ``brainsweep run``/``gather``).

    Columns: job_id, model, layers ('+'-joined), hrf_delay, stimulus_window (TRs), subject, parcel,
    alpha (chosen), cv_r (mean held-out Pearson r over folds at that alpha; both NaN for a trained
    encoder), and one column ``r_<set>`` per eval set of the sweep (Pearson r on that set, ENCODING.md
    §5); after ``gather --ceiling``, ``ceiling_<set>`` and ``r_normalized_<set>`` for the ceiling's set.
    Raises ValueError if RUN_DIR holds no plan or no results.csv (run or gather first), or is an RSA
    run (its results.csv is the RSA table: ``pandas.read_csv``).
    """
    pd = _pandas()
    d = _run_dir(run_dir)
    path = d / "results.csv"
    if _is_rsa(d):
        raise ValueError(f"{d}: an RSA run; its results.csv is the RSA table (model × ROI × subject × comparison), "
                         f"not encoding results: read it with pandas.read_csv('{path}')")
    if not path.is_file():
        raise ValueError(f"{path}: missing; the run is not complete (see `brainsweep status {d}`)")
    numeric = ("eval_r", "alpha", "cv_r", "ceiling", "r_normalized")
    df = pd.read_csv(path, dtype={"job_id": str, "parcel": str, "layers": str, "eval_set": str, "subject": str},
                     keep_default_na=False, na_values={k: [""] for k in numeric})
    keys = ["job_id", "model", "layers", "hrf_delay", "stimulus_window", "subject", "parcel", "alpha", "cv_r"]
    sets = [s for s in dict.fromkeys(df["eval_set"]) if s != ""]
    out = df[df["eval_set"] == (sets[0] if sets else "")][keys].reset_index(drop=True)
    for s in sets:
        rows = df.loc[df["eval_set"] == s]
        out["r_" + s] = rows["eval_r"].to_numpy()
        for extra in ("ceiling", "r_normalized"):
            if extra in df.columns and rows[extra].notna().any():
                out[f"{extra}_{s}"] = rows[extra].to_numpy()
    return out


def read_split(run_dir):
    """Banded jobs' eval-set scores split per feature space (band), as a pandas DataFrame in the order
    of RUN_DIR/results_split.csv (written by ``brainsweep run``/``gather`` when the sweep has banded
    feature sets; docs/ridge-engine.md "Split scores per band").

    Columns: job_id, subject, parcel, eval_set, band ('model/layer+layer'), gamma (the band's scaling),
    r_split (himalaya's correlation_score_split: the bands' values sum to the job's Pearson r),
    r2_split (r2_score_split, the product measure: they sum to r2), r2_alone (the band's part on its
    own, include_correlation=False), r2 (the job's R² against the set-centred fMRI).
    Raises ValueError if RUN_DIR holds no plan or no results_split.csv (a run without banded feature
    sets or eval sets, or not complete).
    """
    pd = _pandas()
    d = _run_dir(run_dir)
    path = d / "results_split.csv"
    if not path.is_file():
        raise ValueError(f"{path}: missing; it is written for sweeps with banded feature sets (`bands:`) and eval "
                         f"sets, when the run is complete (see `brainsweep status {d}`)")
    return pd.read_csv(path, dtype={"job_id": str, "parcel": str, "eval_set": str, "subject": str, "band": str},
                       keep_default_na=False, na_values={k: ["", "nan"] for k in ("r_split", "r2_split", "r2_alone", "r2")})


def read_pls(run_dir):
    """PLS jobs' numbers of components, as a pandas DataFrame in the order of RUN_DIR/results_pls.csv
    (written by ``brainsweep run``/``gather`` when the sweep has a ``pls:`` section;
    docs/ridge-engine.md "PLS encoding").

    Columns: job_id, feature_set ('model/layer+layer'), hrf_delay, stimulus_window, subject, parcel,
    n_components (chosen per parcel by the CV score), cv_r (that score; join with read_results on
    job_id and parcel for the eval r). Raises ValueError if RUN_DIR holds no plan or no results_pls.csv.
    """
    pd = _pandas()
    d = _run_dir(run_dir)
    path = d / "results_pls.csv"
    if not path.is_file():
        raise ValueError(f"{path}: missing; it is written for sweeps with a `pls:` section when the run is complete "
                         f"(see `brainsweep status {d}`)")
    return pd.read_csv(path, dtype={"job_id": str, "parcel": str, "subject": str, "feature_set": str},
                       keep_default_na=False, na_values={"cv_r": ["", "nan"]})

def read_partition(run_dir):
    """Variance partitions of a run (sweeps with ``partition:`` feature sets; docs/ridge-engine.md
    "Variance partitioning") as a pandas DataFrame in the order of RUN_DIR/partition.csv.

    Columns: partition (the family's spaces joined by '|'), hrf_delay, stimulus_window (TRs), subject,
    parcel, eval_set, measure ('r2': held-out R² against the set-centred fMRI; 'rsq': sign(r)·r²),
    kind ('model': a subset model's value; 'unique' / 'shared': a partition), spaces ('+'-joined),
    value, negative (bool: a partition below 0, reported as it is).
    Raises ValueError if RUN_DIR holds no plan or no partition.csv.
    """
    pd = _pandas()
    d = _run_dir(run_dir)
    path = d / "partition.csv"
    if not path.is_file():
        raise ValueError(f"{path}: missing; it is written for sweeps with `partition:` feature sets and eval sets, "
                         f"when the run is complete (see `brainsweep status {d}`)")
    df = pd.read_csv(path, dtype={"partition": str, "parcel": str, "eval_set": str, "subject": str, "spaces": str},
                     keep_default_na=False, na_values={"value": ["", "nan"]})
    df["negative"] = df["negative"].astype(str) == "1"
    return df


@_dataclass
class Stitched:
    """What ``brainsweep stitch`` wrote into RUN_DIR/stitched/.

    scores : DataFrame (subject, parcel, eval_set, r, job_ids) — the ensemble's Pearson r per parcel
    winners : DataFrame (subject, parcel, network, rank, job_id, model, layers, hrf_delay,
              stimulus_window, alpha, select_score) — the jobs averaged per parcel, rank 1 first
    networks : DataFrame (network, feature_set, parcels_won, share, mean_layer_index,
               mean_stimulus_window)
    predictions : path of predictions.h5 (eval episodes, `<subject>/<episode>`, float32 T × parcels)
    test_sets : {test set: path of test_<set>.h5}
    scalings : DataFrame (subject, parcel, job_id, band, gamma, eval_set, r_split, r2_split) — the banded
               winners' scalings and their split on the stitch's --eval set, or None
               when no winner is banded
    """
    scores: object
    winners: object
    networks: object
    predictions: _Path
    test_sets: dict
    scalings: object = None


def read_stitched(run_dir):
    """The stitched ensemble of RUN_DIR (``brainsweep stitch``) as a ``Stitched``.
    Raises ValueError if RUN_DIR has no stitched/ outputs, or is an RSA run (nothing to stitch)."""
    pd = _pandas()
    d = _run_dir(run_dir) / "stitched"
    if _is_rsa(d.parent):
        raise ValueError(f"{d.parent}: an RSA run; `stitch` combines encoding models and an RSA run has none "
                         f"(its results are results.csv and rsa_report.txt)")
    if not (d / "scores.csv").is_file():
        raise ValueError(f"{d / 'scores.csv'}: missing; run `brainsweep stitch {d.parent} ...` first")
    str_cols = {"parcel": str, "job_ids": str, "job_id": str, "layers": str, "network": str}
    read = lambda name: pd.read_csv(d / name, dtype=str_cols, keep_default_na=False)  # noqa: E731
    tests = {p.stem[len("test_"):]: p for p in sorted(d.glob("test_*.h5"))}
    return Stitched(scores=read("scores.csv"), winners=read("winners.csv"), networks=read("networks.csv"),
                    predictions=d / "predictions.h5", test_sets=tests,
                    scalings=read("scalings.csv") if (d / "scalings.csv").is_file() else None)
