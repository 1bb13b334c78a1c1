"""Stage "heterogeneity": individual treatment effects between two randomised arms, or why not."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from stratify.features.stage import read_features
from stratify.heterogeneity.cohort import analyse_cohort, cate_png, heterogeneity_options, pai_png, site_variance_ratios
from stratify.heterogeneity.variance_ratio import forest_png
from stratify.io.layout import StageFiles
from stratify.io.results import dump_json, not_drawn_png, provenance, write_tsv
from stratify.io.tables import write_table

log = logging.getLogger(__name__)

# heterogeneity/vr_sites.tsv: one row per site (as a study) and arm comparison
VR_SITES_COLUMNS = [
    "measure",
    "scale",
    "study",
    "arm_treatment",
    "arm_control",
    "n_treatment",
    "mean_treatment",
    "sd_treatment",
    "n_control",
    "mean_control",
    "sd_control",
    "yi_vr",
    "vi_vr",
    "yi_cvr",
    "vi_cvr",
    "cvr_note",
]


def run_heterogeneity(config: dict[str, Any], files: StageFiles | str | Path) -> dict[str, Any]:
    """heterogeneity: CATE per patient, the PAI and site variance ratios when two randomised arms
    exist; otherwise the reason, with every figure saying why it was not drawn."""
    files = StageFiles.of(files, "heterogeneity")
    df, fsum = read_features(files)
    summary, cate = analyse_cohort(
        df,
        options=heterogeneity_options(config),
        feature_groups=fsum.get("feature_groups", {}),
        source=files.input("features"),
    )
    write_table(cate, files.output("cate"), kind="heterogeneity.cate", provenance=provenance(config, "heterogeneity"))
    vr: dict[str, Any] = {"run": False, "reason": summary["statement"]}
    if summary["run"]:
        pai_png(summary, files.output("pai_png"))
        cate_png(cate, summary, files.output("cate_png"))
        vr, comp = site_variance_ratios(df, summary)
        summary["variance_ratio"] = vr
    else:
        for key in ("pai_png", "cate_png"):
            not_drawn_png(files.output(key), summary["statement"])
    if vr["run"]:
        write_tsv(comp.drop(columns=["line_treatment", "line_control"]), files.output("vr_sites"))
        forest_png(comp, vr["pooled"], files.output("vr_forest_png"))
        re = vr["pooled"][0]["lnVR"]["random"]
        log.info(
            "heterogeneity: variance ratio %s/%s over %d sites (REML) %.3f (%.3f-%.3f)",
            vr["treatment_arm"],
            vr["control_arm"],
            vr["k_sites"],
            re["ratio"],
            re["ratio_ci_low"],
            re["ratio_ci_high"],
        )
    else:
        write_tsv(pd.DataFrame(columns=VR_SITES_COLUMNS), files.output("vr_sites"))
        not_drawn_png(files.output("vr_forest_png"), vr.get("reason", summary["statement"]))
    log.info("heterogeneity: %s", summary["statement"])
    dump_json(summary, files.output("summary"))
    return summary
