"""The learner choice inside the nested cross-validation, the covariate offset, the saved model's
round trip, and the explanations of either learner (issue 19)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stratify.explain.model_shap import additive_reason, model_shap_values
from stratify.model.fit import ModelOptions, fit_response_model
from stratify.model.linear import Linear, fit_linear
from stratify.model.response import ResponseModel, covariate_columns, fit_learner

GROUPS = {"clinical": ["strong", "noise1"], "biomarker": [], "genetic": ["pc1", "pc2"]}


def _table(n=240, *, seed=0, site_shift=0.0):
    """A linear signal on ``strong``; two 'PCs' that differ by site (``site_shift``) and carry
    no signal."""
    rng = np.random.default_rng(seed)
    site = np.repeat(["s1", "s2", "s3"], n // 3)
    x = rng.normal(0, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2.0 * x))).astype(float)
    shift = {"s1": 0.0, "s2": 1.0, "s3": -1.0}
    pcs = rng.normal(0, 1, (n, 2)) + site_shift * np.array([shift[s] for s in site])[:, None]
    return pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "site": site,
            "y": y,
            "strong": x,
            "noise1": rng.normal(0, 1, n),
            "pc1": pcs[:, 0],
            "pc2": pcs[:, 1],
        }
    )


def _summary():
    return {"model_features": ["strong", "noise1", "pc1", "pc2"], "feature_groups": GROUPS}


def _options(**kw):
    from stratify.model.cv import SEARCH_DEFAULTS

    search = {**SEARCH_DEFAULTS, "n_candidates": 2, "inner_folds": 2, "early_stopping_rounds": 10}
    return ModelOptions(
        endpoint={"kind": "response"}, n_bootstrap=50, n_permutations=kw.pop("n_permutations", 0), search=search, **kw
    )


@pytest.fixture(scope="module")
def fitted():
    return fit_response_model(_table(seed=1, site_shift=2.0), _summary(), options=_options(n_permutations=9))


def test_every_fold_chooses_a_learner_and_the_main_model_is_its_prediction(fitted):
    oof, folds, info = fitted["oof"], fitted["folds"], fitted["info"]
    assert {"selected", "xgboost", "elastic_net", "logistic_clinical", "xgboost_no_genetic", "majority"} == set(
        fitted["metrics"]
    )
    assert [f["learner"] for f in folds] == info["fold_learners"]
    for f, (_, test) in zip(folds, [(None, oof["site"] == s) for s in ("s1", "s2", "s3")]):
        assert f["learner"] in ("xgboost", "elastic_net")
        assert set(f["inner_losses"]) == {"xgboost", "elastic_net"}
        assert f["learner"] == min(f["inner_losses"], key=f["inner_losses"].get)
        assert np.allclose(oof.loc[test, "selected"], oof.loc[test, f["learner"]])
    assert info["learner"] == min(info["inner_losses"], key=info["inner_losses"].get)
    assert info["covariates"] == ["pc1", "pc2"]
    # a linear signal: both learners find it
    assert fitted["metrics"]["selected"]["auc"] > 0.75
    perm = fitted["metrics"]["selected"]["permutation_test"]
    assert info["learner"] in perm["hyperparameters"] and perm["p_value"] == pytest.approx(0.1)


def test_covariates_never_split_and_do_not_move_predictions(fitted):
    model = fitted["model"]
    assert model.booster.n_features_in_ == 2  # strong, noise1: the PCs are the offset's
    X = _table(seed=1, site_shift=2.0)[fitted["features"]].to_numpy(dtype=float)
    moved = X.copy()
    moved[:, 2:] += 5.0  # another ancestry: predictions hold the PCs at the training mean
    chosen = model.learner
    for learner in ("xgboost", "elastic_net"):
        model.learner = learner
        assert np.allclose(model.predict(X), model.predict(moved))
    model.learner = chosen


def test_saved_model_predicts_the_same(fitted):
    model, feats = fitted["model"], fitted["features"]
    meta = {"task": "classification", "features": feats, **model.to_meta(feats)}
    again = ResponseModel.from_meta(meta, model.booster)
    X = _table(60, seed=3)[feats].to_numpy(dtype=float, copy=True)
    X[0, 0] = np.nan  # missing values: trees' default branch, linear parts' training median
    assert again.learner == model.learner
    assert np.allclose(again.predict(X), model.predict(X))
    assert meta["booster_features"] == ["strong", "noise1"] and meta["covariate_model"]["features"] == ["pc1", "pc2"]


@pytest.mark.parametrize("learner", ["xgboost", "elastic_net"])
def test_shap_values_add_up_to_the_prediction(learner):
    df = _table(150, seed=4)
    feats = _summary()["model_features"]
    X = df[feats].to_numpy(dtype=float)
    params = {"n_estimators": 30, "max_depth": 2, "learning_rate": 0.2, "C": 0.3, "l1_ratio": 0.5}
    model = fit_learner(learner, X, df["y"].to_numpy(), params, task="classification", seed=0, covariates=[2, 3])
    vals, base, what = model_shap_values(model, df[feats].astype(float))
    assert np.allclose(vals.sum(axis=1) + base, model.margin(X), atol=1e-4)
    assert np.allclose(vals[:, 2:], 0.0)  # the covariates are held at their mean
    assert ("linear" in what) == (learner == "elastic_net")


def test_additive_models_are_named():
    lin = ResponseModel("classification", "elastic_net", linear=Linear([0], [0.0], [0.0], [1.0], [1.0], 0.0))
    assert "linear model" in additive_reason(lin, {})
    xgb = ResponseModel("classification", "xgboost")
    assert "depth 1" in additive_reason(xgb, {"xgboost_params": {"max_depth": 1}})
    assert additive_reason(xgb, {"xgboost_params": {"max_depth": 2}}) is None


def test_unpenalised_covariates_keep_their_coefficient():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (rng.random(400) < 1 / (1 + np.exp(-(1.0 * X[:, 0] + 1.0 * X[:, 2])))).astype(int)
    pen = fit_linear(X, y, [0, 1, 2], task="classification", C=0.01, l1_ratio=0.8)
    free = fit_linear(X, y, [0, 1, 2], task="classification", C=0.01, l1_ratio=0.8, unpenalised=[2])
    assert abs(free.coef[2]) > 2 * abs(pen.coef[2]) and free.held == [2]
    assert covariate_columns(["a", "pc1", "pc10", "pca"]) == [1, 2]
