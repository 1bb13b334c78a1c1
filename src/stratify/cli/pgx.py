"""``stratify pgx``: the pipeline stage (``run``), and calling or phenotyping outside the pipeline."""

from __future__ import annotations

import logging
import sys

from stratify.cli.common import add_stage_command

log = logging.getLogger("stratify")


def add_parser(sub) -> None:
    """Register ``pgx run``, ``pgx call`` and ``pgx phenotype``."""
    pgx = sub.add_parser("pgx", help="pharmacogenomics").add_subparsers(dest="pgx_command", required=True)
    add_stage_command(
        pgx,
        "run",
        "pipeline stage: CYP2C19 and CYP2B6 from the VCF, other tools' calls, CPIC phenotypes",
        "stratify.pgx.stage:run_pgx",
        stage="pgx",
    )
    _add_call(pgx)
    _add_phenotype(pgx)


def _add_call(pgx) -> None:
    call = pgx.add_parser(
        "call",
        help="call star-allele diplotypes and CPIC phenotypes from a VCF (no config needed)",
        description="Call diplotypes from a bgzipped or plain GRCh38 VCF against the CPIC/PharmVar allele "
        "definitions shipped in resources/pgx (PharmCAT's matching rules: missing positions are "
        "reported, never read as reference; every best-scoring candidate is kept; for CYP2B6 the other "
        "phasings of unphased genotypes too, such as *4/*9 beside *1/*6). A VCF whose "
        "header says GRCh37/hg19 is refused: lift it over to GRCh38 first.",
    )
    call.add_argument(
        "--gene",
        required=True,
        choices=["CYP2C19", "CYP2B6"],
        help="gene to call (CYP2D6 needs copy-number data: use a dedicated caller and read its "
        "output with the pipeline)",
    )
    call.add_argument("--vcf", required=True, help="VCF (.vcf, .vcf.gz; an index speeds up region reading)")
    call.add_argument("--out", required=True, help="output TSV, or - for standard output")
    call.add_argument(
        "--sample",
        action="append",
        dest="samples",
        metavar="NAME",
        help="call only this sample (repeatable); a name not in the VCF is an error",
    )
    call.add_argument(
        "--all-matches",
        action="store_true",
        help="keep every matching diplotype, not only the best-scoring ones: a sample with "
        "several matches is then 'ambiguous' (phenotype Indeterminate unless all agree)",
    )
    call.add_argument("--log")
    call.set_defaults(func=run_call)


def _add_phenotype(pgx) -> None:
    phe = pgx.add_parser(
        "phenotype",
        help="CPIC phenotypes and CYP2D6 activity scores of diplotypes called elsewhere",
        description="Phenotype diplotype calls made by any caller (like PharmCAT's phenotyper over outside "
        "calls), with CPIC's tables shipped in resources/pgx: CYP2B6, CYP2C19, CYP2D6. Writes sample, "
        "gene, diplotype, phenotype, activity_score, activity_lower_bound, status, reason, "
        "alternatives, candidate_phenotypes. See docs/pgx.md.",
    )
    phe.add_argument(
        "--calls",
        required=True,
        help="calls file, or - for standard input; default format: TSV with columns sample, gene, "
        "diplotype (optional status, alternatives, note)",
    )
    phe.add_argument("--out", required=True, help="output TSV, or - for standard output")
    phe.add_argument(
        "--tool",
        default="plain",
        help="format of --calls: plain (default), cyrius, pharmcat_outside, pharmcat_report, "
        "pharmcat_phenotype, pypgx, aldy, stellarpgx",
    )
    phe.add_argument("--sample", help="sample name for single-sample formats (pharmcat_outside, ...)")
    phe.add_argument("--log")
    phe.set_defaults(func=run_phenotype)


def run_call(args) -> None:
    """``pgx call``: diplotypes of one gene from a VCF, as a TSV."""
    from stratify.errors import PgxError
    from stratify.pgx.api import call_vcf

    calls = call_vcf(args.vcf, gene=args.gene, samples=args.samples, top_only=not args.all_matches)
    out = sys.stdout if args.out == "-" else args.out
    try:
        calls.to_csv(out, sep="\t", index=False)
    except OSError as e:  # a missing folder, a directory, no permission: the user's --out
        raise PgxError(
            f"{args.out}: cannot write the calls TSV ({e.strerror or e}); give --out a file "
            "path in an existing, writable folder, or - for standard output"
        ) from None
    counts = calls["status"].value_counts().to_dict()
    log.info(
        "%d samples called (%s)%s",
        len(calls),
        ", ".join(f"{k}: {v}" for k, v in counts.items()),
        "" if args.out == "-" else f"; written to {args.out}",
    )


def run_phenotype(args) -> None:
    """``pgx phenotype``: CPIC phenotypes of calls made elsewhere."""
    from stratify.pgx.api import phenotype_from_cli, write_tsv_out

    table = phenotype_from_cli(args.calls, tool=args.tool, sample=args.sample)
    write_tsv_out(table, args.out, "phenotype TSV")
    counts = table["phenotype"].replace("", "no phenotype").value_counts().to_dict()
    log.info(
        "%d calls phenotyped (%s)%s",
        len(table),
        ", ".join(f"{k}: {v}" for k, v in counts.items()),
        "" if args.out == "-" else f"; written to {args.out}",
    )
