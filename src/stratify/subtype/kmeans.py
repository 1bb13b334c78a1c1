"""k-means with the number of clusters chosen by the mean silhouette width (``subtype.method: kmeans``).

Also home of :class:`KMeansFinal`, the ``predict`` and ``refit_fixed`` of every method whose
final partition is a k-means (this one and :class:`stratify.subtype.consensus.ConsensusPAC`).
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from stratify.subtype.base import (
    check_fit_data,
    check_predict_data,
    check_refit_data,
    draw_seed,
    single_threaded,
    smallest_share,
)

log = logging.getLogger(__name__)

__all__ = ["KMeansFinal", "KMeansSilhouette", "refit_kmeans"]


def refit_kmeans(X, k: int, rng) -> np.ndarray:
    """k-means with k fixed and 3 restarts, seeded from ``rng``; returns the labels.

    >>> x = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> np.bincount(refit_kmeans(x, 2, 0)).tolist()
    [2, 2]
    """
    X = check_refit_data(X)
    return KMeans(n_clusters=k, n_init=3, random_state=draw_seed(rng)).fit_predict(X)


class KMeansFinal:
    """``predict`` and ``refit_fixed`` of methods whose final partition is a k-means
    (``model_``) with the chosen number of clusters (``n_clusters_``)."""

    def predict(self, X):
        """Nearest chosen centroid for each row of ``X``."""
        X = check_predict_data(self, X)
        return self.model_.predict(X)

    @single_threaded
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
        return refit_kmeans(X, self.n_clusters_, rng)


class KMeansSilhouette(KMeansFinal, ClusterMixin, BaseEstimator):
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
    n_features_in_ : int
        Number of features seen in ``fit``.

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

    def __init__(
        self,
        max_k: int = 6,
        n_init: int = 5,
        min_cluster_fraction: float = 0.05,
        sample_size: int = 5000,
        random_state: int | None = None,
    ):
        self.max_k = max_k
        self.n_init = n_init
        self.min_cluster_fraction = min_cluster_fraction
        self.sample_size = sample_size
        self.random_state = random_state

    @single_threaded
    def fit(self, X, y=None):
        """Fit k-means for every k and keep the best eligible silhouette; returns ``self``."""
        X = check_fit_data(self, X)
        n = len(X)
        if self.max_k < 2:
            raise ValueError(f"max_k must be at least 2 for k-means, got {self.max_k}")
        rng = np.random.default_rng(self.random_state)
        sub = np.sort(rng.choice(n, self.sample_size, replace=False)) if n > self.sample_size else np.arange(n)
        self.criterion_, self.skipped_, models = {}, [], {}
        for k in range(2, min(self.max_k, n - 1) + 1):
            km = KMeans(n_clusters=k, n_init=self.n_init, random_state=draw_seed(rng)).fit(X)
            lab = km.labels_
            if len(np.unique(lab[sub])) < 2:
                continue
            self.criterion_[k] = float(silhouette_score(X[sub], lab[sub]))
            models[k] = km
            if smallest_share(lab, k) < self.min_cluster_fraction:
                self.skipped_.append(k)
        if not models:
            raise ValueError(f"k-means found no solution with at least 2 clusters on {n} rows")
        eligible = [k for k in models if k not in self.skipped_]
        if not eligible:
            log.warning(
                "every k has a cluster below min_cluster_fraction=%s; using the best silhouette anyway",
                self.min_cluster_fraction,
            )
            eligible = list(models)
        self.n_clusters_ = max(eligible, key=lambda k: (self.criterion_[k], -k))
        self.model_ = models[self.n_clusters_]
        self.labels_ = self.model_.labels_.astype(int)
        return self
