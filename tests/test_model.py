"""Tests for stratify.model: bootstrap intervals, metrics, the cross-validated response model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost  # noqa: F401  (slow one-off import, paid at collection rather than by one test)
from sklearn.metrics import roc_auc_score

from stratify.errors import StratifyError
from stratify.model.bootstrap import bootstrap_ci
from stratify.model.cv import cross_validated_predictions
from stratify.model.fit import fit_response_model, model_options
from stratify.model.learners import make_logistic
from stratify.model.metrics import metrics_with_ci

MODEL = {
    "folds": 3,
    "n_bootstrap": 60,
    "n_estimators": 30,
    "max_depth": 2,
    "learning_rate": 0.2,
    "n_permutations": 19,
    "search": {"n_candidates": 0},
}
GROUPS = {"clinical": ["strong", "noise1"], "biomarker": [], "genetic": ["gen1"]}


def _table(n=150, *, strength=3.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-strength * x))).astype(float)
    return pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "site": np.where(np.arange(n) % 2, "A", "B"),
            "y": y,
            "strong": x,
            "noise1": rng.normal(0, 1, n),
            "gen1": rng.normal(0, 1, n),
        }
    )


def _summary(groups=GROUPS):
    return {"model_features": [f for g in groups.values() for f in g], "feature_groups": groups}


def _config(**model):
    return {"seed": 0, "model": {**MODEL, **model}}


def _options(**model):
    return model_options(_config(**model))


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
    assert (lo, hi) == (1.0, 1.0)  # the single positive always ranks first


def test_metrics_perfect_predictions():
    y = np.array([0, 0, 0, 1, 1, 0, 1, 0, 0, 1] * 5, dtype=float)
    m = metrics_with_ci(y, y.copy(), n_boot=100, seed=0)
    assert m["auc"] == 1.0 and m["auc_ci"] == [1.0, 1.0]
    assert m["brier"] == 0.0 and m["brier_ci"] == [0.0, 0.0]
    assert m["balanced_accuracy"] == 1.0
    assert m["threshold"] == pytest.approx(0.4)  # prevalence 20 / 50


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
    assert m["brier"] == 0.25  # (0.5)^2 for every patient


def test_cross_validated_predictions_cover_every_patient_once():
    df = _table(60)
    X, y = df[["strong"]].to_numpy(), df["y"].astype(int).to_numpy()
    folds = [
        (np.arange(20, 60), np.arange(0, 20)),
        (np.r_[0:20, 40:60], np.arange(20, 40)),
        (np.arange(0, 40), np.arange(40, 60)),
    ]
    oof = cross_validated_predictions(lambda: make_logistic(seed=0), X, y, folds)
    assert oof.shape == (60,) and not np.isnan(oof).any()
    # out of fold: the first prediction comes from a model fitted on patients 20-59 only
    m = make_logistic(seed=0).fit(X[20:], y[20:])
    assert oof[:20] == pytest.approx(m.predict_proba(X[:20])[:, 1])


# --------------------------------------------------------------------------- fit_response_model


@pytest.fixture(scope="module")
def strong():
    df = _table(150, strength=3.0, seed=0)
    df.loc[[5, 6], "y"] = np.nan  # two patients without an endpoint
    return fit_response_model(df, _summary(), options=_options())


@pytest.fixture(scope="module")
def noise():
    df = _table(150, strength=0.0, seed=1)
    return fit_response_model(df, _summary(), options=_options())


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
    # no inner search (n_candidates 0): no learner choice, the main model is XGBoost, no elastic net
    assert set(strong["metrics"]) == {"selected", "xgboost", "logistic_clinical", "xgboost_no_genetic", "majority"}
    oof = strong["oof"]
    assert list(oof.columns) == [
        "patient_id",
        "site",
        "y",
        "selected",
        "xgboost",
        "logistic_clinical",
        "xgboost_no_genetic",
        "majority",
    ]
    assert len(oof) == 148 and "P5" not in set(oof["patient_id"])
    info = strong["info"]
    assert (info["n_train"], info["n_excluded_no_endpoint"], info["folds"]) == (148, 2, 3)
    assert info["feature_sets"] == {
        "logistic_clinical": ["strong", "noise1"],
        "xgboost_no_genetic": ["strong", "noise1"],
        "xgboost": ["strong", "noise1", "gen1"],
        "selected": ["strong", "noise1", "gen1"],
    }
    assert (oof["selected"] == oof["xgboost"]).all() and info["fold_learners"] == ["xgboost"] * 3
    # the majority baseline predicts the training folds' prevalence: close to the overall one
    assert oof["majority"].to_numpy() == pytest.approx(info["prevalence"], abs=0.02)
    assert strong["features"] == ["strong", "noise1", "gen1"]
    assert strong["model"].learner == "xgboost" and strong["model"].booster.n_features_in_ == 3


@pytest.mark.slow
def test_majority_baseline_has_no_discrimination(strong):
    assert strong["metrics"]["majority"]["auc"] == 0.5


@pytest.mark.slow
def test_baselines_follow_the_feature_groups():
    df = _table(90, seed=2)
    res = fit_response_model(df, _summary({"biomarker": ["strong", "noise1"]}), options=_options(n_estimators=10))
    # no clinical features -> no logistic baseline; no genetic features -> no "without genetic" model
    assert set(res["metrics"]) == {"selected", "xgboost", "majority"}


def test_too_few_patients_in_a_class_is_a_user_error():
    df = _table(30, seed=0)
    df["y"] = 0.0
    df.loc[:1, "y"] = 1.0  # 2 responders, fewer than 3 folds
    with pytest.raises(StratifyError, match="too few patients in one class for stratified 3-fold cross-validation"):
        fit_response_model(df, _summary(), options=_options())


def test_class_message_names_leave_one_site_out_when_that_is_used():
    df = _table(30, seed=0).assign(site=lambda d: np.array(["A", "B", "C"])[np.arange(30) % 3])
    df["y"] = 0.0
    with pytest.raises(StratifyError, match="too few patients in one class for leave-one-site-out over 3 sites"):
        fit_response_model(df, _summary(), options=_options(cv="auto"))


def test_no_patient_with_the_endpoint_says_why_not_too_few_in_a_class():
    df = _table(30, seed=0).assign(y=np.nan)
    summary = {
        **_summary(),
        "endpoint_missing_reasons": {
            "the symptoms table has no MADRS scores (it has HAMD17); set endpoint.instrument": 30
        },
    }
    cfg = {**_config(), "endpoint": {"kind": "response", "instrument": "MADRS", "week": 8}}
    with pytest.raises(
        StratifyError,
        match=r"endpoint \(response on MADRS\): none of the 30 patients.*no MADRS "
        r"scores \(it has HAMD17\)",
    ) as e:
        fit_response_model(df, summary, options=model_options(cfg))
    assert "too few" not in str(e.value)


# --------------------------------------------------------------------------- calibration, permutation test


def test_calibration_slope_and_intercept_detect_miscalibration():
    from stratify.model.calibration import _logit, calibration

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

    from stratify.model.cv import cross_validated_predictions
    from stratify.model.learners import make_logistic
    from stratify.model.permutation import permutation_test

    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    make = lambda: make_logistic(seed=0)  # noqa: E731
    for signal, check in ((1.5, lambda p: p == pytest.approx(1 / 40)), (0.0, lambda p: p > 0.05)):
        y = (signal * X[:, 0] + rng.normal(size=300) > 0).astype(int)
        cv = StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)
        from sklearn.metrics import roc_auc_score

        auc = roc_auc_score(y, cross_validated_predictions(make, X, y, cv))
        r = permutation_test(make, X, y, folds=5, observed=auc, n_perm=39, seed=1)
        assert check(r["p_value"]), (signal, r)
        assert r["n_permutations"] == 39 and 0.4 < r["null_mean"] < 0.6 and r["statistic"] == "auc"


def test_permutation_test_gives_the_same_result_with_fits_side_by_side():
    """Permutations are drawn before any fit, so fitting them in 1 or 3 threads changes nothing."""
    from stratify.model.learners import make_xgb
    from stratify.model.permutation import permutation_test

    rng = np.random.default_rng(5)
    X = rng.normal(size=(240, 4))
    y = (X[:, 0] + rng.normal(size=240) > 0).astype(int)
    sites = np.repeat(["a", "b", "c"], 80)
    folds = [(np.flatnonzero(sites != s), np.flatnonzero(sites == s)) for s in "abc"]
    make = lambda: make_xgb({"n_estimators": 20, "max_depth": 2, "learning_rate": 0.3}, seed=0)  # noqa: E731
    runs = [
        permutation_test(make, X, y, folds=folds, observed=0.6, n_perm=15, seed=3, strata=sites, workers=w)
        for w in (1, 3)
    ]
    assert runs[0] == runs[1]
    kfold = [permutation_test(make, X, y, folds=3, observed=0.6, n_perm=9, seed=4, workers=w) for w in (1, 2)]
    assert kfold[0] == kfold[1]


# --------------------------------------------------------------------------- outer folds, inner search


def test_outer_folds_leave_one_site_out_with_three_sites():
    from stratify.model.cv import outer_folds

    y = np.array([0, 1] * 30)
    sites = np.repeat(["s1", "s2", "s3"], 20)
    folds, info = outer_folds(y, sites, task="classification", scheme="auto", folds=5, seed=0)
    assert info["scheme"] == "leave-one-site-out" and info["test_sites"] == ["s1", "s2", "s3"]
    for (train, test), s in zip(folds, info["test_sites"]):
        assert set(sites[test]) == {s} and s not in set(sites[train])
        assert len(train) + len(test) == 60
    # two sites: auto falls back to stratified k-fold and says why; "site" forces it
    two = np.repeat(["a", "b"], 30)
    f2, i2 = outer_folds(y, two, task="classification", scheme="auto", folds=5, seed=0)
    assert i2["scheme"] == "stratified 5-fold" and "leave-one-site-out needs 3" in i2["description"]
    assert len(f2) == 5
    assert outer_folds(y, two, task="classification", scheme="site", folds=5, seed=0)[1]["n_folds"] == 2
    with pytest.raises(StratifyError, match="at least 2 sites"):
        outer_folds(y, np.repeat("a", 60), task="classification", scheme="site", folds=5, seed=0)
    # regression uses plain k-fold
    assert (
        outer_folds(y.astype(float), two, task="regression", scheme="kfold", folds=4, seed=0)[1]["scheme"] == "4-fold"
    )


def test_outer_fold_whose_training_set_has_one_class_is_a_user_error():
    from stratify.model.cv import outer_folds

    sites = np.repeat(["s1", "s2", "s3"], 10)
    y = np.r_[np.ones(10), np.zeros(20)].astype(int)
    y[:2] = 0
    y[10] = 1  # without s1 only 1 patient with the endpoint remains
    with pytest.raises(StratifyError, match="without site s1 the training set has 1 patients with"):
        outer_folds(y, sites, task="classification", scheme="site", folds=3, seed=0)


def test_inner_search_early_stops_and_respects_the_budget():
    from stratify.model.cv import draw_candidates, inner_search

    df = _table(300, strength=2.0, seed=3)
    X, y = df[["strong", "noise1", "gen1"]].to_numpy(), df["y"].astype(int).to_numpy()
    cands = draw_candidates({"max_depth": 2, "learning_rate": 0.3}, 3, seed=0)
    s = inner_search(
        X,
        y,
        task="classification",
        candidates=cands,
        inner_folds=3,
        early_stopping_rounds=10,
        max_estimators=400,
        budget_s=600,
        seed=0,
    )
    assert s["n_evaluated"] == 3 and not s["stopped_by_budget"]
    # early stopping: a learning rate of 0.3 on 300 patients needs far fewer than 400 trees
    assert s["results"][0]["n_estimators"] < 100
    assert s["params"] in [{k: v for k, v in r.items() if k != "inner_loss"} for r in s["results"]]
    assert s["inner_loss"] == min(r["inner_loss"] for r in s["results"])
    # no time left: the first candidate is still tried, the rest are not, and the result says so
    z = inner_search(
        X,
        y,
        task="classification",
        candidates=cands,
        inner_folds=3,
        early_stopping_rounds=10,
        max_estimators=400,
        budget_s=0,
        seed=0,
    )
    assert z["n_evaluated"] == 1 and z["stopped_by_budget"]


def test_search_on_a_subsample_of_large_training_sets():
    """model.search.max_patients: a training set above it is searched on a seeded random
    subsample; the chosen configuration is still fitted on the whole training set."""
    from stratify.model.cv import search_subsample

    df = _table(240, strength=3.0, seed=4)
    df["site"] = np.repeat(["s1", "s2", "s3"], 80)
    res = fit_response_model(
        df,
        _summary(),
        options=_options(n_permutations=0, search={"n_candidates": 2, "inner_folds": 2, "max_patients": 100}),
    )
    assert [f["n_patients_searched"] for f in res["folds"]] == [100, 100, 100]
    assert all(f["n_train"] == 160 for f in res["folds"])
    assert res["info"]["search"]["final"]["n_patients_searched"] == 100
    assert res["info"]["search"]["max_patients"] == 100
    assert res["oof"]["xgboost"].notna().all() and res["metrics"]["xgboost"]["auc"] > 0.75
    # the final model has the configuration the search chose (fitted on all 240 patients)
    assert res["model"].booster.get_booster().num_boosted_rounds() == res["info"]["params"]["n_estimators"]
    # at or under the limit every patient is searched (so small cohorts are unchanged)
    whole = fit_response_model(
        df, _summary(), options=_options(n_permutations=0, search={"n_candidates": 2, "inner_folds": 2})
    )
    assert [f["n_patients_searched"] for f in whole["folds"]] == [160, 160, 160]
    rows = search_subsample(1000, 300, seed=3)
    assert len(rows) == 300 and len(set(rows)) == 300 and (np.diff(rows) > 0).all()
    assert (rows == search_subsample(1000, 300, seed=3)).all() and not (
        rows == search_subsample(1000, 300, seed=4)
    ).all()
    assert (search_subsample(300, 300, seed=3) == np.arange(300)).all()


def test_bootstrap_counts_give_the_metrics_of_resampled_rows():
    """metrics_with_ci and calibration_ci weight patients by bootstrap counts instead of
    copying resampled rows; each resample's AUC, Brier score and calibration equal those
    computed on the copied rows (same draws), so the intervals are the same."""
    from sklearn.metrics import brier_score_loss

    from stratify.model.bootstrap import _resample
    from stratify.model.calibration import calibration, calibration_ci
    from stratify.model.metrics import _PairCounts, stratified_auc

    rng = np.random.default_rng(5)
    n = 300
    y = (rng.random(n) < 0.3).astype(int)
    p = np.round(np.clip(0.25 * y + 0.75 * rng.random(n), 0.01, 0.99), 2)  # many ties
    sites = rng.choice(["a", "b", "c"], n)
    sites[:5] = "d"  # a small site, often one-class in a resample
    pairs, pairs_s = _PairCounts(y, p), _PairCounts(y, p, sites)
    r = np.random.default_rng(0)
    for _ in range(30):
        i = r.integers(0, n, n)
        w = np.bincount(i, minlength=n)
        assert pairs(w) == pytest.approx(roc_auc_score(y[i], p[i]), abs=1e-12)
        j = _resample(n, sites, r)
        assert pairs_s(np.bincount(j, minlength=n)) == pytest.approx(stratified_auc(y[j], p[j], sites[j]), abs=1e-12)
    # the intervals: reference computed from copied rows with the draws metrics_with_ci makes
    m = metrics_with_ci(y, p, n_boot=200, seed=3, strata=sites)
    r = np.random.default_rng(3)
    ref = [stratified_auc(y[k], p[k], sites[k]) for k in (_resample(n, sites, r) for _ in range(200))]
    assert m["auc_ci"] == pytest.approx([np.quantile(ref, 0.025), np.quantile(ref, 0.975)], abs=1e-12)
    r = np.random.default_rng(4)
    ref = [brier_score_loss(y[k], p[k]) for k in (r.integers(0, n, n) for _ in range(200)) if y[k].min() != y[k].max()]
    assert m["brier_ci"] == pytest.approx([np.quantile(ref, 0.025), np.quantile(ref, 0.975)], abs=1e-12)
    c = calibration_ci(y, p, n_boot=100, seed=9)
    r = np.random.default_rng(9)
    fits = [calibration(y[k], p[k]) for k in (r.integers(0, n, n) for _ in range(100))]
    for key, name in (("slope", "slope_ci"), ("intercept", "intercept_ci")):
        v = np.array([f[key] for f in fits])
        assert c[name] == pytest.approx([np.quantile(v, 0.025), np.quantile(v, 0.975)], abs=1e-8)
    # a one-class stratum in every resample contributes no pairs; a constant prediction is 0.5
    assert _PairCounts(y, np.full(n, 0.4), sites)(np.ones(n)) == 0.5
    assert _PairCounts(np.zeros(n, dtype=int), p)(np.ones(n)) == 0.5


def test_nested_cross_validation_by_site():
    df = _table(240, strength=3.0, seed=4)
    df["site"] = np.repeat(["s1", "s2", "s3"], 80)
    res = fit_response_model(
        df, _summary(), options=_options(n_permutations=0, search={"n_candidates": 2, "inner_folds": 2})
    )
    info = res["info"]
    assert info["cv_scheme"] == "leave-one-site-out" and info["folds"] == 3
    assert [f["test_site"] for f in res["folds"]] == ["s1", "s2", "s3"]
    assert all(f["n_evaluated"] == 2 and f["n_train"] == 160 for f in res["folds"])
    assert all(f["auc"] > 0.75 for f in res["folds"])
    assert [s["site"] for s in info["per_site"]] == ["s1", "s2", "s3"]
    # every patient predicted once, by a model that never saw the patient's site
    assert res["oof"]["xgboost"].notna().all()
    assert res["metrics"]["xgboost"]["auc"] > 0.8
    assert "n_estimators" in info["params"] and info["search"]["final"]["n_evaluated"] == 2


# --------------------------------------------------------------------------- regression (percent change)


def _reg_table(n=200, *, strength=10.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    y = 40 + strength * x + rng.normal(0, 10, n)
    return pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "site": np.where(np.arange(n) % 2, "A", "B"),
            "y": y,
            "strong": x,
            "noise1": rng.normal(0, 1, n),
            "gen1": rng.normal(0, 1, n),
        }
    )


def _reg_config(**model):
    return {"seed": 0, "endpoint": {"kind": "pct_change"}, "model": {**MODEL, **model}}


def test_regression_finds_a_linear_signal_and_says_so():
    res = fit_response_model(_reg_table(200, seed=1), _summary(), options=model_options(_reg_config()))
    m = res["metrics"]
    assert res["info"]["task"] == "regression" and res["info"]["prevalence"] is None
    assert set(m) == {"selected", "xgboost", "ridge_clinical", "xgboost_no_genetic", "mean"}
    # ridge recovers R² near its ceiling 0.5 (signal variance 100, noise 100); XGBoost less but well above 0
    assert m["ridge_clinical"]["r2"] == pytest.approx(0.5, abs=0.12)
    assert m["xgboost"]["r2_ci"][0] > 0.2
    assert m["mean"]["r2"] == pytest.approx(0.0, abs=1e-12)
    assert m["selected"]["permutation_test"]["statistic"] == "r2"
    assert m["selected"]["permutation_test"]["p_value"] == pytest.approx(1 / 20)
    assert m["ridge_clinical"]["calibration"]["slope"] == pytest.approx(1.0, abs=0.25)


def test_regression_on_noise_claims_nothing():
    res = fit_response_model(_reg_table(200, strength=0.0, seed=2), _summary(), options=model_options(_reg_config()))
    x = res["metrics"]["selected"]
    assert x["r2"] < 0.05 and x["r2_ci"][0] < 0
    assert x["permutation_test"]["p_value"] > 0.05


def test_regression_metrics_known_values():
    from stratify.model.metrics import regression_metrics_with_ci

    y = np.array([1.0, 2.0, 3.0, 4.0] * 10)
    m = regression_metrics_with_ci(y, y + 1.0, n_boot=50, seed=0)
    assert m["rmse"] == pytest.approx(1.0) and m["mae"] == pytest.approx(1.0)
    assert m["r2"] == pytest.approx(1 - 40 / 50)  # SS_res 40, SS_tot 50
    assert m["calibration"]["slope"] == pytest.approx(1.0) and m["calibration"]["intercept"] == pytest.approx(-1.0)


def test_within_site_auc_removes_the_leave_one_site_out_shift():
    """No signal, sites with different outcome rates: each held-out site gets the other sites'
    rate, so pooled predictions run against the sites' own rates. The pooled AUC falls well
    below 0.5; the within-site AUC does not."""
    from stratify.model.metrics import metrics_with_ci, stratified_auc

    rng = np.random.default_rng(0)
    sites = np.repeat(["a", "b", "c", "d"], 200)
    rate = {"a": 0.2, "b": 0.4, "c": 0.6, "d": 0.8}
    y = (rng.random(800) < np.vectorize(rate.get)(sites)).astype(int)
    # leave-one-site-out "model": the training sites' rate plus noise
    p = np.array([y[sites != s].mean() for s in sites]) + rng.normal(0, 0.01, 800)
    pooled = roc_auc_score(y, p)
    assert pooled < 0.35
    assert stratified_auc(y, p, sites) == pytest.approx(0.5, abs=0.05)
    m = metrics_with_ci(y, p, n_boot=100, seed=0, strata=sites)
    assert m["auc_ci"][0] < 0.5 < m["auc_ci"][1] and m["auc_pooled"] == pytest.approx(pooled)


# --------------------------------------------------------------------------- options


def test_model_options_defaults_are_the_config_schemas():
    """ModelOptions() and model_options(a config with no model keys) agree: the dataclass's
    defaults are the schema's, so code that builds options by hand gets what a config gets."""
    from stratify.config import validate_config
    from stratify.model.fit import ModelOptions

    cfg = validate_config(
        {
            "cohort": "x",
            "genome_build": "GRCh38",
            "inputs": {"patients": "p.tsv", "symptoms": "s.tsv"},
            "endpoint": {"instrument": "HAMD17", "week": 8},
        }
    )
    assert model_options(cfg) == ModelOptions(endpoint=cfg["endpoint"], seed=cfg["seed"])
    o = model_options(
        {
            "seed": 3,
            "endpoint": {"kind": "pct_change"},
            "model": {**MODEL, "cv": "kfold", "search": {"n_candidates": 2}},
        }
    )
    assert (o.task, o.seed, o.folds, o.cv, o.n_bootstrap, o.n_permutations) == ("regression", 3, 3, "kfold", 60, 19)
    assert o.search["n_candidates"] == 2 and o.search["inner_folds"] == 3  # the rest from SEARCH_DEFAULTS
    assert o.first_params == {"n_estimators": 30, "max_depth": 2, "learning_rate": 0.2}
    with pytest.raises(TypeError):
        fit_response_model(_table(20), _summary(), _config())  # options are keyword-only
