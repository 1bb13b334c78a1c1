"""The subtype stage's analysis: clusters that are tested before they are named.

Features are standardised (z-scores within the cohort); a patient's missing feature
values are imputed with the feature's median and counted (``n_imputed``). A clustering
method (``subtype.method``: Gaussian mixture with k by BIC, k-means, HDBSCAN or
consensus clustering; :mod:`stratify.subtype.methods`) proposes a partition. Subtypes are
claimed only when all three hold:

1. the method finds more than one cluster (the Gaussian mixture may choose k = 1);
2. the existence test rejects a single unclustered blob (p < ``alpha``): by default SigClust on
   rank-based normal scores against a Gaussian copula with each feature's own marginal
   (:func:`stratify.subtype.copula.copula_sigclust`), so bounded item sums and skewed markers
   are not mistaken for clusters; ``subtype.existence_null: gaussian`` restores the test against
   a single Gaussian with the data's covariance (:func:`stratify.subtype.stats.sigclust`);
3. at least two clusters are stable under the bootstrap (mean Jaccard >=
   ``stable_jaccard``, Hennig 2007; :func:`stratify.subtype.stats.bootstrap_stability`).

Only stable clusters of a claimed solution are named, by the rules of
resources/subtypes.yaml (and ``subtype.naming``; :mod:`stratify.subtype.naming`) applied to
their standardised mean profile; a stable cluster matching no rule stays "unlabelled", an
unstable one is "not named (unstable)". Otherwise the stage says plainly that no robust
subtypes were found, and why. Either way it states the smallest separation the run could have
detected with 80% power (:func:`stratify.subtype.power.detectable_separation`;
``subtype.detectable_separation``).

:func:`run_subtyping` takes its options as a :class:`SubtypeOptions`, built from a config by
:func:`subtype_options`; :func:`subtype_adds_to_severity` tests a claimed solution against
the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from stratify.model.calibration import logistic_fit
from stratify.subtype.copula import copula_sigclust
from stratify.subtype.methods import make_method
from stratify.subtype.naming import name_clusters, naming_rules
from stratify.subtype.power import detectable_separation
from stratify.subtype.saved import export_model, skipped_model, standardise
from stratify.subtype.stats import bootstrap_stability, sigclust

log = logging.getLogger(__name__)

__all__ = [
    "SubtypeOptions",
    "profile_columns",
    "run_subtyping",
    "standardise",
    "subtype_adds_to_severity",
    "subtype_options",
]

CRITERION_NAMES = {"gmm_bic": "BIC", "kmeans": "silhouette", "consensus": "PAC"}
#: Existence tests by ``subtype.existence_null``.
EXISTENCE_TESTS = {"gaussian_copula": copula_sigclust, "gaussian": sigclust}
#: Defaults of ``subtype.detectable_separation`` (the config schema's).
POWER_DEFAULTS = {"run": True, "grid": [1.0, 1.5, 2.0, 2.5, 3.0, 4.0], "n_replicates": 10, "n_null": 39, "power": 0.8}


@dataclass(frozen=True)
class SubtypeOptions:
    """The options of :func:`run_subtyping` (the config's ``subtype`` block and ``seed``).

    The defaults are the config schema's. ``naming`` holds rules that add to or replace by name
    those of resources/subtypes.yaml (:func:`stratify.subtype.naming.naming_rules`).

    >>> o = SubtypeOptions()
    >>> o.method, o.max_k, o.features[0], o.n_null
    ('gmm_bic', 6, 'inflammatory_index', 100)
    """

    features: tuple[str, ...] = ("inflammatory_index", "metabolic_index", "aes", "anhedonia")
    method: str = "gmm_bic"
    max_k: int = 6
    n_init: int = 5
    min_cluster_fraction: float = 0.05
    n_null: int = 100
    n_bootstrap: int = 100
    alpha: float = 0.05
    stable_jaccard: float = 0.75
    existence_null: str = "gaussian_copula"
    detectable_separation: Mapping[str, Any] = field(default_factory=lambda: dict(POWER_DEFAULTS))
    naming: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0


def subtype_options(config: dict[str, Any]) -> SubtypeOptions:
    """The subtype stage's options from a validated config (``subtype`` and ``seed``).

    >>> o = subtype_options({"seed": 3, "subtype": {"method": "kmeans", "features": ["a", "b"]}})
    >>> o.features, o.method, o.max_k, o.naming, o.seed
    (('a', 'b'), 'kmeans', 6, {}, 3)
    """
    sc = dict(config.get("subtype") or {})
    if "features" in sc:
        sc["features"] = tuple(sc["features"])
    sc["naming"] = dict(sc.get("naming") or {})
    sc["detectable_separation"] = {**POWER_DEFAULTS, **(sc.get("detectable_separation") or {})}
    return SubtypeOptions(**sc, seed=config["seed"])


def profile_columns(feats: list[str]) -> list[str]:
    """Columns of the cluster profiles (subtype/profiles.tsv) for clustering features ``feats``.

    >>> profile_columns(["aes"])
    ['cluster', 'n', 'subtype', 'aes', 'aes_lo', 'aes_hi', 'mean_jaccard', 'stability']
    """
    return [
        "cluster",
        "n",
        "subtype",
        *feats,
        *[f"{f}_{s}" for f in feats for s in ("lo", "hi")],
        "mean_jaccard",
        "stability",
    ]


def _progress(what: str, total: int):
    step = max(1, total // 10)

    def report(i: int, n: int) -> None:
        if i % step == 0 or i == n:
            log.info("%s: %d/%d", what, i, n)

    return report


def size_relabel(raw: np.ndarray, k: int) -> np.ndarray:
    """``relabel[raw] = cluster``: clusters numbered by size (0 = largest, ties in label order)
    so labels are stable across runs.

    >>> size_relabel(np.array([0, 1, 1, -1, 1]), 2).tolist()
    [1, 0]
    """
    sizes = np.bincount(raw[raw >= 0], minlength=k) if k else np.array([], dtype=int)
    order = np.argsort(-sizes, kind="stable")
    relabel = np.empty(max(k, 1), dtype=int)
    relabel[order] = np.arange(len(order))
    return relabel


def _by_size(raw: np.ndarray, k: int) -> np.ndarray:
    """Relabel clusters by size (:func:`size_relabel`); noise stays -1.

    >>> _by_size(np.array([0, 1, 1, -1, 1]), 2).tolist()
    [1, 0, 0, -1, 0]
    """
    relabel = size_relabel(raw, k)
    return np.where(raw >= 0, relabel[np.clip(raw, 0, None)], -1)


def _test_solution(
    z: np.ndarray, labels: np.ndarray, est, k: int, o: SubtypeOptions
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The existence test and the bootstrap stability of a solution with ``k`` > 1 clusters."""
    if k <= 1:
        skipped = {"run": False, "reason": "the method found a single cluster"}
        return skipped, dict(skipped)
    test = EXISTENCE_TESTS[o.existence_null]
    existence = {
        "run": True,
        **test(z, n_sim=o.n_null, random_state=o.seed, progress=_progress("existence test (SigClust)", o.n_null)),
    }
    stability = {
        "run": True,
        **bootstrap_stability(
            z,
            labels,
            lambda x, rng: est.refit_fixed(x, rng),
            n_boot=o.n_bootstrap,
            random_state=o.seed,
            stable=o.stable_jaccard,
            progress=_progress("bootstrap stability", o.n_bootstrap),
        ),
    }
    return existence, stability


def _power(z: np.ndarray, o: SubtypeOptions) -> dict[str, Any]:
    """The smallest separation this run's n, method and existence test detect with the configured
    power (:func:`stratify.subtype.power.detectable_separation`), the simulated cohorts given the
    marginal shapes of the cohort's standardised features ``z``, or why it was not simulated."""
    n, d = z.shape
    p = o.detectable_separation
    if not p["run"]:
        return {"run": False, "reason": "turned off (subtype.detectable_separation.run: false)"}
    test = EXISTENCE_TESTS[o.existence_null]
    n_null = max(int(p["n_null"]), int(np.ceil(1 / o.alpha)))  # so that p < alpha is possible

    def fit_n_clusters(x: np.ndarray, seed: int) -> int:
        kw = {"max_k": o.max_k, "min_cluster_fraction": o.min_cluster_fraction, "n_init": o.n_init}
        return int(make_method(o.method, **kw, random_state=seed).fit(x).n_clusters_)

    def existence_p(x: np.ndarray, seed: int) -> float:
        return test(x, n_sim=n_null, random_state=seed, n_init=o.n_init)["p_value"]

    log.info("detectable separation: simulating %d replicates per separation at n=%d", p["n_replicates"], n)
    res = detectable_separation(
        n,
        d,
        fit_n_clusters=fit_n_clusters,
        existence_p=existence_p,
        grid=tuple(p["grid"]),
        n_replicates=int(p["n_replicates"]),
        alpha=o.alpha,
        power=float(p["power"]),
        random_state=o.seed,
        marginals=z,
    )
    return {**res, "n_null": n_null}


def _profiles(
    z: np.ndarray, feats: list[str], labels: np.ndarray, jac: dict[int, dict[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per cluster (noise left out): the standardised means, their 95% lower bounds and the
    profile table (n, means with intervals, stability), indexed by cluster."""
    zdf = pd.DataFrame(z, columns=feats)
    zdf["cluster"] = labels
    g = zdf[zdf["cluster"] >= 0].groupby("cluster")
    mean, sem = g[feats].mean(), g[feats].sem().fillna(0.0)
    lower = mean - 1.96 * sem
    prof = mean.copy()
    prof.insert(0, "n", g.size())
    for f in feats:
        prof[f"{f}_lo"] = lower[f]
        prof[f"{f}_hi"] = mean[f] + 1.96 * sem[f]
    prof["mean_jaccard"] = [jac.get(int(c), {}).get("mean_jaccard", np.nan) for c in prof.index]
    prof["stability"] = [jac.get(int(c), {}).get("verdict", "not run") for c in prof.index]
    return mean, lower, prof


def _label(c: int, *, claimed: bool, stable: list[int], names: dict[int, str]) -> str:
    """The subtype label of cluster ``c``."""
    if c < 0:
        return "noise"
    if not claimed:
        return "none"
    if c not in stable:
        return "not named (unstable)"
    return names.get(c, "unlabelled")


def _skipped(feats: list[str], summary: dict[str, Any]):
    """The stage's result without clustering: fewer than two features have data."""
    reason = f"Subtyping skipped: it needs at least two features with data, has {feats}."
    summary.update(
        n_clusters=0,
        claimed=False,
        statement=reason,
    )
    return (
        pd.DataFrame(columns=["patient_id", "cluster", "subtype"]),
        pd.DataFrame(columns=profile_columns(feats)),
        summary,
        skipped_model(method=summary["method"], features=feats, reason=reason),
    )


def run_subtyping(
    features: pd.DataFrame, *, options: SubtypeOptions
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Cluster patients, test the solution, check its stability and name what survives.

    Parameters
    ----------
    features : DataFrame
        One row per patient: ``patient_id`` and the clustering features (``options.features``;
        those absent or without data are left out and listed in the summary).
    options : SubtypeOptions
        Method, its parameters, the test and stability settings, naming rules and seed
        (:func:`subtype_options` builds them from a config).

    Returns
    -------
    assignments : DataFrame
        One row per patient: ``patient_id``, ``cluster``, ``subtype``, ``probability``, ``n_imputed``.
    profiles : DataFrame
        The cluster profiles (standardised means with 95% intervals, stability), columns
        :func:`profile_columns`.
    summary : dict
        JSON-able; its ``statement`` says in words what was found, or why no robust subtypes
        were claimed.
    model : dict
        The fitted clustering, saved as ``subtype/model.json``
        (:func:`stratify.subtype.saved.export_model`): cohort B's patients can be labelled with
        it (:func:`stratify.subtype.saved.assign_with_model`).
    """
    o = options
    feats = [f for f in o.features if f in features.columns and features[f].notna().any()]
    summary: dict[str, Any] = {
        "features": feats,
        "features_missing": [f for f in o.features if f not in feats],
        "method": o.method,
        "alpha": o.alpha,
        "stable_jaccard": o.stable_jaccard,
    }
    if len(feats) < 2:
        return _skipped(feats, summary)
    z, n_imp, params = standardise(features, feats)
    log.info("clustering %d patients on %s with %s", len(z), ", ".join(feats), o.method)
    est = make_method(
        o.method, max_k=o.max_k, min_cluster_fraction=o.min_cluster_fraction, n_init=o.n_init, random_state=o.seed
    ).fit(z)
    k = int(est.n_clusters_)
    raw = np.asarray(est.labels_, dtype=int)
    labels = _by_size(raw, k)
    proba = est.predict_proba(z).max(axis=1) if hasattr(est, "predict_proba") else np.full(len(z), np.nan)
    existence, stability = _test_solution(z, labels, est, k, o)
    power = _power(z, o)
    jac = {int(c): v for c, v in stability.get("clusters", {}).items()}
    stable = sorted(c for c, v in jac.items() if v["mean_jaccard"] >= o.stable_jaccard)
    significant = bool(existence.get("run") and existence["p_value"] < o.alpha)
    claimed = bool(k > 1 and significant and len(stable) >= 2)
    mean, lower, prof = _profiles(z, feats, labels, jac)
    names = name_clusters(mean.loc[stable], rules=naming_rules(o.naming), lower=lower) if claimed else {}

    def label(c) -> str:
        return _label(int(c), claimed=claimed, stable=stable, names=names)

    prof.insert(1, "subtype", [label(c) for c in prof.index])
    assign = pd.DataFrame(
        {
            "patient_id": features["patient_id"].to_numpy(),
            "cluster": labels,
            "subtype": [label(c) for c in labels],
            "probability": proba,
            "n_imputed": n_imp,
        }
    )
    summary.update(
        n_clusters=k,
        criterion={str(a): float(b) for a, b in getattr(est, "criterion_", {}).items()},
        criterion_name=CRITERION_NAMES.get(o.method),
        standardisation=params,
        names={str(c): n for c, n in names.items()},
        claimed=claimed,
        n_imputed_patients=int((n_imp > 0).sum()),
        n_noise=int((labels < 0).sum()),
        existence_test=existence,
        stability=stability,
        stable_clusters=stable,
        existence_null=o.existence_null,
        detectable_separation=power,
    )
    if o.method == "gmm_bic":
        summary["bic"] = summary["criterion"]
    summary["statement"] = _statement(summary, prof, alpha=o.alpha, stable_jaccard=o.stable_jaccard)
    summary["statement"] += _power_sentence(power)
    log.info(summary["statement"])
    model = export_model(
        est,
        method=o.method,
        features=feats,
        params=params,
        z=z,
        labels=labels,
        relabel=size_relabel(raw, k),
        subtypes={c: label(c) for c in range(max(k, 1))},
        claimed=claimed,
    )
    return assign, prof.reset_index()[profile_columns(feats)], summary, model


def _statement(s: dict[str, Any], prof: pd.DataFrame, *, alpha: float, stable_jaccard: float) -> str:
    """The summary's ``statement``: what was found, or why no robust subtypes were claimed."""
    k = s["n_clusters"]
    if k <= 1:
        why = (
            "a single Gaussian fits best (lowest BIC)"
            if s["method"] == "gmm_bic"
            else f"{s['method']} found no more than one cluster"
        )
        return f"No robust subtypes: {why}."
    e = s["existence_test"]
    found = f"{s['method']} proposed {k} clusters"
    blob = (
        "a single Gaussian with their covariance"
        if s.get("existence_null") == "gaussian"
        else "a single Gaussian (copula) with their own marginals"
    )
    if e["p_value"] >= alpha:
        return (
            f"No robust subtypes: {found}, but the data are not more clustered than {blob} "
            f"(SigClust p = {e['p_value']:.3g}, {e['n_sim']} simulations)."
        )
    jac = ", ".join(f"cluster {c} {v['mean_jaccard']:.2f}" for c, v in s["stability"]["clusters"].items())
    if not s["claimed"]:
        return (
            f"No robust subtypes: {found} and the existence test rejects {blob} "
            f"(SigClust p = {e['p_value']:.3g}), but fewer than two clusters are stable under the bootstrap "
            f"(mean Jaccard {jac}; stable from {stable_jaccard:g})."
        )
    parts = ", ".join(f"cluster {c} = {prof.loc[c, 'subtype']} (n={prof.loc[c, 'n']})" for c in prof.index)
    return (
        f"Subtypes found: {found}; the existence test rejects {blob} (SigClust p = {e['p_value']:.3g}) "
        f"and {len(s['stable_clusters'])} of the {k} clusters are stable under the bootstrap (mean Jaccard {jac}). "
        f"{parts}."
    )


def _power_sentence(p: dict[str, Any]) -> str:
    """What separation the run could have detected, for the statement ("" when not simulated).

    >>> _power_sentence({"run": True, "separation_sd": 2.5, "power": 0.8, "n": 1000, "n_replicates": 10})
    ' With 1000 patients this method and test detect two equal groups 2.5 SD apart with 80% power (up to 10 simulations per separation); closer subgroups could go unseen.'
    >>> _power_sentence({"run": True, "separation_sd": 3.0, "power": 0.8, "n": 500, "n_replicates": 10,
    ...                  "method": "... mapped by ranks onto the cohort's own values of it ..."})[:101]
    " With 500 patients and these features' own distributions this method and test detect two equal groups"
    """
    if not p.get("run"):
        return ""
    own = " and these features' own distributions" if "cohort's own values" in str(p.get("method", "")) else ""
    head = f" With {p['n']} patients{own} this method and test detect two equal groups "
    reps = f"(up to {p['n_replicates']} simulations per separation)"
    if p["separation_sd"] is None:
        return (
            head.replace("detect", "did not detect")
            + f"up to {max(p['grid']):g} SD apart with {p['power']:.0%} power {reps}."
        )
    return (
        head + f"{p['separation_sd']:g} SD apart with {p['power']:.0%} power {reps}; closer subgroups could go unseen."
    )


def subtype_adds_to_severity(
    df: pd.DataFrame, assign: pd.DataFrame, *, outcome: str = "y", severity: str = "baseline_severity"
) -> dict[str, Any]:
    """Does subtype membership improve a logistic model that already has baseline severity?

    Likelihood-ratio test of ``outcome ~ severity + subtype`` against ``outcome ~ severity``
    (unpenalised logistic regressions; subtype as indicator columns, the largest cluster as
    reference; noise rows left out), chi-square with (number of clusters - 1) degrees of
    freedom. Patients without the outcome or severity are left out and counted.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sev = rng.normal(20, 5, 400); cl = rng.integers(0, 2, 400)
    >>> y = (rng.random(400) < np.where(cl == 1, 0.2, 0.6)).astype(float)
    >>> d = pd.DataFrame({"patient_id": range(400), "y": y, "baseline_severity": sev})
    >>> r = subtype_adds_to_severity(d, pd.DataFrame({"patient_id": range(400), "cluster": cl}))
    >>> r["df"], r["p_value"] < 0.001
    (1, True)
    """
    if outcome not in df.columns or severity not in df.columns:
        return {"run": False, "reason": f"needs columns {outcome!r} and {severity!r}"}
    m = df[["patient_id", outcome, severity]].merge(assign[["patient_id", "cluster"]], on="patient_id")
    m = m[m["cluster"] >= 0]
    n_all = len(m)
    m = m.dropna(subset=[outcome, severity])
    clusters = sorted(m["cluster"].unique())
    if len(clusters) < 2 or m[outcome].nunique() < 2:
        return {"run": False, "reason": "needs two clusters and both outcomes", "n": int(len(m))}
    ref = m["cluster"].value_counts().idxmax()
    dummies = np.column_stack([(m["cluster"] == c).to_numpy(float) for c in clusters if c != ref])
    sev = ((m[severity] - m[severity].mean()) / (m[severity].std() or 1.0)).to_numpy()[:, None]
    y = m[outcome].to_numpy(float)

    def loglik(x):
        b = logistic_fit(y, x, np.zeros(len(y)))
        p = np.clip(1 / (1 + np.exp(-(b[0] + x @ b[1:]))), 1e-12, 1 - 1e-12)
        return float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))

    ll0, ll1 = loglik(sev), loglik(np.hstack([sev, dummies]))
    lr = max(0.0, 2 * (ll1 - ll0))
    df_ = dummies.shape[1]
    return {
        "run": True,
        "n": int(len(m)),
        "n_left_out": int(n_all - len(m)),
        "loglik_severity": ll0,
        "loglik_severity_subtype": ll1,
        "lr_statistic": lr,
        "df": int(df_),
        "p_value": float(chi2.sf(lr, df_)),
        "test": "likelihood-ratio test, logistic regression: outcome ~ baseline severity (+ subtype)",
    }
