"""Section "Clinical": the endpoint, severity, prorated and converted scores, CRP and the NESDA strata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from stratify.io.tables import read_table
from stratify.report.context import kv, read_json, table
from stratify.report.render import render


def clinical_context(config, r: Path) -> dict[str, Any]:
    """The clinical stage's counts as an item/value table, and the NESDA strata when computed."""
    s = read_json(r / "clinical" / "summary.json")
    p = read_table(r / "clinical" / "patients.parquet", kind="clinical.patients")
    ep = config["endpoint"]
    items = {
        "endpoint": f"{ep['kind']} on {ep['instrument']} at week {ep['week']:g}",
        f"{ep['kind']} rate (patients with the endpoint)": s.get("endpoint_rate"),
        "baseline severity, mean (SD)": f"{p['baseline_severity'].mean():.1f} ({p['baseline_severity'].std():.1f})",
        "prorated totals (missing items)": s.get("prorated_totals"),
        "totals missing (too many items missing)": s.get("missing_totals"),
        ">= 2 failed adequate trials in the current episode": int(p.get("trd_2plus_failures", pd.Series()).sum()),
    }
    for inst, n in (s.get("endpoint_converted") or {}).items():
        src = p.loc[p["endpoint_converted_from"] == inst, "endpoint_conversion_source"].iloc[0]
        items[f"endpoint CONVERTED from {inst} to {ep['instrument']} ({src})"] = n
    if "crp_acute" in s:
        what = {
            "exclude": "left out of indices and strata",
            "keep": "kept in indices and strata",
            "other_visit": "another visit used where there was one",
        }[s["crp_acute_policy"]]
        items[f"CRP > {config['clinical']['crp_acute_mg_l']:g} mg/L (possible acute infection; {what})"] = s[
            "crp_acute"
        ]
        items["CRP below detection (kept at the limit)"] = s["crp_below_detection"]
    if s.get("total_only_visits"):
        items["visits with only an instrument total (total-only; no items)"] = (
            f"{s['total_only_visits']} visits of {s.get('total_only_patients', 0)} patients"
        )
    for why, n in (s.get("dimensions_missing") or {}).items():
        items[f"symptom dimensions missing: {why}"] = f"{n} patients"
    strata = None
    if s.get("nesda_strata"):
        st = pd.Series(s["nesda_strata"]).rename("patients").rename_axis("CRP x AES stratum").reset_index()
        strata = table(st)
    return {"items": kv(items), "strata": strata}


def section_clinical(config, r: Path) -> Markup:
    """The clinical section's HTML."""
    return render("sections/clinical.html.j2", **clinical_context(config, r))
