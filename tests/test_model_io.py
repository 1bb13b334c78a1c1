"""Model artifacts without pickle, the model card, and external validation (stratify model apply)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stratify.errors import StratifyError
from stratify.io.tables import write_table
from stratify.model.card import model_card
from stratify.model.external import apply_model, check_features
from stratify.model.fit import fit_response_model, model_options
from stratify.model.io import load_model, model_metadata

GROUPS = {"clinical": ["strong", "noise1"], "biomarker": [], "genetic": ["gen1"]}
FSUM = {"model_features": ["strong", "noise1", "gen1"], "feature_groups": GROUPS}


def _cohort(n, *, seed, shift=0.0, strength=2.5):
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-strength * (x - shift)))).astype(float)
    return pd.DataFrame(
        {
            "patient_id": [f"P{seed}_{i}" for i in range(n)],
            "site": np.where(np.arange(n) % 2, "A", "B"),
            "y": y,
            "strong": x,
            "noise1": rng.normal(0, 1, n),
            "gen1": rng.normal(0, 1, n),
        }
    )


def _config(cohort, **endpoint):
    return {
        "cohort": cohort,
        "seed": 0,
        "endpoint": {"kind": "response", "instrument": "HAMD17", "week": 8, **endpoint},
        "model": {
            "folds": 3,
            "n_bootstrap": 50,
            "n_estimators": 40,
            "max_depth": 2,
            "learning_rate": 0.2,
            "n_permutations": 9,
            "search": {"n_candidates": 0},
        },
    }


def _b(cohort="B", **endpoint):
    """apply_model's options for cohort B, as the CLI takes them from B's config."""
    cfg = _config(cohort, **endpoint)
    return {
        "cohort": cfg["cohort"],
        "endpoint": cfg["endpoint"],
        "seed": cfg["seed"],
        "n_boot": cfg["model"]["n_bootstrap"],
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Cohort A trained and saved as the model stage saves it."""
    d = tmp_path_factory.mktemp("A") / "model"
    d.mkdir()
    df = _cohort(300, seed=1)
    cfg = _config("A")
    res = fit_response_model(df, FSUM, options=model_options(cfg))
    res["model"].booster.save_model(str(d / "xgboost.json"))
    meta = model_metadata(res, df, FSUM, cohort=cfg["cohort"], endpoint=cfg["endpoint"], seed=cfg["seed"])
    (d / "model_features.json").write_text(json.dumps(meta))
    summary = {"metrics": res["metrics"], **res["info"]}
    (d / "metrics.json").write_text(json.dumps(summary, default=float))
    return d, res, meta, summary, df


def _results_b(tmp_path, df):
    """Cohort B's feature table, as its features stage writes it; returns its path."""
    path = tmp_path / "features" / "features.parquet"
    write_table(df, path, kind="features")
    return path


def test_json_roundtrip_predicts_exactly_like_the_fitted_model(trained):
    d, res, meta, _, df = trained
    model, meta2 = load_model(d)
    X = df[meta2["features"]].to_numpy()
    np.testing.assert_allclose(model.predict(X), res["model"].predict(X), rtol=1e-6)
    assert meta2["learner"] == "xgboost" and meta2["booster_features"] == meta2["features"]
    assert not list(d.glob("*.pkl")) and not list(d.glob("*.pickle"))
    prof = meta["preprocessing"]["training_distribution"]["strong"]
    assert prof["mean"] == pytest.approx(df["strong"].mean()) and prof["missing_share"] == 0.0
    assert meta["task"] == "classification" and meta["features"] == ["strong", "noise1", "gen1"]


def test_model_card_states_data_metrics_use_and_limits(trained):
    _, _, meta, summary, _ = trained
    card = model_card(meta, summary)
    for heading in ("## Model", "## Data", "## Metrics", "## Intended use", "## Limitations"):
        assert heading in card
    assert "Not for clinical decisions" in card and "| xgboost |" in card
    assert f"{summary['metrics']['xgboost']['auc']:.2f}" in card


def test_apply_to_a_cohort_from_the_same_population(trained, tmp_path):
    d, _, _, _, _ = trained
    b = _cohort(400, seed=2)
    s = apply_model(d, _results_b(tmp_path / "B", b), tmp_path / "out", **_b())
    assert s["n_with_endpoint"] == 400 and s["metrics"]["auc"] > 0.75
    assert s["endpoint_differences"] == [] and s["features_unavailable"] == []
    for f in (
        "predictions.parquet",
        "feature_check.tsv",
        "metrics.json",
        "performance.png",
        "calibration.png",
        "summary.md",
    ):
        assert (tmp_path / "out" / f).exists(), f
    check = pd.read_csv(tmp_path / "out" / "feature_check.tsv", sep="\t")
    assert set(check["status"]) == {"ok"}


def test_missing_feature_is_explained_not_filled(trained, tmp_path):
    d, _, _, _, _ = trained
    b = _cohort(200, seed=3).drop(columns=["gen1"])
    rb = _results_b(tmp_path / "B", b)
    with pytest.raises(
        StratifyError,
        match=r"1 of the model's 3 features are not available.*no column 'gen1'.*"
        r"--allow-missing",
    ):
        apply_model(d, rb, tmp_path / "out", **_b())
    s = apply_model(d, rb, tmp_path / "out", **_b(), allow_missing=True)
    assert s["features_unavailable"] == ["gen1"]
    assert "missing for every patient" in (tmp_path / "out" / "summary.md").read_text()


def test_shifted_features_and_endpoint_differences_are_reported(trained, tmp_path):
    d, _, _, _, _ = trained
    b = _cohort(300, seed=4, shift=1.5)
    s = apply_model(d, _results_b(tmp_path / "B", b), tmp_path / "out", **_b(instrument="MADRS"))
    assert s["features_shifted"] == ["strong"]
    assert s["endpoint_differences"] == ["endpoint.instrument: model 'HAMD17', this cohort 'MADRS'"]
    text = (tmp_path / "out" / "summary.md").read_text()
    assert "The endpoints differ" in text and "strong: shifted: mean differs by +1." in text


def test_apply_refuses_a_different_task_and_a_missing_feature_table(trained, tmp_path):
    d, _, _, _, _ = trained
    with pytest.raises(StratifyError, match="features stage first"):
        apply_model(d, tmp_path / "nothing" / "features" / "features.parquet", tmp_path / "out", **_b())
    rb = _results_b(tmp_path / "B", _cohort(100, seed=5))
    with pytest.raises(StratifyError, match="endpoint.kind: the model predicts a classification endpoint"):
        apply_model(d, rb, tmp_path / "out", **_b(kind="pct_change"))


def test_check_features_statuses(trained):
    _, _, meta, _, _ = trained
    X = pd.DataFrame({"strong": [np.nan] * 5, "noise1": [0.0, 0.1, -0.1, 0.2, 0.0]})
    check = check_features(meta, X, source="b.parquet").set_index("feature")
    assert check.loc["strong", "status"] == "all missing"
    assert check.loc["gen1", "status"] == "absent" and "no column 'gen1' in b.parquet" in check.loc["gen1", "note"]
    assert check.loc["noise1", "status"] == "ok"


def test_load_model_explains_a_wrong_folder(tmp_path):
    with pytest.raises(StratifyError, match="model_features.json: not found"):
        load_model(tmp_path)


def test_genotype_pcs_are_flagged_as_not_comparable(trained):
    _, _, meta, _, _ = trained
    meta = json.loads(json.dumps(meta))
    meta["features"].append("pc1")
    meta["preprocessing"]["training_distribution"]["pc1"] = meta["preprocessing"]["training_distribution"]["noise1"]
    X = pd.DataFrame({"strong": [0.0, 1.0], "noise1": [0.0, 0.1], "gen1": [0.0, 0.2], "pc1": [0.0, 0.1]})
    check = check_features(meta, X, source="b").set_index("feature")
    assert check.loc["pc1", "status"] == "not comparable" and "within each cohort" in check.loc["pc1", "note"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("model_features.json", b"", r"model_features.json, line 1: not valid JSON \(Expecting value"),
        ("model_features.json", "{}".encode("utf-16"), r"model_features.json: (a binary file|not UTF-8 text)"),
        ("model_features.json", b"[1, 2]", r"model_features.json: a JSON list, expected an object"),
        ("xgboost.json", b'{"learner": 1}', r"xgboost.json: JSON, but not an XGBoost model"),
        ("xgboost.json", "\u22125\n".encode(), r"xgboost.json, line 1: not valid JSON"),
        ("metrics.json", b'{"metrics": ', r"metrics.json: not a valid JSON file"),
        ("metrics.json", b'{"metrics": {}}', r"metrics.json: no metrics.selected object"),
    ],
)
def test_damaged_model_files_are_named(trained, tmp_path, name, content, message):
    """Found by tests/test_fuzz.py: a truncated, re-encoded or foreign file in the model folder."""
    import shutil

    d, _, _, _, _ = trained
    m = tmp_path / "model"
    shutil.copytree(d, m)
    (m / name).write_bytes(content)
    with pytest.raises(StratifyError, match=message):
        apply_model(m, _results_b(tmp_path / "B", _cohort(100, seed=5)), tmp_path / "out", **_b())


# --------------------------------------------------------------------------- refusing what is not an XGBoost JSON model


def _copy_model(src, dst):
    dst.mkdir()
    for f in ("xgboost.json", "model_features.json"):
        (dst / f).write_bytes((src / f).read_bytes())
    return dst


@pytest.mark.parametrize(
    "payload, message",
    [
        ("pickle", "never unpickles"),
        ("bytes", "not UTF-8 text|never unpickles"),
        ("other_json", "not an XGBoost model"),
        ("truncated", "not valid JSON"),
        ("zip", "never unpickles"),
    ],
)
def test_anything_but_an_xgboost_json_model_is_refused_without_unpickling(
    trained, tmp_path, monkeypatch, payload, message
):
    import io
    import pickle
    import zipfile

    d, _, _, _, _ = trained
    m = _copy_model(d, tmp_path / "m")
    good = (d / "xgboost.json").read_bytes()
    if payload == "pickle":  # a renamed pickle: the classic way to run code on load
        data = pickle.dumps({"learner": 1})
    elif payload == "bytes":
        data = bytes(range(255, 0, -1)) * 4
    elif payload == "other_json":
        data = b'{"learner": "no", "version": [2, 0, 0]}'
    elif payload == "truncated":
        data = good[: len(good) // 2]
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("model.pkl", pickle.dumps(1))
        data = buf.getvalue()
    (m / "xgboost.json").write_bytes(data)

    def boom(*a, **k):  # unpickling at all is a failure of this test, whatever the file holds
        raise AssertionError("pickle.load called on a user file")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    with pytest.raises(StratifyError, match=message):
        load_model(m)


def test_malformed_model_metadata_is_a_named_error(trained, tmp_path):
    d, _, meta, _, _ = trained
    m = _copy_model(d, tmp_path / "m")
    (m / "model_features.json").write_text("[1, 2]")
    with pytest.raises(StratifyError, match="expected an object"):
        load_model(m)
    bad = {**meta, "features": "strong"}
    (m / "model_features.json").write_text(json.dumps(bad))
    with pytest.raises(StratifyError, match="key 'features' is missing or malformed"):
        load_model(m)
    (m / "model_features.json").write_text(json.dumps(meta)[:40])
    with pytest.raises(StratifyError, match="not valid JSON"):
        load_model(m)


def test_booster_and_metadata_from_different_runs_are_refused(trained, tmp_path):
    d, _, meta, _, _ = trained
    m = _copy_model(d, tmp_path / "m")
    two = {**meta, "features": ["strong", "noise1"]}
    (m / "model_features.json").write_text(json.dumps(two))
    with pytest.raises(StratifyError, match="the booster has 3 features"):
        load_model(m)


def test_model_card_names_kfold_when_kfold_was_used(trained):
    _, _, meta, summary, _ = trained
    meta = json.loads(json.dumps(meta))
    meta["training"]["cv"] = "stratified 3-fold, shuffled with the seed (only 2 sites; leave-one-site-out needs 3)"
    meta["training"]["cv_scheme"] = "stratified 3-fold"
    assert "with leave-one-site-out, at a site not seen" not in model_card(meta, summary)
    meta["training"]["cv_scheme"] = "leave-one-site-out"
    assert "with leave-one-site-out, at a site not seen" in model_card(meta, summary)


def test_apply_explains_missing_features_and_what_to_do(trained, tmp_path):
    d, _, _, _, df = trained
    b = _results_b(tmp_path, _cohort(60, seed=5).drop(columns=["gen1"]))
    with pytest.raises(
        StratifyError,
        match=r"1 of the model's 3 features are not available.*no column 'gen1'.*"
        r"--allow-missing",
    ):
        apply_model(d, b, tmp_path / "out", **_b())


def test_apply_on_a_cohort_without_the_endpoint_is_a_named_error(trained, tmp_path):
    d, _, _, _, _ = trained
    b = _results_b(tmp_path, _cohort(60, seed=5).assign(y=np.nan))
    with pytest.raises(StratifyError, match="none of cohort B's 60 patients has the endpoint"):
        apply_model(d, b, tmp_path / "out", **_b())


def test_apply_refuses_metadata_without_what_scoring_needs(trained, tmp_path):
    d, _, meta, _, df = trained
    m = _copy_model(d, tmp_path / "m")
    (m / "model_features.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "preprocessing"}))
    load_model(m)  # enough to explain the model (the explain stage)
    b = _results_b(tmp_path / "b", _cohort(60, seed=5))
    with pytest.raises(StratifyError, match="key 'preprocessing.training_distribution' is missing or malformed"):
        apply_model(m, b, tmp_path / "out", **_b())


def test_cli_model_apply_passes_cohort_b_config(trained, tmp_path):
    """``stratify model apply``: cohort B's config gives the endpoint, cohort, seed and
    bootstrap size; its results folder gives the feature table."""
    import yaml

    from stratify.cli import main

    d, _, _, _, _ = trained
    rb = _results_b(tmp_path / "B", _cohort(200, seed=6)).parent.parent
    for name in ("patients.tsv", "symptoms.tsv"):
        (tmp_path / name).write_text("")
    cfg = {**_config("B"), "genome_build": "GRCh38", "inputs": {"patients": "patients.tsv", "symptoms": "symptoms.tsv"}}
    cfg["model"] = {"n_bootstrap": 100}
    (tmp_path / "B.yaml").write_text(yaml.safe_dump(cfg))
    argv = [
        "model",
        "apply",
        "--config",
        str(tmp_path / "B.yaml"),
        "--results",
        str(rb),
        "--model",
        str(d),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
    ]
    assert main(argv) == 0
    s = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert s["cohort"] == "B" and s["n_with_endpoint"] == 200 and s["endpoint"]["instrument"] == "HAMD17"
    assert s == apply_model(
        d,
        rb / "features" / "features.parquet",
        tmp_path / "again",
        cohort="B",
        endpoint=s["endpoint"],
        seed=0,
        n_boot=100,
    )
