"""The consortium stage's figures (matplotlib, Agg backend, as :mod:`stratify.plots`).

* :func:`transport_png`: the transport matrix as a heatmap of AUCs (rows: the cohort whose
  model it is, columns: the cohort it is tested on; the diagonal is the within-cohort
  cross-validated AUC) with the 95% interval in each cell.
* :func:`forest_png`: per pooled quantity (a subtype's response rate, the models' AUC) the
  cohorts' estimates with 95% intervals and the random-effects (REML) pooled diamond, on the
  scale of the estimate (back-transformed from log-odds or logit; Debray et al. 2017, BMJ
  356:i6460). Variance ratios are drawn by the heterogeneity stage's own forest plot
  (:func:`stratify.heterogeneity.variance_ratio.forest_png`) through :func:`vr_forest_png`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.heterogeneity.meta_analysis import Z975, fixed_effect

__all__ = ["forest_png", "transport_png", "vr_forest_png"]


def _cell_text(r: Mapping[str, Any]) -> str:
    if not r.get("run") or pd.isna(r.get("auc")):
        return "n/a"
    lo, hi = r.get("auc_ci_low"), r.get("auc_ci_high")
    ci = f"\n({lo:.2f}-{hi:.2f})" if pd.notna(lo) and pd.notna(hi) else ""
    return f"{r['auc']:.2f}{ci}"


def transport_png(cells: pd.DataFrame, path: str | Path) -> Path:
    """Heatmap of the transport matrix (:func:`stratify.consortium.transport.transport_matrix` rows)."""
    from stratify.plots import plt, save_png

    names = list(dict.fromkeys([*cells["train"], *cells["test"]]))
    auc = np.full((len(names), len(names)), np.nan)
    text = [["n/a"] * len(names) for _ in names]
    for r in cells.to_dict("records"):
        i, j = names.index(r["train"]), names.index(r["test"])
        if r.get("run") and pd.notna(r.get("auc")):
            auc[i, j] = float(r["auc"])
        text[i][j] = _cell_text(r)
    size = 1.3 * len(names) + 2.5
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    im = ax.imshow(np.ma.masked_invalid(auc), cmap="RdYlGn", vmin=0.4, vmax=0.9)
    ax.set_facecolor("#dddddd")
    for i in range(len(names)):
        for j in range(len(names)):
            weight = "bold" if i == j else "normal"
            ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8, fontweight=weight)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("tested on", fontsize=9)
    ax.set_ylabel("model trained in", fontsize=9)
    ax.set_title("AUC (95% CI); diagonal: within-cohort cross-validated", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.7, label="AUC")
    return save_png(fig, path)


def _expit(x):
    return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))


def _panel_rows(pooled: Mapping[str, Any], *, label: str) -> tuple[list[str], np.ndarray, dict[str, Any] | None]:
    """Study labels, their (estimate, low, high) on the expit scale and the pooled interval."""
    studies = pd.DataFrame(pooled.get("studies") or [])
    if studies.empty:
        return [], np.empty((0, 3)), None
    se = np.sqrt(studies["vi"].to_numpy(float))
    yi = studies["yi"].to_numpy(float)
    est = np.column_stack([_expit(yi), _expit(yi - Z975 * se), _expit(yi + Z975 * se)])
    if label in studies:
        labels = [f"{s} (n = {n})" for s, n in zip(studies["study"], studies[label], strict=True)]
    else:
        labels = [str(s) for s in studies["study"]]
    return labels, est, pooled.get("rate")


def forest_png(
    panels: Mapping[str, Mapping[str, Any]],
    path: str | Path,
    *,
    xlabel: str,
    count: str | None = None,
    reference: float | None = None,
) -> Path:
    """One panel per pooled quantity (``panels``: title -> :func:`stratify.consortium.pooling.pool_studies`
    result with ``back="expit"``): the cohorts' estimates with 95% intervals and the pooled
    random-effects diamond with its 95% confidence and prediction intervals. ``count`` names the
    study column shown beside each cohort (e.g. ``n_with_endpoint``); ``reference`` a value marked
    by a dashed line (0.5 for an AUC: chance)."""
    from stratify.plots import plt, save_png

    drawn = [(t, *_panel_rows(p, label=count or "")) for t, p in panels.items() if p.get("k")]
    heights = [len(lab) + 1.6 for _, lab, _, _ in drawn]
    fig, axes = plt.subplots(
        len(drawn), 1, figsize=(7.5, 0.32 * sum(heights) + 0.9), gridspec_kw={"height_ratios": heights}, squeeze=False
    )
    for ax, (title, labels, est, rate) in zip(axes[:, 0], drawn, strict=True):
        y = np.arange(len(labels))[::-1] + 1.2
        ax.hlines(y, est[:, 1], est[:, 2], color="#7f8c8d", lw=1)
        ax.plot(est[:, 0], y, "s", color="#34495e", ms=4)
        ticks, names = list(y), list(labels)
        if rate is not None:
            ax.fill(
                [rate["ci_low"], rate["estimate"], rate["ci_high"], rate["estimate"]],
                [0, 0.3, 0, -0.3],
                color="#c0392b",
            )
            ax.hlines(0, rate["pi_low"], rate["pi_high"], color="#c0392b", lw=0.8, linestyles=":")
            ticks.append(0)
            names.append(f"pooled (REML): {rate['estimate']:.2f} ({rate['ci_low']:.2f}-{rate['ci_high']:.2f})")
        ax.set_yticks(ticks, names, fontsize=7)
        ax.set_ylim(-0.7, len(labels) + 0.7)
        ax.set_xlim(0, 1)
        if reference is not None:
            ax.axvline(reference, color="black", lw=0.7, ls="--")
        ax.set_title(title, fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
    axes[-1, 0].set_xlabel(xlabel + " (95% CI; dotted: 95% prediction interval)", fontsize=7)
    return save_png(fig, path)


def vr_forest_png(pooled_vr: Mapping[str, Any], path: str | Path) -> Path:
    """The pooled variance ratios of the two-arm cohorts' sites (``pooled["variance_ratio"]``)
    drawn by the heterogeneity stage's forest plot, with its fixed- and random-effects diamonds
    (:func:`stratify.heterogeneity.meta_analysis.fixed_effect`; the random-effects entry is the
    pooling's REML one)."""
    from stratify.heterogeneity.variance_ratio import forest_png as vr_forest

    studies = pd.DataFrame(pooled_vr["studies"])
    comp = pd.DataFrame(
        {
            "measure": "",
            "study": studies["study"],
            "arm_treatment": [
                f"n {a} vs {b}" for a, b in zip(studies["n_treatment"], studies["n_control"], strict=True)
            ],
            "scale": "",
            "yi_vr": studies["yi"],
            "vi_vr": studies["vi"],
        }
    )
    entry = {
        "measure": None,
        "n_studies": len({s.split(" / ")[0] for s in studies["study"]}),
        "lnVR": {"fixed": fixed_effect(studies["yi"], studies["vi"]), "random": pooled_vr["random"]},
    }
    return vr_forest(comp, [entry], path)
