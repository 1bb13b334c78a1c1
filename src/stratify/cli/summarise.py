"""``stratify summarise``: a site bundle of a cohort's results, aggregates only, to share with a
consortium (:func:`stratify.consortium.bundle.summarise`; docs/inputs.md, consortium config)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from stratify.cli.common import whole_number
from stratify.errors import InputError

log = logging.getLogger("stratify")

HELP = "a site bundle of a cohort's results: counts, means, covariances and estimates, no patient rows"


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("summarise", help=HELP, description=HELP + ".")
    p.add_argument("results", help="the cohort's results folder, e.g. results/<cohort> (after the heterogeneity stage)")
    p.add_argument("--out", required=True, help="the bundle to write (one JSON file)")
    p.add_argument(
        "--min-cell",
        type=whole_number(1),
        default=10,
        help="rows counting fewer patients than this are blanked and marked suppressed (default 10)",
    )
    p.add_argument("--cohort", help="the cohort's name in the bundle (default: the results folder's name)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from stratify.consortium.bundle import summarise, write_bundle

    results = Path(args.results)
    if not results.is_dir():
        raise InputError(f"{results}: not a results folder (expected results/<cohort> of a finished run)")
    bundle = summarise(results, min_cell=args.min_cell, cohort=args.cohort)
    out = write_bundle(bundle, args.out)
    log.info("site bundle of %s written to %s (cells under %d patients suppressed)", results, out, args.min_cell)
    print(f"stratify: site bundle written to {out}; it holds aggregates only (docs/inputs.md, consortium config)")
    return 0
