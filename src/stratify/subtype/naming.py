"""Names for stable clusters, by explicit rules on their standardised mean profile.

The rules ship in resources/subtypes.yaml (sources in resources/SOURCES.md); a study adds or
replaces rules by name under ``subtype.naming``. Only stable clusters of a tested solution
are named (:func:`stratify.subtype.subtyping.run_subtyping` decides which).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from stratify.io.resources import load_resource

__all__ = ["Rules", "name_clusters", "naming_rules"]

#: name -> list of conditions (features, min); the features of one condition are alternatives
Rules = dict[str, list[tuple[tuple[str, ...], float]]]


def naming_rules(overrides: Mapping[str, Any] | None = None) -> Rules:
    """Rules from resources/subtypes.yaml updated by ``overrides`` (the config's ``subtype.naming``).

    Returns name -> list of (features, min); the features of one condition are alternatives
    ("any of"). An override replaces the shipped rule of the same name or adds one after them.

    Examples
    --------
    >>> list(naming_rules())
    ['immune-metabolic', 'anhedonic', 'cognitive', 'anxious']
    >>> naming_rules({"high-x": [{"features": ["x"], "min": 1}]})["high-x"]
    [(('x',), 1.0)]
    """
    raw = {**load_resource("subtypes.yaml"), **(overrides or {})}
    return {name: [(tuple(c["features"]), float(c["min"])) for c in conds] for name, conds in raw.items()}


def name_clusters(
    profile: pd.DataFrame, *, rules: Rules | None = None, lower: pd.DataFrame | None = None
) -> dict[int, str]:
    """Apply naming rules to a (cluster x feature) table of standardised means.

    A condition ``(features, min)`` holds when any of its features has a mean >= ``min``
    and, where ``lower`` (the 95% interval's lower bounds) is given, a lower bound above 0.
    A name is given to one cluster at most (the first that matches, in table order).

    Examples
    --------
    >>> prof = pd.DataFrame({"inflammatory_index": [1.2, -0.3], "aes": [0.9, -0.2], "anhedonia": [0.1, 0.7]})
    >>> name_clusters(prof)
    {0: 'immune-metabolic', 1: 'anhedonic'}
    """
    rules = naming_rules() if rules is None else rules
    names: dict[int, str] = {}
    for k, row in profile.iterrows():
        for name, conds in rules.items():
            ok = True
            for feats, thr in conds:
                vals = [f for f in feats if f in row.index and row[f] >= thr and (lower is None or lower.loc[k, f] > 0)]
                if not vals:
                    ok = False
                    break
            if ok and name not in names.values():
                names[int(k)] = name
                break
    return names
