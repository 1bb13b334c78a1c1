"""Every stage in order, in this process, without Snakemake (tests, quick looks).

The stages' public entry points, one per stage: each takes its part of the config and its
files (:class:`stratify.io.layout.StageFiles`, or a results folder whose layout
:mod:`stratify.io.layout` gives). Layout of a run::

    results/<cohort>/<stage>/...      (tables, summaries, plots)
    logs/<cohort>/<stage>.log
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from stratify.clinical.stage import run_clinical
from stratify.config import validate_config
from stratify.explain.stage import run_explain
from stratify.features.stage import run_features
from stratify.genotypes.stage import run_genotypes
from stratify.heterogeneity.stage import run_heterogeneity
from stratify.inputs.stage import run_validate
from stratify.io.layout import config_slice
from stratify.model.stage import run_model
from stratify.pgx.stage import run_pgx
from stratify.report.stage import run_report
from stratify.subtype.stage import run_subtype
from stratify.trd.stage import run_trd

log = logging.getLogger(__name__)

STAGES = {
    "validate": run_validate,
    "genotypes": run_genotypes,
    "pgx": run_pgx,
    "clinical": run_clinical,
    "trd": run_trd,
    "features": run_features,
    "subtype": run_subtype,
    "model": run_model,
    "heterogeneity": run_heterogeneity,
    "explain": run_explain,
    "report": run_report,
}
ORDER = ("validate", "genotypes", "pgx", "clinical", "trd", "features", "subtype", "model", "heterogeneity", "explain")


def run_all(config: dict[str, Any], results: str | Path) -> Path:
    """Every stage in order on ``config``, results under ``results``; returns the report's path.
    Each stage gets only its part of the config, as in the workflow."""
    config = validate_config(config)
    results = Path(results)
    for name in ORDER:
        log.info("stage %s", name)
        STAGES[name](config_slice(config, name), results)
    return run_report(config_slice(config, "report"), results)
