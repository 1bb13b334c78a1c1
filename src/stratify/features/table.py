"""Stage "features": one row per patient with every candidate feature and the endpoint.

Joins the clinical table, the PGx calls (one call per gene, see :func:`pgx_features`)
and the genotype principal components. Feature sets named in the config must exist;
a set whose data the cohort lacks (no VCF, no star-allele calls) is reported as
skipped, not filled in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import ConfigError
from stratify.pgx.choose import SOURCE_ORDER, best_call_per_gene  # noqa: F401  (SOURCE_ORDER: re-exported)

log = logging.getLogger(__name__)

# CPIC metabolizer phenotypes as an ordinal of enzyme function (poor = 0 ... ultrarapid = 3).
PHENOTYPE_RANK = {
    "Poor Metabolizer": 0.0,
    "Likely Poor Metabolizer": 0.5,
    "Intermediate Metabolizer": 1.0,
    "Likely Intermediate Metabolizer": 1.5,
    "Normal Metabolizer": 2.0,
    "Rapid Metabolizer": 2.5,
    "Ultrarapid Metabolizer": 3.0,
}
CLINICAL_COLUMNS = [
    "age",
    "sex_female",
    "baseline_severity",
    "anhedonia",
    "aes",
    "anxiety_somatization",
    "n_failed_trials",
    "n_trials_current_episode",
    "index_ssri_snri",
    "index_escitalopram_citalopram",
]
BIOMARKER_COLUMNS = [
    "log_crp",
    "crp_mg_l",
    "inflammatory_index",
    "metabolic_index",
    "immune_metabolic_score",
    "il6",
    "tnf_alpha",
    "bmi",
    "waist",
    "triglycerides",
    "hdl",
    "glucose",
]


def available_features(config: dict[str, Any]) -> set[str]:
    """Names that may appear in the config's feature lists: baseline information only.

    Outcome columns (y, response, remission, pct_change, endpoint_score) are never features.
    """
    known = (
        set(CLINICAL_COLUMNS)
        | set(BIOMARKER_COLUMNS)
        | {"cyp2b6_rank", "cyp2c19_rank", "cyp2d6_rank", "cyp2d6_activity_score", "episode_months"}
    )
    known |= {f"pc{i}" for i in range(1, 21)}
    known |= set(config.get("patient_covariates", []))
    known |= set(config.get("clinical", {}).get("dimensions", {}))
    return known


def is_prs_feature(name: str) -> bool:
    """prs_<score id> and prs_<score id>_avg: polygenic scores from inputs.genotypes.pgs."""
    return bool(re.fullmatch(r"prs_[A-Za-z0-9_]+", name)) and not name.endswith(("_allele_ct", "_missing_fraction"))


def pgx_features(calls: pd.DataFrame) -> pd.DataFrame:
    """Per patient and gene called (CYP2B6, CYP2C19, CYP2D6): ``<gene>_phenotype`` (CPIC text),
    ``<gene>_rank`` (:data:`PHENOTYPE_RANK`) and ``<gene>_source``; ``cyp2d6_activity_score``. Ambiguous calls with an Indeterminate phenotype and no-calls
    give NaN (the model treats it as missing), never a normal metabolizer."""
    if calls.empty:
        return pd.DataFrame(columns=["patient_id"])
    c = best_call_per_gene(calls)
    out = pd.DataFrame({"patient_id": pd.unique(c["patient_id"])}).set_index("patient_id")
    for gene in sorted(c["gene"].unique()):
        g = c[c["gene"] == gene].set_index("patient_id")
        low = gene.lower()
        out[f"{low}_phenotype"] = g["phenotype"].replace("", np.nan)
        out[f"{low}_rank"] = g["phenotype"].map(PHENOTYPE_RANK)
        out[f"{low}_source"] = g["source_tool"]
        if gene == "CYP2D6":
            out["cyp2d6_activity_score"] = g["activity_score"].astype(float)
    return out.reset_index()


# endpoint.definition -> the binary call of stratify.trd.staging.binary_calls
TRD_CALLS = {
    "sforzini_2021": "sforzini_trd",
    "sforzini_pk": "sforzini_pk_trd",
    "thase_rush_1997": "thase_rush_ge_II",
    "msm": "msm_moderate_plus",
    "conway_2017": "conway_ge_1",
    "markowitz_2022": "markowitz",
}
# features that enter a TRD definition's own rule: as predictors of TRD status their importance is
# partly by construction (reported, not removed: they are known before the index treatment)
TRD_DEFINED_BY = {"n_failed_trials", "n_uncertain_failures", "n_trials_current_episode", "trd_2plus_failures"}
TRD_DEFINED_BY_MSM = TRD_DEFINED_BY | {"episode_months", "baseline_severity"}


def endpoint_values(df: pd.DataFrame, endpoint: Mapping[str, Any], trd_after_index: pd.DataFrame | None) -> pd.Series:
    """The outcome ``y`` per row of the clinical table ``df``, as the config's ``endpoint.kind`` asks.

    response, remission and pct_change are clinical columns. trd is the binary call of
    ``endpoint.definition`` once the index trial's outcome is counted (the trd stage's
    ``after_index`` table); a patient who was not TRD before the index trial and has no
    usable endpoint visit has no outcome (NaN), since the index trial could have tipped it.

    Examples
    --------
    >>> clin = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "endpoint_status": ["ok", "missing", "ok"]})
    >>> after = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "sforzini_trd": [True, False, pd.NA]})
    >>> endpoint_values(clin, {"kind": "trd", "definition": "sforzini_2021"}, after).tolist()
    [1.0, nan, nan]
    """
    ep = endpoint
    if ep["kind"] != "trd":
        return df[ep["kind"]].astype(float)
    call = TRD_CALLS[ep.get("definition", "sforzini_2021")]
    if trd_after_index is None or call not in trd_after_index.columns:
        raise ConfigError(
            "endpoint.kind trd needs the trd stage's after_index table (and a treatment history, "
            "inputs.treatments); none was found. Run the trd stage first, or choose another "
            "endpoint.kind"
        )
    m = df[["patient_id"]].merge(trd_after_index[["patient_id", call]], on="patient_id", how="left")
    y = pd.to_numeric(m[call].astype("Float64"), errors="coerce").astype(float)
    unknown = (y == 0) & df["endpoint_status"].ne("ok").to_numpy()
    return pd.Series(np.where(unknown, np.nan, y), index=df.index)


@dataclass(frozen=True)
class FeatureOptions:
    """What the features stage reads from the config (:func:`feature_options`): the endpoint,
    the model's feature groups (``features``), ``subtype.features`` (checked by name only) and
    the names a feature list may use (:func:`available_features`)."""

    endpoint: Mapping[str, Any]
    groups: Mapping[str, list[str]] = field(default_factory=dict)
    subtype_features: tuple[str, ...] = ()
    known: frozenset[str] = frozenset()


def feature_options(config: Mapping[str, Any]) -> FeatureOptions:
    """The features stage's options from a validated config (the one place it reads it).

    >>> o = feature_options({"endpoint": {"kind": "response"}, "features": {"clinical": ["age"]}})
    >>> o.groups, o.subtype_features, "age" in o.known
    ({'clinical': ['age']}, (), True)
    """
    return FeatureOptions(
        endpoint=dict(config["endpoint"]),
        groups={g: list(names) for g, names in config.get("features", {}).items()},
        subtype_features=tuple(config.get("subtype", {}).get("features", [])),
        known=frozenset(available_features(dict(config))),
    )


def build_features(
    clinical: pd.DataFrame,
    *,
    pgx_calls: pd.DataFrame | None,
    pcs: pd.DataFrame | None,
    options: FeatureOptions,
    prs: pd.DataFrame | None = None,
    trd_after_index: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Join the stage outputs into the feature table and resolve the model's feature list.

    Returns the table (patient_id, site, y, every available feature) and a summary with
    ``model_features`` (the configured features that are available), ``skipped`` and, for a
    TRD endpoint, ``endpoint_defined_by`` (model features that enter the definition itself).
    """
    df = clinical.copy()
    if pgx_calls is not None and not pgx_calls.empty:
        df = df.merge(pgx_features(pgx_calls), on="patient_id", how="left")
    if pcs is not None and len(pcs.columns) > 1:
        df = df.merge(pcs, on="patient_id", how="left")
    if prs is not None and len(prs.columns) > 1:
        df = df.merge(prs, on="patient_id", how="left")
    kind = options.endpoint["kind"]
    df["y"] = endpoint_values(df, options.endpoint, trd_after_index).to_numpy()
    known = options.known
    wanted = options.groups
    skipped: dict[str, str] = {}
    model_features: list[str] = []
    sub = options.subtype_features
    for group, names in [*wanted.items(), ("subtype.features", sub)]:
        for name in names:
            if name not in known and not is_prs_feature(name):
                where_ = group if "." in group else f"features.{group}"
                raise ConfigError(
                    f"config {where_}: unknown feature {name!r}; features are: {', '.join(sorted(known))} "
                    "(outcome columns such as response or pct_change are never features)"
                )
            if group == "subtype.features":
                continue
            if name not in df.columns or df[name].isna().all():
                skipped[name] = f"features.{group}: no data in this cohort"
                continue
            model_features.append(name)
    for c in model_features:
        df[c] = pd.to_numeric(df[c], errors="raise").astype(float)
    keep = ["patient_id", "site", "y", "endpoint_status"] + [
        c for c in df.columns if c not in ("patient_id", "site", "y", "endpoint_status")
    ]
    df = df[keep]
    n_missing_y = int(df["y"].isna().sum())
    summary = {
        "n_patients": int(len(df)),
        "model_features": model_features,
        "skipped_features": skipped,
        "endpoint": dict(options.endpoint),
        "n_endpoint_missing": n_missing_y,
        "endpoint_missing_reasons": df.loc[df["y"].isna(), "endpoint_status"].value_counts().to_dict(),
        "feature_groups": {g: [n for n in names if n in model_features] for g, names in wanted.items()},
    }
    if kind == "trd":
        by = TRD_DEFINED_BY_MSM if options.endpoint.get("definition") == "msm" else TRD_DEFINED_BY
        summary["endpoint_defined_by"] = [f for f in model_features if f in by]
    log.info(
        "features: %d patients, %d model features, %d skipped, %d without endpoint",
        len(df),
        len(model_features),
        len(skipped),
        n_missing_y,
    )
    return df, summary
