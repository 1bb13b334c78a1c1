"""``stratify trd``: treatment adequacy and TRD staging under every published definition, side by side."""

from __future__ import annotations

from stratify.cli.common import add_stage_command

HELP = "treatment adequacy and TRD staging under every published definition, side by side"


def add_parser(sub) -> None:
    """Register the command."""
    add_stage_command(sub, "trd", HELP, "stratify.trd.stage:run_trd")
