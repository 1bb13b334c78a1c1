"""Per-cohort estimates that a site can share as aggregates, and their effect sizes for pooling.

Each function here works on one cohort's data; :mod:`stratify.consortium.bundle` calls them at
the site (aggregates leave it), :mod:`stratify.consortium.pooling` turns their results into
effect sizes with sampling variances and pools them.

* Response rate per subtype: counts of responders and non-responders, pooled as log-odds
  (metafor's ``escalc(measure="PLO")``: ``yi = ln(x/(n-x))``, ``vi = 1/x + 1/(n-x)``, 1/2 added
  to both cells only when one of them is 0).
* AUC of the response model: the out-of-fold predictions' AUC with its DeLong standard error
  (DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44:837-845; midrank form of Sun & Xu 2014,
  IEEE Signal Process Lett 21:1389-1393), pooled on the logit scale with the delta-method
  variance ``se^2 / (AUC (1 - AUC))^2`` (Debray et al. 2017, BMJ 356:i6460).
* Variance ratio of two randomised arms: per site, each arm's n, mean and SD of the percent
  change (the heterogeneity stage's ``vr_sites.tsv``), pooled as lnVR
  (:func:`stratify.heterogeneity.meta_analysis.lnvr`).

**Small cells.** :func:`suppress` blanks every row with a count under ``min_cell``, and when a
table would have exactly one blanked row, the next smallest row too (secondary suppression), so
a blanked count cannot be recovered from a total and the other rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

__all__ = [
    "RESPONSE_COLUMNS",
    "auc_delong",
    "log_odds",
    "logit_auc",
    "response_counts",
    "suppress",
]

RESPONSE_COLUMNS = ["cluster", "subtype", "n", "n_with_endpoint", "responders", "non_responders"]


def response_counts(assignments: pd.DataFrame, features: pd.DataFrame, *, outcome: str = "y") -> pd.DataFrame:
    """Patients, patients with the endpoint, responders and non-responders per cluster (and
    subtype label), and one row ``cluster`` -1, ``subtype`` "all patients" for the whole cohort.

    >>> a = pd.DataFrame({"patient_id": ["1", "2", "3"], "cluster": [0, 0, 1], "subtype": ["x", "x", "y"]})
    >>> f = pd.DataFrame({"patient_id": ["1", "2", "3"], "y": [1.0, None, 0.0]})
    >>> response_counts(a, f).values.tolist()
    [[0, 'x', 2, 1, 1, 0], [1, 'y', 1, 1, 0, 1], [-1, 'all patients', 3, 2, 1, 1]]
    """
    m = features[["patient_id", outcome]].merge(
        assignments[["patient_id", "cluster", "subtype"]], on="patient_id", how="left"
    )
    m["cluster"] = m["cluster"].fillna(-2).astype(int)  # patients without an assignment count only in "all"
    m["subtype"] = m["subtype"].fillna("unassigned")

    def row(c: int, s: str, g: pd.DataFrame) -> dict[str, Any]:
        y = g[outcome].dropna()
        return {
            "cluster": c,
            "subtype": s,
            "n": int(len(g)),
            "n_with_endpoint": int(len(y)),
            "responders": int((y == 1).sum()),
            "non_responders": int((y == 0).sum()),
        }

    rows = [row(int(c), str(s), g) for (c, s), g in m[m["cluster"] > -2].groupby(["cluster", "subtype"])]
    rows = [r for r in rows if r["cluster"] >= 0] + [r for r in rows if r["cluster"] < 0]
    rows.append(row(-1, "all patients", m))
    return pd.DataFrame(rows, columns=RESPONSE_COLUMNS)


def suppress(rows: pd.DataFrame, counts: Sequence[str], *, min_cell: int, blank: Sequence[str] = ()) -> pd.DataFrame:
    """Blank the ``counts`` (and the statistics in ``blank``) of rows with a count under
    ``min_cell`` and mark them ``suppressed``; with exactly one such row, the row with the next
    smallest count is blanked too (secondary suppression).

    >>> t = pd.DataFrame({"n": [50, 4, 30, 80]})
    >>> suppress(t, ["n"], min_cell=10)[["n", "suppressed"]].values.tolist()
    [[50, False], [<NA>, True], [<NA>, True], [80, False]]
    """
    out = rows.copy()
    if out.empty:
        out["suppressed"] = pd.Series(dtype=bool)
        return out
    small = out[list(counts)].min(axis=1)
    hit = (small < min_cell).to_numpy().copy()
    if hit.sum() == 1 and len(out) > 1:
        rest = small.where(~hit)
        hit[int(np.nanargmin(rest.to_numpy()))] = True
    mask = pd.Series(hit, index=out.index)
    out[list(counts)] = out[list(counts)].astype("Int64").mask(mask, pd.NA)
    if blank:
        out[list(blank)] = out[list(blank)].astype(float).mask(mask, np.nan)
    out["suppressed"] = hit
    return out


def log_odds(responders, non_responders) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds of response and its sampling variance (metafor's ``escalc(measure="PLO")``,
    1/2 added to both cells of a row only when one of them is 0).

    >>> yi, vi = log_odds([30, 0], [10, 20])
    >>> np.round(yi, 6).tolist(), np.round(vi, 6).tolist()
    ([1.098612, -3.713572], [0.133333, 2.04878])
    """
    x = np.asarray(responders, dtype=float)
    y = np.asarray(non_responders, dtype=float)
    add = np.where((x == 0) | (y == 0), 0.5, 0.0)
    x, y = x + add, y + add
    return np.log(x / y), 1 / x + 1 / y


def auc_delong(y, score) -> dict[str, Any]:
    """AUC and its DeLong standard error, from midranks (Sun & Xu 2014).

    Returns ``auc``, ``se``, ``n_pos``, ``n_neg`` (``auc`` and ``se`` None without both classes
    or with fewer than two of either).

    >>> r = auc_delong([0, 0, 1, 1, 1], [0.1, 0.6, 0.4, 0.8, 0.9])
    >>> round(r["auc"], 6), round(r["se"], 6), r["n_pos"], r["n_neg"]
    (0.833333, 0.235702, 3, 2)
    """
    y = np.asarray(y, dtype=float)
    s = np.asarray(score, dtype=float)
    ok = ~(np.isnan(y) | np.isnan(s))
    y, s = y[ok], s[ok]
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    out: dict[str, Any] = {"auc": None, "se": None, "n_pos": int(m), "n_neg": int(n)}
    if m < 2 or n < 2:
        return out
    r_all = rankdata(np.concatenate([pos, neg]))
    v10 = (r_all[:m] - rankdata(pos)) / n  # per positive: share of negatives below it (ties 1/2)
    v01 = 1 - (r_all[m:] - rankdata(neg)) / m  # per negative: share of positives above it
    auc = float(v10.mean())
    var = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    out.update(auc=auc, se=float(np.sqrt(var)))
    return out


def logit_auc(auc, se) -> tuple[np.ndarray, np.ndarray]:
    """logit(AUC) and its delta-method variance ``se^2 / (AUC (1 - AUC))^2`` (Debray et al. 2017).

    >>> yi, vi = logit_auc([0.75], [0.05])
    >>> round(float(yi[0]), 6), round(float(vi[0]), 6)
    (1.098612, 0.071111)
    """
    a = np.asarray(auc, dtype=float)
    s = np.asarray(se, dtype=float)
    return np.log(a / (1 - a)), s**2 / (a * (1 - a)) ** 2
