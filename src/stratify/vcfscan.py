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

import gzip
import io
import logging
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stratify.errors import GenotypeError

log = logging.getLogger(__name__)

WINDOW = 1 << 14  # the tabix linear-index window: 16 kb

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


try:   # libdeflate: inflates BGZF blocks several times faster than zlib, and checks the CRC cheaply
    import deflate as _libdeflate
except ImportError:   # pragma: no cover - a platform without the wheel falls back to zlib
    _libdeflate = None


_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error,) + (
    (_libdeflate.DeflateError,) if _libdeflate is not None else ())


def _inflate(body: bytes, isize: int, crc: int, where: str) -> bytes:
    """One BGZF block's deflate stream (``body``), checked against its ISIZE (and its CRC32
    with libdeflate; zlib checks the deflate stream itself)."""
    try:
        if _libdeflate is not None:
            data = _libdeflate.deflate_decompress(body, isize)
            if _libdeflate.crc32(data) != crc:
                raise GenotypeError(f"{where}: a corrupt BGZF block (CRC32 differs)")
        else:
            data = zlib.decompress(body, -15)
    except _INFLATE_ERRORS as exc:
        raise GenotypeError(f"{where}: a corrupt BGZF block ({exc})") from None
    if len(data) != isize:
        raise GenotypeError(f"{where}: a corrupt BGZF block (length differs from ISIZE)")
    return data


@dataclass
class TabixIndex:
    """Contig names and the linear index (first virtual offset per 16-kb window) of a .tbi."""

    names: list[str]
    linear: list[np.ndarray]

    @classmethod
    def read(cls, path: str | Path) -> "TabixIndex":
        path = Path(path)
        try:
            with gzip.open(path, "rb") as f:
                data = f.read()
        except (OSError, EOFError) as exc:
            raise GenotypeError(f"{path}: cannot be read as a tabix index ({exc})") from None
        if data[:4] != b"TBI\x01":
            raise GenotypeError(f"{path}: not a tabix index (magic {data[:4]!r}, expected TBI\\1)")
        n_ref, _fmt, _cs, _cb, _ce, _meta, _skip, l_nm = struct.unpack_from("<8i", data, 4)
        off = 36
        names = [s.decode() for s in data[off:off + l_nm].split(b"\0")[:n_ref]]
        off += l_nm
        linear = []
        for _ in range(n_ref):
            (n_bin,) = struct.unpack_from("<i", data, off)
            off += 4
            for _ in range(n_bin):
                _bin, n_chunk = struct.unpack_from("<Ii", data, off)
                off += 8 + 16 * n_chunk
            (n_intv,) = struct.unpack_from("<i", data, off)
            off += 4
            linear.append(_fill_unset(np.frombuffer(data, dtype="<u8", count=n_intv, offset=off).copy()))
            off += 8 * n_intv
        return cls(names, linear)


def _fill_unset(lin: np.ndarray) -> np.ndarray:
    """Windows without an offset (all bits set) read from the next window that has one.

    Trailing unset windows are dropped: no record starts there.
    """
    unset = lin == np.iinfo(np.uint64).max
    if not unset.any():
        return lin
    valid = np.flatnonzero(~unset)
    if not valid.size:
        return lin[:0]
    lin, unset = lin[:valid[-1] + 1].copy(), unset[:valid[-1] + 1]
    nxt = np.searchsorted(valid, np.arange(len(lin)))
    lin[unset] = lin[valid[nxt[unset]]]
    return lin


def index_of(vcf: str | Path) -> Path | None:
    """The VCF's .tbi or .csi index, or None."""
    for ext in (".tbi", ".csi"):
        p = Path(str(vcf) + ext)
        if p.exists():
            return p
    return None


@dataclass
class Shard:
    """Intervals (contig, first position, last position; 1-based, inclusive) read by one job."""

    intervals: list[tuple[str, int, int]]
    approx_bytes: int = 0

    def to_json(self) -> dict:
        return {"intervals": [list(t) for t in self.intervals], "approx_bytes": self.approx_bytes}

    @classmethod
    def from_json(cls, d: dict) -> "Shard":
        return cls([(str(c), int(s), int(e)) for c, s, e in d["intervals"]], int(d.get("approx_bytes", 0)))


def plan_shards(vcf: str | Path, *, target_bytes: int = 64 << 20) -> list[Shard]:
    """Split the file into shards of about ``target_bytes`` compressed bytes (by the index).

    Intervals follow file order, a contig is cut at 16-kb window boundaries only, and every
    record belongs to exactly one shard (by its POS). With a CSI index, or a file too small
    to split, each contig with data is its own interval and shards are whole contigs
    grouped to the target.
    """
    vcf = Path(vcf)
    idx = index_of(vcf)
    if idx is None:
        raise GenotypeError(f"{vcf}: no .tbi or .csi index beside it; make one with `tabix -p vcf {vcf}`")
    size = vcf.stat().st_size
    if idx.suffix == ".csi":
        from cyvcf2 import VCF

        v = VCF(str(vcf), lazy=True)
        names = list(v.seqnames)
        v.close()
        return [Shard([(c, 1, 2**31 - 1) for c in names], size)]
    tbi = TabixIndex.read(idx)
    shards: list[Shard] = []
    cur: list[tuple[str, int, int]] = []
    cur_bytes = 0
    contigs = [(n, lin) for n, lin in zip(tbi.names, tbi.linear) if len(lin)]
    for ci, (name, lin) in enumerate(contigs):
        coff = (lin >> np.uint64(16)).astype(np.int64)
        nxt = (contigs[ci + 1][1][0] >> np.uint64(16)) if ci + 1 < len(contigs) else size
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

    def add(self, other: "ScanStats") -> None:
        for k in ("records", "decoded", "multiallelic", "no_alt", "no_gt", "haploid_calls", "seconds"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def as_dict(self) -> dict:
        return {"records": self.records, "decoded_biallelic": self.decoded,
                "skipped_multiallelic": self.multiallelic, "skipped_no_alt": self.no_alt,
                "skipped_no_gt_field": self.no_gt, "haploid_calls_set_missing": self.haploid_calls,
                "seconds": round(self.seconds, 3)}


@dataclass
class Record:
    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    dosage: np.ndarray | None  # int8, -1 missing, for the selected samples; None when skipped
    skipped: str | None = None


def _bgzf_lines(raw, skip: int = 0) -> Iterator[bytes]:
    """Lines of a BGZF file from the block at ``raw``'s position, the first ``skip`` bytes dropped.

    Each BGZF block is a gzip member with its size in the BC extra field, so it is inflated in
    one call (libdeflate, or zlib where the ``deflate`` wheel is missing), without the
    line-by-line buffering of the gzip module. Each block's length is checked against its ISIZE
    and, with libdeflate, its CRC32. A file that is gzip but not BGZF is read through the gzip
    module instead.
    """
    pieces: list[bytes] = []
    while True:
        head = raw.read(12)
        if len(head) < 12:
            break
        if head[:4] != b"\x1f\x8b\x08\x04":
            raw.seek(raw.tell() - len(head))
            yield from io.BufferedReader(gzip.GzipFile(fileobj=raw), buffer_size=1 << 20)
            return
        (xlen,) = struct.unpack_from("<H", head, 10)
        extra = raw.read(xlen)
        bsize = None
        i = 0
        while i + 4 <= len(extra):
            si1, si2, slen = extra[i], extra[i + 1], struct.unpack_from("<H", extra, i + 2)[0]
            if si1 == 66 and si2 == 67 and slen == 2:
                bsize = struct.unpack_from("<H", extra, i + 4)[0]
            i += 4 + slen
        if bsize is None:
            raise GenotypeError(f"{getattr(raw, 'name', 'VCF')}: a gzip block without the BGZF size field; "
                                "recompress the file with bgzip")
        body = raw.read(bsize + 1 - 12 - xlen)
        if len(body) < 8:
            raise GenotypeError(f"{getattr(raw, 'name', 'VCF')}: the file ends inside a BGZF block (truncated)")
        crc, isize = struct.unpack_from("<II", body, len(body) - 8)
        data = _inflate(body[:-8], isize, crc, getattr(raw, "name", "VCF"))
        if skip:
            data, skip = data[skip:], 0
        start = 0
        while True:
            j = data.find(b"\n", start)
            if j < 0:
                break
            if pieces:
                pieces.append(data[start:j + 1])
                yield b"".join(pieces)
                pieces = []
            else:
                yield data[start:j + 1]
            start = j + 1
        if start < len(data):
            pieces.append(data[start:])
    if pieces:
        yield b"".join(pieces)


def header_samples(vcf: str | Path) -> list[str]:
    """Sample names from the #CHROM line."""
    vcf = Path(vcf)
    try:
        with gzip.open(vcf, "rb") as f:
            for line in f:
                if line.startswith(b"#CHROM"):
                    cols = line.rstrip(b"\r\n").decode().split("\t")
                    return cols[9:]
                if not line.startswith(b"#"):
                    break
    except (OSError, EOFError) as exc:
        raise GenotypeError(f"{vcf}: cannot be read as a bgzipped VCF ({exc})") from None
    raise GenotypeError(f"{vcf}: no #CHROM header line before the first record")


def _decode_general(gt: np.ndarray, n: int, sel: np.ndarray, where: str) -> tuple[np.ndarray, int]:
    """Dosages of the sample columns ``sel`` from the sample columns' bytes (any FORMAT with GT first)."""
    a = np.empty(gt.size + 4, dtype=np.uint8)
    a[:gt.size] = gt
    a[gt.size:] = _TAB
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    tabs = np.flatnonzero(gt == _TAB)
    if tabs.size != n - 1:
        raise GenotypeError(f"{where}: {tabs.size + 1} sample columns, expected {n} (the #CHROM line's samples)")
    starts[1:] = tabs + 1
    s = starts[sel]
    c0, c1, c2, c3 = a[s], a[s + 1], a[s + 2], a[s + 3]
    end1 = (c1 == _TAB) | (c1 == _COLON) | (c1 == 10) | (c1 == 13)
    dip = ((c1 == _SLASH) | (c1 == _PIPE)) & ((c3 == _TAB) | (c3 == _COLON) | (c3 == 10) | (c3 == 13))
    bad = ~(dip | end1) | ~np.isin(c0, (_ZERO, _ONE, _DOT)) | (dip & ~np.isin(c2, (_ZERO, _ONE, _DOT)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        j = int(s[i])
        val = bytes(a[j:j + 12]).split(b"\t")[0].split(b":")[0].decode(errors="replace")
        raise GenotypeError(f"{where}, sample column {int(sel[i]) + 1}: GT {val!r} is not a biallelic call "
                            "(expected 0, 1 or . alleles separated by / or |)")
    d = (c0 - _ZERO).astype(np.int8) + (c2 - _ZERO).astype(np.int8)
    d[(c0 == _DOT) | (c2 == _DOT)] = -1
    d[end1] = -1
    return d, int(end1.sum())


def scan(
    vcf: str | Path,
    intervals: list[tuple[str, int, int]] | None = None,
    *,
    columns: tuple[int, int] | np.ndarray | None = None,
    want: set[tuple[str, int]] | None = None,
    yield_skipped: bool = False,
    stats: ScanStats | None = None,
    progress_every: int = 50000,
) -> Iterator[Record]:
    """Yield the biallelic records of the intervals (default: the whole file) with dosages.

    ``columns`` = the samples to decode, as (first, stop) column positions (a chunk: only its
    bytes are decoded on the fast path) or an array of column positions (default: all).
    ``want`` = {(contig, pos)}: decode only these positions (others are still counted).
    ``yield_skipped``: also yield skipped records (multi-allelic, no ALT, no GT) with
    ``dosage=None`` and ``skipped`` set to the reason.
    """
    vcf = Path(vcf)
    samples = header_samples(vcf)
    n = len(samples)
    if n == 0:
        raise GenotypeError(f"{vcf}: the VCF has no samples")
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
    stats = stats if stats is not None else ScanStats()
    # where the line's last sample (newline-terminated) sits among the decoded ones
    last = np.flatnonzero(sel == n - 1)
    end_at = int(last[0]) if last.size else None
    idx = index_of(vcf)
    t0 = time.monotonic()
    if intervals is not None and idx is not None and idx.suffix == ".csi":
        yield from _scan_cyvcf2(vcf, intervals, [samples[i] for i in sel], want, stats, yield_skipped)
        stats.seconds += time.monotonic() - t0
        return
    if intervals is not None and idx is None:
        raise GenotypeError(f"{vcf}: no .tbi or .csi index; make one with `tabix -p vcf {vcf}`")
    tbi = TabixIndex.read(idx) if intervals is not None else None
    for chrom, beg, end in intervals or [(None, 0, 2**31 - 1)]:
        with open(vcf, "rb") as raw:
            if chrom is not None:
                assert tbi is not None
                if chrom not in tbi.names:
                    continue
                lin = tbi.linear[tbi.names.index(chrom)]
                w = (beg - 1) // WINDOW
                if w >= len(lin):
                    continue
                voff = int(lin[w])
                raw.seek(voff >> 16)
                gz = _bgzf_lines(raw, voff & 0xFFFF)
            else:
                gz = _bgzf_lines(raw)
            bchrom = chrom.encode() if chrom is not None else None
            for line in gz:
                if line[:1] == b"#":
                    continue
                t1 = line.index(b"\t")
                if bchrom is not None and line[:t1] != bchrom:
                    break
                t2 = line.index(b"\t", t1 + 1)
                pos = int(line[t1 + 1:t2])
                if pos < beg:
                    continue
                if pos > end:
                    break
                stats.records += 1
                if stats.records % progress_every == 0:
                    log.info("%s: %d records read (%.0f records/s)", vcf.name, stats.records,
                             stats.records / max(time.monotonic() - t0, 1e-9))
                tabs = [t1, t2]
                for _ in range(7):
                    tabs.append(line.find(b"\t", tabs[-1] + 1))
                    if tabs[-1] < 0:
                        raise GenotypeError(f"{vcf}: record {line[:t1].decode()}:{pos} has {len(tabs) - 1} "
                                            "columns; a VCF with samples needs at least 10")
                c = line[:t1].decode()
                if want is not None and (c, pos) not in want:
                    continue
                alt = line[tabs[3] + 1:tabs[4]]
                fmt = line[tabs[7] + 1:tabs[8]]
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
                vid, ref = line[tabs[1] + 1:tabs[2]].decode(), line[tabs[2] + 1:tabs[3]].decode()
                if reason is not None:
                    if yield_skipped:
                        yield Record(c, pos, vid, ref, alt.decode(), None, reason)
                    continue
                b0 = tabs[8] + 1
                d = None
                if fmt == b"GT" and len(line) - b0 == 4 * n and line[-1:] == b"\n":
                    if contiguous:
                        w = np.frombuffer(line, dtype="<u4", count=hi - lo, offset=b0 + 4 * lo)
                    else:
                        w = np.frombuffer(line, dtype="<u4", count=n, offset=b0)[sel]
                    d = _decode_words(w, end_at)
                    # None: not all fixed-width biallelic calls, so the general path decides
                if d is None:
                    body = line[b0:].rstrip(b"\r\n")
                    d, nh = _decode_general(np.frombuffer(body, dtype=np.uint8), n, sel, f"{vcf}: record {c}:{pos}")
                    stats.haploid_calls += nh
                stats.decoded += 1
                yield Record(c, pos, vid, ref, alt.decode(), d)
    stats.seconds += time.monotonic() - t0


def _scan_cyvcf2(vcf: Path, intervals, samples: list[str], want, stats: ScanStats,
                 yield_skipped: bool) -> Iterator[Record]:
    """The same records through cyvcf2 (for CSI-indexed files)."""
    from cyvcf2 import VCF

    v = VCF(str(vcf), gts012=True, lazy=True, samples=samples)
    for chrom, beg, end in intervals:
        for r in v(f"{chrom}:{beg}-{end}"):
            if r.POS < beg:
                continue
            stats.records += 1
            if want is not None and (r.CHROM, r.POS) not in want:
                continue
            reason = None
            if not r.ALT or r.ALT[0] in (".", "*"):
                stats.no_alt += 1
                reason = "no ALT allele"
            elif len(r.ALT) > 1:
                stats.multiallelic += 1
                reason = "multi-allelic"
            elif "GT" not in r.FORMAT:
                stats.no_gt += 1
                reason = "no GT field"
            if reason is not None:
                if yield_skipped:
                    yield Record(r.CHROM, r.POS, r.ID or ".", r.REF, ",".join(r.ALT), None, reason)
                continue
            gt = r.gt_types.astype(np.int8)
            d = np.where(gt == 3, -1, gt).astype(np.int8)
            stats.decoded += 1
            yield Record(r.CHROM, r.POS, r.ID or ".", r.REF, r.ALT[0], d)
    v.close()
