"""Tests for stratify.genotypes.shards: dosages, SNP filters, principal components, sample mapping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn.decomposition  # noqa: F401  (slow one-off import, paid at collection rather than by one test)

from stratify.errors import GenotypeError
from stratify.genotypes.pca import genotype_pcs, read_dosages
from stratify.genotypes.shards import PGX_COLUMNS, genotype_stage, map_samples
from stratify.simulate.cohort import write_cohort, write_vcf

SAMPLES = ["A", "B", "C", "D"]


def _rec(chrom, pos, gts, ref="A", alt="G", rsid="."):
    return chrom, pos, "\t".join([chrom, str(pos), rsid, ref, alt, ".", "PASS", ".", "GT", *gts])


@pytest.fixture(scope="module")
def small_vcf(tmp_path_factory):
    recs = [
        _rec("chr1", 1000, ["0/0", "0/1", "1/1", "0/1"], rsid="common"),  # p = (0+1+2+1)/8 = 0.5
        _rec("chr1", 2000, ["0/0", "0/0", "0/0", "0/0"], rsid="mono"),  # MAF 0
        _rec("chr1", 3000, ["0/0", "0/0", "0/0", "0/1"], rsid="rare"),  # p = 1/8 = 0.125
        _rec("chr1", 4000, ["0/1", "./.", "0/1", "0/0"], rsid="lowcall"),  # call rate 3/4; p = 2/6
        _rec("chr1", 5000, ["0/1", "1/1", "0/1", "0/0"], ref="AT", alt="A", rsid="indel"),
        _rec("chr1", 6000, ["0/1", "1/1", "0/1", "0/0"], alt="G,T", rsid="multi"),
        _rec("chr2", 100, ["1/1", "1/1", "1/1", "0/1"], rsid="altcommon"),  # p = 7/8 -> MAF 1/8
    ]
    return write_vcf(tmp_path_factory.mktemp("vcf") / "small.vcf.gz", SAMPLES, recs)


def test_write_vcf_is_indexed(small_vcf):
    assert small_vcf.name == "small.vcf.gz"
    assert small_vcf.with_name("small.vcf.gz.tbi").exists()


def test_read_dosages_filters(small_vcf):
    samples, variants, mat = read_dosages(small_vcf, min_maf=0.1, min_call_rate=0.9)
    assert samples == SAMPLES
    # mono (MAF 0 < 0.1) and lowcall (call rate 0.75 < 0.9) are dropped; indel and multi-allelic too
    assert variants["id"].tolist() == ["common", "rare", "altcommon"]
    assert variants["maf"].tolist() == pytest.approx([0.5, 0.125, 0.125])
    assert mat.dtype == np.float32 and mat.shape == (4, 3)
    assert mat[:, 0].tolist() == [0, 1, 2, 1]  # alternate-allele dosages
    assert mat[:, 2].tolist() == [2, 2, 2, 1]


def test_read_dosages_stricter_maf_looser_call_rate(small_vcf):
    _, variants, mat = read_dosages(small_vcf, min_maf=0.2, min_call_rate=0.7)
    # rare and altcommon (MAF 0.125) fall out; lowcall (MAF 2/6 = 0.33, call rate 0.75) comes in
    assert variants["id"].tolist() == ["common", "lowcall"]
    assert variants["call_rate"].tolist() == [1.0, 0.75]
    assert variants["maf"].tolist() == pytest.approx([0.5, 1 / 3])
    assert np.isnan(mat[1, 1]) and mat[:, 1][~np.isnan(mat[:, 1])].tolist() == [1, 1, 0]


def test_read_dosages_excludes_regions(small_vcf):
    _, variants, _ = read_dosages(small_vcf, min_maf=0.1, min_call_rate=0.9, exclude_regions=(("chr1", 900, 3000),))
    assert variants["id"].tolist() == ["altcommon"]


def test_read_dosages_not_a_vcf(tmp_path):
    p = tmp_path / "x.vcf"
    p.write_text("hello\n")
    with pytest.raises(GenotypeError) as e:
        read_dosages(p)
    assert str(e.value).startswith(f"{p}: not bgzip-compressed (first bytes b'hello\\n'); expected a bgzipped")


def _two_populations(n_per=40, m=300, seed=0):
    rng = np.random.default_rng(seed)
    p_a = rng.uniform(0.1, 0.9, m)
    p_b = np.clip(p_a + rng.choice([-0.35, 0.35], m), 0.02, 0.98)
    g = np.vstack([rng.binomial(2, p_a, (n_per, m)), rng.binomial(2, p_b, (n_per, m))]).astype(np.float32)
    g[rng.random(g.shape) < 0.01] = np.nan  # a few missing genotypes
    return g, np.repeat([0, 1], n_per)


def test_genotype_pcs_separate_two_populations():
    g, group = _two_populations()
    scores, evr = genotype_pcs(g, n_components=5, seed=0)
    assert scores.shape == (80, 5) and len(evr) == 5
    pc1 = scores[:, 0]
    # every sample of one population on one side of 0, the other on the other side
    assert len(set(np.sign(pc1[group == 0]))) == 1 and len(set(np.sign(pc1[group == 1]))) == 1
    assert np.sign(pc1[group == 0][0]) != np.sign(pc1[group == 1][0])
    assert evr[0] > 2 * evr[1]  # the population split dominates


def test_genotype_pcs_single_population_has_no_dominant_pc():
    rng = np.random.default_rng(1)
    g = rng.binomial(2, rng.uniform(0.1, 0.9, 300), (80, 300)).astype(np.float32)
    _, evr = genotype_pcs(g, n_components=5, seed=0)
    assert evr[0] < 1.5 * evr[1]


def test_genotype_pcs_components_capped():
    g, _ = _two_populations(n_per=3, m=50)
    scores, _ = genotype_pcs(g, n_components=10)
    assert scores.shape == (6, 5)  # k = min(10, n - 1 = 5, m = 50)


@pytest.mark.parametrize("shape", [(1, 20), (20, 0)])
def test_genotype_pcs_too_small(shape):
    with pytest.raises(GenotypeError) as e:
        genotype_pcs(np.zeros(shape, dtype=np.float32))
    assert str(e.value) == (
        f"too few samples ({shape[0]}) or common SNPs ({shape[1]}) for genotype principal components"
    )


def test_map_samples_without_map():
    kept, unmapped = map_samples(["P1", "P2", "X9"], None, {"P1", "P2", "P3"})
    assert kept == {"P1": "P1", "P2": "P2"}
    assert unmapped == ["X9"]


def test_map_samples_with_map():
    smap = pd.DataFrame({"sample_id": ["S1", "S2", "S3"], "patient_id": ["P1", "P2", "P7"]})
    kept, unmapped = map_samples(["S1", "S2", "S3", "S4"], smap, {"P1", "P2"})
    # S3 maps to a patient outside the cohort, S4 is not in the map
    assert kept == {"S1": "P1", "S2": "P2"}
    assert unmapped == ["S3", "S4"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("g"), n=30, seed=3, n_snps=60)


def test_genotype_stage(cohort):
    smap = pd.read_csv(cohort["sample_map"], sep="\t").iloc[:25]  # 5 samples left unmapped
    pids = set(smap["patient_id"])
    res = genotype_stage(cohort["vcf"], patient_ids=pids, sample_map=smap, n_components=3, seed=0)
    s = res["summary"]
    assert (s["samples"], s["samples_used"], s["n_samples_not_in_cohort"]) == (30, 25, 5)
    assert s["samples_not_in_cohort"] == [f"S{i:05d}" for i in range(26, 31)]
    assert res["pcs"]["patient_id"].tolist() == sorted(pids)
    assert list(res["pcs"].columns) == ["patient_id", "pc1", "pc2", "pc3"]
    # the CYP2C19 and CYP2B6 regions are left out of the PCs and read for the caller instead
    assert s["common_snps"] <= 60
    g = res["pgx_genotypes"]
    assert list(g.columns) == PGX_COLUMNS
    assert g["patient_id"].nunique() == 25 and len(g) == 25 * (35 + 48)
    assert g.groupby("gene").size().to_dict() == {"CYP2B6": 25 * 48, "CYP2C19": 25 * 35}
    # the simulated VCF has no CYP2B6 records (its header lists chr19): every CYP2B6 position is
    # missing, never read as reference
    assert set(g.loc[g["gene"] == "CYP2B6", "gt_status"]) == {"absent"}
    assert "pgx_genes_not_in_vcf" not in s


def test_genotype_stage_grch37_skips_pgx(cohort):
    res = genotype_stage(cohort["vcf"], patient_ids={f"S{i:05d}" for i in range(1, 31)}, genome_build="GRCh37")
    assert len(res["pgx_genotypes"]) == 0
    assert res["summary"]["pgx_skipped"].startswith(
        "genome_build is GRCh37; CYP2C19 and CYP2B6 calling from VCF needs GRCh38"
    )


def test_genotype_stage_no_sample_maps(cohort):
    with pytest.raises(GenotypeError) as e:
        genotype_stage(cohort["vcf"], patient_ids={"P00001"})
    assert str(e.value) == (
        f"{cohort['vcf']}: none of its 30 samples maps to a patient (first sample: S00001); "
        "give inputs.genotypes.sample_map"
    )
