"""Treatment adequacy: was each trial adequate, and did it fail?

One row per trial of the treatments table (workflow/schemas/treatments.schema.yaml) is
judged on the criteria that apply to its modality, then given an outcome class. The
rules follow the Delphi consensus of Sforzini et al. 2021 (Mol Psychiatry):
a failed trial is an adequate trial (dose and duration) with less than 25% symptom
reduction; 25% to < 50% is partial response; >= 50% is response; a trial stopped before
the end of week 4 without clear non-response is not a failure. Adequate psychotherapy is
8 attended sessions (Conway, George & Sackeim 2017). Minimum daily doses are in
``resources/adequate_doses.tsv`` (MGH Antidepressant Treatment Response Questionnaire
values; where each came from, and which are unverified, is in resources/SOURCES.md,
section "Treatment adequacy"). The adequate duration follows the same source: at least
6 weeks at an adequate dose (ATRQ; its worked example calls a 4-week trial too short), so
the dose and the duration of a trial are judged by one instrument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import InputError
from stratify.io.paths import resource_dir
from stratify.io.resources import load_resource
from stratify.io.text import read_text_table

DOSE_TABLE = "adequate_doses.tsv"
DOSE_COLUMNS = ["agent", "class", "min_daily_dose_mg", "source", "verified", "notes"]
REQUIRED = ["patient_id", "episode", "trial", "modality", "agent", "duration_weeks", "prospective"]
KEY = ["patient_id", "episode", "trial", "modality", "agent", "prospective"]
MODALITIES = ("medication", "augmentation", "psychotherapy", "ECT", "rTMS", "esketamine", "ketamine", "other")
OUTCOMES = ("response", "partial", "nonresponse", "intolerance", "unknown")
NUMERIC = ("dose_mg_day", "duration_weeks", "sessions", "baseline_score", "end_score")
# Session counts for the non-psychotherapy session-based treatments. None of these could
# be checked against a published adequacy definition (see SOURCES.md): they are
# configurable defaults, not sourced rules. ECT 6 and rTMS 20 are commonly used course
# lengths; esketamine 8 is twice weekly for the 4-week induction; ketamine 6 infusions.
DEFAULT_MIN_SESSIONS = {"ECT": 6, "rTMS": 20, "esketamine": 8, "ketamine": 6}
SESSION_MODALITIES = ("psychotherapy", *DEFAULT_MIN_SESSIONS)
NONRESPONSE_BELOW = 25.0
#: Minimum weeks of an adequate drug trial: the MGH ATRQ's "at least 6 weeks at an adequate
#: dose" (Chandler et al. 2010; Fava 2003), the source of the minimum-dose table.
ATRQ_MIN_WEEKS = 6.0
#: Sforzini et al. 2021 rec. 10: stopping before the end of week 4 without clear evidence of
#: non-response is not a treatment failure. Kept apart from ``min_weeks``: a trial shorter
#: than this is never adequate, whatever ``min_weeks`` a study sets.
SFORZINI_MIN_WEEKS = 4.0
RESPONSE_FROM = 50.0
#: How far a given ``pct_change`` may differ from the one its scores give (percentage points):
#: a reported percentage is often rounded to a whole number.
PCT_TOLERANCE = 1.0
OUTPUT_COLUMNS = [
    *KEY,
    "drug_class",
    "current_episode",
    "adequate_dose",
    "adequate_duration",
    "adequate_sessions",
    "adequate",
    "adequacy_reason",
    "pct_change",
    "outcome_class",
    "remission",
    "failed",
    "failed_or_partial",
]


def adequacy_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`assess_trials` from a validated config's ``clinical`` keys.

    Every stage that judges trials (clinical, trd, pgx guidance) goes through this, so a
    failed trial means the same thing everywhere: ``adequate_weeks``,
    ``min_psychotherapy_sessions``, ``min_sessions`` and ``dose_table`` (a user TSV that
    replaces ``resources/adequate_doses.tsv``).
    """
    cc = config.get("clinical", {})
    opts: dict[str, Any] = {
        "min_weeks": float(cc.get("adequate_weeks", ATRQ_MIN_WEEKS)),
        "min_psychotherapy_sessions": int(cc.get("min_psychotherapy_sessions", 8)),
        "min_sessions": dict(cc.get("min_sessions", {})),
    }
    if cc.get("dose_table"):
        opts["doses"] = load_doses(cc["dose_table"])
    return opts


def _remission(t: pd.DataFrame) -> pd.Series:
    """End score at or below the instrument's remission cut-off (resources/instruments.yaml:
    HAMD-17 <= 7, MADRS <= 10, QIDS-SR16 <= 5, IDS-SR30 <= 13, PHQ-9 <= 4); NA without an
    instrument or an end score."""
    cut = {k: v["remission_max"] for k, v in load_resource("instruments.yaml").items()}
    inst = t["instrument"] if "instrument" in t.columns else pd.Series(pd.NA, index=t.index)
    end = (
        pd.to_numeric(t["end_score"], errors="coerce")
        if "end_score" in t.columns
        else pd.Series(float("nan"), index=t.index)
    )
    limit = inst.map(cut)
    rem = (end <= limit).astype("boolean")
    return rem.mask(end.isna() | limit.isna()).astype("boolean")


def load_doses(path: str | Path | None = None) -> pd.DataFrame:
    """The minimum-dose table: the shipped ``resources/adequate_doses.tsv``, or a study's own
    (config ``clinical.dose_table``) with the same columns.

    Returns columns ``agent, class, min_daily_dose_mg, source, verified, notes``; an
    empty ``min_daily_dose_mg`` (no sourced minimum) is NaN.

    Examples
    --------
    >>> d = load_doses().set_index("agent")
    >>> float(d.loc["sertraline", "min_daily_dose_mg"]), d.loc["sertraline", "source"]
    (50.0, 'ATRQ')
    """
    if path is None:
        table = pd.read_csv(resource_dir() / DOSE_TABLE, sep="\t", dtype=str, keep_default_na=False)
        return _check_doses(table)
    return _check_doses(read_text_table(path), name=f"{path}")


def _check_doses(table: pd.DataFrame, name: str = "dose table") -> pd.DataFrame:
    missing = [c for c in ("agent", "min_daily_dose_mg", "source") if c not in table.columns]
    if missing:
        raise InputError(
            f"{name}: no column(s) {', '.join(repr(c) for c in missing)}; expected {', '.join(DOSE_COLUMNS)}"
        )
    t = table.copy()
    for c in DOSE_COLUMNS:
        if c not in t.columns:
            t[c] = ""
    t["agent"] = t["agent"].astype(str).str.strip().str.lower()
    dup = t["agent"][t["agent"].duplicated()]
    if len(dup):
        raise InputError(f"{name}: agent '{dup.iloc[0]}' appears more than once")
    raw = t["min_daily_dose_mg"].replace("", np.nan)
    num = pd.to_numeric(raw, errors="coerce")
    bad = (raw.notna() & num.isna()) | (num < 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{name}: agent '{t['agent'].iloc[i]}', column 'min_daily_dose_mg' is "
            f"{t['min_daily_dose_mg'].iloc[i]!r}; expected a number >= 0 or empty"
        )
    t["min_daily_dose_mg"] = num.astype(float)
    return t[DOSE_COLUMNS].reset_index(drop=True)


def _record(row: Mapping[str, Any]) -> str:
    return f"patient {row['patient_id']}, episode {row['episode']}, trial {row['trial']}"


def _blank(x: Any) -> bool:
    return (
        x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)) or (isinstance(x, str) and x.strip() == "")
    )


def _suspect_blank(col: pd.Series) -> np.ndarray:
    """Rows whose value may be blank (exactly :func:`_blank` for text and missing values)."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.isna().to_numpy(dtype=bool)
    return col.map(_blank).to_numpy(dtype=bool)


def _suspect_not_positive_integer(col: pd.Series) -> np.ndarray:
    """Rows that may not hold an integer >= 1 (all rows of a column that is not numeric)."""
    if pd.api.types.is_integer_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return (col < 1).fillna(True).to_numpy(dtype=bool)
    if pd.api.types.is_float_dtype(col):
        v = col.to_numpy(dtype=float, na_value=np.nan)
        return ~np.isfinite(v) | (v < 1) | (v != np.floor(v))
    return np.ones(len(col), dtype=bool)


def _suspect_negative(col: pd.Series) -> np.ndarray:
    """Rows whose value may not be blank-or-a-number >= 0 (all non-blank rows of a column
    that is not numeric)."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        v = col.to_numpy(dtype=float, na_value=np.nan)
        return v < 0
    return ~_suspect_blank(col)


def _validate(treatments: pd.DataFrame) -> pd.DataFrame:
    """Check the columns and values assess_trials relies on; return a normalised copy."""
    missing = [c for c in REQUIRED if c not in treatments.columns]
    if missing:
        raise InputError(
            f"treatments: no column(s) {', '.join(repr(c) for c in missing)}; expected at least {', '.join(REQUIRED)}"
        )
    t = treatments.reset_index(drop=True).copy()
    for c in ("dose_mg_day", "sessions", "baseline_score", "end_score", "pct_change", "outcome"):
        if c not in t.columns:
            t[c] = np.nan
    # Each check runs on the rows a vectorised pre-check cannot clear (a superset of the failing
    # rows), in table order, so the first failing row and its message are what a loop over
    # every row would report, at a cost that does not grow with clean rows (100,000 patients).
    keys = t[["patient_id", "episode", "trial"]]
    suspect = np.zeros(len(t), dtype=bool)
    for c in ("patient_id", "episode", "trial"):
        suspect |= _suspect_blank(keys[c])
    for c in ("episode", "trial"):
        suspect |= _suspect_not_positive_integer(keys[c])
    for i in np.flatnonzero(suspect):
        rec = keys.iloc[[i]].to_dict("records")[0]
        for c in ("patient_id", "episode", "trial"):
            if _blank(rec[c]):
                raise InputError(f"treatments record {i + 1} (patient {rec['patient_id']}): column '{c}' is empty")
        for c in ("episode", "trial"):
            v = rec[c]
            ok = isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer())
            if not ok or int(v) < 1:
                raise InputError(f"{_record(rec)}: column '{c}' is {v!r}; expected an integer >= 1")
    t["episode"] = t["episode"].astype(int)
    t["trial"] = t["trial"].astype(int)
    dup = t.duplicated(["patient_id", "episode", "trial"], keep=False)
    if dup.any():
        raise InputError(f"{_record(t[dup].iloc[0])}: appears more than once")
    suspect = (~t["modality"].isin(MODALITIES)).to_numpy() | _suspect_blank(t["agent"])
    suspect |= (~t["outcome"].isin(OUTCOMES)).to_numpy() & ~_suspect_blank(t["outcome"])
    suspect |= t["prospective"].map(lambda v: not isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
    for c in NUMERIC:
        suspect |= _suspect_negative(t[c])
    for i in np.flatnonzero(suspect):
        row = next(t.iloc[[i]].iterrows())[1]
        if row["modality"] not in MODALITIES:
            raise InputError(
                f"{_record(row)}: column 'modality' is {row['modality']!r}; expected one of {', '.join(MODALITIES)}"
            )
        if _blank(row["agent"]):
            raise InputError(f"{_record(row)}: column 'agent' is empty")
        if not _blank(row["outcome"]) and row["outcome"] not in OUTCOMES:
            raise InputError(
                f"{_record(row)}: column 'outcome' is {row['outcome']!r}; expected one of {', '.join(OUTCOMES)}"
            )
        if not _blank(row["prospective"]) and not isinstance(row["prospective"], (bool, np.bool_)):
            raise InputError(f"{_record(row)}: column 'prospective' is {row['prospective']!r}; expected true or false")
        for c in NUMERIC:
            v = row[c]
            if _blank(v):
                continue
            try:
                f = float(v)
            except (TypeError, ValueError):
                f = math.nan
            if math.isnan(f) or f < 0:
                raise InputError(f"{_record(row)}: column '{c}' is {v!r}; expected a number >= 0")
    for c in NUMERIC:
        t[c] = pd.to_numeric(t[c].where(~t[c].map(_blank)), errors="coerce").astype(float)
    t["pct_change"] = _pct_column(t)
    t["agent"] = t["agent"].astype(str).str.strip().str.lower()
    return t


def _pct_column(t: pd.DataFrame) -> pd.Series:
    """The ``pct_change`` column as floats: blank or a finite number <= 100 (a reduction of more
    than 100% would need a negative end score)."""
    col = t["pct_change"]
    blank = col.map(_blank).to_numpy(dtype=bool)
    num = pd.to_numeric(col.where(~blank), errors="coerce").astype(float)
    bad = ~blank & ~(np.isfinite(num.to_numpy()) & (num.to_numpy() <= 100))
    if bad.any():
        row = t.iloc[int(np.argmax(bad))]
        raise InputError(
            f"{_record(row)}: column 'pct_change' is {row['pct_change']!r}; expected the percent "
            "reduction from baseline, a number <= 100 (positive = improvement), or blank"
        )
    return num


def score_pct_change(baseline: Any, end: Any, given: Any = math.nan, *, record: str = "treatments") -> float:
    """The trial's percent reduction from baseline: from the scores when both are present and
    the baseline is above 0, else the given ``pct_change`` (NaN when neither).

    Sign convention: 100 * (baseline - end) / baseline, so 60 is a 60% reduction
    (improvement) and a negative value a worsening.

    Raises
    ------
    InputError
        Scores and ``pct_change`` both given and more than :data:`PCT_TOLERANCE` points apart.

    Examples
    --------
    >>> score_pct_change(20, 8), score_pct_change(float("nan"), float("nan"), 55.0)
    (60.0, 55.0)
    >>> score_pct_change(20, 8, 60.4)
    60.0
    >>> score_pct_change(20, 8, -60, record="patient P1, episode 1, trial 2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    stratify.errors.InputError: patient P1, episode 1, trial 2: pct_change -60 disagrees with ... (a 60% reduction); ...
    """
    b, e, g = (math.nan if _blank(x) else float(x) for x in (baseline, end, given))
    from_scores = 100 * (b - e) / b if b > 0 and not math.isnan(e) else math.nan
    if math.isnan(from_scores):
        return g
    if not math.isnan(g) and abs(g - from_scores) > PCT_TOLERANCE + 1e-9:
        raise InputError(
            f"{record}: pct_change {g:g} disagrees with baseline_score {b:g} and end_score {e:g} "
            f"(a {from_scores:.3g}% reduction); pct_change is the percent reduction from baseline "
            "(positive = improvement): correct it or leave it blank"
        )
    return from_scores


def _and3(values: list[Any]) -> Any:
    """Kleene AND over True/False/pd.NA (an empty list is pd.NA: nothing was judged)."""
    if not values:
        return pd.NA
    if any(v is False for v in values):
        return False
    if any(v is pd.NA for v in values):
        return pd.NA
    return True


def _fmt(x: float) -> str:
    return f"{x:g}"


def _drug_class(modality: str, agent: str, classes: Mapping[str, str]) -> str:
    if modality == "psychotherapy":
        return "psychotherapy"
    if modality in ("ECT", "rTMS"):
        return modality
    parts = [p for p in agent.split("+") if p]
    return "+".join(classes.get(p, "unknown") for p in parts) or "unknown"


def classify_outcome(recorded: Any, pct: float) -> str:
    """Outcome class of one trial: the single rule every stage uses.

    Scores win over the recorded outcome: ``pct`` (percent reduction from baseline) >= 50
    is "response", 25 to < 50 "partial", < 25 "nonresponse" (Sforzini et al. 2021).
    Without scores (``pct`` NaN) the recorded outcome is used, "unknown" where there is
    none. One exception: a recorded "intolerance" wins over scores, because a trial
    stopped for side effects is not an efficacy failure.

    Examples
    --------
    >>> classify_outcome("response", 10.0), classify_outcome("nonresponse", float("nan"))
    ('nonresponse', 'nonresponse')
    >>> classify_outcome("intolerance", 5.0), classify_outcome(None, 30.0)
    ('intolerance', 'partial')
    """
    # A recorded intolerance wins over scores: the trial ended for side effects, so a
    # small score change does not show non-response to an adequate trial.
    if recorded == "intolerance":
        return "intolerance"
    if not math.isnan(pct):
        if pct >= RESPONSE_FROM:
            return "response"
        if pct >= NONRESPONSE_BELOW:
            return "partial"
        return "nonresponse"
    if _blank(recorded):
        return "unknown"
    return str(recorded)


def assess_trials(
    treatments: pd.DataFrame,
    *,
    min_weeks: float = ATRQ_MIN_WEEKS,
    min_psychotherapy_sessions: int = 8,
    doses: pd.DataFrame | None = None,
    min_sessions: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Adequacy, outcome class and failure of every treatment trial.

    Each trial is judged on the criteria that apply to its modality:

    * medication, augmentation and other: **dose** (``dose_mg_day`` >= the agent's
      ``min_daily_dose_mg`` in `doses`) and **duration** (``duration_weeks`` >=
      `min_weeks`, default 6: the ATRQ's adequate duration, :data:`ATRQ_MIN_WEEKS`);
    * psychotherapy: attended **sessions** >= `min_psychotherapy_sessions` (8: Conway,
      George & Sackeim 2017);
    * ECT, rTMS, esketamine and ketamine: attended **sessions** >= ``min_sessions[modality]``
      (defaults :data:`DEFAULT_MIN_SESSIONS`: ECT 6, rTMS 20, esketamine 8, ketamine 6;
      these are **unverified** defaults, not sourced definitions, and should be set by
      the study). Dose and duration are not judged for session-based treatments.

    A criterion is True, False or NA (unknowable: value not recorded, no minimum dose
    in the table for that agent, a combination agent ``a+b`` whose single dose cannot be
    checked against per-agent minima). ``adequate`` combines the applicable criteria
    with three-valued logic: False if any is False, else NA if any is NA, else True.
    ``adequacy_reason`` says, criterion by criterion, why.

    Short trials (Sforzini et al. 2021 rec. 10): a trial stopped before the end of week 4
    without clear non-response is not a failure. A drug trial shorter than `min_weeks` is
    not adequate; independently of `min_weeks`, one shorter than 4 weeks
    (:data:`SFORZINI_MIN_WEEKS`) is never adequate either, so with a study's own
    `min_weeks` below 4 a 3-week trial is still not a failure. Neither is ever ``failed``
    whatever its scores; the "clear non-response" exception is not judged from the table.

    Outcome class: ``pct_change = 100 * (baseline_score - end_score) / baseline_score``
    when both scores are present and the baseline is above 0; otherwise the trial's own
    ``pct_change`` column (percent reduction from baseline, positive = improvement, as
    trials report it), which must agree with the scores within :data:`PCT_TOLERANCE`
    points when both are given (:func:`score_pct_change`). A percentage (from scores or
    given) wins over the recorded ``outcome``: >= 50% response, 25% to < 50% partial,
    < 25% nonresponse (Sforzini et al. 2021). Without either the recorded outcome is used, and
    "unknown" where there is none. One exception: a recorded "intolerance" wins over
    scores, because a trial stopped for side effects is not an efficacy failure.

    ``failed`` is ``adequate is True and outcome_class == "nonresponse"``;
    ``failed_or_partial`` also accepts "partial". Both are False where ``adequate`` is
    NA. The prospective (index) trial is judged like the others; its ``prospective``
    column is kept so callers can separate history from the index trial. The episode
    rule (``current_episode``: the trial's episode is the patient's highest) is
    reported, not applied: counting failures in the current episode is the caller's
    step.

    Parameters
    ----------
    treatments : pandas.DataFrame
        The treatments table (one row per trial). Needs ``patient_id, episode, trial,
        modality, agent, duration_weeks, prospective``; ``dose_mg_day, sessions,
        baseline_score, end_score, pct_change, outcome`` are used when present.
    min_weeks : float
        Minimum duration of an adequate drug trial, in weeks (default 6, the ATRQ's).
    min_psychotherapy_sessions : int
        Minimum attended sessions of an adequate psychotherapy.
    doses : pandas.DataFrame, optional
        Minimum-dose table with columns ``agent, min_daily_dose_mg, source`` (as in
        :func:`load_doses`, the default).
    min_sessions : mapping, optional
        Minimum sessions for ECT, rTMS, esketamine and ketamine; keys given here replace
        those of :data:`DEFAULT_MIN_SESSIONS`.

    Returns
    -------
    pandas.DataFrame
        One row per input trial, in input order: ``patient_id, episode, trial, modality,
        agent, prospective, drug_class, current_episode, adequate_dose,
        adequate_duration, adequate_sessions, adequate, adequacy_reason, pct_change,
        outcome_class, remission, failed, failed_or_partial``. The ``adequate*`` columns are
        pandas nullable booleans (NA where unknowable or not applicable).

    Raises
    ------
    stratify.errors.InputError
        A required column is missing, or a record has an unknown modality or outcome, an
        empty agent, a negative or non-numeric number, or repeats another's (patient,
        episode, trial); the message names the record and column.

    References
    ----------
    Sforzini L et al. A Delphi-method-based consensus guideline for definition of
    treatment-resistant depression for clinical trials. Mol Psychiatry 2021 (Table 1,
    recs. 3 and 10). Chandler GM et al. Validation of the Massachusetts General Hospital
    Antidepressant Treatment History Questionnaire (ATRQ). CNS Neurosci Ther 2010. Conway CR,
    George MS, Sackeim HA. Toward an evidence-based, operational definition of
    treatment-resistant depression. JAMA Psychiatry 2017. Minimum doses: MGH ATRQ (Chandler et al. 2010; Desseilles et al. 2011),
    see resources/SOURCES.md.

    Examples
    --------
    >>> t = pd.DataFrame({
    ...     "patient_id": "P1", "episode": [1, 2, 2, 2], "trial": [1, 1, 2, 3],
    ...     "modality": ["medication", "medication", "medication", "psychotherapy"],
    ...     "agent": ["sertraline", "citalopram", "citalopram", "cbt"],
    ...     "dose_mg_day": [100, 10, 40, np.nan], "duration_weeks": [8, 6, 3, 12],
    ...     "sessions": [np.nan, np.nan, np.nan, 8],
    ...     "baseline_score": [20, 20, 20, np.nan], "end_score": [18, 19, 19, np.nan],
    ...     "outcome": [None, None, None, "nonresponse"], "prospective": False})
    >>> a = assess_trials(t)
    >>> a[["current_episode", "adequate", "outcome_class", "failed"]]
       current_episode  adequate outcome_class  failed
    0            False      True   nonresponse    True
    1             True     False   nonresponse   False
    2             True     False   nonresponse   False
    3             True      True   nonresponse    True
    >>> a.loc[1, "adequacy_reason"]
    'dose 10 mg < minimum 20 mg (ATRQ); duration 6 weeks >= 6'
    >>> a.loc[3, "adequacy_reason"]
    '8 sessions >= 8'
    """
    t = _validate(treatments)
    dose_table = load_doses() if doses is None else _check_doses(doses)
    min_dose = dict(zip(dose_table["agent"], dose_table["min_daily_dose_mg"]))
    dose_src = dict(zip(dose_table["agent"], dose_table["source"]))
    sessions_needed = {
        **DEFAULT_MIN_SESSIONS,
        **dict(min_sessions or {}),
        "psychotherapy": int(min_psychotherapy_sessions),
    }
    classes = load_resource("drugs.yaml")

    out = t[KEY].copy()
    out["drug_class"] = [_drug_class(m, a, classes) for m, a in zip(t["modality"], t["agent"])]
    out["current_episode"] = (t["episode"] == t.groupby("patient_id")["episode"].transform("max")).astype(bool)

    judged = [_judge_trial(row, sessions_needed, min_dose, dose_src, min_weeks) for row in t.to_dict("records")]
    adq_dose, adq_dur, adq_ses, adq, reasons = (list(col) for col in zip(*judged)) if judged else ([],) * 5
    out["adequate_dose"] = pd.array(adq_dose, dtype="boolean")
    out["adequate_duration"] = pd.array(adq_dur, dtype="boolean")
    out["adequate_sessions"] = pd.array(adq_ses, dtype="boolean")
    out["adequate"] = pd.array(adq, dtype="boolean")
    out["adequacy_reason"] = reasons
    out["pct_change"] = [
        score_pct_change(b, e, g, record=_record(r))
        for b, e, g, r in zip(
            t["baseline_score"],
            t["end_score"],
            t["pct_change"],
            t[["patient_id", "episode", "trial"]].to_dict("records"),
        )
    ]
    out["pct_change"] = out["pct_change"].astype(float)
    out["outcome_class"] = [classify_outcome(o, p) for o, p in zip(t["outcome"], out["pct_change"])]
    out["remission"] = _remission(t)
    is_adequate = out["adequate"].fillna(False).astype(bool)
    out["failed"] = is_adequate & (out["outcome_class"] == "nonresponse")
    out["failed_or_partial"] = is_adequate & out["outcome_class"].isin(["nonresponse", "partial"])
    return out[OUTPUT_COLUMNS]


def _judge_sessions(row: dict[str, Any], need: int) -> tuple[Any, str]:
    """A session-based trial: attended sessions against the modality's minimum."""
    n = row["sessions"]
    if math.isnan(n):
        return pd.NA, "no sessions recorded"
    s = bool(n >= need)
    return s, f"{_fmt(n)} sessions {'>=' if s else '<'} {need}"


def _judge_dose(row: dict[str, Any], min_dose: dict[str, float], dose_src: dict[str, str]) -> tuple[Any, str]:
    """A drug trial's daily dose against the agent's minimum (NA where it cannot be judged)."""
    agent, dose = row["agent"], row["dose_mg_day"]
    minimum = min_dose.get(agent, math.nan)
    if "+" in agent:
        return pd.NA, f"combination '{agent}': one dose cannot be checked against per-agent minima"
    if agent not in min_dose:
        return pd.NA, f"no minimum dose for '{agent}' in the dose table"
    if math.isnan(minimum):
        return pd.NA, f"no sourced minimum dose for '{agent}'"
    if math.isnan(dose):
        return pd.NA, "no dose recorded"
    d = bool(dose >= minimum)
    return d, f"dose {_fmt(dose)} mg {'>=' if d else '<'} minimum {_fmt(minimum)} mg ({dose_src.get(agent, '')})"


def _judge_duration(row: dict[str, Any], min_weeks: float) -> tuple[Any, str]:
    """A drug trial's duration against `min_weeks`, and Sforzini's week-4 rule."""
    weeks = row["duration_weeks"]
    if math.isnan(weeks):
        return pd.NA, "no duration recorded"
    if min_weeks <= weeks < SFORZINI_MIN_WEEKS:
        # long enough for a study's own min_weeks below 4, but Sforzini's rule still holds
        return False, (
            f"duration {_fmt(weeks)} weeks < {_fmt(SFORZINI_MIN_WEEKS)}: stopped before the end "
            "of week 4, not a failure (Sforzini et al. 2021 rec. 10)"
        )
    w = bool(weeks >= min_weeks)
    return w, f"duration {_fmt(weeks)} weeks {'>=' if w else '<'} {_fmt(min_weeks)}"


def _judge_trial(
    row: dict[str, Any],
    sessions_needed: dict[str, int],
    min_dose: dict[str, float],
    dose_src: dict[str, str],
    min_weeks: float,
) -> tuple[Any, Any, Any, Any, str]:
    """(adequate dose, duration, sessions, adequate overall, reason) of one trial."""
    if row["modality"] in SESSION_MODALITIES:
        s, why = _judge_sessions(row, sessions_needed[row["modality"]])
        return pd.NA, pd.NA, s, _and3([s]), why
    d, why_dose = _judge_dose(row, min_dose, dose_src)
    w, why_weeks = _judge_duration(row, min_weeks)
    return d, w, pd.NA, _and3([d, w]), f"{why_dose}; {why_weeks}"
