"""Random-effects pooling across cohorts, from site bundles or from the raw data: the same numbers.

Three pooled estimates, each a random-effects meta-analysis with tau^2 by REML
(:func:`stratify.heterogeneity.meta_analysis.random_effects`, metafor's ``rma(method="REML")``)
over the cohorts (or, for variance ratios, the cohorts' sites):

* ``response``: the response rate of each named subtype (and of all patients), on the log-odds
  scale (:func:`stratify.consortium.estimates.log_odds`), back-transformed to a rate;
* ``auc``: the response models' AUCs (out-of-fold, DeLong SE) on the logit scale
  (:func:`stratify.consortium.estimates.logit_auc`; Debray et al. 2017, BMJ 356:i6460);
* ``variance_ratio``: lnVR of the two randomised arms per site
  (:func:`stratify.heterogeneity.meta_analysis.lnvr`; Nakagawa et al. 2015), for two-arm cohorts.

:func:`pool_bundles` works from site bundles (:mod:`stratify.consortium.bundle`): aggregates
only, nothing of a patient leaves a site. :func:`pool_raw` computes the same from each cohort's
patient-level results (features, subtype assignments, out-of-fold predictions, heterogeneity
summary): the log-odds from the patients' outcomes (``ln(p/(1-p))``, variance
``1/(n p (1-p))``), the AUC from the predictions, the lnVR by the heterogeneity stage's own code.
It leaves out the cells a bundle suppresses (the same ``min_cell``), so the two agree to
rounding (tests/test_consortium_pooling.py checks 1e-8). A subtype is pooled by its name; cohorts
that claim no subtypes contribute only to "all patients". Replication and transportability need
individual data of the cohort tested on (:mod:`stratify.consortium.bundle` says why).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.consortium.bundle import vr_rows
from stratify.consortium.estimates import auc_delong, log_odds, logit_auc, response_counts, suppress
from stratify.consortium.replication import NOT_NAMES, centroid_match
from stratify.heterogeneity.cohort import site_variance_ratios
from stratify.heterogeneity.meta_analysis import lnvr, random_effects
from stratify.io.tables import read_table

__all__ = ["pool_bundles", "pool_raw", "pool_studies", "profile_match"]

ALL = "all patients"


def _expit(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


def pool_studies(studies: pd.DataFrame, *, back: str | None = None) -> dict[str, Any]:
    """REML random-effects pooling of ``studies`` (columns ``study``, ``yi``, ``vi``; other
    columns kept in the per-study rows). ``back``: "expit" or "exp" adds the back-transformed
    estimate and interval (``rate``/``ratio``); None pooled when there is no study."""
    rows = studies.to_dict("records")
    out: dict[str, Any] = {"k": len(rows), "studies": rows}
    if not rows:
        return {**out, "random": None}
    re = random_effects(studies["yi"], studies["vi"])
    out["random"] = re
    if back == "expit":
        out["rate"] = {k: _expit(re[k]) for k in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}
    elif back == "exp":
        out["ratio"] = {k: float(np.exp(re[k])) for k in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}
    return out


def _response_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool per subtype name: ``rows`` have study, subtype, yi, vi (and counts)."""
    d = pd.DataFrame(rows, columns=["study", "subtype", "n_with_endpoint", "responders", "yi", "vi"])
    names = [ALL, *sorted(set(d["subtype"]) - {ALL})]
    return {
        s: pool_studies(d[d["subtype"] == s].drop(columns="subtype").reset_index(drop=True), back="expit")
        for s in names
    }


def _pooled(response: list[dict], auc: list[dict], vr: list[dict]) -> dict[str, Any]:
    return {
        "response": _response_table(response),
        "auc": pool_studies(pd.DataFrame(auc, columns=["study", "auc", "auc_se", "yi", "vi"]), back="expit"),
        "variance_ratio": pool_studies(
            pd.DataFrame(vr, columns=["study", "n_treatment", "n_control", "yi", "vi"]), back="exp"
        ),
    }


# --------------------------------------------------------------------------- from bundles
def _bundle_response(b: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = list(b["subtypes"]["response"]) + [{"subtype": ALL, **b["counts"], "suppressed": b["counts"]["n"] is None}]
    out = []
    for r in rows:
        named = r["subtype"] == ALL or (b["subtypes"]["claimed"] and r["subtype"] not in NOT_NAMES)
        if not named or r.get("suppressed") or r["responders"] is None:
            continue
        yi, vi = log_odds([r["responders"]], [r["non_responders"]])
        out.append(
            {
                "study": b["cohort"],
                "subtype": r["subtype"],
                "n_with_endpoint": r["n_with_endpoint"],
                "responders": r["responders"],
                "yi": float(yi[0]),
                "vi": float(vi[0]),
            }
        )
    return out


def _bundle_auc(b: Mapping[str, Any]) -> list[dict[str, Any]]:
    m = b["model"]
    if m.get("suppressed") or m.get("auc") is None:
        return []
    yi, vi = logit_auc([m["auc"]], [m["auc_se"]])
    return [{"study": b["cohort"], "auc": m["auc"], "auc_se": m["auc_se"], "yi": float(yi[0]), "vi": float(vi[0])}]


def _vr_studies(cohort: str, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """lnVR per unsuppressed site row (arms' n and SD)."""
    rows = rows[~rows["suppressed"].astype(bool)]
    if rows.empty:
        return []
    yi, vi = lnvr(rows["sd_treatment"], rows["n_treatment"], rows["sd_control"], rows["n_control"])
    return [
        {"study": f"{cohort} / {s}", "n_treatment": int(nt), "n_control": int(nc), "yi": float(y), "vi": float(v)}
        for s, nt, nc, y, v in zip(rows["study"], rows["n_treatment"], rows["n_control"], yi, vi, strict=True)
    ]


def pool_bundles(bundles: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pooled response rates per subtype, AUCs and variance ratios from site bundles
    (:func:`stratify.consortium.bundle.read_bundle`): aggregates only."""
    response, auc, vr = [], [], []
    for b in bundles:
        response += _bundle_response(b)
        auc += _bundle_auc(b)
        v = b["variance_ratio"]
        if v.get("available"):
            vr += _vr_studies(b["cohort"], pd.DataFrame(v["sites"]))
    return {"source": "site bundles", **_pooled(response, auc, vr)}


def profile_match(a: Mapping[str, Any], b: Mapping[str, Any]) -> pd.DataFrame:
    """The profile comparison that aggregates allow: the clusters of bundle ``a`` paired with
    those of bundle ``b`` by the Hungarian algorithm on their standardised mean profiles
    (:func:`stratify.consortium.replication.centroid_match`, the features both clustered on;
    suppressed clusters left out). Each cohort's profile is in its own z-scores, the
    replication's default metric, so the distances are those of
    :func:`stratify.consortium.replication.replicate`'s centroid match. Prediction strength and
    the adjusted Rand index need the patients and are not available from bundles.

    Returns ``cluster_a``, ``cluster_b`` (-1 unpaired), ``distance``, ``name_a``, ``name_b``.
    """
    feats = [f for f in a["subtypes"]["features"] if f in b["subtypes"]["features"]]

    def table(bundle: Mapping[str, Any]) -> pd.DataFrame:
        p = pd.DataFrame(bundle["subtypes"]["profiles"])
        if p.empty:
            return pd.DataFrame(columns=["subtype", *feats])
        return (
            p[~p["suppressed"].astype(bool)]
            .set_index("cluster")[["subtype", *feats]]
            .astype(dict.fromkeys(feats, float))
        )

    pa, pb = table(a), table(b)
    if pa.empty or pb.empty or not feats:
        return pd.DataFrame(columns=["cluster_a", "cluster_b", "distance", "name_a", "name_b"])
    m = centroid_match(pa[feats], pb[feats])
    m["name_a"] = pa.loc[m["cluster_a"], "subtype"].to_numpy()
    m["name_b"] = [pb.loc[c, "subtype"] if c >= 0 else None for c in m["cluster_b"]]
    return m


# --------------------------------------------------------------------------- from the raw data
def _raw_response(name: str, results: Path, features: pd.DataFrame, *, min_cell: int) -> list[dict[str, Any]]:
    """Log-odds of response per named subtype and overall from the patients' outcomes."""
    assign = read_table(results / "subtype" / "assignments.parquet", kind="subtype.assignments")
    claimed = bool(json.loads((results / "subtype" / "summary.json").read_text()).get("claimed"))
    counts = response_counts(assign, features)
    keep = ~suppress(counts, ["n", "n_with_endpoint", "responders", "non_responders"], min_cell=min_cell)["suppressed"]
    m = features[["patient_id", "y"]].merge(assign[["patient_id", "subtype"]], on="patient_id", how="left")
    out = []
    for (subtype, _), ok in zip(counts[["subtype", "cluster"]].itertuples(index=False), keep, strict=True):
        named = subtype == ALL or (claimed and subtype not in NOT_NAMES)
        if not (named and ok):
            continue
        y = (m["y"] if subtype == ALL else m.loc[m["subtype"] == subtype, "y"]).dropna().to_numpy(float)
        n, p = len(y), float(y.mean())
        if p in (0.0, 1.0):  # a zero cell: the 1/2 correction of the counts
            yi, vi = (float(a[0]) for a in log_odds([y.sum()], [n - y.sum()]))
        else:
            yi, vi = float(np.log(p / (1 - p))), float(1 / (n * p * (1 - p)))
        out.append(
            {"study": name, "subtype": subtype, "n_with_endpoint": n, "responders": int(y.sum()), "yi": yi, "vi": vi}
        )
    return out


def _raw_auc(name: str, results: Path, *, min_cell: int) -> list[dict[str, Any]]:
    if json.loads((results / "model" / "metrics.json").read_text()).get("task") != "classification":
        return []
    oof = read_table(results / "model" / "oof_predictions.parquet", kind="model.oof")
    est = auc_delong(oof["y"], oof["selected"])
    if est["auc"] is None or min(est["n_pos"], est["n_neg"]) < min_cell:
        return []
    yi, vi = logit_auc([est["auc"]], [est["se"]])
    return [{"study": name, "auc": est["auc"], "auc_se": est["se"], "yi": float(yi[0]), "vi": float(vi[0])}]


def _raw_vr(name: str, results: Path, features: pd.DataFrame, *, min_cell: int) -> list[dict[str, Any]]:
    path = results / "heterogeneity" / "summary.json"
    if not path.exists():
        return []
    s = json.loads(path.read_text())
    if not s.get("run"):
        return []
    res, comp = site_variance_ratios(features, s)
    if not res.get("run"):
        return []
    kept = vr_rows(comp, min_cell=min_cell)
    comp = comp.drop_duplicates(subset=["study", "arm_treatment", "arm_control"]).reset_index(drop=True)
    comp = comp[~kept["suppressed"].to_numpy()]
    return [
        {
            "study": f"{name} / {r.study}",
            "n_treatment": int(r.n_treatment),
            "n_control": int(r.n_control),
            "yi": float(r.yi_vr),
            "vi": float(r.vi_vr),
        }
        for r in comp.itertuples(index=False)
    ]


def pool_raw(cohorts: Mapping[str, str | Path], *, min_cell: int = 10) -> dict[str, Any]:
    """The pooled estimates of :func:`pool_bundles` from each cohort's patient-level results
    (``cohorts``: name -> results folder), leaving out the cells under ``min_cell`` as bundles do."""
    response, auc, vr = [], [], []
    for name, results in cohorts.items():
        results = Path(results)
        features = read_table(results / "features" / "features.parquet", kind="features")
        response += _raw_response(name, results, features, min_cell=min_cell)
        auc += _raw_auc(name, results, min_cell=min_cell)
        vr += _raw_vr(name, results, features, min_cell=min_cell)
    return {"source": "patient-level data", **_pooled(response, auc, vr)}
