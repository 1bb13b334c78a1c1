"""The genotype stage's principal components equal plink2's: its filters, --indep-pairwise and
--pca on the same VCF (reference samples = the eigenvectors, others projected)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pysam
import pytest

from stratify.genotypes.pca import fit_pca
from stratify.genotypes.pgxsites import pgx_regions
from stratify.genotypes.shards import genotype_stage, load_pca, make_plan, run_shard, save_pca, settings

PLINK2 = shutil.which("plink2")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 is not installed (parity with plink2 needs it)")

N = 300
N_COMPLETE = 40  # the first samples have no missing call
PCA = {"min_maf": 0.05, "min_call_rate": 0.95, "ld_window_kb": 100, "ld_r2": 0.2, "n_components": 5}
TEXT = np.array(["0/0", "0/1", "1/1", "./."])


def _haplotype_block(rng, pop, m, missing):
    """m SNPs with LD (each copies the previous haplotype with probability rho) and two
    populations; missing calls (3) at rate ``missing`` except in the first N_COMPLETE samples."""
    popn = np.repeat(pop, 2)
    prev = np.zeros(2 * N, dtype=bool)
    out = []
    for j in range(m):
        p = rng.uniform(0.03, 0.5)
        fresh = rng.random(2 * N) < np.where(popn, min(p + 0.25, 0.95), p)
        h = np.where(rng.random(2 * N) < rng.choice([0.0, 0.5, 0.8, 0.95]), prev, fresh) if j else fresh
        prev = h
        g = h[0::2].astype(np.int8) + h[1::2]
        miss = rng.random(N) < missing
        miss[:N_COMPLETE] = False
        g[miss] = 3
        out.append(g)
    return out


def _boundary_snps(rng):
    """--geno and --maf at their thresholds (n = 300): 15 missing kept, 16 removed; 30 ALT
    alleles of 600 (MAF exactly 0.05) kept, 29 removed."""
    out = []
    for n_missing in (15, 16):
        g = rng.integers(0, 3, N).astype(np.int8)
        g[N - n_missing :] = 3
        out.append(g)
    for n_alt in (30, 29):
        g = np.zeros(N, dtype=np.int8)
        g[rng.choice(np.arange(N_COMPLETE, N), n_alt, replace=False)] = 1
        out.append(g)
    return out


def _write_vcf(path, seed=7):
    rng = np.random.default_rng(seed)
    pop = rng.random(N) < 0.4
    (c19,) = [(c, lo, hi) for d, c, lo, hi in pgx_regions() if d.gene == "CYP2C19"]
    rows = []  # (chrom, pos, ref, alt, genotypes)
    for chrom in ("1", "2"):
        gs = _haplotype_block(rng, pop, 1200, 0.01)
        pos = np.cumsum(rng.geometric(1 / 900, size=len(gs))) + 1000
        pos[400:] += 150_000  # a gap wider than the window
        rows += [(chrom, int(p), "A", "G", g) for p, g in zip(pos, gs)]
    # chromosome 2's oddities after its last SNP: filters plink2 applies
    last = rows[-1][1]
    odd = [("AT", "A"), ("N", "G"), ("A", "G,T"), ("C", "T"), ("G", "A"), ("T", "C"), ("A", "C")]
    extra = [rng.integers(0, 3, N).astype(np.int8) for _ in range(3)] + _boundary_snps(rng)
    rows += [("2", last + 100 * (i + 1), r, a, g) for i, ((r, a), g) in enumerate(zip(odd, extra))]
    boundary = {f"2_{last + 100 * (i + 1)}": i in (3, 5) for i in range(3, 7)}  # id: kept by the filters
    # chr10: SNPs inside CYP2C19 (excluded) and around it; chrX (not in plink2's PCA)
    gs = _haplotype_block(rng, pop, 60, 0.01)
    pos10 = np.linspace(c19[1] - 200_000, c19[2] + 200_000, len(gs)).astype(int)
    assert ((pos10 >= c19[1]) & (pos10 <= c19[2])).sum() >= 5
    rows += [("10", int(p), "C", "T", g) for p, g in zip(pos10, gs)]
    gs = _haplotype_block(rng, pop, 30, 0.01)
    rows += [("X", 5000 + 1000 * i, "G", "A", g) for i, g in enumerate(gs)]
    lines = [
        "##fileformat=VCFv4.2",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        *(f"##contig=<ID={c},length=200000000>" for c in ("1", "2", "10", "X")),
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(f"s{i}" for i in range(N)),
    ]
    for c, p, r, a, g in rows:
        gt = TEXT[g] if "," not in a else np.where(g == 2, "1/2", TEXT[g])
        lines.append(f"{c}\t{p}\t{c}_{p}\t{r}\t{a}\t.\tPASS\t.\tGT\t" + "\t".join(gt))
    raw = path.with_suffix("")
    raw.write_text("\n".join(lines) + "\n")
    pysam.tabix_compress(str(raw), str(path), force=True)
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return path, boundary


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return _write_vcf(tmp_path_factory.mktemp("pcastage") / "x.vcf.gz")


@pytest.fixture(scope="module")
def vcf(sim):
    return sim[0]


def _plink2(*args, cwd):
    cmd = [PLINK2, "--threads", "1", "--memory", "1000", *args]
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr


def _plink2_pca(vcf, out, *, keep=None):
    """plink2's filters + --indep-pairwise, then --pca on the pruned SNPs: (prune.in ids,
    eigenvalues, eigenvector table)."""
    d = vcf.parent
    (d / "pgx.txt").write_text("".join(f"{c}\t{lo}\t{hi}\t{g.gene}\n" for g, c, lo, hi in pgx_regions()))
    kp = []
    if keep is not None:
        (d / f"{out}.keep").write_text("".join(f"{s}\n" for s in keep))
        kp = ["--keep", f"{out}.keep"]
    filters = ["--snps-only", "just-acgt", "--max-alleles", "2", "--geno", repr(1 - PCA["min_call_rate"])]
    filters += ["--maf", repr(PCA["min_maf"]), "--exclude", "range", "pgx.txt"]
    prune = ["--indep-pairwise", f"{PCA['ld_window_kb']}kb", "1", repr(PCA["ld_r2"])]
    _plink2("--vcf", str(vcf), *kp, *filters, *prune, "--out", out, cwd=d)
    n = str(PCA["n_components"])
    _plink2("--vcf", str(vcf), *kp, "--extract", f"{out}.prune.in", "--pca", n, "--out", out, cwd=d)
    ids = (d / f"{out}.prune.in").read_text().split()
    vals = np.loadtxt(d / f"{out}.eigenval")
    vecs = pd.read_csv(d / f"{out}.eigenvec", sep="\t").rename(columns={"#IID": "IID"}).set_index("IID")
    return ids, vals, vecs


def _same_up_to_sign(ours, theirs):
    """plink2 prints 6 significant digits: equal to half a unit of the 6th (relative 5e-6), plus
    1e-9 for values printed in exponent form near 0; each column up to sign."""
    ours = ours * np.sign((ours * theirs).sum(axis=0))
    return np.abs(ours - theirs) <= 5e-6 * np.abs(theirs) + 1e-9


def _config(**pca):
    return {"sample_chunk": 70, "shard_mb": 0.002, "pca": {**PCA, **pca}}


@needs_plink2
@pytest.mark.parametrize("engine", ["plink2", "python"])  # plink2 prunes, or stratify's port of it
def test_stage_pcs_equal_plink2(sim, engine):
    vcf, boundary = sim
    ids, their_vals, their_vecs = _plink2_pca(vcf, "all")
    samples = [f"s{i}" for i in range(N)]
    cfg = settings({"genotypes": _config(ld_engine=engine)})
    plan = make_plan(vcf, patient_ids=set(samples), cfg=cfg)
    assert len(plan["shards"]) > 1 and len(plan["chunks"]) > 1
    pca = fit_pca(plan)
    # the same SNPs as plink2's filters and --indep-pairwise (boundary SNPs, PGx region, odd alleles)
    ours = [f"{c}_{p}" for c, p in zip(pca["variants"]["chrom"], pca["variants"]["pos"])]
    assert [i for i in ids if not i.startswith("X_")] == ours
    assert {i: i in ids for i in boundary} == boundary
    c = pca["counts"]
    assert c["non_autosomal"] == 30 and c["pgx_region"] >= 5 and c["failed_call_rate"] >= 1 and c["failed_maf"] >= 1
    assert c["pruned_ld"] > 500 and c["over_max_snps"] == 0
    assert np.abs(pca["eigenvalues"] - their_vals).max() <= 5e-6 * np.abs(their_vals).max()
    pcs = genotype_stage(vcf, patient_ids=set(samples), cfg=_config(ld_engine=engine))["pcs"].set_index("patient_id")
    cols = [f"pc{k}" for k in range(1, 6)]
    theirs = their_vecs.loc[pcs.index, [f"PC{k}" for k in range(1, 6)]].to_numpy()
    assert _same_up_to_sign(pcs[cols].to_numpy(), theirs).all()
    # the sign convention: in each column the largest |value| is positive
    v = pcs[cols].to_numpy()
    assert (v[np.abs(v).argmax(axis=0), range(5)] > 0).all()
    assert np.allclose(pca["explained_variance_ratio"] * _trace(pca), pca["eigenvalues"])


def _trace(pca):
    return float(pca["eigenvalues"][0] / pca["explained_variance_ratio"][0])


def _summed_projection(plan, pca):
    proj = np.zeros((N, pca["components"].shape[0]))
    for j in plan["jobs"]:
        lo, hi = plan["chunks"][int(j.split("_")[1][1:])]
        proj[lo:hi] += run_shard(plan, j, pca, [])["proj"]
    return proj


@needs_plink2
def test_reference_subset_eigenvectors_and_projections(vcf):
    samples = [f"s{i}" for i in range(N)]
    cfg = settings({"genotypes": _config(samples=150)})
    plan = make_plan(vcf, patient_ids=set(samples), cfg=cfg, seed=2)
    ref = np.array(plan["pca_columns"])
    assert len(ref) == 150 and (ref < N_COMPLETE).sum() >= 5
    ref_names = [samples[i] for i in ref]
    _, their_vals, their_vecs = _plink2_pca(vcf, "ref", keep=ref_names)
    pca = fit_pca(plan)
    assert np.abs(pca["eigenvalues"] - their_vals).max() <= 5e-6 * np.abs(their_vals).max()
    pcs = genotype_stage(vcf, patient_ids=set(samples), cfg=_config(samples=150), seed=2)["pcs"]
    pcs = pcs.set_index("patient_id")
    cols = [f"pc{k}" for k in range(1, 6)]
    theirs = their_vecs.loc[ref_names, [f"PC{k}" for k in range(1, 6)]].to_numpy()
    assert _same_up_to_sign(pcs.loc[ref_names, cols].to_numpy(), theirs).all()
    # what the pca step saves for the shard and merge steps
    save_pca(pca, vcf.parent / "pca.npz")
    back = load_pca(vcf.parent / "pca.npz")
    for key in ("components", "centre", "eigenvalues", "reference_pcs", "reference_columns"):
        np.testing.assert_array_equal(back[key], pca[key])
    pd.testing.assert_frame_equal(back["variants"], pca["variants"], check_dtype=False)
    # projection: a reference sample without missing calls gets exactly its eigenvector
    proj = _summed_projection(plan, back)
    complete = ref[ref < N_COMPLETE]
    pos = np.searchsorted(ref, complete)
    assert np.abs(proj[complete] - pca["reference_pcs"][pos]).max() < 1e-10
    # with 1% missing calls the projection is close to (not equal to) the eigenvector
    partial = np.flatnonzero(ref >= N_COMPLETE)
    gap = np.abs(proj[ref[partial]] - pca["reference_pcs"][partial]).max()
    assert 1e-8 < gap < 0.01 * np.abs(pca["reference_pcs"]).max()
    # the other samples get their projections, which separate the two populations as well
    others = [s for i, s in enumerate(samples) if i not in set(ref)]
    assert np.allclose(pcs.loc[others, cols].to_numpy(), proj[[samples.index(s) for s in others]])
    assert np.abs(pcs.loc[others, "pc1"]).max() > 0.5 * np.abs(pcs.loc[ref_names, "pc1"]).max()


def test_too_few_reference_samples_skip_the_pcs(vcf):
    cfg = settings({"genotypes": _config(samples=8)})
    plan = make_plan(vcf, patient_ids={f"s{i}" for i in range(N)}, cfg=cfg)
    pca = fit_pca(plan)
    assert "components" not in pca and "10" in pca["skipped"]
