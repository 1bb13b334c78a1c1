"""Polygenic scores from PGS Catalog scoring files (harmonised format).

Reading (``read_scoring_file``): the PGS Catalog's harmonised files (``*_hmPOS_GRCh38.txt.gz``)
carry ``#`` header lines (``#pgs_id=``, ``#HmPOS_build=``) and a table with ``effect_allele``,
``effect_weight`` and the harmonised position ``hm_chr``/``hm_pos``, plus ``other_allele`` or
the inferred ``hm_inferOtherAllele``. Unharmonised files (``chr_name``/``chr_position``) are
read too when their ``#genome_build`` matches. Rows that cannot be scored (no harmonised
position, interaction or haplotype terms) are kept in the report with the reason.

Matching (``match_allele``), per score variant against a biallelic VCF record at the same
position:

1. the effect and other allele equal the record's ALT/REF (either way round): matched;
2. otherwise their reverse complements do: matched on the other strand ("flipped"), unless
   the pair is strand-ambiguous;
3. strand-ambiguous SNPs (A/T, C/G: the same pair on both strands, so the strand cannot be
   told from the alleles) are dropped unless ``keep_ambiguous`` is set, in which case they
   are used as given (assuming the scoring file's strand, which the PGS Catalog harmonises to
   the forward strand);
4. anything else is an allele mismatch and is not used.

Without an other allele, the effect allele alone must equal REF or ALT (or their complement
for a non-ambiguous record).

Missing genotypes (stated rule): a sample's missing call contributes nothing to the sum, and
the sample's ``allele_ct`` counts only the alleles actually called, so ``avg`` = ``sum`` /
``allele_ct`` is the score per called allele. No mean imputation: a sample's score never
depends on the other samples in the cohort or on how it is sharded. This is plink2's
``--score ... no-mean-imputation`` (``SCORE1_SUM``, ``ALLELE_CT``, ``SCORE1_AVG``), which
bench/prs_vs_plink2.py reproduces to 1e-6. ``missing_fraction`` says how much of each
sample's score was missing.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from stratify.errors import GenotypeError

log = logging.getLogger(__name__)

_COMP = str.maketrans("ACGTacgt", "TGCAtgca")
AMBIGUOUS = {frozenset("AT"), frozenset("CG")}

STATUSES = [
    "matched",
    "matched_flipped",
    "ambiguous_used",
    "ambiguous_dropped",
    "allele_mismatch",
    "multiallelic_in_vcf",
    "not_in_vcf",
    "not_harmonised",
    "unsupported_term",
    "duplicate",
]
PRE_STATUS = ["", "not_harmonised", "unsupported_term", "duplicate"]  # what _variants can say before matching
KEY_LIMIT = 1 << 62  # an integer key of several columns stays below it
# the per-score summary (genotypes/prs_report.tsv) and per-variant table (prs_variants.tsv.gz) of
# score_report: their columns, so that a run without scoring files still writes tables with a header
REPORT_COLUMNS = ["score", "file", "variants", *STATUSES, "used", "fraction_used"]
VARIANT_COLUMNS = ["score", "row", "chrom", "pos", "effect_allele", "other_allele", "weight", "status", "vcf_id"]


def _comp(a: str) -> str:
    return a.translate(_COMP)[::-1]


def norm_chrom(c: str) -> str:
    c = str(c)
    return c[3:] if c.lower().startswith("chr") else c


def _numbers(col: pd.Series) -> pd.Series:
    """The column as numbers, NaN where a value is not one (``pd.to_numeric(errors="coerce")``); the
    common case, every value a number, by one vectorised cast: Arrow's (it accepts a subset of what
    ``float()`` does, with the same values, and refuses '1_000', blanks around a number, '' and
    non-ASCII digits), else numpy's, else ``to_numeric``."""
    try:
        values = pc.cast(pa.array(col, from_pandas=True), pa.float64())
        return pd.Series(values.to_numpy(zero_copy_only=False), index=col.index, dtype="float64")
    except (pa.ArrowException, ValueError, TypeError):
        pass
    try:
        if not col.astype(str).str.contains("_", regex=False).any():  # '1_000': a float() literal, not a number here
            return col.astype("float64")
    except (ValueError, TypeError):
        pass
    return pd.to_numeric(col, errors="coerce")


def _norm_chroms(chrom: pd.Series) -> pd.Series:
    """norm_chrom of each value, computed once per distinct value (a few dozen in a genome-wide file),
    as pandas' str array over Arrow's (no Python object per row)."""
    codes, uniq = pd.factorize(chrom, use_na_sentinel=False)
    normed = pa.array([norm_chrom(u) for u in uniq], type=pa.string()).take(pa.array(codes))
    return pd.Series(pd.array(normed, dtype="str"), index=chrom.index)


@dataclass
class Score:
    """One scoring file: its id, build, and one row per variant (chrom, pos, effect, other, weight)."""

    id: str
    path: str
    build: str | None
    variants: pd.DataFrame  # chrom, pos, effect_allele, other_allele, weight, status (pre-match), row
    header: dict


def _short_lines(path: Path, opener, *, header_line: int, n_fields: int) -> list[tuple[int, int, bytes]]:
    """Lines after the header whose field count is not the header's: (line number, fields, text).

    pandas pads a short record with empty strings, which would become a variant made of
    padding, so the tabs are counted on the bytes first (numpy over 4 MiB blocks: memory
    bounded, seconds for a genome-wide file). Lines that hold only blanks are returned too;
    the caller skips them.
    """
    bad: list[tuple[int, int, bytes]] = []
    line0, carry = 1, b""

    def scan(block: bytes, first: int) -> None:
        arr = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(arr == 10)
        tabs_before = np.searchsorted(np.flatnonzero(arr == 9), ends)
        fields = np.diff(np.concatenate([[0], tabs_before])) + 1
        nums = first + np.arange(len(ends))
        for k in np.flatnonzero((fields != n_fields) & (nums > header_line))[:50]:
            start = int(ends[k - 1]) + 1 if k else 0
            bad.append((int(nums[k]), int(fields[k]), block[start : int(ends[k])]))

    with opener(path, "rb") as f:
        while chunk := f.read(1 << 22):
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            if cut:
                scan(data[:cut], line0)
                line0 += data.count(b"\n", 0, cut)
            carry = data[cut:]
    if carry:
        scan(carry + b"\n", line0)
    return bad


def _check_records(table: pd.DataFrame, path: Path, opener, *, header_line: int, counted: bool) -> pd.DataFrame:
    """Blank lines dropped; a record whose field count is not the header's, or a '#' line after the
    header, is a named error, never a variant made of padding. ``counted``: the table's reader
    already held every non-empty line to the header's field count (Arrow without quoting), so
    the lines are not counted again."""
    short = [] if counted else _short_lines(path, opener, header_line=header_line, n_fields=table.shape[1])
    for lineno, n, text in short:
        if text.strip():
            what = (
                "a '#' comment line after the header line"
                if text.startswith(b"#")
                else f"{n} fields, the header has {table.shape[1]}"
            )
            raise GenotypeError(
                f"{path}, line {lineno}: {what}; expected one tab-separated record per variant "
                "after the header (PGS Catalog scoring file format)"
            )
    first = table.iloc[:, 0].fillna("").astype(str)
    if first.str.startswith("#").any():
        i = int(np.flatnonzero(first.str.startswith("#").to_numpy())[0])
        raise GenotypeError(
            f"{path}: record {i + 1} after the header starts with '#' ({first.iloc[i][:30]!r}); "
            "comment lines belong before the header line"
        )
    maybe = first.str.strip().eq("").to_numpy()  # a blank record has a blank first field
    if not maybe.any():
        return table
    blank = table.loc[maybe].fillna("").astype(str).apply(lambda c: c.str.strip().eq("")).all(axis=1)
    return table.drop(index=blank.index[blank.to_numpy()]).reset_index(drop=True)


SMALL_GZ = 1 << 24  # a gzipped scoring file up to 16 MiB is decompressed once, in memory (larger: streamed twice)


def _read_text(path: Path, source: Path | bytes, n_skip: int, names: list[str] | None) -> tuple[pd.DataFrame, bool]:
    """The table after ``n_skip`` lines (of a file, or of its decompressed bytes), every field as
    text, and whether every line was held to the header's field count.

    Arrow's parser reads it, given the header line's ``names``, with quotes not special (several
    times faster than pandas' C parser). The C parser reads it instead where Arrow's reading could
    differ: a blank or repeated name, a quote anywhere (pandas unquotes), a file Arrow refuses (a
    record with another field count, bad UTF-8, a broken gzip stream); the caller names what is
    wrong. A quote left open, which the C parser reads on across line ends, is named here."""
    if names and all(names) and len(set(names)) == len(names) and not any('"' in c for c in names):
        read = pcsv.ReadOptions(skip_rows=n_skip + 1, column_names=names)
        parse = pcsv.ParseOptions(delimiter="\t", quote_char=False)  # quotes: below
        convert = pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False)
        try:
            src = pa.BufferReader(source) if isinstance(source, bytes) else str(source)
            t = pcsv.read_csv(src, read, parse, convert)
            if not any(pc.any(pc.match_substring(col, '"')).as_py() for col in t.columns):  # else pandas unquotes
                return pd.DataFrame({c: pd.array(t.column(c), dtype="str") for c in names}), True
        except (pa.ArrowException, ValueError, OSError, EOFError):
            pass
    src = io.BytesIO(source) if isinstance(source, bytes) else source
    table = pd.read_csv(src, sep="\t", skiprows=n_skip, dtype=str, keep_default_na=False)
    for col in table.columns:  # a quote left open swallows the line ends up to the next quote
        spans = table[col].str.contains(r"[\r\n]", regex=True, na=False)
        if spans.any():
            i = int(np.flatnonzero(spans.to_numpy())[0])
            raise GenotypeError(
                f"{path}: record {i + 1} after the header, column {col}: a quote opens a field that runs past "
                "the end of its line; expected one record per line (a scoring file needs no quotes)"
            )
    return table, False


def _in_memory(path: Path, opener):
    """(the decompressed bytes of a small gzipped file, an opener of them), else (None, ``opener``)."""
    if opener is not gzip.open or path.stat().st_size > SMALL_GZ:
        return None, opener
    data = gzip.decompress(path.read_bytes())

    def from_memory(_path, mode: str = "rb"):
        buf = io.BytesIO(data)
        return buf if "b" in mode else io.TextIOWrapper(buf, encoding="utf-8")

    return data, from_memory


def _read_table(path: Path, opener) -> tuple[dict[str, str], pd.DataFrame]:
    """The ``#key=value`` header block and the table of a scoring file (all text), its
    records checked (:func:`_check_records`)."""
    header: dict[str, str] = {}
    try:
        data, opener = _in_memory(path, opener)
        names = None
        with opener(path, "rt") as f:
            n_skip = 0
            for line in f:
                if line.strip() and not line.startswith("#"):
                    names = line.rstrip("\r\n").split("\t")
                    break
                n_skip += 1  # the # header block (blank lines in it too): a line starting '#' is never the header
                m = re.match(r"#+\s*([A-Za-z_]+)\s*=\s*(.*)", line.strip())
                if m:
                    header[m.group(1)] = m.group(2).strip()
        table, counted = _read_text(path, path if data is None else data, n_skip, names)
    except pd.errors.EmptyDataError:
        raise GenotypeError(
            f"{path}: no header line after the # comments; expected a PGS Catalog scoring file "
            "(tab-separated, with effect_allele and effect_weight columns)"
        ) from None
    except (OSError, EOFError, UnicodeDecodeError, zlib.error, pd.errors.ParserError) as exc:
        raise GenotypeError(f"{path}: cannot be read as a PGS Catalog scoring file ({exc})") from None
    try:
        table = _check_records(table, path, opener, header_line=n_skip + 1, counted=counted)
    except (OSError, EOFError) as exc:
        raise GenotypeError(f"{path}: cannot be read as a PGS Catalog scoring file ({exc})") from None
    return header, table


def _positions(
    table: pd.DataFrame, header: dict[str, str], path: Path, *, genome_build: str
) -> tuple[str | None, pd.Series, pd.Series, str]:
    """The genome build, chromosome and position columns (harmonised ``hm_*`` if present) and
    what an empty position means; positions on another build than the cohort's are an error."""
    if "hm_pos" in table.columns and "hm_chr" in table.columns:
        build = header.get("HmPOS_build")
        chrom, pos = table["hm_chr"], table["hm_pos"]
        unharm = "no harmonised position (hm_pos empty)"
    elif "chr_position" in table.columns and "chr_name" in table.columns:
        build = header.get("genome_build")
        chrom, pos = table["chr_name"], table["chr_position"]
        unharm = "no position (chr_position empty)"
    else:
        raise GenotypeError(
            f"{path}: needs hm_chr/hm_pos (harmonised file) or chr_name/chr_position columns; "
            "download the harmonised file (…_hmPOS_GRCh38.txt.gz) from the PGS Catalog"
        )
    if build and build not in ("NR", "") and build != genome_build:
        raise GenotypeError(
            f"{path}: positions are on {build} but the cohort's genome_build is {genome_build}; "
            f"use the PGS Catalog's harmonised file for {genome_build} (…_hmPOS_{genome_build}.txt.gz)"
        )
    return build, chrom, pos, unharm


def _variants(table: pd.DataFrame, chrom: pd.Series, pos: pd.Series, path: Path) -> pd.DataFrame:
    """One row per scoring-file row with normalised chromosome, position, alleles and weight,
    and a status for rows that can never be scored (not harmonised, unsupported, duplicate)."""
    if "other_allele" in table.columns:
        other = table["other_allele"]
    elif "hm_inferOtherAllele" in table.columns:
        other = table["hm_inferOtherAllele"]
    else:
        other = pd.Series([""] * len(table))
    weight = _numbers(table["effect_weight"])
    bad_w = weight.isna() & table["effect_weight"].ne("")
    if bad_w.any():
        i = int(np.flatnonzero(bad_w.to_numpy())[0])
        raise GenotypeError(
            f"{path}: row {i + 1} (after the header), column effect_weight: "
            f"{table['effect_weight'].iloc[i]!r} is not a number"
        )
    p = _numbers(pos).to_numpy(float)
    bad_p = ~np.isnan(p) & ~((np.abs(p) < 2**53) & (p == np.round(p)))  # inf, 1e400, 1.5: not a position
    if bad_p.any():
        i = int(np.flatnonzero(bad_p)[0])
        raise GenotypeError(
            f"{path}: row {i + 1} (after the header), column {pos.name}: {pos.iloc[i]!r} is not a position "
            "(a whole number of base pairs)"
        )
    chrom_n, pos_n = _norm_chroms(chrom), pd.array(np.where(np.isnan(p), 0, p).astype(np.int64), dtype="Int64")
    pos_n[np.isnan(p)] = pd.NA
    pos_n = pd.Series(pos_n, index=table.index)
    status = np.zeros(len(table), dtype=np.int8)  # codes of PRE_STATUS: numpy, not a pandas assignment per rule
    status[np.isnan(p) | chrom_n.eq("").to_numpy(bool)] = 1
    for col in ("is_interaction", "is_haplotype", "is_diplotype"):
        if col in table.columns:
            term = table[col].str.lower().isin(["true", "1"]).to_numpy(bool)
            status[term & (status == 0)] = 2
    w = weight.to_numpy(float)
    status[np.isnan(w) & (status == 0)] = 1
    v = pd.DataFrame(
        {
            "row": np.arange(1, len(table) + 1),
            "chrom": chrom_n,
            "pos": pos_n,
            "effect_allele": table["effect_allele"].str.upper(),
            "other_allele": other.str.upper(),
            "weight": w,
        }
    )
    status[(status == 0) & _repeated(v, p)] = 3
    v["status"] = pd.array(pa.array(PRE_STATUS, type=pa.string()).take(pa.array(status)), dtype="str")
    return v


def combined_key(columns: list[tuple[np.ndarray, int]], n: int) -> np.ndarray:
    """One int64 per row, equal exactly where every column's code is: the codes (0 <= code < size)
    as mixed-radix digits, renumbered (``np.unique``) before the product could reach KEY_LIMIT.
    ``n``: the number of rows."""
    key, bound = np.zeros(n, dtype=np.int64), 1
    for codes, size in columns:
        size = max(int(size), 1)
        if bound * size >= KEY_LIMIT:
            key = np.unique(key, return_inverse=True)[1].ravel().astype(np.int64)
            bound = max(n, 1)
        key, bound = key * size + codes, bound * size
    return key


def _repeated(v: pd.DataFrame, pos: np.ndarray) -> np.ndarray:
    """Rows whose chromosome, position, effect and other allele an earlier row has (pandas'
    ``duplicated`` on one integer key: a few times faster than on the four columns)."""
    codes = [pd.factorize(v[c], use_na_sentinel=False) for c in ("chrom", "effect_allele", "other_allele")]
    codes.append(pd.factorize(pos, use_na_sentinel=False))  # no position (NaN): one value, as in duplicated
    key = combined_key([(c, len(u)) for c, u in codes], len(v))
    return pd.Series(key).duplicated(keep="first").to_numpy()


def read_scoring_file(path: str | Path, *, genome_build: str = "GRCh38") -> Score:
    """Read a PGS Catalog scoring file; rows that can never be scored get a status now."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    header, table = _read_table(path, opener)
    sid = header.get("pgs_id") or re.sub(r"(_hmPOS.*)?\.txt(\.gz)?$", "", path.name)
    sid = re.sub(r"[^A-Za-z0-9_]", "_", sid)
    for col in ("effect_allele", "effect_weight"):
        if col not in table.columns:
            raise GenotypeError(
                f"{path}: column {col!r} missing; a PGS Catalog scoring file has "
                f"effect_allele and effect_weight (columns found: {', '.join(table.columns)})"
            )
    build, chrom, pos, unharm = _positions(table, header, path, genome_build=genome_build)
    v = _variants(table, chrom, pos, path)
    n_bad = int(v["status"].ne("").sum())
    log.info("%s: score %s, %d variants (%d cannot be scored: %s)", path.name, sid, len(v), n_bad, unharm)
    return Score(sid, str(path), build, v, header)


def match_allele(effect: str, other: str, ref: str, alt: str, *, keep_ambiguous: bool = False) -> tuple[str, int]:
    """(status, orientation): orientation +1 = effect allele is ALT, -1 = it is REF, 0 = not used.

    ``other`` may be empty or several inferred alleles separated by "/" (hm_inferOtherAllele).
    """
    others = [o for o in other.split("/") if o] if other else []
    is_snp = len(ref) == 1 and len(alt) == 1
    amb = is_snp and frozenset((ref, alt)) in AMBIGUOUS

    def direct() -> int:
        if others:
            if effect == alt and ref in others:
                return 1
            if effect == ref and alt in others:
                return -1
            return 0
        return 1 if effect == alt else (-1 if effect == ref else 0)

    d = direct()
    if d:
        if amb:
            return ("ambiguous_used", d) if keep_ambiguous else ("ambiguous_dropped", 0)
        return "matched", d
    if amb:
        return "allele_mismatch", 0
    ce = _comp(effect)
    cos = [_comp(o) for o in others]
    if cos:
        if ce == alt and ref in cos:
            return "matched_flipped", 1
        if ce == ref and alt in cos:
            return "matched_flipped", -1
    elif is_snp:
        if ce == alt:
            return "matched_flipped", 1
        if ce == ref:
            return "matched_flipped", -1
    return "allele_mismatch", 0


class ScoreAccumulator:
    """Sums of several scores over the records of one shard, for one sample chunk."""

    def __init__(
        self,
        scores: list[Score],
        n_samples: int,
        *,
        keep_ambiguous: bool = False,
        intervals: list[tuple[str, int, int]] | None = None,
    ):
        self.scores = scores
        self.keep_ambiguous = keep_ambiguous
        self.n = n_samples
        # per score: sum of weight x effect-allele dosage (less the REF-effect records' 2w, which
        # are added once per score in _ref_total), missing calls per sample
        self._sum = np.zeros((len(scores), n_samples))
        self._ref_total = np.zeros(len(scores))
        self._missing = np.zeros((len(scores), n_samples), dtype=np.int32)
        self.n_used = np.zeros(len(scores), dtype=np.int64)
        # (chrom, pos) -> [(score index, variant row index)]
        self.lookup: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for si, s in enumerate(scores):
            ok = s.variants["status"].eq("").to_numpy().copy()
            chrom = s.variants["chrom"].to_numpy(dtype=object)
            pos = s.variants["pos"].fillna(-1).to_numpy(dtype=np.int64)
            if intervals is not None:  # only this shard's variants
                inside = np.zeros(len(ok), dtype=bool)
                for c, lo, hi in intervals:
                    inside |= (chrom == norm_chrom(c)) & (pos >= lo) & (pos <= hi)
                ok &= inside
            for ri in np.flatnonzero(ok):
                self.lookup.setdefault((chrom[ri], int(pos[ri])), []).append((si, int(ri)))
        self.status: dict[tuple[int, int], tuple[str, str]] = {}  # (score, row) -> (status, vcf id)
        # matched records wait in a small block and are summed together (one matrix product
        # per block instead of several array passes per record); a block holds at most 32
        # records and about 250,000 calls, so it stays in the CPU cache at any chunk size
        self._block = max(1, min(32, 250_000 // max(n_samples, 1)))
        self._pending: list[tuple[int, float, bool, np.ndarray]] = []  # (score, weight, effect = REF, dosage)
        # plain lists: a pandas lookup per record would cost more than the arithmetic
        self._alleles = [(s.variants["effect_allele"].tolist(), s.variants["other_allele"].tolist()) for s in scores]
        self._weight = [s.variants["weight"].to_numpy(float) for s in scores]

    def want(self, vcf_contigs: list[str]) -> set[tuple[str, int]]:
        """The (VCF contig name, pos) pairs to decode."""
        by_norm = {norm_chrom(c): c for c in vcf_contigs}
        return {(by_norm[c], p) for c, p in self.lookup if c in by_norm}

    def add(self, rec) -> None:
        hits = self.lookup.get((norm_chrom(rec.chrom), rec.pos))
        if not hits:
            return
        for si, ri in hits:
            prev = self.status.get((si, ri), ("", ""))[0]
            if prev in ("matched", "matched_flipped", "ambiguous_used"):
                continue  # already scored from another record at this position
            if rec.dosage is None:
                if not prev:
                    self.status[(si, ri)] = (
                        "multiallelic_in_vcf" if rec.skipped == "multi-allelic" else "allele_mismatch",
                        rec.id,
                    )
                continue
            eff_alleles, other_alleles = self._alleles[si]
            st, orient = match_allele(
                eff_alleles[ri], other_alleles[ri], rec.ref.upper(), rec.alt.upper(), keep_ambiguous=self.keep_ambiguous
            )
            if orient == 0:
                if prev not in ("ambiguous_dropped",):
                    self.status[(si, ri)] = (st, rec.id)
                continue
            self.status[(si, ri)] = (st, rec.id)
            # effect = ALT: w x d; effect = REF: w x (2 - d); a missing call adds nothing
            # the imputed dosage (DS) where the record has one, else the hard call (docs/genotypes.md)
            d = rec.dosage if getattr(rec, "ds", None) is None else rec.ds
            self._pending.append((si, float(self._weight[si][ri]), orient < 0, d))
            self.n_used[si] += 1
            if len(self._pending) >= self._block:
                self._flush()

    def _flush(self) -> None:
        """Add the pending records to the sums.

        A record adds w x d (effect = ALT) or w x (2 - d) = 2w - w x d (effect = REF) for each
        called genotype, nothing for a missing one. So a block adds s @ max(d, 0) with s = +w or
        -w, plus the REF records' 2w to every sample (kept as one number per score), less 2w
        where a REF record's call is missing; missing calls are rare, so they are looked for
        once per block.
        """
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        for s in sorted({p[0] for p in pending}):
            rows = [p for p in pending if p[0] == s]
            d = np.stack([p[3] for p in rows])
            w = np.array([p[1] for p in rows])
            ref = np.array([p[2] for p in rows])
            self._sum[s] += np.where(ref, -w, w) @ np.maximum(d, 0).astype(np.float64)
            self._ref_total[s] += 2 * w[ref].sum()
            missing = d < 0
            if missing.any():
                self._missing[s] += missing.sum(axis=0, dtype=np.int32)
                if ref.any():
                    self._sum[s] -= (2 * w[ref]) @ missing[ref]

    def counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(samples x scores) score sums, called alleles (2 per called genotype) and missing calls."""
        self._flush()
        missing = self._missing.T.astype(np.int64)
        called = self.n_used[None, :] - missing
        return (self._sum + self._ref_total[:, None]).T, 2 * called, missing

    def variant_table(self) -> pd.DataFrame:
        rows = [(self.scores[si].id, ri, st, vid) for (si, ri), (st, vid) in self.status.items()]
        return pd.DataFrame(rows, columns=["score", "index", "status", "vcf_id"])


def score_report(scores: list[Score], seen: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-variant status (every row of every scoring file) and the per-score summary.

    Both have their columns (``VARIANT_COLUMNS``, ``REPORT_COLUMNS``) even without scores.

    >>> v, r = score_report([], pd.DataFrame(columns=["score", "index", "status", "vcf_id"]))
    >>> (len(v), list(v.columns) == VARIANT_COLUMNS, len(r), list(r.columns) == REPORT_COLUMNS)
    (0, True, 0, True)
    """
    per_var, summ = [], []
    seen_score = seen["score"].to_numpy(dtype=object)
    for s in scores:
        v = s.variants.copy()
        got = seen.loc[seen_score == s.id]
        rows, last = np.unique(got["index"].to_numpy(np.int64)[::-1], return_index=True)  # a row's last record decides
        st = np.full(len(v), "not_in_vcf", dtype=object)
        vid = np.full(len(v), np.nan, dtype=object)
        st[rows] = got["status"].to_numpy(dtype=object)[::-1][last]
        vid[rows] = got["vcf_id"].to_numpy(dtype=object)[::-1][last]
        pre = v["status"].to_numpy(dtype=object)
        v["status"] = pd.array(np.where(pre != "", pre, st), dtype="str")
        v["vcf_id"] = pd.Series(vid, index=v.index).where(pre == "")
        v.insert(0, "score", s.id)
        per_var.append(v)
        counts = v["status"].value_counts()
        row = {"score": s.id, "file": s.path, "variants": len(v)}
        row.update({k: int(counts.get(k, 0)) for k in STATUSES})
        used = row["matched"] + row["matched_flipped"] + row["ambiguous_used"]
        row["used"] = used
        row["fraction_used"] = round(used / len(v), 4) if len(v) else 0.0
        summ.append(row)
    variants = pd.concat(per_var, ignore_index=True) if per_var else pd.DataFrame(columns=VARIANT_COLUMNS)
    return variants[VARIANT_COLUMNS], pd.DataFrame(summ, columns=REPORT_COLUMNS)
