"""stratify's plain call table: a TSV with ``sample, gene, diplotype`` and optional ``status``,
``alternatives``, ``note``.
"""

from __future__ import annotations

from pathlib import Path

from stratify.errors import PgxError, where
from stratify.pgx.callers.common import STATUSES, read_lines, row

#: The column (or field) that holds the diplotype, for error messages.
COLUMN = "diplotype"


def read_plain(path: Path, *, sample: str | None = None, gene: str | None = None) -> list[list]:
    """A TSV with columns ``sample, gene, diplotype`` (optional ``status, alternatives, note``)."""
    # no quoting: a stray '"' must not join lines into one record
    reader = iter([line.split("\t") for line in read_lines(path, "a TSV of calls")])
    header = next(reader, None)
    if header is None:
        raise PgxError(f"{path}: empty file; expected a TSV with columns sample, gene, diplotype")
    header = [h.strip() for h in header]
    absent = [c for c in ("sample", "gene", "diplotype") if c not in header]
    if absent:
        raise PgxError(
            f"{where(path, 1)}: missing column(s) {', '.join(absent)}; expected sample, gene, "
            "diplotype (optional status, alternatives, note)"
        )
    col = {h: i for i, h in enumerate(header)}
    rows = []
    for n, fields in enumerate(reader, start=2):
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise PgxError(f"{where(path, n)}: {len(fields)} fields, expected {len(header)} as in the header")

        def get(name: str, fields: list[str] = fields) -> str:
            return fields[col[name]].strip() if name in col else ""

        sample, gene, dip = get("sample"), get("gene"), get("diplotype")
        if not sample or not gene:
            raise PgxError(f"{where(path, n)}: empty sample or gene; expected both")
        status = get("status") or ("called" if dip else "no-call")
        if status not in STATUSES:
            raise PgxError(f"{where(path, n, 'status')}: {status!r}; expected one of {', '.join(STATUSES)}")
        if status != "no-call" and not dip:
            raise PgxError(f"{where(path, n, 'diplotype')}: empty for status {status!r}; expected a diplotype")
        alternatives = [a.strip() for a in get("alternatives").split(";") if a.strip()]
        if alternatives and status != "ambiguous":
            raise PgxError(
                f"{where(path, n, 'alternatives')}: alternatives given for status {status!r}; "
                "expected status 'ambiguous'"
            )
        candidates = [dip, *alternatives] if dip else []
        rows.append(row(sample, gene, candidates, "plain", status, get("note"), path, n, column=COLUMN))
    return rows
