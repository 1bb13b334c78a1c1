"""Stage "subtype": clusters that are tested before they are named.

Features are standardised (z-scores within the cohort); a patient's missing feature
values are imputed with the feature's median and counted (``n_imputed``). A clustering
method (config ``subtype.method``: Gaussian mixture with k by BIC, k-means, HDBSCAN or
consensus clustering; :mod:`stratify.subtype.methods`) proposes a partition. Subtypes are
claimed only when all three hold:

1. the method finds more than one cluster (the Gaussian mixture may choose k = 1);
2. the existence test rejects a single Gaussian with the data's covariance
   (SigClust-style parametric bootstrap, :func:`stratify.subtype.stats.sigclust`,
   p < ``subtype.alpha``);
3. at least two clusters are stable under the bootstrap (mean Jaccard >=
   ``subtype.stable_jaccard``, Hennig 2007; :func:`stratify.subtype.stats.bootstrap_stability`).

Only stable clusters of a claimed solution are named, by the rules of
resources/subtypes.yaml (and ``subtype.naming``) applied to their standardised mean
profile; a stable cluster matching no rule stays "unlabelled", an unstable one is "not
named (unstable)". Otherwise the stage says plainly that no robust subtypes were found,
and why.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.mixture import GaussianMixture

log = logging.getLogger(__name__)



def naming_rules(config: dict[str, Any] | None = None) -> dict[str, list[tuple[tuple[str, ...], float]]]:
    """Rules from resources/subtypes.yaml updated by ``subtype.naming``: name -> list of
    (features, min); the features of one condition are alternatives ("any of")."""
    from stratify.config import load_resource

    raw = {**load_resource("subtypes.yaml"), **((config or {}).get("subtype", {}).get("naming") or {})}
    return {name: [(tuple(c["features"]), float(c["min"])) for c in conds] for name, conds in raw.items()}


class GaussianMixtureBIC(ClusterMixin, BaseEstimator):
    """Gaussian mixture whose number of components is chosen by BIC (scikit-learn style).

    Parameters
    ----------
    max_k : int
        Largest number of components tried (k = 1 is always tried).
    n_init : int
        Restarts per k.
    min_cluster_fraction : float
        A solution with a component holding less than this share of patients is not chosen.
    random_state : int

    Attributes
    ----------
    bic_ : dict[int, float]
    n_components_ : int
    model_ : GaussianMixture

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(5, 1, (100, 2))])
    >>> GaussianMixtureBIC(max_k=4, random_state=0).fit(x).n_components_
    2
    """

    def __init__(self, max_k: int = 6, n_init: int = 5, min_cluster_fraction: float = 0.05,
                 random_state: int | None = None):
        self.max_k = max_k
        self.n_init = n_init
        self.min_cluster_fraction = min_cluster_fraction
        self.random_state = random_state

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        self.bic_, models = {}, {}
        for k in range(1, self.max_k + 1):
            if k > len(X) // 2:
                break
            gm = GaussianMixture(n_components=k, covariance_type="full", n_init=self.n_init,
                                 random_state=self.random_state, reg_covar=1e-4).fit(X)
            sizes = np.bincount(gm.predict(X), minlength=k) / len(X)
            if k > 1 and sizes.min() < self.min_cluster_fraction:
                continue
            self.bic_[k] = float(gm.bic(X))
            models[k] = gm
        self.n_components_ = min(self.bic_, key=self.bic_.get)
        self.model_ = models[self.n_components_]
        return self

    def predict(self, X):
        return self.model_.predict(np.asarray(X, dtype=float))

    def predict_proba(self, X):
        return self.model_.predict_proba(np.asarray(X, dtype=float))


def standardise(df: pd.DataFrame, features: list[str]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Median-impute then z-score; returns matrix, per-patient imputed counts, parameters."""
    x = df[features].astype(float)
    n_imp = x.isna().sum(axis=1).to_numpy()
    med = x.median()
    x = x.fillna(med)
    mu, sd = x.mean(), x.std(ddof=0).replace(0, 1.0)
    z = ((x - mu) / sd).to_numpy()
    return z, n_imp, {"median": med.to_dict(), "mean": mu.to_dict(), "sd": sd.to_dict()}


def name_clusters(profile: pd.DataFrame, *, rules=None, lower: pd.DataFrame | None = None) -> dict[int, str]:
    """Apply naming rules to a (cluster x feature) table of standardised means.

    A condition ``(features, min)`` holds when any of its features has a mean >= ``min``
    and, where ``lower`` (the 95% interval's lower bounds) is given, a lower bound above 0.
    A name is given to one cluster at most (the first that matches, in table order).

    Examples
    --------
    >>> prof = pd.DataFrame({"inflammatory_index": [1.2, -0.3], "aes": [0.9, -0.2], "anhedonia": [0.1, 0.7]})
    >>> name_clusters(prof)
    {0: 'immune-metabolic', 1: 'anhedonic'}
    """
    rules = naming_rules() if rules is None else rules
    names: dict[int, str] = {}
    for k, row in profile.iterrows():
        for name, conds in rules.items():
            ok = True
            for feats, thr in conds:
                vals = [f for f in feats if f in row.index and row[f] >= thr
                        and (lower is None or lower.loc[k, f] > 0)]
                if not vals:
                    ok = False
                    break
            if ok and name not in names.values():
                names[int(k)] = name
                break
    return names


def _progress(what: str, total: int):
    step = max(1, total // 10)

    def report(i: int, n: int) -> None:
        if i % step == 0 or i == n:
            log.info("%s: %d/%d", what, i, n)
    return report


def run_subtyping(features: pd.DataFrame, config: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Cluster patients, test the solution, check its stability and name what survives.

    Returns the assignments (one row per patient), the cluster profiles (standardised
    means with 95% intervals, stability) and a JSON-able summary whose ``statement`` says
    in words what was found, or why no robust subtypes were claimed.
    """
    from stratify.subtype.methods import make_method
    from stratify.subtype.stats import bootstrap_stability, sigclust

    sc = config["subtype"]
    seed = config["seed"]
    feats = [f for f in sc["features"] if f in features.columns and features[f].notna().any()]
    missing = [f for f in sc["features"] if f not in feats]
    summary: dict[str, Any] = {"features": feats, "features_missing": missing, "method": sc["method"],
                               "alpha": sc["alpha"], "stable_jaccard": sc["stable_jaccard"]}
    if len(feats) < 2:
        summary.update(n_clusters=0, claimed=False,
                       statement=f"Subtyping skipped: it needs at least two features with data, has {feats}.")
        return (pd.DataFrame(columns=["patient_id", "cluster", "subtype"]),
                pd.DataFrame(columns=profile_columns(feats)), summary)
    z, n_imp, params = standardise(features, feats)
    log.info("clustering %d patients on %s with %s", len(z), ", ".join(feats), sc["method"])
    est = make_method(sc["method"], max_k=sc["max_k"], min_cluster_fraction=sc["min_cluster_fraction"],
                      n_init=sc["n_init"], random_state=seed).fit(z)
    raw = np.asarray(est.labels_, dtype=int)
    k = int(est.n_clusters_)
    # order clusters by size (0 = largest) so labels are stable across runs; noise stays -1
    sizes = np.bincount(raw[raw >= 0], minlength=k) if k else np.array([], dtype=int)
    order = np.argsort(-sizes, kind="stable")
    relabel = np.empty(max(k, 1), dtype=int)
    relabel[order] = np.arange(len(order))
    labels = np.where(raw >= 0, relabel[np.clip(raw, 0, None)], -1)
    proba = est.predict_proba(z).max(axis=1) if hasattr(est, "predict_proba") else np.full(len(z), np.nan)

    existence: dict[str, Any] = {"run": False, "reason": "the method found a single cluster"}
    stability: dict[str, Any] = {"run": False, "reason": "the method found a single cluster"}
    if k > 1:
        existence = {"run": True, **sigclust(z, n_sim=sc["n_null"], random_state=seed,
                                             progress=_progress("existence test (SigClust)", sc["n_null"]))}
        stability = {"run": True, **bootstrap_stability(
            z, labels, lambda x, rng: est.refit_fixed(x, rng), n_boot=sc["n_bootstrap"], random_state=seed,
            stable=sc["stable_jaccard"], progress=_progress("bootstrap stability", sc["n_bootstrap"]))}
    jac = {int(c): v for c, v in stability.get("clusters", {}).items()}
    stable = sorted(c for c, v in jac.items() if v["mean_jaccard"] >= sc["stable_jaccard"])
    significant = bool(existence.get("run") and existence["p_value"] < sc["alpha"])
    claimed = bool(k > 1 and significant and len(stable) >= 2)

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
    names = name_clusters(mean.loc[stable], rules=naming_rules(config), lower=lower) if claimed else {}

    def label(c: int) -> str:
        if c < 0:
            return "noise"
        if not claimed:
            return "none"
        if c not in stable:
            return "not named (unstable)"
        return names.get(c, "unlabelled")

    prof.insert(1, "subtype", [label(int(c)) for c in prof.index])
    assign = pd.DataFrame({"patient_id": features["patient_id"].to_numpy(), "cluster": labels,
                           "subtype": [label(int(c)) for c in labels], "probability": proba,
                           "n_imputed": n_imp})
    summary.update(n_clusters=k, criterion={str(a): float(b) for a, b in getattr(est, "criterion_", {}).items()},
                   criterion_name={"gmm_bic": "BIC", "kmeans": "silhouette", "consensus": "PAC"}.get(sc["method"]),
                   standardisation=params, names={str(c): n for c, n in names.items()}, claimed=claimed,
                   n_imputed_patients=int((n_imp > 0).sum()), n_noise=int((labels < 0).sum()),
                   existence_test=existence, stability=stability, stable_clusters=stable)
    if sc["method"] == "gmm_bic":
        summary["bic"] = summary["criterion"]
    summary["statement"] = _statement(summary, prof, sc)
    log.info(summary["statement"])
    return assign, prof.reset_index()[profile_columns(feats)], summary


def profile_columns(feats: list[str]) -> list[str]:
    """Columns of the cluster profiles (subtype/profiles.tsv) for clustering features ``feats``.

    >>> profile_columns(["aes"])
    ['cluster', 'n', 'subtype', 'aes', 'aes_lo', 'aes_hi', 'mean_jaccard', 'stability']
    """
    return ["cluster", "n", "subtype", *feats, *[f"{f}_{s}" for f in feats for s in ("lo", "hi")],
            "mean_jaccard", "stability"]


def _statement(s: dict[str, Any], prof: pd.DataFrame, sc: dict[str, Any]) -> str:
    k = s["n_clusters"]
    if k <= 1:
        why = ("a single Gaussian fits best (lowest BIC)" if s["method"] == "gmm_bic"
               else f"{s['method']} found no more than one cluster")
        return f"No robust subtypes: {why}."
    e = s["existence_test"]
    found = f"{s['method']} proposed {k} clusters"
    if e["p_value"] >= sc["alpha"]:
        return (f"No robust subtypes: {found}, but the data are not more clustered than a single Gaussian "
                f"with their covariance (SigClust p = {e['p_value']:.3g}, {e['n_sim']} simulations).")
    jac = ", ".join(f"cluster {c} {v['mean_jaccard']:.2f}" for c, v in s["stability"]["clusters"].items())
    if not s["claimed"]:
        return (f"No robust subtypes: {found} and the existence test rejects a single Gaussian "
                f"(SigClust p = {e['p_value']:.3g}), but fewer than two clusters are stable under the bootstrap "
                f"(mean Jaccard {jac}; stable from {sc['stable_jaccard']:g}).")
    parts = ", ".join(f"cluster {c} = {prof.loc[c, 'subtype']} (n={prof.loc[c, 'n']})" for c in prof.index)
    return (f"Subtypes found: {found}; the existence test rejects a single Gaussian (SigClust p = {e['p_value']:.3g}) "
            f"and {len(s['stable_clusters'])} of the {k} clusters are stable under the bootstrap (mean Jaccard {jac}). "
            f"{parts}.")


def subtype_adds_to_severity(df: pd.DataFrame, assign: pd.DataFrame, *, outcome: str = "y",
                             severity: str = "baseline_severity") -> dict[str, Any]:
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
    from scipy.stats import chi2

    from stratify.model.fit import logistic_fit

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
    return {"run": True, "n": int(len(m)), "n_left_out": int(n_all - len(m)), "loglik_severity": ll0,
            "loglik_severity_subtype": ll1, "lr_statistic": lr, "df": int(df_),
            "p_value": float(chi2.sf(lr, df_)),
            "test": "likelihood-ratio test, logistic regression: outcome ~ baseline severity (+ subtype)"}
