"""Stage "genotypes": read the cohort VCF with cyvcf2.

Two products:

* genotypes at the pharmacogene positions (CYP2C19 allele-definition positions), long
  format, for the PGx caller;
* genotype principal components on common biallelic SNPs (MAF >= 5%, call rate >= 95%),
  used as ancestry covariates. Missing genotypes are mean-imputed before PCA (which adds
  nothing to the standardised matrix). Linkage pruning is not done yet (issue 7).

VCF samples are mapped to patients through the optional sample map; samples that map to
no patient are counted and listed in the summary, never silently used or dropped.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import GenotypeError

log = logging.getLogger(__name__)


def read_dosages(
    vcf_path: str | Path,
    *,
    min_maf: float = 0.05,
    min_call_rate: float = 0.95,
    exclude_regions: tuple[tuple[str, int, int], ...] = (),
    progress_every: int = 20000,
) -> tuple[list[str], pd.DataFrame, np.ndarray]:
    """Alternate-allele dosages (0/1/2, NaN missing) of common biallelic SNPs.

    Returns the VCF sample names, a variant table (chrom, pos, id, ref, alt, maf,
    call_rate) and a float32 matrix of shape (samples, variants).
    """
    from cyvcf2 import VCF

    vcf_path = Path(vcf_path)
    try:
        vcf = VCF(str(vcf_path), gts012=True, lazy=True)
    except OSError as exc:
        raise GenotypeError(f"{vcf_path}: cannot be opened as a VCF ({exc})") from None
    samples = list(vcf.samples)
    cols, info = [], []
    n_seen = 0
    t0 = time.monotonic()
    for v in vcf:
        n_seen += 1
        if n_seen % progress_every == 0:
            log.info("%s: %d records read, %d kept (%.0f records/s)", vcf_path.name, n_seen, len(cols),
                     n_seen / max(time.monotonic() - t0, 1e-9))
        if len(v.ALT) != 1 or not v.is_snp:
            continue
        if any(c == v.CHROM and s <= v.POS <= e for c, s, e in exclude_regions):
            continue
        g = np.array(v.gt_types, dtype=np.float32)  # copy out of cyvcf2: 0,1,2 and 3 = unknown
        g[g == 3] = np.nan
        called = ~np.isnan(g)
        call_rate = called.mean()
        if call_rate < min_call_rate:
            continue
        p = np.nanmean(g) / 2
        maf = min(p, 1 - p)
        if maf < min_maf:
            continue
        cols.append(g)
        info.append((v.CHROM, v.POS, v.ID or f"{v.CHROM}:{v.POS}", v.REF, v.ALT[0], maf, call_rate))
    vcf.close()
    log.info("%s: %d records, %d common biallelic SNPs kept, %d samples", vcf_path.name, n_seen, len(cols),
             len(samples))
    variants = pd.DataFrame(info, columns=["chrom", "pos", "id", "ref", "alt", "maf", "call_rate"])
    mat = np.column_stack(cols) if cols else np.empty((len(samples), 0), dtype=np.float32)
    return samples, variants, mat


def genotype_pcs(dosages: np.ndarray, *, n_components: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of standardised dosages (Patterson et al. 2006 scaling).

    Returns the (samples x k) component scores and the explained-variance ratios.
    """
    from sklearn.decomposition import PCA

    n, m = dosages.shape
    k = min(n_components, n - 1, m)
    if k < 1:
        raise GenotypeError(f"too few samples ({n}) or common SNPs ({m}) for genotype principal components")
    p = np.nanmean(dosages, axis=0) / 2
    x = (dosages - 2 * p) / np.sqrt(2 * p * (1 - p))
    x = np.nan_to_num(x, nan=0.0)
    pca = PCA(n_components=k, svd_solver="randomized", random_state=seed)
    scores = pca.fit_transform(x)
    return scores, pca.explained_variance_ratio_


def map_samples(samples: list[str], sample_map: pd.DataFrame | None, patient_ids: set[str]) -> tuple[dict[str, str], list[str]]:
    """sample name -> patient_id for samples that belong to the cohort; and the others."""
    if sample_map is None:
        mapping = {s: s for s in samples}
    else:
        m = dict(zip(sample_map["sample_id"], sample_map["patient_id"]))
        mapping = {s: m[s] for s in samples if s in m}
    kept = {s: p for s, p in mapping.items() if p in patient_ids}
    unmapped = [s for s in samples if s not in kept]
    return kept, unmapped


def genotype_stage(
    vcf_path: str | Path,
    *,
    patient_ids: set[str],
    sample_map: pd.DataFrame | None = None,
    genome_build: str = "GRCh38",
    n_components: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the genotype stage: PGx-position genotypes and genotype PCs, keyed by patient."""
    from stratify.pgx.alleles import load_definitions, read_vcf_genotypes

    defs = load_definitions("CYP2C19")
    lo, hi = min(p.pos for p in defs.positions), max(p.pos for p in defs.positions)
    samples, variants, mat = read_dosages(
        vcf_path, exclude_regions=((defs.chrom, lo, hi), (defs.chrom.removeprefix("chr"), lo, hi)))
    mapping, unmapped = map_samples(samples, sample_map, patient_ids)
    if not mapping:
        raise GenotypeError(
            f"{vcf_path}: none of its {len(samples)} samples maps to a patient "
            f"(first sample: {samples[0] if samples else 'none'}); give inputs.genotypes.sample_map")
    if unmapped:
        log.warning("%s: %d samples map to no patient and are not used (first: %s)", vcf_path,
                    len(unmapped), ", ".join(unmapped[:5]))
    keep = np.array([s in mapping for s in samples])
    summary: dict[str, Any] = {
        "vcf": str(vcf_path), "samples": len(samples), "samples_used": int(keep.sum()),
        "samples_not_in_cohort": unmapped[:100], "n_samples_not_in_cohort": len(unmapped),
        "common_snps": int(mat.shape[1]),
    }
    pcs = pd.DataFrame({"patient_id": [mapping[s] for s in np.array(samples)[keep]]})
    if mat.shape[1] >= 10 and keep.sum() > 10:
        scores, evr = genotype_pcs(mat[keep], n_components=n_components, seed=seed)
        for j in range(scores.shape[1]):
            pcs[f"pc{j + 1}"] = scores[:, j]
        summary["pc_explained_variance"] = [round(float(x), 5) for x in evr]
    else:
        summary["pcs_skipped"] = f"only {mat.shape[1]} common SNPs; principal components need at least 10"
    if genome_build != defs.build:
        summary["pgx_skipped"] = (f"genome_build is {genome_build}; CYP2C19 calling from VCF needs "
                                  f"{defs.build} (lift over, or give star-allele calls from another tool)")
        pgx = pd.DataFrame(columns=["patient_id", "sample", "pos", "rsid", "allele1", "allele2", "phased"])
    else:
        pgx = read_vcf_genotypes(vcf_path, defs, samples=list(mapping))
        pgx.insert(0, "patient_id", pgx["sample"].map(mapping))
    return {"pcs": pcs, "pgx_genotypes": pgx, "summary": summary}
