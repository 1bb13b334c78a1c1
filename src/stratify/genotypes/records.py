"""One genotype input, whatever its format: VCF/BCF-style bgzipped VCF, PLINK 2 pgen, or BGEN.

The genotypes stage (:mod:`stratify.genotypes.shards`) plans, reads and merges through these
functions, so every format gets the same steps, shards and outputs:

* :class:`GenotypeInput` names the file (``inputs.genotypes``: exactly one of ``vcf``, ``pgen``
  (the fileset prefix) or ``bgen`` with its ``sample`` file);
* :func:`input_samples` lists its samples; :func:`plan_input_shards` cuts it into shards of about
  ``genotypes.shard_mb`` megabytes (a VCF by its tabix index; a pgen or BGEN by runs of
  variants, never splitting the records of one position);
* :func:`plan_records` yields the records of one shard for one sample chunk as
  :class:`stratify.genotypes.vcfscan.Record` objects (hard calls, and the imputed dosage where
  the file has one), exactly as :func:`stratify.genotypes.vcfscan.scan` does for a VCF;
* :func:`read_input_pgx` reads the pharmacogene positions for the star-allele caller.

A pgen or BGEN is read with :mod:`stratify.genotypes.sources` (pgenlib, cbgen). The sources are
opened once per process (and again in a forked worker), so a shard job reads the .pvar once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import GenotypeError
from stratify.genotypes.vcfscan import Record, ScanStats, Shard, header_samples, plan_shards, scan

log = logging.getLogger(__name__)

FORMATS = ("vcf", "pgen", "bgen")
# calls read per block from a pgen/BGEN: a block of variants x chunk samples stays near 16 MB of float32
BLOCK_CELLS = 1 << 22


@dataclass(frozen=True)
class GenotypeInput:
    """The genotype file of a cohort: ``format`` vcf | pgen | bgen, ``path`` (a pgen's prefix),
    ``sample`` (a BGEN's .sample file, optional when the BGEN stores sample IDs)."""

    format: str
    path: str
    sample: str | None = None
    # a pgen's or BGEN's contigs when a plan knows them (so a shard job need not read every variant)
    contigs: tuple[str, ...] | None = None

    @classmethod
    def from_config(cls, gen: dict[str, Any]) -> GenotypeInput:
        """From ``inputs.genotypes`` (the schema allows exactly one of vcf, pgen, bgen)."""
        given = [f for f in FORMATS if f in gen]
        if len(given) != 1:
            raise GenotypeError(
                f"inputs.genotypes names {' and '.join(given) or 'no genotype file'}: expected exactly one of "
                "vcf (bgzipped, indexed), pgen (PLINK 2 fileset prefix) or bgen (with sample)"
            )
        fmt = given[0]
        return cls(fmt, str(gen[fmt]), str(gen["sample"]) if fmt == "bgen" and "sample" in gen else None)

    @classmethod
    def of(cls, x: GenotypeInput | str | Path | dict) -> GenotypeInput:
        """A GenotypeInput from itself, a VCF path, or its JSON form (a plan's ``input``)."""
        if isinstance(x, GenotypeInput):
            return x
        if isinstance(x, dict):
            return cls(x["format"], x["path"], x.get("sample"))
        return cls("vcf", str(x))

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, "path": self.path, "sample": self.sample}

    @property
    def label(self) -> str:
        """The file as messages name it."""
        return f"{self.path}.pgen" if self.format == "pgen" and not self.path.endswith(".pgen") else self.path

    def open(self):
        """The :class:`stratify.genotypes.sources.GenotypeSource` of a pgen or BGEN (cached per process)."""
        if self.format == "vcf":
            raise GenotypeError(f"{self.path}: a VCF is read with stratify.genotypes.vcfscan, not as a source")
        return _open(self, os.getpid())


_OPEN: dict[tuple[GenotypeInput, int], Any] = {}


def _open(inp: GenotypeInput, pid: int):
    from stratify.genotypes.sources import BgenSource, PgenSource

    key = (GenotypeInput(inp.format, inp.path, inp.sample), pid)
    if key not in _OPEN:
        for k in [k for k in _OPEN if k[1] != pid]:  # a forked worker must not share the parent's handles
            del _OPEN[k]
        _OPEN[key] = PgenSource(inp.path) if inp.format == "pgen" else BgenSource(inp.path, inp.sample)
    return _OPEN[key]


def plan_input(plan: dict[str, Any]) -> GenotypeInput:
    """The input a plan was made for (plans written before pgen/BGEN support name only ``vcf``)."""
    inp = GenotypeInput.of(plan["input"] if "input" in plan else plan["vcf"])
    if "contigs" in plan:
        inp = GenotypeInput(inp.format, inp.path, inp.sample, tuple(plan["contigs"]))
    return inp


def input_samples(inp: GenotypeInput | str | Path) -> list[str]:
    """Sample IDs in file order (a pgen's from its .psam alone)."""
    from stratify.genotypes.sources import read_psam

    inp = GenotypeInput.of(inp)
    if inp.format == "vcf":
        return header_samples(inp.path)
    if inp.format == "pgen":
        return read_psam(f"{inp.path.removesuffix('.pgen')}.psam")
    return inp.open().samples()


def read_block(inp: GenotypeInput, variant_idx: np.ndarray, cols: np.ndarray | None, *, dosage: bool) -> np.ndarray:
    """``inp.open().read(...)``; a reader's failure (a truncated or corrupt file) is a GenotypeError
    naming the file and the variants."""
    try:
        return inp.open().read(variant_idx, cols, dosage=dosage)
    except RuntimeError as exc:
        first, last = int(variant_idx[0]) + 1, int(variant_idx[-1]) + 1
        raise GenotypeError(
            f"{inp.label}: variants {first} to {last} cannot be read ({exc}); the file is truncated or corrupt, "
            f"or does not belong with its {'.pvar/.psam' if inp.format == 'pgen' else 'index'}: write it again "
            "(plink2 --make-pgen) or check the copy"
        ) from None


def check_readable(inp: GenotypeInput) -> None:
    """Open a pgen or BGEN and read its first and last variant for one sample (a truncated file fails
    here, at the validate stage, rather than in a shard job)."""
    src = inp.open()
    if src.n_variants and src.n_samples:
        read_block(inp, np.array([0, src.n_variants - 1]), np.array([0]), dosage=src.has_dosage)


def input_contigs(inp: GenotypeInput) -> list[str] | None:
    """Contigs of a pgen or BGEN (None for a VCF: its header's contig lines say)."""
    if inp.format == "vcf":
        return None
    if inp.contigs is not None:
        return list(inp.contigs)
    return pd.unique(inp.open().variants()["chrom"].astype(str)).tolist()


def _check_sorted(chrom: np.ndarray, pos: np.ndarray, inp: GenotypeInput) -> None:
    """Each contig's variants together and in position order (as plink2 --sort-vars writes them)."""
    if chrom.size < 2:
        return
    new_run = np.flatnonzero(chrom[1:] != chrom[:-1]) + 1
    starts = np.concatenate([[0], new_run])
    seen = chrom[starts]
    if len(np.unique(seen)) != len(seen):
        _, first = np.unique(seen, return_index=True)
        again = sorted(set(range(len(seen))) - set(first.tolist()))[0]
        raise GenotypeError(
            f"{inp.label}: variant {starts[again] + 1}: contig {seen[again]} appears again after other contigs; "
            "expected each contig's variants together, in position order "
            f"(sort with `plink2 --pfile <prefix> --sort-vars --make-pgen --out <sorted>`)"
        )
    back = np.flatnonzero((pos[1:] < pos[:-1]) & (chrom[1:] == chrom[:-1]))
    if back.size:
        i = int(back[0]) + 1
        raise GenotypeError(
            f"{inp.label}: variant {i + 1} ({chrom[i]}:{pos[i]}) comes after {chrom[i - 1]}:{pos[i - 1]}; "
            "expected positions in increasing order within a contig "
            "(sort with `plink2 --pfile <prefix> --sort-vars --make-pgen --out <sorted>`)"
        )


def _source_shards(inp: GenotypeInput, target_bytes: int) -> list[dict[str, Any]]:
    """Runs of about ``target_bytes`` of the file each, cut between positions (never inside one)."""
    var = inp.open().variants()
    n = len(var)
    if n == 0:
        raise GenotypeError(f"{inp.label}: the file has no variants")
    chrom = var["chrom"].astype(str).to_numpy()
    pos = var["pos"].to_numpy(np.int64)
    _check_sorted(chrom, pos, inp)
    size = Path(inp.label).stat().st_size
    per = max(1, int(target_bytes * n / max(size, 1)))
    same_as_prev = np.zeros(n, dtype=bool)
    same_as_prev[1:] = (chrom[1:] == chrom[:-1]) & (pos[1:] == pos[:-1])
    shards, a = [], 0
    while a < n:
        b = min(n, a + per)
        while b < n and same_as_prev[b]:
            b += 1
        c, p = chrom[a:b], pos[a:b]
        cuts = np.concatenate([[0], np.flatnonzero(c[1:] != c[:-1]) + 1, [b - a]])
        intervals = [[str(c[s]), int(p[s:e].min()), int(p[s:e].max())] for s, e in zip(cuts[:-1], cuts[1:])]
        shards.append({"intervals": intervals, "approx_bytes": int(size * (b - a) / n), "variants": [a, b]})
        a = b
    return shards


def plan_input_shards(inp: GenotypeInput, *, target_bytes: int) -> list[dict[str, Any]]:
    """The shards of a plan (JSON form): a VCF's by its index, a pgen's or BGEN's by variant runs."""
    if inp.format == "vcf":
        return [s.to_json() for s in plan_shards(inp.path, target_bytes=target_bytes)]
    return _source_shards(inp, target_bytes)


def plan_facts(inp: GenotypeInput) -> dict[str, Any]:
    """What a plan records of a pgen or BGEN for its shard jobs: the contigs, and whether any variant
    is multi-allelic (a pgen without one is read a shard's variants at a time)."""
    if inp.format == "vcf":
        return {}
    var = inp.open().variants()
    return {
        "contigs": pd.unique(var["chrom"].astype(str)).tolist(),
        "multiallelic": bool((~var["biallelic"].to_numpy(bool)).any()),
    }


def plan_records(
    plan: dict[str, Any],
    shard: dict[str, Any],
    *,
    columns: tuple[int, int] | np.ndarray | None = None,
    stats: ScanStats | None = None,
    want: set[tuple[str, int]] | None = None,
    yield_skipped: bool = False,
    dosages: bool = False,
) -> Iterator[Record]:
    """The records of one shard of ``plan`` for the samples ``columns`` ((first, stop) or positions).

    A VCF: :func:`stratify.genotypes.vcfscan.scan` over the shard's intervals. A pgen or BGEN:
    the shard's variants, read in blocks; ``want`` = {(contig, pos)} reads only those (the others
    are counted); a multi-allelic variant is skipped and counted (yielded with ``dosage=None``
    when ``yield_skipped``); ``dosages``: ``Record.ds`` holds the imputed dosage where the file
    has dosages (pgen dosage track, BGEN probabilities), else None, as for a VCF without DS.
    """
    inp = plan_input(plan)
    if inp.format == "vcf":
        yield from scan(
            inp.path,
            Shard.from_json(shard).intervals,
            columns=columns,
            stats=stats,
            want=want,
            yield_skipped=yield_skipped,
            dosages=dosages,
        )
        return
    yield from _source_records(inp, shard, columns, stats, want, yield_skipped, dosages)


def _source_records(inp, shard, columns, stats, want, yield_skipped, dosages) -> Iterator[Record]:
    import time

    src = inp.open()
    stats = stats if stats is not None else ScanStats()
    t0 = time.monotonic()
    a, b = shard["variants"]
    var = src.variants().iloc[a:b]
    if columns is None:
        cols = None
    elif isinstance(columns, tuple):
        cols = np.arange(columns[0], columns[1], dtype=np.int64)
    else:
        cols = np.asarray(columns, dtype=np.int64)
    n_cols = src.n_samples if cols is None else cols.size
    stats.records += len(var)
    bi = var["biallelic"].to_numpy(bool)
    multi = np.flatnonzero(~bi)
    stats.multiallelic += int(multi.size)
    if want is None:
        wanted = np.ones(len(var), dtype=bool)
    elif want:
        keys = pd.MultiIndex.from_arrays([var["chrom"].astype(str), var["pos"].astype(np.int64)])
        wanted = np.asarray(keys.isin(pd.MultiIndex.from_tuples(list(want))))
    else:
        wanted = np.zeros(len(var), dtype=bool)
    read_rows = np.flatnonzero(bi & wanted)
    stats.decoded += int(read_rows.size)
    skipped = set(multi[wanted[multi]].tolist()) if yield_skipped else set()
    with_ds = dosages and src.has_dosage
    block = max(1, BLOCK_CELLS // max(n_cols, 1))
    chrom, pos, vid = var["chrom"].astype(str).tolist(), var["pos"].tolist(), var["id"].astype(str).tolist()
    ref, alt = var["ref"].astype(str).tolist(), var["alt"].astype(str).tolist()
    order = np.sort(np.concatenate([read_rows, np.array(sorted(skipped), dtype=np.int64)])).astype(np.int64)
    for lo in range(0, order.size, block):
        rows = order[lo : lo + block]
        use = rows[bi[rows]]
        calls = read_block(inp, a + use, cols, dosage=False) if use.size else None
        ds = read_block(inp, a + use, cols, dosage=True) if use.size and with_ds else None
        k = 0
        for r in rows.tolist():
            if not bi[r]:
                yield Record(chrom[r], pos[r], vid[r], ref[r], alt[r], None, "multi-allelic")
                continue
            c = calls[k]
            hard = np.where(np.isnan(c), -1, c).astype(np.int8)
            d = None if ds is None else np.where(np.isnan(ds[k]), np.float32(-1), ds[k]).astype(np.float32)
            k += 1
            yield Record(chrom[r], pos[r], vid[r], ref[r], alt[r], hard, None, d)
    stats.seconds += time.monotonic() - t0
    log.debug("%s: variants %d-%d: %d read for %d samples", inp.label, a, b, read_rows.size, n_cols)


def read_input_pgx(inp: GenotypeInput, defs, samples: list[str]) -> pd.DataFrame:
    """One gene's genotypes from a pgen or BGEN for ``samples``, as
    :func:`stratify.pgx.alleles.read_vcf_genotypes` returns them for a VCF (same columns and statuses:
    hard calls, unphased; a position without a variant is ``absent``; records of a split
    multi-allelic site merged per sample; a multi-allelic variant is ``missing`` and logged)."""
    from stratify.pgx.alleles.vcf import _GenotypeReader

    src = inp.open()
    index = {s: i for i, s in enumerate(src.samples())}
    absent = [s for s in samples if s not in index]
    if absent:
        raise GenotypeError(f"{inp.label}: sample(s) not in the file: {', '.join(absent[:10])}")
    cols = np.array([index[s] for s in samples], dtype=np.int64)
    reader = _GenotypeReader(None, None, defs, cols)
    names = {defs.chrom, defs.chrom.removeprefix("chr")}
    var = src.variants()
    at = var[var["chrom"].astype(str).isin(names) & var["pos"].isin(list(reader.pos_index))]
    calls = read_block(inp, at.index.to_numpy(), cols, dosage=False) if len(at) else None
    mismatch = []
    for k, (pos, ref, alt, bi) in enumerate(at[["pos", "ref", "alt", "biallelic"]].itertuples(index=False)):
        i = reader.pos_index[int(pos)]
        p = defs.positions[i]
        snv = len(p.ref) == 1 and all(len(x) == 1 for x in p.alts)
        ref, alt = str(ref).upper(), str(alt).upper()
        if (ref[:1] if snv else ref) != p.ref:
            mismatch.append(f"{pos} ({p.rsid or 'no rsID'}): REF {ref}, the definition's {p.ref}")
            continue
        n = cols.size
        if not bi:
            log.warning("%s: %s:%s is multi-allelic; %s reads it as missing", inp.label, defs.chrom, pos, defs.gene)
            reader._store(i, *_missing_calls(n, "missing"), p.ref)
            continue
        bases = [ref[:1], alt[:1]] if snv else [ref, alt]
        c = calls[k]
        called = ~np.isnan(c)
        ci = np.where(called, c, 0).astype(int)
        b1 = np.where(called, np.where(ci == 2, bases[1], bases[0]), None).astype(object)
        b2 = np.where(called, np.where(ci >= 1, bases[1], bases[0]), None).astype(object)
        gts = np.array(["0/0", "0/1", "1/1"], dtype=object)[ci]
        gts[~called] = "./."
        status = np.where(called, "called", "missing").astype(object)
        reader._store(i, b1, b2, np.zeros(n, dtype=bool), gts, status, p.ref)
    if mismatch:
        raise GenotypeError(
            f"{inp.label}: {len(mismatch)} of {len(at)} variants at the {defs.gene} definition positions have "
            f"another REF allele (first: {mismatch[0]}); the file must be on {defs.build} with REF alleles "
            "from the reference genome (plink2 --ref-from-fa force --fa GRCh38.fa)"
        )
    return reader.table(list(samples))


def _missing_calls(n: int, status: str) -> tuple:
    return (
        np.full(n, None, dtype=object),
        np.full(n, None, dtype=object),
        np.zeros(n, dtype=bool),
        np.full(n, "", dtype=object),
        np.full(n, status, dtype=object),
    )
