"""Density-based clustering with HDBSCAN (``subtype.method: hdbscan``).

The one method here that chooses no number of clusters and leaves some rows unassigned
(noise, label -1).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import HDBSCAN
from sklearn.neighbors import KNeighborsClassifier

from stratify.subtype.base import check_fit_data, draw_seed, single_threaded

__all__ = ["HDBSCANClusters"]


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
    n_features_in_ : int
        Number of features seen in ``fit``.

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

    def __init__(
        self,
        min_cluster_fraction: float = 0.05,
        min_samples: int | None = None,
        max_fit: int = 20_000,
        random_state: int | None = None,
    ):
        self.min_cluster_fraction = min_cluster_fraction
        self.min_samples = min_samples
        self.max_fit = max_fit
        self.random_state = random_state

    @single_threaded
    def fit(self, X, y=None):
        """Cluster ``X`` (on a subsample of ``max_fit`` rows when it has more); returns ``self``."""
        X = check_fit_data(self, X)
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
        sub_labels = (
            HDBSCAN(min_cluster_size=self.min_cluster_size_, min_samples=min_samples, copy=True)
            .fit(X[self.fit_index_])
            .labels_
        )
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

    @single_threaded
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
        return clone(self).set_params(random_state=draw_seed(rng)).fit(X).labels_
