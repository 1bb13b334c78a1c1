"""Consensus clustering with the number of clusters chosen by PAC (``subtype.method: consensus``).

:func:`consensus_matrix` (Monti et al. 2003) and :func:`pac` (Senbabaoglu et al. 2014) are
the building blocks; :class:`ConsensusPAC` is the estimator. Its final partition is a
k-means (:class:`stratify.subtype.kmeans.KMeansFinal`).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans

from stratify.subtype.base import check_fit_data, draw_seed, single_threaded, smallest_share
from stratify.subtype.kmeans import KMeansFinal

log = logging.getLogger(__name__)

__all__ = ["ConsensusPAC", "consensus_matrix", "pac"]


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


class ConsensusPAC(KMeansFinal, ClusterMixin, BaseEstimator):
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
    n_features_in_ : int
        Number of features seen in ``fit``.

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

    def __init__(
        self,
        max_k: int = 6,
        n_resamples: int = 50,
        subsample: float = 0.8,
        max_items: int = 2000,
        min_cluster_fraction: float = 0.05,
        n_init: int = 10,
        random_state: int | None = None,
    ):
        self.max_k = max_k
        self.n_resamples = n_resamples
        self.subsample = subsample
        self.max_items = max_items
        self.min_cluster_fraction = min_cluster_fraction
        self.n_init = n_init
        self.random_state = random_state

    @single_threaded
    def fit(self, X, y=None):
        """PAC for every k on resamples of the items, then the final k-means; returns ``self``."""
        X = check_fit_data(self, X)
        n = len(X)
        if self.max_k < 2:
            raise ValueError(f"max_k must be at least 2 for k-means, got {self.max_k}")
        if not 0 < self.subsample <= 1:
            raise ValueError(f"subsample must be in (0, 1], got {self.subsample}")
        rng = np.random.default_rng(self.random_state)
        self.items_ = np.sort(rng.choice(n, self.max_items, replace=False)) if n > self.max_items else np.arange(n)
        Xi = X[self.items_]
        size = max(2, math.ceil(self.subsample * len(Xi)))
        ks = list(range(2, min(self.max_k, size - 1) + 1))
        if not ks:
            raise ValueError(f"too few rows ({n}) for consensus clustering")
        matrices = {k: self._consensus_at(Xi, k, size, rng) for k in ks}
        self.criterion_ = {k: pac(matrices[k]) for k in ks}
        models = self._final_kmeans(X, ks, draw_seed(rng))
        chosen = min(models, key=lambda k: (k in self.skipped_, self.criterion_[k], k))
        self.n_clusters_ = chosen
        self.model_ = models[chosen]
        self.labels_ = self.model_.labels_.astype(int)
        self.consensus_ = matrices[chosen]
        return self

    def _consensus_at(self, Xi: np.ndarray, k: int, size: int, rng: np.random.Generator) -> np.ndarray:
        """Consensus matrix of ``n_resamples`` one-start k-means on subsamples of ``size`` items."""
        m = len(Xi)
        labels = np.full((self.n_resamples, m), -1, dtype=int)
        mask = np.zeros((self.n_resamples, m), dtype=bool)
        for r in range(self.n_resamples):
            idx = rng.choice(m, size, replace=False)
            km = KMeans(n_clusters=k, n_init=1, random_state=draw_seed(rng)).fit(Xi[idx])
            labels[r, idx] = km.labels_
            mask[r, idx] = True
        return consensus_matrix(labels, mask)

    def _final_kmeans(self, X: np.ndarray, ks: list[int], seed: int) -> dict[int, KMeans]:
        """k-means on all rows for k in order of PAC, up to the first without a too small
        cluster (sets ``skipped_``); returns the solutions fitted by k."""
        self.skipped_, models = [], {}
        for k in sorted(ks, key=lambda k: (self.criterion_[k], k)):
            km = KMeans(n_clusters=k, n_init=self.n_init, random_state=seed).fit(X)
            models[k] = km
            if smallest_share(km.labels_, k) >= self.min_cluster_fraction:
                break
            self.skipped_.append(k)
        else:
            log.warning(
                "every k has a cluster below min_cluster_fraction=%s; using the lowest PAC anyway",
                self.min_cluster_fraction,
            )
        return models
