"""The permutation test of the response model: is its cross-validated AUC (R²) better than
chance? (Ojala & Garriga 2010)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from stratify.model.cv import cross_validated_predictions
from stratify.model.learners import CLASSIFICATION
from stratify.model.metrics import PRIMARY, stratified_auc

log = logging.getLogger(__name__)


def permutation_test(
    make,
    X: np.ndarray,
    y: np.ndarray,
    *,
    folds,
    observed: float,
    n_perm: int,
    seed: int,
    task: str = CLASSIFICATION,
    strata: np.ndarray | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Is the cross-validated AUC (R² for regression) better than chance? The outer
    cross-validation is repeated on ``n_perm`` random permutations of the outcome;
    p = (1 + #{stat_perm >= stat_obs}) / (1 + n_perm), one-sided (Ojala & Garriga 2010,
    J Mach Learn Res 11:1833). ``folds`` is the number of (stratified) k-fold folds, re-drawn
    for every permutation, or a fixed list of (train, test) folds such as leave-one-site-out.
    With ``strata`` (the sites under leave-one-site-out) the outcome is permuted within each
    site, which keeps the sites' outcome rates, and the statistic is the within-site AUC
    (:func:`stratified_auc`), as for the observed value. ``workers`` permutations are fitted
    side by side (threads: XGBoost and scikit-learn fit outside Python's lock); the threads take
    the permutations in the order they are drawn, so the result does not depend on ``workers``.

    Examples
    --------
    >>> from sklearn.metrics import roc_auc_score
    >>> from stratify.model.learners import make_logistic
    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] + rng.normal(size=200) > 0).astype(int)
    >>> make = lambda: make_logistic(seed=0)
    >>> cv = StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)
    >>> auc = roc_auc_score(y, cross_validated_predictions(make, X, y, cv))
    >>> permutation_test(make, X, y, folds=5, observed=auc, n_perm=19, seed=0)["p_value"]
    0.05
    """
    name, stat = PRIMARY[task]
    rng = np.random.default_rng(seed)
    vals = [0.0] * n_perm
    step = max(1, n_perm // 10)
    lock = threading.Lock()
    state = {"next": 0, "done": 0}

    def draw() -> tuple[int, np.ndarray] | None:
        """The next permutation, drawn in order under the lock, so permutation i is the same
        whatever thread fits it (and only one outcome vector per thread is held at a time)."""
        with lock:
            i = state["next"]
            if i >= n_perm:
                return None
            state["next"] += 1
            if strata is None:
                return i, rng.permutation(y)
            yp = y.copy()
            for s_ in np.unique(strata):
                idx = np.flatnonzero(strata == s_)
                yp[idx] = rng.permutation(y[idx])
            return i, yp

    def work() -> None:
        while (got := draw()) is not None:
            i, yp = got
            if isinstance(folds, int):
                splitter = (StratifiedKFold if task == CLASSIFICATION else KFold)(
                    n_splits=folds, shuffle=True, random_state=seed + 1 + i
                )
                cv = list(splitter.split(X, yp))
            else:
                cv = folds
            pp = cross_validated_predictions(make, X, yp, cv)
            vals[i] = stratified_auc(yp, pp, strata) if strata is not None and task == CLASSIFICATION else stat(yp, pp)
            with lock:
                state["done"] += 1
                done = state["done"]
            if done % step == 0 or done == n_perm:
                log.info("permutation test: %d/%d", done, n_perm)

    n_threads = max(1, int(workers))
    with ThreadPoolExecutor(n_threads) as ex:
        for fut in [ex.submit(work) for _ in range(n_threads)]:
            fut.result()
    vals = np.array(vals)
    scheme = (
        (f"stratified {folds}-fold" if task == CLASSIFICATION else f"{folds}-fold")
        if isinstance(folds, int)
        else "the same fixed outer folds"
    )
    return {
        "p_value": float((1 + np.sum(vals >= observed)) / (1 + n_perm)),
        "n_permutations": int(n_perm),
        "smallest_possible_p": float(1 / (1 + n_perm)),
        "statistic": name,
        "observed": float(observed),
        "null_mean": float(vals.mean()),
        "null_sd": float(vals.std(ddof=1)) if n_perm > 1 else None,
        "null_95th": float(np.quantile(vals, 0.95)),
        "method": f"cross-validation ({scheme}) repeated on outcomes permuted "
        f"{'within sites' if strata is not None else 'over all patients'} (one-sided)",
    }
