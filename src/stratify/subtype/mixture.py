"""Gaussian mixtures with the number of components chosen by BIC (``subtype.method: gmm_bic``).

The default clustering method of the subtype stage, and the only one that can answer "one
cluster": k = 1 (a single Gaussian) is always a candidate.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.mixture import GaussianMixture

from stratify.subtype.base import check_fit_data, check_predict_data, check_refit_data, draw_seed, single_threaded

__all__ = ["GaussianMixtureBIC"]


class GaussianMixtureBIC(ClusterMixin, BaseEstimator):
    """Gaussian mixture whose number of components is chosen by BIC.

    Full-covariance Gaussian mixtures (``reg_covar=1e-4``) are fitted for k = 1..max_k (and at
    most n // 2); the lowest BIC [1]_ [2]_ wins. A solution with a component holding less than
    ``min_cluster_fraction`` of the rows is not eligible (k = 1 always is).

    Parameters
    ----------
    max_k : int, default 6
        Largest number of components tried.
    n_init : int, default 5
        Restarts per k.
    min_cluster_fraction : float, default 0.05
        A solution with a component holding less than this share of rows is not chosen.
    random_state : int or None, default None
        ``random_state`` of every mixture fitted.

    Attributes
    ----------
    labels_ : ndarray of int, shape (n,)
        ``predict(X)`` of the chosen mixture.
    n_clusters_ : int
        Chosen number of components (``n_components_``), 1 when a single Gaussian wins.
    n_components_ : int
        The same number, by its mixture name.
    bic_ : dict[int, float]
        BIC per eligible k (lower is better). The BIC of a k excluded by the size rule is not
        kept, so such a k is absent here.
    criterion_ : dict[int, float]
        ``bic_`` (the criterion that chose k, under the name every method here uses).
    skipped_ : list[int]
        k in 2..max_k (and at most n // 2) excluded by ``min_cluster_fraction``.
    model_ : sklearn.mixture.GaussianMixture
        The chosen mixture.
    n_features_in_ : int
        Number of features seen in ``fit``.

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
    >>> est = GaussianMixtureBIC(max_k=3, n_init=1, random_state=0).fit(x)
    >>> est.n_clusters_, est.n_components_, sorted(est.criterion_) == sorted(est.bic_), len(est.labels_)
    (2, 2, True, 300)
    >>> len(set(est.refit_fixed(x, np.random.default_rng(1))))
    2
    """

    def __init__(
        self, max_k: int = 6, n_init: int = 5, min_cluster_fraction: float = 0.05, random_state: int | None = None
    ):
        self.max_k = max_k
        self.n_init = n_init
        self.min_cluster_fraction = min_cluster_fraction
        self.random_state = random_state

    @single_threaded
    def fit(self, X, y=None):
        """Fit a mixture per k and keep the one with the lowest BIC; returns ``self``."""
        X = check_fit_data(self, X)
        self.bic_, models = {}, {}
        for k in range(1, self.max_k + 1):
            if k > len(X) // 2:
                break
            gm = GaussianMixture(
                n_components=k,
                covariance_type="full",
                n_init=self.n_init,
                random_state=self.random_state,
                reg_covar=1e-4,
            ).fit(X)
            sizes = np.bincount(gm.predict(X), minlength=k) / len(X)
            if k > 1 and sizes.min() < self.min_cluster_fraction:
                continue
            self.bic_[k] = float(gm.bic(X))
            models[k] = gm
        self.n_components_ = min(self.bic_, key=self.bic_.get)
        self.model_ = models[self.n_components_]
        self.labels_ = self.model_.predict(X)
        self.n_clusters_ = int(self.n_components_)
        self.criterion_ = dict(self.bic_)
        self.skipped_ = [k for k in range(2, min(self.max_k, len(X) // 2) + 1) if k not in self.bic_]
        return self

    def predict(self, X):
        """Most probable component of the chosen mixture for each row of ``X``."""
        X = check_predict_data(self, X)
        return self.model_.predict(X)

    def predict_proba(self, X):
        """Posterior probability of each component of the chosen mixture, shape (n, n_clusters_)."""
        X = check_predict_data(self, X)
        return self.model_.predict_proba(X)

    @single_threaded
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
        X = check_refit_data(X)
        gm = GaussianMixture(
            n_components=self.n_clusters_, covariance_type="full", n_init=1, random_state=draw_seed(rng), reg_covar=1e-4
        ).fit(X)
        return gm.predict(X)
