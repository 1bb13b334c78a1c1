"""Cross-fitted T- and X-learners: each patient's predicted response under either arm and
the conditional average treatment effect (CATE), out-of-fold.

:func:`cross_fit_learners`: a T-learner (one classifier per arm) and an X-learner (Künzel et
al. 2019, PNAS 116:4156) give each patient's predicted response probability under either arm
(``mu0``, ``mu1``) and a CATE (``tau_T``, ``tau_X``) on the probability scale, arm 1 minus
arm 0; no patient's own outcome is used to predict that patient. The models are shallow
boosted trees (:data:`XGB_PARAMS`) or logistic and ridge regression, on at most ``n_jobs``
threads with BLAS limited to as many (threadpoolctl).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

# Small, shallow, strongly regularised boosted trees: the data are a few hundred patients per
# arm. No row or column subsampling, so a fit is deterministic.
XGB_PARAMS = dict(
    n_estimators=100,
    max_depth=2,
    learning_rate=0.05,
    min_child_weight=20,
    subsample=1.0,
    colsample_bytree=1.0,
    reg_lambda=1.0,
    tree_method="hist",
)
LEARNERS = ("xgboost", "logistic")


def as_feature_matrix(X: Any) -> tuple[np.ndarray, list[str]]:
    """Features as a float matrix (missing values NaN) and their names.

    String, categorical or object columns are refused: encode them first (pandas 3 string
    columns must never reach XGBoost).
    """
    if isinstance(X, pd.DataFrame):
        bad = [c for c in X.columns if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]
        if bad:
            raise TypeError(f"features must be numeric; encode these columns first: {', '.join(map(str, bad))}")
        return X.to_numpy(dtype=float, na_value=np.nan), [str(c) for c in X.columns]
    a = np.asarray(X, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    return a, [f"x{j}" for j in range(a.shape[1])]


def as_binary(v: Any, name: str) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if a.ndim != 1 or not np.all(np.isin(a, (0.0, 1.0))):
        raise ValueError(f"{name} must be a 1-d array of 0/1 values without missing values")
    return a.astype(int)


class _Constant:
    """Stand-in model for a training set with one outcome class only."""

    def __init__(self, value: float):
        self.value = float(value)

    def predict(self, X):
        return np.full(len(X), self.value)


def _classifier(learner: str, seed: int, n_jobs: int):
    if learner == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(
            **XGB_PARAMS, objective="binary:logistic", eval_metric="logloss", random_state=seed, n_jobs=n_jobs
        )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))


def _regressor(learner: str, seed: int, n_jobs: int):
    if learner == "xgboost":
        from xgboost import XGBRegressor

        return XGBRegressor(**XGB_PARAMS, objective="reg:squarederror", random_state=seed, n_jobs=n_jobs)
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(), StandardScaler(), Ridge(alpha=1.0))


def _fit_prob(learner, seed, n_jobs, X, y):
    """A fitted model whose ``predict`` returns P(y = 1)."""
    if len(y) == 0 or y.min() == y.max():
        return _Constant(y.mean() if len(y) else 0.5)
    m = _classifier(learner, seed, n_jobs).fit(X, y)

    class _P:
        def predict(self, Z):
            return m.predict_proba(Z)[:, 1]

    return _P()


def _fit_reg(learner, seed, n_jobs, X, y):
    if len(y) < 2:
        return _Constant(y.mean() if len(y) else 0.0)
    return _regressor(learner, seed, n_jobs).fit(X, y)


def _fold_ids(treatment: np.ndarray, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold of each patient, stratified by arm and outcome."""
    from sklearn.model_selection import StratifiedKFold

    strata = 2 * treatment + y
    n_min = np.bincount(strata).min() if len(np.unique(strata)) == 4 else 0
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    ids = np.empty(len(y), dtype=int)
    for k, (_, te) in enumerate(skf.split(np.zeros(len(y)), strata if n_min >= folds else treatment)):
        ids[te] = k
    return ids


def fit_learners(
    X: np.ndarray, t: np.ndarray, y: np.ndarray, *, learner: str, seed: int, n_jobs: int, propensity: float | None
):
    """Fit the T- and X-learner on one training set; returns a function X -> predictions."""
    c0, c1 = t == 0, t == 1
    m0 = _fit_prob(learner, seed, n_jobs, X[c0], y[c0])
    m1 = _fit_prob(learner, seed, n_jobs, X[c1], y[c1])
    d1 = y[c1] - m0.predict(X[c1])  # imputed effects in arm 1 (from the arm-0 model)
    d0 = m1.predict(X[c0]) - y[c0]  # imputed effects in arm 0 (from the arm-1 model)
    g1 = _fit_reg(learner, seed, n_jobs, X[c1], d1)
    g0 = _fit_reg(learner, seed, n_jobs, X[c0], d0)
    me = _fit_prob(learner, seed, n_jobs, X, t) if propensity is None else None

    def predict(Z: np.ndarray) -> dict[str, np.ndarray]:
        e = np.full(len(Z), float(propensity)) if me is None else np.clip(me.predict(Z), 0.05, 0.95)
        mu0, mu1 = m0.predict(Z), m1.predict(Z)
        return {
            "mu0": mu0,
            "mu1": mu1,
            "tau_T": mu1 - mu0,
            "tau_X": e * g0.predict(Z) + (1 - e) * g1.predict(Z),
            "propensity": e,
        }

    return predict


def cross_fit_learners(
    X: Any,
    treatment: Any,
    y: Any,
    *,
    folds: int = 5,
    random_state: int = 0,
    learner: str = "xgboost",
    propensity: float | None = 0.5,
    repeats: int = 1,
    n_jobs: int = 1,
) -> dict[str, np.ndarray]:
    """Cross-fitted T-learner and X-learner for a binary outcome and two arms.

    For each of ``folds`` folds (stratified by arm and outcome) the models are trained on the
    other folds and predict the patients of this fold, so every prediction is out-of-fold.

    * T-learner: one classifier per arm, ``mu0(x) = P(y=1 | x, arm 0)`` and ``mu1(x)``;
      ``tau_T = mu1 - mu0``.
    * X-learner (Künzel et al. 2019): imputed effects ``D1 = y - mu0(x)`` for the training
      patients of arm 1 and ``D0 = mu1(x) - y`` for those of arm 0 (each from the model of the
      *other* arm, which never saw them), one regressor per arm on these (``tau1``, ``tau0``),
      combined with the propensity ``e(x)`` as ``tau_X = e * tau0 + (1 - e) * tau1``.

    Parameters
    ----------
    X
        Baseline features (DataFrame or array; numeric only, NaN allowed for XGBoost).
    treatment
        0/1 per patient (1 = the arm whose effect is estimated against arm 0).
    y
        0/1 outcome (1 = response).
    folds, random_state
        Cross-fitting folds and the seed for folds and models.
    learner
        ``"xgboost"`` (shallow boosted trees, :data:`XGB_PARAMS`) or ``"logistic"``
        (logistic regression and ridge, for small or quick analyses).
    propensity
        The known randomisation probability of arm 1 (0.5 for 1:1), or None to estimate it
        out-of-fold (clipped to 0.05-0.95).
    repeats
        Repeat the cross-fitting with fresh fold splits and average the out-of-fold
        predictions (each still made without the patient's own outcome).
    n_jobs
        Threads for XGBoost (and the BLAS limit).

    Returns
    -------
    dict of arrays, one value per patient: ``mu0``, ``mu1``, ``tau_T``, ``tau_X``,
    ``propensity`` and ``fold`` (of the first repetition).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2)); t = rng.permutation(np.repeat([0, 1], 200))
    >>> p = 1 / (1 + np.exp(-(0.5 * X[:, 1] + t * 2 * X[:, 0])))
    >>> y = (rng.random(400) < p).astype(int)
    >>> cf = cross_fit_learners(X, t, y, folds=5, random_state=1, learner="logistic")
    >>> sorted(cf)
    ['fold', 'mu0', 'mu1', 'propensity', 'tau_T', 'tau_X']
    >>> bool(np.corrcoef(cf["tau_X"], X[:, 0])[0, 1] > 0.8)
    True
    """
    if learner not in LEARNERS:
        raise ValueError(f"learner {learner!r}: expected one of {', '.join(LEARNERS)}")
    Xm, _ = as_feature_matrix(X)
    t = as_binary(treatment, "treatment")
    yy = as_binary(y, "y")
    n = len(yy)
    if not (len(t) == n == len(Xm)):
        raise ValueError("X, treatment and y must have the same number of rows")
    if propensity is not None and not 0 < propensity < 1:
        raise ValueError("propensity must be between 0 and 1 (or None to estimate it)")
    acc = {k: np.zeros(n) for k in ("mu0", "mu1", "tau_T", "tau_X", "propensity")}
    first_fold = None
    t0 = time.monotonic()
    with threadpool_limits(limits=n_jobs):
        for r in range(repeats):
            seed = random_state + 1000 * r
            fold = _fold_ids(t, yy, folds, seed)
            if first_fold is None:
                first_fold = fold
            for k in range(folds):
                te, tr = fold == k, fold != k
                pred = fit_learners(
                    Xm[tr], t[tr], yy[tr], learner=learner, seed=seed + k, n_jobs=n_jobs, propensity=propensity
                )(Xm[te])
                for key in acc:
                    acc[key][te] += pred[key]
                log.info(
                    "cross-fit %s: repeat %d/%d, fold %d/%d done (train %d, predict %d; %.1fs)",
                    learner,
                    r + 1,
                    repeats,
                    k + 1,
                    folds,
                    int(tr.sum()),
                    int(te.sum()),
                    time.monotonic() - t0,
                )
    out = {k: v / repeats for k, v in acc.items()}
    out["fold"] = first_fold
    return out
