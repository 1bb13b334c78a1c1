"""The existence test against a Gaussian copula (stratify.subtype.copula) and the power
simulation (stratify.subtype.power)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kstest

from stratify.subtype.copula import copula_null, copula_sigclust, normal_scores
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
    x = np.vstack([rng.normal(0, 1, (200, 3)), rng.normal(0, 1, (200, 3)) + 1.5])
    assert copula_sigclust(x, n_sim=39, random_state=0)["p_value"] == pytest.approx(1 / 40)


def test_copula_test_checks_its_input():
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
