"""What every caller reader shares: the call table, text decoding and the diplotype parser.

* :data:`CALL_COLUMNS` and :data:`STATUSES`: the common call table every reader returns.
* :func:`decode`, :func:`read_lines`: a call file as UTF-8 lines, with errors that name the line.
* :func:`diplotype`: ``"*2/*1"`` -> ``("*1/*2", "*1", "*2")``, checking star alleles for the
  phenotyped genes (:data:`STAR_GENES`); :func:`copy_number`: CYP2D6 gene copies.
* :func:`row`: one row of the call table from a reader's candidate diplotypes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from stratify.errors import PgxError, where
from stratify.pgx.alleles.definitions import star_sort_key

CALL_COLUMNS = [
    "sample",
    "gene",
    "diplotype",
    "haplotype1",
    "haplotype2",
    "copy_number",
    "source_tool",
    "status",
    "alternatives",
    "note",
]
STATUSES = ("called", "ambiguous", "no-call")

COPIES = re.compile(r"^(?P<allele>[^x]+?)(?:x(?P<n>\d+|N|≥\d+|>=\d+|>\d+))?$")


def decode(raw: bytes, label: str, what: str) -> str:
    """UTF-8 text of a call file (a byte-order mark is dropped), or a PgxError naming the line."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PgxError(f"{label}: UTF-16 text; expected {what} as UTF-8 (re-save the file as UTF-8)")
    if raw.startswith(b"PK\x03\x04"):
        raise PgxError(
            f"{label}: a damaged or truncated zip archive, not {what}; re-copy the file from the tool's output"
        )
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise PgxError(f"{where(label, line)}: a NUL byte (binary data); expected {what} as UTF-8 text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise PgxError(
            f"{where(label, line)}: byte 0x{raw[e.start]:02x} is not UTF-8; expected {what} as UTF-8 "
            "text (re-save the file as UTF-8)"
        ) from None


def split_lines(text: str) -> list[str]:
    """Lines as an editor counts them (\\n, \\r\\n or \\r ends a line; other control characters do not,
    unlike str.splitlines, so line numbers in messages match what the user sees)."""
    lines = re.split(r"\r\n|\r|\n", text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_lines(path: Path, what: str) -> list[str]:
    """The lines of a call file (see :func:`decode` and :func:`split_lines`)."""
    return split_lines(decode(path.read_bytes(), str(path), what))


def _strip_gene(text: str, gene: str) -> str:
    return text.replace(gene, "").replace(" ", "")


def order_haplotypes(h1: str, h2: str) -> tuple[str, str]:
    """The two haplotypes in star-number order (by first allele, then the full text)."""
    k1 = (star_sort_key(h1.split("+")[0].split("x")[0]), h1)
    k2 = (star_sort_key(h2.split("+")[0].split("x")[0]), h2)
    return (h1, h2) if k1 <= k2 else (h2, h1)


#: Genes whose diplotypes stratify turns into phenotypes: their haplotypes must be star alleles.

STAR_GENES = ("CYP2B6", "CYP2C19", "CYP2D6")
#: One part of a star-allele haplotype: ``*`` and a name (``*4``, ``*2A``, ``*4.001``, Aldy's ``*4-like``,
#: copies ``*1x2`` / ``*1xN`` / ``*10x≥3``, or a name a tool prints that CPIC does not list, such as
#: StellarPGx's ``*other``: kept, and phenotyped Indeterminate with the reason); parts are joined by
#: "+" (``*36+*10``).
_STAR_PART = re.compile(r"^\*[A-Za-z0-9][A-Za-z0-9._≥>=-]*$")
_LOOKS_LIKE = (
    "expected two haplotypes joined by one '/', each a star allele or '+'-joined star alleles, like "
    "'*1/*4', '*1x2/*4' or '*36+*10/*4'"
)


def _bad_diplotype(text: str, gene: str, path, line, column: str, why: str) -> PgxError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return PgxError(f"{where(path, line, column)}: {gene} diplotype {shown!r} is malformed ({why}); {_LOOKS_LIKE}")


def diplotype(
    text: str, gene: str, path: Path, line: int, *, keep_spaces: bool = False, column: str = "diplotype"
) -> tuple[str, str, str]:
    """Normalise ``"*2/*1"`` to ``("*1/*2", "*1", "*2")``; a single allele keeps h2 "".

    ``keep_spaces`` keeps allele names verbatim (PharmCAT's ``rs9923231 reference (C)``):
    only a gene prefix written before a star (``CYP2D6*4``) and the spaces around ``/`` go.
    For :data:`STAR_GENES` (the genes stratify phenotypes) the diplotype must be two star-allele
    haplotypes (a PharmCAT combination ``[*6 + *10]`` is one haplotype, kept as ``[*6+*10]``);
    anything else (``*1-*2``, ``*1//*2``, ``1/2``, a lone ``*1``, an empty half) is
    a :class:`PgxError` naming file, line and column. Other genes keep what the tool wrote
    (PharmCAT's ``1555A>G`` for MT-RNR1 is one allele).
    """
    if keep_spaces:
        text = re.sub(re.escape(gene) + r"(?=\*)", "", text).strip()
        parts = [p.strip() for p in text.split("/")]
    else:
        text = _strip_gene(text, gene)
        parts = text.split("/")
    if gene in STAR_GENES:
        compact = [p.replace(" ", "") for p in parts]
        if len(compact) != 2:
            why = "one haplotype only" if len(compact) == 1 else f"{len(compact)} '/'-separated parts"
            if len(compact) == 1 and re.search(r"[-|,;_\\]", text):
                why += "; the haplotypes are separated by '/', not " + repr(re.search(r"[-|,;_\\]", text).group())
            raise _bad_diplotype(text, gene, path, line, column, why)
        for h in compact:
            if not h:
                raise _bad_diplotype(text, gene, path, line, column, "an empty haplotype")
            # PharmCAT writes a haplotype carrying several alleles' variants as "[*6 + *10]"
            inner = h[1:-1] if h.startswith("[") and h.endswith("]") else h
            bad = [x for x in inner.split("+") if not _STAR_PART.match(x)]
            if bad:
                raise _bad_diplotype(text, gene, path, line, column, f"{bad[0]!r} is not a star allele")
        parts = compact
    if len(parts) == 1 and parts[0]:
        return parts[0], parts[0], ""
    if len(parts) != 2 or not all(parts):
        raise PgxError(
            f"{where(path, line, column)}: {text!r} is not a diplotype; expected two haplotypes "
            "joined by '/', like '*1/*2'"
        )
    h1, h2 = order_haplotypes(*parts)
    return f"{h1}/{h2}", h1, h2


def _haplotype_copies(haplotype: str) -> float:
    total = 0.0
    for part in haplotype.split("+"):
        m = COPIES.match(part)
        if not m:
            return math.nan
        allele, n = m.group("allele"), m.group("n")
        if n is not None and not n.isdigit():
            return math.nan
        if allele == "*5":  # the gene deletion
            continue
        total += int(n) if n else 1
    return total


def copy_number(gene: str, diplotypes: list[str]) -> float:
    """CYP2D6 gene copies the diplotype(s) imply; NaN if unknown, disagreeing, or not CYP2D6."""
    if gene != "CYP2D6" or not diplotypes:
        return math.nan
    values = set()
    for d in diplotypes:
        parts = d.split("/")
        if len(parts) != 2:
            return math.nan
        values.add(_haplotype_copies(parts[0]) + _haplotype_copies(parts[1]))
    if len(values) != 1:
        return math.nan
    return values.pop()


def row(
    sample, gene, candidates: list[str], tool, status, note, path, line, *, keep_spaces=False, column: str = "diplotype"
) -> list:
    """One output row from the normalised candidate diplotypes (first = the call).

    ``column`` names the column (or field) that holds the diplotype, for error messages.
    """
    normal = [diplotype(c, gene, path, line, keep_spaces=keep_spaces, column=column) for c in candidates]
    seen: list[str] = []
    for d, _, _ in normal:
        if d not in seen:
            seen.append(d)
    if status == "no-call" or not normal:
        return [sample, gene, "", "", "", math.nan, tool, "no-call", "", note]
    first = next(n for n in normal if n[0] == seen[0])
    return [
        sample,
        gene,
        first[0],
        first[1],
        first[2],
        copy_number(gene, seen),
        tool,
        status,  # an ambiguous flag is kept even when only one candidate is listed
        ";".join(seen[1:]),
        note,
    ]


def join_note(*parts: str) -> str:
    """The non-empty parts joined by "; "."""
    return "; ".join(p for p in parts if p)
