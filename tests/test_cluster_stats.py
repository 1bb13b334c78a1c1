"""Tests for stratify.subtype.stats: the SigClust existence test and bootstrap stability."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import special_ortho_group
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_info

from stratify.subtype.stats import _max_jaccard, bootstrap_stability, cluster_index, sigclust

NULL_SD = np.sqrt([4.0, 2.0, 1.0, 0.5])  # anisotropic single Gaussian, eigenvalues 4, 2, 1, 0.5


def two_clusters(n: int = 300, d: int = 3, gap: float = 6.0, seed: int = 0) -> np.ndarray:
    """Two equal unit-variance Gaussians ``gap`` SD apart along the first axis."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    x[: n // 2, 0] += gap
    return x


def kmeans_refit(k: int, n_init: int = 3):
    """fit_predict for bootstrap_stability: k-means with k clusters seeded from ``rng``."""

    def fit_predict(xs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return KMeans(k, n_init=n_init, random_state=int(rng.integers(2**31 - 1))).fit_predict(xs)

    return fit_predict


# ---------------------------------------------------------------------------- sigclust


def test_sigclust_detects_two_separated_clusters():
    x = two_clusters()
    res = sigclust(x, n_sim=50, random_state=0)
    assert res["p_value"] == pytest.approx(1 / 51)
    assert res["p_normal"] < 1e-6
    assert res["statistic"] < res["null_mean"] - 5 * res["null_sd"]
    # between-cluster variance 9 of total 12: the best split leaves about a quarter
    assert res["statistic"] == pytest.approx(0.25, abs=0.03)
    assert (res["n"], res["n_used"], res["d"], res["n_sim"]) == (300, 300, 3, 50)
    assert res["eigenvalues"] == sorted(res["eigenvalues"], reverse=True)
    assert res["eigenvalues"][0] == pytest.approx(10.0, rel=0.15)
    assert "SigClust" in res["method"]
    assert json.loads(json.dumps(res)) == res


def test_sigclust_is_calibrated_on_single_gaussian_null():
    """40 null data sets: the 5% test must not reject much more than 5% of them."""
    pvals = []
    for seed in range(40):
        x = np.random.default_rng(1000 + seed).normal(size=(300, 4)) * NULL_SD
        pvals.append(sigclust(x, n_sim=39, random_state=seed, n_init=1)["p_value"])
    pvals = np.array(pvals)
    assert np.all((pvals >= 1 / 40) & (pvals <= 1))
    assert np.count_nonzero(pvals <= 0.05) <= 8
    assert 0.3 <= pvals.mean() <= 0.7
    assert len(np.unique(pvals)) > 5  # not a degenerate constant


def test_sigclust_statistic_invariant_to_rotation_and_shift():
    x = np.random.default_rng(3).normal(size=(400, 4)) * NULL_SD
    rotation = special_ortho_group.rvs(4, random_state=4)
    moved = x @ rotation.T + np.array([5.0, -3.0, 100.0, 0.5])
    a = sigclust(x, n_sim=5, random_state=11)
    b = sigclust(moved, n_sim=5, random_state=11)
    assert abs(a["statistic"] - b["statistic"]) < 1e-8
    np.testing.assert_allclose(a["eigenvalues"], b["eigenvalues"], rtol=1e-9)
    # the statistic is also invariant to overall scale
    assert cluster_index(3.0 * x, random_state=1) == pytest.approx(cluster_index(x, random_state=1), abs=1e-10)


def test_sigclust_deterministic_and_reports_progress():
    x = np.random.default_rng(5).normal(size=(120, 2))
    calls = []
    a = sigclust(x, n_sim=7, random_state=42, progress=lambda i, total: calls.append((i, total)))
    b = sigclust(x, n_sim=7, random_state=42)
    c = sigclust(x, n_sim=7, random_state=43)
    assert a == b
    assert a["null_mean"] != c["null_mean"]
    assert calls == [(i, 7) for i in range(1, 8)]


def test_sigclust_one_feature_and_constant_column():
    x1 = np.concatenate([np.zeros(30), np.full(30, 10.0)])[:, None] + np.random.default_rng(0).normal(0, 0.1, (60, 1))
    res = sigclust(x1, n_sim=9, random_state=0)
    assert res["d"] == 1 and res["p_value"] == pytest.approx(0.1)
    x2 = np.column_stack([np.random.default_rng(1).normal(size=50), np.ones(50)])
    res2 = sigclust(x2, n_sim=3, random_state=0)
    assert res2["eigenvalues"][-1] == 1e-12  # floored, not zero or negative


def test_sigclust_subsamples_large_data():
    x = np.random.default_rng(2).normal(size=(500, 2))
    res = sigclust(x, n_sim=3, random_state=0, max_n=100, n_init=1)
    assert (res["n"], res["n_used"]) == (500, 100)
    assert "subsample of 100 of 500 rows" in res["method"]
    big = np.random.default_rng(2).normal(size=(20_050, 2))
    res_big = sigclust(big, n_sim=1, random_state=0, n_init=1)
    assert (res_big["n"], res_big["n_used"]) == (20_050, 20_000)
    assert res_big["null_sd"] is None and res_big["p_normal"] is None  # one simulation has no SD


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros(50), "2-D"),
        (np.zeros((5, 2, 2)), "2-D"),
        (np.ones((9, 2)), "at least 10 rows"),
        (np.ones((20, 0)), "at least 1 column"),
        (np.where(np.eye(20, 3) == 1, np.nan, 0.0), "NaN or infinite"),
        (np.where(np.eye(20, 3) == 1, np.inf, 0.0), "NaN or infinite"),
        ([["a", "b"]] * 20, "numeric"),
        (np.ones((20, 3)), "zero total variance"),
    ],
)
def test_sigclust_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        sigclust(bad, n_sim=2)


@pytest.mark.parametrize("kwargs", [{"n_sim": 0}, {"n_sim": 2.5}, {"n_init": 0}, {"max_n": 5}])
def test_sigclust_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        sigclust(np.random.default_rng(0).normal(size=(30, 2)), **kwargs)


# ---------------------------------------------------------------- bootstrap_stability


def test_bootstrap_two_separated_clusters_are_stable():
    x = two_clusters(gap=8.0, seed=1)
    labels = kmeans_refit(2)(x, np.random.default_rng(0))
    res = bootstrap_stability(x, labels, kmeans_refit(2), n_boot=30, random_state=0)
    assert res["n_boot"] == 30
    assert set(res["clusters"]) == {0, 1}
    for c in res["clusters"].values():
        assert c["verdict"] == "stable"
        assert c["mean_jaccard"] > 0.95
        assert c["n_valid"] == 30 and c["n_dissolved"] == 0
    assert res["mean_ari"] > 0.95
    assert "clusterboot" in res["method"]
    json.dumps(res)


def test_bootstrap_flags_clusters_cut_out_of_a_single_gaussian():
    """k-means forced to cut an isotropic 4-D Gaussian into 4 gives unstable clusters."""
    x = np.random.default_rng(0).normal(size=(300, 4))
    labels = kmeans_refit(4)(x, np.random.default_rng(100))
    res = bootstrap_stability(x, labels, kmeans_refit(4), n_boot=30, random_state=0)
    means = [c["mean_jaccard"] for c in res["clusters"].values()]
    assert min(means) < 0.75
    assert any(c["verdict"] != "stable" for c in res["clusters"].values())
    assert res["mean_ari"] < 0.8


def test_max_jaccard_by_hand():
    # original {0,1,2} vs refit {0,1}: 2/3; original {3,4,5} vs refit {2,3,4,5}: 3/4
    original = np.array([0, 0, 0, 1, 1, 1])
    refit = np.array([4, 4, 9, 9, 9, 9])
    assert _max_jaccard(original, refit, np.array([0, 1])) == {0: pytest.approx(2 / 3), 1: pytest.approx(3 / 4)}
    # refit noise never matches; an all-noise refit gives 0; absent clusters are skipped
    assert _max_jaccard(original, np.array([-1, -1, -1, 0, 0, 0]), np.array([0, 1])) == {0: 0.0, 1: 1.0}
    assert _max_jaccard(original, np.full(6, -1), np.array([0, 1, 7])) == {0: 0.0, 1: 0.0}


def test_bootstrap_jaccard_matches_set_computation_per_resample():
    """Row values are row numbers, so each resample's rows are known and checked by hand."""
    x = np.arange(10, dtype=float)[:, None]
    labels = (x[:, 0] >= 5).astype(int)  # clusters {0..4} and {5..9}
    seen: list[set[int]] = []

    def shifted(xs, rng):  # refit puts row 4 with the upper cluster
        assert isinstance(rng, np.random.Generator)
        seen.append({int(v) for v in xs[:, 0]})
        assert len(seen[-1]) == len(xs)  # duplicates dropped
        return (xs[:, 0] >= 4).astype(int)

    res = bootstrap_stability(x, labels, shifted, n_boot=25, random_state=7)
    assert len(seen) == 25
    for c, members in ((0, set(range(5))), (1, set(range(5, 10)))):
        expected = []
        for rows in seen:
            star = members & rows
            if not star:
                continue
            refit_clusters = [rows & set(range(4)), rows & set(range(4, 10))]
            expected.append(max(len(star & k) / len(star | k) for k in refit_clusters if k))
        got = res["clusters"][c]
        assert got["n_valid"] == len(expected)
        assert got["mean_jaccard"] == pytest.approx(np.mean(expected), abs=1e-12)
        assert got["n_dissolved"] == sum(j <= 0.5 for j in expected)
    # when row 4 is drawn, the lower cluster loses 1 of its members: Jaccard a/(a+1) < 1
    assert res["clusters"][0]["mean_jaccard"] < 1.0


def test_bootstrap_excludes_noise_label():
    x = two_clusters(n=200, gap=8.0, seed=2)
    labels = kmeans_refit(2)(x, np.random.default_rng(0))
    labels[:10] = -1  # ten rows unassigned
    res = bootstrap_stability(x, labels, kmeans_refit(2), n_boot=10, random_state=1)
    assert set(res["clusters"]) == {0, 1}
    assert all(c["mean_jaccard"] > 0.9 for c in res["clusters"].values())
    assert res["mean_ari"] < 1.0  # the refit labels the noise rows, the original does not

    def dissolve_first(xs, rng):  # refit sends the first original cluster to noise
        out = kmeans_refit(2)(xs, rng)
        return np.where(xs[:, 0] > 4, -1, out)

    upper = int(np.bincount(labels[labels >= 0][x[labels >= 0, 0] > 4]).argmax())
    res2 = bootstrap_stability(x, labels, dissolve_first, n_boot=5, random_state=1)
    assert res2["clusters"][upper]["mean_jaccard"] < 0.1
    assert res2["clusters"][upper]["verdict"] == "dissolved"
    assert res2["clusters"][upper]["n_dissolved"] == 5


def test_bootstrap_deterministic_with_random_state():
    x = np.random.default_rng(3).normal(size=(150, 2))
    labels = kmeans_refit(3)(x, np.random.default_rng(0))
    calls = []
    a = bootstrap_stability(
        x, labels, kmeans_refit(3), n_boot=8, random_state=5, progress=lambda i, t: calls.append((i, t))
    )
    b = bootstrap_stability(x, labels, kmeans_refit(3), n_boot=8, random_state=5)
    c = bootstrap_stability(x, labels, kmeans_refit(3), n_boot=8, random_state=6)
    assert a == b
    assert a != c
    assert calls == [(i, 8) for i in range(1, 9)]


def test_bootstrap_limits_threads_during_refits():
    x = np.random.default_rng(0).normal(size=(40, 2))
    seen = []

    def record(xs, rng):
        seen.append({pool["num_threads"] for pool in threadpool_info()})
        return (xs[:, 0] > 0).astype(int)

    bootstrap_stability(x, (x[:, 0] > 0).astype(int), record, n_boot=2, random_state=0)
    assert seen == [{1}, {1}] or not threadpool_info()
    res = bootstrap_stability(x, (x[:, 0] > 0).astype(int), record, n_boot=2, random_state=0, n_threads=None)
    assert all(c["mean_jaccard"] == 1.0 for c in res["clusters"].values())


def test_bootstrap_verdict_thresholds_and_unassessed_cluster():
    x = np.arange(10, dtype=float)[:, None]
    labels = (x[:, 0] >= 5).astype(int)

    def shifted(xs, rng):
        return (xs[:, 0] >= 4).astype(int)

    base = bootstrap_stability(x, labels, shifted, n_boot=10, random_state=0)
    m = base["clusters"][0]["mean_jaccard"]
    assert 0.5 < m < 1.0
    strict = bootstrap_stability(x, labels, shifted, n_boot=10, random_state=0, stable=1.0, dissolved=0.0)
    assert strict["clusters"][0]["verdict"] == "weak"
    harsh = bootstrap_stability(x, labels, shifted, n_boot=10, random_state=0, stable=1.0, dissolved=1.0)
    assert harsh["clusters"][0]["verdict"] == "dissolved"
    # a one-row cluster missed by the single resample is reported, not silently dropped
    two = np.array([[0.0], [1.0]])
    for seed in range(100):
        res = bootstrap_stability(two, [0, 1], lambda xs, r: np.zeros(len(xs), int), n_boot=1, random_state=seed)
        if min(c["n_valid"] for c in res["clusters"].values()) == 0:
            break
    else:  # pragma: no cover
        pytest.fail("no resample missed a row")
    missed = next(c for c in res["clusters"].values() if c["n_valid"] == 0)
    assert missed == {"mean_jaccard": None, "n_dissolved": 0, "n_valid": 0, "verdict": "not assessed"}
    json.dumps(res)


@pytest.mark.parametrize(
    ("labels", "fit_predict", "kwargs", "match"),
    [
        (np.zeros(5, int), None, {}, "1-D array of 10 labels"),
        (np.full(10, -2), None, {}, ">= 0, or -1"),
        (np.full(10, 0.5), None, {}, "integers"),
        (np.array(list("aabbccddee")), None, {}, "integers"),
        (np.full(10, -1), None, {}, "no cluster"),
        (np.zeros(10, int), None, {"n_boot": 0}, "n_boot"),
        (np.zeros(10, int), None, {"stable": 0.4, "dissolved": 0.5}, "thresholds"),
        (np.zeros(10, int), None, {"n_threads": 0}, "n_threads"),
        (np.zeros(10, int), lambda xs, r: np.zeros(len(xs) + 1, int), {}, "fit_predict's labels"),
        (np.zeros(10, int), lambda xs, r: np.full(len(xs), 0.5), {}, "fit_predict's labels"),
    ],
)
def test_bootstrap_rejects_bad_input(labels, fit_predict, kwargs, match):
    x = np.arange(20, dtype=float).reshape(10, 2)
    fp = fit_predict or (lambda xs, r: np.zeros(len(xs), int))
    with pytest.raises(ValueError, match=match):
        bootstrap_stability(x, labels, fp, n_boot=kwargs.pop("n_boot", 2), **kwargs)


def test_bootstrap_rejects_bad_data():
    with pytest.raises(ValueError, match="NaN or infinite"):
        bootstrap_stability(np.array([[0.0], [np.nan], [1.0]]), [0, 0, 1], lambda xs, r: np.zeros(len(xs), int))
    with pytest.raises(ValueError, match="2-D"):
        bootstrap_stability(np.arange(5.0), [0, 0, 1, 1, 1], lambda xs, r: np.zeros(len(xs), int))


def test_bootstrap_above_max_n_resamples_a_fixed_subsample():
    """Above max_n rows the resamples come from a fixed random subsample (as sigclust's
    statistic does); at or below it nothing changes, draw for draw."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (300, 2)), rng.normal(0, 1, (300, 2)) + [6, 0]])
    lab = KMeans(2, n_init=3, random_state=0).fit_predict(x)
    seen = []

    def refit(xs, r):
        seen.append(len(xs))
        return KMeans(2, n_init=2, random_state=int(r.integers(2**31 - 1))).fit_predict(xs)

    small = bootstrap_stability(x, lab, refit, n_boot=5, random_state=1, max_n=200)
    assert small["n"] == 600 and small["n_used"] == 200 and max(seen) <= 200
    assert "subsample of 200 of 600 rows" in small["method"]
    assert all(c["verdict"] == "stable" for c in small["clusters"].values())
    seen.clear()
    whole = bootstrap_stability(x, lab, refit, n_boot=5, random_state=1)
    assert whole["n_used"] == whole["n"] == 600 and max(seen) > 200 and "subsample" not in whole["method"]
    assert whole == bootstrap_stability(x, lab, refit, n_boot=5, random_state=1, max_n=600)
    with pytest.raises(ValueError, match="max_n"):
        bootstrap_stability(x, lab, refit, n_boot=5, random_state=1, max_n=1)
