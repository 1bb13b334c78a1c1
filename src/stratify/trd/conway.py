"""Conway, George & Sackeim 2017: stages 0-2 counting failed medication and psychotherapy.

Checked against sources: the paper is JAMA Psychiatry 74(1):9-10 (title and citation
checked). **Not verified**: its stage rules and the 8-session psychotherapy minimum (the text
was not available); encoded as facts.md states them.

Conventions shared with the other definitions: :mod:`stratify.trd.common`.
"""

from __future__ import annotations

import pandas as pd

from stratify.trd.common import (
    BIPOLAR_REASON,
    PHARMACOLOGICAL,
    bounded,
    psychotherapy_failures,
    stage_patients,
    uncertain_reason,
)

__all__ = ["conway_2017", "conway_binary"]


def _conway_stage(fail: list, cls: list) -> int:
    n = sum(fail)
    if len({c for c, f in zip(cls, fail) if f and c is not None}) < 2:
        return 0
    return 2 if n >= 3 else 1


def _trial_columns(t: pd.DataFrame, min_sessions: int) -> dict[str, pd.Series]:
    pharm = t["modality"].isin(PHARMACOLOGICAL)
    psy_fail, psy_unc = psychotherapy_failures(t, min_sessions)
    cls = t["drug_class"].where(t["modality"] != "psychotherapy", "psychotherapy")
    return {
        "fail": (t["failed"] & pharm) | psy_fail,
        "unc": (t["uncertain"] & pharm) | psy_unc,
        "cls": cls.where(cls != "unknown"),
    }


def _rule(tr: dict[str, list], _own: dict, *, min_sessions: int) -> tuple:
    """One patient's stage and reason."""
    fail, unc, cls_ = tr["fail"], tr["unc"], tr["cls"]
    lo, hi, ok = bounded(lambda f: _conway_stage(f, cls_), fail, unc)
    if not ok:
        return pd.NA, uncertain_reason(sum(unc))
    classes = sorted({c for c, f in zip(cls_, fail) if f and c is not None})
    return lo, (
        f"stage {lo}: {sum(fail)} failed adequate antidepressant or "
        f"psychotherapy trial(s), classes {', '.join(classes) if classes else 'none'} "
        f"(psychotherapy adequate from {min_sessions} sessions)"
    )


def conway_2017(
    trials: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    min_psychotherapy_sessions: int = 8,
    include_prospective: bool = False,
) -> pd.DataFrame:
    """Stage 0-2 by Conway, George & Sackeim 2017.

    Source: Conway CR, George MS, Sackeim HA, "Toward an evidence-based, operational
    definition of treatment-resistant depression: when enough is enough", JAMA Psychiatry
    2017;74(1):9-10 (citation verified; the rule below is from facts.md, not verified
    against the text).

    Rule, over failed adequate trials of the current episode that are either
    pharmacological (``modality`` medication or augmentation, the input's ``failed``) or
    psychotherapy (non-response after >= ``min_psychotherapy_sessions`` attended sessions,
    default 8, and not ruled inadequate by the input):

    * stage 1: failures from >= 2 different classes (``drug_class``; every psychotherapy is
      one class, "psychotherapy"; an unknown class cannot be the second class);
    * stage 2: stage 1 and a third failure (of any class);
    * stage 0: otherwise (including two failures of the same class).

    ECT, rTMS and (es)ketamine do not count. The input does not record the psychotherapy's
    type, so any psychotherapy with enough sessions is taken as evidence-based (CBT, IPT).
    Bipolar -> NA.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``conway_2017`` (Int64 0-2), ``conway_2017_reason``.

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": "P1", "episode": 1, "trial": [1, 2],
    ...     "modality": ["medication", "psychotherapy"], "agent": ["sertraline", "CBT"],
    ...     "drug_class": ["ssri", "psychotherapy"], "current_episode": True,
    ...     "prospective": False, "adequate": True, "outcome_class": "nonresponse",
    ...     "failed": True, "failed_or_partial": True, "sessions": [pd.NA, 12]})
    >>> print(conway_2017(t, pd.DataFrame({"patient_id": ["P1"]}))["conway_2017"].item())
    1
    """
    n = min_psychotherapy_sessions
    return stage_patients(
        trials,
        patients,
        lambda tr, own: _rule(tr, own, min_sessions=n),
        include_prospective=include_prospective,
        trial_columns=lambda t: _trial_columns(t, n),
        columns=["conway_2017", "conway_2017_reason"],
        bipolar=(pd.NA, BIPOLAR_REASON),
        dtypes={"conway_2017": "Int64"},
    )


def conway_binary(staging: pd.DataFrame) -> pd.Series:
    """The yes/no TRD call: stage >= 1."""
    return (staging["conway_2017"] >= 1).astype("boolean")
