"""Stage "trd": treatment-resistant depression by six published definitions, side by side.

Each definition is one module of :mod:`stratify.trd` whose function returns one row per
patient with its call and a ``*_reason`` column that says, in words, why; the per-patient
loop and the conventions they share are in :mod:`stratify.trd.common`. :data:`DEFINITIONS`
lists them: :func:`stage_all` puts them side by side and
:func:`stratify.trd.concordance.concordance` measures how often their yes/no calls agree.

To add a definition: write ``stratify/trd/<name>.py`` with the function (data first, then
``include_prospective`` and its own keyword options; :func:`stratify.trd.common.stage_patients`
runs its per-patient rule) and its yes/no call, and add one :class:`Definition` line below.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from stratify.trd.conway import conway_2017, conway_binary
from stratify.trd.markowitz import markowitz_2022, markowitz_binary
from stratify.trd.maudsley import maudsley_staging, msm_binary
from stratify.trd.sforzini import sforzini_2021, sforzini_binary, sforzini_pk_variant
from stratify.trd.thase_rush import thase_rush_1997, thase_rush_binary

__all__ = ["DEFINITIONS", "Definition", "stage_all", "trd_options"]


@dataclass(frozen=True)
class Definition:
    """One TRD definition as the stage runs it.

    Attributes
    ----------
    stage
        ``stage(trials, patients, *, include_prospective, **options)``: one row per patient.
    call
        The name of its yes/no TRD call (a column of :func:`stratify.trd.concordance.binary_calls`).
    binary
        The yes/no call (nullable boolean) from :func:`stage_all`'s output.
    columns
        The columns of :func:`stage_all`'s output that ``binary`` reads.
    options
        :func:`stage_all` keyword -> this definition's keyword.
    published
        False for a variant of ours; its call comes after the published ones.
    """

    stage: Callable[..., pd.DataFrame]
    call: str
    binary: Callable[[pd.DataFrame], pd.Series]
    columns: tuple[str, ...]
    options: Mapping[str, str] = field(default_factory=dict)
    published: bool = True


_SFORZINI_OPTIONS = {"sforzini_count_psychotherapy": "count_psychotherapy"}

#: Every definition, in the order of :func:`stage_all`'s columns.
DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        sforzini_2021,
        "sforzini_trd",
        lambda s: sforzini_binary(s["sforzini_2021"]),
        ("sforzini_2021",),
        _SFORZINI_OPTIONS,
    ),
    Definition(
        sforzini_pk_variant,
        "sforzini_pk_trd",
        lambda s: sforzini_binary(s["sforzini_pk"]),
        ("sforzini_pk",),
        _SFORZINI_OPTIONS,
        published=False,
    ),
    Definition(thase_rush_1997, "thase_rush_ge_II", thase_rush_binary, ("thase_rush_1997",)),
    Definition(maudsley_staging, "msm_moderate_plus", msm_binary, ("msm_score", "msm_band")),
    Definition(
        conway_2017,
        "conway_ge_1",
        conway_binary,
        ("conway_2017",),
        {"conway_min_sessions": "min_psychotherapy_sessions"},
    ),
    Definition(
        markowitz_2022,
        "markowitz",
        markowitz_binary,
        ("markowitz_2022",),
        {"markowitz_min_sessions": "min_psychotherapy_sessions"},
    ),
)


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
    return {
        "conway_min_sessions": int(cc.get("min_psychotherapy_sessions", 8)),
        "markowitz_min_sessions": int(cc.get("markowitz_min_sessions", 9)),
        "sforzini_count_psychotherapy": bool(cc.get("sforzini_count_psychotherapy", False)),
    }


def stage_all(
    trials: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    include_prospective: bool = False,
    conway_min_sessions: int = 8,
    markowitz_min_sessions: int = 9,
    sforzini_count_psychotherapy: bool = False,
) -> pd.DataFrame:
    """Every definition side by side: one row per patient of ``patients``.

    Columns: ``patient_id``, then each definition's call and ``*_reason`` (plus the MSM
    band and items and the Sforzini failure counts), in the order of :data:`DEFINITIONS`:
    Sforzini, Sforzini PK variant, Thase-Rush, MSM, Conway, Markowitz. Options are passed to
    the definitions that take them (:attr:`Definition.options`).

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
    options = {
        "conway_min_sessions": conway_min_sessions,
        "markowitz_min_sessions": markowitz_min_sessions,
        "sforzini_count_psychotherapy": sforzini_count_psychotherapy,
    }
    out = None
    for d in DEFINITIONS:
        kw = {own: options[name] for name, own in d.options.items()}
        part = d.stage(trials, patients, include_prospective=include_prospective, **kw)
        out = part if out is None else out.merge(part, on="patient_id", how="left", validate="one_to_one")
    return out
