"""Tests for stratify.subtype.methods: four clustering methods behind one interface (the estimators in
stratify.subtype.mixture, .kmeans, .density and .consensus), and scikit-learn's estimator checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from stratify.subtype.consensus import ConsensusPAC, consensus_matrix, pac
from stratify.subtype.density import HDBSCANClusters
from stratify.subtype.kmeans import KMeansSilhouette
from stratify.subtype.methods import METHODS, make_method
from stratify.subtype.mixture import GaussianMixtureBIC

# centres on an equilateral triangle (side 10, unit-SD blobs): no pair of blobs is closer
# than another, so k = 2 is genuinely ambiguous for consensus clustering
CENTRES = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 10.0 * np.sqrt(3) / 2]])


def blobs(n=400, seed=0, centres=CENTRES):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(centres)
    return centres[y] + rng.normal(0, 1, (n, centres.shape[1])), y


def build(name, **kw):
    params = {"max_k": 6, "min_cluster_fraction": 0.05, "n_init": 3, "random_state": 0}
    params.update(kw)
    return make_method(name, **params)


@pytest.fixture(scope="module")
def three_blobs():
    x, y = blobs()
    return x, y, {name: build(name).fit(x) for name in METHODS}


# ---------------------------------------------------------------- finding real clusters


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_finds_three_separated_blobs(three_blobs, name):
    x, y, fitted = three_blobs
    est = fitted[name]
    assert est.n_clusters_ == 3
    assert est.labels_.shape == (len(x),) and np.issubdtype(est.labels_.dtype, np.integer)
    keep = est.labels_ >= 0  # only HDBSCAN has noise (-1)
    if name == "hdbscan":
        assert 1 - keep.mean() < 0.10
    else:
        assert keep.all()
    assert adjusted_rand_score(y[keep], est.labels_[keep]) > 0.95
    assert set(est.labels_[keep]) == {0, 1, 2}


def test_criterion_tables(three_blobs):
    _, _, fitted = three_blobs
    assert fitted["gmm_bic"].criterion_ == fitted["gmm_bic"].bic_
    assert min(fitted["gmm_bic"].criterion_, key=fitted["gmm_bic"].criterion_.get) == 3
    sil = fitted["kmeans"].criterion_
    assert sorted(sil) == [2, 3, 4, 5, 6] and max(sil, key=sil.get) == 3
    assert fitted["hdbscan"].criterion_ == {}
    assert sorted(fitted["consensus"].criterion_) == [2, 3, 4, 5, 6]


def test_pac_is_lowest_at_the_true_k(three_blobs):
    _, _, fitted = three_blobs
    est = fitted["consensus"]
    p = est.criterion_
    assert p[3] < 0.05
    assert p[3] < p[2] and p[3] < p[4]
    assert est.consensus_.shape == (400, 400) and len(est.items_) == 400


# ---------------------------------------------------------------- no structure


@pytest.fixture(scope="module")
def one_gaussian():
    # n = 500 in 3-D: HDBSCAN (min_cluster_size 25, allow_single_cluster False) labels every
    # point noise on 40 of 40 seeds tried, which the wrapper reports as one cluster. In 2-D
    # it split a single Gaussian into 2 clusters on 5 of 40 seeds, hence 3-D here.
    return np.random.default_rng(1).normal(0, 1, (500, 3))


def test_gmm_and_hdbscan_find_one_cluster_in_a_single_gaussian(one_gaussian):
    gmm = build("gmm_bic").fit(one_gaussian)
    assert gmm.n_clusters_ == 1 and set(gmm.labels_) == {0}
    hd = build("hdbscan").fit(one_gaussian)
    assert hd.n_clusters_ == 1
    assert set(hd.labels_) == {0}  # no structure: everyone label 0, no noise
    assert hd.noise_fraction_ == 0.0


@pytest.mark.parametrize("name", ["kmeans", "consensus"])
def test_kmeans_methods_cannot_say_one_cluster(one_gaussian, name):
    # k-means partitions any data into k >= 2 parts, and neither silhouette nor PAC is
    # defined for k = 1, so these methods always return >= 2 clusters; whether the
    # clustering is real is the job of the existence test against a no-cluster null.
    est = build(name, n_init=2).fit(one_gaussian)
    assert est.n_clusters_ >= 2
    assert len(set(est.labels_)) == est.n_clusters_


# ---------------------------------------------------------------- PAC and consensus by hand


def test_consensus_matrix_by_hand():
    # item 2 is not in resample 0 (its label there is ignored)
    labels = [[0, 0, 7], [0, 1, 1]]
    mask = [[True, True, False], [True, True, True]]
    m = consensus_matrix(labels, mask)
    # pair (0,1): sampled together twice, together once -> 1/2
    # pair (0,2): sampled together once (resample 1), apart -> 0
    # pair (1,2): sampled together once, together -> 1
    expected = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 1.0], [0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(m, expected)
    assert pac(m) == pytest.approx(1 / 3)


def test_consensus_matrix_never_sampled_together_is_nan_and_negative_is_unclustered():
    labels = [[0, 0, -1], [1, -5, 1]]
    mask = [[True, False, True], [False, True, True]]
    m = consensus_matrix(labels, mask)
    assert np.isnan(m[0, 1])  # never in the same resample
    assert m[0, 2] == 0.0 and m[1, 2] == 0.0  # -1 / -5: sampled, not clustered
    assert m[2, 2] == 0.5 and m[1, 1] == 0.0 and m[0, 0] == 1.0  # diagonal: clustered / sampled
    assert pac(m) == 0.0  # NaN pair left out; 0 and 0 not ambiguous


def test_consensus_matrix_matches_a_double_loop():
    rng = np.random.default_rng(3)
    R, n = 7, 12
    labels = rng.integers(0, 3, (R, n))
    mask = rng.random((R, n)) < 0.7
    m = consensus_matrix(labels, mask)
    for i in range(n):
        for j in range(n):
            both = mask[:, i] & mask[:, j]
            if both.sum() == 0:
                assert np.isnan(m[i, j])
            else:
                assert m[i, j] == pytest.approx((labels[both, i] == labels[both, j]).mean())


def test_pac_interval_is_open_below_and_closed_above():
    # pairs: 0.1 (not ambiguous), 0.9 (ambiguous: CDF(0.9) - CDF(0.1)), 0.5 (ambiguous),
    # 0.95 / 0.05 / 1.0 (not ambiguous)
    m = np.eye(4)
    for (i, j), v in {(0, 1): 0.1, (0, 2): 0.9, (0, 3): 0.5, (1, 2): 0.95, (1, 3): 0.05, (2, 3): 1.0}.items():
        m[i, j] = m[j, i] = v
    assert pac(m) == pytest.approx(2 / 6)
    assert pac(m, lower=0.05, upper=0.95) == pytest.approx(4 / 6)  # 0.05 out, 0.95 in
    # the lower triangle is ignored
    m2 = np.triu(m)
    assert pac(m2) == pytest.approx(2 / 6)


def test_pac_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        pac(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no pair"):
        pac(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match=r"\(R, n\)"):
        consensus_matrix([[0, 1]], [[True, True, True]])


def test_consensus_uses_at_most_max_items(three_blobs):
    x, y, _ = three_blobs
    est = ConsensusPAC(max_k=4, n_resamples=10, max_items=150, random_state=0).fit(x)
    assert len(est.items_) == 150 and len(np.unique(est.items_)) == 150
    assert est.consensus_.shape == (150, 150)
    assert est.labels_.shape == (400,)  # final labels for every row
    assert adjusted_rand_score(y, est.labels_) > 0.95


# ---------------------------------------------------------------- refits, determinism


@pytest.mark.parametrize("name", ["gmm_bic", "kmeans", "consensus"])
def test_refit_fixed_keeps_the_number_of_clusters(three_blobs, name):
    x, _, fitted = three_blobs
    est = fitted[name]
    rng = np.random.default_rng(5)
    boot = x[rng.integers(0, len(x), len(x) - 37)]
    labels = est.refit_fixed(boot, rng)
    assert labels.shape == (len(boot),)
    assert len(np.unique(labels)) == est.n_clusters_ == 3
    # the same generator state gives the same refit
    again = est.refit_fixed(boot, np.random.default_rng(5).spawn(1)[0])
    assert again.shape == labels.shape
    np.testing.assert_array_equal(est.refit_fixed(boot, 11), est.refit_fixed(boot, 11))


def test_hdbscan_refit_fixed_uses_the_same_parameters(three_blobs):
    x, y, fitted = three_blobs
    est = fitted["hdbscan"]
    rng = np.random.default_rng(2)
    idx = rng.integers(0, len(x), len(x))
    labels = est.refit_fixed(x[idx], rng)
    assert labels.shape == (len(x),)
    keep = labels >= 0
    assert adjusted_rand_score(y[idx][keep], labels[keep]) > 0.95
    assert est.n_clusters_ == 3  # the fitted estimator is untouched


@pytest.mark.parametrize("name", sorted(METHODS))
def test_same_random_state_same_result(name):
    x, _ = blobs(n=150, seed=4)
    kw = {"max_k": 4, "n_init": 1}
    a, b = build(name, **kw).fit(x), build(name, **kw).fit(x)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.criterion_ == b.criterion_ and a.n_clusters_ == b.n_clusters_


def test_consensus_random_state_changes_the_resamples():
    # on a single Gaussian the PAC values depend on the resamples drawn
    x = np.random.default_rng(0).normal(0, 1, (120, 2))
    a = ConsensusPAC(max_k=3, n_resamples=8, random_state=0).fit(x)
    b = ConsensusPAC(max_k=3, n_resamples=8, random_state=1).fit(x)
    assert a.criterion_ != b.criterion_


# ---------------------------------------------------------------- HDBSCAN subsample path


def test_hdbscan_subsample_path_labels_every_point():
    x, y = blobs(n=1000, seed=2)
    est = HDBSCANClusters(max_fit=200, random_state=0).fit(x)
    assert len(est.fit_index_) == 200 and len(np.unique(est.fit_index_)) == 200
    assert est.min_cluster_size_ == 10  # 5% of the 200 rows fitted
    assert est.labels_.shape == (1000,) and est.n_clusters_ == 3
    outside = np.setdiff1d(np.arange(1000), est.fit_index_)
    assert (est.labels_[outside] >= 0).all()  # rows outside the subsample: never noise
    keep = est.labels_ >= 0
    assert keep.mean() > 0.95
    assert adjusted_rand_score(y[keep], est.labels_[keep]) > 0.9
    # the subsample is fixed by random_state
    again = HDBSCANClusters(max_fit=200, random_state=0).fit(x)
    np.testing.assert_array_equal(est.labels_, again.labels_)


# ---------------------------------------------------------------- size rule


def test_kmeans_skips_solutions_with_a_tiny_cluster():
    rng = np.random.default_rng(0)
    # two big groups plus 9 of 400 points (2%) far away
    x = np.vstack(
        [rng.normal(0, 1, (200, 2)), rng.normal(0, 1, (191, 2)) + [12, 0], rng.normal(0, 0.3, (9, 2)) + [6, 40]]
    )
    loose = KMeansSilhouette(max_k=4, n_init=3, min_cluster_fraction=0.0, random_state=0).fit(x)
    assert loose.n_clusters_ == 3 and loose.skipped_ == []
    strict = KMeansSilhouette(max_k=4, n_init=3, min_cluster_fraction=0.05, random_state=0).fit(x)
    assert 3 in strict.skipped_ and strict.n_clusters_ != 3
    assert np.bincount(strict.labels_).min() / len(x) >= 0.05


def test_consensus_skips_solutions_with_a_tiny_cluster():
    rng = np.random.default_rng(0)
    x = np.vstack(
        [rng.normal(0, 1, (200, 2)), rng.normal(0, 1, (191, 2)) + [12, 0], rng.normal(0, 0.3, (9, 2)) + [6, 40]]
    )
    strict = ConsensusPAC(max_k=3, n_resamples=15, min_cluster_fraction=0.05, random_state=0).fit(x)
    assert np.bincount(strict.labels_).min() / len(x) >= 0.05
    assert strict.n_clusters_ not in strict.skipped_


# ---------------------------------------------------------------- registry, conventions


def test_make_method_builds_each_class_with_consistent_parameters():
    expected = {
        "gmm_bic": GaussianMixtureBIC,
        "kmeans": KMeansSilhouette,
        "hdbscan": HDBSCANClusters,
        "consensus": ConsensusPAC,
    }
    assert expected == METHODS
    for name, cls in METHODS.items():
        est = make_method(name, max_k=5, min_cluster_fraction=0.1, n_init=2, random_state=9)
        assert type(est) is cls
        params = est.get_params()
        assert params["min_cluster_fraction"] == 0.1 and params["random_state"] == 9
        if name != "hdbscan":
            assert params["max_k"] == 5 and params["n_init"] == 2


def test_make_method_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as err:
        make_method("spectral", max_k=4, min_cluster_fraction=0.05, n_init=1, random_state=0)
    msg = str(err.value)
    assert "'spectral'" in msg
    assert "consensus, gmm_bic, hdbscan, kmeans" in msg


@pytest.mark.parametrize("name", sorted(METHODS))
def test_estimator_conventions(name):
    est = build(name)
    # __init__ only stores parameters; nothing learned yet, and clone round-trips
    assert not [a for a in vars(est) if a.endswith("_")]
    assert clone(est).get_params() == est.get_params()
    x, _ = blobs(n=90, seed=1)
    assert est.fit(x) is est
    np.testing.assert_array_equal(build(name).fit_predict(x), est.labels_)


def test_pac_ties_go_to_the_smaller_k():
    # two blobs 10 SD apart and a third 40 SD away: k = 2 (the near pair merged) and k = 3
    # are both perfectly reproducible, PAC 0 for each; the tie goes to k = 2
    x, _ = blobs(n=300, seed=0, centres=np.array([[0.0, 0.0], [10.0, 0.0], [50.0, 0.0]]))
    est = ConsensusPAC(max_k=3, n_resamples=15, random_state=0).fit(x)
    assert est.criterion_ == {2: 0.0, 3: 0.0}
    assert est.n_clusters_ == 2


@pytest.mark.parametrize("name", ["gmm_bic", "kmeans", "consensus"])
def test_refit_fixed_draws_its_seed_from_rng(three_blobs, name):
    # on structureless data the fitted partition (and label order) depends on the seed, so
    # refits with different generators must not all agree
    est = three_blobs[2][name]
    x = np.random.default_rng(0).normal(0, 1, (200, 2))
    refits = [est.refit_fixed(x, np.random.default_rng(s)) for s in range(5)]
    assert any(not np.array_equal(refits[0], r) for r in refits[1:])


def test_hdbscan_one_cluster_found_means_no_structure(monkeypatch):
    # HDBSCAN returning a single cluster plus noise is reported as no structure: everyone 0
    class OneCluster:
        def __init__(self, **kw):
            pass

        def fit(self, X):
            self.labels_ = np.where(np.arange(len(X)) % 4 == 0, -1, 0)
            return self

    import stratify.subtype.density as density

    monkeypatch.setattr(density, "HDBSCAN", OneCluster)
    est = HDBSCANClusters().fit(np.random.default_rng(0).normal(0, 1, (100, 2)))
    assert est.n_clusters_ == 1 and set(est.labels_) == {0} and est.noise_fraction_ == 0.0


# ---------------------------------------------------------------- scikit-learn's estimator checks


# Small settings keep the checks fast (scikit-learn's checks fit each estimator some 60 times);
# every class's code path is the same as with the defaults.
@parametrize_with_checks(
    [
        GaussianMixtureBIC(max_k=4, n_init=1),
        KMeansSilhouette(max_k=4, n_init=2),
        HDBSCANClusters(),
        ConsensusPAC(max_k=4, n_resamples=10, n_init=2),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
