"""Sforzini et al. 2021: TRD, PRD or response by Delphi consensus (and our PK variant).

Checked against the source (2025 look-up; quotations paraphrased): Sforzini et al. 2021,
Mol Psychiatry, doi:10.1038/s41380-021-01381-x, Table 1 (PMC9095475): strong consensus rec. 3
(TRD = at least two failed treatments with < 25% improvement at adequate dose and duration),
rec. 10 (stopping before the end of week 4 without clear non-response is not a failure), rec.
12 (a failed structured psychotherapy is not an exclusion), rec. 15 (all specifiers except
bipolar depression). A citing paper reports moderate consensus that neurostimulation (ECT)
may count among the two treatments. The paper's text on whether a failed psychotherapy is one
of the two was not readable: by default it is not (Table 1 only says it does not exclude);
``count_psychotherapy`` gives the other reading. Two trials of one agent are one treatment.
**Not verified**: the PRD band of 25-50% reduction (the paper defines PRD; the numbers were
not seen in the text read) and the preference for prospective over retrospective
confirmation of non-response (facts.md marks it "verify"; not found) - hence the prospective
trial counts like any other when included.

Conventions shared with the other definitions: :mod:`stratify.trd.common`.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from stratify.trd.common import (
    BIPOLAR_REASON,
    agent_key,
    bounded,
    distinct,
    repeats,
    stage_patients,
    uncertain_reason,
)

__all__ = ["SFORZINI_COUNTED", "sforzini_2021", "sforzini_binary", "sforzini_pk_variant"]

#: Modalities whose failure Sforzini et al. 2021 count towards the two failed treatments by
#: default: antidepressant medication and augmentation (rec. 3, "previous antidepressant
#: treatments"), neurostimulation (a moderate consensus that the two may include it, as a
#: citing paper reports) and (es)ketamine (an antidepressant medication). Psychotherapy is
#: counted only with ``count_psychotherapy`` (see :func:`sforzini_2021`); "other" never.
SFORZINI_COUNTED = frozenset({"medication", "augmentation", "ECT", "rTMS", "esketamine", "ketamine"})
SFORZINI_PSYCHOTHERAPY_NOTE = (
    " (Sforzini rec. 12: a failed psychotherapy does not exclude, it is not "
    "one of the two failed treatments; clinical.sforzini_count_psychotherapy)"
)


def _trial_columns(t: pd.DataFrame, counted_modalities: frozenset) -> dict[str, pd.Series]:
    pk_col = t["possible_pk_nonresponse"] if "possible_pk_nonresponse" in t.columns else pd.Series(False, index=t.index)
    return {
        "failed": t["failed"],
        "uncertain": t["uncertain"],
        "pk": pk_col.astype(bool),
        "prospective": t["prospective"].fillna(False).astype(bool),
        "counted": t["modality"].isin(counted_modalities),
        "modality": t["modality"],
        "agent": agent_key(t),
        "adequate": t["adequate"].fillna(False).astype(bool),
        "outcome_class": t["outcome_class"],
    }


def _notes(tr: dict[str, list], fail: list, unc: list, exclude_pk: bool) -> tuple[list, list, str]:
    """The failures and uncertain trials that count, and the reason's notes on those that do not."""
    cnt = tr["counted"]
    # failures of modalities that do not count (psychotherapy by default, "other") are named only
    skipped = Counter(m for m, f, c in zip(tr["modality"], tr["failed"], cnt) if f and not c)
    note = ""
    if exclude_pk:
        pk = tr["pk"]
        n_pk = sum(f and k for f, k in zip(fail, pk)) + sum(u and k for u, k in zip(unc, pk))
        fail = [f and not k for f, k in zip(fail, pk)]
        unc = [u and not k for u, k in zip(unc, pk)]
        note = (
            f"; {n_pk} failure(s) flagged possible PK non-response not counted"
            if n_pk
            else "; no failure flagged possible PK non-response"
        )
    note = (
        repeats(tr["agent"], fail)
        + "".join(
            f"; {n} failed {m} course(s) not counted" + (SFORZINI_PSYCHOTHERAPY_NOTE if m == "psychotherapy" else "")
            for m, n in skipped.items()
        )
        + note
    )
    return fail, unc, note


def _rule(tr: dict[str, list], _own: dict, *, exclude_pk: bool) -> tuple:
    """One patient's category, reason and number of different failed treatments."""
    cnt, agents = tr["counted"], tr["agent"]
    fail = [f and c for f, c in zip(tr["failed"], cnt)]
    unc = [u and c for u, c in zip(tr["uncertain"], cnt)]
    fail, unc, note = _notes(tr, fail, unc, exclude_pk)
    lo, hi, _ = bounded(lambda flags: distinct(agents, flags), fail, unc)
    failed_agents = list(dict.fromkeys(a for a, f in zip(agents, fail) if f))
    n_pro = distinct(agents, [f and q for f, q in zip(fail, tr["prospective"])])
    adequate_outcomes = {o for a_, o, c in zip(tr["adequate"], tr["outcome_class"], cnt) if a_ and c}
    if lo >= 2:
        return (
            "TRD",
            f"{lo} different failed adequate treatments (< 25% reduction) in "
            f"the current episode ({', '.join(failed_agents)}; {n_pro} prospective){note}",
            lo,
        )
    if hi >= 2:
        return "not evaluable", uncertain_reason(sum(unc)) + note, pd.NA
    if "partial" in adequate_outcomes:
        return ("PRD", f"25-50% reduction on an adequate treatment, {lo} failed adequate treatment(s){note}", lo)
    if "response" in adequate_outcomes:
        return ("responder", f">= 50% reduction on an adequate treatment, {lo} failed adequate treatment(s){note}", lo)
    return (
        "not TRD",
        f"{lo} different failed adequate treatment(s), fewer than "
        f"the 2 TRD needs; no adequate trial with partial or full response{note}",
        lo,
    )


def _sforzini(trials, patients, *, include_prospective, exclude_pk, name, count_psychotherapy):
    counted = SFORZINI_COUNTED | ({"psychotherapy"} if count_psychotherapy else set())
    return stage_patients(
        trials,
        patients,
        lambda tr, own: _rule(tr, own, exclude_pk=exclude_pk),
        include_prospective=include_prospective,
        trial_columns=lambda t: _trial_columns(t, counted),
        columns=[name, f"{name}_reason", f"{name}_n_failed"],
        bipolar=("not evaluable", BIPOLAR_REASON, pd.NA),
        dtypes={f"{name}_n_failed": "Int64"},
    )


def sforzini_2021(
    trials: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    include_prospective: bool = False,
    count_psychotherapy: bool = False,
) -> pd.DataFrame:
    """TRD, PRD or response by the Delphi consensus of Sforzini et al. 2021.

    Source: Sforzini L et al., "A Delphi-method-based consensus guideline for definition of
    treatment-resistant depression for clinical trials", Mol Psychiatry 2022;27:1286-1299,
    doi:10.1038/s41380-021-01381-x, Table 1 (recommendations 3, 10, 12, 15 verified; the
    25-50% PRD band and the preference for prospective confirmation were not verified; the
    recommendation text on whether a failed psychotherapy is one of the two treatments was
    not found beyond rec. 12, see docs/trd.md).

    Rule, per patient, over current-episode trials (:mod:`stratify.trd.common` conventions):

    1. ``diagnosis`` bipolar -> "not evaluable" (rec. 15).
    2. >= 2 *different* failed adequate treatments (< 25% reduction) -> "TRD" (rec. 3).
       Treatments are counted by agent: two failed sertraline trials are one treatment,
       and a second trial of the same agent at a higher dose is the same treatment (the
       treatments table records the highest dose reached per trial; the consensus speaks
       of two failed *treatments*, the King's College news release of "two different
       types of antidepressants"). Counted modalities (:data:`SFORZINI_COUNTED`):
       medication, augmentation, ECT, rTMS, esketamine, ketamine. A failed psychotherapy
       does not exclude (rec. 12) but is not one of the two unless ``count_psychotherapy``
       is True (config ``clinical.sforzini_count_psychotherapy``; each psychotherapy, e.g.
       ``cbt``, is then one treatment). A trial stopped before the end of week 4 is not a
       failure (rec. 10; in ``adequate``, see :mod:`stratify.clinical.adequacy`).
    3. Otherwise, if uncertain trials could make it 2 -> "not evaluable".
    4. Otherwise an adequate counted trial with 25-50% reduction (``outcome_class``
       partial) -> "PRD"; else one with >= 50% reduction -> "responder"; else "not TRD"
       (0 or 1 failed treatment and no response recorded).

    The prospective trial: left out by default (see module notes); with
    ``include_prospective=True`` it counts as one treatment like any retrospective one, and
    the reason says how many failures were prospective.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``sforzini_2021`` (TRD / PRD / responder / not TRD / not
        evaluable), ``sforzini_2021_reason``, ``sforzini_2021_n_failed`` (different failed
        treatments).

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": "P1", "episode": 1, "trial": [1, 2],
    ...     "modality": "medication", "agent": ["sertraline", "citalopram"],
    ...     "drug_class": "ssri", "current_episode": True, "prospective": False,
    ...     "adequate": True, "outcome_class": "nonresponse", "failed": True,
    ...     "failed_or_partial": True, "sessions": pd.NA})
    >>> sforzini_2021(t, pd.DataFrame({"patient_id": ["P1"]}))["sforzini_2021"].item()
    'TRD'
    >>> t["agent"] = "sertraline"  # the same agent twice is one treatment
    >>> sforzini_2021(t, pd.DataFrame({"patient_id": ["P1"]}))["sforzini_2021"].item()
    'not TRD'
    """
    return _sforzini(
        trials,
        patients,
        include_prospective=include_prospective,
        exclude_pk=False,
        name="sforzini_2021",
        count_psychotherapy=count_psychotherapy,
    )


def sforzini_pk_variant(
    trials: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    include_prospective: bool = False,
    count_psychotherapy: bool = False,
) -> pd.DataFrame:
    """Sforzini et al. 2021 with possible pharmacokinetic non-response not counted.

    Same rule as :func:`sforzini_2021`, except that a failed (or uncertain) trial with
    ``possible_pk_nonresponse`` True - the PGx stage's flag that the patient's metaboliser
    status may have kept the drug below its effective exposure - is not counted as an
    adequate failure (pseudo-resistance: the dose was adequate on paper, not necessarily in
    the patient). Without that column the result equals :func:`sforzini_2021` and the
    reason says no failure was flagged. This variant is ours, not a published definition.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``sforzini_pk``, ``sforzini_pk_reason``, ``sforzini_pk_n_failed``.

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": "P1", "episode": 1, "trial": [1, 2],
    ...     "modality": "medication", "agent": ["sertraline", "citalopram"],
    ...     "drug_class": "ssri", "current_episode": True, "prospective": False,
    ...     "adequate": True, "outcome_class": "nonresponse", "failed": True,
    ...     "failed_or_partial": True, "sessions": pd.NA,
    ...     "possible_pk_nonresponse": [True, False]})
    >>> sforzini_pk_variant(t, pd.DataFrame({"patient_id": ["P1"]}))["sforzini_pk"].item()
    'not TRD'
    """
    return _sforzini(
        trials,
        patients,
        include_prospective=include_prospective,
        exclude_pk=True,
        name="sforzini_pk",
        count_psychotherapy=count_psychotherapy,
    )


def sforzini_binary(cat: pd.Series) -> pd.Series:
    """The yes/no TRD call of a Sforzini category: TRD; "not evaluable" -> NA."""
    return cat.eq("TRD").astype("boolean").mask(cat.eq("not evaluable"))
