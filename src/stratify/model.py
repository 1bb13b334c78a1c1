"""Stage "model": XGBoost response model with cross-validated, honestly reported metrics.

Out-of-fold predictions from stratified k-fold cross-validation give the AUC (with a
percentile bootstrap interval over patients), the Brier score and balanced accuracy.
Baselines are fitted on the same folds: the majority/prevalence model and a penalised
logistic regression on the clinical features, and XGBoost without the genetic features,
so a reader sees what each data domain adds. The final model is refit on all patients and
saved as XGBoost JSON (no pickle) with its feature list.

The main model also gets a permutation test (the whole cross-validation repeated with
shuffled outcomes: is its AUC better than chance?) and every model a calibration slope and
intercept with bootstrap intervals and a calibration plot. Issue 5 still has to add
site-grouped nested cross-validation.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stratify.errors import InputError

log = logging.getLogger(__name__)


def make_xgb(params: dict[str, Any], *, seed: int):
    """An XGBoost classifier with the configured hyperparameters (2 threads, hist trees)."""
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_estimators=params["n_estimators"], max_depth=params["max_depth"],
        learning_rate=params["learning_rate"], subsample=0.8, colsample_bytree=0.8,
        min_child_weight=5, reg_lambda=1.0, tree_method="hist", n_jobs=2,
        random_state=seed, eval_metric="logloss",
    )


def make_logistic(*, seed: int):
    """Median imputation, standardisation and L2-penalised logistic regression."""
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                         LogisticRegression(C=1.0, max_iter=2000, random_state=seed))


def cross_validated_predictions(make, X: np.ndarray, y: np.ndarray, folds) -> np.ndarray:
    """Out-of-fold predicted probabilities for every patient."""
    oof = np.full(len(y), np.nan)
    for train, test in folds:
        m = make().fit(X[train], y[train])
        oof[test] = m.predict_proba(X[test])[:, 1]
    return oof


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


def _calibration_ci(y: np.ndarray, p: np.ndarray, *, n_boot: int, seed: int) -> dict[str, list[float]]:
    """Percentile bootstrap intervals of the calibration slope and intercept."""
    rng = np.random.default_rng(seed)
    sl, ic = [], []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() == y[i].max():
            continue
        c = calibration(y[i], p[i])
        sl.append(c["slope"])
        ic.append(c["intercept"])
    sl = np.array(sl)[np.isfinite(sl)]

    def q(v):
        return [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] if len(v) else [float("nan")] * 2
    return {"slope_ci": q(sl), "intercept_ci": q(np.array(ic))}


def metrics_with_ci(y: np.ndarray, p: np.ndarray, *, n_boot: int, seed: int) -> dict[str, Any]:
    """AUC (with bootstrap CI), Brier score (with CI) and balanced accuracy at the prevalence."""
    thr = float(y.mean())
    auc = float(roc_auc_score(y, p)) if np.unique(p).size > 1 else 0.5

    def _auc(a, b):
        return roc_auc_score(a, b) if np.unique(b).size > 1 else 0.5

    lo, hi = bootstrap_ci(y, p, _auc, n_boot=n_boot, seed=seed)
    blo, bhi = bootstrap_ci(y, p, brier_score_loss, n_boot=n_boot, seed=seed + 1)
    return {
        "auc": auc, "auc_ci": [lo, hi],
        "brier": float(brier_score_loss(y, p)), "brier_ci": [blo, bhi],
        "balanced_accuracy": float(balanced_accuracy_score(y, p >= thr)), "threshold": thr,
    }


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def logistic_fit(y: np.ndarray, x: np.ndarray | None, offset: np.ndarray, iters: int = 50) -> np.ndarray:
    """Unpenalised logistic regression by Newton-Raphson: logit P(y) = b0 [+ x @ b] + offset.

    ``x`` is None (intercept only), one column or a matrix. Returns the coefficients,
    intercept first."""
    X = np.ones((len(y), 1)) if x is None else np.column_stack([np.ones(len(y)), x])
    b = np.zeros(X.shape[1])
    for _ in range(iters):
        eta = np.clip(X @ b + offset, -30, 30)
        mu = 1 / (1 + np.exp(-eta))
        w = mu * (1 - mu)
        H = X.T @ (X * w[:, None]) + 1e-9 * np.eye(X.shape[1])
        step = np.linalg.solve(H, X.T @ (y - mu))
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


def permutation_test(make, X: np.ndarray, y: np.ndarray, *, folds: int, observed_auc: float, n_perm: int,
                     seed: int) -> dict[str, Any]:
    """Is the cross-validated AUC better than chance? The whole stratified k-fold
    cross-validation is repeated on ``n_perm`` random permutations of the outcome (folds
    re-drawn for each); p = (1 + #{AUC_perm >= AUC_obs}) / (1 + n_perm), one-sided
    (Ojala & Garriga 2010, J Mach Learn Res 11:1833).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] + rng.normal(size=200) > 0).astype(int)
    >>> make = lambda: make_logistic(seed=0)
    >>> cv = StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)
    >>> auc = roc_auc_score(y, cross_validated_predictions(make, X, y, cv))
    >>> permutation_test(make, X, y, folds=5, observed_auc=auc, n_perm=19, seed=0)["p_value"]
    0.05
    """
    rng = np.random.default_rng(seed)
    aucs = []
    step = max(1, n_perm // 10)
    for i in range(n_perm):
        yp = rng.permutation(y)
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + 1 + i).split(X, yp)
        pp = cross_validated_predictions(make, X, yp, cv)
        aucs.append(float(roc_auc_score(yp, pp)) if np.unique(pp).size > 1 else 0.5)
        if (i + 1) % step == 0 or i + 1 == n_perm:
            log.info("permutation test: %d/%d", i + 1, n_perm)
    aucs = np.array(aucs)
    return {"p_value": float((1 + np.sum(aucs >= observed_auc)) / (1 + n_perm)), "n_permutations": int(n_perm),
            "null_auc_mean": float(aucs.mean()), "null_auc_sd": float(aucs.std(ddof=1)) if n_perm > 1 else None,
            "null_auc_95th": float(np.quantile(aucs, 0.95)),
            "method": "stratified k-fold cross-validation repeated on permuted outcomes (one-sided)"}


def fit_response_model(features: pd.DataFrame, summary: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Cross-validate XGBoost and baselines; refit on all patients.

    Returns a dict with ``metrics`` (per model), ``oof`` (DataFrame), ``model`` (fitted
    XGBClassifier) and ``features`` (names, in model order).
    """
    mc, seed = config["model"], config["seed"]
    feats: list[str] = summary["model_features"]
    groups = summary["feature_groups"]
    data = features[features["y"].notna()].reset_index(drop=True)
    y = data["y"].astype(int).to_numpy()
    n_excl = int(features["y"].isna().sum())
    if len(np.unique(y)) < 2 or min(np.bincount(y)) < mc["folds"]:
        counts = np.bincount(y, minlength=2)
        raise InputError(
            f"the endpoint has too few patients in one class for {mc['folds']}-fold cross-validation: "
            f"{counts[1]} with and {counts[0]} without it; lower model.folds or choose another endpoint")
    X = data[feats].to_numpy(dtype=float)
    folds = list(StratifiedKFold(n_splits=mc["folds"], shuffle=True, random_state=seed).split(X, y))
    t0 = time.monotonic()
    oof = pd.DataFrame({"patient_id": data["patient_id"], "site": data["site"], "y": y})
    oof["xgboost"] = cross_validated_predictions(lambda: make_xgb(mc, seed=seed), X, y, folds)
    log.info("xgboost: %d-fold CV done in %.1fs", mc["folds"], time.monotonic() - t0)
    clin = [f for f in groups.get("clinical", []) if f in feats]
    nongen = [f for f in feats if f not in groups.get("genetic", [])]
    if clin:
        Xc = data[clin].to_numpy(dtype=float)
        oof["logistic_clinical"] = cross_validated_predictions(lambda: make_logistic(seed=seed), Xc, y, folds)
    if groups.get("genetic") and nongen:
        Xn = data[nongen].to_numpy(dtype=float)
        oof["xgboost_no_genetic"] = cross_validated_predictions(lambda: make_xgb(mc, seed=seed), Xn, y, folds)
    # one constant for everyone: AUC exactly 0.5 by construction, Brier score of the prevalence
    oof["majority"] = float(y.mean())
    metrics = {}
    for col in [c for c in oof.columns if c not in ("patient_id", "site", "y")]:
        t1 = time.monotonic()
        metrics[col] = metrics_with_ci(y, oof[col].to_numpy(), n_boot=mc["n_bootstrap"], seed=seed)
        metrics[col]["calibration"] = calibration(y, oof[col].to_numpy())
        if col != "majority":
            metrics[col]["calibration"].update(_calibration_ci(y, oof[col].to_numpy(), n_boot=mc["n_bootstrap"],
                                                               seed=seed + 2))
        log.info("%s: AUC %.3f (95%% CI %.3f-%.3f), bootstrap %d resamples in %.1fs", col,
                 metrics[col]["auc"], *metrics[col]["auc_ci"], mc["n_bootstrap"], time.monotonic() - t1)
    if mc["n_permutations"]:
        t1 = time.monotonic()
        metrics["xgboost"]["permutation_test"] = permutation_test(
            lambda: make_xgb(mc, seed=seed), X, y, folds=mc["folds"], observed_auc=metrics["xgboost"]["auc"],
            n_perm=mc["n_permutations"], seed=seed)
        log.info("xgboost: permutation p = %.4g (%d permutations, %.1fs)",
                 metrics["xgboost"]["permutation_test"]["p_value"], mc["n_permutations"], time.monotonic() - t1)
    final = make_xgb(mc, seed=seed).fit(X, y)
    return {
        "metrics": metrics, "oof": oof, "model": final, "features": feats,
        "info": {"n_train": int(len(y)), "n_excluded_no_endpoint": n_excl, "prevalence": float(y.mean()),
                 "folds": mc["folds"], "cv": "stratified k-fold (shuffled, seeded)",
                 "params": {k: mc[k] for k in ("n_estimators", "max_depth", "learning_rate")},
                 "feature_sets": {"logistic_clinical": clin, "xgboost_no_genetic": nongen, "xgboost": feats}},
    }
