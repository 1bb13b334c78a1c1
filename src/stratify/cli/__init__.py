"""Command-line interface: ``stratify <command>``.

One module per command, each a thin layer over the package's public functions (the stages'
``<package>.stage.run_<stage>``, :mod:`stratify.pgx.api`, :mod:`stratify.simulate`); the
Snakemake rules call these commands with every file they read and write
(``--input key=path --output key=path``). Errors caused by inputs or configuration print one
line (``stratify: error: <file>: <problem>``) and exit with status 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

from stratify import __version__
from stratify.cli import (
    clinical,
    consortium,
    explain,
    features,
    genotypes,
    heterogeneity,
    model,
    pgx,
    report,
    run,
    simulate,
    subtype,
    summarise,
    teh,
    trd,
    validate,
)
from stratify.cli.common import peak_rss_mib, setup_logging
from stratify.errors import StratifyError

__all__ = ["build_parser", "main", "peak_rss_mib"]

log = logging.getLogger("stratify")

# in the order `stratify --help` lists them
COMMANDS = (
    simulate,
    validate,
    genotypes,
    clinical,
    trd,
    features,
    subtype,
    explain,
    heterogeneity,
    pgx,
    model,
    report,
    teh,
    summarise,
    consortium,
    run,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``stratify`` parser with every command's subparser."""
    ap = argparse.ArgumentParser(
        prog="stratify",
        description="Pharmacogenomic and biomarker stratification for treatment-resistant depression.",
        epilog="Run the whole workflow with snakemake (see README.md); these commands are its stages.",
    )
    ap.add_argument("--version", action="version", version=f"stratify {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return ap


def _report_error(exc: StratifyError) -> int:
    """One line on standard error and in the log file; exit status 2."""
    log.debug("user error", exc_info=True)
    msg = f"stratify: error: {exc}"
    print(msg, file=sys.stderr)
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.FileHandler):
            h.stream.write(msg + "\n")
            h.flush()
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 on success, 2 on an input or configuration error."""
    args = build_parser().parse_args(argv)
    setup_logging(getattr(args, "log", None), getattr(args, "quiet", False))
    try:
        args.func(args)
    except StratifyError as exc:
        return _report_error(exc)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
