"""``stratify features``: join clinical, PGx and genotype features into one table per patient."""

from __future__ import annotations

from stratify.cli.common import add_stage_command

HELP = "join clinical, PGx and genotype features into one table per patient"


def add_parser(sub) -> None:
    """Register the command."""
    add_stage_command(sub, "features", HELP, "stratify.features.stage:run_features")
