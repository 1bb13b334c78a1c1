"""Stage "trd": treatment-resistant depression by six published definitions, side by side.

Input is the per-trial table written by :func:`stratify.clinical.adequacy.assess_trials` (not
imported here: the contract is the column list in :data:`TRIAL_COLUMNS`) and the
per-patient table. Each definition is one function returning one row per patient with
its call and a ``*_reason`` column that says, in words, why; :func:`stage_all` puts them
side by side and :func:`concordance` measures how often the binary TRD calls agree.

Conventions shared by every definition (each docstring states what it adds):

* **Current episode only.** Trials with ``current_episode`` False are ignored.
* **The prospective trial.** By default (``include_prospective=False``) the staging
  describes the history *before* the prospective (index) trial: the prospective trial and
  any current-episode trial numbered after it are left out, as in
  :func:`stratify.clinical.scores.treatment_summary`. Counting the index trial's own outcome
  would make a baseline stratifier depend on the outcome it is meant to predict. With
  ``include_prospective=True`` the prospective trial counts exactly like a retrospective
  one (a prospectively observed failure is one failure, no more).
* **Failure** is the input's ``failed`` (adequate and < 25% reduction, ``outcome_class``
  "nonresponse"); adequacy, including "stopped before the end of week 4 without clear
  non-response is not a failure", is already in ``adequate``. A trial with unknown
  adequacy (``adequate`` NA) and a non-response outcome is *uncertain*: each call is
  computed with uncertain trials counted as failures and not counted; where the two
  differ the call is NA and the reason names the uncertain trials.
* **Bipolar depression** (``diagnosis`` "bipolar") is not evaluable by any definition:
  Sforzini et al. 2021 exclude it explicitly; the Maudsley Staging Method is a model of
  "unipolar depression" (Fekadu et al. 2018); Thase-Rush, Conway and Markowitz define
  resistance in major depressive disorder.

What was checked against sources (2025 look-up; quotations paraphrased):

* Sforzini et al. 2021, Mol Psychiatry, doi:10.1038/s41380-021-01381-x, Table 1 (PMC9095475):
  strong consensus rec. 3 (TRD = at least two failed treatments with < 25% improvement at
  adequate dose and duration), rec. 10 (stopping before the end of week 4 without clear
  non-response is not a failure), rec. 12 (a failed structured psychotherapy is not an
  exclusion), rec. 15 (all specifiers except bipolar depression). A citing paper reports
  moderate consensus that neurostimulation (ECT) may count among the two treatments. The
  paper's text on whether a failed psychotherapy is one of the two was not readable: by
  default it is not (Table 1 only says it does not exclude); ``count_psychotherapy``
  gives the other reading. Two trials of one agent are one treatment.
  **Not verified**: the PRD band of 25-50% reduction (the paper defines PRD; the numbers
  were not seen in the text read) and the preference for prospective over retrospective
  confirmation of non-response (facts.md marks it "verify"; not found) - hence the
  prospective trial counts like any other when included.
* Thase & Rush 1997 stages 0-V and the class list (TCA, MAOI, SSRI, SNRI, other), and
  that augmentation is not part of the model: secondary summary (medicalalgorithms.com,
  "Treatment-resistant depression strategies", citing Fava 2003). The 1997 chapter itself
  was not read.
* Maudsley Staging Method: Fekadu, Donocik & Cleare 2018, BMC Psychiatry 18:100, Table 3
  (duration <=12 / 13-24 / >24 months = 1/2/3; severity subsyndromal, mild, moderate,
  severe without psychosis, severe with psychosis = 1-5; total 3-15; mild 3-6, moderate
  7-10, severe 11-15) and its abstract (severity by CGI, PSR or a diagnostic checklist -
  not by a HAMD cut-off). Treatment items (antidepressants 1-2/3-4/5-6/7-10/>10 = 1-5;
  augmentation used +1; ECT used +1): secondary summary only
  (psychiatryeducationforum.com); Fekadu et al. 2009 itself was not read. HAMD-17 bands:
  Zimmerman et al. 2013, J Affect Disord 150:384-388 (abstract: optimal cut-offs 17 for
  mild vs moderate and 24 for moderate vs severe); the subsyndromal band (<= 7) is the
  HAMD-17 remission cut-off (facts.md section 2), our choice.
* Conway, George & Sackeim 2017 is JAMA Psychiatry 74(1):9-10 (title and citation
  checked). **Not verified**: its stage rules and the 8-session psychotherapy minimum
  (the text was not available); encoded as facts.md states them.
* Markowitz et al. 2022, Am J Psychiatry, doi:10.1176/appi.ajp.2021.21050535: the
  argument that TRD definitions should include psychotherapy, naming CBT and IPT
  (introduction read). **Not verified**: the exact proposal (>= 2 prospective medication
  trials AND >= 1 evidence-based psychotherapy trial of 9-16 sessions by a trained
  therapist); encoded as facts.md states it, with "prospective" read from the data model
  (a measured outcome) and the evidence-based list in resources/.

Examples
--------
>>> t = pd.DataFrame({"patient_id": "P1", "episode": 1, "trial": [1, 2],
...     "modality": "medication", "agent": ["sertraline", "venlafaxine"],
...     "drug_class": ["ssri", "snri"], "current_episode": True, "prospective": False,
...     "adequate": True, "outcome_class": "nonresponse", "failed": True,
...     "failed_or_partial": True, "sessions": pd.NA})
>>> p = pd.DataFrame({"patient_id": ["P1"], "diagnosis": ["MDD"], "episode_months": [18],
...                   "baseline_severity": [22]})
>>> s = stage_all(t, p)
>>> print(*s[["sforzini_2021", "thase_rush_1997", "msm_score", "markowitz_2022"]].iloc[0])
TRD 2 6 False
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from stratify.errors import InputError
from stratify.io.paths import read_reference_tsv, resource_dir

__all__ = [
    "TRIAL_COLUMNS", "sforzini_2021", "sforzini_pk_variant", "thase_rush_1997",
    "maudsley_staging", "conway_2017", "markowitz_2022", "stage_all", "concordance",
    "binary_calls", "trd_options", "load_psychotherapies",
]

#: Columns the per-trial table must have (``possible_pk_nonresponse`` is optional).
TRIAL_COLUMNS = ("patient_id", "episode", "trial", "modality", "agent", "drug_class",
                 "current_episode", "prospective", "adequate", "outcome_class", "failed",
                 "failed_or_partial", "sessions")
MODALITIES = frozenset({"medication", "augmentation", "psychotherapy", "ECT", "rTMS",
                        "esketamine", "ketamine", "other"})
OUTCOMES = frozenset({"response", "partial", "nonresponse", "intolerance", "unknown"})
#: Monotherapy antidepressant classes of the input vocabulary.
ANTIDEPRESSANT_CLASSES = frozenset({"ssri", "snri", "tca", "maoi", "ndri", "nassa", "sari",
                                    "multimodal", "melatonergic"})
#: Thase & Rush's five classes; newer agents fall in "other" as in the source's list.
THASE_RUSH_CLASS = {"ssri": "SSRI", "snri": "SNRI", "tca": "TCA", "maoi": "MAOI",
                    "ndri": "other", "nassa": "other", "sari": "other",
                    "multimodal": "other", "melatonergic": "other"}
ROMAN = ("0", "I", "II", "III", "IV", "V")
#: HAMD-17 upper bounds of the MSM severity levels 1-4 (Zimmerman et al. 2013 for 17 and
#: 24; <= 7 is the remission cut-off). Psychotic features give level 5 whatever the total.
HAMD17_SEVERITY = ((7, 1, "subsyndromal"), (16, 2, "mild"), (23, 3, "moderate"),
                   (math.inf, 4, "severe without psychosis"))
MSM_BANDS = ((6, "mild"), (10, "moderate"), (15, "severe"))
PHARMACOLOGICAL = frozenset({"medication", "augmentation"})
#: Modalities whose failure Sforzini et al. 2021 count towards the two failed treatments by
#: default: antidepressant medication and augmentation (rec. 3, "previous antidepressant
#: treatments"), neurostimulation (a moderate consensus that the two may include it, as a
#: citing paper reports) and (es)ketamine (an antidepressant medication). Psychotherapy is
#: counted only with ``count_psychotherapy`` (see :func:`sforzini_2021`); "other" never.
SFORZINI_COUNTED = frozenset({"medication", "augmentation", "ECT", "rTMS", "esketamine", "ketamine"})
SFORZINI_PSYCHOTHERAPY_NOTE = (" (Sforzini rec. 12: a failed psychotherapy does not exclude, it is not "
                               "one of the two failed treatments; clinical.sforzini_count_psychotherapy)")
#: Psychotherapies Markowitz et al. 2022 accept as evidence-based (resources/SOURCES.md).
PSYCHOTHERAPY_TABLE = "evidence_based_psychotherapies.tsv"


# ---------------------------------------------------------------------------- inputs
def _flag(s: pd.Series) -> pd.Series:
    """A nullable boolean column (True/False/NA) from bools, 0/1 or None."""
    return s.astype("boolean")


def _prepare(trials: pd.DataFrame, patients: pd.DataFrame, include_prospective: bool):
    """Checked copies: the trials that count (current episode, prospective rule) and patients."""
    missing = [c for c in TRIAL_COLUMNS if c not in trials.columns]
    if missing:
        raise InputError(f"trials: no column(s) {', '.join(repr(c) for c in missing)}; "
                         f"expected the columns written by assess_trials: {', '.join(TRIAL_COLUMNS)}")
    if "patient_id" not in patients.columns:
        raise InputError("patients: no column 'patient_id'; expected one row per patient")
    p = patients.copy()
    p["patient_id"] = p["patient_id"].astype(str)
    dup = p["patient_id"][p["patient_id"].duplicated()]
    if len(dup):
        raise InputError(f"patients: patient_id '{dup.iloc[0]}' appears more than once; "
                         "expected one row per patient")
    t = trials.copy()
    t["patient_id"] = t["patient_id"].astype(str)
    unknown = sorted(set(t["patient_id"]) - set(p["patient_id"]))
    if unknown:
        raise InputError(f"trials: patient_id '{unknown[0]}' is not in the patients table")
    for col, allowed in (("modality", MODALITIES), ("outcome_class", OUTCOMES)):
        bad = t.loc[~t[col].isin(allowed), col]
        if len(bad):
            raise InputError(f"trials, row {bad.index[0]}, column '{col}': {bad.iloc[0]!r}; "
                             f"expected one of {', '.join(sorted(allowed))}")
    try:
        for col in ("current_episode", "prospective", "adequate", "failed"):
            t[col] = _flag(t[col])
        if "possible_pk_nonresponse" in t.columns:
            t["possible_pk_nonresponse"] = _flag(t["possible_pk_nonresponse"]).fillna(False)
    except (TypeError, ValueError) as e:
        raise InputError(f"trials, column '{col}': expected True/False/NA ({e})") from None
    t["sessions"] = pd.to_numeric(t["sessions"], errors="coerce")
    t = t[t["current_episode"].fillna(False)]
    if not include_prospective:
        pro = t["prospective"].fillna(False)
        first = t[pro].groupby("patient_id")["trial"].min()
        cut = t["patient_id"].map(first)
        t = t[~pro & ~(cut.notna() & (t["trial"] > cut))]
    t = t.copy()
    t["failed"] = t["failed"].fillna(False).astype(bool)
    # Unknown adequacy with a non-response outcome: a failure we can neither count nor rule out.
    t["uncertain"] = (t["adequate"].isna() & (t["outcome_class"] == "nonresponse")
                      & ~t["failed"]).astype(bool)
    dx = p["diagnosis"] if "diagnosis" in p.columns else pd.Series(pd.NA, index=p.index)
    p["bipolar"] = dx.astype("string").str.strip().str.lower().eq("bipolar").fillna(False)
    return t, p


class _ByPatient:
    """The trials of every patient as plain Python lists, for the per-patient rules.

    Rows are ordered by the patient's position in the patients table, keeping the trials
    table's order within a patient (as ``groupby(sort=False)`` would). ``cols`` maps a name
    to a row-level column (computed once, vectorised, over the whole table); ``rows(i)``
    gives the slice of patient ``i``. Plain lists make each patient's rule cost microseconds
    instead of the tens of microseconds per pandas operation on a group, which is what lets
    the stage run on 100,000 patients (docs/performance.md).
    """

    def __init__(self, t: pd.DataFrame, p: pd.DataFrame, cols: dict[str, pd.Series]):
        pos = pd.Index(p["patient_id"]).get_indexer(t["patient_id"])
        order = np.argsort(pos, kind="stable")
        self.starts = np.concatenate([[0], np.cumsum(np.bincount(pos, minlength=len(p)))]).tolist()
        self.patient_ids = p["patient_id"].tolist()
        self.bipolar = [bool(b) for b in p["bipolar"]]
        self.cols = {}
        for name, col in cols.items():
            v = col.to_numpy(dtype=object)[order]
            na = pd.isna(v)
            if na.any():
                v[na] = None
            self.cols[name] = v.tolist()

    def __len__(self) -> int:
        return len(self.patient_ids)

    def rows(self, i: int) -> slice:
        return slice(self.starts[i], self.starts[i + 1])


def _first_occurrence_counts(values: list) -> str:
    """``value: count`` pairs, most frequent first, ties in order of first occurrence (as
    pandas ``value_counts`` orders them), joined by commas."""
    return ", ".join(f"{m} {c}" for m, c in Counter(values).most_common())


def _bounded(rule: Callable[[list], object], fail: list, unc: list):
    """The rule's value with uncertain trials not counted and counted; equal -> determinate."""
    lo, hi = rule(fail), rule([f or u for f, u in zip(fail, unc)])
    return lo, hi, (lo == hi) if not (pd.isna(lo) or pd.isna(hi)) else False


def _uncertain_reason(n: int) -> str:
    return (f"not evaluable: the call depends on {n} non-response trial(s) of unknown "
            "adequacy")


BIPOLAR_REASON = "not evaluable: bipolar depression is excluded"


# ---------------------------------------------------------------------------- Sforzini
def _agent_key(t: pd.DataFrame) -> pd.Series:
    """The treatment a trial belongs to: its agent, lower-cased (a second trial of the same
    agent, e.g. at a higher dose, is the same treatment); a blank agent is its own trial."""
    a = t["agent"].astype("string").str.strip().str.lower()
    return a.mask(a.isna() | a.eq(""), "trial " + t["trial"].astype(str))


def _repeats(agents: list, flags: list) -> str:
    """'; sertraline failed 2 times, counted once' for agents that failed more than once."""
    c = Counter(a for a, f in zip(agents, flags) if f)
    rep = [f"{a} {n} times" for a, n in c.items() if n > 1]
    return f"; {', '.join(rep)} failed: each agent counted once (same treatment)" if rep else ""


def _sforzini(trials, patients, *, include_prospective, exclude_pk, name, count_psychotherapy):
    t, p = _prepare(trials, patients, include_prospective)
    counted_modalities = SFORZINI_COUNTED | ({"psychotherapy"} if count_psychotherapy else set())
    pk_col = (t["possible_pk_nonresponse"] if "possible_pk_nonresponse" in t.columns
              else pd.Series(False, index=t.index))
    g = _ByPatient(t, p, {"failed": t["failed"], "uncertain": t["uncertain"], "pk": pk_col.astype(bool),
                          "prospective": t["prospective"].fillna(False).astype(bool),
                          "counted": t["modality"].isin(counted_modalities), "modality": t["modality"],
                          "agent": _agent_key(t), "adequate": t["adequate"].fillna(False).astype(bool),
                          "outcome_class": t["outcome_class"]})
    F, U, PK, PRO, CNT, MOD, AG, ADQ, OUT = (g.cols[c] for c in (
        "failed", "uncertain", "pk", "prospective", "counted", "modality", "agent", "adequate", "outcome_class"))
    rows = []
    for i, pid in enumerate(g.patient_ids):
        if g.bipolar[i]:
            rows.append((pid, "not evaluable", BIPOLAR_REASON, pd.NA))
            continue
        r = g.rows(i)
        cnt, agents = CNT[r], AG[r]
        # failures of modalities that do not count (psychotherapy by default, "other") are named only
        skipped = Counter(m for m, f, c in zip(MOD[r], F[r], cnt) if f and not c)
        fail = [f and c for f, c in zip(F[r], cnt)]
        unc = [u and c for u, c in zip(U[r], cnt)]
        note = ""
        if exclude_pk:
            pk = PK[r]
            n_pk = sum(f and k for f, k in zip(fail, pk)) + sum(u and k for u, k in zip(unc, pk))
            fail = [f and not k for f, k in zip(fail, pk)]
            unc = [u and not k for u, k in zip(unc, pk)]
            note = (f"; {n_pk} failure(s) flagged possible PK non-response not counted"
                    if n_pk else "; no failure flagged possible PK non-response")
        note = _repeats(agents, fail) + "".join(
            f"; {n} failed {m} course(s) not counted" + (SFORZINI_PSYCHOTHERAPY_NOTE if m == "psychotherapy" else "")
            for m, n in skipped.items()) + note

        def distinct(flags, agents=agents):
            return len({a for a, f in zip(agents, flags) if f})

        lo, hi, _ = _bounded(distinct, fail, unc)
        failed_agents = list(dict.fromkeys(a for a, f in zip(agents, fail) if f))
        n_pro = distinct([f and q for f, q in zip(fail, PRO[r])])
        adequate_outcomes = {o for a_, o, c in zip(ADQ[r], OUT[r], cnt) if a_ and c}
        if lo >= 2:
            rows.append((pid, "TRD", f"{lo} different failed adequate treatments (< 25% reduction) in "
                         f"the current episode ({', '.join(failed_agents)}; {n_pro} prospective){note}", lo))
        elif hi >= 2:
            rows.append((pid, "not evaluable", _uncertain_reason(sum(unc)) + note, pd.NA))
        elif "partial" in adequate_outcomes:
            rows.append((pid, "PRD", f"25-50% reduction on an adequate treatment, {lo} "
                         f"failed adequate treatment(s){note}", lo))
        elif "response" in adequate_outcomes:
            rows.append((pid, "responder", f">= 50% reduction on an adequate treatment, "
                         f"{lo} failed adequate treatment(s){note}", lo))
        else:
            rows.append((pid, "not TRD", f"{lo} different failed adequate treatment(s), fewer than "
                         f"the 2 TRD needs; no adequate trial with partial or full response{note}", lo))
    out = pd.DataFrame(rows, columns=["patient_id", name, f"{name}_reason", f"{name}_n_failed"])
    out[f"{name}_n_failed"] = out[f"{name}_n_failed"].astype("Int64")
    return out


def sforzini_2021(trials: pd.DataFrame, patients: pd.DataFrame, *,
                  include_prospective: bool = False, count_psychotherapy: bool = False) -> pd.DataFrame:
    """TRD, PRD or response by the Delphi consensus of Sforzini et al. 2021.

    Source: Sforzini L et al., "A Delphi-method-based consensus guideline for definition of
    treatment-resistant depression for clinical trials", Mol Psychiatry 2022;27:1286-1299,
    doi:10.1038/s41380-021-01381-x, Table 1 (recommendations 3, 10, 12, 15 verified; the
    25-50% PRD band and the preference for prospective confirmation were not verified; the
    recommendation text on whether a failed psychotherapy is one of the two treatments was
    not found beyond rec. 12, see docs/trd.md).

    Rule, per patient, over current-episode trials (module conventions):

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
    return _sforzini(trials, patients, include_prospective=include_prospective,
                     exclude_pk=False, name="sforzini_2021", count_psychotherapy=count_psychotherapy)


def sforzini_pk_variant(trials: pd.DataFrame, patients: pd.DataFrame, *,
                        include_prospective: bool = False, count_psychotherapy: bool = False) -> pd.DataFrame:
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
    return _sforzini(trials, patients, include_prospective=include_prospective,
                     exclude_pk=True, name="sforzini_pk", count_psychotherapy=count_psychotherapy)


# ---------------------------------------------------------------------------- Thase-Rush
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


def thase_rush_1997(trials: pd.DataFrame, patients: pd.DataFrame, *,
                    include_prospective: bool = False) -> pd.DataFrame:
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
    t, p = _prepare(trials, patients, include_prospective)
    g = _ByPatient(t, p, {"failed": t["failed"], "uncertain": t["uncertain"],
                          "med": t["modality"] == "medication", "ect": t["modality"] == "ECT",
                          "cls": t["drug_class"].map(THASE_RUSH_CLASS)})
    F, U, MED, ECT, CLS = (g.cols[c] for c in ("failed", "uncertain", "med", "ect", "cls"))
    rows = []
    for i, pid in enumerate(g.patient_ids):
        if g.bipolar[i]:
            rows.append((pid, pd.NA, BIPOLAR_REASON))
            continue
        r = g.rows(i)
        fail_, med, ect, cls = F[r], MED[r], ECT[r], CLS[r]

        def rule(fail, med=med, ect=ect, cls=cls):
            f = [x and m for x, m in zip(fail, med)]
            return _thase_rush_stage({c for c, x in zip(cls, f) if x and c is not None}, sum(f),
                                     any(x and e for x, e in zip(fail, ect)))

        unc = U[r]
        lo, hi, ok = _bounded(rule, fail_, unc)
        if not ok:
            rows.append((pid, pd.NA, _uncertain_reason(sum(unc))))
            continue
        f = [x and m for x, m in zip(fail_, med)]
        failed_classes = sorted({c for c, x in zip(cls, f) if x and c is not None})
        n_unknown = sum(x and c is None for c, x in zip(cls, f))
        reason = (f"stage {ROMAN[lo]}: failed adequate antidepressant classes "
                  f"{', '.join(failed_classes) if failed_classes else 'none'}")
        if n_unknown:
            reason += f"; {n_unknown} failed trial(s) of unknown class"
        if lo == 5:
            reason += "; failed ECT assumed bilateral (laterality not recorded)"
        elif any(x and e for x, e in zip(fail_, ect)):
            reason += "; failed ECT does not count before stage IV"
        rows.append((pid, lo, reason))
    out = pd.DataFrame(rows, columns=["patient_id", "thase_rush_1997", "thase_rush_1997_reason"])
    out["thase_rush_1997"] = out["thase_rush_1997"].astype("Int64")
    return out


# ---------------------------------------------------------------------------- Maudsley
def _msm_treatment_score(n: int) -> int:
    """Failed antidepressants 1-2 / 3-4 / 5-6 / 7-10 / > 10 -> 1-5."""
    for upper, score in ((2, 1), (4, 2), (6, 3), (10, 4)):
        if n <= upper:
            return score
    return 5


def _msm_band(score: int) -> str:
    return next(name for upper, name in MSM_BANDS if score <= upper)


def maudsley_staging(trials: pd.DataFrame, patients: pd.DataFrame, *,
                     include_prospective: bool = False) -> pd.DataFrame:
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
    t, p = _prepare(trials, patients, include_prospective)
    months = pd.to_numeric(p.get("episode_months", pd.Series(np.nan, index=p.index)),
                           errors="coerce")
    hamd = pd.to_numeric(p.get("baseline_severity", pd.Series(np.nan, index=p.index)),
                         errors="coerce")
    psych = (_flag(p["psychotic_features"]).fillna(False) if "psychotic_features" in p.columns
             else pd.Series(False, index=p.index))
    g = _ByPatient(t, p, {"failed": t["failed"], "uncertain": t["uncertain"],
                          "ad": (t["modality"] == "medication") & t["drug_class"].isin(ANTIDEPRESSANT_CLASSES),
                          "agent": t["agent"].astype("string").fillna("trial " + t["trial"].astype(str)),
                          "aug": t["modality"] == "augmentation", "ect": t["modality"] == "ECT"})
    F, U, AD, AGENT, AUG, ECT = (g.cols[c] for c in ("failed", "uncertain", "ad", "agent", "aug", "ect"))
    rows = []
    for i, pid, m, h, ps in zip(range(len(g)), g.patient_ids, months, hamd, psych):
        empty = (pid, pd.NA, "not evaluable", BIPOLAR_REASON, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA)
        if g.bipolar[i]:
            rows.append(empty)
            continue
        r = g.rows(i)
        ad, agent = AD[r], AGENT[r]

        def rule(fail, ad=ad, agent=agent):
            return len({a_ for a_, f, d in zip(agent, fail, ad) if f and d})

        lo, hi, ok = _bounded(rule, F[r], U[r])
        aug = int(any(AUG[r]))
        ect = int(any(ECT[r]))
        if lo != hi and _msm_treatment_score(max(lo, 1)) != _msm_treatment_score(max(hi, 1)) \
                or (lo == 0) != (hi == 0):
            rows.append(empty[:2] + ("not evaluable",
                                     _uncertain_reason(sum(U[r]))) + empty[4:])
            continue
        if lo == 0:
            rows.append((pid, pd.NA, "not staged", "no failed adequate antidepressant in the "
                         "current episode: the MSM stages treatment failure from 1-2 failures",
                         pd.NA, pd.NA, 0, aug, ect))
            continue
        treat = _msm_treatment_score(lo)
        dur = pd.NA if pd.isna(m) else (1 if m <= 12 else 2 if m <= 24 else 3)
        if ps:
            sev, sev_word = 5, "severe with psychosis"
        elif pd.isna(h):
            sev, sev_word = pd.NA, None
        else:
            sev, sev_word = next((s, w) for upper, s, w in HAMD17_SEVERITY if h <= upper)
        missing = [c for c, v in (("episode_months", dur), ("baseline_severity", sev))
                   if pd.isna(v)]
        if missing:
            rows.append((pid, pd.NA, "not evaluable", f"not evaluable: no {' or '.join(missing)}",
                         dur, sev, treat, aug, ect))
            continue
        score = dur + sev + treat + aug + ect
        reason = (f"duration {m:g} months = {dur}; severity {sev_word} = {sev}"
                  + ("" if ps else f" (HAMD-17 {h:g})")
                  + f"; {lo} failed antidepressant(s) = {treat}; augmentation {'+1' if aug else '0'}"
                  f"; ECT {'+1' if ect else '0'}")
        rows.append((pid, score, _msm_band(score), reason, dur, sev, treat, aug, ect))
    cols = ["patient_id", "msm_score", "msm_band", "msm_reason", "msm_duration", "msm_severity",
            "msm_treatment", "msm_augmentation", "msm_ect"]
    out = pd.DataFrame(rows, columns=cols)
    for c in ("msm_score", "msm_duration", "msm_severity", "msm_treatment", "msm_augmentation",
              "msm_ect"):
        out[c] = out[c].astype("Int64")
    return out


# ---------------------------------------------------------------------------- psychotherapy
def _psychotherapy_failures(g: pd.DataFrame, min_sessions: int):
    """(failed, uncertain) adequate psychotherapy trials by session count, per row of ``g``.

    Adequate = ``sessions`` >= ``min_sessions`` and the input's ``adequate`` not False (the
    input may have ruled a course out for other reasons). Unknown ``sessions`` with a
    non-response outcome is uncertain.
    """
    psy = (g["modality"] == "psychotherapy") & (g["outcome_class"] == "nonresponse")
    not_ruled_out = g["adequate"].fillna(True).astype(bool)
    s = g["sessions"]
    failed = psy & not_ruled_out & (s >= min_sessions).fillna(False).astype(bool)
    unc = psy & not_ruled_out & s.isna()
    return failed, unc


# ---------------------------------------------------------------------------- Conway
def _conway_stage(fail: list, cls: list) -> int:
    n = sum(fail)
    if len({c for c, f in zip(cls, fail) if f and c is not None}) < 2:
        return 0
    return 2 if n >= 3 else 1


def conway_2017(trials: pd.DataFrame, patients: pd.DataFrame, *,
                min_psychotherapy_sessions: int = 8,
                include_prospective: bool = False) -> pd.DataFrame:
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
    t, p = _prepare(trials, patients, include_prospective)
    pharm = t["modality"].isin(PHARMACOLOGICAL)
    psy_fail, psy_unc = _psychotherapy_failures(t, min_psychotherapy_sessions)
    cls = t["drug_class"].where(t["modality"] != "psychotherapy", "psychotherapy")
    g = _ByPatient(t, p, {"fail": (t["failed"] & pharm) | psy_fail, "unc": (t["uncertain"] & pharm) | psy_unc,
                          "cls": cls.where(cls != "unknown")})
    FAIL, UNC, CLS = g.cols["fail"], g.cols["unc"], g.cols["cls"]
    rows = []
    for i, pid in enumerate(g.patient_ids):
        if g.bipolar[i]:
            rows.append((pid, pd.NA, BIPOLAR_REASON))
            continue
        r = g.rows(i)
        fail, unc, cls_ = FAIL[r], UNC[r], CLS[r]
        lo, hi, ok = _bounded(lambda f, cls_=cls_: _conway_stage(f, cls_), fail, unc)
        if not ok:
            rows.append((pid, pd.NA, _uncertain_reason(sum(unc))))
            continue
        classes = sorted({c for c, f in zip(cls_, fail) if f and c is not None})
        rows.append((pid, lo, f"stage {lo}: {sum(fail)} failed adequate antidepressant or "
                     f"psychotherapy trial(s), classes {', '.join(classes) if classes else 'none'} "
                     f"(psychotherapy adequate from {min_psychotherapy_sessions} sessions)"))
    out = pd.DataFrame(rows, columns=["patient_id", "conway_2017", "conway_2017_reason"])
    out["conway_2017"] = out["conway_2017"].astype("Int64")
    return out


# ---------------------------------------------------------------------------- Markowitz
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
    table = read_reference_tsv(path, ["agent", "evidence_based"], error=InputError,
                               expected="agent, name, evidence_based, source, notes")
    bad = table.loc[~table["evidence_based"].isin(["yes", "no"]), "evidence_based"]
    if len(bad):
        raise InputError(f"{path}, row {bad.index[0] + 2}, column 'evidence_based': {bad.iloc[0]!r}; "
                         "expected yes or no")
    table["agent"] = table["agent"].str.strip().str.lower()
    return table


def markowitz_2022(trials: pd.DataFrame, patients: pd.DataFrame, *,
                   min_psychotherapy_sessions: int = 9,
                   include_prospective: bool = False) -> pd.DataFrame:
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
    t, p = _prepare(trials, patients, include_prospective)
    pharm = t["modality"].isin(PHARMACOLOGICAL)
    measured = (pd.to_numeric(t["pct_change"], errors="coerce").notna() if "pct_change" in t.columns
                else pd.Series(False, index=t.index))
    observed = t["prospective"].fillna(False).astype(bool) | measured
    listed = load_psychotherapies()
    ebp = set(listed.loc[listed["evidence_based"] == "yes", "agent"])
    agent = _agent_key(t)
    psy_fail, psy_unc = _psychotherapy_failures(t, min_psychotherapy_sessions)
    is_ebp = agent.isin(ebp)
    g = _ByPatient(t, p, {"med_fail": t["failed"] & pharm & observed, "med_unc": t["uncertain"] & pharm & observed,
                          "recalled": t["failed"] & pharm & ~observed, "agent": agent,
                          "psy_fail": psy_fail & is_ebp, "psy_unc": psy_unc & is_ebp,
                          "psy_other": (psy_fail | psy_unc) & ~is_ebp})
    MF, MU, REC, AG, PF, PU, PO = (g.cols[c] for c in ("med_fail", "med_unc", "recalled", "agent", "psy_fail",
                                                       "psy_unc", "psy_other"))
    rows = []
    for i, pid in enumerate(g.patient_ids):
        if g.bipolar[i]:
            rows.append((pid, pd.NA, BIPOLAR_REASON))
            continue
        r = g.rows(i)
        agents, psy_f, psy_u = AG[r], PF[r], PU[r]

        def rule(med, agents=agents, psy=psy_f):
            return len({a for a, f in zip(agents, med) if f}) >= 2 and any(psy)

        n_med = len({a for a, f in zip(agents, MF[r]) if f})
        lo = rule(MF[r])
        hi = rule([f or u for f, u in zip(MF[r], MU[r])], psy=[f or u for f, u in zip(psy_f, psy_u)])
        if lo != hi:
            rows.append((pid, pd.NA, _uncertain_reason(sum(MU[r]) + sum(psy_u))))
            continue
        recalled = len({a for a, f in zip(agents, REC[r]) if f} - {a for a, f in zip(agents, MF[r]) if f})
        other = sorted({a for a, o in zip(agents, PO[r]) if o})
        rows.append((pid, lo, f"{'TRD' if lo else 'not TRD'}: {n_med} different failed adequate "
                     f"medication trial(s) observed prospectively (2 needed)"
                     + (f"; {recalled} more with a recalled outcome only (not prospective)" if recalled else "")
                     + f", {sum(psy_f)} failed evidence-based psychotherapy of >= "
                     f"{min_psychotherapy_sessions} sessions (1 needed)"
                     + (f"; not evidence-based: {', '.join(other)}" if other else "")
                     + _repeats(agents, MF[r])))
    out = pd.DataFrame(rows, columns=["patient_id", "markowitz_2022", "markowitz_2022_reason"])
    out["markowitz_2022"] = out["markowitz_2022"].astype("boolean")
    return out


# ---------------------------------------------------------------------------- together
def trd_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`stage_all` from a validated config's ``clinical`` keys:
    ``min_psychotherapy_sessions`` (Conway), ``markowitz_min_sessions`` and
    ``sforzini_count_psychotherapy``.

    Examples
    --------
    >>> trd_options({"clinical": {"sforzini_count_psychotherapy": True}})
    {'conway_min_sessions': 8, 'markowitz_min_sessions': 9, 'sforzini_count_psychotherapy': True}
    """
    cc = config.get("clinical", {})
    return {"conway_min_sessions": int(cc.get("min_psychotherapy_sessions", 8)),
            "markowitz_min_sessions": int(cc.get("markowitz_min_sessions", 9)),
            "sforzini_count_psychotherapy": bool(cc.get("sforzini_count_psychotherapy", False))}


def stage_all(trials: pd.DataFrame, patients: pd.DataFrame, *,
              include_prospective: bool = False,
              conway_min_sessions: int = 8, markowitz_min_sessions: int = 9,
              sforzini_count_psychotherapy: bool = False) -> pd.DataFrame:
    """Every definition side by side: one row per patient of ``patients``.

    Columns: ``patient_id``, then each definition's call and ``*_reason`` (plus the MSM
    band and items and the Sforzini failure counts), in the order Sforzini, Sforzini PK
    variant, Thase-Rush, MSM, Conway, Markowitz. Options are passed to each definition.

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": "P1", "episode": 1, "trial": [1, 2],
    ...     "modality": "medication", "agent": ["sertraline", "citalopram"],
    ...     "drug_class": "ssri", "current_episode": True, "prospective": False,
    ...     "adequate": True, "outcome_class": "nonresponse", "failed": True,
    ...     "failed_or_partial": True, "sessions": pd.NA})
    >>> s = stage_all(t, pd.DataFrame({"patient_id": ["P1", "P2"]}))
    >>> print(s[["patient_id", "sforzini_2021", "thase_rush_1997", "conway_2017"]].to_string(index=False))
    patient_id sforzini_2021  thase_rush_1997  conway_2017
            P1           TRD                1            0
            P2       not TRD                0            0
    """
    kw = {"include_prospective": include_prospective}
    sf = {**kw, "count_psychotherapy": sforzini_count_psychotherapy}
    parts = [
        sforzini_2021(trials, patients, **sf),
        sforzini_pk_variant(trials, patients, **sf),
        thase_rush_1997(trials, patients, **kw),
        maudsley_staging(trials, patients, **kw),
        conway_2017(trials, patients, min_psychotherapy_sessions=conway_min_sessions, **kw),
        markowitz_2022(trials, patients, min_psychotherapy_sessions=markowitz_min_sessions, **kw),
    ]
    out = parts[0]
    for part in parts[1:]:
        out = out.merge(part, on="patient_id", how="left", validate="one_to_one")
    return out


def _sforzini_binary(cat: pd.Series) -> pd.Series:
    return cat.eq("TRD").astype("boolean").mask(cat.eq("not evaluable"))


def _msm_binary(s: pd.DataFrame) -> pd.Series:
    # No failed antidepressant ("not staged") is no resistance; missing inputs are NA.
    call = (s["msm_score"] >= 7).astype("boolean")
    return call.mask(s["msm_band"].eq("not staged"), False)


#: The binary TRD call of each definition, from :func:`stage_all`'s columns.
BINARY_CALLS: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "sforzini_trd": lambda s: _sforzini_binary(s["sforzini_2021"]),
    "thase_rush_ge_II": lambda s: (s["thase_rush_1997"] >= 2).astype("boolean"),
    "msm_moderate_plus": _msm_binary,
    "conway_ge_1": lambda s: (s["conway_2017"] >= 1).astype("boolean"),
    "markowitz": lambda s: s["markowitz_2022"].astype("boolean"),
    "sforzini_pk_trd": lambda s: _sforzini_binary(s["sforzini_pk"]),
}
_CALL_COLUMNS = {"sforzini_trd": ["sforzini_2021"], "thase_rush_ge_II": ["thase_rush_1997"],
                 "msm_moderate_plus": ["msm_score", "msm_band"], "conway_ge_1": ["conway_2017"],
                 "markowitz": ["markowitz_2022"], "sforzini_pk_trd": ["sforzini_pk"]}


def binary_calls(staging: pd.DataFrame) -> pd.DataFrame:
    """The six binary TRD calls (nullable boolean) from :func:`stage_all`'s output.

    Sforzini TRD (and the PK variant): category TRD; "not evaluable" -> NA. Thase-Rush:
    stage >= II. MSM: score >= 7 (moderate or severe); "not staged" (no failed
    antidepressant) -> False; missing inputs -> NA. Conway: stage >= 1. Markowitz: as is.

    Examples
    --------
    >>> s = pd.DataFrame({"patient_id": ["P1"], "sforzini_2021": ["TRD"],
    ...     "thase_rush_1997": [1], "msm_score": [8], "msm_band": ["moderate"],
    ...     "conway_2017": [0], "markowitz_2022": [False], "sforzini_pk": ["not TRD"]})
    >>> print(*binary_calls(s).iloc[0])
    P1 True False True False False False
    """
    missing = sorted({c for cols in _CALL_COLUMNS.values() for c in cols} - set(staging.columns))
    if "patient_id" not in staging.columns:
        missing.insert(0, "patient_id")
    if missing:
        raise InputError(f"staging: no column(s) {', '.join(repr(c) for c in missing)}; "
                         "expected the output of stage_all")
    out = pd.DataFrame({"patient_id": staging["patient_id"].to_numpy()})
    for name, f in BINARY_CALLS.items():
        out[name] = f(staging).astype("boolean").to_numpy()
    return out


def _cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two binary ratings: (p_o - p_e) / (1 - p_e); NaN when p_e = 1."""
    n = len(a)
    if n == 0:
        return math.nan
    po = float(np.mean(a == b))
    pa, pb = float(np.mean(a)), float(np.mean(b))
    pe = pa * pb + (1 - pa) * (1 - pb)
    return math.nan if math.isclose(pe, 1.0) else (po - pe) / (1 - pe)


# columns of concordance() (trd/concordance.tsv), also of the header-only table of a cohort without treatments
CONCORDANCE_COLUMNS = ["a", "b", "n", "both_yes", "both_no", "only_a", "only_b", "agreement", "kappa"]


def concordance(staging: pd.DataFrame) -> pd.DataFrame:
    """Agreement between every pair of binary TRD calls.

    For each pair (A, B) of :data:`BINARY_CALLS`, over patients where both calls are
    known: ``n``, ``both_yes``, ``both_no``, ``only_a``, ``only_b``, ``agreement``
    (proportion) and Cohen's ``kappa`` = (p_o - p_e) / (1 - p_e), with p_o the observed
    agreement and p_e = p_A p_B + (1 - p_A)(1 - p_B) the agreement expected from the
    margins (Cohen 1960). Kappa is NaN when p_e = 1 (both calls constant and equal) or
    n = 0.

    Examples
    --------
    >>> s = pd.DataFrame({"patient_id": ["P1", "P2"], "sforzini_2021": ["TRD", "not TRD"],
    ...     "thase_rush_1997": [2, 1], "msm_score": [8, 5], "msm_band": ["moderate", "mild"],
    ...     "conway_2017": [1, 0], "markowitz_2022": [False, False],
    ...     "sforzini_pk": ["TRD", "not TRD"]})
    >>> c = concordance(s)
    >>> print(*c.loc[0, ["a", "b", "both_yes", "both_no", "kappa"]])
    sforzini_trd thase_rush_ge_II 1 1 1.0
    """
    calls = binary_calls(staging)
    rows = []
    for a, b in itertools.combinations(BINARY_CALLS, 2):
        known = calls[a].notna() & calls[b].notna()
        x = calls.loc[known, a].to_numpy(dtype=bool)
        y = calls.loc[known, b].to_numpy(dtype=bool)
        n = len(x)
        rows.append({"a": a, "b": b, "n": n, "both_yes": int((x & y).sum()),
                     "both_no": int((~x & ~y).sum()), "only_a": int((x & ~y).sum()),
                     "only_b": int((~x & y).sum()),
                     "agreement": float(np.mean(x == y)) if n else math.nan,
                     "kappa": _cohen_kappa(x, y)})
    return pd.DataFrame(rows, columns=CONCORDANCE_COLUMNS)
