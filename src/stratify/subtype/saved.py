"""The subtype stage's fitted clustering, saved (``subtype/model.json``) and applied to new patients.

The saved model holds what is needed to label a patient of another cohort the way the
fitting cohort's clustering would: the standardisation (median imputation values, then
centre and scale per feature: :func:`standardise`), the method's
fitted parameters, how the method's raw labels map to the stage's cluster numbers (clusters
are numbered by size, :func:`stratify.subtype.subtyping.size_relabel`) and which cluster
carries which subtype name. It holds no patient-level values.

How each method of :mod:`stratify.subtype.methods` assigns a new patient
(:func:`assign_with_model`):

========= ==================================================================================
gmm_bic   the chosen Gaussian mixture's most probable component (weights, means, full
          covariances and their precision Cholesky factors saved; scikit-learn's own
          ``GaussianMixture.predict``), with its posterior probability
kmeans    the nearest of the final k-means centres (Euclidean, on the standardised features)
consensus the same: its final partition is a k-means
hdbscan   the nearest centroid of the fitted clusters (their standardised means, noise left
          out). HDBSCAN has no out-of-sample prediction in scikit-learn (the separate
          ``hdbscan`` package's ``approximate_predict`` is not a dependency and would need the
          fitting cohort's points, which a model file shared between sites must not hold), so
          a new patient is never noise, and a fitting patient near a density boundary or
          labelled noise may be given another cluster than in the fit.
========= ==================================================================================

A fit without clusters (fewer than two usable features) is saved with ``fitted: null`` and a
``reason``; :func:`assign_with_model` then raises.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.mixture import GaussianMixture

from stratify.errors import InputError

__all__ = ["FORMAT", "assign_with_model", "export_model", "read_model", "standardise", "write_model"]

FORMAT = "stratify.subtype.model"
VERSION = 1
#: how each method assigns a new patient (the table above), for the model file and reports
ASSIGNMENT = {
    "gmm_bic": "most probable component of the fitted Gaussian mixture",
    "kmeans": "nearest final k-means centre",
    "consensus": "nearest final k-means centre (the consensus solution's k-means)",
    "hdbscan": (
        "nearest centroid of the fitted clusters (HDBSCAN has no out-of-sample prediction in scikit-learn; "
        "noise is not predicted)"
    ),
}


def standardise(df: pd.DataFrame, features: list[str]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Median-impute then z-score (the subtype stage's metric: z-scores within the cohort); returns matrix, per-patient imputed counts, parameters.

    >>> z, n_imp, params = standardise(pd.DataFrame({"a": [1.0, None, 3.0]}), ["a"])
    >>> z.ravel().round(3).tolist(), n_imp.tolist(), params["median"]
    ([-1.225, 0.0, 1.225], [0, 1, 0], {'a': 2.0})
    """
    x = df[features].astype(float)
    n_imp = x.isna().sum(axis=1).to_numpy()
    med = x.median()
    x = x.fillna(med)
    mu, sd = x.mean(), x.std(ddof=0).replace(0, 1.0)
    z = ((x - mu) / sd).to_numpy()
    return z, n_imp, {"median": med.to_dict(), "mean": mu.to_dict(), "sd": sd.to_dict()}


def _fitted_params(est, method: str, z: np.ndarray, labels: np.ndarray, k: int) -> dict[str, Any]:
    """The method's fitted parameters as JSON-able lists, indexed by the method's raw labels
    (for HDBSCAN: centroids indexed by the stage's cluster numbers)."""
    if method == "gmm_bic":
        gm = est.model_
        return {
            "kind": "gaussian_mixture",
            "weights": gm.weights_.tolist(),
            "means": gm.means_.tolist(),
            "covariances": gm.covariances_.tolist(),
            "precisions_cholesky": gm.precisions_cholesky_.tolist(),
        }
    if method in ("kmeans", "consensus"):
        return {"kind": "centres", "centres": est.model_.cluster_centers_.tolist()}
    if method == "hdbscan":
        cents = [z[labels == c].mean(axis=0).tolist() for c in range(k) if (labels == c).any()]
        if not cents:  # no cluster and no noise: cannot happen with n >= 2, kept as a clear error
            raise ValueError("HDBSCAN left no patient in any cluster")
        return {"kind": "centres", "centres": cents}
    raise ValueError(f"no saved form for clustering method {method!r}")


def export_model(
    est,
    *,
    method: str,
    features: list[str],
    params: Mapping[str, Any],
    z: np.ndarray,
    labels: np.ndarray,
    relabel: np.ndarray,
    subtypes: Mapping[int, str],
    claimed: bool,
) -> dict[str, Any]:
    """The JSON-able saved model of a fitted clustering (the subtype stage's ``model.json``).

    Parameters
    ----------
    est
        The fitted estimator of :mod:`stratify.subtype.methods`.
    method : str
        Its config name.
    features : list of str
        The clustering features, in the order of the columns the estimator saw.
    params : mapping
        :func:`standardise`'s parameters (``median``, ``mean``, ``sd``).
    z, labels : ndarray
        The standardised matrix and the stage's cluster numbers (by size; -1 noise), used only
        for the HDBSCAN centroids.
    relabel : ndarray of int
        ``relabel[raw] = cluster``: the method's raw labels to the stage's cluster numbers.
    subtypes : mapping
        cluster number -> subtype label of the stage ("immune-metabolic", "unlabelled",
        "not named (unstable)", "none" when nothing was claimed).
    claimed : bool
        Whether the stage claimed subtypes.
    """
    k = int(est.n_clusters_)
    one_cluster = k <= 1
    if method == "hdbscan" or one_cluster:
        relabel = np.arange(max(k, 1))
    fitted = (
        {"kind": "single", "n_clusters": 1} if one_cluster else _fitted_params(est, method, z, np.asarray(labels), k)
    )
    return {
        "format": FORMAT,
        "version": VERSION,
        "method": method,
        "assignment": ASSIGNMENT[method] if not one_cluster else "a single cluster: every patient is cluster 0",
        "features": list(features),
        "standardisation": {
            "order": "missing values take the median, then z = (x - mean) / sd",
            **{key: {f: float(params[key][f]) for f in features} for key in ("median", "mean", "sd")},
        },
        "n_clusters": max(k, 1),
        "claimed": bool(claimed),
        "relabel": [int(v) for v in relabel],
        "subtypes": {str(c): str(s) for c, s in sorted(subtypes.items())},
        "fitted": fitted,
    }


def skipped_model(*, method: str, features: list[str], reason: str) -> dict[str, Any]:
    """The saved model of a run that clustered nothing (``fitted`` null, with the reason)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "method": method,
        "features": list(features),
        "claimed": False,
        "fitted": None,
        "reason": reason,
    }


def write_model(model: Mapping[str, Any], path: str | Path) -> Path:
    """Write the saved model as JSON (floats written exactly: Python's shortest round-trip repr)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


_REQUIRED = ("method", "features", "standardisation", "n_clusters", "relabel", "subtypes", "fitted")


def read_model(path: str | Path) -> dict[str, Any]:
    """Read a saved subtype model; an :class:`~stratify.errors.InputError` naming the file and
    the key when it is not one."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: cannot read the saved subtype model ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(f"{path}: expected a saved subtype model (format {FORMAT!r}), found {found!r}")
    if doc.get("fitted") is not None:
        missing = [k for k in _REQUIRED if k not in doc]
        if missing:
            raise InputError(f"{path}: saved subtype model lacks key(s) {', '.join(missing)}")
    return doc


def _standardised(patients: pd.DataFrame, model: Mapping[str, Any], *, scale: str) -> tuple[np.ndarray, np.ndarray]:
    """The patients' clustering features on the model's metric (``scale``: ``model`` = the
    fitting cohort's medians, means and SDs; ``own`` = the patients' own)."""
    feats = list(model["features"])
    absent = [f for f in feats if f not in patients.columns]
    if absent:
        raise InputError(f"patients table: clustering feature column(s) {', '.join(absent)} absent (expected {feats})")
    if scale == "own":
        empty = [f for f in feats if patients[f].isna().all()]
        if empty:
            raise InputError(f"patients table: clustering feature(s) {', '.join(empty)} have no values")
        z, n_imp, _ = standardise(patients, feats)
        return z, n_imp
    if scale != "model":
        raise ValueError(f"scale must be 'model' or 'own', got {scale!r}")
    st = model["standardisation"]
    x = patients[feats].astype(float)
    n_imp = x.isna().sum(axis=1).to_numpy()
    x = x.fillna(pd.Series(st["median"]))
    z = ((x - pd.Series(st["mean"])) / pd.Series(st["sd"])).to_numpy()
    return z, n_imp


def _raw_labels(z: np.ndarray, fitted: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Raw labels (the method's own numbering) and, for a mixture, each row's posterior
    probability of its component (NaN otherwise)."""
    kind = fitted["kind"]
    if kind == "single":
        return np.zeros(len(z), dtype=int), np.ones(len(z))
    if kind == "gaussian_mixture":
        means = np.asarray(fitted["means"], dtype=float)
        gm = GaussianMixture(n_components=len(means), covariance_type="full")
        gm.weights_ = np.asarray(fitted["weights"], dtype=float)
        gm.means_ = means
        gm.covariances_ = np.asarray(fitted["covariances"], dtype=float)
        gm.precisions_cholesky_ = np.asarray(fitted["precisions_cholesky"], dtype=float)
        gm.n_features_in_ = means.shape[1]
        proba = gm.predict_proba(z)
        return proba.argmax(axis=1), proba.max(axis=1)
    if kind == "centres":
        c = np.asarray(fitted["centres"], dtype=float)
        d2 = ((z[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        return d2.argmin(axis=1), np.full(len(z), np.nan)
    raise ValueError(f"unknown fitted model kind {kind!r}")


def assign_with_model(model: Mapping[str, Any], patients: pd.DataFrame, *, scale: str = "model") -> pd.DataFrame:
    """Label patients with a saved subtype model (:func:`export_model`, ``subtype/model.json``).

    Parameters
    ----------
    model : mapping
        The saved model (:func:`read_model`).
    patients : DataFrame
        ``patient_id`` and the model's clustering features (raw values, as in the features
        table); missing values take the model's medians (``scale="model"``) or the table's own.
    scale : {"model", "own"}
        The metric the features are put on before assignment: ``model`` uses the fitting
        cohort's medians, means and SDs (the same raw scale in both cohorts is then assumed);
        ``own`` z-scores the table within itself, as the subtype stage does for every cohort
        (use it when the cohorts' raw scales differ; see :mod:`stratify.consortium.replication`).

    Returns
    -------
    DataFrame
        ``patient_id``, ``cluster`` (the fitting cohort's numbers), ``subtype`` (its labels),
        ``probability`` (posterior of the component for a mixture, else NaN), ``n_imputed``.

    Raises
    ------
    InputError
        When the model has no fitted clustering or a clustering feature column is absent.
    """
    if model.get("fitted") is None:
        raise InputError(f"saved subtype model has no fitted clustering: {model.get('reason', 'no reason recorded')}")
    if "patient_id" not in patients.columns:
        raise InputError("patients table: column 'patient_id' absent")
    z, n_imp = _standardised(patients, model, scale=scale)
    if not np.isfinite(z).all():
        raise InputError("patients table: a clustering feature has no value to impute (all missing)")
    raw, proba = _raw_labels(z, model["fitted"])
    cluster = np.asarray(model["relabel"], dtype=int)[raw]
    names = model["subtypes"]
    return pd.DataFrame(
        {
            "patient_id": patients["patient_id"].to_numpy(),
            "cluster": cluster,
            "subtype": [names.get(str(c), "none") for c in cluster],
            "probability": proba,
            "n_imputed": n_imp,
        }
    )
