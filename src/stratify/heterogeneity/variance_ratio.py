"""The ``stratify teh`` commands: treatment-effect heterogeneity from published trial arms.

``stratify teh vr`` (:func:`run_vr`) reads an arms table, pairs the arms
(:mod:`stratify.heterogeneity.trial_arms`), pools lnVR and lnCVR as R's metafor does
(:mod:`stratify.heterogeneity.meta_analysis`) and writes the comparisons, the pooled
results and a forest plot (:func:`forest_png`). ``stratify teh griselda-arms``
(:func:`griselda_arms`) builds the arms table of the GRISELDA reference check.

``docs/heterogeneity.md`` describes the arms file, the outputs and the reproduction of
the published GRISELDA result.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from stratify import __version__
from stratify.errors import InputError
from stratify.heterogeneity.meta_analysis import Z975, pool_comparisons
from stratify.heterogeneity.trial_arms import pair_arms, read_arms
from stratify.inputs.validate import sha256

log = logging.getLogger(__name__)

MAX_LABELLED_ROWS = 40


# --------------------------------------------------------------------------- plot
def forest_png(comparisons: pd.DataFrame, pooled: list[dict], path: str | Path) -> Path:
    """Forest plot of lnVR (as VR, log axis), one panel per measure, pooled FE and RE diamonds.

    Up to 40 comparisons per panel are labelled (study: arm [scale]) in file order;
    more are drawn compactly, sorted by VR and unlabelled (the labels are in
    ``comparisons.tsv``).
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from stratify.plots import plt, save_png  # plots sets the Agg backend

    panels = []
    for entry in pooled:
        sub = comparisons[comparisons["measure"] == (entry["measure"] or "")]
        labelled = len(sub) <= MAX_LABELLED_ROWS
        panels.append((entry, sub if labelled else sub.sort_values("yi_vr", kind="stable"), labelled))
    ratios = []
    for _, sub, labelled in panels:
        ratios += [(0.2 if labelled else 0.022) * len(sub) + 0.5, 0.55, 0.9]
    ratios.pop()  # no gap after the last panel
    fig, axes = plt.subplots(
        len(ratios),
        1,
        figsize=(8, min(sum(ratios), 60)),
        gridspec_kw={"height_ratios": ratios, "hspace": 0},
        squeeze=False,
    )
    lo_all = np.exp((comparisons["yi_vr"] - Z975 * np.sqrt(comparisons["vi_vr"])).min())
    hi_all = np.exp((comparisons["yi_vr"] + Z975 * np.sqrt(comparisons["vi_vr"])).max())
    xlim = (min(lo_all, 0.9) / 1.05, max(hi_all, 1.1) * 1.05)
    ticks = [t for t in (0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 10) if xlim[0] <= t <= xlim[1]]
    for p, (entry, sub, labelled) in enumerate(panels):
        ax, ax_pool = axes[3 * p, 0], axes[3 * p + 1, 0]
        if 3 * p + 2 < len(ratios):
            axes[3 * p + 2, 0].axis("off")
        k = len(sub)
        y = np.arange(k)[::-1]
        se = np.sqrt(sub["vi_vr"].to_numpy())
        yi = sub["yi_vr"].to_numpy()
        ax.hlines(y, np.exp(yi - Z975 * se), np.exp(yi + Z975 * se), color="#7f8c8d", lw=0.8 if labelled else 0.4)
        ax.plot(np.exp(yi), y, "s", color="#34495e", ms=3 if labelled else 1.2)
        ax.set_ylim(-0.7, k - 0.3)
        if labelled:
            ax.set_yticks(y)
            ax.set_yticklabels(
                [
                    f"{s}: {a}" + (f" [{sc}]" if sc else "")
                    for s, a, sc in zip(sub["study"], sub["arm_treatment"], sub["scale"])
                ],
                fontsize=6,
            )
        else:
            ax.set_yticks([])
        title = f"{entry['measure'] or 'all comparisons'}: k = {k} comparisons, {entry['n_studies']} studies"
        if not labelled:
            title += " (sorted by VR, unlabelled: see comparisons.tsv)"
        ax.set_title(title, fontsize=8, loc="left")
        names = []
        for j, model in enumerate(("fixed", "random")):
            r = entry["lnVR"][model]
            yy = 1 - j
            ax_pool.fill(
                [r["ratio_ci_low"], r["ratio"], r["ratio_ci_high"], r["ratio"]],
                [yy, yy + 0.3, yy, yy - 0.3],
                color="#c0392b" if model == "random" else "#2980b9",
            )
            tau = f", tau² = {r['tau2']:.3g}" if model == "random" else ""
            names.append(
                f"{'RE (REML)' if model == 'random' else 'FE'}: VR {r['ratio']:.3f} "
                f"({r['ratio_ci_low']:.3f}-{r['ratio_ci_high']:.3f}){tau}"
            )
        ax_pool.set_ylim(-0.6, 1.6)
        ax_pool.set_yticks([1, 0])
        ax_pool.set_yticklabels(names, fontsize=7)
        ax_pool.set_xlabel("variability ratio VR = SD treatment / SD control, 95% CI (log scale)", fontsize=7)
        for a in (ax, ax_pool):
            a.axvline(1, color="black", lw=0.8)
            a.set_xscale("log")
            a.set_xlim(*xlim)
            a.xaxis.set_major_locator(FixedLocator(ticks))
            a.xaxis.set_minor_locator(NullLocator())
            a.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            a.tick_params(axis="x", labelsize=7)
        ax.tick_params(axis="x", labelbottom=False)
        ax.spines["bottom"].set_visible(False)
        ax_pool.spines["top"].set_linestyle(":")
    return save_png(fig, path)


# --------------------------------------------------------------------------- command
def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    return obj


def run_vr(arms_path: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """``stratify teh vr``: read arms, pair them, pool, write the three outputs.

    Writes ``comparisons.tsv``, ``pooled.json`` and ``forest.png`` into ``out_dir`` and
    returns their paths.
    """
    arms_path, out_dir = Path(arms_path), Path(out_dir)
    arms = read_arms(arms_path)
    log.info("read %d arms from %d studies in %s", len(arms), arms["study"].nunique(), arms_path)
    comparisons = pair_arms(arms, path=arms_path)
    counts = comparisons.groupby("measure")["study"].agg(["size", "nunique"])
    log.info(
        "paired arms into %d comparisons (%s)",
        len(comparisons),
        "; ".join(f"{m or 'all'}: k = {r['size']} in {r['nunique']} studies" for m, r in counts.iterrows()),
    )
    skipped = comparisons["yi_cvr"].isna()
    if skipped.any():
        log.warning(
            "lnCVR not computed for %d comparisons (a mean is 0 or the means differ in sign); "
            "see cvr_note in comparisons.tsv",
            int(skipped.sum()),
        )
    pooled = pool_comparisons(comparisons)
    for e in pooled:
        for es in ("lnVR", "lnCVR"):
            fe, re_ = e[es]["fixed"], e[es]["random"]
            if re_ is None:
                log.info("%s %s: no comparison could be computed", e["measure"] or "all", es)
                continue
            log.info(
                "%s %s (k = %d): FE %s = %.3f (%.3f-%.3f); RE %.3f (%.3f-%.3f), tau2 = %.4g, I2 = %.1f%%, "
                "Q = %.2f (df %d)",
                e["measure"] or "all",
                es,
                e[es]["k"],
                es[2:],
                fe["ratio"],
                fe["ratio_ci_low"],
                fe["ratio_ci_high"],
                re_["ratio"],
                re_["ratio_ci_low"],
                re_["ratio_ci_high"],
                re_["tau2"],
                re_["I2"] or 0.0,
                re_["Q"],
                re_["Q_df"],
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "comparisons": out_dir / "comparisons.tsv",
        "pooled": out_dir / "pooled.json",
        "forest": out_dir / "forest.png",
    }
    comparisons.to_csv(paths["comparisons"], sep="\t", index=False)
    log.info("wrote %s", paths["comparisons"])
    doc = {
        "kind": "stratify.teh.vr",
        "schema_version": 1,
        "provenance": {
            "stratify": __version__,
            "numpy": np.__version__,
            "scipy": __import__("scipy").__version__,
            "arms": str(arms_path),
            "arms_sha256": sha256(arms_path),
        },
        "method": {
            "effect_sizes": "lnVR and lnCVR as metafor 3.8-1 escalc(measure='VR'/'CVR'), treatment = group 1; "
            "lnCVR uses |mean| when both means are negative",
            "fixed": "inverse-variance, as rma(method='FE')",
            "random": "tau2 by REML (Fisher scoring from the HE estimate, truncated at 0, stopping when a "
            "step moves tau2 by at most 1e-5), as rma(method='REML') with its default control",
            "intervals": "Wald, z = 1.959964; ratio_* = exp of the log-scale values",
            "I2": "FE: max(0, 100 (Q - df)/Q); RE: 100 tau2/(tau2 + s2), s2 the typical within-study variance",
        },
        "subsets": pooled,
    }
    paths["pooled"].write_text(json.dumps(_json_safe(doc), indent=2) + "\n")
    log.info("wrote %s", paths["pooled"])
    forest_png(comparisons, pooled, paths["forest"])
    log.info("wrote %s", paths["forest"])
    return paths


# --------------------------------------------------------------------------- GRISELDA
GRISELDA_SCALES = ("HAMD17", "HAMD21", "MADRS")
GRISELDA_COLUMNS = ("study_id", "drug", "scale", "endpoint_n", "endpoint_mean", "endpoint_sd")


def _clean(s: pd.Series) -> pd.Series:
    return s.map(lambda v: re.sub(r"\s+", " ", v).strip())


def griselda_arms(csv_path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Build the arms table of the GRISELDA reference check from Cipriani et al. 2018's arms.

    Follows ``../shared/data/teh/PROVENANCE.md``: every non-placebo arm against the
    placebo arm of the same study on the same scale, scales HAMD17, HAMD21 and MADRS,
    with n, mean and SD present (``*`` or empty is missing). ``n`` is ``endpoint_n``
    (the number analysed at end-point). A negative mean is a change score (the data's
    convention), otherwise an end-point score: ``measure`` is ``change`` or ``endpoint``
    by the sign of the placebo arm's mean, and a treatment arm of the other sign is
    dropped. Study identifiers and drug names have their whitespace tidied (some carry
    line breaks or trailing spaces); ``placebo`` is matched ignoring case.

    Returns the arms table (columns study, arm, group, n, mean, sd, measure, scale) and
    counts of what was left out.
    """
    csv_path = Path(csv_path)
    if not csv_path.exists():
        raise InputError(f"{csv_path}: file not found")
    raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    missing = [c for c in GRISELDA_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(
            f"{csv_path}: missing column {', '.join(repr(c) for c in missing)}; expected the "
            f"GRISELDA arms CSV described in ../shared/data/teh/PROVENANCE.md"
        )
    d = pd.DataFrame({"study": _clean(raw["study_id"]), "arm": _clean(raw["drug"]), "scale": raw["scale"].str.strip()})
    d["placebo"] = d["arm"].str.lower() == "placebo"
    d["group"] = np.where(d["placebo"], "control", "treatment")
    for col, src in (("n", "endpoint_n"), ("mean", "endpoint_mean"), ("sd", "endpoint_sd")):
        d[col] = pd.to_numeric(raw[src].str.strip().replace({"*": "", "": None}), errors="coerce")
    counts = {"arms_in_file": len(d)}
    d = d[d["scale"].isin(GRISELDA_SCALES)]
    counts["arms_on_scales"] = len(d)
    complete = d[["n", "mean", "sd"]].notna().all(axis=1)
    counts["arms_missing_n_mean_or_sd"] = int((~complete).sum())
    d = d[complete]
    keep, n_sign, n_multi = [], 0, 0
    for _, g in d.groupby(["study", "scale"], sort=False):
        pl, tr = g[g["placebo"]], g[~g["placebo"]]
        if len(pl) > 1:
            n_multi += 1
        if len(pl) != 1 or tr.empty:
            continue
        change = pl["mean"].iloc[0] < 0
        same = (tr["mean"] < 0) == change
        n_sign += int((~same).sum())
        if not same.any():
            continue
        part = pd.concat([tr[same], pl])
        part["measure"] = "change" if change else "endpoint"
        keep.append(part)
    counts["treatment_arms_sign_differs_from_placebo"] = n_sign
    counts["study_scales_with_several_placebo_arms"] = n_multi
    arms = pd.concat(keep, ignore_index=True) if keep else d.iloc[0:0].assign(measure="")
    arms["n"] = arms["n"].astype(int)
    arms = arms[["study", "arm", "group", "n", "mean", "sd", "measure", "scale"]]
    counts["arms_written"] = len(arms)
    counts["comparisons"] = int((arms["group"] == "treatment").sum())
    return arms, counts
