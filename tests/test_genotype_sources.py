"""Genotype sources (stratify.genotypes.sources: PLINK 2 pgen via pgenlib, BGEN via cbgen) and
polygenic scores from them (stratify.genotypes.sourcescore) against plink2.

The files are made by plink2 from a small synthetic VCF (GT only, and GT:DS): ``plink2 --vcf x
dosage=DS --make-pgen`` and ``--export bgen-1.2 bits=8 ref-first`` (plink2's --help: "--export
defaults to [REF] second ... use 'ref-first' to change this"; read back as ``--bgen ref-first``).
Tests that need plink2 skip when it is absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from stratify.errors import GenotypeError
from stratify.genotypes import prs as prs_module
from stratify.genotypes.prs import Score, ScoreAccumulator, match_allele, norm_chrom, read_scoring_file, score_report
from stratify.genotypes.sources import (
    MISSING,
    VARIANT_COLUMNS,
    BgenSource,
    GenotypeSource,
    PgenSource,
    read_psam,
    read_pvar,
)
from stratify.genotypes.sourcescore import match_source, score_source
from stratify.genotypes.vcfscan import Record, scan

needs_plink2 = pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed (Debian package plink2)")

N_SAMPLES, N_SNPS = 37, 60
PAIRS = [("A", "G"), ("C", "T"), ("A", "C"), ("G", "T"), ("G", "A"), ("T", "C")]  # no A/T, C/G: never ambiguous
COMP = str.maketrans("ACGT", "TGCA")


def _cohort(seed: int = 7) -> dict:
    """Genotypes (-1 missing), dosages (NaN missing) and sites: N_SNPS biallelic SNPs on chr1/chr2
    and two multi-allelic sites, about 6% missing calls."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.6, N_SNPS)
    g = rng.binomial(2, p[:, None], (N_SNPS, N_SAMPLES)).astype(float)
    ds = np.clip(g + rng.normal(0, 0.25, g.shape) * (rng.random(g.shape) < 0.5), 0, 2).round(3)
    miss = rng.random(g.shape) < 0.06
    g[miss], ds[miss] = np.nan, np.nan
    sites = [(1 if i < 35 else 2, 1000 + 137 * i, *PAIRS[i % len(PAIRS)]) for i in range(N_SNPS)]
    return {"g": g, "ds": ds, "sites": sites, "rng": rng}


def _write_vcf(path, c: dict, *, with_ds: bool) -> str:
    samples = [f"s{i:02d}" for i in range(N_SAMPLES)]
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=1000000>",
        "##contig=<ID=2,length=1000000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DS,Number=A,Type=Float,Description="ALT dosage">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples),
    ]
    gt = {0.0: "0/0", 1.0: "0/1", 2.0: "1/1"}
    body = []
    for i, (ch, pos, ref, alt) in enumerate(c["sites"]):
        calls = [
            ("./." if np.isnan(x) else gt[x]) + ((":." if np.isnan(d) else f":{d:.3f}") if with_ds else "")
            for x, d in zip(c["g"][i], c["ds"][i])
        ]
        body.append((ch, pos, f"{ch}:{pos}", ref, alt, calls))
    # multi-allelic: flagged, never scored; only in the GT file (plink2 2.00a3.5 --vcf dosage=DS stops at a
    # multi-allelic record: "GparseWriteByteCt multiallelic dosage size request")
    for ch, pos in ((1, 1001), (2, 1002)) if not with_ds else ():
        body.append((ch, pos, f"{ch}:{pos}", "A", "C,G", ["0/2" if k % 3 else "1/2" for k in range(N_SAMPLES)]))
    body.sort(key=lambda r: (r[0], r[1]))
    for ch, pos, vid, ref, alt, calls in body:
        fmt = "GT:DS" if with_ds else "GT"
        lines.append(f"{ch}\t{pos}\t{vid}\t{ref}\t{alt}\t.\tPASS\t.\t{fmt}\t" + "\t".join(calls))
    path.write_text("\n".join(lines) + "\n")
    return pysam.tabix_index(str(path), preset="vcf", force=True, keep_original=False)


def _plink2(*args) -> None:
    r = subprocess.run(
        ["plink2", *map(str, args), "--threads", "1", "--memory", "1000"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def _pgs(tmp_path, c: dict) -> tuple:
    """A PGS Catalog-style scoring file over the SNPs (effect = ALT or REF at random, weights
    small enough that every sum is below 1 in absolute value, so plink2's six printed
    significant digits are within 5e-7), one strand-flipped row, one allele mismatch, one
    multi-allelic site and one position not in the file; and plink2's ID/allele/weight file."""
    rng = c["rng"]
    rows, plink_rows = [], []
    for i, (ch, pos, ref, alt) in enumerate(c["sites"]):
        w = round(float(rng.uniform(-0.006, 0.006)), 6)
        eff, oth = (alt, ref) if rng.random() < 0.5 else (ref, alt)
        plink_rows.append((f"{ch}:{pos}", eff, w))
        if i == 3:
            eff, oth = eff.translate(COMP), oth.translate(COMP)  # reverse strand: flipped back by matching
        if i == 4:
            eff, oth = "ACGT", ref  # neither allele of the file's, on either strand
            plink_rows.pop()  # plink2 would skip it for the allele mismatch too
        rows.append((ch, pos, eff, oth, w))
    rows += [(1, 1001, "C", "A", 0.5), (2, 999_999, "A", "G", 0.5)]
    f = tmp_path / "PGS000777_hmPOS_GRCh38.txt"
    body = "".join(f"{ch}\t{pos}\t{e}\t{o}\t{w}\n" for ch, pos, e, o, w in rows)
    f.write_text(
        "#pgs_id=PGS000777\n#HmPOS_build=GRCh38\nhm_chr\thm_pos\teffect_allele\tother_allele\teffect_weight\n" + body
    )
    pf = tmp_path / "plink_score.tsv"
    pd.DataFrame(plink_rows, columns=["ID", "A1", "W"]).to_csv(pf, sep="\t", index=False)
    return read_scoring_file(f), pf


@pytest.fixture(scope="module")
def filesets(tmp_path_factory):
    if shutil.which("plink2") is None:
        pytest.skip("plink2 not installed (Debian package plink2)")
    d = tmp_path_factory.mktemp("sources")
    c = _cohort()
    gt_vcf = _write_vcf(d / "gt.vcf", c, with_ds=False)
    ds_vcf = _write_vcf(d / "ds.vcf", c, with_ds=True)
    _plink2("--vcf", gt_vcf, "--make-pgen", "--out", d / "gt")
    _plink2("--vcf", ds_vcf, "dosage=DS", "--make-pgen", "--out", d / "ds")
    _plink2("--pfile", d / "ds", "--export", "bgen-1.2", "bits=8", "ref-first", "--out", d / "b8")
    _plink2("--pfile", d / "ds", "--export", "bgen-1.3", "ref-first", "--out", d / "b16")  # 16-bit default
    score, plink_score = _pgs(d, c)
    return {"dir": d, "c": c, "gt_vcf": gt_vcf, "ds_vcf": ds_vcf, "score": score, "plink_score": plink_score}


def _vcf_calls(vcf) -> dict:
    return {r.pos: r.dosage.astype(float) for r in scan(vcf)}


@needs_plink2
def test_pgen_hard_calls_equal_the_vcf(filesets):
    src = PgenSource(filesets["dir"] / "gt")
    v = src.variants()
    assert src.samples() == [f"s{i:02d}" for i in range(N_SAMPLES)]
    assert list(v.columns) == ["chrom", "pos", "id", "ref", "alt", "biallelic"]
    assert (~v["biallelic"]).sum() == 2 and set(v.loc[~v["biallelic"], "alt"]) == {"C,G"}
    assert not src.has_dosage
    want = _vcf_calls(filesets["gt_vcf"])
    bi = np.flatnonzero(v["biallelic"].to_numpy())
    x = src.read(bi, None, dosage=False)
    assert x.dtype == np.float32 and x.shape == (len(bi), N_SAMPLES)
    vcf = np.stack([want[p] for p in v["pos"].to_numpy()[bi]])
    np.testing.assert_array_equal(np.where(vcf < 0, np.nan, vcf), x)
    assert np.isnan(x).sum() == (vcf < 0).sum() > 0
    # a sample subset in any order (duplicates too) is the same columns of the full read
    sel = np.array([30, 2, 2, 17, 0])
    np.testing.assert_array_equal(src.read(bi[:9], sel, dosage=False), x[:9][:, sel])
    np.testing.assert_array_equal(src.read(bi[:9], sel, dosage=True), x[:9][:, sel])  # no dosages: the calls
    np.testing.assert_array_equal(src.read(bi[:9], None, dosage=False), x[:9])  # the subset is cleared again
    np.testing.assert_array_equal(
        src.read(np.arange(3, 12), sel, dosage=False), src.read(np.arange(3, 12)[::-1], sel, dosage=False)[::-1]
    )
    src.close()


@needs_plink2
def test_pgen_dosages_equal_ds(filesets):
    with PgenSource(filesets["dir"] / "ds.pgen") as src:
        assert src.has_dosage
        v = src.variants()
        bi = np.flatnonzero(v["biallelic"].to_numpy())
        x = src.read(bi, None, dosage=True)
    c = filesets["c"]
    order = {pos: i for i, (_, pos, _, _) in enumerate(c["sites"])}
    ds = c["ds"][[order[p] for p in v["pos"].to_numpy()[bi]]]
    assert (np.isnan(ds) == np.isnan(x)).all()
    # the pgen stores dosages in units of 1/16384 (plink2 file format), so DS to half a unit
    assert np.nanmax(np.abs(ds - x)) <= 0.5 / 16384 + 1e-7


@needs_plink2
def test_bgen_dosages_and_samples(filesets):
    with PgenSource(filesets["dir"] / "ds") as pg, BgenSource(filesets["dir"] / "b8.bgen") as bg:
        assert bg.samples() == pg.samples() and bg.has_dosage
        bv, pv = bg.variants(), pg.variants()
        pv = pv[pv["biallelic"]].reset_index(drop=True)
        assert (
            (bv[["chrom", "pos", "ref", "alt"]].astype(str) == pv[["chrom", "pos", "ref", "alt"]].astype(str))
            .all()
            .all()
        )
        xb = bg.read(np.arange(len(bv)), None, dosage=True)
        xp = pg.read(np.flatnonzero(pg.variants()["biallelic"].to_numpy()), None, dosage=True)
        hard = bg.read(np.arange(len(bv)), np.array([3, 1]), dosage=False)
    assert (np.isnan(xb) == np.isnan(xp)).all()
    # 8-bit probabilities: each within 1/255 (BGEN v1.2 spec), the dosage P(het) + 2 P(hom ALT) within 3/255
    assert np.nanmax(np.abs(xb - xp)) <= 3 / 255
    r = np.round(xb[:, [3, 1]])
    np.testing.assert_array_equal(hard, np.where(np.abs(xb[:, [3, 1]] - r) <= 0.1, r, np.nan))
    # BGEN v1.3 at 16 bits (compressed with zlib), samples from the .sample file plink2 wrote (ID_2 = IID)
    with BgenSource(filesets["dir"] / "b16.bgen", sample_file=filesets["dir"] / "b16.sample") as b16:
        assert b16.samples() == bg.samples()
        x16 = b16.read(np.arange(len(bv)), None, dosage=True)
    assert (np.isnan(x16) == np.isnan(xp)).all() and np.nanmax(np.abs(x16 - xp)) <= 3 / 65535


def _plink2_sums(fs, *source) -> pd.DataFrame:
    out = fs["dir"] / f"score_{abs(hash(source))}"
    _plink2(
        *source, "--score", fs["plink_score"], 1, 2, 3, "header", "no-mean-imputation", "cols=+scoresums", "--out", out
    )
    return pd.read_csv(f"{out}.sscore", sep="\t").set_index("#IID")


@needs_plink2
@pytest.mark.parametrize("name", ["gt", "ds"])
def test_pgen_scores_equal_plink2(filesets, name):
    with PgenSource(filesets["dir"] / name) as src:
        res = score_source(src, [filesets["score"]])
        chunked = score_source(src, [filesets["score"]], variant_block=7, sample_chunk=5)
        some = score_source(src, [filesets["score"]], sample_idx=np.array([20, 3, 3]), sample_chunk=2)
    assert some.samples == ["s20", "s03", "s03"]
    np.testing.assert_allclose(some.score_sum, res.score_sum[[20, 3, 3]], rtol=0, atol=1e-12)
    p = _plink2_sums(filesets, "--pfile", filesets["dir"] / name)
    got = res.table([filesets["score"]]).set_index("sample").loc[p.index]
    assert res.dosage == (name == "ds")
    # |sum| < 1 (see _pgs): plink2's six significant digits are within 5e-7 of its sum
    assert np.abs(p["SCORE1_SUM"]).max() < 1
    assert np.abs(got["prs_PGS000777"] - p["SCORE1_SUM"]).max() <= 1e-6
    assert (got["prs_PGS000777_allele_ct"] == p["ALLELE_CT"]).all()
    np.testing.assert_allclose(chunked.score_sum, res.score_sum, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(chunked.allele_ct, res.allele_ct)
    rep = res.report.iloc[0]
    assert (rep["matched"], rep["matched_flipped"], rep["allele_mismatch"]) == (N_SNPS - 2, 1, 1)
    multi = int(name == "gt")  # the DS file has no multi-allelic sites
    assert (rep["multiallelic_in_vcf"], rep["not_in_vcf"], rep["used"]) == (multi, 2 - multi, N_SNPS - 1)
    missing = res.missing_ct[:, 0]
    assert missing.sum() > 0 and (res.allele_ct[:, 0] == 2 * (N_SNPS - 1 - missing)).all()


@needs_plink2
def test_bgen_scores_equal_plink2(filesets):
    """plink2 --bgen ref-first rounds BGEN probabilities to its dosage unit, 1/16384, so its sum may
    differ from the exact expected dosage's by sum |w| / 32768 (here < 1e-5)."""
    score = filesets["score"]
    with BgenSource(filesets["dir"] / "b8.bgen") as src:
        res = score_source(src, [score])
    p = _plink2_sums(filesets, "--bgen", filesets["dir"] / "b8.bgen", "ref-first")
    got = res.table([score]).set_index("sample").loc[p.index]
    tol = np.abs(score.variants["weight"]).sum() / 32768 + 1e-6
    assert np.abs(got["prs_PGS000777"] - p["SCORE1_SUM"]).max() <= tol
    assert (got["prs_PGS000777_allele_ct"] == p["ALLELE_CT"]).all()
    # and the same score from the pgen it was exported from, to 8-bit precision
    with PgenSource(filesets["dir"] / "ds") as pg:
        ref = score_source(pg, [score])
    assert np.abs(res.score_sum - ref.score_sum).max() <= 3 / 255 * np.abs(score.variants["weight"]).sum()


@needs_plink2
def test_sources_bad_inputs(filesets, tmp_path):
    d = filesets["dir"]
    for ext in (".psam", ".pvar"):
        prefix = tmp_path / f"no{ext[1:]}"
        for other in (".pgen", ".pvar", ".psam"):
            if other != ext:
                shutil.copy(d / f"gt{other}", f"{prefix}{other}")
        with pytest.raises(GenotypeError, match=rf"no{ext[1:]}\{ext}: .* not found"):
            PgenSource(prefix)
    with pytest.raises(GenotypeError, match=r"missing\.pgen: genotype file not found"):
        PgenSource(tmp_path / "missing")
    # a .psam with one sample too few
    for other in (".pgen", ".pvar"):
        shutil.copy(d / f"gt{other}", tmp_path / f"short{other}")
    lines = (d / "gt.psam").read_text().splitlines()
    (tmp_path / "short.psam").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(GenotypeError, match=r"37 samples in the \.pgen but 36 in the \.psam"):
        PgenSource(tmp_path / "short")
    # not a pgen at all
    for other in (".pvar", ".psam"):
        shutil.copy(d / f"gt{other}", tmp_path / f"junk{other}")
    (tmp_path / "junk.pgen").write_bytes(b"not a pgen file")
    with pytest.raises(GenotypeError, match=r"junk\.pgen: not a PLINK 2 \.pgen"):
        PgenSource(tmp_path / "junk")
    (tmp_path / "junk.bgen").write_bytes(b"not a bgen file at all, no header")
    with pytest.raises(GenotypeError, match=r"junk\.bgen: cannot be read as a BGEN file"):
        BgenSource(tmp_path / "junk.bgen")
    with pytest.raises(GenotypeError, match=r"nothere\.bgen: BGEN file not found"):
        BgenSource(tmp_path / "nothere.bgen")
    sample = tmp_path / "few.sample"
    sample.write_text("ID_1 ID_2 missing\n0 0 0\na a 0\n")
    with pytest.raises(GenotypeError, match=r"few\.sample: 1 samples but .*b8\.bgen has 37"):
        BgenSource(d / "b8.bgen", sample_file=sample)
    with (
        PgenSource(d / "gt") as src,
        pytest.raises(GenotypeError, match=r"variant index out of range \(the file has 62"),
    ):
        src.read(np.array([62]), None, dosage=False)


def test_psam_and_pvar_layouts(tmp_path):
    """Header variants (plink2 formats page): #IID only, .fam-style without a header, ## lines,
    .bim-style pvar (CHROM ID CM POS ALT REF), a bad header."""
    (tmp_path / "a.psam").write_text("##comment\n#IID\tSEX\nx\t1\ny\t2\n")
    assert read_psam(tmp_path / "a.psam") == ["x", "y"]
    (tmp_path / "b.psam").write_text("f1 x 0 0 1 -9\nf2 y 0 0 2 -9\n")
    assert read_psam(tmp_path / "b.psam") == ["x", "y"]
    (tmp_path / "c.psam").write_text("#SAMPLE\tSEX\nx\t1\n")
    with pytest.raises(GenotypeError, match=r"c\.psam, line 1: header .*expected #FID or #IID"):
        read_psam(tmp_path / "c.psam")
    (tmp_path / "a.pvar").write_text(
        "##fileformat=PVARv1.0\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\n1\t10\trs1\tA\tG\t.\n1\t20\trs2\tC\tT,G\t.\n"
    )
    v = read_pvar(tmp_path / "a.pvar")
    assert v[["id", "ref", "alt"]].values.tolist() == [["rs1", "A", "G"], ["rs2", "C", "T,G"]]
    assert v["biallelic"].tolist() == [True, False] and v["n_alleles"].tolist() == [2, 3]
    (tmp_path / "b.pvar").write_text("1\trs1\t0\t10\tG\tA\n")
    assert read_pvar(tmp_path / "b.pvar")[["pos", "ref", "alt"]].values.tolist() == [[10, "A", "G"]]
    (tmp_path / "c.pvar").write_text("#CHROM\tPOS\tID\tREF\tALT\n1\tten\trs1\tA\tG\n")
    with pytest.raises(GenotypeError, match=r"c\.pvar: variant 1, column POS: 'ten' is not an integer"):
        read_pvar(tmp_path / "c.pvar")
    (tmp_path / "d.pvar").write_text("#CHROM\tPOS\tREF\tALT\n")
    with pytest.raises(GenotypeError, match=r"d\.pvar, line 1: header lacks ID"):
        read_pvar(tmp_path / "d.pvar")


class _TableSource(GenotypeSource):
    """A source with only a variant table (matching needs no genotypes)."""

    def __init__(self, variants: pd.DataFrame):
        self.path, self.has_dosage = Path("table"), False
        self._variants, self._samples = variants, []

    def samples(self):
        return []

    def variants(self):
        return self._variants[VARIANT_COLUMNS]

    def read(self, variant_idx, sample_idx=None, *, dosage):
        raise NotImplementedError


def _match_loop(source, scores, *, keep_ambiguous):
    """The record-by-record matching match_source replaced (each candidate variant through
    ScoreAccumulator.add, the VCF path): the oracle of the vectorised version."""
    acc = ScoreAccumulator(scores, 0, keep_ambiguous=keep_ambiguous)
    var = source.variants()
    keys = list(zip(var["chrom"].map(norm_chrom), var["pos"].astype(int)))
    used = []
    for j in [j for j, k in enumerate(keys) if k in acc.lookup]:
        chrom, pos, vid, ref, alt, bi = (var[c].iloc[j] for c in VARIANT_COLUMNS)
        rec = Record(
            str(chrom),
            int(pos),
            str(vid),
            str(ref),
            str(alt),
            np.empty(0) if bi else None,
            None if bi else "multi-allelic",
        )
        hits = acc.lookup[keys[j]]
        before = {h: acc.status.get(h, ("", ""))[0] for h in hits}
        acc.add(rec)
        for si, ri in hits:
            if acc.status.get((si, ri), ("", ""))[0] in USED and before[(si, ri)] not in USED:
                v = scores[si].variants.iloc[ri]
                _, o = match_allele(
                    v["effect_allele"],
                    v["other_allele"],
                    rec.ref.upper(),
                    rec.alt.upper(),
                    keep_ambiguous=keep_ambiguous,
                )
                used.append((j, si, o, float(v["weight"])))
    rows = np.array(sorted({u[0] for u in used}), dtype=np.int64)
    at = {j: i for i, j in enumerate(rows.tolist())}
    weight, ref_const, uses = (np.zeros((rows.size, len(scores))) for _ in range(3))
    for j, si, o, w in used:
        weight[at[j], si] += o * w
        ref_const[at[j], si] += 2 * w if o < 0 else 0.0
        uses[at[j], si] += 1
    return rows, weight, ref_const, uses, acc.variant_table()


USED = ("matched", "matched_flipped", "ambiguous_used")


def _random_match_case(rng):
    """Source variants with repeated positions, multi-allelic rows (and ALT '.'), palindromic SNPs,
    indels and lower case; scores drawn from them in either orientation, on the other strand, with
    no or inferred ('/') other alleles, wrong alleles, duplicates, unharmonised rows and absent positions."""
    snp = [(a, b) for a in "ACGT" for b in "ACGT" if a != b]
    alleles = [*snp, ("AT", "A"), ("C", "CTT"), ("A", "C,G"), ("G", "."), ("a", "g"), ("GA", "TC")]
    n = 160
    var = pd.DataFrame({"chrom": rng.choice(["1", "chr1", "2"], n), "pos": rng.integers(1, 60, n)})
    pick = [alleles[i] for i in rng.integers(0, len(alleles), n)]
    var["ref"], var["alt"] = [p[0] for p in pick], [p[1] for p in pick]
    var = var.sort_values(["chrom", "pos"], kind="stable").reset_index(drop=True)
    var["id"] = [f"v{i}" for i in range(n)]
    var["biallelic"] = ~var["alt"].str.contains(",") & var["alt"].ne(".")
    comp = str.maketrans("ACGT", "TGCA")
    scores = []
    for k in range(3):
        rows = []
        for _ in range(120):
            j = int(rng.integers(0, n))
            ref, alt = var["ref"][j].upper(), var["alt"][j].upper().split(",")[0]
            eff, oth = (alt, ref) if rng.random() < 0.5 else (ref, alt)
            r = rng.random()
            if r < 0.2:
                eff, oth = eff.translate(comp)[::-1], oth.translate(comp)[::-1]
            elif r < 0.3:
                oth = ""
            elif r < 0.4:
                oth = f"{oth}/T"
            elif r < 0.5:
                eff = "ACG"
            pos = int(var["pos"][j]) if rng.random() < 0.9 else int(rng.integers(60, 70))
            rows.append((norm_chrom(var["chrom"][j]), pos, eff, oth, round(float(rng.normal(0, 1)), 4)))
        v = pd.DataFrame(rows, columns=["chrom", "pos", "effect_allele", "other_allele", "weight"])
        v.insert(0, "row", np.arange(1, len(v) + 1))
        v["pos"] = v["pos"].astype("Int64")
        v["status"] = np.where(v.duplicated(["chrom", "pos", "effect_allele", "other_allele"]), "duplicate", "")
        v.loc[rng.random(len(v)) < 0.05, ["pos", "status"]] = [pd.NA, "not_harmonised"]
        scores.append(Score(f"S{k}", f"s{k}.txt", "GRCh38", v, {}))
    return _TableSource(var), scores


@pytest.mark.parametrize("seed", range(12))
def test_match_source_equals_the_record_loop(seed, monkeypatch):
    if seed % 2:  # the allele key renumbered between columns, as for a file with very many distinct alleles
        monkeypatch.setattr(prs_module, "KEY_LIMIT", 8)
    rng = np.random.default_rng(seed)
    source, scores = _random_match_case(rng)
    for keep in (False, True):
        m = match_source(source, scores, keep_ambiguous=keep)
        rows, weight, ref_const, uses, seen = _match_loop(source, scores, keep_ambiguous=keep)
        np.testing.assert_array_equal(m.variant_idx, rows)
        for got, want in ((m.weight, weight), (m.ref_const, ref_const), (m.uses, uses)):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        key = ["score", "index"]
        pd.testing.assert_frame_equal(
            m.seen.sort_values(key).reset_index(drop=True),
            seen.sort_values(key).reset_index(drop=True),
            check_dtype=False,
        )
        for a, b in zip(score_report(scores, m.seen), score_report(scores, seen)):
            pd.testing.assert_frame_equal(a, b)
    statuses = set(score_report(scores, match_source(source, scores).seen)[0]["status"])
    # every case the rules tell apart occurs (over the seeds, at any rate per seed most of them)
    assert {"matched", "matched_flipped", "ambiguous_dropped", "allele_mismatch", "not_in_vcf"} <= statuses


def test_match_source_without_scores_or_candidates():
    source, scores = _random_match_case(np.random.default_rng(0))
    m = match_source(source, [])
    assert m.variant_idx.size == 0 and m.weight.shape == (0, 0) and m.seen.empty
    far = Score("F", "f.txt", None, scores[0].variants.assign(pos=pd.array([10**6] * 120, dtype="Int64")), {})
    m = match_source(source, [far])
    assert m.variant_idx.size == 0 and m.weight.shape == (0, 1)
    assert set(score_report([far], m.seen)[0]["status"]) <= {"not_in_vcf", "duplicate", "not_harmonised"}


@needs_plink2
def test_read_into_equals_read(filesets):
    """The scores' block reader: the same values as read() (which rounds them to float32; pgen
    values are exact in float32, BGEN expected dosages not), MISSING where read() has NaN."""
    d = filesets["dir"]
    sel = np.array([0, 4, 5, 30])
    for src in (PgenSource(d / "gt"), PgenSource(d / "ds"), BgenSource(d / "b16.bgen", sample_file=d / "b16.sample")):
        with src:
            idx = np.flatnonzero(src.variants()["biallelic"].to_numpy())[[0, 3, 4, 9, 10, 11, 30]]
            for dosage, samples in ((True, None), (False, None), (True, sel), (False, sel)):
                want = src.read(idx, samples, dosage=dosage)
                out = np.full(want.shape, 7.0)
                mask = np.zeros(want.shape, dtype=bool)
                n = src.read_into(idx, samples, out, mask, dosage=dosage)
                np.testing.assert_array_equal(mask, np.isnan(want))
                np.testing.assert_array_equal(out.astype(np.float32), np.where(np.isnan(want), MISSING, want))
                assert n == np.isnan(want).sum()


@needs_plink2
def test_scores_read_ahead_equal_scores_read_in_turn(filesets):
    """threads=2 (the next block read on a second thread, into a second buffer) gives exactly the
    sums of threads=1, over many small blocks, sample subsets and every source kind."""
    d = filesets["dir"]
    score = [filesets["score"]]
    for src in (PgenSource(d / "gt"), PgenSource(d / "ds"), BgenSource(d / "b8.bgen", sample_file=d / "b8.sample")):
        with src:
            for kw in ({"variant_block": 3}, {"variant_block": 7, "sample_idx": np.array([5, 1, 1, 30, 2])}, {}):
                one = score_source(src, score, threads=1, **kw)
                two = score_source(src, score, threads=2, **kw)
                np.testing.assert_array_equal(one.score_sum, two.score_sum)
                np.testing.assert_array_equal(one.allele_ct, two.allele_ct)
                np.testing.assert_array_equal(one.missing_ct, two.missing_ct)


@needs_plink2
def test_bgen_metafile_cached(filesets, tmp_path, monkeypatch):
    """The BGEN index (cbgen metafile) is built once next to the file, keyed by size and time; a
    changed file gets a new one (the old one removed); an unwritable place falls back to the cache."""
    import cbgen

    bgen = tmp_path / "c.bgen"
    shutil.copy(filesets["dir"] / "b8.bgen", bgen)
    with BgenSource(bgen) as src:
        want = src.variants()
    metas = list(tmp_path.glob("c.bgen.*.metafile"))
    st = bgen.stat()
    assert [m.name for m in metas] == [f"c.bgen.{st.st_size}-{st.st_mtime_ns}.metafile"]

    def no_index(*_a, **_k):
        raise AssertionError("the metafile was built again")

    with monkeypatch.context() as mp:
        mp.setattr(cbgen.bgen_file, "create_metafile", no_index)
        with BgenSource(bgen) as src:
            pd.testing.assert_frame_equal(src.variants(), want)
    os.utime(bgen, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with BgenSource(bgen) as src:
        pd.testing.assert_frame_equal(src.variants(), want)
    assert [m.name for m in tmp_path.glob("c.bgen.*.metafile")] == [
        f"c.bgen.{st.st_size}-{st.st_mtime_ns + 10**9}.metafile"
    ]
    # next to the file is taken (a folder of that name): the user's cache folder instead
    os.utime(bgen, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    (tmp_path / f"c.bgen.{st.st_size}-{st.st_mtime_ns + 2 * 10**9}.metafile").mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with BgenSource(bgen) as src:
        pd.testing.assert_frame_equal(src.variants(), want)
    assert len(list((tmp_path / "cache" / "stratify" / "bgen").glob("*-c.bgen.*.metafile"))) == 1
    assert not list(tmp_path.glob(".*.tmp"))
