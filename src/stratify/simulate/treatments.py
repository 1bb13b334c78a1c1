"""Simulated treatment histories: prior trials rich enough to exercise every TRD definition.

Per patient: 0-6 prior trials in the current episode following a typical sequence (an SSRI; a
second SSRI or a switch to an SNRI or other class; then augmentation, a tricyclic, a switch,
an MAOI or ECT), psychotherapy courses anywhere in it, for some a responded trial in a
previous episode, and a highly resistant tail climbing the Thase-Rush ladder. The shares are
:data:`HISTORY` and :data:`LADDER` (docs/simulation.md, "Treatment histories"). Then the
prospective index trial, whose scores and dropout :func:`treatment_table` fills in.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

# Index (prospective) treatments and their shares; SSRI/SNRI flag; typical dose (mg/day).
INDEX_AGENTS = {
    "escitalopram": (0.30, True, 15),
    "citalopram": (0.15, True, 30),
    "sertraline": (0.20, True, 100),
    "venlafaxine": (0.15, True, 150),
    "bupropion": (0.10, False, 300),
    "mirtazapine": (0.10, False, 30),
}
# Prior trials by step of a typical treatment sequence: agent -> (class, usual dose mg/day).
# Usual doses are at or above the minimum in resources/adequate_doses.tsv; an "inadequate"
# trial is given half that minimum.
PRIOR_SSRI = {"sertraline": 100, "fluoxetine": 20, "paroxetine": 20, "citalopram": 20, "escitalopram": 10}
PRIOR_SWITCH = {"venlafaxine": 150, "duloxetine": 60, "mirtazapine": 30, "bupropion": 300, "vortioxetine": 10}
PRIOR_TCA = {"nortriptyline": 75, "amitriptyline": 150, "clomipramine": 150}
PRIOR_MAOI = {"phenelzine": 60, "tranylcypromine": 40}
# Augmenters: the dose table has no minimum for lithium or aripiprazole, so those trials'
# adequacy is unknown to the pipeline (uncertain failures), as it would be in real data.
AUGMENTERS = {"quetiapine": 150, "lithium": 800, "aripiprazole": 5}
AUGMENTER_SHARE = [0.6, 0.25, 0.15]
PSYCHOTHERAPIES = ["cbt", "ipt", "behavioural_activation"]
# History shares (see docs/simulation.md, "Treatment histories")
HISTORY = {
    "n_prior_p": [0.30, 0.25, 0.18, 0.12, 0.08, 0.05, 0.02],  # 0-6 prior trials in the current episode
    "previous_episode": 0.3,
    "bipolar": 0.03,
    "psychotic_features": 0.04,
    "inadequate_dose": 0.15,
    "short_trial": 0.15,
    "scores_recorded": 0.35,
    "outcome_p": {"nonresponse": 0.57, "partial": 0.23, "intolerance": 0.15, "response": 0.05},
    "psychotherapy": 0.15,
    "min_psychotherapy_sessions": 8,
    "min_ect_sessions": 6,
    # a highly resistant tail climbing the Thase-Rush ladder: SSRI, SNRI, augmentation, TCA, MAOI, ECT
    "ladder": 0.05,
    "ladder_nonresponse": 0.85,
}
LADDER = [
    ("ssri", PRIOR_SSRI),
    ("snri", {"venlafaxine": 150, "duloxetine": 60}),
    ("augmentation", AUGMENTERS),
    ("tca", PRIOR_TCA),
    ("maoi", PRIOR_MAOI),
    ("ect", None),
]


_BANDS = ("nonresponse", "partial", "response")


def _band(base: float, end: float) -> str:
    r = (base - end) / base
    return _BANDS[0] if r < 0.25 else _BANDS[1] if r < 0.5 else _BANDS[2]


def _trial_outcome(rng) -> str:
    o = HISTORY["outcome_p"]
    return str(rng.choice(list(o), p=list(o.values())))


_MIN_DOSES: dict[str, float] = {}


def _min_dose(agent: str) -> float:
    """Minimum daily dose of the shipped dose table (or the usual dose where it has none)."""
    if not _MIN_DOSES:
        from stratify.clinical.adequacy import load_doses

        table = load_doses()
        _MIN_DOSES.update(zip(table["agent"], table["min_daily_dose_mg"]))
    m = _MIN_DOSES.get(agent, np.nan)
    return float(m) if np.isfinite(m) else float(AUGMENTERS.get(agent, 10))


class Histories(NamedTuple):
    """What :func:`draw_histories` returns, one entry per patient except ``rows``."""

    rows: list[dict[str, Any]]
    prior_failed: np.ndarray
    diagnosis: np.ndarray
    psychotic: np.ndarray
    chronic_months: np.ndarray


def _previous_episode_trial(rng, pid) -> dict[str, Any]:
    """A responded SSRI trial in a previous episode."""
    ag = str(rng.choice(list(PRIOR_SSRI)))
    return dict(
        patient_id=pid,
        episode=1,
        trial=1,
        modality="medication",
        agent=ag,
        dose_mg_day=float(PRIOR_SSRI[ag]),
        duration_weeks=float(rng.integers(6, 26)),
        outcome="response",
        prospective=False,
    )


def _psychotherapy_trial(rng, row: dict[str, Any]) -> int:
    """Fill ``row`` with a psychotherapy course of 3-20 sessions; returns 1 if it is a failed
    adequate trial."""
    sessions = int(rng.integers(3, 21))
    outcome = str(rng.choice(["nonresponse", "partial"], p=[0.7, 0.3]))
    row.update(
        modality="psychotherapy",
        agent=str(rng.choice(PSYCHOTHERAPIES)),
        sessions=sessions,
        duration_weeks=float(sessions + rng.integers(0, 5)),
        outcome=outcome,
    )
    return int(sessions >= HISTORY["min_psychotherapy_sessions"] and outcome == "nonresponse")


def _next_step(rng, k: int) -> str:
    """The kind of the k-th prior trial of the typical sequence."""
    if k == 1:
        return "ssri"
    if k == 2:
        return str(rng.choice(["ssri", "switch"]))
    return str(
        rng.choice(
            ["augmentation", "tca", "switch", "maoi", "ect"],
            p=[0.3, 0.25, 0.2, 0.15, 0.1] if k >= 4 else [0.4, 0.3, 0.3, 0, 0],
        )
    )


def _ect_course(rng, row: dict[str, Any], *, ladder: bool, ladder_outcome: str) -> int:
    """Fill ``row`` with an ECT course; returns 1 if it is a failed adequate trial."""
    sessions = int(rng.integers(6, 15)) if ladder else int(rng.integers(3, 15))
    outcome = ladder_outcome if ladder else str(rng.choice(["nonresponse", "partial"], p=[0.6, 0.4]))
    row.update(modality="ECT", agent="ect", sessions=sessions, duration_weeks=float(sessions // 3 + 1), outcome=outcome)
    return int(sessions >= HISTORY["min_ect_sessions"] and outcome == "nonresponse")


def _recorded_scores(rng, outcome: str) -> tuple[float, float]:
    """HAMD-17 baseline and end scores whose reduction falls in the band of ``outcome``."""
    base = float(rng.integers(16, 31))
    lo, hi = {"nonresponse": (-0.10, 0.24), "partial": (0.25, 0.49), "response": (0.5, 0.9)}[outcome]
    end = float(round(base * (1 - rng.uniform(lo, hi))))
    # rounding must not move the trial across a band boundary (25% and 50%)
    while (got := _BANDS.index(_band(base, end))) != _BANDS.index(outcome):
        end += 1.0 if got > _BANDS.index(outcome) else -1.0
    return base, end


def _drug_trial(rng, row: dict[str, Any], step: str, *, ladder: bool, ladder_outcome: str, used: set) -> int:
    """Fill ``row`` with a medication or augmentation trial of kind ``step`` (an agent not yet
    ``used`` where the class has one); returns 1 if it is a failed adequate trial."""
    pool = {
        "ssri": PRIOR_SSRI,
        "switch": PRIOR_SWITCH,
        "tca": PRIOR_TCA,
        "maoi": PRIOR_MAOI,
        "augmentation": AUGMENTERS,
        "snri": LADDER[1][1],
    }[step]
    if step == "augmentation" and ladder:
        ag = "quetiapine"
    elif step == "augmentation":
        ag = str(rng.choice(list(AUGMENTERS), p=AUGMENTER_SHARE))
    else:
        choices = [a for a in pool if a not in used] or list(pool)
        ag = str(rng.choice(choices))
    used.add(ag)
    adequate_dose = ladder or rng.random() >= HISTORY["inadequate_dose"]
    dose = pool[ag] if adequate_dose else _min_dose(ag) / 2
    short = not ladder and rng.random() < HISTORY["short_trial"]
    dur = float(rng.integers(2, 4)) if short else float(rng.integers(4, 13))
    outcome = ladder_outcome if ladder else _trial_outcome(rng)
    row.update(
        modality="augmentation" if step == "augmentation" else "medication",
        agent=ag,
        dose_mg_day=float(dose),
        duration_weeks=dur,
    )
    if outcome != "intolerance" and rng.random() < HISTORY["scores_recorded"]:
        base, end = _recorded_scores(rng, outcome)
        row.update(instrument="HAMD17", baseline_score=base, end_score=end)
    else:
        row.update(outcome=outcome)
    return int(adequate_dose and not short and outcome == "nonresponse")


def _patient_history(rng, pid, *, episode, n_prior, ladder: bool, index_agent) -> tuple[list[dict[str, Any]], int]:
    """One patient's trials (prior ones, then the index trial) and number of failed adequate trials."""
    rows, failed = [], 0
    if episode == 2:
        rows.append(_previous_episode_trial(rng, pid))
    used = {index_agent}
    for k in range(1, int(n_prior) + 1):
        row = dict(patient_id=pid, episode=episode, trial=k, prospective=False)
        if not ladder and rng.random() < HISTORY["psychotherapy"]:
            failed += _psychotherapy_trial(rng, row)
        else:
            step = LADDER[k - 1][0] if ladder else _next_step(rng, k)
            ladder_outcome = "nonresponse" if rng.random() < HISTORY["ladder_nonresponse"] else "partial"
            if step == "ect":
                failed += _ect_course(rng, row, ladder=ladder, ladder_outcome=ladder_outcome)
            else:
                failed += _drug_trial(rng, row, step, ladder=ladder, ladder_outcome=ladder_outcome, used=used)
        rows.append(row)
    rows.append(
        dict(
            patient_id=pid,
            episode=episode,
            trial=int(n_prior) + 1,
            modality="medication",
            agent=index_agent,
            dose_mg_day=float(INDEX_AGENTS[index_agent][2]),
            duration_weeks=8.0,
            instrument="HAMD17",
            prospective=True,
        )
    )
    return rows, failed


def draw_histories(rng: np.random.Generator, pid: np.ndarray, index_agent: np.ndarray) -> Histories:
    """Treatment histories rich enough to exercise every TRD definition.

    Per patient: 0-6 prior trials in the current episode following a typical sequence (an
    SSRI; a second SSRI or a switch to an SNRI or other class; then augmentation, a
    tricyclic, a switch, an MAOI or ECT), psychotherapy courses of 3-20 sessions anywhere in
    it, and for 30% one responded trial in a previous episode. A 5% highly resistant tail
    climbs the ladder SSRI, SNRI, augmentation, TCA, MAOI, ECT (4-6 steps, adequate, 85%
    non-response each) in a chronic episode of 2-5 years. Some trials are at half the
    minimum dose or shorter than 4 weeks (inadequate); 35% of drug trials record HAMD-17
    scores instead of an outcome. 3% of patients are bipolar, 4% have psychotic features.

    Returns the rows, the true number of failed adequate trials per patient (adequate by
    construction: usual dose, >= 4 weeks, >= 8 psychotherapy or >= 6 ECT sessions; outcome
    non-response), the diagnosis, the psychotic-features flag and the months the chronic
    tail's episode has lasted (0 for the others).
    """
    n = len(pid)
    n_prior = rng.choice(len(HISTORY["n_prior_p"]), size=n, p=HISTORY["n_prior_p"])
    ladder = rng.random(n) < HISTORY["ladder"]
    n_prior = np.where(ladder, rng.integers(4, len(LADDER) + 1, n), n_prior)
    # the resistant tail is chronic: its current episode has lasted 2-5 years
    chronic_months = np.where(ladder, rng.uniform(25, 60, n).round(1), 0.0)
    episode = np.where(rng.random(n) < HISTORY["previous_episode"], 2, 1)
    diagnosis = np.where(rng.random(n) < HISTORY["bipolar"], "bipolar", "MDD").astype(object)
    psychotic = rng.random(n) < HISTORY["psychotic_features"]
    rows: list[dict[str, Any]] = []
    prior_failed = np.zeros(n, dtype=int)
    for i in range(n):
        patient_rows, prior_failed[i] = _patient_history(
            rng, pid[i], episode=episode[i], n_prior=n_prior[i], ladder=ladder[i], index_agent=index_agent[i]
        )
        rows.extend(patient_rows)
    return Histories(rows, prior_failed, diagnosis, psychotic, chronic_months)


def treatment_table(
    rng: np.random.Generator,
    hist: Histories,
    pid: np.ndarray,
    episode_months: np.ndarray,
    *,
    baseline: np.ndarray,
    end: np.ndarray,
    dropout: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The treatments table: the histories with the index trial's HAMD-17 ``baseline`` and
    ``end`` totals, and for dropouts an end after 1-4 weeks with outcome ``unknown``.

    Also returns ``episode_months`` raised so that the current episode lasts at least as long
    as the trials already given in it.
    """
    n = len(pid)
    treatments = pd.DataFrame(hist.rows)
    cur = treatments["episode"] == treatments.groupby("patient_id")["episode"].transform("max")
    weeks = treatments[cur & ~treatments["prospective"]].groupby("patient_id")["duration_weeks"].sum()
    episode_months = np.maximum(
        episode_months, np.ceil(10 * pd.Series(pid).map(weeks).fillna(0).to_numpy() / 4.345) / 10
    )
    idx_rows = treatments["prospective"].to_numpy()
    treatments.loc[idx_rows, "baseline_score"] = baseline.astype(float)
    treatments.loc[idx_rows, "end_score"] = np.where(dropout, np.nan, end).astype(float)
    treatments.loc[idx_rows, "duration_weeks"] = np.where(dropout, rng.integers(1, 5, n), 8).astype(float)
    treatments.loc[idx_rows, "outcome"] = np.where(dropout, "unknown", None)
    return treatments, episode_months
