"""Thase & Rush 1997: stages 0-V of antidepressant non-response.

Checked against sources: the stages, the class list (TCA, MAOI, SSRI, SNRI, other), and that
augmentation is not part of the model come from a secondary summary (medicalalgorithms.com,
"Treatment-resistant depression strategies", citing Fava 2003). The 1997 chapter itself was
not read.

Conventions shared with the other definitions: :mod:`stratify.trd.common`.
"""

from __future__ import annotations

import pandas as pd

from stratify.trd.common import (
    BIPOLAR_REASON,
    bounded,
    stage_patients,
    uncertain_reason,
)

__all__ = ["THASE_RUSH_CLASS", "thase_rush_1997", "thase_rush_binary"]

#: Thase & Rush's five classes; newer agents fall in "other" as in the source's list.
THASE_RUSH_CLASS = {
    "ssri": "SSRI",
    "snri": "SNRI",
    "tca": "TCA",
    "maoi": "MAOI",
    "ndri": "other",
    "nassa": "other",
    "sari": "other",
    "multimodal": "other",
    "melatonergic": "other",
}
ROMAN = ("0", "I", "II", "III", "IV", "V")


def _thase_rush_stage(classes: set, n_failed: int, ect_failed: bool) -> int:
    """Stage from the set of failed Thase-Rush classes; each step must be reached without its own class."""

    def ii(s):
        return len(s) >= 2

    def iii(s):
        return "TCA" in s and ii(s - {"TCA"})

    def iv(s):
        return "MAOI" in s and iii(s - {"MAOI"})

    if iv(classes):
        return 5 if ect_failed else 4
    if iii(classes):
        return 3
    if ii(classes):
        return 2
    return 1 if n_failed else 0


def _trial_columns(t: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        "failed": t["failed"],
        "uncertain": t["uncertain"],
        "med": t["modality"] == "medication",
        "ect": t["modality"] == "ECT",
        "cls": t["drug_class"].map(THASE_RUSH_CLASS),
    }


def _rule(tr: dict[str, list], _own: dict) -> tuple:
    """One patient's stage and reason."""
    fail_, med, ect, cls, unc = tr["failed"], tr["med"], tr["ect"], tr["cls"], tr["uncertain"]

    def stage(fail):
        f = [x and m for x, m in zip(fail, med)]
        return _thase_rush_stage(
            {c for c, x in zip(cls, f) if x and c is not None}, sum(f), any(x and e for x, e in zip(fail, ect))
        )

    lo, hi, ok = bounded(stage, fail_, unc)
    if not ok:
        return pd.NA, uncertain_reason(sum(unc))
    f = [x and m for x, m in zip(fail_, med)]
    failed_classes = sorted({c for c, x in zip(cls, f) if x and c is not None})
    n_unknown = sum(x and c is None for c, x in zip(cls, f))
    reason = (
        f"stage {ROMAN[lo]}: failed adequate antidepressant classes "
        f"{', '.join(failed_classes) if failed_classes else 'none'}"
    )
    if n_unknown:
        reason += f"; {n_unknown} failed trial(s) of unknown class"
    if lo == 5:
        reason += "; failed ECT assumed bilateral (laterality not recorded)"
    elif any(x and e for x, e in zip(fail_, ect)):
        reason += "; failed ECT does not count before stage IV"
    return lo, reason


def thase_rush_1997(trials: pd.DataFrame, patients: pd.DataFrame, *, include_prospective: bool = False) -> pd.DataFrame:
    """Thase & Rush 1997 stage 0-V.

    Source: Thase ME, Rush AJ, "When at first you don't succeed: sequential strategies for
    antidepressant nonresponders", J Clin Psychiatry 1997;58 Suppl 13:23-29; stages and
    classes checked against a secondary summary only (see module notes).

    Rule, over failed adequate *monotherapy antidepressant* trials (``modality`` medication)
    of the current episode, with classes TCA, MAOI, SSRI, SNRI and "other" (NDRI, NaSSA,
    SARI, multimodal, melatonergic: one class, as in the source's list):

    * 0: no failed adequate antidepressant trial (the source's "responder" stage);
    * I: >= 1 failed adequate trial (also when its class is unknown);
    * II: failures in >= 2 different classes;
    * III: a failed TCA, with II reached by the other failures (SSRI + TCA is II;
      SSRI + SNRI + TCA is III);
    * IV: a failed MAOI, with III reached by the other failures;
    * V: IV plus a failed adequate ECT course. ECT laterality is not recorded: every failed
      adequate ECT course is assumed to be the bilateral course the stage asks for, which
      over-stages patients whose only ECT was unilateral.

    Augmentation, psychotherapy, rTMS and ketamine do not enter the model. The source's
    "following" is read as "in addition to": the order of the trials is not used.
    Bipolar -> NA.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``thase_rush_1997`` (Int64 0-5, NA when not evaluable),
        ``thase_rush_1997_reason``.

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": "P1", "episode": 1, "trial": [1, 2],
    ...     "modality": "medication", "agent": ["sertraline", "citalopram"],
    ...     "drug_class": "ssri", "current_episode": True, "prospective": False,
    ...     "adequate": True, "outcome_class": "nonresponse", "failed": True,
    ...     "failed_or_partial": True, "sessions": pd.NA})
    >>> print(thase_rush_1997(t, pd.DataFrame({"patient_id": ["P1"]}))["thase_rush_1997"].item())
    1
    """
    return stage_patients(
        trials,
        patients,
        _rule,
        include_prospective=include_prospective,
        trial_columns=_trial_columns,
        columns=["thase_rush_1997", "thase_rush_1997_reason"],
        bipolar=(pd.NA, BIPOLAR_REASON),
        dtypes={"thase_rush_1997": "Int64"},
    )


def thase_rush_binary(staging: pd.DataFrame) -> pd.Series:
    """The yes/no TRD call: stage >= II."""
    return (staging["thase_rush_1997"] >= 2).astype("boolean")
