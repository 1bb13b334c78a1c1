"""``stratify run``: every stage in order without Snakemake (quick runs, tests)."""

from __future__ import annotations

import logging

from stratify.cli.common import add_stage_options, load_config, results_folder

log = logging.getLogger("stratify")


def add_parser(sub) -> None:
    """Register the command."""
    run_ = sub.add_parser("run", help="every stage in order without Snakemake (quick runs, tests)")
    add_stage_options(run_)
    run_.set_defaults(func=run)


def run(args) -> None:
    """Run :func:`stratify.pipeline.run_all` on the config."""
    from stratify.pipeline import run_all

    cfg = load_config(args)
    out = run_all(cfg, results_folder(args, cfg))
    log.info("all stages done; report: %s", out)
