"""The endpoint by subtype: a descriptive table with Wilson intervals."""

from __future__ import annotations

from typing import Any

import pandas as pd

from stratify.plots import wilson


def outcome_by_subtype(assignments: pd.DataFrame, features: pd.DataFrame) -> list[dict[str, Any]]:
    """Per cluster: its subtype name, patients, patients with the endpoint, the endpoint rate and
    its Wilson 95% interval (``features``: patient_id and the endpoint ``y``)."""
    m = assignments.merge(features[["patient_id", "y"]], on="patient_id")
    rows = []
    for (c, s), g in m.groupby(["cluster", "subtype"]):
        yy = g["y"].dropna()
        lo, hi = wilson(int(yy.sum()), len(yy))
        rows.append(
            {
                "cluster": int(c),
                "subtype": s,
                "n": int(len(g)),
                "n_with_endpoint": int(len(yy)),
                "endpoint_rate": float(yy.mean()) if len(yy) else None,
                "ci": [lo, hi],
            }
        )
    return rows
