"""The subtype stage's saved clustering (subtype/model.json) and assigning new patients with it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stratify.errors import InputError
from stratify.subtype.saved import assign_with_model, read_model, write_model
from stratify.subtype.subtyping import SubtypeOptions, run_subtyping

FEATS = ("inflammatory_index", "metabolic_index", "aes", "anhedonia")


def _cohort(n: int, seed: int, *, shift: float = 4.0, share: float = 0.3) -> pd.DataFrame:
    """Two groups on the raw scales of the features table (indices ~ z, aes and anhedonia sums)."""
    rng = np.random.default_rng(seed)
    g = rng.random(n) < share
    df = pd.DataFrame(
        {
            "patient_id": [f"P{seed}_{i}" for i in range(n)],
            "inflammatory_index": rng.normal(0, 1, n) + shift * g,
            "metabolic_index": rng.normal(0, 1, n) + shift * g,
            "aes": rng.normal(6, 2, n) + 2 * shift * g,
            "anhedonia": rng.normal(4, 1.5, n),
        }
    )
    df.loc[rng.random(n) < 0.05, "anhedonia"] = np.nan  # some missing values, imputed by the median
    return df


def _options(method: str) -> SubtypeOptions:
    return SubtypeOptions(
        features=FEATS,
        method=method,
        max_k=4,
        n_init=2,
        n_null=19,
        n_bootstrap=8,
        detectable_separation={"run": False},
        seed=3,
    )


@pytest.fixture(scope="module", params=["gmm_bic", "kmeans", "consensus", "hdbscan"])
def fitted(request, tmp_path_factory):
    df = _cohort(300, 1)
    assign, prof, summary, model = run_subtyping(df, options=_options(request.param))
    path = write_model(model, tmp_path_factory.mktemp(request.param) / "model.json")
    return request.param, df, assign, summary, read_model(path)


def test_saved_model_reassigns_the_fitting_cohort(fitted):
    method, df, assign, summary, model = fitted
    assert model["method"] == method and model["features"] == list(FEATS)
    assert model["n_clusters"] == summary["n_clusters"] >= 2
    again = assign_with_model(model, df)
    assert again["patient_id"].tolist() == assign["patient_id"].tolist()
    assert again["n_imputed"].tolist() == assign["n_imputed"].tolist()
    if method == "hdbscan":
        # nearest centroid of the fitted clusters: noise is given a cluster, the rest agrees
        core = assign["cluster"].to_numpy() >= 0
        agree = (again["cluster"].to_numpy()[core] == assign["cluster"].to_numpy()[core]).mean()
        assert agree > 0.97 and (again["cluster"] >= 0).all()
    else:
        assert again["cluster"].tolist() == assign["cluster"].tolist()
        assert again["subtype"].tolist() == assign["subtype"].tolist()
    if method == "gmm_bic":
        np.testing.assert_allclose(again["probability"], assign["probability"], rtol=1e-9)
    # on its own cohort the cohort's own metric is the model's metric
    own = assign_with_model(model, df, scale="own")
    assert own["cluster"].tolist() == again["cluster"].tolist()


def test_saved_model_labels_another_cohort(fitted):
    """Cohort B with the same two groups in other proportions: A's model finds B's groups."""
    method, _, _, _, model = fitted
    b = _cohort(200, 2, share=0.5)
    lab = assign_with_model(model, b)
    truth = b["inflammatory_index"].to_numpy() > 2  # the groups are 4 SD apart
    small = lab["cluster"].to_numpy() != 0  # the larger group of A (0) is B's unshifted group
    assert (small == truth).mean() > 0.95


def test_saved_model_holds_no_patient_values(fitted):
    _, df, _, _, model = fitted
    text = json.dumps(model)
    assert not any(pid in text for pid in df["patient_id"])
    assert set(model["subtypes"]) == {str(c) for c in range(model["n_clusters"])}


def test_assign_with_model_errors(fitted, tmp_path):
    _, df, _, _, model = fitted
    with pytest.raises(InputError, match="clustering feature column.*aes"):
        assign_with_model(model, df.drop(columns="aes"))
    with pytest.raises(InputError, match="no fitted clustering: too few"):
        assign_with_model({"fitted": None, "reason": "too few features"}, df)
    with pytest.raises(InputError, match="have no values"):
        assign_with_model(model, df.assign(aes=np.nan), scale="own")
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputError, match="expected a saved subtype model"):
        read_model(bad)


def test_a_single_gaussian_is_saved_as_one_cluster():
    """gmm_bic choosing k = 1: every patient of any cohort is cluster 0, named as in the fit."""
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"patient_id": [f"Q{i}" for i in range(200)], **{f: rng.normal(0, 1, 200) for f in FEATS}})
    assign, _, summary, model = run_subtyping(df, options=_options("gmm_bic"))
    assert summary["n_clusters"] == 1 and model["fitted"] == {"kind": "single", "n_clusters": 1}
    lab = assign_with_model(model, _cohort(50, 9))
    assert (lab["cluster"] == 0).all() and (lab["subtype"] == assign["subtype"].iloc[0]).all()
