"""The parts of the consortium report and the helpers its sections share: each table part
with the columns it must have, missing values as "n/a", intervals as text, the stage's skipped
analyses (:mod:`stratify.report.consortium`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import InputError
from stratify.report.context import Figure, Table, img, table

#: the keys of ``parts`` (as ``load_consortium_results`` returns them)
PARTS = (
    "name",
    "summary",
    "cohorts",
    "harmonisation",
    "transport",
    "loco",
    "replication",
    "verdicts",
    "overview",
    "pooled",
    "pooled_raw",
    "profile_matches",
    "plots",
)

#: the columns each table part must have (cohorts.tsv, harmonisation.tsv, ... of the results folder)
COLUMNS = {
    "cohorts": ["cohort", "n_patients", "endpoint", "endpoint_converted", "subtypes_claimed", "lacks"],
    "harmonisation": ["cohort", "from_instrument", "to_instrument", "n_patients", "table"],
    "transport": ["train", "test", "kind", "run", "reason", "auc", "auc_ci_low", "auc_ci_high"],
    "loco": ["train", "test", "run", "reason", "auc", "auc_ci_low", "auc_ci_high"],
    "replication": ["cohort_a", "cohort_b"],
    "verdicts": ["cohort_a", "cohort_b", "subtype", "verdict", "why"],
    "overview": ["cohort", "subtype", "replicated_in", "not_replicated_in", "not_testable_in", "claimed_only_here"],
    "profile_matches": ["cohort_a", "cohort_b", "cluster_a", "cluster_b", "distance", "name_a", "name_b"],
}

#: columns that must hold numbers (or nothing)
NUMBERS = {
    "transport": ["auc", "auc_ci_low", "auc_ci_high"],
    "loco": ["auc", "auc_ci_low", "auc_ci_high"],
    "profile_matches": ["distance"],
}
NA = "n/a"


def yes(v: Any) -> bool:
    """A flag from a table cell (bool, 0/1 or the text "True"/"False"); missing is False."""
    if isinstance(v, str):
        return v.strip().lower() in {"true", "1", "yes"}
    return False if missing(v) else bool(v)


def missing(v: Any) -> bool:
    """Whether a cell has no value (None, NaN, pd.NA, blank text)."""
    if v is None or v is pd.NA or (isinstance(v, str) and not v.strip()):
        return True
    return isinstance(v, float) and math.isnan(v)


def num(v: Any, spec: str = ".3f") -> str:
    """A number as text, "n/a" when missing."""
    return NA if missing(v) else format(float(v), spec)


def with_ci(est: Any, lo: Any, hi: Any, spec: str = ".3f") -> str:
    """``est (95% CI lo-hi)``; "n/a" when the estimate is missing, no interval when it is."""
    if missing(est):
        return NA
    if missing(lo) or missing(hi):
        return num(est, spec)
    return f"{num(est, spec)} ({num(lo, spec)} to {num(hi, spec)})"


#: columns whose missing or blank cell means "none" (a list of things, or no reason), not "n/a"
NONE_COLUMNS = frozenset(
    {
        "endpoint_converted",
        "lacks",
        "subtype_names",
        "features not available",
        "features shifted",
        "endpoint differences",
        "not testable because",
        "replicated in",
        "not replicated in",
        "not testable in",
        "table",
        "linking table",
    }
)


def _cell(v: Any, none: bool) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return "none" if none else NA
    return "none" if none and isinstance(v, str) and not v.strip() else v


def shown(df: pd.DataFrame, *, max_rows: int = 60) -> Table:
    """:func:`stratify.report.context.table` with missing cells as "n/a" (as "none" in
    :data:`NONE_COLUMNS`) and flags as yes/no."""
    d = df.astype(object)
    for c in d.columns:
        d[c] = d[c].map(lambda v, none=str(c) in NONE_COLUMNS: _cell(v, none))
    return table(d, max_rows=max_rows)


def frame(parts: Mapping[str, Any], key: str) -> pd.DataFrame:
    """A table part as a DataFrame with its :data:`COLUMNS` (an empty one when the part is
    empty or None); an :class:`~stratify.errors.InputError` naming the part and column when a
    non-empty table lacks one."""
    df = parts[key]
    if df is None:
        df = pd.DataFrame()
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"consortium report: part {key!r} must be a table (DataFrame), got {type(df).__name__}")
    cols = COLUMNS[key]
    if df.empty:
        return df.reindex(columns=list(dict.fromkeys([*df.columns, *cols])))
    lacking = [c for c in cols if c not in df.columns]
    if lacking:
        raise InputError(
            f"consortium report: table {key!r} ({key}.tsv of the consortium results) lacks column(s) "
            f"{', '.join(lacking)}; expected at least {', '.join(cols)}"
        )
    df = df.reset_index(drop=True)
    for c in NUMBERS.get(key, ()):
        values = pd.to_numeric(df[c], errors="coerce")
        bad = values.isna() & ~df[c].map(missing)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(
                f"consortium report: table {key!r} ({key}.tsv), row {i + 1}, column {c}: expected a number or "
                f"nothing, got {df[c].iloc[i]!r}"
            )
        df[c] = values
    return df


def figure(plots: Mapping[str, Any], name: str, alt: str) -> Figure:
    """The plot ``name`` (``plots`` maps a name, with or without ``.png``, to its file) embedded."""
    p = plots.get(name) or plots.get(name + ".png")
    return img(Path(p), alt) if p else Figure(name + ".png", alt, None)


#: the stage's analysis names in plain words (the report's "Not analysed" list)
ANALYSIS_WORDS = {
    "transport": "Transport matrix",
    "leave_one_cohort_out": "Leave-one-cohort-out",
    "pooling": "Pooled estimates",
    "replication": "Subtype replication",
    "profile_matches": "Profile comparison",
    "forest_variance_ratio": "Variance-ratio forest plot",
}


def skipped(summary: Mapping[str, Any]) -> dict[str, str]:
    """Analyses the stage skipped, name -> reason, from summary.json: ``analyses`` as
    ``{name: {"run": bool, "reason": str}}`` and/or ``skipped`` as ``{name: reason}`` or a list
    of ``{"analysis", "reason"}``."""
    out: dict[str, str] = {}
    for name, a in (summary.get("analyses") or {}).items():
        if isinstance(a, Mapping) and a.get("run") is False:
            out[str(name)] = str(a.get("reason") or "no reason recorded")
    sk = summary.get("skipped") or {}
    items = sk.items() if isinstance(sk, Mapping) else ((d.get("analysis"), d.get("reason")) for d in sk)
    for name, why in items:
        out[str(name)] = str(why or "no reason recorded")
    return out


def skip_reason(summary: Mapping[str, Any], *names: str) -> str | None:
    """The reason the stage gives for skipping the first of ``names`` it skipped, or None."""
    sk = skipped(summary)
    return next((sk[n] for n in names if n in sk), None)


def check(parts: Mapping[str, Any]) -> None:
    """An :class:`~stratify.errors.InputError` naming what is missing when ``parts`` lacks a key of :data:`PARTS`."""
    if not isinstance(parts, Mapping):
        raise InputError(
            f"consortium report: parts must be a mapping of {', '.join(PARTS)}, got {type(parts).__name__}"
        )
    lacking = [k for k in PARTS if k not in parts]
    if lacking:
        raise InputError(
            f"consortium report: parts lack {', '.join(lacking)} (load_consortium_results of the consortium's "
            "results folder gives all of them)"
        )
