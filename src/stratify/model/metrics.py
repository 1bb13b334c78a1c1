"""Metrics of out-of-fold predictions with percentile bootstrap intervals over patients.

Classification: AUC (within sites under leave-one-site-out, :func:`stratified_auc`), Brier
score and balanced accuracy (:func:`metrics_with_ci`); regression: R², RMSE, MAE and the
calibration line (:func:`regression_metrics_with_ci`). The AUC of each bootstrap resample is
computed from counts per patient (:class:`_PairCounts`) rather than copied rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    balanced_accuracy_score,
    brier_score_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)

from stratify.model.bootstrap import bootstrap_ci, bootstrap_counts, one_blas_thread
from stratify.model.calibration import regression_calibration
from stratify.model.learners import CLASSIFICATION, REGRESSION


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if np.unique(p).size > 1 and np.unique(y).size > 1 else 0.5


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    return float(r2_score(y, p))


# the statistic of the permutation test and the per-site table
PRIMARY = {CLASSIFICATION: ("auc", _auc), REGRESSION: ("r2", _r2)}


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
        s = (
            np.zeros(len(y), dtype=np.int64)
            if strata is None
            else np.unique(np.asarray(strata), return_inverse=True)[1].ravel()
        )
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
        below = np.cumsum(neg) - neg  # negatives ranked lower, all strata
        below -= below[self.first_of_stratum][self.grp_stratum]  # ... within the stratum
        num = np.bincount(self.grp_stratum, weights=pos * (below + 0.5 * neg), minlength=self.n_strata)
        den = np.bincount(self.grp_stratum, weights=pos, minlength=self.n_strata) * np.bincount(
            self.grp_stratum, weights=neg, minlength=self.n_strata
        )
        return float(num.sum() / den.sum()) if den.sum() > 0 else 0.5


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


@one_blas_thread
def metrics_with_ci(
    y: np.ndarray, p: np.ndarray, *, n_boot: int, seed: int, strata: np.ndarray | None = None
) -> dict[str, Any]:
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
    for w in bootstrap_counts(len(y), n_boot, seed, strata):
        if strata is None and float(w @ yf) in (0.0, float(len(y))):
            continue
        vals.append(pairs(w))
    lo, hi = float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975))
    sq = (np.asarray(p, dtype=float) - yf) ** 2
    briers = [
        float(w @ sq) / len(y)
        for w in bootstrap_counts(len(y), n_boot, seed + 1)
        if float(w @ yf) not in (0.0, float(len(y)))
    ]
    blo, bhi = float(np.quantile(briers, 0.025)), float(np.quantile(briers, 0.975))
    out = {
        "auc": auc,
        "auc_ci": [lo, hi],
        "brier": float(brier_score_loss(y, p)),
        "brier_ci": [blo, bhi],
        "balanced_accuracy": float(balanced_accuracy_score(y, p >= thr)),
        "threshold": thr,
    }
    if strata is not None:
        out["auc_pooled"] = _auc(y, p)
        out["auc_definition"] = "within-site AUC (pairs of patients from the same site)"
    return out


@one_blas_thread
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
