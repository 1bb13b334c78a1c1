"""Stage "heterogeneity": individual treatment-effect heterogeneity between two randomised
arms of the index treatment, or a plain statement of why it was not analysed.

The analysis itself is :func:`stratify.heterogeneity.ite.analyse_heterogeneity_with_estimates` (cross-fitted
T- and X-learners, the split-sample BLP test as the decision rule, the Personalized Advantage
Index). This module decides whether the cohort allows it, picks the arms and the baseline
features from the config and the feature table, and draws the figures. It runs only on a
comparison the config declares randomised (``heterogeneity.randomised: true``): the test and
the PAI evaluation rely on a known allocation probability, and arms chosen in clinical
practice would need a propensity model, which stratify does not fit.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from stratify.errors import ConfigError

log = logging.getLogger(__name__)

# Fewer analysed patients than this in an arm: not analysed (the test would have no power
# and the learners too little to fit).
MIN_PER_ARM = 20
CATE_COLUMNS = ["patient_id", "arm", "treatment", "y", "mu0", "mu1", "tau_T", "tau_X", "pai", "indicated_arm",
                "received_indicated", "fold"]
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
    return {"run": False, "reason": reason, "heterogeneity_claimed": False,
            "statement": f"Treatment-effect heterogeneity was not analysed: {reason}", **extra}


def choose_features(df: pd.DataFrame, labels: pd.Series, *, config: dict[str, Any],
                    feature_groups: dict[str, list[str]]) -> tuple[list[str], dict[str, str]]:
    """Baseline features for the learners and the configured ones left out (name -> why).

    ``heterogeneity.features`` when given, else the response model's clinical and biomarker
    features that have data (``feature_groups`` of ``features/summary.json``). A feature is
    left out when it has no data among the analysed patients, or when it takes a single
    value within each arm: it then says nothing beyond the arm itself (``index_ssri_snri`` and
    ``index_escitalopram_citalopram`` in an escitalopram-bupropion trial encode the arm).
    """
    from stratify.features.table import available_features

    hc = config["heterogeneity"]
    arm_col = hc["arm_column"]
    if "features" in hc:
        wanted, key = list(hc["features"]), "heterogeneity.features"
        known = available_features(config)
        for name in wanted:
            if name not in known:
                raise ConfigError(f"config key {key}: unknown feature {name!r}; features are: "
                                  f"{', '.join(sorted(known))} (outcome columns are never features)")
    else:
        wanted = [*feature_groups.get("clinical", []), *feature_groups.get("biomarker", [])]
    used, dropped = [], {}
    for name in dict.fromkeys(wanted):
        if name == arm_col:
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


def analyse_cohort(features: pd.DataFrame, *, config: dict[str, Any], feature_groups: dict[str, list[str]],
                   source: str | Path = "features.parquet") -> tuple[dict[str, Any], pd.DataFrame]:
    """The heterogeneity stage on a feature table: ``(summary, cate)``.

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
    from stratify.heterogeneity.ite import analyse_heterogeneity_with_estimates

    hc = config["heterogeneity"]
    arm_col = hc["arm_column"]
    empty = pd.DataFrame({c: pd.Series([], dtype=object if c in ("patient_id", "arm", "indicated_arm") else float)
                          for c in CATE_COLUMNS})
    base = {"arm_column": arm_col, "randomised": hc["randomised"], "endpoint": config["endpoint"]}
    if arm_col not in features.columns or features[arm_col].isna().all():
        if hc["randomised"] or "arms" in hc:
            raise ConfigError(f"{source}: key heterogeneity.arm_column: column {arm_col!r} "
                              f"{'has no values' if arm_col in features.columns else 'is not in the feature table'}; "
                              "the arm is usually index_agent (the agent of the index trial in the treatments "
                              "table) or a numeric column named in patient_covariates")
        return not_run(f"the cohort has no index treatment to compare (column {arm_col!r} "
                       f"{'is empty' if arm_col in features.columns else 'is absent'}).", **base), empty
    labels = arm_labels(features[arm_col])
    found = labels.value_counts().to_dict()
    base["arms_found"] = {str(k): int(v) for k, v in found.items()}
    if "arms" in hc:
        arms = [_label(a) for a in hc["arms"]]
        missing = [a for a in arms if a not in found]
        if missing:
            raise ConfigError(f"{source}, column '{arm_col}': heterogeneity.arms {arms}: "
                              f"{' and '.join(repr(a) for a in missing)} not found; values found: "
                              f"{_counts_text(base['arms_found'], 20)}")
    elif len(found) == 2:
        arms = sorted(found)
    else:
        return not_run(f"the index treatment ({arm_col}) is not a two-arm comparison: {len(found)} values "
                       f"({_counts_text(base['arms_found'])}). The analysis needs a randomised two-arm index "
                       "treatment, declared with heterogeneity.arms and heterogeneity.randomised: true.",
                       **base), empty
    base["arms"] = {"0": arms[0], "1": arms[1]}
    if not hc["randomised"]:
        return not_run(f"the arms {arms[0]} ({found[arms[0]]}) and {arms[1]} ({found[arms[1]]}) in {arm_col} "
                       "are not declared randomised (heterogeneity.randomised: false). The heterogeneity test "
                       "and the PAI evaluation assume randomisation with a known allocation probability; arms "
                       "chosen in practice differ by indication, and comparing them needs a propensity model, "
                       "which stratify does not fit. Nothing is claimed about individual treatment effects.",
                       **base), empty
    kind = config["endpoint"]["kind"]
    y_values = set(pd.to_numeric(features["y"], errors="coerce").dropna().unique())
    if kind not in BINARY_ENDPOINTS or not y_values <= {0.0, 1.0}:
        return not_run(f"the endpoint is {kind}; the analysis needs a binary endpoint of the index treatment in "
                       f"which 1 is the good outcome (endpoint.kind {' or '.join(BINARY_ENDPOINTS)}).", **base), empty
    in_arms = labels.isin(arms)
    has_y = features["y"].notna()
    sel = in_arms & has_y
    base["n_other_arm"] = int((~in_arms & labels.notna()).sum())
    base["n_no_arm"] = int(labels.isna().sum())
    base["n_no_endpoint"] = int((in_arms & ~has_y).sum())
    df = features[sel].assign(_arm=labels[sel])
    n_arm = df["_arm"].value_counts().reindex(arms, fill_value=0)
    small = [f"{a} ({int(n)})" for a, n in n_arm.items() if n < max(MIN_PER_ARM, 2 * hc["folds"])]
    if small:
        return not_run(f"too few patients with the endpoint per arm: {', '.join(small)}; at least "
                       f"{max(MIN_PER_ARM, 2 * hc['folds'])} per arm are needed.", **base), empty
    feats, dropped = choose_features(df, df["_arm"], config=config, feature_groups=feature_groups)
    base["features_left_out"] = dropped
    if not feats:
        return not_run("no baseline feature with data varies within the arms "
                       f"(left out: {', '.join(f'{k}: {v}' for k, v in dropped.items()) or 'none configured'}).",
                       **base), empty
    X = df[feats].apply(pd.to_numeric, errors="coerce").astype(float)
    data = pd.concat([df[["patient_id", "_arm", "y"]], X], axis=1)
    # the allocation the analysis assumes, against the arm sizes observed
    n1, n = int(n_arm.iloc[1]), int(n_arm.sum())
    p_alloc = float(stats.binomtest(n1, n, hc["propensity"]).pvalue)
    base["allocation"] = {"declared_share_arm1": hc["propensity"], "observed_share_arm1": n1 / n,
                          "binomial_p": p_alloc}
    if p_alloc < ALLOCATION_WARN_P:
        log.warning("heterogeneity: %d of %d analysed patients are in %s, unlikely under the declared allocation "
                    "probability %g (binomial p = %.2g); check heterogeneity.propensity", n1, n, arms[1],
                    hc["propensity"], p_alloc)
    log.info("heterogeneity: %s (%d) vs %s (%d), %d features, learner %s", arms[0], int(n_arm.iloc[0]), arms[1],
             n1, len(feats), hc["learner"])
    summary, est = analyse_heterogeneity_with_estimates(
        data, "_arm", "y", feats, arms=(arms[0], arms[1]), folds=hc["folds"], random_state=config["seed"],
        learner=hc["learner"], propensity=hc["propensity"], n_splits=hc["n_splits"], alpha=hc["alpha"])
    pai = est["mu1"] - est["mu0"]
    cate = pd.DataFrame({
        "patient_id": data.loc[est.index, "patient_id"].astype(str).to_numpy(), "arm": est["arm"].to_numpy(),
        "treatment": est["treatment"].to_numpy(), "y": est["y"].astype(float).to_numpy(),
        **{k: est[k].to_numpy(dtype=float) for k in ("mu0", "mu1", "tau_T", "tau_X")},
        "pai": pai.to_numpy(dtype=float),
        "indicated_arm": np.where(pai > 0, arms[1], np.where(pai < 0, arms[0], "")).astype(object),
        "received_indicated": ((est["treatment"] == 1) == (pai > 0)).where(pai != 0).to_numpy(dtype=float),
        "fold": est["fold"].to_numpy(),
    })
    return {"run": True, **base, **summary}, cate


def pai_png(summary: dict[str, Any], path: str | Path) -> Path:
    """Observed response of patients who received their PAI-indicated arm and of those who
    did not (95% Wilson intervals): all patients, the largest |PAI|, and by |PAI| tertile."""
    from stratify.plots import plt, save_png, wilson  # plots sets the Agg backend

    p = summary["pai"]
    groups = [("all", p["overall"]), (f"top {100 * p['top']['share']:.0f}% |PAI|", p["top"]),
              *((f"{t['tertile']} |PAI|", t) for t in p["tertiles"])]
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    x = np.arange(len(groups))
    for off, key, label, color in ((-0.17, "indicated", "received the indicated arm", "#1e8449"),
                                   (0.17, "not_indicated", "received the other arm", "#a04000")):
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
    ax.set_xlabel(f"predicted effect (X-learner, out-of-fold) on P({summary['endpoint']['kind']}):\n"
                  f"{arms['1']} minus {arms['0']}", fontsize=9)
    ax.set_ylabel("patients")
    return save_png(fig, path)


def site_variance_ratios(features: pd.DataFrame, summary: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame]:
    """Variance-ratio meta-analysis of the cohort's own trial, with sites as studies.

    In each site with at least two patients per arm, the spread of the percent change in
    the endpoint instrument's total (``pct_change`` of the feature table) on
    the second arm is compared with the first (lnVR, lnCVR; :mod:`stratify.heterogeneity.arms`), and the
    sites are pooled (fixed effect and REML random effects). Returns ``(result, comparisons)``;
    ``result["run"]`` is false with a ``reason`` when no site qualifies. A VR near 1 says
    the arms' outcomes are equally variable, the pattern of the trials Cipriani 2018
    pooled; it is a test of heterogeneity beyond what the models see, not of the models.
    """
    from stratify.heterogeneity.arms import pair_arms, pool_comparisons

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
            rows.append({"study": str(site), "arm": a, "group": group, "n": int(stats_.loc[a, "size"]),
                         "mean": float(stats_.loc[a, "mean"]), "sd": float(stats_.loc[a, "std"]), "line": line})
    if not rows:
        return {"run": False, "reason": "no site has at least two patients with a percent change in each arm"}, \
            pd.DataFrame()
    comp = pair_arms(pd.DataFrame(rows), path="features.parquet (sites as studies)")
    pooled = pool_comparisons(comp)
    return {"run": True, "outcome": "percent change in the endpoint instrument's total (index trial)",
            "treatment_arm": arms["1"], "control_arm": arms["0"], "k_sites": int(len(comp)),
            "pooled": pooled}, comp
