"""What every TRD definition shares: the input check, the trials that count, and the per-patient loop.

Input is the per-trial table written by :func:`stratify.clinical.adequacy.assess_trials` (not
imported here: the contract is the column list in :data:`TRIAL_COLUMNS`) and the
per-patient table. A definition (one module of :mod:`stratify.trd`) is a *rule* that turns
one patient's trials into a row; :func:`stage_patients` runs it for every patient.

Conventions shared by every definition (each definition's docstring states what it adds):

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
  computed with uncertain trials counted as failures and not counted (:func:`bounded`);
  where the two differ the call is NA and the reason names the uncertain trials.
* **Bipolar depression** (``diagnosis`` "bipolar") is not evaluable by any definition:
  Sforzini et al. 2021 exclude it explicitly; the Maudsley Staging Method is a model of
  "unipolar depression" (Fekadu et al. 2018); Thase-Rush, Conway and Markowitz define
  resistance in major depressive disorder.

What was checked against which source is in each definition's module docstring and in
docs/trd.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import InputError

#: Columns the per-trial table must have (``possible_pk_nonresponse`` is optional).
TRIAL_COLUMNS = (
    "patient_id",
    "episode",
    "trial",
    "modality",
    "agent",
    "drug_class",
    "current_episode",
    "prospective",
    "adequate",
    "outcome_class",
    "failed",
    "failed_or_partial",
    "sessions",
)
MODALITIES = frozenset(
    {"medication", "augmentation", "psychotherapy", "ECT", "rTMS", "esketamine", "ketamine", "other"}
)
OUTCOMES = frozenset({"response", "partial", "nonresponse", "intolerance", "unknown"})
#: Monotherapy antidepressant classes of the input vocabulary.
ANTIDEPRESSANT_CLASSES = frozenset(
    {"ssri", "snri", "tca", "maoi", "ndri", "nassa", "sari", "multimodal", "melatonergic"}
)
PHARMACOLOGICAL = frozenset({"medication", "augmentation"})
BIPOLAR_REASON = "not evaluable: bipolar depression is excluded"


def flag(s: pd.Series) -> pd.Series:
    """A nullable boolean column (True/False/NA) from bools, 0/1 or None."""
    return s.astype("boolean")


def _check_inputs(trials: pd.DataFrame, patients: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Copies with text patient ids, after the column, key and vocabulary checks."""
    missing = [c for c in TRIAL_COLUMNS if c not in trials.columns]
    if missing:
        raise InputError(
            f"trials: no column(s) {', '.join(repr(c) for c in missing)}; "
            f"expected the columns written by assess_trials: {', '.join(TRIAL_COLUMNS)}"
        )
    if "patient_id" not in patients.columns:
        raise InputError("patients: no column 'patient_id'; expected one row per patient")
    p = patients.copy()
    p["patient_id"] = p["patient_id"].astype(str)
    dup = p["patient_id"][p["patient_id"].duplicated()]
    if len(dup):
        raise InputError(f"patients: patient_id '{dup.iloc[0]}' appears more than once; expected one row per patient")
    t = trials.copy()
    t["patient_id"] = t["patient_id"].astype(str)
    unknown = sorted(set(t["patient_id"]) - set(p["patient_id"]))
    if unknown:
        raise InputError(f"trials: patient_id '{unknown[0]}' is not in the patients table")
    for col, allowed in (("modality", MODALITIES), ("outcome_class", OUTCOMES)):
        bad = t.loc[~t[col].isin(allowed), col]
        if len(bad):
            raise InputError(
                f"trials, row {bad.index[0]}, column '{col}': {bad.iloc[0]!r}; "
                f"expected one of {', '.join(sorted(allowed))}"
            )
    return t, p


def prepare(
    trials: pd.DataFrame, patients: pd.DataFrame, *, include_prospective: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Checked copies: the trials that count (current episode, prospective rule) and patients.

    The trials gain ``uncertain`` (unknown adequacy with a non-response outcome); the
    patients gain ``bipolar``.
    """
    t, p = _check_inputs(trials, patients)
    try:
        for col in ("current_episode", "prospective", "adequate", "failed"):
            t[col] = flag(t[col])
        if "possible_pk_nonresponse" in t.columns:
            t["possible_pk_nonresponse"] = flag(t["possible_pk_nonresponse"]).fillna(False)
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
    t["uncertain"] = (t["adequate"].isna() & (t["outcome_class"] == "nonresponse") & ~t["failed"]).astype(bool)
    dx = p["diagnosis"] if "diagnosis" in p.columns else pd.Series(pd.NA, index=p.index)
    p["bipolar"] = dx.astype("string").str.strip().str.lower().eq("bipolar").fillna(False)
    return t, p


class ByPatient:
    """The trials of every patient as plain Python lists, for the per-patient rules.

    Rows are ordered by the patient's position in the patients table, keeping the trials
    table's order within a patient (as ``groupby(sort=False)`` would). ``cols`` maps a name
    to a row-level column (computed once, vectorised, over the whole table); ``rows(i)``
    gives the slice of patient ``i``. Plain lists make each patient's rule cost microseconds
    instead of the tens of microseconds per pandas operation on a group, which is what lets
    the stage run on 100,000 patients (docs/performance.md).
    """

    def __init__(self, t: pd.DataFrame, p: pd.DataFrame, cols: Mapping[str, pd.Series]):
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
        """The slice of patient ``i``'s trials in every column."""
        return slice(self.starts[i], self.starts[i + 1])

    def patient(self, i: int) -> dict[str, list]:
        """Patient ``i``'s trials: column name -> that patient's values, in trial order."""
        r = self.rows(i)
        return {name: col[r] for name, col in self.cols.items()}


#: One patient's row (without ``patient_id``) from its trials (column -> list) and its own
#: values (:func:`stage_patients`'s ``patient_columns``, name -> value).
Rule = Callable[[dict[str, list], dict[str, Any]], tuple]


def stage_patients(
    trials: pd.DataFrame,
    patients: pd.DataFrame,
    rule: Rule,
    *,
    include_prospective: bool,
    trial_columns: Callable[[pd.DataFrame], Mapping[str, pd.Series]],
    columns: list[str],
    bipolar: tuple,
    dtypes: Mapping[str, str],
    patient_columns: Callable[[pd.DataFrame], Mapping[str, pd.Series]] | None = None,
) -> pd.DataFrame:
    """The per-patient loop every definition runs: one row per patient of ``patients``.

    ``trials`` and ``patients`` are checked and filtered by :func:`prepare`;
    ``trial_columns(t)`` gives the row-level columns the rule needs (computed once over the
    whole prepared trials table ``t``), ``patient_columns(p)`` the patient-level ones.
    A bipolar patient gets ``bipolar`` (the row without ``patient_id``); every other patient
    ``rule(trials, values)``. The result has ``patient_id`` and ``columns``, cast to
    ``dtypes``.
    """
    t, p = prepare(trials, patients, include_prospective=include_prospective)
    g = ByPatient(t, p, trial_columns(t))
    own = {k: list(v) for k, v in (patient_columns(p) if patient_columns else {}).items()}
    rows = []
    for i, pid in enumerate(g.patient_ids):
        if g.bipolar[i]:
            rows.append((pid, *bipolar))
        else:
            rows.append((pid, *rule(g.patient(i), {k: v[i] for k, v in own.items()})))
    out = pd.DataFrame(rows, columns=["patient_id", *columns])
    for c, dtype in dtypes.items():
        out[c] = out[c].astype(dtype)
    return out


def bounded(rule: Callable[[list], object], fail: list, unc: list):
    """The rule's value with uncertain trials not counted and counted; equal -> determinate."""
    lo, hi = rule(fail), rule([f or u for f, u in zip(fail, unc)])
    return lo, hi, (lo == hi) if not (pd.isna(lo) or pd.isna(hi)) else False


def uncertain_reason(n: int) -> str:
    """The reason of a call that ``n`` trials of unknown adequacy could change."""
    return f"not evaluable: the call depends on {n} non-response trial(s) of unknown adequacy"


def agent_key(t: pd.DataFrame) -> pd.Series:
    """The treatment a trial belongs to: its agent, lower-cased (a second trial of the same
    agent, e.g. at a higher dose, is the same treatment); a blank agent is its own trial."""
    a = t["agent"].astype("string").str.strip().str.lower()
    return a.mask(a.isna() | a.eq(""), "trial " + t["trial"].astype(str))


def repeats(agents: list, flags: list) -> str:
    """'; sertraline failed 2 times, counted once' for agents that failed more than once."""
    c = Counter(a for a, f in zip(agents, flags) if f)
    rep = [f"{a} {n} times" for a, n in c.items() if n > 1]
    return f"; {', '.join(rep)} failed: each agent counted once (same treatment)" if rep else ""


def distinct(agents: list, flags: list) -> int:
    """How many different agents have a flag set."""
    return len({a for a, f in zip(agents, flags) if f})


def psychotherapy_failures(t: pd.DataFrame, min_sessions: int) -> tuple[pd.Series, pd.Series]:
    """(failed, uncertain) adequate psychotherapy trials by session count, per row of ``t``.

    Adequate = ``sessions`` >= ``min_sessions`` and the input's ``adequate`` not False (the
    input may have ruled a course out for other reasons). Unknown ``sessions`` with a
    non-response outcome is uncertain.
    """
    psy = (t["modality"] == "psychotherapy") & (t["outcome_class"] == "nonresponse")
    not_ruled_out = t["adequate"].fillna(True).astype(bool)
    s = t["sessions"]
    failed = psy & not_ruled_out & (s >= min_sessions).fillna(False).astype(bool)
    unc = psy & not_ruled_out & s.isna()
    return failed, unc
