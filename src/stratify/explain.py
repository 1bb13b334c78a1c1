"""Stage "explain": SHAP TreeExplainer values for the final XGBoost model.

Saves per-patient SHAP values (Parquet, one column per feature), the global importance
(mean |SHAP|) and a beeswarm plot; importance is also summarised per subtype.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def shap_values(model, X: pd.DataFrame) -> tuple[np.ndarray, float]:
    """SHAP values (log-odds scale) of a fitted XGBoost classifier, and the base value."""
    import shap

    explainer = shap.TreeExplainer(model)
    vals = explainer.shap_values(X)
    vals = np.asarray(vals[1] if isinstance(vals, list) else vals, dtype=float)
    base = explainer.expected_value
    base = float(np.ravel(base)[-1])
    return vals, base


def importance(values: np.ndarray, features: list[str]) -> pd.DataFrame:
    """Mean absolute SHAP value per feature, largest first, with rank."""
    imp = pd.DataFrame({"feature": features, "mean_abs_shap": np.abs(values).mean(axis=0)})
    imp = imp.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
    imp["rank"] = np.arange(1, len(imp) + 1)
    return imp


def beeswarm_png(values: np.ndarray, X: pd.DataFrame, path: str | Path, *, max_display: int = 15) -> Path:
    """SHAP beeswarm (summary) plot written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    plt.figure()
    shap.summary_plot(values, X, show=False, max_display=max_display, plot_size=(7, 0.35 * min(
        max_display, X.shape[1]) + 1.5))
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close("all")
    return Path(path)


def importance_by_subtype(values: np.ndarray, features: list[str], subtype: pd.Series) -> pd.DataFrame:
    """Mean |SHAP| per feature within each subtype (rows: subtype, columns: features)."""
    df = pd.DataFrame(np.abs(values), columns=features)
    df["subtype"] = subtype.to_numpy()
    return df.groupby("subtype").mean()
