"""Stage "explain": SHAP TreeExplainer values for the final XGBoost model.

Saves per-patient SHAP values (Parquet, one column per feature), the global importance
(mean |SHAP|), a beeswarm plot, dependence plots of the top features, SHAP interaction
values of the top feature pairs, waterfall plots for a few chosen patients and SHAP
summaries per subtype.

The model is either a classifier (SHAP values on the log-odds scale) or a regressor
(SHAP values in the units of the outcome, e.g. percent change); :data:`SCALES` names
the axis label of each task.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import InputError, where

log = logging.getLogger(__name__)

#: Unit of SHAP values for each model task.
SCALES = {"classification": "log-odds", "regression": "outcome units"}

#: SHAP interaction values cost O(features^2) per patient; they are computed on at most
#: this many patients (a seeded random subsample when the cohort is larger).
MAX_INTERACTION_PATIENTS = 2000

#: Patients per batch of interaction values (one progress line per batch).
INTERACTION_BATCH = 250

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def shap_values(model, X: pd.DataFrame) -> tuple[np.ndarray, float]:
    """SHAP values of a fitted XGBoost model, and the base value.

    For a classifier the values are on the log-odds scale, for a regressor in the units
    of the outcome. Each row plus the base value adds up to the model's raw prediction
    (``output_margin=True``). Missing feature values are passed through: XGBoost sends
    them along each split's learned default direction.
    """
    import shap

    t0 = time.perf_counter()
    explainer = shap.TreeExplainer(model)
    vals = explainer.shap_values(X)
    vals = np.asarray(vals[1] if isinstance(vals, list) else vals, dtype=float)
    base = float(np.ravel(explainer.expected_value)[-1])
    log.info("SHAP values: %d patients x %d features in %.1f s", X.shape[0], X.shape[1], time.perf_counter() - t0)
    return vals, base


def importance(values: np.ndarray, features: list[str]) -> pd.DataFrame:
    """Mean absolute SHAP value per feature, largest first, with rank.

    Examples
    --------
    >>> importance(np.array([[0.1, -2.0], [0.3, 1.0]]), ["a", "b"])
      feature  mean_abs_shap  rank
    0       b            1.5     1
    1       a            0.2     2
    """
    imp = pd.DataFrame({"feature": features, "mean_abs_shap": np.abs(values).mean(axis=0)})
    imp = imp.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
    imp["rank"] = np.arange(1, len(imp) + 1)
    return imp


def _plt():
    from stratify.plots import plt  # plots sets the Agg backend

    return plt


def beeswarm_png(
    values: np.ndarray, X: pd.DataFrame, path: str | Path, *, max_display: int = 15, scale: str = "log-odds"
) -> Path:
    """SHAP beeswarm (summary) plot written as PNG."""
    plt = _plt()
    import shap

    plt.figure()
    shap.summary_plot(
        values, X, show=False, max_display=max_display, plot_size=(7, 0.35 * min(max_display, X.shape[1]) + 1.5)
    )
    plt.gca().set_xlabel(f"SHAP value ({scale})")
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close("all")
    return Path(path)


# --- interaction values ------------------------------------------------------------------


def interaction_values(model, X: pd.DataFrame) -> np.ndarray:
    """SHAP interaction values, shape (patients, features, features).

    Entry ``[n, i, j]`` (i != j) is half of the interaction effect of features i and j for
    patient n (the matrix is symmetric); the diagonal holds each feature's main effect.
    Each row ``[n, i, :]`` sums to the SHAP value of feature i for patient n. Same scale
    as :func:`shap_values`.
    """
    import shap

    vals = shap.TreeExplainer(model).shap_interaction_values(X)
    return np.asarray(vals[1] if isinstance(vals, list) else vals, dtype=float)


def interaction_summary(
    model,
    X: pd.DataFrame,
    *,
    max_patients: int = MAX_INTERACTION_PATIENTS,
    seed: int = 0,
    batch: int = INTERACTION_BATCH,
    shap: np.ndarray | None = None,
) -> dict[str, Any]:
    """Mean |SHAP interaction value| of every feature pair, on at most ``max_patients``.

    Interaction values are computed in batches (one log line each) and only their mean
    absolute value is kept, so memory stays at one batch.

    Parameters
    ----------
    model : fitted XGBoost model
    X : DataFrame of features (rows: patients)
    max_patients : patients used at most; a larger cohort is subsampled without
        replacement with ``numpy.random.default_rng(seed)``
    seed : seed of the subsample
    batch : patients per batch
    shap : optional SHAP values of ``X`` (same row order); when given, the largest
        difference between an interaction row sum and its SHAP value is reported

    Returns
    -------
    dict with ``mean_abs`` (features x features array), ``rows`` (positions in ``X`` of
    the patients used, sorted), ``n_patients_used``, ``subsampled``, ``seed``,
    ``max_patients``, ``seconds`` and ``max_additivity_error`` (None without ``shap``).
    """
    n, p = X.shape
    if n > max_patients:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=max_patients, replace=False))
        log.info("interaction values: subsampling %d of %d patients (seed %d)", max_patients, n, seed)
    else:
        rows = np.arange(n)
    total = np.zeros((p, p))
    err = 0.0
    t0 = time.perf_counter()
    log.info(
        "interaction values: %d patients x %d features (%d pairs), in batches of %d",
        len(rows),
        p,
        p * (p - 1) // 2,
        batch,
    )
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        iv = interaction_values(model, X.iloc[part])
        total += np.abs(iv).sum(axis=0)
        if shap is not None:
            err = max(err, float(np.abs(iv.sum(axis=2) - shap[part]).max()))
        log.info(
            "interaction values: %d/%d patients done (%.1f s)", start + len(part), len(rows), time.perf_counter() - t0
        )
    return {
        "mean_abs": total / max(len(rows), 1),
        "rows": rows,
        "n_patients_used": int(len(rows)),
        "subsampled": bool(n > max_patients),
        "seed": int(seed),
        "max_patients": int(max_patients),
        "seconds": round(time.perf_counter() - t0, 2),
        "max_additivity_error": err if shap is not None else None,
    }


def top_interactions(mean_abs: np.ndarray, features: list[str], *, n_patients_used: int, top: int = 10) -> pd.DataFrame:
    """The ``top`` off-diagonal feature pairs by mean |SHAP interaction value|.

    Each unordered pair appears once (``feature_a`` before ``feature_b`` in model order).

    Examples
    --------
    >>> m = np.array([[0.5, 0.2, 0.0], [0.2, 0.4, 0.3], [0.0, 0.3, 0.1]])
    >>> top_interactions(m, ["a", "b", "c"], n_patients_used=50, top=2)
      feature_a feature_b  mean_abs_interaction  rank  n_patients_used
    0         b         c                   0.3     1               50
    1         a         b                   0.2     2               50
    """
    ia, ib = np.triu_indices(len(features), k=1)
    df = pd.DataFrame(
        {
            "feature_a": np.asarray(features, dtype=object)[ia],
            "feature_b": np.asarray(features, dtype=object)[ib],
            "mean_abs_interaction": mean_abs[ia, ib],
        }
    )
    df = df.sort_values("mean_abs_interaction", ascending=False, kind="stable").head(top).reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    df["n_patients_used"] = int(n_patients_used)
    return df


def interaction_partners(mean_abs: np.ndarray, features: list[str]) -> dict[str, str | None]:
    """For each feature, the other feature with the largest mean |interaction| (None if alone).

    Examples
    --------
    >>> interaction_partners(np.array([[1.0, 0.1, 0.4], [0.1, 1.0, 0.2], [0.4, 0.2, 1.0]]), ["a", "b", "c"])
    {'a': 'c', 'b': 'c', 'c': 'a'}
    """
    if len(features) < 2:
        return dict.fromkeys(features)
    m = np.array(mean_abs, dtype=float, copy=True)
    np.fill_diagonal(m, -np.inf)
    return {f: features[int(np.argmax(m[i]))] for i, f in enumerate(features)}


# --- dependence plots --------------------------------------------------------------------


def dependence_png(
    values: np.ndarray,
    X: pd.DataFrame,
    features: list[str],
    path: str | Path,
    *,
    color_by: dict[str, str | None] | None = None,
    scale: str = "log-odds",
    ncols: int = 2,
) -> tuple[Path, dict[str, int]]:
    """SHAP dependence plots of ``features`` as one multi-panel PNG.

    Each panel plots a feature's SHAP value against its value, coloured by the value of
    ``color_by[feature]`` (its strongest interaction partner; grey where that is missing).
    Patients with the feature missing are not dropped: they are drawn as grey crosses in
    a strip left of a dashed line, labelled "missing", and counted in the panel title.

    Returns
    -------
    The PNG path and the number of missing values per plotted feature.
    """
    plt = _plt()
    color_by = color_by or {}
    cols = list(X.columns)
    k = max(len(features), 1)
    ncols = min(ncols, k)
    nrows = int(np.ceil(k / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.9 * nrows), squeeze=False)
    n_missing: dict[str, int] = {}
    for ax, f in zip(axes.ravel(), features):
        j = cols.index(f)
        x = X[f].to_numpy(dtype=float)
        y = values[:, j]
        miss = ~np.isfinite(x)
        n_missing[f] = int(miss.sum())
        partner = color_by.get(f)
        c = X[partner].to_numpy(dtype=float) if partner else np.full(len(x), np.nan)
        has_c = np.isfinite(c)
        ok = ~miss
        if ok.any():
            lo, hi = float(np.nanmin(x[ok])), float(np.nanmax(x[ok]))
        else:
            lo, hi = 0.0, 1.0
        span = (hi - lo) or 1.0
        if has_c.any():
            vmin, vmax = np.nanpercentile(c[has_c], [5, 95])
            if vmin == vmax:
                vmin, vmax = vmin - 0.5, vmax + 0.5
            sc = ax.scatter(
                x[ok & has_c],
                y[ok & has_c],
                c=c[ok & has_c],
                cmap="coolwarm",
                vmin=vmin,
                vmax=vmax,
                s=10,
                alpha=0.75,
                linewidths=0,
            )
            cb = fig.colorbar(sc, ax=ax, pad=0.02)
            cb.set_label(partner, fontsize=8)
            cb.ax.tick_params(labelsize=7)
        ax.scatter(x[ok & ~has_c], y[ok & ~has_c], color="#999999", s=10, alpha=0.75, linewidths=0)
        if miss.any():
            xm = lo - 0.15 * span
            jitter = np.random.default_rng(0).uniform(-0.03, 0.03, miss.sum()) * span
            ax.scatter(xm + jitter, y[miss], marker="x", color="#555555", s=14, linewidths=0.8)
            ax.axvline(lo - 0.075 * span, color="#aaaaaa", ls="--", lw=0.8)
            ticks = [t for t in ax.get_xticks() if lo - 0.05 * span <= t <= hi + 0.05 * span]
            ax.set_xticks([xm, *ticks])
            ax.set_xticklabels(["missing", *[f"{t:g}" for t in ticks]], fontsize=8)
            ax.set_xlim(lo - 0.22 * span, hi + 0.05 * span)
        ax.axhline(0, color="#cccccc", lw=0.8, zorder=0)
        ax.set_xlabel(f, fontsize=9)
        ax.set_ylabel(f"SHAP value for {f} ({scale})", fontsize=8)
        ax.set_title(f"{f}: n missing = {n_missing[f]}" + (f"; colour: {partner}" if partner else ""), fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in axes.ravel()[len(features) :]:
        ax.set_visible(False)
    from stratify.plots import save_png

    return save_png(fig, path), n_missing


# --- waterfalls --------------------------------------------------------------------------


def select_waterfall_patients(values: np.ndarray, base: float, patient_ids) -> list[dict[str, Any]]:
    """The patients shown as waterfalls: highest, lowest and median prediction.

    The prediction is the model's raw output (base value plus the SHAP row sum: log-odds
    for a classifier, outcome units for a regressor). "median" is the patient whose
    prediction is closest to the cohort median; a patient already chosen is not repeated.

    Examples
    --------
    >>> v = np.array([[1.0, 0.0], [-1.0, 0.0], [0.2, 0.0], [0.0, 0.1], [-0.3, 0.0]])
    >>> [(s["patient_id"], s["reason"]) for s in select_waterfall_patients(v, 0.5, list("ABCDE"))]
    [('A', 'highest prediction'), ('B', 'lowest prediction'), ('D', 'closest to the median prediction')]
    """
    pred = base + values.sum(axis=1)
    ids = [str(p) for p in patient_ids]
    if not len(ids):
        return []
    med = float(np.median(pred))
    picks = [
        (int(np.argmax(pred)), "highest prediction"),
        (int(np.argmin(pred)), "lowest prediction"),
        (int(np.argmin(np.abs(pred - med))), "closest to the median prediction"),
    ]
    out, seen = [], set()
    for i, reason in picks:
        if i in seen:
            continue
        seen.add(i)
        out.append({"patient_id": ids[i], "reason": reason, "prediction": float(pred[i])})
    return out


def waterfall_filename(patient_id: str) -> str:
    """File name of a patient's waterfall; characters unsafe in file names become ``_``.

    Examples
    --------
    >>> waterfall_filename("site 1/P007")
    'waterfall_site_1_P007.png'
    """
    return "waterfall_" + re.sub(r"[^A-Za-z0-9._-]", "_", str(patient_id)) + ".png"


def waterfall_png(
    shap_row: np.ndarray,
    base: float,
    x_row: pd.Series,
    path: str | Path,
    *,
    scale: str = "log-odds",
    title: str = "",
    max_display: int = 10,
) -> Path:
    """Waterfall plot of one patient's SHAP values (``shap.plots.waterfall``) as PNG.

    ``x_row`` holds the patient's feature values, indexed by feature name; missing values
    are shown as "missing".
    """
    plt = _plt()
    import shap

    data = np.array([("missing" if pd.isna(v) else float(v)) for v in x_row.to_numpy()], dtype=object)
    ex = shap.Explanation(
        values=np.asarray(shap_row, dtype=float),
        base_values=float(base),
        data=data,
        feature_names=[str(c) for c in x_row.index],
    )
    plt.close("all")
    ax = shap.plots.waterfall(ex, max_display=max_display, show=False)
    fig = ax.figure
    ax.set_title(
        f"{title}\nSHAP values in {scale}; E[f(X)] is the base value, f(x) the prediction"
        if title
        else f"SHAP values in {scale}",
        fontsize=10,
        pad=22,
    )
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close("all")
    return Path(path)


def waterfall_for_patient(results: str | Path, patient_id: str, path: str | Path, *, max_display: int = 10) -> Path:
    """Waterfall PNG for any patient of a finished run, from its saved files.

    Reads ``explain/shap_values.parquet`` (SHAP values, base value and task from its
    provenance) and ``features/features.parquet`` in ``results`` (results/<cohort>).

    Raises
    ------
    InputError
        If ``patient_id`` is not in the SHAP table.
    """
    from stratify.io.tables import read_provenance, read_table

    r = Path(results)
    sp = r / "explain" / "shap_values.parquet"
    sv = read_table(sp, kind="explain.shap")
    prov = read_provenance(sp)
    feats = [c for c in sv.columns if c != "patient_id"]
    hit = np.flatnonzero(sv["patient_id"].astype(str).to_numpy() == str(patient_id))
    if not len(hit):
        raise InputError(f"{where(sp)}: patient '{patient_id}' not found ({len(sv)} patients in the table)")
    df = read_table(r / "features" / "features.parquet", kind="features")
    xrow = df.loc[df["patient_id"].astype(str) == str(patient_id)]
    x = (xrow.iloc[0].reindex(feats) if len(xrow) else pd.Series(np.nan, index=feats)).astype(float)
    task = prov.get("task", "classification")
    return waterfall_png(
        sv.loc[hit[0], feats].to_numpy(dtype=float),
        float(prov["base_value"]),
        x,
        path,
        scale=SCALES.get(task, task),
        title=f"patient {patient_id}",
        max_display=max_display,
    )


# --- per subtype -------------------------------------------------------------------------


def importance_by_subtype(values: np.ndarray, features: list[str], subtype: pd.Series) -> pd.DataFrame:
    """SHAP summary per subtype, long format.

    Columns: ``subtype``, ``feature``, ``n`` (patients in the subtype), ``mean_abs_shap``
    (importance within the subtype) and ``mean_shap`` (signed mean: the direction in
    which the feature moves that subtype's predictions). Rows are sorted by subtype,
    then by ``mean_abs_shap``, largest first.

    Examples
    --------
    >>> v = np.array([[1.0, -0.5], [-3.0, 0.5], [2.0, 0.1]])
    >>> importance_by_subtype(v, ["a", "b"], pd.Series(["s1", "s1", "s2"]))
      subtype feature  n  mean_abs_shap  mean_shap
    0      s1       a  2            2.0       -1.0
    1      s1       b  2            0.5        0.0
    2      s2       a  1            2.0        2.0
    3      s2       b  1            0.1        0.1
    """
    sub = pd.Series(subtype).astype(str).to_numpy()
    rows = []
    for s in sorted(set(sub)):
        m = sub == s
        v = values[m]
        for j, f in enumerate(features):
            rows.append(
                {
                    "subtype": s,
                    "feature": f,
                    "n": int(m.sum()),
                    "mean_abs_shap": float(np.abs(v[:, j]).mean()),
                    "mean_shap": float(v[:, j].mean()),
                }
            )
    out = pd.DataFrame(rows, columns=["subtype", "feature", "n", "mean_abs_shap", "mean_shap"])
    return out.sort_values(["subtype", "mean_abs_shap"], ascending=[True, False], kind="stable").reset_index(drop=True)
