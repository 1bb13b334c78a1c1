"""The variance-ratio meta-analysis: lnVR and lnCVR per comparison, pooled across trials.

If patients differed in how much a treatment helps them, outcomes on treatment would
spread more than outcomes on control. The log variability ratio (lnVR) and the log
coefficient-of-variation ratio (lnCVR) of Nakagawa et al. (2015, Methods Ecol Evol
6:143) compare that spread, arm against arm, and are pooled across trials.

The effect sizes and the pooling follow R's metafor (version 3.8-1) exactly, so that
results can be checked against it:

- ``escalc(measure="VR")`` and ``escalc(measure="CVR")`` for each comparison, the
  treatment arm as group 1 (a ratio above 1: more spread on treatment);
- ``rma(method="FE")`` (inverse-variance) and ``rma(method="REML")`` (tau² by Fisher
  scoring on the restricted likelihood, truncated at 0) with Wald (z) intervals, Q, I²
  and H² as metafor defines them.

The arms these comparisons come from are read and paired in
:mod:`stratify.heterogeneity.trial_arms`.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from scipy import stats

from stratify.errors import StratifyError

log = logging.getLogger(__name__)

Z975 = float(stats.norm.ppf(0.975))


# --------------------------------------------------------------------------- effect sizes
def lnvr(sd_t, n_t, sd_c, n_c) -> tuple[np.ndarray, np.ndarray]:
    """Log variability ratio of treatment vs control and its sampling variance.

    ``yi = ln(sd_t/sd_c) + 1/(2(n_t-1)) - 1/(2(n_c-1))`` and
    ``vi = 1/(2(n_t-1)) + 1/(2(n_c-1))`` (Nakagawa et al. 2015; metafor's
    ``escalc(measure="VR")``).

    Examples
    --------
    >>> yi, vi = lnvr(10.0, 21, 8.0, 11)
    >>> round(float(yi), 8), round(float(vi), 8)
    (0.19814355, 0.075)
    """
    sd_t, n_t, sd_c, n_c = (np.asarray(x, dtype=float) for x in (sd_t, n_t, sd_c, n_c))
    yi = np.log(sd_t / sd_c) + 1 / (2 * (n_t - 1)) - 1 / (2 * (n_c - 1))
    vi = 1 / (2 * (n_t - 1)) + 1 / (2 * (n_c - 1))
    return yi, vi


def lncvr(mean_t, sd_t, n_t, mean_c, sd_c, n_c) -> tuple[np.ndarray, np.ndarray]:
    """Log coefficient-of-variation ratio of treatment vs control and its variance.

    metafor 3.8-1's ``escalc(measure="CVR")``:
    ``yi = ln(CV_t/CV_c) + 1/(2(n_t-1)) - 1/(2(n_c-1))`` with ``CV = sd/|mean|``, and
    ``vi = 1/(2(n_t-1)) + sd_t²/(n_t mean_t²) + 1/(2(n_c-1)) + sd_c²/(n_c mean_c²)``.
    The CV ratio is only defined when both means are non-zero and of the same sign;
    elsewhere both values are NaN. Two negative means (change scores stored as
    negative numbers) give the same value as their absolute values, which is what
    metafor computes when given ``|mean|`` (given the negative means it returns NaN).

    Examples
    --------
    >>> yi, vi = lncvr(20.0, 10.0, 21, 16.0, 8.0, 11)
    >>> round(float(yi), 8), round(float(vi), 8)
    (-0.025, 0.10963203)
    >>> [round(float(v), 8) for v in lncvr(-20.0, 10.0, 21, -16.0, 8.0, 11)]
    [-0.025, 0.10963203]
    >>> bool(np.isnan(lncvr(20.0, 10.0, 21, -16.0, 8.0, 11)[0]))
    True
    """
    mean_t, sd_t, n_t, mean_c, sd_c, n_c = (np.asarray(x, dtype=float) for x in (mean_t, sd_t, n_t, mean_c, sd_c, n_c))
    ok = (mean_t * mean_c) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(sd_t / np.abs(mean_t)) + 1 / (2 * (n_t - 1)) - np.log(sd_c / np.abs(mean_c)) - 1 / (2 * (n_c - 1))
        vi = 1 / (2 * (n_t - 1)) + sd_t**2 / (n_t * mean_t**2) + 1 / (2 * (n_c - 1)) + sd_c**2 / (n_c * mean_c**2)
    return np.where(ok, yi, np.nan), np.where(ok, vi, np.nan)


# --------------------------------------------------------------------------- pooling
def _heterogeneity(yi: np.ndarray, vi: np.ndarray) -> dict:
    """Cochran's Q with FE weights, its df and p, and metafor's 'typical' variance s²."""
    k = len(yi)
    w = 1 / vi
    mu = float(np.sum(w * yi) / np.sum(w))
    q = float(np.sum(w * (yi - mu) ** 2))
    out = {"Q": q, "Q_df": k - 1, "Q_p": float(stats.chi2.sf(q, k - 1)) if k > 1 else None, "s2": None}
    if k > 1:
        out["s2"] = float((k - 1) * np.sum(w) / (np.sum(w) ** 2 - np.sum(w**2)))
    return out


def _summary(yi: np.ndarray, vi: np.ndarray, tau2: float) -> dict:
    w = 1 / (vi + tau2)
    est = float(np.sum(w * yi) / np.sum(w))
    se = float(math.sqrt(1 / np.sum(w)))
    z = est / se
    lo, hi = est - Z975 * se, est + Z975 * se
    return {
        "k": len(yi),
        "estimate": est,
        "se": se,
        "z": z,
        "p": float(2 * stats.norm.sf(abs(z))),
        "ci_low": lo,
        "ci_high": hi,
        "ratio": math.exp(est),
        "ratio_ci_low": math.exp(lo),
        "ratio_ci_high": math.exp(hi),
    }


def fixed_effect(yi, vi) -> dict:
    """Inverse-variance (fixed / common effect) pooled estimate, as metafor's ``rma(method="FE")``.

    Returns the log-scale estimate with its standard error, Wald z, p and 95% interval,
    the exponentiated ratio and interval, Cochran's Q (df, p), and metafor's FE
    heterogeneity summaries ``I2 = max(0, 100 (Q - df)/Q)`` and ``H2 = Q/df``.

    Examples
    --------
    >>> fe = fixed_effect([0.1, 0.3], [0.01, 0.04])
    >>> round(fe["estimate"], 6), round(fe["se"], 6)      # (0.1/0.01 + 0.3/0.04) / (100 + 25)
    (0.14, 0.089443)
    """
    yi, vi = _check_yv(yi, vi)
    out = _summary(yi, vi, 0.0)
    h = _heterogeneity(yi, vi)
    df = h["Q_df"]
    out.update(
        model="fixed",
        Q=h["Q"],
        Q_df=df,
        Q_p=h["Q_p"],
        I2=(max(0.0, 100 * (h["Q"] - df) / h["Q"]) if df > 0 and h["Q"] > 0 else (0.0 if df > 0 else None)),
        H2=(h["Q"] / df if df > 0 else None),
    )
    return out


def reml_loglik(tau2: float, yi, vi) -> float:
    """Restricted log-likelihood of the random-effects model ``y_i ~ N(mu, v_i + tau2)``.

    Up to a constant: ``-1/2 [sum ln(v_i + tau2) + ln(sum w_i) + sum w_i (y_i - mu_w)²]``
    with ``w_i = 1/(v_i + tau2)`` and ``mu_w`` the ``w``-weighted mean.
    """
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    w = 1 / (vi + tau2)
    mu = np.sum(w * yi) / np.sum(w)
    return float(-0.5 * (np.sum(np.log(vi + tau2)) + np.log(np.sum(w)) + np.sum(w * (yi - mu) ** 2)))


def reml_tau2(yi, vi, *, threshold: float = 1e-5, max_iter: int = 100) -> tuple[float, int]:
    """Between-study variance tau² by REML, truncated at 0; returns ``(tau2, iterations)``.

    The algorithm and defaults of metafor 3.8-1's ``rma(method="REML")``, so that its
    results are reproduced to rounding: start from the Hedges (HE) estimate truncated at
    0; Fisher scoring steps ``(y'PPy - tr(P)) / tr(PP)`` with ``W = diag(1/(v_i + tau2))``
    and ``P = W - W 1 1' W / sum(w)``; a step that would go below 0 is halved until it
    does not; stop when a step moves tau² by at most ``threshold``; then, if the
    restricted likelihood at 0 is higher (by more than ``eps**0.25``) than at the end
    point, tau² is 0 (a local maximum). A smaller ``threshold`` converges further
    (metafor's ``control=list(threshold=...)``). With one study tau² is 0.

    Examples
    --------
    >>> reml_tau2([0.0, 0.0, 0.0], [0.1, 0.2, 0.3])
    (0.0, 1)
    >>> round(reml_tau2([-1.0, 0.0, 1.0], [0.1, 0.1, 0.1])[0], 10)   # equal v: var(y) - v
    0.9
    """
    yi, vi = _check_yv(yi, vi)
    k = len(yi)
    if k < 2:
        return 0.0, 0
    tau2 = max(0.0, float(np.sum((yi - yi.mean()) ** 2) / (k - 1) - vi.mean()))
    it, change = 0, threshold + 1
    while change > threshold:
        it += 1
        if it > max_iter:
            raise StratifyError(
                f"REML estimation of tau2 did not converge in {max_iter} Fisher scoring steps "
                f"(tau2 = {tau2:.6g}); metafor stops here too"
            )
        w = 1 / (vi + tau2)
        sw, sw2 = np.sum(w), np.sum(w**2)
        py = w * (yi - np.sum(w * yi) / sw)
        tr_p = sw - sw2 / sw
        tr_pp = sw2 - 2 * np.sum(w**3) / sw + (sw2 / sw) ** 2
        step = float((np.sum(py**2) - tr_p) / tr_pp)
        while tau2 + step < 0:
            step /= 2
        old, tau2 = tau2, tau2 + step
        change = abs(old - tau2)
    if tau2 > threshold and reml_loglik(0.0, yi, vi) - reml_loglik(tau2, yi, vi) > np.finfo(float).eps ** 0.25:
        log.warning(
            "REML: the restricted likelihood is higher at tau2 = 0 than at the Fisher scoring end point "
            "%.6g (a local maximum); tau2 set to 0, as metafor does",
            tau2,
        )
        tau2 = 0.0
    return float(tau2), it


def random_effects(yi, vi) -> dict:
    """Random-effects pooled estimate with tau² by REML, as metafor's ``rma(method="REML")``.

    Besides what :func:`fixed_effect` returns: ``tau2``, ``tau``, metafor's
    ``I2 = 100 tau2/(tau2 + s2)`` and ``H2 = (tau2 + s2)/s2`` with the 'typical'
    within-study variance ``s2 = (k-1) sum w / ((sum w)² - sum w²)``, ``w = 1/v``, and the
    95% prediction interval ``estimate ± z sqrt(se² + tau2)`` (metafor's ``predict``).

    Examples
    --------
    >>> re = random_effects([-1.0, 0.0, 1.0], [0.1, 0.1, 0.1])
    >>> round(re["tau2"], 6), round(re["I2"], 4), round(re["se"], 6)
    (0.9, 90.0, 0.57735)
    """
    yi, vi = _check_yv(yi, vi)
    tau2, iterations = reml_tau2(yi, vi)
    out = _summary(yi, vi, tau2)
    h = _heterogeneity(yi, vi)
    s2 = h["s2"]
    pse = math.sqrt(out["se"] ** 2 + tau2)
    out.update(
        model="random",
        method="REML",
        tau2=tau2,
        tau=math.sqrt(tau2),
        iterations=iterations,
        Q=h["Q"],
        Q_df=h["Q_df"],
        Q_p=h["Q_p"],
        I2=(100 * tau2 / (tau2 + s2) if s2 is not None else None),
        H2=((tau2 + s2) / s2 if s2 is not None else None),
        pi_low=out["estimate"] - Z975 * pse,
        pi_high=out["estimate"] + Z975 * pse,
    )
    out["ratio_pi_low"], out["ratio_pi_high"] = math.exp(out["pi_low"]), math.exp(out["pi_high"])
    return out


def _check_yv(yi, vi) -> tuple[np.ndarray, np.ndarray]:
    yi, vi = np.asarray(yi, dtype=float).ravel(), np.asarray(vi, dtype=float).ravel()
    if len(yi) != len(vi) or len(yi) == 0:
        raise ValueError(f"need equally many effect sizes and variances (at least one); got {len(yi)} and {len(vi)}")
    if not (np.isfinite(yi).all() and np.isfinite(vi).all() and (vi > 0).all()):
        raise ValueError("effect sizes must be finite and variances finite and positive")
    return yi, vi


def _pool_one(sub: pd.DataFrame, yi: str, vi: str) -> dict:
    ok = sub[yi].notna()
    d = sub[ok]
    res: dict = {"k": len(d), "n_studies": int(d["study"].nunique()), "k_not_computed": int((~ok).sum())}
    if d.empty:
        res.update(fixed=None, random=None)
        return res
    res["fixed"] = fixed_effect(d[yi], d[vi])
    res["random"] = random_effects(d[yi], d[vi])
    return res


def pool_comparisons(comparisons: pd.DataFrame) -> list[dict]:
    """Fixed- and random-effects pooling of lnVR and lnCVR, one entry per ``measure``."""
    out = []
    for measure, sub in comparisons.groupby("measure", sort=True):
        entry = {
            "measure": measure or None,
            "k": len(sub),
            "n_studies": int(sub["study"].nunique()),
            "comparisons_by_scale": {str(s): int(n) for s, n in sub["scale"].value_counts().sort_index().items() if s},
            "lnVR": _pool_one(sub, "yi_vr", "vi_vr"),
            "lnCVR": _pool_one(sub, "yi_cvr", "vi_cvr"),
        }
        out.append(entry)
    return out
