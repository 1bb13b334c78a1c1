"""The pgx stage's figure: CPIC phenotypes per gene."""

from __future__ import annotations

from pathlib import Path

from stratify.io.results import not_drawn_png
from stratify.plots import bar_counts_png


def phenotypes_png(phenotypes: dict[str, dict[str, int]], path: Path) -> Path:
    """Bars of patients per CPIC phenotype, one panel per gene (``summary["phenotypes"]`` of the
    pgx stage); without calls, a figure that says so."""
    if not phenotypes:
        return not_drawn_png(path, "no pharmacogenomic calls")
    return bar_counts_png(phenotypes, path, title="CPIC phenotypes per gene")
