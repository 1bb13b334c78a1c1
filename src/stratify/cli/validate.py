"""``stratify validate``: check the input tables against the schemas; write typed Parquet copies."""

from __future__ import annotations

from stratify.cli.common import add_stage_command

HELP = "check the input tables against the schemas; write typed Parquet copies"


def add_parser(sub) -> None:
    """Register the command."""
    add_stage_command(sub, "validate", HELP, "stratify.inputs.stage:run_validate")
