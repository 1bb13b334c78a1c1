"""SHAP explanations: values add up to the model's raw prediction (log-odds for a classifier,
outcome units for a regressor); importance ranks a planted predictor first; interaction values
add up to the SHAP values and find a planted x1*x2 interaction; dependence and waterfall plots
are written; per-subtype summaries are right; the explain stage runs for both model tasks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stratify.errors import InputError
from stratify.explain.shapley import (
    beeswarm_png,
    dependence_png,
    importance,
    importance_by_subtype,
    interaction_partners,
    interaction_summary,
    interaction_values,
    select_waterfall_patients,
    shap_values,
    top_interactions,
    waterfall_for_patient,
    waterfall_png,
)
from stratify.io.tables import read_provenance, read_table, write_table

PNG = b"\x89PNG\r\n\x1a\n"


def _png_ok(path) -> bool:
    b = path.read_bytes()
    return b[:8] == PNG and len(b) > 1000


@pytest.fixture(scope="module")
def fitted():
    from xgboost import XGBClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"strong": rng.normal(size=400), "weak": rng.normal(size=400), "noise": rng.normal(size=400)})
    logit = 2.0 * X["strong"] + 0.5 * X["weak"]
    y = (rng.random(400) < 1 / (1 + np.exp(-logit))).astype(int)
    model = XGBClassifier(n_estimators=50, max_depth=2, learning_rate=0.1, random_state=0).fit(X, y)
    return model, X


def _interaction_data(n=400, seed=1):
    """x1*x2 planted, x3 a main effect with 10% missing, x4 noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(1, 5)})
    X.loc[rng.random(n) < 0.1, "x3"] = np.nan
    signal = 2.0 * X["x1"] * X["x2"] + 0.5 * X["x3"].fillna(0.0)
    return X, signal, rng


@pytest.fixture(scope="module", params=["classification", "regression"])
def planted(request):
    """An XGBClassifier and an XGBRegressor, each fitted on data with a planted x1*x2 interaction."""
    from xgboost import XGBClassifier, XGBRegressor

    X, signal, rng = _interaction_data()
    if request.param == "classification":
        y = (rng.random(len(X)) < 1 / (1 + np.exp(-signal))).astype(int)
        model = XGBClassifier(n_estimators=80, max_depth=3, learning_rate=0.1, random_state=0).fit(X, y)
    else:
        y = signal + rng.normal(scale=0.3, size=len(X))
        model = XGBRegressor(n_estimators=80, max_depth=3, learning_rate=0.1, random_state=0).fit(X, y)
    return request.param, model, X


def test_shap_values_sum_to_the_margin(fitted):
    model, X = fitted
    vals, base = shap_values(model, X)
    assert vals.shape == X.shape
    margin = model.predict(X, output_margin=True)
    np.testing.assert_allclose(vals.sum(axis=1) + base, margin, atol=1e-4)


def test_regression_shap_values_sum_to_the_prediction(planted):
    task, model, X = planted
    vals, base = shap_values(model, X)
    pred = model.predict(X, output_margin=True) if task == "classification" else model.predict(X)
    np.testing.assert_allclose(vals.sum(axis=1) + base, pred, atol=1e-4)


def test_importance_ranks_the_strong_predictor_first(fitted):
    model, X = fitted
    vals, _ = shap_values(model, X)
    imp = importance(vals, list(X.columns))
    assert imp["feature"].tolist()[0] == "strong"
    assert imp["rank"].tolist() == [1, 2, 3]
    assert imp["mean_abs_shap"].is_monotonic_decreasing


def test_interaction_rows_sum_to_shap_values(planted):
    _, model, X = planted
    vals, _ = shap_values(model, X)
    iv = interaction_values(model, X)
    assert iv.shape == (len(X), 4, 4)
    np.testing.assert_allclose(iv.sum(axis=2), vals, atol=1e-4)
    np.testing.assert_allclose(iv, iv.transpose(0, 2, 1), atol=1e-5)
    summ = interaction_summary(model, X, shap=vals, batch=150)
    assert summ["max_additivity_error"] < 1e-4
    assert summ["n_patients_used"] == len(X) and not summ["subsampled"]
    np.testing.assert_allclose(summ["mean_abs"], np.abs(iv).mean(axis=0), rtol=1e-6, atol=1e-9)


def test_top_pair_recovers_the_planted_interaction(planted):
    _, model, X = planted
    summ = interaction_summary(model, X)
    top = top_interactions(summ["mean_abs"], list(X.columns), n_patients_used=summ["n_patients_used"])
    assert list(top.columns) == ["feature_a", "feature_b", "mean_abs_interaction", "rank", "n_patients_used"]
    assert {top.loc[0, "feature_a"], top.loc[0, "feature_b"]} == {"x1", "x2"}
    assert len(top) == 6 and top["rank"].tolist() == list(range(1, 7))  # 4 features: 6 pairs, capped at 10
    assert top["mean_abs_interaction"].is_monotonic_decreasing
    assert (top["n_patients_used"] == len(X)).all()
    partners = interaction_partners(summ["mean_abs"], list(X.columns))
    assert partners["x1"] == "x2" and partners["x2"] == "x1"


def test_interaction_subsample_is_seeded_and_capped(planted):
    _, model, X = planted
    a = interaction_summary(model, X, max_patients=100, seed=3, batch=40)
    b = interaction_summary(model, X, max_patients=100, seed=3)
    assert a["n_patients_used"] == 100 and a["subsampled"] and a["seed"] == 3
    np.testing.assert_array_equal(a["rows"], b["rows"])
    np.testing.assert_allclose(a["mean_abs"], b["mean_abs"], rtol=1e-6)
    direct = np.abs(interaction_values(model, X.iloc[a["rows"]])).mean(axis=0)
    np.testing.assert_allclose(a["mean_abs"], direct, rtol=1e-6, atol=1e-9)


def test_dependence_plot_counts_missing_values(planted, tmp_path):
    task, model, X = planted
    vals, _ = shap_values(model, X)
    png, n_missing = dependence_png(
        vals,
        X,
        ["x1", "x2", "x3"],
        tmp_path / "dep.png",
        color_by={"x1": "x2", "x2": "x1", "x3": None},
        scale="log-odds" if task == "classification" else "outcome units",
    )
    assert _png_ok(png)
    assert n_missing == {"x1": 0, "x2": 0, "x3": int(X["x3"].isna().sum())}
    assert n_missing["x3"] > 0


def test_waterfall_selection_and_png(planted, tmp_path):
    _, model, X = planted
    vals, base = shap_values(model, X)
    ids = [f"P{i:03d}" for i in range(len(X))]
    picks = select_waterfall_patients(vals, base, ids)
    pred = base + vals.sum(axis=1)
    assert [p["reason"] for p in picks] == [
        "highest prediction",
        "lowest prediction",
        "closest to the median prediction",
    ]
    assert picks[0]["patient_id"] == ids[int(np.argmax(pred))]
    assert picks[1]["patient_id"] == ids[int(np.argmin(pred))]
    assert abs(picks[2]["prediction"] - np.median(pred)) == pytest.approx(np.abs(pred - np.median(pred)).min())
    i = int(np.flatnonzero(X["x3"].isna())[0])  # a patient with a missing value
    png = waterfall_png(vals[i], base, X.iloc[i], tmp_path / "w.png", title="patient x")
    assert _png_ok(png)


def test_select_waterfall_patients_does_not_repeat_a_patient():
    picks = select_waterfall_patients(np.array([[1.0], [-1.0]]), 0.0, ["A", "B"])
    assert [p["patient_id"] for p in picks] == ["A", "B"]


def test_waterfall_for_any_patient_from_saved_files(planted, tmp_path):
    task, model, X = planted
    vals, base = shap_values(model, X)
    ids = [f"P{i:03d}" for i in range(len(X))]
    sv = pd.DataFrame(vals, columns=X.columns)
    sv.insert(0, "patient_id", ids)
    write_table(
        sv,
        tmp_path / "explain" / "shap_values.parquet",
        kind="explain.shap",
        provenance={"base_value": base, "task": task},
    )
    write_table(X.assign(patient_id=ids), tmp_path / "features" / "features.parquet", kind="features")
    png = waterfall_for_patient(tmp_path, "P007", tmp_path / "p7.png")
    assert _png_ok(png)
    with pytest.raises(InputError, match="patient 'nobody' not found"):
        waterfall_for_patient(tmp_path, "nobody", tmp_path / "x.png")


def test_importance_by_subtype_long_format(fitted, tmp_path):
    model, X = fitted
    vals, _ = shap_values(model, X)
    st = pd.Series(np.where(np.arange(len(X)) < 100, "a", "b"))
    by = importance_by_subtype(vals, list(X.columns), st)
    assert list(by.columns) == ["subtype", "feature", "n", "mean_abs_shap", "mean_shap"]
    assert len(by) == 2 * X.shape[1]
    row = by[(by["subtype"] == "a") & (by["feature"] == "strong")].iloc[0]
    assert row["n"] == 100
    np.testing.assert_allclose(row["mean_abs_shap"], np.abs(vals[:100, 0]).mean())
    np.testing.assert_allclose(row["mean_shap"], vals[:100, 0].mean())
    rowb = by[(by["subtype"] == "b") & (by["feature"] == "weak")].iloc[0]
    assert rowb["n"] == 300
    np.testing.assert_allclose(rowb["mean_shap"], vals[100:, 1].mean())
    assert by[by["subtype"] == "a"]["mean_abs_shap"].is_monotonic_decreasing
    png = beeswarm_png(vals, X, tmp_path / "b.png")
    assert _png_ok(png)


# --- the stage on a small results folder ---------------------------------------------------


def _results_folder(tmp_path, task, model, X, *, claimed):
    """The files run_explain reads, as the features, model and subtype stages would write them."""
    r = tmp_path / "results"
    ids = [f"P{i:03d}" for i in range(len(X))]
    write_table(
        X.assign(patient_id=ids)[["patient_id", *X.columns]], r / "features" / "features.parquet", kind="features"
    )
    (r / "features" / "summary.json").write_text("{}")
    (r / "model").mkdir(parents=True)
    model.save_model(str(r / "model" / "xgboost.json"))
    meta = {"format": "stratify-model/1", "features": list(X.columns), "task": task}
    (r / "model" / "model_features.json").write_text(json.dumps(meta))
    sub = np.where(np.arange(len(X)) % 3 == 0, "alpha", "beta")
    assign = (
        pd.DataFrame({"patient_id": ids[:-5], "cluster": (sub[:-5] == "beta").astype(int), "subtype": sub[:-5]})
        if claimed
        else pd.DataFrame({"patient_id": pd.Series([], dtype=str)})
    )
    write_table(assign, r / "subtype" / "assignments.parquet", kind="subtype.assignments")
    (r / "subtype" / "summary.json").write_text(json.dumps({"claimed": claimed}))
    return r, ids, sub


@pytest.mark.parametrize("claimed", [True, False])
def test_run_explain_stage(planted, tmp_path, claimed):
    from stratify.explain.stage import run_explain
    from stratify.report.build import section_explain

    task, model, X = planted
    r, ids, sub = _results_folder(tmp_path, task, model, X, claimed=claimed)
    summary = run_explain({"cohort": "t", "seed": 5}, r)
    ex = r / "explain"
    scale = "log-odds" if task == "classification" else "outcome units"
    assert summary["task"] == task and summary["scale"] == scale
    assert json.loads((ex / "summary.json").read_text())["task"] == task
    prov = read_provenance(ex / "shap_values.parquet")
    assert prov["task"] == task and prov["base_value"] == pytest.approx(summary["base_value"])
    sv = read_table(ex / "shap_values.parquet", kind="explain.shap")
    assert sv["patient_id"].tolist() == ids and list(sv.columns[1:]) == list(X.columns)
    # interactions: planted pair first, all patients used (fewer than the cap)
    inter = pd.read_csv(ex / "interactions.tsv", sep="\t")
    assert {inter.loc[0, "feature_a"], inter.loc[0, "feature_b"]} == {"x1", "x2"}
    assert summary["interactions"]["n_patients_used"] == len(X) and summary["interactions"]["seed"] == 5
    assert summary["interactions"]["max_additivity_error"] < 1e-4
    # dependence: top 4 features, missing values counted
    assert _png_ok(ex / "dependence.png")
    assert summary["dependence"]["n_missing"]["x3"] == int(X["x3"].isna().sum())
    assert summary["dependence"]["colour_by"]["x1"] == "x2"
    # three waterfalls, each file written and explained
    wf = summary["waterfalls"]
    assert [w["reason"] for w in wf] == ["highest prediction", "lowest prediction", "closest to the median prediction"]
    assert all(_png_ok(ex / w["file"]) for w in wf)
    assert [w["file"] for w in wf] == ["waterfalls/highest.png", "waterfalls/lowest.png", "waterfalls/median.png"]
    assert sorted(p.name for p in (ex / "waterfalls").iterdir()) == ["highest.png", "lowest.png", "median.png"]
    assert ("probability" in wf[0]) == (task == "classification")
    by_path = ex / "importance_by_subtype.tsv"
    html = section_explain({}, r)
    if claimed:
        by = pd.read_csv(by_path, sep="\t")
        expected = pd.Series(np.append(sub[:-5], ["unassigned"] * 5))
        a = (expected == "alpha").to_numpy()
        row = by[(by["subtype"] == "alpha") & (by["feature"] == "x1")].iloc[0]
        assert row["n"] == a.sum()
        np.testing.assert_allclose(row["mean_shap"], sv.loc[a, "x1"].mean())
        np.testing.assert_allclose(row["mean_abs_shap"], sv.loc[a, "x1"].abs().mean())
        assert set(by["subtype"]) == {"alpha", "beta", "unassigned"}
        assert summary["by_subtype"]["n"] == {
            "alpha": int(a.sum()),
            "beta": int((expected == "beta").sum()),
            "unassigned": 5,
        }
        assert "SHAP per subtype" in html
    else:
        assert pd.read_csv(by_path, sep="\t").empty  # header only: every declared output is written
        assert summary["by_subtype"]["statement"] == "no subtypes were claimed, so no per-subtype summary"
        assert "No subtypes were claimed, so no per-subtype summary" in html
    assert "Strongest SHAP interactions" in html and scale in html
    assert html.count("data:image/png;base64") == 5  # beeswarm, dependence, three waterfalls


def test_additive_model_says_so_instead_of_zero_interactions(tmp_path):
    """Depth-1 trees cannot interact: no table of zero pairs, a statement in the report (issue 19)."""
    from xgboost import XGBClassifier

    from stratify.explain.stage import run_explain
    from stratify.report.build import section_explain

    X, signal, rng = _interaction_data(200, seed=3)
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-signal))).astype(int)
    model = XGBClassifier(n_estimators=30, max_depth=1, learning_rate=0.1, random_state=0).fit(X, y)
    r, _, _ = _results_folder(tmp_path, "classification", model, X, claimed=False)
    meta_path = r / "model" / "model_features.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "xgboost_params": {"max_depth": 1}}))
    summary = run_explain({"cohort": "t", "seed": 5}, r)
    assert summary["interactions"]["additive"] and "depth 1" in summary["interactions"]["statement"]
    assert pd.read_csv(r / "explain" / "interactions.tsv", sep="\t").empty
    html = section_explain({}, r)
    assert "additive" in html and "Strongest SHAP interactions" not in html


def test_elastic_net_final_model_is_explained_linearly(tmp_path):
    """A saved model whose final learner is the elastic net: exact linear SHAP values that add up
    to its predictions, and the PCs (held at their mean) at 0."""
    from stratify.explain.stage import run_explain
    from stratify.model.io import load_model
    from stratify.model.response import fit_learner

    X, signal, rng = _interaction_data(200, seed=4)
    X = X.rename(columns={"x4": "pc1"})
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-signal))).astype(int)
    Xa = X.to_numpy(dtype=float)
    params = {"n_estimators": 20, "max_depth": 2, "learning_rate": 0.1}
    model = fit_learner("xgboost", Xa, y, params, task="classification", seed=0, covariates=[3])
    enet = fit_learner("elastic_net", Xa, y, {"C": 0.3, "l1_ratio": 0.5}, task="classification", seed=0, covariates=[3])
    model.linear, model.learner = enet.linear, "elastic_net"
    r, _, _ = _results_folder(tmp_path, "classification", model.booster, X, claimed=False)
    meta_path = r / "model" / "model_features.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "xgboost_params": params, **model.to_meta(list(X.columns))}))
    summary = run_explain({"cohort": "t", "seed": 5}, r)
    assert summary["learner"] == "elastic_net" and "linear" in summary["values"]
    assert summary["interactions"]["additive"]
    sv = read_table(r / "explain" / "shap_values.parquet", kind="explain.shap")
    loaded, _ = load_model(r / "model")
    margin = loaded.margin(X.to_numpy(dtype=float))
    np.testing.assert_allclose(sv[list(X.columns)].sum(axis=1) + summary["base_value"], margin, atol=1e-8)
    assert (sv["pc1"] == 0).all()


def test_elastic_net_with_treatment_products_lists_its_pairs(tmp_path):
    """An elastic net with index-treatment x feature products: its product terms are the
    interaction pairs (the planted x1 x treatment pair first), SHAP values still add up, and the
    report shows the table instead of calling the model additive."""
    from stratify.explain.stage import run_explain
    from stratify.model.response import fit_learner, linear_design
    from stratify.report.build import section_explain

    X, _, rng = _interaction_data(400, seed=5)
    X = X.rename(columns={"x2": "index_ssri_snri", "x4": "pc1"})
    X["index_ssri_snri"] = (X["index_ssri_snri"] > 0).astype(float)
    signal = 2.5 * (X["index_ssri_snri"] - 0.5) * X["x1"] + 0.5 * X["x3"].fillna(0.0)
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-signal))).astype(int)
    Xa, feats = X.to_numpy(dtype=float), list(X.columns)
    params = {"n_estimators": 20, "max_depth": 2, "learning_rate": 0.1}
    model = fit_learner("xgboost", Xa, y, params, task="classification", seed=0, covariates=[3])
    enet = fit_learner(
        "elastic_net",
        Xa,
        y,
        {"C": 0.3, "l1_ratio": 0.5, "interactions": True},
        task="classification",
        seed=0,
        covariates=[3],
        design=linear_design(feats),
    )
    model.linear, model.learner = enet.linear, "elastic_net"
    r, _, _ = _results_folder(tmp_path, "classification", model.booster, X, claimed=False)
    meta_path = r / "model" / "model_features.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "xgboost_params": params, **model.to_meta(feats)}))
    summary = run_explain({"cohort": "t", "seed": 5}, r)
    assert not summary["interactions"]["additive"] and "product" in summary["values"]
    top = pd.read_csv(r / "explain" / "interactions.tsv", sep="\t").iloc[0]
    assert {top["feature_a"], top["feature_b"]} == {"x1", "index_ssri_snri"}
    sv = read_table(r / "explain" / "shap_values.parquet", kind="explain.shap")
    np.testing.assert_allclose(sv[feats].sum(axis=1) + summary["base_value"], model.margin(Xa), atol=1e-8)
    html = section_explain({}, r)
    assert "Strongest SHAP interactions" in html and "index_ssri_snri" in html
