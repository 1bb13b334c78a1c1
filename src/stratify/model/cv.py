"""Nested cross-validation of the response model: the outer folds (leave-one-site-out or
k-fold) and, inside each outer training set, the seeded random search over XGBoost
configurations with early stopping, the elastic net's penalty on the same inner folds, and
the choice between the learners (:func:`inner_search`, :func:`choose_hyperparameters`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from stratify.errors import InputError
from stratify.model.learners import CLASSIFICATION, predict
from stratify.model.linear import Design, enet_search
from stratify.model.response import ELASTIC_NET, XGBOOST, fit_offset_xgb

log = logging.getLogger(__name__)

# inner random search (defaults; config model.search overrides)
SEARCH_DEFAULTS = {
    "n_candidates": 6,
    "inner_folds": 3,
    "time_budget_s": 600,
    "early_stopping_rounds": 20,
    "max_estimators": 500,
    "max_patients": 20000,
}


def cross_validated_predictions(make, X: np.ndarray, y: np.ndarray, folds) -> np.ndarray:
    """Out-of-fold predictions (probabilities, or values for regressors) for every patient."""
    oof = np.full(len(y), np.nan)
    for train, test in folds:
        m = make().fit(X[train], y[train])
        oof[test] = predict(m, X[test])
    return oof


def outer_folds(
    y: np.ndarray, sites: np.ndarray, *, task: str, scheme: str, folds: int, seed: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """The outer cross-validation: leave-one-site-out or (stratified) k-fold.

    ``scheme``: ``"site"`` (leave one site out; needs >= 2 sites), ``"kfold"`` or ``"auto"``
    (leave one site out when there are >= 3 sites, else k-fold). Returns the folds, as
    (train, test) index arrays, and a description with the held-out site of each fold.

    Examples
    --------
    >>> y = np.array([0, 1] * 6); s = np.repeat(["a", "b", "c"], 4)
    >>> f, info = outer_folds(y, s, task="classification", scheme="auto", folds=2, seed=0)
    >>> info["scheme"], info["test_sites"], [len(t) for _, t in f]
    ('leave-one-site-out', ['a', 'b', 'c'], [4, 4, 4])
    >>> outer_folds(y, s, task="classification", scheme="kfold", folds=2, seed=0)[1]["scheme"]
    'stratified 2-fold'
    """
    sites = np.asarray(sites).astype(str)
    uniq = [str(s) for s in np.unique(sites)]
    if scheme == "site" or (scheme == "auto" and len(uniq) >= 3):
        if len(uniq) < 2:
            raise InputError(
                f"model.cv: site: leave-one-site-out needs at least 2 sites; the cohort has "
                f"{len(uniq)} ({', '.join(uniq)}); use model.cv: kfold"
            )
        out = [(np.flatnonzero(sites != s), np.flatnonzero(sites == s)) for s in uniq]
        if task == CLASSIFICATION:
            for (train, _), s in zip(out, uniq):
                counts = np.bincount(y[train].astype(int), minlength=2)
                if counts.min() < 2:
                    raise InputError(
                        f"model.cv: without site {s} the training set has {counts[1]} patients with "
                        f"and {counts[0]} without the endpoint; too few to fit a model. Use "
                        "model.cv: kfold"
                    )
        return out, {
            "scheme": "leave-one-site-out",
            "n_folds": len(uniq),
            "test_sites": uniq,
            "description": f"leave-one-site-out over {len(uniq)} sites",
        }
    if task == CLASSIFICATION:
        split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
        name = f"stratified {folds}-fold"
    else:
        split = KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(y)))
        name = f"{folds}-fold"
    out = list(split)
    why = (
        f" (only {len(uniq)} site{'s' if len(uniq) != 1 else ''}; leave-one-site-out needs 3)"
        if scheme == "auto"
        else ""
    )
    return out, {
        "scheme": name,
        "n_folds": folds,
        "test_sites": None,
        "description": f"{name}, shuffled with the seed{why}",
    }


def scheme_of(sites: np.ndarray, scheme: str, folds: int, task: str) -> dict[str, Any]:
    """The outer scheme :func:`outer_folds` would use, without drawing folds (for messages)."""
    uniq = np.unique(np.asarray(sites).astype(str))
    if scheme == "site" or (scheme == "auto" and len(uniq) >= 3):
        return {
            "scheme": "leave-one-site-out",
            "n_folds": int(len(uniq)),
            "description": f"leave-one-site-out over {len(uniq)} sites",
        }
    name = f"stratified {folds}-fold" if task == CLASSIFICATION else f"{folds}-fold"
    return {"scheme": name, "n_folds": folds, "description": name}


def draw_candidates(first: dict[str, Any], n: int, *, seed: int) -> list[dict[str, Any]]:
    """The inner search's candidate configurations: the configured one first
    (``first["max_depth"]`` and ``first["learning_rate"]``, from the config's ``model``), then
    seeded random draws from max_depth 1-4, learning rate 0.02-0.3 (log-uniform), min_child_weight {1, 3, 5, 10, 20},
    subsample and colsample_bytree 0.6-1, reg_lambda 0.1-10 (log-uniform).

    >>> c = draw_candidates({"max_depth": 2, "learning_rate": 0.05}, 3, seed=0)
    >>> len(c), c[0]["max_depth"], c[0]["learning_rate"]
    (3, 2, 0.05)
    """
    rng = np.random.default_rng([seed, 4021])
    out = [
        {
            "max_depth": int(first["max_depth"]),
            "learning_rate": float(first["learning_rate"]),
            "min_child_weight": 5.0,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
        }
    ]
    while len(out) < n:
        out.append(
            {
                "max_depth": int(rng.integers(1, 5)),
                "learning_rate": float(round(np.exp(rng.uniform(np.log(0.02), np.log(0.3))), 4)),
                "min_child_weight": float(rng.choice([1, 3, 5, 10, 20])),
                "subsample": float(round(rng.uniform(0.6, 1.0), 3)),
                "colsample_bytree": float(round(rng.uniform(0.6, 1.0), 3)),
                "reg_lambda": float(round(np.exp(rng.uniform(np.log(0.1), np.log(10))), 3)),
            }
        )
    return out[:n]


def inner_search(
    X: np.ndarray,
    y: np.ndarray,
    *,
    task: str,
    candidates: list[dict[str, Any]],
    inner_folds: int,
    early_stopping_rounds: int,
    max_estimators: int,
    budget_s: float,
    seed: int,
    covariates: list[int] | None = None,
    learners: tuple[str, ...] = ("xgboost",),
    design: Design | None = None,
) -> dict[str, Any]:
    """Choose a learner and its configuration by inner k-fold cross-validation: XGBoost's
    configuration with early stopping, the elastic net's penalty
    (:func:`stratify.model.linear.enet_search`) on the same inner folds, and the learner
    with the lower mean inner-validation loss (``learner``; ``enet`` holds the elastic net's
    search). XGBoost is fitted on a covariate offset
    (:func:`stratify.model.response.fit_offset_xgb`; ``covariates`` are column positions).

    Each candidate is fitted on every inner training fold with up to ``max_estimators``
    trees, stopping when the inner validation fold's log loss (RMSE for regression) has not
    improved for ``early_stopping_rounds`` rounds; its score is the mean best validation
    loss and its number of trees the mean best iteration. Candidates are tried in order
    until ``budget_s`` seconds have passed (the first is always tried). Returns the chosen
    ``params`` (with ``n_estimators``), every candidate's ``results``, ``n_evaluated`` and
    ``stopped_by_budget``.
    """
    if task == CLASSIFICATION:
        splits = list(StratifiedKFold(inner_folds, shuffle=True, random_state=seed).split(X, y))
    else:
        splits = list(KFold(inner_folds, shuffle=True, random_state=seed).split(X))
    t0 = time.monotonic()
    results = []
    stopped = False
    for i, cand in enumerate(candidates):
        if i and time.monotonic() - t0 > budget_s:
            stopped = True
            break
        losses, iters = [], []
        for train, val in splits:
            _, m, _ = fit_offset_xgb(
                X[train],
                y[train],
                {**cand, "n_estimators": max_estimators},
                task=task,
                seed=seed,
                covariates=covariates or [],
                eval_X=X[val],
                eval_y=y[val],
                early_stopping_rounds=early_stopping_rounds,
            )
            losses.append(float(m.best_score))
            iters.append(int(m.best_iteration) + 1)
        results.append({**cand, "inner_loss": float(np.mean(losses)), "n_estimators": int(round(np.mean(iters)))})
    best = min(results, key=lambda r: r["inner_loss"])
    params = {k: v for k, v in best.items() if k != "inner_loss"}
    enet = None
    if ELASTIC_NET in learners:
        enet = enet_search(X, y, splits, task=task, covariates=covariates or [], seed=seed, design=design)
    losses = {XGBOOST: best["inner_loss"], **({ELASTIC_NET: enet["inner_loss"]} if enet else {})}
    return {
        "params": params,
        "learner": min(losses, key=losses.get),
        "inner_losses": losses,
        "enet": enet,
        "inner_loss": best["inner_loss"],
        "results": results,
        "n_evaluated": len(results),
        "n_candidates": len(candidates),
        "stopped_by_budget": stopped,
        "seconds": round(time.monotonic() - t0, 2),
    }


def check_classes(y: np.ndarray, folds: int, cv_info: dict[str, Any]) -> None:
    """Both endpoint classes, with enough patients for the outer cross-validation in use.

    k-fold needs at least ``folds`` patients per class (one per fold, stratified); under
    leave-one-site-out each training set was already checked by :func:`outer_folds`, so only
    the two classes are needed here. The message names the scheme actually used.
    """
    counts = np.bincount(y.astype(int), minlength=2)
    site = cv_info["scheme"] == "leave-one-site-out"
    need = 1 if site else folds
    if len(np.unique(y)) < 2 or counts.min() < need:
        fix = "choose another endpoint, or pool sites" if site else "lower model.folds or choose another endpoint"
        raise InputError(
            f"the endpoint has too few patients in one class for "
            f"{cv_info['description'] if site else cv_info['scheme']} cross-validation: "
            f"{counts[1]} with and {counts[0]} without it; {fix}"
        )


def choose_hyperparameters(
    X: np.ndarray,
    y: np.ndarray,
    *,
    task: str,
    search: dict[str, Any],
    first_params: dict[str, Any],
    candidates: list[dict[str, Any]],
    budget_s: float,
    seed: int,
    label: str,
    covariates: list[int] | None = None,
    learners: tuple[str, ...] = ("xgboost",),
    design: Design | None = None,
) -> dict[str, Any]:
    """Hyperparameters for one training set: the inner search (:func:`inner_search` on at most
    ``search["max_patients"]`` patients, :func:`search_subsample`), or ``first_params``
    (``n_estimators``, ``max_depth``, ``learning_rate``) as they are when there are no
    ``candidates`` (``model.search.n_candidates: 0``)."""
    if not candidates:
        return {
            "params": {k: first_params[k] for k in ("n_estimators", "max_depth", "learning_rate")},
            "learner": XGBOOST,
            "inner_losses": {},
            "enet": None,
            "n_evaluated": 0,
            "n_candidates": 0,
            "stopped_by_budget": False,
            "seconds": 0.0,
            "n_patients_searched": 0,
        }
    rows = search_subsample(len(y), search["max_patients"], seed=seed)
    s = inner_search(
        X[rows],
        y[rows],
        task=task,
        candidates=candidates,
        inner_folds=search["inner_folds"],
        early_stopping_rounds=search["early_stopping_rounds"],
        max_estimators=search["max_estimators"],
        budget_s=budget_s,
        seed=seed,
        covariates=covariates,
        learners=learners,
        design=design,
    )
    s["n_patients_searched"] = int(len(rows))
    p = s["params"]
    log.info(
        "%s: %d/%d candidates in %.1fs%s%s; XGBoost: max_depth %d, learning rate %.3g, %d trees; chose %s (%s)",
        label,
        s["n_evaluated"],
        s["n_candidates"],
        s["seconds"],
        " (time budget reached)" if s["stopped_by_budget"] else "",
        f" on a random {len(rows)} of {len(y)} patients (model.search.max_patients)" if len(rows) < len(y) else "",
        p["max_depth"],
        p["learning_rate"],
        p["n_estimators"],
        s["learner"],
        ", ".join(f"{k} inner loss {v:.4f}" for k, v in s["inner_losses"].items()),
    )
    return s


def search_subsample(n: int, max_patients: int, *, seed: int) -> np.ndarray:
    """Rows (sorted) of a training set that the inner search uses: all of them, or a seeded
    random subsample of ``max_patients`` when the set is larger.

    Choosing hyperparameters needs far fewer patients than fitting the model: the chosen
    configuration is refitted on the whole training set and predicts the held-out fold, which
    the search never sees, so the cross-validated estimate stays honest; a subsample can only
    make the choice somewhat worse (a conservative estimate). Its number of trees comes from
    early stopping on the subsample, which tends to be fewer than the whole set would support.

    >>> len(search_subsample(50_000, 20_000, seed=0)), len(search_subsample(800, 20_000, seed=0))
    (20000, 800)
    """
    if n <= max_patients:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 5381]).choice(n, size=max_patients, replace=False))
