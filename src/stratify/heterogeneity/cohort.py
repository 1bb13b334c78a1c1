"""Stage "heterogeneity": individual treatment-effect heterogeneity between two randomised
arms of the index treatment, or a plain statement of why it was not analysed.

The analysis itself is :func:`stratify.heterogeneity.ite.analyse_heterogeneity_with_estimates` (cross-fitted
T- and X-learners, the split-sample BLP test as the decision rule, the Personalized Advantage
Index). This module decides whether the cohort allows it, picks the arms and the baseline
features from the options (:func:`heterogeneity_options`) and the feature table, draws the
figures, and pools the cohort's sites as a variance-ratio meta-analysis
(:func:`site_variance_ratios`). It runs only on a comparison the config declares randomised
(``heterogeneity.randomised: true``): the test and the PAI evaluation rely on a known
allocation probability, and arms chosen in clinical practice would need a propensity model,
which stratify does not fit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from stratify.errors import ConfigError
from stratify.features.table import available_features
from stratify.heterogeneity.ite import analyse_heterogeneity_with_estimates
from stratify.heterogeneity.variance_ratio import pair_arms, pool_comparisons

log = logging.getLogger(__name__)

# Fewer analysed patients than this in an arm: not analysed (the test would have no power
# and the learners too little to fit).
MIN_PER_ARM = 20
CATE_COLUMNS = [
    "patient_id",
    "arm",
    "treatment",
    "y",
    "mu0",
    "mu1",
    "tau_T",
    "tau_X",
    "pai",
    "indicated_arm",
    "received_indicated",
    "fold",
]
# Endpoints the analysis accepts: binary, 1 = the good outcome of the index treatment (a TRD
# status after it is binary too, but 1 is the bad outcome; a percent change is continuous).
BINARY_ENDPOINTS = ("response", "remission")
# A declared allocation this unlikely under the observed arm sizes is logged as a warning.
ALLOCATION_WARN_P = 0.001


def _label(v: Any) -> str:
    """An arm value as text: numbers without a trailing .0 (1.0 -> "1"), text as is."""
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return f"{float(v):g}"
    return str(v)


def arm_labels(values: pd.Series) -> pd.Series:
    """Arm values as text (missing stays missing), so that config and table compare alike.

    >>> arm_labels(pd.Series([0.0, 1.0, None])).tolist()
    ['0', '1', nan]
    """
    return values.map(lambda v: _label(v) if pd.notna(v) else np.nan).astype(object)


def _counts_text(counts: dict[str, int], limit: int = 8) -> str:
    items = [f"{k} ({v})" for k, v in list(counts.items())[:limit]]
    more = len(counts) - limit
    return ", ".join(items) + (f" and {more} more" if more > 0 else "")


def not_run(reason: str, **extra: Any) -> dict[str, Any]:
    """The summary of a cohort in which nothing was analysed, with the reason."""
    return {
        "run": False,
        "reason": reason,
        "heterogeneity_claimed": False,
        "statement": f"Treatment-effect heterogeneity was not analysed: {reason}",
        **extra,
    }


@dataclass(frozen=True)
class HeterogeneityOptions:
    """The options of :func:`analyse_cohort` (the config's ``heterogeneity``, ``endpoint`` and ``seed``).

    ``arms`` (reference first) and ``features`` are None when the config does not name them
    (then the arm column's two values in sorted order, and the response model's clinical and
    biomarker features); ``known_features`` are the names ``features`` may use
    (:func:`stratify.features.table.available_features`). The defaults are the config schema's.

    >>> o = HeterogeneityOptions(endpoint={"kind": "response"})
    >>> o.arm_column, o.randomised, o.learner, o.folds
    ('index_agent', False, 'xgboost', 5)
    """

    endpoint: dict[str, Any]
    seed: int = 0
    arm_column: str = "index_agent"
    arms: tuple[Any, Any] | None = None
    randomised: bool = False
    propensity: float = 0.5
    learner: str = "xgboost"
    folds: int = 5
    n_splits: int = 5
    alpha: float = 0.05
    features: tuple[str, ...] | None = None
    known_features: frozenset[str] = frozenset()


def heterogeneity_options(config: dict[str, Any]) -> HeterogeneityOptions:
    """The heterogeneity stage's options from a validated config."""
    hc = config["heterogeneity"]
    return HeterogeneityOptions(
        endpoint=dict(config["endpoint"]),
        seed=config["seed"],
        arm_column=hc["arm_column"],
        arms=tuple(hc["arms"]) if "arms" in hc else None,
        randomised=hc["randomised"],
        propensity=hc["propensity"],
        learner=hc["learner"],
        folds=hc["folds"],
        n_splits=hc["n_splits"],
        alpha=hc["alpha"],
        features=tuple(hc["features"]) if "features" in hc else None,
        known_features=frozenset(available_features(config)),
    )


def choose_features(
    df: pd.DataFrame,
    labels: pd.Series,
    *,
    arm_column: str,
    feature_groups: dict[str, list[str]],
    features: tuple[str, ...] | list[str] | None = None,
    known_features: frozenset[str] | set[str] = frozenset(),
) -> tuple[list[str], dict[str, str]]:
    """Baseline features for the learners and the configured ones left out (name -> why).

    ``features`` (``heterogeneity.features``; each must be in ``known_features``) when given,
    else the response model's clinical and biomarker features that have data
    (``feature_groups`` of ``features/summary.json``). A feature is left out when it has no
    data among the analysed patients, or when it takes a single value within each arm
    (``labels``): it then says nothing beyond the arm itself (``index_ssri_snri`` and
    ``index_escitalopram_citalopram`` in an escitalopram-bupropion trial encode the arm).
    """
    if features is not None:
        wanted, key = list(features), "heterogeneity.features"
        for name in wanted:
            if name not in known_features:
                raise ConfigError(
                    f"config key {key}: unknown feature {name!r}; features are: "
                    f"{', '.join(sorted(known_features))} (outcome columns are never features)"
                )
    else:
        wanted = [*feature_groups.get("clinical", []), *feature_groups.get("biomarker", [])]
    used, dropped = [], {}
    for name in dict.fromkeys(wanted):
        if name == arm_column:
            dropped[name] = "the arm column itself"
            continue
        if name not in df.columns or df[name].isna().all():
            dropped[name] = "no data in this cohort"
            continue
        x = pd.to_numeric(df[name], errors="coerce")
        if x.isna().all():
            dropped[name] = "not numeric"
            continue
        per_arm = x.groupby(labels.to_numpy()).nunique(dropna=True)
        if (per_arm <= 1).all():
            dropped[name] = "a single value within each arm (it encodes the arm, or is constant)"
            continue
        used.append(name)
    return used, dropped


def _empty_cate() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series([], dtype=object if c in ("patient_id", "arm", "indicated_arm") else float) for c in CATE_COLUMNS}
    )


def _choose_arms(
    features: pd.DataFrame, options: HeterogeneityOptions, base: dict[str, Any], source: str | Path
) -> tuple[pd.Series | None, list[str] | None, dict[str, Any] | None]:
    """The arm of each patient and the two arms compared, or the not-run summary saying why
    there is no randomised two-arm comparison (``base`` gains ``arms_found`` and ``arms``)."""
    arm_col, o = options.arm_column, options
    if arm_col not in features.columns or features[arm_col].isna().all():
        if o.randomised or o.arms is not None:
            raise ConfigError(
                f"{source}: key heterogeneity.arm_column: column {arm_col!r} "
                f"{'has no values' if arm_col in features.columns else 'is not in the feature table'}; "
                "the arm is usually index_agent (the agent of the index trial in the treatments "
                "table) or a numeric column named in patient_covariates"
            )
        return (
            None,
            None,
            not_run(
                f"the cohort has no index treatment to compare (column {arm_col!r} "
                f"{'is empty' if arm_col in features.columns else 'is absent'}).",
                **base,
            ),
        )
    labels = arm_labels(features[arm_col])
    found = labels.value_counts().to_dict()
    base["arms_found"] = {str(k): int(v) for k, v in found.items()}
    if o.arms is not None:
        arms = [_label(a) for a in o.arms]
        missing = [a for a in arms if a not in found]
        if missing:
            raise ConfigError(
                f"{source}, column '{arm_col}': heterogeneity.arms {arms}: "
                f"{' and '.join(repr(a) for a in missing)} not found; values found: "
                f"{_counts_text(base['arms_found'], 20)}"
            )
    elif len(found) == 2:
        arms = sorted(found)
    else:
        return (
            None,
            None,
            not_run(
                f"the index treatment ({arm_col}) is not a two-arm comparison: {len(found)} values "
                f"({_counts_text(base['arms_found'])}). The analysis needs a randomised two-arm index "
                "treatment, declared with heterogeneity.arms and heterogeneity.randomised: true.",
                **base,
            ),
        )
    base["arms"] = {"0": arms[0], "1": arms[1]}
    if not o.randomised:
        return (
            None,
            None,
            not_run(
                f"the arms {arms[0]} ({found[arms[0]]}) and {arms[1]} ({found[arms[1]]}) in {arm_col} "
                "are not declared randomised (heterogeneity.randomised: false). The heterogeneity test "
                "and the PAI evaluation assume randomisation with a known allocation probability; arms "
                "chosen in practice differ by indication, and comparing them needs a propensity model, "
                "which stratify does not fit. Nothing is claimed about individual treatment effects.",
                **base,
            ),
        )
    return labels, arms, None


def _check_allocation(n_arm: pd.Series, arms: list[str], propensity: float) -> dict[str, Any]:
    """The allocation the analysis assumes against the arm sizes observed (a warning when unlikely)."""
    n1, n = int(n_arm.iloc[1]), int(n_arm.sum())
    p_alloc = float(stats.binomtest(n1, n, propensity).pvalue)
    if p_alloc < ALLOCATION_WARN_P:
        log.warning(
            "heterogeneity: %d of %d analysed patients are in %s, unlikely under the declared allocation "
            "probability %g (binomial p = %.2g); check heterogeneity.propensity",
            n1,
            n,
            arms[1],
            propensity,
            p_alloc,
        )
    return {"declared_share_arm1": propensity, "observed_share_arm1": n1 / n, "binomial_p": p_alloc}


def _cate_table(data: pd.DataFrame, est: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    """One row per analysed patient: the out-of-fold estimates, the PAI and the indicated arm."""
    pai = est["mu1"] - est["mu0"]
    return pd.DataFrame(
        {
            "patient_id": data.loc[est.index, "patient_id"].astype(str).to_numpy(),
            "arm": est["arm"].to_numpy(),
            "treatment": est["treatment"].to_numpy(),
            "y": est["y"].astype(float).to_numpy(),
            **{k: est[k].to_numpy(dtype=float) for k in ("mu0", "mu1", "tau_T", "tau_X")},
            "pai": pai.to_numpy(dtype=float),
            "indicated_arm": np.where(pai > 0, arms[1], np.where(pai < 0, arms[0], "")).astype(object),
            "received_indicated": ((est["treatment"] == 1) == (pai > 0)).where(pai != 0).to_numpy(dtype=float),
            "fold": est["fold"].to_numpy(),
        }
    )


def analyse_cohort(
    features: pd.DataFrame,
    *,
    options: HeterogeneityOptions,
    feature_groups: dict[str, list[str]],
    source: str | Path = "features.parquet",
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The heterogeneity stage on a feature table: ``(summary, cate)``.

    ``options`` (:func:`heterogeneity_options` of a config) names the arm column and arms, the
    learner and the test's settings; ``feature_groups`` is the features stage's
    (``features/summary.json``); ``source`` names the table in messages.

    ``summary`` is :func:`stratify.heterogeneity.ite.analyse_heterogeneity`'s output with ``run: true`` and
    the stage's choices (arm column, features used and left out, allocation check), or
    ``run: false`` with a ``reason`` and a ``statement``. ``cate`` has one row per analysed
    patient (columns :data:`CATE_COLUMNS`), empty when nothing was analysed.

    Raises
    ------
    ConfigError
        ``heterogeneity.arms`` names a value the arm column does not hold, or the configured
        arm column is missing from a cohort declared randomised.
    """
    o = options
    base = {"arm_column": o.arm_column, "randomised": o.randomised, "endpoint": o.endpoint}
    labels, arms, stop = _choose_arms(features, o, base, source)
    if stop is not None:
        return stop, _empty_cate()
    kind = o.endpoint["kind"]
    y_values = set(pd.to_numeric(features["y"], errors="coerce").dropna().unique())
    if kind not in BINARY_ENDPOINTS or not y_values <= {0.0, 1.0}:
        return not_run(
            f"the endpoint is {kind}; the analysis needs a binary endpoint of the index treatment in "
            f"which 1 is the good outcome (endpoint.kind {' or '.join(BINARY_ENDPOINTS)}).",
            **base,
        ), _empty_cate()
    in_arms = labels.isin(arms)
    has_y = features["y"].notna()
    sel = in_arms & has_y
    base["n_other_arm"] = int((~in_arms & labels.notna()).sum())
    base["n_no_arm"] = int(labels.isna().sum())
    base["n_no_endpoint"] = int((in_arms & ~has_y).sum())
    df = features[sel].assign(_arm=labels[sel])
    n_arm = df["_arm"].value_counts().reindex(arms, fill_value=0)
    small = [f"{a} ({int(n)})" for a, n in n_arm.items() if n < max(MIN_PER_ARM, 2 * o.folds)]
    if small:
        return not_run(
            f"too few patients with the endpoint per arm: {', '.join(small)}; at least "
            f"{max(MIN_PER_ARM, 2 * o.folds)} per arm are needed.",
            **base,
        ), _empty_cate()
    feats, dropped = choose_features(
        df,
        df["_arm"],
        arm_column=o.arm_column,
        feature_groups=feature_groups,
        features=o.features,
        known_features=o.known_features,
    )
    base["features_left_out"] = dropped
    if not feats:
        return not_run(
            "no baseline feature with data varies within the arms "
            f"(left out: {', '.join(f'{k}: {v}' for k, v in dropped.items()) or 'none configured'}).",
            **base,
        ), _empty_cate()
    X = df[feats].apply(pd.to_numeric, errors="coerce").astype(float)
    data = pd.concat([df[["patient_id", "_arm", "y"]], X], axis=1)
    base["allocation"] = _check_allocation(n_arm, arms, o.propensity)
    log.info(
        "heterogeneity: %s (%d) vs %s (%d), %d features, learner %s",
        arms[0],
        int(n_arm.iloc[0]),
        arms[1],
        int(n_arm.iloc[1]),
        len(feats),
        o.learner,
    )
    summary, est = analyse_heterogeneity_with_estimates(
        data,
        "_arm",
        "y",
        feats,
        arms=(arms[0], arms[1]),
        folds=o.folds,
        random_state=o.seed,
        learner=o.learner,
        propensity=o.propensity,
        n_splits=o.n_splits,
        alpha=o.alpha,
    )
    return {"run": True, **base, **summary}, _cate_table(data, est, arms)


def pai_png(summary: dict[str, Any], path: str | Path) -> Path:
    """Observed response of patients who received their PAI-indicated arm and of those who
    did not (95% Wilson intervals): all patients, the largest |PAI|, and by |PAI| tertile."""
    from stratify.plots import plt, save_png, wilson  # plots sets the Agg backend

    p = summary["pai"]
    groups = [
        ("all", p["overall"]),
        (f"top {100 * p['top']['share']:.0f}% |PAI|", p["top"]),
        *((f"{t['tertile']} |PAI|", t) for t in p["tertiles"]),
    ]
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    x = np.arange(len(groups))
    for off, key, label, color in (
        (-0.17, "indicated", "received the indicated arm", "#1e8449"),
        (0.17, "not_indicated", "received the other arm", "#a04000"),
    ):
        pts = []
        for _, g in groups:
            n, r = g[f"n_{key}"], g[f"rate_{key}"]
            if not n or r is None:
                pts.append((np.nan, 0.0, 0.0))
                continue
            a, b = wilson(round(r * n), int(n))
            pts.append((r, r - a, b - r))
        rate, lo, hi = (list(v) for v in zip(*pts))
        ax.errorbar(x + off, rate, yerr=[lo, hi], fmt="o", capsize=3, color=color, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{name}\n(n={g['n_indicated'] + g['n_not_indicated']})" for name, g in groups], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"observed {summary['endpoint']['kind']} rate")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    return save_png(fig, path)


def cate_png(cate: pd.DataFrame, summary: dict[str, Any], path: str | Path) -> Path:
    """Histogram of the out-of-fold X-learner CATE with the unadjusted average difference."""
    from stratify.plots import plt, save_png  # plots sets the Agg backend

    arms = summary["arms"]
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.hist(cate["tau_X"], bins=30, color="#5d6d7e")
    ax.axvline(0, color="black", lw=0.8)
    ate = summary["ate"]["difference"]
    if ate is not None:
        ax.axvline(ate, color="#c0392b", ls="--", lw=1, label=f"average difference {ate:+.2f}")
        ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel(
        f"predicted effect (X-learner, out-of-fold) on P({summary['endpoint']['kind']}):\n"
        f"{arms['1']} minus {arms['0']}",
        fontsize=9,
    )
    ax.set_ylabel("patients")
    return save_png(fig, path)


def site_variance_ratios(features: pd.DataFrame, summary: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame]:
    """Variance-ratio meta-analysis of the cohort's own trial, with sites as studies.

    In each site with at least two patients per arm, the spread of the percent change in
    the endpoint instrument's total (``pct_change`` of the feature table) on
    the second arm is compared with the first (lnVR, lnCVR; :mod:`stratify.heterogeneity.variance_ratio`), and the
    sites are pooled (fixed effect and REML random effects). Returns ``(result, comparisons)``;
    ``result["run"]`` is false with a ``reason`` when no site qualifies. A VR near 1 says
    the arms' outcomes are equally variable, the pattern of the trials Cipriani 2018
    pooled; it is a test of heterogeneity beyond what the models see, not of the models.
    """
    arms = summary["arms"]
    col = summary["arm_column"]
    if "pct_change" not in features.columns:
        return {"run": False, "reason": "the feature table has no pct_change column"}, pd.DataFrame()
    labels = arm_labels(features[col])
    d = features.assign(_arm=labels, _y=pd.to_numeric(features["pct_change"], errors="coerce"))
    d = d[d["_arm"].isin([arms["0"], arms["1"]]) & d["_y"].notna()]
    rows, line = [], 1
    for site, g in d.groupby("site", sort=True):
        stats_ = g.groupby("_arm")["_y"].agg(["size", "mean", "std"])
        if len(stats_) < 2 or (stats_["size"] < 2).any() or (stats_["std"] <= 0).any():
            continue
        for a, group in ((arms["1"], "treatment"), (arms["0"], "control")):
            line += 1
            rows.append(
                {
                    "study": str(site),
                    "arm": a,
                    "group": group,
                    "n": int(stats_.loc[a, "size"]),
                    "mean": float(stats_.loc[a, "mean"]),
                    "sd": float(stats_.loc[a, "std"]),
                    "line": line,
                }
            )
    if not rows:
        return {
            "run": False,
            "reason": "no site has at least two patients with a percent change in each arm",
        }, pd.DataFrame()
    comp = pair_arms(pd.DataFrame(rows), path="features.parquet (sites as studies)")
    pooled = pool_comparisons(comp)
    return {
        "run": True,
        "outcome": "percent change in the endpoint instrument's total (index trial)",
        "treatment_arm": arms["1"],
        "control_arm": arms["0"],
        "k_sites": int(len(comp)),
        "pooled": pooled,
    }, comp
