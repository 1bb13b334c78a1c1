"""One shard job of a pgen or BGEN: PC projections and polygenic-score sums by block matrix products.

A VCF shard goes record by record (:func:`stratify.genotypes.shards.run_shard`): text has to be
decoded one record at a time anyway. A pgen or BGEN shard reads blocks of variants for its sample
chunk in one reader call each and works on whole blocks:

* the polygenic scores are :func:`stratify.genotypes.sourcescore.score_source` over the shard's
  variants (:class:`ShardView`), the same matching, statuses and missing-call rule as the VCF path
  (plink2 ``--score no-mean-imputation``);
* the PCA SNPs of the shard (matched by contig, position, REF and ALT, as the VCF path does) are
  read as hard calls in blocks and projected with one matrix product per block.

What it returns is what the VCF path's shard returns, so the merge is the same for every format.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import GenotypeError
from stratify.genotypes.records import BLOCK_CELLS, GenotypeInput, input_samples, plan_input, read_block
from stratify.genotypes.sources import GenotypeSource, PgenSource
from stratify.genotypes.sourcescore import USED, score_source
from stratify.genotypes.vcfscan import ScanStats

log = logging.getLogger(__name__)


class ShardView(GenotypeSource):
    """Variants ``first`` to ``stop - 1`` of a source, as a source of their own (indices from 0)."""

    def __init__(self, inp: GenotypeInput, first: int, stop: int):
        src = inp.open()
        self._inp, self._first = inp, first
        self.path, self.has_dosage = src.path, src.has_dosage
        self._samples = src.samples()
        self._variants = src.variants().iloc[first:stop].reset_index(drop=True)

    def samples(self) -> list[str]:
        return list(self._samples)

    def variants(self) -> pd.DataFrame:
        return self._variants

    def read(self, variant_idx, sample_idx=None, *, dosage: bool) -> np.ndarray:
        v, s = self._indices(variant_idx, sample_idx)
        return read_block(self._inp, v + self._first, s, dosage=dosage)


def _pca_rows(view: ShardView, pca: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(view rows, PCA variant indices) of the PCA SNPs in the shard (biallelic, same REF and ALT)."""
    v = pca["variants"]
    key = pd.MultiIndex.from_arrays([v["chrom"].astype(str), v["pos"].astype(np.int64), v["ref"], v["alt"]])
    var = view.variants()
    mine = pd.MultiIndex.from_arrays(
        [var["chrom"].astype(str), var["pos"].astype(np.int64), var["ref"].astype(str), var["alt"].astype(str)]
    )
    at = key.get_indexer(mine)
    rows = np.flatnonzero((at >= 0) & var["biallelic"].to_numpy(bool))
    # a PCA SNP is projected once, from its first record (as the VCF path's lookup does)
    _, first = np.unique(at[rows], return_index=True)
    rows = rows[np.sort(first)]
    return rows, at[rows]


def project(pca: dict[str, Any], idx: np.ndarray, calls: np.ndarray) -> np.ndarray:
    """(samples x k) contribution of hard calls ``calls`` (variants x samples, NaN missing) of the PCA
    SNPs ``idx``: standardised with the reference samples' frequencies, missing -> 0, less the centre."""
    v = pca["variants"]
    p, sd = v["p"].to_numpy()[idx, None], v["sd"].to_numpy()[idx, None]
    x = np.where(np.isnan(calls), 0.0, (calls - 2 * p) / sd) - pca["centre"][idx, None]
    return x.T @ pca["components"][:, idx].T


def source_shard(plan: dict[str, Any], job: str, pca: dict[str, Any], scores: list) -> dict[str, Any]:
    """Shard job ``job`` (rNNNN_cNNNN: a run of variants x a sample chunk) of a pgen or BGEN; what
    :func:`stratify.genotypes.shards.run_shard` returns but the PGx genotypes."""
    t0 = time.monotonic()
    si, ci = (int(x[1:]) for x in job.split("_"))
    lo, hi = plan["chunks"][ci]
    inp = plan_input(plan)
    a, b = plan["shards"][si]["variants"]
    try:
        return _shard_sums(plan, job, inp, (a, b), (lo, hi), pca, scores, t0)
    except RuntimeError as exc:  # pgenlib / cbgen: a corrupt or changed file
        raise GenotypeError(
            f"{inp.label}: shard {job} (variants {a + 1} to {b}) cannot be read ({exc}); the file is corrupt or "
            "changed since the plan: check it and re-run the genotypes stage"
        ) from None


def shard_source(plan: dict[str, Any], inp: GenotypeInput, a: int, b: int) -> GenotypeSource:
    """Variants ``a`` to ``b - 1`` as a source: a pgen without multi-allelic variants parses only those
    .pvar lines (a shard job of a 10-million-variant file does not hold them all); otherwise a view
    of the whole file's source."""
    if inp.format == "pgen" and plan.get("multiallelic") is False:
        return PgenSource(inp.path, variant_range=(a, b))
    return ShardView(inp, a, b)


def _shard_sums(plan, job, inp, variants, samples, pca, scores, t0) -> dict[str, Any]:
    (a, b), (lo, hi) = variants, samples
    view = shard_source(plan, inp, a, b)
    cols = np.arange(lo, hi, dtype=np.int64)
    n, k = hi - lo, 0 if pca.get("components") is None else pca["components"].shape[0]
    proj = np.zeros((n, k))
    rows = np.empty(0, dtype=np.int64)
    if k:
        rows, idx = _pca_rows(view, pca)
        block = max(1, BLOCK_CELLS // max(n, 1))
        for s in range(0, rows.size, block):
            proj += project(pca, idx[s : s + block], view.read(rows[s : s + block], cols, dosage=False))
    out: dict[str, Any] = {"proj": proj, "pc_variants": int(rows.size)}
    if scores:
        res = score_source(view, scores, keep_ambiguous=plan["settings"]["pgs"]["keep_ambiguous"], sample_idx=cols)
        out.update(score_sum=res.score_sum, score_allele_ct=res.allele_ct, score_missing_ct=res.missing_ct)
        out["score_variants"] = res.seen
    else:
        z = np.zeros((n, 0))
        out.update(score_sum=z, score_allele_ct=z.astype(np.int64), score_missing_ct=z.astype(np.int64))
        out["score_variants"] = pd.DataFrame(columns=["score", "index", "status", "vcf_id"])
    var = view.variants()
    stats = ScanStats(records=len(var), multiallelic=int((~var["biallelic"].to_numpy(bool)).sum()))
    stats.decoded = int(rows.size) + int(out["score_variants"]["status"].isin(USED).sum())
    stats.seconds = time.monotonic() - t0
    out["scan"] = stats.as_dict()
    out["samples"] = input_samples(inp)[lo:hi]
    log.info(
        "shard %s: %d variants, %d PCA SNPs projected, %d score variants matched, %d samples, %.1f s",
        job,
        stats.records,
        out["pc_variants"],
        int(out["score_variants"]["status"].isin(USED).sum()),
        n,
        stats.seconds,
    )
    return out
