"""``stratify explain``: SHAP values, importance and plots for the final model."""

from __future__ import annotations

from stratify.cli.common import add_stage_command

HELP = "SHAP values, importance and plots for the final model"


def add_parser(sub) -> None:
    """Register the command."""
    add_stage_command(sub, "explain", HELP, "stratify.explain.stage:run_explain")
