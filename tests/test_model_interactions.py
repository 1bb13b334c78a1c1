"""The elastic net's derived terms (issue 19): metaboliser ranks as level indicators,
index-treatment x feature products chosen by the inner search, their SHAP attribution and
their round trip through model_features.json."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from stratify.explain.model_shap import additive_reason, model_interactions, model_shap_values
from stratify.model.linear import Design, Linear, design_terms, enet_search, fit_linear
from stratify.model.response import fit_learner, linear_design

FEATURES = ["index_ssri_snri", "modifier", "noise", "cyp2c19_rank", "pc1"]


def _data(n, *, seed, interaction=2.0, levels=0.0):
    """A treatment indicator, a modifier that acts only under treatment (``interaction``), a
    U-shaped rank effect (``levels``: the extreme ranks respond less), noise and a PC."""
    rng = np.random.default_rng(seed)
    t = (rng.random(n) < 0.6).astype(float)
    x = rng.normal(0, 1, n)
    rank = rng.choice([0.0, 1.0, 2.0, 3.0], n, p=[0.15, 0.3, 0.4, 0.15])
    logit = 0.2 + interaction * (t - 0.5) * x - levels * np.isin(rank, [0.0, 3.0])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    X = np.column_stack([t, x, rng.normal(0, 1, n), rank, rng.normal(0, 1, n)])
    return X, y


def test_design_names_treatments_and_ranked_categories():
    assert linear_design(FEATURES) == Design(treatments=(0,), categorical=(3,))


def test_design_terms_levels_products_and_duplicate_treatments():
    X, _ = _data(200, seed=0)
    X = np.column_stack([X, X[:, 0]])  # a second treatment column identical to the first
    d = Design(treatments=(0, 5), categorical=(3,))
    cols = list(range(6))
    plain = design_terms(X, cols, d, covariates=[4], interactions=False)
    assert plain == [[[3, v]] for v in (0.0, 1.0, 2.0, 3.0)]
    terms = design_terms(X, cols, d, covariates=[4], interactions=True)
    products = [t for t in terms if len(t) == 2]
    # one treatment (the duplicate once) x (modifier, noise, rank and its 4 levels); never the PC
    assert len(products) == 3 + 4
    assert all(t[0] == [0, None] for t in products) and not any(f[0] == 4 for t in terms for f in t)


def test_treatment_products_find_an_effect_modifier():
    X, y = _data(1200, seed=1)
    Xte, yte = _data(2000, seed=2)
    d = linear_design(FEATURES)
    kw = dict(task="classification", C=0.3, l1_ratio=0.5, unpenalised=[4], design=d)
    plain = fit_linear(X, y, list(range(5)), interactions=False, **kw)
    inter = fit_linear(X, y, list(range(5)), interactions=True, **kw)
    auc = {k: roc_auc_score(yte, m.margin(Xte)) for k, m in (("plain", plain), ("inter", inter))}
    assert auc["plain"] < 0.6 < 0.7 < auc["inter"]
    splits = [(np.arange(600, 1200), np.arange(600)), (np.arange(600), np.arange(600, 1200))]
    s = enet_search(X, y, splits, task="classification", covariates=[4], seed=0, design=d)
    assert s["params"]["interactions"] is True
    assert {r["interactions"] for r in s["results"]} == {False, True}


def test_level_indicators_fit_a_u_shaped_rank():
    X, y = _data(1500, seed=3, interaction=0.0, levels=1.5)
    Xte, yte = _data(3000, seed=4, interaction=0.0, levels=1.5)
    kw = dict(task="classification", C=0.3, l1_ratio=0.5, unpenalised=[4])
    rank_only = fit_linear(X, y, list(range(5)), **kw)
    levels = fit_linear(X, y, list(range(5)), design=Design(categorical=(3,)), **kw)
    assert roc_auc_score(yte, levels.margin(Xte)) > roc_auc_score(yte, rank_only.margin(Xte)) + 0.05


def test_no_treatment_variation_no_product_search():
    X, y = _data(300, seed=5)
    X[:, 0] = 1.0  # everyone on the same kind of index treatment
    splits = [(np.arange(150, 300), np.arange(150)), (np.arange(150), np.arange(150, 300))]
    s = enet_search(X, y, splits, task="classification", covariates=[4], seed=0, design=linear_design(FEATURES))
    assert {r["interactions"] for r in s["results"]} == {False}


def test_products_are_explained_and_round_trip():
    X, y = _data(600, seed=6)
    params = {"C": 0.3, "l1_ratio": 0.5, "interactions": True}
    d = linear_design(FEATURES)
    model = fit_learner("elastic_net", X, y, params, task="classification", seed=0, covariates=[4], design=d)
    df = pd.DataFrame(X, columns=FEATURES)
    vals, base, what = model_shap_values(model, df)
    assert np.allclose(vals.sum(axis=1) + base, model.margin(X), atol=1e-8)
    assert np.allclose(vals[:, 4], 0.0) and "product" in what
    assert additive_reason(model, {}) is None
    inter = model_interactions(model, df, max_patients=100, seed=0, shap=vals)["mean_abs"]
    assert np.allclose(inter, inter.T)
    off = inter - np.diag(np.diag(inter))
    assert np.unravel_index(off.argmax(), off.shape) in ((0, 1), (1, 0))  # treatment x modifier
    # a product alone: its contribution is split equally between its two features
    lone = Linear([0, 1], [0, 0], [0, 0], [1, 1], [0.0, 0.0, 1.0], 0.0, terms=[[[0, None], [1, None]]])
    lone.term_means, lone.term_sds = [0.0], [1.0]
    c, _ = lone.contributions(X[:, :2])
    assert np.allclose(c[:, 0], c[:, 1])
    # model_features.json carries the terms (levels None for standardised columns)
    again = Linear.from_dict(json.loads(json.dumps(model.linear.to_dict())))
    Xm = X.copy()
    Xm[0, 3] = np.nan
    assert len(again.terms) == len(model.linear.terms) > 4
    assert np.allclose(again.margin(Xm), model.margin(Xm))
