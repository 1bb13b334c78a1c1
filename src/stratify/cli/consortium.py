"""``stratify consortium``: the consortium stage over every cohort's results folder, then its
report (:func:`stratify.consortium.stage.run_consortium`, :func:`~stratify.consortium.stage.write_report`;
docs/inputs.md, consortium config)."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from stratify.cli.common import whole_number

log = logging.getLogger("stratify")

HELP = "compare and pool the cohorts of a consortium: transport, subtype replication, pooled estimates"


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("consortium", help=HELP, description=HELP + ".")
    p.add_argument("--config", required=True, help="the consortium config (YAML with a 'consortium' key)")
    p.add_argument(
        "--results",
        default="results",
        help="the folder holding every cohort's results, <results>/<cohort>/ (default: results)",
    )
    p.add_argument("--out", help="the consortium's folder (default: <results>/consortium/<name>)")
    p.add_argument(
        "--n-boot",
        type=whole_number(10),
        default=1000,
        help="bootstrap replicates of the transport and leave-one-cohort-out intervals (default 1000)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of those bootstraps (default 0)")
    p.add_argument("--log", help="also write the log to this file")
    p.add_argument("--quiet", action="store_true", help="only warnings and errors on the terminal")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from stratify.cli.common import peak_rss_mib
    from stratify.consortium.config import load_consortium
    from stratify.consortium.stage import run_consortium, write_report
    from stratify.errors import ConfigError

    t0 = time.monotonic()
    path = Path(args.config)
    if not path.is_file():
        raise ConfigError(f"{path}: consortium config not found")
    consortium = load_consortium(path, check_files=False)
    out = Path(args.out) if args.out else Path(args.results) / "consortium" / consortium.name
    summary = run_consortium(consortium, results_root=args.results, out=out, n_boot=args.n_boot, seed=args.seed)
    report = write_report(out)
    skipped = "; ".join(f"{a}: {why}" for a, why in summary["skipped"].items())
    log.info(
        "stage consortium done in %.1fs (peak RSS %.0f MiB); outputs in %s", time.monotonic() - t0, peak_rss_mib(), out
    )
    print(f"stratify: consortium {consortium.name} written to {out}" + (f"; report {report}" if report else ""))
    if skipped:
        print(f"stratify: skipped: {skipped}")
    return 0
