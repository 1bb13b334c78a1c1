"""One-call entry points over the PGx building blocks (used by ``stratify pgx call``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stratify.pgx.alleles import call_diplotypes, load_definitions, read_vcf_genotypes
from stratify.pgx.cyp2b6_table import add_phenotypes_with_cyp2b6

CALL_TSV_COLUMNS = ["sample", "gene", "diplotype", "phenotype", "activity_score", "status", "reason", "alternatives",
                    "missing_positions", "genotype_flags", "not_callable", "n_candidates", "haplotype1", "haplotype2"]


def call_vcf(vcf: str | Path, *, gene: str = "CYP2C19", samples: list[str] | None = None,
             top_only: bool = True) -> pd.DataFrame:
    """Read a VCF, call diplotypes and add CPIC phenotypes: one row per sample.

    Columns: :data:`CALL_TSV_COLUMNS`. ``status`` is called / ambiguous / no-call;
    ``alternatives`` lists the other best-scoring diplotypes of an ambiguous call (for
    CYP2B6 also the other phasings, e.g. ``*4/*9`` beside ``*1/*6``); ``missing_positions``
    the definition positions without a genotype (by rsID); ``not_callable`` the structural
    alleles a VCF cannot show (CYP2B6 ``*29``, ``*30``; CYP2C19 ``*36``, ``*37``).

    Raises
    ------
    GenotypeError
        Missing or unreadable VCF, a GRCh37/hg19 header, a requested sample that is not in
        the VCF, or a reference base that disagrees with the allele definitions.

    Examples
    --------
    >>> from stratify.paths import resource_dir
    >>> vcf = resource_dir().parent / "tests" / "data" / "pgx" / "cyp2c19_edgecases.nochr.vcf"
    >>> row = call_vcf(vcf).loc[2]   # sample C: rs12248560 ./. and a half call 0/. at rs58973490
    >>> row[["sample", "diplotype", "status"]].tolist()
    ['C', '', 'no-call']
    >>> row["genotype_flags"].split(";")[0]
    "rs12248560 './.' (missing)"
    """
    defs = load_definitions(gene)
    geno = read_vcf_genotypes(vcf, defs, samples=samples)
    calls = add_phenotypes_with_cyp2b6(call_diplotypes(geno, defs, gene=gene, top_only=top_only))
    return calls[[c for c in CALL_TSV_COLUMNS if c in calls.columns]]
