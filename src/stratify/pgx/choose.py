"""One call per patient and gene when several tools called it.

Used by the pgx stage (the drug guidance) and by the features stage (:func:`stratify.features.table.pgx_features`),
so both use the same call.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["SOURCE_ORDER", "best_call_per_gene"]

# Source preference when a gene has calls from several tools: a dedicated caller first.
# Copy-number-aware CYP2D6 callers first, then PharmCAT (its CYP2D6 is an outside call), the
# plain table, and stratify's own VCF call last.
SOURCE_ORDER = [
    "cyrius",
    "aldy",
    "stellarpgx",
    "pypgx",
    "pharmcat_outside",
    "pharmcat_report",
    "pharmcat_phenotype",
    "plain",
    "stratify-vcf",
]


def best_call_per_gene(calls: pd.DataFrame) -> pd.DataFrame:
    """One call per patient and gene when several sources called it.

    A usable call (a phenotype other than Indeterminate) from any source beats a no-call or
    an Indeterminate call from the preferred one; among usable calls the order is
    :data:`SOURCE_ORDER` (a dedicated caller first), unknown tools last.
    """
    c = calls.copy()
    order = c["source_tool"].map({s: i for i, s in enumerate(SOURCE_ORDER)}).fillna(len(SOURCE_ORDER))
    status = c["status"] if "status" in c else pd.Series("called", index=c.index)
    nocall = (status == "no-call") | c["phenotype"].fillna("").isin(["", "Indeterminate"])
    c = c.assign(_nocall=nocall, _order=order)
    c = c.sort_values(["patient_id", "gene", "_nocall", "_order"], kind="stable")
    return c.drop_duplicates(["patient_id", "gene"]).drop(columns=["_nocall", "_order"])
