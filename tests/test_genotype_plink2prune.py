"""LD pruning by plink2 itself (stratify.genotypes.plink2prune) and by stratify's port keep the same SNPs,
and the stage's PCs do not depend on which one pruned."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from stratify.errors import GenotypeError
from stratify.genotypes.ldprune import indep_pairwise_calls
from stratify.genotypes.plink2prune import plink2_path, prune_with_plink2

needs_plink2 = pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed (Debian package plink2)")


def _calls(seed: int, n_var: int = 600, n: int = 200) -> tuple[np.ndarray, pd.DataFrame]:
    """Blocks of correlated SNPs (a shared latent haplotype per block, some calls flipped), 1% missing."""
    rng = np.random.default_rng(seed)
    block = rng.binomial(2, 0.4, size=(n_var // 6, n))
    calls = np.repeat(block, 6, axis=0)
    flip = rng.random(calls.shape) < rng.uniform(0.02, 0.4, size=(n_var, 1))
    calls = np.where(flip, rng.binomial(2, 0.4, size=calls.shape), calls).astype(np.int8)
    calls[rng.random(calls.shape) < 0.01] = -1
    pos = np.cumsum(rng.integers(200, 3000, size=n_var)) + 10_000
    chrom = np.where(np.arange(n_var) < n_var // 2, "chr1", "chr2")
    v = pd.DataFrame({"chrom": chrom, "pos": pos, "ref": "A", "alt": "G"})
    return calls, v


@needs_plink2
@pytest.mark.parametrize(("seed", "kb", "r2"), [(1, 50, 0.2), (2, 500, 0.2), (3, 20, 0.5), (4, 5, 0.1)])
def test_plink2_and_the_port_keep_the_same_snps(seed, kb, r2):
    calls, v = _calls(seed)
    for c in ("chr1", "chr2"):  # the stage prunes one chromosome at a time
        rows = (v["chrom"] == c).to_numpy()
        sub = v[rows].reset_index(drop=True)
        ours = indep_pairwise_calls(calls[rows], sub, window_kb=kb, r2=r2)
        theirs = prune_with_plink2(calls[rows], sub, window_kb=kb, r2=r2, exe=shutil.which("plink2"))
        assert 0 < ours.sum() < rows.sum()  # something was pruned, something kept
        np.testing.assert_array_equal(ours, theirs)


def test_engine_choice(monkeypatch):
    assert plink2_path("python") is None
    monkeypatch.setenv("PATH", "")
    assert plink2_path("auto") is None
    with pytest.raises(GenotypeError, match="ld_engine is plink2 but plink2 is not on the PATH"):
        plink2_path("plink2")
