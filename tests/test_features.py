"""Tests for stratify.features.table: PGx features, joining stage outputs, the model's feature list."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest

from stratify.config import validate_config
from stratify.errors import ConfigError
from stratify.features.table import PHENOTYPE_RANK, SOURCE_ORDER, build_features, feature_options, pgx_features
from stratify.pgx import add_phenotypes

BASE = {
    "cohort": "t",
    "genome_build": "GRCh38",
    "inputs": {"patients": "p.tsv", "symptoms": "s.tsv"},
    "endpoint": {"instrument": "HAMD17", "week": 8},
}


def _config(**changes):
    cfg = copy.deepcopy(BASE)
    cfg.update(changes)
    return validate_config(cfg)


def _clinical():
    return pd.DataFrame(
        {
            "patient_id": ["P1", "P2", "P3"],
            "site": ["A", "A", "B"],
            "response": [1.0, 0.0, np.nan],
            "remission": [1.0, 0.0, np.nan],
            "endpoint_status": ["ok", "ok", "no HAMD17 total at week 0"],
            "age": [30.0, 40.0, 50.0],
            "sex_female": [1.0, 0.0, 1.0],
            "baseline_severity": [20.0, 22.0, np.nan],
            "anhedonia": [3.0, 4.0, 5.0],
            "aes": [5.0, 6.0, 7.0],
            "anxiety_somatization": [6.0, 8.0, 7.0],
            "n_failed_trials": [2, 3, 0],
            "index_ssri_snri": [1.0, 0.0, 1.0],
            "index_escitalopram_citalopram": [1.0, 0.0, 0.0],
            "log_crp": [0.1, np.nan, 0.3],
            "inflammatory_index": [np.nan, np.nan, np.nan],
        }
    )


def _calls(rows):
    return pd.DataFrame(rows, columns=["patient_id", "gene", "phenotype", "source_tool", "activity_score"])


# --------------------------------------------------------------------------- pgx_features


def test_phenotype_ranks():
    rows = [(f"P{i}", "CYP2C19", ph, "stratify-vcf", np.nan) for i, ph in enumerate(PHENOTYPE_RANK)]
    out = pgx_features(_calls(rows)).set_index("patient_id")
    assert out["cyp2c19_rank"].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]  # poor ... ultrarapid
    assert out["cyp2c19_phenotype"].tolist() == list(PHENOTYPE_RANK)


def test_no_call_and_indeterminate_are_missing_not_normal():
    out = pgx_features(
        _calls(
            [
                ("P1", "CYP2C19", "Indeterminate", "stratify-vcf", np.nan),
                ("P2", "CYP2C19", "", "stratify-vcf", np.nan),  # a no-call
                ("P3", "CYP2C19", "Normal Metabolizer", "stratify-vcf", np.nan),
            ]
        )
    ).set_index("patient_id")
    assert math.isnan(out.loc["P1", "cyp2c19_rank"]) and math.isnan(out.loc["P2", "cyp2c19_rank"])
    assert pd.isna(out.loc["P2", "cyp2c19_phenotype"])  # "" becomes missing
    assert out.loc["P3", "cyp2c19_rank"] == 2.0


def test_cyp2d6_activity_score_and_rank():
    out = pgx_features(
        _calls(
            [
                ("P1", "CYP2D6", "Intermediate Metabolizer", "cyrius", 1.0),
                ("P2", "CYP2D6", "Ultrarapid Metabolizer", "cyrius", 3.0),
            ]
        )
    ).set_index("patient_id")
    assert out["cyp2d6_activity_score"].tolist() == [1.0, 3.0]
    assert out["cyp2d6_rank"].tolist() == [1.0, 3.0]
    assert "cyp2c19_rank" not in out.columns


def test_source_preference():
    assert SOURCE_ORDER[0] == "cyrius" and SOURCE_ORDER[-1] == "stratify-vcf"
    assert SOURCE_ORDER.index("pharmcat_outside") < SOURCE_ORDER.index("plain")
    out = pgx_features(
        _calls(
            [
                ("P1", "CYP2C19", "Normal Metabolizer", "stratify-vcf", np.nan),
                ("P1", "CYP2C19", "Ultrarapid Metabolizer", "cyrius", np.nan),  # dedicated caller wins
                ("P2", "CYP2D6", "Normal Metabolizer", "plain", 1.5),
                ("P2", "CYP2D6", "Poor Metabolizer", "pharmcat_outside", 0.0),  # before plain
                ("P3", "CYP2C19", "Poor Metabolizer", "some_new_tool", np.nan),  # unknown tools come last
                ("P3", "CYP2C19", "Rapid Metabolizer", "stratify-vcf", np.nan),
            ]
        )
    ).set_index("patient_id")
    assert (out.loc["P1", "cyp2c19_rank"], out.loc["P1", "cyp2c19_source"]) == (3.0, "cyrius")
    assert (out.loc["P2", "cyp2d6_activity_score"], out.loc["P2", "cyp2d6_source"]) == (0.0, "pharmcat_outside")
    assert (out.loc["P3", "cyp2c19_rank"], out.loc["P3", "cyp2c19_source"]) == (2.5, "stratify-vcf")


def test_pgx_features_from_add_phenotypes():
    calls = pd.DataFrame(
        {
            "patient_id": ["P1", "P2", "P3", "P1"],
            "gene": ["CYP2C19", "CYP2C19", "CYP2C19", "CYP2D6"],
            "diplotype": ["*2/*17", "*1/*4", "", "*1/*4"],
            "status": ["called", "ambiguous", "no-call", "called"],
            "alternatives": ["", "*1/*17", "", ""],
            "source_tool": ["stratify-vcf", "stratify-vcf", "stratify-vcf", "cyrius"],
        }
    )
    out = pgx_features(add_phenotypes(calls)).set_index("patient_id")
    # *2/*17: no function + increased function = intermediate (rank 1); the ambiguous *1/*4 vs *1/*17
    # (intermediate vs rapid) is Indeterminate -> NaN; the no-call -> NaN
    assert out.loc["P1", "cyp2c19_rank"] == 1.0
    assert out[["cyp2c19_rank"]].iloc[1:].isna().all().all()
    # CYP2D6 *1/*4: activity 1 + 0 = 1
    assert out.loc["P1", "cyp2d6_activity_score"] == 1.0


def test_pgx_features_empty():
    assert list(pgx_features(_calls([])).columns) == ["patient_id"]


# --------------------------------------------------------------------------- build_features


def test_build_features_default_sets():
    df, s = build_features(_clinical(), pgx_calls=None, pcs=None, options=feature_options(_config()))
    assert s["model_features"] == [
        "age",
        "sex_female",
        "baseline_severity",
        "anhedonia",
        "aes",
        "anxiety_somatization",
        "n_failed_trials",
        "index_ssri_snri",
        "index_escitalopram_citalopram",
        "log_crp",
    ]
    assert df["y"].tolist()[:2] == [1.0, 0.0] and math.isnan(df["y"].iloc[2])
    assert list(df.columns[:4]) == ["patient_id", "site", "y", "endpoint_status"]
    assert df["n_failed_trials"].dtype == float
    assert (s["n_patients"], s["n_endpoint_missing"]) == (3, 1)
    assert s["endpoint_missing_reasons"] == {"no HAMD17 total at week 0": 1}


def test_group_without_data_is_skipped_not_filled():
    df, s = build_features(_clinical(), pgx_calls=None, pcs=None, options=feature_options(_config()))
    assert s["skipped_features"] == {
        "inflammatory_index": "features.biomarker: no data in this cohort",  # column present, all NaN
        "metabolic_index": "features.biomarker: no data in this cohort",  # column absent
        "immune_metabolic_score": "features.biomarker: no data in this cohort",
        "cyp2c19_rank": "features.genetic: no data in this cohort",
        "cyp2d6_activity_score": "features.genetic: no data in this cohort",
        "pc1": "features.genetic: no data in this cohort",
        "pc2": "features.genetic: no data in this cohort",
        "pc3": "features.genetic: no data in this cohort",
    }
    assert s["feature_groups"]["genetic"] == []
    # nothing was invented for them
    assert "cyp2c19_rank" not in df.columns and "pc1" not in df.columns and "metabolic_index" not in df.columns
    assert df["inflammatory_index"].isna().all()
    # a partly missing feature keeps its gaps
    assert math.isnan(df["log_crp"].iloc[1])


def test_pgx_and_pcs_are_joined():
    calls = _calls(
        [
            ("P1", "CYP2C19", "Poor Metabolizer", "stratify-vcf", np.nan),
            ("P2", "CYP2D6", "Normal Metabolizer", "cyrius", 2.0),
        ]
    )
    pcs = pd.DataFrame({"patient_id": ["P1", "P2"], "pc1": [0.1, -0.1], "pc2": [0.3, 0.0]})
    df, s = build_features(_clinical(), pgx_calls=calls, pcs=pcs, options=feature_options(_config()))
    assert s["feature_groups"]["genetic"] == ["cyp2c19_rank", "cyp2d6_activity_score", "pc1", "pc2"]
    assert set(s["skipped_features"]) == {"inflammatory_index", "metabolic_index", "immune_metabolic_score", "pc3"}
    d = df.set_index("patient_id")
    assert d.loc["P1", "cyp2c19_rank"] == 0.0 and math.isnan(d.loc["P3", "cyp2c19_rank"])
    assert d.loc["P2", "cyp2d6_activity_score"] == 2.0 and math.isnan(d.loc["P3", "pc1"])


def test_empty_pgx_and_pcs_tables():
    pcs = pd.DataFrame({"patient_id": pd.Series([], dtype=str)})
    df, s = build_features(_clinical(), pgx_calls=_calls([]), pcs=pcs, options=feature_options(_config()))
    assert len(df) == 3 and "cyp2c19_rank" in s["skipped_features"]


def test_unknown_feature_name():
    cfg = _config()
    cfg["features"] = {"clinical": ["age", "agee"]}  # past config validation, which also checks
    with pytest.raises(ConfigError) as e:
        build_features(_clinical(), pgx_calls=None, pcs=None, options=feature_options(cfg))
    msg = str(e.value)
    assert msg.startswith("config features.clinical: unknown feature 'agee'; features are: aes, age, ")
    assert "cyp2c19_rank" in msg and "pc1," in msg


@pytest.mark.parametrize("leak", ["response", "remission", "pct_change", "endpoint_score", "y"])
def test_outcome_columns_are_never_features(leak):
    df = _clinical().assign(pct_change=[60.0, 10.0, np.nan], endpoint_score=[8.0, 20.0, np.nan])
    cfg = _config()
    cfg["features"] = {"clinical": ["age", leak]}
    with pytest.raises(ConfigError, match=f"unknown feature '{leak}'.*outcome columns"):
        _config(features={"clinical": ["age", leak]})
    with pytest.raises(ConfigError, match=f"unknown feature '{leak}'.*outcome columns"):
        build_features(df, pgx_calls=None, pcs=None, options=feature_options(cfg))


def test_unknown_subtype_feature_is_an_error():
    cfg = _config()
    cfg["subtype"]["features"] = ["aes", "inflamatory_index"]
    with pytest.raises(ConfigError, match="config subtype.features: unknown feature 'inflamatory_index'"):
        build_features(_clinical(), pgx_calls=None, pcs=None, options=feature_options(cfg))


def test_a_usable_call_beats_a_no_call_from_the_preferred_source():
    calls = _calls([("P1", "CYP2D6", "", "cyrius", np.nan), ("P1", "CYP2D6", "Poor Metabolizer", "plain", 0.0)]).assign(
        status=["no-call", "called"]
    )
    out = pgx_features(calls).set_index("patient_id")
    assert (out.loc["P1", "cyp2d6_rank"], out.loc["P1", "cyp2d6_source"]) == (0.0, "plain")


def test_remission_endpoint():
    clin = _clinical()
    clin["remission"] = [0.0, 1.0, np.nan]
    df, s = build_features(
        clin,
        pgx_calls=None,
        pcs=None,
        options=feature_options(_config(endpoint={"instrument": "HAMD17", "week": 8, "kind": "remission"})),
    )
    assert df["y"].tolist()[:2] == [0.0, 1.0]
    assert s["endpoint"]["kind"] == "remission"


def test_declared_covariate_is_a_known_feature():
    clin = _clinical()
    clin["smoker"] = [1.0, 0.0, 1.0]
    cfg = _config(patient_covariates=["smoker"], features={"clinical": ["age", "smoker"]})
    df, s = build_features(clin, pgx_calls=None, pcs=None, options=feature_options(cfg))
    # the biomarker and genetic groups keep their defaults: only log_crp has data
    assert s["model_features"] == ["age", "smoker", "log_crp"]
    assert s["feature_groups"] == {"clinical": ["age", "smoker"], "biomarker": ["log_crp"], "genetic": []}
    assert df["smoker"].tolist() == [1.0, 0.0, 1.0]
