"""Static plots (matplotlib, Agg backend) written as PNG for the report."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def save_png(fig, path: str | Path) -> Path:
    """Lay out ``fig``, write it as a PNG (110 dpi) to ``path`` and close it."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion k/n.

    >>> [round(x, 3) for x in wilson(5, 10)]
    [0.237, 0.763]
    """
    if n == 0:
        return None, None
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, float(c - h)), min(1.0, float(c + h))


def criterion_png(bic: dict, chosen: int, path: Path, *, label: str = "BIC (lower is better)") -> Path:
    """The selection criterion by k (BIC, silhouette or PAC) with the chosen k marked."""
    ks = sorted(int(k) for k in bic)
    vals = [bic[str(k)] if str(k) in bic else bic[k] for k in ks]
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.plot(ks, vals, "o-", color="#34495e")
    ax.axvline(chosen, color="#c0392b", ls="--", lw=1, label=f"chosen k = {chosen}")
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel(label)
    ax.legend(frameon=False)
    return save_png(fig, path)


def profile_png(prof: pd.DataFrame, features: list[str], path: Path) -> Path:
    """Standardised cluster means with 95% intervals, one panel row per feature."""
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(features) + 1.5))
    k = len(prof)
    width = 0.8 / max(k, 1)
    y = np.arange(len(features))
    for j, (_, row) in enumerate(prof.iterrows()):
        m = np.array([row[f] for f in features])
        lo = np.array([row[f"{f}_lo"] for f in features])
        hi = np.array([row[f"{f}_hi"] for f in features])
        ax.barh(
            y + j * width,
            m,
            height=width,
            xerr=[m - lo, hi - m],
            capsize=2,
            label=f"cluster {row['cluster']}: {row['subtype']} (n={row['n']})",
        )
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y + width * (k - 1) / 2)
    ax.set_yticklabels(features)
    ax.set_xlabel("standardised mean (z)")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    return save_png(fig, path)


def roc_png(oof: pd.DataFrame, path: Path) -> Path:
    """ROC curves of the out-of-fold predictions of every model, pooled over all patients (the legend
    gives the pooled AUC; under leave-one-site-out the headline AUC is the within-site one)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = oof["y"].to_numpy()
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    for col in [c for c in oof.columns if c not in ("patient_id", "site", "y")]:
        p = oof[col].to_numpy()
        fpr, tpr, _ = roc_curve(y, p)
        auc = roc_auc_score(y, p) if np.unique(p).size > 1 else 0.5
        ax.plot(fpr, tpr, label=f"{col} (pooled AUC {auc:.2f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    return save_png(fig, path)


def observed_predicted_png(
    oof: pd.DataFrame, path: Path, *, model: str = "xgboost", label: str = "percent change"
) -> Path:
    """Regression: observed against out-of-fold predicted outcome for one model, with the
    identity line and the least-squares line."""
    y, p = oof["y"].to_numpy(dtype=float), oof[model].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.scatter(p, y, s=6, alpha=0.35, color="#2e86c1", label=f"{model} (out of fold)")
    lo, hi = float(min(p.min(), y.min())), float(max(p.max(), y.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls=":", label="ideal")
    if np.ptp(p) > 0:
        b = np.polyfit(p, y, 1)
        xs = np.linspace(p.min(), p.max(), 20)
        ax.plot(xs, np.polyval(b, xs), color="#c0392b", lw=1.2, label=f"fit (slope {b[0]:.2f})")
    ax.set_xlabel(f"predicted {label}")
    ax.set_ylabel(f"observed {label}")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    return save_png(fig, path)


def calibration_png(oof: pd.DataFrame, path: Path, *, bins: int = 10, task: str = "classification") -> Path:
    """Observed outcome rate against mean predicted probability, per decile of prediction,
    with 95% Wilson intervals, for every model but the constant majority baseline.
    For regression: the observed mean (with a normal 95% interval) against the mean
    prediction per decile."""
    y = oof["y"].to_numpy()
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    if task == "regression":
        for col in [c for c in oof.columns if c not in ("patient_id", "site", "y", "mean")]:
            p = oof[col].to_numpy(dtype=float)
            q = pd.qcut(p, bins, labels=False, duplicates="drop")
            mp = [p[q == b].mean() for b in np.unique(q)]
            obs = [y[q == b].mean() for b in np.unique(q)]
            se = [1.96 * y[q == b].std(ddof=1) / np.sqrt((q == b).sum()) for b in np.unique(q)]
            ax.errorbar(mp, obs, yerr=se, fmt="o-", ms=3, lw=1, capsize=2, label=col)
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls=":", label="ideal")
        ax.set_xlabel("predicted (decile mean)")
        ax.set_ylabel("observed mean")
        ax.legend(frameon=False, fontsize=8, loc="upper left")
        return save_png(fig, path)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":", label="ideal")
    for col in [c for c in oof.columns if c not in ("patient_id", "site", "y", "majority")]:
        p = oof[col].to_numpy()
        q = pd.qcut(p, bins, labels=False, duplicates="drop")
        mp, obs, lo, hi = [], [], [], []
        for b in np.unique(q):
            m = q == b
            mp.append(p[m].mean())
            obs.append(y[m].mean())
            a, z = wilson(int(y[m].sum()), int(m.sum()))
            lo.append(max(0.0, obs[-1] - a))  # Wilson bounds can miss the rate by rounding
            hi.append(max(0.0, z - obs[-1]))
        ax.errorbar(mp, obs, yerr=[lo, hi], fmt="o-", ms=3, lw=1, capsize=2, label=col)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability (decile mean)")
    ax.set_ylabel("observed rate")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    return save_png(fig, path)


def bar_counts_png(counts: dict[str, dict[str, int]], path: Path, *, title: str = "") -> Path:
    """Horizontal bars of category counts, one panel per group (e.g. phenotypes per gene)."""
    n = max(len(counts), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.2), squeeze=False)
    for ax, (g, c) in zip(axes[0], counts.items()):
        items = sorted(c.items(), key=lambda kv: -kv[1])
        ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#2e86c1")
        ax.set_title(g, fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_png(fig, path)
