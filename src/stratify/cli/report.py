"""``stratify report``: the self-contained HTML report."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from stratify.cli.common import add_stage_options, load_config, peak_rss_mib, stage_files

log = logging.getLogger("stratify")


def add_parser(sub) -> None:
    """Register the command and its --out."""
    rep = sub.add_parser("report", help="write the self-contained HTML report")
    add_stage_options(rep)
    rep.add_argument("--out", help="HTML file (default: <results>/report/report.html)")
    rep.set_defaults(func=run)


def run(args) -> None:
    """Render the report from the declared inputs (or a results folder) into --output html or --out."""
    from stratify.io.layout import StageFiles, config_slice
    from stratify.report.stage import run_report

    t0 = time.monotonic()
    cfg = load_config(args)
    files = stage_files(args, "report", cfg)
    if not isinstance(files, StageFiles):
        files = StageFiles.under(files, "report")
    if args.out:
        files = StageFiles("report", files.inputs, {**files.outputs, "html": Path(args.out)})
    out = run_report(config_slice(cfg, "report"), files)
    log.info("report written to %s in %.1fs (peak RSS %.0f MiB)", out, time.monotonic() - t0, peak_rss_mib())
