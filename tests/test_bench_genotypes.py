"""bench/genotypes.py's pgen/BGEN parts (bench/genotypes_formats.py): the scaling fits and the
extrapolation on known numbers, and a tiny run of the scores, pca and memory parts against plink2."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import genotypes as GB  # noqa: E402  (bench/genotypes.py)
import genotypes_formats as F  # noqa: E402

needs_tools = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("plink2", "bcftools", "bgzip", "tabix")),
    reason="plink2, bcftools, bgzip and tabix are needed (Debian packages plink2, bcftools, tabix)",
)


def _points() -> pd.DataFrame:
    """Shard-job and PCA-pass points made from known linear models (no noise)."""
    rows = []
    grid = [(2000, 2000, 4000, 4000), (4000, 2000, 4000, 4000), (8000, 2000, 4000, 4000), (8000, 4000, 4000, 4000)]
    grid += [
        (2000, 2000, 20000, 20000),
        (2000, 1000, 20000, 20000),
        (2000, 2000, 20000, 4000),
        (2000, 1000, 20000, 4000),
    ]
    for n, c, v, sv in grid:
        for fmt in ("vcf", "pgen"):
            k = 2.0 if fmt == "pgen" else 1.0
            rows.append(
                {
                    "test": "shard_job",
                    "format": fmt,
                    "samples": n,
                    "chunk": c,
                    "variants": v,
                    "score_variants": sv,
                    "region_score": sv,
                    "file_bytes": 1.5 * n * v,
                    "import_s": 0.7,
                    "seconds": 0.1 + k * 3e-8 * sv * c + 1e-9 * v * n,
                    "open_s": 0.05 + 2e-6 * v + 1e-5 * sv,
                    "peak_rss_mib": 110 + 0.01 * c + 0.0005 * v + 0.002 * sv,
                }
            )
            rows.append(
                {
                    "test": "pca_pass",
                    "format": fmt,
                    "samples": n,
                    "chunk": c // 2,
                    "variants": v,
                    "seconds": 0.2 + 5e-8 * v * n + 1e-7 * v * (c // 2),
                    "peak_rss_mib": 120 + 0.05 * (c // 2),
                }
            )
    return pd.DataFrame(rows)


def test_fit_recovers_linear_models_and_predicts():
    pts = _points()
    fits = pd.DataFrame(F.fit(pts))
    assert set(fits["test"]) == {"fit_shard_job", "fit_pca_pass"}
    assert (fits["max_rel_residual"] < 1e-6).all()
    coef = json.loads(
        fits[(fits["test"] == "fit_shard_job") & (fits["format"] == "pgen") & (fits["tool"] == "seconds")]["coef"].iloc[
            0
        ]
    )
    want = {"1": 0.1, "region_score*chunk": 6e-8, "region_score*samples": 0.0, "variants*samples": 1e-9}
    assert coef == pytest.approx(want, rel=1e-6, abs=1e-15)
    at = {"chunk": 50_000, "region_score": 1000, "variants": 10_000_000, "score_variants": 1_000_000}
    got = F.predict(fits, "shard_job", "vcf", "peak_rss_mib", **at)
    assert got == pytest.approx(110 + 500 + 5000 + 2000, rel=1e-6)


def test_extrapolation_counts_jobs_and_hours():
    pts = _points()
    fits = pd.DataFrame(F.fit(pts))
    args = GB.parse_args(
        ["--target-samples", "100000", "--target-variants", "1000000", "--target-score-variants", "200000"]
        + ["--extrap-shard-mb", "64"]
    )
    ext = pd.DataFrame(F.extrapolate(pts, fits, args))
    assert list(ext["format"]) == ["vcf", "pgen"]
    r = ext.iloc[0]
    vs = int(64 * 2**20 / (1.5 * 100_000))  # 1.5 bytes per genotype
    assert r["variants_per_shard"] == vs
    assert r["jobs"] == int(np.ceil(1_000_000 / vs)) * 2  # 100,000 samples in chunks of 50,000
    svs = 200_000 * vs / 1_000_000  # the score's variants in one region
    # a VCF job opens its region only (a BGEN job would read the whole index)
    job = 0.7 + (0.05 + 2e-6 * vs + 1e-5 * 2e5) + (0.1 + 3e-8 * svs * 50_000 + 1e-9 * vs * 100_000)
    assert r["job_seconds"] == pytest.approx(job, rel=1e-6)
    pca = 0.2 + 5e-8 * 1e6 * 1e5 + 1e-7 * 1e6 * 5000
    assert r["stage_cpu_hours"] == pytest.approx((r["jobs"] * job + pca) / 3600, rel=1e-6)
    assert r["stage_wall_hours"] == pytest.approx((pca + r["jobs"] * job / 100) / 3600, rel=1e-6)


def test_bad_parts_and_formats_are_named():
    with pytest.raises(SystemExit):
        GB.parse_args(["--parts", "scores,speed"])
    with pytest.raises(SystemExit):
        GB.parse_args(["--formats", "vcf,plink1"])


@needs_tools
def test_tiny_run_of_the_format_parts(tmp_path):
    """scores (pgen, BGEN), pca and memory on tiny files: plink2's numbers reproduced, TSVs and the section written."""
    md = GB.main(
        [
            "--parts", "scores,pca,memory",
            "--formats", "vcf,pgen,bgen",
            "--repeats", "1",
            "--layout-samples", "60",
            "--layout-variants", "400",
            "--pca-samples", "80",
            "--pca-variants", "600",
            "--mem-samples", "60",
            "--mem-variants", "300",
            "--chunk", "30",
            "--work", str(tmp_path / "work"),
            "--tsv-dir", str(tmp_path),
            "--no-doc",
        ]
    )  # fmt: skip
    f = pd.read_csv(tmp_path / "genotypes_formats.tsv", sep="\t")
    par = f[f["test"] == "parity"]
    assert len(par) == 4  # GATK and DS layouts x pgen and BGEN
    assert par["within_bound"].all() and par["allele_ct_equal"].all()
    assert par.loc[par["format"] == "pgen", "within_printed"].all()
    assert f.loc[f["test"] == "ld_prune", "same_prune_in"].all()
    assert (f.loc[f["test"] == "pca", "max_rel_eigenvalue_diff"] < 5e-6).all()
    s = pd.read_csv(tmp_path / "genotypes_scaling.tsv", sep="\t")
    jobs = s[s["test"] == "shard_job"]
    assert sorted(jobs["format"].unique()) == ["bgen", "pgen", "vcf"] and set(jobs["samples"]) == {60, 120}
    assert (jobs["peak_rss_mib"] > 50).all() and (jobs["load1"] >= 0).all()
    assert "### Polygenic scores from PLINK 2 .pgen and BGEN" in md and "### LD pruning and PCA" in md
    parity = [ln for ln in md.splitlines() if "scores equal to plink2's" in ln or "the same .prune.in" in ln]
    assert len(parity) == 5 and all(ln.endswith("| holds |") for ln in parity)
