"""Section "Pharmacogenomics": phenotype calls by gene and source, and the CPIC drug guidance per trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from stratify.io.tables import read_table
from stratify.report.context import img, read_json, table
from stratify.report.render import render

GUIDANCE_COLUMNS = (
    "patient_id",
    "episode",
    "trial",
    "agent",
    "gene",
    "genotype_phenotype",
    "phenotype",
    "action",
    "flag_reason",
)


def pgx_context(config, r: Path) -> dict[str, Any]:
    """Calls by gene, source, status and phenotype; the reasons for missing phenotypes; the guidance."""
    from stratify.plots import bar_counts_png

    s = read_json(r / "pgx" / "summary.json")
    calls = read_table(r / "pgx" / "calls.parquet", kind="pgx.calls")
    if calls.empty:
        return {
            "calls": None,
            "skipped": s.get("skipped", ""),
            "guidance": {"available": False, "skipped": s.get("guidance_skipped", "no calls")},
        }
    tab = (
        calls.assign(phenotype=calls["phenotype"].replace("", "no call"))
        .groupby(["gene", "source_tool", "status", "phenotype"])
        .size()
        .rename("patients")
        .reset_index()
    )
    png = r / "pgx" / "phenotypes.png"
    bar_counts_png(s.get("phenotypes", {}), png, title="CPIC phenotypes per gene")
    src = pd.DataFrame(s.get("sources", []))
    why = calls.loc[calls["reason"].fillna("").astype(str) != ""] if "reason" in calls else calls.iloc[:0]
    reasons = (
        None
        if why.empty
        else table(
            why.groupby(["gene", "reason"]).size().rename("calls").reset_index().sort_values("calls", ascending=False),
            max_rows=30,
        )
    )
    return {
        "calls": table(tab),
        "figure": img(png, "phenotype distribution"),
        "reasons": reasons,
        "sources": table(src),
        "guidance": _guidance(r, s, config["clinical"]["adequate_weeks"]),
    }


def _guidance(r: Path, s: dict[str, Any], weeks: float = 6) -> dict[str, Any]:
    """The guidance tables: phenoconverted, flagged non-response and intolerance trials, actions by drug."""
    p = r / "pgx" / "guidance.parquet"
    g = read_table(p, kind="pgx.guidance") if p.exists() else pd.DataFrame()
    if g.empty:
        return {"available": False, "skipped": s.get("guidance_skipped", "not run")}
    gs = s.get("guidance", {})
    by = (
        g.groupby(["agent", "gene", "action"])
        .size()
        .rename("trials")
        .reset_index()
        .sort_values(["agent", "gene", "trials"], ascending=[True, True, False])
    )
    flagged = g[g["possible_pk_nonresponse"].astype(bool)]
    intol = g[g["possible_pk_intolerance"].astype(bool)]
    cols = [c for c in GUIDANCE_COLUMNS if c in g.columns]
    conv = g[g["phenoconversion"].astype(str) != ""] if "phenoconversion" in g.columns else g.iloc[:0]
    return {
        "available": True,
        "trials": gs.get("trials", 0),
        "weeks": weeks,
        "n_nonresponse": gs.get("possible_pk_nonresponse_trials", 0),
        "n_intolerance": gs.get("possible_pk_intolerance_trials", 0),
        "phenoconverted": (
            table(conv[[c for c in cols if c != "flag_reason"] + ["phenoconversion"]], max_rows=15)
            if len(conv)
            else None
        ),
        "nonresponse": table(flagged[cols], max_rows=15) if len(flagged) else None,
        "intolerance": table(intol[cols], max_rows=15) if len(intol) else None,
        "by_drug": table(by, max_rows=60),
    }


def section_pgx(config, r: Path) -> Markup:
    """The pharmacogenomics section's HTML."""
    return render("sections/pgx.html.j2", **pgx_context(config, r))
