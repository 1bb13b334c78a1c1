"""Read star-allele calls made by other tools into one table.

Every reader returns the columns of :data:`CALL_COLUMNS`:

``sample, gene, diplotype, haplotype1, haplotype2, copy_number, source_tool, status,
alternatives, note``

* ``diplotype`` is ``"<h1>/<h2>"`` with the haplotypes in star-number order (``*1/*4``, never
  ``*4/*1``); "" for a no-call.
* ``status`` is "called", "ambiguous" (``diplotype`` holds the first candidate,
  ``alternatives`` the others joined by ";") or "no-call".
* ``copy_number`` is the number of CYP2D6 gene copies (hybrids such as ``*36``/``*68``
  count, the deletion ``*5`` does not) that the diplotype implies; NaN when unknown (``xN``,
  a no-call, candidates that disagree) and for other genes.
* ``note`` keeps what the tool said beyond the diplotype (e.g. a Cyrius filter), "" if
  nothing.

Supported tools (:data:`SUPPORTED_TOOLS`):

``cyrius``
    Cyrius ``<prefix>.tsv`` (Illumina/Cyrius README): header ``Sample  Genotype  Filter``.
    ``PASS`` -> called. ``More_than_one_possible_genotype`` -> ambiguous, the genotypes
    joined by ";". ``Not_assigned_to_haplotypes`` (``*1_*2_*68``, ``*1x4``) -> ambiguous, with
    every way of splitting the alleles into two haplotypes as candidates and the raw call
    in ``note``. ``LowQ_high_CN`` (>= 6 copies, copy number approximated) -> called, with
    the filter in ``note``. Genotype ``None`` -> no-call. Gene is always CYP2D6.
``plain``
    TSV with header and columns ``sample, gene, diplotype``; optional ``status``
    (called/ambiguous/no-call; default: called, or no-call for an empty diplotype),
    ``alternatives`` and ``note``.
``pharmcat_outside``
    PharmCAT outside-call TSV: ``GENE<TAB>diplotype[<TAB>phenotype[<TAB>activity]]`` per
    line, no header, one sample (named by ``sample=`` or the file stem); ``#`` comments.

Examples
--------
>>> import os, tempfile
>>> p = os.path.join(tempfile.mkdtemp(), "cyrius.tsv")
>>> with open(p, "w") as fh:
...     _ = fh.write("Sample\\tGenotype\\tFilter\\nNA1\\t*2/*1\\tPASS\\nNA2\\tNone\\tNone\\n")
>>> read_calls(p, "cyrius")[["sample", "diplotype", "status", "copy_number"]].values.tolist()
[['NA1', '*1/*2', 'called', 2.0], ['NA2', '', 'no-call', nan]]
"""

from __future__ import annotations

import csv
import math
import re
from itertools import product
from pathlib import Path

import pandas as pd

from stratify.errors import PgxError, where
from stratify.pgx.alleles import star_sort_key

__all__ = ["CALL_COLUMNS", "SUPPORTED_TOOLS", "read_calls"]

SUPPORTED_TOOLS = ("cyrius", "pharmcat_outside", "plain")
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

_CYRIUS_FILTERS = ("PASS", "More_than_one_possible_genotype", "Not_assigned_to_haplotypes", "LowQ_high_CN")
_COPIES = re.compile(r"^(?P<allele>[^x]+?)(?:x(?P<n>\d+|N|≥\d+|>=\d+|>\d+))?$")


def read_calls(
    path: str | Path,
    tool: str,
    *,
    gene: str | None = None,
    sample: str | None = None,
) -> pd.DataFrame:
    """Read a star-allele caller's output into the common call table.

    Parameters
    ----------
    path
        The caller's output file.
    tool
        One of :data:`SUPPORTED_TOOLS`.
    gene
        Keep only this gene's calls (Cyrius calls only CYP2D6).
    sample
        Sample name for single-sample formats (``pharmcat_outside``); default: the file stem.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CALL_COLUMNS`, one row per sample and gene, in file order.

    Raises
    ------
    PgxError
        Unknown tool, missing file, or a malformed line (the message names file, line and
        what was expected).

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "P7.outside.tsv")
    >>> with open(p, "w") as fh:
    ...     _ = fh.write("CYP2D6\\tCYP2D6*4/CYP2D6*1\\n")
    >>> read_calls(p, "pharmcat_outside", sample="P7")[["sample", "gene", "diplotype"]].values.tolist()
    [['P7', 'CYP2D6', '*1/*4']]
    """
    if tool not in SUPPORTED_TOOLS:
        raise PgxError(f"unknown star-allele caller {tool!r}; supported: {', '.join(SUPPORTED_TOOLS)}")
    path = Path(path)
    if not path.is_file():
        raise PgxError(f"{path}: {tool} call file not found")
    if tool == "cyrius":
        if gene is not None and gene != "CYP2D6":
            raise PgxError(f"{path}: Cyrius calls only CYP2D6, not {gene}")
        rows = _read_cyrius(path)
    elif tool == "plain":
        rows = _read_plain(path)
    else:
        rows = _read_outside(path, sample or path.stem)
    out = pd.DataFrame(rows, columns=CALL_COLUMNS)
    if gene is not None:
        out = out[out["gene"] == gene].reset_index(drop=True)
    for col in CALL_COLUMNS:
        if col != "copy_number":
            out[col] = out[col].astype(str)
    out["copy_number"] = out["copy_number"].astype(float)
    return out


# --------------------------------------------------------------------------- helpers


def _strip_gene(text: str, gene: str) -> str:
    return text.replace(gene, "").replace(" ", "")


def _order(h1: str, h2: str) -> tuple[str, str]:
    """The two haplotypes in star-number order (by first allele, then the full text)."""
    k1 = (star_sort_key(h1.split("+")[0].split("x")[0]), h1)
    k2 = (star_sort_key(h2.split("+")[0].split("x")[0]), h2)
    return (h1, h2) if k1 <= k2 else (h2, h1)


def _diplotype(text: str, gene: str, path: Path, line: int) -> tuple[str, str, str]:
    """Normalise ``"*2/*1"`` to ``("*1/*2", "*1", "*2")``; a single allele keeps h2 ""."""
    text = _strip_gene(text, gene)
    parts = text.split("/")
    if len(parts) == 1 and parts[0]:
        return parts[0], parts[0], ""
    if len(parts) != 2 or not all(parts):
        raise PgxError(
            f"{where(path, line, 'diplotype')}: {text!r} is not a diplotype; expected two haplotypes "
            "joined by '/', like '*1/*2'"
        )
    h1, h2 = _order(*parts)
    return f"{h1}/{h2}", h1, h2


def _haplotype_copies(haplotype: str) -> float:
    total = 0.0
    for part in haplotype.split("+"):
        m = _COPIES.match(part)
        if not m:
            return math.nan
        allele, n = m.group("allele"), m.group("n")
        if n is not None and not n.isdigit():
            return math.nan
        if allele == "*5":  # the gene deletion
            continue
        total += int(n) if n else 1
    return total


def _copy_number(gene: str, diplotypes: list[str]) -> float:
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


def _row(sample, gene, candidates: list[str], tool, status, note, path, line) -> list:
    """One output row from the normalised candidate diplotypes (first = the call)."""
    normal = [_diplotype(c, gene, path, line) for c in candidates]
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
        _copy_number(gene, seen),
        tool,
        status,  # an ambiguous flag is kept even when only one candidate is listed
        ";".join(seen[1:]),
        note,
    ]


def _split_assignments(raw: str) -> list[str]:
    """Every way to split Cyrius's unassigned alleles (``*1_*2_*68``, ``*1x4``) into two haplotypes."""
    tokens: list[str] = []
    for t in raw.split("_"):
        m = _COPIES.match(t)
        if not m or (m.group("n") is not None and not m.group("n").isdigit()):
            return []
        tokens += [m.group("allele")] * int(m.group("n") or 1)
    if len(tokens) < 2:
        return []
    order = {t: i for i, t in reversed(list(enumerate(tokens)))}

    def fmt(side: list[str]) -> str:
        counts: dict[str, int] = {}
        for t in sorted(side, key=lambda t: order[t]):
            counts[t] = counts.get(t, 0) + 1
        return "+".join(t if c == 1 else f"{t}x{c}" for t, c in counts.items())

    found: list[str] = []
    for mask in product((0, 1), repeat=len(tokens)):
        if 0 < sum(mask) < len(tokens):
            a = fmt([t for t, m in zip(tokens, mask) if m == 0])
            b = fmt([t for t, m in zip(tokens, mask) if m == 1])
            h1, h2 = _order(a, b)
            d = f"{h1}/{h2}"
            if d not in found:
                found.append(d)
    return sorted(found, key=lambda d: [star_sort_key(x) for x in re.split(r"[/+x]", d) if x.startswith("*")])


# --------------------------------------------------------------------------- formats


def _read_cyrius(path: Path) -> list[list]:
    rows = []
    with open(path, newline="") as fh:
        lines = fh.read().splitlines()
    if not lines:
        raise PgxError(f"{path}: empty file; expected a Cyrius TSV")
    if lines[0].split("\t") != ["Sample", "Genotype", "Filter"]:
        raise PgxError(
            f"{where(path, 1)}: expected the Cyrius header 'Sample<TAB>Genotype<TAB>Filter', found {lines[0]!r}"
        )
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise PgxError(
                f"{where(path, n)}: expected 3 tab-separated fields (Sample, Genotype, Filter), found {len(fields)}"
            )
        sample, genotype, filt = (f.strip() for f in fields)
        if genotype == "None":
            rows.append(_row(sample, "CYP2D6", [], "cyrius", "no-call", "", path, n))
            continue
        if filt == "PASS":
            rows.append(_row(sample, "CYP2D6", [genotype], "cyrius", "called", "", path, n))
        elif filt == "LowQ_high_CN":
            note = "Cyrius LowQ_high_CN: >=6 CYP2D6 copies, copy number approximated (lower confidence)"
            rows.append(_row(sample, "CYP2D6", [genotype], "cyrius", "called", note, path, n))
        elif filt == "More_than_one_possible_genotype":
            rows.append(_row(sample, "CYP2D6", genotype.split(";"), "cyrius", "ambiguous", "", path, n))
        elif filt == "Not_assigned_to_haplotypes":
            note = f"Cyrius Not_assigned_to_haplotypes: {genotype}"
            options = _split_assignments(genotype)
            status = "ambiguous" if options else "no-call"
            rows.append(_row(sample, "CYP2D6", options, "cyrius", status, note, path, n))
        else:
            raise PgxError(
                f"{where(path, n, 'Filter')}: {filt!r}; expected one of {', '.join(_CYRIUS_FILTERS)}"
            )
    return rows


def _read_plain(path: Path) -> list[list]:
    with open(path, newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
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

            def get(name: str) -> str:
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
            rows.append(_row(sample, gene, candidates, "plain", status, get("note"), path, n))
    return rows


def _read_outside(path: Path, sample: str) -> list[list]:
    rows = []
    genes: set[str] = set()
    with open(path, newline="") as fh:
        for n, line in enumerate(fh.read().splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = [f.strip() for f in line.split("\t")]
            if len(fields) < 2 or len(fields) > 4 or not fields[0]:
                raise PgxError(
                    f"{where(path, n)}: expected 'GENE<TAB>diplotype' (optionally phenotype and activity "
                    f"score), found {len(fields)} field(s)"
                )
            gene, dip = fields[0], fields[1]
            if gene in genes:
                raise PgxError(f"{where(path, n)}: second call for {gene}; expected one line per gene")
            genes.add(gene)
            note = ""
            if len(fields) > 2 and fields[2]:
                note = f"outside phenotype: {fields[2]}"
            if dip:
                rows.append(_row(sample, gene, [dip], "pharmcat_outside", "called", note, path, n))
            else:
                rows.append(_row(sample, gene, [], "pharmcat_outside", "no-call", note, path, n))
    return rows
