"""Calibration of predictions: slope and intercept for probabilities (logistic recalibration,
Van Calster et al. 2019) and for continuous predictions (least squares), the bootstrap
intervals of the logistic ones, and the small Newton-Raphson logistic fit they use.
"""

from __future__ import annotations

import numpy as np

from stratify.model.bootstrap import bootstrap_counts, one_blas_thread


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def logistic_fit(
    y: np.ndarray,
    x: np.ndarray | None,
    offset: np.ndarray,
    iters: int = 50,
    *,
    weights: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Unpenalised logistic regression by Newton-Raphson: logit P(y) = b0 [+ x @ b] + offset.

    ``x`` is None (intercept only), one column or a matrix; ``weights`` (e.g. bootstrap
    counts) weight each row's likelihood; ``start`` is the first iterate (default zeros).
    Returns the coefficients, intercept first."""
    if x is None or np.ndim(x) == 1:
        return _logistic_fit_1d(
            np.asarray(y, dtype=float),
            None if x is None else np.asarray(x, dtype=float),
            np.asarray(offset, dtype=float),
            iters,
            weights,
            start,
        )
    X = np.column_stack([np.ones(len(y)), x])
    b = np.zeros(X.shape[1]) if start is None else np.array(start, dtype=float)
    for _ in range(iters):
        eta = np.clip(X @ b + offset, -30, 30)
        mu = 1 / (1 + np.exp(-eta))
        w = mu * (1 - mu)
        r = y - mu
        if weights is not None:
            w, r = w * weights, r * weights
        H = X.T @ (X * w[:, None]) + 1e-9 * np.eye(X.shape[1])
        step = np.linalg.solve(H, X.T @ r)
        b = b + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return b


def _logistic_fit_1d(y, x, offset, iters, weights, start) -> np.ndarray:
    """:func:`logistic_fit` with at most one covariate (the calibration fits), from sums
    instead of a design matrix: the same Newton-Raphson iterates, a few times faster, which
    matters for the 1,000 bootstrap refits of a 100,000-patient cohort."""
    b = np.zeros(1 if x is None else 2) if start is None else np.array(start, dtype=float)
    wt = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    for _ in range(iters):
        eta = b[0] + offset if x is None else b[0] + b[1] * x + offset
        mu = 1 / (1 + np.exp(-np.clip(eta, -30, 30)))
        w = mu * (1 - mu) * wt
        r = (y - mu) * wt
        if x is None:
            step = np.array([r.sum() / (w.sum() + 1e-9)])
        else:
            wx = w @ x
            H = np.array([[w.sum(), wx], [wx, w @ (x * x)]]) + 1e-9 * np.eye(2)
            step = np.linalg.solve(H, np.array([r.sum(), r @ x]))
        b = b + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return b


def calibration(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Calibration slope and intercept (calibration-in-the-large) of predicted probabilities.

    Slope: the coefficient of ``logit(p)`` in a logistic regression of the outcome on it
    (1 is ideal; below 1 means predictions too extreme, as overfitting makes them).
    Intercept: ``a`` in ``logit P(y) = a + logit(p)`` with ``logit(p)`` as an offset (0 is
    ideal; above 0 means predictions too low on average). Van Calster et al. 2019, BMC Med
    17:230. A constant prediction has no slope (NaN).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.95, 20000); y = (rng.random(20000) < p).astype(float)
    >>> c = calibration(y, p); round(c["slope"], 1), round(c["intercept"], 1)
    (1.0, 0.0)
    """
    y = np.asarray(y, dtype=float)
    lp = _logit(p)
    intercept = float(logistic_fit(y, None, lp)[0])
    slope = float(logistic_fit(y, lp, np.zeros(len(y)))[1]) if np.ptp(lp) > 1e-9 else float("nan")
    return {"slope": slope, "intercept": intercept}


def regression_calibration(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Calibration of continuous predictions: the slope of the least-squares line of the
    observed on the predicted values (1 is ideal; below 1 means predictions spread too
    widely) and calibration-in-the-large, the mean of observed minus predicted (0 is ideal).

    >>> p = np.arange(10.0); calibration_ = regression_calibration(2 * p + 1, p)
    >>> round(calibration_["slope"], 6), round(calibration_["intercept"], 6)
    (2.0, 5.5)
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    slope = float(np.polyfit(p, y, 1)[0]) if np.ptp(p) > 1e-12 else float("nan")
    return {"slope": slope, "intercept": float(np.mean(y - p))}


@one_blas_thread
def calibration_ci(y: np.ndarray, p: np.ndarray, *, n_boot: int, seed: int) -> dict[str, list[float]]:
    """Percentile bootstrap intervals of the calibration slope and intercept.

    Each resample's fits are weighted by the bootstrap counts (the same likelihood as the
    resampled rows) and start from the whole cohort's coefficients, which Newton-Raphson
    then moves to the resample's optimum (the same stopping rule as :func:`calibration`)."""
    y = np.asarray(y, dtype=float)
    lp = _logit(p)
    has_slope = np.ptp(lp) > 1e-9
    b_ic = logistic_fit(y, None, lp)
    b_sl = logistic_fit(y, lp, np.zeros(len(y))) if has_slope else None
    sl, ic = [], []
    for w in bootstrap_counts(len(y), n_boot, seed):
        wy = float(w @ y)
        if wy == 0 or wy == w.sum():
            continue
        keep = w > 0
        yk, lk, wk = y[keep], lp[keep], w[keep].astype(float)
        ic.append(float(logistic_fit(yk, None, lk, weights=wk, start=b_ic)[0]))
        sl.append(
            float(logistic_fit(yk, lk, np.zeros(len(yk)), weights=wk, start=b_sl)[1])
            if has_slope and np.ptp(lk) > 1e-9
            else float("nan")
        )
    sl = np.array(sl)[np.isfinite(sl)]

    def q(v):
        return [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] if len(v) else [float("nan")] * 2

    return {"slope_ci": q(sl), "intercept_ci": q(np.array(ic))}
