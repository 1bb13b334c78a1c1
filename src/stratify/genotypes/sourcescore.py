"""Polygenic scores from any genotype source (:mod:`stratify.genotypes.sources`).

Matching is the VCF path's: each source variant at a scoring-file position goes through
:class:`stratify.genotypes.prs.ScoreAccumulator` (its ``add``: statuses, multi-allelic
records, a position already scored) without genotypes, and the orientation of each used
(score, variant) pair is :func:`stratify.genotypes.prs.match_allele`'s. The sums are then
matrix products over variant blocks x sample chunks (memory: one block x chunk of float32):

    sum_s = sum_v [called] (o_v w_v d_v + [effect = REF] 2 w_v)

with ``d`` the ALT dosage (the imputed dosage where the source has one, else the hard call)
and ``o`` = +1 when the effect allele is ALT, -1 when it is REF: effect = REF adds
w (2 - d). A missing value adds nothing and is counted; ``allele_ct`` = 2 x called variants.
This is plink2 ``--score ... no-mean-imputation cols=+scoresums`` (SCORE1_SUM, ALLELE_CT;
plink2_matrix_calc.cpp, ScoreReport), which tests/test_genotype_sources.py checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stratify.genotypes.prs import Score, ScoreAccumulator, match_allele, norm_chrom, score_report
from stratify.genotypes.sources import GenotypeSource
from stratify.genotypes.vcfscan import Record

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


def _candidates(source: GenotypeSource, acc: ScoreAccumulator) -> np.ndarray:
    """Indices of the source's variants at a position some score asks for."""
    var = source.variants()
    if not len(var) or not acc.lookup:
        return np.empty(0, dtype=np.int64)
    keys = pd.MultiIndex.from_arrays([var["chrom"].map(norm_chrom), var["pos"].astype(np.int64)])
    wanted = pd.MultiIndex.from_tuples(list(acc.lookup))
    return np.flatnonzero(keys.isin(wanted))


def match_source(source: GenotypeSource, scores: list[Score], *, keep_ambiguous: bool = False) -> SourceMatch:
    """Match every score's variants to the source's (the VCF path's rules and statuses)."""
    acc = ScoreAccumulator(scores, 0, keep_ambiguous=keep_ambiguous)
    var = source.variants()
    cols = [var[c].tolist() for c in ("chrom", "pos", "id", "ref", "alt", "biallelic")]
    no_calls = np.empty(0, dtype=np.float32)
    # plain lists: a pandas lookup per variant would cost more than the matching
    rows_of = [(sc.variants["effect_allele"].tolist(), sc.variants["other_allele"].tolist()) for sc in scores]
    weights = [sc.variants["weight"].tolist() for sc in scores]
    used: list[tuple[int, int, int, float]] = []  # (variant, score, orientation, weight)
    for j in _candidates(source, acc):
        chrom, pos, vid, ref, alt, bi = (c[j] for c in cols)
        rec = Record(
            str(chrom),
            int(pos),
            str(vid),
            str(ref),
            str(alt),
            no_calls if bi else None,
            None if bi else "multi-allelic",
        )
        hits = acc.lookup[(norm_chrom(rec.chrom), rec.pos)]
        before = {h: acc.status.get(h, ("", ""))[0] for h in hits}
        acc.add(rec)
        for si, ri in hits:
            if acc.status.get((si, ri), ("", ""))[0] in USED and before[(si, ri)] not in USED:
                effect, other = rows_of[si][0][ri], rows_of[si][1][ri]
                _, orient = match_allele(effect, other, rec.ref.upper(), rec.alt.upper(), keep_ambiguous=keep_ambiguous)
                used.append((int(j), si, orient, float(weights[si][ri])))
    rows = np.array(sorted({u[0] for u in used}), dtype=np.int64)
    at = {j: i for i, j in enumerate(rows.tolist())}
    shape = (rows.size, len(scores))
    weight, ref_const, uses = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for j, si, orient, w in used:
        weight[at[j], si] += orient * w
        ref_const[at[j], si] += 2 * w if orient < 0 else 0.0
        uses[at[j], si] += 1
    return SourceMatch(rows, weight, ref_const, uses, acc.variant_table())


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


def score_source(
    source: GenotypeSource,
    scores: list[Score],
    *,
    keep_ambiguous: bool = False,
    sample_idx: np.ndarray | None = None,
    dosage: bool | None = None,
    variant_block: int = 2048,
    sample_chunk: int = 8192,
) -> SourceScores:
    """Score the samples (``sample_idx``, default all) of a source with PGS Catalog scores.

    ``dosage``: read dosages (default: when the source has them) or hard calls. Memory is one
    ``variant_block`` x ``sample_chunk`` float32 block plus the matrices of the used variants.

    Usage (tests/test_genotype_sources.py runs it against plink2): ``score_source(PgenSource(prefix),
    [read_scoring_file(path)])``, then ``.table(scores)`` for one row per sample and ``.report``
    for the per-score counts (matched, flipped, ambiguous, mismatch, multi-allelic, not in file).
    """
    dosage = source.has_dosage if dosage is None else dosage
    m = match_source(source, scores, keep_ambiguous=keep_ambiguous)
    all_samples = source.samples()
    sel = np.arange(len(all_samples)) if sample_idx is None else np.asarray(sample_idx, dtype=np.int64)
    k = len(scores)
    ssum, missing = np.zeros((sel.size, k)), np.zeros((sel.size, k))
    whole = sample_idx is None and sel.size <= sample_chunk
    for lo in range(0, sel.size, sample_chunk):
        chunk = None if whole else sel[lo : lo + sample_chunk]
        hi = lo + (sel.size if chunk is None else chunk.size)
        ssum[lo:hi] += m.ref_const.sum(axis=0)  # every REF-effect 2w, taken back below where missing
        for b in range(0, m.variant_idx.size, variant_block):
            x = source.read(m.variant_idx[b : b + variant_block], chunk, dosage=dosage)
            rows = slice(b, b + variant_block)
            miss = np.isnan(x)
            if miss.any():  # these products only for blocks that have a missing value
                np.copyto(x, 0.0, where=miss)
                mf = miss.astype(np.float32)
                # (scores x block) @ (block x samples): no transposed copy of the block
                ssum[lo:hi] -= (m.ref_const[rows].T @ mf).T
                missing[lo:hi] += (m.uses[rows].T @ mf).T
            ssum[lo:hi] += (m.weight[rows].T @ x).T
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
