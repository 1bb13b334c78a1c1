"""Transportability of the response model: trained in one cohort, tested in another.

* :func:`transport_matrix`: each cohort's saved model (``model/xgboost.json`` and
  ``model_features.json``, :func:`stratify.model.io.load_model`) scores every other cohort's
  feature table; per cell the external AUC with its percentile bootstrap 95% interval
  (:func:`stratify.model.metrics.metrics_with_ci`) and the calibration intercept and slope with
  theirs (:func:`stratify.model.calibration.calibration`, ``calibration_ci``; Van Calster et al.
  2019, BMC Med 17:230). The features are checked against the training distribution as
  ``stratify model apply`` checks them (:func:`stratify.model.external.check_features`): a cell
  whose model needs a feature the test cohort lacks is not scored unless ``allow_missing``
  (then XGBoost takes its default branches, as with ``--allow-missing``). On the diagonal, the
  cohort's own cross-validated AUC from ``model/metrics.json`` (under leave-one-site-out the
  model stage's AUC is within sites; its pooled AUC is given beside it as ``auc_pooled``), so
  the drop from internal to external is explicit (Steyerberg & Harrell 2016, J Clin Epidemiol
  69:245-247; Chekroud et al. 2016 saw 64.6% within STAR*D and 59.6% in COMED).
* :func:`leave_one_cohort_out`: for each cohort, the model fitted on the other cohorts' pooled
  feature tables with the model stage's own final-model procedure
  (:func:`stratify.model.fit.fit_final_model`: the inner search over hyperparameters and the
  learner choice on all the pooled patients, then the refit; no nested cross-validation, since
  the left-out cohort is the test), then tested on the left-out cohort as above. The pooled fit uses the features
  every cohort has (model features of all cohorts alike), so the left-out cohort can be
  scored; sites are kept apart by cohort (``<cohort>/<site>``).

Both need individual data of the cohort tested on (its features and outcomes). The saved
model of the training cohort holds no patient data, so a cell can be computed at the test site.
AUCs are for a binary endpoint; a regression endpoint gives cells with ``run`` false.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import InputError
from stratify.io.tables import read_table
from stratify.model.calibration import calibration, calibration_ci
from stratify.model.external import check_features, endpoint_differences
from stratify.model.fit import ModelOptions, fit_final_model
from stratify.model.io import feature_profile, load_model
from stratify.model.learners import predict
from stratify.model.metrics import metrics_with_ci

__all__ = ["CELL_COLUMNS", "leave_one_cohort_out", "score_cohort", "transport_matrix"]

CELL_COLUMNS = [
    "train",
    "test",
    "kind",
    "run",
    "reason",
    "n_test",
    "auc",
    "auc_ci_low",
    "auc_ci_high",
    "auc_definition",
    "auc_pooled",
    "calibration_intercept",
    "calibration_intercept_ci_low",
    "calibration_intercept_ci_high",
    "calibration_slope",
    "calibration_slope_ci_low",
    "calibration_slope_ci_high",
    "features_unavailable",
    "features_shifted",
    "endpoint_differences",
    "train_permutation_p",
    "train_beats_chance",
    "note",
]
#: the training cohort's permutation test must reach this for its model to count as beating chance
ALPHA = 0.05


def _features(name: str, results: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A cohort's feature table and the features stage's summary."""
    df = read_table(results / "features" / "features.parquet", kind="features")
    path = results / "features" / "summary.json"
    try:
        return df, json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: cannot read cohort {name}'s features summary ({e})") from None


def score_cohort(
    model,
    meta: Mapping[str, Any],
    features: pd.DataFrame,
    *,
    source: str,
    n_boot: int,
    seed: int,
    allow_missing: bool = False,
) -> dict[str, Any]:
    """External AUC and calibration of a loaded model (:func:`stratify.model.io.load_model`) on a
    feature table; ``run`` false with a ``reason`` when it cannot be scored."""
    out: dict[str, Any] = {"run": False}
    if meta["task"] != "classification":
        return {**out, "reason": f"the model predicts a {meta['task']} endpoint; AUCs need a binary one"}
    check = check_features(dict(meta), features, source=source)
    bad = check.loc[check["status"].isin(["absent", "all missing"]), "feature"].tolist()
    out["features_unavailable"] = ", ".join(bad)
    out["features_shifted"] = ", ".join(check.loc[check["status"] == "shifted", "feature"])
    if bad and not allow_missing:
        return {**out, "reason": f"feature(s) {', '.join(bad)} of the model not available in {source}"}
    have = features[features["y"].notna()]
    y = have["y"].to_numpy(dtype=float)
    out["n_test"] = int(len(have))
    if np.unique(y).size < 2 or not set(np.unique(y)) <= {0.0, 1.0}:
        return {**out, "reason": f"{source}: the endpoint is not binary with both classes present"}
    X = pd.DataFrame(
        {f: (pd.to_numeric(have[f], errors="coerce") if f in have.columns else np.nan) for f in meta["features"]}
    ).astype(float)
    p = predict(model, X.to_numpy())
    if np.ptp(p) == 0:
        out["note"] = "constant model: every patient gets the same prediction, so the AUC is 0.5 by construction"
    met = metrics_with_ci(y.astype(int), p, n_boot=n_boot, seed=seed)
    cal = {**calibration(y, p), **calibration_ci(y, p, n_boot=n_boot, seed=seed + 2)}
    return {
        **out,
        "run": True,
        "reason": "",
        "auc": met["auc"],
        "auc_ci_low": met["auc_ci"][0],
        "auc_ci_high": met["auc_ci"][1],
        "auc_definition": "AUC of all patients of the test cohort",
        "calibration_intercept": cal["intercept"],
        "calibration_intercept_ci_low": cal["intercept_ci"][0],
        "calibration_intercept_ci_high": cal["intercept_ci"][1],
        "calibration_slope": cal["slope"],
        "calibration_slope_ci_low": cal["slope_ci"][0],
        "calibration_slope_ci_high": cal["slope_ci"][1],
    }


def own_chance(name: str, results: Path) -> dict[str, Any]:
    """Whether the cohort's own model beat chance in its own cohort: the model stage's permutation
    test of the selected model (p <= :data:`ALPHA`) or, without one, its cross-validated AUC
    interval above 0.5. A model that did not is fitted to noise: its external AUC differs from 0.5
    only by chance (the interval of an external cell holds the model fixed, so it does not cover
    the fitting noise; docs/validation.md, "Consortium"), and the cell's ``note`` says so."""
    sel = (_metrics(name, results).get("metrics") or {}).get("selected") or {}
    perm = (sel.get("permutation_test") or {}).get("p_value")
    if perm is not None:
        beats = perm <= ALPHA
        why = f"its permutation test in {name} gives p = {perm:.3g}"
    elif sel.get("auc_ci"):
        beats = sel["auc_ci"][0] > 0.5
        why = f"its cross-validated AUC interval in {name} is {sel['auc_ci'][0]:.3f}-{sel['auc_ci'][1]:.3f}"
    else:
        return {"train_permutation_p": None, "train_beats_chance": None}
    out: dict[str, Any] = {"train_permutation_p": perm, "train_beats_chance": bool(beats)}
    if not beats:
        out["note"] = (
            f"the model does not beat chance in its own cohort ({why}): an external AUC away from 0.5 is the "
            "direction a model fitted to noise happens to take, not a finding that transports"
        )
    return out


def _metrics(name: str, results: Path) -> dict[str, Any]:
    path = results / "model" / "metrics.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: cannot read cohort {name}'s model metrics ({e})") from None


def _internal(name: str, results: Path) -> dict[str, Any]:
    """The diagonal: the cohort's own cross-validated metrics (model/metrics.json)."""
    doc = _metrics(name, results)
    sel = (doc.get("metrics") or {}).get("selected")
    if doc.get("task") != "classification" or not isinstance(sel, dict):
        return {"run": False, "reason": "no cross-validated AUC (not a binary endpoint)"}
    cal = sel.get("calibration") or {}
    ci = {k: cal.get(f"{k}_ci") or [None, None] for k in ("intercept", "slope")}
    return {
        "run": True,
        "reason": "",
        "n_test": doc.get("n_train"),
        "auc": sel["auc"],
        "auc_ci_low": sel["auc_ci"][0],
        "auc_ci_high": sel["auc_ci"][1],
        "auc_definition": "cross-validated: " + sel.get("auc_definition", "AUC of all patients"),
        "auc_pooled": sel.get("auc_pooled", sel["auc"]),
        "calibration_intercept": cal.get("intercept"),
        "calibration_intercept_ci_low": ci["intercept"][0],
        "calibration_intercept_ci_high": ci["intercept"][1],
        "calibration_slope": cal.get("slope"),
        "calibration_slope_ci_low": ci["slope"][0],
        "calibration_slope_ci_high": ci["slope"][1],
    }


def transport_matrix(
    cohorts: Mapping[str, str | Path], *, n_boot: int = 1000, seed: int = 0, allow_missing: bool = False
) -> pd.DataFrame:
    """Every cohort's saved model on every cohort (``cohorts``: name -> results folder).

    Returns one row per (train, test) pair, columns :data:`CELL_COLUMNS`; ``kind`` is
    "external" off the diagonal and "within-cohort (cross-validated)" on it;
    ``train_permutation_p`` and ``train_beats_chance`` say whether the training cohort's model
    beat chance in that cohort (:func:`own_chance`), and ``note`` says when it did not (or when
    the model predicts one constant);
    ``endpoint_differences`` says where the test cohort's endpoint differs from the model's
    (an instrument other than the model's puts ``baseline_severity`` on another scale: convert
    it with the cohort's ``clinical.harmonise``, resources/harmonisation, before comparing).
    """
    paths = {n: Path(p) for n, p in cohorts.items()}
    tables = {n: _features(n, p) for n, p in paths.items()}
    rows = []
    for a, pa in paths.items():
        model, meta = load_model(pa / "model")
        chance = own_chance(a, pa)
        for b in paths:
            if a == b:
                cell = {"kind": "within-cohort (cross-validated)", **_internal(a, pa)}
            else:
                cell = {
                    "kind": "external",
                    **score_cohort(
                        model,
                        meta,
                        tables[b][0],
                        source=f"cohort {b}",
                        n_boot=n_boot,
                        seed=seed,
                        allow_missing=allow_missing,
                    ),
                    "endpoint_differences": "; ".join(endpoint_differences(meta["endpoint"], tables[b][1]["endpoint"])),
                }
            note = "; ".join(x for x in (cell.get("note"), chance.get("note") if a != b else None) if x)
            rows.append({"train": a, "test": b, **cell, **chance, "note": note})
    return pd.DataFrame(rows).reindex(columns=CELL_COLUMNS)


def _pooled_training(
    tables: Mapping[str, tuple[pd.DataFrame, dict[str, Any]]], left_out: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The other cohorts' feature tables stacked (patients and sites named by cohort) and a
    features summary with the model features every cohort has."""
    common = [
        f for f in tables[left_out][1]["model_features"] if all(f in s["model_features"] for _, s in tables.values())
    ]
    frames = []
    for name, (df, _) in tables.items():
        if name == left_out:
            continue
        d = df[["patient_id", "site", "y", *common]].copy()
        d["patient_id"] = name + ":" + d["patient_id"].astype(str)
        d["site"] = name + "/" + d["site"].astype(str)
        frames.append(d)
    groups = {g: [f for f in fs if f in common] for g, fs in tables[left_out][1].get("feature_groups", {}).items()}
    summary = {
        "model_features": common,
        "feature_groups": groups,
        "skipped_features": {},
        "endpoint_missing_reasons": {},
    }
    return pd.concat(frames, ignore_index=True), summary


def leave_one_cohort_out(
    cohorts: Mapping[str, str | Path], *, options: ModelOptions, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """For each cohort, the model fitted on the others pooled, tested on it.

    Parameters
    ----------
    cohorts : mapping
        name -> results folder (features stage run); at least three cohorts, so that two are pooled.
    options : ModelOptions
        The model stage's options for the pooled fits (:func:`stratify.model.fit.model_options`
        of the consortium's model settings); its endpoint must be the cohorts'.
    n_boot, seed
        The bootstrap of the test metrics.

    Returns
    -------
    DataFrame
        One row per left-out cohort, columns :data:`CELL_COLUMNS` (``train`` lists the pooled
        cohorts, ``kind`` "leave-one-cohort-out") and ``features`` (those the pooled model used).
    """
    if len(cohorts) < 3:
        raise InputError(f"leave-one-cohort-out needs at least three cohorts, got {len(cohorts)}")
    tables = {n: _features(n, Path(p)) for n, p in cohorts.items()}
    rows = []
    for left in tables:
        train, summary = _pooled_training(tables, left)
        res = fit_final_model(train, summary, options=options)
        meta = {
            "task": options.task,
            "features": res["features"],
            "preprocessing": {"training_distribution": _profile(train, res["features"])},
        }
        cell = score_cohort(res["model"], meta, tables[left][0], source=f"cohort {left}", n_boot=n_boot, seed=seed)
        rows.append(
            {
                "train": " + ".join(n for n in tables if n != left),
                "test": left,
                "kind": "leave-one-cohort-out",
                **cell,
                "features": ", ".join(res["features"]),
            }
        )
    return pd.DataFrame(rows).reindex(columns=[*CELL_COLUMNS, "features"])


def _profile(train: pd.DataFrame, feats: list[str]) -> dict[str, Any]:
    """The training distribution of the pooled features, as model_features.json records it."""
    return feature_profile(train[train["y"].notna()][feats])
