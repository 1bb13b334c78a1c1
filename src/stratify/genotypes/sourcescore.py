"""Polygenic scores from any genotype source (:mod:`stratify.genotypes.sources`).

Matching is the VCF path's: the statuses :class:`stratify.genotypes.prs.ScoreAccumulator`'s
``add`` gives record by record (multi-allelic records, a position already scored from another
record), computed for all candidate variants at once (:func:`match_source`; the tests hold it
equal to the record loop), and the orientation of each used (score, variant) pair is
:func:`stratify.genotypes.prs.match_allele`'s. The sums are then
matrix products over variant blocks x sample chunks (memory: one block x chunk of float64):

    sum_s = sum_v [called] (o_v w_v d_v + [effect = REF] 2 w_v)

with ``d`` the ALT dosage (the imputed dosage where the source has one, else the hard call)
and ``o`` = +1 when the effect allele is ALT, -1 when it is REF: effect = REF adds
w (2 - d). A missing value adds nothing and is counted; ``allele_ct`` = 2 x called variants.
This is plink2 ``--score ... no-mean-imputation cols=+scoresums`` (SCORE1_SUM, ALLELE_CT;
plink2_matrix_calc.cpp, ScoreReport), which tests/test_genotype_sources.py checks.
"""

from __future__ import annotations

import functools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from stratify.genotypes.prs import KEY_LIMIT, Score, combined_key, match_allele, norm_chrom, score_report
from stratify.genotypes.sources import MISSING, GenotypeSource

log = logging.getLogger(__name__)

USED = ("matched", "matched_flipped", "ambiguous_used")


@dataclass
class SourceMatch:
    """The used (variant, score) pairs as matrices over the used variants (rows, file order)."""

    variant_idx: np.ndarray  # source variant index of each row
    weight: np.ndarray  # (rows x scores): +w (effect = ALT), -w (effect = REF), 0 unused
    ref_const: np.ndarray  # (rows x scores): 2w where the effect allele is REF
    uses: np.ndarray  # (rows x scores): how many scoring-file rows use the variant
    seen: pd.DataFrame  # score, index, status, vcf_id (ScoreAccumulator.variant_table)


def _codes(values: np.ndarray | pd.Series, norm=None) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of the values and the distinct values (``norm`` applied to the distinct ones)."""
    codes, uniq = pd.factorize(values, use_na_sentinel=False)
    uniq = np.asarray(uniq, dtype=object)
    return codes.astype(np.int64), uniq if norm is None else np.array([norm(u) for u in uniq] or [], dtype=object)


def _score_rows(scores: list[Score]) -> dict:
    """The rows of every score that matching may use (no pre-match status): score, row, position,
    weight (arrays), and chromosome, effect and other allele as (codes, distinct values): factorized
    once here, on pandas' text arrays (faster than on the Python strings of the pairs later)."""
    cols: dict[str, list] = {k: [] for k in ("si", "ri", "pos", "w", "chrom", "effect", "other")}
    for si, sc in enumerate(scores):
        v = sc.variants
        ok = v["status"].eq("").to_numpy(bool)
        cols["si"].append(np.full(int(ok.sum()), si, dtype=np.int64))
        cols["ri"].append(np.flatnonzero(ok).astype(np.int64))
        cols["pos"].append(v["pos"].fillna(-1).to_numpy(dtype=np.int64)[ok])
        cols["w"].append(v["weight"].to_numpy(float)[ok])
        for key, col in (("chrom", "chrom"), ("effect", "effect_allele"), ("other", "other_allele")):
            cols[key].append(pd.Series(v[col].array[ok]))
    types = {"si": np.int64, "ri": np.int64, "pos": np.int64, "w": float}
    out: dict = {k: np.concatenate(cols[k]) if scores else np.empty(0, dtype=t) for k, t in types.items()}
    for key in ("chrom", "effect", "other"):
        parts = cols[key]
        if not parts:
            out[key] = (np.empty(0, np.int64), np.empty(0, object))
        else:
            out[key] = _codes(parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True))
    return out


def _pairs(rows: dict[str, np.ndarray], var: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(score row, source variant) index pairs at the same (normalised chromosome, position), in score
    row then file order."""
    src_code, src_chrom = _codes(var["chrom"], norm_chrom)
    names = {c: i for i, c in enumerate(dict.fromkeys(src_chrom.tolist()))}
    src_id = np.array([names[c] for c in src_chrom.tolist()] or [0], dtype=np.int64)[src_code]
    row_code, row_chrom = rows["chrom"]
    row_id = np.array([names.get(c, -1) for c in row_chrom.tolist()] or [0], dtype=np.int64)[row_code]
    src_pos = var["pos"].to_numpy(np.int64)
    r, j = _join(row_id, rows["pos"], src_id, src_pos)
    order = np.lexsort((j, r))
    return r[order], j[order]


def _join(row_id: np.ndarray, row_pos: np.ndarray, src_id: np.ndarray, src_pos: np.ndarray):
    """Every (row, variant) pair with the same chromosome number (rows: -1 for none) and position:
    one integer key per side, sorted and searched (a pandas merge where the key could overflow)."""
    span = int(max(row_pos.max(initial=0), src_pos.max(initial=0))) + 1
    if min(row_pos.min(initial=0), src_pos.min(initial=0)) < 0 or (int(src_id.max(initial=0)) + 1) * span >= KEY_LIMIT:
        left = pd.DataFrame({"c": row_id, "p": row_pos, "r": np.arange(row_id.size)})
        right = pd.DataFrame({"c": src_id, "p": src_pos, "j": np.arange(src_id.size)})
        m = left[left["c"] >= 0].merge(right, on=["c", "p"], how="inner")
        return m["r"].to_numpy(np.int64), m["j"].to_numpy(np.int64)
    src_key = src_id * span + src_pos
    by_key = np.argsort(src_key, kind="stable")
    sorted_key = src_key[by_key]
    rows = np.flatnonzero(row_id >= 0)
    key = row_id[rows] * span + row_pos[rows]
    lo = np.searchsorted(sorted_key, key, "left")
    n = np.searchsorted(sorted_key, key, "right") - lo
    start = np.repeat(lo - (np.cumsum(n) - n), n)  # each pair's place in sorted_key, less its place in the output
    return np.repeat(rows, n), by_key[start + np.arange(start.size)]


def _allele_match(
    rows: dict[str, np.ndarray], var: pd.DataFrame, r: np.ndarray, j: np.ndarray, *, keep_ambiguous: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(status, orientation) of each pair: match_allele on the distinct allele combinations only (a
    handful for SNPs); a multi-allelic variant is ``multiallelic_in_vcf``."""
    codes = []
    for key in ("effect", "other"):
        c, u = rows[key]
        codes.append((c[r], u))
    for col in ("ref", "alt"):
        codes.append(_codes(var[col].array.take(j), lambda a: str(a).upper()))
    key = combined_key([(c, len(u)) for c, u in codes], r.size)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    res = [match_allele(*(u[c[i]] for c, u in codes), keep_ambiguous=keep_ambiguous) for i in first.tolist()]
    status = np.array([x[0] for x in res] or [""], dtype=object)[inverse.ravel()] if r.size else np.empty(0, object)
    orient = np.array([x[1] for x in res] or [0], dtype=np.int64)[inverse.ravel()] if r.size else np.empty(0, np.int64)
    multi = ~var["biallelic"].to_numpy(bool)[j]
    status[multi], orient[multi] = "multiallelic_in_vcf", 0
    return status, orient


def _resolve(r: np.ndarray, j: np.ndarray, status: np.ndarray, orient: np.ndarray) -> np.ndarray:
    """Which pair decides each score row's status, as ScoreAccumulator.add leaves it over the
    candidates in file order: the first used variant (later ones: "a position already scored");
    without one, the first ambiguous_dropped, else the last allele_mismatch, else the first
    multi-allelic. Returns the deciding pairs' positions."""
    cls = np.select([orient != 0, status == "ambiguous_dropped", status == "allele_mismatch"], [0, 1, 2], 3)
    order = np.lexsort((np.where(cls == 2, -j, j), cls, r))
    keep = np.ones(order.size, dtype=bool)
    keep[1:] = r[order][1:] != r[order][:-1]
    return order[keep]


def match_source(source: GenotypeSource, scores: list[Score], *, keep_ambiguous: bool = False) -> SourceMatch:
    """Match every score's variants to the source's (the VCF path's rules and statuses, vectorised:
    tests/test_genotype_sources.py checks it against ScoreAccumulator.add record by record)."""
    rows = _score_rows(scores)
    var = source.variants()
    r, j = _pairs(rows, var)
    status, orient = _allele_match(rows, var, r, j, keep_ambiguous=keep_ambiguous)
    best = _resolve(r, j, status, orient)
    r, j, status, orient = r[best], j[best], status[best], orient[best]
    si = rows["si"][r]
    ids = np.array([sc.id for sc in scores] or [""], dtype=object)[si] if si.size else np.empty(0, object)
    seen = pd.DataFrame(
        {  # object columns: no conversion to pandas' string arrays, which score_report does not need
            "score": pd.Series(ids, dtype=object),
            "index": rows["ri"][r],
            "status": pd.Series(status, dtype=object),
            "vcf_id": pd.Series(np.asarray(var["id"].array.take(j), dtype=object), dtype=object),
        }
    )
    u = orient != 0
    o, w, si = orient[u], rows["w"][r[u]], si[u]
    variant_idx, at = np.unique(j[u], return_inverse=True)
    shape = (variant_idx.size, len(scores))
    weight, ref_const, uses = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    np.add.at(weight, (at, si), o * w)
    np.add.at(ref_const, (at, si), np.where(o < 0, 2 * w, 0.0))
    np.add.at(uses, (at, si), 1.0)
    return SourceMatch(variant_idx, weight, ref_const, uses, seen)


@dataclass
class SourceScores:
    """Per-sample score sums and counts, and the VCF path's per-score and per-variant reports."""

    samples: list[str]
    score_sum: np.ndarray  # samples x scores
    allele_ct: np.ndarray  # samples x scores: 2 x called variants
    missing_ct: np.ndarray  # samples x scores: used variants with a missing value
    report: pd.DataFrame  # prs.REPORT_COLUMNS
    variants: pd.DataFrame  # prs.VARIANT_COLUMNS
    dosage: bool  # whether dosages (rather than hard calls) were read
    seen: pd.DataFrame  # score, index, status, vcf_id of every scoring-file row the source has (a shard's part)

    def table(self, scores: list[Score]) -> pd.DataFrame:
        """One row per sample: prs_<id>, _avg, _allele_ct, _missing_fraction (the VCF path's columns)."""
        out = pd.DataFrame({"sample": self.samples})
        for j, sc in enumerate(scores):
            ct = self.allele_ct[:, j]
            out[f"prs_{sc.id}"] = self.score_sum[:, j]
            out[f"prs_{sc.id}_avg"] = np.where(ct > 0, self.score_sum[:, j] / np.maximum(ct, 1), np.nan)
            out[f"prs_{sc.id}_allele_ct"] = ct
            used = int(self.report.loc[self.report["score"] == sc.id, "used"].iloc[0])
            out[f"prs_{sc.id}_missing_fraction"] = self.missing_ct[:, j] / used if used else np.nan
        return out


def _block_size(n_samples: int, variant_block: int | None) -> int:
    """Variants per block: ``variant_block``, or as many as keep the float64 block near 4 MiB, 16 to
    4096 (4 and 8 MiB were the fastest of 1 to 16 MiB, timed with ``variant_block`` on
    bench/pgen_scores.py's files at 2,000 to 20,000 samples)."""
    if variant_block is not None:
        return max(1, int(variant_block))
    return int(min(4096, max(16, (1 << 19) // max(n_samples, 1))))


@functools.cache
def _blas() -> ThreadpoolController:
    """numpy's BLAS, to hold it to one thread in the block loop: a matrix-vector product of a
    block's size runs slower on two threads than on one (bench/pgen_scores.py)."""
    return ThreadpoolController()


def _threads(threads: int | None) -> int:
    """1 or 2: ``threads``, else 2 where this process may run on two CPUs or more."""
    if threads is not None:
        return 2 if int(threads) >= 2 else 1
    try:
        return 2 if len(os.sched_getaffinity(0)) >= 2 else 1
    except AttributeError:  # no CPU affinity on this platform
        return 2 if (os.cpu_count() or 1) >= 2 else 1


def _reads(read, count: int, pool: ThreadPoolExecutor | None):
    """The results of read(0), ..., read(count - 1) in turn; with a pool, read(i + 1) runs while the
    caller works on block i (pgenlib and cbgen release the GIL), never on a buffer still in use."""
    if pool is None:
        yield from (read(i) for i in range(count))
        return
    fut = pool.submit(read, 0) if count else None
    for i in range(count):
        result = fut.result()
        if i + 1 < count:
            fut = pool.submit(read, i + 1)
        yield result


def _score_chunk(source: GenotypeSource, m: SourceMatch, samples: np.ndarray | None, n: int, *, dosage, block, threads):
    """(scores x samples) sums and missing counts of one chunk of sorted unique samples (None: all).

    Per block: sums += W' x, where x is MISSING (-9) where missing; there the -9 w is given back,
    the REF-effect 2w taken back and the missing counted: by one product of [9w - 2w (REF) | uses]
    with the missing mask when many are missing, else added up per sample over the missing
    values alone. ``threads`` 2: the next block is read into a second buffer meanwhile."""
    k = m.weight.shape[1]
    ssum = np.repeat(m.ref_const.sum(axis=0)[:, None], n, axis=1)  # every REF-effect 2w, taken back where missing
    missing = np.zeros((k, n))
    per_missing = np.hstack([MISSING * -m.weight - m.ref_const, m.uses])
    rows_max = min(block, m.variant_idx.size)
    bufs = [(np.empty((rows_max, n)), np.empty((rows_max, n), dtype=bool)) for _ in range(threads)]
    starts = range(0, m.variant_idx.size, block)

    def read(i: int) -> int:
        x, mask = bufs[i % threads]
        idx = m.variant_idx[starts[i] : starts[i] + block]
        return source.read_into(idx, samples, x[: idx.size], mask[: idx.size], dosage=dosage)

    dense = None
    with _blas().limit(limits=1, user_api="blas"), ThreadPoolExecutor(1) if threads > 1 else nullcontext() as pool:
        for i, n_missing in enumerate(_reads(read, len(starts), pool)):
            rows = slice(starts[i], starts[i] + block)
            n_rows = m.variant_idx[rows].size
            x, mask = bufs[i % threads][0][:n_rows], bufs[i % threads][1][:n_rows]
            ssum += m.weight[rows].T @ x
            if n_missing * 16 > mask.size:
                dense = np.empty((rows_max, n)) if dense is None else dense
                np.copyto(dense[:n_rows], mask)
                both = per_missing[rows].T @ dense[:n_rows]
                ssum += both[:k]
                missing += both[k:]
            elif n_missing:
                r, c = np.divmod(np.flatnonzero(mask), n)
                for j in range(k):
                    ssum[j] += np.bincount(c, weights=per_missing[rows, j][r], minlength=n)
                    missing[j] += np.bincount(c, weights=per_missing[rows, k + j][r], minlength=n)
    return ssum, missing


def score_source(
    source: GenotypeSource,
    scores: list[Score],
    *,
    keep_ambiguous: bool = False,
    sample_idx: np.ndarray | None = None,
    dosage: bool | None = None,
    variant_block: int | None = None,
    sample_chunk: int | None = None,
    threads: int | None = None,
) -> SourceScores:
    """Score the samples (``sample_idx``, default all) of a source with PGS Catalog scores.

    ``dosage``: read dosages (default: when the source has them) or hard calls. Memory is one
    ``variant_block`` x ``sample_chunk`` float64 block (by default about 4 MiB, at least 16 variants,
    see :func:`_block_size`; two with ``threads`` 2) plus the matrices of the used variants.
    ``threads``: 2 reads the next block on a second thread while one is summed (about 20% faster
    where reading and summing take similar time); None (the default) uses 2 where this process
    may run on two CPUs (a SLURM job given one CPU reads in turn). ``sample_chunk`` None (the
    default): every sample in one pass. Splitting the samples costs time: pgenlib decodes a whole
    variant record to give a subset of its samples, so each chunk decodes the file again (20,000
    samples in chunks of 8,192: 1.9 s instead of 1.0 s); the stage bounds memory by its own
    sample chunks (``genotypes.sample_chunk``) instead. The products are float64 (the
    values read are exact in float64: hard calls, pgen dosages in 1/16384 units), so the sums do
    not depend on the block or chunk sizes beyond float64 rounding.

    Usage (tests/test_genotype_sources.py runs it against plink2): ``score_source(PgenSource(prefix),
    [read_scoring_file(path)])``, then ``.table(scores)`` for one row per sample and ``.report``
    for the per-score counts (matched, flipped, ambiguous, mismatch, multi-allelic, not in file).
    """
    dosage = source.has_dosage if dosage is None else dosage
    m = match_source(source, scores, keep_ambiguous=keep_ambiguous)
    all_samples = source.samples()
    sel = np.arange(len(all_samples)) if sample_idx is None else np.asarray(sample_idx, dtype=np.int64).ravel()
    k = len(scores)
    ssum, missing = np.zeros((sel.size, k)), np.zeros((sel.size, k))
    step = max(1, sel.size if sample_chunk is None else int(sample_chunk))
    n_threads = _threads(threads)
    for lo in range(0, sel.size, step):
        chunk = sel[lo : lo + step]
        if sample_idx is None and chunk.size == sel.size:
            uniq, back = None, slice(None)  # all samples: no subset for the reader
        else:
            uniq, back = np.unique(chunk, return_inverse=True)
        n = chunk.size if uniq is None else uniq.size
        block = _block_size(n, variant_block)
        s, miss = _score_chunk(source, m, uniq, n, dosage=dosage, block=block, threads=n_threads)
        ssum[lo : lo + chunk.size], missing[lo : lo + chunk.size] = s.T[back], miss.T[back]
    n_used = m.uses.sum(axis=0)
    variants, report = score_report(scores, m.seen)
    log.info(
        "%s: %d scores over %d samples, %d variants used (%s)",
        source.path.name,
        k,
        sel.size,
        m.variant_idx.size,
        "dosages" if dosage else "hard calls",
    )
    return SourceScores(
        samples=[all_samples[i] for i in sel],
        score_sum=ssum,
        allele_ct=(2 * (n_used[None, :] - missing)).astype(np.int64),
        missing_ct=missing.astype(np.int64),
        report=report,
        variants=variants,
        dosage=dosage,
        seen=m.seen,
    )
