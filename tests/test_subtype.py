"""Tests for the subtype stage's analysis: BIC-chosen Gaussian mixtures (stratify.subtype.mixture),
cluster naming (stratify.subtype.naming) and run_subtyping (stratify.subtype.subtyping)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stratify.subtype.mixture import GaussianMixtureBIC
from stratify.subtype.naming import name_clusters, naming_rules
from stratify.subtype.subtyping import (
    SubtypeOptions,
    run_subtyping,
    standardise,
    subtype_adds_to_severity,
    subtype_options,
)


def _config(**subtype):
    sc = {
        "features": ["inflammatory_index", "metabolic_index", "aes", "anhedonia"],
        "max_k": 2,
        "n_init": 1,
        "min_cluster_fraction": 0.05,
        "method": "gmm_bic",
        "n_null": 39,
        "n_bootstrap": 30,
        "alpha": 0.05,
        "stable_jaccard": 0.75,
        "naming": {},
    }
    sc.update(subtype)
    return {"seed": 0, "subtype": sc}


def _options(**subtype):
    return subtype_options(_config(**subtype))


def test_single_gaussian_gives_k1():
    x = np.random.default_rng(0).normal(0, 1, (200, 2))
    est = GaussianMixtureBIC(max_k=3, n_init=1, random_state=0).fit(x)
    assert est.n_components_ == 1
    assert set(est.bic_) == {1, 2, 3}
    assert min(est.bic_, key=est.bic_.get) == 1


def test_two_separated_gaussians_give_k2():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (150, 2)), rng.normal(6, 1, (100, 2))])
    est = GaussianMixtureBIC(max_k=3, n_init=1, random_state=0).fit(x)
    assert est.n_components_ == 2
    labels = est.predict(x)
    # the two groups land in different components, each almost entirely in one
    assert (labels[:150] == labels[0]).mean() > 0.98 and (labels[150:] == labels[-1]).mean() > 0.98
    assert labels[0] != labels[-1]
    p = est.predict_proba(x)
    assert p.shape == (250, 2) and np.allclose(p.sum(axis=1), 1.0)


def test_small_cluster_solutions_are_not_chosen():
    rng = np.random.default_rng(0)
    # 6 of 200 points (3%) far away: a real cluster, but below a 5% minimum share
    x = np.vstack([rng.normal(0, 1, (194, 2)), rng.normal(8, 0.3, (6, 2))])
    strict = GaussianMixtureBIC(max_k=2, n_init=1, min_cluster_fraction=0.05, random_state=0).fit(x)
    assert strict.n_components_ == 1 and 2 not in strict.bic_
    loose = GaussianMixtureBIC(max_k=2, n_init=1, min_cluster_fraction=0.0, random_state=0).fit(x)
    assert loose.n_components_ == 2


def test_k_is_capped_at_half_the_patients():
    x = np.random.default_rng(0).normal(0, 1, (6, 2))
    est = GaussianMixtureBIC(max_k=6, n_init=1, random_state=0, min_cluster_fraction=0.0).fit(x)
    assert sorted(est.bic_) == [1, 2, 3]  # k <= 6 // 2


def test_estimator_conventions():
    est = GaussianMixtureBIC(max_k=2, n_init=1, min_cluster_fraction=0.1, random_state=3)
    # __init__ only stores its parameters; nothing learned yet
    assert (est.max_k, est.n_init, est.min_cluster_fraction, est.random_state) == (2, 1, 0.1, 3)
    assert not [a for a in vars(est) if a.endswith("_")]
    x = np.random.default_rng(0).normal(0, 1, (40, 2))
    assert est.fit(x) is est
    learned = sorted(a for a in vars(est) if a not in ("max_k", "n_init", "min_cluster_fraction", "random_state"))
    assert learned == [
        "bic_",
        "criterion_",
        "labels_",
        "model_",
        "n_clusters_",
        "n_components_",
        "n_features_in_",
        "skipped_",
    ]
    assert (est.max_k, est.n_init, est.min_cluster_fraction, est.random_state) == (2, 1, 0.1, 3)


def test_fit_is_reproducible():
    x = np.random.default_rng(1).normal(0, 1, (80, 2))
    a = GaussianMixtureBIC(max_k=2, n_init=1, random_state=5).fit(x)
    b = GaussianMixtureBIC(max_k=2, n_init=1, random_state=5).fit(x)
    assert a.bic_ == b.bic_


def test_estimator_can_be_cloned():
    from sklearn.base import clone

    est = GaussianMixtureBIC(max_k=2, n_init=1, random_state=3)
    assert est.get_params() == {"max_k": 2, "n_init": 1, "min_cluster_fraction": 0.05, "random_state": 3}
    assert clone(est).get_params() == est.get_params()


# --------------------------------------------------------------------------- naming


def _profile(rows):
    return pd.DataFrame(rows).rename_axis("cluster")


def test_immune_metabolic_needs_inflammation_or_metabolism_and_aes():
    prof = _profile(
        [
            {"inflammatory_index": 0.6, "metabolic_index": -1.0, "aes": 0.5, "anhedonia": 0.0},  # inflammatory
            {"inflammatory_index": -1.0, "metabolic_index": 0.5, "aes": 0.9, "anhedonia": 0.0},  # metabolic
        ]
    )
    # both qualify; a name is given once, so the second takes the next matching rule (none here)
    assert name_clusters(prof) == {0: "immune-metabolic"}
    assert name_clusters(prof.iloc[[1]]) == {1: "immune-metabolic"}


@pytest.mark.parametrize(
    "row",
    [
        {"inflammatory_index": 1.0, "metabolic_index": 1.0, "aes": 0.49, "anhedonia": 0.0},  # AES too low
        {"inflammatory_index": 0.49, "metabolic_index": 0.49, "aes": 2.0, "anhedonia": 0.0},  # neither index
        {"inflammatory_index": 0.0, "metabolic_index": 0.0, "aes": 0.0, "anhedonia": 0.0},
    ],
)
def test_cluster_matching_nothing_is_unlabelled(row):
    assert name_clusters(_profile([row])) == {}


def test_other_rules_and_order():
    prof = _profile(
        [
            {"inflammatory_index": 0.0, "aes": 0.0, "anhedonia": 0.8, "anxiety_somatization": 0.9},
            {"inflammatory_index": 0.0, "aes": 0.0, "anhedonia": 0.0, "anxiety_somatization": 0.7},
            {"inflammatory_index": 0.9, "aes": 0.9, "anhedonia": 0.9, "anxiety_somatization": 0.0},
        ]
    )
    # cluster 0 matches anhedonic and anxious: the first rule wins
    assert name_clusters(prof) == {0: "anhedonic", 1: "anxious", 2: "immune-metabolic"}


def test_missing_feature_cannot_satisfy_a_rule():
    prof = _profile([{"inflammatory_index": 2.0, "metabolic_index": 2.0}])  # no aes column
    assert name_clusters(prof) == {}


def test_custom_rules():
    rules = {"high-x": [(("x",), 1.0)]}
    assert name_clusters(_profile([{"x": 0.5}, {"x": 1.0}]), rules=rules) == {1: "high-x"}
    assert list(naming_rules()) == ["immune-metabolic", "anhedonic", "cognitive", "anxious"]
    # config rules add to the defaults, or replace one by name
    naming = {"anhedonic": [{"features": ["anhedonia"], "min": 1.0}], "sleepy": [{"features": ["sleep"], "min": 0.5}]}
    r = naming_rules(naming)
    assert r["anhedonic"] == [(("anhedonia",), 1.0)] and r["sleepy"] == [(("sleep",), 0.5)]
    assert list(r)[:4] == ["immune-metabolic", "anhedonic", "cognitive", "anxious"]


def test_a_condition_needs_its_interval_above_zero():
    prof = _profile([{"anhedonia": 0.6}])
    assert name_clusters(prof, lower=_profile([{"anhedonia": 0.1}])) == {0: "anhedonic"}
    assert name_clusters(prof, lower=_profile([{"anhedonia": -0.05}])) == {}


# --------------------------------------------------------------------------- options, standardise, run_subtyping


def test_options_defaults_are_the_config_schemas():
    from stratify.config import validate_config

    cfg = validate_config(
        {
            "cohort": "c",
            "genome_build": "GRCh38",
            "seed": 4,
            "inputs": {"patients": "p.tsv", "symptoms": "s.tsv"},
            "endpoint": {"instrument": "HAMD17", "week": 8},
        }
    )
    assert subtype_options(cfg) == SubtypeOptions(seed=4)


def test_options_from_a_config_carry_every_setting():
    o = _options(method="kmeans", max_k=3, naming={"sleepy": [{"features": ["sleep"], "min": 0.5}]})
    assert (o.method, o.max_k, o.n_init, o.n_null, o.n_bootstrap, o.seed) == ("kmeans", 3, 1, 39, 30, 0)
    assert o.features == ("inflammatory_index", "metabolic_index", "aes", "anhedonia")
    assert o.naming == {"sleepy": [{"features": ["sleep"], "min": 0.5}]}
    with pytest.raises(TypeError):
        subtype_options({"seed": 0, "subtype": {"n_clusters": 3}})  # not an option


def test_standardise_imputes_the_median():
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [5.0, 5.0, 5.0, 5.0]})
    z, n_imp, params = standardise(df, ["a", "b"])
    # a: median of 1, 3, 4 = 3 -> [1, 3, 3, 4]; mean 2.75; population sd sqrt(1.1875)
    assert params["median"]["a"] == 3.0 and params["mean"]["a"] == 2.75
    assert z[:, 0] == pytest.approx((np.array([1, 3, 3, 4]) - 2.75) / np.sqrt(1.1875))
    assert n_imp.tolist() == [0, 1, 0, 0]
    assert (z[:, 1] == 0).all() and params["sd"]["b"] == 1.0  # constant column: sd 0 replaced by 1


def _features(groups, seed=0):
    """Feature table: per group (n, mean of inflammatory/metabolic/aes, mean of anhedonia)."""
    rng = np.random.default_rng(seed)
    frames = []
    for n, im, anh in groups:
        frames.append(
            pd.DataFrame(
                {
                    "inflammatory_index": rng.normal(im, 0.5, n),
                    "metabolic_index": rng.normal(im, 0.5, n),
                    "aes": rng.normal(im * 3, 1.0, n),
                    "anhedonia": rng.normal(anh, 1.0, n),
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    df.insert(0, "patient_id", [f"P{i}" for i in range(len(df))])
    return df


def test_run_subtyping_no_subtypes():
    feats = _features([(120, 0.0, 0.0)])
    assign, prof, summary, _ = run_subtyping(feats, options=_options())
    assert summary["n_clusters"] == 1 and summary["claimed"] is False
    assert summary["statement"].startswith("No robust subtypes: a single Gaussian fits best (lowest BIC). With 120")
    p = summary["detectable_separation"]
    assert p["run"] and p["n"] == 120 and p["d"] == 4
    # the statement says what the run could have detected, from the simulation it reports
    found = p["separation_sd"]
    assert (f"{found:g} SD apart with 80% power" if found else "did not detect") in summary["statement"]
    assert set(assign["subtype"]) == {"none"} and len(assign) == 120
    assert summary["existence_test"] == {"run": False, "reason": "the method found a single cluster"}


def test_run_subtyping_finds_tests_and_names_the_planted_group():
    feats = _features([(150, 0.0, 0.0), (60, 2.5, 0.0)])
    feats.loc[3, "aes"] = np.nan  # one imputed value
    assign, prof, summary, _ = run_subtyping(feats, options=_options())
    assert summary["n_clusters"] == 2 and summary["claimed"] is True
    # tested before named: the existence test rejects one Gaussian and both clusters are stable
    assert summary["existence_test"]["p_value"] == pytest.approx(1 / 40)
    assert prof["stability"].tolist() == ["stable", "stable"] and (prof["mean_jaccard"] > 0.9).all()
    # clusters are ordered by size: 0 is the larger (unlabelled), 1 the planted group
    assert prof["n"].tolist() == [150, 60]
    assert prof["subtype"].tolist() == ["unlabelled", "immune-metabolic"]
    assert (assign["subtype"].iloc[150:] == "immune-metabolic").all()
    assert summary["statement"].startswith("Subtypes found: gmm_bic proposed 2 clusters; the existence test rejects")
    assert "2 of the 2 clusters are stable" in summary["statement"]
    assert "cluster 1 = immune-metabolic (n=60)" in summary["statement"]
    assert assign.loc[3, "n_imputed"] == 1 and summary["n_imputed_patients"] == 1
    assert ((assign["probability"] > 0) & (assign["probability"] <= 1)).all()


def test_kmeans_on_one_gaussian_is_not_claimed():
    """k-means always splits; the existence test is what says there is nothing there."""
    feats = _features([(300, 0.0, 0.0)], seed=2)
    assign, prof, summary, _ = run_subtyping(feats, options=_options(method="kmeans", max_k=3))
    assert summary["n_clusters"] >= 2 and summary["claimed"] is False
    assert summary["existence_test"]["p_value"] >= 0.05
    assert summary["statement"].startswith("No robust subtypes: kmeans proposed")
    assert "not more clustered than a single Gaussian (copula) with their own marginals" in summary["statement"]
    assert set(assign["subtype"]) == {"none"}


def test_unstable_clusters_are_not_named():
    """Significant but unstable: claimed only when two clusters survive the bootstrap."""
    feats = _features([(150, 0.0, 0.0), (150, 1.2, 0.0)])  # overlapping: mean Jaccard about 0.995
    cfg = _config(stable_jaccard=1.0)  # a threshold only perfect stability passes
    assign, prof, summary, _ = run_subtyping(feats, options=subtype_options(cfg))
    assert summary["existence_test"]["p_value"] < 0.05 and summary["claimed"] is False
    assert "fewer than two clusters are stable under the bootstrap" in summary["statement"]
    assert set(assign["subtype"]) == {"none"} and summary["names"] == {}


def test_hdbscan_noise_is_labelled_noise():
    feats = _features([(200, 0.0, 0.0), (100, 3.0, 0.0)], seed=1)
    assign, prof, summary, _ = run_subtyping(feats, options=_options(method="hdbscan"))
    assert summary["n_noise"] == int((assign["cluster"] == -1).sum())
    assert set(assign.loc[assign["cluster"] == -1, "subtype"]) <= {"noise"}


def test_subtype_adds_to_severity_is_null_when_clusters_do_not_matter():
    rng = np.random.default_rng(3)
    sev = rng.normal(20, 5, 600)
    y = (rng.random(600) < 1 / (1 + np.exp(-(sev - 20) / 5))).astype(float)
    d = pd.DataFrame({"patient_id": range(600), "y": y, "baseline_severity": sev})
    r = subtype_adds_to_severity(d, pd.DataFrame({"patient_id": range(600), "cluster": rng.integers(0, 3, 600)}))
    assert r["df"] == 2 and r["p_value"] > 0.05
    assert subtype_adds_to_severity(d.drop(columns="baseline_severity"), d.assign(cluster=0))["run"] is False


def test_run_subtyping_needs_two_features():
    feats = _features([(50, 0.0, 0.0)])[["patient_id", "aes"]]
    feats["inflammatory_index"] = np.nan  # present but empty
    assign, prof, summary, _ = run_subtyping(feats, options=_options())
    assert len(assign) == 0 and summary["n_clusters"] == 0 and summary["claimed"] is False
    assert summary["features"] == ["aes"]
    assert summary["features_missing"] == ["inflammatory_index", "metabolic_index", "anhedonia"]
    assert summary["statement"] == "Subtyping skipped: it needs at least two features with data, has ['aes']."


def test_detectable_separation_can_be_turned_off():
    feats = _features([(120, 0.0, 0.0)])
    _, _, summary, _ = run_subtyping(feats, options=_options(detectable_separation={"run": False}))
    assert summary["detectable_separation"]["run"] is False
    assert summary["statement"] == "No robust subtypes: a single Gaussian fits best (lowest BIC)."
