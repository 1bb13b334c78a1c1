"""Section "Response model": cross-validated performance, the verdict against chance, calibration and sites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from stratify.report.context import img, read_json, table
from stratify.report.render import render


def model_context(config, r: Path) -> dict[str, Any]:
    """The metrics table, the verdict, what the outcome and the search were, the figures and the per-site table."""
    m = read_json(r / "model" / "metrics.json")
    task = m.get("task", "classification")
    key, name = ("auc", "AUC") if task == "classification" else ("r2", "R²")
    ok, verdict = _verdict(m, task, key, name)
    ep = m["endpoint"]
    what = {
        "response": "response",
        "remission": "remission",
        "pct_change": "percent change",
        "trd": f"TRD status after the index treatment ({ep.get('definition')})",
    }[ep["kind"]]
    base = (
        f"prevalence {m['prevalence']:.2f}"
        if task == "classification"
        else f"mean {m['outcome_mean']:.1f}, SD {m['outcome_sd']:.1f}"
    )
    ps = pd.DataFrame(m.get("per_site", []))
    if len(ps) > 1:
        ps = ps.rename(
            columns={key: f"{name} (out of fold)", "observed_mean": "observed mean", "predicted_mean": "predicted mean"}
        )
    return {
        "m": m,
        "ok": ok,
        "verdict": verdict,
        "what": what,
        "base": base,
        "search": _search(m),
        "learners": _learners(m),
        "n_bootstrap": config["model"]["n_bootstrap"],
        "defined": m.get("endpoint_defined_by") or [],
        "metrics": table(_metric_rows(m, task, key, name)),
        "performance": img(
            r / "model" / "performance.png", "ROC curves" if task == "classification" else "observed vs predicted"
        ),
        "calibration": img(r / "model" / "calibration.png", "calibration plot"),
        "per_site": table(ps) if len(ps) > 1 else None,
        "loso": m.get("cv_scheme") == "leave-one-site-out",
    }


def _metric_rows(m: dict[str, Any], task: str, key: str, name: str) -> pd.DataFrame:
    """One row per model: discrimination with its interval, error metrics, calibration and feature count."""
    rows = []
    for model, v in m["metrics"].items():
        cal = v.get("calibration", {})
        row = {"model": model, name: v[key], f"{name} 95% CI": f"{v[key + '_ci'][0]:.3f}-{v[key + '_ci'][1]:.3f}"}
        if task == "classification":
            row.update({"Brier": v["brier"], "balanced accuracy": v["balanced_accuracy"]})
        else:
            row.update({"RMSE": v["rmse"], "MAE": v["mae"]})
        row.update(
            {
                "calibration slope": _ci_text(cal.get("slope"), cal.get("slope_ci")),
                "calibration intercept": _ci_text(cal.get("intercept"), cal.get("intercept_ci")),
                "features": len(m["feature_sets"].get(model, [])),
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _verdict(m: dict[str, Any], task: str, key: str, name: str) -> tuple[bool, str]:
    """Whether the main model predicts better than chance, and the statement that says so and how it was tested."""
    main = m["metrics"].get("selected", m["metrics"].get("xgboost"))
    lo, hi = main[key + "_ci"]
    null_value = 0.5 if task == "classification" else 0.0
    perm = main.get("permutation_test")
    if perm:
        chance = perm["p_value"] >= 0.05
        verdict = (
            f"Cross-validated {name} {main[key]:.2f} (95% CI {lo:.2f}-{hi:.2f}); permutation test "
            f"p = {perm['p_value']:.3g} ({perm['n_permutations']} permutations of the outcome, so the smallest "
            f"possible p is {1 / (perm['n_permutations'] + 1):.3g}; null {name} "
            f"{perm['null_mean']:.2f}, 95th percentile {perm['null_95th']:.2f}). "
        )
        verdict += (
            "The model's performance is not distinguishable from chance."
            if chance
            else "The model predicts better than chance."
        )
        if lo <= null_value <= hi and not chance:
            verdict += f" (The bootstrap interval includes {null_value:g}.)"
        ok = not chance
    else:
        ok = lo > null_value
        verdict = f"Cross-validated {name} {main[key]:.2f} (95% CI {lo:.2f}-{hi:.2f})."
        if lo <= null_value <= hi:
            verdict += (
                f" The interval includes {null_value:g}: the model's performance is not distinguishable from chance."
            )
        verdict += " No permutation test was run (model.n_permutations: 0)."
    if main.get("auc_definition"):
        verdict += (
            f" Under leave-one-site-out the AUC compares patients within the same site (pooled over sites "
            f"it is {main['auc_pooled']:.2f}, which also mixes in how each site's baseline rate differs from "
            "the other sites')."
        )
    if hi < null_value:
        verdict += (
            f" {name} below {null_value:g} is what models that fit noise under cross-validation produce; read "
            "it as no usable prediction, not as signal."
        )
    verdict += (
        f" The {name} interval comes from resampling patients' out-of-fold predictions and leaves out the "
        "variability of the cross-validation itself, so it is somewhat too narrow; the permutation test is "
        "the check against chance."
    )
    return ok, verdict


def _learners(m: dict[str, Any]) -> str:
    """Which learner the nested selection chose in each outer fold and for the final model, and
    how the adjustment covariates were handled."""
    folds = m.get("fold_learners") or []
    if not m.get("learner"):
        return ""
    out = (
        f"Learner choice: the inner cross-validation chose between {', '.join(m.get('learners', []))} by inner "
        "log loss (RMSE for regression) in each outer training set, so the main model (selected) includes the "
        f"choice in its cross-validated estimate; the outer folds chose {', '.join(folds) or 'nothing'}, and the "
        f"same procedure on all patients chose {m['learner']} for the final model. Every learner is shown below. "
    )
    if m.get("covariates"):
        out += (
            f"The genotype principal components ({', '.join(m['covariates'])}) adjust the fit rather than compete "
            "as predictors: a lightly penalised linear model of them is XGBoost's offset, and they are unpenalised "
            "in the elastic net; predictions hold them at their training mean. "
        )
    if (m.get("enet_params") or {}).get("interactions"):
        out += (
            "The final elastic net includes index-treatment x feature products (effect modification by the index "
            "treatment), chosen by its inner cross-validation over the additive model. "
        )
    return out


def _search(m: dict[str, Any]) -> str:
    """How the hyperparameters were chosen (inner cross-validation, budget, subsampled searches)."""
    sr = m.get("search", {})
    if not sr.get("n_candidates"):
        return "No hyperparameter search (model.search.n_candidates: 0). "
    return (
        f"Inside each outer training set, {sr['n_candidates']} XGBoost configurations were compared by "
        f"{sr['inner_folds']}-fold inner cross-validation with early stopping ({sr['early_stopping_rounds']} "
        "rounds), and the elastic net's penalty, and whether its index-treatment x feature products enter, on the "
        "same inner folds; the held-out patients were never used "
        "for tuning or choosing. "
        + (
            f"The time budget cut {sr['searches_cut_by_budget']} search(es) short. "
            if sr.get("searches_cut_by_budget")
            else ""
        )
        + (
            f"Training sets larger than {sr['max_patients']:,} patients were searched on a random "
            f"{sr['max_patients']:,} of them (model.search.max_patients); the chosen configuration was refitted "
            "on the whole training set. "
            if any(f.get("n_patients_searched", 0) < f.get("n_train", 0) for f in m.get("outer_folds", []))
            and sr.get("max_patients")
            else ""
        )
    )


def _ci_text(v, ci) -> str:
    if v is None or not np.isfinite(v):
        return ""
    return f"{v:.2f}" + (f" ({ci[0]:.2f} to {ci[1]:.2f})" if ci and np.all(np.isfinite(ci)) else "")


def section_model(config, r: Path) -> Markup:
    """The response-model section's HTML."""
    return render("sections/model.html.j2", **model_context(config, r))
