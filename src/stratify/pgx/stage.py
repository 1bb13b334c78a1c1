"""Stage "pgx": CYP2C19 and CYP2B6 from the VCF genotypes, other tools' star-allele calls, CPIC
phenotypes, drug guidance per medication trial and the phenotype figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from stratify.io.layout import StageFiles
from stratify.io.results import dump_json, provenance, write_tsv
from stratify.io.tables import read_table, write_table
from stratify.pgx.figures import phenotypes_png
from stratify.pgx.phenotype import add_phenotypes
from stratify.pgx.sources import CALL_COLUMNS, drug_guidance, guidance_summary, star_allele_calls, vcf_calls


def run_pgx(config: dict[str, Any], files: StageFiles | str | Path) -> dict[str, Any]:
    """pgx: calls and phenotypes per patient and gene, guidance per trial, and their summary."""
    files = StageFiles.of(files, "pgx")
    patients = set(read_table(files.input("patients"), kind="input.patients")["patient_id"])
    summary: dict[str, Any] = {"sources": []}
    geno = read_table(files.input("genotypes"), kind="genotypes.pgx")
    no_sample = json.loads(files.input("genotypes_summary").read_text()).get("patients_without_vcf_sample", [])
    frames = vcf_calls(geno, no_sample, summary)
    for sa in config["inputs"].get("star_alleles", []):
        frames.append(star_allele_calls(sa, patients, summary))
    if frames:
        calls = add_phenotypes(pd.concat(frames, ignore_index=True))
    else:
        calls = pd.DataFrame(columns=CALL_COLUMNS)
        summary["skipped"] = "no VCF and no star-allele calls"
    write_table(calls, files.output("calls"), kind="pgx.calls", provenance=provenance(config, "pgx"))
    write_tsv(calls, files.output("calls_tsv"))
    if len(calls):
        summary["phenotypes"] = {
            g: d["phenotype"].replace("", "no call").value_counts().to_dict() for g, d in calls.groupby("gene")
        }
        summary["status"] = {g: d["status"].value_counts().to_dict() for g, d in calls.groupby("gene")}
    treatments = read_table(files.input("treatments"), kind="input.treatments")
    guidance = drug_guidance(calls, treatments, min_weeks=config["clinical"]["adequate_weeks"])
    write_table(guidance, files.output("guidance"), kind="pgx.guidance", provenance=provenance(config, "pgx"))
    write_tsv(guidance, files.output("guidance_tsv"))
    if len(guidance):
        summary["guidance"] = guidance_summary(guidance)
    else:
        summary["guidance_skipped"] = "no medication trials" if len(calls) else "no pharmacogenomic calls"
    phenotypes_png(summary.get("phenotypes", {}) if len(calls) else {}, files.output("phenotypes_png"))
    dump_json(summary, files.output("summary"))
    return summary
