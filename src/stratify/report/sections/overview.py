"""Section "Cohort overview": sites, data completeness, what was skipped and how the inputs were read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from stratify.io.tables import read_table
from stratify.report.context import Table, kv, read_json, read_tsv, table
from stratify.report.render import render

PRS_COLUMNS = [
    "score",
    "variants",
    "used",
    "matched_flipped",
    "ambiguous_dropped",
    "allele_mismatch",
    "multiallelic_in_vcf",
    "not_in_vcf",
    "not_harmonised",
    "fraction_used",
]


def overview_context(config, r: Path) -> dict[str, Any]:
    """Patients and sites, completeness per data domain, the skipped inputs and the PGS match report."""
    man = read_json(r / "validate" / "manifest.json")
    pts = read_table(r / "validate" / "patients.parquet", kind="input.patients")
    sites = (
        pts.groupby("site")
        .agg(
            patients=("patient_id", "size"),
            age_mean=("age", "mean"),
            female=("sex", lambda s: float((s == "F").mean())),
        )
        .reset_index()
    )
    feats = read_table(r / "features" / "features.parquet", kind="features")
    comp = {
        "symptom scores (baseline)": feats["baseline_severity"].notna().mean(),
        "endpoint": feats["y"].notna().mean(),
        "biomarkers (CRP)": feats["crp_mg_l"].notna().mean() if "crp_mg_l" in feats else 0.0,
        "CYP2C19 call": feats["cyp2c19_phenotype"].notna().mean() if "cyp2c19_phenotype" in feats else 0.0,
        "CYP2D6 call": feats["cyp2d6_phenotype"].notna().mean() if "cyp2d6_phenotype" in feats else 0.0,
        "genotype PCs": feats["pc1"].notna().mean() if "pc1" in feats else 0.0,
    }
    comp_df = pd.DataFrame({"domain": list(comp), "share of patients with data": [round(v, 3) for v in comp.values()]})
    skipped = _skipped(r, man)
    rep = read_tsv(r / "genotypes" / "prs_report.tsv")
    return {
        "n_patients": man.get("n_patients", len(pts)),
        "n_sites": pts["site"].nunique(),
        "sites": table(sites),
        "completeness": table(comp_df),
        "skipped": kv(skipped) if skipped else None,
        "how_read": how_read(man),
        "prs": table(rep[[c for c in PRS_COLUMNS if c in rep.columns]]) if len(rep) else None,
    }


def _skipped(r: Path, man: dict[str, Any]) -> dict[str, Any]:
    """What was skipped and why: inputs (manifest), genotype steps, star-allele genes, features, endpoints."""
    skipped = dict(man.get("skipped", {}))
    gs = read_json(r / "genotypes" / "summary.json")
    for k in ("skipped", "pcs_skipped", "pgx_skipped", "pgs_skipped"):
        if k in gs and gs[k] not in skipped.values():
            skipped[f"genotypes ({k})"] = gs[k]
    for path, genes in read_json(r / "pgx" / "summary.json").get("genes_not_used", {}).items():
        skipped[f"star-allele calls in {path}"] = f"genes without a phenotype table here, not used: {', '.join(genes)}"
    if gs.get("n_samples_not_in_cohort"):
        skipped["VCF samples not in the cohort"] = f"{gs['n_samples_not_in_cohort']} samples not used"
    fs = read_json(r / "features" / "summary.json")
    for f, why in fs.get("skipped_features", {}).items():
        skipped[f"feature {f}"] = why
    for why, n in fs.get("endpoint_missing_reasons", {}).items():
        skipped[f"no endpoint: {why}"] = f"{n} patients left out of the model"
    return skipped


def how_read(man: dict[str, Any]) -> Table | None:
    """What the validate stage assumed, and the spellings it read as canonical values (docs/inputs.md);
    None when every table was in canonical form."""
    rows = [
        {"table": t, "what": "assumed", "as read": "", "read as": "", "rows": why}
        for t, why in man.get("assumed", {}).items()
    ]
    for tab, rec in man.get("canonicalised", {}).items():
        for written, canon in rec.get("columns", {}).items():
            rows.append({"table": tab, "what": "column name", "as read": written, "read as": canon, "rows": ""})
        for col, spellings in rec.get("values", {}).items():
            for pair, n in spellings.items():
                written, _, canon = pair.partition(" -> ")
                rows.append({"table": tab, "what": f"value of {col}", "as read": written, "read as": canon, "rows": n})
        for col, spellings in rec.get("missing", {}).items():
            for written, n in spellings.items():
                rows.append(
                    {
                        "table": tab,
                        "what": f"missing value in {col}",
                        "as read": written,
                        "read as": "missing",
                        "rows": n,
                    }
                )
    return table(pd.DataFrame(rows), max_rows=60) if rows else None


def section_overview(config, r: Path) -> Markup:
    """The overview section's HTML."""
    return render("sections/overview.html.j2", **overview_context(config, r))
