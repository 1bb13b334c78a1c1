"""The clustering methods of the subtype stage behind one interface, by their config names.

:data:`METHODS` maps the configuration's ``subtype.method`` to the estimator classes, one
module per family, and :func:`make_method` builds one with consistent parameters:

========= ======================================================= ==============================
name      estimator                                               k chosen by
========= ======================================================= ==============================
gmm_bic   :class:`stratify.subtype.mixture.GaussianMixtureBIC`    BIC (k = 1 allowed)
kmeans    :class:`stratify.subtype.kmeans.KMeansSilhouette`       mean silhouette width
hdbscan   :class:`stratify.subtype.density.HDBSCANClusters`       none (density; noise is -1)
consensus :class:`stratify.subtype.consensus.ConsensusPAC`        PAC of consensus k-means
========= ======================================================= ==============================

Every estimator follows scikit-learn's conventions (``__init__`` only stores its parameters,
``fit(X)`` returns ``self``, learned attributes end in ``_``; ``check_estimator`` passes) and
exposes

``labels_``
    one integer label per row of ``X``; ``-1`` marks noise where the method has noise
    (only HDBSCAN).
``n_clusters_``
    the number of clusters found; 1 when the method finds no structure. k-means based
    methods cannot say "one cluster" and always report at least 2: whether any
    clustering is real is decided by the existence test against a no-cluster null
    (:func:`stratify.subtype.stats.sigclust`), never by these estimators.
``criterion_``
    ``{k: value}`` of the criterion that chose the number of clusters, for plots (empty
    for HDBSCAN, which chooses no k).
``refit_fixed(X, rng)``
    re-fits the *chosen* solution (same number of clusters, or for HDBSCAN the same
    parameters) on new data and returns its labels; used for bootstrap stability.

Fits run single-threaded (:mod:`stratify.subtype.base` says why).
"""

from __future__ import annotations

from typing import Any

from stratify.subtype.consensus import ConsensusPAC
from stratify.subtype.density import HDBSCANClusters
from stratify.subtype.kmeans import KMeansSilhouette
from stratify.subtype.mixture import GaussianMixtureBIC

__all__ = ["METHODS", "make_method"]

METHODS: dict[str, type] = {
    "gmm_bic": GaussianMixtureBIC,
    "kmeans": KMeansSilhouette,
    "hdbscan": HDBSCANClusters,
    "consensus": ConsensusPAC,
}


def make_method(name: str, *, max_k: int, min_cluster_fraction: float, n_init: int, random_state: int | None) -> Any:
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
