"""Individual treatment effects in a randomised two-arm comparison, and an honest test for
treatment-effect heterogeneity (TEH).

Re-analyses of antidepressant trials find drug and placebo outcomes about equally variable
(variance ratio near 1.0), which leaves little room for large individual differences in
treatment effect. A tool that recommends one treatment over another for a given patient must
therefore first show that the effect differs between patients at all, and say plainly when it
has not. The analysis does three things, none of which uses a patient's own outcome to
predict that patient:

* :func:`~stratify.heterogeneity.learners.cross_fit_learners`: T- and X-learner estimates of
  each patient's response under either arm and of the conditional average treatment effect
  (CATE, ``tau_T``, ``tau_X``), out-of-fold;
* :func:`~stratify.heterogeneity.blp.heterogeneity_test`: the primary decision rule, the
  split-sample best-linear-predictor (BLP) test of Chernozhukov et al. (2018);
* :func:`personalized_advantage_index` (here): the Personalized Advantage Index of DeRubeis et
  al. (2014, PLoS One 9:e83875): the predicted difference in response probability between the
  arms, and a comparison of observed response between the patients who happened to be
  randomised to their indicated arm and those who were not.

:func:`analyse_heterogeneity` (here) runs all three on a feature table and returns a JSON-able
summary with a plain statement of the result. Everything runs with XGBoost on at most
``n_jobs`` threads (default 1) and BLAS limited to as many (threadpoolctl).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from stratify.heterogeneity.blp import ALPHA, heterogeneity_test
from stratify.heterogeneity.learners import as_binary, cross_fit_learners


def _two_proportions(y: np.ndarray, g: np.ndarray) -> dict[str, Any]:
    """Response rate in group g=1 minus g=0, Wald 95% CI, two-sided pooled z-test."""
    y1, y0 = y[g == 1], y[g == 0]
    n1, n0 = len(y1), len(y0)
    if n1 == 0 or n0 == 0:
        return {
            "n_indicated": n1,
            "n_not_indicated": n0,
            "rate_indicated": None,
            "rate_not_indicated": None,
            "difference": None,
            "ci95": None,
            "p_value": None,
        }
    p1, p0 = float(y1.mean()), float(y0.mean())
    d = p1 - p0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    pp = (y1.sum() + y0.sum()) / (n1 + n0)
    se0 = math.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n0))
    p = float(2 * stats.norm.sf(abs(d) / se0)) if se0 > 0 else 1.0
    zc = stats.norm.ppf(0.975)
    return {
        "n_indicated": n1,
        "n_not_indicated": n0,
        "rate_indicated": p1,
        "rate_not_indicated": p0,
        "difference": d,
        "ci95": [d - zc * se, d + zc * se],
        "p_value": p,
    }


def personalized_advantage_index(
    mu0: Any,
    mu1: Any,
    treatment: Any,
    y: Any,
    *,
    top_share: float = 0.6,
) -> dict[str, Any]:
    """Personalized Advantage Index (DeRubeis et al. 2014) and its evaluation.

    ``PAI = mu1 - mu0``, the predicted difference in response probability between arm 1 and
    arm 0 from out-of-fold models (so a patient's own outcome never enters their PAI). The
    indicated arm is 1 where the PAI is positive and 0 where it is negative (a PAI of exactly
    0 indicates neither; such patients are left out of the comparison). Since the arm was
    randomised, receiving the indicated arm is itself random, and the evaluation compares the
    observed response rate of patients who received their indicated arm with that of those
    who did not: difference, Wald 95% CI and a two-sided two-proportion z-test.

    It is reported for all patients, for the ``top_share`` (60%) with the largest |PAI|, and
    for each tertile of |PAI|. DeRubeis et al. reported the 60% of their sample whose PAI was
    clinically meaningful (at least 3 HRSD points); with a response-probability PAI there is
    no such agreed threshold, so the 60% with the largest |PAI| stand in for it.

    Note: a benefit of the indicated arm does not by itself show heterogeneity; if one arm is
    better on average and the PAI mostly indicates it, the benefit is the average effect.
    :func:`~stratify.heterogeneity.blp.heterogeneity_test` separates the two.

    Examples
    --------
    >>> r = personalized_advantage_index([0.2, 0.6, 0.3, 0.7], [0.6, 0.2, 0.7, 0.3],
    ...                                  [1, 0, 0, 1], [1, 1, 0, 0])
    >>> r["overall"]["difference"], r["n_indicated_arm1"]
    (1.0, 2)
    """
    m0, m1 = np.asarray(mu0, dtype=float), np.asarray(mu1, dtype=float)
    t = as_binary(treatment, "treatment")
    yy = as_binary(y, "y")
    pai = m1 - m0
    ok = pai != 0
    got = (t == (pai > 0)).astype(int)
    a = np.abs(pai)
    out: dict[str, Any] = {
        "pai_definition": "predicted P(response | arm 1) - P(response | arm 0), out-of-fold",
        "n_indicated_arm1": int((pai > 0).sum()),
        "n_indicated_arm0": int((pai < 0).sum()),
        "mean_abs_pai": float(a.mean()) if len(a) else None,
        "overall": _two_proportions(yy[ok], got[ok]),
    }
    cut = np.quantile(a, 1 - top_share) if len(a) else 0.0
    top = ok & (a >= cut)
    out["top"] = {"share": top_share, "min_abs_pai": float(cut), **_two_proportions(yy[top], got[top])}
    q1, q2 = np.quantile(a, [1 / 3, 2 / 3]) if len(a) else (0.0, 0.0)
    tert = np.where(a <= q1, 0, np.where(a <= q2, 1, 2))
    out["tertiles"] = [
        {
            "tertile": name,
            "abs_pai_range": [float(a[tert == j].min()), float(a[tert == j].max())] if (tert == j).any() else None,
            **_two_proportions(yy[ok & (tert == j)], got[ok & (tert == j)]),
        }
        for j, name in enumerate(("low", "middle", "high"))
    ]
    out["pai"] = pai
    return out


def _fmt_ci(d: float, ci: list[float]) -> str:
    return f"{100 * d:+.1f} percentage points (95% CI {100 * ci[0]:+.1f} to {100 * ci[1]:+.1f})"


def analyse_heterogeneity(
    features_df: pd.DataFrame,
    treatment_col: str,
    outcome_col: str,
    feature_cols: list[str],
    *,
    arms: tuple[Any, Any] | None = None,
    folds: int = 5,
    random_state: int = 0,
    learner: str = "xgboost",
    propensity: float | None = 0.5,
    repeats: int = 1,
    n_splits: int = 5,
    alpha: float = ALPHA,
    top_share: float = 0.6,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """Treatment-effect heterogeneity in a randomised two-arm comparison: a JSON-able summary.

    Patients with a missing outcome or arm are left out (and counted). ``arms`` names the
    reference arm (0) and the comparison arm (1) as they appear in ``treatment_col``;
    by default the two values in sorted order. Effects are arm 1 minus arm 0, in response
    probability. The decision is :func:`heterogeneity_test` (split-sample BLP test on the
    X-learner's CATE, ``n_splits`` splits). Beside it: the cross-fitted (out-of-fold, ``folds``
    folds, ``repeats`` repetitions) CATE estimates of :func:`cross_fit_learners` and the PAI
    evaluation (:func:`personalized_advantage_index`, PAI = ``mu1 - mu0`` out-of-fold). The
    PAI comparison's p-values are descriptive: out-of-fold predictions share training data,
    and the two-proportion test ignores that (in ``teh="none"`` simulations of 1,000 patients
    its overall p-value fell below 0.05 in 6 of 80 cohorts).

    Returns a dict with ``n``, ``n_excluded``, ``arms``, ``n_per_arm``, ``response_rate``,
    ``ate`` (unadjusted difference with Wald 95% CI and two-sided z-test), ``test`` (the
    decision), ``pai``, ``cate`` (summaries of the out-of-fold estimates),
    ``heterogeneity_claimed`` and ``statement``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=300), "arm": rng.permutation(["A", "B"] * 150)})
    >>> df["resp"] = (rng.random(300) < 0.45).astype(float)
    >>> r = analyse_heterogeneity(df, "arm", "resp", ["x"], learner="logistic")
    >>> r["n_per_arm"], r["heterogeneity_claimed"]
    ({'A': 150, 'B': 150}, False)
    >>> r["statement"].split(":")[0]
    'No evidence of treatment-effect heterogeneity'
    """
    return analyse_heterogeneity_with_estimates(
        features_df,
        treatment_col,
        outcome_col,
        feature_cols,
        arms=arms,
        folds=folds,
        random_state=random_state,
        learner=learner,
        propensity=propensity,
        repeats=repeats,
        n_splits=n_splits,
        alpha=alpha,
        top_share=top_share,
        n_jobs=n_jobs,
    )[0]


def analyse_heterogeneity_with_estimates(
    features_df: pd.DataFrame,
    treatment_col: str,
    outcome_col: str,
    feature_cols: list[str],
    *,
    arms: tuple[Any, Any] | None = None,
    folds: int = 5,
    random_state: int = 0,
    learner: str = "xgboost",
    propensity: float | None = 0.5,
    repeats: int = 1,
    n_splits: int = 5,
    alpha: float = ALPHA,
    top_share: float = 0.6,
    n_jobs: int = 1,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """:func:`analyse_heterogeneity` and the per-patient out-of-fold estimates behind it.

    Returns ``(summary, estimates)``: the summary is exactly what :func:`analyse_heterogeneity`
    returns; ``estimates`` has one row per analysed patient, indexed like ``features_df``, with
    the columns ``arm`` (the arm's value as text), ``treatment`` (0 = reference arm, 1 =
    comparison arm), ``y`` (the outcome), ``mu0``, ``mu1``, ``tau_T``, ``tau_X`` (out-of-fold,
    from :func:`cross_fit_learners`; the PAI is ``mu1 - mu0``) and ``fold``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=300), "arm": rng.permutation(["A", "B"] * 150)})
    >>> df["resp"] = (rng.random(300) < 0.45).astype(float)
    >>> s, est = analyse_heterogeneity_with_estimates(df, "arm", "resp", ["x"], learner="logistic", n_splits=2)
    >>> list(est.columns), len(est) == s["n"]
    (['arm', 'treatment', 'y', 'mu0', 'mu1', 'tau_T', 'tau_X', 'fold'], True)
    """
    missing = [c for c in [treatment_col, outcome_col, *feature_cols] if c not in features_df.columns]
    if missing:
        raise KeyError(f"columns not in the feature table: {', '.join(missing)}")
    df = features_df[features_df[treatment_col].notna() & features_df[outcome_col].notna()]
    n_excluded = int(len(features_df) - len(df))
    levels = sorted(df[treatment_col].astype(str).unique()) if arms is None else [str(a) for a in arms]
    if len(levels) != 2:
        raise ValueError(f"{treatment_col} must have exactly two arms, found {levels}")
    df = df[df[treatment_col].astype(str).isin(levels)]
    t = (df[treatment_col].astype(str) == levels[1]).to_numpy().astype(int)
    y = as_binary(df[outcome_col].to_numpy(dtype=float), outcome_col)
    X = df[list(feature_cols)]
    cf = cross_fit_learners(
        X,
        t,
        y,
        folds=folds,
        random_state=random_state,
        learner=learner,
        propensity=propensity,
        repeats=repeats,
        n_jobs=n_jobs,
    )
    test = heterogeneity_test(
        X,
        t,
        y,
        n_splits=n_splits,
        random_state=random_state,
        learner=learner,
        propensity=propensity,
        alpha=alpha,
        n_jobs=n_jobs,
    )
    ate = _two_proportions(y, t)
    ate = {
        "difference": ate["difference"],
        "ci95": ate["ci95"],
        "p_value": ate["p_value"],
        "definition": f"response rate {levels[1]} minus {levels[0]}, unadjusted",
    }
    pai = personalized_advantage_index(cf["mu0"], cf["mu1"], t, y, top_share=top_share)
    pai.pop("pai")
    n_arm = {levels[0]: int((t == 0).sum()), levels[1]: int((t == 1).sum())}
    rates = {
        levels[0]: float(y[t == 0].mean()) if n_arm[levels[0]] else None,
        levels[1]: float(y[t == 1].mean()) if n_arm[levels[1]] else None,
    }
    ate_txt = _fmt_ci(ate["difference"], ate["ci95"]) if ate["difference"] is not None else "not estimable"
    if test["claimed"]:
        statement = (
            f"Treatment-effect heterogeneity detected: patients predicted to benefit more from "
            f"{levels[1]} than from {levels[0]} did benefit more (median BLP slope "
            f"{test['beta2_median']:.2f}, p = {test['p_value']:.2g} < {alpha}). Average difference "
            f"{levels[1]} minus {levels[0]}: {ate_txt}. Individual predictions are uncertain; see the "
            f"PAI evaluation."
        )
    else:
        statement = (
            f"No evidence of treatment-effect heterogeneity: the predicted individual differences "
            f"between {levels[1]} and {levels[0]} did not track observed differences (median BLP "
            f"slope {test['beta2_median']:.2f}, p = {test['p_value']:.2g}, threshold {alpha}). "
            f"Average difference {levels[1]} minus {levels[0]}: {ate_txt}. The data do not support "
            f"recommending one arm over the other for individual patients."
        )
    summary = {
        "n": int(len(y)),
        "n_excluded": n_excluded,
        "arms": {"0": levels[0], "1": levels[1]},
        "n_per_arm": n_arm,
        "response_rate": rates,
        "ate": ate,
        "learner": learner,
        "folds": folds,
        "repeats": repeats,
        "propensity": propensity,
        "features": list(feature_cols),
        "test": test,
        "pai": pai,
        "cate": {
            k: {
                "mean": float(cf[k].mean()),
                "sd": float(cf[k].std()),
                "q05": float(np.quantile(cf[k], 0.05)),
                "q95": float(np.quantile(cf[k], 0.95)),
            }
            for k in ("tau_T", "tau_X")
        },
        "heterogeneity_claimed": bool(test["claimed"]),
        "statement": statement,
    }
    est = pd.DataFrame(
        {
            "arm": df[treatment_col].astype(str).to_numpy(),
            "treatment": t,
            "y": y,
            **{k: cf[k] for k in ("mu0", "mu1", "tau_T", "tau_X", "fold")},
        },
        index=df.index,
    )
    return summary, est
