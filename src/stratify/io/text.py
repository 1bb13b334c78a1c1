"""Read a delimited text table the way spreadsheets and databases export it.

The separator is read from the header line (tabs, else commas or semicolons), not from the
file name; the text must be UTF-8 (a byte-order mark is fine; LF or CRLF line ends). A
comma- or semicolon-separated file may quote cells (``"site A"``, ``"1,5"``, a doubled quote for a quote) as
CSV does; a tab-separated file is read without quoting, so a quote there is text. Every
cell comes back as text; types are checked by :func:`stratify.io.schema.check_table`.

Row labels are line numbers minus 2 (the header is line 1, the first record line 2), so
that ``index + 2`` names the line in an editor even after blank lines or quoted line
breaks.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from stratify.errors import InputError

_KIND = {"\t": "tab", ",": "comma", ";": "semicolon"}


def _field_counts_agree(data: np.ndarray | str | Path, sep: str, n_fields: int) -> bool:
    """True when every line after the header has exactly ``n_fields`` fields, counted on the
    bytes with numpy (a 12-million-line symptoms table in seconds). False means "look line
    by line" (some line differs, possibly a blank one, or the file has lone carriage returns,
    which Python's text mode also reads as line ends)."""
    if not isinstance(data, np.ndarray):
        data = np.fromfile(data, dtype=np.uint8)
    if not len(data):
        return True
    cr = data == ord("\r")
    if cr.any():
        nxt = np.zeros(len(data), dtype=bool)
        nxt[:-1] = data[1:] == ord("\n")
        if (cr & ~nxt).any():
            return False
    ends = np.flatnonzero(data == ord("\n"))
    if not len(ends) or ends[-1] != len(data) - 1:
        ends = np.append(ends, len(data))  # a last line without a newline
    seps_before = np.searchsorted(np.flatnonzero(data == ord(sep)), ends)  # separators before each line end
    per_line = np.diff(np.concatenate([[0], seps_before]))
    return bool((per_line[1:] == n_fields - 1).all())  # line 1 is the header


#: Leading bytes of files that are not text tables, and what to do instead.
_NOT_TEXT = {
    b"PK\x03\x04": "a zip archive (an Excel .xlsx or LibreOffice .ods workbook?); export the sheet as CSV (UTF-8)",
    b"\xd0\xcf\x11\xe0": "an Excel .xls workbook; export the sheet as CSV (UTF-8)",
    b"\x1f\x8b": "gzip-compressed; decompress it (gunzip) and give the text file",
    b"PAR1": "a Parquet file; give the table as tab- or comma-separated text",
    b"%PDF": "a PDF document; give the table as tab- or comma-separated text",
}


def check_utf8(path: Path, raw: bytes, data: np.ndarray) -> None:
    """Raise a named error, with line and byte, when ``raw`` is not UTF-8 text (or is a known
    binary format: a spreadsheet workbook, a compressed file)."""
    for magic, what in _NOT_TEXT.items():
        if raw.startswith(magic):
            raise InputError(f"{path}: {what}")
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputError(
            f"{path}: the file is UTF-16 text (it starts with a UTF-16 byte-order mark); "
            "re-save it as UTF-8 (in Excel: Save As > CSV UTF-8)"
        )
    if not (data >= 0x80).any():
        return  # plain ASCII: valid UTF-8, nothing to decode
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(
            f"{path}, line {line}, byte {col} of the line: byte 0x{raw[exc.start]:02X} is not UTF-8 text; "
            "the file is probably in Latin-1 or Windows-1252 (an older spreadsheet export): re-save it as "
            "UTF-8 (in Excel: Save As > CSV UTF-8; in LibreOffice: character set Unicode (UTF-8))"
        ) from None


def sniff_separator(path: Path, header: str) -> str:
    """Tab when the header line has a tab; else comma or semicolon, whichever it has (more of);
    a header with neither is one column (tab)."""
    if "\t" in header:
        return "\t"
    commas, semis = header.count(","), header.count(";")
    if commas == semis == 0:
        return "\t"
    if commas == semis:
        raise InputError(
            f"{path}: line 1 (the header) has as many commas as semicolons ({commas}); cannot "
            "tell which separates the columns. Use tabs, or one of the two"
        )
    return "," if commas > semis else ";"


def _check_header(path: Path, header: list[str]) -> None:
    if "" in header:
        raise InputError(
            f"{path}: line 1 (the header) has an empty column name at field "
            f"{header.index('') + 1}" + (" (a trailing separator?)" if header[-1] == "" else "")
        )
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise InputError(f"{path}: column {dup[0]!r} appears more than once in the header")


def _ragged(path: Path, sep: str, lineno: int, n: int, n_header: int, trailing: bool) -> InputError:
    return InputError(
        f"{path}: cannot be read as a {_KIND[sep]}-separated table: line {lineno} has {n} "
        f"fields, the header has {n_header}" + (" (a trailing separator?)" if trailing else "")
    )


def _read_plain(path: Path, text: str, data: np.ndarray, sep: str, header: list[str]) -> pd.DataFrame:
    """No quoting: a separator always separates (every tab-separated file, and delimited files
    without any quote character)."""
    if not _field_counts_agree(data, sep, len(header)):
        # universal newlines: a lone carriage return ends a line here as it does for pandas
        for lineno, line in enumerate(io.StringIO(text, newline=None), start=1):
            n = line.rstrip("\r\n").count(sep) + 1
            if lineno > 1 and line.strip() and n != len(header):
                raise _ragged(path, sep, lineno, n, len(header), line.rstrip("\r\n").endswith(sep))
    # blank lines are kept while reading so that row positions stay line numbers; quoting is
    # off so that a field count seen above is the field count pandas sees
    df = pd.read_csv(
        path,
        sep=sep,
        dtype=str,
        keep_default_na=False,
        na_values=[],
        index_col=False,
        comment=None,
        skip_blank_lines=False,
        encoding="utf-8-sig",
        quoting=csv.QUOTE_NONE,
    )
    return df


def _read_quoted(path: Path, text: str, sep: str, header: list[str]) -> pd.DataFrame:
    """CSV quoting (``"a,b"``, ``""`` for a quote): records may span lines, so each row keeps
    the line it starts on."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=sep,
        quotechar='"',
        doublequote=True,
        skipinitialspace=True,
        strict=True,
    )  # `a, "b"` as exports with spaces write it
    rows, starts = [], []
    try:
        next(reader)
        start = reader.line_num + 1
        for rec in reader:
            if rec and len(rec) != len(header) and any(c.strip() for c in rec):
                raise _ragged(path, sep, start, len(rec), len(header), rec[-1] == "")
            if rec:
                rows.append(rec)
                starts.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(
            f"{path}: cannot be read as a {_KIND[sep]}-separated table: line {start}: {exc} "
            "(a quote that is never closed, or text after a closing quote?)"
        ) from None
    df = pd.DataFrame(rows, columns=[f"_{i}" for i in range(len(header))], dtype=str)
    df.columns = header
    df.index = np.asarray(starts, dtype=np.int64) - 2
    return df


def read_text_table(path: str | Path) -> pd.DataFrame:
    """Read a delimited text file (see the module docstring) with every cell as text.

    Empty cells are ``""``; column names and cells keep their spaces here (the checks strip
    them); rows whose cells are all blank are dropped. Row labels are line numbers minus 2.

    Raises
    ------
    InputError
        File missing or empty, blank or malformed header, not UTF-8, a line with more or fewer
        fields than the header, or an unclosed quote.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected a table file")
    raw = path.read_bytes()
    data = np.frombuffer(raw, dtype=np.uint8)
    check_utf8(path, raw, data)
    text = raw.decode("utf-8-sig")
    first = re.split(r"\r\n|\r|\n", text[: 1 << 20], maxsplit=1)[0]
    if not text:
        raise InputError(f"{path}: file is empty; expected a header line")
    if not first.strip():
        raise InputError(f"{path}: line 1 is empty; the first line must be the header")
    sep = sniff_separator(path, first)
    quoted = sep != "\t" and '"' in text
    if quoted:
        header = next(csv.reader([first], delimiter=sep, quotechar='"'))
    else:
        header = first.split(sep)
    header = [c.strip() for c in header]
    _check_header(path, header)
    df = _read_quoted(path, text, sep, header) if quoted else _read_plain(path, text, data, sep, header)
    df.columns = header
    if df.empty:
        return df
    # a row is blank when every cell is; only rows with a blank first cell can be
    blank = np.array(df.iloc[:, 0].str.strip() == "", dtype=bool)
    if blank.any():
        blank[blank] = (df[blank].apply(lambda col: col.str.strip()) == "").all(axis=1).to_numpy(dtype=bool)
    return df[~blank]
