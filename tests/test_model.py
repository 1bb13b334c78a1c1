"""Tests for stratify.model: bootstrap intervals, metrics, the cross-validated response model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost  # noqa: F401  (slow one-off import, paid at collection rather than by one test)
from sklearn.metrics import roc_auc_score

from stratify.errors import StratifyError
from stratify.model import (
    bootstrap_ci,
    cross_validated_predictions,
    fit_response_model,
    make_logistic,
    metrics_with_ci,
)

MODEL = {"folds": 3, "n_bootstrap": 60, "n_estimators": 30, "max_depth": 2, "learning_rate": 0.2,
         "n_permutations": 19}
GROUPS = {"clinical": ["strong", "noise1"], "biomarker": [], "genetic": ["gen1"]}


def _table(n=150, *, strength=3.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-strength * x))).astype(float)
    return pd.DataFrame({"patient_id": [f"P{i}" for i in range(n)], "site": np.where(np.arange(n) % 2, "A", "B"),
                         "y": y, "strong": x, "noise1": rng.normal(0, 1, n), "gen1": rng.normal(0, 1, n)})


def _summary(groups=GROUPS):
    return {"model_features": [f for g in groups.values() for f in g], "feature_groups": groups}


def _config(**model):
    return {"seed": 0, "model": {**MODEL, **model}}


# --------------------------------------------------------------------------- bootstrap and metrics

def test_bootstrap_ci_covers_the_point_estimate():
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.4).astype(int)
    p = 0.3 * y + 0.7 * rng.random(200)
    auc = roc_auc_score(y, p)
    lo, hi = bootstrap_ci(y, p, roc_auc_score, n_boot=100, seed=1)
    assert lo < auc < hi
    assert 0.02 < hi - lo < 0.3
    # reproducible with the seed; a 50% interval lies inside the 95% one
    assert bootstrap_ci(y, p, roc_auc_score, n_boot=100, seed=1) == (lo, hi)
    lo50, hi50 = bootstrap_ci(y, p, roc_auc_score, n_boot=100, seed=1, level=0.5)
    assert lo <= lo50 < hi50 <= hi


def test_bootstrap_ci_skips_one_class_resamples():
    # 1 positive in 10: about (9/10)^10 = 35% of resamples have no positive and are skipped
    y = np.array([1] + [0] * 9)
    p = np.linspace(1, 0, 10)
    lo, hi = bootstrap_ci(y, p, roc_auc_score, n_boot=100, seed=0)
    assert (lo, hi) == (1.0, 1.0)   # the single positive always ranks first


def test_metrics_perfect_predictions():
    y = np.array([0, 0, 0, 1, 1, 0, 1, 0, 0, 1] * 5, dtype=float)
    m = metrics_with_ci(y, y.copy(), n_boot=100, seed=0)
    assert m["auc"] == 1.0 and m["auc_ci"] == [1.0, 1.0]
    assert m["brier"] == 0.0 and m["brier_ci"] == [0.0, 0.0]
    assert m["balanced_accuracy"] == 1.0
    assert m["threshold"] == pytest.approx(0.4)   # prevalence 20 / 50


def test_metrics_random_predictions():
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype(float)
    p = rng.random(400)
    m = metrics_with_ci(y, p, n_boot=200, seed=0)
    assert m["auc_ci"][0] < 0.5 < m["auc_ci"][1]
    assert m["auc"] == pytest.approx(0.5, abs=0.08)
    # E[(p - y)^2] with p ~ U(0, 1) independent of y: E[p^2] - 2 E[p] E[y] + E[y] = 1/3 - 0.3 + 0.3 = 1/3
    assert m["brier"] == pytest.approx(1 / 3, abs=0.04)
    assert m["balanced_accuracy"] == pytest.approx(0.5, abs=0.08)


def test_metrics_constant_prediction_auc_is_half():
    y = np.array([0, 1] * 20, dtype=float)
    m = metrics_with_ci(y, np.full(40, 0.5), n_boot=100, seed=0)
    assert m["auc"] == 0.5 and m["auc_ci"] == [0.5, 0.5]
    assert m["brier"] == 0.25   # (0.5)^2 for every patient


def test_cross_validated_predictions_cover_every_patient_once():
    df = _table(60)
    X, y = df[["strong"]].to_numpy(), df["y"].astype(int).to_numpy()
    folds = [(np.arange(20, 60), np.arange(0, 20)), (np.r_[0:20, 40:60], np.arange(20, 40)),
             (np.arange(0, 40), np.arange(40, 60))]
    oof = cross_validated_predictions(lambda: make_logistic(seed=0), X, y, folds)
    assert oof.shape == (60,) and not np.isnan(oof).any()
    # out of fold: the first prediction comes from a model fitted on patients 20-59 only
    m = make_logistic(seed=0).fit(X[20:], y[20:])
    assert oof[:20] == pytest.approx(m.predict_proba(X[:20])[:, 1])


# --------------------------------------------------------------------------- fit_response_model

@pytest.fixture(scope="module")
def strong():
    df = _table(150, strength=3.0, seed=0)
    df.loc[[5, 6], "y"] = np.nan   # two patients without an endpoint
    return fit_response_model(df, _summary(), _config())


@pytest.fixture(scope="module")
def noise():
    df = _table(150, strength=0.0, seed=1)
    return fit_response_model(df, _summary(), _config())


@pytest.mark.slow
def test_strong_predictor_is_found(strong):
    assert strong["metrics"]["xgboost"]["auc"] > 0.8
    assert strong["metrics"]["logistic_clinical"]["auc"] > 0.8
    lo, hi = strong["metrics"]["xgboost"]["auc_ci"]
    assert lo > 0.5 and lo <= strong["metrics"]["xgboost"]["auc"] <= hi


@pytest.mark.slow
def test_noise_gives_an_auc_interval_containing_half(noise):
    lo, hi = noise["metrics"]["xgboost"]["auc_ci"]
    assert lo < 0.5 < hi


@pytest.mark.slow
def test_baselines_and_outputs(strong):
    assert set(strong["metrics"]) == {"xgboost", "logistic_clinical", "xgboost_no_genetic", "majority"}
    oof = strong["oof"]
    assert list(oof.columns) == ["patient_id", "site", "y", "xgboost", "logistic_clinical", "xgboost_no_genetic",
                                 "majority"]
    assert len(oof) == 148 and "P5" not in set(oof["patient_id"])
    info = strong["info"]
    assert (info["n_train"], info["n_excluded_no_endpoint"], info["folds"]) == (148, 2, 3)
    assert info["feature_sets"] == {"logistic_clinical": ["strong", "noise1"],
                                    "xgboost_no_genetic": ["strong", "noise1"],
                                    "xgboost": ["strong", "noise1", "gen1"]}
    # the majority baseline predicts the training folds' prevalence: close to the overall one
    assert oof["majority"].to_numpy() == pytest.approx(info["prevalence"], abs=0.02)
    assert strong["features"] == ["strong", "noise1", "gen1"]
    assert strong["model"].n_features_in_ == 3


@pytest.mark.slow
def test_majority_baseline_has_no_discrimination(strong):
    assert strong["metrics"]["majority"]["auc"] == 0.5


@pytest.mark.slow
def test_baselines_follow_the_feature_groups():
    df = _table(90, seed=2)
    res = fit_response_model(df, _summary({"biomarker": ["strong", "noise1"]}), _config(n_estimators=10))
    # no clinical features -> no logistic baseline; no genetic features -> no "without genetic" model
    assert set(res["metrics"]) == {"xgboost", "majority"}


def test_too_few_patients_in_a_class_is_a_user_error():
    df = _table(30, seed=0)
    df["y"] = 0.0
    df.loc[:1, "y"] = 1.0   # 2 responders, fewer than 3 folds
    with pytest.raises(StratifyError, match="too few patients in one class"):
        fit_response_model(df, _summary(), _config())


# --------------------------------------------------------------------------- calibration, permutation test

def test_calibration_slope_and_intercept_detect_miscalibration():
    from stratify.model import _logit, calibration

    rng = np.random.default_rng(0)
    p = rng.uniform(0.1, 0.9, 20000)
    y = (rng.random(20000) < p).astype(float)
    good = calibration(y, p)
    assert good["slope"] == pytest.approx(1.0, abs=0.06) and good["intercept"] == pytest.approx(0.0, abs=0.05)
    # too extreme: logit doubled -> slope about 0.5
    extreme = 1 / (1 + np.exp(-2 * _logit(p)))
    assert calibration(y, extreme)["slope"] == pytest.approx(0.5, abs=0.05)
    # too low on average: logit shifted by -1 -> calibration-in-the-large about +1
    low = 1 / (1 + np.exp(-(_logit(p) - 1)))
    assert calibration(y, low)["intercept"] == pytest.approx(1.0, abs=0.06)
    assert np.isnan(calibration(y, np.full(20000, 0.4))["slope"])


def test_permutation_test_separates_signal_from_noise():
    from sklearn.model_selection import StratifiedKFold

    from stratify.model import cross_validated_predictions, make_logistic, permutation_test

    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    make = lambda: make_logistic(seed=0)  # noqa: E731
    for signal, check in ((1.5, lambda p: p == pytest.approx(1 / 40)), (0.0, lambda p: p > 0.05)):
        y = (signal * X[:, 0] + rng.normal(size=300) > 0).astype(int)
        cv = StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)
        from sklearn.metrics import roc_auc_score

        auc = roc_auc_score(y, cross_validated_predictions(make, X, y, cv))
        r = permutation_test(make, X, y, folds=5, observed_auc=auc, n_perm=39, seed=1)
        assert check(r["p_value"]), (signal, r)
        assert r["n_permutations"] == 39 and 0.4 < r["null_auc_mean"] < 0.6
