"""From result files to template values: tables, figures and numbers as the report shows them.

Each section module (``stratify.report.sections``) reads its stage's results and builds the
context of its template with these helpers; the templates decide the markup.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from stratify.report.pseudonym import active, pid


@dataclass(frozen=True)
class Table:
    """A table as the report shows it: header, rows of (text, is a number) cells, rows left out."""

    columns: list[str]
    rows: list[list[tuple[str, bool]]]
    more: int = 0


@dataclass(frozen=True)
class Figure:
    """An embedded PNG figure (``src`` a ``data:`` URI), or the name of one that was not produced."""

    name: str
    alt: str
    src: str | None


def fmt(v: Any) -> str:
    """A value as a table cell shows it: blank when missing, three significant digits.

    >>> fmt(None), fmt(float("nan")), fmt(0.123456), fmt(12345.6), fmt("x")
    ('', '', '0.123', '12346', 'x')
    """
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
        return ""
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def table(df: pd.DataFrame, *, max_rows: int = 50) -> Table:
    """The first ``max_rows`` rows of ``df``; numbers right-aligned, patient identifiers as the report shows them."""
    if "patient_id" in df.columns and active():
        df = df.assign(patient_id=df["patient_id"].map(pid))
    rows = []
    for _, r in df.head(max_rows).iterrows():
        rows.append([(fmt(v), isinstance(v, (int, float)) and not isinstance(v, bool)) for v in r])
    return Table([str(c) for c in df.columns], rows, max(len(df) - max_rows, 0))


def kv(d: dict[str, Any]) -> Table:
    """A two-column item/value table of ``d``."""
    return table(pd.DataFrame({"item": list(d), "value": [fmt(v) for v in d.values()]}))


def img(path: Path, alt: str) -> Figure:
    """The PNG at ``path`` as an embedded figure (``src`` None when the file is absent)."""
    if not path.exists():
        return Figure(path.name, alt, None)
    return Figure(path.name, alt, "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode())


def read_json(path: Path) -> dict[str, Any]:
    """A stage's JSON summary; empty when the file is absent."""
    return json.loads(path.read_text()) if path.exists() else {}


def read_tsv(path: Path, **kw) -> pd.DataFrame:
    """A stage's TSV result; an empty DataFrame when the file is absent or empty. The stages write
    a header even for an empty result (stages.write_tsv), but a results folder written by an older
    version may hold a one-byte file, which pandas cannot parse."""
    if not path.exists():
        return pd.DataFrame()
    try:
        return pd.read_csv(path, sep="\t", **kw)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
