"""Statistics that must pass before a depression subtype may be claimed.

Two checks, both deliberately conservative because data-driven depression "biotypes"
have failed to replicate (Dinga et al. 2019):

:func:`sigclust`
    existence test: is the data more clustered than a single Gaussian with the data's
    covariance? (SigClust, Liu et al. 2008.)
:func:`bootstrap_stability`
    cluster-wise stability: does each cluster come back when the clustering method is
    refitted on bootstrap resamples? (Hennig 2007; ``fpc::clusterboot``.)

Both return plain-JSON-able dictionaries (Python ``int``, ``float``, ``str``, ``list``,
``dict`` and ``None`` only) so they can go straight into the run report, and both are
deterministic given ``random_state``.

References
----------
Liu Y, Hayes DN, Nobel A, Marron JS. Statistical significance of clustering for
high-dimension, low-sample size data. J Am Stat Assoc 2008;103:1281-1293.

Hennig C. Cluster-wise assessment of cluster stability. Comput Stat Data Anal
2007;52:258-271.

Dinga R, Schmaal L, Penninx BWJH, et al. Evaluating the evidence for biotypes of
depression: methodological replication and extension of Drysdale et al. (2017).
NeuroImage Clin 2019;22:101796.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import norm
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

__all__ = ["sigclust", "bootstrap_stability", "cluster_index"]

#: Rows above which :func:`sigclust` works on a fixed random subsample.
SIGCLUST_MAX_N = 20_000
#: Rows the bootstrap stability check resamples at most (a fixed random subsample above it).
BOOTSTRAP_MAX_N = 20_000
#: Floor for eigenvalues of the sample covariance used by the SigClust null.
EIGEN_FLOOR = 1e-12

_SEED_MAX = 2**31 - 1


def _as_data(X: Any, *, min_rows: int, name: str = "X") -> np.ndarray:
    """Validate and convert ``X`` to a finite 2-D float array with at least ``min_rows`` rows."""
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric 2-D array (rows = patients, columns = features): {exc}") from exc
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (rows = patients, columns = features); got {arr.ndim} dimension(s)"
        )
    n, d = arr.shape
    if d < 1:
        raise ValueError(f"{name} must have at least 1 column (feature); got {d}")
    if n < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} rows (patients); got {n}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr).all(axis=1)))
        raise ValueError(f"{name} contains NaN or infinite values in {bad} row(s); impute or drop them first")
    return arr


def cluster_index(X: np.ndarray, *, n_init: int = 5, random_state: int = 0) -> float:
    """2-means cluster index: within-cluster sum of squares / total sum of squares.

    The best 2-means split is searched by :class:`sklearn.cluster.KMeans` with
    ``n_clusters=2``; the sums of squares are recomputed from its labels. Small values
    mean strong two-cluster structure; the index lies in ``[0, 1]`` and is invariant to
    translation, rotation and overall scaling of ``X``.

    Parameters
    ----------
    X : numpy.ndarray, shape (n, d)
        Finite data with positive total variance.
    n_init : int
        k-means restarts (k-means++ initialisation); the best is kept.
    random_state : int
        Seed for k-means.

    Returns
    -------
    float

    References
    ----------
    Liu Y, Hayes DN, Nobel A, Marron JS. J Am Stat Assoc 2008;103:1281-1293.

    Examples
    --------
    >>> x = np.array([[0.0], [0.1], [10.0], [10.1]])
    >>> round(cluster_index(x), 6)  # WSS = 4 * 0.05**2 = 0.01; TSS = 100.01
    0.0001
    """
    with threadpool_limits(limits=1):
        return _cluster_index(np.asarray(X, dtype=float), n_init=n_init, random_state=random_state)


def _cluster_index(X: np.ndarray, *, n_init: int, random_state: int) -> float:
    """:func:`cluster_index` without the thread limit (the caller sets it once)."""
    centred = X - X.mean(axis=0)
    tss = float(np.einsum("ij,ij->", centred, centred))
    if not tss > 0:
        raise ValueError("X has zero total variance: every row is identical, so no split exists")
    labels = KMeans(n_clusters=2, n_init=n_init, random_state=random_state).fit(centred).labels_
    wss = 0.0
    for k in (0, 1):
        part = centred[labels == k]
        if len(part):
            dev = part - part.mean(axis=0)
            wss += float(np.einsum("ij,ij->", dev, dev))
    return wss / tss


def sigclust(
    X: Any,
    *,
    n_sim: int = 100,
    random_state: int | np.random.Generator | None = None,
    progress: Callable[[int, int], Any] | None = None,
    n_init: int = 5,
    max_n: int = SIGCLUST_MAX_N,
) -> dict[str, Any]:
    """SigClust test of "one Gaussian cluster" against "two or more clusters".

    The statistic is the 2-means cluster index (:func:`cluster_index`): the
    within-cluster sum of squares of the best 2-means split divided by the total sum of
    squares about the mean. Small values mean strong clustering. The null hypothesis is
    that the data come from a single Gaussian with the data's covariance. Because the
    index is invariant to rotation and translation, null data are simulated from
    ``N(0, diag(eigenvalues of the sample covariance))`` with the same number of rows and
    columns, and the same k-means settings are used for observed and simulated data.

    Liu et al. (2008) soft-threshold the eigenvalues against a background-noise estimate
    because they target high dimension, low sample size data. Here ``n >> d`` (patients
    far outnumber the 2-10 features), so the sample eigenvalues are used as they are,
    floored at ``1e-12`` so that a constant or collinear feature cannot make the null
    degenerate.

    Parameters
    ----------
    X : array-like, shape (n, d)
        Finite numeric data, typically standardised features; ``n >= 10``, ``d >= 1``.
    n_sim : int
        Number of null simulations.
    random_state : int, numpy.random.Generator or None
        Seed; the result is deterministic for a given integer seed.
    progress : callable, optional
        Called as ``progress(i, n_sim)`` after simulation ``i`` (1-based), e.g. to drive
        a progress bar or log.
    n_init : int
        k-means restarts for every 2-means fit (observed and simulated alike).
    max_n : int
        When ``n > max_n`` the statistic is computed on a fixed random subsample of
        ``max_n`` rows, and every null data set has ``max_n`` rows too, so observed and
        null indices are comparable; the eigenvalues still come from all ``n`` rows. The
        number of rows actually clustered is returned as ``n_used``.

    Returns
    -------
    dict
        ``statistic`` (observed cluster index), ``p_value`` (empirical,
        ``(1 + #{CI_sim <= CI_obs}) / (1 + n_sim)``, never 0), ``p_normal``
        (``Phi((CI_obs - null_mean) / null_sd)`` as SigClust reports; ``None`` if
        ``null_sd`` is 0 or undefined), ``null_mean``, ``null_sd`` (``ddof=1``),
        ``n_sim``, ``n``, ``n_used``, ``d``, ``eigenvalues`` (descending list) and
        ``method`` (a description).

    Raises
    ------
    ValueError
        ``X`` is not a finite 2-D numeric array with at least 10 rows and 1 column, has
        no variance, or ``n_sim``, ``n_init`` or ``max_n`` is out of range.

    Notes
    -----
    The empirical p-value is the honest one; ``p_normal`` extrapolates beyond the
    simulated range and is useful only to say *how* extreme a tiny p-value is. 2-means
    can only find local optima, which affects observed and simulated data alike, so the
    test stays calibrated for any ``n_init``; larger ``n_init`` gives more power.

    With the null built from the same sample's eigenvalues the test is conservative on
    Gaussian data: in simulations (n = 300 and 1,000, d = 4, eigenvalues 4, 2, 1, 0.5,
    39 null draws each) no null data set of 400 was rejected at 0.05 and the p-values
    pile up around 0.5 (mean about 0.53) rather than being uniform. Power is still high
    once the clusters are bimodal: two unit-variance Gaussians 2.5 SD apart (n = 300,
    d = 4) were detected in 15 of 20 data sets, 3 SD apart in all 20.
    k-means runs single-threaded (many small fits are much faster without OpenMP/BLAS
    threads, especially on a busy machine).

    References
    ----------
    Liu Y, Hayes DN, Nobel A, Marron JS. Statistical significance of clustering for
    high-dimension, low-sample size data. J Am Stat Assoc 2008;103:1281-1293.

    Huang H, Liu Y, Yuan M, Marron JS. Statistical significance of clustering using soft
    thresholding. J Comput Graph Stat 2015;24:975-993.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> two = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(0, 1, (60, 2)) + [8, 0]])
    >>> res = sigclust(two, n_sim=19, random_state=0)
    >>> res["p_value"]  # the smallest possible with 19 simulations
    0.05
    >>> res["statistic"] < res["null_mean"]
    True
    """
    arr = _as_data(X, min_rows=10)
    n, d = arr.shape
    if isinstance(n_sim, bool) or not isinstance(n_sim, (int, np.integer)) or n_sim < 1:
        raise ValueError(f"n_sim must be a positive integer; got {n_sim!r}")
    if isinstance(n_init, bool) or not isinstance(n_init, (int, np.integer)) or n_init < 1:
        raise ValueError(f"n_init must be a positive integer; got {n_init!r}")
    if isinstance(max_n, bool) or not isinstance(max_n, (int, np.integer)) or max_n < 10:
        raise ValueError(f"max_n must be an integer >= 10; got {max_n!r}")
    n_sim, n_init, max_n = int(n_sim), int(n_init), int(max_n)

    centred = arr - arr.mean(axis=0)
    if not float(np.einsum("ij,ij->", centred, centred)) > 0:
        raise ValueError("X has zero total variance: every row is identical, so there is nothing to cluster")
    cov = np.atleast_2d(np.cov(centred, rowvar=False))
    eigenvalues = np.maximum(np.linalg.eigvalsh(cov)[::-1], EIGEN_FLOOR)

    rng = np.random.default_rng(random_state)
    km_seed = int(rng.integers(_SEED_MAX))
    if n > max_n:
        rows = np.sort(rng.choice(n, size=max_n, replace=False))
        observed = centred[rows]
    else:
        observed = centred
    n_used = observed.shape[0]

    scale = np.sqrt(eigenvalues)
    ci_sim = np.empty(n_sim)
    # many small k-means fits: one thread each is much faster than OpenMP's start-up
    with threadpool_limits(limits=1):
        ci_obs = _cluster_index(observed, n_init=n_init, random_state=km_seed)
        for i in range(n_sim):
            null = rng.standard_normal((n_used, d)) * scale
            ci_sim[i] = _cluster_index(null, n_init=n_init, random_state=km_seed)
            if progress is not None:
                progress(i + 1, n_sim)

    null_mean = float(ci_sim.mean())
    null_sd = float(ci_sim.std(ddof=1)) if n_sim > 1 else float("nan")
    if math.isfinite(null_sd) and null_sd > 0:
        p_normal: float | None = float(norm.cdf((ci_obs - null_mean) / null_sd))
    else:
        p_normal = None
    p_value = (1 + int(np.count_nonzero(ci_sim <= ci_obs))) / (1 + n_sim)
    subsample = (
        f"; statistic and null computed on a fixed random subsample of {n_used} of {n} rows" if n_used < n else ""
    )
    method = (
        "SigClust (Liu et al. 2008): 2-means cluster index (within-cluster SS / total SS; small = "
        f"clustered) against {n_sim} simulations from a single Gaussian with the data's covariance, "
        "N(0, diag(sample covariance eigenvalues)), floored at 1e-12, no soft-thresholding (n >> d); "
        f"k-means n_init={n_init}, identical for data and null{subsample}; "
        "empirical p = (1 + #{CI_sim <= CI_obs}) / (1 + n_sim)"
    )
    return {
        "statistic": float(ci_obs),
        "p_value": float(p_value),
        "p_normal": p_normal,
        "null_mean": null_mean,
        "null_sd": null_sd if math.isfinite(null_sd) else None,
        "n_sim": n_sim,
        "n": int(n),
        "n_used": int(n_used),
        "d": int(d),
        "eigenvalues": [float(v) for v in eigenvalues],
        "method": method,
    }


def _as_labels(labels: Any, n: int, name: str) -> np.ndarray:
    """Validate integer cluster labels (``-1`` = noise) of length ``n``."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array of {n} labels (one per row); got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        out = arr.astype(np.int64)
    elif arr.dtype.kind in "fb" or arr.dtype == object:
        try:
            as_float = arr.astype(float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be integers (-1 = noise): {exc}") from exc
        if not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
            raise ValueError(f"{name} must be integers (-1 = noise); found non-integer values")
        out = as_float.astype(np.int64)
    else:
        raise ValueError(f"{name} must be integers (-1 = noise); got dtype {arr.dtype}")
    if out.size and out.min() < -1:
        raise ValueError(f"{name} must be >= 0, or -1 for noise; found {int(out.min())}")
    return out


def _max_jaccard(original: np.ndarray, refit: np.ndarray, clusters: np.ndarray) -> dict[int, float]:
    """For each original cluster present in ``original``, its best Jaccard with a refit cluster.

    ``original`` and ``refit`` label the same points; ``-1`` in ``refit`` is noise and is
    never a matching cluster (Jaccard 0 if the refit has no cluster at all). Original
    clusters absent from ``original`` are left out.

    Examples
    --------
    >>> _max_jaccard(np.array([0, 0, 0, 1, 1, 1]), np.array([5, 5, 7, 7, 7, 7]), np.array([0, 1]))
    {0: 0.6666666666666666, 1: 0.75}
    """
    refit_ids = np.unique(refit[refit >= 0])
    out: dict[int, float] = {}
    b_sizes = np.array([np.count_nonzero(refit == k) for k in refit_ids])
    for c in clusters:
        a = original == c
        a_size = int(np.count_nonzero(a))
        if a_size == 0:
            continue
        if refit_ids.size == 0:
            out[int(c)] = 0.0
            continue
        inter = np.array([np.count_nonzero(a & (refit == k)) for k in refit_ids])
        out[int(c)] = float(np.max(inter / (a_size + b_sizes - inter)))
    return out


def bootstrap_stability(
    X: Any,
    labels: Any,
    fit_predict: Callable[[np.ndarray, np.random.Generator], Any],
    *,
    n_boot: int = 100,
    random_state: int | np.random.Generator | None = None,
    progress: Callable[[int, int], Any] | None = None,
    stable: float = 0.75,
    dissolved: float = 0.5,
    n_threads: int | None = 1,
    max_n: int = BOOTSTRAP_MAX_N,
) -> dict[str, Any]:
    """Cluster-wise bootstrap stability (Hennig 2007; ``fpc::clusterboot``).

    Each of ``n_boot`` resamples draws ``n`` row indices with replacement and keeps the
    unique drawn rows (clusterboot's default ``multipleboot=FALSE``). The clustering
    method is refitted on those rows with ``fit_predict``. For every original cluster
    ``C``, ``C*`` is ``C`` restricted to the resampled rows, and the resample records the
    largest Jaccard similarity ``|C* & K| / |C* | K|`` over the refit's clusters ``K``
    (noise, ``-1``, is never a cluster; a refit with no clusters gives 0). A resample in
    which ``C*`` is empty records nothing for ``C``.

    Parameters
    ----------
    X : array-like, shape (n, d)
        Finite numeric data, as clustered originally.
    labels : array-like of int, shape (n,)
        The original clustering of all ``n`` rows: integers ``>= 0``, ``-1`` for noise or
        unassigned rows (which belong to no cluster).
    fit_predict : callable
        ``fit_predict(X_sample, rng) -> labels_sample`` refits the clustering method (same
        settings, e.g. same number of clusters) on ``X_sample`` and returns one integer
        label per row of ``X_sample`` (``-1`` allowed). ``rng`` is a
        :class:`numpy.random.Generator` derived from ``random_state``, one per resample;
        use it for any randomness so that the result is reproducible.
    n_boot : int
        Number of bootstrap resamples.
    random_state : int, numpy.random.Generator or None
        Seed; deterministic for a given integer seed (a Generator is consumed).
    progress : callable, optional
        Called as ``progress(i, n_boot)`` after resample ``i`` (1-based).
    stable, dissolved : float
        Verdict thresholds on the mean Jaccard (Hennig's guidance): ``"stable"`` if
        ``mean >= stable``, ``"dissolved"`` if ``mean < dissolved``, else ``"weak"``.
        ``dissolved`` is also the Jaccard at or below which a single resample counts as
        a dissolution (clusterboot's ``bootbrd``).
    n_threads : int or None
        BLAS/OpenMP thread limit while ``fit_predict`` runs (via :mod:`threadpoolctl`).
        The default 1 suits the many small refits of a bootstrap: multi-threaded
        :class:`~sklearn.mixture.GaussianMixture` refits of 1,000 rows ran about 40
        times slower on a busy 2-core machine. ``None`` leaves the limits alone.
    max_n : int
        When ``n > max_n`` the resamples are drawn from a fixed random subsample of
        ``max_n`` rows (with their original labels), as :func:`sigclust` does: each refit
        of a many-component mixture on 100,000 rows takes seconds, and a cluster of at least
        5% of 20,000 rows still has 1,000 members. Fewer rows make refits noisier, so the
        Jaccard values can only be conservative. ``n`` and ``n_used`` are returned.

    Returns
    -------
    dict
        ``n_boot``; ``clusters``: ``{label: {"mean_jaccard", "n_dissolved", "n_valid",
        "verdict"}}`` keyed by the original integer label (``json.dumps`` turns the keys
        into strings), where ``mean_jaccard`` is clusterboot's ``bootmean`` (``None`` and
        verdict ``"not assessed"`` if the cluster was never resampled) and ``n_valid``
        the number of resamples that contained the cluster; ``mean_ari`` and ``ari_sd``
        (``ddof=1``; 0 for one resample), the adjusted Rand index between the original
        and refit labels on the resampled rows, noise counting as a label of its own;
        ``method`` (a description).

    Raises
    ------
    ValueError
        Bad ``X``, ``labels``, thresholds or ``n_boot``, no cluster in ``labels``, or
        ``fit_predict`` returned the wrong number of labels or non-integer labels.

    Notes
    -----
    Stability is necessary, not sufficient: a method forced to cut a single Gaussian can
    still be stable (for example a 1-D split at the median), which is why
    :func:`sigclust` must pass as well. Clusters with mean Jaccard below 0.5 should be
    considered dissolved and not interpreted; Hennig calls 0.6-0.75 patterns, and only
    values above about 0.85 highly stable.

    References
    ----------
    Hennig C. Cluster-wise assessment of cluster stability. Comput Stat Data Anal
    2007;52:258-271.

    Hennig C. fpc: Flexible procedures for clustering, function ``clusterboot``. R package.

    Hubert L, Arabie P. Comparing partitions. J Classif 1985;2:193-218.

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(0, 1, (50, 2)) + [10, 0]])
    >>> lab = KMeans(2, n_init=3, random_state=0).fit_predict(x)
    >>> def refit(xs, r):
    ...     return KMeans(2, n_init=3, random_state=int(r.integers(2**31 - 1))).fit_predict(xs)
    >>> res = bootstrap_stability(x, lab, refit, n_boot=5, random_state=0)
    >>> [c["verdict"] for c in res["clusters"].values()], res["mean_ari"]
    (['stable', 'stable'], 1.0)
    """
    arr = _as_data(X, min_rows=2)
    n = arr.shape[0]
    lab = _as_labels(labels, n, "labels")
    clusters = np.unique(lab[lab >= 0])
    if clusters.size == 0:
        raise ValueError("labels contain no cluster (all rows are -1 = noise)")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer; got {n_boot!r}")
    if not (0.0 <= dissolved <= stable <= 1.0):
        raise ValueError(
            f"thresholds must satisfy 0 <= dissolved <= stable <= 1; got dissolved={dissolved}, stable={stable}"
        )
    if not callable(fit_predict):
        raise ValueError("fit_predict must be a callable fit_predict(X_sample, rng) -> labels")
    n_boot = int(n_boot)

    if n_threads is not None and (
        isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or n_threads < 1
    ):
        raise ValueError(f"n_threads must be a positive integer or None; got {n_threads!r}")

    if isinstance(max_n, bool) or not isinstance(max_n, (int, np.integer)) or max_n < 2:
        raise ValueError(f"max_n must be an integer >= 2; got {max_n!r}")
    rng = np.random.default_rng(random_state)
    n_all = n
    if n > max_n:
        sub = np.sort(rng.choice(n, size=int(max_n), replace=False))
        arr, lab, n = arr[sub], lab[sub], int(max_n)
    jaccards: dict[int, list[float]] = {int(c): [] for c in clusters}
    aris = np.empty(n_boot)
    limiter = threadpool_limits(limits=int(n_threads)) if n_threads is not None else contextlib.nullcontext()
    with limiter:
        for b in range(n_boot):
            rows = np.unique(rng.integers(0, n, size=n))
            child = np.random.default_rng(int(rng.integers(np.iinfo(np.int64).max)))
            refit = _as_labels(fit_predict(arr[rows], child), rows.size, "fit_predict's labels")
            original = lab[rows]
            for c, j in _max_jaccard(original, refit, clusters).items():
                jaccards[c].append(j)
            aris[b] = adjusted_rand_score(original, refit)
            if progress is not None:
                progress(b + 1, n_boot)

    out_clusters: dict[int, dict[str, Any]] = {}
    for c, values in jaccards.items():
        if values:
            mean = float(np.mean(values))
            verdict = "stable" if mean >= stable else ("dissolved" if mean < dissolved else "weak")
        else:
            mean, verdict = None, "not assessed"
        out_clusters[c] = {
            "mean_jaccard": mean,
            "n_dissolved": int(sum(v <= dissolved for v in values)),
            "n_valid": len(values),
            "verdict": verdict,
        }
    method = (
        f"Cluster-wise bootstrap stability (Hennig 2007, fpc::clusterboot): {n_boot} resamples of n rows "
        "with replacement, duplicates dropped; method refitted on each; per original cluster the "
        "maximum Jaccard with a refit cluster (noise -1 never a cluster), averaged over resamples "
        f"containing the cluster; stable if mean >= {stable}, dissolved if mean < {dissolved}, else weak; "
        f"n_dissolved counts resamples with Jaccard <= {dissolved}; ARI on resampled rows, noise as its own label"
        + (f"; resamples drawn from a fixed random subsample of {n} of {n_all} rows" if n < n_all else "")
    )
    return {
        "n_boot": n_boot,
        "n": n_all,
        "n_used": n,
        "clusters": out_clusters,
        "mean_ari": float(aris.mean()),
        "ari_sd": float(aris.std(ddof=1)) if n_boot > 1 else 0.0,
        "method": method,
    }
