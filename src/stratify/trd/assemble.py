"""The tables TRD staging reads, joined from earlier stages: each trial with its adequacy,
psychotherapy sessions and pharmacokinetic flag; each patient with the baseline severity."""

from __future__ import annotations

import pandas as pd

TRIAL_KEYS = ["patient_id", "episode", "trial"]


def trials_with_pk_flags(trials: pd.DataFrame, treatments: pd.DataFrame, guidance: pd.DataFrame) -> pd.DataFrame:
    """``trials`` (adequacy per trial) with the sessions of ``treatments`` and
    ``possible_pk_nonresponse`` (any gene's CPIC guidance for the trial flags it; False without guidance)."""
    keys = TRIAL_KEYS
    trials = trials.merge(treatments[keys + ["sessions"]], on=keys, how="left", validate="one_to_one")
    if len(guidance):
        g = guidance
        flags = (
            g.assign(possible_pk_nonresponse=g["possible_pk_nonresponse"].astype(bool))
            .groupby(keys)["possible_pk_nonresponse"]
            .any()
            .reset_index()
        )
        trials = trials.merge(flags, on=keys, how="left")
        trials["possible_pk_nonresponse"] = trials["possible_pk_nonresponse"].fillna(False).astype(bool)
    else:
        trials["possible_pk_nonresponse"] = False
    return trials


def patients_for_staging(patients: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The patient columns staging reads, with ``baseline_severity`` (HAMD-17 total at week 0)."""
    pts = patients[
        [c for c in ("patient_id", "diagnosis", "episode_months", "psychotic_features") if c in patients.columns]
    ].copy()
    hamd0 = scores[(scores["instrument"] == "HAMD17") & (scores["week"] == 0)].set_index("patient_id")["total"]
    pts["baseline_severity"] = pts["patient_id"].map(hamd0)
    return pts
