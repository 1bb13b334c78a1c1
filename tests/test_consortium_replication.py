"""Subtype replication between cohorts (stratify.consortium.replication) on a small simulated consortium."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from stratify.consortium.replication import (
    centroid_match,
    prediction_strength,
    read_cohort_subtypes,
    replicate,
    replicate_all,
    subtype_overview,
)
from stratify.errors import InputError
from stratify.subtype.saved import assign_with_model


@pytest.fixture(scope="module")
def cohorts(consortium_runs):
    """The planted cohorts and the null one (the two-arm trials are for the pooling tests)."""
    return {name: read_cohort_subtypes(name, consortium_runs[name]["results"]) for name in ("siteA", "siteB", "siteC")}


def test_the_planted_cohorts_claim_immune_metabolic_and_the_null_does_not(cohorts):
    """The premise of the tests below (the simulator plants one immune-metabolic subgroup)."""
    for name in ("siteA", "siteB"):
        assert cohorts[name].summary["claimed"], cohorts[name].summary["statement"]
        assert "immune-metabolic" in cohorts[name].model["subtypes"].values()
    assert not cohorts["siteC"].summary["claimed"]


def test_a_cohorts_saved_model_reproduces_its_own_labels(cohorts):
    for c in cohorts.values():
        again = assign_with_model(c.model, c.features)
        m = c.assignments.merge(again, on="patient_id", suffixes=("", "_again"))
        assert len(m) == len(c.features)
        assert (m["cluster"] == m["cluster_again"]).all() and (m["subtype"] == m["subtype_again"]).all()


@pytest.mark.parametrize("metric", ["within_cohort", "reference"])
def test_immune_metabolic_replicates_between_planted_cohorts_not_in_the_null(cohorts, metric):
    pairs, verdicts = replicate_all(list(cohorts.values()), metric=metric)
    v = verdicts.set_index(["cohort_a", "cohort_b", "subtype"])["verdict"]
    assert v[("siteA", "siteB", "immune-metabolic")] == "replicated"
    assert v[("siteB", "siteA", "immune-metabolic")] == "replicated"
    assert v[("siteA", "siteC", "immune-metabolic")] == "not replicated"
    assert v[("siteB", "siteC", "immune-metabolic")] == "not replicated"
    assert not (verdicts["cohort_a"] == "siteC").any()  # the null cohort names no subtype
    by = {(p["cohort_a"], p["cohort_b"]): p for p in pairs}
    ab, ac = by[("siteA", "siteB")], by[("siteA", "siteC")]
    assert ab["adjusted_rand"] > 0.8 and ab["prediction_strength"] >= 0.8
    assert ac["adjusted_rand"] < 0.4 and ac["prediction_strength"] < 0.8
    im = next(c for c in ab["clusters"] if c["name_a"] == "immune-metabolic")
    assert im["name_b"] == "immune-metabolic" and im["distance"] < 0.5 and im["carried_share"] > 0.9
    why = verdicts.set_index(["cohort_a", "cohort_b"]).loc[("siteA", "siteC"), "why"]
    assert "siteC claims no subtypes" in why and "prediction strength" in why
    ov = subtype_overview(verdicts).set_index("cohort")
    assert ov.loc["siteA", "replicated_in"] == "siteB" and ov.loc["siteA", "not_replicated_in"] == "siteC"


def test_each_reason_for_not_replicated_is_given_alone(cohorts):
    a, b, c = cohorts["siteA"], cohorts["siteB"], cohorts["siteC"]
    # the null cohort made to claim subtypes and to name its matched cluster the same: low prediction strength alone
    res = replicate(a, c)
    im = next(x for x in res["clusters"] if x["name_a"] == "immune-metabolic")
    renamed = {**c.model["subtypes"], str(im["cluster_b"]): "immune-metabolic"}
    fake = dataclasses.replace(c, summary={**c.summary, "claimed": True}, model={**c.model, "subtypes": renamed})
    (v,) = replicate(a, fake)["verdicts"]
    assert v["verdict"] == "not replicated" and v["why"].startswith("prediction strength 0.")
    # a planted cohort whose matched cluster carries another name
    res = replicate(a, b)
    im = next(x for x in res["clusters"] if x["name_a"] == "immune-metabolic")
    other = dataclasses.replace(
        b, model={**b.model, "subtypes": {**b.model["subtypes"], str(im["cluster_b"]): "anhedonic"}}
    )
    (v,) = replicate(a, other)["verdicts"]
    assert (
        v["verdict"] == "not replicated"
        and v["why"] == f"the matched cluster {im['cluster_b']} of siteB is 'anhedonic'"
    )


def test_not_testable_when_a_feature_is_missing_or_too_few_patients(cohorts):
    a, b = cohorts["siteA"], cohorts["siteB"]
    res = replicate(a, dataclasses.replace(b, features=b.features.drop(columns="aes")))
    assert res["verdicts"] == [
        {
            "subtype": "immune-metabolic",
            "cluster_a": res["verdicts"][0]["cluster_a"],
            "verdict": "not testable",
            "why": "clustering feature(s) aes of siteA missing in siteB",
        }
    ]
    few = b.features.head(20)
    res = replicate(a, dataclasses.replace(b, features=few), min_patients=30)
    assert res["verdicts"][0]["verdict"] == "not testable"
    assert "siteB has 20 patients with every clustering feature (fewer than 30)" in res["verdicts"][0]["why"]
    skipped = dataclasses.replace(b, model={"fitted": None, "reason": "Subtyping skipped: one feature"})
    assert "could not be clustered (Subtyping skipped" in replicate(a, skipped)["not_testable"]


def test_bad_options_and_inputs(cohorts):
    a, b = cohorts["siteA"], cohorts["siteB"]
    with pytest.raises(ValueError, match="metric must be one of"):
        replicate(a, b, metric="raw")
    with pytest.raises(InputError, match="cohort names must be unique"):
        replicate_all([a, dataclasses.replace(b, name="siteA")])
    orphan = dataclasses.replace(b, assignments=b.assignments.iloc[1:])
    with pytest.raises(InputError, match="cohort siteB: patient .* has no subtype assignment"):
        replicate(a, orphan)


def test_prediction_strength_by_hand():
    own = np.array([0, 0, 0, 0, 1, 1, 1, -1])
    carried = np.array([2, 2, 2, 3, 4, 4, 5, 9])
    r = prediction_strength(own, carried)
    # cluster 0: pairs (4*3=12 ordered), co-assigned 3*2=6 -> 0.5; cluster 1: 2*1/6 = 1/3; noise left out
    assert r["by_cluster"] == {0: 0.5, 1: pytest.approx(1 / 3)}
    assert r["strength"] == pytest.approx(1 / 3)
    assert prediction_strength(own, own)["strength"] == 1.0
    rng = np.random.default_rng(0)
    assert prediction_strength(rng.integers(0, 2, 2000), rng.integers(0, 2, 2000))["strength"] < 0.55
    assert prediction_strength(np.array([0, 1]), np.array([0, 0]))["strength"] is None


def test_centroid_match_pairs_by_distance_whatever_the_numbering():
    a = pd.DataFrame({"x": [0.0, 3.0], "y": [0.0, 3.0]}, index=[0, 1])
    b = pd.DataFrame({"y": [3.1, 9.0, 0.2], "x": [2.9, 9.0, -0.1]}, index=[0, 1, 2])
    m = centroid_match(a, b)
    assert m["cluster_b"].tolist() == [2, 0]
    np.testing.assert_allclose(m["distance"], [np.hypot(0.1, 0.2), np.hypot(0.1, 0.1)])


def test_read_cohort_subtypes_names_a_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read cohort X's subtype summary"):
        read_cohort_subtypes("X", tmp_path)
