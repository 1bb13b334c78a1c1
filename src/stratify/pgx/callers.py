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
``pharmcat_report``
    PharmCAT ``<sample>.report.tsv`` (CallsOnlyFormat): line 1 ``PharmCAT <version>``, then
    the header (``Gene, Source Diplotype, Phenotype, Activity Score, ...``; a leading
    ``Sample ID`` column in single-file mode names each row's sample). Every gene row is
    kept. ``no call``, ``Unknown/Unknown`` or empty -> no-call; diplotypes joined by `` OR ``,
    or a gene on several rows (one per possible diplotype) -> ambiguous; `` AND `` (the lowest-function genes DPYD/RYR1: variants, not a
    diplotype) -> called, text kept. ``note``: outside call, phenotype, activity score,
    missing positions. Allele names are kept verbatim (spaces included). Sample:
    ``sample=`` or the file name without ``.report.tsv``.
``pharmcat_phenotype``
    PharmCAT ``<sample>.phenotype.json``: ``geneReports`` per gene (PharmCAT 3) or per source
    (PharmCAT 2: the ``CPIC`` block is used). Diplotypes from ``sourceDiplotypes``
    (``allele1``/``allele2`` names); several -> ambiguous; ``Unknown`` alleles or
    ``callSource`` NONE -> no-call; ``callSource`` OUTSIDE, phenotypes and activity score go
    to ``note``. Sample: ``sample=``, ``matcherMetadata.sampleId`` or the file name.
``pypgx``
    PyPGx ``results.zip`` (an Archive: ``metadata.txt`` with ``Gene=``/``SemanticType=
    SampleTable[Results]`` and ``data.tsv``) or a bare ``data.tsv`` (gene from ``gene=``):
    unnamed sample column, ``Genotype, Phenotype, Haplotype1, Haplotype2, AlternativePhase,
    VariantData, CNV``. ``Indeterminate``/empty Genotype -> no-call. ``AlternativePhase``
    lists star alleles (not diplotypes) whose phase could differ: kept in ``note`` with the
    PyPGx phenotype and a non-Normal CNV.
``aldy``
    Aldy ``.aldy``: header ``#Sample Gene SolutionID Major Minor Copy ...``, ``#Solution N:``
    comments, one row per allele/variant. One call per sample and gene; ``Major``
    (``*1/*4+*4.021.ALDY``) is reduced to major star alleles (``*1/*4+*4``: suballele
    numbers, ``.ALDY`` tags and legacy letters go; ``-like`` stays, so a novel function
    change stays visible). Solutions that differ after that -> ambiguous; identical ones
    -> called. Every solution's raw ``Major`` and comment go to ``note``.
``stellarpgx``
    StellarPGx per-sample ``<sample>_<gene>.alleles`` (the block after ``Result:``; gene from
    ``<GENE> Star Allele Calling with StellarPGx``) or a summary TSV ``sample<TAB>diplotype
    [<TAB>note]`` (gene from ``gene=``). ``a or b`` -> ambiguous; ``No_call``, "Possible
    novel allele ..." and bracketed background alleles (``[*1/*2]``) -> no-call with the
    text in ``note`` (a novel allele's function is unknown, so the background is no call).
    A call flagged "Duplication present" or "Possible ... gene deletion (*5) present" is a
    no-call too (text in ``note``): its candidates come from SNVs alone and do not say
    which haplotype carries the extra or missing gene copy. Other notes stay in ``note``.

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

import json
import lzma
import math
import re
import zipfile
import zlib
from itertools import product
from pathlib import Path

import pandas as pd

from stratify.errors import PgxError, where
from stratify.pgx.alleles import star_sort_key

__all__ = ["CALL_COLUMNS", "SUPPORTED_TOOLS", "read_calls"]

SUPPORTED_TOOLS = ("cyrius", "pharmcat_outside", "plain", "pharmcat_report", "pharmcat_phenotype", "pypgx", "aldy",
                   "stellarpgx")
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
        Keep only this gene's calls (Cyrius calls only CYP2D6). Formats that do not name the
        gene (a bare PyPGx ``data.tsv``, a StellarPGx summary, an Aldy file without solutions)
        take it from here.
    sample
        Sample name for single-sample formats (``pharmcat_outside``, ``pharmcat_report``,
        ``pharmcat_phenotype``, a StellarPGx ``.alleles`` file); default: from the file
        (PharmCAT's ``sampleId``) or its name.

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
    elif tool == "pharmcat_outside":
        rows = _read_outside(path, sample or path.stem)
    elif tool == "pharmcat_report":
        rows = _read_pharmcat_report(path, sample)
    elif tool == "pharmcat_phenotype":
        rows = _read_pharmcat_phenotype(path, sample)
    elif tool == "pypgx":
        rows = _read_pypgx(path, gene)
    elif tool == "aldy":
        rows = _read_aldy(path, sample, gene)
    else:
        rows = _read_stellarpgx(path, sample, gene)
    out = pd.DataFrame(rows, columns=CALL_COLUMNS)
    if gene is not None:
        out = out[out["gene"] == gene].reset_index(drop=True)
    for col in CALL_COLUMNS:
        if col != "copy_number":
            out[col] = out[col].astype(str)
    out["copy_number"] = out["copy_number"].astype(float)
    return out


# --------------------------------------------------------------------------- helpers


def _decode(raw: bytes, label: str, what: str) -> str:
    """UTF-8 text of a call file (a byte-order mark is dropped), or a PgxError naming the line."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PgxError(f"{label}: UTF-16 text; expected {what} as UTF-8 (re-save the file as UTF-8)")
    if raw.startswith(b"PK\x03\x04"):
        raise PgxError(f"{label}: a damaged or truncated zip archive, not {what}; re-copy the file from the tool's "
                       "output")
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise PgxError(f"{where(label, line)}: a NUL byte (binary data); expected {what} as UTF-8 text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise PgxError(f"{where(label, line)}: byte 0x{raw[e.start]:02x} is not UTF-8; expected {what} as UTF-8 "
                       "text (re-save the file as UTF-8)") from None


def _lines(text: str) -> list[str]:
    """Lines as an editor counts them (\\n, \\r\\n or \\r ends a line; other control characters do not,
    unlike str.splitlines, so line numbers in messages match what the user sees)."""
    lines = re.split(r"\r\n|\r|\n", text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def _read_lines(path: Path, what: str) -> list[str]:
    return _lines(_decode(path.read_bytes(), str(path), what))


def _strip_gene(text: str, gene: str) -> str:
    return text.replace(gene, "").replace(" ", "")


def _order(h1: str, h2: str) -> tuple[str, str]:
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
#: The column (or field) that holds the diplotype, per tool, for error messages.
_COLUMN = {"cyrius": "Genotype", "plain": "diplotype", "pharmcat_outside": "field 2 (diplotype)",
           "pharmcat_report": "Source Diplotype", "pharmcat_phenotype": "sourceDiplotypes", "pypgx": "Genotype",
           "aldy": "Major", "stellarpgx": "diplotype (Result)"}
_LOOKS_LIKE = ("expected two haplotypes joined by one '/', each a star allele or '+'-joined star alleles, like "
               "'*1/*4', '*1x2/*4' or '*36+*10/*4'")


def _bad_diplotype(text: str, gene: str, path, line, column: str, why: str) -> PgxError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return PgxError(f"{where(path, line, column)}: {gene} diplotype {shown!r} is malformed ({why}); {_LOOKS_LIKE}")


def _diplotype(text: str, gene: str, path: Path, line: int, *, keep_spaces: bool = False,
               column: str = "diplotype") -> tuple[str, str, str]:
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
            why = ("one haplotype only" if len(compact) == 1 else f"{len(compact)} '/'-separated parts")
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


def _row(sample, gene, candidates: list[str], tool, status, note, path, line, *, keep_spaces=False) -> list:
    """One output row from the normalised candidate diplotypes (first = the call)."""
    normal = [_diplotype(c, gene, path, line, keep_spaces=keep_spaces, column=_COLUMN.get(tool, "diplotype"))
              for c in candidates]
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
    lines = _read_lines(path, "a Cyrius TSV")
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
    # no quoting: a stray '"' must not join lines into one record
    reader = iter([line.split("\t") for line in _read_lines(path, "a TSV of calls")])
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
    for n, line in enumerate(_read_lines(path, "a PharmCAT outside-call TSV"), start=1):
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
        if _pharmcat_no_call(dip):
            said = f"outside call {dip!r}: no call" if dip else "outside call: empty diplotype, no call"
            rows.append(_row(sample, gene, [], "pharmcat_outside", "no-call", _join_note(said, note), path, n))
        else:
            rows.append(_row(sample, gene, [dip], "pharmcat_outside", "called", note, path, n))
    return rows


# --------------------------------------------------------------------------- PharmCAT reports

_PHARMCAT_NO_CALL = ("", "no call", "Unknown", "Unknown/Unknown")
_PHARMCAT_IGNORABLE = ("", "n/a", "No Result")


def _pharmcat_no_call(dip: str) -> bool:
    """PharmCAT's ways of saying no call: "", "no call", "Unknown/Unknown", or any candidate with
    an Unknown haplotype (``*1/Unknown``)."""
    candidates = [c.strip() for c in dip.split(" OR ")]
    return dip in _PHARMCAT_NO_CALL or any(
        c in _PHARMCAT_NO_CALL or "Unknown" in [h.strip() for h in c.split("/")] for c in candidates)


def _pharmcat_sample(path: Path, suffix: str) -> str:
    return path.name[: -len(suffix)] if path.name.endswith(suffix) and path.name != suffix else path.stem


def _join_note(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _combined_row(sample, gene, text, tool, note) -> list:
    """A lowest-function gene (DPYD, RYR1): the variants PharmCAT found, not a diplotype."""
    note = _join_note("PharmCAT lowest-function gene: the variants found, not a diplotype", note)
    return [sample, gene, text, text, "", math.nan, tool, "called", "", note]


def _read_pharmcat_report(path: Path, sample: str | None) -> list[list]:
    lines = _read_lines(path, "a PharmCAT report TSV")
    if not lines:
        raise PgxError(f"{path}: empty file; expected a PharmCAT report TSV (first line 'PharmCAT <version>')")
    if not lines[0].startswith("PharmCAT"):
        raise PgxError(f"{where(path, 1)}: expected the PharmCAT version line 'PharmCAT v...', found {lines[0]!r}")
    if len(lines) < 2:
        raise PgxError(
            f"{where(path, 2)}: missing header; expected PharmCAT's report columns Gene, Source Diplotype, ..."
        )
    header = lines[1].split("\t")
    absent = [c for c in ("Gene", "Source Diplotype") if c not in header]
    if absent:
        raise PgxError(
            f"{where(path, 2)}: missing column(s) {', '.join(absent)}; expected PharmCAT's report header "
            "(Gene, Source Diplotype, Phenotype, Activity Score, ..., Outside Call, ...)"
        )
    col = {h: i for i, h in enumerate(header)}
    default_sample = sample or _pharmcat_sample(path, ".report.tsv")
    rows = []
    for n, line in enumerate(lines[2:], start=3):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise PgxError(f"{where(path, n)}: {len(fields)} fields, expected {len(header)} as in the header")

        def get(name: str) -> str:
            return fields[col[name]].strip() if name in col else ""

        gene, dip = get("Gene"), get("Source Diplotype")
        if not gene:
            raise PgxError(f"{where(path, n, 'Gene')}: empty; expected a gene symbol")
        who = (get("Sample ID") if "Sample ID" in col else "") or default_sample
        note = _join_note(
            "PharmCAT outside call" if get("Outside Call") == "yes" else "",
            f"phenotype: {get('Phenotype')}" if get("Phenotype") not in _PHARMCAT_IGNORABLE else "",
            f"activity score: {get('Activity Score')}" if get("Activity Score") not in _PHARMCAT_IGNORABLE else "",
            "missing positions" if get("Missing positions") not in ("", "no") else "",
        )
        if " AND " in dip:
            rows.append(_combined_row(who, gene, dip, "pharmcat_report", note))
            continue
        candidates = [c.strip() for c in dip.split(" OR ")]
        if _pharmcat_no_call(dip):
            note = _join_note(f"PharmCAT: {dip!r}, no call" if dip else "PharmCAT: no diplotype, no call", note)
            rows.append(_row(who, gene, [], "pharmcat_report", "no-call", note, path, n))
            continue
        status = "ambiguous" if len(candidates) > 1 else "called"
        rows.append(_row(who, gene, candidates, "pharmcat_report", status, note, path, n, keep_spaces=True))
    return _merge_gene_rows(rows, "pharmcat_report", path)


def _merge_gene_rows(rows: list[list], tool: str, path: Path) -> list[list]:
    """One row per sample and gene: rows repeating a gene (one row per possible diplotype, as
    older PharmCAT reports write them) become one ambiguous call, or a no-call if any is one."""
    merged: dict[tuple[str, str], list] = {}
    for r in rows:
        key = (r[0], r[1])
        if key not in merged:
            merged[key] = r
            continue
        prev = merged[key]
        notes = list(dict.fromkeys(x for x in (prev[9], r[9]) if x))
        if "no-call" in (prev[7], r[7]):
            merged[key] = _row(r[0], r[1], [], tool, "no-call", "; ".join(notes), path, None)
            continue
        candidates = [prev[2], *filter(None, prev[8].split(";")), r[2], *filter(None, r[8].split(";"))]
        merged[key] = _row(r[0], r[1], candidates, tool, "ambiguous", "; ".join(notes), path, None, keep_spaces=True)
    return list(merged.values())


def _read_pharmcat_phenotype(path: Path, sample: str | None) -> list[list]:
    text = _decode(path.read_bytes(), str(path), "a PharmCAT phenotype JSON")
    if not text.strip():
        raise PgxError(f"{path}: empty file; expected a PharmCAT phenotype JSON")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PgxError(
            f"{where(path, e.lineno)}: not valid JSON ({e.msg}); expected a PharmCAT phenotype JSON"
        ) from None
    except RecursionError:
        raise PgxError(f"{path}: JSON nested too deeply to be a PharmCAT phenotype JSON") from None
    reports = data.get("geneReports") if isinstance(data, dict) else None
    if not isinstance(reports, dict):
        raise PgxError(f"{path}: no 'geneReports' object; expected a PharmCAT phenotype JSON (*.phenotype.json)")
    if reports and set(reports) <= {"CPIC", "DPWG", "FDA"}:  # PharmCAT 2: one block of gene reports per source
        if not isinstance(reports.get("CPIC"), dict):
            raise PgxError(f"{path}: geneReports has no CPIC block; expected geneReports.CPIC")
        reports = reports["CPIC"]
    meta = data.get("matcherMetadata") or {}
    meta_id = meta.get("sampleId") if isinstance(meta, dict) else None
    if meta_id is not None and not isinstance(meta_id, str):
        raise PgxError(f"{path}, matcherMetadata.sampleId: expected the sample name as text, "
                       f"found {json.dumps(meta_id)[:80]}")
    who = sample or meta_id or _pharmcat_sample(path, ".phenotype.json")
    rows = []
    for gene, rep in reports.items():
        at = f"{path}, geneReports.{gene}"
        if not isinstance(rep, dict):
            raise PgxError(f"{at}: expected a gene report object, found {type(rep).__name__}")
        dips = rep.get("sourceDiplotypes") or rep.get("recommendationDiplotypes") or []
        if not isinstance(dips, list):
            raise PgxError(f"{at}.sourceDiplotypes: expected a list of diplotypes")
        candidates, unknown = [], False
        for d in dips:
            if not isinstance(d, dict):
                raise PgxError(f"{at}.sourceDiplotypes: expected diplotype objects with allele1/allele2")
            alleles = [d.get(a) for a in ("allele1", "allele2")]
            if any(a is not None and not (isinstance(a, dict) and isinstance(a.get("name"), (str, type(None))))
                   for a in alleles):
                raise PgxError(f"{at}.sourceDiplotypes: expected allele1/allele2 objects with a text 'name', "
                               f"found {json.dumps(alleles)[:120]}")
            names = [a["name"].strip() for a in alleles if a and a.get("name")]
            if not names or "Unknown" in names:
                unknown = True
                continue
            candidates.append(names)
        first = dips[0] if dips and isinstance(dips[0], dict) else {}
        phens = first.get("phenotypes") or []
        if not (isinstance(phens, list) and all(isinstance(p, str) for p in phens)):
            raise PgxError(f"{at}.sourceDiplotypes[0].phenotypes: expected a list of phenotype names, "
                           f"found {json.dumps(phens)[:120]}")
        phens = [p for p in phens if p not in _PHARMCAT_IGNORABLE]
        score = first.get("activityScore")
        if isinstance(score, (list, dict)):
            raise PgxError(f"{at}.sourceDiplotypes[0].activityScore: expected a number or text, "
                           f"found {json.dumps(score)[:120]}")
        no_call = ("PharmCAT: callSource NONE, no call" if rep.get("callSource") == "NONE" else
                   "PharmCAT: Unknown allele, no call" if unknown else
                   "PharmCAT: no diplotype, no call" if not candidates else "")
        note = _join_note(
            no_call,
            "PharmCAT outside call" if rep.get("callSource") == "OUTSIDE" else "",
            f"phenotype: {', '.join(phens)}" if phens else "",
            f"activity score: {score}" if score not in (None, *_PHARMCAT_IGNORABLE) else "",
        )
        if no_call:
            rows.append(_row(who, gene, [], "pharmcat_phenotype", "no-call", note, at, None))
        elif len(candidates) > 1 and all(len(c) == 1 for c in candidates):
            rows.append(_combined_row(who, gene, " AND ".join(c[0] for c in candidates), "pharmcat_phenotype", note))
        else:
            status = "ambiguous" if len(candidates) > 1 else "called"
            rows.append(_row(who, gene, ["/".join(c) for c in candidates], "pharmcat_phenotype", status, note,
                             at, None, keep_spaces=True))
    return rows


# --------------------------------------------------------------------------- PyPGx

PYPGX_COLUMNS = ["Genotype", "Phenotype", "Haplotype1", "Haplotype2", "AlternativePhase", "VariantData", "CNV"]


def _read_pypgx_zip(path: Path) -> tuple[str, str, str, str]:
    """(metadata name, its text, data.tsv name, its text) of a PyPGx archive; a damaged archive
    (bad CRC, truncated member, unknown compression, encryption) is a PgxError."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            meta_name = next((x for x in names if x.split("/")[-1] == "metadata.txt"), None)
            data_name = next((x for x in names if x.split("/")[-1] == "data.tsv"), None)
            if meta_name is None or data_name is None:
                raise PgxError(
                    f"{path}: a zip without metadata.txt and data.tsv; expected a PyPGx results archive "
                    f"(results.zip), found {', '.join(names)[:200] or 'nothing'}"
                )
            raw_meta, raw_data = zf.read(meta_name), zf.read(data_name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
            ValueError, OSError, lzma.LZMAError) as e:
        # zipfile reports damage with many exception types (RuntimeError: encrypted member)
        raise PgxError(f"{path}: a damaged zip archive ({type(e).__name__}: {str(e)[:120]}); expected a PyPGx "
                       "results.zip: re-copy it from the PyPGx output") from None
    return (meta_name, _decode(raw_meta, f"{path}:{meta_name}", "PyPGx metadata"), data_name,
            _decode(raw_data, f"{path}:{data_name}", "a PyPGx data.tsv"))


def _read_pypgx(path: Path, gene: str | None) -> list[list]:
    if zipfile.is_zipfile(path):
        meta_name, meta_text, data_name, text = _read_pypgx_zip(path)
        meta = {}
        for n, line in enumerate(_lines(meta_text), start=1):
            if line.strip():
                key, sep, value = line.strip().partition("=")
                if not sep:
                    raise PgxError(f"{where(f'{path}:{meta_name}', n)}: {line!r}; expected 'Key=value'")
                meta[key] = value
        kind = meta.get("SemanticType", "")
        if kind != "SampleTable[Results]":
            raise PgxError(f"{path}: expected a PyPGx archive of SemanticType SampleTable[Results], found {kind!r}")
        if "Gene" not in meta:
            raise PgxError(f"{path}: metadata.txt has no Gene=...; expected the gene of the results")
        if gene is not None and meta["Gene"] != gene:
            raise PgxError(f"{path}: the archive holds {meta['Gene']} calls, not {gene}")
        gene, label = meta["Gene"], f"{path}:{data_name}"
    else:
        if gene is None:
            raise PgxError(f"{path}: a bare PyPGx data.tsv does not name its gene; "
                           "give the gene (gene: CYP2D6 in the config entry)")
        text, label = _decode(path.read_bytes(), str(path), "a PyPGx data.tsv"), str(path)
    lines = _lines(text)
    if not lines:
        raise PgxError(f"{label}: empty file; expected PyPGx results with columns {', '.join(PYPGX_COLUMNS)}")
    header = lines[0].split("\t")
    absent = [c for c in PYPGX_COLUMNS if c not in header]
    if absent or header[0] in PYPGX_COLUMNS:
        raise PgxError(
            f"{where(label, 1)}: missing column(s) {', '.join(absent) or 'sample (unnamed first column)'}; expected "
            f"PyPGx results: an unnamed sample column, then {', '.join(PYPGX_COLUMNS)}"
        )
    col = {h: i for i, h in enumerate(header)}
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise PgxError(f"{where(label, n)}: {len(fields)} fields, expected {len(header)} as in the header")

        def get(name: str) -> str:
            v = fields[col[name]].strip()
            return "" if v in ("nan", "NaN") else v

        who, genotype = fields[0].strip(), get("Genotype")
        if not who:
            raise PgxError(f"{where(label, n)}: empty sample name; expected one in the first column")
        alt = ";".join(a for a in get("AlternativePhase").split(";") if a)
        note = _join_note(
            f"PyPGx phenotype: {get('Phenotype')}" if get("Phenotype") else "",
            f"CNV: {get('CNV')}" if get("CNV") not in ("", "Normal") else "",
            f"alternative phase: {alt}" if alt else "",
        )
        if genotype in ("", "Indeterminate"):
            rows.append(_row(who, gene, [], "pypgx", "no-call", note, label, n))
        else:
            rows.append(_row(who, gene, [genotype], "pypgx", "called", note, label, n))
    return rows


# --------------------------------------------------------------------------- Aldy

_ALDY_HEADER = ["Sample", "Gene", "SolutionID", "Major", "Minor"]
_ALDY_ALLELE = re.compile(r"^\*(?P<num>\d+)[A-Z]*(?:\.\d+)*(?:\.ALDY(?:_\d+)?)?(?P<like>-like)?$")


def _aldy_major(major: str, path: Path, line: int) -> str:
    """``*1/*4+*4.021.ALDY`` -> ``*1/*4+*4``: suballele numbers, Aldy's novel-suballele tag and
    legacy letters go; ``-like`` (a novel function-changing variant) and unknown names stay."""
    haps = major.split("/")
    if len(haps) != 2 or not all(h.strip() for h in haps) or any(not t for h in haps for t in h.split("+")):
        raise PgxError(
            f"{where(path, line, 'Major')}: {major!r} is not a diplotype; expected two haplotypes joined by '/', "
            "like '*1/*4+*4.021'"
        )

    def one(token: str) -> str:
        m = _ALDY_ALLELE.match(token.strip())
        return f"*{m.group('num')}{m.group('like') or ''}" if m else token.strip()

    return "/".join("+".join(one(t) for t in h.split("+")) for h in haps)


def _read_aldy(path: Path, sample: str | None, gene: str | None) -> list[list]:
    lines = _read_lines(path, "an Aldy .aldy file")
    if not any(x.strip() for x in lines):
        raise PgxError(f"{path}: empty file; expected an Aldy .aldy file (header '#Sample<TAB>Gene<TAB>SolutionID...')")
    groups: dict[tuple[str, str], dict[str, list]] = {}
    seen_header, pending = False, ""
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.startswith("#Sample") or line.startswith("Sample\t"):
            header = [h.strip() for h in line.lstrip("#").split("\t")]
            if header[:5] != _ALDY_HEADER:
                raise PgxError(
                    f"{where(path, n)}: expected the Aldy header '#Sample<TAB>Gene<TAB>SolutionID<TAB>Major<TAB>Minor"
                    f"<TAB>Copy...', found {line!r}"
                )
            seen_header = True
            continue
        if line.startswith("#"):
            m = re.match(r"^#Solution\s+\d+\s*:\s*(.*)$", line)
            pending = m.group(1).strip() if m else pending
            continue
        if not seen_header:
            raise PgxError(
                f"{where(path, n)}: expected the Aldy header '#Sample<TAB>Gene<TAB>SolutionID<TAB>Major<TAB>Minor"
                f"<TAB>Copy...' first, found {line!r}"
            )
        fields = line.split("\t")
        if len(fields) < 5:
            raise PgxError(
                f"{where(path, n)}: {len(fields)} field(s); expected at least Sample, Gene, SolutionID, Major, Minor"
            )
        who, g, sol, major = (f.strip() for f in fields[:4])
        if not who or not g:
            raise PgxError(f"{where(path, n)}: empty Sample or Gene; expected both")
        if not sol.isdigit():
            raise PgxError(f"{where(path, n, 'SolutionID')}: {sol!r}; expected a solution number")
        solutions = groups.setdefault((who, g), {})
        if sol not in solutions:
            solutions[sol] = [major, n, pending]
            pending = ""
        elif solutions[sol][0] != major:
            raise PgxError(
                f"{where(path, n, 'Major')}: {major!r} differs from {solutions[sol][0]!r} on line {solutions[sol][1]} "
                f"for solution {sol}; expected one Major per solution"
            )
    if not groups:
        if gene is None:
            raise PgxError(f"{path}: no Aldy solutions (a no-call), and no gene= to name the gene of the no-call")
        who = sample or path.name.removesuffix(".aldy").removesuffix(f".{gene}")
        return [_row(who, gene, [], "aldy", "no-call", "Aldy reported no solution", path, None)]
    rows = []
    for (who, g), solutions in groups.items():
        first_line = min(v[1] for v in solutions.values())
        candidates = [_aldy_major(major, path, n) for major, n, _ in solutions.values()]
        normal = {_diplotype(c, g, path, first_line, column="Major")[0] for c in candidates}
        note = _join_note(*(
            f"Aldy solution {sid}: {major}" + (f" ({comment})" if comment else "")
            for sid, (major, _, comment) in solutions.items()
        ))
        status = "ambiguous" if len(normal) > 1 else "called"
        rows.append(_row(who, g, candidates, "aldy", status, note, path, first_line))
    return rows


# --------------------------------------------------------------------------- StellarPGx

_STELLAR_SECTION = re.compile(r"^[A-Z][A-Za-z ]*:$")


def _stellar_call(text: str, background: str = "") -> tuple[list[str], str, str]:
    """StellarPGx's result text -> (candidates, status, note)."""
    call, _, extra = text.partition("\t")
    call, extra = call.strip(), extra.strip()
    bracket = re.fullmatch(r"\[(.*)\]", call)
    if call.startswith("Possible novel allele") or bracket:
        bg = bracket.group(1).strip() if bracket else background.strip("[] ")
        note = "StellarPGx: possible novel allele or suballele" + (f"; likely background alleles {bg}" if bg else "")
        return [], "no-call", _join_note(note, extra)
    if "*" not in call:  # No_call, "Possible rare CYP2D6/2D7 hybrid present", ...
        return [], "no-call", _join_note(f"StellarPGx: {call}" if call else "StellarPGx: no result", extra)
    if re.search(r"duplication|deletion|hybrid", extra, re.IGNORECASE):
        # the candidates come from SNVs alone: which haplotype carries the extra or missing gene is unknown
        return [], "no-call", _join_note(f"StellarPGx: {call}", extra)
    options = [o.strip() for o in re.split(r"\s+or\s+", call)]
    return options, ("ambiguous" if len(options) > 1 else "called"), extra


def _read_stellarpgx(path: Path, sample: str | None, gene: str | None) -> list[list]:
    lines = _read_lines(path, "a StellarPGx .alleles file or summary TSV")
    if not any(x.strip() for x in lines):
        raise PgxError(f"{path}: empty file; expected a StellarPGx .alleles file or summary TSV")
    if any(x.strip() == "Result:" for x in lines):
        return [_read_stellar_alleles(path, lines, sample, gene)]
    if gene is None:
        raise PgxError(f"{path}: a StellarPGx summary does not name its gene; "
                       "give the gene (gene: CYP2D6 in the config entry)")
    rows = []
    for n, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if n == 1 and fields[0].strip().lower() in ("sample", "sample_id", "samples"):
            continue
        if not 2 <= len(fields) <= 3 or not fields[0].strip():
            raise PgxError(
                f"{where(path, n)}: expected 'sample<TAB>diplotype[<TAB>note]' (StellarPGx summary), "
                f"found {len(fields)} field(s)"
            )
        candidates, status, note = _stellar_call("\t".join(f.strip() for f in fields[1:]))
        rows.append(_row(fields[0].strip(), gene, candidates, "stellarpgx", status, note, path, n))
    return rows


def _read_stellar_alleles(path: Path, lines: list[str], sample: str | None, gene: str | None) -> list:
    sections: dict[str, list[tuple[int, str]]] = {}
    current = None
    found_gene = None
    for n, line in enumerate(lines, start=1):
        m = re.match(r"^(\S+) Star Allele Calling with StellarPGx", line.strip())
        if m:
            found_gene = m.group(1).upper()
        elif _STELLAR_SECTION.match(line.strip()):
            current = line.strip()[:-1]
            sections.setdefault(current, [])
        elif current and line.strip():
            sections[current].append((n, line.rstrip()))
    g = found_gene or gene
    if g is None:
        raise PgxError(
            f"{path}: no line '<GENE> Star Allele Calling with StellarPGx'; expected it, or give the gene (gene: in the config entry)"
        )
    who = sample or path.name.removesuffix(".alleles").rsplit("_", 1)[0]
    result = sections.get("Result", [])
    n, text = result[0] if result else (None, "")

    def first(name: str) -> str:
        found = sections.get(name) or [(0, "")]   # a section header with no line under it is empty
        return found[0][1].strip()

    background = first("Likely background alleles")
    candidates, status, note = _stellar_call(text, background)
    extra = _join_note(
        f"StellarPGx activity score: {first('Activity score')}" if first("Activity score") else "",
        f"metaboliser status: {first('Metaboliser status')}" if first("Metaboliser status") else "",
    )
    line = n if n is not None else next(i for i, x in enumerate(lines, start=1) if x.strip() == "Result:")
    return _row(who, g, candidates, "stellarpgx", status, _join_note(note, extra), path, line)
