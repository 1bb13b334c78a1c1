"""Stage "subtype": Gaussian-mixture clustering with the number of clusters chosen by BIC.

Features are standardised (z-scores within the cohort); a patient's missing feature
values are imputed with the feature's median and counted (``n_imputed``). k = 1 is
always a candidate: when a single Gaussian has the lowest BIC the stage says plainly that
no subtypes were found. Clusters are named only by the rules in :data:`NAMING_RULES`
applied to their standardised mean profile; a cluster matching no rule stays unlabelled.

Issue 4 adds the existence test against a no-cluster null and bootstrap stability; until
then the report states that neither was run.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.mixture import GaussianMixture

log = logging.getLogger(__name__)

# name -> list of (feature, minimum standardised cluster mean); alternatives within a
# tuple mean "any of these". A cluster gets the first name whose conditions all hold.
NAMING_RULES: dict[str, list[tuple[tuple[str, ...], float]]] = {
    "immune-metabolic": [(("inflammatory_index", "metabolic_index"), 0.5), (("aes",), 0.5)],
    "anhedonic": [(("anhedonia",), 0.5)],
    "anxious": [(("anxiety_somatization",), 0.5)],
}


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


def name_clusters(profile: pd.DataFrame, *, rules=None) -> dict[int, str]:
    """Apply naming rules to a (cluster x feature) table of standardised means."""
    rules = NAMING_RULES if rules is None else rules
    names: dict[int, str] = {}
    for k, row in profile.iterrows():
        for name, conds in rules.items():
            ok = True
            for feats, thr in conds:
                vals = [row[f] for f in feats if f in row.index]
                if not vals or max(vals) < thr:
                    ok = False
                    break
            if ok and name not in names.values():
                names[int(k)] = name
                break
    return names


def run_subtyping(features: pd.DataFrame, config: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Cluster patients; returns assignments, cluster profiles and a summary."""
    sc = config["subtype"]
    feats = [f for f in sc["features"] if f in features.columns and features[f].notna().any()]
    missing = [f for f in sc["features"] if f not in feats]
    summary: dict[str, Any] = {"features": feats, "features_missing": missing, "method": "gaussian_mixture_bic"}
    if len(feats) < 2:
        summary.update(n_clusters=0, claimed=False,
                       statement=f"subtyping skipped: needs at least two features with data, has {feats}")
        return pd.DataFrame(columns=["patient_id", "cluster", "subtype"]), pd.DataFrame(), summary
    z, n_imp, params = standardise(features, feats)
    est = GaussianMixtureBIC(max_k=sc["max_k"], n_init=sc["n_init"],
                             min_cluster_fraction=sc["min_cluster_fraction"],
                             random_state=config["seed"]).fit(z)
    labels = est.predict(z)
    proba = est.predict_proba(z).max(axis=1)
    k = est.n_components_
    # order clusters by size (0 = largest) so labels are stable across runs
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    relabel = np.empty(k, dtype=int)
    relabel[order] = np.arange(k)
    labels = relabel[labels]
    zdf = pd.DataFrame(z, columns=feats)
    zdf["cluster"] = labels
    g = zdf.groupby("cluster")
    mean, sem = g[feats].mean(), g[feats].sem()
    prof = mean.copy()
    prof.insert(0, "n", g.size())
    for f in feats:
        prof[f"{f}_lo"] = mean[f] - 1.96 * sem[f]
        prof[f"{f}_hi"] = mean[f] + 1.96 * sem[f]
    names = name_clusters(mean) if k > 1 else {}
    prof.insert(1, "subtype", [names.get(int(c), "unlabelled") if k > 1 else "none" for c in prof.index])
    assign = pd.DataFrame({"patient_id": features["patient_id"].to_numpy(), "cluster": labels,
                           "subtype": [names.get(int(c), "unlabelled") if k > 1 else "none" for c in labels],
                           "probability": proba, "n_imputed": n_imp})
    summary.update(n_clusters=int(k), bic={str(a): b for a, b in est.bic_.items()}, standardisation=params,
                   names={str(c): n for c, n in names.items()}, claimed=bool(k > 1),
                   n_imputed_patients=int((n_imp > 0).sum()),
                   existence_test="not run (issue 4)", stability="not run (issue 4)")
    summary["statement"] = (
        f"BIC prefers {k} clusters over a single Gaussian; subtypes: "
        + ", ".join(f"cluster {c} = {prof.loc[c, 'subtype']} (n={prof.loc[c, 'n']})" for c in prof.index)
        if k > 1 else "No subtypes: a single Gaussian fits best (lowest BIC).")
    log.info(summary["statement"])
    return assign, prof.reset_index(), summary
