"""Tests for stratify.clinical.scores: totals, dimensions, endpoint, treatment history, biomarkers."""

from __future__ import annotations

import copy
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratify.clinical.scores import (
    biomarker_values,
    clinical_counts,
    clinical_options,
    clinical_tables,
    dimension_scores,
    endpoint_outcomes,
    immune_metabolic_indices,
    instrument_totals,
    nesda_strata,
    split_symptoms,
    treatment_summary,
)
from stratify.config import validate_config
from stratify.errors import InputError
from stratify.inputs.validate import validate_inputs, validate_options

DATA = Path(__file__).resolve().parent / "data" / "inputs"


def _items(pid, week, instrument, scores: dict[int, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": pid,
            "week": float(week),
            "instrument": instrument,
            "item": list(scores),
            "score": [float(v) for v in scores.values()],
        }
    )


def _one_total(df, **kw):
    out = instrument_totals(df, **kw)
    assert len(out) == 1
    return out.iloc[0]


# --------------------------------------------------------------------------- totals


def test_hamd17_total_is_the_sum():
    scores = dict.fromkeys(range(1, 18), 1) | {1: 4, 4: 2}
    row = _one_total(_items("P1", 0, "HAMD17", scores))
    # 15 items at 1, item 1 = 4, item 4 = 2: 15 + 4 + 2 = 21
    assert row["total"] == 21.0
    assert (row["n_units"], row["n_missing"], row["prorated"], row["status"]) == (17, 0, False, "ok")


def test_qids_domains_score_their_highest_item():
    scores = {
        1: 3,
        2: 0,
        3: 1,
        4: 2,  # sleep = max(3, 0, 1, 2) = 3
        5: 2,  # mood
        6: 0,
        7: 2,
        8: 1,
        9: 3,  # appetite/weight = max(0, 2, 1, 3) = 3
        10: 1,
        11: 1,
        12: 0,
        13: 2,
        14: 1,
        15: 1,
        16: 2,
    }  # psychomotor = max(1, 2) = 2
    row = _one_total(_items("P1", 0, "QIDS_SR16", scores))
    # 3 + 2 + 3 + 1 + 1 + 0 + 2 + 1 + 2 = 15 (9 domains, not 16 items)
    assert row["total"] == 15.0
    assert row["n_units"] == 9


def test_qids_total_range_is_0_to_27():
    top = _one_total(_items("P1", 0, "QIDS_SR16", dict.fromkeys(range(1, 17), 3)))
    low = _one_total(_items("P1", 0, "QIDS_SR16", dict.fromkeys(range(1, 17), 0)))
    # 9 domains x 3 = 27 (the item sum would be 48)
    assert (top["total"], low["total"]) == (27.0, 0.0)


def test_ids_sr30_appetite_and_weight_pairs():
    scores = dict.fromkeys(range(1, 31), 1) | {11: 3, 12: 0, 13: 1, 14: 2}
    row = _one_total(_items("P1", 0, "IDS_SR30", scores))
    # 26 single items at 1, max(11: 3, 12: 0) = 3, max(13: 1, 14: 2) = 2 -> 26 + 3 + 2 = 31
    assert row["total"] == 31.0
    assert row["n_units"] == 28


def test_ids_sr30_maximum_is_84():
    row = _one_total(_items("P1", 0, "IDS_SR30", dict.fromkeys(range(1, 31), 3)))
    assert row["total"] == 84.0  # 28 units x 3


def test_prorating_one_missing_hamd_item():
    scores = dict.fromkeys(range(1, 17), 1) | {1: 4}  # item 17 missing
    row = _one_total(_items("P1", 0, "HAMD17", scores))
    # sum of 16 items = 15 + 4 = 19; prorated 19 * 17 / 16 = 20.1875
    assert row["total"] == pytest.approx(19 * 17 / 16) == pytest.approx(20.1875)
    assert (row["n_missing"], row["prorated"], row["status"]) == (1, True, "ok")


def test_prorating_a_missing_qids_domain():
    # items 15 and 16 missing -> the psychomotor domain is missing (1 of 9 units, 11% <= 20%)
    scores = dict.fromkeys(range(1, 15), 2)
    row = _one_total(_items("P1", 0, "QIDS_SR16", scores))
    # 8 domains at 2 = 16; prorated 16 * 9 / 8 = 18
    assert row["total"] == 18.0 and row["n_missing"] == 1 and row["prorated"]


def test_one_item_of_a_domain_missing_is_not_missing():
    scores = dict.fromkeys(range(1, 17), 1)
    del scores[4]  # hypersomnia; the sleep domain still has items 1-3
    row = _one_total(_items("P1", 0, "QIDS_SR16", scores))
    assert (row["total"], row["n_missing"], row["prorated"]) == (9.0, 0, False)


def test_too_many_missing_items():
    three = dict.fromkeys(range(1, 15), 1)  # 3 of 17 missing: 17.6% <= 20%
    four = dict.fromkeys(range(1, 14), 1)  # 4 of 17 missing: 23.5% > 20%
    ok = _one_total(_items("P1", 0, "HAMD17", three))
    bad = _one_total(_items("P1", 0, "HAMD17", four))
    assert ok["total"] == pytest.approx(14 * 17 / 14) and ok["status"] == "ok"
    assert math.isnan(bad["total"]) and bad["status"] == "too many missing items" and bad["n_missing"] == 4
    # a stricter policy: no item may be missing
    strict = _one_total(_items("P1", 0, "HAMD17", three), max_missing_items=0.0)
    assert math.isnan(strict["total"])


def test_totals_per_patient_visit_and_instrument():
    df = pd.concat(
        [
            _items("P1", 0, "HAMD17", dict.fromkeys(range(1, 18), 1)),
            _items("P1", 8, "HAMD17", dict.fromkeys(range(1, 18), 0)),
            _items("P2", 0, "QIDS_SR16", dict.fromkeys(range(1, 17), 1)),
        ]
    )
    out = instrument_totals(df).sort_values(["patient_id", "week"])
    assert out[["patient_id", "week", "instrument", "total"]].values.tolist() == [
        ["P1", 0.0, "HAMD17", 17.0],
        ["P1", 8.0, "HAMD17", 0.0],
        ["P2", 0.0, "QIDS_SR16", 9.0],
    ]


def test_totals_of_no_symptoms():
    empty = _items("P1", 0, "HAMD17", {}).iloc[:0]
    out = instrument_totals(empty)
    assert len(out) == 0 and "status" in out.columns


# --------------------------------------------------------------------------- dimensions


def test_dimensions():
    ids = dict.fromkeys(range(1, 31), 0) | {
        4: 1,
        12: 2,
        14: 3,
        20: 1,
        30: 2,  # AES 1+2+3+1+2 = 9
        19: 3,
        21: 2,
        22: 1,
    }  # anhedonia 3+2+1 = 6
    hamd = dict.fromkeys(range(1, 18), 0) | {
        10: 2,
        11: 1,
        12: 1,
        13: 1,
        15: 1,
        17: 1,  # 2+1+1+1+1+1 = 7
        1: 4,
        14: 2,
        16: 2,
    }  # items outside the factor do not count
    df = pd.concat(
        [
            _items("P1", 0, "IDS_SR30", ids),
            _items("P1", 0, "HAMD17", hamd),
            _items("P1", 8, "IDS_SR30", dict.fromkeys(range(1, 31), 3)),
        ]
    )  # week 8 is ignored
    row = dimension_scores(df).iloc[0]
    assert (row["aes"], row["anhedonia"], row["anxiety_somatization"]) == (9.0, 6.0, 7.0)
    assert bool(row["anxious_depression"]) is True


def test_anxious_depression_threshold():
    six = dict.fromkeys(range(1, 18), 0) | {10: 2, 11: 1, 12: 1, 13: 1, 15: 1}  # 6
    seven = six | {17: 1}  # 7
    df = pd.concat([_items("P6", 0, "HAMD17", six), _items("P7", 0, "HAMD17", seven)])
    out = dimension_scores(df).set_index("patient_id")
    assert out.loc["P6", "anxiety_somatization"] == 6.0 and not out.loc["P6", "anxious_depression"]
    assert out.loc["P7", "anxiety_somatization"] == 7.0 and out.loc["P7", "anxious_depression"]


def test_dimension_prorated_and_missing():
    ids = {4: 1, 12: 2, 14: 3, 20: 2}  # AES item 30 missing (1 of 5 = 20%)
    ids2 = {4: 1, 12: 2, 14: 3}  # 2 of 5 missing (40%)
    df = pd.concat([_items("P1", 0, "IDS_SR30", ids), _items("P2", 0, "IDS_SR30", ids2)])
    out = dimension_scores(df).set_index("patient_id")
    assert out.loc["P1", "aes"] == pytest.approx((1 + 2 + 3 + 2) * 5 / 4)  # 8 * 5 / 4 = 10
    assert math.isnan(out.loc["P2", "aes"])
    # no HAMD-17 at all: the anxiety factor and anxious depression are missing, not False
    assert math.isnan(out.loc["P1", "anxiety_somatization"]) and pd.isna(out.loc["P1", "anxious_depression"])


# --------------------------------------------------------------------------- endpoint


def _totals(rows, instrument="HAMD17"):
    return pd.DataFrame(
        [(p, float(w), instrument, t) for p, w, t in rows], columns=["patient_id", "week", "instrument", "total"]
    )


def test_response_at_exactly_50_percent():
    t = _totals(
        [
            ("P1", 0, 20),
            ("P1", 8, 10),  # (20 - 10) / 20 = 50.0% -> response
            ("P2", 0, 20),
            ("P2", 8, 10.5),
        ]
    )  # (20 - 10.5) / 20 = 47.5% -> no response
    out = endpoint_outcomes(t, instrument="HAMD17", week=8).set_index("patient_id")
    assert out.loc["P1", "pct_change"] == 50.0 and out.loc["P1", "response"] == 1.0
    assert out.loc["P2", "pct_change"] == 47.5 and out.loc["P2", "response"] == 0.0


def test_remission_cutoffs():
    t = _totals([("P1", 0, 20), ("P1", 8, 7), ("P2", 0, 20), ("P2", 8, 8)])
    out = endpoint_outcomes(t, instrument="HAMD17", week=8).set_index("patient_id")
    assert out["remission"].tolist() == [1.0, 0.0]  # HAMD-17 <= 7
    q = _totals([("P1", 0, 15), ("P1", 8, 5), ("P2", 0, 15), ("P2", 8, 6)], "QIDS_SR16")
    out = endpoint_outcomes(q, instrument="QIDS_SR16", week=8).set_index("patient_id")
    assert out["remission"].tolist() == [1.0, 0.0]  # QIDS-SR16 <= 5
    i = _totals([("P1", 0, 40), ("P1", 8, 13), ("P2", 0, 40), ("P2", 8, 14)], "IDS_SR30")
    assert endpoint_outcomes(i, instrument="IDS_SR30", week=8)["remission"].tolist() == [1.0, 0.0]  # <= 13


def test_visit_window():
    t = _totals(
        [
            ("P1", 0, 20),
            ("P1", 10, 6),  # +2 weeks: inside
            ("P2", 0, 20),
            ("P2", 6, 6),  # -2 weeks: inside
            ("P3", 0, 20),
            ("P3", 10.5, 6),  # +2.5 weeks: outside
            ("P4", 0, 20),
            ("P4", 6, 15),
            ("P4", 10, 5),  # tie: the later visit
            ("P5", 0, 20),
            ("P5", 7, 15),
            ("P5", 9.5, 5),
        ]
    )  # closest wins
    out = endpoint_outcomes(t, instrument="HAMD17", week=8).set_index("patient_id")
    assert out["endpoint_week"].tolist()[:2] == [10.0, 6.0]
    assert math.isnan(out.loc["P3", "endpoint_score"]) and math.isnan(out.loc["P3", "response"])
    assert out.loc["P3", "endpoint_status"] == "no HAMD17 total within 2 weeks of week 8"
    assert (out.loc["P4", "endpoint_week"], out.loc["P4", "endpoint_score"]) == (10.0, 5.0)
    assert (out.loc["P5", "endpoint_week"], out.loc["P5", "endpoint_score"]) == (7.0, 15.0)
    assert (out["endpoint_status"] == "ok").tolist() == [True, True, False, True, True]


def test_endpoint_status_reasons():
    t = pd.concat(
        [
            _totals(
                [
                    ("P1", 8, 5),  # no baseline
                    ("P2", 0, 0),
                    ("P2", 8, 0),  # baseline 0: % change undefined
                    ("P3", 0, 20),
                ]
            ),  # no follow-up
            _totals([("P4", 0, 10), ("P4", 8, 2)], "QIDS_SR16"),
        ]
    )  # other instrument only
    out = endpoint_outcomes(t, instrument="HAMD17", week=8).set_index("patient_id")
    assert out["endpoint_status"].to_dict() == {
        "P1": "no HAMD17 total at week 0",
        "P2": "HAMD17 baseline total is 0",
        "P3": "no HAMD17 total within 2 weeks of week 8",
        "P4": "no HAMD17 total at week 0",
    }
    assert out["response"].isna().all() and out["pct_change"].isna().all()


def test_endpoint_skips_a_visit_without_total():
    t = _totals([("P1", 0, 20), ("P1", 8, np.nan), ("P1", 9, 6)])
    row = endpoint_outcomes(t, instrument="HAMD17", week=8).iloc[0]
    # the week-9 total is inside the window: (20 - 6) / 20 = 70% -> response
    assert (row["endpoint_week"], row["endpoint_score"], row["response"]) == (9.0, 6.0, 1.0)
    assert row["endpoint_status"] == "ok"


# --------------------------------------------------------------------------- treatment history

TREAT_COLS = [
    "patient_id",
    "episode",
    "trial",
    "modality",
    "agent",
    "dose_mg_day",
    "duration_weeks",
    "sessions",
    "outcome",
    "baseline_score",
    "end_score",
    "prospective",
]


def _treatments(rows):
    t = pd.DataFrame(rows, columns=TREAT_COLS)
    t["episode"] = t["episode"].astype("Int64")
    t["trial"] = t["trial"].astype("Int64")
    t["prospective"] = t["prospective"].astype("boolean")
    return t


NA = np.nan
HISTORY = _treatments(
    [
        ("P1", 1, 1, "medication", "sertraline", 100, 8.0, NA, "nonresponse", NA, NA, False),  # previous episode
        ("P1", 2, 1, "medication", "fluoxetine", 20, 3.0, NA, "nonresponse", NA, NA, False),  # < 4 weeks
        ("P1", 2, 2, "medication", "venlafaxine", 150, 4.0, NA, "nonresponse", NA, NA, False),  # counted (4 weeks)
        ("P1", 2, 3, "medication", "mirtazapine", 30, 6.0, NA, None, 20.0, 16.0, False),  # 20% < 25%: counted
        ("P1", 2, 4, "medication", "duloxetine", 60, 6.0, NA, None, 20.0, 15.0, False),  # exactly 25%: not
        ("P1", 2, 5, "psychotherapy", "cbt", NA, 12.0, 10, "nonresponse", NA, NA, False),  # 10 sessions: counted
        ("P1", 2, 6, "augmentation", "quetiapine", 150, 6.0, NA, "nonresponse", NA, NA, False),  # counted
        ("P1", 2, 7, "medication", "paroxetine", 10, 6.0, NA, "nonresponse", NA, NA, False),  # dose < 20 mg: not
        ("P1", 2, 8, "medication", "citalopram", NA, 6.0, NA, "nonresponse", NA, NA, False),  # no dose: uncertain
        ("P1", 2, 9, "medication", "escitalopram", 15, 8.0, NA, "nonresponse", 20.0, 19.0, True),  # prospective
        ("P2", 1, 1, "medication", "bupropion", 300, 8.0, NA, None, NA, NA, True),
        ("P3", 1, 1, "medication", "sertraline", 100, 8.0, NA, "partial", NA, NA, False),
        ("P3", 1, 2, "psychotherapy", "ipt", NA, 6.0, 6, "nonresponse", NA, NA, False),  # 6 sessions < 8
    ]
)


def test_treatment_summary_failed_trials():
    out = treatment_summary(HISTORY).set_index("patient_id")
    # P1: venlafaxine, mirtazapine, cbt and quetiapine = 4 failed; citalopram has no dose, so
    # its adequacy is unknown: uncertain, not counted; 8 non-index trials in episode 2
    assert out.loc["P1", ["n_failed_trials", "n_uncertain_failures", "n_trials_current_episode"]].tolist() == [4, 1, 8]
    assert out.loc["P2", ["n_failed_trials", "n_uncertain_failures", "n_trials_current_episode"]].tolist() == [0, 0, 0]
    assert out.loc["P3", ["n_failed_trials", "n_uncertain_failures", "n_trials_current_episode"]].tolist() == [0, 0, 2]


def test_treatment_summary_index_treatment():
    out = treatment_summary(HISTORY).set_index("patient_id")
    assert out.loc[
        "P1", ["index_agent", "index_class", "index_ssri_snri", "index_escitalopram_citalopram"]
    ].tolist() == ["escitalopram", "ssri", 1.0, 1.0]
    assert out.loc[
        "P2", ["index_agent", "index_class", "index_ssri_snri", "index_escitalopram_citalopram"]
    ].tolist() == ["bupropion", "ndri", 0.0, 0.0]
    # no prospective trial: index features missing, not 0
    assert pd.isna(out.loc["P3", "index_agent"]) and math.isnan(out.loc["P3", "index_ssri_snri"])


def test_treatment_summary_adequacy_parameters():
    out = treatment_summary(HISTORY, adequate_weeks=2.0).set_index("patient_id")
    assert out.loc["P1", "n_failed_trials"] == 4  # fluoxetine (3 weeks): still stopped before week 4
    out = treatment_summary(HISTORY, adequate_weeks=6.0).set_index("patient_id")
    assert out.loc["P1", "n_failed_trials"] == 3  # venlafaxine (4 weeks) is short of the ATRQ's 6
    out = treatment_summary(HISTORY, min_psychotherapy_sessions=12).set_index("patient_id")
    assert out.loc["P1", "n_failed_trials"] == 3  # cbt (10 sessions) no longer adequate
    out = treatment_summary(HISTORY, min_psychotherapy_sessions=6).set_index("patient_id")
    assert out.loc["P3", "n_failed_trials"] == 1  # ipt (6 sessions) now adequate


def test_treatment_summary_matches_trd_sforzini_count():
    """One failed-trial rule: the clinical count equals the trd stage's Sforzini count."""
    from stratify.clinical.adequacy import assess_trials
    from stratify.trd import sforzini_2021

    # the same adequacy options on both sides (treatment_summary's own default is 4 weeks)
    trials = assess_trials(HISTORY, min_weeks=4.0).merge(
        HISTORY[["patient_id", "episode", "trial", "sessions"]], on=["patient_id", "episode", "trial"]
    )
    pts = pd.DataFrame({"patient_id": ["P1", "P2", "P3"]})
    sf = sforzini_2021(trials, pts, count_psychotherapy=True).set_index("patient_id")
    out = treatment_summary(HISTORY).set_index("patient_id")
    # P1 has an uncertain trial but 4 certain failures, so Sforzini is determinate (TRD, 4).
    # Equal when Sforzini counts psychotherapy and every failed agent differs (as here); by
    # default Sforzini leaves the failed cbt out (docs/trd.md), n_failed_trials counts trials.
    assert sf["sforzini_2021_n_failed"].tolist() == out["n_failed_trials"].tolist() == [4, 0, 0]
    assert sforzini_2021(trials, pts)["sforzini_2021_n_failed"].tolist() == [3, 0, 0]


def test_treatment_summary_empty():
    out = treatment_summary(HISTORY.iloc[:0])
    assert len(out) == 0 and "n_failed_trials" in out.columns


def test_trial_after_index_is_not_a_prior_failure():
    t = _treatments(
        [
            ("P1", 1, 1, "medication", "sertraline", 100, 8.0, NA, "nonresponse", NA, NA, False),
            ("P1", 1, 2, "medication", "escitalopram", 15, 8.0, NA, None, 20.0, 18.0, True),
            ("P1", 1, 3, "medication", "venlafaxine", 150, 8.0, NA, "nonresponse", NA, NA, False),  # after the index
        ]
    )
    assert treatment_summary(t)["n_failed_trials"].tolist() == [1]


# --------------------------------------------------------------------------- biomarkers


def _bio(rows):
    return pd.DataFrame(rows, columns=["patient_id", "week", "marker", "value", "unit", "below_detection"])


def test_crp_unit_conversion():
    out = biomarker_values(
        _bio(
            [
                ("P1", 0.0, "crp", 0.25, "mg/dL", False),  # 0.25 x 10 = 2.5 mg/L
                ("P2", 0.0, "crp", 47.6, "nmol/L", False),  # 47.6 / 9.52 = 5.0 mg/L
                ("P3", 0.0, "crp", 4.0, "mg/L", False),
            ]
        )
    ).set_index("patient_id")
    assert out.loc["P1", "crp_mg_l"] == pytest.approx(2.5)
    assert out.loc["P2", "crp_mg_l"] == pytest.approx(5.0, rel=1e-5)
    assert out.loc["P3", "crp_mg_l"] == 4.0
    assert out.loc["P1", "log_crp"] == pytest.approx(math.log(2.5))


def test_other_unit_conversions():
    out = biomarker_values(
        _bio(
            [
                ("P1", 0.0, "waist", 40.0, "in", False),  # 40 x 2.54 = 101.6 cm
                ("P1", 0.0, "glucose", 90.0, "mg/dL", False),  # 90 x 0.05551 = 4.9959 mmol/L
            ]
        )
    ).iloc[0]
    assert out["waist"] == pytest.approx(101.6) and out["glucose"] == pytest.approx(4.9959)


def test_below_detection_kept_at_the_limit():
    out = biomarker_values(
        _bio([("P1", 0.0, "crp", 0.2, "mg/L", True), ("P2", 0.0, "crp", 0.03, "mg/dL", True)])
    ).set_index("patient_id")
    assert out.loc["P1", "crp_mg_l"] == 0.2 and bool(out.loc["P1", "crp_below_detection"])
    assert out.loc["P2", "crp_mg_l"] == pytest.approx(0.3)  # the limit 0.03 mg/dL = 0.3 mg/L
    assert out.loc["P1", "log_crp"] == pytest.approx(math.log(0.2))  # neither 0 nor dropped


def test_acute_crp_flagged_and_excluded():
    out = biomarker_values(
        _bio(
            [
                ("P1", 0.0, "crp", 10.0, "mg/L", False),
                ("P2", 0.0, "crp", 10.5, "mg/L", False),
                ("P3", 0.0, "crp", 1.2, "mg/dL", False),
            ]
        )
    ).set_index("patient_id")
    assert out["crp_acute"].tolist() == [False, True, True]  # > 10 mg/L; 1.2 mg/dL = 12 mg/L
    assert out.loc["P1", "log_crp"] == pytest.approx(math.log(10.0))
    assert out[["log_crp"]].iloc[1:].isna().all().all()
    assert out.loc["P2", "crp_mg_l"] == 10.5  # the value itself is kept
    # a different threshold from the config
    strict = biomarker_values(_bio([("P1", 0.0, "crp", 6.0, "mg/L", False)]), crp_acute_mg_l=5.0)
    assert bool(strict["crp_acute"].iloc[0]) and math.isnan(strict["log_crp"].iloc[0])


def test_crp_bands():
    vals = [1.0, 1.01, 3.0, 3.01]
    out = biomarker_values(_bio([(f"P{i}", 0.0, "crp", v, "mg/L", False) for i, v in enumerate(vals)]))
    assert out["crp_band"].tolist() == ["<=1", "1-3", "1-3", ">3"]


def test_baseline_is_the_visit_closest_to_week_0():
    out = biomarker_values(
        _bio(
            [
                ("P1", 8.0, "crp", 9.0, "mg/L", False),
                ("P1", 0.5, "crp", 2.0, "mg/L", False),
                ("P1", 4.0, "crp", 5.0, "mg/L", False),
            ]
        )
    )
    assert out["crp_mg_l"].tolist() == [2.0]


def test_nesda_strata_boundaries():
    crp = pd.Series([1.0, 1.0001, 3.0, 3.01, 0.5, np.nan, 2.0])
    aes = pd.Series([3, 4, 5, 6, np.nan, 6, 0])
    assert nesda_strata(crp, aes).tolist()[:4] == [
        "CRP<=1 & AES<=3",
        "CRP1-3 & AES4-5",
        "CRP1-3 & AES4-5",
        "CRP>3 & AES>=6",
    ]
    out = nesda_strata(crp, aes)
    assert pd.isna(out[4]) and pd.isna(out[5])  # either part missing -> no stratum
    assert out[6] == "CRP1-3 & AES<=3"


def test_immune_metabolic_indices_hand_worked():
    e = math.e
    bio = pd.DataFrame(
        {
            "patient_id": ["A", "B", "C"],
            "log_crp": [0.0, 1.0, 2.0],
            "il6": [np.nan] * 3,
            "waist": [1.0, e, e**2],
            "triglycerides": [1.0, e, e**2],
            "hdl": [1.0, e, e**2],
            "glucose": [np.nan, np.nan, np.nan],
        }
    )
    out = immune_metabolic_indices(bio)
    # log values 0, 1, 2: mean 1, sd (ddof 1) 1 -> z -1, 0, 1; IL-6 absent -> index = z(log CRP)
    assert out["inflammatory_index"].tolist() == pytest.approx([-1.0, 0.0, 1.0])
    # metabolic: mean of z(waist), z(tg), -z(hdl) = (z + z - z) / 3 = z / 3
    assert out["metabolic_index"].tolist() == pytest.approx([-1 / 3, 0.0, 1 / 3])


def test_metabolic_index_needs_two_components():
    bio = pd.DataFrame(
        {
            "patient_id": ["A", "B", "C"],
            "log_crp": [0.0, 1.0, 2.0],
            "il6": [1.0, 2.0, 3.0],
            "waist": [80.0, 90.0, 100.0],
            "triglycerides": [1.0, np.nan, 2.0],
            "hdl": [np.nan] * 3,
            "glucose": [np.nan] * 3,
        }
    )
    out = immune_metabolic_indices(bio)
    assert out["metabolic_index"].notna().tolist() == [True, False, True]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_zero_crp_does_not_break_the_inflammatory_index():
    bio = biomarker_values(
        _bio(
            [
                ("A", 0.0, "crp", 0.0, "mg/L", False),
                ("B", 0.0, "crp", 1.0, "mg/L", False),
                ("C", 0.0, "crp", math.e, "mg/L", False),
                ("D", 0.0, "crp", math.e**2, "mg/L", False),
            ]
        )
    )
    out = immune_metabolic_indices(bio).set_index("patient_id")
    # B, C, D have log CRP 0, 1, 2 -> their indices are ordered by CRP and not missing
    idx = out.loc[["B", "C", "D"], "inflammatory_index"]
    assert idx.notna().all() and idx.is_monotonic_increasing


# --------------------------------------------------------------------------- the stage on the fixture cohort


def _fixture_config(tmp_path, **extra):
    inputs = {}
    for name in ("patients", "symptoms", "treatments", "biomarkers"):
        shutil.copy(DATA / f"{name}.tsv", tmp_path / f"{name}.tsv")
        inputs[name] = str(tmp_path / f"{name}.tsv")
    return validate_config(
        {
            "cohort": "fixture",
            "genome_build": "GRCh38",
            "inputs": inputs,
            "endpoint": {"instrument": "HAMD17", "week": 8},
            **extra,
        }
    )


def test_clinical_tables_on_fixture(tmp_path):
    cfg = _fixture_config(tmp_path)
    tables, _ = validate_inputs(cfg["inputs"], **validate_options(cfg))
    res = clinical_tables(tables, **clinical_options(cfg))
    p = res["patients"].set_index("patient_id")
    assert len(res["scores"]) == 4  # P1 and P2 at two visits each
    # see tests/data/inputs/README.md for the arithmetic
    assert p.loc["P1", ["baseline_severity", "endpoint_score", "pct_change", "response", "remission"]].tolist() == [
        20.0,
        10.0,
        50.0,
        1.0,
        0.0,
    ]
    assert p.loc[
        "P2", ["baseline_severity", "endpoint_week", "endpoint_score", "pct_change", "response", "remission"]
    ].tolist() == [20.0, 9.0, 7.0, 65.0, 1.0, 1.0]
    assert p["endpoint_status"].to_dict() == {"P1": "ok", "P2": "ok", "P3": "no symptom scores"}
    assert p.loc["P1", "anxiety_somatization"] == 6.0
    assert p.loc["P1", "n_failed_trials"] == 1 and p.loc["P2", "n_failed_trials"] == 1
    assert p.loc["P1", "trd_2plus_failures"] == 0.0 and math.isnan(p.loc["P3", "trd_2plus_failures"])
    assert p.loc["P1", "index_agent"] == "escitalopram" and p.loc["P2", "index_class"] == "ndri"
    assert p["crp_mg_l"].tolist() == pytest.approx([0.2, 2.5, 5.0], rel=1e-5)
    assert p["crp_below_detection"].tolist() == [True, False, False]
    assert p["crp_band"].tolist() == ["<=1", "1-3", ">3"]
    assert p["sex_female"].tolist() == [1.0, 0.0, 1.0]
    assert p["nesda_stratum"].isna().all()  # no IDS-SR30, so no AES


def test_clinical_tables_without_optional_tables(tmp_path):
    cfg = _fixture_config(tmp_path)
    del cfg["inputs"]["treatments"], cfg["inputs"]["biomarkers"]
    tables, _ = validate_inputs(cfg["inputs"], **validate_options(cfg))
    p = clinical_tables(tables, **clinical_options(cfg))["patients"]
    assert "crp_mg_l" not in p.columns and "nesda_stratum" not in p.columns
    assert p["n_failed_trials"].isna().all()
    assert p["response"].tolist()[:2] == [1.0, 1.0]


def test_clinical_tables_keeps_declared_covariates(tmp_path):
    cfg = _fixture_config(tmp_path, patient_covariates=["smoker"])
    p = Path(cfg["inputs"]["patients"])
    lines = p.read_text().splitlines()
    p.write_text("\n".join([lines[0] + "\tsmoker", lines[1] + "\t1", lines[2] + "\t0", lines[3] + "\t1"]) + "\n")
    tables, _ = validate_inputs(cfg["inputs"], **validate_options(cfg))
    out = clinical_tables(tables, **clinical_options(copy.deepcopy(cfg)))["patients"]
    assert out["smoker"].tolist() == [1.0, 0.0, 1.0]


def test_madrs_and_phq9_totals_and_item_ranges():
    from stratify.inputs.validate import check_symptom_items

    s = pd.DataFrame(
        {
            "patient_id": "P1",
            "week": 0.0,
            "instrument": ["MADRS"] * 10 + ["PHQ9"] * 9,
            "item": list(range(1, 11)) + list(range(1, 10)),
            "score": [6, 5, 4, 3, 2, 1, 0, 6, 5, 4] + [3, 2, 1, 0, 3, 2, 1, 0, 3],
        }
    )
    check_symptom_items(s, path="s.tsv")
    tot = instrument_totals(s).set_index("instrument")["total"]
    assert tot["MADRS"] == 36.0  # 6+5+4+3+2+1+0+6+5+4
    assert tot["PHQ9"] == 15.0  # 3+2+1+0+3+2+1+0+3
    bad = s.copy()
    bad.loc[10, "score"] = 4  # PHQ-9 items are 0-3
    with pytest.raises(InputError, match=r"s.tsv, line 12, column 'score': expected a score 0-3 for PHQ9 item 1"):
        check_symptom_items(bad, path="s.tsv")


def _crp_rows(rows):
    return pd.DataFrame(rows, columns=["patient_id", "week", "marker", "value", "unit", "below_detection"])


def test_acute_crp_policies():
    b = _crp_rows(
        [
            ("A", 0.0, "crp", 25.0, "mg/L", False),
            ("A", 4.0, "crp", 2.0, "mg/L", False),
            ("B", 0.0, "crp", 30.0, "mg/L", False),
            ("C", 0.0, "crp", 1.0, "mg/L", False),
        ]
    )
    ex = biomarker_values(b, crp_acute_policy="exclude").set_index("patient_id")
    assert ex.loc["A", "crp_mg_l"] == 25.0 and bool(ex.loc["A", "crp_acute"]) and np.isnan(ex.loc["A", "log_crp"])
    keep = biomarker_values(b, crp_acute_policy="keep").set_index("patient_id")
    assert keep.loc["A", "log_crp"] == pytest.approx(math.log(25.0)) and bool(keep.loc["A", "crp_acute"])
    other = biomarker_values(b, crp_acute_policy="other_visit").set_index("patient_id")
    # A has a non-acute visit at week 4: used; B has none: excluded; C unaffected
    assert other.loc["A", "crp_mg_l"] == 2.0 and other.loc["A", "crp_visit"] == 4.0
    assert other.loc["A", "log_crp"] == pytest.approx(math.log(2.0))
    assert np.isnan(other.loc["B", "log_crp"]) and bool(other.loc["B", "crp_acute"])
    assert other.loc["C", "log_crp"] == pytest.approx(0.0)


def test_dimensions_from_the_config_add_and_override(tmp_path):
    cfg = _fixture_config(
        tmp_path,
        clinical={
            "dimensions": {
                "sleep": {"instrument": "HAMD17", "items": [4, 5, 6]},
                "anhedonia": {"instrument": "HAMD17", "items": [7]},
            }
        },
    )
    tables, _ = validate_inputs(cfg["inputs"], **validate_options(cfg))
    p = clinical_tables(tables, **clinical_options(cfg))["patients"].set_index("patient_id")
    s = split_symptoms(tables["symptoms"])[0]  # the validated table keeps item as text ("1".."30", "total")
    base = s[(s["week"] == 0) & (s["instrument"] == "HAMD17")].set_index(["patient_id", "item"])["score"]
    checked = 0
    for pid in p.index:
        if all((pid, i) in base.index for i in (4, 5, 6, 7)):
            assert p.loc[pid, "sleep"] == sum(base[(pid, i)] for i in (4, 5, 6))
            assert p.loc[pid, "anhedonia"] == base[(pid, 7)]  # the default (IDS items) is replaced
            checked += 1
    assert checked >= 1
    assert "aes" in p.columns  # other defaults stay


def test_dimension_item_not_on_the_instrument_is_a_config_error(tmp_path):
    from stratify.errors import ConfigError

    with pytest.raises(
        ConfigError,
        match=r"key clinical.dimensions.energy.items: PHQ9 has no item 12; its items "
        r"are 1-9",
    ):
        _fixture_config(tmp_path, clinical={"dimensions": {"energy": {"instrument": "PHQ9", "items": [4, 12]}}})


# --------------------------------------------------------------------------- cross-instrument harmonisation


def _site_totals():
    t = pd.concat(
        [
            _totals([("P1", 0, 20), ("P1", 8, 8)]),  # HAMD-17 site
            _totals([("P2", 0, 14), ("P2", 8, 5)], instrument="QIDS_SR16"),  # QIDS-SR16 site
            _totals([("P3", 0, 22)]),
            _totals([("P3", 8, 4)], instrument="QIDS_SR16"),  # HAMD baseline only
        ],
        ignore_index=True,
    )
    return t.assign(n_units=0, n_missing=0, prorated=False, status="ok")


def test_endpoint_from_a_converted_instrument_is_marked():
    from stratify.clinical.scores import harmonised_endpoint_totals

    t = harmonised_endpoint_totals(_site_totals(), instrument="HAMD17", harmonise={"from": ["QIDS_SR16"]})
    out = endpoint_outcomes(t, instrument="HAMD17", week=8).set_index("patient_id")
    # P2: QIDS 14 -> HAMD 18.5 (18-19), QIDS 5 -> HAMD 7 (Rush 2003 table): (18.5 - 7) / 18.5 = 62.2%
    assert out.loc["P2", "baseline_severity"] == 18.5 and out.loc["P2", "endpoint_score"] == 7.0
    assert out.loc["P2", "pct_change"] == pytest.approx(100 * 11.5 / 18.5)
    assert (out.loc["P2", "response"], out.loc["P2", "remission"]) == (1.0, 1.0)  # HAMD <= 7
    assert out.loc["P2", "endpoint_converted_from"] == "QIDS_SR16"
    assert "Rush" in out.loc["P2", "endpoint_conversion_source"]
    # P1 is native; P3 has its own HAMD-17 baseline, so its QIDS follow-up is not mixed in
    assert out.loc["P1", "endpoint_converted_from"] == "" and out.loc["P1", "response"] == 1.0
    assert out.loc["P3", "endpoint_converted_from"] == ""
    assert out.loc["P3", "endpoint_status"] == "no HAMD17 total within 2 weeks of week 8"


def test_without_harmonisation_the_other_site_has_no_endpoint():
    from stratify.clinical.scores import harmonised_endpoint_totals

    t = harmonised_endpoint_totals(_site_totals(), instrument="HAMD17", harmonise=None)
    out = endpoint_outcomes(t, instrument="HAMD17", week=8).set_index("patient_id")
    assert out.loc["P2", "endpoint_status"] == "no HAMD17 total at week 0"
    assert math.isnan(out.loc["P2", "response"])


def test_a_user_linking_table_converts_madrs(tmp_path):
    from stratify.clinical.scores import harmonised_endpoint_totals

    # a made-up MADRS -> HAMD-17 table for the test: MADRS m -> HAMD floor(m * 52 / 60)
    rows = [f"{m}\t{m * 52 // 60}\t{m * 52 // 60}" for m in range(61)]
    path = tmp_path / "madrs_hamd.tsv"
    path.write_text("from_score\tto_low\tto_high\n" + "\n".join(rows) + "\n")
    links = [{"from": "MADRS", "to": "HAMD17", "path": str(path), "source": "test table"}]
    t = _totals([("P9", 0, 30), ("P9", 8, 12)], instrument="MADRS").assign(
        n_units=10, n_missing=0, prorated=False, status="ok"
    )
    h = harmonised_endpoint_totals(t, instrument="HAMD17", harmonise={"from": ["MADRS"], "links": links})
    out = endpoint_outcomes(h, instrument="HAMD17", week=8).iloc[0]
    assert (out["baseline_severity"], out["endpoint_score"]) == (26.0, 10.0)
    assert (out["endpoint_converted_from"], out["endpoint_conversion_source"]) == ("MADRS", "test table")


def test_harmonise_config_needs_a_table_for_each_instrument():
    from stratify.errors import ConfigError

    base = {
        "cohort": "x",
        "genome_build": "GRCh38",
        "inputs": {"patients": "p.tsv", "symptoms": "s.tsv"},
        "endpoint": {"instrument": "HAMD17", "week": 8},
    }
    validate_config({**base, "clinical": {"harmonise": {"from": ["QIDS_SR16"]}}})  # shipped table
    with pytest.raises(
        ConfigError,
        match=r"clinical.harmonise.from: no linking table from MADRS to HAMD17 "
        r"\(the endpoint instrument\); shipped: HAMD17->QIDS_SR16, "
        r"QIDS_SR16->HAMD17; add one under clinical.harmonise.links",
    ):
        validate_config({**base, "clinical": {"harmonise": {"from": ["MADRS"]}}})
    with pytest.raises(ConfigError, match="HAMD17 is the endpoint instrument itself"):
        validate_config({**base, "clinical": {"harmonise": {"from": ["HAMD17"]}}})


# --------------------------------------------------------------------------- total-only visits


def _total_only_cohort():
    """P1: HAMD17 items at weeks 0 and 8; P2: only HAMD17 totals (a registry export)."""
    items = [
        ("P1", w, "HAMD17", i, s)
        for w, scores in ((0.0, [2] * 10 + [0] * 7), (8.0, [1] * 5 + [0] * 12))
        for i, s in enumerate(scores, start=1)
    ]
    totals = [("P2", 0.0, "HAMD17", "total", 24.0), ("P2", 8.0, "HAMD17", "total", 6.0)]
    return pd.DataFrame(items + totals, columns=["patient_id", "week", "instrument", "item", "score"])


def test_total_only_visits_give_totals_response_remission_and_pct_change():
    s = _total_only_cohort()
    t = instrument_totals(s)
    p2 = t[t["patient_id"] == "P2"]
    assert p2["total"].tolist() == [24.0, 6.0] and p2["total_only"].all() and (p2["status"] == "ok").all()
    assert not t.loc[t["patient_id"] == "P1", "total_only"].any()
    e = endpoint_outcomes(t, instrument="HAMD17", week=8).set_index("patient_id")
    assert e.loc["P2", ["baseline_severity", "endpoint_score", "pct_change", "response", "remission"]].tolist() == [
        24.0,
        6.0,
        75.0,
        1.0,
        1.0,
    ]
    assert e.loc["P1", ["baseline_severity", "endpoint_score", "pct_change"]].tolist() == [20.0, 5.0, 75.0]


def test_total_only_baseline_leaves_dimensions_missing_with_the_reason():
    d = dimension_scores(_total_only_cohort()).set_index("patient_id")
    assert d.loc["P2", ["anhedonia", "aes", "anxiety_somatization"]].isna().all()
    assert d.loc["P2", "dimensions_status"] == "total-only"
    assert d.loc["P1", "anxiety_somatization"] == pytest.approx(2 + 0 + 0 + 0 + 0 + 0)  # items 10 (2), 11-13, 15, 17
    # P1 has HAMD17 items but no IDS-SR30 (anhedonia, aes): a different reason, never "total-only"
    assert d.loc["P1", "dimensions_status"] == "no baseline items"


def test_total_row_beside_items_is_not_counted_twice():
    s = _total_only_cohort()
    extra = pd.DataFrame([("P1", 0.0, "HAMD17", "total", 20.0)], columns=s.columns)
    t = instrument_totals(pd.concat([s, extra], ignore_index=True))
    p1 = t[(t["patient_id"] == "P1") & (t["week"] == 0)]
    assert len(p1) == 1 and p1["total"].item() == 20.0 and not p1["total_only"].item()


def test_clinical_counts_report_total_only_patients_and_missing_dimensions(tmp_path):
    cfg = _fixture_config(tmp_path)
    with open(cfg["inputs"]["symptoms"], "a") as fh:
        fh.write("P3\t0\tHAMD17\ttotal\t22\nP3\t8\tHAMD17\ttotal\t10\n")
    tables, _ = validate_inputs(cfg["inputs"], **validate_options(cfg))
    res = clinical_tables(tables, **clinical_options(cfg))
    p = res["patients"].set_index("patient_id")
    assert p.loc["P3", "dimensions_status"] == "total-only" and p.loc["P3", "n_total_only_visits"] == 2
    assert p.loc["P3", "endpoint_status"] == "ok" and p.loc["P3", "pct_change"] == pytest.approx(100 * 12 / 22)
    counts = clinical_counts(res["scores"], res["patients"])
    assert counts["total_only_visits"] == 2 and counts["total_only_patients"] == 1
    assert counts["dimensions_missing"]["total-only"] == 1


def test_endpoint_instrument_absent_from_the_cohort_is_said_plainly():
    t = instrument_totals(_total_only_cohort())
    e = endpoint_outcomes(t, instrument="MADRS", week=8)
    assert set(e["endpoint_status"]) == {
        "the symptoms table has no MADRS scores (it has HAMD17); set "
        "endpoint.instrument to one of them, or convert with clinical.harmonise"
    }
