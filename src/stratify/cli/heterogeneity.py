"""``stratify heterogeneity``: individual treatment effects between two randomised arms (or why not analysed)."""

from __future__ import annotations

from stratify.cli.common import add_stage_command

HELP = "individual treatment effects between two randomised arms (or why not analysed)"


def add_parser(sub) -> None:
    """Register the command."""
    add_stage_command(sub, "heterogeneity", HELP, "stratify.heterogeneity.stage:run_heterogeneity")
