"""Genotype principal components, the model's ancestry covariates.

:func:`fit_pca` fits them on a reference set of samples in one streaming pass over the plan's
shards exactly as plink2 does (its SNP filters, ``--indep-pairwise`` a chromosome at a time,
exact ``--pca``; see its docstring). The ``pca`` step of :mod:`stratify.genotypes.shards` saves
the result (``save_pca``) for the ``shard`` steps, which project every sample onto the
components. :func:`read_dosages` and :func:`genotype_pcs` are simpler in-memory helpers (common
SNPs of a small file; randomised PCA) for small files and tests, not the stage.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import GenotypeError
from stratify.genotypes.ldprune import SMALL_EPSILON, indep_pairwise_calls
from stratify.genotypes.pca_plink2 import autosomal_chrom, fit_like_plink2
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


ACGT = frozenset("ACGTacgt")  # plink2 --snps-only just-acgt (its table also takes the missing code '.')


def _counts() -> dict[str, int]:
    return {
        "snps_seen": 0,
        "non_autosomal": 0,
        "pgx_region": 0,
        "failed_call_rate": 0,
        "failed_maf": 0,
        "pruned_ld": 0,
        "over_max_snps": 0,
    }


def _passes(r, pc: dict[str, Any], regions, counts: dict[str, int]) -> bool:
    """Whether record ``r`` is a PCA candidate, as plink2 ``--snps-only just-acgt --max-alleles 2
    --exclude range <PGx regions> --geno (1 - min_call_rate) --maf min_maf`` and its PCA's
    autosomes; ``counts`` says why not. plink2's rules (2.0/plink2_filter.cc, v2.00a3.5):
    ``--geno g`` removes a variant with more than ``int(g * (1 + 2^-44) * n)`` missing calls;
    ``--maf f`` one whose non-major allele frequency is below ``f * (1 - 2^-44)`` (f = 0: no
    filter), frequencies from the calls."""
    if r.ref not in ACGT or r.alt not in ACGT:
        return False
    counts["snps_seen"] += 1
    if not autosomal_chrom(r.chrom):
        counts["non_autosomal"] += 1
        return False
    if in_pgx_region(r.chrom, r.pos, regions):
        counts["pgx_region"] += 1
        return False
    d = r.dosage
    called = d >= 0
    n_called = int(called.sum())
    if len(d) - n_called > int((1.0 - pc["min_call_rate"]) * (1 + SMALL_EPSILON) * len(d)):
        counts["failed_call_rate"] += 1
        return False
    if pc["min_maf"] > 0:
        q = float(d[called].sum(dtype=np.int64)) / (2.0 * n_called) if n_called else float("nan")
        if not 1.0 - max(q, 1.0 - q) >= pc["min_maf"] * (1 - SMALL_EPSILON):
            counts["failed_maf"] += 1
            return False
    return True


def _prune(buf: list, info: list, pc: dict[str, Any]) -> np.ndarray:
    """plink2 ``--indep-pairwise <ld_window_kb>kb 1 <ld_r2>`` of one chromosome's candidates: plink2
    itself when it is installed (``ld_engine`` auto or plink2), else its port (the same set)."""
    from stratify.genotypes.plink2prune import plink2_path, prune_with_plink2

    v = pd.DataFrame(info, columns=["chrom", "pos", "ref", "alt"])
    kb, r2 = float(pc["ld_window_kb"]), float(pc["ld_r2"])
    exe = plink2_path(pc.get("ld_engine", "auto"))
    if exe is not None:
        keep = prune_with_plink2(np.stack(buf), v, window_kb=kb, r2=r2, exe=exe)
        if keep is not None:
            return keep
    try:
        return indep_pairwise_calls(np.stack(buf), v, window_kb=kb, r2=r2)
    except ValueError as e:
        raise GenotypeError(f"genotypes.pca.ld_window_kb / ld_r2: {e}") from None


def _reference_calls(
    plan: dict[str, Any], cols: np.ndarray
) -> tuple[list[np.ndarray], list[tuple], dict[str, int], ScanStats]:
    """One streaming pass over the reference samples: the hard calls (int8) and (chrom, pos, ref,
    alt) of the SNPs that pass the filters and LD pruning (pruned a chromosome at a time, so
    memory is one chromosome's candidates plus the kept SNPs), the counts of those left out,
    and the scan's statistics."""
    pc = plan["settings"]["pca"]
    regions = pgx_regions()
    kept: list[np.ndarray] = []
    kept_info: list[tuple] = []
    buf: list[np.ndarray] = []
    info: list[tuple] = []
    counts = _counts()
    stats = ScanStats()

    def flush() -> None:
        if not buf:
            return
        keep = _prune(buf, info, pc) if len(buf) > 1 else np.ones(1, dtype=bool)
        counts["pruned_ld"] += int((~keep).sum())
        for j in np.flatnonzero(keep):
            if len(kept) >= pc["max_snps"]:
                counts["over_max_snps"] += 1
                continue
            kept.append(buf[j])
            kept_info.append(info[j])
        buf.clear()
        info.clear()

    for shard in plan["shards"]:
        for r in plan_records(plan, shard, columns=cols, stats=stats, dosages=False):
            if not _passes(r, pc, regions, counts):
                continue
            if info and r.chrom != info[-1][0]:
                flush()
            buf.append(np.array(r.dosage, dtype=np.int8))  # a copy: never a view that keeps a batch alive
            info.append((r.chrom, r.pos, r.ref, r.alt))
    flush()
    return kept, kept_info, counts, stats


def _sign_convention(vecs: np.ndarray) -> np.ndarray:
    """+1 or -1 per component: the sample with the largest |value| (the first of equals) positive."""
    top = vecs[np.argmax(np.abs(vecs), axis=0), np.arange(vecs.shape[1])]
    return np.where(top < 0, -1.0, 1.0)


def fit_pca(plan: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """Reference-sample PCA as plink2 computes it, on the SNPs it would keep.

    The same as, on the reference samples (``plan["pca_columns"]``; ``genotypes.pca`` settings)::

        plink2 --snps-only just-acgt --max-alleles 2 --geno <1 - min_call_rate> --maf <min_maf>
               --exclude range <PGx regions> --indep-pairwise <ld_window_kb>kb 1 <ld_r2>
        plink2 --extract <.prune.in> --pca <n_components>

    on autosomes only (plink2's PCA leaves out chrX/Y/MT): filters as :func:`_passes`, LD
    pruning :func:`stratify.genotypes.ldprune.indep_pairwise_calls` (a port of plink2's) a
    chromosome at a time, the first ``max_snps`` pruned SNPs (in file order; the counts say how
    many more there were), then :func:`stratify.genotypes.pca_plink2.fit_like_plink2` (plink2's
    GRM with its missingness correction, exact eigen-decomposition). ``seed`` is unused (the
    decomposition is exact), kept for the callers.

    Returned: ``reference_pcs`` (reference samples x k, plink2's ``.eigenvec`` with the sign
    convention of :func:`_sign_convention`: per component, the sample with the largest |value|
    is positive), ``eigenvalues`` (its ``.eigenval``), ``explained_variance_ratio`` (eigenvalues
    / trace of the GRM: the fraction of the total genotypic variance), and for projecting every
    sample (:func:`stratify.genotypes.shards.run_shard`) the SNPs' ALT frequency ``p`` and
    ``sd = sqrt(2p(1-p))`` and ``components`` (k x SNPs, the weights of
    :func:`~stratify.genotypes.pca_plink2.fit_like_plink2`) with ``centre`` 0: a sample's
    projection ``sum_v (g_v - 2p_v) / sd_v * w_vk`` (missing calls 0, as plink2 standardises
    them) is exactly its eigenvector value when it has no missing call. With missing calls it
    differs (plink2's GRM divides each pair by the SNPs called in both; the projection has no
    such correction): the stage writes the reference samples' eigenvectors themselves and
    every other sample's projection. On tests/test_genotype_pca_plink2_stage.py's file (300
    samples, 150 of them the reference, 1% missing calls, 5 PCs) a reference sample's
    projection differs from its eigenvector by at most 0.0018 (median 0.0003; 0.6% of the
    largest |value|, 0.29); without missing calls by 6e-16.
    """
    pc = plan["settings"]["pca"]
    cols = np.array(plan["pca_columns"], dtype=np.int64)
    out: dict[str, Any] = {"n_reference": int(len(cols))}
    if len(cols) <= 10:
        out.update(counts=_counts(), scan={})
        out["skipped"] = f"{len(cols)} reference samples; principal components need more than 10"
        return out
    t0 = time.monotonic()
    kept, kept_info, counts, stats = _reference_calls(plan, cols)
    log.info(
        "PCA reference pass: %d records, %d SNPs kept after filters and LD pruning (%s) in %.1f s",
        stats.records,
        len(kept),
        counts,
        time.monotonic() - t0,
    )
    out.update(counts=counts, scan=stats.as_dict())
    if len(kept) < 10:
        out["skipped"] = f"only {len(kept)} common SNPs after LD pruning; principal components need at least 10"
        return out
    k = min(int(pc["n_components"]), len(cols) - 1, len(kept))
    calls = np.stack(kept)
    kept.clear()
    fit = fit_like_plink2(calls, n_components=k)
    sign = _sign_convention(fit["eigenvectors"])
    p = fit["alt_freq"]
    sd = np.sqrt(2 * p * (1 - p))
    used = 2 * p * (1 - p) > SMALL_EPSILON  # the others add zero (plink2 zeroes them)
    info = pd.DataFrame(kept_info, columns=["chrom", "pos", "ref", "alt"]).assign(p=p, sd=sd)[used]
    out.update(
        {
            "variants": info.reset_index(drop=True),
            "components": (fit["weights"][used] * sign).T.copy(),
            "centre": np.zeros(int(used.sum())),
            "eigenvalues": fit["eigenvalues"],
            "explained_variance_ratio": fit["eigenvalues"] / fit["trace"],
            "reference_pcs": fit["eigenvectors"] * sign,
            "reference_columns": cols,
            "n_snps": len(calls),
        }
    )
    return out


def save_pca(res: dict[str, Any], path: Path) -> None:
    """Write :func:`fit_pca`'s result to ``path`` (read back by :func:`load_pca`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: res[k] for k in ("counts", "n_reference", "scan", "skipped") if k in res}
    arrays: dict[str, Any] = {"meta": np.array(json.dumps(meta))}
    if "variants" in res:
        v = res["variants"]
        arrays.update(
            chrom=v["chrom"].to_numpy(dtype=str),
            pos=v["pos"].to_numpy(np.int64),
            ref=v["ref"].to_numpy(dtype=str),
            alt=v["alt"].to_numpy(dtype=str),
            p=v["p"].to_numpy(float),
            sd=v["sd"].to_numpy(float),
            components=res["components"],
            centre=res["centre"],
            evr=res["explained_variance_ratio"],
            eigenvalues=res["eigenvalues"],
            reference_pcs=res["reference_pcs"],
            reference_columns=res["reference_columns"],
        )
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_pca(path: Path) -> dict[str, Any]:
    """Read what :func:`save_pca` wrote."""
    with np.load(path, allow_pickle=False) as z:
        res: dict[str, Any] = json.loads(str(z["meta"]))
        if "components" in z:
            res["variants"] = pd.DataFrame(
                {"chrom": z["chrom"], "pos": z["pos"], "ref": z["ref"], "alt": z["alt"], "p": z["p"], "sd": z["sd"]}
            )
            res["components"], res["centre"] = z["components"], z["centre"]
            res["explained_variance_ratio"] = z["evr"]
            for key in ("eigenvalues", "reference_pcs", "reference_columns"):
                res[key] = z[key]
    return res
