"""The consortium report's pooled estimates: per-cohort rows and the REML random-effects pool of
response rates per subtype, AUCs and variance ratios (:mod:`stratify.consortium.pooling`), the
agreement of the pool from site bundles with the pool from patient-level data, and the profile
matches that aggregates allow (:func:`stratify.consortium.pooling.profile_match`).

Each cohort's interval is on the pooling scale and back-transformed, as the pool's is: log-odds
for a rate, logit for an AUC (Debray et al. 2017, BMJ 356:i6460), log for a variance ratio
(Nakagawa et al. 2015, Methods Ecol Evol 6:143-152): ``back(yi +/- 1.96 sqrt(vi))``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from stratify.report.consortium_parts import NA, figure, missing, num, shown, skip_reason, with_ci

__all__ = ["max_difference", "pooled_context"]

Z975 = 1.959963984540054
#: keys of a pooled document that are not estimates (where it came from; the stage's comparison)
NOT_ESTIMATES = frozenset({"source", "max_abs_difference_from_raw", "note"})
#: the columns of the pooled tables and profile matches as the report names them
SHOWN = {
    "n_with_endpoint": "patients with the endpoint",
    "responders": "responders",
    "auc_se": "SE (DeLong)",
    "n_treatment": "patients, treatment arm",
    "n_control": "patients, control arm",
}
PROFILE_NAMES = ["cohort A", "cluster of A", "its name", "cohort B", "matched cluster of B", "its name in B"]
PROFILE_NAMES += ["distance (SD units)"]
BACK = {"expit": lambda x: 1 / (1 + math.exp(-x)), "exp": math.exp}


def _study_ci(s: Mapping[str, Any], back: str) -> tuple[float, float, float]:
    """A study's estimate and 95% interval, back-transformed from ``yi``, ``vi``."""
    f, yi, se = BACK[back], float(s["yi"]), math.sqrt(float(s["vi"]))
    return f(yi), f(yi - Z975 * se), f(yi + Z975 * se)


def _pooled_row(p: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The pool's estimate, 95% CI, prediction interval and heterogeneity, as table cells."""
    b, re = p.get(key) or {}, p.get("random") or {}
    return {
        "estimate (95% CI)": with_ci(b.get("estimate"), b.get("ci_low"), b.get("ci_high")),
        "95% prediction interval": (
            NA
            if missing(b.get("pi_low")) or missing(b.get("pi_high"))
            else f"{num(b['pi_low'])} to {num(b['pi_high'])}"
        ),
        "tau²": num(re.get("tau2"), ".3g"),
        "I² (%)": num(re.get("I2"), ".0f"),
    }


def _rows(p: Mapping[str, Any], *, back: str, key: str, extra: list[str], label: str) -> list[dict[str, Any]]:
    """One row per study and a last row for the pool (``label``: what is pooled)."""
    rows = []
    for s in p.get("studies") or []:
        est, lo, hi = _study_ci(s, back)
        rows.append(
            {
                "pooled": label,
                "cohort": s["study"],
                **{SHOWN[k]: s.get(k) for k in extra},
                "estimate (95% CI)": with_ci(est, lo, hi),
                "95% prediction interval": "",
                "tau²": "",
                "I² (%)": "",
            }
        )
    if p.get("random"):
        pooled = f"pooled, random effects (REML), k = {p.get('k')}"
        rows.append(
            {"pooled": label, "cohort": pooled, **dict.fromkeys((SHOWN[k] for k in extra), ""), **_pooled_row(p, key)}
        )
    return rows


def _line(what: str, p: Mapping[str, Any] | None, key: str) -> str:
    """One headline line of a pooled estimate, or why there is none."""
    if not p or not p.get("random"):
        return f"{what}: not pooled (no cohort contributed an estimate)."
    b, re = p[key], p["random"]
    return (
        f"{what}: {num(b['estimate'])} (95% CI {num(b['ci_low'])} to {num(b['ci_high'])}; prediction interval "
        f"{num(b.get('pi_low'))} to {num(b.get('pi_high'))}), from {p['k']} estimate(s), "
        f"I² {num(re.get('I2'), '.0f')}%."
    )


def max_difference(a: Any, b: Any, path: str = "") -> float | None:
    """The largest absolute difference between the numbers of two pooled documents
    (:data:`NOT_ESTIMATES` left out); None when their structure differs (a key or list length of one not in the other)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) - NOT_ESTIMATES != set(b) - NOT_ESTIMATES:
            return None
        parts = [max_difference(a[k], b[k]) for k in a if k not in NOT_ESTIMATES]
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return None
        parts = [max_difference(x, y) for x, y in zip(a, b, strict=True)]
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if missing(a) or missing(b):
            return 0.0 if missing(a) and missing(b) else None
        return abs(float(a) - float(b))
    else:
        return 0.0 if a == b else None
    return None if any(x is None for x in parts) else max(parts, default=0.0)


def _agreement(pooled: Mapping[str, Any], raw: Mapping[str, Any] | None, bundle_only: list[str]) -> str:
    """Whether the pool from the bundles is the pool from the patient-level data."""
    if not raw or raw.get("skipped"):
        return "The pool from patient-level data (pooled_raw.json) was not given, so the two were not compared."
    stage = pooled.get("max_abs_difference_from_raw")
    if bundle_only and isinstance(stage, int | float) and math.isfinite(stage):
        # cohorts known from bundles alone are in the pool, not in pooled_raw: the stage compared
        # the cohorts with patients, pooled from their bundles and from their patients
        return (
            f"{', '.join(bundle_only)} joined with site bundles only. For the other cohorts, the pool from their "
            f"bundles and the pool from their patient-level data differ by at most {stage:.1e}: the bundles lose "
            "nothing that the pooling uses."
        )
    d = max_difference(pooled, raw)
    if d is None or not math.isfinite(d):
        return (
            "The pools from site bundles and from patient-level data do not hold the same estimates (a subtype "
            "or cohort in one is not in the other)."
        )
    return (
        f"The same pool computed from patient-level data (pooled_raw.json) differs from this one by at most "
        f"{d:.1e}: the bundles lose nothing that the pooling uses."
    )


def _profiles(pm: pd.DataFrame) -> pd.DataFrame:
    d = pm.reindex(columns=["cohort_a", "cluster_a", "name_a", "cohort_b", "cluster_b", "name_b", "distance"])
    d["cluster_b"] = ["none (unpaired)" if not missing(c) and int(c) < 0 else c for c in d["cluster_b"]]
    return d.rename(columns=dict(zip(d.columns, PROFILE_NAMES, strict=True)))


def pooled_context(parts: Mapping[str, Any], profile_matches: pd.DataFrame) -> dict[str, Any]:
    """The pooled section's tables, figures and notes, and the headline's lines about it."""
    pooled, plots = parts["pooled"] or {}, parts["plots"] or {}
    if not pooled or pooled.get("skipped"):
        why = (
            pooled.get("reason")
            or skip_reason(parts["summary"] or {}, "pooling", "pooled")
            or "pooled.json holds no estimates"
        )
        return {
            "run": False,
            "reason": why,
            "headline": [f"Pooled estimates: not computed ({why})."],
            "profiles": shown(_profiles(profile_matches)) if not profile_matches.empty else None,
        }
    response = pooled.get("response") or {}
    resp_rows = [
        r
        for s, p in response.items()
        for r in _rows(p, back="expit", key="rate", extra=["n_with_endpoint", "responders"], label=s)
    ]
    auc, vr = pooled.get("auc") or {}, pooled.get("variance_ratio") or {}
    vr_reason = None
    if not vr.get("k"):
        vr_reason = skip_reason(parts["summary"] or {}, "variance_ratio", "forest_variance_ratio") or (
            "no two-arm cohort with sites of at least min_cell patients per arm"
        )
    headline = [_line(f"Response rate, {s}", p, "rate") for s, p in response.items()]
    headline.append(_line("AUC of the response models", auc, "rate"))
    headline.append(
        _line("Variance ratio (treatment vs control)", vr, "ratio")
        if vr.get("k")
        else f"Variance ratio: not pooled ({vr_reason})."
    )
    return {
        "run": True,
        "headline": headline,
        "source": pooled.get("source", ""),
        "response": shown(pd.DataFrame(resp_rows)) if resp_rows else None,
        "auc": shown(pd.DataFrame(_rows(auc, back="expit", key="rate", extra=["auc_se"], label="AUC")))
        if auc
        else None,
        "vr": (
            shown(pd.DataFrame(_rows(vr, back="exp", key="ratio", extra=["n_treatment", "n_control"], label="VR")))
            if vr.get("k")
            else None
        ),
        "vr_reason": vr_reason,
        "forest_response": figure(plots, "forest_response", "response rate per subtype: cohorts and pooled"),
        "forest_auc": figure(plots, "forest_auc", "AUC of the response model: cohorts and pooled"),
        "forest_vr": figure(plots, "forest_variance_ratio", "variance ratio: sites and pooled"),
        "agreement": _agreement(
            pooled, parts["pooled_raw"], sorted((parts["summary"] or {}).get("bundle_only_cohorts") or {})
        ),
        "profiles": shown(_profiles(profile_matches)) if not profile_matches.empty else None,
    }
