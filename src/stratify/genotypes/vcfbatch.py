"""The general path of the VCF reader: GT (and DS) of records whose FORMAT is more than GT.

A record's sample columns are decoded from the bytes right after each tab (GT is the first
FORMAT key, so a call is the first 1-3 bytes of its sample), with byte tables, for all the
selected samples at once; DS through :mod:`stratify.genotypes.vcffields`. Records are decoded
in batches (:class:`_Batch`: up to 64 records or 4 MiB of sample columns, in file order): one
pass over the batch's bytes finds every sample's start, and every numpy operation then works
on all the batch's calls, so the per-record cost of numpy calls (several dozen per record,
the bulk of the time at a few thousand samples) is paid once per batch.
"""

from __future__ import annotations

import numpy as np

from stratify.errors import GenotypeError
from stratify.genotypes.vcffields import read_dosage_field

_TAB, _COLON, _DOT, _ZERO, _ONE, _SLASH, _PIPE = 9, 58, 46, 48, 49, 47, 124

# byte tables of the general path: an allele (0, 1; '.' = a large negative, so a call with it
# sums below 0; _BAD otherwise), a field end (tab, colon, line end) and a phase separator
_BAD = 64
_ALLELE = np.full(256, _BAD, dtype=np.int8)
_ALLELE[[_ZERO, _ONE, _DOT]] = [0, 1, -32]
_END = np.zeros(256, dtype=bool)
_END[[_TAB, _COLON, 10, 13]] = True
_SEP = np.zeros(256, dtype=bool)
_SEP[[_SLASH, _PIPE]] = True


def _decode_general(
    gt: np.ndarray, n: int, sel: np.ndarray, where: str, ds_key: int | None = None
) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Dosages of the sample columns ``sel`` from the sample columns' bytes (any FORMAT with GT
    first), the number of haploid calls (set missing) and, when ``ds_key`` (DS's FORMAT index)
    is given, the dosages for scores: DS where the sample has one, else its hard call, as
    ``plink2 --vcf dosage=DS`` reads them (float32, -1 missing; missing where the call is haploid)."""
    starts = np.empty(n + 1, dtype=np.int64)
    starts[0] = 0
    tabs = np.flatnonzero(gt == _TAB)
    if tabs.size != n - 1:
        raise GenotypeError(f"{where}: {tabs.size + 1} sample columns, expected {n} (the #CHROM line's samples)")
    starts[1:n] = tabs + 1
    m = gt.size  # the sample columns' length without the line end
    while m and gt[m - 1] in (10, 13):
        m -= 1
    starts[n] = m + 1
    s = starts[sel]
    d, end1, bad = _gt_codes(gt, s, m)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        j = int(s[i])
        val = bytes(gt[j : j + 12]).split(b"\t")[0].split(b":")[0].rstrip(b"\r\n").decode(errors="replace")
        raise GenotypeError(
            f"{where}, sample column {int(sel[i]) + 1}: GT {val!r} is not a biallelic call "
            "(expected 0, 1 or . alleles separated by / or |)"
        )
    ds = None
    if ds_key is not None:
        ds = read_dosage_field(gt, s, starts[sel + 1] - 1, ds_key, where, sample_cols=sel)
        nods = np.isnan(ds)
        ds[nods] = d[nods]
        ds[end1] = -1
    return d, int(end1.sum()), ds


def _gt_codes(gt: np.ndarray, s: np.ndarray, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dosage int8 with -1 missing, haploid mask, bad mask) of the calls starting at ``s``;
    bytes at or past ``stop`` read as a tab."""
    c0, c1, c2, c3 = (gt.take(s + i, mode="clip") for i in range(4))
    if s.size and int(s.max()) + 3 >= stop:
        for j in np.flatnonzero(s + 3 >= stop):
            c0[j], c1[j], c2[j], c3[j] = (bytes(gt[s[j] : stop]) + b"\t" * 4)[:4]
    end1 = _END.take(c1)
    dip = _SEP.take(c1) & _END.take(c3)
    v0, v2 = _ALLELE.take(c0), _ALLELE.take(c2)
    bad = ~(dip | end1) | (v0 == _BAD) | (dip & (v2 == _BAD))
    d = v0 + v2
    d[(d < 0) | end1] = -1
    return d, end1, bad


def _decode_batch(
    lines: list[tuple[bytes, int]], n: int, sel: np.ndarray, ds_key: int | None
) -> tuple[list[tuple[np.ndarray, np.ndarray | None]], int] | None:
    """Dosages (and DS) of several records' sample columns (``line[b0:]``, each ending with a
    newline) and the number of haploid calls; None when something is wrong with any of them
    (the caller then decodes them one by one, which names the problem)."""
    big = np.concatenate([np.frombuffer(line, dtype=np.uint8, offset=b0) for line, b0 in lines])
    # every sample ends with a tab (9) or the line end (10): one comparison finds both, as VCF text
    # has no other byte below 11 (one would add a separator: the counts then differ, and the
    # records are decoded one by one)
    sep = np.flatnonzero(big <= 10)
    ends_rec = np.cumsum([len(line) - b0 for line, b0 in lines])
    if sep.size != n * len(lines) or not np.array_equal(sep[n - 1 :: n], ends_rec - 1):
        return None
    starts = np.empty(sep.size, dtype=np.int64)
    starts[0] = 0
    starts[1:] = sep[:-1] + 1
    s = starts.reshape(len(lines), n)[:, sel].ravel()
    e = sep.reshape(len(lines), n)[:, sel].ravel()
    d, end1, bad = _gt_codes(big, s, big.size)
    if bad.any():
        return None
    ds = None
    if ds_key is not None:
        try:
            ds = read_dosage_field(big, s, e, ds_key, "batch", sample_cols=np.tile(sel, len(lines)))
        except GenotypeError:
            return None
        nods = np.isnan(ds)
        ds[nods] = d[nods]
        ds[end1] = -1
    k = sel.size
    out = [(d[i * k : (i + 1) * k], None if ds is None else ds[i * k : (i + 1) * k]) for i in range(len(lines))]
    return out, int(end1.sum())


class _Batch:
    """Records in file order, those of the general path decoded together when the batch is full
    (64 records, 4 MiB of sample columns), when the DS position in FORMAT changes, or at the end."""

    def __init__(
        self, n: int, sel: np.ndarray, stats, yield_skipped: bool, *, records: int = 64, nbytes: int = 4 << 20
    ):
        self.n, self.sel, self.stats, self.yield_skipped = n, sel, stats, yield_skipped
        self.records, self.nbytes = records, nbytes
        self.items: list = []
        self.pending: list[tuple[int, bytes, int, str]] = []
        self.size = 0
        self.key: int | None = None

    def push(self, rec, pending: tuple | None) -> list:
        """Add a record (with what its decoding needs, or None); the records ready to yield."""
        out = []
        if pending is not None and self.pending and pending[2] != self.key:
            out = self.flush()
        self.items.append(rec)
        if pending is None:
            return out + (self.flush() if not self.pending else [])
        line, b0, self.key, where = pending
        self.pending.append((len(self.items) - 1, line, b0, where))
        self.size += len(line) - b0
        if len(self.pending) >= self.records or self.size >= self.nbytes:
            out += self.flush()
        return out

    def flush(self) -> list:
        """Decode the pending records; every record held, in file order (skipped ones if asked)."""
        if self.pending:
            got = _decode_batch([(line, b0) for _, line, b0, _ in self.pending], self.n, self.sel, self.key)
            if got is None:  # decode one by one: the first problem raises a GenotypeError naming it
                res, nh = [], 0
                for _, line, b0, where in self.pending:
                    d, h, ds = _decode_general(
                        np.frombuffer(line, dtype=np.uint8, offset=b0), self.n, self.sel, where, self.key
                    )
                    res.append((d, ds))
                    nh += h
                got = res, nh
            for (i, *_), (d, ds) in zip(self.pending, got[0]):
                self.items[i].dosage, self.items[i].ds = d, ds
            self.stats.haploid_calls += got[1]
        items, self.items, self.pending, self.size = self.items, [], [], 0
        return [r for r in items if r.dosage is not None or self.yield_skipped]
