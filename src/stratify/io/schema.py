"""Check a text table against a row schema: typed, canonical columns, or an error naming the cell.

:func:`stratify.io.text.read_text_table` reads every cell as text; :func:`check_table` types
them as the schema says (``workflow/schemas/<table>.schema.yaml``, loaded by
:func:`stratify.io.resources.load_schema`) and maps accepted spellings to canonical values
(:mod:`stratify.io.synonyms`). Every input table of the validate stage, the sample maps and
the arm-level tables of the heterogeneity stage go through it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import InputError, where
from stratify.io.synonyms import (
    accepted_text,
    canonicalise,
    column_synonyms,
    missing_spellings,
    normalise,
)

log = logging.getLogger(__name__)

__all__ = ["NUMBER", "cell_error", "check_table", "number_error", "to_number"]

# a number in plain float notation: 2, -2, +3, 2.5, .5, 3., 2.57e+03, 1E-2 (no inf, nan, 1,5 or 0x10)
NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_NONFINITE = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan"}


def to_number(s: pd.Series, empty: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse non-empty cells as numbers in plain float notation (:data:`NUMBER`).

    Returns the floats (NaN where empty or bad) and the mask of bad cells. The grammar is
    checked and the cast done with Arrow (seconds for the 12.6 million cells of a
    100,000-patient symptoms table), so what is a number does not depend on which parser
    would have been lenient.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(s.where(~empty, None).to_numpy(dtype=object, na_value=None), type=pa.string())
    ok = pc.match_substring_regex(arr, f"^{NUMBER}$").fill_null(True)
    bad = pd.Series(np.logical_not(ok.to_numpy(zero_copy_only=False)), index=s.index)
    if bad.any():
        arr = pc.if_else(ok, arr, pa.scalar(None, pa.string()))
    num = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    return pd.Series(num, index=s.index, dtype=float), bad


def number_error(path, i, col: str, expected: str, value: str) -> InputError:
    """The error for a cell that is not a number, with the likely cause where there is one."""
    v = value.strip().casefold()
    if v in _NONFINITE:
        return cell_error(
            path,
            i,
            col,
            f"a finite {expected.removeprefix('a ').removeprefix('an ')} (inf and nan are "
            "not values; leave the cell empty, or write NA, where there is none)",
            value,
        )
    hint = ""
    if re.fullmatch(r"[+-]?[0-9]*([,' ][0-9]+)+(\.[0-9]+)?", value.strip()):
        hint = " (a decimal comma or a thousands separator? write plain numbers with '.' as the decimal point)"
    return InputError(f"{where(path, int(i) + 2, col)}: expected {expected}{hint}, found {value!r}")


def cell_error(path, df_index, column, expected, value) -> InputError:
    """The error for a bad cell: file, line (the row label + 2), column, what was expected and found."""
    return InputError(f"{where(path, int(df_index) + 2, column)}: expected {expected}, found {value!r}")


def _rename_columns(raw: pd.DataFrame, props: dict[str, Any], table: str, path, record: dict | None) -> pd.DataFrame:
    """Map column names to the schema's: any letter case, spaces or hyphens for ``_``, and the
    column synonyms of ``resources/synonyms.tsv`` (``visit`` -> ``week`` in the biomarkers table)."""
    known = {normalise(f"column:{table}", c): c for c in props}
    known.update(column_synonyms(table))
    rename = {}
    for c in raw.columns:
        target = known.get(normalise(f"column:{table}", c), c)
        if target != c:
            rename[c] = target
    if not rename:
        return raw
    targets = [rename.get(c, c) for c in raw.columns]
    for t in dict.fromkeys(targets):
        names = [c for c, tt in zip(raw.columns, targets) if tt == t]
        if len(names) > 1:
            raise InputError(
                f"{path}: columns {', '.join(repr(n) for n in names)} are both the column {t!r} "
                f"(accepted spellings of one column); keep one"
            )
    if record is not None:
        record.setdefault("columns", {}).update(dict(rename.items()))
    log.info("%s: columns read as %s", path, ", ".join(f"{c!r} -> {t!r}" for c, t in rename.items()))
    return raw.rename(columns=rename)


def _check_text(s: pd.Series, empty: pd.Series, spec: dict[str, Any], col: str, path, record: dict | None) -> pd.Series:
    """A text column: accepted spellings to canonical values, then the enum and pattern."""
    field = spec.get("x-synonyms")
    if field:
        counts: dict[str, int] = {}
        s = canonicalise(
            s.where(~empty, ""), field, path=path, column=col, counts=counts, lower_unknown=field == "agent"
        )
        if counts and record is not None:
            record.setdefault("values", {})[col] = counts
    if "enum" in spec:
        ok = s.isin(spec["enum"]) | empty
        if not ok.all():
            i = (~ok).idxmax()
            acc = f"; accepted spellings: {accepted_text(field, list(spec['enum']))}" if field else ""
            raise cell_error(path, i, col, f"one of {', '.join(map(str, spec['enum']))}{acc}", s[i])
    if "pattern" in spec:
        ok = s.str.fullmatch(spec["pattern"]) | empty
        if not ok.all():
            i = (~ok).idxmax()
            raise cell_error(path, i, col, f"text matching {spec['pattern']}", s[i])
    return s.where(~empty, None).astype(object)


def _check_number(s: pd.Series, empty: pd.Series, spec: dict[str, Any], col: str, path) -> pd.Series:
    """A number or integer column: plain float notation, whole numbers for integers, bounds."""
    typ = spec.get("type")
    num, badmask = to_number(s, empty)
    if badmask.any():
        i = badmask.idxmax()
        raise number_error(path, i, col, "an integer" if typ == "integer" else "a number", s[i])
    if typ == "integer":
        frac = (num % 1 != 0) & num.notna()
        if frac.any():
            i = frac.idxmax()
            raise cell_error(path, i, col, "an integer", s[i])
    for bound, op, word in (
        ("minimum", np.less, ">="),
        ("maximum", np.greater, "<="),
        ("exclusiveMinimum", np.less_equal, ">"),
    ):
        if bound in spec:
            viol = op(num, spec[bound]) & num.notna()
            if viol.any():
                i = viol.idxmax()
                raise cell_error(path, i, col, f"a value {word} {spec[bound]}", s[i])
    return num.astype("Int64") if typ == "integer" else num.astype(float)


def _check_boolean(s: pd.Series, empty: pd.Series, col: str, path) -> pd.Series:
    """A boolean column: the spellings of ``boolean`` in resources/synonyms.tsv, any case."""
    low = canonicalise(s.where(~empty, ""), "boolean", path=path, column=col)
    ok = low.isin(["true", "false"]) | empty
    if not ok.all():
        i = (~ok).idxmax()
        raise cell_error(path, i, col, "true or false (" + accepted_text("boolean") + ")", s[i])
    return low.map({"true": True, "false": False}).where(~empty, pd.NA).astype("boolean")


def check_table(
    raw: pd.DataFrame,
    schema: dict[str, Any],
    *,
    path: str | Path,
    extra_numeric: tuple[str, ...] = (),
    record: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Check a text table against a row schema and return it with typed, canonical columns.

    The schema is a JSON schema for one row (``properties``, ``required``,
    ``additionalProperties: false``); its checks are applied column-wise so that large
    tables validate fast. Column names and the values of columns with ``x-synonyms: <field>``
    are mapped to their canonical form through ``resources/synonyms.tsv``. A cell that is
    empty or a missing-value spelling (``NA``, ``N/A``, ``NaN``, ``null``, ``.``, ``-``) is
    missing: allowed in an optional column, an error in a required one. Optional columns may
    be absent. ``record``, when given, receives what was mapped: ``columns`` (renamed),
    ``values`` (column -> ``"spelling -> canonical": rows``) and ``missing`` (column ->
    spelling -> rows, for spellings other than the empty cell).

    Examples
    --------
    >>> raw = pd.DataFrame({"patient_id": ["P1"], "site": ["A"], "age": ["40"], "sex": ["female"]})
    >>> from stratify.io.resources import load_schema
    >>> out = check_table(raw, load_schema("patients"), path="p.tsv")
    >>> out["age"].tolist(), out["sex"].tolist()
    ([40.0], ['F'])
    >>> raw["age"] = ["forty"]
    >>> check_table(raw, load_schema("patients"), path="p.tsv")
    Traceback (most recent call last):
    stratify.errors.InputError: p.tsv, line 2, column 'age': expected a number, found 'forty'
    """
    props: dict[str, Any] = dict(schema["properties"])
    for c in extra_numeric:
        props.setdefault(c, {"type": "number"})
    raw = _rename_columns(raw, props, str(schema.get("title", "")).split(" ")[0], path, record)
    unknown = [c for c in raw.columns if c not in props]
    if unknown:
        raise InputError(
            f"{path}: unknown column {', '.join(repr(c) for c in unknown)}; expected columns: "
            f"{', '.join(props)}"
            + (
                ""
                if schema.get("title") != "patients table"
                else " (declare extra numeric covariates under patient_covariates in the config)"
            )
        )
    missing = [c for c in schema.get("required", []) if c not in raw.columns]
    if missing:
        raise InputError(f"{path}: missing required column {', '.join(repr(c) for c in missing)}")
    dup = raw.columns[raw.columns.duplicated()].tolist()
    if dup:
        raise InputError(f"{path}: column {dup[0]!r} appears more than once in the header")
    out = {}
    required = set(schema.get("required", []))
    na = missing_spellings()
    for col in raw.columns:
        spec = props[col]
        s = raw[col].str.strip()
        empty = s.isin(na)
        if empty.any():
            i = empty.idxmax()
            if col in required:
                raise cell_error(
                    path,
                    i,
                    col,
                    "a value (the column is required; an empty cell, NA, N/A, NaN, null, '.' and '-' mean no value)",
                    s[i],
                )
            spelled = s[empty & (s != "")]
            if len(spelled) and record is not None:
                record.setdefault("missing", {})[col] = {str(k): int(v) for k, v in spelled.value_counts().items()}
        typ = spec.get("type", "string")
        if typ in ("number", "integer"):
            out[col] = _check_number(s, empty, spec, col, path)
        elif typ == "boolean":
            out[col] = _check_boolean(s, empty, col, path)
        else:
            out[col] = _check_text(s, empty, spec, col, path, record)
    return pd.DataFrame(out, index=raw.index)
