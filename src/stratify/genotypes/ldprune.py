"""LD pruning that reproduces ``plink2 --indep-pairwise`` (same ``.prune.in`` set).

:func:`indep_pairwise` takes a dosage matrix (variants x samples, NaN = missing) and the
variants table (chrom, pos, id; file order) and returns which variants plink2 keeps. It is a
port of PLINK 2.00a3.5 (9 Aug 2022; github.com/chrchang/plink-ng tag ``v2.00a3.5``, commit
927db87e), file ``2.0/plink2_ld.cc``: ``LdPruneSubcontigSplitAll``, ``LdPruneNextSubcontig``,
``LdPruneNextWindow``, ``IndepPairwiseThread`` and ``ComputeIndepPairwiseR2Components``, and
``2.0/plink2.cc`` for the argument parsing. What it does, step by step:

* **Genotypes**: hard calls (0/1/2 ALT copies; a dosage is first made a hard call with plink2's
  default ``--hard-call-threshold 0.1``: within 0.1 of an integer, else missing). plink2 codes a
  call as +1/0/-1 (hom major, het, hom minor); the sign does not change r^2.
* **r^2** of a pair: over the samples called at both variants, with integer counts n (both
  called), the sums s1, s2, the sums of squares q1, q2 and the dot product d,
  ``cov = d*n - s1*s2``, ``var_k = q_k*n - s_k^2``; the pair is in LD when
  ``cov^2 > r2 * (1 + 2^-44) * var1 * var2`` (strict, doubles, in this order).
* **Monomorphic among the calls** (no homozygotes of one kind or the other, all het included):
  removed as soon as it is read.
* **Windows**: per chromosome (a chromosome with one variant is never looked at, so kept); a
  window of ``window`` variants moved by ``step`` variants; in kb, a window spans variants
  whose positions are within ``int(kb * 1000 * (1 + 2^-44))`` bp of its first, moved by the
  least that takes in one more variant, and a chromosome is first cut into sub-contigs where two
  neighbours are further apart than the window (a sub-contig of one variant is kept untouched).
* **Order of removal** in a window: for each kept variant i (in order), the kept variants j after
  it not yet compared with it, in order, until the first pair in LD; then the one with the higher
  major-allele frequency is removed (ties: j); when j was removed, i resumes after j on the next
  pass. Passes repeat until none removes anything. A variant's comparisons carry over to the next
  window (only new partners are compared).
* **Allele frequencies** (major-allele frequency, the tie rule): from the dosages of all samples
  (every sample of a VCF is a founder for plink2).

Cost: r^2 is computed in blocks, the next variants of a sub-contig (about as many as a window
keeps, 128 to 256) against the window's kept variants and each other: one dense float32 product
for the dot products and sparse products for the sums over the missing calls; a window then
compares only its new variants (every kept one has seen the rest), and its passes walk only the
pairs in LD. The hard calls of the whole input are held (int8, a quarter of a float32 dosage
matrix; :func:`indep_pairwise_calls` takes them directly); a memmap of dosages works. On 3,000
samples x 30,000 SNPs (1% missing; 2 busy shared cores) ``500kb 1 0.2`` takes about 10 s and
``50kb 1 0.2`` about 9 s where plink2 (1 thread) takes 1.2-1.5 s and 0.2-0.3 s: most of it is
the float32 products (plink2 counts bits, and only the pairs it needs).

Not reproduced: ``--indep-preferred``, sex-aware chrX/chrY (a VCF gives plink2 no sexes: chrX is
then exactly autosomal and a chrY variant has no called founders, removed as monomorphic, which is
what this does), chromosome 0 (plink2 leaves it out of both lists; here it raises).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SMALL_EPSILON = 2.0**-44  # plink2's kSmallEpsilon (2.0/include/plink2_string.h)


def hard_calls(dosages: np.ndarray, *, threshold: float = 0.1) -> np.ndarray:
    """Hard calls (int8 0/1/2, -1 missing) of dosages (NaN missing), plink2's
    ``--hard-call-threshold`` rule: a dosage within ``threshold`` of an integer is that call."""
    d = np.asarray(dosages)
    if not np.issubdtype(d.dtype, np.floating):
        d = d.astype(np.float32)
    r = np.rint(d)
    with np.errstate(invalid="ignore"):
        ok = (np.abs(d - r) <= threshold) & (r >= 0) & (r <= 2)  # False where NaN
    return np.where(ok, r, -1).astype(np.int8)


def _calls_and_freqs(d: np.ndarray, threshold: float, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Hard calls (int8) and ALT frequencies (from the dosages) of the rows of ``d``, read in
    blocks of ``block`` rows (a memmap is never read whole)."""
    calls = np.empty(d.shape, dtype=np.int8)
    alt = np.empty(d.shape[0])
    for s in range(0, d.shape[0], block):
        x = np.asarray(d[s : s + block])
        calls[s : s + block] = hard_calls(x, threshold=threshold)
        with np.errstate(invalid="ignore", divide="ignore"):
            alt[s : s + block] = np.nansum(x, axis=1, dtype=np.float64) / (2.0 * (~np.isnan(x)).sum(axis=1))
    return calls, alt


def _chrom_runs(chrom: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each chromosome's run of variants; a chromosome must be contiguous."""
    runs: list[tuple[int, int]] = []
    seen: set[str] = set()
    start = 0
    for i in range(1, len(chrom) + 1):
        if i == len(chrom) or chrom[i] != chrom[start]:
            if chrom[start] in seen:
                raise ValueError(
                    f"variants row {start}: chromosome {chrom[start]!r} appears in two separate runs; "
                    "expected each chromosome's variants together (as plink2 requires)"
                )
            seen.add(chrom[start])
            runs.append((start, i))
            start = i
    return runs


def _split_bp(pos: np.ndarray, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Sub-contigs of one chromosome for a window of ``size`` bp (LdPruneSubcontigSplitAll):
    a new one starts where a variant is more than ``size`` bp after the previous one."""
    out: list[tuple[int, int]] = []
    first = start
    prev = int(pos[start])
    for i in range(start + 1, end):
        p = int(pos[i])
        if p >= size and p - size > prev:
            if i > first + 1:
                out.append((first, i))
            first = i
        prev = p
    if end > first + 1:
        out.append((first, end))
    return out


def subcontigs(variants: pd.DataFrame, *, window: int, window_kb: float | None) -> list[tuple[int, int]]:
    """The (start, end) row ranges plink2 prunes independently: chromosomes (count window) or
    sub-contigs (kb window), each of at least two variants."""
    chrom = variants["chrom"].astype(str).to_numpy()
    pos = variants["pos"].to_numpy(dtype=np.int64)
    out: list[tuple[int, int]] = []
    for s, e in _chrom_runs(chrom):
        if chrom[s].lower().removeprefix("chr") == "0":
            raise ValueError(f"variants row {s}: chromosome 0 (unplaced) is not supported; expected a named chromosome")
        if window_kb is None:
            if e - s > 1:
                out.append((s, e))
            continue
        bad = np.nonzero(np.diff(pos[s:e]) < 0)[0]
        if len(bad):
            raise ValueError(
                f"variants row {s + bad[0] + 1}: position {pos[s + bad[0] + 1]} after {pos[s + bad[0]]} on "
                f"chromosome {chrom[s]}; expected positions sorted within a chromosome for a kb window"
            )
        out.extend(_split_bp(pos, s, e, window))
    return out


class _Coded:
    """The calls of one chromosome coded once for the r^2 sums: the sparse (CSR) matrix of the
    missing calls, and per variant the sum and sum of squares of x = 1 - call (+1 hom ref, 0 het,
    -1 hom alt; 0 where missing) and its number of missing calls."""

    def __init__(self, calls: np.ndarray):
        from scipy.sparse import csr_matrix

        self.calls = calls
        rows, cols = np.nonzero(calls < 0)
        self.missing = csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=calls.shape, dtype=np.float32
        )
        self.n_missing = np.bincount(rows, minlength=len(calls)).astype(np.int64)
        hom_ref = (calls == 0).sum(axis=1, dtype=np.int64)
        hom_alt = (calls == 2).sum(axis=1, dtype=np.int64)
        self.sums, self.squares = hom_ref - hom_alt, hom_ref + hom_alt
        self.rows = np.zeros(0, dtype=np.int64)  # the rows coded last (a window's members and a block)
        self.coded = np.zeros((0, calls.shape[1]), dtype=np.float32)

    def x(self, rows: np.ndarray) -> np.ndarray:
        """x of ``rows`` (sorted); rows coded by the previous call are reused."""
        at = np.minimum(np.searchsorted(self.rows, rows), max(len(self.rows) - 1, 0))
        have = self.rows[at] == rows if len(self.rows) else np.zeros(len(rows), dtype=bool)
        out = np.empty((len(rows), self.calls.shape[1]), dtype=np.float32)
        out[have] = self.coded[at[have]]
        c = self.calls[rows[~have]]
        out[~have] = np.where(c < 0, 0, 1 - c)
        self.rows, self.coded = rows, out
        return out


def _ld_pairs(coded: _Coded, first: np.ndarray, second: np.ndarray, thresh: float) -> np.ndarray:
    """in_ld[a, b]: variants ``first[a]`` and ``second[b]`` (row numbers of ``coded``) are in
    LD, computed as plink2 does: integer sums over the jointly called samples,
    ``cov^2 > thresh * var1 * var2`` in doubles.

    One dense float32 product (the dot products; exact, integers below 2^24 while there are
    fewer than 16.7 million samples); the sums over the jointly called samples are the variants'
    own sums less what falls on the other's missing calls, sparse products (missing calls are
    few)."""
    n_samples = coded.calls.shape[1]
    if n_samples >= 1 << 24:
        raise ValueError(f"{n_samples} samples: at most 2^24 - 1 for exact float32 sums")
    both_rows = np.union1d(first, second)
    x_all = coded.x(both_rows)
    xf, xs = x_all[np.searchsorted(both_rows, first)], x_all[np.searchsorted(both_rows, second)]
    kf, ks = len(xf), len(xs)
    dot = (xf @ xs.T).astype(np.int64)
    n = n_samples - coded.n_missing[first][:, None] - coded.n_missing[second][None, :]
    s1, q1 = coded.sums[first][:, None], coded.squares[first][:, None]
    s2, q2 = coded.sums[second][None, :], coded.squares[second][None, :]
    if coded.missing.nnz:
        mis_f, mis_s = coded.missing[first], coded.missing[second]
        # first's sum and sum of squares (x^2 = |x|) over the samples missing at second, and the reverse
        on_s = np.asarray(mis_s @ np.concatenate([xf, np.abs(xf)]).T).astype(np.int64)  # (ks, 2 kf)
        on_f = np.asarray(mis_f @ np.concatenate([xs, np.abs(xs)]).T).astype(np.int64)  # (kf, 2 ks)
        n = n + np.asarray((mis_f @ mis_s.T).toarray()).astype(np.int64)
        s1, q1 = s1 - on_s[:, :kf].T, q1 - on_s[:, kf:].T
        s2, q2 = s2 - on_f[:, :ks], q2 - on_f[:, ks:]
    cov = (dot * n - s1 * s2).astype(np.float64)
    var1 = (q1 * n - s1 * s1).astype(np.float64)
    var2 = (q2 * n - s2 * s2).astype(np.float64)
    return cov * cov > thresh * var1 * var2


class _Window:
    """The variants of the current window (plink2's winpos order), their state and the LD of
    the pairs still to compare. After a window is pruned every kept variant has been compared
    with all the window's others, so the next window compares only with its new variants:
    ``ld`` holds the columns of the new variants. LD is computed in blocks: the next variants of
    the sub-contig (about as many as the window keeps) against the window's members and each
    other, one set of matrix products (a pair's r^2 does not change, so computing it early
    changes nothing)."""

    def __init__(self, coded: _Coded, maj: np.ndarray, thresh: float, end: int):
        self.coded, self.maj, self.thresh, self.end = coded, maj, thresh, end
        self.idx = np.zeros(0, dtype=np.int64)
        self.removed = np.zeros(0, dtype=bool)
        self.unchecked = np.zeros(0, dtype=np.int64)  # first_unchecked_tvidx
        self.ld = np.zeros((0, 0), dtype=bool)  # rows: idx; columns: idx[old:]
        self.old = 0
        self.pending: list[tuple[int, bool]] = []
        self.cache_first, self.cache_stop = 0, 0
        self.cache_cols = np.zeros(0, dtype=np.int64)
        self.cache = np.zeros((0, 0), dtype=bool)

    def add(self, v: int, monomorphic: bool) -> None:
        self.pending.append((v, monomorphic))

    def _ld_new(self, new: np.ndarray) -> np.ndarray:
        """in_ld[i, k] of the window's variants ``idx[i]`` (new ones included) and ``new[k]``."""
        if new[0] < self.cache_first or new[-1] >= self.cache_stop:
            first = int(new[0])
            old = self.idx[self.idx < first]
            block = min(max(128, len(old)), 256)
            stop = min(max(first + block, int(new[-1]) + 1), self.end)
            self.cache_cols = np.concatenate([old, np.arange(first, stop)])
            self.cache = _ld_pairs(self.coded, self.cache_cols, np.arange(first, stop), self.thresh)
            self.cache_first, self.cache_stop = first, stop
        rows = np.searchsorted(self.cache_cols, self.idx)
        return self.cache[np.ix_(rows, new - self.cache_first)]

    def _take_pending(self) -> None:
        new = np.array([v for v, _ in self.pending], dtype=np.int64)
        self.old = len(self.idx)
        self.idx = np.concatenate([self.idx, new])
        self.removed = np.concatenate([self.removed, [m for _, m in self.pending]])
        self.unchecked = np.concatenate([self.unchecked, new + 1])
        self.ld = self._ld_new(new)
        self.pending = []

    def prune(self, window_end: int, removed_out: np.ndarray) -> None:
        """The passes of IndepPairwiseThread over a full window: each kept variant in order
        compared with the kept ones after it not yet compared, up to its first LD partner (then
        the one with the higher major-allele frequency goes, ties the partner, and a first that
        stays resumes after its removed partner on the next pass); passes until one removes
        nothing. Only the pairs in LD matter, so the passes walk those (a row without any is
        simply scanned to the window's end)."""
        self._take_pending()
        rem, idx, old = self.removed, self.idx, self.old
        rows, cols = np.nonzero(self.ld)  # row-major: each row's partners in order
        cols = cols + old
        after = cols > rows
        partners: dict[int, list[int]] = {}
        for f, j in zip(rows[after].tolist(), cols[after].tolist()):
            partners.setdefault(f, []).append(j)
        reml, idxl, unl = rem.tolist(), idx.tolist(), self.unchecked.tolist()
        maj = self.maj[idx].tolist()
        thresh, w, gone = 1 + SMALL_EPSILON, len(idxl), []
        order = sorted(partners)
        changed = True
        while changed:
            changed = False
            for f in order:
                if reml[f]:
                    continue
                j = next((j for j in partners[f] if not reml[j] and idxl[j] >= unl[f]), None)
                if j is None:
                    unl[f] = window_end
                    continue
                if maj[f] > maj[j] * thresh:
                    reml[f] = True
                    gone.append(f)
                else:
                    reml[j] = True
                    gone.append(j)
                    nxt = next((k for k in range(j + 1, w) if not reml[k]), None)
                    unl[f] = idxl[nxt] if nxt is not None else window_end
                changed = True
        if gone:
            rem[gone] = True
            removed_out[idx[gone]] = True
        self.unchecked[~rem] = window_end

    def slide(self, new_start: int) -> None:
        keep = np.flatnonzero(~self.removed & (self.idx >= new_start))
        self.idx, self.unchecked = self.idx[keep], self.unchecked[keep]
        self.removed = np.zeros(len(keep), dtype=bool)
        self.ld = np.zeros((len(keep), 0), dtype=bool)
        self.old = len(keep)


def _next_window_bp(pos: np.ndarray, size: int, start: int, win_end: int, next_end: int, sub_end: int):
    """LdPruneNextWindow for a bp window: the new (start, window-end variant, end)."""
    min_bp = int(pos[win_end]) - size
    while True:
        start += 1
        if int(pos[start]) >= min_bp:
            break
    thresh = int(pos[start]) + size
    v = win_end
    while True:
        next_end += 1
        if next_end == sub_end:
            break
        v += 1
        if int(pos[v]) > thresh:
            break
    return start, v, next_end


def _first_window_bp(pos: np.ndarray, size: int, s: int, e: int) -> tuple[int, int]:
    """LdPruneNextSubcontig for a bp window: (end of the first window, the variant after it)."""
    thresh = int(pos[s]) + size
    length, j = 1, s
    while True:
        j += 1
        if int(pos[j]) <= thresh:
            length += 1
            if length < e - s:
                continue
        break
    return s + length, j


def _prune_subcontig(coded, maj, mono, pos, s, e, *, window, step, bp, thresh, removed):
    """One sub-contig, window by window (IndepPairwiseThread's main loop)."""
    win = _Window(coded, maj, thresh, e)
    start = s
    if bp:
        next_end, win_end = _first_window_bp(pos, window, s, e)
    else:
        next_end, win_end = min(s + window, e), s
    for v in range(s, e):
        win.add(v, bool(mono[v]))
        if mono[v]:
            removed[v] = True
        if v + 1 != next_end:
            continue
        win.prune(next_end, removed)
        if next_end == e:
            return
        if bp:
            start, win_end, next_end = _next_window_bp(pos, window, start, win_end, next_end, e)
        else:
            start += step
            next_end = min(start + window, e)
        win.slide(start)


def _window_size(window: int | None, window_kb: float | None, step: int, r2: float) -> int:
    """The window in variants or bp (plink2's parsing of ``--indep-pairwise``); bad values raise."""
    if (window is None) == (window_kb is None):
        raise ValueError("give exactly one of window (variant count) or window_kb")
    if not 0 <= r2 < 1:
        raise ValueError(f"r2 threshold {r2}: expected 0 <= r2 < 1 (plink2's range)")
    if window_kb is not None:
        size = int(window_kb * 1000 * (1 + SMALL_EPSILON))
        if size < 2 or step != 1:
            raise ValueError(f"window_kb {window_kb} with step {step}: expected >= 0.002 kb and step 1 (plink2's rule)")
    else:
        size = int(window)
        if size < 2 or not 1 <= step <= size:
            raise ValueError(f"window {window}, step {step}: expected window >= 2 and 1 <= step <= window")
    return size


def indep_pairwise(
    dosages: np.ndarray,
    variants: pd.DataFrame,
    *,
    window: int | None = None,
    window_kb: float | None = None,
    step: int = 1,
    r2: float,
    hard_call_threshold: float = 0.1,
) -> np.ndarray:
    """Which variants ``plink2 --indep-pairwise`` keeps (its ``.prune.in``), as a bool array.

    ``dosages``: variants x samples (ALT dosage, NaN missing), rows in the order of
    ``variants`` (columns chrom, pos; file order, each chromosome's rows together).
    Give ``window`` (variants, with ``step``) or ``window_kb`` (plink2's ``50kb``: step 1).
    See the module docstring for the algorithm and its source.
    """
    _window_size(window, window_kb, step, r2)
    d = dosages if isinstance(dosages, np.ndarray) else np.asarray(dosages)
    if d.ndim != 2 or d.shape[0] != len(variants):
        raise ValueError(f"dosages of shape {d.shape}: expected (variants={len(variants)}, samples)")
    calls, alt = _calls_and_freqs(d, hard_call_threshold)
    return indep_pairwise_calls(calls, variants, window=window, window_kb=window_kb, step=step, r2=r2, alt_freq=alt)


def indep_pairwise_calls(
    calls: np.ndarray,
    variants: pd.DataFrame,
    *,
    window: int | None = None,
    window_kb: float | None = None,
    step: int = 1,
    r2: float,
    alt_freq: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`indep_pairwise` of hard calls (variants x samples, int8 0/1/2, -1 missing): the
    input a genotype reader gives, a quarter of float32 dosages. ``alt_freq``: the ALT
    frequencies plink2 would use (from dosages where the file has them); default: from the calls."""
    size = _window_size(window, window_kb, step, r2)
    if calls.ndim != 2 or calls.shape[0] != len(variants) or calls.dtype != np.int8:
        raise ValueError(
            f"calls of shape {calls.shape} ({calls.dtype}): expected int8 (variants={len(variants)}, samples)"
        )
    if calls.shape[1] < 2:
        raise ValueError(f"{calls.shape[1]} samples: plink2's --indep-pairwise needs at least two founders")
    if alt_freq is None:
        n_alt = np.where(calls > 0, calls, 0).sum(axis=1, dtype=np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            alt = n_alt / (2.0 * (calls >= 0).sum(axis=1))
    else:
        alt = np.asarray(alt_freq, dtype=np.float64)
    n_hom_ref = (calls == 0).sum(axis=1)
    n_hom_alt = (calls == 2).sum(axis=1)
    n_called = (calls >= 0).sum(axis=1)
    mono = ((n_hom_ref == 0) & (n_hom_alt == 0)) | (n_hom_ref == n_called) | (n_hom_alt == n_called)
    mono |= variants["chrom"].astype(str).str.lower().str.removeprefix("chr").isin(["y", "24"]).to_numpy()
    maj = np.maximum(1.0 - alt, alt)
    removed = np.zeros(len(variants), dtype=bool)
    pos = variants["pos"].to_numpy(dtype=np.int64)
    coded = _Coded(calls)
    for s, e in subcontigs(variants, window=size, window_kb=window_kb):
        _prune_subcontig(
            coded,
            maj,
            mono,
            pos,
            s,
            e,
            window=size,
            step=step,
            bp=window_kb is not None,
            thresh=r2 * (1 + SMALL_EPSILON),
            removed=removed,
        )
    return ~removed
