"""SHAP explanations: values add up to the model's log-odds; importance ranks a planted
predictor first; plots are written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stratify.explain import beeswarm_png, importance, importance_by_subtype, shap_values


@pytest.fixture(scope="module")
def fitted():
    from xgboost import XGBClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"strong": rng.normal(size=400), "weak": rng.normal(size=400), "noise": rng.normal(size=400)})
    logit = 2.0 * X["strong"] + 0.5 * X["weak"]
    y = (rng.random(400) < 1 / (1 + np.exp(-logit))).astype(int)
    model = XGBClassifier(n_estimators=50, max_depth=2, learning_rate=0.1, random_state=0).fit(X, y)
    return model, X


def test_shap_values_sum_to_the_margin(fitted):
    model, X = fitted
    vals, base = shap_values(model, X)
    assert vals.shape == X.shape
    margin = model.predict(X, output_margin=True)
    np.testing.assert_allclose(vals.sum(axis=1) + base, margin, atol=1e-4)


def test_importance_ranks_the_strong_predictor_first(fitted):
    model, X = fitted
    vals, _ = shap_values(model, X)
    imp = importance(vals, list(X.columns))
    assert imp["feature"].tolist()[0] == "strong"
    assert imp["rank"].tolist() == [1, 2, 3]
    assert imp["mean_abs_shap"].is_monotonic_decreasing


def test_importance_by_subtype_and_plot(fitted, tmp_path):
    model, X = fitted
    vals, _ = shap_values(model, X)
    st = pd.Series(np.where(np.arange(len(X)) < 100, "a", "b"))
    by = importance_by_subtype(vals, list(X.columns), st)
    assert list(by.index) == ["a", "b"]
    np.testing.assert_allclose(by.loc["a", "strong"], np.abs(vals[:100, 0]).mean())
    png = beeswarm_png(vals, X, tmp_path / "b.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
