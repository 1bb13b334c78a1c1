"""Where the pgx stage's calls come from: the VCF genotypes and other tools' star-allele calls,
mapped to the cohort's patients; and the CPIC guidance for each medication trial."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from stratify.inputs.validate import read_sample_map
from stratify.pgx.alleles import VCF_CALLABLE_GENES, call_diplotypes, load_definitions, not_genotyped
from stratify.pgx.callers import read_calls
from stratify.pgx.choose import best_call_per_gene
from stratify.pgx.guidance import OUTPUT_COLUMNS, patient_guidance
from stratify.pgx.phenotype import GENES

log = logging.getLogger(__name__)

CALL_COLUMNS = [
    "patient_id",
    "sample",
    "gene",
    "diplotype",
    "status",
    "alternatives",
    "source_tool",
    "phenotype",
    "activity_score",
]


def vcf_calls(geno: pd.DataFrame, no_sample: list[str], summary: dict[str, Any]) -> list[pd.DataFrame]:
    """Calls from the VCF genotypes, one block per gene read (stratify.pgx.alleles.VCF_CALLABLE_GENES).

    Patients the VCF has no sample for get a visible no-call per gene, not a missing row.
    A genotype table without a ``gene`` column (written before CYP2B6 was read) is CYP2C19.
    Each source is added to ``summary["sources"]``.
    """
    if not len(geno):
        return []
    gene_col = geno["gene"].astype(str) if "gene" in geno.columns else pd.Series("CYP2C19", index=geno.index)
    frames = []
    for gene in VCF_CALLABLE_GENES:
        g = geno.loc[gene_col == gene]
        if not len(g):
            continue
        calls = call_diplotypes(
            g.drop(columns=[c for c in ("patient_id", "gene") if c in g.columns]), load_definitions(gene)
        )
        calls.insert(0, "patient_id", calls["sample"].map(dict(zip(g["sample"], g["patient_id"]))))
        calls["source_tool"] = "stratify-vcf"
        frames.append(calls)
        summary["sources"].append({"tool": "stratify-vcf", "gene": gene, "calls": int(len(calls))})
        if no_sample:
            frames.append(not_genotyped(no_sample, gene))
            summary.setdefault("not_genotyped", {})[gene] = len(no_sample)
    return frames


def star_allele_calls(source: dict[str, Any], patients: set, summary: dict[str, Any]) -> pd.DataFrame:
    """One ``inputs.star_alleles`` entry's calls for genes with a CPIC phenotype table here, with
    their patient IDs (through its sample map); calls of no patient in ``patients`` are dropped
    and counted. The source is added to ``summary["sources"]``."""
    sa = source
    c = read_calls(sa["path"], sa["tool"], gene=sa.get("gene"), sample=sa.get("sample"))
    other = ~c["gene"].isin(GENES)  # genes with CPIC phenotype tables here
    if other.any():
        genes = sorted(c.loc[other, "gene"].unique())
        log.warning(
            "%s: %d calls for genes without a phenotype table here (%s) are not used",
            sa["path"],
            int(other.sum()),
            ", ".join(genes),
        )
        summary.setdefault("genes_not_used", {})[sa["path"]] = genes
        c = c[~other]
    if "sample_map" in sa:
        sm = read_sample_map(sa["sample_map"])
        m = dict(zip(sm["sample_id"], sm["patient_id"]))
    else:
        m = {s: s for s in c["sample"]}
    c.insert(0, "patient_id", c["sample"].map(m))
    unknown = c["patient_id"].isna() | ~c["patient_id"].isin(patients)
    if unknown.any():
        log.warning(
            "%s: %d calls belong to no patient of the cohort and are not used (first: %s)",
            sa["path"],
            int(unknown.sum()),
            ", ".join(c.loc[unknown, "sample"].astype(str)[:5]),
        )
    summary["sources"].append(
        {"tool": sa["tool"], "path": sa["path"], "calls": int((~unknown).sum()), "not_in_cohort": int(unknown.sum())}
    )
    return c[~unknown]


def drug_guidance(calls: pd.DataFrame, treatments: pd.DataFrame, *, min_weeks: float) -> pd.DataFrame:
    """CPIC guidance for every medication trial, from the call chosen per patient and gene."""
    if calls.empty or treatments.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in OUTPUT_COLUMNS})
    chosen = best_call_per_gene(calls)
    chosen = chosen[
        [
            c
            for c in (
                "patient_id",
                "gene",
                "phenotype",
                "activity_score",
                "activity_lower_bound",
                "candidate_phenotypes",
            )
            if c in chosen.columns
        ]
    ]
    return patient_guidance(treatments, chosen, min_weeks=min_weeks)


def guidance_summary(guidance: pd.DataFrame) -> dict[str, Any]:
    """Trials with guidance, actions, and trials flagged for possible PK non-response or intolerance."""
    keys = ["patient_id", "episode", "trial"]
    return {
        "trials": int(guidance[keys].drop_duplicates().shape[0]),
        "actions": guidance["action"].value_counts().to_dict(),
        "possible_pk_nonresponse_trials": int(
            guidance.loc[guidance["possible_pk_nonresponse"], keys].drop_duplicates().shape[0]
        ),
        "possible_pk_intolerance_trials": int(
            guidance.loc[guidance["possible_pk_intolerance"], keys].drop_duplicates().shape[0]
        ),
    }
