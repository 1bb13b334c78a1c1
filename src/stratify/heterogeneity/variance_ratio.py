"""Treatment-effect heterogeneity from trial arms: variance-ratio meta-analysis.

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

``docs/heterogeneity.md`` describes the arms file, the outputs and the reproduction of
the published GRISELDA result.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from stratify import __version__
from stratify.errors import InputError, StratifyError, where
from stratify.inputs.validate import sha256
from stratify.io.schema import check_table
from stratify.io.text import read_text_table

log = logging.getLogger(__name__)

Z975 = float(stats.norm.ppf(0.975))

ARMS_SCHEMA = {
    "title": "trial arms table",
    "type": "object",
    "additionalProperties": False,
    "required": ["study", "arm", "group", "n", "mean", "sd"],
    "properties": {
        "study": {"type": "string", "description": "study identifier; arms are compared within a study"},
        "arm": {"type": "string", "description": "arm label, unique within study, measure and scale"},
        "group": {"type": "string", "enum": ["treatment", "control"]},
        "n": {"type": "integer", "minimum": 2, "description": "participants analysed in the arm"},
        "mean": {"type": "number", "description": "mean outcome of the arm"},
        "sd": {"type": "number", "exclusiveMinimum": 0, "description": "standard deviation of the outcome"},
        "measure": {"type": "string", "description": "outcome kind (e.g. endpoint, change); pooled separately"},
        "scale": {"type": "string", "description": "rating scale; arms are compared only on the same scale"},
    },
}
OPTIONAL_KEYS = ("measure", "scale")
MAX_LABELLED_ROWS = 40


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


# --------------------------------------------------------------------------- arms -> comparisons
def read_arms(path: str | Path) -> pd.DataFrame:
    """Read and check an arms table (TSV, or CSV by extension); add each row's ``line``.

    Columns: ``study``, ``arm``, ``group`` (treatment/control), ``n`` (>= 2), ``mean``,
    ``sd`` (> 0), optional ``measure`` and ``scale``. Any other column, an empty cell,
    or an arm label repeated within a study (and measure, scale) is an error naming
    the file, line (header = line 1) and column.
    """
    path = Path(path)
    raw = read_text_table(path)
    if raw.empty:
        raise InputError(f"{path}: no arms (the file has a header but no rows)")
    arms = check_table(raw, ARMS_SCHEMA, path=path)
    for col in OPTIONAL_KEYS:
        if col in arms.columns and arms[col].isna().any():
            i = arms[col].isna().idxmax()
            raise InputError(
                f"{where(path, int(i) + 2, col)}: expected a value (the column is present, so "
                f"every arm needs one), found ''"
            )
    for col in ("mean", "sd"):
        bad = ~np.isfinite(arms[col])
        if bad.any():
            i = bad.idxmax()
            raise InputError(f"{where(path, int(i) + 2, col)}: expected a finite number, found {raw.loc[i, col]!r}")
    arms["line"] = arms.index.astype(int) + 2
    keys = ["study", *[c for c in OPTIONAL_KEYS if c in arms.columns], "arm"]
    dup = arms.duplicated(subset=keys, keep="first")
    if dup.any():
        i = dup.idxmax()
        first = arms.index[(arms[keys] == arms.loc[i, keys]).all(axis=1)][0]
        vals = ", ".join(f"{k}={arms.loc[i, k]}" for k in keys)
        raise InputError(f"{where(path, int(i) + 2)}: duplicate arm ({vals}); first seen on line {int(first) + 2}")
    return arms.reset_index(drop=True)


def pair_arms(arms: pd.DataFrame, *, path: str | Path = "arms") -> pd.DataFrame:
    """One comparison per treatment arm against the control arm of its study.

    Arms are matched on ``study`` and, where the columns exist, ``measure`` and ``scale``.
    Within such a group, treatment arms need exactly one control arm: none or several
    is an error naming the study and the lines. A group with only a control arm gives
    no comparison. Returns the inputs of both arms with lnVR and lnCVR (``yi_*``,
    ``vi_*``); ``cvr_note`` says why lnCVR is missing or how the means were used.
    """
    keys = ["study", *[c for c in OPTIONAL_KEYS if c in arms.columns]]
    rows = []
    for key, g in arms.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        trt, ctl = g[g["group"] == "treatment"], g[g["group"] == "control"]
        if trt.empty:
            continue
        label = f"study {key[0]!r}" + "".join(f", {c} {v!r}" for c, v in zip(keys[1:], key[1:]))
        if ctl.empty:
            raise InputError(
                f"{where(path, int(trt['line'].iloc[0]))}: {label} has treatment arms but no control "
                f"arm to compare them with (group 'control')"
            )
        if len(ctl) > 1:
            lines = ", ".join(str(x) for x in ctl["line"])
            raise InputError(
                f"{where(path, int(ctl['line'].iloc[1]))}: {label} has {len(ctl)} control arms "
                f"(lines {lines}); expected exactly one"
            )
        c = ctl.iloc[0]
        for _, t in trt.iterrows():
            row = {
                "measure": key[keys.index("measure")] if "measure" in keys else "",
                "scale": key[keys.index("scale")] if "scale" in keys else "",
                "study": key[0],
                "arm_treatment": t["arm"],
                "arm_control": c["arm"],
                "line_treatment": int(t["line"]),
                "line_control": int(c["line"]),
                "n_treatment": int(t["n"]),
                "mean_treatment": float(t["mean"]),
                "sd_treatment": float(t["sd"]),
                "n_control": int(c["n"]),
                "mean_control": float(c["mean"]),
                "sd_control": float(c["sd"]),
            }
            rows.append(row)
    cols = [
        "measure",
        "scale",
        "study",
        "arm_treatment",
        "arm_control",
        "line_treatment",
        "line_control",
        "n_treatment",
        "mean_treatment",
        "sd_treatment",
        "n_control",
        "mean_control",
        "sd_control",
    ]
    out = pd.DataFrame(rows, columns=cols)
    if out.empty:
        raise InputError(f"{path}: no comparisons: no study has both a treatment and a control arm")
    out["yi_vr"], out["vi_vr"] = lnvr(out["sd_treatment"], out["n_treatment"], out["sd_control"], out["n_control"])
    out["yi_cvr"], out["vi_cvr"] = lncvr(
        out["mean_treatment"],
        out["sd_treatment"],
        out["n_treatment"],
        out["mean_control"],
        out["sd_control"],
        out["n_control"],
    )
    prod = out["mean_treatment"] * out["mean_control"]
    out["cvr_note"] = np.select(
        [
            (out["mean_treatment"] == 0) | (out["mean_control"] == 0),
            prod < 0,
            (out["mean_treatment"] < 0) & (out["mean_control"] < 0),
        ],
        ["not computed: a mean is 0", "not computed: means of opposite sign", "both means negative: |mean| used"],
        default="",
    )
    return out


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


# --------------------------------------------------------------------------- plot
def forest_png(comparisons: pd.DataFrame, pooled: list[dict], path: str | Path) -> Path:
    """Forest plot of lnVR (as VR, log axis), one panel per measure, pooled FE and RE diamonds.

    Up to 40 comparisons per panel are labelled (study: arm [scale]) in file order;
    more are drawn compactly, sorted by VR and unlabelled (the labels are in
    ``comparisons.tsv``).
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from stratify.plots import plt, save_png  # plots sets the Agg backend

    panels = []
    for entry in pooled:
        sub = comparisons[comparisons["measure"] == (entry["measure"] or "")]
        labelled = len(sub) <= MAX_LABELLED_ROWS
        panels.append((entry, sub if labelled else sub.sort_values("yi_vr", kind="stable"), labelled))
    ratios = []
    for _, sub, labelled in panels:
        ratios += [(0.2 if labelled else 0.022) * len(sub) + 0.5, 0.55, 0.9]
    ratios.pop()  # no gap after the last panel
    fig, axes = plt.subplots(
        len(ratios),
        1,
        figsize=(8, min(sum(ratios), 60)),
        gridspec_kw={"height_ratios": ratios, "hspace": 0},
        squeeze=False,
    )
    lo_all = np.exp((comparisons["yi_vr"] - Z975 * np.sqrt(comparisons["vi_vr"])).min())
    hi_all = np.exp((comparisons["yi_vr"] + Z975 * np.sqrt(comparisons["vi_vr"])).max())
    xlim = (min(lo_all, 0.9) / 1.05, max(hi_all, 1.1) * 1.05)
    ticks = [t for t in (0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 10) if xlim[0] <= t <= xlim[1]]
    for p, (entry, sub, labelled) in enumerate(panels):
        ax, ax_pool = axes[3 * p, 0], axes[3 * p + 1, 0]
        if 3 * p + 2 < len(ratios):
            axes[3 * p + 2, 0].axis("off")
        k = len(sub)
        y = np.arange(k)[::-1]
        se = np.sqrt(sub["vi_vr"].to_numpy())
        yi = sub["yi_vr"].to_numpy()
        ax.hlines(y, np.exp(yi - Z975 * se), np.exp(yi + Z975 * se), color="#7f8c8d", lw=0.8 if labelled else 0.4)
        ax.plot(np.exp(yi), y, "s", color="#34495e", ms=3 if labelled else 1.2)
        ax.set_ylim(-0.7, k - 0.3)
        if labelled:
            ax.set_yticks(y)
            ax.set_yticklabels(
                [
                    f"{s}: {a}" + (f" [{sc}]" if sc else "")
                    for s, a, sc in zip(sub["study"], sub["arm_treatment"], sub["scale"])
                ],
                fontsize=6,
            )
        else:
            ax.set_yticks([])
        title = f"{entry['measure'] or 'all comparisons'}: k = {k} comparisons, {entry['n_studies']} studies"
        if not labelled:
            title += " (sorted by VR, unlabelled: see comparisons.tsv)"
        ax.set_title(title, fontsize=8, loc="left")
        names = []
        for j, model in enumerate(("fixed", "random")):
            r = entry["lnVR"][model]
            yy = 1 - j
            ax_pool.fill(
                [r["ratio_ci_low"], r["ratio"], r["ratio_ci_high"], r["ratio"]],
                [yy, yy + 0.3, yy, yy - 0.3],
                color="#c0392b" if model == "random" else "#2980b9",
            )
            tau = f", tau² = {r['tau2']:.3g}" if model == "random" else ""
            names.append(
                f"{'RE (REML)' if model == 'random' else 'FE'}: VR {r['ratio']:.3f} "
                f"({r['ratio_ci_low']:.3f}-{r['ratio_ci_high']:.3f}){tau}"
            )
        ax_pool.set_ylim(-0.6, 1.6)
        ax_pool.set_yticks([1, 0])
        ax_pool.set_yticklabels(names, fontsize=7)
        ax_pool.set_xlabel("variability ratio VR = SD treatment / SD control, 95% CI (log scale)", fontsize=7)
        for a in (ax, ax_pool):
            a.axvline(1, color="black", lw=0.8)
            a.set_xscale("log")
            a.set_xlim(*xlim)
            a.xaxis.set_major_locator(FixedLocator(ticks))
            a.xaxis.set_minor_locator(NullLocator())
            a.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            a.tick_params(axis="x", labelsize=7)
        ax.tick_params(axis="x", labelbottom=False)
        ax.spines["bottom"].set_visible(False)
        ax_pool.spines["top"].set_linestyle(":")
    return save_png(fig, path)


# --------------------------------------------------------------------------- command
def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    return obj


def run_vr(arms_path: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """``stratify teh vr``: read arms, pair them, pool, write the three outputs.

    Writes ``comparisons.tsv``, ``pooled.json`` and ``forest.png`` into ``out_dir`` and
    returns their paths.
    """
    arms_path, out_dir = Path(arms_path), Path(out_dir)
    arms = read_arms(arms_path)
    log.info("read %d arms from %d studies in %s", len(arms), arms["study"].nunique(), arms_path)
    comparisons = pair_arms(arms, path=arms_path)
    counts = comparisons.groupby("measure")["study"].agg(["size", "nunique"])
    log.info(
        "paired arms into %d comparisons (%s)",
        len(comparisons),
        "; ".join(f"{m or 'all'}: k = {r['size']} in {r['nunique']} studies" for m, r in counts.iterrows()),
    )
    skipped = comparisons["yi_cvr"].isna()
    if skipped.any():
        log.warning(
            "lnCVR not computed for %d comparisons (a mean is 0 or the means differ in sign); "
            "see cvr_note in comparisons.tsv",
            int(skipped.sum()),
        )
    pooled = pool_comparisons(comparisons)
    for e in pooled:
        for es in ("lnVR", "lnCVR"):
            fe, re_ = e[es]["fixed"], e[es]["random"]
            if re_ is None:
                log.info("%s %s: no comparison could be computed", e["measure"] or "all", es)
                continue
            log.info(
                "%s %s (k = %d): FE %s = %.3f (%.3f-%.3f); RE %.3f (%.3f-%.3f), tau2 = %.4g, I2 = %.1f%%, "
                "Q = %.2f (df %d)",
                e["measure"] or "all",
                es,
                e[es]["k"],
                es[2:],
                fe["ratio"],
                fe["ratio_ci_low"],
                fe["ratio_ci_high"],
                re_["ratio"],
                re_["ratio_ci_low"],
                re_["ratio_ci_high"],
                re_["tau2"],
                re_["I2"] or 0.0,
                re_["Q"],
                re_["Q_df"],
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "comparisons": out_dir / "comparisons.tsv",
        "pooled": out_dir / "pooled.json",
        "forest": out_dir / "forest.png",
    }
    comparisons.to_csv(paths["comparisons"], sep="\t", index=False)
    log.info("wrote %s", paths["comparisons"])
    doc = {
        "kind": "stratify.teh.vr",
        "schema_version": 1,
        "provenance": {
            "stratify": __version__,
            "numpy": np.__version__,
            "scipy": __import__("scipy").__version__,
            "arms": str(arms_path),
            "arms_sha256": sha256(arms_path),
        },
        "method": {
            "effect_sizes": "lnVR and lnCVR as metafor 3.8-1 escalc(measure='VR'/'CVR'), treatment = group 1; "
            "lnCVR uses |mean| when both means are negative",
            "fixed": "inverse-variance, as rma(method='FE')",
            "random": "tau2 by REML (Fisher scoring from the HE estimate, truncated at 0, stopping when a "
            "step moves tau2 by at most 1e-5), as rma(method='REML') with its default control",
            "intervals": "Wald, z = 1.959964; ratio_* = exp of the log-scale values",
            "I2": "FE: max(0, 100 (Q - df)/Q); RE: 100 tau2/(tau2 + s2), s2 the typical within-study variance",
        },
        "subsets": pooled,
    }
    paths["pooled"].write_text(json.dumps(_json_safe(doc), indent=2) + "\n")
    log.info("wrote %s", paths["pooled"])
    forest_png(comparisons, pooled, paths["forest"])
    log.info("wrote %s", paths["forest"])
    return paths


# --------------------------------------------------------------------------- GRISELDA
GRISELDA_SCALES = ("HAMD17", "HAMD21", "MADRS")
GRISELDA_COLUMNS = ("study_id", "drug", "scale", "endpoint_n", "endpoint_mean", "endpoint_sd")


def _clean(s: pd.Series) -> pd.Series:
    return s.map(lambda v: re.sub(r"\s+", " ", v).strip())


def griselda_arms(csv_path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Build the arms table of the GRISELDA reference check from Cipriani et al. 2018's arms.

    Follows ``../shared/data/teh/PROVENANCE.md``: every non-placebo arm against the
    placebo arm of the same study on the same scale, scales HAMD17, HAMD21 and MADRS,
    with n, mean and SD present (``*`` or empty is missing). ``n`` is ``endpoint_n``
    (the number analysed at end-point). A negative mean is a change score (the data's
    convention), otherwise an end-point score: ``measure`` is ``change`` or ``endpoint``
    by the sign of the placebo arm's mean, and a treatment arm of the other sign is
    dropped. Study identifiers and drug names have their whitespace tidied (some carry
    line breaks or trailing spaces); ``placebo`` is matched ignoring case.

    Returns the arms table (columns study, arm, group, n, mean, sd, measure, scale) and
    counts of what was left out.
    """
    csv_path = Path(csv_path)
    if not csv_path.exists():
        raise InputError(f"{csv_path}: file not found")
    raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    missing = [c for c in GRISELDA_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(
            f"{csv_path}: missing column {', '.join(repr(c) for c in missing)}; expected the "
            f"GRISELDA arms CSV described in ../shared/data/teh/PROVENANCE.md"
        )
    d = pd.DataFrame({"study": _clean(raw["study_id"]), "arm": _clean(raw["drug"]), "scale": raw["scale"].str.strip()})
    d["placebo"] = d["arm"].str.lower() == "placebo"
    d["group"] = np.where(d["placebo"], "control", "treatment")
    for col, src in (("n", "endpoint_n"), ("mean", "endpoint_mean"), ("sd", "endpoint_sd")):
        d[col] = pd.to_numeric(raw[src].str.strip().replace({"*": "", "": None}), errors="coerce")
    counts = {"arms_in_file": len(d)}
    d = d[d["scale"].isin(GRISELDA_SCALES)]
    counts["arms_on_scales"] = len(d)
    complete = d[["n", "mean", "sd"]].notna().all(axis=1)
    counts["arms_missing_n_mean_or_sd"] = int((~complete).sum())
    d = d[complete]
    keep, n_sign, n_multi = [], 0, 0
    for _, g in d.groupby(["study", "scale"], sort=False):
        pl, tr = g[g["placebo"]], g[~g["placebo"]]
        if len(pl) > 1:
            n_multi += 1
        if len(pl) != 1 or tr.empty:
            continue
        change = pl["mean"].iloc[0] < 0
        same = (tr["mean"] < 0) == change
        n_sign += int((~same).sum())
        if not same.any():
            continue
        part = pd.concat([tr[same], pl])
        part["measure"] = "change" if change else "endpoint"
        keep.append(part)
    counts["treatment_arms_sign_differs_from_placebo"] = n_sign
    counts["study_scales_with_several_placebo_arms"] = n_multi
    arms = pd.concat(keep, ignore_index=True) if keep else d.iloc[0:0].assign(measure="")
    arms["n"] = arms["n"].astype(int)
    arms = arms[["study", "arm", "group", "n", "mean", "sd", "measure", "scale"]]
    counts["arms_written"] = len(arms)
    counts["comparisons"] = int((arms["group"] == "treatment").sum())
    return arms, counts
