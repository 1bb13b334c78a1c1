"""What every clustering estimator of :mod:`stratify.subtype.methods` shares.

``fit`` and ``refit_fixed`` run with BLAS and OpenMP limited to one thread
(:func:`single_threaded`, threadpoolctl). At these problem sizes (thousands of patients, a
handful of features) threads gain little, and on a shared, loaded machine they stall: a
Gaussian-mixture fit on 500 x 3 took 30 times longer with two threads than with one.
Parallelism belongs to the caller (e.g. bootstrap replicates in separate processes).

Input is checked as scikit-learn's own estimators check it (:func:`check_fit_data`,
:func:`check_predict_data`): a dense float matrix without NaN or infinity, at least two rows
to fit, and at prediction the number of features seen in ``fit`` (``n_features_in_``).
"""

from __future__ import annotations

import functools

import numpy as np
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

SEED_MAX = 2**31 - 1


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def single_threaded(method):
    """Run ``method`` with BLAS and OpenMP thread pools limited to one thread."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _controller().limit(limits=1):
            return method(*args, **kwargs)

    return wrapper


def draw_seed(rng) -> int:
    """An integer seed drawn from ``rng`` (a ``numpy.random.Generator``, an int or None).

    >>> draw_seed(0) == draw_seed(np.random.default_rng(0))
    True
    """
    return int(np.random.default_rng(rng).integers(SEED_MAX))


def check_fit_data(estimator, X) -> np.ndarray:
    """``X`` as a float matrix of at least two rows; sets ``estimator.n_features_in_``."""
    return validate_data(estimator, X, dtype=float, ensure_min_samples=2)


def check_predict_data(estimator, X) -> np.ndarray:
    """``X`` as a float matrix with the features ``estimator`` was fitted on."""
    check_is_fitted(estimator)
    return validate_data(estimator, X, dtype=float, reset=False)


def check_refit_data(X) -> np.ndarray:
    """``X`` of a refit (:meth:`refit_fixed`): a float matrix of at least two rows."""
    return check_array(X, dtype=float, ensure_min_samples=2)


def smallest_share(labels: np.ndarray, k: int) -> float:
    """Share of the rows in the smallest of the clusters ``0..k-1``.

    >>> smallest_share(np.array([0, 0, 0, 1]), 2)
    0.25
    """
    return float(np.bincount(labels, minlength=k).min() / len(labels))
