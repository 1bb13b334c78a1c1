"""Opening a VCF safely: file checks, the header, BGZF blocks and the tabix/CSI index.

Every reader of a VCF in stratify (the sharded genotype stage in :mod:`stratify.genotypes.vcfscan`
and the PGx caller in :mod:`stratify.pgx.alleles`) goes through :func:`check_vcf` and
:func:`read_header`, so a bad file ends in the same named :class:`GenotypeError` on both
paths. The checks follow htslib's where it has one:

* **BGZF, not plain gzip.** A gzip member without the ``BC`` extra field cannot be indexed or
  read by region (htslib: "not compressed with bgzip"); recompress with ``bgzip``.
* **End-of-file marker.** A BGZF file ends with a 28-byte empty block (SAM/BAM format
  specification, section 4.1.2 "End-of-file marker"); htslib warns "no BGZF EOF marker; file
  may be truncated" when it is absent. Here it is an error: a file cut at a block boundary
  otherwise reads cleanly, half of it lost. The check reads the last 28 bytes, O(1).
* **Blocks.** Every block's ISIZE (and CRC32 with libdeflate) is checked as it is inflated; a
  bad block is named by its byte offset.
* **Index.** An index older than the VCF is stale (htslib warns "The index file is older than
  the data file", comparing modification times in whole seconds); a seek that does not land
  on a BGZF block, or on a record of the contig asked for, means the index belongs to another
  file. Both end in an error asking to re-index.
* **Header.** A ``#CHROM`` line with the eight fixed columns (and FORMAT when there are
  samples), distinct sample names (htslib refuses duplicates: "Duplicated sample name").
"""

from __future__ import annotations

import functools
import gzip
import io
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stratify.errors import GenotypeError

WINDOW = 1 << 14  # the tabix linear-index window: 16 kb

# SAM/BAM format specification (samtools/hts-specs SAMv1.tex, 4.1.2): the BGZF end-of-file marker.
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")

FIXED_COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]

try:  # libdeflate: inflates BGZF blocks several times faster than zlib, and checks the CRC cheaply
    import deflate as _libdeflate
except ImportError:  # pragma: no cover - a platform without the wheel falls back to zlib
    _libdeflate = None


def _inflate_errors() -> tuple[type[Exception], ...]:
    return (zlib.error,) + ((_libdeflate.DeflateError,) if _libdeflate is not None else ())


def reindex_hint(vcf: Path) -> str:
    return f"re-index it with `tabix -f -p vcf {vcf}`"


@dataclass(frozen=True)
class VcfFile:
    """A VCF that passed :func:`check_vcf`: BGZF (with its index, or None) or plain text."""

    path: Path
    bgzf: bool
    index: Path | None


def _bgzf_block_size(head: bytes) -> int | None:
    """BSIZE (total block size - 1) from a block's first bytes, or None when not a BGZF header."""
    if len(head) < 12 or head[:4] != b"\x1f\x8b\x08\x04":
        return None
    (xlen,) = struct.unpack_from("<H", head, 10)
    extra = head[12 : 12 + xlen]
    i = 0
    while i + 4 <= len(extra):
        slen = struct.unpack_from("<H", extra, i + 2)[0]
        if extra[i : i + 2] == b"BC" and slen == 2 and i + 6 <= len(extra):
            return struct.unpack_from("<H", extra, i + 4)[0]
        i += 4 + slen
    return None


def index_of(vcf: str | Path) -> Path | None:
    """The VCF's .tbi or .csi index, or None."""
    for ext in (".tbi", ".csi"):
        p = Path(str(vcf) + ext)
        if p.exists():
            return p
    return None


def check_vcf(vcf: str | Path, *, need_index: bool, allow_text: bool = False) -> VcfFile:
    """Check a VCF before reading it: present, BGZF with its end-of-file marker, index current.

    O(1): reads the first block header and the last 28 bytes. ``allow_text``: a plain-text VCF
    is accepted (read whole; the PGx caller allows it). Raises GenotypeError naming the file,
    the problem and the command that fixes it.
    """
    p = Path(vcf)
    if not p.is_file():
        raise GenotypeError(f"{p}: VCF not found")
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(64)
        f.seek(max(size - 28, 0))
        tail = f.read(28)
    if not head:
        raise GenotypeError(f"{p}: the file is empty; expected a bgzipped VCF")
    if head[:2] == b"\x1f\x8b":
        if _bgzf_block_size(head) is None:
            raise GenotypeError(
                f"{p}: compressed with plain gzip, not bgzip (BGZF), so it cannot be indexed or read by region; "
                f"recompress it: `gzip -dc {p} | bgzip -c > fixed.vcf.gz && tabix -p vcf fixed.vcf.gz`"
            )
        if tail != BGZF_EOF:
            raise GenotypeError(
                f"{p}: no BGZF end-of-file marker (the 28-byte empty block that ends every bgzip file; htslib: "
                f"'no BGZF EOF marker; file may be truncated'): the file is truncated ({size} bytes); "
                "copy or download it again, or re-create it with bgzip"
            )
        bgzf = True
    elif allow_text:
        bgzf = False
    else:
        raise GenotypeError(
            f"{p}: not bgzip-compressed (first bytes {head[:8]!r}); expected a bgzipped, indexed "
            f"VCF: `bgzip {p} && tabix -p vcf {p}.gz`"
        )
    idx = index_of(p) if bgzf else None
    if need_index and idx is None:
        raise GenotypeError(f"{p}: no .tbi or .csi index beside it; make one with `tabix -p vcf {p}`")
    if idx is not None and int(os.stat(p).st_mtime) > int(os.stat(idx).st_mtime):
        # htslib's rule (hts_idx_load3): the data file modified after its index, in whole seconds
        raise GenotypeError(
            f"{idx}: the index is older than the VCF {p.name} (the VCF changed after it was "
            f"indexed, so the index may point to the wrong records); {reindex_hint(p)} (or, "
            "if only the modification time changed, e.g. by a copy, `touch` the index)"
        )
    return VcfFile(p, bgzf, idx)


def _inflate(body: bytes, isize: int, crc: int, where: str) -> bytes:
    """One BGZF block's deflate stream (``body``), checked against its ISIZE (and its CRC32
    with libdeflate; zlib checks the deflate stream itself)."""
    try:
        if _libdeflate is not None:
            data = bytes(_libdeflate.deflate_decompress(body, isize))  # bytearray -> bytes: lines are hashable
            if _libdeflate.crc32(data) != crc:
                raise GenotypeError(f"{where}: a corrupt BGZF block (CRC32 differs)")
        else:
            data = zlib.decompress(body, -15)
    except _inflate_errors() as exc:
        raise GenotypeError(f"{where}: a corrupt BGZF block ({exc})") from None
    if len(data) != isize:
        raise GenotypeError(f"{where}: a corrupt BGZF block (length differs from ISIZE)")
    return data


def bgzf_lines(raw, skip: int = 0, *, name: str = "VCF", seeked: bool = False) -> Iterator[bytes]:
    """Lines of a BGZF file from the block at ``raw``'s position, the first ``skip`` bytes dropped.

    Each BGZF block is a gzip member with its size in the BC extra field, so it is inflated in
    one call (libdeflate, or zlib where the ``deflate`` wheel is missing), without the
    line-by-line buffering of the gzip module. Errors name the file and the block's byte offset;
    ``seeked``: the first block was found through the index, so a non-block there means the
    index does not belong to this file.
    """
    pieces: list[bytes] = []
    first = True
    while True:
        at = raw.tell()
        head = raw.read(18)
        if not head:
            break
        bsize = _bgzf_block_size(head)
        if bsize is None or len(head) < 18:
            if first and seeked:
                raise GenotypeError(
                    f"{name}: the index points to byte offset {at}, where no BGZF block starts: the "
                    f"index does not belong to this VCF; {reindex_hint(Path(name))}"
                )
            raise GenotypeError(
                f"{name}: no BGZF block at byte offset {at} (the file is corrupt or truncated "
                "there); copy it again or re-create it with bgzip"
            )
        (xlen,) = struct.unpack_from("<H", head, 10)
        body = head[12 + xlen :] + raw.read(bsize + 1 - 18)
        if len(body) < bsize + 1 - 12 - xlen or len(body) < 8:
            raise GenotypeError(
                f"{name}: the file ends inside the BGZF block at byte offset {at} (truncated); "
                "copy it again or re-create it with bgzip"
            )
        crc, isize = struct.unpack_from("<II", body, len(body) - 8)
        data = _inflate(body[:-8], isize, crc, f"{name}, byte offset {at}")
        first = False
        if skip:
            data, skip = data[skip:], 0
        start = 0
        while True:
            j = data.find(b"\n", start)
            if j < 0:
                break
            if pieces:
                pieces.append(data[start : j + 1])
                yield b"".join(pieces)
                pieces = []
            else:
                yield data[start : j + 1]
            start = j + 1
        if start < len(data):
            pieces.append(data[start:])
    if pieces:
        yield b"".join(pieces)


def file_lines(vf: VcfFile) -> Iterator[bytes]:
    """Every line of a checked VCF (BGZF or plain text)."""
    with open(vf.path, "rb") as raw:
        if vf.bgzf:
            yield from bgzf_lines(raw, name=str(vf.path))
        else:
            yield from io.BufferedReader(raw, buffer_size=1 << 20)


@dataclass(frozen=True)
class Header:
    """The header of a VCF: its meta lines, sample names and how many lines it has."""

    meta: str
    samples: list[str]
    n_lines: int


def read_header(vf: VcfFile) -> Header:
    """Read and check the header (cached per file version: the stage reads it in every step)."""
    st = vf.path.stat()
    return _read_header(vf, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _read_header(vf: VcfFile, _mtime: int, _size: int) -> Header:
    meta: list[str] = []
    p = vf.path
    for n, line in enumerate(file_lines(vf), start=1):
        try:
            text = line.rstrip(b"\r\n").decode("utf-8")
        except UnicodeDecodeError:
            raise GenotypeError(f"{p}, line {n}: header line is not UTF-8 text; expected a VCF header") from None
        if text.startswith("##"):
            meta.append(text)
            continue
        if not text.startswith("#CHROM"):
            what = "the first record" if text and not text.startswith("#") else f"a line starting {text[:20]!r}"
            raise GenotypeError(
                f"{p}, line {n}: {what} comes before the #CHROM header line; a VCF needs the line "
                "'#CHROM POS ID REF ALT QUAL FILTER INFO [FORMAT samples...]' (tab-separated) "
                "after its ## lines"
            )
        return Header("\n".join(meta), _check_columns(text.split("\t"), p, n), n)
    raise GenotypeError(f"{p}: no #CHROM header line (and no records); expected a VCF")


def _check_columns(cols: list[str], p: Path, n: int) -> list[str]:
    if cols[:8] != FIXED_COLUMNS or (len(cols) > 8 and cols[8] != "FORMAT"):
        raise GenotypeError(
            f"{p}, line {n}: the #CHROM line's columns are {' '.join(cols[:9])!r}; expected "
            f"{' '.join(FIXED_COLUMNS)} FORMAT <samples>, tab-separated"
        )
    samples = cols[9:]
    seen: set[str] = set()
    dup = []
    for s in samples:
        if s in seen and s not in dup:
            dup.append(s)
        seen.add(s)
    if dup:
        raise GenotypeError(
            f"{p}, line {n}: duplicate sample name(s) in the #CHROM line: {', '.join(dup[:10])}"
            f"{' ...' if len(dup) > 10 else ''}; every sample column needs its own name "
            "(rename them, e.g. with `bcftools reheader --samples`)"
        )
    for i, s in enumerate(samples):
        if not s.strip() or any(ord(c) < 32 or c.isspace() for c in s):
            raise GenotypeError(
                f"{p}, line {n}: sample column {i + 10} has {'an empty name' if not s else 'a name with a space or control character'} "
                f"({s!r}); sample names are tab-separated and hold no blanks (a stray carriage "
                "return or a doubled tab?)"
            )
    return samples


# ------------------------------------------------------------------------------------ indexes


def _read_gz(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise GenotypeError(
            f"{path}: cannot be read as an index ({exc}); re-index the VCF with `tabix -f -p vcf`"
        ) from None


@dataclass
class TabixIndex:
    """Contig names and the linear index (first virtual offset per 16-kb window) of a .tbi."""

    names: list[str]
    linear: list[np.ndarray]

    @classmethod
    def read(cls, path: str | Path) -> TabixIndex:
        path = Path(path)
        data = _read_gz(path)
        if data[:4] != b"TBI\x01":
            raise GenotypeError(f"{path}: not a tabix index (magic {data[:4]!r}, expected TBI\\1)")
        try:
            n_ref, _fmt, _cs, _cb, _ce, _meta, _skip, l_nm = struct.unpack_from("<8i", data, 4)
            off = 36
            names = [s.decode() for s in data[off : off + l_nm].split(b"\0")[:n_ref]]
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
        except (struct.error, ValueError, UnicodeDecodeError) as exc:
            raise GenotypeError(
                f"{path}: a damaged tabix index ({exc}); re-index the VCF with `tabix -f -p vcf`"
            ) from None
        return cls(names, linear)

    def offset(self, chrom: str, beg: int, end: int = 2**31 - 1) -> int | None:
        """Virtual offset to start reading records of ``chrom`` at ``beg`` (None: no records there)."""
        if chrom not in self.names:
            return None
        lin = self.linear[self.names.index(chrom)]
        w = (beg - 1) // WINDOW
        return int(lin[w]) if w < len(lin) else None


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
    lin, unset = lin[: valid[-1] + 1].copy(), unset[: valid[-1] + 1]
    nxt = np.searchsorted(valid, np.arange(len(lin)))
    lin[unset] = lin[valid[nxt[unset]]]
    return lin


@dataclass
class CsiIndex:
    """Contig names and per-contig bins (bin -> smallest chunk start) of a .csi index.

    CSI (htslib's ``bcftools index`` default) has no linear index: the start of a region is
    the smallest chunk start among the bins that overlap it (CSIv1 specification, hts-specs).
    """

    names: list[str]
    min_shift: int
    depth: int
    bins: list[dict[int, int]]

    @classmethod
    def read(cls, path: str | Path) -> CsiIndex:
        path = Path(path)
        data = _read_gz(path)
        if data[:4] != b"CSI\x01":
            raise GenotypeError(f"{path}: not a CSI index (magic {data[:4]!r}, expected CSI\\1)")
        try:
            min_shift, depth, l_aux = struct.unpack_from("<3i", data, 4)
            aux = data[16 : 16 + l_aux]
            if l_aux < 28:
                raise GenotypeError(
                    f"{path}: a CSI index without contig names (made for BCF?); index the "
                    "bgzipped VCF with `tabix -p vcf` or `bcftools index`"
                )
            l_nm = struct.unpack_from("<i", aux, 24)[0]
            off = 16 + l_aux
            (n_ref,) = struct.unpack_from("<i", data, off)
            names = [s.decode() for s in aux[28 : 28 + l_nm].split(b"\0")[:n_ref]]
            off += 4
            meta_bin = ((1 << (3 * depth + 3)) - 1) // 7 + 1
            bins: list[dict[int, int]] = []
            for _ in range(n_ref):
                (n_bin,) = struct.unpack_from("<i", data, off)
                off += 4
                ref: dict[int, int] = {}
                for _ in range(n_bin):
                    b, _loff, n_chunk = struct.unpack_from("<IQi", data, off)
                    off += 16
                    chunks = np.frombuffer(data, dtype="<u8", count=2 * n_chunk, offset=off)
                    off += 16 * n_chunk
                    if b != meta_bin and n_chunk:
                        ref[b] = int(chunks[0::2].min())
                bins.append(ref)
        except (struct.error, ValueError, UnicodeDecodeError) as exc:
            raise GenotypeError(f"{path}: a damaged CSI index ({exc}); re-index the VCF") from None
        return cls(names, min_shift, depth, bins)

    def offset(self, chrom: str, beg: int, end: int = 2**31 - 1) -> int | None:
        if chrom not in self.names:
            return None
        lo, hi = beg - 1, end  # 0-based half-open
        best = None
        for b, start in self.bins[self.names.index(chrom)].items():
            level = 0
            while b >= ((1 << (3 * (level + 1))) - 1) // 7:
                level += 1
            if level > self.depth:
                continue
            span = 1 << (self.min_shift + 3 * (self.depth - level))
            k = b - ((1 << (3 * level)) - 1) // 7
            if k * span < hi and (k + 1) * span > lo and (best is None or start < best):
                best = start
        return best


def read_index(path: Path) -> TabixIndex | CsiIndex:
    return CsiIndex.read(path) if path.suffix == ".csi" else TabixIndex.read(path)


def region_lines(
    vf: VcfFile, index: TabixIndex | CsiIndex, chrom: str, beg: int, end: int = 2**31 - 1
) -> Iterator[bytes]:
    """Lines from the first record of ``chrom`` that may overlap ``beg`` onwards (to the file's end:
    the caller stops at another contig or past its region). The first line must be a record of
    ``chrom``, else the index does not belong to this file."""
    voff = index.offset(chrom, beg, end)
    if voff is None:
        return
    with open(vf.path, "rb") as raw:
        raw.seek(voff >> 16)
        first = True
        for line in bgzf_lines(raw, voff & 0xFFFF, name=str(vf.path), seeked=True):
            if first:
                if not line.startswith(chrom.encode() + b"\t"):
                    raise GenotypeError(
                        f"{vf.path}: the index says a {chrom} record starts at virtual offset {voff}, but the line "
                        f"there starts {line[:30]!r}: the index does not belong to this VCF; {reindex_hint(vf.path)}"
                    )
                first = False
            yield line
