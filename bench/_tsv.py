"""The bench scripts' TSV writer: one row per dict, the given columns, each value formatted by
``fmt(value, column)`` (tabs inside a value become spaces)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def write_tsv(rows: list[dict], path: Path, columns: list[str], fmt: Callable[[object, str], str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fh.write("\t".join(columns) + "\n")
        for r in rows:
            fh.write("\t".join(fmt(r.get(c), c).replace("\t", " ") for c in columns) + "\n")
