"""Stage "clinical": totals per visit and the per-patient clinical table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stratify.clinical.scores import clinical_counts, clinical_options, clinical_tables
from stratify.io.layout import StageFiles
from stratify.io.results import dump_json, provenance
from stratify.io.tables import read_table, write_table


def run_clinical(config: dict[str, Any], files: StageFiles | str | Path) -> dict[str, Any]:
    """clinical: scores per visit, the per-patient table and their summary."""
    files = StageFiles.of(files, "clinical")
    tables = {
        n: read_table(files.input(n), kind=f"input.{n}") for n in ("patients", "symptoms", "treatments", "biomarkers")
    }
    res = clinical_tables(tables, **clinical_options(config))
    write_table(
        res["scores"], files.output("scores"), kind="clinical.scores", provenance=provenance(config, "clinical")
    )
    write_table(
        res["patients"], files.output("patients"), kind="clinical.patients", provenance=provenance(config, "clinical")
    )
    p = res["patients"]
    summary = {
        "n_patients": int(len(p)),
        "endpoint_status": p["endpoint_status"].value_counts().to_dict(),
        "endpoint": config["endpoint"],
        "endpoint_rate": float(p[config["endpoint"]["kind"]].mean())
        if p[config["endpoint"]["kind"]].notna().any()
        else None,
        "prorated_totals": int(res["scores"].loc[res["scores"]["converted_from"] == "", "prorated"].sum()),
        "endpoint_converted": (
            {
                str(k): int(v)
                for k, v in p.loc[p["endpoint_converted_from"] != "", "endpoint_converted_from"].value_counts().items()
            }
            if "endpoint_converted_from" in p
            else {}
        ),
        "missing_totals": int(res["scores"].loc[res["scores"]["converted_from"] == "", "total"].isna().sum()),
        **clinical_counts(res["scores"], p),
    }
    if "crp_acute" in p:
        summary["crp_acute"] = int(p["crp_acute"].fillna(False).astype(bool).sum())
        summary["crp_acute_policy"] = config["clinical"]["crp_acute_policy"]
        summary["crp_below_detection"] = int(p["crp_below_detection"].fillna(False).astype(bool).sum())
        summary["nesda_strata"] = p["nesda_stratum"].value_counts().to_dict()
    dump_json(summary, files.output("summary"))
    return summary
