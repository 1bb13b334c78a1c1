"""One-call entry points over the PGx building blocks (used by ``stratify pgx call``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stratify.pgx.alleles import call_diplotypes, load_definitions, read_vcf_genotypes
from stratify.pgx.phenotype import add_phenotypes

CALL_TSV_COLUMNS = [
    "sample",
    "gene",
    "diplotype",
    "phenotype",
    "activity_score",
    "status",
    "reason",
    "alternatives",
    "candidate_phenotypes",
    "missing_positions",
    "genotype_flags",
    "not_callable",
    "n_candidates",
    "haplotype1",
    "haplotype2",
]


def call_vcf(
    vcf: str | Path, *, gene: str = "CYP2C19", samples: list[str] | None = None, top_only: bool = True
) -> pd.DataFrame:
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
    >>> from stratify.io.paths import resource_dir
    >>> vcf = resource_dir().parent / "tests" / "data" / "pgx" / "cyp2c19_edgecases.nochr.vcf"
    >>> row = call_vcf(vcf).loc[2]   # sample C: rs12248560 ./. and a half call 0/. at rs58973490
    >>> row[["sample", "diplotype", "status"]].tolist()
    ['C', '', 'no-call']
    >>> row["genotype_flags"].split(";")[0]
    "rs12248560 './.' (missing)"
    """
    defs = load_definitions(gene)
    geno = read_vcf_genotypes(vcf, defs, samples=samples)
    calls = add_phenotypes(call_diplotypes(geno, defs, gene=gene, top_only=top_only))
    return calls[[c for c in CALL_TSV_COLUMNS if c in calls.columns]]


PHENOTYPE_TSV_COLUMNS = [
    "sample",
    "gene",
    "diplotype",
    "phenotype",
    "activity_score",
    "activity_lower_bound",
    "status",
    "reason",
    "alternatives",
    "candidate_phenotypes",
]


def phenotype_calls(path: str | Path, *, tool: str = "plain", sample: str | None = None) -> pd.DataFrame:
    """CPIC phenotypes of diplotype calls made elsewhere (PharmCAT's phenotyper over outside calls).

    Parameters
    ----------
    path
        A call file; by default the plain TSV (``sample, gene, diplotype``; optional ``status``,
        ``alternatives``, ``note``: see :mod:`stratify.pgx.callers`).
    tool
        The file's format, one of :data:`stratify.pgx.SUPPORTED_TOOLS` (default ``plain``).
    sample
        Sample name for single-sample formats.

    Returns
    -------
    pandas.DataFrame
        One row per call, in file order, columns :data:`PHENOTYPE_TSV_COLUMNS`.
        ``activity_score`` is the CYP2D6 activity score (empty for CYP2C19/CYP2B6 and where there
        is none); ``activity_lower_bound`` is True where an unknown copy number (``xN``, ``x≥3``)
        makes it the least possible score. A call for a gene without CPIC phenotype rules here
        (e.g. HLA-B) is kept with phenotype "" and the reason.

    Raises
    ------
    PgxError
        Missing or malformed call file (named by file, line and column), a malformed diplotype.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "calls.tsv")
    >>> with open(p, "w") as fh:
    ...     _ = fh.write("sample\\tgene\\tdiplotype\\nP1\\tCYP2D6\\t*1x2/*41\\nP2\\tCYP2D6\\t*1xN/*4\\n")
    >>> phenotype_calls(p)[["diplotype", "phenotype", "activity_score", "activity_lower_bound"]].values.tolist()
    [['*1x2/*41', 'Normal Metabolizer', 2.25, False], ['*1xN/*4', 'Indeterminate', 2.0, True]]
    """
    from stratify.pgx.callers import read_calls
    from stratify.pgx.phenotype import GENES

    calls = read_calls(path, tool, sample=sample)
    known = calls["gene"].isin(GENES)
    done = add_phenotypes(calls[known], source=str(path))
    rest = calls[~known].copy()
    rest["activity_score"] = float("nan")
    rest["activity_lower_bound"] = False
    rest["phenotype"] = ""
    rest["candidate_phenotypes"] = ""
    rest["reason"] = [f"no CPIC phenotype rules for {g} here (supported: {', '.join(GENES)})" for g in rest["gene"]]
    out = pd.concat([done, rest]).sort_index() if len(rest) else done
    return out[PHENOTYPE_TSV_COLUMNS].reset_index(drop=True)


def write_tsv_out(table: pd.DataFrame, out, what: str) -> None:
    """Write ``table`` to the path ``out`` or to standard output (``"-"``).

    Raises
    ------
    PgxError
        ``out`` cannot be written (missing folder, a directory, no permission).
    """
    import sys

    from stratify.errors import PgxError

    try:
        table.to_csv(sys.stdout if out == "-" else out, sep="\t", index=False)
    except OSError as e:
        raise PgxError(
            f"{out}: cannot write the {what} ({e.strerror or e}); give --out a file path in an "
            "existing, writable folder, or - for standard output"
        ) from None


def phenotype_from_cli(calls: str, *, tool: str = "plain", sample: str | None = None) -> pd.DataFrame:
    """:func:`phenotype_calls` on a path, or on standard input for ``"-"`` (named so in errors)."""
    import sys
    import tempfile

    from stratify.errors import PgxError

    if calls != "-":
        return phenotype_calls(calls, tool=tool, sample=sample)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stdin.tsv"
        path.write_bytes(sys.stdin.buffer.read())
        try:
            return phenotype_calls(path, tool=tool, sample=sample or "stdin")
        except PgxError as e:
            raise PgxError(str(e).replace(str(path), "<standard input>")) from None
