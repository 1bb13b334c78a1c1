"""LD pruning and PCA that reproduce plink2 (--indep-pairwise, --pca): hand-computed cases that
pin the algorithm, and parity with the installed plink2 on a simulated VCF with LD structure."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pysam
import pytest

from stratify.genotypes.ldprune import hard_calls, indep_pairwise, subcontigs
from stratify.genotypes.pca_plink2 import grm_like_plink2, pca_like_plink2
from stratify.genotypes.vcfscan import header_samples, scan

PLINK2 = shutil.which("plink2")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 is not installed (parity with plink2 needs it)")


def _variants(chrom, pos):
    return pd.DataFrame({"chrom": chrom, "pos": pos, "id": [f"v{i}" for i in range(len(pos))]})


# ---------------------------------------------------------------- hand-computed cases


def test_identical_pair_tie_removes_the_second():
    a = [0, 1, 2, 0, 1, 2, 0, 0]
    c = [2, 0, 1, 1, 0, 2, 1, 0]  # r^2 with a: 36 / (44 * 39) = 0.021
    d = np.array([a, a, c], dtype=float)
    keep = indep_pairwise(d, _variants(["1"] * 3, [10, 20, 30]), window=3, step=1, r2=0.2)
    assert keep.tolist() == [True, False, True]


def test_in_ld_the_higher_major_allele_frequency_goes():
    # b = a with one het made hom-ref: r^2(a, b) > 0.2, b's major-allele frequency is higher
    a = np.array([0, 1, 2, 0, 1, 2, 0, 0], dtype=float)
    b = a.copy()
    b[1] = 0  # ALT freq of a = 6/16, of b = 5/16: major freq 10/16 < 11/16
    keep = indep_pairwise(np.array([a, b]), _variants(["1"] * 2, [10, 20]), window=2, step=1, r2=0.2)
    assert keep.tolist() == [True, False]
    keep = indep_pairwise(np.array([b, a]), _variants(["1"] * 2, [10, 20]), window=2, step=1, r2=0.2)
    assert keep.tolist() == [False, True]  # the first (b, higher major frequency) goes


def test_r2_is_over_jointly_called_samples_and_the_threshold_is_strict():
    # identical where both called (r^2 = 1); over all samples, with missing as 0, r^2 = 2/3
    a = np.array([0, 2, 0, 2, 0, 2], dtype=float)
    b = np.array([0, 2, 0, 2, np.nan, np.nan])
    keep = indep_pairwise(np.array([a, b]), _variants(["1"] * 2, [1, 2]), window=2, r2=0.99)
    assert keep.tolist() == [True, False]
    # coded 1 - g: x = (1, 1, -1, -1), y = (1, 0, 0, -1): cov 8, var 16 and 8, r^2 exactly 0.5
    x = np.array([0, 0, 2, 2], dtype=float)
    y = np.array([0, 1, 1, 2], dtype=float)
    v = _variants(["1"] * 2, [1, 2])
    assert indep_pairwise(np.array([x, y]), v, window=2, r2=0.5).tolist() == [True, True]
    assert indep_pairwise(np.array([x, y]), v, window=2, r2=0.49).sum() == 1


def test_monomorphic_all_het_removed_and_lone_variant_kept():
    d = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 2, 1], [0, 0, 0, 0]], dtype=float)
    keep = indep_pairwise(d, _variants(["1", "1", "1", "2"], [1, 2, 3, 1]), window=5, step=1, r2=0.5)
    # chromosome 2 has one variant: plink2 never looks at it, so it is kept though monomorphic
    assert keep.tolist() == [False, False, True, True]


def test_window_slides_by_step_and_comparisons_end_outside_it():
    a = np.array([0, 1, 2, 0, 1, 2, 0, 2], dtype=float)
    rng = np.random.default_rng(1)
    fill = [rng.permutation(a) for _ in range(2)]
    d = np.array([a, fill[0], fill[1], a])
    r = np.corrcoef(d)[:3, :3] ** 2
    assert (r[np.triu_indices(3, 1)] < 0.5).all()
    v = _variants(["1"] * 4, [1, 2, 3, 4])
    assert indep_pairwise(d, v, window=3, step=1, r2=0.5).all()  # 0 and 3 never share a window
    assert indep_pairwise(d, v, window=4, step=1, r2=0.5).tolist() == [True, True, True, False]


def test_chain_order_first_variant_resumes_after_the_removed_one():
    # A~B and B~C in LD, A and C not: A removes B (tie), then A vs C (no LD): A and C kept.
    a = np.array([0, 0, 0, 0, 2, 2, 2, 2], dtype=float)
    b = np.array([0, 0, 0, 2, 2, 2, 2, 0], dtype=float)  # r^2(a,b) = 0.25
    c = np.array([0, 0, 2, 2, 2, 2, 0, 0], dtype=float)  # r^2(b,c) = 0.25, r^2(a,c) = 0
    v = _variants(["1"] * 3, [1, 2, 3])
    assert indep_pairwise(np.array([a, b, c]), v, window=3, r2=0.2).tolist() == [True, False, True]


def test_kb_window_splits_at_gaps_wider_than_the_window():
    v = _variants(["1"] * 5, [1000, 1500, 2400, 50000, 50100])
    assert subcontigs(v, window=1000, window_kb=1.0) == [(0, 3), (3, 5)]
    a = np.array([0, 1, 2, 0, 1, 2], dtype=float)
    d = np.array([a, a, np.zeros(6), a, a])
    d[2, :2] = 2  # not monomorphic, not in LD with a
    keep = indep_pairwise(d, v, window_kb=1.0, r2=0.5)
    assert keep.tolist() == [True, False, True, True, False]
    with pytest.raises(ValueError, match="positions sorted"):
        indep_pairwise(d, _variants(["1"] * 5, [5, 4, 6, 7, 8]), window_kb=1.0, r2=0.5)
    with pytest.raises(ValueError, match="two separate runs"):
        indep_pairwise(d, _variants(["1", "2", "1", "3", "3"], [1, 2, 3, 4, 5]), window=2, r2=0.5)


def test_hard_calls_threshold():
    assert hard_calls(np.array([[0.05, 0.5, 1.92, np.nan, 2.0]])).tolist() == [[0, -1, 2, -1, 2]]


def test_grm_hand_computed_with_missing():
    d = np.array([[0, 1, 2, 1], [2, 2, 0, np.nan]])
    grm, q = grm_like_plink2(d)
    assert q.tolist() == pytest.approx([0.5, 2 / 3])
    # x1 = (-sqrt2, 0, sqrt2, 0); x2 = (1, 1, -2, 0) with sample 3 missing
    assert grm[0, 0] == pytest.approx((2 + 1) / 2)
    assert grm[0, 2] == pytest.approx((-2 - 2) / 2)
    assert grm[0, 3] == pytest.approx(0.0)
    assert grm[3, 3] == pytest.approx(0.0)  # its one called variant has x = 0
    assert grm[1, 1] == pytest.approx(1 / 2)
    vals, vecs = pca_like_plink2(d, n_components=2)
    w, _ = np.linalg.eigh(grm)
    assert vals == pytest.approx(w[::-1][:2])
    assert np.linalg.norm(vecs, axis=0) == pytest.approx([1, 1])


def test_pca_leaves_out_non_autosomes():
    rng = np.random.default_rng(3)
    d = rng.integers(0, 3, size=(6, 20)).astype(float)
    v = _variants(["1", "1", "chrX", "Y", "MT", "2"], [1, 2, 3, 4, 5, 6])
    a, _ = pca_like_plink2(d, v, n_components=3)
    b, _ = pca_like_plink2(d[[0, 1, 5]], n_components=3)
    assert a == pytest.approx(b)


# ---------------------------------------------------------------- parity with plink2


def _simulate(path, *, seed=21, n=300, per_chrom=1000, missing=0.01):
    rng = np.random.default_rng(seed)
    pop = rng.random(n) < 0.4
    lines = [
        "##fileformat=VCFv4.2",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "##contig=<ID=1,length=10000000>",
        "##contig=<ID=2,length=10000000>",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(f"s{i}" for i in range(n)),
    ]
    text = {0: "0/0", 1: "0/1", 2: "1/1", -1: "./."}
    for chrom in ("1", "2"):
        gaps = rng.geometric(1 / 900, size=per_chrom)
        gaps[[200, 600]] += 80_000  # gaps wider than the kb window: sub-contigs
        pos = np.cumsum(gaps) + 1000
        hap = np.zeros((2 * n, per_chrom), dtype=np.int8)
        popn = np.repeat(pop, 2)
        for j in range(per_chrom):
            p = rng.uniform(0.05, 0.5)
            pj = np.where(popn, np.clip(p + 0.25, 0, 0.95), p)
            fresh = rng.random(2 * n) < pj
            rho = rng.choice([0.0, 0.5, 0.8, 0.95])
            copy = (rng.random(2 * n) < rho) if j else np.zeros(2 * n, bool)
            hap[:, j] = np.where(copy, hap[:, j - 1], fresh)
        g = hap[0::2] + hap[1::2]
        g[rng.random(g.shape) < missing] = -1
        if chrom == "1":
            g[:, 10] = 0  # monomorphic
            g[:, 11] = 1  # all het
        for j in range(per_chrom):
            calls = "\t".join(text[int(x)] for x in g[:, j])
            lines.append(f"{chrom}\t{pos[j]}\tsnp{chrom}_{j}\tA\tG\t.\tPASS\t.\tGT\t{calls}")
    raw = path.with_suffix("")
    raw.write_text("\n".join(lines) + "\n")
    pysam.tabix_compress(str(raw), str(path), force=True)
    return path


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("ldpca")
    vcf = _simulate(d / "sim.vcf.gz")
    recs = list(scan(vcf, None))
    variants = pd.DataFrame(
        {"chrom": [r.chrom for r in recs], "pos": [r.pos for r in recs], "id": [r.id for r in recs]}
    )
    dos = np.array([r.dosage for r in recs], dtype=np.float64)
    dos[dos < 0] = np.nan
    return d, vcf, variants, dos


def _plink2(*args, cwd):
    cmd = [PLINK2, "--threads", "1", "--memory", "1000", *args]
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr


@needs_plink2
@pytest.mark.parametrize(
    ("args", "kw"),
    [
        (["50", "5", "0.2"], {"window": 50, "step": 5, "r2": 0.2}),
        (["50kb", "1", "0.2"], {"window_kb": 50, "r2": 0.2}),
        (["20", "3", "0.5"], {"window": 20, "step": 3, "r2": 0.5}),
    ],
)
def test_indep_pairwise_matches_plink2(sim, args, kw):
    d, vcf, variants, dos = sim
    out = "pr_" + "_".join(args)
    _plink2("--vcf", str(vcf), "--indep-pairwise", *args, "--out", out, cwd=d)
    theirs = (d / f"{out}.prune.in").read_text().split()
    keep = indep_pairwise(dos, variants, **kw)
    ours = variants["id"][keep].tolist()
    assert 0.1 * len(variants) < len(ours) < 0.9 * len(variants)  # the pruning does something
    assert set(ours) ^ set(theirs) == set()
    assert ours == theirs


@needs_plink2
def test_pca_matches_plink2(sim):
    d, vcf, variants, dos = sim
    keep = indep_pairwise(dos, variants, window=50, step=5, r2=0.2)
    (d / "keep.txt").write_text("\n".join(variants["id"][keep]) + "\n")
    _plink2("--vcf", str(vcf), "--extract", "keep.txt", "--pca", "5", "--out", "pc", cwd=d)
    their_vals = np.loadtxt(d / "pc.eigenval")
    ev = pd.read_csv(d / "pc.eigenvec", sep="\t").rename(columns={"#IID": "IID"})
    assert ev["IID"].tolist() == header_samples(vcf)
    their_vecs = ev[[f"PC{i}" for i in range(1, 6)]].to_numpy()
    vals, vecs = pca_like_plink2(dos[keep], variants[keep], n_components=5)
    # plink2 prints 6 significant digits: compare at that precision (relative 5e-6)
    assert np.abs(vals - their_vals).max() <= 5e-6 * np.abs(their_vals).max()
    vecs = vecs * np.sign((vecs * their_vecs).sum(axis=0))
    assert np.all(np.abs(vecs - their_vecs) <= 5e-6 * np.abs(their_vecs) + 1e-9)
