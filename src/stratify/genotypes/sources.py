"""Genotype sources: PLINK 2 (.pgen/.pvar/.psam) and BGEN files behind one interface.

A source gives its ``samples()``, its ``variants()`` (a DataFrame with ``chrom``, ``pos``,
``id``, ``ref``, ``alt`` and ``biallelic``, one row per variant in file order, index = variant
index) and ``read(variant_idx, sample_idx, dosage=...)``: a float32 array (variants x samples)
of ALT allele counts, NaN where missing. ``dosage=True`` gives the imputed dosage where the
file stores one, else the hard call; ``dosage=False`` gives the hard call. Memory is the block
the caller asks for, never the whole file.

* :class:`PgenSource` reads with pgenlib (plink-ng/2.0/Python/pgenlib.pyx, the reader
  plink2's author maintains): ``PgenReader.read_list`` for hard calls (0/1/2, -9 missing) and
  ``read_dosages_list`` for dosages (ALT1 dosage in 1/16384 units, -9 missing). The .pvar and
  .psam are parsed as specified in plink2's file format documentation
  (https://www.cog-genomics.org/plink/2.0/formats#pvar, #psam): ``##`` header lines, a
  ``#CHROM``/``#FID``/``#IID`` header line, or the header-less .bim/.fam column orders.
  A multi-allelic variant (ALT with commas) is flagged ``biallelic=False``.
* :class:`BgenSource` reads with cbgen (the BGEN reader of limix's authors) a BGEN v1.2/v1.3
  file (https://www.well.ox.ac.uk/~gav/bgen_format/spec/latest.html). Which allele is ALT:
  the **second** allele of each variant, with the first as REF; this is plink2's
  ``--bgen <file> ref-first`` ("the first allele for each variant is REF") and what
  ``plink2 --export bgen-1.2 ref-first`` writes. (plink2's own default, ``ref-unknown``,
  provisionally treats the *last* allele as REF; plink2's --export bgen writes REF second
  unless 'ref-first' is given, so files from plink2 need 'ref-first' at export to follow this
  rule.) The dosage is the expected count of the second allele: P(het) + 2 P(hom second) for
  unphased diploid calls (BGEN orders the three probabilities hom-first, het, hom-second),
  the sum of the haplotypes' second-allele probabilities for phased ones. A BGEN file always
  stores probabilities, so ``has_dosage`` is True; the hard call is the dosage rounded to the
  nearest integer when it is within 0.1 of it (plink2's --hard-call-threshold 0.1 default),
  else missing. Missing probabilities are NaN.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import pandas as pd

from stratify.errors import GenotypeError
from stratify.genotypes.pvarfields import pvar_fields

VARIANT_COLUMNS = ["chrom", "pos", "id", "ref", "alt", "biallelic"]
HARD_CALL_THRESHOLD = 0.1  # plink2 --hard-call-threshold default
MISSING = -9.0  # a missing value in read_into's blocks (pgenlib's code for a missing call or dosage)


class GenotypeSource(ABC):
    """One genotype file: samples, variants, and blocks of ALT allele counts."""

    path: Path
    has_dosage: bool
    _samples: list[str]  # set by each source's __init__
    _variants: pd.DataFrame

    @abstractmethod
    def samples(self) -> list[str]:
        """Sample IDs in file order."""

    @abstractmethod
    def variants(self) -> pd.DataFrame:
        """chrom, pos, id, ref, alt, biallelic; one row per variant in file order."""

    @abstractmethod
    def read(self, variant_idx: np.ndarray, sample_idx: np.ndarray | None = None, *, dosage: bool) -> np.ndarray:
        """ALT allele counts, float32 (variants x samples), NaN where missing."""

    def read_into(
        self,
        variant_idx: np.ndarray,
        sample_idx: np.ndarray | None,
        out: np.ndarray,
        missing: np.ndarray,
        *,
        dosage: bool,
    ) -> int:
        """ALT counts of sorted unique samples into ``out`` (float64, C order, variants x samples),
        ``MISSING`` (-9, pgenlib's code) where missing, and True into the bool array ``missing``
        there; returns the number missing. The scores' reader: no float32 copy and no NaN pass
        where the source can do without (:class:`PgenSource`)."""
        x = self.read(variant_idx, sample_idx, dosage=dosage)
        np.isnan(x, out=missing)
        np.copyto(out, x)
        np.copyto(out, MISSING, where=missing)
        return int(np.count_nonzero(missing))

    @property
    def n_variants(self) -> int:
        return len(self._variants)

    @property
    def n_samples(self) -> int:
        return len(self._samples)

    def close(self) -> None:  # noqa: B027  (a source without open handles has nothing to close)
        """Release file handles."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _indices(self, variant_idx, sample_idx) -> tuple[np.ndarray, np.ndarray | None]:
        """The indices as int64 arrays, checked against the file's counts."""
        v = np.asarray(variant_idx, dtype=np.int64).ravel()
        nv, ns = self.n_variants, self.n_samples
        if v.size and (v.min() < 0 or v.max() >= nv):
            raise GenotypeError(f"{self.path}: variant index out of range (the file has {nv} variants)")
        if sample_idx is None:
            return v, None
        s = np.asarray(sample_idx, dtype=np.int64).ravel()
        if s.size and (s.min() < 0 or s.max() >= ns):
            raise GenotypeError(f"{self.path}: sample index out of range (the file has {ns} samples)")
        return v, s


def _header_lines(path: Path) -> tuple[int, str | None]:
    """(number of leading '##' lines, the line after them or None), reading only the head."""
    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    try:
        with opener(path, "rt") as f:
            for line in f:
                if not line.startswith("##"):
                    return n, line.rstrip("\r\n")
                n += 1
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise GenotypeError(f"{path}: cannot be read ({exc})") from None
    return n, None


def read_psam(path: str | Path) -> list[str]:
    """Sample IDs (IID) of a .psam (``#FID``/``#IID`` header) or header-less .fam-style file.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.psam"
    >>> _ = p.write_text("#FID\\tIID\\tSEX\\nf1\\ts1\\t1\\nf2\\ts2\\t2\\n")
    >>> read_psam(p)
    ['s1', 's2']
    """
    path = Path(path)
    if not path.is_file():
        raise GenotypeError(f"{path}: sample file not found; a PLINK 2 fileset needs <prefix>.psam next to .pgen")
    skip, first = _header_lines(path)
    if first is None:
        raise GenotypeError(f"{path}: no samples; expected a #FID or #IID header line and one line per sample")
    if first.startswith("#"):
        cols = first[1:].split("\t") if "\t" in first else first[1:].split()
        if cols[0] not in ("FID", "IID") or "IID" not in cols:
            raise GenotypeError(
                f"{path}, line {skip + 1}: header {first[:40]!r}; expected #FID or #IID as the first "
                "column and an IID column (PLINK 2 .psam)"
            )
        table = pd.read_csv(path, sep=r"\s+", skiprows=skip + 1, header=None, dtype=str, comment=None)
        if len(table) and table.shape[1] < len(cols):
            raise GenotypeError(f"{path}: {table.shape[1]} columns, the header names {len(cols)} ({first[:40]!r})")
        return table.iloc[:, cols.index("IID")].tolist() if len(table) else []
    table = pd.read_csv(path, sep=r"\s+", skiprows=skip, header=None, dtype=str)
    if table.shape[1] < 2:
        raise GenotypeError(f"{path}: one column; a header-less .psam is .fam-style (FID IID ...)")
    return table.iloc[:, 1].tolist()


def read_pvar(path: str | Path, rows: tuple[int, int] | None = None) -> pd.DataFrame:
    """Variants of a .pvar (``#CHROM POS ID REF ALT`` header) or header-less .bim-style file.

    A .bim lists CHROM ID CM POS ALT REF (plink2's formats page). ALT may list several
    alleles separated by commas: such a variant is ``biallelic=False`` and ``n_alleles`` counts
    them all (pgenlib needs the counts to read a multi-allelic file). ``rows`` = (first, stop):
    only those variants (a shard job's; the lines before are skipped, not parsed).
    """
    path = Path(path)
    if not path.is_file():
        raise GenotypeError(f"{path}: variant file not found; a PLINK 2 fileset needs <prefix>.pvar next to .pgen")
    skip, first = _header_lines(path)
    if first is None:
        return pd.DataFrame({c: [] for c in [*VARIANT_COLUMNS, "n_alleles"]})
    if first.startswith("#CHROM"):
        cols = first[1:].split("\t") if "\t" in first else first[1:].split()
        missing = [c for c in ("CHROM", "POS", "ID", "REF", "ALT") if c not in cols]
        if missing:
            raise GenotypeError(
                f"{path}, line {skip + 1}: header lacks {', '.join(missing)}; expected #CHROM POS ID REF ALT"
            )
        use = {c: cols.index(c) for c in ("CHROM", "POS", "ID", "REF", "ALT")}
        skip += 1
    elif first.startswith("#"):
        raise GenotypeError(f"{path}, line {skip + 1}: header {first[:40]!r}; expected #CHROM POS ID REF ALT")
    else:
        use = {"CHROM": 0, "ID": 1, "POS": 3, "ALT": 4, "REF": 5}
    first_row = 0 if rows is None else int(rows[0])
    nrows = None if rows is None else int(rows[1]) - first_row
    fields = pvar_fields(path, skip + first_row, use, nrows, tabbed="\t" in first, first_row=first_row)
    n_alt = fields["n_alt"]

    def text(col: str) -> pd.Series:  # pandas' str arrays (Arrow's, wrapped without a copy)
        return pd.Series(pd.array(fields[col], dtype="str"))

    return pd.DataFrame(
        {
            "chrom": text("CHROM"),
            "pos": fields["POS"],
            "id": text("ID"),
            "ref": text("REF"),
            "alt": text("ALT"),
            "biallelic": (n_alt == 0) & text("ALT").ne(".").to_numpy(bool),
            "n_alleles": n_alt + 2,
        }
    )


def _pgen_may_have_dosage(path: Path) -> bool:
    """Whether a .pgen's header allows dosages (pgen_spec.pdf in plink-ng/2.0/pgen_spec).

    Byte 2 is the storage mode: 0x03/0x04 fixed-width with dosages; 0x10/0x11 variable-width,
    where the low nibble of byte 11 (the header control byte) is 4-7 when variant record
    types are 8-bit, which plink2 writes only when some variant has phase or dosage data.
    """
    with open(path, "rb") as f:
        head = f.read(12)
    if len(head) < 3 or head[:2] != b"\x6c\x1b":
        raise GenotypeError(f"{path}: not a PLINK 2 .pgen (the file does not start with the .pgen magic bytes)")
    mode = head[2]
    if mode in (0x03, 0x04):
        return True
    return mode in (0x10, 0x11) and len(head) == 12 and 4 <= (head[11] & 0x0F) <= 7


class PgenSource(GenotypeSource):
    """A PLINK 2 fileset <prefix>.pgen/.pvar/.psam, read with pgenlib.

    ``has_dosage`` is True when the .pgen's header allows dosages (8-bit record types, which
    plink2 also writes for hard-call phase alone: then it is True without dosages, and
    ``read(dosage=True)`` returns the hard calls, so a score is the same either way).
    """

    def __init__(self, prefix: str | Path, variant_range: tuple[int, int] | None = None):
        """``variant_range`` = (first, stop): a source of those variants only (numbered from 0), whose
        .pvar lines alone are parsed: what a shard job of a biobank file needs. The file must then
        have no multi-allelic variant (pgenlib needs every variant's allele count for those)."""
        import pgenlib

        prefix = Path(prefix)
        if prefix.suffix in (".pgen", ".pvar", ".psam"):
            prefix = prefix.with_suffix("")
        self.path = prefix.with_name(prefix.name + ".pgen")
        if not self.path.is_file():
            raise GenotypeError(f"{self.path}: genotype file not found; expected <prefix>.pgen, .pvar and .psam")
        self._samples = read_psam(prefix.with_name(prefix.name + ".psam"))
        self._variants = read_pvar(prefix.with_name(prefix.name + ".pvar"), variant_range)
        self._first = 0 if variant_range is None else int(variant_range[0])
        maybe_dosage = _pgen_may_have_dosage(self.path)
        offsets = None
        if variant_range is not None:
            if not self._variants["biallelic"].all():
                raise GenotypeError(f"{self.path}: a multi-allelic variant in {variant_range}: read the whole file")
        elif not self._variants["biallelic"].all():
            offsets = np.concatenate([[0], np.cumsum(self._variants["n_alleles"].to_numpy())]).astype(np.uintp)
        try:
            self._reader = pgenlib.PgenReader(bytes(self.path), allele_idx_offsets=offsets)
        except RuntimeError as exc:
            raise GenotypeError(f"{self.path}: cannot be read as a .pgen ({exc})") from None
        n_var = len(self._variants) if variant_range is None else self._reader.get_variant_ct()
        if variant_range is not None and (n_var < variant_range[1] or len(self._variants) != np.diff(variant_range)[0]):
            self._reader.close()
            raise GenotypeError(
                f"{self.path}: variants {variant_range[0] + 1} to {variant_range[1]} asked for, but the .pgen has "
                f"{n_var} and the .pvar {self._first + len(self._variants)} or fewer; the files changed since the plan"
            )
        for what, n_file, n_meta, meta in (
            ("samples", self._reader.get_raw_sample_ct(), len(self._samples), ".psam"),
            ("variants", self._reader.get_variant_ct(), n_var, ".pvar"),
        ):
            if n_file != n_meta:
                self._reader.close()
                raise GenotypeError(
                    f"{self.path}: {n_file} {what} in the .pgen but {n_meta} in the {meta}; "
                    "the three files must come from the same plink2 run"
                )
        self.has_dosage = maybe_dosage
        self._subset: np.ndarray | None = None  # the sample subset pgenlib is set to
        self._calls: np.ndarray | None = None  # int8 buffer of read_into

    def samples(self) -> list[str]:
        return list(self._samples)

    def variants(self) -> pd.DataFrame:
        return self._variants[VARIANT_COLUMNS]

    def _set_subset(self, s: np.ndarray | None) -> tuple[np.ndarray | None, int]:
        """Select the samples (pgenlib wants them sorted and unique); the order to put them back in.
        The subset is changed only when it differs from the current one."""
        if s is None:
            if self._subset is not None:
                self._reader.change_sample_subset(None)
                self._subset = None
            return None, len(self._samples)
        sorted_unique = s.size < 2 or bool((s[1:] > s[:-1]).all())
        uniq, back = (s, None) if sorted_unique else np.unique(s, return_inverse=True)
        if self._subset is None or not np.array_equal(uniq, self._subset):
            self._reader.change_sample_subset(uniq.astype(np.uint32))
            self._subset = uniq.copy()
        return back, uniq.size

    def _variant_list(self, v: np.ndarray) -> tuple[int, int] | np.ndarray:
        """A run of consecutive variants as a (start, stop) range (one sequential pass in pgenlib),
        else the indices as uint32."""
        if v.size > 1 and v[-1] - v[0] == v.size - 1 and bool((np.diff(v) == 1).all()):
            return int(v[0]), int(v[-1]) + 1
        return v.astype(np.uint32)

    def read_into(self, variant_idx, sample_idx, out, missing, *, dosage: bool) -> int:
        """pgenlib writes straight into ``out`` (dosages, float64) or an int8 buffer (hard calls,
        then one conversion); its missing code is already ``MISSING``."""
        v, s = self._indices(variant_idx, sample_idx)
        v = v + self._first
        back, n = self._set_subset(s)
        if back is not None:
            raise ValueError("read_into needs sorted unique sample indices")
        if not v.size or not n:
            return 0
        which = self._variant_list(v)
        if dosage or not self.has_dosage:  # without dosages pgenlib's dosage reader is the hard calls, in float64
            if isinstance(which, tuple):
                self._reader.read_dosages_range(*which, out)
            else:
                self._reader.read_dosages_list(which, out)
            np.less(out, 0, out=missing)
        else:
            if self._calls is None or self._calls.size < out.size:
                self._calls = np.empty(out.size, dtype=np.int8)
            calls = self._calls[: out.size].reshape(out.shape)
            if isinstance(which, tuple):
                self._reader.read_range(*which, calls)
            else:
                self._reader.read_list(which, calls)
            np.less(calls, 0, out=missing)
            np.copyto(out, calls)
        return int(np.count_nonzero(missing))

    def read(self, variant_idx, sample_idx=None, *, dosage: bool) -> np.ndarray:
        v, s = self._indices(variant_idx, sample_idx)
        v = v + self._first
        if s is not None and s.size == 0:
            return np.empty((v.size, 0), dtype=np.float32)
        back, n = self._set_subset(s)
        which = self._variant_list(v)
        if dosage:
            out = np.empty((v.size, n), dtype=np.float32)
            if isinstance(which, tuple):
                self._reader.read_dosages_range(*which, out)
            elif v.size:
                self._reader.read_dosages_list(which, out)
        else:
            calls = np.empty((v.size, n), dtype=np.int8)
            if isinstance(which, tuple):
                self._reader.read_range(*which, calls)
            elif v.size:
                self._reader.read_list(which, calls)
            out = calls.astype(np.float32)
        out[out < 0] = np.nan  # pgenlib writes -9 for a missing call or dosage
        return out if back is None else out[:, back]

    def close(self) -> None:
        self._reader.close()


def read_sample_file(path: str | Path) -> list[str]:
    """IDs (ID_1 column) of an Oxford .sample file: a header line, a types line, one line per sample."""
    path = Path(path)
    if not path.is_file():
        raise GenotypeError(f"{path}: sample file not found")
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    if len(lines) < 2 or not lines[0] or lines[0][0] not in ("ID_1", "ID"):
        raise GenotypeError(f"{path}: expected an Oxford .sample file (header line starting ID_1, then a types line)")
    return [r[1] if lines[0][0] == "ID_1" and len(r) > 1 and lines[0][1] == "ID_2" else r[0] for r in lines[2:]]


def _metafile_candidates(path: Path) -> list[Path]:
    """Where a BGEN file's cached cbgen metafile may be: next to the file, else in the user's
    cache folder (named after a hash of the file's absolute path); the name carries the file's
    size and modification time, so a changed file gets a new index."""
    st = path.stat()
    name = f"{path.name}.{st.st_size}-{st.st_mtime_ns}.metafile"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stratify" / "bgen"
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return [path.parent / name, cache / f"{digest}-{name}"]


def _cached_metafile(bgen, path: Path) -> Path | None:
    """The cached metafile of a BGEN file, built once (cbgen ``create_metafile``, written to a
    temporary name and renamed, so concurrent jobs never read half a file); None when no folder
    can take it. Older metafiles of the same file (another size or time) are removed."""
    candidates = _metafile_candidates(path)
    for meta in candidates:
        if meta.is_file():
            return meta
    for meta in candidates:
        tmp = meta.with_name(f".{meta.name}.{os.getpid()}.tmp")
        try:
            meta.parent.mkdir(parents=True, exist_ok=True)
            bgen.create_metafile(tmp)
            os.replace(tmp, meta)
        except (OSError, RuntimeError):
            tmp.unlink(missing_ok=True)
            continue
        stem = meta.name.rsplit(".", 2)[0]  # [hash-]<file name>
        for old in meta.parent.glob(f"{glob.escape(stem)}.*.metafile"):
            if old != meta and re.fullmatch(r"\d+-\d+", old.name[len(stem) + 1 : -len(".metafile")]):
                old.unlink(missing_ok=True)
        return meta
    return None


def _metafile_parts(bgen, path: Path) -> list:
    """The variant partitions of a BGEN file's metafile (cached; a temporary one when no folder is writable)."""
    import cbgen

    try:
        meta = _cached_metafile(bgen, path)
        if meta is not None:
            with cbgen.bgen_metafile(meta) as mf:
                return [mf.read_partition(i).variants for i in range(mf.npartitions)]
        with tempfile.TemporaryDirectory() as tmp:
            bgen.create_metafile(Path(tmp) / "index.metafile")
            with cbgen.bgen_metafile(Path(tmp) / "index.metafile") as mf:
                return [mf.read_partition(i).variants for i in range(mf.npartitions)]
    except RuntimeError as exc:
        raise GenotypeError(f"{path}: cannot index the BGEN file ({exc})") from None


def _bgen_variants(bgen, path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The variant table and the file offsets of a BGEN file, from its (cached) cbgen metafile."""
    parts = _metafile_parts(bgen, path)
    if not parts:
        return pd.DataFrame({c: [] for c in VARIANT_COLUMNS}), np.empty(0, dtype=np.uint64)

    def text(name: str) -> np.ndarray:
        return np.char.decode(np.concatenate([getattr(p, name) for p in parts]).astype(bytes), "utf-8")

    alleles = pd.Series(text("allele_ids")).str.split(",")
    nall = np.concatenate([p.nalleles for p in parts]).astype(int)
    rsid, vid = text("rsid"), text("id")
    v = pd.DataFrame(
        {
            "chrom": text("chromosome"),
            "pos": np.concatenate([p.position for p in parts]).astype(np.int64),
            "id": np.where(rsid != "", rsid, vid),
            "ref": alleles.str[0].to_numpy(),
            "alt": alleles.str[1:].str.join(",").to_numpy(),
            "biallelic": nall == 2,
        }
    )
    return v, np.concatenate([p.offset for p in parts]).astype(np.uint64)


def _alt_dosage(prob: np.ndarray, phased: bool, ploidy: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Expected count of the second allele from BGEN probabilities of a biallelic variant."""
    if phased:  # columns: haplotype 1 (allele 1, allele 2), haplotype 2 (allele 1, allele 2)
        d = prob[:, 1] + np.where(ploidy >= 2, prob[:, 3] if prob.shape[1] > 3 else 0.0, 0.0)
    else:  # diploid: hom first, het, hom second; haploid: first, second
        d = np.where(ploidy >= 2, prob[:, 1] + 2 * prob[:, 2], prob[:, 1]) if prob.shape[1] > 2 else prob[:, 1]
    d = np.asarray(d, dtype=np.float64)
    d[missing | np.isnan(d)] = np.nan
    return d


class BgenSource(GenotypeSource):
    """A BGEN v1.2/v1.3 file read with cbgen; ALT = the second allele (plink2 ``--bgen ref-first``).

    Samples come from the file, or from ``sample_file`` (an Oxford .sample) when given or when
    the file stores none.
    """

    has_dosage = True

    def __init__(self, path: str | Path, sample_file: str | Path | None = None):
        import cbgen

        self.path = Path(path)
        if not self.path.is_file():
            raise GenotypeError(f"{self.path}: BGEN file not found")
        try:
            self._bgen = cbgen.bgen_file(self.path)
        except RuntimeError as exc:
            raise GenotypeError(f"{self.path}: cannot be read as a BGEN file ({exc})") from None
        n = self._bgen.nsamples
        if sample_file is not None:
            self._samples = read_sample_file(sample_file)
            if len(self._samples) != n:
                self._bgen.close()
                raise GenotypeError(f"{sample_file}: {len(self._samples)} samples but {self.path} has {n}")
        elif self._bgen.contain_samples:
            self._samples = [str(s) for s in np.char.decode(np.asarray(self._bgen.read_samples()).astype(bytes))]
        else:
            self._bgen.close()
            raise GenotypeError(f"{self.path}: the BGEN file stores no sample IDs; give its .sample file")
        self._variants, self._offsets = _bgen_variants(self._bgen, self.path)
        self._probs = np.empty(0)  # probabilities buffer of _dosage_row

    def samples(self) -> list[str]:
        return list(self._samples)

    def variants(self) -> pd.DataFrame:
        return self._variants[VARIANT_COLUMNS]

    def _dosage_row(self, j: int, out: np.ndarray) -> None:
        """Expected ALT count of every sample at variant j into ``out`` (float64, NaN where missing).

        cbgen's lower level (its ``lib``, as ``bgen_file.read_genotype`` uses it) into a reused
        buffer; the common unphased diploid case in one expression, anything else through
        :func:`_alt_dosage` with the per-sample ploidy and missing flags."""
        from cbgen._ffi import ffi, lib

        gt = lib.bgen_file_open_genotype(self._bgen._bgen_file, int(self._offsets[j]))
        if gt == ffi.NULL:
            raise GenotypeError(f"{self.path}: cannot read variant {j + 1} (offset {int(self._offsets[j])})")
        try:
            n, ncombs = self.n_samples, lib.bgen_genotype_ncombs(gt)
            if self._probs.size < n * ncombs:
                self._probs = np.empty(n * ncombs)
            prob = self._probs[: n * ncombs].reshape(n, ncombs)
            if lib.bgen_genotype_read64(gt, ffi.cast("double *", prob.ctypes.data)) != 0:
                raise GenotypeError(f"{self.path}: cannot decode variant {j + 1}")
            phased = bool(lib.bgen_genotype_phased(gt))
            if not phased and ncombs == 3 and lib.bgen_genotype_min_ploidy(gt) == lib.bgen_genotype_max_ploidy(gt) == 2:
                np.multiply(prob[:, 2], 2.0, out=out)
                out += prob[:, 1]  # NaN where missing: cbgen writes NaN probabilities for a missing sample
                return
            ploidy, miss = np.empty(n, dtype=np.uint8), np.empty(n, dtype=bool)
            lib.read_ploidy(gt, ffi.cast("uint8_t *", ploidy.ctypes.data), n)
            lib.read_missing(gt, ffi.cast("bool *", miss.ctypes.data), n)
            out[:] = _alt_dosage(prob, phased, ploidy, miss)
        finally:
            lib.bgen_genotype_close(gt)

    def read(self, variant_idx, sample_idx=None, *, dosage: bool) -> np.ndarray:
        v, s = self._indices(variant_idx, sample_idx)
        out = np.empty((v.size, self.n_samples if s is None else s.size))
        self._fill(v, s, out, dosage=dosage)
        return out.astype(np.float32)

    def _fill(self, v: np.ndarray, s: np.ndarray | None, out: np.ndarray, *, dosage: bool) -> None:
        """Dosages (or hard calls) of variants v, samples s into ``out`` (float64, NaN missing)."""
        biallelic = self._variants["biallelic"].to_numpy()
        row = np.empty(self.n_samples) if s is not None else None
        for i, j in enumerate(v.tolist()):
            if not biallelic[j]:
                out[i] = np.nan  # multi-allelic: no single ALT count
            elif s is None:
                self._dosage_row(j, out[i])
            else:
                self._dosage_row(j, row)
                out[i] = row[s]
        if not dosage:
            r = np.round(out)
            np.copyto(out, np.where(np.abs(out - r) <= HARD_CALL_THRESHOLD, r, np.nan))

    def read_into(self, variant_idx, sample_idx, out, missing, *, dosage: bool) -> int:
        v, s = self._indices(variant_idx, sample_idx)
        self._fill(v, s, out, dosage=dosage)
        np.isnan(out, out=missing)
        np.copyto(out, MISSING, where=missing)
        return int(np.count_nonzero(missing))

    def close(self) -> None:
        self._bgen.close()
