"""Genotype principal components, the model's ancestry covariates.

:func:`fit_pca` fits them on a reference set of samples in one streaming pass over the VCF
shards: common biallelic SNPs (MAF and call-rate filters, outside the pharmacogene regions),
greedy pairwise LD pruning within a window, then PCA of the standardised dosages (Patterson
et al. 2006 scaling). The ``pca`` step of :mod:`stratify.genotypes.shards` saves the result
(``save_pca``) for the ``shard`` steps, which project every sample onto the components.
:func:`read_dosages` and :func:`genotype_pcs` do the same in memory, for small files and tests.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import GenotypeError
from stratify.genotypes.pgxsites import in_pgx_region, pgx_regions
from stratify.genotypes.records import plan_records
from stratify.genotypes.vcfscan import ScanStats, header_samples, scan

log = logging.getLogger(__name__)


def read_dosages(
    vcf_path: str | Path,
    *,
    min_maf: float = 0.05,
    min_call_rate: float = 0.95,
    exclude_regions: tuple[tuple[str, int, int], ...] = (),
) -> tuple[list[str], pd.DataFrame, np.ndarray]:
    """Alternate-allele dosages (0/1/2, NaN missing) of common biallelic SNPs, whole file in memory.

    For small files and tests; the stage itself streams (``fit_pca``, ``run_shard``).
    Returns the VCF sample names, a variant table (chrom, pos, id, ref, alt, maf,
    call_rate) and a float32 matrix of shape (samples, variants).
    """
    samples = header_samples(vcf_path)
    cols, info = [], []
    for r in scan(vcf_path, None, dosages=False):
        if len(r.ref) != 1 or len(r.alt) != 1:
            continue
        if any(c == r.chrom and s <= r.pos <= e for c, s, e in exclude_regions):
            continue
        g = r.dosage.astype(np.float32)
        g[g < 0] = np.nan
        call_rate = float((~np.isnan(g)).mean())
        if call_rate < min_call_rate:
            continue
        p = float(np.nanmean(g)) / 2
        maf = min(p, 1 - p)
        if maf < min_maf:
            continue
        cols.append(g)
        info.append((r.chrom, r.pos, r.id if r.id != "." else f"{r.chrom}:{r.pos}", r.ref, r.alt, maf, call_rate))
    variants = pd.DataFrame(info, columns=["chrom", "pos", "id", "ref", "alt", "maf", "call_rate"])
    mat = np.column_stack(cols) if cols else np.empty((len(samples), 0), dtype=np.float32)
    return samples, variants, mat


def _pca(x: np.ndarray, n_components: int, seed: int):
    from sklearn.decomposition import PCA

    n, m = x.shape
    k = min(n_components, n - 1, m)
    if k < 1:
        raise GenotypeError(f"too few samples ({n}) or common SNPs ({m}) for genotype principal components")
    pca = PCA(n_components=k, svd_solver="randomized", random_state=seed)
    scores = pca.fit_transform(x)
    return pca, scores


def standardise(dosages: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(g - 2p) / sqrt(2p(1-p)) (Patterson et al. 2006); missing genotypes become 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (dosages - 2 * p) / np.sqrt(2 * p * (1 - p))
    return np.nan_to_num(x, nan=0.0).astype(np.float32)


def genotype_pcs(dosages: np.ndarray, *, n_components: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of standardised dosages (Patterson et al. 2006 scaling).

    Returns the (samples x k) component scores and the explained-variance ratios.
    """
    p = np.nanmean(dosages, axis=0) / 2
    pca, scores = _pca(standardise(dosages, p), n_components, seed)
    return scores, pca.explained_variance_ratio_


def _in_ld(x: np.ndarray, recent: list[tuple[int, np.ndarray]], *, r2: float) -> bool:
    """Whether the standardised SNP ``x`` has a squared correlation of at least ``r2`` with any
    SNP kept within the window (``recent``: (position, standardised dosages))."""
    if not recent:
        return False
    ys = np.stack([y for _, y in recent])
    num = ys @ x
    den = np.sqrt((ys * ys).sum(axis=1) * float(x @ x))
    return bool(np.any((num / np.maximum(den, 1e-12)) ** 2 >= r2))


def _reference_snps(
    plan: dict[str, Any], cols: np.ndarray
) -> tuple[list[np.ndarray], list[tuple], dict[str, int], ScanStats]:
    """One streaming pass over the reference samples: the standardised dosages and the
    (chrom, pos, ref, alt, p, sd) of the SNPs that pass the filters and LD pruning, the counts
    of those left out, and the scan's statistics."""
    pc = plan["settings"]["pca"]
    regions = pgx_regions()
    window = int(pc["ld_window_kb"] * 1000)
    kept_x: list[np.ndarray] = []
    kept_info: list[tuple] = []
    recent: list[tuple[int, np.ndarray]] = []
    recent_chrom = None
    counts = {
        "snps_seen": 0,
        "failed_call_rate": 0,
        "failed_maf": 0,
        "pruned_ld": 0,
        "pgx_region": 0,
        "over_max_snps": 0,
    }
    stats = ScanStats()
    for shard in plan["shards"]:
        for r in plan_records(plan, shard, columns=cols, stats=stats, dosages=False):
            if len(r.ref) != 1 or len(r.alt) != 1:
                continue
            counts["snps_seen"] += 1
            if in_pgx_region(r.chrom, r.pos, regions):
                counts["pgx_region"] += 1
                continue
            d = r.dosage
            called = d >= 0
            cr = float(called.mean()) if d.size else 0.0
            if cr < pc["min_call_rate"]:
                counts["failed_call_rate"] += 1
                continue
            p = float(d[called].mean()) / 2
            if min(p, 1 - p) < pc["min_maf"] or p <= 0 or p >= 1:
                counts["failed_maf"] += 1
                continue
            sd = float(np.sqrt(2 * p * (1 - p)))
            x = np.where(called, (d - 2 * p) / sd, 0.0).astype(np.float32)
            if r.chrom != recent_chrom:
                recent, recent_chrom = [], r.chrom
            recent = [(q, y) for q, y in recent if r.pos - q <= window]
            if _in_ld(x, recent, r2=pc["ld_r2"]):
                counts["pruned_ld"] += 1
                continue
            recent.append((r.pos, x))
            if len(kept_x) >= pc["max_snps"]:
                counts["over_max_snps"] += 1
                continue
            kept_x.append(x)
            kept_info.append((r.chrom, r.pos, r.ref, r.alt, p, sd))
    return kept_x, kept_info, counts, stats


def fit_pca(plan: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """Reference-sample PCA on LD-pruned common SNPs (one streaming pass over the reference samples).

    Filters on the reference samples: biallelic SNP, call rate >= min_call_rate, MAF >=
    min_maf, outside the regions of the genes called from the VCF (CYP2C19, CYP2B6). Pruning: a SNP is kept if its squared correlation
    with every SNP kept within ld_window_kb on the same contig is below ld_r2 (greedy, in
    file order; plink's --indep-pairwise idea with a window in bases). At most max_snps are
    kept (later ones are dropped and the summary says how many).
    """
    pc = plan["settings"]["pca"]
    cols = np.array(plan["pca_columns"], dtype=np.int64)
    t0 = time.monotonic()
    kept_x, kept_info, counts, stats = _reference_snps(plan, cols)
    log.info(
        "PCA reference pass: %d records, %d SNPs kept after filters and LD pruning (%s) in %.1f s",
        stats.records,
        len(kept_x),
        counts,
        time.monotonic() - t0,
    )
    out: dict[str, Any] = {"counts": counts, "n_reference": int(len(cols)), "scan": stats.as_dict()}
    if len(kept_x) < 10 or len(cols) <= 10:
        out["skipped"] = (
            f"only {len(kept_x)} common SNPs after LD pruning and {len(cols)} reference samples; "
            "principal components need at least 10 of each"
        )
        return out
    x = np.column_stack(kept_x)
    pca, _ = _pca(x, int(pc["n_components"]), seed)
    info = pd.DataFrame(kept_info, columns=["chrom", "pos", "ref", "alt", "p", "sd"])
    out.update(
        {
            "variants": info,
            "components": pca.components_.astype(np.float64),
            "centre": pca.mean_.astype(np.float64),
            "explained_variance_ratio": pca.explained_variance_ratio_,
        }
    )
    return out
