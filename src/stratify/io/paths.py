"""Locate the data that ships with stratify (JSON schemas, reference tables).

In a source checkout (``pip install -e .``) they live in ``workflow/schemas`` and
``resources``; in a built wheel they are copied to ``stratify/_data``.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent
_REPO = _PKG.parent.parent


def _first_existing(*candidates: Path) -> Path:
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError("stratify's data folder is missing; looked in: " + ", ".join(map(str, candidates)))


def schema_dir() -> Path:
    """Folder holding the JSON schemas (``*.schema.yaml``)."""
    return _first_existing(_PKG / "_data" / "schemas", _REPO / "workflow" / "schemas")


def resource_dir() -> Path:
    """Folder holding the shipped reference tables (see resources/SOURCES.md)."""
    return _first_existing(_PKG / "_data" / "resources", _REPO / "resources")


def read_reference_tsv(path: str | Path, columns, *, error: type[Exception], expected: str = ""):
    """A reference table (tab-separated, every cell text, empty cells ``""``) that must hold
    ``columns``; a missing column raises ``error`` naming the file (a damaged installation, or
    a study's own table given in its place).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.tsv")
    >>> _ = open(p, "w").write("drug\\tdose\\nx\\t1\\n")
    >>> read_reference_tsv(p, ["drug", "dose"], error=ValueError)["dose"].tolist()
    ['1']
    >>> try:
    ...     read_reference_tsv(p, ["drug", "gene"], error=ValueError)
    ... except ValueError as e:
    ...     print(str(e).split(": ", 1)[1])
    lacks column(s) gene
    """
    import pandas as pd

    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise error(f"{path}: lacks column(s) {', '.join(absent)}" + (f"; expected {expected}" if expected else ""))
    return table
