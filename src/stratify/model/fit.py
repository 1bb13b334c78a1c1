"""Stage "model": an XGBoost response model with nested, site-aware cross-validation and
honestly reported metrics.

Outcomes (``endpoint.kind``): response or remission at the endpoint week, TRD status under
one published definition (``endpoint.definition``), all binary (classification), or the
percent change of the endpoint instrument's total (regression).

Nested cross-validation. The outer folds estimate performance: leave-one-site-out when the
cohort has at least 3 sites (``model.cv: auto``), so every reported number is a prediction
for patients of a site the model never saw; stratified k-fold otherwise. Inside each outer
training set, a seeded random search (:func:`inner_search`) tries up to
``model.search.n_candidates`` XGBoost configurations by inner k-fold cross-validation, each
with early stopping on the inner validation fold, within ``model.search.time_budget_s``;
the chosen configuration (and its mean early-stopped number of trees) is refitted on the
whole outer training set and predicts the held-out fold. The held-out fold is never used
for tuning or stopping.

Baselines on the same outer folds: the majority model (one constant, the cohort's
prevalence) or the mean model (regression); penalised logistic (L2) or ridge regression on the
clinical features; and XGBoost without the genetic features, refitted with the
configuration chosen for the main model in the same fold, so a reader sees what each data
domain adds.

Metrics with percentile bootstrap intervals over patients: AUC (within sites under
leave-one-site-out, :func:`stratified_auc`), balanced accuracy, Brier score, calibration
slope and intercept (classification); R², RMSE, MAE, calibration slope
and intercept (regression). The main model gets a permutation test (the outer
cross-validation repeated on permuted outcomes with the final model's configuration). The
final model is tuned and refitted on all patients and saved as XGBoost JSON (no pickle).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import (balanced_accuracy_score, brier_score_loss, mean_absolute_error, r2_score,
                             roc_auc_score)
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from threadpoolctl import threadpool_limits

from stratify.errors import InputError

log = logging.getLogger(__name__)

CLASSIFICATION, REGRESSION = "classification", "regression"
REGRESSION_KINDS = ("pct_change",)

# inner random search (defaults; config model.search overrides)
SEARCH_DEFAULTS = {"n_candidates": 6, "inner_folds": 3, "time_budget_s": 600, "early_stopping_rounds": 20,
                   "max_estimators": 500, "max_patients": 20000}


def task_of(endpoint: dict[str, Any]) -> str:
    """``"regression"`` for a continuous endpoint (percent change), else ``"classification"``.

    >>> task_of({"kind": "pct_change"}), task_of({"kind": "response"})
    ('regression', 'classification')
    """
    return REGRESSION if endpoint.get("kind") in REGRESSION_KINDS else CLASSIFICATION


# One OpenMP thread per XGBoost fit; a stage's cores go to fits side by side instead
# (permutation_test's ``workers``). On a 2-core machine a 2-thread fit was either slower than one
# thread (threads that sleep between parallel regions, OMP_WAIT_POLICY=PASSIVE: 0.26 vs 0.03 s for
# 750 patients, 0.60 vs 0.51 s for 75,000) or ruinous on a busy machine (threads that spin,
# ACTIVE: 20 times slower); two 1-thread fits side by side took 1.5-1.8 times less than one after
# the other, with identical models (docs/performance.md).
XGB_THREADS = 1


def make_xgb(params: dict[str, Any], *, seed: int, task: str = CLASSIFICATION, n_jobs: int = XGB_THREADS,
             early_stopping_rounds: int | None = None):
    """An XGBoost classifier (or regressor) with the given hyperparameters (hist trees).

    ``params`` needs ``n_estimators``, ``max_depth`` and ``learning_rate``; ``subsample``,
    ``colsample_bytree``, ``min_child_weight`` and ``reg_lambda`` default to 0.8, 0.8, 5 and 1.
    """
    from xgboost import XGBClassifier, XGBRegressor

    kw = dict(n_estimators=int(params["n_estimators"]), max_depth=int(params["max_depth"]),
              learning_rate=float(params["learning_rate"]), subsample=float(params.get("subsample", 0.8)),
              colsample_bytree=float(params.get("colsample_bytree", 0.8)),
              min_child_weight=float(params.get("min_child_weight", 5)), reg_lambda=float(params.get("reg_lambda", 1.0)),
              tree_method="hist", n_jobs=n_jobs, random_state=seed)
    if early_stopping_rounds:
        kw["early_stopping_rounds"] = int(early_stopping_rounds)
    if task == REGRESSION:
        return XGBRegressor(eval_metric="rmse", **kw)
    return XGBClassifier(eval_metric="logloss", **kw)


def make_logistic(*, seed: int):
    """Median imputation, standardisation and L2-penalised logistic regression."""
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                         LogisticRegression(C=1.0, max_iter=2000, random_state=seed))


def make_ridge(*, seed: int):
    """Median imputation, standardisation and ridge regression (penalty chosen by efficient
    leave-one-out over 13 values from 0.01 to 1000)."""
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 13)))


def _one_blas_thread(f):
    """Run ``f`` with BLAS limited to one thread. The bootstrap loops make thousands of small
    BLAS calls (dot products, 2 x 2 solves) between other work; OpenBLAS wakes its threads for
    each, and on a loaded machine that made 1,000 calibration refits of 100,000 patients ten
    times slower than one thread does (docs/performance.md)."""
    @functools.wraps(f)
    def run(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return f(*args, **kwargs)
    return run


def predict(model, X: np.ndarray) -> np.ndarray:
    """Probability of the outcome (classifiers) or the predicted value (regressors)."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.predict(X)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if np.unique(p).size > 1 and np.unique(y).size > 1 else 0.5


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    return float(r2_score(y, p))


# the statistic of the permutation test and the per-site table
PRIMARY = {CLASSIFICATION: ("auc", _auc), REGRESSION: ("r2", _r2)}


def cross_validated_predictions(make, X: np.ndarray, y: np.ndarray, folds) -> np.ndarray:
    """Out-of-fold predictions (probabilities, or values for regressors) for every patient."""
    oof = np.full(len(y), np.nan)
    for train, test in folds:
        m = make().fit(X[train], y[train])
        oof[test] = predict(m, X[test])
    return oof


@_one_blas_thread
def bootstrap_ci(y: np.ndarray, p: np.ndarray, metric, *, n_boot: int, seed: int,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(y, p)`` resampling patients."""
    rng = np.random.default_rng(seed)
    n = len(y)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        if y[i].min() == y[i].max():
            continue
        vals.append(metric(y[i], p[i]))
    a = (1 - level) / 2
    return float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))


def _bootstrap_counts(n: int, n_boot: int, seed: int, strata: np.ndarray | None = None):
    """Each bootstrap resample as counts per patient (how often each was drawn), from the
    same draws as ``rng.integers(0, n, n)`` (or :func:`_resample` within strata) with
    ``numpy.random.default_rng(seed)``. A metric computed with these counts as weights equals
    the metric of the resampled rows, without copying them: at 100,000 patients this is what
    keeps 1,000 resamples per model affordable."""
    rng = np.random.default_rng(seed)
    groups = None if strata is None else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    for _ in range(n_boot):
        # the draws of _resample, with the strata's members found once
        i = rng.integers(0, n, n) if groups is None else np.concatenate([rng.choice(g, len(g)) for g in groups])
        yield np.bincount(i, minlength=n)


class _PairCounts:
    """AUC of weighted patients (weights = bootstrap counts) in O(n) per call.

    The AUC is the share of (outcome, no outcome) pairs ranked correctly, ties counting
    half; with ``strata`` only pairs within a stratum count (:func:`stratified_auc`). The
    patients are sorted by (stratum, prediction) once; per call, weighted counts of
    positives and negatives per distinct (stratum, prediction) and a cumulative sum give
    every pair count. All counts are integers (or halves), so the result is exact up to the
    final division: it equals ``stratified_auc(y[i], p[i], strata[i])`` (or ``_auc``) of
    the resampled rows ``i`` to rounding (about 1e-16).
    """

    def __init__(self, y: np.ndarray, p: np.ndarray, strata: np.ndarray | None = None):
        y = np.asarray(y).astype(float)
        p = np.asarray(p, dtype=float)
        s = np.zeros(len(y), dtype=np.int64) if strata is None else np.unique(np.asarray(strata),
                                                                             return_inverse=True)[1].ravel()
        order = np.lexsort((p, s))
        new = np.ones(len(y), dtype=bool)
        new[1:] = (s[order][1:] != s[order][:-1]) | (p[order][1:] != p[order][:-1])
        grp = np.empty(len(y), dtype=np.int64)
        grp[order] = np.cumsum(new) - 1
        n_grp = int(new.sum())
        self.grp, self.n_grp, self.y = grp, n_grp, y
        self.grp_stratum = np.zeros(n_grp, dtype=np.int64)
        self.grp_stratum[grp] = s
        self.n_strata = int(s.max()) + 1 if len(s) else 0
        self.first_of_stratum = np.searchsorted(self.grp_stratum, np.arange(self.n_strata))

    def __call__(self, w: np.ndarray) -> float:
        wy = w * self.y
        pos = np.bincount(self.grp, weights=wy, minlength=self.n_grp)
        neg = np.bincount(self.grp, weights=w - wy, minlength=self.n_grp)
        below = np.cumsum(neg) - neg                       # negatives ranked lower, all strata
        below -= below[self.first_of_stratum][self.grp_stratum]   # ... within the stratum
        num = np.bincount(self.grp_stratum, weights=pos * (below + 0.5 * neg), minlength=self.n_strata)
        den = (np.bincount(self.grp_stratum, weights=pos, minlength=self.n_strata)
               * np.bincount(self.grp_stratum, weights=neg, minlength=self.n_strata))
        return float(num.sum() / den.sum()) if den.sum() > 0 else 0.5


@_one_blas_thread
def _calibration_ci(y: np.ndarray, p: np.ndarray, *, n_boot: int, seed: int) -> dict[str, list[float]]:
    """Percentile bootstrap intervals of the calibration slope and intercept.

    Each resample's fits are weighted by the bootstrap counts (the same likelihood as the
    resampled rows) and start from the whole cohort's coefficients, which Newton-Raphson
    then moves to the resample's optimum (the same stopping rule as :func:`calibration`)."""
    y = np.asarray(y, dtype=float)
    lp = _logit(p)
    has_slope = np.ptp(lp) > 1e-9
    b_ic = logistic_fit(y, None, lp)
    b_sl = logistic_fit(y, lp, np.zeros(len(y))) if has_slope else None
    sl, ic = [], []
    for w in _bootstrap_counts(len(y), n_boot, seed):
        wy = float(w @ y)
        if wy == 0 or wy == w.sum():
            continue
        keep = w > 0
        yk, lk, wk = y[keep], lp[keep], w[keep].astype(float)
        ic.append(float(logistic_fit(yk, None, lk, weights=wk, start=b_ic)[0]))
        sl.append(float(logistic_fit(yk, lk, np.zeros(len(yk)), weights=wk, start=b_sl)[1])
                  if has_slope and np.ptp(lk) > 1e-9 else float("nan"))
    sl = np.array(sl)[np.isfinite(sl)]

    def q(v):
        return [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] if len(v) else [float("nan")] * 2
    return {"slope_ci": q(sl), "intercept_ci": q(np.array(ic))}


def stratified_auc(y: np.ndarray, p: np.ndarray, strata: np.ndarray | None = None) -> float:
    """AUC over the pairs of patients (one with, one without the outcome) in the same stratum:
    the pair-weighted mean of the within-stratum AUCs. Without strata, the ordinary AUC.

    Under leave-one-site-out cross-validation each site is predicted by a model whose
    baseline rate comes from the other sites, so predictions shift site by site against the
    site's own outcome rate; pooled over sites, that shift alone pulls the AUC of a model
    without signal below 0.5. Comparing patients only within their site removes it (strata
    with one class contribute no pairs). A constant prediction scores 0.5.

    Examples
    --------
    >>> y = np.array([0, 1, 0, 1]); p = np.array([0.1, 0.2, 0.5, 0.6]); s = np.array(["a", "a", "b", "b"])
    >>> stratified_auc(y, p), stratified_auc(y, p, s)
    (0.75, 1.0)
    """
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    if strata is None:
        return _auc(y, p)
    strata = np.asarray(strata)
    num = den = 0.0
    for s in np.unique(strata):
        i = strata == s
        pos, neg = int(y[i].sum()), int(i.sum() - y[i].sum())
        if pos and neg:
            num += _auc(y[i], p[i]) * pos * neg
            den += pos * neg
    return float(num / den) if den else 0.5


def _resample(n: int, strata: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap indexes: patients resampled within each stratum (or over all of them)."""
    if strata is None:
        return rng.integers(0, n, n)
    return np.concatenate([rng.choice(idx, len(idx)) for idx in (np.flatnonzero(strata == s)
                                                                  for s in np.unique(strata))])


@_one_blas_thread
def metrics_with_ci(y: np.ndarray, p: np.ndarray, *, n_boot: int, seed: int,
                    strata: np.ndarray | None = None) -> dict[str, Any]:
    """AUC (with bootstrap CI), Brier score (with CI) and balanced accuracy at the prevalence.

    With ``strata`` (the sites, under leave-one-site-out cross-validation) ``auc`` is the
    within-site AUC (:func:`stratified_auc`), bootstrapped within sites, and the pooled AUC is
    reported beside it as ``auc_pooled``.
    """
    thr = float(y.mean())
    auc = stratified_auc(y, p, strata)
    # the resamples of bootstrap_ci (skipping one-class ones) or, with strata, within strata;
    # the AUC of each from its bootstrap counts (_PairCounts), not from copied rows
    pairs = _PairCounts(y, p, strata)
    yf = np.asarray(y, dtype=float)
    vals = []
    for w in _bootstrap_counts(len(y), n_boot, seed, strata):
        if strata is None and float(w @ yf) in (0.0, float(len(y))):
            continue
        vals.append(pairs(w))
    lo, hi = float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975))
    sq = (np.asarray(p, dtype=float) - yf) ** 2
    briers = [float(w @ sq) / len(y) for w in _bootstrap_counts(len(y), n_boot, seed + 1)
              if float(w @ yf) not in (0.0, float(len(y)))]
    blo, bhi = float(np.quantile(briers, 0.025)), float(np.quantile(briers, 0.975))
    out = {
        "auc": auc, "auc_ci": [lo, hi],
        "brier": float(brier_score_loss(y, p)), "brier_ci": [blo, bhi],
        "balanced_accuracy": float(balanced_accuracy_score(y, p >= thr)), "threshold": thr,
    }
    if strata is not None:
        out["auc_pooled"] = _auc(y, p)
        out["auc_definition"] = "within-site AUC (pairs of patients from the same site)"
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def logistic_fit(y: np.ndarray, x: np.ndarray | None, offset: np.ndarray, iters: int = 50, *,
                 weights: np.ndarray | None = None, start: np.ndarray | None = None) -> np.ndarray:
    """Unpenalised logistic regression by Newton-Raphson: logit P(y) = b0 [+ x @ b] + offset.

    ``x`` is None (intercept only), one column or a matrix; ``weights`` (e.g. bootstrap
    counts) weight each row's likelihood; ``start`` is the first iterate (default zeros).
    Returns the coefficients, intercept first."""
    if x is None or np.ndim(x) == 1:
        return _logistic_fit_1d(np.asarray(y, dtype=float), None if x is None else np.asarray(x, dtype=float),
                                np.asarray(offset, dtype=float), iters, weights, start)
    X = np.column_stack([np.ones(len(y)), x])
    b = np.zeros(X.shape[1]) if start is None else np.array(start, dtype=float)
    for _ in range(iters):
        eta = np.clip(X @ b + offset, -30, 30)
        mu = 1 / (1 + np.exp(-eta))
        w = mu * (1 - mu)
        r = y - mu
        if weights is not None:
            w, r = w * weights, r * weights
        H = X.T @ (X * w[:, None]) + 1e-9 * np.eye(X.shape[1])
        step = np.linalg.solve(H, X.T @ r)
        b = b + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return b


def _logistic_fit_1d(y, x, offset, iters, weights, start) -> np.ndarray:
    """:func:`logistic_fit` with at most one covariate (the calibration fits), from sums
    instead of a design matrix: the same Newton-Raphson iterates, a few times faster, which
    matters for the 1,000 bootstrap refits of a 100,000-patient cohort."""
    b = np.zeros(1 if x is None else 2) if start is None else np.array(start, dtype=float)
    wt = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    for _ in range(iters):
        eta = b[0] + offset if x is None else b[0] + b[1] * x + offset
        mu = 1 / (1 + np.exp(-np.clip(eta, -30, 30)))
        w = mu * (1 - mu) * wt
        r = (y - mu) * wt
        if x is None:
            step = np.array([r.sum() / (w.sum() + 1e-9)])
        else:
            wx = w @ x
            H = np.array([[w.sum(), wx], [wx, w @ (x * x)]]) + 1e-9 * np.eye(2)
            step = np.linalg.solve(H, np.array([r.sum(), r @ x]))
        b = b + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return b


def calibration(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Calibration slope and intercept (calibration-in-the-large) of predicted probabilities.

    Slope: the coefficient of ``logit(p)`` in a logistic regression of the outcome on it
    (1 is ideal; below 1 means predictions too extreme, as overfitting makes them).
    Intercept: ``a`` in ``logit P(y) = a + logit(p)`` with ``logit(p)`` as an offset (0 is
    ideal; above 0 means predictions too low on average). Van Calster et al. 2019, BMC Med
    17:230. A constant prediction has no slope (NaN).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.95, 20000); y = (rng.random(20000) < p).astype(float)
    >>> c = calibration(y, p); round(c["slope"], 1), round(c["intercept"], 1)
    (1.0, 0.0)
    """
    y = np.asarray(y, dtype=float)
    lp = _logit(p)
    intercept = float(logistic_fit(y, None, lp)[0])
    slope = float(logistic_fit(y, lp, np.zeros(len(y)))[1]) if np.ptp(lp) > 1e-9 else float("nan")
    return {"slope": slope, "intercept": intercept}


def regression_calibration(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Calibration of continuous predictions: the slope of the least-squares line of the
    observed on the predicted values (1 is ideal; below 1 means predictions spread too
    widely) and calibration-in-the-large, the mean of observed minus predicted (0 is ideal).

    >>> p = np.arange(10.0); calibration_ = regression_calibration(2 * p + 1, p)
    >>> round(calibration_["slope"], 6), round(calibration_["intercept"], 6)
    (2.0, 5.5)
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    slope = float(np.polyfit(p, y, 1)[0]) if np.ptp(p) > 1e-12 else float("nan")
    return {"slope": slope, "intercept": float(np.mean(y - p))}


@_one_blas_thread
def regression_metrics_with_ci(y: np.ndarray, p: np.ndarray, *, n_boot: int, seed: int) -> dict[str, Any]:
    """R², RMSE and MAE of continuous predictions, each with a percentile bootstrap interval,
    and the calibration slope and intercept with theirs.

    R² is 1 - SS_res / SS_tot with the cohort's own mean: a model no better than the mean
    of the training folds scores slightly below 0 out of fold.
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)

    def rmse(a, b):
        return float(np.sqrt(np.mean((a - b) ** 2)))

    out: dict[str, Any] = {"r2": _r2(y, p), "rmse": rmse(y, p), "mae": float(mean_absolute_error(y, p))}
    out["r2_ci"] = list(bootstrap_ci(y, p, r2_score, n_boot=n_boot, seed=seed))
    out["rmse_ci"] = list(bootstrap_ci(y, p, rmse, n_boot=n_boot, seed=seed + 1))
    out["mae_ci"] = list(bootstrap_ci(y, p, mean_absolute_error, n_boot=n_boot, seed=seed + 3))
    cal = regression_calibration(y, p)
    if np.isfinite(cal["slope"]):
        rng = np.random.default_rng(seed + 2)
        sl, ic = [], []
        for _ in range(n_boot):
            i = rng.integers(0, len(y), len(y))
            c = regression_calibration(y[i], p[i])
            sl.append(c["slope"])
            ic.append(c["intercept"])
        sl = np.array(sl)[np.isfinite(sl)]
        cal["slope_ci"] = [float(np.quantile(sl, 0.025)), float(np.quantile(sl, 0.975))]
        cal["intercept_ci"] = [float(np.quantile(ic, 0.025)), float(np.quantile(ic, 0.975))]
    out["calibration"] = cal
    return out


def outer_folds(y: np.ndarray, sites: np.ndarray, *, task: str, scheme: str, folds: int,
                seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """The outer cross-validation: leave-one-site-out or (stratified) k-fold.

    ``scheme``: ``"site"`` (leave one site out; needs >= 2 sites), ``"kfold"`` or ``"auto"``
    (leave one site out when there are >= 3 sites, else k-fold). Returns the folds, as
    (train, test) index arrays, and a description with the held-out site of each fold.

    Examples
    --------
    >>> y = np.array([0, 1] * 6); s = np.repeat(["a", "b", "c"], 4)
    >>> f, info = outer_folds(y, s, task="classification", scheme="auto", folds=2, seed=0)
    >>> info["scheme"], info["test_sites"], [len(t) for _, t in f]
    ('leave-one-site-out', ['a', 'b', 'c'], [4, 4, 4])
    >>> outer_folds(y, s, task="classification", scheme="kfold", folds=2, seed=0)[1]["scheme"]
    'stratified 2-fold'
    """
    sites = np.asarray(sites).astype(str)
    uniq = [str(s) for s in np.unique(sites)]
    if scheme == "site" or (scheme == "auto" and len(uniq) >= 3):
        if len(uniq) < 2:
            raise InputError(f"model.cv: site: leave-one-site-out needs at least 2 sites; the cohort has "
                             f"{len(uniq)} ({', '.join(uniq)}); use model.cv: kfold")
        out = [(np.flatnonzero(sites != s), np.flatnonzero(sites == s)) for s in uniq]
        if task == CLASSIFICATION:
            for (train, _), s in zip(out, uniq):
                counts = np.bincount(y[train].astype(int), minlength=2)
                if counts.min() < 2:
                    raise InputError(f"model.cv: without site {s} the training set has {counts[1]} patients with "
                                     f"and {counts[0]} without the endpoint; too few to fit a model. Use "
                                     "model.cv: kfold")
        return out, {"scheme": "leave-one-site-out", "n_folds": len(uniq), "test_sites": uniq,
                     "description": f"leave-one-site-out over {len(uniq)} sites"}
    if task == CLASSIFICATION:
        split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
        name = f"stratified {folds}-fold"
    else:
        split = KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(y)))
        name = f"{folds}-fold"
    out = list(split)
    why = (f" (only {len(uniq)} site{'s' if len(uniq) != 1 else ''}; leave-one-site-out needs 3)"
           if scheme == "auto" else "")
    return out, {"scheme": name, "n_folds": folds, "test_sites": None,
                 "description": f"{name}, shuffled with the seed{why}"}



def _scheme_of(sites: np.ndarray, scheme: str, folds: int, task: str) -> dict[str, Any]:
    """The outer scheme :func:`outer_folds` would use, without drawing folds (for messages)."""
    uniq = np.unique(np.asarray(sites).astype(str))
    if scheme == "site" or (scheme == "auto" and len(uniq) >= 3):
        return {"scheme": "leave-one-site-out", "n_folds": int(len(uniq)),
                "description": f"leave-one-site-out over {len(uniq)} sites"}
    name = f"stratified {folds}-fold" if task == CLASSIFICATION else f"{folds}-fold"
    return {"scheme": name, "n_folds": folds, "description": name}

def draw_candidates(mc: dict[str, Any], n: int, *, seed: int) -> list[dict[str, Any]]:
    """The inner search's candidate configurations: the configured one first
    (``max_depth``, ``learning_rate`` of ``model``), then seeded random draws from
    max_depth 1-4, learning rate 0.02-0.3 (log-uniform), min_child_weight {1, 3, 5, 10, 20},
    subsample and colsample_bytree 0.6-1, reg_lambda 0.1-10 (log-uniform).

    >>> c = draw_candidates({"max_depth": 2, "learning_rate": 0.05}, 3, seed=0)
    >>> len(c), c[0]["max_depth"], c[0]["learning_rate"]
    (3, 2, 0.05)
    """
    rng = np.random.default_rng([seed, 4021])
    out = [{"max_depth": int(mc["max_depth"]), "learning_rate": float(mc["learning_rate"]), "min_child_weight": 5.0,
            "subsample": 0.8, "colsample_bytree": 0.8, "reg_lambda": 1.0}]
    while len(out) < n:
        out.append({"max_depth": int(rng.integers(1, 5)),
                    "learning_rate": float(round(np.exp(rng.uniform(np.log(0.02), np.log(0.3))), 4)),
                    "min_child_weight": float(rng.choice([1, 3, 5, 10, 20])),
                    "subsample": float(round(rng.uniform(0.6, 1.0), 3)),
                    "colsample_bytree": float(round(rng.uniform(0.6, 1.0), 3)),
                    "reg_lambda": float(round(np.exp(rng.uniform(np.log(0.1), np.log(10))), 3))})
    return out[:n]


def inner_search(X: np.ndarray, y: np.ndarray, *, task: str, candidates: list[dict[str, Any]],
                 inner_folds: int, early_stopping_rounds: int, max_estimators: int, budget_s: float,
                 seed: int) -> dict[str, Any]:
    """Choose an XGBoost configuration by inner k-fold cross-validation, with early stopping.

    Each candidate is fitted on every inner training fold with up to ``max_estimators``
    trees, stopping when the inner validation fold's log loss (RMSE for regression) has not
    improved for ``early_stopping_rounds`` rounds; its score is the mean best validation
    loss and its number of trees the mean best iteration. Candidates are tried in order
    until ``budget_s`` seconds have passed (the first is always tried). Returns the chosen
    ``params`` (with ``n_estimators``), every candidate's ``results``, ``n_evaluated`` and
    ``stopped_by_budget``.
    """
    if task == CLASSIFICATION:
        splits = list(StratifiedKFold(inner_folds, shuffle=True, random_state=seed).split(X, y))
    else:
        splits = list(KFold(inner_folds, shuffle=True, random_state=seed).split(X))
    t0 = time.monotonic()
    results = []
    stopped = False
    for i, cand in enumerate(candidates):
        if i and time.monotonic() - t0 > budget_s:
            stopped = True
            break
        losses, iters = [], []
        for train, val in splits:
            m = make_xgb({**cand, "n_estimators": max_estimators}, seed=seed, task=task,
                         early_stopping_rounds=early_stopping_rounds)
            m.fit(X[train], y[train], eval_set=[(X[val], y[val])], verbose=False)
            losses.append(float(m.best_score))
            iters.append(int(m.best_iteration) + 1)
        results.append({**cand, "inner_loss": float(np.mean(losses)), "n_estimators": int(round(np.mean(iters)))})
    best = min(results, key=lambda r: r["inner_loss"])
    params = {k: v for k, v in best.items() if k != "inner_loss"}
    return {"params": params, "inner_loss": best["inner_loss"], "results": results, "n_evaluated": len(results),
            "n_candidates": len(candidates), "stopped_by_budget": stopped,
            "seconds": round(time.monotonic() - t0, 2)}


def permutation_test(make, X: np.ndarray, y: np.ndarray, *, folds, observed: float, n_perm: int, seed: int,
                     task: str = CLASSIFICATION, strata: np.ndarray | None = None, workers: int = 1) -> dict[str, Any]:
    """Is the cross-validated AUC (R² for regression) better than chance? The outer
    cross-validation is repeated on ``n_perm`` random permutations of the outcome;
    p = (1 + #{stat_perm >= stat_obs}) / (1 + n_perm), one-sided (Ojala & Garriga 2010,
    J Mach Learn Res 11:1833). ``folds`` is the number of (stratified) k-fold folds, re-drawn
    for every permutation, or a fixed list of (train, test) folds such as leave-one-site-out.
    With ``strata`` (the sites under leave-one-site-out) the outcome is permuted within each
    site, which keeps the sites' outcome rates, and the statistic is the within-site AUC
    (:func:`stratified_auc`), as for the observed value. ``workers`` permutations are fitted
    side by side (threads: XGBoost and scikit-learn fit outside Python's lock); the threads take
    the permutations in the order they are drawn, so the result does not depend on ``workers``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] + rng.normal(size=200) > 0).astype(int)
    >>> make = lambda: make_logistic(seed=0)
    >>> cv = StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)
    >>> auc = roc_auc_score(y, cross_validated_predictions(make, X, y, cv))
    >>> permutation_test(make, X, y, folds=5, observed=auc, n_perm=19, seed=0)["p_value"]
    0.05
    """
    name, stat = PRIMARY[task]
    rng = np.random.default_rng(seed)
    vals = [0.0] * n_perm
    step = max(1, n_perm // 10)
    lock = threading.Lock()
    state = {"next": 0, "done": 0}

    def draw() -> tuple[int, np.ndarray] | None:
        """The next permutation, drawn in order under the lock, so permutation i is the same
        whatever thread fits it (and only one outcome vector per thread is held at a time)."""
        with lock:
            i = state["next"]
            if i >= n_perm:
                return None
            state["next"] += 1
            if strata is None:
                return i, rng.permutation(y)
            yp = y.copy()
            for s_ in np.unique(strata):
                idx = np.flatnonzero(strata == s_)
                yp[idx] = rng.permutation(y[idx])
            return i, yp

    def work() -> None:
        while (got := draw()) is not None:
            i, yp = got
            if isinstance(folds, int):
                splitter = (StratifiedKFold if task == CLASSIFICATION else KFold)(
                    n_splits=folds, shuffle=True, random_state=seed + 1 + i)
                cv = list(splitter.split(X, yp))
            else:
                cv = folds
            pp = cross_validated_predictions(make, X, yp, cv)
            vals[i] = (stratified_auc(yp, pp, strata) if strata is not None and task == CLASSIFICATION
                       else stat(yp, pp))
            with lock:
                state["done"] += 1
                done = state["done"]
            if done % step == 0 or done == n_perm:
                log.info("permutation test: %d/%d", done, n_perm)

    n_threads = max(1, int(workers))
    with ThreadPoolExecutor(n_threads) as ex:
        for fut in [ex.submit(work) for _ in range(n_threads)]:
            fut.result()
    vals = np.array(vals)
    scheme = (f"stratified {folds}-fold" if task == CLASSIFICATION else f"{folds}-fold") if isinstance(folds, int) \
        else "the same fixed outer folds"
    return {"p_value": float((1 + np.sum(vals >= observed)) / (1 + n_perm)), "n_permutations": int(n_perm),
            "smallest_possible_p": float(1 / (1 + n_perm)),
            "statistic": name, "observed": float(observed),
            "null_mean": float(vals.mean()), "null_sd": float(vals.std(ddof=1)) if n_perm > 1 else None,
            "null_95th": float(np.quantile(vals, 0.95)),
            "method": f"cross-validation ({scheme}) repeated on outcomes permuted "
                      f"{'within sites' if strata is not None else 'over all patients'} (one-sided)"}


def _check_classes(y: np.ndarray, folds: int, cv_info: dict[str, Any]) -> None:
    """Both endpoint classes, with enough patients for the outer cross-validation in use.

    k-fold needs at least ``folds`` patients per class (one per fold, stratified); under
    leave-one-site-out each training set was already checked by :func:`outer_folds`, so only
    the two classes are needed here. The message names the scheme actually used.
    """
    counts = np.bincount(y.astype(int), minlength=2)
    site = cv_info["scheme"] == "leave-one-site-out"
    need = 1 if site else folds
    if len(np.unique(y)) < 2 or counts.min() < need:
        fix = ("choose another endpoint, or pool sites" if site
               else "lower model.folds or choose another endpoint")
        raise InputError(
            f"the endpoint has too few patients in one class for "
            f"{cv_info['description'] if site else cv_info['scheme']} cross-validation: "
            f"{counts[1]} with and {counts[0]} without it; {fix}")


def _no_endpoint_error(summary: dict[str, Any], config: dict[str, Any], n: int) -> InputError:
    """No patient has the endpoint: say why, from the features stage's reasons per patient
    (e.g. the endpoint instrument is not in the symptoms table at all)."""
    ep = config.get("endpoint", {})
    what = ep.get("kind", "?") + (f" on {ep['instrument']}" if ep.get("instrument") and ep.get("kind") != "trd"
                                  else "")
    reasons = summary.get("endpoint_missing_reasons") or {}
    why = "; ".join(f"{v} patient(s): {k}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return InputError(f"endpoint ({what}): none of the {n} patients has a usable endpoint value"
                      + (f" ({why})" if why else "") + "; check endpoint.instrument, endpoint.week and "
                      "endpoint.kind in the config against the symptoms table")


def _search_config(mc: dict[str, Any]) -> dict[str, Any]:
    return {**SEARCH_DEFAULTS, **mc.get("search", {})}


def _choose(X, y, *, task, mc, candidates, budget_s, seed, label) -> dict[str, Any]:
    """Hyperparameters for one training set: the inner search, or the configured ones when
    ``model.search.n_candidates`` is 0."""
    sc = _search_config(mc)
    if not candidates:
        return {"params": {k: mc[k] for k in ("n_estimators", "max_depth", "learning_rate")}, "n_evaluated": 0,
                "n_candidates": 0, "stopped_by_budget": False, "seconds": 0.0, "n_patients_searched": 0}
    rows = search_subsample(len(y), sc["max_patients"], seed=seed)
    s = inner_search(X[rows], y[rows], task=task, candidates=candidates, inner_folds=sc["inner_folds"],
                     early_stopping_rounds=sc["early_stopping_rounds"], max_estimators=sc["max_estimators"],
                     budget_s=budget_s, seed=seed)
    s["n_patients_searched"] = int(len(rows))
    p = s["params"]
    log.info("%s: %d/%d candidates in %.1fs%s%s; chose max_depth %d, learning rate %.3g, %d trees", label,
             s["n_evaluated"], s["n_candidates"], s["seconds"], " (time budget reached)" if s["stopped_by_budget"]
             else "", f" on a random {len(rows)} of {len(y)} patients (model.search.max_patients)"
             if len(rows) < len(y) else "", p["max_depth"], p["learning_rate"], p["n_estimators"])
    return s


def search_subsample(n: int, max_patients: int, *, seed: int) -> np.ndarray:
    """Rows (sorted) of a training set that the inner search uses: all of them, or a seeded
    random subsample of ``max_patients`` when the set is larger.

    Choosing hyperparameters needs far fewer patients than fitting the model: the chosen
    configuration is refitted on the whole training set and predicts the held-out fold, which
    the search never sees, so the cross-validated estimate stays honest; a subsample can only
    make the choice somewhat worse (a conservative estimate). Its number of trees comes from
    early stopping on the subsample, which tends to be fewer than the whole set would support.

    >>> len(search_subsample(50_000, 20_000, seed=0)), len(search_subsample(800, 20_000, seed=0))
    (20000, 800)
    """
    if n <= max_patients:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 5381]).choice(n, size=max_patients, replace=False))


def fit_response_model(features: pd.DataFrame, summary: dict[str, Any], config: dict[str, Any], *,
                       threads: int = 1) -> dict[str, Any]:
    """Nested cross-validation of XGBoost and the baselines; the final model tuned and refitted
    on all patients.

    ``config["endpoint"]["kind"]`` decides the task (:func:`task_of`); ``config["model"]``
    holds ``folds``, ``cv`` (auto, site, kfold), ``search``, ``n_bootstrap``,
    ``n_permutations`` and the first candidate's ``n_estimators``, ``max_depth`` and
    ``learning_rate`` (``search.n_candidates: 0`` uses them as they are, with no search).

    Returns a dict with ``metrics`` (per model), ``oof`` (DataFrame of out-of-fold
    predictions), ``model`` (the fitted final XGBoost model), ``features`` (names, in model
    order), ``folds`` (one record per outer fold) and ``info``.
    """
    mc, seed = config["model"], config["seed"]
    task = task_of(config.get("endpoint", {}))
    sc = _search_config(mc)
    feats: list[str] = summary["model_features"]
    groups = summary["feature_groups"]
    data = features[features["y"].notna()].reset_index(drop=True)
    n_excl = int(features["y"].isna().sum())
    if data.empty:
        raise _no_endpoint_error(summary, config, len(features))
    y = data["y"].astype(int if task == CLASSIFICATION else float).to_numpy()
    X = data[feats].to_numpy(dtype=float)
    sites = data["site"].astype(str).to_numpy()
    if task == CLASSIFICATION:
        if np.unique(y).size < 2:
            _check_classes(y, mc["folds"], _scheme_of(sites, mc.get("cv", "auto"), mc["folds"], task))
        folds, cv_info = outer_folds(y, sites, task=task, scheme=mc.get("cv", "auto"), folds=mc["folds"], seed=seed)
        _check_classes(y, mc["folds"], cv_info)
    else:
        info = _scheme_of(sites, mc.get("cv", "auto"), mc["folds"], task)
        n_need = 2 * (info["n_folds"] if info["scheme"] == "leave-one-site-out" else mc["folds"])
        if len(y) < n_need:
            raise InputError(f"only {len(y)} patients have the endpoint; too few for {info['description']} "
                             "cross-validation" + ("" if info["scheme"] == "leave-one-site-out"
                                                   else "; lower model.folds"))
        folds, cv_info = outer_folds(y, sites, task=task, scheme=mc.get("cv", "auto"), folds=mc["folds"], seed=seed)
    candidates = draw_candidates(mc, sc["n_candidates"], seed=seed) if sc["n_candidates"] else []
    budget = sc["time_budget_s"] / (len(folds) + 1)
    clin = [f for f in groups.get("clinical", []) if f in feats]
    nongen = [f for f in feats if f not in groups.get("genetic", [])]
    with_nongen = bool(groups.get("genetic")) and bool(nongen) and len(nongen) < len(feats)
    name, stat = PRIMARY[task]
    t0 = time.monotonic()
    oof = pd.DataFrame({"patient_id": data["patient_id"], "site": data["site"], "y": y})
    pred = np.full(len(y), np.nan)
    pred_ng = np.full(len(y), np.nan)
    fold_rows = []
    log.info("nested cross-validation: %s; inner search %s", cv_info["description"],
             f"{len(candidates)} candidates, {sc['inner_folds']}-fold, early stopping after "
             f"{sc['early_stopping_rounds']} rounds, {budget:.0f}s per search" if candidates else "off")
    for k, (train, test) in enumerate(folds):
        label = (f"outer fold {k + 1}/{len(folds)}"
                 + (f" (held-out site {cv_info['test_sites'][k]})" if cv_info["test_sites"] else ""))
        s = _choose(X[train], y[train], task=task, mc=mc, candidates=candidates, budget_s=budget,
                    seed=seed + k, label=label)
        m = make_xgb(s["params"], seed=seed, task=task).fit(X[train], y[train])
        pred[test] = predict(m, X[test])
        if with_nongen:
            cols = [feats.index(f) for f in nongen]
            mn = make_xgb(s["params"], seed=seed, task=task).fit(X[np.ix_(train, cols)], y[train])
            pred_ng[test] = predict(mn, X[np.ix_(test, cols)])
        ok = task == REGRESSION or np.unique(y[test]).size > 1
        fold_rows.append({"fold": k + 1, "test_site": cv_info["test_sites"][k] if cv_info["test_sites"] else None,
                          "n_train": int(len(train)), "n_test": int(len(test)),
                          name: stat(y[test], pred[test]) if ok and len(test) > 2 else None,
                          "params": s["params"], "n_evaluated": s["n_evaluated"],
                          "stopped_by_budget": s["stopped_by_budget"], "search_seconds": s["seconds"],
                          "n_patients_searched": s["n_patients_searched"]})
        log.info("%s: %s on the held-out patients %s (%.0fs so far)", label, name,
                 "n/a" if fold_rows[-1][name] is None else f"{fold_rows[-1][name]:.3f}", time.monotonic() - t0)
    oof["xgboost"] = pred
    if clin:
        Xc = data[clin].to_numpy(dtype=float)
        make_lin = (lambda: make_logistic(seed=seed)) if task == CLASSIFICATION else (lambda: make_ridge(seed=seed))
        oof["logistic_clinical" if task == CLASSIFICATION else "ridge_clinical"] = \
            cross_validated_predictions(make_lin, Xc, y, folds)
    if with_nongen:
        oof["xgboost_no_genetic"] = pred_ng
    # one constant for everyone, the cohort's prevalence (mean): AUC exactly 0.5 and R² exactly 0 by
    # construction (a per-fold constant would make the pooled AUC drift below 0.5 under leave-one-site-out)
    oof["majority" if task == CLASSIFICATION else "mean"] = float(y.mean())
    metrics = {}
    # leave-one-site-out: discrimination is measured within sites (see stratified_auc)
    strata = sites if cv_info["test_sites"] and task == CLASSIFICATION else None
    for col in [c for c in oof.columns if c not in ("patient_id", "site", "y")]:
        t1 = time.monotonic()
        p = oof[col].to_numpy()
        if task == CLASSIFICATION:
            metrics[col] = metrics_with_ci(y, p, n_boot=mc["n_bootstrap"], seed=seed, strata=strata)
            metrics[col]["calibration"] = calibration(y, p)
            if col != "majority":
                metrics[col]["calibration"].update(_calibration_ci(y, p, n_boot=mc["n_bootstrap"], seed=seed + 2))
            log.info("%s: AUC %.3f (95%% CI %.3f-%.3f), bootstrap %d resamples in %.1fs", col,
                     metrics[col]["auc"], *metrics[col]["auc_ci"], mc["n_bootstrap"], time.monotonic() - t1)
        else:
            metrics[col] = regression_metrics_with_ci(y, p, n_boot=mc["n_bootstrap"], seed=seed)
            log.info("%s: R² %.3f (95%% CI %.3f-%.3f), RMSE %.2f, bootstrap %d resamples in %.1fs", col,
                     metrics[col]["r2"], *metrics[col]["r2_ci"], metrics[col]["rmse"], mc["n_bootstrap"],
                     time.monotonic() - t1)
    per_site = []
    for s_ in sorted(np.unique(sites)):
        i = sites == s_
        ok = (task == REGRESSION and i.sum() > 2) or (task == CLASSIFICATION and np.unique(y[i]).size > 1)
        per_site.append({"site": s_, "n": int(i.sum()), name: stat(y[i], pred[i]) if ok else None,
                         "observed_mean": float(y[i].mean()), "predicted_mean": float(pred[i].mean())})
    final_s = _choose(X, y, task=task, mc=mc, candidates=candidates, budget_s=budget, seed=seed,
                      label="final model (all patients)")
    final_params = final_s["params"]
    if mc["n_permutations"]:
        t1 = time.monotonic()
        perm_folds = folds if cv_info["test_sites"] else mc["folds"]
        metrics["xgboost"]["permutation_test"] = permutation_test(
            lambda: make_xgb(final_params, seed=seed, task=task), X, y, folds=perm_folds,
            observed=metrics["xgboost"][name], n_perm=mc["n_permutations"], seed=seed, task=task, strata=strata,
            workers=threads)
        metrics["xgboost"]["permutation_test"]["hyperparameters"] = (
            "the final model's (chosen on all patients), held fixed: the search is not repeated per permutation")
        log.info("xgboost: permutation p = %.4g (%d permutations, %.1fs)",
                 metrics["xgboost"]["permutation_test"]["p_value"], mc["n_permutations"], time.monotonic() - t1)
    final = make_xgb(final_params, seed=seed, task=task).fit(X, y)
    stopped = sum(r["stopped_by_budget"] for r in fold_rows) + int(final_s["stopped_by_budget"])
    if stopped:
        log.warning("the time budget (model.search.time_budget_s = %s) cut %d of %d searches short; results can "
                    "differ on a faster or slower machine. Raise the budget or lower model.search.n_candidates "
                    "for reproducible runs", sc["time_budget_s"], stopped, len(folds) + 1)
    return {
        "metrics": metrics, "oof": oof, "model": final, "features": feats, "folds": fold_rows,
        "info": {"task": task, "n_train": int(len(y)), "n_excluded_no_endpoint": n_excl,
                 "prevalence": float(y.mean()) if task == CLASSIFICATION else None,
                 "outcome_mean": float(y.mean()), "outcome_sd": float(y.std(ddof=1)),
                 "folds": len(folds), "cv": cv_info["description"], "cv_scheme": cv_info["scheme"],
                 "n_sites": int(len(np.unique(sites))), "per_site": per_site,
                 "search": {**sc, "n_candidates": len(candidates), "searches_cut_by_budget": stopped,
                            "final": {k: final_s[k] for k in ("n_evaluated", "stopped_by_budget", "seconds",
                                                              "n_patients_searched")}},
                 "params": final_params,
                 "feature_sets": {**({("logistic_clinical" if task == CLASSIFICATION else "ridge_clinical"): clin}
                                     if clin else {}),
                                  **({"xgboost_no_genetic": nongen} if with_nongen else {}), "xgboost": feats}},
    }
