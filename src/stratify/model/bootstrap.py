"""Percentile bootstrap over patients: the resamples (as index arrays or as counts per
patient) and the generic interval of a metric, with BLAS held to one thread while they run.
"""

from __future__ import annotations

import functools

import numpy as np
from threadpoolctl import threadpool_limits


def one_blas_thread(f):
    """Run ``f`` with BLAS limited to one thread. The bootstrap loops make thousands of small
    BLAS calls (dot products, 2 x 2 solves) between other work; OpenBLAS wakes its threads for
    each, and on a loaded machine that made 1,000 calibration refits of 100,000 patients ten
    times slower than one thread does (docs/performance.md)."""

    @functools.wraps(f)
    def run(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return f(*args, **kwargs)

    return run


@one_blas_thread
def bootstrap_ci(
    y: np.ndarray, p: np.ndarray, metric, *, n_boot: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(y, p)`` resampling patients."""
    rng = np.random.default_rng(seed)
    n = len(y)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        if y[i].min() == y[i].max():
            continue
        vals.append(metric(y[i], p[i]))
    a = (1 - level) / 2
    return float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))


def bootstrap_counts(n: int, n_boot: int, seed: int, strata: np.ndarray | None = None):
    """Each bootstrap resample as counts per patient (how often each was drawn), from the
    same draws as ``rng.integers(0, n, n)`` (or :func:`_resample` within strata) with
    ``numpy.random.default_rng(seed)``. A metric computed with these counts as weights equals
    the metric of the resampled rows, without copying them: at 100,000 patients this is what
    keeps 1,000 resamples per model affordable."""
    rng = np.random.default_rng(seed)
    groups = None if strata is None else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    for _ in range(n_boot):
        # the draws of _resample, with the strata's members found once
        i = rng.integers(0, n, n) if groups is None else np.concatenate([rng.choice(g, len(g)) for g in groups])
        yield np.bincount(i, minlength=n)


def _resample(n: int, strata: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap indexes: patients resampled within each stratum (or over all of them)."""
    if strata is None:
        return rng.integers(0, n, n)
    return np.concatenate(
        [rng.choice(idx, len(idx)) for idx in (np.flatnonzero(strata == s) for s in np.unique(strata))]
    )
