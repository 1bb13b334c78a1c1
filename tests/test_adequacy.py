"""Treatment adequacy (stratify.clinical.adequacy): hand-worked trials, the dose table, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stratify.clinical.adequacy import DEFAULT_MIN_SESSIONS, OUTPUT_COLUMNS, assess_trials, load_doses
from stratify.config import load_resource
from stratify.errors import InputError

ANTIDEPRESSANT_CLASSES = {"ssri", "snri", "tca", "maoi", "ndri", "nassa", "sari", "multimodal", "melatonergic"}


def trial(**kw):
    """One trial row with neutral defaults: adequate-dose sertraline for 8 weeks, no scores."""
    row = {
        "patient_id": "P1",
        "episode": 1,
        "trial": 1,
        "modality": "medication",
        "agent": "sertraline",
        "dose_mg_day": 100.0,
        "duration_weeks": 8.0,
        "sessions": np.nan,
        "baseline_score": np.nan,
        "end_score": np.nan,
        "outcome": None,
        "prospective": False,
    }
    row.update(kw)
    return row


def one(**kw) -> pd.Series:
    return assess_trials(pd.DataFrame([trial(**kw)])).iloc[0]


def test_output_columns_and_one_row_per_trial():
    t = pd.DataFrame([trial(trial=1), trial(trial=2, prospective=True)])
    a = assess_trials(t)
    assert list(a.columns) == OUTPUT_COLUMNS
    assert len(a) == 2
    assert a["prospective"].tolist() == [False, True]


def test_three_week_trial_not_adequate_not_failed():
    # 20 -> 19 is 5%: non-response, but 3 weeks < 6 (ATRQ), and stopped before week 4 (Sforzini)
    r = one(duration_weeks=3.0, baseline_score=20, end_score=19)
    assert r["adequate_duration"] == False  # noqa: E712
    assert r["adequate"] == False  # noqa: E712
    assert r["outcome_class"] == "nonresponse"
    assert r["failed"] == False  # noqa: E712
    assert "duration 3 weeks < 6" in r["adequacy_reason"]


@pytest.mark.parametrize("weeks, adequate", [(4.0, False), (5.9, False), (6.0, True), (8.0, True)])
def test_adequate_duration_is_six_weeks_as_in_the_atrq(weeks, adequate):
    # Item 11: the minimum doses come from the ATRQ, whose adequate trial is >= 6 weeks at an
    # adequate dose; a 4-week trial (the old default) is too short, as its worked example says
    r = one(duration_weeks=weeks, baseline_score=20, end_score=19)
    assert r["adequate"] == adequate
    assert r["failed"] == adequate
    assert f"duration {weeks:g} weeks {'>=' if adequate else '<'} 6" in r["adequacy_reason"]


def test_study_minimum_below_four_weeks_keeps_sforzini_week_four_rule():
    # a study may count 2 weeks as adequate, but a trial stopped before the end of week 4 is
    # still no failure (Sforzini et al. 2021 rec. 10); from week 4 the study's minimum decides
    t = pd.DataFrame(
        [
            trial(trial=1, duration_weeks=3.0, baseline_score=20, end_score=19),
            trial(trial=2, duration_weeks=4.0, baseline_score=20, end_score=19),
            trial(trial=3, duration_weeks=1.0, baseline_score=20, end_score=19),
        ]
    )
    a = assess_trials(t, min_weeks=2.0)
    assert a["adequate"].tolist() == [False, True, False]
    assert a["failed"].tolist() == [False, True, False]
    assert (
        "stopped before the end of week 4, not a failure (Sforzini et al. 2021 rec. 10)" in a.loc[0, "adequacy_reason"]
    )
    assert a.loc[2, "adequacy_reason"].endswith("duration 1 weeks < 2")


def test_four_week_trial_is_long_enough_with_a_four_week_minimum():
    r = assess_trials(pd.DataFrame([trial(duration_weeks=4.0, baseline_score=20, end_score=19)]), min_weeks=4.0).iloc[0]
    assert r["adequate"] == True  # noqa: E712
    assert r["failed"] == True  # noqa: E712


def test_config_default_adequate_weeks_is_the_atrq_six():
    from stratify.clinical.adequacy import ATRQ_MIN_WEEKS, adequacy_options
    from stratify.config import validate_config

    assert ATRQ_MIN_WEEKS == 6.0
    assert adequacy_options({})["min_weeks"] == 6.0
    cfg = validate_config(
        {
            "cohort": "demo",
            "genome_build": "GRCh38",
            "inputs": {"patients": "p.tsv", "symptoms": "s.tsv"},
            "endpoint": {"instrument": "HAMD17", "week": 8},
        }
    )
    assert cfg["clinical"]["adequate_weeks"] == 6
    assert cfg["clinical"]["sforzini_count_psychotherapy"] is False


def test_sub_minimum_dose_not_adequate():
    # citalopram minimum 20 mg/day (ATRQ)
    r = one(agent="citalopram", dose_mg_day=10.0, baseline_score=20, end_score=19)
    assert r["adequate_dose"] == False  # noqa: E712
    assert r["adequate"] == False  # noqa: E712
    assert r["failed"] == False  # noqa: E712
    assert "dose 10 mg < minimum 20 mg (ATRQ)" in r["adequacy_reason"]


def test_minimum_dose_itself_is_adequate():
    r = one(agent="citalopram", dose_mg_day=20.0)
    assert r["adequate_dose"] == True  # noqa: E712


def test_missing_dose_gives_na_with_reason():
    r = one(dose_mg_day=np.nan, baseline_score=20, end_score=19)
    assert r["adequate_dose"] is pd.NA
    assert r["adequate"] is pd.NA
    assert "no dose recorded" in r["adequacy_reason"]
    assert r["failed"] == False  # noqa: E712


def test_short_trial_without_dose_is_not_adequate_rather_than_na():
    # Kleene AND: a known False criterion decides even when another is unknown
    r = one(dose_mg_day=np.nan, duration_weeks=2.0)
    assert r["adequate"] == False  # noqa: E712


def test_agent_without_sourced_minimum_gives_na():
    r = one(modality="augmentation", agent="lithium", dose_mg_day=800.0)
    assert r["adequate_dose"] is pd.NA
    assert r["adequate"] is pd.NA
    assert "no sourced minimum dose for 'lithium'" in r["adequacy_reason"]


def test_unknown_agent_class_and_na():
    r = one(modality="other", agent="hypericum", dose_mg_day=900.0)
    assert r["drug_class"] == "unknown"
    assert r["adequate"] is pd.NA
    assert "no minimum dose for 'hypericum'" in r["adequacy_reason"]


def test_combination_agent_class_and_na():
    r = one(modality="augmentation", agent="venlafaxine+aripiprazole", dose_mg_day=225.0)
    assert r["drug_class"] == "snri+augmentation_antipsychotic"
    assert r["adequate_dose"] is pd.NA


@pytest.mark.parametrize("sessions, adequate", [(8, True), (7, False)])
def test_cbt_sessions_against_minimum_eight(sessions, adequate):
    r = one(
        modality="psychotherapy",
        agent="cbt",
        dose_mg_day=np.nan,
        duration_weeks=2.0,
        sessions=sessions,
        outcome="nonresponse",
    )
    assert r["drug_class"] == "psychotherapy"
    assert r["adequate_sessions"] == adequate
    assert r["adequate"] == adequate
    # dose and duration do not apply to psychotherapy
    assert r["adequate_dose"] is pd.NA and r["adequate_duration"] is pd.NA
    assert r["adequacy_reason"] == f"{sessions} sessions {'>=' if adequate else '<'} 8"
    assert r["failed"] == adequate


def test_psychotherapy_minimum_is_configurable():
    t = pd.DataFrame([trial(modality="psychotherapy", agent="ipt", sessions=8)])
    assert assess_trials(t, min_psychotherapy_sessions=9)["adequate"].iloc[0] == False  # noqa: E712


def test_ect_and_rtms_use_session_defaults_and_overrides():
    t = pd.DataFrame(
        [
            trial(trial=1, modality="ECT", agent="ect", sessions=6, duration_weeks=2),
            trial(trial=2, modality="rTMS", agent="rtms", sessions=19, duration_weeks=4),
        ]
    )
    a = assess_trials(t)
    assert DEFAULT_MIN_SESSIONS["ECT"] == 6 and DEFAULT_MIN_SESSIONS["rTMS"] == 20
    assert a["adequate"].tolist() == [True, False]
    assert a["drug_class"].tolist() == ["ECT", "rTMS"]
    b = assess_trials(t, min_sessions={"ECT": 8, "rTMS": 15})
    assert b["adequate"].tolist() == [False, True]


@pytest.mark.parametrize(
    "end, pct, cls", [(16, 20.0, "nonresponse"), (12, 40.0, "partial"), (10, 50.0, "response"), (15, 25.0, "partial")]
)
def test_score_outcome_classes(end, pct, cls):
    r = one(baseline_score=20, end_score=end)
    assert r["pct_change"] == pytest.approx(pct)
    assert r["outcome_class"] == cls
    assert r["failed"] == (cls == "nonresponse")
    assert r["failed_or_partial"] == (cls in ("nonresponse", "partial"))


def test_scores_win_over_recorded_outcome():
    r = one(baseline_score=20, end_score=16, outcome="response")
    assert r["outcome_class"] == "nonresponse"


def test_recorded_outcome_used_without_scores():
    assert one(outcome="partial")["outcome_class"] == "partial"
    assert one()["outcome_class"] == "unknown"
    assert one(baseline_score=0, end_score=0, outcome="nonresponse")["outcome_class"] == "nonresponse"


def test_intolerance_is_not_failed():
    r = one(outcome="intolerance")
    assert r["outcome_class"] == "intolerance"
    assert r["adequate"] == True  # noqa: E712
    assert r["failed"] == False and r["failed_or_partial"] == False  # noqa: E712
    # and it wins over scores that would read as non-response
    assert one(outcome="intolerance", baseline_score=20, end_score=19)["outcome_class"] == "intolerance"


def test_previous_episode_not_current():
    t = pd.DataFrame([trial(episode=1, trial=1), trial(episode=2, trial=1), trial(patient_id="P2", episode=1, trial=1)])
    a = assess_trials(t)
    assert a["current_episode"].tolist() == [False, True, True]


def test_custom_dose_table():
    doses = pd.DataFrame({"agent": ["sertraline"], "min_daily_dose_mg": ["150"], "source": ["local"]})
    r = assess_trials(pd.DataFrame([trial(dose_mg_day=100.0)]), doses=doses).iloc[0]
    assert r["adequate_dose"] == False  # noqa: E712
    assert "dose 100 mg < minimum 150 mg (local)" in r["adequacy_reason"]


def test_every_antidepressant_in_drugs_yaml_has_a_dose():
    drugs = load_resource("drugs.yaml")
    d = load_doses().set_index("agent")
    for agent, cls in drugs.items():
        if cls in ANTIDEPRESSANT_CLASSES:
            assert agent in d.index, agent
            assert d.loc[agent, "min_daily_dose_mg"] > 0, agent


def test_every_dose_row_is_a_known_agent_with_its_class():
    drugs = load_resource("drugs.yaml")
    d = load_doses()
    assert len(d) == 38
    for row in d.to_dict("records"):
        agent = row["agent"]
        assert agent in drugs, agent
        assert row["class"] == drugs[agent], agent
        assert row["verified"] in ("yes", "no"), agent
        # an empty minimum is unsourced; a value always names its source
        assert (row["source"] == "none") == bool(np.isnan(row["min_daily_dose_mg"])), agent


@pytest.mark.parametrize(
    "change, message",
    [
        ({"modality": "pill"}, "patient P1, episode 1, trial 1: column 'modality' is 'pill'"),
        ({"outcome": "better"}, "patient P1, episode 1, trial 1: column 'outcome' is 'better'"),
        ({"dose_mg_day": -5.0}, "patient P1, episode 1, trial 1: column 'dose_mg_day' is -5.0"),
        ({"sessions": "many"}, "patient P1, episode 1, trial 1: column 'sessions' is 'many'"),
        ({"agent": ""}, "patient P1, episode 1, trial 1: column 'agent' is empty"),
        ({"episode": 0}, "patient P1, episode 0, trial 1: column 'episode' is 0"),
        ({"prospective": "yes"}, "patient P1, episode 1, trial 1: column 'prospective' is 'yes'"),
    ],
)
def test_bad_values_raise_with_record(change, message):
    with pytest.raises(InputError) as e:
        assess_trials(pd.DataFrame([trial(**change)]))
    assert message in str(e.value)


def test_missing_column_raises():
    t = pd.DataFrame([trial()]).drop(columns="duration_weeks")
    with pytest.raises(InputError, match="no column\\(s\\) 'duration_weeks'"):
        assess_trials(t)


def test_empty_patient_id_raises():
    with pytest.raises(InputError, match="column 'patient_id' is empty"):
        assess_trials(pd.DataFrame([trial(patient_id=None)]))


def test_duplicate_trial_raises():
    t = pd.DataFrame([trial(), trial()])
    with pytest.raises(InputError, match="patient P1, episode 1, trial 1: appears more than once"):
        assess_trials(t)


def test_bad_dose_table_raises():
    with pytest.raises(InputError, match="dose table: no column"):
        assess_trials(pd.DataFrame([trial()]), doses=pd.DataFrame({"agent": ["x"]}))
    dup = pd.DataFrame({"agent": ["x", "x"], "min_daily_dose_mg": ["1", "2"], "source": ["s", "s"]})
    with pytest.raises(InputError, match="agent 'x' appears more than once"):
        assess_trials(pd.DataFrame([trial()]), doses=dup)
    neg = pd.DataFrame({"agent": ["x"], "min_daily_dose_mg": ["-1"], "source": ["s"]})
    with pytest.raises(InputError, match="agent 'x', column 'min_daily_dose_mg'"):
        assess_trials(pd.DataFrame([trial()]), doses=neg)


def test_input_not_modified():
    t = pd.DataFrame([trial(agent="Sertraline")])
    before = t.copy()
    assess_trials(t)
    pd.testing.assert_frame_equal(t, before)


def test_remission_per_trial_follows_the_instrument_cut_off():
    rows = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P1", "P1"],
            "episode": 1,
            "trial": [1, 2, 3, 4],
            "modality": "medication",
            "agent": "sertraline",
            "dose_mg_day": 100.0,
            "duration_weeks": 8.0,
            "prospective": False,
            "outcome": None,
            "instrument": ["HAMD17", "HAMD17", "MADRS", None],
            "baseline_score": [20.0, 20.0, 30.0, 20.0],
            "end_score": [7.0, 8.0, 10.0, 5.0],
        }
    )
    rem = assess_trials(rows)["remission"].tolist()
    # HAMD-17 <= 7 remits, 8 does not; MADRS <= 10 remits; no instrument -> unknown
    assert rem[:3] == [True, False, True] and rem[3] is pd.NA


def test_the_first_bad_row_of_a_large_table_is_reported():
    """Rows are checked only where a vectorised pre-check cannot clear them (for 100,000
    patients); the error is still the first bad row's, with the message a row-by-row loop gave."""
    from stratify.simulate.cohort import simulate_cohort

    tr = simulate_cohort(300, seed=1)["tables"]["treatments"]
    assert tr["outcome"].isna().any()  # blank outcomes are allowed and must not be reported
    assert len(assess_trials(tr)) == len(tr)
    for col, val, expected in [
        ("dose_mg_day", -5.0, "column 'dose_mg_day' is -5.0; expected a number >= 0"),
        ("modality", "pill", "column 'modality' is 'pill'"),
        ("outcome", "better", "column 'outcome' is 'better'"),
        ("agent", "  ", "column 'agent' is empty"),
    ]:
        bad = tr.copy()
        bad.loc[[200, 500], col] = val
        r = bad.loc[200]
        with pytest.raises(
            InputError, match=f"patient {r['patient_id']}, episode {r['episode']}, trial {r['trial']}: {expected}"
        ):
            assess_trials(bad)
    bad = tr.copy()
    bad["trial"] = bad["trial"].astype(float)
    bad.loc[400, "trial"] = 2.5
    with pytest.raises(InputError, match="column 'trial' is 2.5; expected an integer >= 1"):
        assess_trials(bad)


# --------------------------------------------------------------------------- pct_change: a trial outcome as percent change


@pytest.mark.parametrize(
    "pct, expected",
    [
        (60.0, "response"),
        (50.0, "response"),
        (49.9, "partial"),
        (25.0, "partial"),
        (24.9, "nonresponse"),
        (-10.0, "nonresponse"),
    ],
)
def test_pct_change_without_scores_classifies_like_scores(pct, expected):
    r = one(pct_change=pct)
    assert r["outcome_class"] == expected and r["pct_change"] == pct
    assert r["failed"] == (expected == "nonresponse")


def test_pct_change_wins_over_a_recorded_outcome_like_scores_do():
    assert one(pct_change=10.0, outcome="response")["outcome_class"] == "nonresponse"
    assert one(pct_change=10.0, outcome="intolerance")["outcome_class"] == "intolerance"


def test_pct_change_agreeing_with_scores_within_a_point_is_accepted():
    r = one(baseline_score=20, end_score=13, pct_change=35.0)  # scores: 35%
    assert r["pct_change"] == pytest.approx(35.0) and r["outcome_class"] == "partial"
    assert one(baseline_score=30, end_score=20, pct_change=33.0)["pct_change"] == pytest.approx(100 / 3)


def test_pct_change_conflicting_with_scores_is_a_named_error():
    with pytest.raises(InputError) as e:
        one(baseline_score=20, end_score=8, pct_change=-60.0)  # change written as negative: the wrong sign
    assert str(e.value) == (
        "patient P1, episode 1, trial 1: pct_change -60 disagrees with baseline_score 20 and "
        "end_score 8 (a 60% reduction); pct_change is the percent reduction from baseline "
        "(positive = improvement): correct it or leave it blank"
    )


@pytest.mark.parametrize("value", [150.0, "lots", float("inf")])
def test_pct_change_out_of_range_is_a_named_error(value):
    with pytest.raises(InputError, match=r"column 'pct_change' is .*; expected the percent reduction from baseline"):
        one(pct_change=value)


def test_pct_change_counts_failures_in_clinical_and_trd():
    from stratify.clinical.scores import treatment_summary
    from stratify.trd import sforzini_2021

    t = pd.DataFrame(
        [
            trial(trial=1, pct_change=10.0),
            trial(trial=2, agent="venlafaxine", dose_mg_day=150.0, pct_change=20.0),
            trial(trial=3, pct_change=70.0, prospective=True),
        ]
    )
    assert treatment_summary(t)["n_failed_trials"].item() == 2
    staged = sforzini_2021(assess_trials(t).assign(sessions=np.nan), pd.DataFrame({"patient_id": ["P1"]}))
    assert staged["sforzini_2021_n_failed"].item() == 2 and staged["sforzini_2021"].item() == "TRD"
