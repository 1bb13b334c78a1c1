"""The Maudsley Staging Method (MSM): a score 3-15 from duration, severity and treatment.

Checked against sources: Fekadu, Donocik & Cleare 2018, BMC Psychiatry 18:100, Table 3
(duration <=12 / 13-24 / >24 months = 1/2/3; severity subsyndromal, mild, moderate, severe
without psychosis, severe with psychosis = 1-5; total 3-15; mild 3-6, moderate 7-10, severe
11-15) and its abstract (severity by CGI, PSR or a diagnostic checklist - not by a HAMD
cut-off). Treatment items (antidepressants 1-2/3-4/5-6/7-10/>10 = 1-5; augmentation used +1;
ECT used +1): secondary summary only (psychiatryeducationforum.com); Fekadu et al. 2009
itself was not read. HAMD-17 bands: Zimmerman et al. 2013, J Affect Disord 150:384-388
(abstract: optimal cut-offs 17 for mild vs moderate and 24 for moderate vs severe); the
subsyndromal band (<= 7) is the HAMD-17 remission cut-off (facts.md section 2), our choice.

Conventions shared with the other definitions: :mod:`stratify.trd.common`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from stratify.trd.common import (
    ANTIDEPRESSANT_CLASSES,
    BIPOLAR_REASON,
    bounded,
    flag,
    stage_patients,
    uncertain_reason,
)

__all__ = ["HAMD17_SEVERITY", "MSM_BANDS", "maudsley_staging", "msm_binary"]

#: HAMD-17 upper bounds of the MSM severity levels 1-4 (Zimmerman et al. 2013 for 17 and
#: 24; <= 7 is the remission cut-off). Psychotic features give level 5 whatever the total.
HAMD17_SEVERITY = (
    (7, 1, "subsyndromal"),
    (16, 2, "mild"),
    (23, 3, "moderate"),
    (math.inf, 4, "severe without psychosis"),
)
MSM_BANDS = ((6, "mild"), (10, "moderate"), (15, "severe"))
COLUMNS = [
    "msm_score",
    "msm_band",
    "msm_reason",
    "msm_duration",
    "msm_severity",
    "msm_treatment",
    "msm_augmentation",
    "msm_ect",
]


def _msm_treatment_score(n: int) -> int:
    """Failed antidepressants 1-2 / 3-4 / 5-6 / 7-10 / > 10 -> 1-5."""
    for upper, score in ((2, 1), (4, 2), (6, 3), (10, 4)):
        if n <= upper:
            return score
    return 5


def _msm_band(score: int) -> str:
    return next(name for upper, name in MSM_BANDS if score <= upper)


def _trial_columns(t: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        "failed": t["failed"],
        "uncertain": t["uncertain"],
        "ad": (t["modality"] == "medication") & t["drug_class"].isin(ANTIDEPRESSANT_CLASSES),
        "agent": t["agent"].astype("string").fillna("trial " + t["trial"].astype(str)),
        "aug": t["modality"] == "augmentation",
        "ect": t["modality"] == "ECT",
    }


def _patient_columns(p: pd.DataFrame) -> dict[str, pd.Series]:
    months = pd.to_numeric(p.get("episode_months", pd.Series(np.nan, index=p.index)), errors="coerce")
    hamd = pd.to_numeric(p.get("baseline_severity", pd.Series(np.nan, index=p.index)), errors="coerce")
    psych = (
        flag(p["psychotic_features"]).fillna(False)
        if "psychotic_features" in p.columns
        else pd.Series(False, index=p.index)
    )
    return {"months": months, "hamd": hamd, "psych": psych}


def _severity(h, ps) -> tuple:
    """The severity item and its name: psychotic features 5, else by the HAMD-17 total."""
    if ps:
        return 5, "severe with psychosis"
    if pd.isna(h):
        return pd.NA, None
    return next((s, w) for upper, s, w in HAMD17_SEVERITY if h <= upper)


def _rule(tr: dict[str, list], own: dict) -> tuple:
    """One patient's score, band, reason and items."""
    m, h, ps = own["months"], own["hamd"], own["psych"]
    ad, agent = tr["ad"], tr["agent"]
    lo, hi, ok = bounded(
        lambda fail: len({a_ for a_, f, d in zip(agent, fail, ad) if f and d}), tr["failed"], tr["uncertain"]
    )
    aug = int(any(tr["aug"]))
    ect = int(any(tr["ect"]))
    if lo != hi and _msm_treatment_score(max(lo, 1)) != _msm_treatment_score(max(hi, 1)) or (lo == 0) != (hi == 0):
        return (pd.NA, "not evaluable", uncertain_reason(sum(tr["uncertain"])), pd.NA, pd.NA, pd.NA, pd.NA, pd.NA)
    if lo == 0:
        return (
            pd.NA,
            "not staged",
            "no failed adequate antidepressant in the "
            "current episode: the MSM stages treatment failure from 1-2 failures",
            pd.NA,
            pd.NA,
            0,
            aug,
            ect,
        )
    treat = _msm_treatment_score(lo)
    dur = pd.NA if pd.isna(m) else (1 if m <= 12 else 2 if m <= 24 else 3)
    sev, sev_word = _severity(h, ps)
    missing = [c for c, v in (("episode_months", dur), ("baseline_severity", sev)) if pd.isna(v)]
    if missing:
        return (pd.NA, "not evaluable", f"not evaluable: no {' or '.join(missing)}", dur, sev, treat, aug, ect)
    score = dur + sev + treat + aug + ect
    reason = (
        f"duration {m:g} months = {dur}; severity {sev_word} = {sev}"
        + ("" if ps else f" (HAMD-17 {h:g})")
        + f"; {lo} failed antidepressant(s) = {treat}; augmentation {'+1' if aug else '0'}"
        f"; ECT {'+1' if ect else '0'}"
    )
    return score, _msm_band(score), reason, dur, sev, treat, aug, ect


def maudsley_staging(
    trials: pd.DataFrame, patients: pd.DataFrame, *, include_prospective: bool = False
) -> pd.DataFrame:
    """Maudsley Staging Method (MSM) score 3-15 and band.

    Sources: Fekadu A et al., J Clin Psychiatry 2009;70:177-184 (the method; not read);
    Fekadu A, Donocik JG, Cleare AJ, BMC Psychiatry 2018;18:100, Table 3 (duration,
    severity and band scoring verified); treatment items from a secondary summary.

    Rule, summing five items:

    * duration of the current episode, ``patients.episode_months``: <= 12 -> 1,
      13-24 -> 2 (any value above 12 and at most 24), > 24 -> 3;
    * severity: ``psychotic_features`` True -> 5 (severe with psychosis); otherwise from
      ``baseline_severity`` (HAMD-17): <= 7 subsyndromal 1, 8-16 mild 2, 17-23 moderate 3,
      >= 24 severe without psychosis 4 (Zimmerman et al. 2013 cut-offs 17 and 24; the
      MSM authors suggest CGI or a checklist instead, so this mapping is ours). A missing
      or absent ``psychotic_features`` is taken as no psychotic features;
    * failed antidepressants: distinct agents among failed adequate monotherapy
      antidepressant trials of the current episode, 1-2 / 3-4 / 5-6 / 7-10 / > 10 -> 1-5;
    * augmentation used (any current-episode ``modality`` augmentation trial, failed or
      not) -> +1;
    * ECT used (any current-episode ECT course) -> +1.

    Band: mild 3-6, moderate 7-10, severe 11-15. With no failed antidepressant there is no
    treatment resistance to stage: score NA, band "not staged". A missing
    ``episode_months`` or ``baseline_severity`` (without psychosis) gives NA with the
    missing input named. Bipolar -> NA.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``msm_score`` (Int64), ``msm_band``, ``msm_reason`` and the items
        ``msm_duration``, ``msm_severity``, ``msm_treatment``, ``msm_augmentation``,
        ``msm_ect``.

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": "P1", "episode": 1, "trial": [1, 2, 3],
    ...     "modality": ["medication", "medication", "augmentation"],
    ...     "agent": ["sertraline", "venlafaxine", "lithium"],
    ...     "drug_class": ["ssri", "snri", "augmentation_lithium"], "current_episode": True,
    ...     "prospective": False, "adequate": True, "outcome_class": "nonresponse",
    ...     "failed": True, "failed_or_partial": True, "sessions": pd.NA})
    >>> p = pd.DataFrame({"patient_id": ["P1"], "episode_months": [30],
    ...                   "baseline_severity": [25]})
    >>> print(*maudsley_staging(t, p)[["msm_score", "msm_band"]].iloc[0])
    9 moderate
    """
    return stage_patients(
        trials,
        patients,
        _rule,
        include_prospective=include_prospective,
        trial_columns=_trial_columns,
        patient_columns=_patient_columns,
        columns=COLUMNS,
        bipolar=(pd.NA, "not evaluable", BIPOLAR_REASON, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA),
        dtypes={c: "Int64" for c in COLUMNS if c not in ("msm_band", "msm_reason")},
    )


def msm_binary(staging: pd.DataFrame) -> pd.Series:
    """The yes/no TRD call: score >= 7 (moderate or severe); no failed antidepressant ("not
    staged") is no resistance, False; missing inputs are NA."""
    call = (staging["msm_score"] >= 7).astype("boolean")
    return call.mask(staging["msm_band"].eq("not staged"), False)
