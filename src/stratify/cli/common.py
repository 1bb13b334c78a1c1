"""What the commands share: logging, peak memory, the stage options and running a stage over its files."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from stratify.errors import ConfigError
from stratify.io.layout import StageFiles, config_slice, parse_pairs

log = logging.getLogger("stratify")


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum``, else a one-line usage error.

    >>> whole_number(10)("12")
    12
    >>> whole_number(10)("9")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a whole number >= 10, got '9'
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value

    return parse


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (``ru_maxrss``; KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup_logging(logfile: str | None, quiet: bool = False) -> None:
    """Log to standard error (warnings only with ``quiet``) and, in full, to ``logfile``."""
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    h = logging.StreamHandler(sys.stderr)
    h.setLevel(logging.WARNING if quiet else logging.INFO)
    h.setFormatter(fmt)
    root.addHandler(h)
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(logfile, mode="w")
        fh.setFormatter(fmt)
        root.addHandler(fh)
    for noisy in ("matplotlib", "numba", "shap", "fontTools", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def add_stage_options(p: argparse.ArgumentParser) -> None:
    """--config or --settings, the files (--input/--output, or --results), --log and --quiet."""
    cfg = p.add_mutually_exclusive_group(required=True)
    cfg.add_argument("--config", help="cohort config (YAML), see docs/inputs.md")
    cfg.add_argument(
        "--settings",
        help="this stage's part of a validated config, as the workflow writes it "
        "(results/<cohort>/settings/<stage>.yaml)",
    )
    p.add_argument(
        "--input",
        action="append",
        dest="inputs",
        metavar="KEY=PATH",
        help="a file the stage reads (repeatable; the workflow passes every one, docs/outputs.md)",
    )
    p.add_argument(
        "--output",
        action="append",
        dest="outputs",
        metavar="KEY=PATH",
        help="a file the stage writes (repeatable); without --input/--output the files are placed under --results",
    )
    p.add_argument("--results", help="results folder for this cohort (default: results/<cohort>)")
    p.add_argument("--log", help="also write the log to this file")
    p.add_argument("--quiet", action="store_true", help="only warnings and errors on the terminal")


def load_config(args: argparse.Namespace) -> dict[str, Any]:
    """The config of --config (read and validated) or the settings of --settings (as written)."""
    if args.config:
        from stratify.config import load_config as load

        return load(args.config)
    path = Path(args.settings)
    if not path.is_file():
        raise ConfigError(f"{path}: settings file not found")
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(settings, dict) or "cohort" not in settings:
        raise ConfigError(f"{path}: not a stage's settings (expected the YAML the workflow writes, with a cohort)")
    return settings


def results_folder(args: argparse.Namespace, config: dict[str, Any]) -> Path:
    """--results, or results/<cohort>."""
    return Path(args.results) if args.results else Path("results") / config["cohort"]


def stage_files(args: argparse.Namespace, stage: str, config: dict[str, Any]) -> StageFiles | Path:
    """The explicit --input/--output paths, or (without any) the results folder."""
    if args.inputs or args.outputs:
        return StageFiles(stage, parse_pairs(args.inputs, "--input"), parse_pairs(args.outputs, "--output"))
    return results_folder(args, config)


def run_stage(args: argparse.Namespace, stage: str, fn: Callable[..., Any], **kw) -> None:
    """Run stage ``fn`` on its part of the config and its files, and log the time and memory."""
    t0 = time.monotonic()
    config = load_config(args)
    files = stage_files(args, stage, config)
    fn(config_slice(config, stage), files, **kw)
    where = (
        next(iter(files.outputs.values())).parent
        if isinstance(files, StageFiles) and files.outputs
        else Path(files) / stage
        if not isinstance(files, StageFiles)
        else "?"
    )
    log.info(
        "stage %s done in %.1fs (peak RSS %.0f MiB); outputs in %s", stage, time.monotonic() - t0, peak_rss_mib(), where
    )


def add_stage_command(
    sub, name: str, help_: str, fn_path: str, *, stage: str | None = None, **parser_kw
) -> argparse.ArgumentParser:
    """A subcommand ``name`` that runs the function ``fn_path`` ("module:function") of ``stage``
    (default: ``name``)."""
    p = sub.add_parser(name, help=help_, **parser_kw)
    add_stage_options(p)

    def run(args):
        import importlib

        module, fn = fn_path.split(":")
        run_stage(args, stage or name, getattr(importlib.import_module(module), fn))

    p.set_defaults(func=run)
    return p
