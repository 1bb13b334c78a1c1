"""How often the definitions agree: each one's yes/no TRD call, and Cohen's kappa for every pair."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from stratify.errors import InputError
from stratify.trd.staging import DEFINITIONS

__all__ = ["BINARY_CALLS", "CONCORDANCE_COLUMNS", "binary_calls", "concordance"]

_ORDER = sorted(DEFINITIONS, key=lambda d: not d.published)  # published first, then our variants
#: The binary TRD call of each definition, from :func:`stratify.trd.staging.stage_all`'s columns.
BINARY_CALLS: dict[str, Callable[[pd.DataFrame], pd.Series]] = {d.call: d.binary for d in _ORDER}
_CALL_COLUMNS = {d.call: list(d.columns) for d in _ORDER}

# columns of concordance() (trd/concordance.tsv), also of the header-only table of a cohort without treatments
CONCORDANCE_COLUMNS = ["a", "b", "n", "both_yes", "both_no", "only_a", "only_b", "agreement", "kappa"]


def binary_calls(staging: pd.DataFrame) -> pd.DataFrame:
    """The six binary TRD calls (nullable boolean) from :func:`stratify.trd.staging.stage_all`'s output.

    Sforzini TRD (and the PK variant): category TRD; "not evaluable" -> NA. Thase-Rush:
    stage >= II. MSM: score >= 7 (moderate or severe); "not staged" (no failed
    antidepressant) -> False; missing inputs -> NA. Conway: stage >= 1. Markowitz: as is.

    Examples
    --------
    >>> s = pd.DataFrame({"patient_id": ["P1"], "sforzini_2021": ["TRD"],
    ...     "thase_rush_1997": [1], "msm_score": [8], "msm_band": ["moderate"],
    ...     "conway_2017": [0], "markowitz_2022": [False], "sforzini_pk": ["not TRD"]})
    >>> print(*binary_calls(s).iloc[0])
    P1 True False True False False False
    """
    missing = sorted({c for cols in _CALL_COLUMNS.values() for c in cols} - set(staging.columns))
    if "patient_id" not in staging.columns:
        missing.insert(0, "patient_id")
    if missing:
        raise InputError(
            f"staging: no column(s) {', '.join(repr(c) for c in missing)}; expected the output of stage_all"
        )
    out = pd.DataFrame({"patient_id": staging["patient_id"].to_numpy()})
    for name, f in BINARY_CALLS.items():
        out[name] = f(staging).astype("boolean").to_numpy()
    return out


def _cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two binary ratings: (p_o - p_e) / (1 - p_e); NaN when p_e = 1."""
    n = len(a)
    if n == 0:
        return math.nan
    po = float(np.mean(a == b))
    pa, pb = float(np.mean(a)), float(np.mean(b))
    pe = pa * pb + (1 - pa) * (1 - pb)
    return math.nan if math.isclose(pe, 1.0) else (po - pe) / (1 - pe)


def concordance(staging: pd.DataFrame) -> pd.DataFrame:
    """Agreement between every pair of binary TRD calls.

    For each pair (A, B) of :data:`BINARY_CALLS`, over patients where both calls are
    known: ``n``, ``both_yes``, ``both_no``, ``only_a``, ``only_b``, ``agreement``
    (proportion) and Cohen's ``kappa`` = (p_o - p_e) / (1 - p_e), with p_o the observed
    agreement and p_e = p_A p_B + (1 - p_A)(1 - p_B) the agreement expected from the
    margins (Cohen 1960). Kappa is NaN when p_e = 1 (both calls constant and equal) or
    n = 0.

    Examples
    --------
    >>> s = pd.DataFrame({"patient_id": ["P1", "P2"], "sforzini_2021": ["TRD", "not TRD"],
    ...     "thase_rush_1997": [2, 1], "msm_score": [8, 5], "msm_band": ["moderate", "mild"],
    ...     "conway_2017": [1, 0], "markowitz_2022": [False, False],
    ...     "sforzini_pk": ["TRD", "not TRD"]})
    >>> c = concordance(s)
    >>> print(*c.loc[0, ["a", "b", "both_yes", "both_no", "kappa"]])
    sforzini_trd thase_rush_ge_II 1 1 1.0
    """
    calls = binary_calls(staging)
    rows = []
    for a, b in itertools.combinations(BINARY_CALLS, 2):
        known = calls[a].notna() & calls[b].notna()
        x = calls.loc[known, a].to_numpy(dtype=bool)
        y = calls.loc[known, b].to_numpy(dtype=bool)
        n = len(x)
        rows.append(
            {
                "a": a,
                "b": b,
                "n": n,
                "both_yes": int((x & y).sum()),
                "both_no": int((~x & ~y).sum()),
                "only_a": int((x & ~y).sum()),
                "only_b": int((~x & y).sum()),
                "agreement": float(np.mean(x == y)) if n else math.nan,
                "kappa": _cohen_kappa(x, y),
            }
        )
    return pd.DataFrame(rows, columns=CONCORDANCE_COLUMNS)
