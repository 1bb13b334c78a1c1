"""The learners of the response model: the task of an endpoint, the XGBoost model, the
linear baselines, and :func:`predict`, the predictions of any of them.

:func:`task_of` maps the configured endpoint to classification or regression; :func:`make_xgb`
builds the XGBoost classifier or regressor (hist trees, one thread per fit); :func:`make_logistic`
and :func:`make_ridge` build the penalised linear baselines on the clinical features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

CLASSIFICATION, REGRESSION = "classification", "regression"
REGRESSION_KINDS = ("pct_change",)


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


def make_xgb(
    params: dict[str, Any],
    *,
    seed: int,
    task: str = CLASSIFICATION,
    n_jobs: int = XGB_THREADS,
    early_stopping_rounds: int | None = None,
):
    """An XGBoost classifier (or regressor) with the given hyperparameters (hist trees).

    ``params`` needs ``n_estimators``, ``max_depth`` and ``learning_rate``; ``subsample``,
    ``colsample_bytree``, ``min_child_weight`` and ``reg_lambda`` default to 0.8, 0.8, 5 and 1.
    """
    from xgboost import XGBClassifier, XGBRegressor

    kw = dict(
        n_estimators=int(params["n_estimators"]),
        max_depth=int(params["max_depth"]),
        learning_rate=float(params["learning_rate"]),
        subsample=float(params.get("subsample", 0.8)),
        colsample_bytree=float(params.get("colsample_bytree", 0.8)),
        min_child_weight=float(params.get("min_child_weight", 5)),
        reg_lambda=float(params.get("reg_lambda", 1.0)),
        tree_method="hist",
        n_jobs=n_jobs,
        random_state=seed,
    )
    if early_stopping_rounds:
        kw["early_stopping_rounds"] = int(early_stopping_rounds)
    if task == REGRESSION:
        return XGBRegressor(eval_metric="rmse", **kw)
    return XGBClassifier(eval_metric="logloss", **kw)


def make_logistic(*, seed: int):
    """Median imputation, standardisation and L2-penalised logistic regression."""
    return make_pipeline(
        SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    )


def make_ridge(*, seed: int):
    """Median imputation, standardisation and ridge regression (penalty chosen by efficient
    leave-one-out over 13 values from 0.01 to 1000)."""
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 13)))


def predict(model, X: np.ndarray) -> np.ndarray:
    """Probability of the outcome (classifiers) or the predicted value (regressors)."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.predict(X)
