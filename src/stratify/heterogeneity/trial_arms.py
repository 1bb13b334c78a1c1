"""Trial arms tables: reading and checking them, and pairing each treatment arm with the
control arm of its study into the comparisons the variance-ratio meta-analysis pools
(:mod:`stratify.heterogeneity.meta_analysis`).

``docs/heterogeneity.md`` describes the arms file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stratify.errors import InputError, where
from stratify.heterogeneity.meta_analysis import lncvr, lnvr
from stratify.io.schema import check_table
from stratify.io.text import read_text_table

ARMS_SCHEMA = {
    "title": "trial arms table",
    "type": "object",
    "additionalProperties": False,
    "required": ["study", "arm", "group", "n", "mean", "sd"],
    "properties": {
        "study": {"type": "string", "description": "study identifier; arms are compared within a study"},
        "arm": {"type": "string", "description": "arm label, unique within study, measure and scale"},
        "group": {"type": "string", "enum": ["treatment", "control"]},
        "n": {"type": "integer", "minimum": 2, "description": "participants analysed in the arm"},
        "mean": {"type": "number", "description": "mean outcome of the arm"},
        "sd": {"type": "number", "exclusiveMinimum": 0, "description": "standard deviation of the outcome"},
        "measure": {"type": "string", "description": "outcome kind (e.g. endpoint, change); pooled separately"},
        "scale": {"type": "string", "description": "rating scale; arms are compared only on the same scale"},
    },
}
OPTIONAL_KEYS = ("measure", "scale")


def read_arms(path: str | Path) -> pd.DataFrame:
    """Read and check an arms table (TSV, or CSV by extension); add each row's ``line``.

    Columns: ``study``, ``arm``, ``group`` (treatment/control), ``n`` (>= 2), ``mean``,
    ``sd`` (> 0), optional ``measure`` and ``scale``. Any other column, an empty cell,
    or an arm label repeated within a study (and measure, scale) is an error naming
    the file, line (header = line 1) and column.
    """
    path = Path(path)
    raw = read_text_table(path)
    if raw.empty:
        raise InputError(f"{path}: no arms (the file has a header but no rows)")
    arms = check_table(raw, ARMS_SCHEMA, path=path)
    for col in OPTIONAL_KEYS:
        if col in arms.columns and arms[col].isna().any():
            i = arms[col].isna().idxmax()
            raise InputError(
                f"{where(path, int(i) + 2, col)}: expected a value (the column is present, so "
                f"every arm needs one), found ''"
            )
    for col in ("mean", "sd"):
        bad = ~np.isfinite(arms[col])
        if bad.any():
            i = bad.idxmax()
            raise InputError(f"{where(path, int(i) + 2, col)}: expected a finite number, found {raw.loc[i, col]!r}")
    arms["line"] = arms.index.astype(int) + 2
    keys = ["study", *[c for c in OPTIONAL_KEYS if c in arms.columns], "arm"]
    dup = arms.duplicated(subset=keys, keep="first")
    if dup.any():
        i = dup.idxmax()
        first = arms.index[(arms[keys] == arms.loc[i, keys]).all(axis=1)][0]
        vals = ", ".join(f"{k}={arms.loc[i, k]}" for k in keys)
        raise InputError(f"{where(path, int(i) + 2)}: duplicate arm ({vals}); first seen on line {int(first) + 2}")
    return arms.reset_index(drop=True)


def pair_arms(arms: pd.DataFrame, *, path: str | Path = "arms") -> pd.DataFrame:
    """One comparison per treatment arm against the control arm of its study.

    Arms are matched on ``study`` and, where the columns exist, ``measure`` and ``scale``.
    Within such a group, treatment arms need exactly one control arm: none or several
    is an error naming the study and the lines. A group with only a control arm gives
    no comparison. Returns the inputs of both arms with lnVR and lnCVR (``yi_*``,
    ``vi_*``); ``cvr_note`` says why lnCVR is missing or how the means were used.
    """
    keys = ["study", *[c for c in OPTIONAL_KEYS if c in arms.columns]]
    rows = []
    for key, g in arms.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        trt, ctl = g[g["group"] == "treatment"], g[g["group"] == "control"]
        if trt.empty:
            continue
        label = f"study {key[0]!r}" + "".join(f", {c} {v!r}" for c, v in zip(keys[1:], key[1:]))
        if ctl.empty:
            raise InputError(
                f"{where(path, int(trt['line'].iloc[0]))}: {label} has treatment arms but no control "
                f"arm to compare them with (group 'control')"
            )
        if len(ctl) > 1:
            lines = ", ".join(str(x) for x in ctl["line"])
            raise InputError(
                f"{where(path, int(ctl['line'].iloc[1]))}: {label} has {len(ctl)} control arms "
                f"(lines {lines}); expected exactly one"
            )
        c = ctl.iloc[0]
        for _, t in trt.iterrows():
            row = {
                "measure": key[keys.index("measure")] if "measure" in keys else "",
                "scale": key[keys.index("scale")] if "scale" in keys else "",
                "study": key[0],
                "arm_treatment": t["arm"],
                "arm_control": c["arm"],
                "line_treatment": int(t["line"]),
                "line_control": int(c["line"]),
                "n_treatment": int(t["n"]),
                "mean_treatment": float(t["mean"]),
                "sd_treatment": float(t["sd"]),
                "n_control": int(c["n"]),
                "mean_control": float(c["mean"]),
                "sd_control": float(c["sd"]),
            }
            rows.append(row)
    cols = [
        "measure",
        "scale",
        "study",
        "arm_treatment",
        "arm_control",
        "line_treatment",
        "line_control",
        "n_treatment",
        "mean_treatment",
        "sd_treatment",
        "n_control",
        "mean_control",
        "sd_control",
    ]
    out = pd.DataFrame(rows, columns=cols)
    if out.empty:
        raise InputError(f"{path}: no comparisons: no study has both a treatment and a control arm")
    out["yi_vr"], out["vi_vr"] = lnvr(out["sd_treatment"], out["n_treatment"], out["sd_control"], out["n_control"])
    out["yi_cvr"], out["vi_cvr"] = lncvr(
        out["mean_treatment"],
        out["sd_treatment"],
        out["n_treatment"],
        out["mean_control"],
        out["sd_control"],
        out["n_control"],
    )
    prod = out["mean_treatment"] * out["mean_control"]
    out["cvr_note"] = np.select(
        [
            (out["mean_treatment"] == 0) | (out["mean_control"] == 0),
            prod < 0,
            (out["mean_treatment"] < 0) & (out["mean_control"] < 0),
        ],
        ["not computed: a mean is 0", "not computed: means of opposite sign", "both means negative: |mean| used"],
        default="",
    )
    return out
