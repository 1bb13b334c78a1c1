"""The existence test against a Gaussian copula (stratify.subtype.copula) and the power
simulation (stratify.subtype.power)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau, kstest

from stratify.subtype.copula import copula_correlation, copula_null, copula_sigclust, normal_scores
from stratify.subtype.power import detectable_separation
from stratify.subtype.stats import sigclust


def _flat_item_sums(seed: int, n: int = 1000) -> np.ndarray:
    """Two bounded, rounded, flat features (0-6, like short item sums; uniform): no clusters."""
    return np.rint(np.random.default_rng(seed).random((n, 2)) * 6)


def test_null_keeps_each_marginal_and_the_rank_correlation():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.exponential(size=500), rng.integers(0, 4, 500)]).astype(float)
    x[:, 1] += x[:, 0]
    s = normal_scores(x)
    cov = np.cov(s, rowvar=False)
    null = copula_null(s, rng, np.linalg.cholesky(cov))
    for j in range(2):  # exactly the observed marginal, ties included
        assert np.array_equal(np.sort(null[:, j]), np.sort(s[:, j]))
    assert np.corrcoef(null, rowvar=False)[0, 1] == pytest.approx(cov[0, 1] / cov[0, 0], abs=0.1)


def test_flat_bounded_features_fool_the_gaussian_null_but_not_the_copula():
    gauss, cop = [], []
    for seed in range(3):
        x = _flat_item_sums(seed)
        x = (x - x.mean(0)) / x.std(0)
        gauss.append(sigclust(x, n_sim=39, random_state=seed)["p_value"])
        cop.append(copula_sigclust(x, n_sim=39, random_state=seed)["p_value"])
    # a flat marginal splits more cleanly than a Gaussian: the old null rejects every time
    assert max(gauss) < 0.05
    assert min(cop) > 0.05


def test_copula_pvalues_are_not_too_small_on_skewed_continua():
    # 30 log-normal blobs driven by one latent dimension (no clusters): KS against U(0, 1)
    ps = []
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        f = rng.normal(size=(200, 1))
        ps.append(
            copula_sigclust(np.exp(0.8 * f + 0.6 * rng.normal(size=(200, 3))), n_sim=19, random_state=seed)["p_value"]
        )
    assert sum(p < 0.05 for p in ps) <= 4  # Binomial(30, 0.05): P(>= 5) = 0.016
    assert kstest(ps, "uniform", alternative="greater").pvalue > 0.01


def test_copula_test_detects_groups_that_differ_in_several_features():
    rng = np.random.default_rng(1)
    x = np.vstack([rng.normal(0, 1, (200, 3)), rng.normal(0, 1, (200, 3)) + 2.0])
    assert copula_sigclust(x, n_sim=39, random_state=0)["p_value"] == pytest.approx(1 / 40)


def _tail_dependent_continuum(seed: int, n: int = 400) -> np.ndarray:
    """One latent dimension through skewing maps: each feature is a log-normal load plus its own
    noise, so features go together tightly in the upper tail and loosely in the lower one (not a
    Gaussian copula, no clusters)."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 1))
    load = np.exp(0.6 * (0.8 * f + 0.6 * rng.normal(size=(n, 4))))
    return (load - load.mean(0)) / load.std(0) + rng.normal(size=(n, 4))


def test_both_copula_correlations_keep_a_skewed_continuum_from_looking_clustered():
    # which of the two is the more conservative depends on the shape of the dependence (here the
    # scores' Pearson correlation; on the simulator's hard null Kendall's): both must hold the level
    for corr in ("kendall", "normal_scores"):
        ps = [
            copula_sigclust(_tail_dependent_continuum(seed), n_sim=39, random_state=seed, correlation=corr)["p_value"]
            for seed in range(12)
        ]
        assert sum(p < 0.05 for p in ps) <= 2  # Binomial(12, 0.05): P(>= 3) = 0.02
        assert np.mean(ps) > 0.3


def test_kendall_null_reproduces_continuous_rank_association_and_overshoots_tied_features():
    rng = np.random.default_rng(4)
    g = rng.multivariate_normal([0, 0, 0], [[1, 0.7, 0.3], [0.7, 1, 0.5], [0.3, 0.5, 1]], size=2000)
    x = np.column_stack([np.exp(g[:, 0]), g[:, 1] ** 3, np.round(g[:, 2])])  # monotone maps; one coarse
    s = normal_scores(x)
    null = copula_null(s - s.mean(0), rng, np.linalg.cholesky(copula_correlation(x, s)))

    def tau(a, i, j):
        return kendalltau(a[:, i], a[:, j]).statistic

    assert tau(null, 0, 1) == pytest.approx(tau(x, 0, 1), abs=0.03)
    # tau-b of a coarse feature, taken for a continuous one's, gives a latent correlation that is
    # too large: the null goes together more tightly than the data (conservative; docs/subtypes.md)
    for i in (0, 1):
        assert tau(null, i, 2) > tau(x, i, 2) + 0.02


def test_copula_test_checks_its_input():
    with pytest.raises(ValueError, match="correlation must be one of"):
        copula_sigclust(np.arange(40.0).reshape(20, 2) ** 2, correlation="spearman")
    with pytest.raises(ValueError, match="n_sim"):
        copula_sigclust(np.ones((20, 2)) + np.arange(20)[:, None], n_sim=0)
    with pytest.raises(ValueError, match="zero total variance"):
        copula_sigclust(np.ones((20, 2)))


def test_detectable_separation_finds_the_first_separation_with_power():
    def fit(x, seed):
        return 2

    def p_of(x, seed):  # a "test" that sees the groups when their z-scored means are > 2 apart
        half = len(x) // 2
        return 0.01 if np.linalg.norm(x[:half].mean(0) - x[half:].mean(0)) > 2.0 else 0.5

    # z-scoring turns a separation delta into delta / sqrt(1 + delta**2 / (4 d)): with d = 3,
    # 1.0 -> 0.96, 2.0 -> 1.73, 3.0 -> 2.27, so 3.0 is the first detected and 4.0 is never tried
    res = detectable_separation(2000, 3, fit_n_clusters=fit, existence_p=p_of, grid=(4.0, 1.0, 3.0, 2.0))
    assert res["separation_sd"] == 3.0
    assert res["detected"] == {
        "1.0": {"detected": 0, "of": 3},
        "2.0": {"detected": 0, "of": 3},
        "3.0": {"detected": 8, "of": 8},
    }
    # the method must also find more than one cluster
    res = detectable_separation(2000, 3, fit_n_clusters=lambda x, s: 1, existence_p=p_of, grid=(3.0,))
    assert res["separation_sd"] is None


def test_detectable_separation_simulates_with_the_cohorts_own_marginals():
    rng = np.random.default_rng(5)
    coarse = np.column_stack([rng.integers(0, 4, 300), np.minimum(rng.poisson(1.0, 300), 5), rng.normal(size=300)])
    coarse = (coarse - coarse.mean(0)) / coarse.std(0)
    seen = []

    def fit(x, seed):
        seen.append(x.copy())
        return 1

    res = detectable_separation(
        300, 3, fit_n_clusters=fit, existence_p=lambda x, s: 0.01, grid=(2.0,), marginals=coarse
    )
    assert res["separation_sd"] is None and "cohort's own values" in res["method"]
    for x in seen:  # every simulated cohort has exactly the cohort's values of each feature, ties included
        for j in range(3):
            assert np.allclose(np.sort(x[:, j]), np.sort(coarse[:, j]))
    with pytest.raises(ValueError, match="marginals must be 300 x 3"):
        detectable_separation(300, 3, fit_n_clusters=fit, existence_p=lambda x, s: 0.01, marginals=coarse[:10])
