"""Genotypes at the allele-definition positions, read from a VCF.

:func:`read_vcf_genotypes` reads the genotypes at the definition positions into a long table,
keeping a missing position missing (it is never assumed to be reference). It goes through
the checked reader of :mod:`stratify.genotypes.vcfio`, refuses GRCh37 data (by its header,
by the definition rsIDs sitting at other positions, or by most REF bases disagreeing) and
merges split multi-allelic records per sample.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from stratify.errors import GenotypeError
from stratify.pgx.alleles.definitions import AlleleDefinitions

__all__ = ["read_vcf_genotypes"]

# Contig lengths that identify the assembly in a VCF header (chr10: CYP2C19, chr19: CYP2B6).
_CONTIG_LENGTH = {
    "chr10": {135534747: "GRCh37", 133797422: "GRCh38"},
    "chr19": {59128983: "GRCh37", 58617616: "GRCh38"},
}
_GRCH37_NAMES = ("grch37", "hg19", "b37", "hs37d5", "g1k_v37", "grch37.p13")
_GRCH38_NAMES = ("grch38", "hg38", "hs38", "b38")


def _header_build(raw_header: str, contigs: tuple[str, ...]) -> str | None:
    """The assembly a VCF header states for the gene's contig, or None when it does not say."""
    lengths = _CONTIG_LENGTH.get("chr" + contigs[0].removeprefix("chr"), {})
    contig_build = None
    reference_build = None
    for line in raw_header.splitlines():
        if line.startswith("##contig=<"):
            m = re.search(r"[<,]ID=([^,>]+)", line)
            if not m or m.group(1) not in contigs:
                continue
            length = re.search(r"length=(\d+)", line)
            if length and int(length.group(1)) in lengths:
                return lengths[int(length.group(1))]
            asm = re.search(r"assembly=\"?([^,>\"]+)", line)
            if asm:
                contig_build = _name_build(asm.group(1))
        elif line.startswith("##reference="):
            reference_build = _name_build(line.split("=", 1)[1])
    return contig_build or reference_build


def _name_build(text: str) -> str | None:
    low = text.lower()
    if any(k in low for k in _GRCH37_NAMES):
        return "GRCh37"
    if any(k in low for k in _GRCH38_NAMES):
        return "GRCh38"
    return None


def _header_contigs(raw_header: str) -> list[str]:
    return re.findall(r"^##contig=<(?:[^>]*?,)?ID=([^,>]+)", raw_header, flags=re.M)


def read_vcf_genotypes(
    vcf_path: str | Path,
    definitions: AlleleDefinitions,
    *,
    samples: list[str] | None = None,
) -> pd.DataFrame:
    r"""Read the genotypes of every sample at every definition position.

    Parameters
    ----------
    vcf_path
        VCF (plain text, or bgzipped: BGZF with its end-of-file marker) on GRCh38; the
        definitions' contig with or without "chr" (``chr10``/``10`` for CYP2C19,
        ``chr19``/``19`` for CYP2B6). With a ``.tbi`` or ``.csi`` index only the gene's region is read,
        otherwise the file is scanned.
    definitions
        From :func:`~stratify.pgx.alleles.definitions.load_definitions`.
    samples
        Read only these samples, in this order (default: all, in file order).

    Returns
    -------
    pandas.DataFrame
        One row per sample per definition position: ``sample`` (str), ``pos`` (int),
        ``rsid``, ``allele1``, ``allele2`` (the bases as strings, ``None`` when missing),
        ``phased`` (bool), ``gt`` (the GT text, "" without a record) and ``gt_status``:
        ``called``, ``absent`` (no record at the position), ``missing`` (``./.``), ``half``
        (``./1``: one allele kept), ``haploid`` (``1``), ``polyploid`` (``0/1/1``), ``no-gt``
        (a record without GT) or ``conflict`` (split records that disagree). Only
        ``called`` gives two alleles; a position absent from the VCF is missing, never
        reference. Several records at one position (a split multi-allelic site) are merged
        per sample.

    Raises
    ------
    GenotypeError
        The file is missing, not BGZF (plain gzip), truncated, corrupt or has a stale index;
        its header lacks ``#CHROM`` or repeats a sample; it is on GRCh37 (by its header, by
        the definition rsIDs sitting at other positions, or by most REF bases disagreeing);
        it has no samples or lacks a requested one; a record is malformed (columns, POS, a
        GT such as ``0/x`` or an allele index without an ALT) -- named by line or record.

    Examples
    --------
    >>> import os, tempfile
    >>> from stratify.pgx.alleles.definitions import load_definitions
    >>> vcf = os.path.join(tempfile.mkdtemp(), "one.vcf")
    >>> with open(vcf, "w") as fh:
    ...     _ = fh.write("##fileformat=VCFv4.2\n##contig=<ID=chr10,length=133797422>\n"
    ...         '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    ...         "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\n"
    ...         "chr10\t94781859\trs4244285\tG\tA\t.\tPASS\t.\tGT\t0/1\n")
    >>> g = read_vcf_genotypes(vcf, load_definitions())
    >>> g.loc[g.rsid == "rs4244285", ["allele1", "allele2", "gt_status"]].values.tolist()
    [['G', 'A', 'called']]
    >>> g.allele1.isna().sum()  # the 34 positions absent from the file are missing
    np.int64(34)
    """
    from stratify.genotypes.vcfio import check_vcf, read_header

    vf = check_vcf(vcf_path, need_index=False, allow_text=True)
    header = read_header(vf)
    chrom_names = (definitions.chrom, definitions.chrom.removeprefix("chr"))
    if _header_build(header.meta, chrom_names) == "GRCh37":
        raise GenotypeError(
            f"{vf.path}: the header says GRCh37/hg19, which is not supported; the allele "
            f"definitions are on {definitions.build}. Lift the VCF over to GRCh38 first (e.g. with "
            "bcftools +liftover or CrossMap) and re-call variants at the PGx positions if you can."
        )
    file_samples = header.samples
    if not file_samples:
        raise GenotypeError(f"{vf.path}: the VCF has no samples (sites-only); expected genotype columns")
    if samples is None:
        samples = list(file_samples)
    else:
        samples = [str(s) for s in samples]
        known = set(file_samples)
        absent = [s for s in samples if s not in known]
        if absent:
            raise GenotypeError(
                f"{vf.path}: sample(s) not in the VCF: {', '.join(absent[:10])}"
                + (f" and {len(absent) - 10} more" if len(absent) > 10 else "")
            )
    contigs = _header_contigs(header.meta)
    if contigs and not any(c in contigs for c in chrom_names):
        raise GenotypeError(
            f"{vf.path}: no contig {definitions.chrom} or {chrom_names[1]} in the header "
            f"(contigs: {', '.join(contigs[:8])}{'...' if len(contigs) > 8 else ''}); "
            f"expected a VCF covering {definitions.gene}"
        )
    column = {s: k for k, s in enumerate(file_samples)}
    reader = _GenotypeReader(vf, header, definitions, np.array([column[s] for s in samples]))
    reader.read(chrom_names)
    return reader.table(samples)


# GT text -> (allele index 1, allele index 2, phased, status); -1 = missing allele.
_GT_CACHE: dict[bytes, tuple[int, int, bool, str]] = {}


def _parse_gt(gt: bytes) -> tuple[int, int, bool, str] | None:
    """One GT value (VCF 4.3 section 1.6.2): alleles separated by / or |, '.' missing; None if malformed."""
    hit = _GT_CACHE.get(gt)
    if hit is not None:
        return hit
    parts = re.split(rb"[/|]", gt)
    if not gt or not all(p == b"." or p.isdigit() for p in parts):
        return None
    idx = [-1 if p == b"." else int(p) for p in parts]
    phased = b"|" in gt
    if len(idx) == 1:
        out = (-1, -1, False, "missing" if idx[0] < 0 else "haploid")
    elif len(idx) > 2:
        out = (-1, -1, False, "polyploid")
    elif idx[0] < 0 and idx[1] < 0:
        out = (-1, -1, False, "missing")
    elif idx[0] < 0 or idx[1] < 0:
        out = (idx[0], idx[1], False, "half")
    else:
        out = (idx[0], idx[1], phased, "called")
    if len(_GT_CACHE) < 4096:
        _GT_CACHE[gt] = out
    return out


class _GenotypeReader:
    """Reads the records at the definition positions into per-position arrays of bases."""

    def __init__(self, vf, header, defs: AlleleDefinitions, cols: np.ndarray):
        self.vf, self.header, self.defs, self.cols = vf, header, defs, cols
        n, n_pos = len(cols), len(defs.positions)
        self.pos_index = {p.pos: i for i, p in enumerate(defs.positions)}
        self.a1 = np.full((n_pos, n), None, dtype=object)
        self.a2 = np.full((n_pos, n), None, dtype=object)
        self.ph = np.zeros((n_pos, n), dtype=bool)
        self.gt = np.full((n_pos, n), "", dtype=object)
        self.status = np.full((n_pos, n), "absent", dtype=object)
        self.ref_mismatch: list[str] = []
        self.ref_checked = 0
        self.rsid_elsewhere: list[str] = []
        self.rsids = {p.rsid: p.pos for p in defs.positions if p.rsid}

    def _lines(self, chrom_names):
        """(line, line number or None) of the gene's region (indexed) or of the whole file."""
        from stratify.genotypes.vcfio import file_lines, read_index, region_lines

        lo, hi = min(self.pos_index), max(self.pos_index)
        if self.vf.index is not None:
            idx = read_index(self.vf.index)
            for c in chrom_names:
                for line in region_lines(self.vf, idx, c, lo, hi):
                    yield line, None
            return
        for k, line in enumerate(file_lines(self.vf), start=1):
            if k > self.header.n_lines:
                yield line, k

    def read(self, chrom_names) -> None:
        from stratify.genotypes.vcfscan import _record_head

        hi = max(self.pos_index)
        prev = None
        for line, lineno in self._lines(chrom_names):
            if line[:1] == b"#":
                continue
            c, pos, tabs = _record_head(line, self.vf.path, lineno, prev)
            prev = (c, pos)
            if c not in chrom_names:
                if lineno is None:
                    break
                continue
            if lineno is None and pos > hi:
                break
            i = self.pos_index.get(pos)
            if i is None:
                rsid = line[tabs[1] + 1 : tabs[2]].decode("utf-8", "replace")
                if rsid in self.rsids:
                    self.rsid_elsewhere.append(f"{rsid} at {c}:{pos} (GRCh38: {self.rsids[rsid]})")
                continue
            where = f"{self.vf.path}, {'line ' + str(lineno) + ', ' if lineno else ''}record {c}:{pos}"
            self._record(line, tabs, i, where)
        if self.vf.index is not None and not self.ref_checked:
            self._look_around(chrom_names)
        self._check_build()

    def _look_around(self, chrom_names, flank: int = 3_000_000) -> None:
        """No record at any definition position: look for the definition rsIDs within ``flank`` bases.

        A GRCh37 file has the gene about 1.8 Mb away from its GRCh38 place (CYP2C19: chr10:96.5 Mb
        vs 94.8 Mb), so its records would silently fall outside the region read. Bounded: only
        the ID column of records near the gene is looked at, once, and only in this case.
        """
        from stratify.genotypes.vcfio import read_index, region_lines
        from stratify.genotypes.vcfscan import _record_head

        lo, hi = min(self.pos_index), max(self.pos_index)
        idx = read_index(self.vf.index)
        for c in chrom_names:
            prev = None
            for line in region_lines(self.vf, idx, c, max(lo - flank, 1), hi + flank):
                c2, pos, tabs = _record_head(line, self.vf.path, None, prev)
                prev = (c2, pos)
                if c2 != c or pos > hi + flank:
                    break
                rsid = line[tabs[1] + 1 : tabs[2]].decode("utf-8", "replace")
                if rsid in self.rsids and self.rsids[rsid] != pos:
                    self.rsid_elsewhere.append(f"{rsid} at {c2}:{pos} (GRCh38: {self.rsids[rsid]})")

    def _record(self, line: bytes, tabs: list[int], i: int, where: str) -> None:
        p = self.defs.positions[i]
        ref = line[tabs[2] + 1 : tabs[3]].decode("utf-8", "replace").upper()
        alts = line[tabs[3] + 1 : tabs[4]].decode("utf-8", "replace").upper().split(",")
        snv = len(p.ref) == 1 and all(len(x) == 1 for x in p.alts)
        self.ref_checked += 1
        if (ref[:1] if snv else ref) != p.ref:
            self.ref_mismatch.append(f"{where} ({p.rsid or 'no rsID'}): REF is {ref}, the definition's is {p.ref}")
            return
        alleles = [ref, *alts]
        if snv:
            # At a single-base position the base is the first of each allele: an indel record
            # starting here keeps its padding base.
            alleles = [x[0] if x and x not in (".", "*") and not x.startswith("<") else None for x in alleles]
        else:
            alleles = [x if x not in (".", "*") and not x.startswith("<") else None for x in alleles]
        fmt = line[tabs[7] + 1 : tabs[8]].split(b":")
        fields = line[tabs[8] + 1 :].rstrip(b"\r\n").split(b"\t")
        n_file = len(self.header.samples)
        if len(fields) != n_file:
            raise GenotypeError(f"{where}: {len(fields)} sample columns, expected {n_file} (the #CHROM line's samples)")
        n = len(self.cols)
        b1 = np.full(n, None, dtype=object)
        b2 = np.full(n, None, dtype=object)
        phased = np.zeros(n, dtype=bool)
        gts = np.full(n, "", dtype=object)
        status = np.full(n, "no-gt", dtype=object)
        if fmt[0] == b"GT":
            for k, col in enumerate(self.cols):
                gt = fields[col].split(b":", 1)[0]
                parsed = _parse_gt(gt)
                text = gt.decode("utf-8", "replace")
                if parsed is None or max(parsed[0], parsed[1]) >= len(alleles):
                    raise GenotypeError(
                        f"{where}, sample {self.header.samples[col]} (column {col + 10}): GT {text!r} is not a "
                        f"genotype of this record (expected allele indexes 0..{len(alleles) - 1} or '.', separated "
                        "by / or |); fix or remove the record"
                    )
                x1, x2, phased[k], status[k] = parsed
                gts[k] = text
                b1[k] = alleles[x1] if x1 >= 0 else None
                b2[k] = alleles[x2] if x2 >= 0 else None
                if status[k] == "called" and (b1[k] is None or b2[k] is None):
                    status[k] = "missing"  # an allele '*' or <DEL>: no base at this position
        self._store(i, b1, b2, phased, gts, status, p.ref)

    def _store(self, i, b1, b2, phased, gts, status, ref) -> None:
        if (self.status[i] == "absent").all():
            self.a1[i], self.a2[i], self.ph[i], self.gt[i], self.status[i] = b1, b2, phased, gts, status
            return
        # a second record at the position (split multi-allelic site): merge per sample
        both = (self.status[i] == "called") & (status == "called")
        a1, a2, ph = _merge_calls(self.a1[i], self.a2[i], self.ph[i], b1, b2, phased, ref)
        take_new = (self.status[i] != "called") & (status == "called")
        self.a1[i] = np.where(both, a1, np.where(take_new, b1, self.a1[i]))
        self.a2[i] = np.where(both, a2, np.where(take_new, b2, self.a2[i]))
        self.ph[i] = np.where(both, ph, np.where(take_new, phased, self.ph[i]))
        self.gt[i] = np.where(self.gt[i] == "", gts, self.gt[i] + "," + gts)
        conflict = both & pd.isna(pd.Series(self.a1[i])).to_numpy()
        self.status[i] = np.where(conflict, "conflict", np.where(take_new, "called", self.status[i]))

    def _check_build(self) -> None:
        """GRCh37 data with no build in the header: definition rsIDs elsewhere, or most REF bases wrong."""
        d = self.defs
        if len(self.rsid_elsewhere) >= 2 or (self.ref_checked >= 3 and 2 * len(self.ref_mismatch) > self.ref_checked):
            what = (
                f"{len(self.rsid_elsewhere)} {d.gene} definition rsIDs sit at other positions (e.g. "
                f"{'; '.join(self.rsid_elsewhere[:2])})"
                if len(self.rsid_elsewhere) >= 2
                else f"{len(self.ref_mismatch)} of {self.ref_checked} records at the {d.gene} definition positions "
                f"have another REF base (e.g. {self.ref_mismatch[0]})"
            )
            raise GenotypeError(
                f"{self.vf.path}: not on {d.build}: {what}; the VCF looks like GRCh37/hg19 (its header names no "
                f"build). Lift it over to {d.build} (bcftools +liftover, CrossMap), or set genome_build: GRCh37 "
                f"in the config ({d.gene} is then not called from the VCF)"
            )
        if self.ref_mismatch:
            raise GenotypeError(
                f"{self.ref_mismatch[0]}; is the VCF on {d.build} and normalised? (left-align and "
                "split multi-allelic sites with `bcftools norm -m -any -f GRCh38.fa`)"
            )

    def table(self, samples: list[str]) -> pd.DataFrame:
        """Row order: sample-major, positions in definition order."""
        n, n_pos = len(samples), len(self.defs.positions)
        n_out = n * n_pos
        return pd.DataFrame(
            {
                "sample": pd.Series(np.repeat(np.array(samples, dtype=object), n_pos), dtype=str),
                "pos": np.tile(np.array([p.pos for p in self.defs.positions], dtype=np.int64), n),
                "rsid": pd.Series(
                    np.tile(np.array([p.rsid for p in self.defs.positions], dtype=object), n), dtype=object
                ),
                "allele1": pd.Series(self.a1.T.reshape(n_out), dtype=object),
                "allele2": pd.Series(self.a2.T.reshape(n_out), dtype=object),
                "phased": self.ph.T.reshape(n_out),
                "gt": pd.Series(self.gt.T.reshape(n_out), dtype=str),
                "gt_status": pd.Series(self.status.T.reshape(n_out), dtype=str),
            }
        )


def _merge_calls(c1, c2, cph, n1, n2, nph, ref):
    """Merge two records' calls at one position (split multi-allelic sites).

    Per sample: a missing call takes the other; otherwise the non-reference alleles of both
    are pooled and padded with the reference; more than two non-reference alleles is a
    contradiction and becomes missing.
    """
    o1, o2, oph = c1.copy(), c2.copy(), cph.copy()
    for s in range(len(c1)):
        cur = (c1[s], c2[s])
        new = (n1[s], n2[s])
        if None in new:
            continue
        if None in cur:
            o1[s], o2[s], oph[s] = n1[s], n2[s], nph[s]
            continue
        nonref = [b for b in cur if b != ref] + [b for b in new if b != ref]
        if len(nonref) > 2:
            o1[s] = o2[s] = None
            continue
        if not nonref:
            continue
        if len(nonref) == 1:
            # keep the phase of the record that carries the variant
            src = cur if nonref[0] in cur else new
            o1[s], o2[s] = src
            oph[s] = cph[s] if src is cur else nph[s]
        else:
            o1[s], o2[s] = nonref
            oph[s] = False
    return o1, o2, oph
