"""Cohorts that joined a consortium with a site bundle only (``consortium.bundles``).

A site that may not share patient rows sends its site bundle (``stratify summarise``;
:mod:`stratify.consortium.bundle`): aggregates only. Such a cohort joins what aggregates allow,
the pooled estimates and the profile comparison (:mod:`stratify.consortium.pooling`), and is
reported as *not testable* wherever patients are needed: subtype replication (another cohort's
clustering must label its patients, and its own fitted clustering is not in the bundle) and
transport (another cohort's model must predict its patients). This module gives those cohorts
their rows in ``cohorts.tsv`` and ``verdicts.tsv``, from the bundle alone, so that nothing a
consortium lists disappears from its results.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from stratify.consortium.replication import NOT_NAMES, read_cohort_subtypes
from stratify.consortium.tables import COHORT_COLUMNS, endpoint_text

__all__ = ["BUNDLE_ONLY", "bundle_cohort_rows", "bundle_named_subtypes", "bundle_verdicts"]

#: cohorts.tsv ``lacks`` of a cohort known from its bundle only
BUNDLE_ONLY = "patient-level data (site bundle only)"
VERDICT_COLUMNS = ["cohort_a", "cohort_b", "subtype", "cluster_a", "verdict", "why"]
VERDICT_COLUMNS += ["adjusted_rand", "prediction_strength"]


def bundle_named_subtypes(bundle: Mapping[str, Any]) -> dict[int, str]:
    """The named subtypes of a bundle's cohort by cluster: only when it claimed subtypes, and
    only the clusters whose profile the bundle shows (suppressed ones carry no name)."""
    subs = bundle.get("subtypes") or {}
    if not subs.get("claimed"):
        return {}
    return {
        int(p["cluster"]): str(p["subtype"])
        for p in subs.get("profiles") or []
        if not p.get("suppressed") and p.get("subtype") not in NOT_NAMES and p.get("subtype") is not None
    }


def bundle_cohort_rows(bundles: Mapping[str, Mapping[str, Any]], paths: Mapping[str, str | Path]) -> pd.DataFrame:
    """One ``cohorts.tsv`` row per bundle-only cohort, with what its bundle says (counts,
    endpoint, subtypes, the model's cross-validated AUC); what only patient rows show (sites,
    instruments, inputs) is left empty and ``lacks`` says why."""
    rows = []
    for name, b in bundles.items():
        counts = b.get("counts") or {}
        named = bundle_named_subtypes(b)
        subs = b.get("subtypes") or {}
        rows.append(
            {
                "cohort": name,
                "config": str(paths[name]),
                "n_patients": counts.get("n"),
                "n_with_endpoint": counts.get("n_with_endpoint"),
                "endpoint": endpoint_text(b["endpoint"]) if b.get("endpoint") else "not in the bundle",
                "two_arm": bool((b.get("variance_ratio") or {}).get("available")),
                "subtypes_claimed": bool(subs.get("claimed")),
                "n_subtypes": int(subs.get("n_clusters") or 0) if subs.get("claimed") else 0,
                "subtype_names": ";".join(sorted(set(named.values()))),
                "model_auc": (b.get("model") or {}).get("auc_cv"),
                "lacks": BUNDLE_ONLY,
            }
        )
    return pd.DataFrame(rows).reindex(columns=COHORT_COLUMNS)


def _raw_named(cohorts: Mapping[str, Path]) -> dict[str, dict[int, str]]:
    """Each cohort's named subtypes by cluster (claimed solutions only), from its results."""
    out = {}
    for name, folder in cohorts.items():
        c = read_cohort_subtypes(name, folder)
        claimed = bool(c.summary.get("claimed"))
        subtypes = (c.model.get("subtypes") or {}).items() if claimed else ()
        out[name] = {int(k): s for k, s in subtypes if s not in NOT_NAMES}
    return out


def bundle_verdicts(cohorts: Mapping[str, Path], bundles: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """``not testable`` verdicts for every pair that involves a bundle-only cohort: each named
    subtype of a cohort with patients, carried to a bundle-only cohort (replication needs that
    cohort's patients), and each named subtype of a bundle-only cohort, carried anywhere (its
    fitted clustering is not in its bundle)."""
    named = _raw_named(cohorts) | {n: bundle_named_subtypes(b) for n, b in bundles.items()}
    rows = []
    for a, subtypes in named.items():
        for b in [*cohorts, *bundles]:
            if b == a or (a in cohorts and b in cohorts):
                continue  # pairs of cohorts with patients are tested (stratify.consortium.replication)
            why = (
                f"{b} shared a site bundle only: replication needs its patients"
                if b in bundles
                else f"{a} shared a site bundle only: its fitted clustering (subtype/model.json) is not in it"
            )
            if a in bundles and b in bundles:
                why = f"{a} and {b} shared site bundles only: replication needs a fitted clustering and patients"
            rows += [
                {"cohort_a": a, "cohort_b": b, "subtype": s, "cluster_a": k, "verdict": "not testable", "why": why}
                for k, s in subtypes.items()
            ]
    return pd.DataFrame(rows).reindex(columns=VERDICT_COLUMNS)
