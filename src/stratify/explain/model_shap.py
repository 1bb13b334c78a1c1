"""SHAP values of the saved response model, whichever learner the nested selection chose
(:class:`stratify.model.response.ResponseModel`).

* XGBoost on a covariate offset: TreeExplainer values of the trees on their features (Lundberg
  et al. 2020, Nat Mach Intell 2:56); the covariates (genotype PCs), held at their training mean
  when the model predicts, contribute 0; the base value is the trees' expected value plus the
  covariate model's intercept, so every row still adds up to the prediction (log-odds, or
  outcome units).
* Elastic net: linear SHAP values, coefficient times the standardised term's deviation from
  the cohort mean (features treated as independent; Lundberg & Lee 2017, NeurIPS 30, linear
  models); a metaboliser rank's level indicators count for that feature, and a
  treatment-modifier product (index treatment x feature) is split equally between its two
  features (:meth:`stratify.model.linear.Linear.contributions`).

A model without interactions (the elastic net without treatment-modifier products, or trees of
depth 1, which split on one feature each and so add up feature by feature) has SHAP
interaction values of exactly 0 off the diagonal: :func:`additive_reason` says why, and the
stage writes no interaction table then. The elastic net's products are its interaction pairs
(:meth:`stratify.model.linear.Linear.interaction_matrix`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stratify.explain.shapley import interaction_summary, shap_values
from stratify.model.response import ELASTIC_NET


def model_shap_values(model, X: pd.DataFrame) -> tuple[np.ndarray, float, str]:
    """SHAP values (patients x model features, model order), the base value and a sentence
    saying what they are."""
    p = X.shape[1]
    vals = np.zeros((len(X), p))
    if model.learner == ELASTIC_NET:
        c, base = model.linear.contributions(X.to_numpy(dtype=float))
        vals[:, model.linear.cols] = c
        what = "linear SHAP values of the elastic net (coefficient x deviation from the cohort mean)"
        if _products(model):
            what += "; each treatment x feature product term split equally between its two features"
        return vals, base, what
    if model.covariates is None:  # a booster without offset
        tv, base = shap_values(model.booster, X)
        return tv, base, "TreeExplainer SHAP values of the XGBoost model"
    Xb = X.iloc[:, model.booster_cols]
    tv, _ = shap_values(model.booster, Xb)
    vals[:, model.booster_cols] = tv
    # the trees' base value from their own margin (no offset): TreeExplainer's expected value
    # also carries XGBoost's base_score, which the offset replaces when the model predicts
    trees = model.booster.predict(Xb.to_numpy(dtype=float), output_margin=True, base_margin=np.zeros(len(Xb)))
    base = float(np.mean(trees - tv.sum(axis=1))) + float(model.covariates.intercept)
    held = [X.columns[i] for i in model.covariates.cols]
    what = "TreeExplainer SHAP values of the XGBoost trees"
    if held:
        what += f"; the covariates ({', '.join(held)}) adjust the fit and are held at their mean, so their values are 0"
    return vals, base, what


def additive_reason(model, meta: dict[str, Any]) -> str | None:
    """Why the model has no interactions at all, or None when it may have some."""
    if model.learner == ELASTIC_NET and not _products(model):
        return (
            "The final model is the elastic net without treatment-modifier products, a linear model additive in "
            "the features: it has no interactions to show."
        )
    if int(meta.get("xgboost_params", {}).get("max_depth", 0)) == 1:
        return (
            "The tuned XGBoost model is additive: its trees have depth 1 (one split each), so every "
            "SHAP interaction value is exactly 0 and no pair is shown."
        )
    return None


def _products(model) -> bool:
    """Whether the elastic net has product terms (two features in one term)."""
    return any(len(t) > 1 for t in model.linear.term_columns()) if model.linear is not None else False


def model_interactions(model, X: pd.DataFrame, *, max_patients: int, seed: int, shap: np.ndarray) -> dict[str, Any]:
    """:func:`~stratify.explain.shapley.interaction_summary` of the trees, embedded in the
    model's features x features matrix (the covariates' rows and columns 0); for the elastic
    net with products its exact interaction matrix on every patient."""
    if model.learner == ELASTIC_NET:
        full = np.zeros((X.shape[1], X.shape[1]))
        cols = model.linear.cols
        full[np.ix_(cols, cols)] = model.linear.interaction_matrix(X.to_numpy(dtype=float))
        n = len(X)
        return {
            "mean_abs": full,
            "rows": np.arange(n),
            "n_patients_used": n,
            "subsampled": False,
            "seed": int(seed),
            "max_patients": int(max_patients),
            "seconds": 0.0,
            "max_additivity_error": None,
        }
    cols = model.booster_cols
    inter = interaction_summary(
        model.booster, X.iloc[:, cols], max_patients=max_patients, seed=seed, shap=shap[:, cols]
    )
    full = np.zeros((X.shape[1], X.shape[1]))
    full[np.ix_(cols, cols)] = inter["mean_abs"]
    return {**inter, "mean_abs": full}
