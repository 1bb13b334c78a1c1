"""Genotypes at the pharmacogene positions, read for the PGx caller by the genotypes stage.

The allele-definition positions of every gene called from a VCF (CYP2C19 and CYP2B6,
``stratify.pgx.alleles.VCF_CALLABLE_GENES``), read with ``stratify.pgx.alleles.read_vcf_genotypes``
(only each gene's region) into a long table keyed by patient (:data:`PGX_COLUMNS`). A gene whose
contig the VCF header does not list is not read, and the summary says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

PGX_COLUMNS = ["patient_id", "gene", "sample", "pos", "rsid", "allele1", "allele2", "phased", "gt", "gt_status"]


def pgx_regions() -> list[tuple[Any, str, int, int]]:
    """(definitions, contig without "chr", first, last position) of every gene called from a VCF."""
    from stratify.pgx.alleles import VCF_CALLABLE_GENES, load_definitions

    out = []
    for gene in VCF_CALLABLE_GENES:
        defs = load_definitions(gene)
        pos = [p.pos for p in defs.positions]
        out.append((defs, defs.chrom.removeprefix("chr"), min(pos), max(pos)))
    return out


def in_pgx_region(chrom: str, pos: int, regions: list[tuple[Any, str, int, int]]) -> bool:
    """Whether ``chrom:pos`` (with or without "chr") lies in one of ``regions`` (:func:`pgx_regions`)."""
    c = chrom.removeprefix("chr")
    return any(c == rc and lo <= pos <= hi for _, rc, lo, hi in regions)


def empty_pgx() -> pd.DataFrame:
    """A table of :data:`PGX_COLUMNS` with no rows."""
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in PGX_COLUMNS})


def genes_not_in_header(vcf) -> dict[str, str]:
    """Genes whose contig a header that lists contigs lacks (a pgen's or BGEN's variants: the
    contigs they are on): gene -> why it is not read. ``vcf``: a VCF path or a GenotypeInput."""
    from stratify.genotypes.records import GenotypeInput, input_contigs

    inp = GenotypeInput.of(vcf)
    if inp.format == "vcf":
        from stratify.genotypes.vcfio import check_vcf, read_header
        from stratify.pgx.alleles.vcf import _header_contigs

        contigs = _header_contigs(read_header(check_vcf(inp.path, need_index=False, allow_text=True)).meta)
        where, source = "the VCF header lists", "the VCF"
    else:
        contigs = input_contigs(inp)
        where, source = f"the {inp.format} file has variants on", f"the {inp.format} file"
    if not contigs:
        return {}
    return {
        d.gene: (
            f"{where} no contig {d.chrom} or {c}: {d.gene} is not called from {source} "
            "(give its calls from another tool, inputs.star_alleles)"
        )
        for d, c, _, _ in pgx_regions()
        if d.chrom not in contigs and c not in contigs
    }


def read_pgx(vcf, defs, mapping: dict[str, str]) -> pd.DataFrame:
    """One gene's genotypes for the mapped samples, keyed by patient (PGX_COLUMNS); ``vcf``: a VCF
    path or a GenotypeInput (a pgen or BGEN is read by stratify.genotypes.records.read_input_pgx)."""
    from stratify.genotypes.records import GenotypeInput, read_input_pgx
    from stratify.pgx.alleles import read_vcf_genotypes

    inp = GenotypeInput.of(vcf)
    if inp.format == "vcf":
        pgx = read_vcf_genotypes(inp.path, defs, samples=list(mapping))
    else:
        pgx = read_input_pgx(inp, defs, list(mapping))
    pgx.insert(0, "patient_id", pgx["sample"].map(mapping))
    pgx.insert(1, "gene", pd.Series([defs.gene] * len(pgx), index=pgx.index, dtype=str))
    return pgx[PGX_COLUMNS]


def pgx_summary(vcf: str | Path, genome_build: str) -> dict[str, Any]:
    """The summary's notes on PGx genes not read from the VCF (wrong build, contig not in the header)."""
    regions = pgx_regions()
    out: dict[str, Any] = {}
    builds = {d.build for d, *_ in regions}
    if genome_build not in builds:
        genes = " and ".join(d.gene for d, *_ in regions)
        out["pgx_skipped"] = (
            f"genome_build is {genome_build}; {genes} calling from VCF needs "
            f"{'/'.join(sorted(builds))} (lift over, or give star-allele calls from another tool)"
        )
    elif skip := genes_not_in_header(vcf):
        out["pgx_genes_not_in_vcf"] = skip
        for _gene, why in skip.items():
            log.warning("%s: %s", getattr(vcf, "label", vcf), why)
    return out


def merge_pgx(vcf: str | Path, parts: list[pd.DataFrame], mapping: dict[str, str], genome_build: str) -> pd.DataFrame:
    """The shards' PGx genotypes, each gene once; a gene no shard read has every position missing."""
    have = {g for p in parts for g in p["gene"].unique()}
    skip = genes_not_in_header(vcf)
    parts = list(parts)
    for defs, *_ in pgx_regions():
        if genome_build == defs.build and defs.gene not in have and defs.gene not in skip:
            # no shard holds the gene's region: every position missing, as read_vcf_genotypes says
            parts.append(read_pgx(vcf, defs, mapping))
    if not parts:
        return empty_pgx()
    return pd.concat(parts, ignore_index=True)[PGX_COLUMNS]
