"""Linear parts of the response model, as plain numbers: the covariate model (genotype
principal components as adjustment, whose linear predictor is XGBoost's offset) and the
elastic-net learner whose covariates are (nearly) unpenalised.

A :class:`Linear` is median imputation, standardisation and one coefficient per column, stored
as lists so that ``model_features.json`` can carry it and :mod:`stratify.model.external` and
:mod:`stratify.explain` can predict and explain without pickle.

Covariates, not free predictors. Genotype principal components adjust for ancestry (Price et al.
2006, Nat Genet 38:904); they are not hypothesised to predict response. Left among XGBoost's
features they compete for splits, and with random SNPs they are pure noise that the trees fit
(issue 19). So they enter a small logistic (linear) model of their own, lightly penalised
(L2, C = 1 on standardised columns), whose linear predictor is XGBoost's ``base_margin``: the
trees start from the covariates' prediction and model only what the covariates do not
(boosting from an initial offset, Friedman 2001, Ann Stat 29:1189; XGBoost's ``base_margin``).
In the elastic net (Zou & Hastie 2005, J R Stat Soc B 67:301) the covariates are in the same
model, multiplied by :data:`UNPENALISED_SCALE` after standardisation, which divides their L1
penalty by that factor and their L2 penalty by its square: the documented equivalent of
glmnet's ``penalty.factor`` (Friedman, Hastie & Tibshirani 2010, J Stat Softw 33:1) in
scikit-learn, which has no per-feature penalty.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stratify.model.learners import CLASSIFICATION

#: Covariates are multiplied by this after standardisation in the elastic net (penalty / 10 for
#: L1, / 100 for L2).
UNPENALISED_SCALE = 10.0

#: The elastic net's inner grid: inverse penalty strength C (classification; alpha = 1 / (2 n C)
#: for regression is the same grid in scikit-learn's ElasticNet terms) and the L1 share.
ENET_C = (0.01, 0.03, 0.1, 0.3, 1.0)
ENET_L1 = (0.2, 0.8)


@dataclass
class Linear:
    """A fitted linear predictor on the columns ``cols`` of a feature matrix: NaN -> ``medians``,
    then ``(x - means) / sds``, then ``z @ coef + intercept`` (log-odds, or outcome units).

    ``held`` (positions in ``cols``) are adjustment covariates: they enter the fit, and are
    held at their training mean (z = 0) when predicting unless ``full=True``."""

    cols: list[int]
    medians: list[float]
    means: list[float]
    sds: list[float]
    coef: list[float]
    intercept: float
    held: list[int] = field(default_factory=list)

    def standardised(self, X: np.ndarray) -> np.ndarray:
        """The standardised columns (after median imputation)."""
        Z = np.asarray(X, dtype=float)[:, self.cols]
        Z = np.where(np.isnan(Z), np.asarray(self.medians), Z)
        return (Z - np.asarray(self.means)) / np.asarray(self.sds)

    def _z(self, X: np.ndarray, full: bool) -> np.ndarray:
        Z = self.standardised(X)
        if not full and self.held:
            Z[:, self.held] = 0.0
        return Z

    def margin(self, X: np.ndarray, *, full: bool = False) -> np.ndarray:
        """The linear predictor of every row of ``X`` (all features, model order); the
        ``held`` covariates at their training mean unless ``full``."""
        if not self.cols:
            return np.full(len(X), float(self.intercept))
        return self._z(X, full) @ np.asarray(self.coef) + float(self.intercept)

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        """Exact SHAP values of the prediction (:meth:`margin`) with the rows of ``X`` as
        background (independent features: coefficient times deviation from the background mean;
        Lundberg & Lee 2017), one column per ``cols`` entry (0 for ``held`` covariates), and the
        base value (the mean margin)."""
        Z = self._z(X, False) if self.cols else np.zeros((len(X), 0))
        c = (Z - Z.mean(axis=0)) * np.asarray(self.coef)
        return c, float(self.margin(X).mean()) if len(X) else float(self.intercept)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("cols", "medians", "means", "sds", "coef", "intercept", "held")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Linear:
        keys = ("cols", "medians", "means", "sds", "coef", "intercept")
        return cls(**{k: d[k] for k in keys}, held=list(d.get("held", [])))


def _prepare(X: np.ndarray, cols: list[int]) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Median-imputed, standardised columns and the numbers that reproduce them."""
    Z = np.asarray(X, dtype=float)[:, cols]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(Z, axis=0)
    med = np.where(np.isnan(med), 0.0, med)
    Z = np.where(np.isnan(Z), med, Z)
    mu, sd = Z.mean(axis=0), Z.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (Z - mu) / sd, {"medians": med.tolist(), "means": mu.tolist(), "sds": sd.tolist()}


def fit_linear(
    X: np.ndarray,
    y: np.ndarray,
    cols: list[int],
    *,
    task: str,
    C: float = 1.0,
    l1_ratio: float = 0.0,
    unpenalised: list[int] | None = None,
    hold_all: bool = False,
    seed: int = 0,
) -> Linear:
    """Fit a penalised logistic (classification) or linear (regression) model on ``cols``.

    ``l1_ratio`` 0 is ridge (L2), above 0 the elastic net. ``unpenalised`` (a subset of
    ``cols``) are scaled by :data:`UNPENALISED_SCALE` so that their penalty is negligible.
    Without columns the model is the intercept alone (the outcome's log-odds or mean).
    """
    y = np.asarray(y, dtype=float)
    if not cols:
        m = y.mean()
        icpt = float(np.log(m / (1 - m))) if task == CLASSIFICATION and 0 < m < 1 else float(m)
        return Linear([], [], [], [], [], icpt)
    Z, prep = _prepare(X, cols)
    scale = np.array([UNPENALISED_SCALE if c in set(unpenalised or []) else 1.0 for c in cols])
    Zs = Z * scale
    if task == CLASSIFICATION:
        from sklearn.linear_model import LogisticRegression

        solver = "saga" if l1_ratio > 0 else "lbfgs"
        m = LogisticRegression(C=C, l1_ratio=l1_ratio, solver=solver, max_iter=5000, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # saga's convergence notes on tiny folds
            m.fit(Zs, y.astype(int))
        coef, icpt = m.coef_[0], float(m.intercept_[0])
    else:
        from sklearn.linear_model import ElasticNet, Ridge

        alpha = 1.0 / (2 * len(y) * C)
        m = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, max_iter=20000) if l1_ratio > 0 else Ridge(alpha=alpha * len(y))
        mu, sd = y.mean(), y.std() or 1.0
        m.fit(Zs, (y - mu) / sd)  # penalties on the standardised outcome, whatever its units
        coef, icpt = np.ravel(m.coef_) * sd, float(m.intercept_) * sd + mu
    held = list(range(len(cols))) if hold_all else [j for j, c in enumerate(cols) if c in set(unpenalised or [])]
    return Linear(list(map(int, cols)), **prep, coef=(coef * scale).tolist(), intercept=icpt, held=held)


def loss(y: np.ndarray, margin: np.ndarray, *, task: str) -> float:
    """Log loss of log-odds ``margin`` (classification) or RMSE (regression): the inner
    selection's criterion, the same as XGBoost's early-stopping metric."""
    y = np.asarray(y, dtype=float)
    if task == CLASSIFICATION:
        p = np.clip(1 / (1 + np.exp(-margin)), 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(np.sqrt(np.mean((y - margin) ** 2)))


def enet_search(X: np.ndarray, y: np.ndarray, splits, *, task: str, covariates: list[int], seed: int) -> dict[str, Any]:
    """Choose the elastic net's C and L1 share over :data:`ENET_C` x :data:`ENET_L1` by the
    mean inner-validation loss on ``splits`` (the XGBoost search's inner folds); all columns
    in, ``covariates`` unpenalised."""
    cols = list(range(X.shape[1]))
    results = []
    for C in ENET_C:
        for l1 in ENET_L1:
            losses = [
                loss(
                    y[va],
                    fit_linear(
                        X[tr], y[tr], cols, task=task, C=C, l1_ratio=l1, unpenalised=covariates, seed=seed
                    ).margin(X[va]),
                    task=task,
                )
                for tr, va in splits
            ]
            results.append({"C": C, "l1_ratio": l1, "inner_loss": float(np.mean(losses))})
    best = min(results, key=lambda r: r["inner_loss"])
    return {
        "params": {"C": best["C"], "l1_ratio": best["l1_ratio"]},
        "inner_loss": best["inner_loss"],
        "results": results,
    }
