"""Stage "explain": SHAP values, importance, beeswarm and dependence plots, interactions of the
top pairs, waterfalls of three patients and SHAP summaries per subtype."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import ConfigError
from stratify.explain.model_shap import additive_reason, model_interactions, model_shap_values
from stratify.explain.shapley import (
    MAX_INTERACTION_PATIENTS,
    SCALES,
    beeswarm_png,
    dependence_png,
    importance,
    importance_by_subtype,
    interaction_partners,
    select_waterfall_patients,
    top_interactions,
    waterfall_png,
)
from stratify.features.stage import read_features
from stratify.io.layout import StageFiles
from stratify.io.results import dump_json, not_drawn_png, provenance, write_tsv
from stratify.io.tables import read_table, write_table
from stratify.model.io import load_model


def _load_model(files: StageFiles):
    """The model and its metadata: the two declared inputs, which load_model reads as one folder."""
    folder = files.input("model").parent
    if files.input("model_features").parent != folder:
        raise ConfigError(
            f"explain: --input model and model_features must be in one folder (the model stage's); "
            f"got {files.input('model')} and {files.input('model_features')}"
        )
    return load_model(folder)


def run_explain(config: dict[str, Any], files: StageFiles | str | Path) -> dict[str, Any]:
    """explain: explain the final model on the feature table; write values, tables, figures and the summary."""
    files = StageFiles.of(files, "explain")
    df, _ = read_features(files)
    model, meta = _load_model(files)
    feats, task = meta["features"], meta["task"]
    scale = SCALES[task]
    X = df[feats].astype(float)
    vals, base, what = model_shap_values(model, X)
    sv = pd.DataFrame(vals, columns=feats)
    sv.insert(0, "patient_id", df["patient_id"].to_numpy())
    write_table(
        sv,
        files.output("shap"),
        kind="explain.shap",
        provenance=provenance(config, "explain", base_value=base, task=task, scale=scale),
    )
    imp = importance(vals, feats)
    write_tsv(imp, files.output("importance"))
    beeswarm_png(vals, X, files.output("beeswarm"), scale=scale)
    # interactions first: their top partner colours each dependence panel
    additive = additive_reason(model, meta)
    if additive:
        inter = {"mean_abs": np.zeros((len(feats), len(feats))), "n_patients_used": 0}
        write_tsv(top_interactions(inter["mean_abs"], feats, n_patients_used=0, top=0), files.output("interactions"))
        partners = dict.fromkeys(feats)
    else:
        inter = model_interactions(model, X, max_patients=MAX_INTERACTION_PATIENTS, seed=config["seed"], shap=vals)
        write_tsv(
            top_interactions(inter["mean_abs"], feats, n_patients_used=inter["n_patients_used"]),
            files.output("interactions"),
        )
        partners = interaction_partners(inter["mean_abs"], feats)
    dep_feats = imp["feature"].head(4).tolist()
    _, n_missing = dependence_png(
        vals, X, dep_feats, files.output("dependence"), color_by={f: partners[f] for f in dep_feats}, scale=scale
    )
    waterfalls = _waterfalls(vals, base, X, df, files, task=task, scale=scale)
    summary: dict[str, Any] = {
        "task": task,
        "learner": model.learner,
        "values": what,
        "scale": scale,
        "base_value": base,
        **({"base_value_log_odds": base} if task == "classification" else {}),
        "top_features": imp["feature"].head(10).tolist(),
        "n_patients": int(len(df)),
        "dependence": {
            "file": "dependence.png",
            "features": dep_feats,
            "colour_by": {f: partners[f] for f in dep_feats},
            "n_missing": n_missing,
        },
        "interactions": {"file": "interactions.tsv", "additive": True, "statement": additive}
        if additive
        else {
            "file": "interactions.tsv",
            "additive": False,
            "n_patients_used": inter["n_patients_used"],
            "max_patients": inter["max_patients"],
            "subsampled": inter["subsampled"],
            "seed": inter["seed"],
            "seconds": inter["seconds"],
            "max_additivity_error": inter["max_additivity_error"],
        },
        "waterfalls": waterfalls,
        "by_subtype": _by_subtype(vals, feats, df, files),
    }
    dump_json(summary, files.output("summary"))
    return summary


# the waterfalls, one per role (stratify.explain.shapley.select_waterfall_patients), each a declared output
WATERFALL_ROLES = {
    "highest prediction": "highest",
    "lowest prediction": "lowest",
    "closest to the median prediction": "median",
}


def _waterfalls(
    vals: np.ndarray, base: float, X: pd.DataFrame, df: pd.DataFrame, files: StageFiles, *, task: str, scale: str
) -> list[dict[str, Any]]:
    """waterfalls/highest.png, lowest.png and median.png; a role whose patient is already shown
    (or a cohort without patients) gets a figure that says so."""
    waterfalls = select_waterfall_patients(vals, base, df["patient_id"])
    drawn = set()
    for w in waterfalls:
        i = int(np.flatnonzero(df["patient_id"].astype(str).to_numpy() == w["patient_id"])[0])
        role = WATERFALL_ROLES[w["reason"]]
        path = files.output(f"waterfall_{role}")
        w["file"] = f"waterfalls/{path.name}"
        if task == "classification":
            w["probability"] = float(1 / (1 + np.exp(-w["prediction"])))
        waterfall_png(vals[i], base, X.iloc[i], path, scale=scale, title=f"patient {w['patient_id']}: {w['reason']}")
        drawn.add(role)
    for role in WATERFALL_ROLES.values():
        if role not in drawn:
            why = "the same patient as another waterfall" if waterfalls else "no patients"
            not_drawn_png(files.output(f"waterfall_{role}"), why)
    return waterfalls


def _by_subtype(vals: np.ndarray, feats: list[str], df: pd.DataFrame, files: StageFiles) -> dict[str, Any]:
    """importance_by_subtype.tsv when subtypes were claimed (header-only otherwise) and its summary."""
    assign = read_table(files.input("assignments"), kind="subtype.assignments")
    sub = json.loads(files.input("subtype_summary").read_text())
    path = files.output("importance_by_subtype")
    if len(assign) and sub.get("claimed"):
        st = df[["patient_id"]].merge(assign, on="patient_id", how="left")["subtype"].fillna("unassigned")
        write_tsv(importance_by_subtype(vals, feats, st), path)
        return {
            "file": "importance_by_subtype.tsv",
            "n": {str(k): int(v) for k, v in st.value_counts().sort_index().items()},
        }
    write_tsv(importance_by_subtype(np.empty((0, len(feats))), feats, pd.Series([], dtype=str)), path)
    return {"file": None, "statement": "no subtypes were claimed, so no per-subtype summary"}
