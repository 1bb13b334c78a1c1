"""Stage "model": an XGBoost response model with nested, site-aware cross-validation and
honestly reported metrics.

Outcomes (``endpoint.kind``): response or remission at the endpoint week, TRD status under
one published definition (``endpoint.definition``), all binary (classification), or the
percent change of the endpoint instrument's total (regression).

Nested cross-validation. The outer folds estimate performance: leave-one-site-out when the
cohort has at least 3 sites (``model.cv: auto``), so every reported number is a prediction
for patients of a site the model never saw; stratified k-fold otherwise. Inside each outer
training set, a seeded random search (:func:`stratify.model.cv.inner_search`) tries up to
``model.search.n_candidates`` XGBoost configurations by inner k-fold cross-validation, each
with early stopping on the inner validation fold, within ``model.search.time_budget_s``;
the chosen configuration (and its mean early-stopped number of trees) is refitted on the
whole outer training set and predicts the held-out fold. The held-out fold is never used
for tuning or stopping.

Baselines on the same outer folds: the majority model (one constant, the cohort's
prevalence) or the mean model (regression); penalised logistic (L2) or ridge regression on the
clinical features; and XGBoost without the genetic features, refitted with the
configuration chosen for the main model in the same fold, so a reader sees what each data
domain adds.

Metrics with percentile bootstrap intervals over patients: AUC (within sites under leave-one-site-out,
:func:`stratify.model.metrics.stratified_auc`), balanced accuracy, Brier score, calibration slope and
intercept (classification); R², RMSE, MAE, calibration slope and intercept (regression). The main model
gets a permutation test (the outer cross-validation repeated on permuted outcomes with the final
model's configuration). The final model is tuned and refitted on all patients and saved as XGBoost
JSON (no pickle); :func:`fit_final_model` makes it alone (leave-one-cohort-out).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import InputError
from stratify.model.calibration import calibration, calibration_ci, logistic_fit
from stratify.model.cv import (
    SEARCH_DEFAULTS,
    check_classes,
    choose_hyperparameters,
    cross_validated_predictions,
    draw_candidates,
    outer_folds,
    scheme_of,
)
from stratify.model.learners import (
    CLASSIFICATION,
    REGRESSION,
    make_logistic,
    make_ridge,
    task_of,
)
from stratify.model.linear import Design
from stratify.model.metrics import PRIMARY, metrics_with_ci, regression_metrics_with_ci
from stratify.model.nested import MAIN, nested_cv
from stratify.model.permutation import permutation_test
from stratify.model.response import (
    ELASTIC_NET,
    LEARNERS,
    XGBOOST,
    LearnerSpec,
    covariate_columns,
    fit_learner,
    linear_design,
)

log = logging.getLogger(__name__)

# ``logistic_fit`` stays importable from here for stratify.subtype.mixture; it lives in
# stratify.model.calibration.
__all__ = ["ModelOptions", "fit_response_model", "logistic_fit", "model_options"]


@dataclass(frozen=True)
class ModelOptions:
    """The options of :func:`fit_response_model` (the config's ``endpoint``, ``seed`` and ``model``).

    ``endpoint`` decides the task (:func:`~stratify.model.learners.task_of`) and names the
    endpoint in messages; ``cv`` is ``auto``, ``site`` or ``kfold`` (:func:`~stratify.model.cv.outer_folds`);
    ``first_params`` holds the first candidate's ``n_estimators``, ``max_depth`` and
    ``learning_rate`` (used as they are when ``search["n_candidates"]`` is 0); ``search`` is
    :data:`~stratify.model.cv.SEARCH_DEFAULTS` updated with ``model.search``. The defaults are
    the config schema's.

    >>> o = ModelOptions(endpoint={"kind": "response"})
    >>> o.task, o.folds, o.search["n_candidates"], o.first_params["max_depth"]
    ('classification', 5, 6, 2)
    """

    endpoint: dict[str, Any]
    seed: int = 0
    folds: int = 5
    cv: str = "auto"
    n_bootstrap: int = 1000
    n_permutations: int = 100
    first_params: dict[str, Any] = field(
        default_factory=lambda: {"n_estimators": 200, "max_depth": 2, "learning_rate": 0.05}
    )
    search: dict[str, Any] = field(default_factory=lambda: dict(SEARCH_DEFAULTS))
    learners: tuple[str, ...] = LEARNERS

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return task_of(self.endpoint)


def model_options(config: dict[str, Any]) -> ModelOptions:
    """The response model's options from a validated config (``endpoint``, ``seed``, ``model``)."""
    mc = config["model"]
    return ModelOptions(
        endpoint=dict(config.get("endpoint", {})),
        seed=config["seed"],
        folds=mc["folds"],
        cv=mc.get("cv", "auto"),
        n_bootstrap=mc["n_bootstrap"],
        n_permutations=mc["n_permutations"],
        first_params={k: mc[k] for k in ("n_estimators", "max_depth", "learning_rate") if k in mc},
        search={**SEARCH_DEFAULTS, **mc.get("search", {})},
        learners=tuple(mc.get("learners", LEARNERS)),
    )


def _no_endpoint_error(summary: dict[str, Any], endpoint: dict[str, Any], n: int) -> InputError:
    """No patient has the endpoint: why, from the features stage's reasons (e.g. no such instrument)."""
    ep = endpoint
    what = ep.get("kind", "?") + (f" on {ep['instrument']}" if ep.get("instrument") and ep.get("kind") != "trd" else "")
    reasons = summary.get("endpoint_missing_reasons") or {}
    why = "; ".join(f"{v} patient(s): {k}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return InputError(
        f"endpoint ({what}): none of the {n} patients has a usable endpoint value"
        + (f" ({why})" if why else "")
        + "; check endpoint.instrument, endpoint.week and "
        "endpoint.kind in the config against the symptoms table"
    )


def _endpoint_data(features: pd.DataFrame, summary: dict[str, Any], options: ModelOptions):
    """The patients with the endpoint: their table, outcome ``y``, feature matrix and sites."""
    feats: list[str] = summary["model_features"]
    data = features[features["y"].notna()].reset_index(drop=True)
    if data.empty:
        raise _no_endpoint_error(summary, options.endpoint, len(features))
    y = data["y"].astype(int if options.task == CLASSIFICATION else float).to_numpy()
    X = data[feats].to_numpy(dtype=float)
    return data, y, X, data["site"].astype(str).to_numpy()


def _outer_cv(y: np.ndarray, sites: np.ndarray, options: ModelOptions):
    """The outer folds and their description, after checking that the endpoint allows them."""
    task, o = options.task, options
    if task == CLASSIFICATION:
        if np.unique(y).size < 2:
            check_classes(y, o.folds, scheme_of(sites, o.cv, o.folds, task))
        folds, cv_info = outer_folds(y, sites, task=task, scheme=o.cv, folds=o.folds, seed=o.seed)
        check_classes(y, o.folds, cv_info)
        return folds, cv_info
    info = scheme_of(sites, o.cv, o.folds, task)
    n_need = 2 * (info["n_folds"] if info["scheme"] == "leave-one-site-out" else o.folds)
    if len(y) < n_need:
        raise InputError(
            f"only {len(y)} patients have the endpoint; too few for {info['description']} "
            "cross-validation" + ("" if info["scheme"] == "leave-one-site-out" else "; lower model.folds")
        )
    return outer_folds(y, sites, task=task, scheme=o.cv, folds=o.folds, seed=o.seed)


def _all_metrics(oof: pd.DataFrame, y: np.ndarray, strata: np.ndarray | None, options: ModelOptions) -> dict[str, Any]:
    """Metrics with bootstrap intervals of every model's out-of-fold predictions."""
    metrics: dict[str, Any] = {}
    nb, seed = options.n_bootstrap, options.seed
    for col in [c for c in oof.columns if c not in ("patient_id", "site", "y")]:
        t1 = time.monotonic()
        p = oof[col].to_numpy()
        if options.task == CLASSIFICATION:
            metrics[col] = metrics_with_ci(y, p, n_boot=nb, seed=seed, strata=strata)
            metrics[col]["calibration"] = calibration(y, p)
            if col != "majority":
                metrics[col]["calibration"].update(calibration_ci(y, p, n_boot=nb, seed=seed + 2))
            log.info(
                "%s: AUC %.3f (95%% CI %.3f-%.3f), bootstrap %d resamples in %.1fs",
                col,
                metrics[col]["auc"],
                *metrics[col]["auc_ci"],
                nb,
                time.monotonic() - t1,
            )
        else:
            metrics[col] = regression_metrics_with_ci(y, p, n_boot=nb, seed=seed)
            log.info(
                "%s: R² %.3f (95%% CI %.3f-%.3f), RMSE %.2f, bootstrap %d resamples in %.1fs",
                col,
                metrics[col]["r2"],
                *metrics[col]["r2_ci"],
                metrics[col]["rmse"],
                nb,
                time.monotonic() - t1,
            )
    return metrics


def _per_site(sites: np.ndarray, y: np.ndarray, pred: np.ndarray, task: str) -> list[dict[str, Any]]:
    """The main model's primary statistic and observed and predicted means per site."""
    name, stat = PRIMARY[task]
    rows = []
    for s_ in sorted(np.unique(sites)):
        i = sites == s_
        ok = (task == REGRESSION and i.sum() > 2) or (task == CLASSIFICATION and np.unique(y[i]).size > 1)
        rows.append(
            {
                "site": s_,
                "n": int(i.sum()),
                name: stat(y[i], pred[i]) if ok else None,
                "observed_mean": float(y[i].mean()),
                "predicted_mean": float(pred[i].mean()),
            }
        )
    return rows


def _permutation(
    X: np.ndarray,
    y: np.ndarray,
    *,
    spec: LearnerSpec,
    folds,
    cv_info: dict[str, Any],
    observed: float,
    strata: np.ndarray | None,
    options: ModelOptions,
    threads: int,
) -> dict[str, Any]:
    """The permutation test of the main model with the final model's learner and configuration held fixed."""
    t1 = time.monotonic()
    task, seed = options.task, options.seed
    res = permutation_test(
        lambda: spec,
        X,
        y,
        folds=folds if cv_info["test_sites"] else options.folds,
        observed=observed,
        n_perm=options.n_permutations,
        seed=seed,
        task=task,
        strata=strata,
        workers=threads,
    )
    res["hyperparameters"] = (
        f"the final model's learner ({spec.learner}) and configuration (chosen on all patients), held fixed: "
        "the learner choice and search are not repeated per permutation"
    )
    log.info(
        "selected model: permutation p = %.4g (%d permutations, %.1fs)",
        res["p_value"],
        options.n_permutations,
        time.monotonic() - t1,
    )
    return res


def _add_baselines(
    oof: pd.DataFrame,
    data: pd.DataFrame,
    y: np.ndarray,
    folds,
    *,
    task: str,
    seed: int,
    clin: list[str],
    lin_name: str,
    pred_ng: np.ndarray | None,
) -> None:
    """Add the baselines' out-of-fold predictions to ``oof``: the clinical linear model, XGBoost
    without the genetic features, and the constant."""
    if clin:
        make_lin = (lambda: make_logistic(seed=seed)) if task == CLASSIFICATION else (lambda: make_ridge(seed=seed))
        oof[lin_name] = cross_validated_predictions(make_lin, data[clin].to_numpy(dtype=float), y, folds)
    if pred_ng is not None:
        oof["xgboost_no_genetic"] = pred_ng
    # one constant for everyone, the cohort's prevalence (mean): AUC exactly 0.5 and R² exactly 0 by
    # construction (a per-fold constant would make the pooled AUC drift below 0.5 under leave-one-site-out)
    oof["majority" if task == CLASSIFICATION else "mean"] = float(y.mean())


def _out_of_fold_predictions(
    data: pd.DataFrame,
    X: np.ndarray,
    y: np.ndarray,
    folds,
    cv_info: dict[str, Any],
    *,
    options: ModelOptions,
    candidates: list[dict[str, Any]],
    budget: float,
    clin: list[str],
    lin_name: str,
    nongen_cols: list[int] | None,
    covariates: list[int],
    design: Design,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The nested cross-validation's out-of-fold predictions of the selected model, each
    learner and the baselines (one column per model), and one record per outer fold."""
    sc = options.search
    log.info(
        "nested cross-validation: %s; inner search %s",
        cv_info["description"],
        f"{len(candidates)} candidates, {sc['inner_folds']}-fold, early stopping after "
        f"{sc['early_stopping_rounds']} rounds, {budget:.0f}s per search"
        if candidates
        else "off",
    )
    preds, fold_rows = nested_cv(
        X,
        y,
        folds,
        cv_info,
        options=options,
        candidates=candidates,
        budget=budget,
        nongen_cols=nongen_cols,
        covariates=covariates,
        design=design,
    )
    pred_ng = preds.pop("xgboost_no_genetic", None)
    oof = pd.DataFrame({"patient_id": data["patient_id"], "site": data["site"], "y": y, **preds})
    _add_baselines(
        oof,
        data,
        y,
        folds,
        task=options.task,
        seed=options.seed,
        clin=clin,
        lin_name=lin_name,
        pred_ng=pred_ng,
    )
    return oof, fold_rows


def _final_model(
    X: np.ndarray,
    y: np.ndarray,
    folds,
    cv_info: dict[str, Any],
    *,
    metrics: dict[str, Any],
    strata: np.ndarray | None,
    options: ModelOptions,
    candidates: list[dict[str, Any]],
    budget: float,
    threads: int,
    covariates: list[int],
    design: Design,
):
    """The final model: the inner procedure on all patients (hyperparameters and learner), the
    permutation test of that learner and configuration (added to ``metrics["selected"]``), and
    both learners refitted on all patients (the chosen one predicts). Returns the
    :class:`~stratify.model.response.ResponseModel` and the search's record."""
    task, seed = options.task, options.seed
    final_s = choose_hyperparameters(
        X,
        y,
        task=task,
        search=options.search,
        first_params=options.first_params,
        candidates=candidates,
        budget_s=budget,
        seed=seed,
        label="final model (all patients)",
        covariates=covariates,
        learners=options.learners,
        design=design,
    )
    learner = final_s["learner"]
    chosen = final_s["params"] if learner == XGBOOST else final_s["enet"]["params"]
    spec = LearnerSpec(learner, chosen, task, seed, tuple(covariates), design)
    if options.n_permutations:
        metrics[MAIN]["permutation_test"] = _permutation(
            X,
            y,
            spec=spec,
            folds=folds,
            cv_info=cv_info,
            observed=metrics[MAIN][PRIMARY[task][0]],
            strata=strata,
            options=options,
            threads=threads,
        )
    model = fit_learner(XGBOOST, X, y, final_s["params"], task=task, seed=seed, covariates=covariates)
    if final_s["enet"] is not None:
        enet = final_s["enet"]["params"]
        model.linear = fit_learner(
            ELASTIC_NET, X, y, enet, task=task, seed=seed, covariates=covariates, design=design
        ).linear
    model.learner = learner
    return model, final_s


def _searches_cut_by_budget(
    fold_rows: list[dict[str, Any]], final_s: dict[str, Any], search: dict[str, Any], *, n_searches: int
) -> int:
    """How many hyperparameter searches the time budget cut short (warned: results then vary by machine)."""
    stopped = sum(r["stopped_by_budget"] for r in fold_rows) + int(final_s["stopped_by_budget"])
    if stopped:
        log.warning(
            "the time budget (model.search.time_budget_s = %s) cut %d of %d searches short; results can "
            "differ on a faster or slower machine. Raise the budget or lower model.search.n_candidates "
            "for reproducible runs",
            search["time_budget_s"],
            stopped,
            n_searches,
        )
    return stopped


def _fit_info(
    features: pd.DataFrame,
    y: np.ndarray,
    sites: np.ndarray,
    *,
    task: str,
    cv_info: dict[str, Any],
    n_folds: int,
    per_site: list[dict[str, Any]],
    search: dict[str, Any],
    n_candidates: int,
    stopped: int,
    final_s: dict[str, Any],
    feature_sets: dict[str, list[str]],
    fold_rows: list[dict[str, Any]],
    covariates: list[str],
    learners: tuple[str, ...],
) -> dict[str, Any]:
    """The ``info`` of a fit: training data, cross-validation, search and feature sets."""
    return {
        "task": task,
        "n_train": int(len(y)),
        "n_excluded_no_endpoint": int(features["y"].isna().sum()),
        "prevalence": float(y.mean()) if task == CLASSIFICATION else None,
        "outcome_mean": float(y.mean()),
        "outcome_sd": float(y.std(ddof=1)),
        "folds": n_folds,
        "cv": cv_info["description"],
        "cv_scheme": cv_info["scheme"],
        "n_sites": int(len(np.unique(sites))),
        "per_site": per_site,
        "search": {
            **search,
            "n_candidates": n_candidates,
            "searches_cut_by_budget": stopped,
            "final": {k: final_s[k] for k in ("n_evaluated", "stopped_by_budget", "seconds", "n_patients_searched")},
        },
        "params": final_s["params"],
        "learner": final_s["learner"],
        "learners": list(learners),
        "inner_losses": final_s["inner_losses"],
        "enet_params": final_s["enet"]["params"] if final_s["enet"] else None,
        "fold_learners": [r["learner"] for r in fold_rows],
        "covariates": covariates,
        "feature_sets": feature_sets,
    }


def _candidates(options: ModelOptions) -> list[dict[str, Any]]:
    n = options.search["n_candidates"]
    return draw_candidates(options.first_params, n, seed=options.seed) if n else []


def _adjustment_columns(feats: list[str], groups: Mapping[str, list[str]]) -> list[int]:
    """The columns of the genetic adjustment covariates (genotype PCs; docs/model.md)."""
    cov = covariate_columns(feats) if any(g == "genetic" for g in groups) else []
    return [i for i in cov if feats[i] in groups.get("genetic", [])]


def fit_final_model(features: pd.DataFrame, summary: dict[str, Any], *, options: ModelOptions) -> dict[str, Any]:
    """The final model alone (the inner search and learner choice on all patients, then the refit,
    as :func:`fit_response_model` makes it), without the nested cross-validation and permutation
    test: for a model tested on other patients (leave-one-cohort-out). Returns ``model``,
    ``features`` (in model order) and ``search`` (the inner search's record)."""
    feats: list[str] = summary["model_features"]
    _, y, X, _ = _endpoint_data(features, summary, options)
    model, final_s = _final_model(
        X,
        y,
        None,
        None,
        metrics={},
        strata=None,
        options=replace(options, n_permutations=0),
        candidates=_candidates(options),
        budget=options.search["time_budget_s"],
        threads=1,
        covariates=_adjustment_columns(feats, summary["feature_groups"]),
        design=linear_design(feats),
    )
    return {"model": model, "features": feats, "search": final_s}


def fit_response_model(
    features: pd.DataFrame, summary: dict[str, Any], *, options: ModelOptions, threads: int = 1
) -> dict[str, Any]:
    """Nested cross-validation of XGBoost and the baselines; the final model tuned and refitted
    on all patients.

    ``features`` is the features stage's table (``patient_id``, ``site``, ``y`` and the
    features), ``summary`` its summary (``model_features``, ``feature_groups``, and
    ``endpoint_missing_reasons`` for the message when no patient has the endpoint).
    ``options`` (:func:`model_options` of a config) sets the task, the outer and inner
    cross-validation, the bootstrap and the permutation test; ``threads`` permutation-test
    fits run side by side (the results do not depend on it).

    Returns a dict with ``metrics`` (per model), ``oof`` (DataFrame of out-of-fold
    predictions), ``model`` (the fitted final XGBoost model), ``features`` (names, in model
    order), ``folds`` (one record per outer fold) and ``info``.
    """
    task, sc = options.task, options.search
    feats: list[str] = summary["model_features"]
    groups = summary["feature_groups"]
    data, y, X, sites = _endpoint_data(features, summary, options)
    folds, cv_info = _outer_cv(y, sites, options)
    candidates = _candidates(options)
    budget = sc["time_budget_s"] / (len(folds) + 1)
    clin = [f for f in groups.get("clinical", []) if f in feats]
    nongen = [f for f in feats if f not in groups.get("genetic", [])]
    with_nongen = bool(groups.get("genetic")) and bool(nongen) and len(nongen) < len(feats)
    lin_name = "logistic_clinical" if task == CLASSIFICATION else "ridge_clinical"
    cov = _adjustment_columns(feats, groups)
    design = linear_design(feats)
    oof, fold_rows = _out_of_fold_predictions(
        data,
        X,
        y,
        folds,
        cv_info,
        options=options,
        candidates=candidates,
        budget=budget,
        clin=clin,
        lin_name=lin_name,
        nongen_cols=[feats.index(f) for f in nongen] if with_nongen else None,
        covariates=cov,
        design=design,
    )
    # leave-one-site-out: discrimination is measured within sites (see stratified_auc)
    strata = sites if cv_info["test_sites"] and task == CLASSIFICATION else None
    metrics = _all_metrics(oof, y, strata, options)
    per_site = _per_site(sites, y, oof[MAIN].to_numpy(), task)
    final, final_s = _final_model(
        X,
        y,
        folds,
        cv_info,
        metrics=metrics,
        strata=strata,
        options=options,
        candidates=candidates,
        budget=budget,
        threads=threads,
        covariates=cov,
        design=design,
    )
    stopped = _searches_cut_by_budget(fold_rows, final_s, sc, n_searches=len(folds) + 1)
    return {
        "metrics": metrics,
        "oof": oof,
        "model": final,
        "features": feats,
        "folds": fold_rows,
        "info": _fit_info(
            features,
            y,
            sites,
            task=task,
            cv_info=cv_info,
            n_folds=len(folds),
            per_site=per_site,
            search=sc,
            n_candidates=len(candidates),
            stopped=stopped,
            final_s=final_s,
            fold_rows=fold_rows,
            covariates=[feats[i] for i in cov],
            learners=options.learners,
            feature_sets={
                **({lin_name: clin} if clin else {}),
                **({"xgboost_no_genetic": nongen} if with_nongen else {}),
                "xgboost": feats,
                **({"elastic_net": feats} if "elastic_net" in oof.columns else {}),
                MAIN: feats,
            },
        ),
    }
