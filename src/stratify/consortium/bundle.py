"""A site bundle: the aggregates one cohort can share with a consortium (``stratify summarise``).

:func:`summarise` reads a cohort's results folder (``results/<cohort>``, after the features,
subtype, model and, where the cohort is a two-arm trial, heterogeneity stages) and returns one
JSON-able document; :func:`write_bundle` writes it. It holds counts, means, a covariance matrix,
per-cluster profiles, response counts per subtype, the response model's AUC with its standard
error and metrics, and the arms' n, mean and SD per site for the variance ratio. It holds no
patient identifier and no patient-level value. Every row with a count under ``min_cell`` is
blanked and marked ``suppressed`` (with secondary suppression where one blanked row could be
recovered from a total: :func:`stratify.consortium.estimates.suppress`).

**What aggregates allow and what needs individual data.** From bundles alone
(:mod:`stratify.consortium.pooling`): random-effects pooling of response rates per subtype
(log-odds), of the models' AUCs (logit) and of variance ratios (lnVR), and the comparison of
cluster profiles between cohorts (standardised means per cluster; Hungarian centroid match,
:func:`stratify.consortium.replication.centroid_match`). Individual data of the cohort tested
on are needed for subtype replication (its patients are labelled by the other cohort's saved
clustering, and the adjusted Rand index and prediction strength compare patient by patient:
:mod:`stratify.consortium.replication`) and for transportability (the other cohort's model
predicts its patients: :mod:`stratify.consortium.transport`). Neither needs the *other*
cohort's patients: the saved models (``subtype/model.json``, ``model/xgboost.json``) hold no
patient data, so both can run at the site that holds the patients, which then shares only
the results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.consortium.estimates import RESPONSE_COLUMNS, auc_delong, response_counts, suppress
from stratify.errors import InputError
from stratify.io.tables import read_table

__all__ = ["FORMAT", "read_bundle", "summarise", "vr_rows", "write_bundle"]

FORMAT = "stratify.site_bundle"
VERSION = 1
VR_COLUMNS = ["study", "arm_treatment", "arm_control", "n_treatment", "mean_treatment", "sd_treatment"]
VR_COLUMNS += ["n_control", "mean_control", "sd_control"]
SUPPRESSION = (
    "a row with a count under min_cell has its counts and the statistics computed from them blanked (null) "
    "and suppressed: true; where exactly one row of a table would be blanked, the row with the next smallest "
    "count is blanked too, so the blanked count cannot be recovered from a total"
)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: cannot read the {what} ({e})") from None


def _plain(v: Any) -> Any:
    """A table cell as a JSON value (NaN and NA -> None, numpy scalars -> Python)."""
    if v is pd.NA:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    return None if isinstance(v, float) and np.isnan(v) else v


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-able dicts."""
    return [{k: _plain(v) for k, v in r.items()} for r in df.to_dict("records")]


def _clustering_features(features: pd.DataFrame, feats: list[str], *, min_cell: int) -> dict[str, Any]:
    """n, means and covariance of the clustering features (patients with all of them)."""
    x = features[feats].astype(float).dropna()
    out: dict[str, Any] = {"features": feats, "n_complete": int(len(x)), "values": "raw, as in the features table"}
    if len(x) < min_cell:
        return {**out, "n_complete": None, "suppressed": True}
    out["mean"] = {f: float(v) for f, v in x.mean().items()}
    out["covariance"] = x.cov().to_numpy().tolist()
    out["suppressed"] = False
    return out


def _profiles(prof: pd.DataFrame, feats: list[str], *, min_cell: int) -> list[dict[str, Any]]:
    """Per cluster: its label, n and standardised means (subtype/profiles.tsv), small clusters blanked."""
    cols = ["cluster", "subtype", "n", *feats]
    p = prof.reindex(columns=cols)
    return _records(suppress(p, ["n"], min_cell=min_cell, blank=feats))


def _model(results: Path, *, min_cell: int) -> dict[str, Any]:
    """The response model's metrics (model/metrics.json) and the AUC of its out-of-fold
    predictions with the DeLong SE; blanked when either class has fewer than ``min_cell``."""
    m = _read_json(results / "model" / "metrics.json", "model metrics")
    sel = (m.get("metrics") or {}).get("selected") or {}
    oof = read_table(results / "model" / "oof_predictions.parquet", kind="model.oof")
    est = auc_delong(oof["y"], oof["selected"]) if m.get("task") == "classification" else {}
    out: dict[str, Any] = {
        "task": m.get("task"),
        "learner": m.get("learner"),
        "n_train": m.get("n_train"),
        "auc_cv": sel.get("auc"),
        "auc_cv_ci": sel.get("auc_ci"),
        "auc_cv_definition": sel.get("auc_definition"),
        "calibration_cv": sel.get("calibration"),
        "auc": est.get("auc"),
        "auc_se": est.get("se"),
        "auc_of": "out-of-fold predictions of the selected model, all patients together; SE by DeLong",
        "n_pos": est.get("n_pos"),
        "n_neg": est.get("n_neg"),
        "suppressed": False,
    }
    if est and min(est["n_pos"], est["n_neg"]) < min_cell:
        out.update(auc=None, auc_se=None, n_pos=None, n_neg=None, n_train=None, suppressed=True)
    return out


def vr_rows(comparisons: pd.DataFrame, *, min_cell: int) -> pd.DataFrame:
    """The arms' n, mean and SD per site (heterogeneity/vr_sites.tsv rows of lnVR) with small
    arms blanked (:func:`stratify.consortium.estimates.suppress`)."""
    d = comparisons.reindex(columns=VR_COLUMNS).drop_duplicates(subset=["study", "arm_treatment", "arm_control"])
    blank = ["mean_treatment", "sd_treatment", "mean_control", "sd_control"]
    return suppress(d.reset_index(drop=True), ["n_treatment", "n_control"], min_cell=min_cell, blank=blank)


def _variance_ratio(results: Path, *, min_cell: int) -> dict[str, Any]:
    path = results / "heterogeneity" / "summary.json"
    if not path.exists():
        return {"available": False, "reason": "the heterogeneity stage has not run"}
    s = _read_json(path, "heterogeneity summary")
    vr = s.get("variance_ratio") or {}
    if not s.get("run") or not vr.get("run"):
        return {"available": False, "reason": vr.get("reason") or s.get("reason") or "not run"}
    comp = pd.read_csv(results / "heterogeneity" / "vr_sites.tsv", sep="\t")
    return {
        "available": True,
        "outcome": vr.get("outcome"),
        "treatment_arm": vr.get("treatment_arm"),
        "control_arm": vr.get("control_arm"),
        "sites": _records(vr_rows(comp, min_cell=min_cell)),
    }


def summarise(results: str | Path, *, min_cell: int = 10, cohort: str | None = None) -> dict[str, Any]:
    """The site bundle of a cohort's results folder (aggregates only; module docstring).

    Parameters
    ----------
    results : path
        The cohort's results folder (``results/<cohort>``).
    min_cell : int
        Rows with a count under this are blanked and marked ``suppressed``.
    cohort : str, optional
        The cohort's name in the bundle (default: the folder's name).

    Returns
    -------
    dict
        JSON-able: ``format``, ``cohort``, ``min_cell``, ``suppression``, ``counts``,
        ``clustering_features``, ``subtypes`` (claimed, method, profiles, response counts),
        ``endpoint`` (kind, instrument, week), ``model``, ``variance_ratio``. The subtype stage's ``statement`` is left out: it names
        every cluster's size, small ones included.
    """
    if min_cell < 1:
        raise ValueError(f"min_cell must be at least 1, got {min_cell}")
    results = Path(results)
    features = read_table(results / "features" / "features.parquet", kind="features")
    assign = read_table(results / "subtype" / "assignments.parquet", kind="subtype.assignments")
    ssum = _read_json(results / "subtype" / "summary.json", "subtype summary")
    prof = pd.read_csv(results / "subtype" / "profiles.tsv", sep="\t")
    feats = list(ssum.get("features") or [])
    resp = suppress(
        response_counts(assign, features),
        ["n", "n_with_endpoint", "responders", "non_responders"],
        min_cell=min_cell,
    )
    overall = resp[resp["cluster"] == -1].iloc[0]
    return {
        "format": FORMAT,
        "version": VERSION,
        "cohort": cohort or results.name,
        "min_cell": int(min_cell),
        "suppression": SUPPRESSION,
        "counts": {k: (None if pd.isna(overall[k]) else int(overall[k])) for k in RESPONSE_COLUMNS[2:]},
        "clustering_features": _clustering_features(features, feats, min_cell=min_cell),
        "subtypes": {
            "claimed": bool(ssum.get("claimed")),
            "method": ssum.get("method"),
            "n_clusters": ssum.get("n_clusters"),
            "features": feats,
            "profiles": _profiles(prof, feats, min_cell=min_cell),
            "response": _records(resp[resp["cluster"] != -1]),
        },
        "endpoint": _endpoint(results),
        "model": _model(results, min_cell=min_cell),
        "variance_ratio": _variance_ratio(results, min_cell=min_cell),
    }


def _endpoint(results: Path) -> dict[str, Any] | None:
    """The endpoint (kind, instrument, week; after conversion) of the clinical stage, so that a
    consortium can check that bundles share one metric before pooling them; None without it."""
    path = results / "clinical" / "summary.json"
    if not path.is_file():
        return None
    ep = _read_json(path, "clinical summary").get("endpoint") or {}
    return {k: ep.get(k) for k in ("kind", "instrument", "week")}


def write_bundle(bundle: dict[str, Any], path: str | Path) -> Path:
    """Write a bundle as one JSON file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bundle, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


def read_bundle(path: str | Path) -> dict[str, Any]:
    """Read a site bundle; an :class:`~stratify.errors.InputError` naming the file when it is not one."""
    doc = _read_json(Path(path), "site bundle")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(f"{path}: expected a site bundle (format {FORMAT!r}), found {found!r}")
    missing = [k for k in ("cohort", "min_cell", "subtypes", "model", "variance_ratio") if k not in doc]
    if missing:
        raise InputError(f"{path}: site bundle lacks key(s) {', '.join(missing)}")
    return doc
