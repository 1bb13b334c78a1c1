"""Section "Treatment resistance": patients per TRD definition and the concordance between definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from stratify.report.context import read_json, read_tsv, table
from stratify.report.render import render

TRD_LABELS = {
    "sforzini_2021": "Sforzini et al. 2021 (Delphi consensus)",
    "sforzini_pk": "Sforzini, not counting possible pharmacokinetic non-response",
    "thase_rush_1997": "Thase & Rush 1997 stage",
    "msm_band": "Maudsley Staging Method band (Fekadu 2009)",
    "conway_2017": "Conway, George & Sackeim 2017 stage",
    "markowitz_2022": "Markowitz et al. 2022 (psychotherapy required)",
}


def trd_context(config, r: Path) -> dict[str, Any]:
    """Trial counts, patients per definition and category, and the pairwise concordance."""
    s = read_json(r / "trd" / "summary.json")
    if "skipped" in s:
        return {"skipped": s["skipped"]}
    rows = []
    for col, counts in s.get("definitions", {}).items():
        for k, v in counts.items():
            rows.append({"definition": TRD_LABELS.get(col, col), "category": k, "patients": v})
    conc = read_tsv(r / "trd" / "concordance.tsv")
    return {
        "skipped": None,
        "s": s,
        "definitions": table(pd.DataFrame(rows), max_rows=60),
        "concordance": table(conc.round(3), max_rows=20),
    }


def section_trd(config, r: Path) -> Markup:
    """The treatment-resistance section's HTML."""
    return render("sections/trd.html.j2", **trd_context(config, r))
