"""Every bad VCF ends in a named GenotypeError (or an explicit flag), in the sharded genotype
stage (stratify.genotypes.vcfscan / stratify.genotypes.shards) and in ``stratify pgx call`` (stratify.pgx)."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from stratify.cli import main
from stratify.errors import GenotypeError, StratifyError
from stratify.genotypes.shards import genotype_stage
from stratify.pgx.alleles import load_definitions
from stratify.pgx.api import call_vcf
from stratify.simulate.cohort import write_cohort

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pgx"
CYP2C19_TESTS = SHARED / "pharmcat" / "tests" / "cyp2c19"
N = 30
PATIENTS = {f"S{i:05d}" for i in range(1, N + 1)}


def bgzip(path: Path, text: str, *, index: bool = True) -> Path:
    """``text`` bgzipped (64-kb blocks, as bgzip writes them) to ``path``, tabix-indexed."""
    plain = path.with_suffix("")
    plain.write_text(text)
    subprocess.run(["bgzip", "-f", str(plain)], check=True)
    if index:
        pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def blocks(raw: bytes) -> list[int]:
    """Byte offsets of the BGZF blocks of a file."""
    out, i = [], 0
    while i < len(raw):
        out.append(i)
        i += struct.unpack_from("<H", raw, i + 16)[0] + 1
    return out


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A simulated VCF (30 samples, 3000 SNPs, the CYP2C19 positions) re-bgzipped in several blocks."""
    d = tmp_path_factory.mktemp("vcferr")
    paths = write_cohort(d / "c", n=N, seed=3, n_snps=3000)
    text = gzip.open(paths["vcf"], "rt").read()
    vcf = bgzip(d / "good.vcf.gz", text)
    assert len(blocks(vcf.read_bytes())) > 5
    return {"dir": d, "text": text, "vcf": vcf}


def both(vcf: Path) -> tuple[str, str]:
    """The error message of the genotype stage and of `stratify pgx call` on ``vcf``."""
    out = []
    for run in (lambda: genotype_stage(vcf, patient_ids=PATIENTS, n_components=2), lambda: call_vcf(vcf)):
        with pytest.raises(GenotypeError) as e:
            run()
        out.append(str(e.value))
    return out[0], out[1]


def variant(cohort, name: str, edit, *, index: bool = True) -> Path:
    lines = cohort["text"].splitlines(keepends=True)
    return bgzip(cohort["dir"] / f"{name}.vcf.gz", "".join(edit(lines)), index=index)


def cli(vcf: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    rc = main(["pgx", "call", "--gene", "CYP2C19", "--vcf", str(vcf), "--out", str(tmp_path / "calls.tsv")])
    return rc, capsys.readouterr().err.strip().splitlines()[-1] if rc else ""


# ------------------------------------------------------------------------------ the file itself


def test_plain_gzip_is_named_and_says_bgzip(cohort, tmp_path, capsys):
    p = cohort["dir"] / "plain.vcf.gz"
    p.write_bytes(gzip.compress(cohort["text"].encode()))
    for msg in both(p):
        assert msg.startswith(f"{p}: compressed with plain gzip, not bgzip (BGZF)") and "| bgzip -c >" in msg
    rc, err = cli(p, tmp_path, capsys)
    assert rc == 2 and "plain gzip, not bgzip" in err


def test_missing_index_pipeline_error_pgx_call_reads_whole_file(cohort):
    p = variant(cohort, "noidx", lambda ls: ls, index=False)
    with pytest.raises(GenotypeError, match=r"noidx.vcf.gz: no .tbi or .csi index beside it; make one with `tabix"):
        genotype_stage(p, patient_ids=PATIENTS)
    # `pgx call` documents an index as optional: without one it reads the whole file, same calls
    pd.testing.assert_frame_equal(call_vcf(p), call_vcf(cohort["vcf"]))


def test_index_older_than_the_vcf(cohort, tmp_path, capsys):
    p = variant(cohort, "older", lambda ls: ls)
    old = time.time() - 3600
    os.utime(str(p) + ".tbi", (old, old))
    for msg in both(p):
        assert msg.startswith(f"{p}.tbi: the index is older than the VCF older.vcf.gz") and "tabix -f -p vcf" in msg
    assert cli(p, tmp_path, capsys)[0] == 2


def test_index_of_another_file(cohort):
    p = variant(cohort, "stale", lambda ls: ls)
    other = variant(cohort, "other", lambda ls: [x for k, x in enumerate(ls) if x.startswith("#") or k % 2])
    shutil.copy(str(other) + ".tbi", str(p) + ".tbi")
    for msg in both(p):
        assert "the index does not belong to this VCF; re-index it with `tabix -f -p vcf" in msg


@pytest.mark.parametrize("cut", ["eof_only", "block_boundary", "inside_block"])
def test_truncated_file(cohort, cut, tmp_path, capsys):
    raw = cohort["vcf"].read_bytes()
    offs = blocks(raw)
    end = {
        "eof_only": len(raw) - 28,
        "block_boundary": offs[len(offs) // 2],
        "inside_block": offs[len(offs) // 2] + 100,
    }[cut]
    p = cohort["dir"] / f"trunc_{cut}.vcf.gz"
    p.write_bytes(raw[:end])
    shutil.copy(str(cohort["vcf"]) + ".tbi", str(p) + ".tbi")
    os.utime(str(p) + ".tbi")
    for msg in both(p):
        assert msg.startswith(f"{p}: no BGZF end-of-file marker") and "truncated" in msg
    rc, err = cli(p, tmp_path, capsys)
    assert rc == 2 and "no BGZF end-of-file marker" in err


def test_corrupt_block_names_offset_and_last_good_record(cohort):
    raw = bytearray(cohort["vcf"].read_bytes())
    offs = blocks(bytes(raw))
    raw[offs[2] + 200] ^= 0x55
    p = cohort["dir"] / "corrupt.vcf.gz"
    p.write_bytes(bytes(raw))
    shutil.copy(str(cohort["vcf"]) + ".tbi", str(p) + ".tbi")
    os.utime(str(p) + ".tbi")
    with pytest.raises(
        GenotypeError,
        match=rf"corrupt.vcf.gz, byte offset {offs[2]}: a corrupt BGZF block .*"
        r"\(last good record: chr\d+:\d+\)",
    ):
        genotype_stage(p, patient_ids=PATIENTS)


def test_corrupt_block_in_the_gene_region_stops_pgx_call(cohort):
    raw = cohort["vcf"].read_bytes()
    offs = blocks(raw)
    gene_block = max(o for o in offs if o <= _gene_offset(cohort["vcf"]))
    bad = bytearray(raw)
    bad[gene_block + 300] ^= 0x55
    p = cohort["dir"] / "corrupt_gene.vcf.gz"
    p.write_bytes(bytes(bad))
    shutil.copy(str(cohort["vcf"]) + ".tbi", str(p) + ".tbi")
    os.utime(str(p) + ".tbi")
    with pytest.raises(GenotypeError, match=rf"corrupt_gene.vcf.gz, byte offset {gene_block}: a corrupt BGZF block"):
        call_vcf(p)


def _gene_offset(vcf: Path) -> int:
    from stratify.genotypes.vcfio import TabixIndex

    tbi = TabixIndex.read(str(vcf) + ".tbi")
    return int(tbi.offset("chr10", 94761900)) >> 16


# ------------------------------------------------------------------------------ the header


def test_duplicate_sample_names(cohort):
    def dup(ls):
        cols = ls[[k for k, x in enumerate(ls) if x.startswith("#CHROM")][0]].rstrip("\n").split("\t")
        cols[11] = cols[9]
        return [("\t".join(cols) + "\n") if x.startswith("#CHROM") else x for x in ls]

    for msg in both(variant(cohort, "dup", dup)):
        assert "duplicate sample name(s) in the #CHROM line: S00001" in msg


def test_sample_name_with_a_control_character(cohort):
    """Found by tests/test_fuzz.py: a stray carriage return between two tabs made a sample named '\\r'."""

    def cr(ls):
        k = [k for k, x in enumerate(ls) if x.startswith("#CHROM")][0]
        cols = ls[k].rstrip("\n").split("\t")
        cols[12] = "\r"
        return [("\t".join(cols) + "\n") if i == k else x for i, x in enumerate(ls)]

    for msg in both(variant(cohort, "cr", cr)):
        assert "sample column 13 has a name with a space or control character ('\\r')" in msg


def test_no_chrom_line(cohort):
    p = variant(cohort, "nochrom", lambda ls: [x for x in ls if not x.startswith("#CHROM")], index=False)
    pysam.tabix_index(str(p), preset="vcf", force=True)
    for msg in both(p):
        assert "comes before the #CHROM header line" in msg


# ------------------------------------------------------------------------------ records


def _edit_record(k_of, fn):
    def edit(ls):
        body = [k for k, x in enumerate(ls) if not x.startswith("#")]
        k = body[k_of(ls, body)]
        ls = list(ls)
        ls[k] = fn(ls[k].rstrip("\n").split("\t")) + "\n"
        return ls

    return edit


def _gene_record(ls, body):
    return next(i for i, k in enumerate(body) if ls[k].startswith("chr10\t94761900\t"))


@pytest.mark.parametrize(
    "name, fn, pipe, pgx",
    [
        (
            "few_columns",
            lambda c: "\t".join(c[:7]),
            r"7 columns; a VCF with samples needs at least 10",
            r"7 columns; a VCF with samples needs at least 10",
        ),
        (
            "gt_0x",
            lambda c: "\t".join(c[:9] + ["0/x"] + c[10:]),
            r"sample column 1: GT '0/x' is not a biallelic call",
            r"sample S00001 \(column 10\): GT '0/x' is not a genotype of this record",
        ),
        (
            "allele_2",
            lambda c: "\t".join(c[:9] + ["0/2"] + c[10:]),
            r"GT '0/2' is not a biallelic call",
            r"GT '0/2' is not a genotype of this record \(expected allele indexes 0..1",
        ),
        (
            "sample_columns",
            lambda c: "\t".join(c[:-1]),
            r"29 sample columns, expected 30",
            r"29 sample columns, expected 30",
        ),
    ],
)
def test_bad_record_at_a_gene_position_is_named(cohort, name, fn, pipe, pgx):
    p = variant(cohort, name, _edit_record(_gene_record, fn))
    m_pipe, m_pgx = both(p)
    assert "record chr10:94761900" in m_pipe and "record chr10:94761900" in m_pgx
    assert pytest.importorskip("re").search(pipe, m_pipe), m_pipe
    assert pytest.importorskip("re").search(pgx, m_pgx), m_pgx


def test_non_integer_pos_names_the_line(cohort):
    # tabix refuses to index it, so the pipeline stops at the index; pgx call reads the text
    p = variant(cohort, "posx", _edit_record(_gene_record, lambda c: "\t".join([c[0], "9476x"] + c[2:])), index=False)
    with pytest.raises(GenotypeError, match=r"posx.vcf.gz, line \d+, record chr10:9476x: POS is not a positive"):
        call_vcf(p)
    plain = p.with_suffix("")
    plain.write_text(gzip.open(p, "rt").read())
    with pytest.raises(GenotypeError, match=r"posx.vcf, line \d+, record chr10:9476x: POS is not a positive"):
        call_vcf(plain)


def test_unsorted_records_are_named(cohort):
    from stratify.genotypes.vcfscan import scan

    def swap(ls):
        body = [k for k, x in enumerate(ls) if not x.startswith("#")]
        ls = list(ls)
        ls[body[10]], ls[body[11]] = ls[body[11]], ls[body[10]]
        return ls

    p = variant(cohort, "unsorted", swap, index=False)
    with pytest.raises(GenotypeError, match=r"the VCF is not sorted .* sort it with `bcftools sort`"):
        list(scan(p, None))


def test_polyploid_call_at_a_gene_position_is_flagged_not_called(cohort):
    p = variant(cohort, "triploid", _edit_record(_gene_record, lambda c: "\t".join(c[:9] + ["0/1/1"] + c[10:])))
    with pytest.raises(GenotypeError, match=r"record chr10:94761900, sample column 1: GT '0/1/1'"):
        genotype_stage(p, patient_ids=PATIENTS)  # the PCA pass decodes every record
    row = call_vcf(p).set_index("sample").loc["S00001"]
    assert "rs12248560" in row["missing_positions"].split(";")
    assert row["genotype_flags"] == "rs12248560 '0/1/1' (polyploid)"


# ------------------------------------------------------------------------------ genome build


def test_grch37_without_build_in_header_real_file(tmp_path, capsys):
    p = SHARED / "pypgx-bundle" / "1kgp" / "GRCh37" / "CYP2C19.vcf.gz"
    with pytest.raises(GenotypeError) as e:
        call_vcf(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: not on GRCh38: ") and "rs12248560 at 10:96521657 (GRCh38: 94761900)" in msg
    assert "Lift it over to GRCh38" in msg and "genome_build" in msg
    rc, err = cli(p, tmp_path, capsys)
    assert rc == 2 and "not on GRCh38" in err


def test_grch37_detected_from_ref_bases(tmp_path):
    """Records at the GRCh38 positions whose REF mostly disagrees (no rsIDs, no build in the header)."""
    d = load_definitions()
    flip = {"A": "C", "C": "G", "G": "T", "T": "A"}
    rows = [f"10\t{p.pos}\t.\t{flip[p.ref]}\t{p.ref}\t.\tPASS\t.\tGT\t0/1" for p in d.positions[:6] if len(p.ref) == 1]
    p = tmp_path / "b37.vcf"
    p.write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tX\n" + "\n".join(rows) + "\n"
    )
    with pytest.raises(
        GenotypeError,
        match=r"not on GRCh38: 6 of 6 records at the CYP2C19 definition positions "
        r"have another REF base",
    ):
        call_vcf(p)


def test_contig_10_and_chr10_give_the_same_calls(tmp_path):
    src = CYP2C19_TESTS / "merged_fixtures.GRCh38.vcf.gz"
    text = gzip.open(src, "rt").read().replace("ID=chr10,", "ID=10,").replace("\nchr10\t", "\n10\t")
    p = bgzip(tmp_path / "nochr.vcf.gz", text)
    pd.testing.assert_frame_equal(call_vcf(p), call_vcf(src))


# ------------------------------------------------------------------------------ failed calls at gene positions


@pytest.mark.parametrize(
    "gt, status",
    [("./.", "missing"), (".", "missing"), ("1", "haploid"), ("./1", "half"), ("1/.", "half"), (".|.", "missing")],
)
def test_failed_call_at_rs12248560_is_never_star1_star1(tmp_path, gt, status):
    """s1s1.vcf (PharmCAT's *1/*1) with the *17-defining rs12248560 call failed."""
    text = (CYP2C19_TESTS / "s1s1.vcf").read_text()
    lines = [
        ln if "\t94761900\t" not in ln else "\t".join(ln.split("\t")[:9] + [gt]) + "\n"
        for ln in text.splitlines(keepends=True)
    ]
    p = tmp_path / "s1s1_failed.vcf"
    p.write_text("".join(lines))
    row = call_vcf(p).iloc[0]
    assert row["status"] == "ambiguous"
    assert "rs12248560" in row["missing_positions"].split(";")
    assert row["genotype_flags"] == f"rs12248560 {gt!r} ({status})"
    assert row["phenotype"] != "Normal Metabolizer"
    if status != "half":  # a half call ./1 keeps its T: *17 on at least one haplotype
        assert {row["diplotype"], *row["alternatives"].split(";")} == {"*1/*1", "*1/*17", "*17/*17"}
    else:
        assert {row["diplotype"], *row["alternatives"].split(";")} == {"*1/*17", "*17/*17"}


def test_failed_call_with_one_top_candidate_is_not_a_confident_call(tmp_path):
    """rs4244285 ./. in s1s1.vcf: rs12769205 (called ref) alone already rules *2 out, so the
    top-scoring candidate is *1/*1 alone; a failed call at a defining position keeps every
    matching pair instead (or is a no-call when none other matches), never a confident *1/*1."""
    text = (CYP2C19_TESTS / "s1s1.vcf").read_text()
    lines = [
        ln if "\t94781859\t" not in ln else "\t".join(ln.split("\t")[:9] + ["./."]) + "\n"
        for ln in text.splitlines(keepends=True)
    ]
    p = tmp_path / "s1s1_rs4244285_failed.vcf"
    p.write_text("".join(lines))
    row = call_vcf(p).iloc[0]
    assert row["status"] in ("no-call", "ambiguous")
    assert row["status"] == "no-call" or row["alternatives"] != ""  # never a lone, confident *1/*1
    assert "rs4244285" in row["missing_positions"].split(";")
    assert row["genotype_flags"] == "rs4244285 './.' (missing)"


def test_failed_rs3758581_call_is_never_star38_star38(tmp_path):
    text = (CYP2C19_TESTS / "noCall.vcf").read_text()
    d = load_definitions()
    ref_only = [
        f"chr10\t{p.pos}\t{p.rsid or '.'}\t{p.ref}\t{p.alts[0]}\t.\tPASS\t.\tGT\t"
        + ("./." if p.rsid == "rs3758581" else "0/0")
        for p in d.positions
    ]
    header = "".join(ln for ln in text.splitlines(keepends=True) if ln.startswith("#"))
    p = tmp_path / "ref_failed.vcf"
    p.write_text(header + "\n".join(ref_only) + "\n")
    row = call_vcf(p).iloc[0]
    assert row["status"] == "ambiguous" and "*38/*38" in {row["diplotype"], *row["alternatives"].split(";")}
    assert row["diplotype"] == "*1/*1" and row["phenotype"] == "Normal Metabolizer"  # every candidate is normal


def test_pharmcat_missing_fixtures_report_their_positions():
    calls = call_vcf(CYP2C19_TESTS / "merged_fixtures.GRCh38.vcf.gz").set_index("sample")
    row = calls.loc["s1s1rs12248560missing"]
    assert (row.status, row.genotype_flags) == ("ambiguous", "rs12248560 './.' (missing)")
    assert calls.loc["noCall", "status"] == "no-call"


# ------------------------------------------------------------------------------ patients without a VCF sample


def test_patients_without_a_vcf_sample_are_listed(cohort):
    extra = {"P_NOVCF1", "P_NOVCF2"}
    res = genotype_stage(cohort["vcf"], patient_ids=PATIENTS | extra, n_components=2)
    s = res["summary"]
    assert s["patients_without_vcf_sample"] == sorted(extra) and s["n_patients_without_vcf_sample"] == 2


def test_not_genotyped_rows():
    from stratify.pgx.alleles import NOT_GENOTYPED, not_genotyped
    from stratify.pgx.phenotype import add_phenotypes

    rows = add_phenotypes(not_genotyped(["P1", "P2"], "CYP2C19"))
    assert rows["patient_id"].tolist() == ["P1", "P2"]
    assert set(rows["status"]) == {"no-call"} and set(rows["genotype_flags"]) == {NOT_GENOTYPED}
    assert set(rows["phenotype"]) == {""}


# ------------------------------------------------------------------------------ fuzz


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(0, len(b)))
        op = int(rng.integers(0, 3))
        if op == 0:
            b[i] ^= int(rng.integers(1, 256))
        elif op == 1:
            b[i:i] = bytes(rng.integers(0, 256, int(rng.integers(1, 4)), dtype=np.uint8))
        else:
            del b[i : i + int(rng.integers(1, 4))]
    return bytes(b)


def fuzz(workdir: Path, n: int, seed: int) -> dict[str, int]:
    """Random byte mutations of a small bgzipped VCF and of its text (re-bgzipped), through both entry points.

    Returns the outcome counts; any exception other than a StratifyError propagates (a bug).
    """
    from stratify.genotypes.vcfscan import plan_shards, scan

    rng = np.random.default_rng(seed)
    src = CYP2C19_TESTS / "merged_fixtures.GRCh38.vcf.gz"
    raw, text = src.read_bytes(), gzip.open(src, "rb").read()
    counts = {"ok": 0, "named": 0}
    for k in range(n):
        p = workdir / f"f{k % 4}.vcf.gz"
        for ext in (".tbi", ".csi"):
            Path(str(p) + ext).unlink(missing_ok=True)
        if k % 2:
            p.write_bytes(_mutate(raw, rng))
        else:
            plain = p.with_suffix("")
            plain.write_bytes(_mutate(text, rng))
            subprocess.run(["bgzip", "-f", str(plain)], check=True)
            with contextlib.suppress(OSError, ValueError):  # tabix refused: the file is read without an index
                pysam.tabix_index(str(p), preset="vcf", force=True)
        for run in (
            lambda: call_vcf(p),
            lambda: list(scan(p, None)),
            lambda: [r for s in plan_shards(p, target_bytes=500) for r in scan(p, s.intervals)],
        ):
            try:
                run()
                counts["ok"] += 1
            except StratifyError:
                counts["named"] += 1
    return counts


def test_fuzz_never_ends_in_a_traceback(tmp_path):
    counts = fuzz(tmp_path, 60, seed=8)
    assert counts["named"] > 10 and counts["ok"] > 10


def test_csi_index_reads_the_same_records_as_tbi(cohort, tmp_path):
    """CSI (bcftools index's default) has no linear index: region starts come from its bins."""
    from stratify.genotypes.vcfscan import plan_shards, scan

    p = tmp_path / "csi.vcf.gz"
    shutil.copy(cohort["vcf"], p)
    subprocess.run(["bcftools", "index", "--csi", str(p)], check=True)
    assert not Path(str(p) + ".tbi").exists()
    whole = [(r.chrom, r.pos, r.dosage.tolist()) for r in scan(cohort["vcf"], None)]
    by_csi = [(r.chrom, r.pos, r.dosage.tolist()) for s in plan_shards(p) for r in scan(p, s.intervals)]
    assert by_csi == whole
    pd.testing.assert_frame_equal(call_vcf(p), call_vcf(cohort["vcf"]))
    # a region in the middle of a contig starts at or before its first record
    mid = [r.pos for r in scan(p, [("chr1", 10_000_000, 20_000_000)])]
    assert mid == [pos for c, pos, _ in whole if c == "chr1" and 10_000_000 <= pos <= 20_000_000]
