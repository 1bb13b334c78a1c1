"""Stage "subtype": cluster assignments, profiles, the selection criterion by k, response by subtype."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stratify.features.stage import read_features
from stratify.io.layout import StageFiles
from stratify.io.results import dump_json, not_drawn_png, provenance, write_tsv
from stratify.io.tables import write_table
from stratify.plots import criterion_png, profile_png
from stratify.subtype.outcomes import outcome_by_subtype
from stratify.subtype.saved import write_model
from stratify.subtype.subtyping import run_subtyping, subtype_adds_to_severity, subtype_options

CRITERION_LABELS = {
    "BIC": "BIC (lower is better)",
    "silhouette": "mean silhouette (higher is better)",
    "PAC": "PAC (lower is better)",
}


def run_subtype(config: dict[str, Any], files: StageFiles | str | Path) -> dict[str, Any]:
    """subtype: cluster the feature table; write assignments, profiles, figures, the summary and
    the fitted clustering (``model.json``, :mod:`stratify.subtype.saved`)."""
    files = StageFiles.of(files, "subtype")
    df, _ = read_features(files)
    assign, prof, summary, model = run_subtyping(df, options=subtype_options(config))
    write_model(model, files.output("model"))
    write_table(
        assign, files.output("assignments"), kind="subtype.assignments", provenance=provenance(config, "subtype")
    )
    write_tsv(prof, files.output("profiles"))
    if summary.get("criterion"):
        criterion_png(
            summary["criterion"],
            summary["n_clusters"],
            files.output("criterion_png"),
            label=CRITERION_LABELS[summary["criterion_name"]],
        )
    else:
        not_drawn_png(files.output("criterion_png"), "no selection criterion was computed")
    if len(prof):
        profile_png(prof, summary["features"], files.output("profiles_png"))
    else:
        not_drawn_png(files.output("profiles_png"), "no subtype profiles")
    if len(assign):
        summary["outcome_by_subtype"] = outcome_by_subtype(assign, df)
        if summary.get("claimed"):
            summary["adds_to_severity"] = subtype_adds_to_severity(df, assign)
    dump_json(summary, files.output("summary"))
    return summary
