"""The consortium stage: every cohort's results compared and pooled (``stratify consortium``).

:func:`run_consortium` reads each cohort's results folder (``results/<cohort>/``, every stage up
to heterogeneity run, as ``snakemake --configfile <cohort config>`` or ``stratify run`` leaves
it) and writes ``results/consortium/<name>/`` (:data:`FILES`; the names are fixed, the report
and the workflow use them):

``cohorts.tsv``
    one row per cohort: size, sites, instruments, endpoint and its conversion, which inputs it
    has, its subtypes and model AUC, and what it lacks that others have
    (:func:`stratify.consortium.tables.cohort_table`).
``harmonisation.tsv``
    per cohort, the patients whose endpoint is native and those converted from another
    instrument, with the linking table (:func:`stratify.consortium.tables.harmonisation_table`).
``transport.tsv``, ``loco.tsv``
    each cohort's saved model on every cohort, and leave-one-cohort-out with the others pooled
    (:mod:`stratify.consortium.transport`; Steyerberg & Harrell 2016, Van Calster et al. 2019).
    Leave-one-cohort-out fits with the model options of the *first* cohort's config
    (:func:`stratify.model.fit.model_options`), and needs three cohorts; with fewer,
    ``loco.tsv`` is a header.
``replication.tsv``, ``verdicts.tsv``, ``subtype_overview.tsv``
    each cohort's clustering carried to every other (adjusted Rand, Hubert & Arabie 1985;
    Hungarian centroid match, Kuhn 1955; prediction strength, Tibshirani & Walther 2005):
    one row per (cohort A, cohort B, cluster of A), the verdict per named subtype, and per
    subtype where it replicated (:mod:`stratify.consortium.replication`).
``bundles/<cohort>.json``
    each cohort's site bundle, aggregates only, cells under ``min_cell`` suppressed
    (:func:`stratify.consortium.bundle.summarise`).
``pooled.json``, ``pooled_raw.json``, ``profile_matches.tsv``
    random-effects (REML) pooling of response rates per subtype, AUCs and variance ratios from
    the bundles and from the patient-level data (:mod:`stratify.consortium.pooling`; Debray et
    al. 2017, Nakagawa et al. 2015); ``pooled.json`` says the largest absolute difference between
    the two (``max_abs_difference_from_raw``, ~0). Cluster profiles matched from the bundles for
    every ordered pair of cohorts.
``plots/``
    ``transport_matrix.png``, ``forest_response.png``, ``forest_auc.png`` (a figure that says why
    it was not drawn when its analysis was skipped) and ``forest_variance_ratio.png`` (drawn when
    a cohort is a two-arm trial; otherwise a figure that says so).
``summary.json``
    what ran and what was skipped and why, the headline numbers, and the files.

Transport, leave-one-cohort-out and pooling compare one endpoint across cohorts: when the
cohorts' endpoints (after conversion) are not one metric they are skipped, with the reason in
``summary.json``, and their files are written empty. The report (``report.html``) is drawn by
:func:`write_report` from :func:`load_consortium_results`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.consortium.bundle import read_bundle, summarise, write_bundle
from stratify.consortium.config import RESERVED, Consortium
from stratify.consortium.external import bundle_cohort_rows, bundle_verdicts
from stratify.consortium.plots import forest_png, transport_png, vr_forest_png
from stratify.consortium.pooling import pool_bundles, pool_raw, profile_match
from stratify.consortium.replication import read_cohort_subtypes, replicate_all, subtype_overview
from stratify.consortium.tables import cohort_table, common_endpoint, endpoint_text, harmonisation_table, read_json
from stratify.consortium.transport import CELL_COLUMNS, leave_one_cohort_out, transport_matrix
from stratify.errors import InputError
from stratify.io.results import dump_json, not_drawn_png, write_tsv
from stratify.model.fit import model_options

__all__ = ["FILES", "load_consortium_results", "run_consortium", "run_consortium_folders", "write_report"]

log = logging.getLogger(__name__)

#: the consortium stage's files, relative to results/consortium/<name>/ (bundles/<cohort>.json besides)
FILES = {
    "cohorts": "cohorts.tsv",
    "harmonisation": "harmonisation.tsv",
    "transport": "transport.tsv",
    "loco": "loco.tsv",
    "replication": "replication.tsv",
    "verdicts": "verdicts.tsv",
    "overview": "subtype_overview.tsv",
    "pooled": "pooled.json",
    "pooled_raw": "pooled_raw.json",
    "profile_matches": "profile_matches.tsv",
    "summary": "summary.json",
}
PLOTS = {
    "transport_matrix": "plots/transport_matrix.png",
    "forest_response": "plots/forest_response.png",
    "forest_auc": "plots/forest_auc.png",
    "forest_variance_ratio": "plots/forest_variance_ratio.png",
}
REPLICATION_COLUMNS = ["cohort_a", "cohort_b", "metric", "n_b", "b_claimed", "adjusted_rand", "prediction_strength"]
REPLICATION_COLUMNS += ["not_testable", "cluster_a", "cluster_b", "distance", "name_a", "name_b"]
REPLICATION_COLUMNS += ["prediction_strength_cluster", "carried_share"]
MATCH_COLUMNS = ["cohort_a", "cohort_b", "cluster_a", "cluster_b", "distance", "name_a", "name_b"]
#: the stages a cohort's results folder needs, and the file that shows each ran
NEEDED = {"features": "features/features.parquet", "subtype": "subtype/model.json", "model": "model/metrics.json"}


def check_folders(cohorts: Mapping[str, str | Path], *, config_files: Mapping[str, str | Path] | None = None) -> None:
    """An InputError naming the first cohort results folder (or stage file) that is missing and
    the command that makes it."""
    for name, folder in cohorts.items():
        folder = Path(folder)
        cfg = (config_files or {}).get(name, "<cohort config>")
        make = f"run the cohort first: snakemake --configfile {cfg} (or stratify run --config {cfg})"
        if not folder.is_dir():
            raise InputError(f"{folder}: results folder of cohort {name} not found; {make}")
        for stage, rel in NEEDED.items():
            if not (folder / rel).is_file():
                raise InputError(f"{folder / rel}: cohort {name}'s {stage} stage has not run; {make}")


def _json_safe(obj: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python, recursively (summary.json is strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def max_abs_difference(a: Any, b: Any) -> float:
    """The largest absolute difference between the numbers of two nested documents of the same
    shape (pooled from bundles and from raw data); inf when their shapes differ.

    >>> max_abs_difference({"x": [1.0, 2.0], "s": "a"}, {"x": [1.0, 2.5], "s": "a"})
    0.5
    >>> max_abs_difference({"x": [1.0], "s": "a"}, {"x": [1.0], "s": "b"})  # a label differs
    inf
    """
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return math.inf
        return max([max_abs_difference(a[k], b[k]) for k in a if k != "source"], default=0.0)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return math.inf
        return max([max_abs_difference(x, y) for x, y in zip(a, b, strict=True)], default=0.0)
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        if math.isnan(a) and math.isnan(b):
            return 0.0
        return abs(float(a) - float(b))
    return 0.0 if a == b or (a is None and b is None) else math.inf


def _replication_rows(pairs: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (cohort A, cohort B, cluster of A); a pair that could not be tested is one
    row with its reason and no cluster."""
    rows = []
    for p in pairs:
        head = {k: p.get(k) for k in REPLICATION_COLUMNS[:8]}
        rows += [{**head, **c} for c in p.get("clusters") or []] or [head]
    return pd.DataFrame(rows).reindex(columns=REPLICATION_COLUMNS)


def _replication(cohorts: Mapping[str, Path], out: Path, *, external: Mapping[str, Any]) -> dict[str, Any]:
    """replication.tsv, verdicts.tsv and subtype_overview.tsv; the headline verdicts. Pairs with a
    bundle-only cohort (``external``) are verdicts "not testable" (stratify.consortium.external)."""
    log.info("replication: carrying each cohort's clustering to every other cohort")
    subs = [read_cohort_subtypes(n, p) for n, p in cohorts.items()]
    pairs, verdicts = replicate_all(subs)
    if external:
        extra = bundle_verdicts(cohorts, external)
        verdicts = pd.concat([verdicts, extra], ignore_index=True) if len(extra) else verdicts
    overview = subtype_overview(verdicts)
    write_tsv(_replication_rows(pairs), out / FILES["replication"])
    write_tsv(verdicts, out / FILES["verdicts"])
    write_tsv(overview, out / FILES["overview"])
    counts = verdicts["verdict"].value_counts().to_dict() if len(verdicts) else {}
    log.info("replication: %d pairs, verdicts %s", len(pairs), counts or "none (no named subtypes)")
    return {
        "verdicts": counts,
        "subtypes": overview.to_dict("records"),
        "claimed_only_in_one_cohort": [
            f"{r['subtype']} ({r['cohort']})" for r in overview.to_dict("records") if r["claimed_only_here"]
        ],
    }


def _bundles(cohorts: Mapping[str, Path], out: Path, *, min_cell: int) -> list[dict[str, Any]]:
    """Write each cohort's site bundle and read it back (what a site would send)."""
    log.info("site bundles (cells under %d patients suppressed)", min_cell)
    paths = [
        write_bundle(summarise(p, min_cell=min_cell, cohort=n), out / "bundles" / f"{n}.json")
        for n, p in cohorts.items()
    ]
    return [read_bundle(p) for p in paths]


def _profile_matches(bundles: list[dict[str, Any]], out: Path) -> int:
    frames = []
    for a in bundles:
        for b in bundles:
            if a is not b:
                m = profile_match(a, b)
                m.insert(0, "cohort_b", b["cohort"])
                m.insert(0, "cohort_a", a["cohort"])
                frames.append(m)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=MATCH_COLUMNS)
    write_tsv(table.reindex(columns=MATCH_COLUMNS), out / FILES["profile_matches"])
    return len(table)


def _interval(r: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not r:
        return None
    return {k: r[k] for k in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}


def _pooled_headline(pooled: Mapping[str, Any]) -> dict[str, Any]:
    """Per pooled quantity: k and the back-transformed estimate with its intervals."""
    return {
        "response": {s: {"k": p["k"], "rate": _interval(p.get("rate"))} for s, p in pooled["response"].items()},
        "auc": {"k": pooled["auc"]["k"], "auc": _interval(pooled["auc"].get("rate"))},
        "variance_ratio": {
            "k": pooled["variance_ratio"]["k"],
            "ratio": _interval(pooled["variance_ratio"].get("ratio")),
        },
    }


def _pooling(
    cohorts: Mapping[str, Path], bundles: list[dict[str, Any]], out: Path, *, min_cell: int, external: list[dict]
) -> dict[str, Any]:
    """pooled.json (from the bundles, the bundle-only cohorts' too), pooled_raw.json (from the
    patients of the other cohorts) and the forest plots. The two are compared on the cohorts with
    patients: their bundles pooled alone must equal their patients pooled."""
    log.info("pooling: random-effects (REML) from the bundles and from the patient-level data")
    own, raw = _json_safe(pool_bundles(bundles)), _json_safe(pool_raw(cohorts, min_cell=min_cell))
    diff = max_abs_difference(own, raw)
    log.info("pooling: largest absolute difference bundles vs patient-level data %.3g", diff)
    pooled = _json_safe(pool_bundles([*bundles, *external])) if external else own
    note = (
        f"pooled from the bundles of every cohort ({len(bundles) + len(external)}); max_abs_difference_from_raw "
        f"compares the {len(bundles)} cohorts with patients, pooled from their bundles and from their patients"
    )
    dump_json({**pooled, "max_abs_difference_from_raw": diff, "note": note}, out / FILES["pooled"])
    dump_json(raw, out / FILES["pooled_raw"])
    plots = out / "plots"
    if any(p["k"] for p in pooled["response"].values()):
        panels = {f"response rate: {s}": p for s, p in pooled["response"].items()}
        forest_png(panels, plots / "forest_response.png", xlabel="response rate", count="n_with_endpoint")
    else:
        not_drawn_png(plots / "forest_response.png", "no cohort's response counts could be pooled")
    if pooled["auc"]["k"]:
        forest_png(
            {"response model AUC (out-of-fold, DeLong SE)": pooled["auc"]},
            plots / "forest_auc.png",
            xlabel="AUC",
            reference=0.5,
        )
    else:
        not_drawn_png(plots / "forest_auc.png", "no cohort has an AUC to pool (binary endpoint, unsuppressed)")
    vr_note = None
    if pooled["variance_ratio"]["k"]:
        vr_forest_png(pooled["variance_ratio"], plots / "forest_variance_ratio.png")
    else:
        vr_note = "no two-arm cohort with variance ratios to pool"
        not_drawn_png(plots / "forest_variance_ratio.png", vr_note)
    return {"max_abs_difference_from_raw": diff, "headline": _pooled_headline(pooled), "variance_ratio_plot": vr_note}


def _transport_headline(cells: pd.DataFrame) -> dict[str, Any]:
    ext = cells[(cells["kind"] == "external") & cells["run"].astype(bool)]
    if ext.empty:
        return {"n_external_scored": 0}
    lo, hi = ext["auc_ci_low"].astype(float), ext["auc_ci_high"].astype(float)
    chance = ext[(lo <= 0.5) & (hi >= 0.5)]
    return {
        "n_external_scored": int(len(ext)),
        "external_auc_min": float(ext["auc"].min()),
        "external_auc_max": float(ext["auc"].max()),
        "cells_including_0_5": [f"{a} -> {b}" for a, b in zip(chance["train"], chance["test"], strict=True)],
        "models_not_beating_chance_in_own_cohort": sorted(
            set(ext.loc[ext["train_beats_chance"].map(lambda v: v is False or v == "False"), "train"])
        ),
    }


def _transport(cohorts: Mapping[str, Path], out: Path, *, n_boot: int, seed: int) -> dict[str, Any]:
    log.info("transport: each cohort's model on every cohort (%d bootstrap replicates)", n_boot)
    cells = transport_matrix(cohorts, n_boot=n_boot, seed=seed)
    write_tsv(cells, out / FILES["transport"])
    transport_png(cells, out / PLOTS["transport_matrix"])
    head = _transport_headline(cells)
    log.info("transport: %s", head)
    return head


def _loco(
    cohorts: Mapping[str, Path], out: Path, *, config: Mapping[str, Any], first: str, n_boot: int, seed: int
) -> dict[str, Any]:
    if len(cohorts) < 3:
        write_tsv(pd.DataFrame(columns=[*CELL_COLUMNS, "features"]), out / FILES["loco"])
        return {"run": False, "reason": f"leave-one-cohort-out needs at least three cohorts, there are {len(cohorts)}"}
    log.info("leave-one-cohort-out: %d pooled fits with the model options of %s", len(cohorts), first)
    loco = leave_one_cohort_out(cohorts, options=model_options(dict(config)), n_boot=n_boot, seed=seed)
    write_tsv(loco, out / FILES["loco"])
    return {"run": True, "reason": "", "model_options_from": f"the first cohort's config ({first}): its model settings"}


def _external(name: str, cohorts: Mapping[str, Any], bundles: Mapping[str, str | Path]) -> dict[str, dict]:
    """The site bundles of the bundle-only cohorts, read; their names must not be the cohorts'."""
    if clash := sorted(set(cohorts) & set(bundles)):
        raise InputError(
            f"consortium {name}: cohort(s) {', '.join(clash)} given both as a results folder and as a site bundle"
        )
    docs = {}
    for n, path in bundles.items():
        doc = read_bundle(path)
        if doc["cohort"] != n:
            raise InputError(f"{path}: the site bundle is of cohort {doc['cohort']!r}, listed as {n!r}")
        if not doc.get("endpoint"):
            log.warning("%s: the site bundle does not say its endpoint; it is pooled unchecked", path)
        docs[n] = doc
    return docs


def _bundle_only_note(external: Mapping[str, Any], analysis: str) -> dict[str, str]:
    """The note of an analysis that needs patients, on the bundle-only cohorts it leaves out."""
    if not external:
        return {}
    return {"not_testable": f"{', '.join(external)}: site bundle only; {analysis} needs the cohort's patients"}


def _skip_common_endpoint(out: Path, why: str) -> dict[str, dict[str, Any]]:
    """The files of the analyses that need one endpoint, written empty, and why."""
    log.warning("transport, leave-one-cohort-out and pooling skipped: %s", why)
    write_tsv(pd.DataFrame(columns=CELL_COLUMNS), out / FILES["transport"])
    write_tsv(pd.DataFrame(columns=[*CELL_COLUMNS, "features"]), out / FILES["loco"])
    for key in ("pooled", "pooled_raw"):
        dump_json({"skipped": True, "reason": why}, out / FILES[key])
    for key in ("transport_matrix", "forest_response", "forest_auc", "forest_variance_ratio"):
        not_drawn_png(out / PLOTS[key], "the cohorts do not share one endpoint (summary.json)")
    return {a: {"run": False, "reason": why} for a in ("transport", "leave_one_cohort_out", "pooling")}


def run_consortium_folders(
    name: str,
    cohorts: Mapping[str, str | Path],
    configs: Mapping[str, Mapping[str, Any]],
    *,
    out: str | Path,
    min_cell: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
    config_files: Mapping[str, str | Path] | None = None,
    bundles: Mapping[str, str | Path] | None = None,
) -> dict[str, Any]:
    """The consortium stage on explicit folders (module docstring for what it writes).

    Parameters
    ----------
    name : str
        The consortium's name.
    cohorts : mapping
        cohort name -> its results folder (``results/<cohort>``), in the consortium's order.
    configs : mapping
        cohort name -> its validated config (:func:`stratify.config.load_config`); the first
        cohort's ``model`` settings fit the leave-one-cohort-out models.
    out : path
        The consortium's folder (``results/consortium/<name>``).
    min_cell : int
        Site bundles suppress cells counting fewer patients.
    n_boot, seed
        The bootstrap of the transport and leave-one-cohort-out intervals.
    config_files : mapping, optional
        cohort name -> its config file, shown in cohorts.tsv and in error messages.
    bundles : mapping, optional
        cohort name -> the site bundle of a cohort that shared aggregates only
        (``consortium.bundles``; :mod:`stratify.consortium.external`): it joins the pooled
        estimates and the profile comparison and is "not testable" for replication and transport.

    Returns
    -------
    dict
        The summary written to ``summary.json``.
    """
    external = _external(name, cohorts, bundles or {})
    if not cohorts or len(cohorts) + len(external) < 2:
        raise InputError(
            f"consortium {name}: a consortium compares at least two cohorts, at least one with its results folder; "
            f"got {len(cohorts)} results folder(s) and {len(external)} site bundle(s)"
        )
    check_folders(cohorts, config_files=config_files)
    if missing := [n for n in cohorts if n not in configs]:
        raise InputError(f"consortium {name}: no validated config for cohort(s) {', '.join(missing)}")
    folders = {n: Path(p) for n, p in cohorts.items()}
    out = Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    log.info("consortium %s: %d cohorts (%s) -> %s", name, len(folders), ", ".join(folders), out)
    cohort_rows = cohort_table(folders, config_files=config_files)
    if external:
        cohort_rows = pd.concat([cohort_rows, bundle_cohort_rows(external, bundles or {})], ignore_index=True)
    write_tsv(cohort_rows, out / FILES["cohorts"])
    write_tsv(harmonisation_table(folders), out / FILES["harmonisation"])
    endpoints = {
        n: dict(read_json(p / "clinical" / "summary.json", "clinical summary")["endpoint"]) for n, p in folders.items()
    }
    endpoints |= {n: b["endpoint"] for n, b in external.items() if b.get("endpoint")}
    analyses: dict[str, dict[str, Any]] = {}
    headline: dict[str, Any] = {}
    headline["replication"] = _replication(folders, out, external=external)
    analyses["replication"] = {"run": True, "reason": "", **_bundle_only_note(external, "replication")}
    own = _bundles(folders, out, min_cell=min_cell)
    analyses["profile_matches"] = {"run": True, "reason": "", "rows": _profile_matches([*own, *external.values()], out)}
    why = common_endpoint(endpoints)
    if why:
        analyses |= _skip_common_endpoint(out, why)
    else:
        headline["transport"] = _transport(folders, out, n_boot=n_boot, seed=seed)
        analyses["transport"] = {"run": True, "reason": "", **_bundle_only_note(external, "transport")}
        first = next(iter(folders))
        analyses["leave_one_cohort_out"] = _loco(
            folders, out, config=configs[first], first=first, n_boot=n_boot, seed=seed
        )
        pool = _pooling(folders, own, out, min_cell=min_cell, external=list(external.values()))
        analyses["pooling"] = {
            "run": True,
            "reason": "",
            "max_abs_difference_from_raw": pool["max_abs_difference_from_raw"],
        }
        headline["pooled"] = pool["headline"]
        if pool["variance_ratio_plot"]:
            analyses["forest_variance_ratio"] = {"run": False, "reason": pool["variance_ratio_plot"]}
    summary = {
        "name": name,
        "cohorts": list(folders),
        "bundle_only_cohorts": {n: str(p) for n, p in (bundles or {}).items()},
        "min_cell": int(min_cell),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "endpoints": {n: endpoint_text(e) for n, e in endpoints.items()},
        "common_endpoint": why is None,
        "analyses": analyses,
        "skipped": {a: r["reason"] for a, r in analyses.items() if not r["run"]},
        "headline": headline,
        "files": sorted(
            str(p.relative_to(out))
            for p in out.rglob("*")
            if p.is_file() and p.name != "report.html" and p != out / FILES["summary"]
        )
        + [FILES["summary"]],
    }
    dump_json(_json_safe(summary), out / FILES["summary"])
    log.info("consortium %s done: %s", name, out)
    return summary


def run_consortium(
    consortium: Consortium,
    *,
    results_root: str | Path = "results",
    out: str | Path | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`run_consortium_folders` on a validated consortium config: each cohort's results in
    ``<results_root>/<cohort>`` (:attr:`ConsortiumCohort.results` under ``results_root``), the
    consortium's in ``out`` (default ``<results_root>/consortium/<name>``)."""
    root = Path(results_root)
    return run_consortium_folders(
        consortium.name,
        {c.name: root / c.name for c in consortium.cohorts},
        {c.name: c.config for c in consortium.cohorts},
        out=Path(out) if out is not None else root / RESERVED / consortium.name,
        min_cell=consortium.min_cell,
        n_boot=n_boot,
        seed=seed,
        config_files={c.name: c.source for c in consortium.cohorts},
        bundles=dict(consortium.bundles),
    )


def _read_tsv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep="\t", keep_default_na=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise InputError(f"{path}: cannot read the consortium table ({e}); run stratify consortium again") from None


def load_consortium_results(folder: str | Path) -> dict[str, Any]:
    """A consortium folder read back for the report: ``name``, ``summary``, ``cohorts``,
    ``harmonisation``, ``transport``, ``loco``, ``replication``, ``verdicts``, ``overview``,
    ``profile_matches`` (DataFrames), ``pooled``, ``pooled_raw`` (dicts) and ``plots``
    (name -> path of each figure that exists)."""
    folder = Path(folder)
    summary = read_json(folder / FILES["summary"], "consortium summary (stratify consortium writes it)")
    parts: dict[str, Any] = {"name": summary.get("name", folder.name), "summary": summary}
    for key in ("cohorts", "harmonisation", "transport", "loco", "replication", "verdicts", "overview"):
        parts[key] = _read_tsv(folder / FILES[key])
    parts["profile_matches"] = _read_tsv(folder / FILES["profile_matches"])
    for key in ("pooled", "pooled_raw"):
        parts[key] = read_json(folder / FILES[key], f"consortium {key.replace('_', ' ')} estimates")
    parts["plots"] = {k: folder / rel for k, rel in PLOTS.items() if (folder / rel).is_file()}
    return parts


def write_report(folder: str | Path) -> Path | None:
    """Draw ``report.html`` in a consortium folder with the consortium report renderer
    (``stratify.report.consortium.render_consortium_report``), imported here so that the stage
    runs without it; None (and a log line saying so) where this version has no renderer."""
    folder = Path(folder)
    try:
        from stratify.report.consortium import render_consortium_report
    except ModuleNotFoundError as e:
        if e.name != "stratify.report.consortium":
            raise
        log.info("the consortium report renderer is not installed in this version; %s/report.html not written", folder)
        return None
    path = render_consortium_report(load_consortium_results(folder), out=folder / "report.html")
    log.info("consortium report: %s", path)
    return Path(path)
