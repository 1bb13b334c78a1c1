"""The smallest separation a subtype run could have detected: a quick power simulation.

"No robust subtypes" means little without knowing what the run could have found.
:func:`detectable_separation` simulates, at the cohort's number of patients and features, two
equal groups (half the patients each) whose means differ by ``delta`` within-group SDs
(Mahalanobis distance; the shift is spread equally over the features, ``delta / sqrt(d)`` on
each, features independent with unit variance within a group), for each ``delta`` of a small
grid in increasing order. A replicate counts as detected when the run's clustering method (same
settings) finds more than one cluster and the existence test
(:func:`stratify.subtype.copula.copula_sigclust` or :func:`stratify.subtype.stats.sigclust`,
with ``n_null`` simulations) gives p < ``alpha``. The bootstrap stability check is not
simulated (it would multiply the cost a hundredfold), so the answer is a lower bound: the run
needs at least this separation. The smallest ``delta`` detected in at least ``power`` of the
replicates is reported; the grid stops there.

This is the approach of simulation-based power analysis for cluster analysis (Dalmaijer,
Nord & Astle 2022, who found that separation, not sample size, dominates the power of
k-means, HDBSCAN and related methods once n is in the hundreds).

References
----------
Dalmaijer ES, Nord CL, Astle DE. Statistical power for cluster analysis. BMC Bioinformatics
2022;23:205.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["detectable_separation"]

_SEED_MAX = 2**31 - 1


def _two_groups(
    rng: np.random.Generator, n: int, d: int, delta: float, marginals: np.ndarray | None = None
) -> np.ndarray:
    """``n`` rows: two equal groups ``delta`` within-group SDs apart, z-scored as the stage does.
    With ``marginals`` (n x d), each column is then replaced rank for rank by that column of
    ``marginals``, sorted (the cohort's own marginal shapes and ties; Iman & Conover 1982).

    >>> m = np.repeat([[0.0], [1.0]], 5, axis=0)  # a coarse feature: two values, tied
    >>> x = _two_groups(np.random.default_rng(0), 10, 1, 3.0, marginals=m)
    >>> sorted(np.unique(x.round(6)).tolist())
    [-1.0, 1.0]
    """
    x = rng.standard_normal((n, d))
    x[: n // 2] += delta / np.sqrt(d)
    if marginals is not None:
        ordered = np.sort(np.asarray(marginals, dtype=float), axis=0)
        for j in range(d):
            x[np.argsort(x[:, j], kind="stable"), j] = ordered[:, j]
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def detectable_separation(
    n: int,
    d: int,
    *,
    fit_n_clusters: Callable[[np.ndarray, int], int],
    existence_p: Callable[[np.ndarray, int], float],
    grid: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0),
    n_replicates: int = 10,
    alpha: float = 0.05,
    power: float = 0.8,
    random_state: int = 0,
    marginals: np.ndarray | None = None,
) -> dict[str, Any]:
    """The smallest separation (in SD) on ``grid`` detected with at least ``power`` (module docstring).

    Parameters
    ----------
    n, d : int
        Patients and clustering features of the cohort.
    fit_n_clusters : callable
        ``fit_n_clusters(X, seed)``: the number of clusters the run's method finds in ``X``.
    existence_p : callable
        ``existence_p(X, seed)``: the existence test's p-value for ``X``.
    grid : tuple of float
        Separations tried, in increasing order (sorted here).
    n_replicates : int
        Simulated data sets per separation.
    alpha, power : float
        Significance level of the existence test, and the share of replicates that must be detected.
    random_state : int
        Seed.
    marginals : array (n x d), optional
        The cohort's standardised clustering features. When given, every simulated column is
        mapped rank for rank onto the cohort's own values of that feature, so the simulated
        cohorts have its marginal shapes and ties (bounded, rounded item sums lose separation to
        their floors and ties, and a copula test with Kendall's tau is conservative on tied
        features: docs/subtypes.md); ``delta`` is then the separation of the latent Gaussian groups.

    Returns
    -------
    dict
        ``run`` (True), ``separation_sd`` (the smallest detected separation, or None if none on
        the grid was), ``power`` and ``alpha``, ``grid``, ``n_replicates``, ``detected``
        (``{delta: share detected}`` for the separations tried), ``n``, ``d``, ``seconds`` and
        ``method`` (a description).

    Examples
    --------
    >>> res = detectable_separation(
    ...     200, 2, fit_n_clusters=lambda x, s: 2, existence_p=lambda x, s: 0.01, grid=(2.0, 1.0), n_replicates=2
    ... )
    >>> res["separation_sd"], res["detected"]
    (1.0, {'1.0': {'detected': 2, 'of': 2}})
    >>> never = detectable_separation(
    ...     200, 2, fit_n_clusters=lambda x, s: 1, existence_p=lambda x, s: 0.01, grid=(1.0,), n_replicates=10
    ... )
    >>> never["separation_sd"], never["detected"]  # 3 misses of 10 put 80% out of reach
    (None, {'1.0': {'detected': 0, 'of': 3}})
    """
    if n_replicates < 1 or not 0 < power <= 1:
        raise ValueError(f"need n_replicates >= 1 and 0 < power <= 1; got {n_replicates}, {power}")
    t0 = time.monotonic()
    rng = np.random.default_rng(random_state)
    detected: dict[str, dict[str, int]] = {}
    found = None
    need = int(np.ceil(power * n_replicates - 1e-9))  # hits needed for the power
    if marginals is not None and np.shape(marginals) != (int(n), int(d)):
        raise ValueError(f"marginals must be {n} x {d} (the cohort's features); got {np.shape(marginals)}")
    shape = "" if marginals is None else ", each feature mapped by ranks onto the cohort's own values of it"
    for delta in sorted(float(g) for g in grid):
        hits = runs = 0
        # stop a separation as soon as its verdict is settled either way
        while runs < n_replicates and hits < need and runs - hits <= n_replicates - need:
            x = _two_groups(rng, int(n), int(d), delta, marginals)
            seed = int(rng.integers(_SEED_MAX))
            hits += bool(fit_n_clusters(x, seed) > 1 and existence_p(x, seed) < alpha)
            runs += 1
        detected[str(delta)] = {"detected": hits, "of": runs}
        if hits >= need:
            found = delta
            break
    return {
        "run": True,
        "separation_sd": found,
        "power": power,
        "alpha": alpha,
        "grid": sorted(float(g) for g in grid),
        "n_replicates": int(n_replicates),
        "detected": detected,
        "n": int(n),
        "d": int(d),
        "seconds": round(time.monotonic() - t0, 1),
        "method": (
            f"{n_replicates} simulated cohorts of {n} patients per separation: two equal groups whose means differ "
            f"by delta within-group SDs (shift delta/sqrt({d}) on each of {d} independent unit-variance features)"
            f"{shape}, z-scored; detected = the run's clustering method finds > 1 cluster and the existence test gives "
            f"p < {alpha}; bootstrap stability not simulated (a lower bound); smallest delta on the grid detected "
            f"in >= {power:.0%} of replicates, each separation stopped once its verdict is settled (Dalmaijer et al. 2022)"
        ),
    }
