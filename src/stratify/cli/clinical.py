"""``stratify clinical``: symptom totals, dimensions, endpoint, treatment history, biomarkers."""

from __future__ import annotations

from stratify.cli.common import add_stage_command

HELP = "symptom totals, dimensions, endpoint, treatment history, biomarkers"


def add_parser(sub) -> None:
    """Register the command."""
    add_stage_command(sub, "clinical", HELP, "stratify.clinical.stage:run_clinical")
