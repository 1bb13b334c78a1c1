"""The VCF reader on the layouts users have: GATK-style GT:AD:DP:GQ:PL and imputed GT:DS:GP
(stratify.genotypes.vcfscan, stratify.genotypes.vcffields), against pysam and plink2."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from stratify.errors import GenotypeError
from stratify.genotypes.prs import ScoreAccumulator
from stratify.genotypes.vcffields import DOSAGE_UNIT, plain_decimals
from stratify.genotypes.vcfscan import ScanStats, scan

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_genotypes", ROOT / "bench" / "genotypes.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_genotypes"] = mod  # its shard function goes to worker processes by name
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def layouts(bench, tmp_path_factory):
    d = tmp_path_factory.mktemp("layouts")
    return {lay: bench.write_vcf(d / f"{lay}.vcf.gz", 37, 80, seed=5, layout=lay, miss=0.05) for lay in ("GATK", "DS")}


def _quantised(x: float) -> float:
    return np.floor(x * DOSAGE_UNIT + 0.5) / DOSAGE_UNIT


def _reference(vcf: Path) -> tuple[np.ndarray, np.ndarray]:
    """Hard calls and score dosages (DS where present, else the call; -1 missing) read by pysam."""
    calls, doses = [], []
    with pysam.VariantFile(str(vcf)) as f:
        for rec in f:
            c, s = [], []
            for smp in rec.samples.values():
                gt = smp["GT"]
                call = -1 if None in gt else sum(gt)
                ds = smp.get("DS") if "DS" in rec.format else None
                c.append(call)
                s.append(call if ds is None else _quantised(ds))
            calls.append(c)
            doses.append(s)
    return np.array(calls), np.array(doses)


@pytest.mark.parametrize("layout", ["GATK", "DS"])
def test_layouts_read_as_pysam_reads_them(layouts, layout):
    vcf = layouts[layout]
    calls, doses = _reference(vcf)
    recs = list(scan(vcf))
    assert len(recs) == calls.shape[0] == 80
    got = np.array([r.dosage for r in recs])
    np.testing.assert_array_equal(got, calls)
    assert (calls == -1).any() and set(np.unique(calls)) == {-1, 0, 1, 2}
    score = np.array([r.score_dosage for r in recs], dtype=np.float64)
    np.testing.assert_array_equal(score, doses)
    if layout == "DS":
        assert all(r.ds is not None for r in recs)
        # a real mix: exact calls and imputed fractions, differing from the hard call
        assert ((score % 1) != 0).mean() > 0.1 and (np.abs(score - np.where(calls < 0, 0, calls)) > 0.3).any()
    else:
        assert all(r.ds is None for r in recs)
    # a sample chunk and a scattered selection read the same values
    for cols in ((5, 30), np.array([36, 0, 17, 3])):
        sub = np.array([r.score_dosage for r in scan(vcf, columns=cols)], dtype=np.float64)
        idx = np.arange(*cols) if isinstance(cols, tuple) else cols
        np.testing.assert_array_equal(sub, doses[:, idx])


HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=248956422>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DS,Number=1,Type=Float,Description="Dosage">
##FORMAT=<ID=GP,Number=G,Type=Float,Description="Genotype probabilities">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tC\tD\tE
"""


def _vcf(tmp_path, lines, name="odd.vcf"):
    p = tmp_path / name
    p.write_text(HEADER + "".join(ln + "\n" for ln in lines))
    return Path(pysam.tabix_index(str(p), preset="vcf", force=True, keep_original=False))


def test_odd_records(tmp_path):
    q = _quantised
    vcf = _vcf(
        tmp_path,
        [
            # '.' DS falls back to the call; a sample with fewer fields (GT only) too; DS with GT missing is used
            "chr1\t10\tdot\tA\tG\t.\tPASS\t.\tGT:DS:GP\t0/1:.:.\t1/1\t./.:0.5:0.3,0.4,0.3\t./.:.:.\t0|0:0.25:.",
            # haploid call: missing (hard call and dosage); DS of other widths; an exponent
            "chr1\t20\thap\tA\tC\t.\tPASS\t.\tGT:DS\t1:0.7\t0/0:0\t0/1:1.5\t1/1:1.99999\t0/0:1e-1",
            # DS not after GT: found by FORMAT position; trailing fields dropped
            "chr1\t30\tgpds\tC\tT\t.\tPASS\t.\tGT:GP:DS\t0/1:0.1,0.8,0.1:0.9\t1/1\t0/0:1,0,0\t0/1:.:1.123\t1/1:0,0,1:2.000",
            # GT only in a file that declares DS: hard calls, no dosage track
            "chr1\t40\tgt\tG\tA\t.\tPASS\t.\tGT\t0/1\t1/1\t./.\t0/0\t0|1",
        ],
    )
    stats = ScanStats()
    recs = {r.id: r for r in scan(vcf, stats=stats)}
    np.testing.assert_array_equal(recs["dot"].dosage, [1, 2, -1, -1, 0])
    np.testing.assert_array_equal(recs["dot"].ds, [1, 2, 0.5, -1, 0.25])
    np.testing.assert_array_equal(recs["hap"].dosage, [-1, 0, 1, 2, 0])
    np.testing.assert_array_equal(recs["hap"].ds, np.array([-1, 0, q(1.5), q(1.99999), q(0.1)], dtype=np.float32))
    np.testing.assert_array_equal(recs["gpds"].ds, np.array([q(0.9), 2, 0, q(1.123), 2], dtype=np.float32))
    assert recs["gt"].ds is None and stats.haploid_calls == 1
    # a score uses the dosages: the sum over the DS records with weight 1 on ALT
    assert recs["gpds"].score_dosage is recs["gpds"].ds and recs["gt"].score_dosage is recs["gt"].dosage


@pytest.mark.parametrize(
    "ds, message",
    [
        ("abc", r"record chr1:10, sample column 2: DS 'abc' is not a number"),
        ("2.5", r"record chr1:10, sample column 2: DS 2.5 is outside 0..2"),
        ("-0.1", r"sample column 2: DS -0.1 is outside 0..2"),
    ],
)
def test_bad_ds_is_named(tmp_path, ds, message):
    vcf = _vcf(tmp_path, [f"chr1\t10\tx\tA\tG\t.\tPASS\t.\tGT:DS\t0/1:1\t0/1:{ds}\t0/0:0\t0/0:0\t0/0:0"])
    with pytest.raises(GenotypeError, match=message):
        list(scan(vcf))


def test_plain_decimals_equal_float():
    rng = np.random.default_rng(1)
    vals = [f"{x:.{k}f}" for x, k in zip(rng.uniform(0, 2, 400), rng.integers(0, 8, 400))] + ["0", "2", "."]
    body = np.frombuffer(("\t".join(vals)).encode(), dtype=np.uint8)
    lens = np.array([len(v) for v in vals])
    first = np.concatenate([[0], np.cumsum(lens + 1)[:-1]])
    out, todo = plain_decimals(body, first, first + lens)
    assert not todo.any()
    np.testing.assert_array_equal(out[:-1], [float(v) for v in vals[:-1]])
    assert np.isnan(out[-1])


def test_scores_use_dosages(layouts):
    """The accumulator sums DS (not the hard call) for a DS record; missing adds nothing."""
    from stratify.genotypes.prs import Score

    vcf = layouts["DS"]
    recs = list(scan(vcf))
    v = pd.DataFrame(
        {
            "chrom": [r.chrom.removeprefix("chr") for r in recs],
            "pos": [r.pos for r in recs],
            "effect_allele": [r.alt for r in recs],
            "other_allele": [r.ref for r in recs],
            "weight": np.linspace(-1, 1, len(recs)),
            "status": "",
        }
    )
    acc = ScoreAccumulator([Score("T", "t.txt", None, v, {})], 37)
    for r in recs:
        acc.add(r)
    total, called, missing = acc.counts()
    d = np.array([r.ds for r in recs], dtype=np.float64)
    st = acc.variant_table().set_index("index")["status"].reindex(range(len(recs)))
    used = st.eq("matched").to_numpy()  # strand-ambiguous A/T, C/G records are dropped
    assert used.sum() > 40 and st[~used].eq("ambiguous_dropped").all()
    d = d[used]
    want = (v["weight"].to_numpy()[used, None] * np.where(d < 0, 0, d)).sum(axis=0)
    np.testing.assert_allclose(total[:, 0], want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(missing[:, 0], (d < 0).sum(axis=0))


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed (Debian package plink2)")
@pytest.mark.parametrize("layout", ["GATK", "DS"])
def test_scores_match_plink2_vcf_score(bench, layouts, layout, tmp_path):
    """The stage's scores from the VCF = plink2 --vcf X [dosage=DS] --score ... no-mean-imputation."""
    vcf = layouts[layout]
    score = bench.score_file(vcf, tmp_path / "PGSBENCH_hmPOS_GRCh38.txt.gz")
    _, prs, report, variants = bench.stratify_prs(vcf, score, 1)
    alleles = {(r.chrom[3:], r.pos): (r.ref, r.alt) for r in scan(vcf, columns=(0, 1))}
    v = variants.copy()
    v["vcf_ref"] = [alleles[(c, int(p))][0] for c, p in zip(v["chrom"], v["pos"])]
    v["vcf_alt"] = [alleles[(c, int(p))][1] for c, p in zip(v["chrom"], v["pos"])]
    _, pl = bench.plink2_prs(vcf, v, tmp_path, 1, dosage=layout == "DS")
    ids = pl.index
    assert len(ids) == 37 and int(report["used"].iloc[0]) > 40
    assert (prs.loc[ids, "prs_PGSBENCH_allele_ct"] == pl["ALLELE_CT"]).all()
    assert np.abs(prs.loc[ids, "prs_PGSBENCH_avg"] - pl["SCORE1_AVG"]).max() < 1e-6
    rel, within = bench.printed_ok(prs.loc[ids, "prs_PGSBENCH"], pl["SCORE1_SUM"])
    assert within, rel  # every sum equal to plink2's to its 6 printed significant digits


def test_batches_of_mixed_formats_keep_order_and_name_errors(tmp_path):
    """Records of several FORMATs interleaved (fast path, DS, extra fields, multi-allelic) over
    more than one batch: the same values as pysam, in file order; a bad call deep in a batch is
    named by its own record."""
    rng = np.random.default_rng(7)
    gts = ["0/0", "0/1", "1/1", "./.", "0|1"]
    lines = []
    for i in range(150):
        g = [gts[j] for j in rng.integers(0, 5, 5)]
        kind = i % 4
        if kind == 0:
            body = "GT\t" + "\t".join(g)
        elif kind == 1:
            body = "GT:DS\t" + "\t".join(f"{x}:{rng.uniform(0, 2):.3f}" for x in g)
        elif kind == 2:
            body = "GT:GP\t" + "\t".join(f"{x}:0.1,0.8,0.1" for x in g)
        else:
            body = "GT\t0/1\t1/2\t0/0\t0/0\t2/2"
        alt = "G,T" if kind == 3 else "G"
        lines.append(f"chr1\t{100 + i}\tv{i}\tA\t{alt}\t.\tPASS\t.\t{body}")
    vcf = _vcf(tmp_path, lines, "mixed.vcf")
    calls, doses = _reference(vcf)
    keep = np.array([i % 4 != 3 for i in range(150)])
    recs = list(scan(vcf))
    assert [r.id for r in recs] == [f"v{i}" for i in range(150) if i % 4 != 3]
    np.testing.assert_array_equal(np.array([r.dosage for r in recs]), calls[keep])
    np.testing.assert_array_equal(np.array([r.score_dosage for r in recs], dtype=np.float64), doses[keep])
    assert [r.id for r in scan(vcf, yield_skipped=True)] == [f"v{i}" for i in range(150)]
    lines[121] = lines[121].replace("\t0/0:", "\t0/3:", 1).replace("\t0/1:", "\t0/3:", 1)
    bad = _vcf(tmp_path, lines, "bad.vcf")
    with pytest.raises(GenotypeError, match=r"line \d+, record chr1:221, sample column \d: GT '0/3'"):
        list(scan(bad))


def test_crlf_and_no_final_newline(tmp_path):
    """Windows line ends and a last line without its newline read as the plain file does."""
    lines = [
        "chr1\t10\ta\tA\tG\t.\tPASS\t.\tGT:DS\t0/1:0.9\t1/1:1.5\t./.:.\t0/0:0.25\t0|1:1",
        "chr1\t20\tb\tA\tC\t.\tPASS\t.\tGT:DS:GP\t0/1:0.75:.\t1/1\t0/0:0\t0/0:.\t1/1:2.000:0,0,1",
    ]
    plain = [(r.dosage.tolist(), r.ds.tolist()) for r in scan(_vcf(tmp_path, lines, "plain.vcf"))]
    p = tmp_path / "crlf.vcf"
    p.write_bytes((HEADER + "\r\n".join(lines)).replace("\n", "\r\n").encode())
    crlf = Path(pysam.tabix_index(str(p), preset="vcf", force=True, keep_original=False))
    assert [(r.dosage.tolist(), r.ds.tolist()) for r in scan(crlf)] == plain
    assert plain[1][1] == [0.75, 2.0, 0.0, 0.0, 2.0]
