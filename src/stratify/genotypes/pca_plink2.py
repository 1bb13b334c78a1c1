"""Principal components exactly as ``plink2 --pca`` computes them (not ``--pca approx``).

A port of PLINK 2.00a3.5 (9 Aug 2022; github.com/chrchang/plink-ng tag ``v2.00a3.5``, commit
927db87e), file ``2.0/plink2_matrix_calc.cc``: ``CalcGrm`` (the relationship matrix, with its
missingness correction), ``LoadBiallelicCenteredVarmaj`` / ``ExpandCenteredVarmaj`` (the
standardisation) and ``CalcPca`` (the eigen-decomposition and what it writes), and
``2.0/plink2_common.cc`` ``ConditionalAllocateNonAutosomalVariants``:

* variants on chrX, chrY and chrMT are left out (plink2: "Excluding N variants on non-autosomes
  from PCA");
* per variant, the ALT frequency q from the data (all samples: a VCF's samples are all founders;
  dosages where given), variance ``2 p q`` (p = 1 - q, the binomial variance, not the empirical
  one); a called dosage g becomes ``(g - 2q) / sqrt(2pq)``; a missing one becomes 0; a variant
  with ``2pq <= 2^-44`` contributes a row of zeros (but still counts in M);
* GRM[i, j] = sum over variants of x_vi x_vj divided by the number of variants called in both i
  and j (M minus those missing in i or in j; plink2's "Correcting for missingness"), or by M when
  nothing is missing;
* the top k eigenvalues of the GRM (LAPACK dsyevr in plink2; ``scipy.linalg.eigh`` here) are the
  ``.eigenval`` file; the ``.eigenvec`` columns are the unit-length eigenvectors (sum of squares 1
  over samples), defined up to sign.

plink2 prints both files with 6 significant digits (``dtoa_g``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SMALL_EPSILON = 2.0**-44  # plink2's kSmallEpsilon


NON_AUTOSOMES = frozenset({"x", "y", "mt", "m", "23", "24", "26"})


def autosomal_chrom(chrom: str) -> bool:
    """Whether plink2's PCA keeps a variant on ``chrom`` (not chrX, chrY or chrMT)."""
    return chrom.lower().removeprefix("chr") not in NON_AUTOSOMES


def autosomal(variants: pd.DataFrame) -> np.ndarray:
    """Rows plink2's PCA keeps: not chrX, chrY or chrMT (any 'chr' prefix, any case, or the
    numeric codes 23, 24, 26)."""
    c = variants["chrom"].astype(str).str.lower().str.removeprefix("chr")
    return ~c.isin(sorted(NON_AUTOSOMES)).to_numpy()


def standardise_like_plink2(dosages: np.ndarray, alt_freq: np.ndarray) -> np.ndarray:
    """(g - 2q) / sqrt(2pq) with missing (NaN) -> 0, a zero-variance variant -> 0 (float64)."""
    d = np.asarray(dosages, dtype=np.float64)
    q = np.asarray(alt_freq, dtype=np.float64)[:, None]
    var = 2.0 * (1.0 - q) * q
    ok = var > SMALL_EPSILON
    inv_sd = np.where(ok, 1.0 / np.sqrt(np.where(ok, var, 1.0)), 0.0)
    x = d * inv_sd - 2.0 * q * inv_sd
    return np.where(np.isnan(d) | ~ok, 0.0, x)


def as_dosages(rows: np.ndarray) -> np.ndarray:
    """float64 dosages of ``rows``: floats as they are (NaN missing), or int8 hard calls (0/1/2,
    -1 missing, what a genotype reader gives) with -1 made NaN."""
    raw = np.asarray(rows)
    d = raw.astype(np.float64)
    if raw.dtype.kind in "iu":
        d[raw < 0] = np.nan
    return d


def grm_like_plink2(
    dosages: np.ndarray, *, alt_freq: np.ndarray | None = None, block: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """plink2's GRM (samples x samples) of variants x samples dosages (NaN missing; or int8 hard
    calls, -1 missing), read in blocks of ``block`` rows (a memmap is never read whole);
    returns (grm, alt_freq)."""
    d_all = dosages
    m, n = d_all.shape
    freqs = np.empty(m) if alt_freq is None else np.asarray(alt_freq, dtype=np.float64)
    if len(freqs) != m:
        raise ValueError(f"alt_freq has {len(freqs)} values: expected one per variant ({m})")
    acc = np.zeros((n, n))
    miss_both = np.zeros((n, n))
    for s in range(0, m, block):
        d = as_dosages(d_all[s : s + block])
        called = ~np.isnan(d)
        if alt_freq is None:
            with np.errstate(invalid="ignore", divide="ignore"):
                freqs[s : s + block] = np.nansum(d, axis=1) / (2.0 * called.sum(axis=1))
        x = standardise_like_plink2(d, freqs[s : s + block])
        acc += x.T @ x
        if not called.all():
            mi = (~called).astype(np.float64)
            miss_both += mi.T @ mi
    miss = np.diag(miss_both).copy()
    denom = m - miss[:, None] - miss[None, :] + miss_both
    return acc / denom, freqs


def pca_like_plink2(
    dosages: np.ndarray,
    variants: pd.DataFrame | None = None,
    *,
    n_components: int = 10,
    alt_freq: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``plink2 --pca N``: the top N eigenvalues (descending) of plink2's GRM and the sample
    eigenvectors (samples x N, unit length; equal to plink2's ``.eigenvec`` up to sign).

    ``dosages``: variants x samples ALT dosages (NaN missing); ``variants`` (chrom column): the
    non-autosomal rows are left out as plink2 does; ``alt_freq``: ALT frequencies to use instead
    of the data's (plink2 ``--read-freq``).
    """
    from scipy.linalg import eigh

    d = dosages
    if d.ndim != 2:
        raise ValueError(f"dosages of shape {d.shape}: expected (variants, samples)")
    if variants is not None:
        if len(variants) != d.shape[0]:
            raise ValueError(f"variants has {len(variants)} rows: expected one per dosage row ({d.shape[0]})")
        keep = autosomal(variants)
        if not keep.all():
            d = d[keep]
            alt_freq = None if alt_freq is None else np.asarray(alt_freq)[keep]
    m, n = d.shape
    if m == 0:
        raise ValueError("no autosomal variants for PCA")
    if not 1 <= n_components <= n:
        raise ValueError(f"n_components {n_components}: expected 1 to the number of samples ({n})")
    grm, _ = grm_like_plink2(d, alt_freq=alt_freq)
    vals, vecs = eigh(grm, subset_by_index=[n - n_components, n - 1])
    return vals[::-1].copy(), vecs[:, ::-1].copy()


def fit_like_plink2(calls: np.ndarray, *, n_components: int, block: int = 2048) -> dict[str, np.ndarray]:
    """``plink2 --pca N`` of autosomal variants x samples (int8 hard calls, -1 missing; or
    dosages, NaN missing), with what projecting other samples needs.

    Returns ``eigenvalues`` (descending), ``eigenvectors`` (samples x N, unit length, plink2's
    ``.eigenvec`` up to sign), ``alt_freq`` (per variant, from the data), ``trace`` (of the GRM:
    eigenvalues / trace are the fractions of the total variance) and ``weights`` (variants x
    N) for projecting a sample.

    The weights: with X the standardised samples x variants (missing 0) and c_j the number of
    variants called at sample j, plink2's GRM entry of a sample i with no missing call is
    ``X_i . X_j / c_j`` (the missingness correction: the variants called in both), so from
    ``GRM u_k = lambda_k u_k``, ``u_ik = X_i . w_k`` with ``w_k = X^T (u_k / c) / lambda_k``
    (``X^T u_k / (M lambda_k)`` when nothing is missing): the projection ``sum_v x_v w_vk`` of
    a sample without missing calls is exactly its eigenvector value (the eigen-equation's own
    extension to a new sample). A sample with missing calls gets those calls as 0 and no
    correction for them.
    """
    from scipy.linalg import eigh

    m, n = calls.shape
    if not 1 <= n_components <= n:
        raise ValueError(f"n_components {n_components}: expected 1 to the number of samples ({n})")
    grm, freqs = grm_like_plink2(calls, block=block)
    vals, vecs = eigh(grm, subset_by_index=[n - n_components, n - 1])
    vals, vecs = vals[::-1].copy(), vecs[:, ::-1].copy()
    called = np.zeros(n)
    for s in range(0, m, block):
        called += (~np.isnan(as_dosages(calls[s : s + block]))).sum(axis=0)
    scaled = vecs / called[:, None] / vals[None, :]
    weights = np.empty((m, n_components))
    for s in range(0, m, block):
        x = standardise_like_plink2(as_dosages(calls[s : s + block]), freqs[s : s + block])
        weights[s : s + block] = x @ scaled
    return {
        "eigenvalues": vals,
        "eigenvectors": vecs,
        "alt_freq": freqs,
        "trace": float(np.trace(grm)),
        "weights": weights,
    }
