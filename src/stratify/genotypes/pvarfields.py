"""The CHROM, POS, ID, REF and ALT fields of a .pvar or .bim.

A tab-separated file (every .pvar plink2 writes; plink2's formats page: "tab-delimited") is split
on tabs, as plink2 splits it; quotes are characters of a field. Arrow's CSV parser reads it, several
times faster than pandas' C parser (a 100,000-line .pvar: about 5 ms against 45 ms), which is most
of the fixed cost of a polygenic score from a .pgen (docs/performance.md). Where Arrow refuses the
file or a field it reads is empty (a record with another field count, a blank line, a POS that is
not an integer, bad UTF-8), pandas' C parser reads it again with the same rules, to name the line.
A blank line is an error, not skipped: a shard job finds its variants by line number, so a
skipped line would shift every variant after it. A header-less .bim whose first line holds no tab
is split on whitespace (pandas), as plink 1.9 writes and reads it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from stratify.errors import GenotypeError

PVAR_FIELDS = ("CHROM", "POS", "ID", "REF", "ALT")


def _filled(col: pa.ChunkedArray) -> bool:
    """No field empty."""
    return not len(col) or pc.min(pc.binary_length(col)).as_py() > 0


def _arrow_fields(path: Path, skip: int, use: dict[str, int], nrows: int | None) -> dict | None:
    """:func:`pvar_fields` of a tab-separated file by Arrow; None where pandas must name what is wrong."""
    names = {field: f"f{i}" for field, i in use.items()}
    types = {names[f]: pa.int64() if f == "POS" else pa.string() for f in PVAR_FIELDS}
    read = pcsv.ReadOptions(skip_rows=skip, autogenerate_column_names=True, block_size=1 << 22)
    parse = pcsv.ParseOptions(delimiter="\t", quote_char=False, ignore_empty_lines=False)
    convert = pcsv.ConvertOptions(column_types=types, include_columns=list(types), strings_can_be_null=False)
    try:
        if nrows is None:
            table = pcsv.read_csv(path, read, parse, convert)
        else:
            with pcsv.open_csv(path, read, parse, convert) as reader:
                batches, got = [], 0
                while got < nrows:
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        break
                    batches.append(batch)
                    got += batch.num_rows
                table = pa.Table.from_batches(batches, schema=reader.schema).slice(0, nrows)
    except (pa.ArrowException, OSError, ValueError):
        return None
    out: dict = {}
    for field in PVAR_FIELDS:
        col = table.column(names[field])
        if field == "POS":
            if col.null_count:  # an empty POS
                return None
            out[field] = col.to_numpy().astype(np.int64, copy=False)
        elif not _filled(col):
            return None
        else:
            out[field] = col  # Arrow text: pandas' str arrays wrap it without a copy
    out["n_alt"] = pc.count_substring(table.column(names["ALT"]), ",").to_numpy().astype(np.int64)
    return out


def pvar_fields(
    path: Path, skip: int, use: dict[str, int], nrows: int | None, *, tabbed: bool, first_row: int = 0
) -> dict:
    """CHROM, ID, REF, ALT (text: Arrow arrays, or object arrays of str), POS (int64) and n_alt (commas in
    ALT) of a .pvar or .bim.

    ``skip``: lines before the first variant to read; ``use``: the 0-based column of each field;
    ``nrows``: read only that many variants (the lines after them are not parsed); ``tabbed``: the
    header (or first) line holds a tab, so the file is split on tabs; ``first_row``: the number of
    the first variant read, for messages.
    """
    fields = _arrow_fields(path, skip, use, nrows) if tabbed else None
    return _pandas_fields(path, skip, use, nrows, first_row, tabbed) if fields is None else fields


def _pandas_fields(path: Path, skip: int, use: dict[str, int], nrows: int | None, first_row: int, tabbed: bool):
    """:func:`pvar_fields` by pandas' parser: for a whitespace-separated .bim, and to name what makes
    a tab-separated file unreadable for Arrow (a bad POS, an empty field, a blank line)."""
    cols = sorted(use.values())
    kw = {"sep": "\t" if tabbed else r"\s+", "skiprows": skip, "header": None, "usecols": cols}
    kw |= {"keep_default_na": False, "quoting": csv.QUOTE_NONE, "skip_blank_lines": not tabbed}
    if nrows is not None:
        kw["nrows"] = nrows
    try:
        try:  # POS as integers and the rest as plain Python strings: the fast path
            t = pd.read_csv(path, dtype={c: np.int64 if c == use["POS"] else object for c in cols}, **kw)
        except ValueError:  # (ParserError is one too) read as text again, to name a bad POS below
            t = pd.read_csv(path, dtype=object, **kw)
    except (pd.errors.ParserError, ValueError) as exc:
        raise GenotypeError(f"{path}: cannot be read as a .pvar ({exc})") from None
    text = t.astype(object).where(t.notna(), "")
    for field in PVAR_FIELDS:
        empty = (text[use[field]].astype(str) == "").to_numpy()
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            blank = bool((text.astype(str) == "").iloc[i].all())
            what = "a blank line" if blank else f"column {field} is empty"
            raise GenotypeError(
                f"{path}: variant {first_row + i + 1}: {what}; expected one tab-separated line per variant "
                "(#CHROM POS ID REF ALT ...), as plink2 writes it"
            )
    pos = t[use["POS"]]
    if pos.dtype != np.int64:
        pos = pd.to_numeric(pos, errors="coerce")
        if pos.isna().any():
            i = int(np.flatnonzero(pos.isna().to_numpy())[0])
            raise GenotypeError(
                f"{path}: variant {first_row + i + 1}, column POS: {t[use['POS']].iloc[i]!r} is not an integer"
            )
    fields = {f: t[use[f]].to_numpy(dtype=object) for f in ("CHROM", "ID", "REF", "ALT")}
    alt = fields["ALT"]
    n_alt = np.char.count(alt.astype(str), ",").astype(np.int64) if alt.size else np.zeros(0, dtype=np.int64)
    return {**fields, "POS": pos.to_numpy(np.int64), "n_alt": n_alt}
