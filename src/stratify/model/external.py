"""External validation: a trained response model applied to another cohort.

:func:`apply_model` (``stratify model apply``) scores another cohort with a model folder
(:mod:`stratify.model.io`) and reports its metrics there. Feature mismatches are explained,
never silently filled: a feature the new cohort lacks is an error unless the user accepts
scoring with it missing (``--allow-missing``), and every feature's distribution is compared
with training (:func:`check_features`).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import ConfigError, InputError
from stratify.io.tables import read_table, write_table
from stratify.model.calibration import calibration, calibration_ci
from stratify.model.card import format_ci
from stratify.model.io import load_model, raise_first
from stratify.model.learners import predict, task_of
from stratify.model.metrics import metrics_with_ci, regression_metrics_with_ci
from stratify.plots import calibration_png, observed_predicted_png, roc_png

log = logging.getLogger(__name__)

# a shift worth a reader's attention (standardised mean difference; missing-share difference)
SMD_FLAG, MISSING_FLAG = 0.5, 0.2


def _check_apply_meta(meta: dict[str, Any], meta_path: Path) -> None:
    """The further keys of ``model_features.json`` that scoring another cohort relies on."""
    feats = meta["features"]
    checks = [
        (
            "endpoint",
            isinstance(meta.get("endpoint"), dict) and "kind" in meta.get("endpoint", {}),
            "an object with kind",
        ),
        (
            "training",
            isinstance(meta.get("training"), dict)
            and "cohort" in meta["training"]
            and isinstance(meta["training"].get("n"), int),
            "an object with cohort and n",
        ),
        (
            "preprocessing.training_distribution",
            isinstance(meta.get("preprocessing"), dict)
            and isinstance(meta["preprocessing"].get("training_distribution"), dict)
            and isinstance(feats, list)
            and all(
                _profile_ok(meta["preprocessing"]["training_distribution"].get(f)) for f in feats if isinstance(f, str)
            ),
            "an object with a profile for every feature (mean, sd, min, max: numbers or null; missing_share: a number)",
        ),
    ]
    raise_first(checks, meta_path)


def _profile_ok(p: Any) -> bool:
    """A feature's training profile as the model stage writes it."""

    def num(v, null=True):
        return (v is None and null) or (isinstance(v, (int, float)) and not isinstance(v, bool))

    return (
        isinstance(p, dict)
        and all(num(p.get(k, 0), True) and k in p for k in ("mean", "sd", "min", "max"))
        and num(p.get("missing_share"), False)
    )


def _read_json(path: Path) -> Any:
    """A model folder's JSON file; a file that is not UTF-8 JSON is an :class:`InputError`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a valid JSON file ({exc}); re-run the model stage to write it again") from None


def endpoint_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """How endpoint ``b`` (a cohort's) differs from ``a`` (the model's): kind, instrument, week
    and, for a TRD endpoint, its definition; an empty list when they agree.

    >>> endpoint_differences({"kind": "response", "instrument": "HAMD17"}, {"kind": "response", "instrument": "MADRS"})
    ["endpoint.instrument: model 'HAMD17', this cohort 'MADRS'"]
    """
    out = []
    for k in ("kind", "instrument", "week", "definition"):
        if k == "definition" and a.get("kind") != "trd":
            continue
        if a.get(k) != b.get(k):
            out.append(f"endpoint.{k}: model {a.get(k)!r}, this cohort {b.get(k)!r}")
    return out


def check_features(meta: dict[str, Any], X: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Compare the new cohort's model features with the training distribution, one row per
    feature: status (``ok``, ``absent``, ``all missing``, ``shifted``, ``not comparable``: genotype
    principal components, whose axes are cohort-specific), means, SDs,
    standardised mean difference, missing shares and the share of values outside the
    training range."""
    prof = meta["preprocessing"]["training_distribution"]
    rows = []
    for f in meta["features"]:
        tr = prof[f]
        r = {"feature": f, "train_mean": tr["mean"], "train_sd": tr["sd"], "train_missing_share": tr["missing_share"]}
        if f not in X.columns:
            rows.append({**r, "status": "absent", "note": f"no column {f!r} in {source}"})
            continue
        v = pd.to_numeric(X[f], errors="coerce").astype(float)
        ok = v.dropna()
        r.update(
            new_mean=float(ok.mean()) if len(ok) else None,
            new_sd=float(ok.std(ddof=1)) if len(ok) > 1 else None,
            new_missing_share=float(v.isna().mean()),
        )
        if not len(ok):
            rows.append({**r, "status": "all missing", "note": f"{f} is missing for every patient of {source}"})
            continue
        sd = tr["sd"] or 0.0
        smd = (r["new_mean"] - tr["mean"]) / sd if sd > 0 and tr["mean"] is not None else None
        outside = float(((ok < tr["min"]) | (ok > tr["max"])).mean()) if tr["min"] is not None else None
        r.update(smd=smd, share_outside_training_range=outside)
        notes = []
        if smd is not None and abs(smd) > SMD_FLAG:
            notes.append(f"mean differs by {smd:+.2f} training SDs")
        if abs(r["new_missing_share"] - tr["missing_share"]) > MISSING_FLAG:
            notes.append(f"missing in {100 * r['new_missing_share']:.0f}% (training {100 * tr['missing_share']:.0f}%)")
        if outside is not None and outside > 0.05:
            notes.append(
                f"{100 * outside:.0f}% of values outside the training range [{tr['min']:.3g}, {tr['max']:.3g}]"
            )
        status = "shifted" if notes else "ok"
        if re.fullmatch(r"pc\d+", f):
            status = "not comparable"
            notes.insert(
                0,
                "genotype principal components are computed within each cohort, so their axes (order "
                "and sign) differ between cohorts; retrain without them for use elsewhere",
            )
        rows.append({**r, "status": status, "note": "; ".join(notes)})
    cols = [
        "feature",
        "status",
        "note",
        "train_mean",
        "new_mean",
        "smd",
        "train_sd",
        "new_sd",
        "train_missing_share",
        "new_missing_share",
        "share_outside_training_range",
    ]
    return pd.DataFrame(rows).reindex(columns=cols)


def _read_cohort(features_path: Path) -> pd.DataFrame:
    """Cohort B's feature table, with the columns scoring needs."""
    if not features_path.exists():
        raise InputError(
            f"{features_path}: not found; run cohort B through the features stage first: "
            f"snakemake --cores 2 {features_path} --configfile <B config>"
        )
    df = read_table(features_path, kind="features")
    lacking = [c for c in ("patient_id", "site", "y") if c not in df.columns]
    if lacking:
        raise InputError(
            f"{features_path}: no column(s) {', '.join(lacking)}; expected the features stage's table. "
            "Re-run the features stage for cohort B"
        )
    return df


def _check_compatible(
    meta: dict[str, Any], df: pd.DataFrame, *, endpoint: dict[str, Any], source: Path, allow_missing: bool
) -> tuple[list[str], pd.DataFrame]:
    """The endpoint's differences (the task must match) and the feature check; features that
    are absent or all missing are an error unless ``allow_missing``."""
    task = meta["task"]
    if task_of(endpoint) != task:
        raise ConfigError(
            f"endpoint.kind: the model predicts a {task} endpoint ({meta['endpoint']['kind']}); "
            f"this cohort's config asks for {endpoint['kind']}. Set endpoint.kind to "
            f"{meta['endpoint']['kind']} in the cohort B config"
        )
    ep_diff = endpoint_differences(meta["endpoint"], endpoint)
    for d in ep_diff:
        log.warning("endpoint differs: %s; metrics compare unlike outcomes", d)
    check = check_features(meta, df, source=str(source))
    bad = check[check["status"].isin(["absent", "all missing"])]
    if len(bad) and not allow_missing:
        raise InputError(
            f"{source}: {len(bad)} of the model's {len(check)} features are not available in cohort B: "
            + "; ".join(bad["note"])
            + ". Either provide them for cohort B, retrain the model without them "
            "(features.* in the cohort A config), or pass --allow-missing to score with them missing for every "
            "patient (XGBoost then takes its default branches; the report says so)"
        )
    for _, r in check[check["status"].isin(["shifted", "not comparable"])].iterrows():
        log.warning("feature %s: %s", r["feature"], r["note"])
    return ep_diff, check


def _external_metrics(
    have: pd.DataFrame, *, task: str, n_boot: int, seed: int, out: Path, source: Path
) -> dict[str, Any]:
    """Cohort B's metrics with bootstrap intervals, and its performance and calibration figures."""
    y, pp = have["y"].to_numpy(), have["selected"].to_numpy()
    if task == "classification":
        if np.unique(y).size < 2:
            raise InputError(
                f"{source}: cohort B has {len(y)} patients with the endpoint, all in one class; "
                "discrimination cannot be measured"
            )
        met = metrics_with_ci(y.astype(int), pp, n_boot=n_boot, seed=seed)
        met["calibration"] = {**calibration(y, pp), **calibration_ci(y, pp, n_boot=n_boot, seed=seed + 2)}
        roc_png(have, out / "performance.png")
    else:
        met = regression_metrics_with_ci(y, pp, n_boot=n_boot, seed=seed)
        observed_predicted_png(have, out / "performance.png", model="selected")
    calibration_png(have, out / "calibration.png", task=task)
    return met


def _training_cv_metrics(model_dir: Path) -> dict[str, Any] | None:
    """The main model's cross-validated metrics from the model folder's ``metrics.json``, if any."""
    mpath = model_dir / "metrics.json"
    if not mpath.exists():
        return None
    doc = _read_json(mpath)
    mets = doc.get("metrics", {}) if isinstance(doc, dict) else {}
    train_cv = mets.get("selected", mets.get("xgboost")) if isinstance(mets, dict) else None
    if not isinstance(train_cv, dict):
        raise InputError(
            f"{mpath}: no metrics.selected object; expected the metrics.json the model stage "
            "writes (delete it to apply the model without its cross-validated metrics)"
        )
    return train_cv


def apply_model(
    model_dir: str | Path,
    features_path: str | Path,
    out: str | Path,
    *,
    cohort: str,
    endpoint: dict[str, Any],
    seed: int = 0,
    n_boot: int = 1000,
    allow_missing: bool = False,
) -> dict[str, Any]:
    """Score cohort B (its feature table, ``results/<B>/features/features.parquet``) with
    the model in ``model_dir`` and report the metrics there.

    ``cohort`` and ``endpoint`` are cohort B's (its config's ``cohort`` and ``endpoint``);
    ``seed`` and ``n_boot`` set the bootstrap intervals (the config's ``seed`` and
    ``model.n_bootstrap``).

    Raises :class:`~stratify.errors.InputError` when B has no feature table, when the
    endpoint's task differs, or when model features are absent or entirely missing in B and
    ``allow_missing`` is False (the message lists them and the ways forward).
    Writes ``predictions.parquet``, ``feature_check.tsv``, ``metrics.json``,
    ``performance.png``, ``calibration.png`` and ``summary.md`` into ``out``.
    """
    model, meta = load_model(model_dir)
    _check_apply_meta(meta, Path(model_dir) / "model_features.json")
    fpath, out = Path(features_path), Path(out)
    df = _read_cohort(fpath)
    task = meta["task"]
    ep_diff, check = _check_compatible(meta, df, endpoint=endpoint, source=fpath, allow_missing=allow_missing)
    bad = check[check["status"].isin(["absent", "all missing"])]
    X = pd.DataFrame(
        {f: (pd.to_numeric(df[f], errors="coerce") if f in df.columns else np.nan) for f in meta["features"]}
    ).astype(float)
    p = predict(model, X.to_numpy())
    pred = pd.DataFrame(
        {
            "patient_id": df["patient_id"].to_numpy(),
            "site": df["site"].to_numpy(),
            "y": df["y"].to_numpy(dtype=float),
            "selected": p,
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    write_table(
        pred,
        out / "predictions.parquet",
        kind="model.apply.predictions",
        provenance={"model_dir": str(model_dir), "cohort": cohort, "allow_missing": allow_missing},
    )
    check.to_csv(out / "feature_check.tsv", sep="\t", index=False)
    have = pred[pred["y"].notna()]
    if have.empty:
        raise InputError(
            f"{fpath}: none of cohort B's {len(pred)} patients has the endpoint ({endpoint}); "
            "metrics need observed outcomes: check endpoint.* in the cohort B config "
            "(results/<B>/features/summary.json lists why each patient lacks it)"
        )
    summary: dict[str, Any] = {
        "model": {
            "dir": str(model_dir),
            "cohort": meta["training"]["cohort"],
            "task": task,
            "endpoint": meta["endpoint"],
            "n_train": meta["training"]["n"],
        },
        "cohort": cohort,
        "endpoint": endpoint,
        "endpoint_differences": ep_diff,
        "n_patients": int(len(pred)),
        "n_with_endpoint": int(len(have)),
        "features_unavailable": bad["feature"].tolist(),
        "allow_missing": allow_missing,
        "features_shifted": check.loc[check["status"] == "shifted", "feature"].tolist(),
        "features_not_comparable": check.loc[check["status"] == "not comparable", "feature"].tolist(),
    }
    met = _external_metrics(have, task=task, n_boot=n_boot, seed=seed, out=out, source=fpath)
    if task == "classification":
        summary["prevalence"] = float(have["y"].to_numpy().mean())
    summary["metrics"] = met
    summary["training_cv_metrics"] = _training_cv_metrics(Path(model_dir))
    (out / "metrics.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    (out / "summary.md").write_text(_apply_text(summary, check))
    key = "auc" if task == "classification" else "r2"
    log.info(
        "model from %s applied to %s: %d patients with the endpoint, %s %.3f (95%% CI %.3f-%.3f)",
        meta["training"]["cohort"],
        cohort,
        len(have),
        key.upper(),
        met[key],
        *met[f"{key}_ci"],
    )
    return summary


def _apply_text(s: dict[str, Any], check: pd.DataFrame) -> str:
    task, m = s["model"]["task"], s["metrics"]
    key, name = ("auc", "AUC") if task == "classification" else ("r2", "R²")
    cv = s.get("training_cv_metrics")
    lines = [
        f"# External validation: model `{s['model']['cohort']}` on cohort `{s['cohort']}`",
        "",
        f"{s['n_with_endpoint']} of {s['n_patients']} patients have the endpoint.",
        "",
        f"- {name} {format_ci(m[key], m[f'{key}_ci'])}"
        + (f" (cross-validated in training: {format_ci(cv[key], cv[f'{key}_ci'])})" if cv else ""),
        f"- calibration slope {format_ci(m['calibration'].get('slope'), m['calibration'].get('slope_ci'))}, "
        f"intercept {format_ci(m['calibration'].get('intercept'), m['calibration'].get('intercept_ci'))}",
    ]
    if task == "classification":
        lines.append(f"- Brier {m['brier']:.3f}, balanced accuracy {m['balanced_accuracy']:.2f}")
    else:
        lines.append(f"- RMSE {m['rmse']:.1f}, MAE {m['mae']:.1f}")
    lines.append("")
    if s["endpoint_differences"]:
        lines += ["**The endpoints differ**: " + "; ".join(s["endpoint_differences"]) + ".", ""]
    if s["features_unavailable"]:
        lines += [
            f"**Scored with {len(s['features_unavailable'])} feature(s) missing for every patient** "
            f"(--allow-missing): {', '.join(s['features_unavailable'])}. XGBoost took its default branches; "
            "the metrics above are for that reduced information.",
            "",
        ]
    flagged = check[check["status"] != "ok"]
    lines += [
        "## Feature check",
        "",
        "All features match the training distribution."
        if flagged.empty
        else "\n".join(f"- {r.feature}: {r.status}: {r.note}" for r in flagged.itertuples()),
        "",
    ]
    return "\n".join(lines)
