"""Clustering methods for depression subtyping behind one interface.

Every estimator here follows scikit-learn conventions (``__init__`` only stores its
parameters, ``fit(X)`` returns ``self``, learned attributes end in ``_``) and exposes

``labels_``
    one integer label per row of ``X``; ``-1`` marks noise where the method has noise
    (only :class:`HDBSCANClusters`).
``n_clusters_``
    the number of clusters found; 1 when the method finds no structure. k-means based
    methods cannot say "one cluster" and always report at least 2: whether any
    clustering is real is decided by the existence test against a no-cluster null,
    elsewhere in the pipeline, never by these estimators.
``criterion_``
    ``{k: value}`` of the criterion that chose the number of clusters, for plots (empty
    for HDBSCAN, which chooses no k).
``refit_fixed(X, rng)``
    re-fits the *chosen* solution (same number of clusters, or for HDBSCAN the same
    parameters) on new data and returns its labels; used for bootstrap stability.

``fit`` and ``refit_fixed`` run with BLAS and OpenMP limited to one thread
(threadpoolctl). At these problem sizes (thousands of patients, a handful of features)
threads gain little, and on a shared, loaded machine they stall: a Gaussian-mixture fit
on 500 x 3 took 30 times longer with two threads than with one. Parallelism belongs to
the caller (e.g. bootstrap replicates in separate processes).

:data:`METHODS` maps the configuration's method names to the classes and
:func:`make_method` builds one with consistent parameters.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils import check_array
from threadpoolctl import ThreadpoolController

from stratify.subtype.mixture import GaussianMixtureBIC

log = logging.getLogger(__name__)

__all__ = ["GMMBIC", "METHODS", "ConsensusPAC", "HDBSCANClusters", "KMeansSilhouette", "consensus_matrix",
           "make_method", "pac"]

_SEED_MAX = 2**31 - 1


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def _single_threaded(method):
    """Run ``method`` with BLAS and OpenMP thread pools limited to one thread."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _controller().limit(limits=1):
            return method(*args, **kwargs)
    return wrapper


def _seed(rng) -> int:
    """An integer seed drawn from ``rng`` (a ``numpy.random.Generator``, an int or None)."""
    return int(np.random.default_rng(rng).integers(_SEED_MAX))


def _check_X(X) -> np.ndarray:
    return check_array(X, dtype=float, ensure_min_samples=2)


def _smallest_share(labels: np.ndarray, k: int) -> float:
    return float(np.bincount(labels, minlength=k).min() / len(labels))


def _refit_kmeans(X, k: int, rng) -> np.ndarray:
    """k-means with k fixed and 3 restarts, seeded from ``rng``; returns the labels."""
    X = _check_X(X)
    return KMeans(n_clusters=k, n_init=3, random_state=_seed(rng)).fit_predict(X)


# --------------------------------------------------------------------------------------
# 1. Gaussian mixture, k by BIC
# --------------------------------------------------------------------------------------


class GMMBIC(GaussianMixtureBIC):
    """:class:`stratify.subtype.mixture.GaussianMixtureBIC` with the common clustering interface.

    Same parameters and selection as the parent (full-covariance Gaussian mixtures for
    k = 1..max_k, lowest BIC wins, solutions with a component below
    ``min_cluster_fraction`` of the patients are not eligible); adds ``labels_``,
    ``n_clusters_``, ``criterion_`` and :meth:`refit_fixed`. Unlike the k-means methods
    it can answer "one cluster" (k = 1 is always a candidate).

    Parameters
    ----------
    max_k : int, default 6
        Largest number of components tried.
    n_init : int, default 5
        Restarts per k.
    min_cluster_fraction : float, default 0.05
        A solution with a component holding less than this share of rows is not chosen.
    random_state : int or None, default None

    Attributes
    ----------
    labels_ : ndarray of int, shape (n,)
        ``predict(X)`` of the chosen mixture.
    n_clusters_ : int
        Chosen number of components (``n_components_``), 1 when a single Gaussian wins.
    criterion_ : dict[int, float]
        BIC per eligible k (same as ``bic_``; lower is better). The BIC of a k excluded by
        the size rule is not kept by the parent, so such a k is absent here.
    skipped_ : list[int]
        k in 2..max_k (and at most n // 2) excluded by ``min_cluster_fraction``.
    bic_, n_components_, model_
        As in the parent.

    References
    ----------
    .. [1] Schwarz G. (1978). Estimating the dimension of a model. Annals of Statistics
       6:461-464.
    .. [2] Fraley C., Raftery A.E. (2002). Model-based clustering, discriminant analysis,
       and density estimation. JASA 97:611-631.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(6, 1, (100, 2))])
    >>> est = GMMBIC(max_k=3, n_init=1, random_state=0).fit(x)
    >>> est.n_clusters_, sorted(est.criterion_) == sorted(est.bic_), len(est.labels_)
    (2, True, 300)
    >>> len(set(est.refit_fixed(x, np.random.default_rng(1))))
    2
    """

    @_single_threaded
    def fit(self, X, y=None):
        X = _check_X(X)
        super().fit(X)
        self.labels_ = self.model_.predict(X)
        self.n_clusters_ = int(self.n_components_)
        self.criterion_ = dict(self.bic_)
        self.skipped_ = [k for k in range(2, min(self.max_k, len(X) // 2) + 1) if k not in self.bic_]
        return self

    @_single_threaded
    def refit_fixed(self, X, rng=None) -> np.ndarray:
        """Fit a Gaussian mixture with the chosen number of components on ``X``.

        Parameters
        ----------
        X : array-like, shape (m, d)
        rng : numpy.random.Generator, int or None
            Source of the mixture's ``random_state``.

        Returns
        -------
        ndarray of int, shape (m,)
            Component labels (``n_init=1``, ``reg_covar=1e-4`` as in the selection fit).
        """
        X = _check_X(X)
        gm = GaussianMixture(n_components=self.n_clusters_, covariance_type="full", n_init=1,
                             random_state=_seed(rng), reg_covar=1e-4).fit(X)
        return gm.predict(X)


# --------------------------------------------------------------------------------------
# 2. k-means, k by silhouette
# --------------------------------------------------------------------------------------


class _KMeansFinal:
    """``predict`` and ``refit_fixed`` of methods whose final partition is a k-means
    (``model_``) with the chosen number of clusters (``n_clusters_``)."""

    def predict(self, X):
        """Nearest chosen centroid for each row of ``X``."""
        return self.model_.predict(_check_X(X))

    @_single_threaded
    def refit_fixed(self, X, rng=None) -> np.ndarray:
        """k-means with the chosen k (3 restarts) on ``X``; returns its labels.

        Parameters
        ----------
        X : array-like, shape (m, d)
        rng : numpy.random.Generator, int or None

        Returns
        -------
        ndarray of int, shape (m,)
        """
        return _refit_kmeans(X, self.n_clusters_, rng)


class KMeansSilhouette(_KMeansFinal, ClusterMixin, BaseEstimator):
    """k-means with k in 2..max_k chosen by the highest mean silhouette width.

    The silhouette [1]_ of each solution is computed on one fixed random subsample of at
    most ``sample_size`` rows (the same rows for every k), because it costs O(n^2).
    k-means cannot say "one cluster": ``n_clusters_ >= 2`` always, and the existence test
    against a no-cluster null (elsewhere in the pipeline) decides whether any clustering
    is real.

    Parameters
    ----------
    max_k : int, default 6
        Largest k tried (capped at n - 1).
    n_init : int, default 5
        k-means restarts per k.
    min_cluster_fraction : float, default 0.05
        A solution with a cluster holding less than this share of rows is skipped. If every
        k is skipped, the k with the highest silhouette is used anyway and a warning is
        logged.
    sample_size : int, default 5000
        Rows used for the silhouette.
    random_state : int or None, default None

    Attributes
    ----------
    labels_ : ndarray of int, shape (n,)
    n_clusters_ : int
    criterion_ : dict[int, float]
        Mean silhouette per k tried (higher is better), including skipped k.
    skipped_ : list[int]
        k excluded by ``min_cluster_fraction``.
    model_ : sklearn.cluster.KMeans
        The chosen solution.

    References
    ----------
    .. [1] Rousseeuw P.J. (1987). Silhouettes: a graphical aid to the interpretation and
       validation of cluster analysis. J Comput Appl Math 20:53-65.
    .. [2] Lloyd S. (1982). Least squares quantization in PCM. IEEE Trans Inf Theory
       28:129-137.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(8, 1, (100, 2))])
    >>> est = KMeansSilhouette(max_k=4, random_state=0).fit(x)
    >>> est.n_clusters_, sorted(est.criterion_)
    (2, [2, 3, 4])
    """

    def __init__(self, max_k: int = 6, n_init: int = 5, min_cluster_fraction: float = 0.05,
                 sample_size: int = 5000, random_state: int | None = None):
        self.max_k = max_k
        self.n_init = n_init
        self.min_cluster_fraction = min_cluster_fraction
        self.sample_size = sample_size
        self.random_state = random_state

    @_single_threaded
    def fit(self, X, y=None):
        X = _check_X(X)
        n = len(X)
        if self.max_k < 2:
            raise ValueError(f"max_k must be at least 2 for k-means, got {self.max_k}")
        rng = np.random.default_rng(self.random_state)
        sub = np.sort(rng.choice(n, self.sample_size, replace=False)) if n > self.sample_size else np.arange(n)
        self.criterion_, self.skipped_, models = {}, [], {}
        for k in range(2, min(self.max_k, n - 1) + 1):
            km = KMeans(n_clusters=k, n_init=self.n_init, random_state=_seed(rng)).fit(X)
            lab = km.labels_
            if len(np.unique(lab[sub])) < 2:
                continue
            self.criterion_[k] = float(silhouette_score(X[sub], lab[sub]))
            models[k] = km
            if _smallest_share(lab, k) < self.min_cluster_fraction:
                self.skipped_.append(k)
        if not models:
            raise ValueError(f"k-means found no solution with at least 2 clusters on {n} rows")
        eligible = [k for k in models if k not in self.skipped_]
        if not eligible:
            log.warning("every k has a cluster below min_cluster_fraction=%s; using the best silhouette anyway",
                        self.min_cluster_fraction)
            eligible = list(models)
        self.n_clusters_ = max(eligible, key=lambda k: (self.criterion_[k], -k))
        self.model_ = models[self.n_clusters_]
        self.labels_ = self.model_.labels_.astype(int)
        return self



# --------------------------------------------------------------------------------------
# 3. HDBSCAN
# --------------------------------------------------------------------------------------


class HDBSCANClusters(ClusterMixin, BaseEstimator):
    """Density-based clustering with HDBSCAN [1]_ (``sklearn.cluster.HDBSCAN``).

    ``min_cluster_size = max(5, ceil(min_cluster_fraction * n_fit))`` where ``n_fit`` is
    the number of rows HDBSCAN is fitted on. Rows HDBSCAN leaves unassigned get label -1
    (noise). ``allow_single_cluster`` stays False (scikit-learn's default): on a single
    Gaussian HDBSCAN then labels every row noise, which we report as one cluster; with
    ``allow_single_cluster=True`` it was seen to merge two clusters 6 SD apart in 4-D.

    **No structure.** If HDBSCAN finds 0 or 1 cluster, every row gets label 0 (noise
    included) and ``n_clusters_ = 1``.

    **Large n.** HDBSCAN is slow beyond some 20,000 rows, so when ``n > max_fit`` it is
    fitted on a fixed random subsample of ``max_fit`` rows; every other row takes the
    label of its nearest non-noise subsample row (1-nearest-neighbour classifier), so
    rows outside the subsample are never noise.

    Parameters
    ----------
    min_cluster_fraction : float, default 0.05
        Smallest cluster as a share of the rows fitted.
    min_samples : int or None, default None
        HDBSCAN's ``min_samples``; None means scikit-learn's default (= min_cluster_size).
    max_fit : int, default 20000
        Most rows HDBSCAN itself is fitted on.
    random_state : int or None, default None
        Only chooses the subsample when ``n > max_fit`` (HDBSCAN is deterministic).

    Attributes
    ----------
    labels_ : ndarray of int, shape (n,)
        Cluster labels 0..n_clusters_-1, -1 for noise.
    n_clusters_ : int
        Number of non-noise clusters, or 1 when HDBSCAN finds 0 or 1.
    criterion_ : dict
        Always empty: HDBSCAN chooses no k.
    min_cluster_size_ : int
    fit_index_ : ndarray of int
        Rows HDBSCAN was fitted on (all rows when ``n <= max_fit``).
    noise_fraction_ : float
        Share of rows labelled -1.

    References
    ----------
    .. [1] Campello R.J.G.B., Moulavi D., Sander J. (2013). Density-based clustering based
       on hierarchical density estimates. PAKDD 2013, LNCS 7819:160-172.
    .. [2] McInnes L., Healy J., Astels S. (2017). hdbscan: Hierarchical density based
       clustering. J Open Source Softw 2(11):205.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (150, 2)), rng.normal(10, 1, (150, 2))])
    >>> est = HDBSCANClusters().fit(x)
    >>> est.n_clusters_, est.criterion_, est.min_cluster_size_
    (2, {}, 15)
    """

    def __init__(self, min_cluster_fraction: float = 0.05, min_samples: int | None = None,
                 max_fit: int = 20_000, random_state: int | None = None):
        self.min_cluster_fraction = min_cluster_fraction
        self.min_samples = min_samples
        self.max_fit = max_fit
        self.random_state = random_state

    @_single_threaded
    def fit(self, X, y=None):
        X = _check_X(X)
        n = len(X)
        if n > self.max_fit:
            rng = np.random.default_rng(self.random_state)
            self.fit_index_ = np.sort(rng.choice(n, self.max_fit, replace=False))
        else:
            self.fit_index_ = np.arange(n)
        n_fit = len(self.fit_index_)
        self.min_cluster_size_ = max(5, math.ceil(self.min_cluster_fraction * n_fit))
        self.criterion_ = {}
        if n_fit <= self.min_cluster_size_:
            return self._no_structure(n)
        min_samples = None if self.min_samples is None else min(self.min_samples, n_fit - 1)
        sub_labels = HDBSCAN(min_cluster_size=self.min_cluster_size_, min_samples=min_samples,
                             copy=True).fit(X[self.fit_index_]).labels_
        found = np.unique(sub_labels[sub_labels >= 0])
        if len(found) <= 1:
            return self._no_structure(n)
        sub_labels = np.where(sub_labels >= 0, np.searchsorted(found, sub_labels), -1).astype(int)
        if n_fit == n:
            labels = sub_labels
        else:
            labels = np.empty(n, dtype=int)
            labels[self.fit_index_] = sub_labels
            rest = np.setdiff1d(np.arange(n), self.fit_index_, assume_unique=True)
            core = sub_labels >= 0
            knn = KNeighborsClassifier(n_neighbors=1).fit(X[self.fit_index_][core], sub_labels[core])
            labels[rest] = knn.predict(X[rest])
        self.labels_ = labels
        self.n_clusters_ = len(found)
        self.noise_fraction_ = float((labels < 0).mean())
        return self

    def _no_structure(self, n: int):
        self.labels_ = np.zeros(n, dtype=int)
        self.n_clusters_ = 1
        self.noise_fraction_ = 0.0
        return self

    @_single_threaded
    def refit_fixed(self, X, rng=None) -> np.ndarray:
        """Refit with the same parameters on ``X``; returns the labels (-1 = noise).

        ``min_cluster_size`` is recomputed from ``min_cluster_fraction`` and the new number
        of rows; the number of clusters may differ from ``n_clusters_``.

        Parameters
        ----------
        X : array-like, shape (m, d)
        rng : numpy.random.Generator, int or None
            Seeds the subsample when ``m > max_fit``.

        Returns
        -------
        ndarray of int, shape (m,)
        """
        return clone(self).set_params(random_state=_seed(rng)).fit(X).labels_


# --------------------------------------------------------------------------------------
# 4. Consensus clustering, k by PAC
# --------------------------------------------------------------------------------------


def consensus_matrix(labels_per_resample, sampled_mask) -> np.ndarray:
    """Consensus matrix of Monti et al. (2003) from clusterings of resamples.

    ``M[i, j]`` = (number of resamples in which i and j were both sampled and put in the
    same cluster) / (number of resamples in which both were sampled). Counting is
    vectorised: one-hot cluster memberships of all resamples side by side (n x sum of k)
    times their transpose gives the co-clustering counts, the sampling indicator (n x R)
    times its transpose the co-sampling counts.

    Parameters
    ----------
    labels_per_resample : array-like of int, shape (R, n)
        Cluster label of item i in resample r; ignored where ``sampled_mask`` is False. A
        negative label marks a sampled but unclustered item (never co-clustered).
    sampled_mask : array-like of bool, shape (R, n)
        Whether item i was in resample r.

    Returns
    -------
    ndarray of float, shape (n, n)
        Symmetric; NaN for pairs never sampled together (and on the diagonal for items
        never sampled).

    References
    ----------
    .. [1] Monti S., Tamayo P., Mesirov J., Golub T. (2003). Consensus clustering: a
       resampling-based method for class discovery and visualization of gene expression
       microarray data. Machine Learning 52:91-118.

    Examples
    --------
    >>> labels = [[0, 0, 1], [0, 1, 1]]
    >>> consensus_matrix(labels, np.ones((2, 3), bool))
    array([[1. , 0.5, 0. ],
           [0.5, 1. , 0.5],
           [0. , 0.5, 1. ]])
    """
    L = np.asarray(labels_per_resample)
    S = np.asarray(sampled_mask, dtype=bool)
    if L.ndim != 2 or L.shape != S.shape:
        raise ValueError(f"labels and mask must both be (R, n); got {L.shape} and {S.shape}")
    if not np.issubdtype(L.dtype, np.integer):
        raise ValueError("labels must be integers")
    n = L.shape[1]
    member = S & (L >= 0)
    width = np.where(member.any(axis=1), np.where(member, L, 0).max(axis=1) + 1, 0)
    offset = np.concatenate([[0], np.cumsum(width)[:-1]])
    r_idx, i_idx = np.nonzero(member)
    H = np.zeros((n, int(width.sum())))
    H[i_idx, offset[r_idx] + L[r_idx, i_idx]] = 1.0
    together = H @ H.T
    sampled = S.T.astype(float)
    both = sampled @ sampled.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(both > 0, together / both, np.nan)


def pac(consensus, lower: float = 0.1, upper: float = 0.9) -> float:
    """Proportion of ambiguous clustering (PAC) of a consensus matrix.

    The share of item pairs i < j (pairs never sampled together, NaN, left out) whose
    consensus lies in ``(lower, upper]``, i.e. ``CDF(upper) - CDF(lower)`` of the
    empirical distribution of consensus values as defined by Senbabaoglu et al. (2014).
    The interval is closed at ``upper``: a pair together in exactly 90% of its resamples
    counts as ambiguous. Lower is better; 0 means every pair is (almost) always or
    (almost) never clustered together.

    Parameters
    ----------
    consensus : array-like, shape (n, n)
        Consensus matrix (see :func:`consensus_matrix`).
    lower, upper : float, default 0.1 and 0.9

    Returns
    -------
    float

    References
    ----------
    .. [1] Senbabaoglu Y., Michailidis G., Li J.Z. (2014). Critical limitations of consensus
       clustering in class discovery. Scientific Reports 4:6207.

    Examples
    --------
    >>> pac([[1, .5, 0], [.5, 1, .95], [0, .95, 1]])   # one of three pairs is ambiguous
    0.3333333333333333
    """
    M = np.asarray(consensus, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"consensus must be a square matrix, got shape {M.shape}")
    vals = M[np.triu_indices(len(M), k=1)]
    vals = vals[~np.isnan(vals)]
    if vals.size == 0:
        raise ValueError("no pair of items was sampled together")
    return float(np.mean((vals > lower) & (vals <= upper)))


class ConsensusPAC(_KMeansFinal, ClusterMixin, BaseEstimator):
    """Consensus k-means [1]_ with k in 2..max_k chosen by the lowest PAC [2]_.

    For each k, k-means (one start) is run on ``n_resamples`` random subsamples of
    ``subsample`` (80%) of the items, without replacement; the consensus matrix records
    how often each pair clustered together when both were sampled, and PAC is the share
    of pairs with consensus in (0.1, 0.9] (see :func:`pac`). The k with the lowest PAC
    wins (ties go to the smaller k).

    **Items.** Consensus matrices are n x n, so they are built on at most ``max_items``
    randomly chosen rows (fixed across k); PAC is estimated on those.

    **Final partition.** Monti et al. cut a hierarchical clustering of the consensus
    matrix; here the final labels are k-means with the chosen k (``n_init`` restarts) on
    *all* rows, so that every patient (not only the ``max_items``) gets a label and
    bootstrap refits are cheap. A k whose final k-means has a cluster below
    ``min_cluster_fraction`` is not eligible (if none is, the lowest PAC is used anyway
    with a warning). Like k-means, this method cannot say "one cluster"
    (``n_clusters_ >= 2``); the existence test elsewhere decides whether clustering is
    real — PAC itself is known to favour some k even on unimodal data [2]_.

    Parameters
    ----------
    max_k : int, default 6
        Largest k tried (capped so that every resample has more than k items).
    n_resamples : int, default 50
        Resamples per k.
    subsample : float, default 0.8
        Share of the items in each resample.
    max_items : int, default 2000
        Most rows entering the consensus matrices.
    min_cluster_fraction : float, default 0.05
    n_init : int, default 10
        Restarts of the final k-means on all rows.
    random_state : int or None, default None

    Attributes
    ----------
    labels_ : ndarray of int, shape (n,)
    n_clusters_ : int
    criterion_ : dict[int, float]
        PAC per k tried (lower is better), including skipped k.
    skipped_ : list[int]
        k excluded by ``min_cluster_fraction``.
    items_ : ndarray of int
        Rows used for the consensus matrices.
    consensus_ : ndarray, shape (len(items_), len(items_))
        Consensus matrix at the chosen k (for heatmaps).
    model_ : sklearn.cluster.KMeans
        The final k-means.

    References
    ----------
    .. [1] Monti S., Tamayo P., Mesirov J., Golub T. (2003). Consensus clustering: a
       resampling-based method for class discovery and visualization of gene expression
       microarray data. Machine Learning 52:91-118.
    .. [2] Senbabaoglu Y., Michailidis G., Li J.Z. (2014). Critical limitations of consensus
       clustering in class discovery. Scientific Reports 4:6207.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(8, 1, (60, 2))])
    >>> est = ConsensusPAC(max_k=3, n_resamples=10, random_state=0).fit(x)
    >>> est.n_clusters_, est.criterion_[2]
    (2, 0.0)
    """

    def __init__(self, max_k: int = 6, n_resamples: int = 50, subsample: float = 0.8,
                 max_items: int = 2000, min_cluster_fraction: float = 0.05, n_init: int = 10,
                 random_state: int | None = None):
        self.max_k = max_k
        self.n_resamples = n_resamples
        self.subsample = subsample
        self.max_items = max_items
        self.min_cluster_fraction = min_cluster_fraction
        self.n_init = n_init
        self.random_state = random_state

    @_single_threaded
    def fit(self, X, y=None):
        X = _check_X(X)
        n = len(X)
        if self.max_k < 2:
            raise ValueError(f"max_k must be at least 2 for k-means, got {self.max_k}")
        if not 0 < self.subsample <= 1:
            raise ValueError(f"subsample must be in (0, 1], got {self.subsample}")
        rng = np.random.default_rng(self.random_state)
        self.items_ = np.sort(rng.choice(n, self.max_items, replace=False)) if n > self.max_items else np.arange(n)
        Xi = X[self.items_]
        m = len(Xi)
        size = max(2, math.ceil(self.subsample * m))
        ks = list(range(2, min(self.max_k, size - 1) + 1))
        if not ks:
            raise ValueError(f"too few rows ({n}) for consensus clustering")
        self.criterion_, matrices = {}, {}
        for k in ks:
            labels = np.full((self.n_resamples, m), -1, dtype=int)
            mask = np.zeros((self.n_resamples, m), dtype=bool)
            for r in range(self.n_resamples):
                idx = rng.choice(m, size, replace=False)
                km = KMeans(n_clusters=k, n_init=1, random_state=_seed(rng)).fit(Xi[idx])
                labels[r, idx] = km.labels_
                mask[r, idx] = True
            matrices[k] = consensus_matrix(labels, mask)
            self.criterion_[k] = pac(matrices[k])
        self.skipped_, models = [], {}
        final_seed = _seed(rng)
        for k in sorted(ks, key=lambda k: (self.criterion_[k], k)):
            km = KMeans(n_clusters=k, n_init=self.n_init, random_state=final_seed).fit(X)
            models[k] = km
            if _smallest_share(km.labels_, k) >= self.min_cluster_fraction:
                break
            self.skipped_.append(k)
        else:
            log.warning("every k has a cluster below min_cluster_fraction=%s; using the lowest PAC anyway",
                        self.min_cluster_fraction)
        chosen = min(models, key=lambda k: (k in self.skipped_, self.criterion_[k], k))
        self.n_clusters_ = chosen
        self.model_ = models[chosen]
        self.labels_ = self.model_.labels_.astype(int)
        self.consensus_ = matrices[chosen]
        return self



# --------------------------------------------------------------------------------------
# 5. Registry
# --------------------------------------------------------------------------------------

METHODS: dict[str, type] = {
    "gmm_bic": GMMBIC,
    "kmeans": KMeansSilhouette,
    "hdbscan": HDBSCANClusters,
    "consensus": ConsensusPAC,
}


def make_method(name: str, *, max_k: int, min_cluster_fraction: float, n_init: int,
                random_state: int | None) -> Any:
    """Build the clustering method called ``name`` in the configuration.

    Every method gets ``min_cluster_fraction`` and ``random_state``. ``max_k`` goes to
    all but HDBSCAN (which chooses no k); ``n_init`` is the restarts per k for
    ``gmm_bic`` and ``kmeans`` and the final k-means restarts for ``consensus``. Other
    parameters keep their defaults.

    Parameters
    ----------
    name : {"gmm_bic", "kmeans", "hdbscan", "consensus"}
    max_k, min_cluster_fraction, n_init, random_state
        See the classes.

    Returns
    -------
    estimator
        Unfitted.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid names.

    Examples
    --------
    >>> make_method("kmeans", max_k=4, min_cluster_fraction=0.1, n_init=2, random_state=0)
    KMeansSilhouette(max_k=4, min_cluster_fraction=0.1, n_init=2, random_state=0)
    >>> make_method("hdbscan", max_k=4, min_cluster_fraction=0.1, n_init=2, random_state=0)
    HDBSCANClusters(min_cluster_fraction=0.1, random_state=0)
    """
    if name not in METHODS:
        raise ValueError(f"unknown clustering method {name!r}; valid methods: {', '.join(sorted(METHODS))}")
    common = {"min_cluster_fraction": min_cluster_fraction, "random_state": random_state}
    if name == "hdbscan":
        return HDBSCANClusters(**common)
    return METHODS[name](max_k=max_k, n_init=n_init, **common)
