"""Star-allele calling from a VCF with PharmCAT's allele definitions.

Three steps, each a pure function, one module each:

1. :func:`load_definitions` (:mod:`.definitions`) reads a PharmCAT ``<GENE>_translation.json``
   (shipped in ``resources/pgx``; see ``resources/SOURCES.md``).
2. :func:`read_vcf_genotypes` (:mod:`.vcf`) reads the genotypes at the definition positions
   into a long table, keeping a missing position missing (it is never assumed to be reference).
3. :func:`call_diplotypes` (:mod:`.match`) matches each sample's genotypes against every pair
   of named alleles, the way PharmCAT's NamedAlleleMatcher does (how it follows PharmCAT, and
   the one departure for CYP2B6, are in :mod:`.match`).

Failed genotype calls and patients without a VCF sample are no-calls (:mod:`.nocall`).

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

from stratify.pgx.alleles.definitions import (
    DIPLOTYPE_COLUMNS,
    GENOTYPE_COLUMNS,
    KEEP_OTHER_PHASINGS,
    STRUCTURAL_ALLELES,
    VCF_CALLABLE_GENES,
    AlleleDefinitions,
    Position,
    load_definitions,
    not_callable_text,
    star_sort_key,
)
from stratify.pgx.alleles.match import call_diplotypes
from stratify.pgx.alleles.nocall import NOT_GENOTYPED, not_genotyped
from stratify.pgx.alleles.vcf import read_vcf_genotypes

__all__ = [
    "DIPLOTYPE_COLUMNS",
    "GENOTYPE_COLUMNS",
    "KEEP_OTHER_PHASINGS",
    "NOT_GENOTYPED",
    "STRUCTURAL_ALLELES",
    "VCF_CALLABLE_GENES",
    "AlleleDefinitions",
    "Position",
    "call_diplotypes",
    "load_definitions",
    "not_callable_text",
    "not_genotyped",
    "read_vcf_genotypes",
    "star_sort_key",
]
