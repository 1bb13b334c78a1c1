"""Stage "model": nested cross-validation of XGBoost and baselines; the final model as XGBoost
JSON, its metadata (features, preprocessing, training distribution) and a model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from stratify.features.stage import read_features
from stratify.io.layout import StageFiles
from stratify.io.results import dump_json, provenance, write_tsv
from stratify.io.tables import write_table
from stratify.model.card import model_card
from stratify.model.fit import fit_response_model, model_options
from stratify.model.io import model_metadata
from stratify.plots import calibration_png, observed_predicted_png, roc_png


def run_model(config: dict[str, Any], files: StageFiles | str | Path, *, threads: int = 1) -> dict[str, Any]:
    """model: fit and evaluate; ``threads``: permutation-test fits run side by side (the results
    do not depend on it)."""
    files = StageFiles.of(files, "model")
    df, fsum = read_features(files)
    res = fit_response_model(df, fsum, options=model_options(config), threads=threads)
    task = res["info"]["task"]
    res["model"].booster.save_model(str(files.output("model")))
    write_table(res["oof"], files.output("oof"), kind="model.oof", provenance=provenance(config, "model"))
    if task == "classification":
        roc_png(res["oof"], files.output("performance"))
    else:
        observed_predicted_png(res["oof"], files.output("performance"), model="selected")
    calibration_png(res["oof"], files.output("calibration"), task=task)
    write_tsv(
        pd.DataFrame([{k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in r.items()} for r in res["folds"]]),
        files.output("folds"),
    )
    summary = {
        "metrics": res["metrics"],
        **res["info"],
        "features": res["features"],
        "endpoint": config["endpoint"],
        "skipped_features": fsum["skipped_features"],
        "endpoint_defined_by": fsum.get("endpoint_defined_by", []),
        "outer_folds": res["folds"],
    }
    meta = model_metadata(res, df, fsum, cohort=config["cohort"], endpoint=config["endpoint"], seed=config["seed"])
    dump_json(meta, files.output("model_features"))
    dump_json(summary, files.output("metrics"))
    files.output("card").write_text(model_card(meta, summary), encoding="utf-8")
    return summary
