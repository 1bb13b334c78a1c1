"""Writing a stage's results: JSON summaries, TSV tables, provenance and the versions it ran with.

Every stage writes its typed tables with :func:`stratify.io.tables.write_table` and the
provenance from :func:`provenance`; its summary with :func:`dump_json`; human-readable
tables with :func:`write_tsv`; and a figure it cannot draw with :func:`not_drawn_png`, so
that every declared output exists after every run.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify import __version__

__all__ = ["dump_json", "write_tsv", "package_versions", "provenance", "not_drawn_png"]


def dump_json(obj: Any, path: Path) -> Path:
    """Write ``obj`` as indented JSON (NumPy scalars and arrays as plain numbers and lists)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def default(o):
        if isinstance(o, (np.integer,)):
            return int(o)
        if isinstance(o, (np.floating,)):
            return float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    path.write_text(json.dumps(obj, indent=2, default=default, sort_keys=False) + "\n")
    return path


def write_tsv(df: pd.DataFrame, path: Path) -> Path:
    """Write a result table as TSV. An empty result is still a table with its header: a frame
    without columns is a bug of the stage (pandas would write a one-byte file that no reader can
    parse), so it stops here rather than in the report."""
    path = Path(path)
    if df.columns.size == 0:
        raise RuntimeError(f"{path}: a result table without columns; please report this as a bug")
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False)
    return path


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on."""
    out = {"python": platform.python_version(), "stratify": __version__}
    for p in (
        "numpy",
        "pandas",
        "scikit-learn",
        "xgboost-cpu",
        "xgboost",
        "shap",
        "cyvcf2",
        "pysam",
        "snakemake",
        "pyarrow",
    ):
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance(config: dict[str, Any], stage: str, **extra) -> dict[str, Any]:
    """Provenance stored in every table: stage, cohort, seed, the stage's config, package versions."""
    return {
        "stage": stage,
        "cohort": config["cohort"],
        "seed": config["seed"],
        "config": config,
        "packages": package_versions(),
        **extra,
    }


def not_drawn_png(path: Path, why: str) -> Path:
    """A small figure that says it was not drawn, and why (a declared figure output always exists)."""
    from stratify.plots import plt, save_png

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, f"not drawn: {why}", ha="center", va="center", wrap=True, fontsize=9)
    return save_png(fig, path)
