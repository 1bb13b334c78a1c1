"""``stratify subtype``: Gaussian-mixture subtypes with k chosen by BIC (k = 1 allowed)."""

from __future__ import annotations

from stratify.cli.common import add_stage_command

HELP = "Gaussian-mixture subtypes with k chosen by BIC (k = 1 allowed)"


def add_parser(sub) -> None:
    """Register the command."""
    add_stage_command(sub, "subtype", HELP, "stratify.subtype.stage:run_subtype")
