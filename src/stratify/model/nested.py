"""The outer loop of the nested cross-validation: in each outer training set the inner
procedure (:func:`stratify.model.cv.choose_hyperparameters`) tunes XGBoost and the elastic net
and chooses between them; both learners are refitted on the outer training set and predict the
held-out fold, and the chosen one's predictions are the main model's (``selected``). So the
main model's outer estimate includes the learner choice, and the held-out fold is never used
for tuning, stopping or choosing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from stratify.model.cv import choose_hyperparameters
from stratify.model.learners import REGRESSION, make_xgb, predict
from stratify.model.linear import Design
from stratify.model.metrics import PRIMARY
from stratify.model.response import ELASTIC_NET, XGBOOST, fit_learner

log = logging.getLogger(__name__)

#: The main model's column in the out-of-fold predictions and its key in metrics.json.
MAIN = "selected"


def _fold_label(k: int, n: int, cv_info: dict[str, Any]) -> str:
    return f"outer fold {k + 1}/{n}" + (f" (held-out site {cv_info['test_sites'][k]})" if cv_info["test_sites"] else "")


def nested_cv(
    X: np.ndarray,
    y: np.ndarray,
    folds,
    cv_info: dict[str, Any],
    *,
    nongen_cols: list[int] | None,
    covariates: list[int],
    design: Design | None = None,
    options,
    candidates: list[dict[str, Any]],
    budget: float,
) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Out-of-fold predictions per model (``selected``, ``xgboost``, ``elastic_net`` when its
    search ran, ``xgboost_no_genetic`` with XGBoost's configuration of the fold when
    ``nongen_cols``) and one record per outer fold (with the learner it chose). ``design``:
    the elastic net's derived terms (:func:`stratify.model.response.linear_design`)."""
    task, seed = options.task, options.seed
    name, stat = PRIMARY[task]
    t0 = time.monotonic()
    preds = {k: np.full(len(y), np.nan) for k in (MAIN, XGBOOST, ELASTIC_NET, "xgboost_no_genetic")}
    fold_rows = []
    for k, (train, test) in enumerate(folds):
        label = _fold_label(k, len(folds), cv_info)
        s = choose_hyperparameters(
            X[train],
            y[train],
            task=task,
            search=options.search,
            first_params=options.first_params,
            candidates=candidates,
            budget_s=budget,
            seed=seed + k,
            label=label,
            covariates=covariates,
            learners=options.learners,
            design=design,
        )
        Xtr, ytr = X[train], y[train]
        preds[XGBOOST][test] = fit_learner(
            XGBOOST, Xtr, ytr, s["params"], task=task, seed=seed, covariates=covariates
        ).predict(X[test])
        if s["enet"] is not None:
            preds[ELASTIC_NET][test] = fit_learner(
                ELASTIC_NET,
                Xtr,
                ytr,
                s["enet"]["params"],
                task=task,
                seed=seed,
                covariates=covariates,
                design=design,
            ).predict(X[test])
        preds[MAIN][test] = preds[s["learner"]][test]
        if nongen_cols is not None:
            mn = make_xgb(s["params"], seed=seed, task=task).fit(X[np.ix_(train, nongen_cols)], y[train])
            preds["xgboost_no_genetic"][test] = predict(mn, X[np.ix_(test, nongen_cols)])
        ok = task == REGRESSION or np.unique(y[test]).size > 1
        fold_rows.append(
            {
                "fold": k + 1,
                "test_site": cv_info["test_sites"][k] if cv_info["test_sites"] else None,
                "n_train": int(len(train)),
                "n_test": int(len(test)),
                name: stat(y[test], preds[MAIN][test]) if ok and len(test) > 2 else None,
                "learner": s["learner"],
                "inner_losses": s["inner_losses"],
                "params": s["params"],
                "enet_params": s["enet"]["params"] if s["enet"] else None,
                "n_evaluated": s["n_evaluated"],
                "stopped_by_budget": s["stopped_by_budget"],
                "search_seconds": s["seconds"],
                "n_patients_searched": s["n_patients_searched"],
            }
        )
        log.info(
            "%s: chose %s; %s on the held-out patients %s (%.0fs so far)",
            label,
            s["learner"],
            name,
            "n/a" if fold_rows[-1][name] is None else f"{fold_rows[-1][name]:.3f}",
            time.monotonic() - t0,
        )
    if nongen_cols is None:
        del preds["xgboost_no_genetic"]
    if all(r["enet_params"] is None for r in fold_rows):
        del preds[ELASTIC_NET]
    return preds, fold_rows
