"""The consortium report: one offline HTML file from a consortium's results (issue 20).

:func:`render_consortium_report` renders the parts that
``stratify.consortium.stage.load_consortium_results`` reads back from
``results/consortium/<name>/`` into the cohort report's page (``templates/page.html.j2``:
``static/report.css`` inlined, every figure a base64 PNG by :func:`stratify.report.context.img`),
one template per section under ``templates/consortium/``. Every value from the data is
autoescaped; a missing number shows as "n/a", with the reason where the results give one (an
AUC cell that was not scored, a regression endpoint).

The methods behind the numbers are those of :mod:`stratify.consortium` (cited there and in
resources/SOURCES.md): replication by prediction strength (Tibshirani & Walther 2005), the
adjusted Rand index (Hubert & Arabie 1985) and Hungarian centroid matching (Kuhn 1955);
transportability and calibration (Steyerberg & Harrell 2016; Van Calster et al. 2019); REML
random-effects pooling of response rates, AUCs (Debray et al. 2017) and variance ratios
(Nakagawa et al. 2015).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from stratify import __version__
from stratify.report.consortium_parts import (
    ANALYSIS_WORDS,
    NA,
    check,
    figure,
    frame,
    missing,
    num,
    shown,
    skip_reason,
    skipped,
    with_ci,
    yes,
)
from stratify.report.consortium_pooled import pooled_context
from stratify.report.context import fmt
from stratify.report.render import render

__all__ = ["SECTIONS", "render_consortium_report"]

SECTIONS = [
    ("headline", "Headline"),
    ("cohorts", "Cohorts side by side"),
    ("harmonisation", "Endpoint harmonisation"),
    ("transport", "Transportability"),
    ("loco", "Leave one cohort out"),
    ("replication", "Subtype replication"),
    ("pooled", "Pooled estimates"),
    ("data", "What leaves each site, what needs individual data"),
    ("methods", "Methods and citations"),
]

#: cohorts.tsv columns as the side-by-side table names them
COHORT_ROWS = {
    "config": "config",
    "n_patients": "patients",
    "n_with_endpoint": "patients with the endpoint",
    "sites": "sites",
    "instruments": "instruments",
    "endpoint": "endpoint",
    "endpoint_converted": "endpoint converted",
    "has_genotypes": "genotypes",
    "has_star_alleles": "star alleles",
    "has_biomarkers": "biomarkers",
    "two_arm": "two-arm trial",
    "subtypes_claimed": "subtypes claimed",
    "n_subtypes": "subtypes",
    "subtype_names": "subtype names",
    "model_auc": "response model AUC (internal)",
    "lacks": "lacks (what the other cohorts have)",
}

HARMONISATION_NAMES = {
    "from_instrument": "from",
    "to_instrument": "to",
    "n_patients": "patients",
    "table": "linking table",
}
#: replication.tsv columns shown (one row per pair of cohorts and cluster of the first)
PAIR_COLUMNS = ["cohort_a", "cohort_b", "cluster_a", "name_a", "cluster_b", "name_b", "distance"]
PAIR_COLUMNS += ["prediction_strength_cluster", "carried_share", "adjusted_rand", "prediction_strength", "n_b"]
PAIR_COLUMNS += ["b_claimed", "metric", "not_testable"]
#: verdicts.tsv, subtype_overview.tsv and replication.tsv columns as the report names them
REPLICATION_NAMES = {
    "cohort": "claimed in",
    "cohort_a": "claimed in",
    "cohort_b": "tested in",
    "cluster_a": "cluster",
    "name_a": "its name",
    "cluster_b": "matched cluster",
    "name_b": "matched cluster's name",
    "distance": "profile distance (SD)",
    "prediction_strength_cluster": "prediction strength of the matched cluster",
    "carried_share": "share of the matched cluster carried to it",
    "replicated_in": "replicated in",
    "not_replicated_in": "not replicated in",
    "not_testable_in": "not testable in",
    "claimed_only_here": "found in this cohort only",
    "adjusted_rand": "adjusted Rand",
    "prediction_strength": "prediction strength",
    "n_b": "patients tested",
    "b_claimed": "tested cohort claims subtypes",
    "not_testable": "not testable because",
}


# --------------------------------------------------------------------------- cohorts and endpoints
def cohorts_context(parts: Mapping[str, Any]) -> dict[str, Any]:
    """The cohorts as columns of one table (rows: the attributes of cohorts.tsv), and what each lacks."""
    c = frame(parts, "cohorts")
    if c.empty:
        return {"side_by_side": None, "lacks": []}
    lacks = [
        (str(r["cohort"]), "nothing that another cohort has" if missing(r["lacks"]) else str(r["lacks"]))
        for _, r in c.iterrows()
    ]
    rows = [k for k in COHORT_ROWS if k in c.columns]
    for k in {"endpoint_converted", "lacks", "subtype_names"} & set(rows):
        c[k] = ["none" if missing(v) else v for v in c[k]]
    side = pd.DataFrame(
        {str(r["cohort"]): [r[k] for k in rows] for _, r in c.iterrows()},
        index=[COHORT_ROWS[k] for k in rows],
    )
    side.insert(0, "", side.index)
    return {"side_by_side": shown(side), "lacks": lacks}


def harmonisation_context(parts: Mapping[str, Any]) -> dict[str, Any]:
    """The conversions onto the common endpoint, and whether every cohort ends on one metric."""
    h, c = frame(parts, "harmonisation"), frame(parts, "cohorts")
    summary = parts["summary"] or {}
    endpoints = summary.get("endpoints") or {
        str(r["cohort"]): str(r["endpoint"]) for _, r in c.iterrows() if not missing(r["endpoint"])
    }
    common = summary.get("common_endpoint", len(set(endpoints.values())) == 1)
    reason = skip_reason(summary, "common_endpoint", "transport", "pooling", "leave_one_cohort_out")
    converted = h[h["from_instrument"].astype(str) != h["to_instrument"].astype(str)] if not h.empty else h
    return {
        "rows": shown(h.rename(columns=HARMONISATION_NAMES)) if not h.empty else None,
        "endpoints": sorted((str(k), str(v)) for k, v in endpoints.items()),
        "common": bool(common and endpoints),
        "common_endpoint": str(next(iter(endpoints.values()))) if common and endpoints else None,
        "n_converted": int(len(converted)),
        "reason": reason,
    }


# --------------------------------------------------------------------------- transportability
def _auc_text(r: Mapping[str, Any]) -> str:
    """An AUC cell: the AUC with its interval, or "n/a" with the reason it was not scored."""
    if yes(r.get("run")) and not missing(r.get("auc")):
        return with_ci(r["auc"], r.get("auc_ci_low"), r.get("auc_ci_high"))
    why = "" if missing(r.get("reason")) else str(r["reason"])
    return f"{NA}: {why}" if why else f"{NA} (no reason recorded)"


def _cohort_order(t: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys([*t["train"].astype(str), *t["test"].astype(str)]))


def _drops(t: pd.DataFrame) -> pd.DataFrame:
    """Per training cohort: internal (cross-validated) AUC, its external AUCs and the drop."""
    rows = []
    for a in dict.fromkeys(t["train"].astype(str)):
        g = t[t["train"].astype(str) == a]
        diag = g[g["test"].astype(str) == a]
        internal = diag["auc"].iloc[0] if len(diag) and yes(diag["run"].iloc[0]) else float("nan")
        ext = g[(g["kind"] == "external") & g["run"].map(yes) & g["auc"].notna()]
        chance = ext[(ext["auc_ci_low"] <= 0.5) & (ext["auc_ci_high"] >= 0.5)]["test"].astype(str)
        not_scored = g[(g["kind"] == "external") & ~(g["run"].map(yes) & g["auc"].notna())]
        med = float(ext["auc"].median()) if len(ext) else float("nan")
        rows.append(
            {
                "trained in": a,
                "internal AUC (cross-validated)": num(internal),
                "external cells scored": f"{len(ext)} of {len(ext) + len(not_scored)}",
                "external AUC: min / median / max": (
                    f"{num(ext['auc'].min())} / {num(med)} / {num(ext['auc'].max())}" if len(ext) else NA
                ),
                "drop, internal minus median external": num(internal - med, "+.3f"),
                "95% CI includes 0.5 in": ", ".join(chance) or "none",
            }
        )
    return pd.DataFrame(rows)


def _cell_details(t: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: AUC and calibration with intervals, feature and endpoint differences."""
    cols = {c: t[c] if c in t.columns else pd.Series([None] * len(t)) for c in t.columns}

    def get(r, k):
        return r.get(k) if k in cols else None

    return pd.DataFrame(
        [
            {
                "trained in": r["train"],
                "tested in": r["test"],
                "kind": r["kind"],
                "patients": get(r, "n_test"),
                "AUC (95% CI)": _auc_text(r),
                "calibration intercept (95% CI)": with_ci(
                    get(r, "calibration_intercept"),
                    get(r, "calibration_intercept_ci_low"),
                    get(r, "calibration_intercept_ci_high"),
                    "+.2f",
                ),
                "calibration slope (95% CI)": with_ci(
                    get(r, "calibration_slope"),
                    get(r, "calibration_slope_ci_low"),
                    get(r, "calibration_slope_ci_high"),
                    ".2f",
                ),
                "features not available": get(r, "features_unavailable"),
                "features shifted": get(r, "features_shifted"),
                "endpoint differences": get(r, "endpoint_differences"),
                "note": get(r, "note"),
            }
            for r in t.to_dict("records")
        ]
    )


def transport_context(parts: Mapping[str, Any]) -> dict[str, Any]:
    """The transport matrix (AUC text per train x test), the drop per training cohort and each cell's detail."""
    t = frame(parts, "transport")
    fig = figure(parts["plots"] or {}, "transport_matrix", "external AUC by training and test cohort")
    if t.empty:
        return {"run": False, "reason": skip_reason(parts["summary"] or {}, "transport"), "figure": fig}
    order = _cohort_order(t)
    text = t.assign(cell=[_auc_text(r) for r in t.to_dict("records")])
    m = text.pivot_table(index="train", columns="test", values="cell", aggfunc="first")
    m = m.reindex(index=[o for o in order if o in m.index], columns=[o for o in order if o in m.columns])
    m.insert(0, "trained in \\ tested in", m.index)
    return {
        "run": True,
        "figure": fig,
        "matrix": shown(m.reset_index(drop=True)),
        "drops": shown(_drops(t)),
        "cells": shown(_cell_details(t), max_rows=200),
    }


def loco_context(parts: Mapping[str, Any]) -> dict[str, Any]:
    """Leave-one-cohort-out rows beside the left-out cohort's own cross-validated AUC."""
    lo, t = frame(parts, "loco"), frame(parts, "transport")
    summary = parts["summary"] or {}
    if lo.empty:
        why = skip_reason(summary, "loco", "leave_one_cohort_out", "leave-one-cohort-out")
        n = len(frame(parts, "cohorts"))
        return {"run": False, "reason": why or f"loco.tsv has no rows ({n} cohorts; it needs at least three)"}
    diag = {str(r["test"]): r for r in t.to_dict("records") if str(r["train"]) == str(r["test"])}
    rows = [
        {
            "left out (tested in)": r["test"],
            "trained on (pooled)": r["train"],
            "patients": r.get("n_test"),
            "AUC (95% CI)": _auc_text(r),
            "its own AUC (cross-validated)": _auc_text(diag[str(r["test"])]) if str(r["test"]) in diag else NA,
            "calibration slope (95% CI)": with_ci(
                r.get("calibration_slope"), r.get("calibration_slope_ci_low"), r.get("calibration_slope_ci_high"), ".2f"
            ),
            "features of the pooled model": r.get("features"),
        }
        for r in lo.to_dict("records")
    ]
    options = ((summary.get("analyses") or {}).get("leave_one_cohort_out") or {}).get("model_options_from")
    return {"run": True, "rows": shown(pd.DataFrame(rows)), "options": None if options is None else str(options)}


# --------------------------------------------------------------------------- replication
def replication_context(parts: Mapping[str, Any]) -> dict[str, Any]:
    """The subtype overview (claimed in one cohort only, shown first), verdicts per subtype and the pairs."""
    ov, v, rep, c = (frame(parts, k) for k in ("overview", "verdicts", "replication", "cohorts"))
    alone = [
        {"cohort": r["cohort"], "subtype": r["subtype"], "not_replicated_in": r["not_replicated_in"]}
        for _, r in ov.iterrows()
        if yes(r["claimed_only_here"])
    ]
    untested = [
        {"cohort": r["cohort"], "subtype": r["subtype"], "not_testable_in": r["not_testable_in"]}
        for _, r in ov.iterrows()
        if missing(r["replicated_in"]) and missing(r["not_replicated_in"])
    ]
    by_subtype = [
        (str(s), shown(g.drop(columns=["subtype"]).rename(columns=REPLICATION_NAMES)))
        for s, g in v.groupby("subtype", sort=False)
    ]
    pairs = rep[[k for k in PAIR_COLUMNS if k in rep.columns]].copy()
    if "cluster_b" in pairs.columns:
        pairs["cluster_b"] = [c if missing(c) or float(c) >= 0 else "none (unpaired)" for c in pairs["cluster_b"]]
    claimed = [str(r["cohort"]) for _, r in c.iterrows() if yes(r["subtypes_claimed"])]
    return {
        "any": not ov.empty,
        "claimed_by": claimed,
        "alone": alone,
        "untested": untested,
        "overview": shown(ov.rename(columns=REPLICATION_NAMES)),
        "by_subtype": by_subtype,
        "pairs": (
            shown(
                pairs.rename(columns={"cohort_a": "clustering of", "cohort_b": "carried to"}).rename(
                    columns=REPLICATION_NAMES
                ),
                max_rows=300,
            )
            if not rep.empty
            else None
        ),
    }


# --------------------------------------------------------------------------- headline
def _subtype_lines(ov: pd.DataFrame) -> list[str]:
    if ov.empty:
        return ["No cohort claimed a named subtype, so there was nothing to replicate."]
    lines = []
    for _, r in ov.iterrows():
        parts = [
            f"{label} {r[k]}"
            for label, k in (
                ("replicated in", "replicated_in"),
                ("not replicated in", "not_replicated_in"),
                ("not testable in", "not_testable_in"),
            )
            if not missing(r[k])
        ]
        lead = f"Subtype {r['subtype']!r} (claimed in {r['cohort']})"
        if yes(r["claimed_only_here"]):
            lead += ": found in this cohort only"
        lines.append(lead + ": " + ("; ".join(parts) or "not compared with any cohort") + ".")
    if not ov["replicated_in"].map(missing).all():
        return lines
    return [*lines, "No subtype replicated in another cohort."]


def _transport_lines(t: pd.DataFrame, skipped_why: str | None) -> list[str]:
    ext = t[t["kind"] == "external"] if not t.empty else t
    ok = ext[ext["run"].map(yes) & ext["auc"].notna()] if not ext.empty else ext
    if ext.empty:
        return [f"Transportability was not computed ({skipped_why or 'transport.tsv has no external cells'})."]
    if ok.empty:
        why = "; ".join(sorted({str(x) for x in ext["reason"] if not missing(x)})) or "no reason recorded"
        return [f"No external AUC could be computed ({why})."]
    lo, hi = ok.loc[ok["auc"].idxmin()], ok.loc[ok["auc"].idxmax()]
    chance = ok[(ok["auc_ci_low"] <= 0.5) & (ok["auc_ci_high"] >= 0.5)]
    lines = [
        f"External AUC of the response models ranged from {num(lo['auc'])} ({lo['train']} -> {lo['test']}) to "
        f"{num(hi['auc'])} ({hi['train']} -> {hi['test']}) over {len(ok)} cells.",
        f"{len(chance)} of {len(ok)} external cells have a 95% interval that includes 0.5 (no better than chance)"
        + (
            ": " + ", ".join(f"{a} -> {b}" for a, b in zip(chance["train"], chance["test"], strict=True))
            if len(chance)
            else ""
        )
        + ".",
    ]
    if "train_beats_chance" in ok.columns:
        noise = ok[ok["train_beats_chance"].map(lambda v: not missing(v) and not yes(v))]
        if len(noise):
            lines.append(
                f"{len(noise)} of the {len(ok)} external cells come from a model that does not beat chance in its own cohort "
                f"({', '.join(sorted(set(noise['train'])))}): their external AUCs differ from 0.5 only by chance, "
                "whatever their intervals say (the interval holds the fitted model fixed)."
            )
    if len(ok) < len(ext):
        lines.append(f"{len(ext) - len(ok)} external cell(s) were not scored; the transport section says why.")
    return lines


def headline_context(parts: Mapping[str, Any], pooled: Mapping[str, Any]) -> dict[str, Any]:
    """Plain-words lines: replication, transport, pooled estimates and what was skipped."""
    summary = parts["summary"] or {}
    return {
        "n_cohorts": len(frame(parts, "cohorts")),
        "subtypes": _subtype_lines(frame(parts, "overview")),
        "transport": _transport_lines(frame(parts, "transport"), skip_reason(summary, "transport")),
        "pooled": pooled["headline"],
        "skipped": sorted(skipped(summary).items()),
        "words": ANALYSIS_WORDS,
        "bundle_only": sorted(summary.get("bundle_only_cohorts") or {}),
    }


# --------------------------------------------------------------------------- the page
def render_consortium_report(parts: dict, *, out: Path) -> Path:
    """Write the consortium report, one offline HTML file, and return its path.

    Parameters
    ----------
    parts : dict
        The consortium's results as ``load_consortium_results`` reads them (:data:`PARTS`):
        ``name``; ``summary`` (summary.json); tables ``cohorts``, ``harmonisation``,
        ``transport``, ``loco``, ``replication``, ``verdicts``, ``overview``,
        ``profile_matches`` (DataFrames; an empty one where an analysis did not run);
        ``pooled`` and ``pooled_raw`` (pool_bundles / pool_raw documents); ``plots``
        (name -> PNG file; empty: the sections show tables only).
    out : path
        The HTML file to write (a folder: ``report.html`` in it).
    """
    check(parts)
    out = Path(out)
    if out.is_dir():
        out = out / "report.html"
    pooled = pooled_context(parts, frame(parts, "profile_matches"))
    summary = parts["summary"] or {}
    bodies = {
        "headline": headline_context(parts, pooled),
        "cohorts": cohorts_context(parts),
        "harmonisation": harmonisation_context(parts),
        "transport": transport_context(parts),
        "loco": loco_context(parts),
        "replication": replication_context(parts),
        "pooled": pooled,
        "data": {"min_cell": summary.get("min_cell")},
        "methods": {"summary": sorted((str(k), fmt(v)) for k, v in summary.items() if _scalar(v))},
    }
    sections = [(sid, title, render(f"consortium/{sid}.html.j2", **bodies[sid])) for sid, title in SECTIONS]
    html = render(
        "page.html.j2",
        title="Consortium report",
        cohort=str(parts["name"]),
        subject="consortium",
        version=__version__,
        sections=sections,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(str(html), encoding="utf-8")
    return out


def _scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool)) or v is None
