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
from stratify.paths import resource_dir

__all__ = [
    "AlleleDefinitions",
    "Position",
    "call_diplotypes",
    "load_definitions",
    "read_vcf_genotypes",
    "star_sort_key",
]

GENOTYPE_COLUMNS = ["sample", "pos", "rsid", "allele1", "allele2", "phased"]
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
]

# IUPAC nucleotide codes used in PharmCAT definitions (e.g. *4 is "Y" at rs12248560).
_IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}  # fmt: skip

# chr10 lengths that identify the assembly in a VCF header.
_CHR10_LENGTH = {135534747: "GRCh37", 133797422: "GRCh38"}
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
    """The assembly a VCF header states for chr10, or None when it does not say."""
    contig_build = None
    reference_build = None
    for line in raw_header.splitlines():
        low = line.lower()
        if line.startswith("##contig=<"):
            m = re.search(r"[<,]ID=([^,>]+)", line)
            if not m or m.group(1) not in contigs:
                continue
            length = re.search(r"length=(\d+)", line)
            if length and int(length.group(1)) in _CHR10_LENGTH:
                return _CHR10_LENGTH[int(length.group(1))]
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
        VCF or bgzipped VCF on GRCh38; contig ``chr10`` or ``10``. With a ``.tbi`` or
        ``.csi`` index only the gene's region is read, otherwise the file is scanned.
    definitions
        From :func:`load_definitions`.
    samples
        Read only these samples, in this order (default: all, in file order).

    Returns
    -------
    pandas.DataFrame
        One row per sample per definition position: ``sample`` (str), ``pos`` (int),
        ``rsid``, ``allele1``, ``allele2`` (the bases as strings, ``None`` when missing)
        and ``phased`` (bool). A position absent from the VCF is missing for every
        sample, never reference. Several records at one position (a split multi-allelic
        site) are merged per sample; if they disagree the call is missing.

    Raises
    ------
    GenotypeError
        The file is missing, is on GRCh37, has no samples, lacks a requested sample,
        or has a REF that differs from the definition's.

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
    >>> g.loc[g.rsid == "rs4244285", ["allele1", "allele2"]].values.tolist()
    [['G', 'A']]
    >>> g.allele1.isna().sum()  # the 34 positions absent from the file are missing
    np.int64(34)
    """
    from cyvcf2 import VCF

    vcf_path = Path(vcf_path)
    if not vcf_path.is_file():
        raise GenotypeError(f"{vcf_path}: VCF not found")
    try:
        vcf = VCF(str(vcf_path), gts012=True, lazy=True)
    except OSError as exc:
        raise GenotypeError(f"{vcf_path}: cannot open as VCF ({exc})") from None
    try:
        return _read_genotypes(vcf, vcf_path, definitions, samples)
    finally:
        vcf.close()


def _read_genotypes(vcf, vcf_path: Path, defs: AlleleDefinitions, samples) -> pd.DataFrame:
    chrom_names = (defs.chrom, defs.chrom.removeprefix("chr"))
    raw_header = vcf.raw_header
    build = _header_build(raw_header, chrom_names)
    if build == "GRCh37":
        raise GenotypeError(
            f"{vcf_path}: the header says GRCh37/hg19, which is not supported; the allele "
            f"definitions are on {defs.build}. Lift the VCF over to GRCh38 first (e.g. with "
            "bcftools +liftover or CrossMap) and re-call variants at the PGx positions if you can."
        )
    file_samples = list(vcf.samples)
    if not file_samples:
        raise GenotypeError(f"{vcf_path}: the VCF has no samples (sites-only); expected genotype columns")
    if samples is None:
        samples = file_samples
    else:
        samples = [str(s) for s in samples]
        absent = [s for s in samples if s not in set(file_samples)]
        if absent:
            raise GenotypeError(
                f"{vcf_path}: sample(s) not in the VCF: {', '.join(absent[:10])}"
                + (f" and {len(absent) - 10} more" if len(absent) > 10 else "")
            )
        vcf.set_samples(samples)
        # cyvcf2 keeps the file's column order; record it to reorder afterwards.
    kept = list(vcf.samples)

    n = len(kept)
    n_pos = len(defs.positions)
    pos_index = {p.pos: i for i, p in enumerate(defs.positions)}
    a1 = np.full((n_pos, n), None, dtype=object)
    a2 = np.full((n_pos, n), None, dtype=object)
    ph = np.zeros((n_pos, n), dtype=bool)
    seen = np.zeros(n_pos, dtype=bool)

    contigs = _header_contigs(raw_header)
    present = [c for c in chrom_names if c in contigs]
    if contigs and not present:
        raise GenotypeError(
            f"{vcf_path}: no contig {defs.chrom} or {chrom_names[1]} in the header "
            f"(contigs: {', '.join(contigs[:8])}{'...' if len(contigs) > 8 else ''}); "
            f"expected a VCF covering {defs.gene}"
        )
    has_index = any(Path(str(vcf_path) + ext).is_file() for ext in (".tbi", ".csi"))
    start = min(pos_index)
    end = max(pos_index)
    if has_index:
        names = present or [c for c in chrom_names if c in set(vcf.seqnames)]
        records = (r for c in names for r in vcf(f"{c}:{start}-{end}"))
    else:
        records = (r for r in vcf if r.CHROM in chrom_names)

    for rec in records:
        i = pos_index.get(rec.POS)
        if i is None:
            continue
        p = defs.positions[i]
        ref = rec.REF
        snv = len(p.ref) == 1 and all(len(x) == 1 for x in p.alts)
        if (ref[0] if snv else ref) != p.ref:
            raise GenotypeError(
                f"{vcf_path}, {rec.CHROM}:{rec.POS} ({p.rsid or 'no rsID'}): REF is {ref}, "
                f"but the {defs.gene} definition's reference base is {p.ref}; "
                f"is the VCF on {defs.build} and normalised?"
            )
        alleles = [ref, *rec.ALT]
        if snv:
            # At a single-base position the base is the first of each allele: an indel record
            # starting here keeps its padding base.
            alleles = [x[0] if x and x not in (".", "*") and not x.startswith("<") else None for x in alleles]
        else:
            alleles = [x if x not in (".", "*") and not x.startswith("<") else None for x in alleles]
        lookup = np.array(alleles + [None], dtype=object)  # index -1 -> None (missing)
        gt = np.array(rec.genotype.array(), dtype=np.int16, copy=True)
        g1 = gt[:, 0]
        g2 = gt[:, 1] if gt.shape[1] > 2 else np.full(n, -1, dtype=np.int16)
        phased = gt[:, -1].astype(bool)
        b1 = lookup[np.where(g1 < 0, -1, g1)]
        b2 = lookup[np.where(g2 < 0, -1, g2)]
        if not seen[i]:
            a1[i], a2[i], ph[i] = b1, b2, phased
            seen[i] = True
        else:
            a1[i], a2[i], ph[i] = _merge_calls(a1[i], a2[i], ph[i], b1, b2, phased, p.ref)

    if kept != samples:
        column = {s: k for k, s in enumerate(kept)}
        order = [column[s] for s in samples]
        a1, a2, ph = a1[:, order], a2[:, order], ph[:, order]

    # Row order: sample-major, positions in definition order.
    n_out = n * n_pos
    out = pd.DataFrame(
        {
            "sample": pd.Series(np.repeat(np.array(samples, dtype=object), n_pos), dtype=str),
            "pos": np.tile(np.array([p.pos for p in defs.positions], dtype=np.int64), n),
            "rsid": pd.Series(np.tile(np.array([p.rsid for p in defs.positions], dtype=object), n), dtype=object),
            "allele1": pd.Series(a1.T.reshape(n_out), dtype=object),
            "allele2": pd.Series(a2.T.reshape(n_out), dtype=object),
            "phased": ph.T.reshape(n_out),
        }
    )
    return out


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

    Returns
    -------
    pandas.DataFrame
        One row per sample: ``sample, gene, diplotype`` (e.g. ``"*1/*2"``, alleles in
        star-number order), ``haplotype1, haplotype2``, ``status`` (``"called"``: one
        candidate, ``"ambiguous"``: several, ``"no-call"``: none or every position
        missing), ``alternatives`` (";"-joined other candidates, "" if none),
        ``missing_positions`` (";"-joined rsIDs, or positions where there is no rsID) and
        ``n_candidates``. An ambiguous row carries its first candidate (in star-number
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

    # Dense codes: -1 missing; len(vocab) = a base no definition has.
    C1 = np.full((n_s, n_pos), -1, dtype=np.int16)
    C2 = np.full((n_s, n_pos), -1, dtype=np.int16)
    PH = np.zeros((n_s, n_pos), dtype=bool)
    al1 = g["allele1"].to_numpy(dtype=object)
    al2 = g["allele2"].to_numpy(dtype=object)
    phased_col = g["phased"].fillna(False).to_numpy(dtype=bool) if "phased" in g else np.zeros(len(g), bool)
    for k in range(n_pos):
        rows = np.flatnonzero(pidx == k)
        if not len(rows):
            continue
        c1 = _codes(al1[rows], vocab[k])
        c2 = _codes(al2[rows], vocab[k])
        miss = (c1 < 0) | (c2 < 0)  # a half call is treated as missing
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

    key = np.concatenate([C1, C2, PH.astype(np.int16)], axis=1)
    if n_s:
        patterns, inverse = np.unique(key, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
    else:
        patterns, inverse = key, np.zeros(0, dtype=np.int64)
    U1, U2, UPH = patterns[:, :n_pos], patterns[:, n_pos : 2 * n_pos], patterns[:, 2 * n_pos :].astype(bool)
    umiss = U1 < 0
    n_u = len(patterns)

    unph_ok = np.ones((n_u, len(pi)), dtype=bool)
    fwd_ok = np.ones((n_u, len(pi)), dtype=bool)
    rev_ok = np.ones((n_u, len(pi)), dtype=bool)
    for k in range(n_pos):
        acc = accept[k]
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
    if top_only:
        best = np.where(cand, pair_score, -1).max(axis=1, initial=-1)
        cand &= pair_score == best[:, None]

    rsids = [p.rsid or str(p.pos) for p in positions]
    per_pattern = []
    for u in range(n_u):
        idx = np.flatnonzero(cand[u])
        if not top_only and len(idx) > 1:
            idx = idx[np.argsort(-pair_score[u, idx], kind="stable")]
        miss_txt = ";".join(r for r, m in zip(rsids, umiss[u]) if m)
        if len(idx) == 0:
            per_pattern.append(("", "", "", "no-call", "", miss_txt, 0))
            continue
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
    return out[DIPLOTYPE_COLUMNS]


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
