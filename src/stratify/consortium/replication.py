"""Do the subtypes found in cohort A replicate in cohort B?

Cohort A's saved clustering (``subtype/model.json``, :mod:`stratify.subtype.saved`) labels
B's patients, and those labels are compared with B's own clustering (B's subtype stage):

* **adjusted Rand index** of the two labelings of B's patients (Hubert & Arabie 1985;
  ``sklearn.metrics.adjusted_rand_score``), B's noise patients (HDBSCAN) left out;
* **centroid match**: the standardised mean profiles of A's clusters and of B's own clusters,
  paired by the Hungarian algorithm (Kuhn 1955; ``scipy.optimize.linear_sum_assignment``) on
  their Euclidean distances over A's clustering features; each pair's distance is reported;
* **prediction strength** (Tibshirani & Walther 2005, J Comput Graph Stat 14:511-528): for
  each of B's own clusters, the share of its pairs of patients that A's model also puts in
  one cluster; the prediction strength is the minimum over B's clusters (clusters of one
  patient left out). The paper reads >= 0.8 as well-separated clusters that predict
  (:data:`STRONG`).

**Verdict per named subtype of A** (a stable cluster of a claimed solution that the naming
rules named; "unlabelled", unstable and unclaimed clusters get none), by this rule:

``replicated``
    B claims subtypes itself (its existence test and stability pass), the Hungarian match
    pairs A's cluster with a B cluster that B's own naming gave the same name, and the
    prediction strength (the Tibshirani-Walther minimum over B's clusters) is >= 0.8. The
    minimum, not the matched cluster's own term, decides: a B cluster that lies wholly inside
    one of A's clusters has a term of 1 whichever cluster that is, so only the minimum says
    that A's partition as a whole predicts B's. The per-cluster terms, and the share of the
    matched B cluster that A's model puts in A's cluster (``carried_share``), are reported.
``not replicated``
    otherwise, with every reason that applies: B claims no subtypes; no B cluster matched
    (A has more clusters than B); the matched cluster carries another name; low prediction
    strength.
``not testable``
    a clustering feature of A is absent or without values in B, B could not be clustered (its
    subtyping was skipped), or B has fewer than ``min_patients`` patients.

**One metric.** The clustering features are the subtype stage's z-scores: symptom dimensions
(item sums of one instrument, resources/dimensions.yaml) and the immune-metabolic indices,
which are themselves means of z-scores within the cohort (stratify.clinical.scores). The
harmonisation tables of the clinical stage (resources/harmonisation, ``clinical.harmonise``)
link instrument *totals* for the endpoint (e.g. QIDS-SR16 -> HAMD-17); they do not link item
sums, so across cohorts whose dimensions come from different instruments the only common
metric is the within-cohort z-score. That is the default (``metric="within_cohort"``: each
cohort standardised within itself, as its own subtype stage did, and A's model applied to
B's z-scores). ``metric="reference"`` puts B's raw features on A's scale instead (A's medians,
means and SDs); use it only when both cohorts measure every feature on the same raw scale
(same instruments and assays), because it keeps B's shift in case mix that the within-cohort
metric removes.

Individual data of B are needed (its features and its own labels); cohort A contributes only
its saved model and its profiles, which hold no patient data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from stratify.errors import InputError
from stratify.io.tables import read_table
from stratify.subtype.saved import assign_with_model, read_model, standardise

__all__ = [
    "STRONG",
    "CohortSubtypes",
    "centroid_match",
    "prediction_strength",
    "read_cohort_subtypes",
    "replicate",
    "replicate_all",
    "subtype_overview",
]

#: prediction strength read as strong (Tibshirani & Walther 2005)
STRONG = 0.8
#: subtype labels that are not names (stratify.subtype.subtyping)
NOT_NAMES = frozenset({"none", "noise", "unlabelled", "not named (unstable)"})
METRICS = ("within_cohort", "reference")
VERDICTS = ("replicated", "not replicated", "not testable")


@dataclass(frozen=True)
class CohortSubtypes:
    """One cohort's clustering features and its subtype stage's results.

    ``features``: the features table (``patient_id`` and the clustering features, raw);
    ``assignments``: subtype/assignments (``patient_id``, ``cluster``, ``subtype``);
    ``summary``: subtype/summary.json; ``model``: subtype/model.json.
    """

    name: str
    features: pd.DataFrame
    assignments: pd.DataFrame
    summary: dict[str, Any]
    model: dict[str, Any]


def read_cohort_subtypes(name: str, results: str | Path) -> CohortSubtypes:
    """A cohort's features and subtype results from its results folder (``results/<cohort>``)."""
    results = Path(results)
    path = results / "subtype" / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: cannot read cohort {name}'s subtype summary ({e})") from None
    return CohortSubtypes(
        name=name,
        features=read_table(results / "features" / "features.parquet", kind="features"),
        assignments=read_table(results / "subtype" / "assignments.parquet", kind="subtype.assignments"),
        summary=summary,
        model=read_model(results / "subtype" / "model.json"),
    )


def prediction_strength(own: np.ndarray, carried: np.ndarray) -> dict[str, Any]:
    """Prediction strength of a carried clustering on a cohort's own clusters (Tibshirani & Walther 2005).

    Parameters
    ----------
    own : array of int
        The cohort's own cluster per patient (negative = noise, left out).
    carried : array of int
        The cluster the other cohort's model gives each of the same patients.

    Returns
    -------
    dict
        ``by_cluster``: own cluster -> share of its pairs that ``carried`` puts in one cluster
        (clusters of fewer than two patients left out); ``strength``: their minimum (None when
        no cluster has two patients).

    Examples
    --------
    >>> r = prediction_strength(np.array([0, 0, 0, 1, 1]), np.array([5, 5, 6, 7, 7]))
    >>> r["by_cluster"], r["strength"]
    ({0: 0.3333333333333333, 1: 1.0}, 0.3333333333333333)
    """
    own, carried = np.asarray(own), np.asarray(carried)
    by: dict[int, float] = {}
    for c in np.unique(own[own >= 0]):
        inside = carried[own == c]
        n = len(inside)
        if n < 2:
            continue
        counts = np.unique(inside, return_counts=True)[1].astype(float)
        by[int(c)] = float((counts * (counts - 1)).sum() / (n * (n - 1)))
    return {"by_cluster": by, "strength": min(by.values()) if by else None}


def centroid_match(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Pair the clusters of two profile tables (cluster x feature, the same features) by the
    Hungarian algorithm on Euclidean distances; unpaired clusters of ``a`` get no partner.

    Returns one row per cluster of ``a``: ``cluster_a``, ``cluster_b`` (-1 when unpaired),
    ``distance`` (NaN when unpaired).

    >>> a = pd.DataFrame({"x": [0.0, 2.0, 5.0]}, index=[0, 1, 2])
    >>> b = pd.DataFrame({"x": [2.2, 0.1]}, index=[0, 1])
    >>> centroid_match(a, b).values.tolist()
    [[0.0, 1.0, 0.1], [1.0, 0.0, 0.20000000000000018], [2.0, -1.0, nan]]
    """
    d = np.sqrt(((a.to_numpy()[:, None, :] - b[a.columns].to_numpy()[None, :, :]) ** 2).sum(axis=2))
    rows, cols = linear_sum_assignment(d)
    partner = dict(zip(rows.tolist(), cols.tolist(), strict=True))
    out = []
    for i, ca in enumerate(a.index):
        j = partner.get(i)
        out.append(
            {
                "cluster_a": int(ca),
                "cluster_b": int(b.index[j]) if j is not None else -1,
                "distance": float(d[i, j]) if j is not None else np.nan,
            }
        )
    return pd.DataFrame(out, columns=["cluster_a", "cluster_b", "distance"])


def _profiles(z: np.ndarray, labels: np.ndarray, feats: list[str]) -> pd.DataFrame:
    """Mean standardised profile per cluster (noise left out), cluster x feature."""
    df = pd.DataFrame(z, columns=feats)
    df["cluster"] = labels
    return df[df["cluster"] >= 0].groupby("cluster")[feats].mean()


def _untestable(a: CohortSubtypes, b: CohortSubtypes, *, min_patients: int) -> str | None:
    """Why A's subtypes cannot be tested in B, or None."""
    feats = list(a.model.get("features") or [])
    absent = [f for f in feats if f not in b.features.columns or b.features[f].isna().all()]
    if absent:
        return f"clustering feature(s) {', '.join(absent)} of {a.name} missing in {b.name}"
    if b.model.get("fitted") is None:
        return f"{b.name} could not be clustered ({b.model.get('reason', 'no reason recorded')})"
    n = int(b.features[feats].notna().all(axis=1).sum())
    if n < min_patients:
        return f"{b.name} has {n} patients with every clustering feature (fewer than {min_patients})"
    return None


def _on_metric(fa: pd.DataFrame, fb: pd.DataFrame, model: dict[str, Any], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """A's and B's clustering features (A's, raw in ``fa`` and ``fb``) on the chosen metric."""
    feats = list(model["features"])
    za, _, _ = standardise(fa, feats)
    if metric == "within_cohort":
        zb, _, _ = standardise(fb, feats)
    else:
        st = model["standardisation"]
        x = fb[feats].astype(float).fillna(pd.Series(st["median"]))
        zb = ((x - pd.Series(st["mean"])) / pd.Series(st["sd"])).to_numpy()
    return za, zb


def _labelled(c: CohortSubtypes) -> pd.DataFrame:
    """The cohort's features with its own ``cluster`` (every patient of the features table)."""
    m = c.features.merge(c.assignments[["patient_id", "cluster"]], on="patient_id", how="left", validate="one_to_one")
    if m["cluster"].isna().any():
        missing = m.loc[m["cluster"].isna(), "patient_id"].iloc[0]
        raise InputError(f"cohort {c.name}: patient {missing} of the features table has no subtype assignment")
    return m.astype({"cluster": int})


def _named(a: CohortSubtypes) -> dict[int, str]:
    """A's named subtypes by cluster (only when A claimed subtypes)."""
    if not a.summary.get("claimed"):
        return {}
    return {int(c): s for c, s in (a.model.get("subtypes") or {}).items() if s not in NOT_NAMES}


def _verdict(name: str, row: dict[str, Any], *, b: CohortSubtypes, ps: float | None, strong: float) -> tuple[str, str]:
    """The verdict of one named subtype of A whose cluster's match in B is ``row``; ``ps`` the
    prediction strength of A's model on B."""
    why = []
    if not b.summary.get("claimed"):
        why.append(f"{b.name} claims no subtypes")
    if row["cluster_b"] < 0:
        why.append(f"no cluster of {b.name} matched (more clusters in A than in {b.name})")
    else:
        if b.summary.get("claimed") and row["name_b"] != name:
            why.append(f"the matched cluster {row['cluster_b']} of {b.name} is {row['name_b']!r}")
    if ps is None or ps < strong:
        shown = "not computable" if ps is None else f"{ps:.2f}"
        why.append(f"prediction strength {shown} < {strong:g}")
    if why:
        return "not replicated", "; ".join(why)
    return "replicated", (
        f"{b.name} claims subtypes, its matched cluster {row['cluster_b']} is also {name!r} (distance "
        f"{row['distance']:.2f} SD), prediction strength {ps:.2f} >= {strong:g}"
    )


def replicate(
    a: CohortSubtypes,
    b: CohortSubtypes,
    *,
    metric: str = "within_cohort",
    min_patients: int = 30,
    strong: float = STRONG,
) -> dict[str, Any]:
    """Carry cohort A's clustering to cohort B and give each named subtype of A a verdict.

    Parameters
    ----------
    a, b : CohortSubtypes
        The two cohorts (:func:`read_cohort_subtypes`).
    metric : {"within_cohort", "reference"}
        The common metric of the features (module docstring).
    min_patients : int
        B needs at least this many patients with every clustering feature.
    strong : float
        Prediction strength read as strong (Tibshirani & Walther 2005: 0.8).

    Returns
    -------
    dict
        ``cohort_a``, ``cohort_b``, ``metric``, ``n_b``, ``adjusted_rand``,
        ``prediction_strength`` (minimum) and ``prediction_strength_by_cluster``, ``clusters``
        (one row per cluster of A: its match in B, distance, both names, the matched cluster's
        prediction-strength term and ``carried_share``, the share of the matched B cluster that
        A's model puts in A's cluster), ``verdicts`` (one per named subtype of A: ``subtype``,
        ``cluster_a``, ``verdict``, ``why``) and ``not_testable`` (the reason, or None).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    out: dict[str, Any] = {"cohort_a": a.name, "cohort_b": b.name, "metric": metric, "strong": strong}
    named = _named(a)
    why = None if a.model.get("fitted") is not None else f"{a.name} has no fitted clustering"
    why = why or _untestable(a, b, min_patients=min_patients)
    out["not_testable"] = why
    if why:
        out["verdicts"] = [
            {"subtype": s, "cluster_a": c, "verdict": "not testable", "why": why} for c, s in named.items()
        ]
        out["clusters"] = []
        return out
    feats = list(a.model["features"])
    la, lb = _labelled(a), _labelled(b)
    scale = "own" if metric == "within_cohort" else "model"
    carried = assign_with_model(a.model, lb, scale=scale)["cluster"].to_numpy()
    own = lb["cluster"].to_numpy()
    keep = own >= 0
    ps = prediction_strength(own, carried)
    za, zb = _on_metric(la, lb, a.model, metric)
    prof_a = _profiles(za, la["cluster"].to_numpy(), feats)
    prof_b = _profiles(zb, own, feats)
    clusters = centroid_match(prof_a, prof_b)
    names_b = b.model.get("subtypes") or {}
    clusters["name_a"] = [(a.model.get("subtypes") or {}).get(str(c), "none") for c in clusters["cluster_a"]]
    clusters["name_b"] = [names_b.get(str(c), "none") if c >= 0 else None for c in clusters["cluster_b"]]
    clusters["prediction_strength_cluster"] = [ps["by_cluster"].get(int(c)) for c in clusters["cluster_b"]]
    clusters["carried_share"] = [
        float((carried[own == cb] == ca).mean()) if cb >= 0 else None
        for ca, cb in zip(clusters["cluster_a"], clusters["cluster_b"], strict=True)
    ]
    rows = clusters.to_dict("records")
    verdicts = []
    for row in rows:
        if row["cluster_a"] in named:
            v, w = _verdict(named[row["cluster_a"]], row, b=b, ps=ps["strength"], strong=strong)
            verdicts.append({"subtype": named[row["cluster_a"]], "cluster_a": row["cluster_a"], "verdict": v, "why": w})
    out.update(
        n_b=int(keep.sum()),
        b_claimed=bool(b.summary.get("claimed")),
        adjusted_rand=float(adjusted_rand_score(own[keep], carried[keep])),
        prediction_strength=ps["strength"],
        prediction_strength_by_cluster={str(c): v for c, v in ps["by_cluster"].items()},
        clusters=[{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()} for r in rows],
        verdicts=verdicts,
    )
    return out


def replicate_all(cohorts: list[CohortSubtypes], **options: Any) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """:func:`replicate` for every ordered pair of distinct cohorts (``options`` passed on).

    Returns the per-pair results and one table of verdicts (``cohort_a``, ``cohort_b``,
    ``subtype``, ``cluster_a``, ``verdict``, ``why``, ``adjusted_rand``, ``prediction_strength``).
    """
    names = [c.name for c in cohorts]
    if len(set(names)) != len(names):
        raise InputError(f"cohort names must be unique, got {names}")
    pairs = [replicate(a, b, **options) for a in cohorts for b in cohorts if a is not b]
    cols = ["cohort_a", "cohort_b", "subtype", "cluster_a", "verdict", "why", "adjusted_rand", "prediction_strength"]
    rows = [
        {
            **v,
            "cohort_a": p["cohort_a"],
            "cohort_b": p["cohort_b"],
            "adjusted_rand": p.get("adjusted_rand"),
            "prediction_strength": p.get("prediction_strength"),
        }
        for p in pairs
        for v in p["verdicts"]
    ]
    return pairs, pd.DataFrame(rows, columns=cols)


def subtype_overview(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per named subtype and the cohort that claimed it: in which other cohorts it replicated,
    did not, or could not be tested; ``claimed_only_here`` is True when it replicated nowhere
    it was testable (a subtype claimed in one cohort and absent in the others).

    >>> v = pd.DataFrame({"cohort_a": ["A", "A"], "cohort_b": ["B", "C"], "subtype": ["x", "x"],
    ...                   "verdict": ["replicated", "not replicated"]})
    >>> subtype_overview(v).iloc[0].to_dict()
    {'cohort': 'A', 'subtype': 'x', 'replicated_in': 'B', 'not_replicated_in': 'C', 'not_testable_in': '', 'claimed_only_here': False}
    """
    rows = []
    for (ca, s), g in verdicts.groupby(["cohort_a", "subtype"], sort=False):
        by = {v: ", ".join(g.loc[g["verdict"] == v, "cohort_b"]) for v in VERDICTS}
        rows.append(
            {
                "cohort": ca,
                "subtype": s,
                "replicated_in": by["replicated"],
                "not_replicated_in": by["not replicated"],
                "not_testable_in": by["not testable"],
                "claimed_only_here": not by["replicated"] and bool(by["not replicated"]),
            }
        )
    cols = ["cohort", "subtype", "replicated_in", "not_replicated_in", "not_testable_in", "claimed_only_here"]
    return pd.DataFrame(rows, columns=cols)
