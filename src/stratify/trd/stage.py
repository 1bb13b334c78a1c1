"""Stage "trd": treatment adequacy per trial and TRD staging under every definition, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from stratify.clinical.adequacy import adequacy_options, assess_trials
from stratify.io.layout import StageFiles
from stratify.io.results import dump_json, provenance, write_tsv
from stratify.io.tables import read_table, write_table
from stratify.trd import CONCORDANCE_COLUMNS, binary_calls, concordance, stage_all, trd_options
from stratify.trd.assemble import patients_for_staging, trials_with_pk_flags

DEFINITIONS = ("sforzini_2021", "sforzini_pk", "thase_rush_1997", "msm_band", "conway_2017", "markowitz_2022")


def run_trd(config: dict[str, Any], files: StageFiles | str | Path) -> dict[str, Any]:
    """trd: trials, staging, the status after the index trial, concordance and their summary."""
    files = StageFiles.of(files, "trd")
    prov = provenance(config, "trd")
    treatments = read_table(files.input("treatments"), kind="input.treatments")
    if treatments.empty:
        summary = {"skipped": "no treatment history (inputs.treatments)"}
        empty = pd.DataFrame({"patient_id": pd.Series([], dtype=str)})
        for key, kind in (("trials", "trd.trials"), ("staging", "trd.staging"), ("after_index", "trd.after_index")):
            write_table(empty, files.output(key), kind=kind, provenance=prov)
        write_tsv(pd.DataFrame(columns=CONCORDANCE_COLUMNS), files.output("concordance"))
        dump_json(summary, files.output("summary"))
        return summary
    trials = assess_trials(treatments, **adequacy_options(config))
    guidance = read_table(files.input("guidance"), kind="pgx.guidance")
    trials = trials_with_pk_flags(trials, treatments, guidance)
    pts = patients_for_staging(
        read_table(files.input("patients"), kind="input.patients"),
        read_table(files.input("scores"), kind="clinical.scores"),
    )
    staging = stage_all(trials, pts, **trd_options(config))
    conc = concordance(staging)
    write_table(trials, files.output("trials"), kind="trd.trials", provenance=prov)
    write_table(staging, files.output("staging"), kind="trd.staging", provenance=prov)
    # TRD status once the index (prospective) trial's own outcome is counted: the endpoint.kind trd outcome
    after = binary_calls(stage_all(trials, pts, include_prospective=True, **trd_options(config)))
    write_table(after, files.output("after_index"), kind="trd.after_index", provenance=prov)
    write_tsv(conc, files.output("concordance"))
    summary = {
        "n_patients": int(len(staging)),
        "n_trials": int(len(trials)),
        "adequate_trials": int(trials["adequate"].fillna(False).astype(bool).sum()),
        "trials_adequacy_unknown": int(trials["adequate"].isna().sum()),
        "definitions": {},
    }
    for col in DEFINITIONS:
        if col in staging:
            summary["definitions"][col] = {
                str(k): int(v) for k, v in staging[col].astype("string").fillna("NA").value_counts().items()
            }
    dump_json(summary, files.output("summary"))
    return summary
