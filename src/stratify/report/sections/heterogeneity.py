"""Section "Treatment-effect heterogeneity": the test, the Personalized Advantage Index and the variance ratio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from stratify.report.context import img, kv, read_json, table
from stratify.report.render import render


def heterogeneity_context(config, r: Path) -> dict[str, Any]:
    """The heterogeneity stage's statement, what was analysed, the PAI table, figures and the sites' VR."""
    s = read_json(r / "heterogeneity" / "summary.json")
    if not s or not s.get("run"):
        return {"state": "missing" if not s else "not_run", "statement": s.get("statement")}
    return {
        "state": "run",
        "statement": s["statement"],
        "claimed": s["heterogeneity_claimed"],
        "kind": s["endpoint"]["kind"],
        "arms": s["arms"],
        "items": kv(_items(s)),
        "pai": table(_pai_rows(s)),
        "pai_figure": img(r / "heterogeneity" / "pai.png", "response by indicated arm"),
        "cate_figure": img(r / "heterogeneity" / "cate.png", "predicted individual effects"),
        "vr": _site_vr(r, s),
    }


def _items(s: dict[str, Any]) -> dict[str, Any]:
    """What was analysed and the test's result, as item/value rows."""
    arms, t, kind = s["arms"], s["test"], s["endpoint"]["kind"]
    ate = s["ate"]
    ate_txt = (
        f"{100 * ate['difference']:+.1f} percentage points (95% CI {100 * ate['ci95'][0]:+.1f} to "
        f"{100 * ate['ci95'][1]:+.1f}; p = {ate['p_value']:.3g})"
        if ate["difference"] is not None
        else ""
    )
    left = s.get("features_left_out") or {}
    items = {
        "arms (from column " + s["arm_column"] + ")": f"{arms['0']} (reference) vs {arms['1']}; effects are "
        f"{arms['1']} minus {arms['0']}",
        "patients analysed": ", ".join(f"{a}: {n}" for a, n in s["n_per_arm"].items())
        + f" (left out: {s.get('n_no_endpoint', 0)} without the endpoint, {s.get('n_other_arm', 0)} on another "
        f"treatment, {s.get('n_no_arm', 0)} without one)",
        f"{kind} rate": ", ".join(f"{a}: {v:.3f}" for a, v in s["response_rate"].items() if v is not None),
        f"average difference in {kind} (unadjusted)": ate_txt,
        "heterogeneity test (decision)": f"{t['method']}; p = {t['p_value']:.3g}, {t['rule']}",
        "median BLP slope (1: predictions track the effect; 0: no information)": t["beta2_median"],
        f"secondary: same test on {t['secondary']['cate']} (not used for the decision)": t["secondary"]["p_value"],
        "learners": f"{s['learner']}, {s['folds']}-fold cross-fitting; allocation probability of {arms['1']} "
        f"{s['propensity']:g} (observed share {s['allocation']['observed_share_arm1']:.2f})",
        "features": ", ".join(s["features"]),
    }
    if left:
        items["features left out"] = "; ".join(f"{k}: {v}" for k, v in left.items())
    return items


def _pai_rows(s: dict[str, Any]) -> pd.DataFrame:
    """The endpoint in patients who received their indicated arm against the others: all, top |PAI|, tertiles."""
    kind, pai = s["endpoint"]["kind"], s["pai"]
    rows = []
    for name, g in [
        ("all", pai["overall"]),
        (f"top {100 * pai['top']['share']:.0f}% |PAI|", pai["top"]),
        *((f"{x['tertile']} |PAI| tertile", x) for x in pai["tertiles"]),
    ]:
        rows.append(
            {
                "patients": name,
                "n indicated arm": g["n_indicated"],
                "n other arm": g["n_not_indicated"],
                f"{kind} rate, indicated arm": g["rate_indicated"],
                f"{kind} rate, other arm": g["rate_not_indicated"],
                "difference (95% CI)": (
                    f"{g['difference']:+.3f} ({g['ci95'][0]:+.3f} to {g['ci95'][1]:+.3f})"
                    if g["difference"] is not None
                    else ""
                ),
                "p (descriptive)": g["p_value"],
            }
        )
    return pd.DataFrame(rows)


def _site_vr(r: Path, s: dict[str, Any]) -> dict[str, Any] | None:
    """The variance ratio between the arms with sites as studies (None when not part of the summary)."""
    v = s.get("variance_ratio") or {}
    if not v:
        return None
    if not v.get("run"):
        return {"run": False, "reason": v.get("reason", "")}
    p = v["pooled"][0]["lnVR"]
    return {
        "run": True,
        "v": v,
        "fixed": p["fixed"],
        "random": p["random"],
        "figure": img(r / "heterogeneity" / "vr_forest.png", "variance-ratio forest plot by site"),
    }


def section_heterogeneity(config, r: Path) -> Markup:
    """The treatment-effect heterogeneity section's HTML."""
    return render("sections/heterogeneity.html.j2", **heterogeneity_context(config, r))
