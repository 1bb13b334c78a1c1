"""Section "Subtypes": whether clusters exist and are stable, their profiles, and the outcome by subtype."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from stratify.report.context import img, kv, read_json, read_tsv, table
from stratify.report.render import render


def subtypes_context(config, r: Path) -> dict[str, Any]:
    """The subtype stage's statement, tests, figures, profiles and outcome per subtype."""
    s = read_json(r / "subtype" / "summary.json")
    figures = [
        img(r / "subtype" / f, alt)
        for f, alt in (("criterion.png", "selection criterion by k"), ("profiles.png", "cluster profiles"))
        if (r / "subtype" / f).exists()
    ]
    prof = read_tsv(r / "subtype" / "profiles.tsv")
    profiles = None
    if len(prof):
        cols = ["cluster", "subtype", "n", "stability", "mean_jaccard", *s["features"]]
        profiles = table(prof[[c for c in cols if c in prof.columns]])
    outcome = (
        _outcome(s, config["endpoint"]["kind"]) if s.get("outcome_by_subtype") else {"outcome": None, "adds": None}
    )
    return {
        "s": s,
        "missing": s.get("features_missing") or [],
        "figures": figures,
        "profiles": profiles,
        "tests": kv(
            {
                "existence test": _existence(s),
                "stability": _stability(s),
                "detectable separation": _detectable(s),
            }
        ),
        **outcome,
    }


def _existence(s: dict[str, Any]) -> str:
    e = s.get("existence_test") or {}
    if not e.get("run"):
        return f"not run: {e.get('reason', '')}"
    null = (
        "a single Gaussian with the data's covariance"
        if s.get("existence_null") == "gaussian"
        else "a Gaussian copula with each feature's own marginal (rank-based normal scores)"
    )
    return (
        f"SigClust-style parametric bootstrap against {null}: "
        f"2-means cluster index {e['statistic']:.3f} against {e['null_mean']:.3f} (SD {e['null_sd']:.3f}) "
        f"in {e['n_sim']} null simulations, p = {e['p_value']:.3g} (alpha {s['alpha']:g})"
        + (
            f"; statistic and null data on a fixed random subsample of {e['n_used']:,} of {e['n']:,} patients"
            if e.get("n_used") and e.get("n") and e["n_used"] < e["n"]
            else ""
        )
    )


def _detectable(s: dict[str, Any]) -> str:
    """The smallest separation the run could have detected, with how it was simulated."""
    p = s.get("detectable_separation") or {}
    if not p.get("run"):
        return f"not simulated: {p.get('reason', 'not in this summary')}"
    tried = ", ".join(f"{k} SD: {v['detected']} of {v['of']}" for k, v in p["detected"].items())
    found = (
        f"{p['separation_sd']:g} SD"
        if p["separation_sd"] is not None
        else f"none up to {max(p['grid']):g} SD (the largest simulated)"
    )
    return (
        f"smallest separation detected with {p['power']:.0%} power: {found} (detected per separation: {tried}; "
        f"up to {p['n_replicates']} simulated cohorts of {p['n']:,} patients each, two equal groups, {p['n_null']} null "
        f"simulations per test, stability not simulated, so a lower bound; {p['seconds']:g} s)"
    )


def _stability(s: dict[str, Any]) -> str:
    st = s.get("stability") or {}
    if not st.get("run"):
        return f"not run: {st.get('reason', '')}"
    return (
        f"{st['n_boot']} bootstrap resamples"
        + (
            f" of a fixed random subsample of {st['n_used']:,} of {st['n']:,} patients"
            if st.get("n_used") and st.get("n") and st["n_used"] < st["n"]
            else ""
        )
        + f", mean adjusted Rand index {st['mean_ari']:.2f}; a cluster "
        f"is stable from a mean Jaccard of {s['stable_jaccard']:g} (Hennig 2007)"
    )


def _outcome(s: dict[str, Any], kind: str) -> dict[str, Any]:
    """The endpoint per subtype with its interval, and whether subtype adds to baseline severity."""
    rows = [
        {
            "cluster": o.get("cluster", ""),
            "subtype": o["subtype"],
            "n": o["n"],
            "with endpoint": o["n_with_endpoint"],
            f"{kind} rate": o["endpoint_rate"],
            "95% CI": f"{o['ci'][0]:.2f}-{o['ci'][1]:.2f}" if o["ci"][0] is not None else "",
        }
        for o in s["outcome_by_subtype"]
    ]
    add = s.get("adds_to_severity") or {}
    return {"kind": kind, "outcome": table(pd.DataFrame(rows)), "adds": add if add.get("run") else None}


def section_subtypes(config, r: Path) -> Markup:
    """The subtypes section's HTML."""
    return render("sections/subtypes.html.j2", **subtypes_context(config, r))
