"""PharmCAT allele definitions: what each named allele is, read from ``<GENE>_translation.json``.

:func:`load_definitions` reads a PharmCAT translation file (shipped in ``resources/pgx``; see
``resources/SOURCES.md``) into :class:`AlleleDefinitions`. The gene-level constants live here
too: the genes called from a VCF (:data:`VCF_CALLABLE_GENES`), those whose other phasings are
kept (:data:`KEEP_OTHER_PHASINGS`), the structural alleles a VCF cannot show
(:data:`STRUCTURAL_ALLELES`), and the columns of the genotype and diplotype tables.

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
from pathlib import Path

from stratify.errors import PgxError, where
from stratify.io.paths import resource_dir

__all__ = [
    "DIPLOTYPE_COLUMNS",
    "GENOTYPE_COLUMNS",
    "KEEP_OTHER_PHASINGS",
    "STRUCTURAL_ALLELES",
    "VCF_CALLABLE_GENES",
    "AlleleDefinitions",
    "Position",
    "load_definitions",
    "not_callable_text",
    "star_sort_key",
]

#: Columns of :func:`~stratify.pgx.alleles.vcf.read_vcf_genotypes`' table.
GENOTYPE_COLUMNS = ["sample", "pos", "rsid", "allele1", "allele2", "phased", "gt", "gt_status"]
#: Columns of :func:`~stratify.pgx.alleles.match.call_diplotypes`' table.
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
#: ``phase_alternatives`` of :func:`~stratify.pgx.alleles.match.call_diplotypes`). CYP2B6: ``*6`` (516G>T + 785A>G) vs
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
            raise PgxError(f'{path}: expected exactly one named allele with "reference": true, found {len(refs)}')
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
