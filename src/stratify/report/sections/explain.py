"""Section "Explanations (SHAP)": importance, dependence, interactions, the per-patient view, waterfalls
and SHAP per subtype."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from stratify.io.tables import read_table
from stratify.report.context import fmt, img, read_json, read_tsv, table
from stratify.report.pseudonym import active, pid
from stratify.report.render import render

PATIENT_VIEW_MAX = 50_000  # patients embedded in the per-patient view (about 40 bytes per feature each)


def explain_context(config, r: Path) -> dict[str, Any]:
    """SHAP importance and figures of the final model, the per-patient view and SHAP per subtype."""
    ex = r / "explain"
    s = read_json(ex / "summary.json")
    scale = s.get("scale", "log-odds")
    imp = read_tsv(ex / "importance.tsv")
    if imp.empty:
        imp = pd.DataFrame(columns=["feature", "mean_abs_shap"])
    dep = s.get("dependence") or {}
    miss = dep.get("n_missing", {})
    inter = s.get("interactions") or {}
    interactions = None
    if inter.get("additive"):
        interactions = {"additive": inter.get("statement")}
    elif (ex / "interactions.tsv").exists():
        sub = (
            f"a random subsample of {inter.get('n_patients_used')} patients (seed {inter.get('seed')})"
            if inter.get("subsampled")
            else f"all {inter.get('n_patients_used')} patients"
        )
        interactions = {"additive": None, "subsample": sub, "table": table(read_tsv(ex / "interactions.tsv"))}
    wf = [] if active() else (s.get("waterfalls") or [])  # their titles name the patient
    return {
        "scale": scale,
        "task": s.get("task", "classification"),
        "base": fmt(s.get("base_value", s.get("base_value_log_odds"))),
        "values": s.get("values", "TreeExplainer SHAP values of the XGBoost model"),
        "learner": s.get("learner", "xgboost"),
        "importance": table(imp.head(15)),
        "beeswarm": img(ex / "beeswarm.png", "SHAP beeswarm"),
        "dependence": (
            {
                "missing": ", ".join(f"{f} {miss.get(f, 0)}" for f in dep.get("features", [])),
                "figure": img(ex / "dependence.png", "SHAP dependence plots"),
            }
            if dep
            else None
        ),
        "interactions": interactions,
        "patient_view": _patient_view(r, s, scale),
        "waterfalls": [_waterfall(ex, w, scale) for w in wf],
        **_by_subtype(ex, s, imp),
    }


def _waterfall(ex: Path, w: dict[str, Any], scale: str) -> dict[str, Any]:
    pred = f"prediction {fmt(w['prediction'])} {scale}"
    if "probability" in w:
        pred += f", probability {w['probability']:.2f}"
    return {
        "patient_id": w["patient_id"],
        "reason": w["reason"],
        "prediction": pred,
        "figure": img(ex / w["file"], "waterfall of " + str(w["patient_id"])),
    }


def _by_subtype(ex: Path, s: dict[str, Any], imp: pd.DataFrame) -> dict[str, Any]:
    """Mean |SHAP| and mean SHAP of the top features within each subtype, or why there are none."""
    by = ex / "importance_by_subtype.tsv"
    t = read_tsv(by, dtype={"subtype": str})
    if not len(t):
        statement = (s.get("by_subtype") or {}).get("statement")
        return {"by_subtype": None, "by_subtype_statement": statement.capitalize() if statement else None}
    top = imp["feature"].head(8).tolist()
    t = t[t["feature"].isin(top)]
    wide = pd.DataFrame({"feature": top})
    for st_name, g in t.groupby("subtype", sort=True):
        g = g.set_index("feature").reindex(top)
        n = int(g["n"].dropna().iloc[0]) if g["n"].notna().any() else 0
        wide[f"{st_name} (n={n}) mean |SHAP|"] = g["mean_abs_shap"].to_numpy()
        wide[f"{st_name} mean SHAP"] = g["mean_shap"].to_numpy()
    return {"by_subtype": table(wide), "by_subtype_statement": None}


def _patient_view(r: Path, s: dict[str, Any], scale: str) -> dict[str, Any]:
    """A searchable per-patient explanation: every patient's SHAP values and feature values
    embedded as JSON, drawn as a waterfall-style SVG by ``static/report.js`` (no library, no
    network)."""
    sv_path = r / "explain" / "shap_values.parquet"
    if not sv_path.exists():
        return {"state": "missing"}
    sv = pd.read_parquet(sv_path)
    feats = [c for c in sv.columns if c != "patient_id"]
    if len(sv) > PATIENT_VIEW_MAX:
        return {"state": "too_many", "n": len(sv), "max": PATIENT_VIEW_MAX}
    fx = read_table(r / "features" / "features.parquet", kind="features").set_index("patient_id")
    vals = fx.reindex(sv["patient_id"])[[f for f in feats if f in fx.columns]].reindex(columns=feats)
    base = float(s.get("base_value", s.get("base_value_log_odds", 0.0)))
    shap_m = sv[feats].to_numpy(dtype=float)
    pred = base + shap_m.sum(axis=1)

    def num(v):
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
        return None if not np.isfinite(f) else round(f, 4)

    ids = [pid(x) for x in sv["patient_id"]]
    patients = {
        i: [round(float(pr), 4), [round(float(v), 4) for v in row], [num(v) for v in xrow]]
        for i, pr, row, xrow in zip(ids, pred, shap_m, vals.itertuples(index=False, name=None))
    }
    order = np.argsort(pred)
    picks = (
        {"highest": ids[int(order[-1])], "median": ids[int(order[len(order) // 2])], "lowest": ids[int(order[0])]}
        if len(ids)
        else {}
    )
    data = {
        "features": feats,
        "base": round(base, 6),
        "scale": scale,
        "task": s.get("task", "classification"),
        "max_display": 12,
        "initial": picks.get("highest"),
        "patients": patients,
    }
    # JSON in a <script> element is not HTML-escaped; "</" is, so the data cannot close the element
    payload = Markup(json.dumps(data, separators=(",", ":")).replace("</", "<\\/"))
    return {"state": "shown", "n": len(ids), "picks": picks, "payload": payload}


def section_explain(config, r: Path) -> Markup:
    """The explanations section's HTML."""
    return render("sections/explain.html.j2", **explain_context(config, r))
