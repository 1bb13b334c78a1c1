"""A trained response model as a folder of plain files, written and read without pickle.

A trained model is a folder (``results/<cohort>/model``) of plain files:

* ``xgboost.json``: the XGBoost learner's booster in XGBoost's own JSON format (readable by any
  XGBoost version that reads JSON models, in Python, R or C), fitted on the features other than
  the covariates with the covariate model's linear predictor as offset (``base_margin``);
* ``model_features.json``: everything needed to use it again (:func:`model_metadata`): the
  task and endpoint, the feature list in model order, the learner the nested selection chose
  (``learner``), the covariate model and the elastic net as coefficients
  (:meth:`~stratify.model.response.ResponseModel.to_meta`), the hyperparameters, and the
  preprocessing, which is none beyond the features stage's encodings (missing values stay
  missing: XGBoost learns a default branch per split) together with each feature's training
  distribution (:func:`feature_profile`), so a new cohort can be checked against it;
* ``model_card.md``: :mod:`stratify.model.card`.

:func:`load_model` reads such a folder back, refusing anything that is not the JSON the
model stage writes.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify import __version__
from stratify.errors import InputError
from stratify.model.response import ResponseModel

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
        q = (lambda x, ok=ok: float(np.quantile(ok, x))) if len(ok) else (lambda x: None)
        out[c] = {
            "n": int(len(v)),
            "missing_share": float(v.isna().mean()) if len(v) else 0.0,
            "mean": float(ok.mean()) if len(ok) else None,
            "sd": float(ok.std(ddof=1)) if len(ok) > 1 else None,
            "min": float(ok.min()) if len(ok) else None,
            "q01": q(0.01),
            "median": q(0.5),
            "q99": q(0.99),
            "max": float(ok.max()) if len(ok) else None,
            "n_unique": int(ok.nunique()),
        }
    return out


def model_metadata(
    res: dict[str, Any],
    features: pd.DataFrame,
    fsum: dict[str, Any],
    *,
    cohort: str,
    endpoint: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """The content of ``model_features.json`` for a fitted model: ``res`` from
    :func:`stratify.model.fit.fit_response_model` on ``features`` (the features stage's table)
    and ``fsum`` (its summary); ``cohort``, ``endpoint`` and ``seed`` from the config."""
    import xgboost

    feats = res["features"]
    train = features[features["y"].notna()]
    info = res["info"]
    return {
        "format": FORMAT,
        "stratify_version": __version__,
        "xgboost_version": xgboost.__version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "task": info["task"],
        "endpoint": endpoint,
        "features": feats,
        "feature_groups": fsum.get("feature_groups", {}),
        "endpoint_defined_by": fsum.get("endpoint_defined_by", []),
        "xgboost_params": info["params"],
        **res["model"].to_meta(feats),
        "enet_params": info.get("enet_params"),
        "missing_values": "XGBoost: left missing, a default direction per split; linear parts (covariate "
        "model, elastic net): the training median",
        "preprocessing": {
            "scaling": "none for the trees; the linear parts standardise with the training means and SDs "
            "stored with their coefficients",
            "encodings": {f: ENCODINGS[f] for f in feats if f in ENCODINGS},
            "training_distribution": feature_profile(train[feats]),
        },
        "training": {
            "cohort": cohort,
            "n": info["n_train"],
            "n_sites": info["n_sites"],
            "sites": sorted(train["site"].astype(str).unique().tolist()),
            "prevalence": info["prevalence"],
            "outcome_mean": info["outcome_mean"],
            "outcome_sd": info["outcome_sd"],
            "cv": info["cv"],
            "cv_scheme": info.get("cv_scheme"),
            "seed": seed,
        },
    }


_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol 2+, a zip (joblib/numpy archives)
#: The largest model file read: a JSON booster of thousands of deep trees is tens of MiB.
MAX_MODEL_BYTES = 1 << 30


def _read_json_file(path: Path, what: str) -> Any:
    """Parse ``path`` as JSON text, refusing anything else by name. The bytes are only ever
    decoded as UTF-8 JSON: a pickle (or any other binary) is never unpickled, because loading
    a pickle runs code chosen by whoever wrote the file."""
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise InputError(
            f"{path}: {path.stat().st_size} bytes, larger than any {what} stratify writes; "
            "expected the file the model stage wrote"
        )
    raw = path.read_bytes()
    if raw.startswith(_PICKLE_MAGIC) or b"\x00" in raw[:4096]:  # JSON text never holds a NUL byte
        raise InputError(
            f"{path}: a binary file (a Python pickle or archive?), not {what}; stratify reads "
            "only the JSON files its model stage writes and never unpickles a model (unsafe). "
            "Re-run the model stage to get xgboost.json and model_features.json"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(
            f"{path}: not UTF-8 text (byte {e.start}); expected {what} (JSON). stratify never "
            "unpickles a model: re-run the model stage to get its JSON files"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{path}, line {e.lineno}: not valid JSON ({e.msg}; a truncated or edited file?); "
            f"expected {what}. Re-run the model stage to write it again"
        ) from None


def _check_meta(meta: Any, meta_path: Path) -> dict[str, Any]:
    """The keys of ``model_features.json`` that scoring relies on, with their types."""
    if not isinstance(meta, dict):
        raise InputError(
            f"{meta_path}: a JSON {type(meta).__name__}, expected an object "
            f"(format {FORMAT!r}, written by the model stage)"
        )
    if meta.get("format") != FORMAT:
        raise InputError(
            f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}; re-run the model stage "
            "with this stratify version"
        )
    feats = meta.get("features")
    checks = [
        ("task", meta.get("task") in ("classification", "regression"), "'classification' or 'regression'"),
        (
            "features",
            isinstance(feats, list) and bool(feats) and all(isinstance(f, str) for f in feats),
            "a non-empty list of feature names",
        ),
    ]
    raise_first(checks, meta_path)
    return meta


def raise_first(checks: list[tuple[str, bool, str]], meta_path: Path) -> None:
    for key, ok, expected in checks:
        if not ok:
            raise InputError(
                f"{meta_path}: key {key!r} is missing or malformed; expected {expected}. The file was "
                "edited or is not from the model stage: re-run it"
            )


def _check_booster_json(doc: Any, json_path: Path) -> int:
    """Number of features of an XGBoost JSON model document, or a named error when the JSON is
    not one (XGBoost's own format: ``{"learner": {"learner_model_param": {"num_feature": ...},
    "gradient_booster": ...}, "version": [major, minor, patch]}``)."""
    learner = doc.get("learner") if isinstance(doc, dict) else None
    param = learner.get("learner_model_param") if isinstance(learner, dict) else None
    ok = (
        isinstance(param, dict)
        and "gradient_booster" in learner
        and isinstance(doc.get("version"), list)
        and str(param.get("num_feature", "")).isdigit()
    )
    if not ok:
        raise InputError(
            f"{json_path}: JSON, but not an XGBoost model (no learner.learner_model_param, "
            "gradient_booster and version); expected the xgboost.json the model stage writes"
        )
    return int(param["num_feature"])


def load_model(model_dir: str | Path):
    """The response model (:class:`~stratify.model.response.ResponseModel`: the chosen learner
    predicts) and its metadata from a model folder.

    Only JSON is read: ``model_features.json`` and XGBoost's JSON model format. Anything else
    (a pickle, a pickle renamed ``.json``, other binary data, JSON that is not an XGBoost
    model, a truncated file) is refused with :class:`~stratify.errors.InputError`; nothing is
    ever unpickled.
    """
    from xgboost import XGBClassifier, XGBRegressor
    from xgboost.core import XGBoostError

    d = Path(model_dir)
    if not d.is_dir():
        raise InputError(
            f"{d}: not a folder; expected a model folder (results/<cohort>/model after the model "
            "stage) with xgboost.json and model_features.json"
        )
    meta_path, json_path = d / "model_features.json", d / "xgboost.json"
    for p in (meta_path, json_path):
        if not p.is_file():
            raise InputError(
                f"{p}: not found; a model folder holds xgboost.json and model_features.json "
                "(results/<cohort>/model after the model stage)"
            )
    meta = _check_meta(_read_json_file(meta_path, "the model metadata"), meta_path)
    n_feat = _check_booster_json(_read_json_file(json_path, "an XGBoost JSON model"), json_path)
    want = meta.get("booster_features", meta["features"])
    if n_feat != len(want) or not set(want) <= set(meta["features"]):
        raise InputError(
            f"{json_path}: the booster has {n_feat} features, {meta_path} lists "
            f"{len(meta['features'])} ({len(want)} of them for the trees); the two files are not from the same run"
        )
    model = (XGBRegressor if meta["task"] == "regression" else XGBClassifier)()
    try:
        model.load_model(str(json_path))
    except (XGBoostError, ValueError, TypeError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(
            f"{json_path}: XGBoost cannot load this model ({first[:200]}); expected the xgboost.json "
            "the model stage writes"
        ) from None
    try:
        return ResponseModel.from_meta(meta, model), meta
    except (KeyError, ValueError, TypeError) as e:
        raise InputError(
            f"{meta_path}: the covariate or linear model is malformed ({type(e).__name__}: {e}); re-run the model stage"
        ) from None
