"""Stage "features": the per-patient feature table and the resolved model feature list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from stratify.features.table import build_features, feature_options
from stratify.io.layout import StageFiles
from stratify.io.results import dump_json, provenance
from stratify.io.tables import read_table, write_table


def run_features(config: dict[str, Any], files: StageFiles | str | Path) -> dict[str, Any]:
    """features: join clinical, PGx, genotype and TRD columns into one row per patient."""
    files = StageFiles.of(files, "features")
    clin = read_table(files.input("clinical"), kind="clinical.patients")
    calls = read_table(files.input("calls"), kind="pgx.calls")
    pcs = read_table(files.input("pcs"), kind="genotypes.pcs")
    trd = read_table(files.input("after_index"), kind="trd.after_index")
    prs = read_table(files.input("prs"), kind="genotypes.prs")
    df, summary = build_features(
        clin, pgx_calls=calls, pcs=pcs, options=feature_options(config), trd_after_index=trd, prs=prs
    )
    write_table(
        df,
        files.output("features"),
        kind="features",
        provenance=provenance(config, "features", model_features=summary["model_features"]),
    )
    dump_json(summary, files.output("summary"))
    return summary


def read_features(files: StageFiles) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The feature table and its summary (inputs ``features`` and ``features_summary``)."""
    df = read_table(files.input("features"), kind="features")
    summary = json.loads(files.input("features_summary").read_text())
    return df, summary
