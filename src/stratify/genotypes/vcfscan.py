"""Fast, sharded reading of genotypes (GT) from a bgzipped, tabix-indexed VCF.

Genotype text parsing is what costs when a VCF is read (cyvcf2 decodes every FORMAT field
of every sample through htslib and reads about half as fast as ``bcftools query``). This
module reads the GT field itself, vectorised with numpy over a whole record:

* **fixed-width fast path**: when FORMAT is exactly ``GT`` and every call is three bytes
  (``0/1``, ``1|1``, ``./.``), a sample's call with its tab is one 4-byte word at a fixed
  offset, so a sample chunk of a record is decoded (one table lookup per call) without
  looking at the other samples' bytes;
* **general path**: any FORMAT whose first key is GT (VCF 4.x requires GT first), any mix
  of phased and unphased calls, extra FORMAT fields, haploid calls (counted and set
  missing) and partly missing calls such as ``./1`` (missing).

Only biallelic records are decoded (ALT without a comma); a multi-allelic record is counted
and skipped, never misread. Dosage = number of ALT alleles (0, 1, 2), -1 when missing.

Sharding: the tabix (.tbi) linear index gives the file offset of every 16-kb window, so
a shard is a list of (contig, start, end) intervals of about ``target_bytes`` compressed
bytes each, read by seeking straight to its first block. A shard reads only its sample
chunk's calls. With a CSI index (no linear index) the file is read with cyvcf2 instead
(same results, slower).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stratify.errors import GenotypeError
from stratify.genotypes.vcfbatch import _Batch, _decode_general  # noqa: F401  (_decode_general: tested here)
from stratify.genotypes.vcffields import format_index
from stratify.genotypes.vcfio import (  # noqa: F401  (TabixIndex, _fill_unset, index_of: this module's API before vcfio)
    WINDOW,
    CsiIndex,
    TabixIndex,
    VcfFile,
    _fill_unset,
    bgzf_lines,
    check_vcf,
    index_of,
    read_header,
    read_index,
    region_lines,
    reindex_hint,
)

log = logging.getLogger(__name__)

_TAB, _COLON, _DOT, _ZERO, _ONE, _SLASH, _PIPE = 9, 58, 46, 48, 49, 47, 124


def _word_tables() -> tuple[np.uint32, np.ndarray, np.ndarray, dict[int, int]]:
    """Tables for decoding a fixed-width call read as one little-endian uint32 word.

    A fixed-width call is four bytes: allele (0, 1 or .), separator (/ or |), allele, and a
    tab (a newline after the line's last sample): 18 valid tab-terminated words. A
    multiplicative hash, ``(word * MAGIC) >> 26``, sends each of them to its own one of 64
    slots; ``_WORD[slot]`` holds the valid word (an empty slot holds another slot's word, which
    cannot hash to it), so ``_WORD[hash(w)] == w`` checks a word and ``_WORD_DOSAGE[hash(w)]``
    decodes it: 0-2, or -1 when either allele is missing ('.'). The newline-terminated words
    are a plain dict.
    """
    code = {_ZERO: 0, _ONE: 1, _DOT: -1}
    words: dict[int, int] = {}
    for a, va in code.items():
        for b, vb in code.items():
            for sep in (_SLASH, _PIPE):
                words[a | sep << 8 | b << 16 | _TAB << 24] = -1 if -1 in (va, vb) else va + vb
    keys = np.array(list(words), dtype=np.uint32)
    rng = np.random.default_rng(20261122)
    while True:
        magic = np.uint32(rng.integers(1, 2**32) | 1)
        slots = (keys * magic) >> np.uint32(26)
        if len(set(slots.tolist())) == len(keys):
            break
    # an empty slot holds a valid word of another slot: no word hashing to it can equal that
    table = np.full(64, keys[0], dtype=np.uint32)
    dosage = np.full(64, -128, dtype=np.int8)
    table[slots] = keys
    dosage[slots] = list(words.values())
    line_end = {k ^ (_TAB << 24) ^ (10 << 24): v for k, v in words.items()}
    return magic, table, dosage, line_end


_MAGIC, _WORD, _WORD_DOSAGE, _LINE_END_WORDS = _word_tables()


def _decode_words(w: np.ndarray, end_at: int | None) -> np.ndarray | None:
    """Dosages (int8, -1 missing) of fixed-width calls given as uint32 words, or None when any
    word is not a valid diploid call (the caller then reads the record the general way).
    ``end_at`` = the position of the line's last sample among ``w`` (newline-terminated)."""
    slot = ((w * _MAGIC) >> np.uint32(26)).astype(np.intp)
    ok = _WORD.take(slot) == w
    d = _WORD_DOSAGE.take(slot)
    if end_at is not None:
        last = _LINE_END_WORDS.get(int(w[end_at]))
        if last is None:
            return None
        ok[end_at], d[end_at] = True, last
    return d if ok.all() else None


@dataclass
class Shard:
    """Intervals (contig, first position, last position; 1-based, inclusive) read by one job."""

    intervals: list[tuple[str, int, int]]
    approx_bytes: int = 0

    def to_json(self) -> dict:
        return {"intervals": [list(t) for t in self.intervals], "approx_bytes": self.approx_bytes}

    @classmethod
    def from_json(cls, d: dict) -> Shard:
        return cls([(str(c), int(s), int(e)) for c, s, e in d["intervals"]], int(d.get("approx_bytes", 0)))


def plan_shards(vcf: str | Path, *, target_bytes: int = 64 << 20) -> list[Shard]:
    """Split the file into shards of about ``target_bytes`` compressed bytes (by the index).

    Intervals follow file order, a contig is cut at 16-kb window boundaries only, and every
    record belongs to exactly one shard (by its POS). With a CSI index (no linear index) each
    contig of the index is one interval, all in one shard.
    """
    vf = check_vcf(vcf, need_index=True)
    read_header(vf)
    size = vf.path.stat().st_size
    assert vf.index is not None
    idx = read_index(vf.index)
    if isinstance(idx, CsiIndex):
        return [Shard([(c, 1, 2**31 - 1) for c, b in zip(idx.names, idx.bins) if b], size)]
    shards: list[Shard] = []
    cur: list[tuple[str, int, int]] = []
    cur_bytes = 0
    contigs = [(n, lin) for n, lin in zip(idx.names, idx.linear) if len(lin)]
    for ci, (name, lin) in enumerate(contigs):
        coff = (lin >> np.uint64(16)).astype(np.int64)
        nxt = (contigs[ci + 1][1][0] >> np.uint64(16)) if ci + 1 < len(contigs) else size
        if int(coff.max()) > size:
            raise GenotypeError(
                f"{vf.index}: points past the end of {vf.path.name} (byte {int(coff.max())} of "
                f"{size}): the index does not belong to this VCF; {reindex_hint(vf.path)}"
            )
        end_of = np.append(coff[1:], int(nxt))
        w0 = 0
        for w in range(len(lin)):
            win_bytes = max(int(end_of[w]) - int(coff[w]), 0)
            cur_bytes += win_bytes
            if cur_bytes >= target_bytes and w + 1 < len(lin):
                cur.append((name, w0 * WINDOW + 1, (w + 1) * WINDOW))
                shards.append(Shard(cur, cur_bytes))
                cur, cur_bytes, w0 = [], 0, w + 1
        cur.append((name, w0 * WINDOW + 1, 2**31 - 1))
    if cur:
        shards.append(Shard(cur, cur_bytes))
    return shards


@dataclass
class ScanStats:
    """What a scan saw: every record is either decoded or counted here with the reason."""

    records: int = 0
    decoded: int = 0
    multiallelic: int = 0
    no_alt: int = 0
    no_gt: int = 0
    haploid_calls: int = 0
    seconds: float = 0.0

    def add(self, other: ScanStats) -> None:
        for k in ("records", "decoded", "multiallelic", "no_alt", "no_gt", "haploid_calls", "seconds"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def as_dict(self) -> dict:
        return {
            "records": self.records,
            "decoded_biallelic": self.decoded,
            "skipped_multiallelic": self.multiallelic,
            "skipped_no_alt": self.no_alt,
            "skipped_no_gt_field": self.no_gt,
            "haploid_calls_set_missing": self.haploid_calls,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Record:
    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    dosage: np.ndarray | None  # int8, -1 missing, for the selected samples; None when skipped
    skipped: str | None = None
    # float32, -1 missing: the imputed dosage (FORMAT DS) where the record has one, else None
    ds: np.ndarray | None = None

    @property
    def score_dosage(self) -> np.ndarray | None:
        """What a polygenic score uses: DS where the record has it, else the hard call."""
        return self.dosage if self.ds is None else self.ds


def header_samples(vcf: str | Path) -> list[str]:
    """Sample names from the #CHROM line of a bgzipped VCF (after :func:`check_vcf`'s checks)."""
    return read_header(check_vcf(vcf, need_index=False)).samples


def _where(vcf: Path, lineno: int | None, prev: tuple[str, int] | None) -> str:
    """Where a record is: its line number in a whole-file read, else the record before it."""
    if lineno is not None:
        return f"{vcf}, line {lineno}"
    return f"{vcf}, the record after {prev[0]}:{prev[1]}" if prev else f"{vcf}, the first record of the region"


def _record_head(line: bytes, vcf: Path, lineno: int | None, prev) -> tuple[str, int, list[int]]:
    """CHROM, POS and the positions of the first nine tabs of a record line, or a named error."""
    tabs = []
    t = -1
    for _ in range(9):
        t = line.find(b"\t", t + 1)
        if t < 0:
            break
        tabs.append(t)
    chrom = line[: tabs[0]].decode("utf-8", "replace") if tabs else line[:20].decode("utf-8", "replace").rstrip()
    if len(tabs) < 2:
        raise GenotypeError(
            f"{_where(vcf, lineno, prev)}: a record line with {len(tabs) + 1} tab-separated "
            f"column(s) (starting {line[:30]!r}); a VCF record has CHROM POS ID REF ALT QUAL FILTER "
            "INFO FORMAT and one column per sample"
        )
    raw_pos = line[tabs[0] + 1 : tabs[1]]
    if not raw_pos.isdigit() or not chrom:
        raise GenotypeError(
            f"{_where(vcf, lineno, prev)}, record {chrom}:{raw_pos.decode('utf-8', 'replace')}: "
            f"{'CHROM is empty' if not chrom else 'POS is not a positive integer'}; expected "
            "CHROM and a 1-based position"
        )
    pos = int(raw_pos)
    if len(tabs) < 9:
        raise GenotypeError(
            f"{_where(vcf, lineno, prev)}, record {chrom}:{pos}: {len(tabs) + 1} columns; a VCF "
            "with samples needs at least 10 (CHROM .. FORMAT and one per sample)"
        )
    return chrom, pos, tabs


def _region_sources(vf: VcfFile, intervals, header) -> Iterator[tuple]:
    """(contig, first, last, lines, first line number or None) for each interval (or the whole file)."""
    if intervals is None:
        yield None, 0, 2**31 - 1, _body_lines(vf, header.n_lines), header.n_lines
        return
    idx = read_index(vf.index)
    for chrom, beg, end in intervals:
        yield chrom, beg, end, region_lines(vf, idx, chrom, beg, end), None, idx


def _body_lines(vf: VcfFile, n_header: int) -> Iterator[bytes]:
    with open(vf.path, "rb") as raw:
        for i, line in enumerate(bgzf_lines(raw, name=str(vf.path))):
            if i >= n_header:
                yield line


def _sample_selection(
    columns: tuple[int, int] | np.ndarray | None, n: int, vcf: Path
) -> tuple[np.ndarray, int, int, bool, int | None]:
    """The sample columns to decode: their positions, the (first, stop) span the fast path
    decodes, whether they are one contiguous chunk, and where the line's last sample
    (newline-terminated) sits among them (None if it is not decoded)."""
    if columns is None:
        columns = (0, n)
    if isinstance(columns, tuple):
        lo, hi = columns
        sel = np.arange(lo, hi)
        contiguous = True
    else:
        sel = np.asarray(columns, dtype=np.int64)
        lo, hi = 0, n
        contiguous = False
    if sel.size and (sel.min() < 0 or sel.max() >= n):
        raise GenotypeError(f"{vcf}: sample columns out of range (the VCF has {n} samples)")
    last = np.flatnonzero(sel == n - 1)
    end_at = int(last[0]) if last.size else None
    return sel, lo, hi, contiguous, end_at


def scan(
    vcf: str | Path,
    intervals: list[tuple[str, int, int]] | None = None,
    *,
    columns: tuple[int, int] | np.ndarray | None = None,
    want: set[tuple[str, int]] | None = None,
    yield_skipped: bool = False,
    stats: ScanStats | None = None,
    progress_every: int = 50000,
    dosages: bool = True,
) -> Iterator[Record]:
    """Yield the biallelic records of the intervals (default: the whole file) with dosages.

    ``columns`` = the samples to decode, as (first, stop) column positions (a chunk: only its
    bytes are decoded on the fast path) or an array of column positions (default: all).
    ``want`` = {(contig, pos)}: decode only these positions (others are still counted).
    ``yield_skipped``: also yield skipped records (multi-allelic, no ALT, no GT) with
    ``dosage=None`` and ``skipped`` set to the reason. ``dosages``: read FORMAT DS into
    ``Record.ds`` where a record has it (False: hard calls only, as PCA needs).

    Every record line is checked for its columns and POS, the order of positions within a
    contig and (whole file) that a contig's records are together; with an index, that the
    index belongs to the file. A problem raises GenotypeError naming the record.
    """
    vf = check_vcf(vcf, need_index=intervals is not None)
    vcf = vf.path
    header = read_header(vf)
    n = len(header.samples)
    if n == 0:
        raise GenotypeError(f"{vcf}: the VCF has no samples (sites-only); expected genotype columns")
    sel, lo, hi, contiguous, end_at = _sample_selection(columns, n, vcf)
    stats = stats if stats is not None else ScanStats()
    t0 = time.monotonic()
    batch = _Batch(n, sel, stats, yield_skipped)
    for chrom, beg, end, lines, lineno, *idx in _region_sources(vf, intervals, header):
        prev: tuple[str, int] | None = None
        done: set[str] = set()
        try:
            for line in lines:
                if lineno is not None:
                    lineno += 1
                if line[:1] == b"#":
                    continue
                c, pos, tabs = _record_head(line, vcf, lineno, prev)
                if chrom is not None and c != chrom:
                    if idx and c not in idx[0].names:
                        raise GenotypeError(
                            f"{vcf}: contig {c} follows {chrom} in the file but is not in the index "
                            f"{vf.index.name}: the index is stale; {reindex_hint(vcf)}"
                        )
                    break
                if prev is not None and (c == prev[0] and pos < prev[1] or c != prev[0] and c in done):
                    raise GenotypeError(
                        f"{_where(vcf, lineno, prev)}, record {c}:{pos}: the VCF is not sorted "
                        f"({c}:{pos} comes after {prev[0]}:{prev[1]}); sort it with `bcftools sort` "
                        "and index it again"
                    )
                if prev is not None and c != prev[0]:
                    done.add(prev[0])
                prev = (c, pos)
                if pos < beg:
                    continue
                if pos > end:
                    break
                stats.records += 1
                if stats.records % progress_every == 0:
                    log.info(
                        "%s: %d records read (%.0f records/s)",
                        vcf.name,
                        stats.records,
                        stats.records / max(time.monotonic() - t0, 1e-9),
                    )
                if want is not None and (c, pos) not in want:
                    continue
                rec, pending = _decode_record(
                    line,
                    c,
                    pos,
                    tabs,
                    n,
                    sel,
                    lo,
                    hi,
                    contiguous,
                    end_at,
                    stats,
                    f"{vcf}, {'' if lineno is None else f'line {lineno}, '}record {c}:{pos}",
                    dosages,
                )
                yield from batch.push(rec, pending)
            yield from batch.flush()
        except GenotypeError as exc:
            if prev is None or "record" in str(exc):
                raise
            raise GenotypeError(
                f"{exc} (last good record: {prev[0]}:{prev[1]}{'' if lineno is None else f', line {lineno - 1}'})"
            ) from None
    stats.seconds += time.monotonic() - t0


def _decode_record(
    line: bytes,
    c: str,
    pos: int,
    tabs: list[int],
    n: int,
    sel: np.ndarray,
    lo: int,
    hi: int,
    contiguous: bool,
    end_at: int | None,
    stats: ScanStats,
    where: str,
    dosages: bool = True,
) -> tuple[Record, tuple | None]:
    """One record's dosages (or its skip reason, counted in ``stats``), or the record without
    them and what the general path needs to decode it in a batch (:class:`_Batch`)."""
    alt = line[tabs[3] + 1 : tabs[4]]
    fmt = line[tabs[7] + 1 : tabs[8]]
    reason = None
    if alt == b"." or alt == b"*":
        stats.no_alt += 1
        reason = "no ALT allele"
    elif b"," in alt:
        stats.multiallelic += 1
        reason = "multi-allelic"
    elif not (fmt == b"GT" or fmt.startswith(b"GT:")):
        stats.no_gt += 1
        reason = "no GT field"
    vid = line[tabs[1] + 1 : tabs[2]].decode("utf-8", "replace")
    ref = line[tabs[2] + 1 : tabs[3]].decode("utf-8", "replace")
    if reason is not None:
        return Record(c, pos, vid, ref, alt.decode("utf-8", "replace"), None, reason), None
    b0 = tabs[8] + 1
    d = None
    if fmt == b"GT" and len(line) - b0 == 4 * n and line[-1:] == b"\n":
        if contiguous:
            w = np.frombuffer(line, dtype="<u4", count=hi - lo, offset=b0 + 4 * lo)
        else:
            w = np.frombuffer(line, dtype="<u4", count=n, offset=b0)[sel]
        d = _decode_words(w, end_at)
        # None: not all fixed-width biallelic calls, so the general path decides
    stats.decoded += 1
    rec = Record(c, pos, vid, ref, alt.decode("utf-8", "replace"), d)
    if d is not None:
        return rec, None
    if not line[b0:].rstrip(b"\r\n"):
        raise GenotypeError(f"{where}: no sample columns, expected {n} (the #CHROM line's samples)")
    return rec, (line if line[-1:] == b"\n" else line + b"\n", b0, format_index(fmt, b"DS") if dosages else None, where)
