"""Markowitz et al. 2022: TRD needs failed medication trials *and* a failed evidence-based psychotherapy.

Checked against sources: Markowitz et al. 2022, Am J Psychiatry,
doi:10.1176/appi.ajp.2021.21050535: the argument that TRD definitions should include
psychotherapy, naming CBT and IPT (introduction read). **Not verified**: the exact proposal
(>= 2 prospective medication trials AND >= 1 evidence-based psychotherapy trial of 9-16
sessions by a trained therapist); encoded as facts.md states it, with "prospective" read
from the data model (a measured outcome) and the evidence-based list in resources/.

Conventions shared with the other definitions: :mod:`stratify.trd.common`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stratify.errors import InputError
from stratify.io.paths import read_reference_tsv, resource_dir
from stratify.trd.common import (
    BIPOLAR_REASON,
    PHARMACOLOGICAL,
    agent_key,
    distinct,
    psychotherapy_failures,
    repeats,
    stage_patients,
    uncertain_reason,
)

__all__ = ["PSYCHOTHERAPY_TABLE", "load_psychotherapies", "markowitz_2022", "markowitz_binary"]

#: Psychotherapies Markowitz et al. 2022 accept as evidence-based (resources/SOURCES.md).
PSYCHOTHERAPY_TABLE = "evidence_based_psychotherapies.tsv"


def load_psychotherapies(path: str | Path | None = None) -> pd.DataFrame:
    """The psychotherapy table, ``resources/evidence_based_psychotherapies.tsv`` by default.

    Columns ``agent`` (the canonical code of resources/synonyms.tsv: cbt, ipt, ba,
    supportive), ``name``, ``evidence_based`` (yes/no), ``source``, ``notes``. Sources are in
    resources/SOURCES.md ("Evidence-based psychotherapies").

    Examples
    --------
    >>> sorted(load_psychotherapies().query("evidence_based == 'yes'")["agent"])
    ['ba', 'cbt', 'ipt']
    """
    path = Path(path) if path is not None else resource_dir() / PSYCHOTHERAPY_TABLE
    table = read_reference_tsv(
        path, ["agent", "evidence_based"], error=InputError, expected="agent, name, evidence_based, source, notes"
    )
    bad = table.loc[~table["evidence_based"].isin(["yes", "no"]), "evidence_based"]
    if len(bad):
        raise InputError(
            f"{path}, row {bad.index[0] + 2}, column 'evidence_based': {bad.iloc[0]!r}; expected yes or no"
        )
    table["agent"] = table["agent"].str.strip().str.lower()
    return table


def _trial_columns(t: pd.DataFrame, min_sessions: int) -> dict[str, pd.Series]:
    pharm = t["modality"].isin(PHARMACOLOGICAL)
    measured = (
        pd.to_numeric(t["pct_change"], errors="coerce").notna()
        if "pct_change" in t.columns
        else pd.Series(False, index=t.index)
    )
    observed = t["prospective"].fillna(False).astype(bool) | measured
    listed = load_psychotherapies()
    ebp = set(listed.loc[listed["evidence_based"] == "yes", "agent"])
    agent = agent_key(t)
    psy_fail, psy_unc = psychotherapy_failures(t, min_sessions)
    is_ebp = agent.isin(ebp)
    return {
        "med_fail": t["failed"] & pharm & observed,
        "med_unc": t["uncertain"] & pharm & observed,
        "recalled": t["failed"] & pharm & ~observed,
        "agent": agent,
        "psy_fail": psy_fail & is_ebp,
        "psy_unc": psy_unc & is_ebp,
        "psy_other": (psy_fail | psy_unc) & ~is_ebp,
    }


def _rule(tr: dict[str, list], _own: dict, *, min_sessions: int) -> tuple:
    """One patient's call and reason."""
    agents, med_f, med_u, psy_f, psy_u = tr["agent"], tr["med_fail"], tr["med_unc"], tr["psy_fail"], tr["psy_unc"]

    def trd(med, psy):
        return distinct(agents, med) >= 2 and any(psy)

    lo = trd(med_f, psy_f)
    hi = trd([f or u for f, u in zip(med_f, med_u)], [f or u for f, u in zip(psy_f, psy_u)])
    if lo != hi:
        return pd.NA, uncertain_reason(sum(med_u) + sum(psy_u))
    n_med = distinct(agents, med_f)
    recalled = len({a for a, f in zip(agents, tr["recalled"]) if f} - {a for a, f in zip(agents, med_f) if f})
    other = sorted({a for a, o in zip(agents, tr["psy_other"]) if o})
    return lo, (
        f"{'TRD' if lo else 'not TRD'}: {n_med} different failed adequate "
        f"medication trial(s) observed prospectively (2 needed)"
        + (f"; {recalled} more with a recalled outcome only (not prospective)" if recalled else "")
        + f", {sum(psy_f)} failed evidence-based psychotherapy of >= "
        f"{min_sessions} sessions (1 needed)"
        + (f"; not evidence-based: {', '.join(other)}" if other else "")
        + repeats(agents, med_f)
    )


def markowitz_2022(
    trials: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    min_psychotherapy_sessions: int = 9,
    include_prospective: bool = False,
) -> pd.DataFrame:
    """TRD yes/no as proposed by Markowitz et al. 2022.

    Source: Markowitz JC, Wright JH, Peeters F, Thase ME, Kocsis JH, Sudak DM, "The
    neglected role of psychotherapy for treatment-resistant depression", Am J Psychiatry
    2022;179:90-93, doi:10.1176/appi.ajp.2021.21050535 (introduction read: TRD definitions
    should include psychotherapy; time-limited CBT and IPT "and others" treat major
    depression. The numeric rule below is from facts.md section 2, not verified against the
    text).

    Rule: TRD when, in the current episode, there are

    * >= 2 different failed adequate antidepressant medication trials observed
      *prospectively* (``modality`` medication or augmentation; the input's ``failed``;
      one agent is one trial, as for Sforzini). The treatments table marks one trial per
      patient ``prospective`` (the index trial); a history trial counts as prospectively
      observed when its outcome was measured, i.e. it has a ``pct_change`` (from baseline
      and end scores or given as a percentage), rather than only a recalled ``outcome``.
      The index trial itself enters only with ``include_prospective=True``. AND
    * >= 1 failed adequate *evidence-based* psychotherapy: the agent is marked
      ``evidence_based`` yes in resources/evidence_based_psychotherapies.tsv (cbt, ipt, ba;
      supportive therapy and unlisted therapies do not count), with at least
      ``min_psychotherapy_sessions`` attended sessions (default 9, the lower end of the
      proposed 9-16; more is still adequate) and the input's ``adequate`` not False.
      Failure = ``outcome_class`` nonresponse. The therapist's training is not in the input.

    The optional failed combined trial is not required. Uncertain trials (unknown adequacy,
    unknown sessions) make the call NA where they could change it. Bipolar -> NA.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``markowitz_2022`` (nullable boolean), ``markowitz_2022_reason``.

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": "P1", "episode": 1, "trial": [1, 2, 3],
    ...     "modality": ["medication", "medication", "psychotherapy"],
    ...     "agent": ["sertraline", "venlafaxine", "cbt"],
    ...     "drug_class": ["ssri", "snri", "psychotherapy"], "current_episode": True,
    ...     "prospective": False, "adequate": True, "outcome_class": "nonresponse",
    ...     "failed": True, "failed_or_partial": True, "sessions": [pd.NA, pd.NA, 12],
    ...     "pct_change": [10.0, 5.0, None]})
    >>> print(markowitz_2022(t, pd.DataFrame({"patient_id": ["P1"]}))["markowitz_2022"].item())
    True
    >>> t["pct_change"] = None  # outcomes recalled, not measured: not prospective
    >>> print(markowitz_2022(t, pd.DataFrame({"patient_id": ["P1"]}))["markowitz_2022"].item())
    False
    """
    n = min_psychotherapy_sessions
    return stage_patients(
        trials,
        patients,
        lambda tr, own: _rule(tr, own, min_sessions=n),
        include_prospective=include_prospective,
        trial_columns=lambda t: _trial_columns(t, n),
        columns=["markowitz_2022", "markowitz_2022_reason"],
        bipolar=(pd.NA, BIPOLAR_REASON),
        dtypes={"markowitz_2022": "boolean"},
    )


def markowitz_binary(staging: pd.DataFrame) -> pd.Series:
    """The yes/no TRD call: the call as it is."""
    return staging["markowitz_2022"].astype("boolean")
