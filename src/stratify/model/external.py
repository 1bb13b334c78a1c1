"""The response model's artifacts without pickle, its model card, and external validation.

A trained model is a folder (``results/<cohort>/model``) of plain files:

* ``xgboost.json``: the booster in XGBoost's own JSON format (readable by any XGBoost
  version that reads JSON models, in Python, R or C);
* ``model_features.json``: everything needed to use it again: the task and endpoint, the
  feature list in model order, the hyperparameters, and the preprocessing, which is none
  beyond the features stage's encodings (missing values stay missing: XGBoost learns a
  default branch per split) together with each feature's training distribution, so a new
  cohort can be checked against it;
* ``model_card.md``: data, metrics, intended use and limitations (Mitchell et al. 2019,
  "Model cards for model reporting").

:func:`apply_model` (``stratify model apply``) scores another cohort with such a folder and
reports its metrics there. Feature mismatches are explained, never silently filled: a
feature the new cohort lacks is an error unless the user accepts scoring with it missing
(``--allow-missing``), and every feature's distribution is compared with training.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify import __version__
from stratify.errors import ConfigError, InputError

log = logging.getLogger(__name__)

FORMAT = "stratify-model/1"
ENCODINGS = {
    "sex_female": "1 female, 0 male",
    "cyp2c19_rank": "CPIC phenotype as enzyme function: poor 0, likely poor 0.5, intermediate 1, likely "
                    "intermediate 1.5, normal 2, rapid 2.5, ultrarapid 3",
    "cyp2d6_rank": "as cyp2c19_rank",
    "log_crp": "natural log of CRP in mg/L (values below detection at half the limit)",
    "index_ssri_snri": "1 when the index treatment is an SSRI or SNRI",
    "index_escitalopram_citalopram": "1 when the index treatment is escitalopram or citalopram",
}
# a shift worth a reader's attention (standardised mean difference; missing-share difference)
SMD_FLAG, MISSING_FLAG = 0.5, 0.2


def feature_profile(X: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per feature: count, share missing, mean, SD, min, 1st/50th/99th percentile, max and
    the number of distinct values.

    >>> feature_profile(pd.DataFrame({"a": [1.0, 2.0, np.nan, 3.0]}))["a"]["missing_share"]
    0.25
    """
    out = {}
    for c in X.columns:
        v = pd.to_numeric(X[c], errors="coerce").astype(float)
        ok = v.dropna()
        q = (lambda x: float(np.quantile(ok, x))) if len(ok) else (lambda x: None)
        out[c] = {"n": int(len(v)), "missing_share": float(v.isna().mean()) if len(v) else 0.0,
                  "mean": float(ok.mean()) if len(ok) else None,
                  "sd": float(ok.std(ddof=1)) if len(ok) > 1 else None,
                  "min": float(ok.min()) if len(ok) else None, "q01": q(0.01), "median": q(0.5), "q99": q(0.99),
                  "max": float(ok.max()) if len(ok) else None, "n_unique": int(ok.nunique())}
    return out


def model_metadata(config: dict[str, Any], res: dict[str, Any], features: pd.DataFrame,
                   fsum: dict[str, Any]) -> dict[str, Any]:
    """The content of ``model_features.json`` for a fitted model (:func:`stratify.model.fit.fit_response_model`)."""
    import xgboost

    feats = res["features"]
    train = features[features["y"].notna()]
    info = res["info"]
    return {
        "format": FORMAT, "stratify_version": __version__, "xgboost_version": xgboost.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "task": info["task"], "endpoint": config["endpoint"], "features": feats,
        "feature_groups": fsum.get("feature_groups", {}), "endpoint_defined_by": fsum.get("endpoint_defined_by", []),
        "xgboost_params": info["params"],
        "missing_values": "left missing; XGBoost learns a default direction per split",
        "preprocessing": {"scaling": "none (trees)", "encodings": {f: ENCODINGS[f] for f in feats if f in ENCODINGS},
                          "training_distribution": feature_profile(train[feats])},
        "training": {"cohort": config["cohort"], "n": info["n_train"], "n_sites": info["n_sites"],
                     "sites": sorted(train["site"].astype(str).unique().tolist()),
                     "prevalence": info["prevalence"], "outcome_mean": info["outcome_mean"],
                     "outcome_sd": info["outcome_sd"], "cv": info["cv"], "cv_scheme": info.get("cv_scheme"),
                     "seed": config["seed"]},
    }


_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")   # pickle protocol 2+, a zip (joblib/numpy archives)
#: The largest model file read: a JSON booster of thousands of deep trees is tens of MiB.
MAX_MODEL_BYTES = 1 << 30


def _read_json_file(path: Path, what: str) -> Any:
    """Parse ``path`` as JSON text, refusing anything else by name. The bytes are only ever
    decoded as UTF-8 JSON: a pickle (or any other binary) is never unpickled, because loading
    a pickle runs code chosen by whoever wrote the file."""
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise InputError(f"{path}: {path.stat().st_size} bytes, larger than any {what} stratify writes; "
                         "expected the file the model stage wrote")
    raw = path.read_bytes()
    if raw.startswith(_PICKLE_MAGIC) or b"\x00" in raw[:4096]:   # JSON text never holds a NUL byte
        raise InputError(f"{path}: a binary file (a Python pickle or archive?), not {what}; stratify reads "
                         "only the JSON files its model stage writes and never unpickles a model (unsafe). "
                         "Re-run the model stage to get xgboost.json and model_features.json")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start}); expected {what} (JSON). stratify never "
                         "unpickles a model: re-run the model stage to get its JSON files") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}, line {e.lineno}: not valid JSON ({e.msg}; a truncated or edited file?); "
                         f"expected {what}. Re-run the model stage to write it again") from None


def _check_meta(meta: Any, meta_path: Path) -> dict[str, Any]:
    """The keys of ``model_features.json`` that scoring relies on, with their types."""
    if not isinstance(meta, dict):
        raise InputError(f"{meta_path}: a JSON {type(meta).__name__}, expected an object "
                         f"(format {FORMAT!r}, written by the model stage)")
    if meta.get("format") != FORMAT:
        raise InputError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}; re-run the model stage "
                         "with this stratify version")
    feats = meta.get("features")
    checks = [
        ("task", meta.get("task") in ("classification", "regression"), "'classification' or 'regression'"),
        ("features", isinstance(feats, list) and bool(feats) and all(isinstance(f, str) for f in feats),
         "a non-empty list of feature names"),
    ]
    _raise_first(checks, meta_path)
    return meta


def _check_apply_meta(meta: dict[str, Any], meta_path: Path) -> None:
    """The further keys of ``model_features.json`` that scoring another cohort relies on."""
    feats = meta["features"]
    checks = [
        ("endpoint", isinstance(meta.get("endpoint"), dict) and "kind" in meta.get("endpoint", {}),
         "an object with kind"),
        ("training", isinstance(meta.get("training"), dict) and "cohort" in meta["training"]
         and isinstance(meta["training"].get("n"), int), "an object with cohort and n"),
        ("preprocessing.training_distribution",
         isinstance(meta.get("preprocessing"), dict)
         and isinstance(meta["preprocessing"].get("training_distribution"), dict)
         and isinstance(feats, list) and all(_profile_ok(meta["preprocessing"]["training_distribution"].get(f))
                                             for f in feats if isinstance(f, str)),
         "an object with a profile for every feature (mean, sd, min, max: numbers or null; missing_share: "
         "a number)"),
    ]
    _raise_first(checks, meta_path)


def _profile_ok(p: Any) -> bool:
    """A feature's training profile as the model stage writes it."""
    def num(v, null=True):
        return (v is None and null) or (isinstance(v, (int, float)) and not isinstance(v, bool))
    return (isinstance(p, dict) and all(num(p.get(k, 0), True) and k in p for k in ("mean", "sd", "min", "max"))
            and num(p.get("missing_share"), False))


def _raise_first(checks: list[tuple[str, bool, str]], meta_path: Path) -> None:
    for key, ok, expected in checks:
        if not ok:
            raise InputError(f"{meta_path}: key {key!r} is missing or malformed; expected {expected}. The file was "
                             "edited or is not from the model stage: re-run it")


def _check_booster_json(doc: Any, json_path: Path) -> int:
    """Number of features of an XGBoost JSON model document, or a named error when the JSON is
    not one (XGBoost's own format: ``{"learner": {"learner_model_param": {"num_feature": ...},
    "gradient_booster": ...}, "version": [major, minor, patch]}``)."""
    learner = doc.get("learner") if isinstance(doc, dict) else None
    param = learner.get("learner_model_param") if isinstance(learner, dict) else None
    ok = (isinstance(param, dict) and "gradient_booster" in learner and isinstance(doc.get("version"), list)
          and str(param.get("num_feature", "")).isdigit())
    if not ok:
        raise InputError(f"{json_path}: JSON, but not an XGBoost model (no learner.learner_model_param, "
                         "gradient_booster and version); expected the xgboost.json the model stage writes")
    return int(param["num_feature"])


def load_model(model_dir: str | Path):
    """The XGBoost model and its metadata from a model folder.

    Only JSON is read: ``model_features.json`` and XGBoost's JSON model format. Anything else
    (a pickle, a pickle renamed ``.json``, other binary data, JSON that is not an XGBoost
    model, a truncated file) is refused with :class:`~stratify.errors.InputError`; nothing is
    ever unpickled.
    """
    from xgboost import XGBClassifier, XGBRegressor
    from xgboost.core import XGBoostError

    d = Path(model_dir)
    if not d.is_dir():
        raise InputError(f"{d}: not a folder; expected a model folder (results/<cohort>/model after the model "
                         "stage) with xgboost.json and model_features.json")
    meta_path, json_path = d / "model_features.json", d / "xgboost.json"
    for p in (meta_path, json_path):
        if not p.is_file():
            raise InputError(f"{p}: not found; a model folder holds xgboost.json and model_features.json "
                             "(results/<cohort>/model after the model stage)")
    meta = _check_meta(_read_json_file(meta_path, "the model metadata"), meta_path)
    n_feat = _check_booster_json(_read_json_file(json_path, "an XGBoost JSON model"), json_path)
    if n_feat != len(meta["features"]):
        raise InputError(f"{json_path}: the booster has {n_feat} features, {meta_path} lists "
                         f"{len(meta['features'])}; the two files are not from the same run")
    model = (XGBRegressor if meta["task"] == "regression" else XGBClassifier)()
    try:
        model.load_model(str(json_path))
    except (XGBoostError, ValueError, TypeError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{json_path}: XGBoost cannot load this model ({first[:200]}); expected the xgboost.json "
                         "the model stage writes") from None
    return model, meta


def _read_json(path: Path) -> Any:
    """A model folder's JSON file; a file that is not UTF-8 JSON is an :class:`InputError`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a valid JSON file ({exc}); re-run the model stage to write it again") from None


def _ci(v: Any, ci: Any, fmt: str = ".2f") -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
        return "n/a"   # absent, or a metrics.json edited by hand
    s = format(v, fmt)
    if (isinstance(ci, (list, tuple)) and len(ci) == 2
            and all(isinstance(c, (int, float)) and np.isfinite(c) for c in ci)):
        s += f" ({format(ci[0], fmt)} to {format(ci[1], fmt)})"
    return s


def model_card(meta: dict[str, Any], summary: dict[str, Any]) -> str:
    """A model card (Markdown): the model, its data, its metrics with intervals and baselines,
    intended use and limitations, in the words the numbers allow."""
    t, ep, task = meta["training"], meta["endpoint"], meta["task"]
    m = summary["metrics"]
    main = m["xgboost"]
    perm = main.get("permutation_test")
    if task == "classification":
        what = {"response": f"response (>= 50% reduction of {ep['instrument']}) at week {ep['week']:g}",
                "remission": f"remission on {ep['instrument']} at week {ep['week']:g}",
                "trd": f"TRD status ({ep.get('definition')}) after the index treatment"}[ep["kind"]]
        head = ["| model | AUC (95% CI) | Brier | balanced accuracy | calibration slope | calibration intercept |",
                "|---|---|---|---|---|---|"]
        rows = [f"| {k} | {_ci(v['auc'], v['auc_ci'])} | {v['brier']:.3f} | {v['balanced_accuracy']:.2f} | "
                f"{_ci(v['calibration'].get('slope'), v['calibration'].get('slope_ci'))} | "
                f"{_ci(v['calibration'].get('intercept'), v['calibration'].get('intercept_ci'))} |"
                for k, v in m.items()]
        base = f"prevalence {t['prevalence']:.2f}"
    else:
        what = f"percent change of {ep['instrument']} from week 0 to week {ep['week']:g}"
        head = ["| model | R² (95% CI) | RMSE | MAE | calibration slope | calibration intercept |",
                "|---|---|---|---|---|---|"]
        rows = [f"| {k} | {_ci(v['r2'], v['r2_ci'])} | {v['rmse']:.1f} | {v['mae']:.1f} | "
                f"{_ci(v['calibration'].get('slope'), v['calibration'].get('slope_ci'))} | "
                f"{_ci(v['calibration'].get('intercept'), v['calibration'].get('intercept_ci'), '.1f')} |"
                for k, v in m.items()]
        base = f"outcome mean {t['outcome_mean']:.1f}, SD {t['outcome_sd']:.1f}"
    if perm:
        chance = perm["p_value"] >= 0.05
        verdict = (f"Permutation test: p = {perm['p_value']:.3g} over {perm['n_permutations']} permutations of the "
                   f"outcome (null {perm['statistic']} mean {perm['null_mean']:.2f}). "
                   + ("**The model's performance is not distinguishable from chance; do not use its predictions.**"
                      if chance else "The model does better than chance on this cohort."))
    else:
        verdict = "No permutation test was run (model.n_permutations: 0)."
    defined = meta.get("endpoint_defined_by") or []
    lims = [
        "Trained on one cohort" + (f" of {t['n_sites']} sites" if t["n_sites"] > 1 else "") + "; performance in "
        "another population is unknown until measured there (`stratify model apply`).",
        "Cross-validated metrics estimate performance in new patients from the same sites"
        + (" and, with leave-one-site-out, at a site not seen in training"
           if t.get("cv_scheme", t["cv"].split(" over ")[0]) == "leave-one-site-out" else "")
        + "; the bootstrap intervals leave out the variability of the cross-validation itself and are somewhat "
        "too narrow.",
        "Missing feature values are scored by XGBoost's learned default branches; a cohort that lacks a feature "
        "entirely is outside what the model was trained on.",
        "SHAP values explain the model, not the patient's biology; they are not causal effects.",
    ]
    pcs = [f for f in meta["features"] if re.fullmatch(r"pc\d+", f)]
    if pcs:
        lims.append(f"The genotype principal components ({', '.join(pcs)}) are computed within the training cohort; "
                    "their axes do not carry over to another cohort, so retrain without them before applying the "
                    "model elsewhere.")
    if defined:
        lims.append(f"{', '.join(defined)} enter(s) the TRD definition itself; their importance is partly by "
                    "construction.")
    feats = ", ".join(meta["features"])
    return "\n".join([
        f"# Model card: {t['cohort']} response model", "",
        f"Created {meta['created']} by stratify {meta['stratify_version']} (XGBoost {meta['xgboost_version']}).",
        "", "## Model", "",
        f"- XGBoost {'classifier' if task == 'classification' else 'regressor'} predicting {what}.",
        f"- Hyperparameters (inner search on all patients): "
        + ", ".join(f"{k} {v}" for k, v in meta["xgboost_params"].items()) + ".",
        f"- Features ({len(meta['features'])}): {feats}.",
        "- Files: `xgboost.json` (the booster, XGBoost JSON), `model_features.json` (features, preprocessing, "
        "training distribution); no pickle.", "",
        "## Data", "",
        f"- Cohort `{t['cohort']}`: {t['n']} patients with the endpoint ({base}); sites: {', '.join(t['sites'])}.",
        f"- Evaluation: nested cross-validation, {t['cv']}; metrics from out-of-fold predictions with "
        "percentile bootstrap intervals over patients.", "",
        "## Metrics", "", *head, *rows, "", verdict, "",
        "## Intended use", "",
        "Research: to study which baseline information predicts the outcome and how much, and to compare "
        "cohorts. **Not for clinical decisions about individual patients**: it has not been prospectively "
        "validated, and in antidepressant trials outcomes vary about as much on placebo as on drug.", "",
        "## Limitations", "", *[f"- {x}" for x in lims], "",
    ])


def _endpoint_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
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
        r.update(new_mean=float(ok.mean()) if len(ok) else None, new_sd=float(ok.std(ddof=1)) if len(ok) > 1 else None,
                 new_missing_share=float(v.isna().mean()))
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
            notes.append(f"missing in {100 * r['new_missing_share']:.0f}% (training "
                         f"{100 * tr['missing_share']:.0f}%)")
        if outside is not None and outside > 0.05:
            notes.append(f"{100 * outside:.0f}% of values outside the training range "
                         f"[{tr['min']:.3g}, {tr['max']:.3g}]")
        status = "shifted" if notes else "ok"
        if re.fullmatch(r"pc\d+", f):
            status = "not comparable"
            notes.insert(0, "genotype principal components are computed within each cohort, so their axes (order "
                            "and sign) differ between cohorts; retrain without them for use elsewhere")
        rows.append({**r, "status": status, "note": "; ".join(notes)})
    cols = ["feature", "status", "note", "train_mean", "new_mean", "smd", "train_sd", "new_sd", "train_missing_share",
            "new_missing_share", "share_outside_training_range"]
    return pd.DataFrame(rows).reindex(columns=cols)


def apply_model(model_dir: str | Path, config: dict[str, Any], results: str | Path, out: str | Path, *,
                allow_missing: bool = False, n_boot: int | None = None) -> dict[str, Any]:
    """Score cohort B (its config and results folder, run through the features stage) with
    the model in ``model_dir`` and report the metrics there.

    Raises :class:`~stratify.errors.InputError` when B has no feature table, when the
    endpoint's task differs, or when model features are absent or entirely missing in B and
    ``allow_missing`` is False (the message lists them and the ways forward).
    Writes ``predictions.parquet``, ``feature_check.tsv``, ``metrics.json``,
    ``performance.png``, ``calibration.png`` and ``summary.md`` into ``out``.
    """
    from stratify.model.fit import (calibration, _calibration_ci, metrics_with_ci, predict,
                                regression_metrics_with_ci)
    from stratify.plots import calibration_png, observed_predicted_png, roc_png
    from stratify.io.tables import read_table, write_table

    model, meta = load_model(model_dir)
    _check_apply_meta(meta, Path(model_dir) / "model_features.json")
    results, out = Path(results), Path(out)
    fpath = results / "features" / "features.parquet"
    if not fpath.exists():
        raise InputError(f"{fpath}: not found; run cohort B through the features stage first: "
                         f"snakemake --cores 2 {fpath} --configfile <B config>")
    df = read_table(fpath, kind="features")
    lacking = [c for c in ("patient_id", "site", "y") if c not in df.columns]
    if lacking:
        raise InputError(f"{fpath}: no column(s) {', '.join(lacking)}; expected the features stage's table. "
                         "Re-run the features stage for cohort B")
    task = meta["task"]
    from stratify.model.fit import task_of

    if task_of(config["endpoint"]) != task:
        raise ConfigError(f"endpoint.kind: the model predicts a {task} endpoint ({meta['endpoint']['kind']}); "
                          f"this cohort's config asks for {config['endpoint']['kind']}. Set endpoint.kind to "
                          f"{meta['endpoint']['kind']} in the cohort B config")
    ep_diff = _endpoint_differences(meta["endpoint"], config["endpoint"])
    for d in ep_diff:
        log.warning("endpoint differs: %s; metrics compare unlike outcomes", d)
    check = check_features(meta, df, source=str(fpath))
    bad = check[check["status"].isin(["absent", "all missing"])]
    if len(bad) and not allow_missing:
        raise InputError(
            f"{fpath}: {len(bad)} of the model's {len(check)} features are not available in cohort B: "
            + "; ".join(bad["note"]) + ". Either provide them for cohort B, retrain the model without them "
            "(features.* in the cohort A config), or pass --allow-missing to score with them missing for every "
            "patient (XGBoost then takes its default branches; the report says so)")
    for _, r in check[check["status"].isin(["shifted", "not comparable"])].iterrows():
        log.warning("feature %s: %s", r["feature"], r["note"])
    X = pd.DataFrame({f: (pd.to_numeric(df[f], errors="coerce") if f in df.columns else np.nan)
                      for f in meta["features"]}).astype(float)
    p = predict(model, X.to_numpy())
    pred = pd.DataFrame({"patient_id": df["patient_id"].to_numpy(), "site": df["site"].to_numpy(),
                         "y": df["y"].to_numpy(dtype=float), "xgboost": p})
    out.mkdir(parents=True, exist_ok=True)
    write_table(pred, out / "predictions.parquet", kind="model.apply.predictions",
                provenance={"model_dir": str(model_dir), "cohort": config["cohort"], "allow_missing": allow_missing})
    check.to_csv(out / "feature_check.tsv", sep="\t", index=False)
    have = pred[pred["y"].notna()]
    if have.empty:
        raise InputError(f"{fpath}: none of cohort B's {len(pred)} patients has the endpoint ({config['endpoint']}); "
                         "metrics need observed outcomes: check endpoint.* in the cohort B config "
                         "(results/<B>/features/summary.json lists why each patient lacks it)")
    y, pp = have["y"].to_numpy(), have["xgboost"].to_numpy()
    nb = n_boot or config["model"]["n_bootstrap"]
    summary: dict[str, Any] = {
        "model": {"dir": str(model_dir), "cohort": meta["training"]["cohort"], "task": task,
                  "endpoint": meta["endpoint"], "n_train": meta["training"]["n"]},
        "cohort": config["cohort"], "endpoint": config["endpoint"], "endpoint_differences": ep_diff,
        "n_patients": int(len(pred)), "n_with_endpoint": int(len(have)),
        "features_unavailable": bad["feature"].tolist(), "allow_missing": allow_missing,
        "features_shifted": check.loc[check["status"] == "shifted", "feature"].tolist(),
        "features_not_comparable": check.loc[check["status"] == "not comparable", "feature"].tolist(),
    }
    if task == "classification":
        if np.unique(y).size < 2:
            raise InputError(f"{fpath}: cohort B has {len(y)} patients with the endpoint, all in one class; "
                             "discrimination cannot be measured")
        met = metrics_with_ci(y.astype(int), pp, n_boot=nb, seed=config["seed"])
        met["calibration"] = {**calibration(y, pp), **_calibration_ci(y, pp, n_boot=nb, seed=config["seed"] + 2)}
        summary["prevalence"] = float(y.mean())
        roc_png(have, out / "performance.png")
    else:
        met = regression_metrics_with_ci(y, pp, n_boot=nb, seed=config["seed"])
        observed_predicted_png(have, out / "performance.png")
    calibration_png(have, out / "calibration.png", task=task)
    summary["metrics"] = met
    train_cv = None
    mpath = Path(model_dir) / "metrics.json"
    if mpath.exists():
        doc = _read_json(mpath)
        train_cv = doc.get("metrics", {}).get("xgboost") if isinstance(doc, dict) else None
        if not isinstance(train_cv, dict):
            raise InputError(f"{mpath}: no metrics.xgboost object; expected the metrics.json the model stage "
                             "writes (delete it to apply the model without its cross-validated metrics)")
    summary["training_cv_metrics"] = train_cv
    (out / "metrics.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    (out / "summary.md").write_text(_apply_text(summary, check))
    key = "auc" if task == "classification" else "r2"
    log.info("model from %s applied to %s: %d patients with the endpoint, %s %.3f (95%% CI %.3f-%.3f)",
             meta["training"]["cohort"], config["cohort"], len(have), key.upper(), met[key], *met[f"{key}_ci"])
    return summary


def _apply_text(s: dict[str, Any], check: pd.DataFrame) -> str:
    task, m = s["model"]["task"], s["metrics"]
    key, name = ("auc", "AUC") if task == "classification" else ("r2", "R²")
    cv = s.get("training_cv_metrics")
    lines = [f"# External validation: model `{s['model']['cohort']}` on cohort `{s['cohort']}`", "",
             f"{s['n_with_endpoint']} of {s['n_patients']} patients have the endpoint.", "",
             f"- {name} {_ci(m[key], m[f'{key}_ci'])}"
             + (f" (cross-validated in training: {_ci(cv[key], cv[f'{key}_ci'])})" if cv else ""),
             f"- calibration slope {_ci(m['calibration'].get('slope'), m['calibration'].get('slope_ci'))}, "
             f"intercept {_ci(m['calibration'].get('intercept'), m['calibration'].get('intercept_ci'))}"]
    if task == "classification":
        lines.append(f"- Brier {m['brier']:.3f}, balanced accuracy {m['balanced_accuracy']:.2f}")
    else:
        lines.append(f"- RMSE {m['rmse']:.1f}, MAE {m['mae']:.1f}")
    lines.append("")
    if s["endpoint_differences"]:
        lines += ["**The endpoints differ**: " + "; ".join(s["endpoint_differences"]) + ".", ""]
    if s["features_unavailable"]:
        lines += [f"**Scored with {len(s['features_unavailable'])} feature(s) missing for every patient** "
                  f"(--allow-missing): {', '.join(s['features_unavailable'])}. XGBoost took its default branches; "
                  "the metrics above are for that reduced information.", ""]
    flagged = check[check["status"] != "ok"]
    lines += ["## Feature check", "",
              "All features match the training distribution." if flagged.empty else
              "\n".join(f"- {r.feature}: {r.status}: {r.note}" for r in flagged.itertuples()), ""]
    return "\n".join(lines)
