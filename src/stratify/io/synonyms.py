"""Accepted spellings of the input contract: one table, ``resources/synonyms.tsv``.

Each row gives a field (``marker``, ``instrument``, ``unit``, ``column:<table>`` ...), the
canonical value and the spellings accepted for it. The reader maps every accepted spelling
to its canonical value, so that every later stage sees canonical values only.

Matching rules (why they differ per field):

* every field: surrounding spaces are ignored and case does not matter (``CRP`` = ``crp``,
  ``mg/l`` = ``mg/L``, ``Female`` = ``female``);
* names of things (:data:`TOLERANT` fields: markers, instruments, modalities, agents,
  diagnoses, outcomes) also ignore spaces, hyphens, underscores, dots and apostrophes, so
  ``HAM-D 17`` = ``HAMD17`` and ``IL 6`` = ``IL-6``: no two accepted names differ only
  there (:func:`load_synonyms` checks it);
* units ignore inner spaces only (``mg / L``); their ``/`` and ``^`` carry meaning;
* column names ignore case, and spaces or hyphens count as ``_``.

A spelling listed under the canonical value ``(ambiguous)`` is refused with the row's note
(``HAM-D`` names the 17-, 21- and 24-item scales). ``(missing)`` lists the spellings of an
empty cell.
"""

from __future__ import annotations

import itertools
import re
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import InputError, where
from stratify.io.paths import resource_dir

TABLE = "synonyms.tsv"
AMBIGUOUS = "(ambiguous)"
MISSING = "(missing)"
TOLERANT = frozenset({"marker", "instrument", "modality", "agent", "diagnosis", "outcome"})
_PUNCT = re.compile(r"[\s\-_.']+")
_SPACE = re.compile(r"\s+")


def normalise(field: str, text: str) -> str:
    """The key a spelling is matched by in ``field`` (see the module docstring).

    Examples
    --------
    >>> normalise("instrument", " HAM-D 17 "), normalise("unit", "mg / L"), normalise("column:x", "Visit Week")
    ('hamd17', 'mg/l', 'visit_week')
    """
    t = text.strip().casefold()
    if field in TOLERANT:
        return _PUNCT.sub("", t)
    if field.startswith("column:"):
        return re.sub(r"[\s\-]+", "_", t)
    return _SPACE.sub("", t)


@cache
def load_synonyms() -> dict[str, Any]:
    """Read the table once: ``{"map": {field: {key: canonical}}, "spellings": {field: {canonical:
    [spelling, ...]}}, "notes": {(field, key): note}}``.

    Raises
    ------
    ValueError
        When two rows of one field accept the same key for different canonical values (the
        table itself would be ambiguous; a shipped-data bug, caught by the test suite).
    """
    df = pd.read_csv(resource_dir() / TABLE, sep="\t", dtype=str, keep_default_na=False)
    out: dict[str, Any] = {"map": {}, "spellings": {}, "notes": {}}
    for row in df.itertuples(index=False):
        spellings = [s.strip() for s in row.accepted.split("|")]
        fmap = out["map"].setdefault(row.field, {})
        out["spellings"].setdefault(row.field, {}).setdefault(row.canonical, []).extend(spellings)
        for s in spellings:
            key = normalise(row.field, s) if row.field != "missing" else s.casefold()
            if fmap.get(key, row.canonical) != row.canonical:
                raise ValueError(
                    f"resources/{TABLE}: {row.field} spelling {s!r} is given for both {fmap[key]} and {row.canonical}"
                )
            fmap[key] = row.canonical
            if row.canonical == AMBIGUOUS:
                out["notes"][(row.field, key)] = row.note
    return out


@cache
def missing_spellings() -> frozenset[str]:
    """Every cell text that means "no value" (the empty string and each listed spelling in any
    letter case), for a fast ``isin`` on large columns."""
    out = {""}
    for s in load_synonyms()["spellings"]["missing"][MISSING]:
        out.update("".join(p) for p in itertools.product(*({c.lower(), c.upper()} for c in s)))
    return frozenset(out)


def accepted_text(field: str, canonicals: list[str] | None = None) -> str:
    """``canonical (spelling, spelling, ...)`` for the error messages of ``field``."""
    sp = load_synonyms()["spellings"].get(field, {})
    parts = []
    for canon in canonicals if canonicals is not None else [c for c in sp if c != AMBIGUOUS]:
        # spellings that differ only where matching ignores (case, punctuation) go unsaid
        keys = {normalise(field, str(canon))}
        other = []
        for s in sp.get(canon, []):
            if normalise(field, s) not in keys:
                keys.add(normalise(field, s))
                other.append(s)
        parts.append(f"{canon} ({', '.join(other)})" if other else str(canon))
    return "; ".join(parts)


def canonicalise(
    s: pd.Series, field: str, *, path, column: str, counts: dict[str, int] | None = None, lower_unknown: bool = False
) -> pd.Series:
    """Map every accepted spelling in ``s`` (stripped text, ``""`` = missing) to its canonical value.

    Unknown values are left as they are (lower-cased with ``lower_unknown``) for the caller's
    own check to name. Works on the distinct values, so a column of millions of cells costs
    little. ``counts`` receives ``"<spelling> -> <canonical>": rows`` for every changed spelling.

    Raises
    ------
    InputError
        On a spelling that is listed as ambiguous, with the first line it is on and what to
        write instead.
    """
    fmap = load_synonyms()["map"].get(field, {})
    codes, uniques = pd.factorize(s)
    new = []
    for u in uniques:
        key = normalise(field, u) if u else ""
        canon = fmap.get(key) if key else None
        if canon == AMBIGUOUS:
            i = s.index[int(np.argmax(codes == len(new)))]
            note = load_synonyms()["notes"][(field, key)]
            raise InputError(f"{where(path, int(i) + 2, column)}: {u!r} is ambiguous: {note}")
        new.append(canon if canon is not None else (u.lower() if lower_unknown else u))
    changed = [j for j, (a, b) in enumerate(zip(uniques, new)) if a != b]
    if not changed:
        return s
    if counts is not None:
        n = np.bincount(codes[codes >= 0], minlength=len(uniques))
        for j in changed:
            k = f"{uniques[j]} -> {new[j]}"
            counts[k] = counts.get(k, 0) + int(n[j])
    mapped = np.asarray(new, dtype=object)[np.where(codes >= 0, codes, 0)]
    return pd.Series(mapped, index=s.index, dtype=s.dtype).where(codes >= 0, s)


def column_synonyms(table: str) -> dict[str, str]:
    """Normalised column-name key -> canonical column name for ``table``."""
    return dict(load_synonyms()["map"].get(f"column:{table}", {}))


def markdown_table() -> str:
    """The table as Markdown, for docs/inputs.md (a test keeps the two equal)."""
    df = pd.read_csv(resource_dir() / TABLE, sep="\t", dtype=str, keep_default_na=False)
    lines = ["| field | canonical | accepted spellings | note |", "|---|---|---|---|"]
    for row in df.itertuples(index=False):
        acc = ", ".join(f"`{s.strip()}`" for s in row.accepted.split("|"))
        lines.append(f"| {row.field} | `{row.canonical}` | {acc} | {row.note} |")
    return "\n".join(lines) + "\n"
