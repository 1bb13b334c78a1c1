"""End to end on a planted cohort and its null twin: the pipeline finds what was planted
and says plainly when nothing is there."""

from __future__ import annotations

import json

import pandas as pd
from sklearn.metrics import adjusted_rand_score

from stratify.io.tables import read_table


def _truth(run):
    return pd.read_csv(run["cohort"] / "truth.tsv", sep="\t")


def _json(run, rel):
    return json.loads((run["results"] / rel).read_text())


def test_planted_subgroup_recovered_and_named(planted_run):
    assign = read_table(planted_run["results"] / "subtype" / "assignments.parquet", kind="subtype.assignments")
    m = assign.merge(_truth(planted_run), on="patient_id")
    assert len(m) == 800
    ari = adjusted_rand_score(m["immune_metabolic"], m["cluster"])
    assert ari >= 0.8, ari
    # the cluster holding most of the planted subgroup carries the name
    top = m[m["immune_metabolic"] == 1]["subtype"].value_counts().idxmax()
    assert top == "immune-metabolic"
    s = _json(planted_run, "subtype/summary.json")
    assert s["claimed"] is True and s["n_clusters"] == 2


def test_planted_model_beats_chance_with_interval(planted_run):
    met = _json(planted_run, "model/metrics.json")["metrics"]
    lo, hi = met["selected"]["auc_ci"]
    assert lo > 0.5, met["selected"]
    assert lo <= met["selected"]["auc"] <= hi
    # baselines are reported beside the model; the majority baseline is uninformative
    assert {"majority", "logistic_clinical", "xgboost_no_genetic"} <= set(met)
    mlo, mhi = met["majority"]["auc_ci"]
    assert mlo <= 0.5 <= mhi


def test_planted_predictor_in_shap_top5(planted_run):
    imp = pd.read_csv(planted_run["results"] / "explain" / "importance.tsv", sep="\t")
    import yaml

    planted = set(yaml.safe_load((planted_run["cohort"] / "truth.yaml").read_text())["planted_predictors"])
    top5 = imp["feature"].head(5).tolist()
    assert planted & set(top5), top5
    shap = read_table(planted_run["results"] / "explain" / "shap_values.parquet", kind="explain.shap")
    assert len(shap) == 800 and set(imp["feature"]) <= set(shap.columns)


def test_cyp2c19_called_from_vcf_matches_truth(planted_run):
    calls = read_table(planted_run["results"] / "pgx" / "calls.parquet", kind="pgx.calls")
    c19 = calls[calls["gene"] == "CYP2C19"].merge(_truth(planted_run), on="patient_id")
    called = c19[c19["status"] == "called"]
    assert len(called) >= 0.97 * 800
    assert (called["phenotype"] == called["cyp2c19_phenotype"]).mean() >= 0.99


def test_null_twin_auc_interval_includes_chance(null_run):
    met = _json(null_run, "model/metrics.json")["metrics"]
    lo, hi = met["selected"]["auc_ci"]
    assert lo <= 0.5 <= hi, met["selected"]


def test_null_twin_claims_no_subtypes(null_run):
    s = _json(null_run, "subtype/summary.json")
    # the hard null (skewed, bounded features on one continuum): BIC may prefer k > 1, and
    # then the existence test against a Gaussian copula is what says there is nothing there
    assert s["claimed"] is False
    assert s["n_clusters"] == 1 or s["existence_test"]["p_value"] >= s["alpha"]
    assert s["statement"].startswith("No robust subtypes")
    html = null_run["report"].read_text()
    assert "No robust subtypes" in html and "not distinguishable from chance" in html


def test_report_is_self_contained(planted_run):
    html = planted_run["report"].read_text()
    for section in ("overview", "pgx", "clinical", "trd", "subtypes", "model", "explain", "provenance"):
        assert f"<section id='{section}'>" in html
    assert "data:image/png;base64," in html
    for ref in ("http://", "https://", 'src="//', "<script src", "<link"):
        assert ref not in html, ref
    # every model metric in the report comes from metrics.json
    met = _json(planted_run, "model/metrics.json")["metrics"]
    assert f"{met['selected']['auc']:.3g}" in html


def test_trd_staging_side_by_side_with_concordance(planted_run):
    r = planted_run["results"] / "trd"
    staging = read_table(r / "staging.parquet", kind="trd.staging")
    assert len(staging) == 800
    for col in ("sforzini_2021", "sforzini_pk", "thase_rush_1997", "msm_band", "conway_2017", "markowitz_2022"):
        assert staging[col].notna().any(), col
        assert f"{col}_reason" in staging.columns or col == "msm_band"
    # the simulated histories exercise the definitions: some TRD by Sforzini, some staged by MSM
    assert (staging["sforzini_2021"] == "TRD").sum() > 10
    assert (staging["msm_band"] != "not staged").sum() > 10
    conc = pd.read_csv(r / "concordance.tsv", sep="\t")
    assert {"a", "b", "n", "both_yes", "both_no", "only_a", "only_b", "agreement", "kappa"} <= set(conc.columns)
    assert len(conc) == 15 and conc["kappa"].between(-1, 1).all()
    html = planted_run["report"].read_text()
    assert "Concordance between definitions" in html


def _rerun_with_endpoint(run, tmp_path, endpoint):
    """The planted run's stage outputs copied, then features, model and explain re-run for
    another endpoint kind (fixed hyperparameters and no permutations, for speed)."""
    import copy
    import shutil

    from stratify.explain.stage import run_explain
    from stratify.features.stage import run_features
    from stratify.model.stage import run_model
    from stratify.report.stage import run_report

    results = tmp_path / "results"
    shutil.copytree(run["results"], results)
    from stratify.config import validate_config

    cfg = copy.deepcopy(run["config"])
    cfg["endpoint"].update(endpoint)
    cfg["model"].update(n_permutations=0, n_bootstrap=100, search={**cfg["model"]["search"], "n_candidates": 2})
    cfg = validate_config(cfg)
    run_features(cfg, results)
    run_model(cfg, results)
    run_explain(cfg, results)
    html = run_report(cfg, results).read_text()
    return results, cfg, html


def test_percent_change_endpoint_is_a_regression_end_to_end(planted_run, tmp_path):
    results, _, html = _rerun_with_endpoint(planted_run, tmp_path, {"kind": "pct_change"})
    met = json.loads((results / "model" / "metrics.json").read_text())
    assert met["task"] == "regression" and met["cv_scheme"] == "leave-one-site-out"
    assert set(met["metrics"]) >= {"selected", "xgboost", "ridge_clinical", "mean"}
    # percent change carries the planted effects: R² above 0 with its interval
    assert met["metrics"]["selected"]["r2_ci"][0] > 0, met["metrics"]["selected"]
    meta = json.loads((results / "model" / "model_features.json").read_text())
    assert meta["task"] == "regression"
    assert json.loads((results / "explain" / "summary.json").read_text())["scale"] == "outcome units"
    assert "Cross-validated R²" in html and "percent change" in html
    assert "regressor" in (results / "model" / "model_card.md").read_text()


def test_trd_status_endpoint_end_to_end(planted_run, tmp_path):
    results, _, html = _rerun_with_endpoint(planted_run, tmp_path, {"kind": "trd"})
    feats = read_table(results / "features" / "features.parquet", kind="features")
    after = read_table(results / "trd" / "after_index.parquet", kind="trd.after_index")
    m = feats.merge(after, on="patient_id")
    known = m["y"].notna()
    # the outcome is the Sforzini call with the index trial counted
    assert (m.loc[known, "y"] == m.loc[known, "sforzini_trd"].astype(float)).all()
    assert 0.1 < m.loc[known, "y"].mean() < 0.9
    met = json.loads((results / "model" / "metrics.json").read_text())
    assert met["endpoint"]["definition"] == "sforzini_2021"
    assert "n_failed_trials" in met["endpoint_defined_by"]
    assert "enter(s) the TRD definition itself" in html
