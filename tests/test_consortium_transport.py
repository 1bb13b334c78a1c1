"""Transportability of the response model between cohorts (stratify.consortium.transport)."""

from __future__ import annotations

import json

import pytest

from stratify.consortium.transport import CELL_COLUMNS, leave_one_cohort_out, score_cohort, transport_matrix
from stratify.errors import InputError
from stratify.io.tables import read_table
from stratify.model.cv import SEARCH_DEFAULTS
from stratify.model.fit import ModelOptions
from stratify.model.io import load_model

PLANTED_AND_NULL = ("siteA", "siteB", "siteC")


@pytest.fixture(scope="module")
def paths(consortium_runs):
    return {n: consortium_runs[n]["results"] for n in PLANTED_AND_NULL}


def test_transport_matrix_between_planted_cohorts_and_into_and_out_of_the_null(paths):
    m = transport_matrix(paths, n_boot=200, seed=1)
    assert list(m.columns) == CELL_COLUMNS and len(m) == 9 and m["run"].all()
    cell = m.set_index(["train", "test"])
    for a, b in (("siteA", "siteB"), ("siteB", "siteA")):
        assert cell.loc[(a, b), "kind"] == "external"
        assert cell.loc[(a, b), "auc_ci_low"] > 0.5, (a, b)
    for a, b in (("siteA", "siteC"), ("siteB", "siteC"), ("siteC", "siteA"), ("siteC", "siteB")):
        assert cell.loc[(a, b), "auc_ci_low"] < 0.5 < cell.loc[(a, b), "auc_ci_high"], (a, b)
    # the diagonal is the cohort's own cross-validated AUC, as the model stage wrote it
    for n, results in paths.items():
        sel = json.loads((results / "model" / "metrics.json").read_text())["metrics"]["selected"]
        assert cell.loc[(n, n), "kind"] == "within-cohort (cross-validated)"
        assert cell.loc[(n, n), "auc"] == sel["auc"] and cell.loc[(n, n), "auc_ci_low"] == sel["auc_ci"][0]
    assert (m.loc[m["kind"] == "external", "endpoint_differences"] == "").all()  # one endpoint in all
    ab = cell.loc[("siteA", "siteB")]
    assert ab["calibration_slope_ci_low"] < ab["calibration_slope"] < ab["calibration_slope_ci_high"]


def test_a_cell_without_a_model_feature_is_not_scored_unless_allowed(paths):
    model, meta = load_model(paths["siteA"] / "model")
    feats = read_table(paths["siteB"] / "features" / "features.parquet", kind="features").drop(columns="aes")
    cell = score_cohort(model, meta, feats, source="cohort siteB", n_boot=50, seed=0)
    assert not cell["run"] and cell["reason"] == "feature(s) aes of the model not available in cohort siteB"
    cell = score_cohort(model, meta, feats, source="cohort siteB", n_boot=50, seed=0, allow_missing=True)
    assert cell["run"] and cell["features_unavailable"] == "aes" and 0.5 < cell["auc"] < 1


def test_leave_one_cohort_out_fits_on_the_others_pooled(paths, consortium_runs):
    options = ModelOptions(
        endpoint=consortium_runs["siteA"]["config"]["endpoint"],
        n_bootstrap=50,
        search={**SEARCH_DEFAULTS, "n_candidates": 0},
    )
    loco = leave_one_cohort_out(paths, options=options, n_boot=200, seed=1)
    assert loco["test"].tolist() == list(PLANTED_AND_NULL) and loco["run"].all()
    row = loco.set_index("test")
    assert row.loc["siteA", "train"] == "siteB + siteC"
    assert row.loc["siteA", "auc_ci_low"] > 0.5 and row.loc["siteB", "auc_ci_low"] > 0.5
    assert row.loc["siteC", "auc_ci_low"] < 0.5 < row.loc["siteC", "auc_ci_high"]
    assert "inflammatory_index" in row.loc["siteA", "features"]
    with pytest.raises(InputError, match="at least three cohorts"):
        leave_one_cohort_out({n: paths[n] for n in ("siteA", "siteB")}, options=options)


def test_the_final_model_alone_is_the_model_stages_final_model(consortium_runs):
    """fit_final_model (leave-one-cohort-out's fit) makes the model fit_response_model saves: the
    same learner, hyperparameters and predictions, without the nested cross-validation."""
    import json as _json

    from stratify.model.fit import fit_final_model, fit_response_model, model_options

    results = consortium_runs["siteA"]["results"]
    features = read_table(results / "features" / "features.parquet", kind="features")
    summary = _json.loads((results / "features" / "summary.json").read_text())
    cfg = consortium_runs["siteA"]["config"]
    options = model_options({**cfg, "model": {**cfg["model"], "n_permutations": 0}})
    full = fit_response_model(features, summary, options=options)
    alone = fit_final_model(features, summary, options=options)
    assert alone["features"] == full["features"]
    assert alone["search"]["learner"] == full["info"]["learner"]
    assert alone["search"]["params"] == full["info"]["params"]
    X = features[full["features"]].to_numpy(dtype=float)
    assert alone["model"].predict(X) == pytest.approx(full["model"].predict(X), abs=1e-12)


def test_a_model_that_does_not_beat_chance_at_home_is_flagged_abroad(paths):
    """The null cohort's model is fitted to noise: every external cell it makes says so, whatever
    its interval, and the planted cohorts' models are not flagged."""
    m = transport_matrix(paths, n_boot=50, seed=1).set_index(["train", "test"])
    for b in ("siteA", "siteB"):
        cell = m.loc[("siteC", b)]
        assert cell["train_beats_chance"] is False or cell["train_beats_chance"] == False  # noqa: E712
        assert "does not beat chance in its own cohort" in cell["note"]
    for a in ("siteA", "siteB"):
        assert bool(m.loc[(a, "siteC"), "train_beats_chance"]) and m.loc[(a, "siteC"), "note"] == ""
    assert m.loc[("siteC", "siteC"), "note"] == ""  # the diagonal is the cohort itself: no note
