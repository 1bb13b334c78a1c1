"""Star-allele calling from a VCF with PharmCAT's allele definitions.

Three steps, each a pure function:

1. :func:`load_definitions` reads a PharmCAT ``<GENE>_translation.json`` (shipped in
   ``resources/pgx``; see ``resources/SOURCES.md``).
2. :func:`read_vcf_genotypes` reads the genotypes at the definition positions into a long
   table, keeping a missing position missing (it is never assumed to be reference).
3. :func:`call_diplotypes` matches each sample's genotypes against every pair of named
   alleles, the way PharmCAT's NamedAlleleMatcher does.

How the matching follows PharmCAT (PharmGKB/PharmCAT, ``haplotype/MatchData.java`` and
``definition/model/NamedAllele.java``, development branch 2025-11):

* A definition that is silent at a position (``null`` in the file's ``alleles``) takes the
  reference base there (PharmCAT's default ``assumeReference``). IUPAC codes such as ``Y``
  in ``*4`` match either base.
* An allele's score is the number of positions its definition specifies (non-null in the
  file's ``alleles``; the file's ``score`` field). Positions missing from the sample are
  dropped from every definition and from its score, and a definition left with score 0 is
  dropped. A diplotype scores the sum of its two alleles' scores; only the top-scoring
  diplotypes are kept, so the more specific definition wins (``*1/*2`` over ``*2/*11``).
* CYP2C19 ``*1`` is defined at all 35 positions (reference everywhere except rs3758581 G),
  ``*38`` is the all-reference haplotype. When rs3758581 is missing, ``*1`` and ``*38``
  cannot be told apart and both are reported.

One deliberate departure for CYP2B6 (``phase_alternatives``): where unphased genotypes
fit several *different haplotype pairs*, PharmCAT keeps only the top-scoring one (its
NamedAlleleMatcher-101 example: ``*1/*2`` over ``*3/*5``), because the reference allele
scores every position. stratify also keeps the other phasings as alternatives of an
``ambiguous`` call, first the PharmCAT one: CYP2B6 ``*6`` is ``*9``'s 516G>T plus ``*4``'s
785A>G, so a sample heterozygous at both is ``*1/*6`` (PharmCAT's call, score 50) or
``*4/*9``; both are Intermediate Metabolizers, but ``*1/*13`` vs ``*6/*8`` are not.

The genes called from a VCF are :data:`VCF_CALLABLE_GENES`. Alleles that CPIC assigns a
function but that no SNV/indel definition can describe (gene deletions, CYP2B6/CYP2B7
hybrids) are :data:`STRUCTURAL_ALLELES`: never called, never excluded, and named in each
call's ``not_callable`` column.

Examples
--------
>>> defs = load_definitions("CYP2C19")
>>> defs.chrom, defs.build, defs.reference, len(defs.positions)
('chr10', 'GRCh38', '*38', 35)
>>> defs.defined["*2"], defs.defined["*1"]
(4, 35)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import combinations_with_replacement
from pathlib import Path

import numpy as np
import pandas as pd

from stratify.errors import GenotypeError, PgxError, where
from stratify.io.paths import resource_dir

__all__ = [
    "KEEP_OTHER_PHASINGS",
    "STRUCTURAL_ALLELES",
    "VCF_CALLABLE_GENES",
    "AlleleDefinitions",
    "Position",
    "call_diplotypes",
    "load_definitions",
    "read_vcf_genotypes",
    "star_sort_key",
]

GENOTYPE_COLUMNS = ["sample", "pos", "rsid", "allele1", "allele2", "phased", "gt", "gt_status"]
DIPLOTYPE_COLUMNS = [
    "sample",
    "gene",
    "diplotype",
    "haplotype1",
    "haplotype2",
    "status",
    "alternatives",
    "missing_positions",
    "n_candidates",
    "genotype_flags",
    "not_callable",
]

#: Genes stratify calls from a VCF: those whose CPIC alleles are (almost) all SNV/indel-defined
#: in PharmCAT's translation files (shipped in resources/pgx).
VCF_CALLABLE_GENES = ("CYP2C19", "CYP2B6")

#: Genes whose unphased calls keep the other phasings beside PharmCAT's top-scoring call (see
#: ``phase_alternatives`` of :func:`call_diplotypes`). CYP2B6: ``*6`` (516G>T + 785A>G) vs
#: ``*4`` (785A>G) + ``*9`` (516G>T). CYP2C19 stays as PharmCAT and its test expectations call it.
KEEP_OTHER_PHASINGS = ("CYP2B6",)

#: Alleles in CPIC's allele-function table that the translation file does not define, because
#: they are structural (PharmVar): a VCF of SNVs/indels cannot show them, so a call never rules
#: them out. tests/test_pgx_alleles.py checks that these are exactly CPIC's alleles (PharmCAT
#: ``phenotype/<GENE>.json`` namedAlleles) missing from ``<GENE>_translation.json``.
STRUCTURAL_ALLELES: dict[str, dict[str, str]] = {
    "CYP2C19": {"*36": "whole-gene deletion", "*37": "partial gene deletion"},
    "CYP2B6": {"*29": "CYP2B7/CYP2B6 hybrid (partial CYP2B6 deletion)", "*30": "CYP2B6/CYP2B7 hybrid"},
}

# IUPAC nucleotide codes used in PharmCAT definitions (e.g. *4 is "Y" at rs12248560).
_IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}  # fmt: skip

# Contig lengths that identify the assembly in a VCF header (chr10: CYP2C19, chr19: CYP2B6).
_CONTIG_LENGTH = {"chr10": {135534747: "GRCh37", 133797422: "GRCh38"},
                  "chr19": {59128983: "GRCh37", 58617616: "GRCh38"}}
_GRCH37_NAMES = ("grch37", "hg19", "b37", "hs37d5", "g1k_v37", "grch37.p13")
_GRCH38_NAMES = ("grch38", "hg38", "hs38", "b38")


@dataclass(frozen=True)
class Position:
    """One position of an allele definition (GRCh38, 1-based).

    Examples
    --------
    >>> Position(94781859, "rs4244285", "G", ("A",)).alts
    ('A',)
    """

    pos: int
    rsid: str | None
    ref: str
    alts: tuple[str, ...]


@dataclass(frozen=True)
class AlleleDefinitions:
    """Named-allele definitions of one gene, as PharmCAT matches them.

    Attributes
    ----------
    gene, chrom, build
        Gene symbol, contig name (``"chr10"``) and assembly (``"GRCh38"``).
    positions
        The definition positions, in file order.
    alleles
        Star name -> one base per position. Where the definition is silent the reference
        base is filled in (PharmCAT's default); IUPAC codes are kept. ``None`` only where
        the file has no base even for the reference allele.
    reference
        Name of the reference allele (``"*38"`` for CYP2C19).
    defined
        Star name -> number of positions the definition specifies (non-null in the file's
        ``alleles``; PharmCAT's score). For CYP2C19 ``*1`` this is 35, not the single
        rs3758581 of its ``cpicAlleles``: PharmCAT scores ``*1`` as fully specified.
    specified
        Star name -> for each position, whether the definition specifies it (what
        ``defined`` counts; a missing position is dropped from the score only where True).
    source
        Path of the translation file read.

    Examples
    --------
    >>> d = load_definitions()
    >>> d.alleles["*17"][0], d.alleles["*4"][0], d.alleles["*38"][0]
    ('T', 'Y', 'C')
    """

    gene: str
    chrom: str
    build: str
    positions: tuple[Position, ...]
    alleles: dict[str, tuple[str | None, ...]]
    reference: str
    defined: dict[str, int]
    specified: dict[str, tuple[bool, ...]] = field(default_factory=dict)
    source: str = ""


def star_sort_key(name: str) -> tuple:
    """Sort key putting star alleles in numeric order (``*2`` before ``*10``).

    Names that are not ``*<number>...`` sort after all star alleles, alphabetically.

    Examples
    --------
    >>> sorted(["*38", "*10", "*2", "*1"], key=star_sort_key)
    ['*1', '*2', '*10', '*38']
    """
    m = re.match(r"^\*(\d+)(.*)$", name)
    if m:
        return (0, int(m.group(1)), m.group(2))
    return (1, 0, name)


def load_definitions(gene: str = "CYP2C19", *, path: str | Path | None = None) -> AlleleDefinitions:
    """Read a PharmCAT allele-definition file (``<GENE>_translation.json``).

    Parameters
    ----------
    gene
        Gene symbol; the file ``resources/pgx/<gene>_translation.json`` is read.
    path
        Read this translation file instead (e.g. a newer PharmCAT release).

    Returns
    -------
    AlleleDefinitions

    Raises
    ------
    PgxError
        No definitions shipped for ``gene``, or the file lacks a field or is inconsistent.

    Examples
    --------
    >>> d = load_definitions("CYP2C19")
    >>> d.positions[0]
    Position(pos=94761900, rsid='rs12248560', ref='C', alts=('T',))
    >>> len(d.alleles), d.defined["*38"]
    (36, 35)
    """
    if path is None:
        path = resource_dir() / "pgx" / f"{gene}_translation.json"
        if not path.is_file():
            shipped = sorted(p.name.split("_")[0] for p in path.parent.glob("*_translation.json"))
            raise PgxError(
                f"no allele definitions for {gene} in {path.parent} (shipped: {', '.join(shipped)}); "
                "genes with structural alleles such as CYP2D6 must come from a dedicated caller "
                "(read them with stratify.pgx.read_calls)"
            )
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PgxError(f"{path}: cannot read allele definitions ({exc})") from None
    return _parse_definitions(raw, path)


def _parse_definitions(raw: dict, path: Path) -> AlleleDefinitions:
    try:
        gene = raw["gene"]
        chrom = raw["chromosome"]
        build = str(raw["genomeBuild"]).split(".")[0]
        variants = raw["variants"]
        named = raw["namedAlleles"]
        positions = tuple(
            Position(
                pos=int(v["position"]),
                rsid=v.get("rsid") or None,
                ref=v["ref"],
                alts=tuple(v.get("alts") or ()),
            )
            for v in variants
        )
        refs = [a for a in named if a.get("reference")]
        if len(refs) != 1:
            raise PgxError(
                f"{path}: expected exactly one named allele with \"reference\": true, found {len(refs)}"
            )
        ref_alleles = refs[0]["alleles"]
        n = len(positions)
        alleles: dict[str, tuple[str | None, ...]] = {}
        defined: dict[str, int] = {}
        specified: dict[str, tuple[bool, ...]] = {}
        for a in named:
            bases = a["alleles"]
            if len(bases) != n:
                raise PgxError(
                    f"{where(path, column='namedAlleles')}: allele {a['name']} has {len(bases)} "
                    f"bases, expected one per variant ({n})"
                )
            specified[a["name"]] = tuple(b is not None for b in bases)
            defined[a["name"]] = sum(specified[a["name"]])
            alleles[a["name"]] = tuple(b if b is not None else r for b, r in zip(bases, ref_alleles))
    except KeyError as exc:
        raise PgxError(f"{path}: allele-definition file lacks the field {exc}") from None
    return AlleleDefinitions(
        gene=gene,
        chrom=chrom,
        build=build,
        positions=positions,
        alleles=alleles,
        reference=refs[0]["name"],
        defined=defined,
        specified=specified,
        source=str(path),
    )


# --------------------------------------------------------------------------- VCF reading


def _header_build(raw_header: str, contigs: tuple[str, ...]) -> str | None:
    """The assembly a VCF header states for the gene's contig, or None when it does not say."""
    lengths = _CONTIG_LENGTH.get("chr" + contigs[0].removeprefix("chr"), {})
    contig_build = None
    reference_build = None
    for line in raw_header.splitlines():
        low = line.lower()
        if line.startswith("##contig=<"):
            m = re.search(r"[<,]ID=([^,>]+)", line)
            if not m or m.group(1) not in contigs:
                continue
            length = re.search(r"length=(\d+)", line)
            if length and int(length.group(1)) in lengths:
                return lengths[int(length.group(1))]
            asm = re.search(r"assembly=\"?([^,>\"]+)", line)
            if asm:
                contig_build = _name_build(asm.group(1))
        elif line.startswith("##reference="):
            reference_build = _name_build(line.split("=", 1)[1])
    return contig_build or reference_build


def _name_build(text: str) -> str | None:
    low = text.lower()
    if any(k in low for k in _GRCH37_NAMES):
        return "GRCh37"
    if any(k in low for k in _GRCH38_NAMES):
        return "GRCh38"
    return None


def _header_contigs(raw_header: str) -> list[str]:
    return re.findall(r"^##contig=<(?:[^>]*?,)?ID=([^,>]+)", raw_header, flags=re.M)


def read_vcf_genotypes(
    vcf_path: str | Path,
    definitions: AlleleDefinitions,
    *,
    samples: list[str] | None = None,
) -> pd.DataFrame:
    r"""Read the genotypes of every sample at every definition position.

    Parameters
    ----------
    vcf_path
        VCF (plain text, or bgzipped: BGZF with its end-of-file marker) on GRCh38; the
        definitions' contig with or without "chr" (``chr10``/``10`` for CYP2C19,
        ``chr19``/``19`` for CYP2B6). With a ``.tbi`` or ``.csi`` index only the gene's region is read,
        otherwise the file is scanned.
    definitions
        From :func:`load_definitions`.
    samples
        Read only these samples, in this order (default: all, in file order).

    Returns
    -------
    pandas.DataFrame
        One row per sample per definition position: ``sample`` (str), ``pos`` (int),
        ``rsid``, ``allele1``, ``allele2`` (the bases as strings, ``None`` when missing),
        ``phased`` (bool), ``gt`` (the GT text, "" without a record) and ``gt_status``:
        ``called``, ``absent`` (no record at the position), ``missing`` (``./.``), ``half``
        (``./1``: one allele kept), ``haploid`` (``1``), ``polyploid`` (``0/1/1``), ``no-gt``
        (a record without GT) or ``conflict`` (split records that disagree). Only
        ``called`` gives two alleles; a position absent from the VCF is missing, never
        reference. Several records at one position (a split multi-allelic site) are merged
        per sample.

    Raises
    ------
    GenotypeError
        The file is missing, not BGZF (plain gzip), truncated, corrupt or has a stale index;
        its header lacks ``#CHROM`` or repeats a sample; it is on GRCh37 (by its header, by
        the definition rsIDs sitting at other positions, or by most REF bases disagreeing);
        it has no samples or lacks a requested one; a record is malformed (columns, POS, a
        GT such as ``0/x`` or an allele index without an ALT) -- named by line or record.

    Examples
    --------
    >>> import os, tempfile
    >>> vcf = os.path.join(tempfile.mkdtemp(), "one.vcf")
    >>> with open(vcf, "w") as fh:
    ...     _ = fh.write("##fileformat=VCFv4.2\n##contig=<ID=chr10,length=133797422>\n"
    ...         '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    ...         "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\n"
    ...         "chr10\t94781859\trs4244285\tG\tA\t.\tPASS\t.\tGT\t0/1\n")
    >>> g = read_vcf_genotypes(vcf, load_definitions())
    >>> g.loc[g.rsid == "rs4244285", ["allele1", "allele2", "gt_status"]].values.tolist()
    [['G', 'A', 'called']]
    >>> g.allele1.isna().sum()  # the 34 positions absent from the file are missing
    np.int64(34)
    """
    from stratify.genotypes.vcfio import check_vcf, read_header

    vf = check_vcf(vcf_path, need_index=False, allow_text=True)
    header = read_header(vf)
    chrom_names = (definitions.chrom, definitions.chrom.removeprefix("chr"))
    if _header_build(header.meta, chrom_names) == "GRCh37":
        raise GenotypeError(
            f"{vf.path}: the header says GRCh37/hg19, which is not supported; the allele "
            f"definitions are on {definitions.build}. Lift the VCF over to GRCh38 first (e.g. with "
            "bcftools +liftover or CrossMap) and re-call variants at the PGx positions if you can."
        )
    file_samples = header.samples
    if not file_samples:
        raise GenotypeError(f"{vf.path}: the VCF has no samples (sites-only); expected genotype columns")
    if samples is None:
        samples = list(file_samples)
    else:
        samples = [str(s) for s in samples]
        known = set(file_samples)
        absent = [s for s in samples if s not in known]
        if absent:
            raise GenotypeError(
                f"{vf.path}: sample(s) not in the VCF: {', '.join(absent[:10])}"
                + (f" and {len(absent) - 10} more" if len(absent) > 10 else "")
            )
    contigs = _header_contigs(header.meta)
    if contigs and not any(c in contigs for c in chrom_names):
        raise GenotypeError(
            f"{vf.path}: no contig {definitions.chrom} or {chrom_names[1]} in the header "
            f"(contigs: {', '.join(contigs[:8])}{'...' if len(contigs) > 8 else ''}); "
            f"expected a VCF covering {definitions.gene}"
        )
    column = {s: k for k, s in enumerate(file_samples)}
    reader = _GenotypeReader(vf, header, definitions, np.array([column[s] for s in samples]))
    reader.read(chrom_names)
    return reader.table(samples)


# GT text -> (allele index 1, allele index 2, phased, status); -1 = missing allele.
_GT_CACHE: dict[bytes, tuple[int, int, bool, str]] = {}


def _parse_gt(gt: bytes) -> tuple[int, int, bool, str] | None:
    """One GT value (VCF 4.3 section 1.6.2): alleles separated by / or |, '.' missing; None if malformed."""
    hit = _GT_CACHE.get(gt)
    if hit is not None:
        return hit
    parts = re.split(rb"[/|]", gt)
    if not gt or not all(p == b"." or p.isdigit() for p in parts):
        return None
    idx = [-1 if p == b"." else int(p) for p in parts]
    phased = b"|" in gt
    if len(idx) == 1:
        out = (-1, -1, False, "missing" if idx[0] < 0 else "haploid")
    elif len(idx) > 2:
        out = (-1, -1, False, "polyploid")
    elif idx[0] < 0 and idx[1] < 0:
        out = (-1, -1, False, "missing")
    elif idx[0] < 0 or idx[1] < 0:
        out = (idx[0], idx[1], False, "half")
    else:
        out = (idx[0], idx[1], phased, "called")
    if len(_GT_CACHE) < 4096:
        _GT_CACHE[gt] = out
    return out


class _GenotypeReader:
    """Reads the records at the definition positions into per-position arrays of bases."""

    def __init__(self, vf, header, defs: AlleleDefinitions, cols: np.ndarray):
        self.vf, self.header, self.defs, self.cols = vf, header, defs, cols
        n, n_pos = len(cols), len(defs.positions)
        self.pos_index = {p.pos: i for i, p in enumerate(defs.positions)}
        self.a1 = np.full((n_pos, n), None, dtype=object)
        self.a2 = np.full((n_pos, n), None, dtype=object)
        self.ph = np.zeros((n_pos, n), dtype=bool)
        self.gt = np.full((n_pos, n), "", dtype=object)
        self.status = np.full((n_pos, n), "absent", dtype=object)
        self.ref_mismatch: list[str] = []
        self.ref_checked = 0
        self.rsid_elsewhere: list[str] = []
        self.rsids = {p.rsid: p.pos for p in defs.positions if p.rsid}

    def _lines(self, chrom_names):
        """(line, line number or None) of the gene's region (indexed) or of the whole file."""
        from stratify.genotypes.vcfio import file_lines, read_index, region_lines

        lo, hi = min(self.pos_index), max(self.pos_index)
        if self.vf.index is not None:
            idx = read_index(self.vf.index)
            for c in chrom_names:
                for line in region_lines(self.vf, idx, c, lo, hi):
                    yield line, None
            return
        for k, line in enumerate(file_lines(self.vf), start=1):
            if k > self.header.n_lines:
                yield line, k

    def read(self, chrom_names) -> None:
        from stratify.genotypes.vcfscan import _record_head

        hi = max(self.pos_index)
        prev = None
        for line, lineno in self._lines(chrom_names):
            if line[:1] == b"#":
                continue
            c, pos, tabs = _record_head(line, self.vf.path, lineno, prev)
            prev = (c, pos)
            if c not in chrom_names:
                if lineno is None:
                    break
                continue
            if lineno is None and pos > hi:
                break
            i = self.pos_index.get(pos)
            if i is None:
                rsid = line[tabs[1] + 1:tabs[2]].decode("utf-8", "replace")
                if rsid in self.rsids:
                    self.rsid_elsewhere.append(f"{rsid} at {c}:{pos} (GRCh38: {self.rsids[rsid]})")
                continue
            where = f"{self.vf.path}, {'line ' + str(lineno) + ', ' if lineno else ''}record {c}:{pos}"
            self._record(line, tabs, i, where)
        if self.vf.index is not None and not self.ref_checked:
            self._look_around(chrom_names)
        self._check_build()

    def _look_around(self, chrom_names, flank: int = 3_000_000) -> None:
        """No record at any definition position: look for the definition rsIDs within ``flank`` bases.

        A GRCh37 file has the gene about 1.8 Mb away from its GRCh38 place (CYP2C19: chr10:96.5 Mb
        vs 94.8 Mb), so its records would silently fall outside the region read. Bounded: only
        the ID column of records near the gene is looked at, once, and only in this case.
        """
        from stratify.genotypes.vcfio import read_index, region_lines
        from stratify.genotypes.vcfscan import _record_head

        lo, hi = min(self.pos_index), max(self.pos_index)
        idx = read_index(self.vf.index)
        for c in chrom_names:
            prev = None
            for line in region_lines(self.vf, idx, c, max(lo - flank, 1), hi + flank):
                c2, pos, tabs = _record_head(line, self.vf.path, None, prev)
                prev = (c2, pos)
                if c2 != c or pos > hi + flank:
                    break
                rsid = line[tabs[1] + 1:tabs[2]].decode("utf-8", "replace")
                if rsid in self.rsids and self.rsids[rsid] != pos:
                    self.rsid_elsewhere.append(f"{rsid} at {c2}:{pos} (GRCh38: {self.rsids[rsid]})")

    def _record(self, line: bytes, tabs: list[int], i: int, where: str) -> None:
        p = self.defs.positions[i]
        ref = line[tabs[2] + 1:tabs[3]].decode("utf-8", "replace").upper()
        alts = line[tabs[3] + 1:tabs[4]].decode("utf-8", "replace").upper().split(",")
        snv = len(p.ref) == 1 and all(len(x) == 1 for x in p.alts)
        self.ref_checked += 1
        if (ref[:1] if snv else ref) != p.ref:
            self.ref_mismatch.append(f"{where} ({p.rsid or 'no rsID'}): REF is {ref}, the definition's is {p.ref}")
            return
        alleles = [ref, *alts]
        if snv:
            # At a single-base position the base is the first of each allele: an indel record
            # starting here keeps its padding base.
            alleles = [x[0] if x and x not in (".", "*") and not x.startswith("<") else None for x in alleles]
        else:
            alleles = [x if x not in (".", "*") and not x.startswith("<") else None for x in alleles]
        fmt = line[tabs[7] + 1:tabs[8]].split(b":")
        fields = line[tabs[8] + 1:].rstrip(b"\r\n").split(b"\t")
        n_file = len(self.header.samples)
        if len(fields) != n_file:
            raise GenotypeError(f"{where}: {len(fields)} sample columns, expected {n_file} (the #CHROM line's "
                                "samples)")
        n = len(self.cols)
        b1 = np.full(n, None, dtype=object)
        b2 = np.full(n, None, dtype=object)
        phased = np.zeros(n, dtype=bool)
        gts = np.full(n, "", dtype=object)
        status = np.full(n, "no-gt", dtype=object)
        if fmt[0] == b"GT":
            for k, col in enumerate(self.cols):
                gt = fields[col].split(b":", 1)[0]
                parsed = _parse_gt(gt)
                text = gt.decode("utf-8", "replace")
                if parsed is None or max(parsed[0], parsed[1]) >= len(alleles):
                    raise GenotypeError(
                        f"{where}, sample {self.header.samples[col]} (column {col + 10}): GT {text!r} is not a "
                        f"genotype of this record (expected allele indexes 0..{len(alleles) - 1} or '.', separated "
                        "by / or |); fix or remove the record")
                x1, x2, phased[k], status[k] = parsed
                gts[k] = text
                b1[k] = alleles[x1] if x1 >= 0 else None
                b2[k] = alleles[x2] if x2 >= 0 else None
                if status[k] == "called" and (b1[k] is None or b2[k] is None):
                    status[k] = "missing"   # an allele '*' or <DEL>: no base at this position
        self._store(i, b1, b2, phased, gts, status, p.ref)

    def _store(self, i, b1, b2, phased, gts, status, ref) -> None:
        if (self.status[i] == "absent").all():
            self.a1[i], self.a2[i], self.ph[i], self.gt[i], self.status[i] = b1, b2, phased, gts, status
            return
        # a second record at the position (split multi-allelic site): merge per sample
        both = (self.status[i] == "called") & (status == "called")
        a1, a2, ph = _merge_calls(self.a1[i], self.a2[i], self.ph[i], b1, b2, phased, ref)
        take_new = (self.status[i] != "called") & (status == "called")
        self.a1[i] = np.where(both, a1, np.where(take_new, b1, self.a1[i]))
        self.a2[i] = np.where(both, a2, np.where(take_new, b2, self.a2[i]))
        self.ph[i] = np.where(both, ph, np.where(take_new, phased, self.ph[i]))
        self.gt[i] = np.where(self.gt[i] == "", gts, self.gt[i] + "," + gts)
        conflict = both & pd.isna(pd.Series(self.a1[i])).to_numpy()
        self.status[i] = np.where(conflict, "conflict", np.where(take_new, "called", self.status[i]))

    def _check_build(self) -> None:
        """GRCh37 data with no build in the header: definition rsIDs elsewhere, or most REF bases wrong."""
        d = self.defs
        if len(self.rsid_elsewhere) >= 2 or (self.ref_checked >= 3 and 2 * len(self.ref_mismatch) > self.ref_checked):
            what = (f"{len(self.rsid_elsewhere)} {d.gene} definition rsIDs sit at other positions (e.g. "
                    f"{'; '.join(self.rsid_elsewhere[:2])})" if len(self.rsid_elsewhere) >= 2 else
                    f"{len(self.ref_mismatch)} of {self.ref_checked} records at the {d.gene} definition positions "
                    f"have another REF base (e.g. {self.ref_mismatch[0]})")
            raise GenotypeError(
                f"{self.vf.path}: not on {d.build}: {what}; the VCF looks like GRCh37/hg19 (its header names no "
                f"build). Lift it over to {d.build} (bcftools +liftover, CrossMap), or set genome_build: GRCh37 "
                f"in the config ({d.gene} is then not called from the VCF)")
        if self.ref_mismatch:
            raise GenotypeError(f"{self.ref_mismatch[0]}; is the VCF on {d.build} and normalised? (left-align and "
                                "split multi-allelic sites with `bcftools norm -m -any -f GRCh38.fa`)")

    def table(self, samples: list[str]) -> pd.DataFrame:
        """Row order: sample-major, positions in definition order."""
        n, n_pos = len(samples), len(self.defs.positions)
        n_out = n * n_pos
        return pd.DataFrame({
            "sample": pd.Series(np.repeat(np.array(samples, dtype=object), n_pos), dtype=str),
            "pos": np.tile(np.array([p.pos for p in self.defs.positions], dtype=np.int64), n),
            "rsid": pd.Series(np.tile(np.array([p.rsid for p in self.defs.positions], dtype=object), n),
                              dtype=object),
            "allele1": pd.Series(self.a1.T.reshape(n_out), dtype=object),
            "allele2": pd.Series(self.a2.T.reshape(n_out), dtype=object),
            "phased": self.ph.T.reshape(n_out),
            "gt": pd.Series(self.gt.T.reshape(n_out), dtype=str),
            "gt_status": pd.Series(self.status.T.reshape(n_out), dtype=str),
        })

def _merge_calls(c1, c2, cph, n1, n2, nph, ref):
    """Merge two records' calls at one position (split multi-allelic sites).

    Per sample: a missing call takes the other; otherwise the non-reference alleles of both
    are pooled and padded with the reference; more than two non-reference alleles is a
    contradiction and becomes missing.
    """
    o1, o2, oph = c1.copy(), c2.copy(), cph.copy()
    for s in range(len(c1)):
        cur = (c1[s], c2[s])
        new = (n1[s], n2[s])
        if None in new:
            continue
        if None in cur:
            o1[s], o2[s], oph[s] = n1[s], n2[s], nph[s]
            continue
        nonref = [b for b in cur if b != ref] + [b for b in new if b != ref]
        if len(nonref) > 2:
            o1[s] = o2[s] = None
            continue
        if not nonref:
            continue
        if len(nonref) == 1:
            # keep the phase of the record that carries the variant
            src = cur if nonref[0] in cur else new
            o1[s], o2[s] = src
            oph[s] = cph[s] if src is cur else nph[s]
        else:
            o1[s], o2[s] = nonref
            oph[s] = False
    return o1, o2, oph


# --------------------------------------------------------------------------- matching


def _pairs(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Unordered pairs (i <= j) of allele indices, in star-number order."""
    pi, pj = zip(*combinations_with_replacement(range(len(names)), 2))
    return np.array(pi), np.array(pj)


def call_diplotypes(
    genotypes: pd.DataFrame,
    definitions: AlleleDefinitions,
    *,
    gene: str | None = None,
    top_only: bool = True,
    phase_alternatives: bool | None = None,
) -> pd.DataFrame:
    """Call each sample's diplotype by PharmCAT-style matching.

    A candidate diplotype is an unordered pair of named alleles whose bases equal the
    sample's genotype at every non-missing position (unphased positions are compared as
    multisets; phased heterozygous positions must all fit one orientation, i.e. one phase
    set per sample). Missing positions, and half calls such as ``0/.``, are ignored for
    matching, dropped from the scores and reported.

    Parameters
    ----------
    genotypes
        Long table as from :func:`read_vcf_genotypes` (``sample, pos, allele1, allele2``;
        ``phased`` optional). Rows at positions outside the definitions are ignored; a
        definition position without a row is missing.
    definitions
        From :func:`load_definitions`.
    gene
        Value of the output ``gene`` column (default ``definitions.gene``).
    top_only
        Keep only the top-scoring candidates (PharmCAT's default). ``False`` keeps every
        matching diplotype, best score first (PharmCAT with top-candidates-only off).
    phase_alternatives
        With ``top_only``, also keep every matching diplotype that is another pair of
        haplotypes than each top one (another phasing of unphased heterozygous positions,
        such as CYP2B6 ``*4/*9`` beside ``*1/*6``), after PharmCAT's candidates, best score
        first. A pair that is a top pair's haplotypes under less specific names stays
        dropped, as in PharmCAT. ``None`` (default): on for the genes in
        :data:`KEEP_OTHER_PHASINGS` (CYP2B6), off otherwise (CYP2C19 as PharmCAT calls it).
        ``False`` gives PharmCAT's calls exactly.

    Returns
    -------
    pandas.DataFrame
        One row per sample: ``sample, gene, diplotype`` (e.g. ``"*1/*2"``, alleles in
        star-number order), ``haplotype1, haplotype2``, ``status`` (``"called"``: one
        candidate, ``"ambiguous"``: several, ``"no-call"``: none or every position
        missing), ``alternatives`` (";"-joined other candidates, "" if none),
        ``missing_positions`` (";"-joined rsIDs, or positions where there is no rsID),
        ``n_candidates``, ``genotype_flags`` (failed genotype calls) and ``not_callable``
        (the gene's :data:`STRUCTURAL_ALLELES`, which a VCF cannot show; "" if none). An ambiguous row carries its first candidate (in star-number
        order) in ``diplotype``; a no-call row has ``diplotype`` "".

    Raises
    ------
    PgxError
        A required column is absent, or a sample has two rows at one position.

    Examples
    --------
    >>> import pandas as pd
    >>> d = load_definitions()
    >>> g = pd.DataFrame({"sample": "S1", "pos": [p.pos for p in d.positions],
    ...     "allele1": [p.ref for p in d.positions], "allele2": [p.ref for p in d.positions]})
    >>> g.loc[g.pos == 94842866, ["allele1", "allele2"]] = "G"   # rs3758581 G/G
    >>> g.loc[g.pos == 94781859, "allele2"] = "A"                 # rs4244285 het
    >>> g.loc[g.pos == 94775367, "allele2"] = "G"                 # rs12769205 het
    >>> call_diplotypes(g, d)[["diplotype", "status"]].values.tolist()
    [['*1/*2', 'called']]
    """
    needed = {"sample", "pos", "allele1", "allele2"}
    missing_cols = needed - set(genotypes.columns)
    if missing_cols:
        raise PgxError(
            f"genotype table lacks column(s) {', '.join(sorted(missing_cols))}; "
            "expected the columns of read_vcf_genotypes (sample, pos, rsid, allele1, allele2, phased)"
        )
    gene = gene or definitions.gene
    positions = definitions.positions
    n_pos = len(positions)
    pos_index = {p.pos: i for i, p in enumerate(positions)}

    names = sorted(definitions.alleles, key=star_sort_key)
    n_all = len(names)
    pi, pj = _pairs(names)
    pair_names = [f"{names[i]}/{names[j]}" for i, j in zip(pi, pj)]

    # Per position: a vocabulary of observable bases and which alleles accept each.
    vocab: list[dict[str, int]] = []
    accept: list[np.ndarray] = []  # (n_codes + 1, n_alleles); last row = unknown base
    for k, p in enumerate(positions):
        bases: list[str] = []
        for b in [p.ref, *p.alts, *(definitions.alleles[a][k] for a in names)]:
            if b is None:
                continue
            for x in _IUPAC.get(b, b) if len(b) == 1 else (b,):
                if x not in bases:
                    bases.append(x)
        voc = {b: c for c, b in enumerate(bases)}
        acc = np.zeros((len(bases) + 1, n_all), dtype=bool)
        for ai, a in enumerate(names):
            b = definitions.alleles[a][k]
            if b is None:
                continue
            for x in _IUPAC.get(b, b) if len(b) == 1 else (b,):
                acc[voc[x], ai] = True
        vocab.append(voc)
        accept.append(acc)
    defmask = _specified_mask(definitions, names)
    full_score = defmask.sum(axis=0)

    g = genotypes
    pidx = g["pos"].map(pos_index)
    keep = pidx.notna().to_numpy()
    g = g.loc[keep]
    pidx = pidx[keep].astype(np.int64).to_numpy()
    s_codes, sample_names = pd.factorize(g["sample"].astype(str), sort=False)
    n_s = len(sample_names)
    if n_s and len(np.unique(s_codes * n_pos + pidx)) != len(pidx):
        dup = g.loc[pd.Series(s_codes * n_pos + pidx, index=g.index).duplicated(keep=False)]
        first = dup.iloc[0]
        raise PgxError(
            f"genotype table has several rows for sample {first['sample']} at position {first['pos']}; "
            "expected one row per sample per position"
        )

    # Dense codes: -1 missing; len(vocab) = a base no definition has. HK: the known base of a
    # half call (./1), else -1. UNC: a record was there but its call failed (./., ./1, 1, 0/1/1).
    C1 = np.full((n_s, n_pos), -1, dtype=np.int16)
    C2 = np.full((n_s, n_pos), -1, dtype=np.int16)
    HK = np.full((n_s, n_pos), -1, dtype=np.int16)
    UNC = np.zeros((n_s, n_pos), dtype=bool)
    PH = np.zeros((n_s, n_pos), dtype=bool)
    al1 = g["allele1"].to_numpy(dtype=object)
    al2 = g["allele2"].to_numpy(dtype=object)
    phased_col = g["phased"].fillna(False).to_numpy(dtype=bool) if "phased" in g else np.zeros(len(g), bool)
    status_col = (g["gt_status"].fillna("").astype(str).to_numpy() if "gt_status" in g
                  else np.full(len(g), "", dtype=object))
    for k in range(n_pos):
        rows = np.flatnonzero(pidx == k)
        if not len(rows):
            continue
        c1 = _codes(al1[rows], vocab[k])
        c2 = _codes(al2[rows], vocab[k])
        miss = (c1 < 0) | (c2 < 0)  # a half call is missing for the scores; its known base still has to fit
        HK[s_codes[rows], k] = np.where(miss & (c1 >= 0), c1, np.where(miss & (c2 >= 0), c2, -1))
        UNC[s_codes[rows], k] = (miss & ((c1 >= 0) | (c2 >= 0))) | ~np.isin(status_col[rows],
                                                                              ["", "called", "absent"])
        c1[miss] = -1
        c2[miss] = -1
        C1[s_codes[rows], k] = c1
        C2[s_codes[rows], k] = c2
        PH[s_codes[rows], k] = phased_col[rows] & ~miss
    het = C1 != C2
    PH &= het  # phase only constrains heterozygous positions
    # Unphased genotypes are unordered: canonicalise so equal genotypes share a pattern.
    swap = ~PH & (C1 > C2)
    C1[swap], C2[swap] = C2[swap], C1[swap]

    key = np.concatenate([C1, C2, PH.astype(np.int16), HK, UNC.astype(np.int16)], axis=1)
    if n_s:
        patterns, inverse = np.unique(key, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
    else:
        patterns, inverse = key, np.zeros(0, dtype=np.int64)
    U1, U2, UPH = patterns[:, :n_pos], patterns[:, n_pos : 2 * n_pos], patterns[:, 2 * n_pos : 3 * n_pos].astype(bool)
    UHK, UUNC = patterns[:, 3 * n_pos : 4 * n_pos], patterns[:, 4 * n_pos :].astype(bool)
    umiss = U1 < 0
    n_u = len(patterns)

    unph_ok = np.ones((n_u, len(pi)), dtype=bool)
    fwd_ok = np.ones((n_u, len(pi)), dtype=bool)
    rev_ok = np.ones((n_u, len(pi)), dtype=bool)
    for k in range(n_pos):
        acc = accept[k]
        h = UHK[:, k] >= 0
        if h.any():  # half call: one of the two alleles carries the known base
            AH = acc[UHK[h, k]]
            unph_ok[h] &= AH[:, pi] | AH[:, pj]
        m = ~umiss[:, k]
        if not m.any():
            continue
        A1 = acc[U1[m, k]]  # (m, n_alleles): allele accepts the first base
        A2 = acc[U2[m, k]]
        fwd = A1[:, pi] & A2[:, pj]
        rev = A2[:, pi] & A1[:, pj]
        phased = UPH[m, k][:, None]
        unph_ok[m] &= np.where(phased, True, fwd | rev)
        fwd_ok[m] &= np.where(phased, fwd, True)
        rev_ok[m] &= np.where(phased, rev, True)
    match = unph_ok & (fwd_ok | rev_ok)

    # Scores drop the positions the sample is missing; a definition left empty is dropped.
    allele_score = full_score[None, :] - umiss.astype(np.int64) @ defmask
    valid = allele_score > 0
    pair_score = allele_score[:, pi] + allele_score[:, pj]
    cand = match & valid[:, pi] & valid[:, pj] & ~umiss.all(axis=1)[:, None]
    matching = cand
    if top_only:
        best = np.where(cand, pair_score, -1).max(axis=1, initial=-1)
        top = cand & (pair_score == best[:, None])
        cand = top | _undecided(top, cand, UUNC, accept, pi, pj)
    if phase_alternatives is None:
        phase_alternatives = definitions.gene in KEEP_OTHER_PHASINGS
    phasings = (_other_phasings(top, matching, umiss, accept, pi, pj) if top_only and phase_alternatives
                else np.zeros_like(cand))

    rsids = [p.rsid or str(p.pos) for p in positions]
    per_pattern, lone = [], []
    for u in range(n_u):
        idx = np.flatnonzero(cand[u])
        if not top_only and len(idx) > 1:
            idx = idx[np.argsort(-pair_score[u, idx], kind="stable")]
        miss_txt = ";".join(r for r, m in zip(rsids, umiss[u]) if m)
        lone.append("")
        if len(idx) == 1 and UUNC[u].any():
            # A record whose call failed at a defining position is no evidence for the one
            # top diplotype: every matching pair stays a candidate; where the other positions
            # leave only one, it is a no-call (issue 8: never a confident call over a failed
            # genotype), the lone match named in genotype_flags.
            lone[-1] = pair_names[idx[0]]
            idx = np.flatnonzero(matching[u])
            idx = idx[np.argsort(-pair_score[u, idx], kind="stable")] if len(idx) > 1 else idx[:0]
        if len(idx) == 0:
            per_pattern.append(("", "", "", "no-call", "", miss_txt, 0))
            continue
        if phasings[u].any():  # after PharmCAT's candidates: the other phasings, best score first
            more = np.setdiff1d(np.flatnonzero(phasings[u]), idx)
            idx = np.concatenate([idx, more[np.argsort(-pair_score[u, more], kind="stable")]])
        lone[-1] = ""
        first = idx[0]
        per_pattern.append(
            (
                pair_names[first],
                names[pi[first]],
                names[pj[first]],
                "called" if len(idx) == 1 else "ambiguous",
                ";".join(pair_names[x] for x in idx[1:]),
                miss_txt,
                len(idx),
            )
        )
    cols = list(zip(*per_pattern)) if per_pattern else [()] * 7
    out = pd.DataFrame({"sample": pd.Series(np.asarray(sample_names, dtype=object), dtype=str)})
    out["gene"] = gene
    for name, values in zip(
        ["diplotype", "haplotype1", "haplotype2", "status", "alternatives", "missing_positions", "n_candidates"],
        cols,
    ):
        arr = np.asarray(values, dtype=object)[inverse] if n_s else np.array([], dtype=object)
        out[name] = arr.astype(np.int64) if name == "n_candidates" else pd.Series(arr, dtype=str)
    flags = _flags(g, status_col, positions).reindex(out["sample"]).fillna("").to_numpy(dtype=object)
    lone_s = np.asarray(lone, dtype=object)[inverse] if n_s else np.array([], dtype=object)
    out["genotype_flags"] = ["; ".join(t for t in (f, x and f"only {x} matches the other positions, not called "
                                                        "over a failed genotype") if t) for f, x in zip(flags, lone_s)]
    out["genotype_flags"] = out["genotype_flags"].astype(str)
    out["not_callable"] = pd.Series([not_callable_text(definitions.gene)] * len(out), index=out.index, dtype=str)
    return out[DIPLOTYPE_COLUMNS]


def not_callable_text(gene: str) -> str:
    """The gene's structural alleles as one text ("" when every CPIC allele is SNV/indel-defined).

    Examples
    --------
    >>> not_callable_text("CYP2B6")
    '*29 (CYP2B7/CYP2B6 hybrid (partial CYP2B6 deletion)); *30 (CYP2B6/CYP2B7 hybrid): structural, not callable from a VCF, not excluded'
    """
    sv = STRUCTURAL_ALLELES.get(gene, {})
    if not sv:
        return ""
    return "; ".join(f"{a} ({why})" for a, why in sv.items()) + ": structural, not callable from a VCF, not excluded"


NOT_GENOTYPED = "not genotyped (no sample in the VCF)"


def not_genotyped(patients: list[str], gene: str) -> pd.DataFrame:
    """No-call rows (``genotype_flags`` = :data:`NOT_GENOTYPED`) for patients without a VCF sample."""
    n = len(patients)
    out = pd.DataFrame({"patient_id": pd.Series(list(patients), dtype=str), "sample": pd.Series([""] * n, dtype=str)})
    for c in DIPLOTYPE_COLUMNS[1:]:
        out[c] = 0 if c == "n_candidates" else ""
    out["gene"], out["status"], out["genotype_flags"] = gene, "no-call", NOT_GENOTYPED
    out["source_tool"] = "stratify-vcf"
    return out


def _flags(g: pd.DataFrame, status: np.ndarray, positions) -> pd.Series:
    """Per sample, the definition positions whose record was there but whose call failed."""
    bad = ~np.isin(status, ["", "called", "absent"])
    if not bad.any():
        return pd.Series(dtype=str)
    sub = g.loc[bad]
    name = {p.pos: p.rsid or str(p.pos) for p in positions}
    gt = sub["gt"].astype(str) if "gt" in sub else pd.Series("", index=sub.index)
    text = [f"{name[p]} {t!r} ({s})" for p, t, s in zip(sub["pos"], gt, status[bad])]
    return pd.Series(text, index=sub.index).groupby(sub["sample"].astype(str).to_numpy(), sort=False).agg(";".join)


def _undecided(top: np.ndarray, cand: np.ndarray, unc: np.ndarray, accept: list[np.ndarray],
               pi: np.ndarray, pj: np.ndarray) -> np.ndarray:
    """Candidates that a failed call (``unc``: a record there, but ./., ./1, 1 or 0/1/1) could turn into a top one.

    PharmCAT's scores prefer the more specific definition (CYP2C19 ``*1``, specified at every
    position) over one whose defining position is missing (``*17`` without rs12248560), so a
    sample whose rs12248560 call failed would be called ``*1/*1``. A failed call is no
    evidence: alleles that agree at every other position are indistinguishable, so every
    matching pair made of alleles indistinguishable from a top pair's is kept (PharmCAT's own
    test of this case, ``s1s1rs12248560missing``, lists ``*1/*1``, ``*1/*17``, ``*17/*17``).
    """
    out = np.zeros_like(top)
    ids: dict[bytes, int] = {}
    sig = np.array([[ids.setdefault(acc[:, a].tobytes(), len(ids)) for a in range(acc.shape[1])] for acc in accept])
    for u in np.flatnonzero(unc.any(axis=1) & top.any(axis=1)):
        _, cls = np.unique(sig[~unc[u]].T, axis=0, return_inverse=True)
        cls = cls.reshape(-1)
        t = np.flatnonzero(top[u])
        allowed = {(cls[pi[x]], cls[pj[x]]) for x in t} | {(cls[pj[x]], cls[pi[x]]) for x in t}
        for x in np.flatnonzero(cand[u]):
            out[u, x] = (cls[pi[x]], cls[pj[x]]) in allowed
    return out


def _other_phasings(top: np.ndarray, matching: np.ndarray, umiss: np.ndarray, accept: list[np.ndarray],
                    pi: np.ndarray, pj: np.ndarray) -> np.ndarray:
    """Matching pairs that are other haplotype pairs than every top pair (other phasings).

    Two alleles are the same haplotype for a sample when they accept the same bases at every
    position the sample has; a pair of such classes that no top pair has is another way to
    split the unphased genotypes between the two chromosomes (CYP2B6 ``*4/*9`` beside
    ``*1/*6``). A pair with a top pair's classes is the same haplotypes under less specific
    names and stays dropped (PharmCAT's scoring).
    """
    out = np.zeros_like(top)
    ids: dict[bytes, int] = {}
    sig = np.array([[ids.setdefault(acc[:, a].tobytes(), len(ids)) for a in range(acc.shape[1])] for acc in accept])
    for u in np.flatnonzero(top.any(axis=1) & (matching & ~top).any(axis=1)):
        _, cls = np.unique(sig[~umiss[u]].T, axis=0, return_inverse=True)
        cls = cls.reshape(-1)
        t = np.flatnonzero(top[u])
        taken = {(cls[pi[x]], cls[pj[x]]) for x in t} | {(cls[pj[x]], cls[pi[x]]) for x in t}
        for x in np.flatnonzero(matching[u] & ~top[u]):
            out[u, x] = (cls[pi[x]], cls[pj[x]]) not in taken
    return out


def _specified_mask(definitions: AlleleDefinitions, names: list[str]) -> np.ndarray:
    """(n_positions, n_alleles) 0/1: the positions each allele's definition specifies."""
    ref = definitions.alleles[definitions.reference]
    mask = np.zeros((len(definitions.positions), len(names)), dtype=np.int64)
    for ai, a in enumerate(names):
        spec = definitions.specified.get(a)
        if spec is None:
            # Hand-built definitions: a base differing from the reference is specified.
            spec = tuple(a == definitions.reference or b != r for b, r in zip(definitions.alleles[a], ref))
        mask[:, ai] = spec
    return mask


def _codes(values: np.ndarray, voc: dict[str, int]) -> np.ndarray:
    """Vocabulary codes of observed alleles: -1 missing, ``len(voc)`` a base no allele has."""
    series = pd.Series(values, dtype=object)
    missing = series.isna() | series.isin(["", "."])
    codes = series.map(voc).astype(float).fillna(len(voc))
    codes[missing] = -1
    return codes.to_numpy(dtype=np.int16)
