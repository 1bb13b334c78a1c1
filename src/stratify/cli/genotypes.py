"""``stratify genotypes``: the sharded genotype stage, whole or one step (Snakemake's jobs)."""

from __future__ import annotations

from stratify.cli.common import add_stage_options, run_stage

HELP = "read the genotypes (VCF, PLINK 2 pgen or BGEN) in shards: PGx-position genotypes, genotype principal components, polygenic scores"


def add_parser(sub) -> None:
    """Register the command and its --step, --job and --processes."""
    sp = sub.add_parser("genotypes", help=HELP)
    add_stage_options(sp)
    sp.add_argument(
        "--step",
        choices=["plan", "pca", "shard", "merge"],
        help="run one step of the sharded stage (what Snakemake's genotypes_* jobs do); default: every step here",
    )
    sp.add_argument("--job", help="with --step shard: the shard to read (rNNNN_cNNNN, from plan.json)")
    sp.add_argument(
        "--processes", type=int, default=1, help="without --step: read the shards in this many processes (default 1)"
    )
    sp.set_defaults(func=run)


def run(args) -> None:
    """Run the stage or the step."""
    from stratify.genotypes.stage import run_genotypes

    run_stage(args, "genotypes", run_genotypes, step=args.step, job=args.job, processes=args.processes)
