"""Stage "model": XGBoost response model with cross-validated, honestly reported metrics.

Out-of-fold predictions from stratified k-fold cross-validation give the AUC (with a
percentile bootstrap interval over patients), the Brier score and balanced accuracy.
Baselines are fitted on the same folds: the majority/prevalence model and a penalised
logistic regression on the clinical features, and XGBoost without the genetic features,
so a reader sees what each data domain adds. The final model is refit on all patients and
saved as XGBoost JSON (no pickle) with its feature list.

Issue 5 deepens this stage (site-grouped nested CV, calibration, permutation test).
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
        log.info("%s: AUC %.3f (95%% CI %.3f-%.3f), bootstrap %d resamples in %.1fs", col,
                 metrics[col]["auc"], *metrics[col]["auc_ci"], mc["n_bootstrap"], time.monotonic() - t1)
    final = make_xgb(mc, seed=seed).fit(X, y)
    return {
        "metrics": metrics, "oof": oof, "model": final, "features": feats,
        "info": {"n_train": int(len(y)), "n_excluded_no_endpoint": n_excl, "prevalence": float(y.mean()),
                 "folds": mc["folds"], "cv": "stratified k-fold (shuffled, seeded)",
                 "params": {k: mc[k] for k in ("n_estimators", "max_depth", "learning_rate")},
                 "feature_sets": {"logistic_clinical": clin, "xgboost_no_genetic": nongen, "xgboost": feats}},
    }
