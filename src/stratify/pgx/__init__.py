"""Pharmacogenomics: star-allele calls, CPIC phenotypes and caller outputs.

* :func:`load_definitions`, :func:`read_vcf_genotypes`, :func:`call_diplotypes`: call
  SNV-defined genes (CYP2C19) from a GRCh38 VCF the way PharmCAT does.
* :func:`read_calls`: read calls made by a dedicated caller (Cyrius for CYP2D6, PharmCAT
  outside calls, a plain TSV).
* :func:`add_phenotypes`, :func:`cyp2c19_phenotype`, :func:`cyp2d6_activity`: CPIC
  phenotypes and CYP2D6 activity scores.
* :func:`stratify.pgx.choose.best_call_per_gene`: one call per patient and gene when several
  tools called it (used by the drug guidance and the features).

Examples
--------
>>> from stratify.pgx import cyp2c19_phenotype, cyp2d6_activity
>>> cyp2c19_phenotype("*1/*17")
'Rapid Metabolizer'
>>> cyp2d6_activity("*1/*1x2")
(3.0, 'Ultrarapid Metabolizer', False)
"""

from stratify.pgx.alleles import (
    AlleleDefinitions,
    Position,
    call_diplotypes,
    load_definitions,
    read_vcf_genotypes,
    star_sort_key,
)
from stratify.pgx.callers import CALL_COLUMNS, SUPPORTED_TOOLS, read_calls
from stratify.pgx.phenotype import add_phenotypes, cyp2c19_phenotype, cyp2d6_activity

__all__ = [
    "CALL_COLUMNS",
    "SUPPORTED_TOOLS",
    "AlleleDefinitions",
    "Position",
    "add_phenotypes",
    "call_diplotypes",
    "cyp2c19_phenotype",
    "cyp2d6_activity",
    "load_definitions",
    "read_calls",
    "read_vcf_genotypes",
    "star_sort_key",
]
