"""The consortium stage's descriptive tables: what each cohort is, has and lacks, and how its
endpoint was reached (``cohorts.tsv``, ``harmonisation.tsv``), and whether all cohorts' endpoints
end on one metric (:func:`common_endpoint`).

Everything here reads a cohort's results folder (``results/<cohort>``, after the heterogeneity
stage) and the cohort's validated config; nothing is computed from patients beyond counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from stratify.consortium.replication import NOT_NAMES
from stratify.errors import InputError
from stratify.io.tables import read_table

__all__ = ["COHORT_COLUMNS", "HARMONISATION_COLUMNS", "cohort_table", "common_endpoint", "harmonisation_table"]

COHORT_COLUMNS = [
    "cohort",
    "config",
    "n_patients",
    "n_with_endpoint",
    "sites",
    "instruments",
    "endpoint",
    "endpoint_converted",
    "has_genotypes",
    "has_star_alleles",
    "has_biomarkers",
    "two_arm",
    "subtypes_claimed",
    "n_subtypes",
    "subtype_names",
    "model_auc",
    "lacks",
]
HARMONISATION_COLUMNS = ["cohort", "from_instrument", "to_instrument", "n_patients", "table"]
#: the inputs a cohort may lack, in plain words (cohorts.tsv ``lacks``)
INPUT_WORDS = {"has_genotypes": "genotypes", "has_star_alleles": "star-allele calls", "has_biomarkers": "biomarkers"}
#: model features in plain words where the name is not one
FEATURE_WORDS = {"log_crp": "CRP", "sex_female": "sex", "cyp2c19_rank": "CYP2C19 phenotype"}
FEATURE_WORDS |= {"cyp2d6_activity_score": "CYP2D6 activity score"}


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A stage's JSON file, or an InputError naming it and the stage that writes it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: cannot read the {what} ({e})") from None


def endpoint_text(endpoint: Mapping[str, Any]) -> str:
    """``response on HAMD17 at week 8`` (the endpoint of a config or a clinical summary).

    >>> endpoint_text({"kind": "response", "instrument": "HAMD17", "week": 8})
    'response on HAMD17 at week 8'
    """
    week = endpoint.get("week")
    at = f" at week {week:g}" if isinstance(week, int | float) else ""
    return f"{endpoint.get('kind', '?')} on {endpoint.get('instrument', '?')}{at}"


def _facts(name: str, results: Path) -> dict[str, Any]:
    """One cohort's facts from its results folder (counts, inputs, summaries)."""
    manifest = read_json(results / "validate" / "manifest.json", f"validate manifest of cohort {name}")
    features = read_table(results / "features" / "features.parquet", kind="features")
    symptoms = read_table(results / "validate" / "symptoms.parquet", kind="input.symptoms")
    biomarkers = read_table(results / "validate" / "biomarkers.parquet", kind="input.biomarkers")
    het_path = results / "heterogeneity" / "summary.json"
    het = read_json(het_path, "heterogeneity summary") if het_path.exists() else {}
    metrics = read_json(results / "model" / "metrics.json", f"model metrics of cohort {name}")
    skipped = manifest.get("skipped") or {}
    return {
        "features": features,
        "feature_summary": read_json(results / "features" / "summary.json", f"features summary of cohort {name}"),
        "clinical": read_json(results / "clinical" / "summary.json", f"clinical summary of cohort {name}"),
        "subtype": read_json(results / "subtype" / "summary.json", f"subtype summary of cohort {name}"),
        "instruments": sorted(symptoms["instrument"].dropna().astype(str).unique()),
        "has_genotypes": "genotypes" not in skipped,
        "has_star_alleles": "star_alleles" not in skipped,
        "has_biomarkers": bool(len(biomarkers)),
        "two_arm": bool(het.get("run")),
        "model_auc": ((metrics.get("metrics") or {}).get("selected") or {}).get("auc"),
    }


def _lacks(name: str, facts: Mapping[str, Mapping[str, Any]]) -> str:
    """The inputs and model features the other cohorts have and this one lacks, in plain words."""
    mine = facts[name]
    words = [w for k, w in INPUT_WORDS.items() if not mine[k] and any(f[k] for n, f in facts.items() if n != name)]
    have = set(mine["feature_summary"].get("model_features") or [])
    others: list[str] = []
    genetic: set[str] = set()  # said once as "genotypes" when the cohort has none
    for n, f in facts.items():
        if n != name:
            others += [x for x in f["feature_summary"].get("model_features") or [] if x not in others]
            genetic |= set((f["feature_summary"].get("feature_groups") or {}).get("genetic") or [])
    for feat in others:
        if feat in have or ("genotypes" in words and feat in genetic):
            continue
        word = FEATURE_WORDS.get(feat, feat)
        if word not in words:
            words.append(word)
    return "; ".join(words)


def _converted(clinical: Mapping[str, Any], to: str) -> str:
    """``QIDS_SR16 -> HAMD17: 1000 patients`` per converted instrument ("" when none)."""
    conv = clinical.get("endpoint_converted") or {}
    return "; ".join(f"{src} -> {to}: {n} patients" for src, n in conv.items())


def _names(subtype: Mapping[str, Any]) -> list[str]:
    return [s for s in (subtype.get("names") or {}).values() if s not in NOT_NAMES]


def _shown_path(path: str | Path) -> str:
    """A config file as the table shows it: relative to the working folder when inside it."""
    if not path:
        return ""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def cohort_table(
    cohorts: Mapping[str, str | Path], *, config_files: Mapping[str, str | Path] | None = None
) -> pd.DataFrame:
    """One row per cohort (``cohorts``: name -> results folder), columns :data:`COHORT_COLUMNS`.

    ``lacks`` lists every input (genotypes, star-allele calls, biomarkers) and every model feature
    (features/summary.json ``model_features``) that another cohort has and this one does not.
    """
    facts = {n: _facts(n, Path(p)) for n, p in cohorts.items()}
    rows = []
    for name, f in facts.items():
        ep = f["clinical"].get("endpoint") or f["feature_summary"].get("endpoint") or {}
        rows.append(
            {
                "cohort": name,
                "config": _shown_path((config_files or {}).get(name, "")),
                "n_patients": int(len(f["features"])),
                "n_with_endpoint": int(f["features"]["y"].notna().sum()),
                "sites": ";".join(sorted(f["features"]["site"].dropna().astype(str).unique())),
                "instruments": ";".join(f["instruments"]),
                "endpoint": endpoint_text(ep),
                "endpoint_converted": _converted(f["clinical"], str(ep.get("instrument", "?"))),
                **{k: f[k] for k in ("has_genotypes", "has_star_alleles", "has_biomarkers", "two_arm")},
                "subtypes_claimed": bool(f["subtype"].get("claimed")),
                "n_subtypes": int(f["subtype"].get("n_clusters") or 0) if f["subtype"].get("claimed") else 0,
                "subtype_names": ";".join(_names(f["subtype"])),
                "model_auc": f["model_auc"],
                "lacks": _lacks(name, facts),
            }
        )
    return pd.DataFrame(rows, columns=COHORT_COLUMNS)


def harmonisation_table(cohorts: Mapping[str, str | Path]) -> pd.DataFrame:
    """One row per (cohort, conversion of the endpoint instrument) and one per cohort for the
    patients whose endpoint is on the instrument itself (from == to; left out when every patient's
    endpoint was converted), with the linking table
    (the clinical stage's ``endpoint_conversion_source``: a resources/harmonisation file or the
    user's link). Counts are of patients with the endpoint."""
    rows = []
    for name, results in cohorts.items():
        results = Path(results)
        clinical = read_json(results / "clinical" / "summary.json", f"clinical summary of cohort {name}")
        to = str((clinical.get("endpoint") or {}).get("instrument", "?"))
        f = read_table(results / "features" / "features.parquet", kind="features")
        f = f[f["y"].notna()]
        src = f.get("endpoint_converted_from", pd.Series("", index=f.index)).fillna("").astype(str)
        table = f.get("endpoint_conversion_source", pd.Series("", index=f.index)).fillna("").astype(str)
        native = int((src == "").sum())
        if native or not (src != "").any():  # the native row, unless every patient was converted
            rows.append({"cohort": name, "from_instrument": to, "to_instrument": to, "n_patients": native, "table": ""})
        for (inst, tab), g in f[src != ""].groupby([src[src != ""], table[src != ""]]):
            rows.append(
                {"cohort": name, "from_instrument": inst, "to_instrument": to, "n_patients": len(g), "table": tab}
            )
    return pd.DataFrame(rows, columns=HARMONISATION_COLUMNS)


def common_endpoint(endpoints: Mapping[str, Mapping[str, Any]]) -> str | None:
    """None when every cohort's endpoint (after conversion: the config's ``endpoint``) is one
    metric, the same instrument, kind and week; otherwise why not, naming the cohorts.

    >>> common_endpoint({"a": {"kind": "response", "instrument": "HAMD17", "week": 8},
    ...                  "b": {"kind": "response", "instrument": "MADRS", "week": 8}})  # doctest: +ELLIPSIS
    'the cohorts do not share one endpoint: a: response on HAMD17 at week 8; b: response on MADRS at week 8; ...'
    """
    keys = {n: (e.get("instrument"), e.get("kind"), e.get("week")) for n, e in endpoints.items()}
    if len(set(keys.values())) <= 1:
        return None
    listed = "; ".join(f"{n}: {endpoint_text(e)}" for n, e in endpoints.items())
    return (
        f"the cohorts do not share one endpoint: {listed}; set the same endpoint (kind, instrument, week) in every "
        "cohort config, and where a cohort measured another instrument convert it with clinical.harmonise.from "
        "(docs/inputs.md)"
    )
