"""The model card of a trained response model (Mitchell et al. 2019, "Model cards for model
reporting"): data, metrics with intervals and baselines, intended use and limitations."""

from __future__ import annotations

import re
from typing import Any

import numpy as np


def format_ci(v: Any, ci: Any, fmt: str = ".2f") -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
        return "n/a"  # absent, or a metrics.json edited by hand
    s = format(v, fmt)
    if (
        isinstance(ci, (list, tuple))
        and len(ci) == 2
        and all(isinstance(c, (int, float)) and np.isfinite(c) for c in ci)
    ):
        s += f" ({format(ci[0], fmt)} to {format(ci[1], fmt)})"
    return s


def _endpoint_words(ep: dict[str, Any], task: str) -> str:
    """What the model predicts, in words."""
    if task == "classification":
        return {
            "response": f"response (>= 50% reduction of {ep['instrument']}) at week {ep['week']:g}",
            "remission": f"remission on {ep['instrument']} at week {ep['week']:g}",
            "trd": f"TRD status ({ep.get('definition')}) after the index treatment",
        }[ep["kind"]]
    return f"percent change of {ep['instrument']} from week 0 to week {ep['week']:g}"


def _metrics_table(m: dict[str, Any], task: str) -> list[str]:
    """The Markdown table of every model's metrics with intervals."""
    if task == "classification":
        head = [
            "| model | AUC (95% CI) | Brier | balanced accuracy | calibration slope | calibration intercept |",
            "|---|---|---|---|---|---|",
        ]
        rows = [
            f"| {k} | {format_ci(v['auc'], v['auc_ci'])} | {v['brier']:.3f} | {v['balanced_accuracy']:.2f} | "
            f"{format_ci(v['calibration'].get('slope'), v['calibration'].get('slope_ci'))} | "
            f"{format_ci(v['calibration'].get('intercept'), v['calibration'].get('intercept_ci'))} |"
            for k, v in m.items()
        ]
    else:
        head = [
            "| model | R² (95% CI) | RMSE | MAE | calibration slope | calibration intercept |",
            "|---|---|---|---|---|---|",
        ]
        rows = [
            f"| {k} | {format_ci(v['r2'], v['r2_ci'])} | {v['rmse']:.1f} | {v['mae']:.1f} | "
            f"{format_ci(v['calibration'].get('slope'), v['calibration'].get('slope_ci'))} | "
            f"{format_ci(v['calibration'].get('intercept'), v['calibration'].get('intercept_ci'), '.1f')} |"
            for k, v in m.items()
        ]
    return head + rows


def _baseline_words(t: dict[str, Any], task: str) -> str:
    """The outcome's baseline in the training cohort (prevalence, or mean and SD)."""
    if task == "classification":
        return f"prevalence {t['prevalence']:.2f}"
    return f"outcome mean {t['outcome_mean']:.1f}, SD {t['outcome_sd']:.1f}"


def _permutation_verdict(perm: dict[str, Any] | None) -> str:
    """The permutation test's verdict: better than chance or not (or not run)."""
    if not perm:
        return "No permutation test was run (model.n_permutations: 0)."
    chance = perm["p_value"] >= 0.05
    return (
        f"Permutation test: p = {perm['p_value']:.3g} over {perm['n_permutations']} permutations of the "
        f"outcome (null {perm['statistic']} mean {perm['null_mean']:.2f}). "
        + (
            "**The model's performance is not distinguishable from chance; do not use its predictions.**"
            if chance
            else "The model does better than chance on this cohort."
        )
    )


def _limitations(meta: dict[str, Any]) -> list[str]:
    """The limitations the card states: one cohort, CV intervals, missing features, SHAP, PCs, TRD."""
    t = meta["training"]
    defined = meta.get("endpoint_defined_by") or []
    lims = [
        "Trained on one cohort" + (f" of {t['n_sites']} sites" if t["n_sites"] > 1 else "") + "; performance in "
        "another population is unknown until measured there (`stratify model apply`).",
        "Cross-validated metrics estimate performance in new patients from the same sites"
        + (
            " and, with leave-one-site-out, at a site not seen in training"
            if t.get("cv_scheme", t["cv"].split(" over ")[0]) == "leave-one-site-out"
            else ""
        )
        + "; the bootstrap intervals leave out the variability of the cross-validation itself and are somewhat "
        "too narrow.",
        "Missing feature values are scored by XGBoost's learned default branches; a cohort that lacks a feature "
        "entirely is outside what the model was trained on.",
        "SHAP values explain the model, not the patient's biology; they are not causal effects.",
    ]
    pcs = [f for f in meta["features"] if re.fullmatch(r"pc\d+", f)]
    if pcs:
        lims.append(
            f"The genotype principal components ({', '.join(pcs)}) are computed within the training cohort; "
            "their axes do not carry over to another cohort, so retrain without them before applying the "
            "model elsewhere."
        )
    if defined:
        lims.append(
            f"{', '.join(defined)} enter(s) the TRD definition itself; their importance is partly by construction."
        )
    return lims


def _learner_lines(meta: dict[str, Any], summary: dict[str, Any], what: str) -> list[str]:
    """Which learner predicts, how it was chosen, and both learners' configurations."""
    learner = meta.get("learner", "xgboost")
    kind = "classifier" if meta["task"] == "classification" else "regressor"
    name = {"xgboost": f"XGBoost {kind} on a covariate offset", "elastic_net": f"elastic-net {kind}"}[learner]
    folds = summary.get("fold_learners") or []
    cov = summary.get("covariates") or []
    out = [
        f"- {name} predicting {what}: chosen among {', '.join(summary.get('learners', [learner]))} by the "
        "inner cross-validation on all patients (lower inner log loss, RMSE for regression)"
        + (f"; the outer folds chose {', '.join(folds)}." if folds else "."),
        "- XGBoost hyperparameters (inner search on all patients): "
        + ", ".join(f"{k} {v}" for k, v in meta["xgboost_params"].items())
        + ".",
    ]
    if meta.get("enet_params"):
        ep = meta["enet_params"]
        out.append(
            "- Elastic net: "
            + ", ".join(f"{k} {v}" for k, v in ep.items() if k != "interactions")
            + " (covariates unpenalised; metaboliser ranks also as one indicator per level"
            + (
                "; with index-treatment x feature products, chosen by the inner cross-validation)."
                if ep.get("interactions")
                else ")."
            )
        )
    if cov:
        out.append(
            f"- Covariates ({', '.join(cov)}): adjustment, not free predictors; a lightly penalised linear model of "
            "them is XGBoost's offset (base_margin), so the trees model only what they do not."
        )
    return out


def model_card(meta: dict[str, Any], summary: dict[str, Any]) -> str:
    """A model card (Markdown): the model, its data, its metrics with intervals and baselines,
    intended use and limitations, in the words the numbers allow."""
    t, ep, task = meta["training"], meta["endpoint"], meta["task"]
    m = summary["metrics"]
    what = _endpoint_words(ep, task)
    base = _baseline_words(t, task)
    verdict = _permutation_verdict(m.get("selected", m.get("xgboost", {})).get("permutation_test"))
    lims = _limitations(meta)
    feats = ", ".join(meta["features"])
    return "\n".join(
        [
            f"# Model card: {t['cohort']} response model",
            "",
            f"Created {meta['created']} by stratify {meta['stratify_version']} (XGBoost {meta['xgboost_version']}).",
            "",
            "## Model",
            "",
            *_learner_lines(meta, summary, what),
            f"- Features ({len(meta['features'])}): {feats}.",
            "- Files: `xgboost.json` (the booster, XGBoost JSON), `model_features.json` (features, preprocessing, "
            "training distribution); no pickle.",
            "",
            "## Data",
            "",
            f"- Cohort `{t['cohort']}`: {t['n']} patients with the endpoint ({base}); sites: {', '.join(t['sites'])}.",
            f"- Evaluation: nested cross-validation, {t['cv']}; metrics from out-of-fold predictions with "
            "percentile bootstrap intervals over patients.",
            "",
            "## Metrics",
            "",
            *_metrics_table(m, task),
            "",
            verdict,
            "",
            "## Intended use",
            "",
            "Research: to study which baseline information predicts the outcome and how much, and to compare "
            "cohorts. **Not for clinical decisions about individual patients**: it has not been prospectively "
            "validated, and in antidepressant trials outcomes vary about as much on placebo as on drug.",
            "",
            "## Limitations",
            "",
            *[f"- {x}" for x in lims],
            "",
        ]
    )
