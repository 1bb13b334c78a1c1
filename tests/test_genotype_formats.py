"""The genotype stage on each input format: the same cohort as a VCF, a PLINK 2 pgen and a BGEN gives
the same PCs, polygenic scores and pharmacogene genotypes, sharded or not.

The data are not simulated: the hand-written cohort (tests/data/handwritten, a GATK-style
GT:AD:DP:GQ VCF of 44 samples) and a scoring file written here from its variants. The pgen is
written with pgenlib's own writer (no plink2 needed); the BGEN tests need plink2 to write one and
skip without it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from stratify.errors import ConfigError, GenotypeError
from stratify.genotypes.records import GenotypeInput, plan_input_shards
from stratify.genotypes.shards import fit_pca, genotype_stage, load_scores, make_plan, merge, run_shard
from stratify.genotypes.vcfscan import scan
from stratify.simulate.cohort import write_vcf

HAND = Path(__file__).parent / "data" / "handwritten"
needs_plink2 = pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed (Debian package plink2)")


def _records(vcf) -> list:
    return list(scan(vcf, None, dosages=False))


def write_pgen(prefix: Path, samples: list[str], recs: list, dosages: np.ndarray | None = None) -> Path:
    """A PLINK 2 fileset from VCF records (hard calls; ``dosages`` variants x samples if given)."""
    import pgenlib

    prefix.with_suffix(".psam").write_text("#IID\n" + "".join(f"{s}\n" for s in samples))
    prefix.with_suffix(".pvar").write_text(
        "#CHROM\tPOS\tID\tREF\tALT\n" + "".join(f"{r.chrom}\t{r.pos}\t{r.id}\t{r.ref}\t{r.alt}\n" for r in recs)
    )
    w = pgenlib.PgenWriter(
        bytes(prefix.with_suffix(".pgen")),
        len(samples),
        variant_ct=len(recs),
        nonref_flags=False,
        dosage_present=dosages is not None,
    )
    for i, r in enumerate(recs):
        if dosages is None:
            w.append_biallelic(np.where(r.dosage < 0, -9, r.dosage).astype(np.int8))
        else:
            w.append_dosages(np.where(np.isnan(dosages[i]), -9, dosages[i]).astype(np.float32))
    w.close()
    return prefix


def _scoring_file(path: Path, recs: list) -> Path:
    """40 of the VCF's SNPs outside the pharmacogenes, every other one with the effect allele REF and
    every fourth on the other strand; one allele mismatch and one position not in the file."""
    snps = [r for r in recs if len(r.ref) == 1 and len(r.alt) == 1 and r.chrom not in ("chr10", "chr19")][:40]
    rows = []
    comp = str.maketrans("ACGT", "TGCA")
    for k, r in enumerate(snps):
        eff, oth = (r.alt, r.ref) if k % 2 else (r.ref, r.alt)
        if k % 4 == 3:  # given on the other strand
            eff, oth = eff.translate(comp), oth.translate(comp)
        rows.append((r.chrom.removeprefix("chr"), r.pos, eff, oth, round(0.01 * (k + 1) * (-1) ** k, 4)))
    r0 = snps[0]
    rows.append((r0.chrom.removeprefix("chr"), r0.pos + 1, "A", "C", 0.5))  # not in the file
    r1 = snps[1]
    rows.append((r1.chrom.removeprefix("chr"), r1.pos, r1.ref + "TT", r1.ref, 0.7))  # an indel where the file has a SNP
    body = "".join(f"{c}\t{p}\t{e}\t{o}\t{w}\t{c}\t{p}\n" for c, p, e, o, w in rows)
    path.write_text(
        "#pgs_id=PGS_HAND\n#genome_build=GRCh38\n#HmPOS_build=GRCh38\n"
        "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n" + body
    )
    return path


@pytest.fixture(scope="module")
def fileset(tmp_path_factory):
    d = tmp_path_factory.mktemp("formats")
    vcf = HAND / "genotypes.vcf.gz"
    recs = _records(vcf)
    from stratify.genotypes.vcfscan import header_samples

    samples = header_samples(vcf)
    rng = np.random.default_rng(3)
    calls = np.stack([r.dosage for r in recs]).astype(np.float64)
    # imputed-style dosages near the calls (within plink2's hard-call threshold, 0.1, so that every format's
    # hard calls are the VCF's), on the pgen's 1/16384 grid so that the files hold the same values
    ds = np.clip(calls + rng.uniform(-0.08, 0.08, calls.shape), 0, 2)
    ds = np.where(calls < 0, np.nan, np.round(ds * 16384) / 16384)
    out = {
        "dir": d,
        "samples": samples,
        "recs": recs,
        "vcf": vcf,
        "pgen": write_pgen(d / "gt", samples, recs),
        "pgen_ds": write_pgen(d / "ds", samples, recs, ds),
        "vcf_ds": _write_ds_vcf(d / "ds.vcf.gz", samples, recs, ds),
        "pgs": _scoring_file(d / "PGS_HAND.txt", recs),
        "smap": pd.read_csv(HAND / "sample_map.tsv", sep="\t", dtype=str),
        "patients": set(pd.read_csv(HAND / "patients.tsv", sep="\t", dtype=str)["patient_id"]),
    }
    if shutil.which("plink2"):
        subprocess.run(
            ["plink2", "--pfile", str(d / "ds"), "--export", "bgen-1.2", "bits=16", "ref-first"]
            + ["--out", str(d / "b16"), "--threads", "1", "--memory", "1000"],
            check=True,
            capture_output=True,
        )
        out["bgen"] = d / "b16.bgen"
    return out


def _write_ds_vcf(path: Path, samples, recs, ds) -> Path:
    lines = []
    for r, d in zip(recs, ds):
        gts = ["./.:." if np.isnan(x) else f"{['0/0', '0/1', '1/1'][int(g)]}:{x:.10g}" for g, x in zip(r.dosage, d)]
        lines.append(
            (r.chrom, r.pos, "\t".join([r.chrom, str(r.pos), r.id, r.ref, r.alt, ".", "PASS", ".", "GT:DS", *gts]))
        )
    return write_vcf(path, samples, lines)


def _stage(inp, fs, **cfg):
    return genotype_stage(
        inp,
        patient_ids=fs["patients"],
        sample_map=fs["smap"],
        cfg={"pca": {"n_components": 3}, **cfg},
        pgs=[str(fs["pgs"])],
        seed=1,
    )


def _same(a: dict, b: dict, *, atol: float = 1e-10) -> None:
    for k in ("pcs", "prs"):
        pd.testing.assert_frame_equal(a[k], b[k], check_exact=False, atol=atol, rtol=0)
    key = ["patient_id", "gene", "pos"]
    pd.testing.assert_frame_equal(
        a["pgx_genotypes"].sort_values(key, kind="stable").reset_index(drop=True),
        b["pgx_genotypes"].sort_values(key, kind="stable").reset_index(drop=True),
    )
    pd.testing.assert_frame_equal(a["prs_report"].drop(columns="file"), b["prs_report"].drop(columns="file"))


def test_pgen_gives_what_the_vcf_gives(fileset):
    via_vcf = _stage(fileset["vcf"], fileset)
    via_pgen = _stage(GenotypeInput("pgen", str(fileset["pgen"])), fileset)
    rep = via_vcf["prs_report"].iloc[0]
    snps = pd.read_csv(fileset["pgs"], sep="\t", comment="#").iloc[:40]
    palindromic = {frozenset("AT"), frozenset("CG")}
    amb = snps.apply(lambda r: frozenset((r.effect_allele, r.other_allele)) in palindromic, axis=1)
    flipped = (snps.index % 4 == 3) & ~amb
    # the 40 SNPs are used but the strand-ambiguous ones; the mismatch and the absent position are not
    assert (rep["used"], rep["matched_flipped"]) == (40 - amb.sum(), flipped.sum()), rep.to_dict()
    assert rep["used"] > 20 and rep["matched_flipped"] > 3
    assert via_vcf["pcs"].shape == (42, 4) and via_vcf["pgx_genotypes"]["gt_status"].eq("called").any()
    _same(via_vcf, via_pgen)
    assert via_pgen["summary"]["genotypes_format"] == "pgen"


def test_imputed_dosages_are_scored_from_vcf_ds_and_from_the_pgen_dosage_track(fileset):
    via_vcf = _stage(fileset["vcf_ds"], fileset)
    via_pgen = _stage(GenotypeInput("pgen", str(fileset["pgen_ds"])), fileset)
    hard = _stage(fileset["vcf"], fileset)
    col = "prs_PGS_HAND"
    np.testing.assert_allclose(via_pgen["prs"][col], via_vcf["prs"][col], rtol=0, atol=1e-6)
    # the dosages moved the scores away from the hard calls' (so DS was read, not GT)
    assert np.abs(via_vcf["prs"][col] - hard["prs"][col]).max() > 0.01
    # PCs and pharmacogene genotypes use hard calls in every format
    pd.testing.assert_frame_equal(via_pgen["pcs"], hard["pcs"], check_exact=False, atol=1e-10, rtol=0)


@needs_plink2
def test_bgen_gives_what_the_pgen_gives(fileset):
    via_pgen = _stage(GenotypeInput("pgen", str(fileset["pgen_ds"])), fileset)
    via_bgen = _stage(GenotypeInput("bgen", str(fileset["bgen"]), str(fileset["bgen"].with_suffix(".sample"))), fileset)
    # BGEN 16-bit probabilities: dosages to 2/65535 per variant
    _same(via_pgen, via_bgen, atol=1e-3)


def test_sharded_steps_give_the_one_pass_result(fileset):
    inp = GenotypeInput("pgen", str(fileset["pgen"]))
    whole = _stage(inp, fileset)
    cfg = {"pca": {"n_components": 3}, "shard_mb": 0.0005, "sample_chunk": 10}
    plan = make_plan(inp, patient_ids=fileset["patients"], sample_map=fileset["smap"], cfg=_settings(cfg), seed=1)
    assert len(plan["shards"]) > 3 and len(plan["chunks"]) == 5
    pca = fit_pca(plan, seed=1)
    scores = load_scores([str(fileset["pgs"])], genome_build="GRCh38")
    kw = {"sample_map": fileset["smap"], "patient_ids": fileset["patients"]}
    res = merge(plan, pca, {j: run_shard(plan, j, pca, scores, **kw) for j in plan["jobs"]}, scores, **kw)
    _same(whole, res)


def _settings(cfg):
    from stratify.genotypes.shards import settings

    return settings({"genotypes": cfg})


def test_shards_never_split_a_position(tmp_path, fileset):
    recs = fileset["recs"][:30]
    # the same position three times (a split multi-allelic site) in the middle
    dup = [recs[10], recs[10], recs[10]]
    prefix = write_pgen(tmp_path / "dup", fileset["samples"], recs[:10] + dup + recs[11:])
    shards = plan_input_shards(GenotypeInput("pgen", str(prefix)), target_bytes=1)
    runs = [tuple(s["variants"]) for s in shards]
    assert runs[0][0] == 0 and runs[-1][1] == 32 and all(a[1] == b[0] for a, b in zip(runs, runs[1:]))
    assert (10, 13) in runs  # the three records of one position stay together


def test_unsorted_variants_are_refused_with_the_fix(tmp_path, fileset):
    recs = fileset["recs"][:5]
    prefix = write_pgen(tmp_path / "unsorted", fileset["samples"], [recs[1], recs[0], *recs[2:]])
    with pytest.raises(GenotypeError, match=r"unsorted.pgen: variant 2 .* comes after .*plink2 .*--sort-vars"):
        plan_input_shards(GenotypeInput("pgen", str(prefix)), target_bytes=1 << 20)


def _config(tmp_path, genotypes: dict) -> Path:
    cfg = yaml.safe_load((HAND / "config.yaml").read_text())
    for k in ("patients", "symptoms", "treatments", "biomarkers"):
        if k in cfg["inputs"]:
            cfg["inputs"][k] = str(HAND / cfg["inputs"][k])
    cfg["inputs"]["star_alleles"] = [
        {k: str(HAND / v) if k in ("path", "sample_map") else v for k, v in s.items()}
        for s in cfg["inputs"].get("star_alleles", [])
    ]
    cfg["inputs"]["genotypes"] = {**genotypes, "sample_map": str(HAND / "sample_map.tsv")}
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_config_takes_exactly_one_genotype_file(tmp_path, fileset):
    from stratify.config import cohort_inputs, load_config

    cfg = load_config(_config(tmp_path, {"pgen": str(fileset["pgen"])}))
    files = cohort_inputs(cfg)
    assert [files[k] for k in ("pgen", "pvar", "psam")] == [f"{fileset['pgen']}.{e}" for e in ("pgen", "pvar", "psam")]
    with pytest.raises(
        ConfigError, match="inputs.genotypes: gives vcf and pgen; expected exactly one of vcf, pgen, bgen"
    ):
        load_config(_config(tmp_path, {"vcf": str(fileset["vcf"]), "pgen": str(fileset["pgen"])}))
    with pytest.raises(ConfigError, match="inputs.genotypes: names no file; expected exactly one of vcf, pgen, bgen"):
        load_config(_config(tmp_path, {}))
    (tmp_path / "lonely.pgen").write_bytes(Path(f"{fileset['pgen']}.pgen").read_bytes())
    with pytest.raises(ConfigError, match=r"inputs.genotypes.pgen: file not found: .*lonely.pvar \(a PLINK 2 fileset"):
        load_config(_config(tmp_path, {"pgen": str(tmp_path / "lonely")}))


def test_stage_cli_reads_a_pgen_cohort(tmp_path, fileset):
    """The stage's command line on a pgen cohort config (validate, then the genotype steps)."""
    import sys

    cfg = _config(tmp_path, {"pgen": str(fileset["pgen"]), "pgs": [str(fileset["pgs"])]})
    res = tmp_path / "results"
    for cmd in (["validate"], ["genotypes"]):
        run = subprocess.run(
            [sys.executable, "-m", "stratify.cli", *cmd, "--config", str(cfg), "--results", str(res), "--quiet"],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
    prs = pd.read_parquet(res / "genotypes" / "prs.parquet")
    used = pd.read_csv(res / "genotypes" / "prs_report.tsv", sep="\t", comment="#")["used"].iloc[0]
    assert prs.shape == (42, 5) and prs["prs_PGS_HAND_allele_ct"].max() == 2 * used > 40
    import json

    manifest = json.loads((res / "validate" / "manifest.json").read_text())
    assert {"genotypes.pgen", "genotypes.pvar", "genotypes.psam"} <= set(manifest["inputs"])


def test_a_truncated_pgen_is_named_at_validate(tmp_path, fileset):
    from stratify.genotypes.records import check_readable

    for ext in ("pvar", "psam"):
        shutil.copy(f"{fileset['pgen']}.{ext}", tmp_path / f"cut.{ext}")
    data = Path(f"{fileset['pgen']}.pgen").read_bytes()
    (tmp_path / "cut.pgen").write_bytes(data[: len(data) // 2])
    with pytest.raises(GenotypeError, match=r"cut.pgen: variants 1 to \d+ cannot be read .*truncated or corrupt"):
        check_readable(GenotypeInput("pgen", str(tmp_path / "cut")))


def test_a_shard_job_reads_only_its_variants(fileset):
    """A pgen without multi-allelic variants: a shard's source parses only its .pvar lines and reads
    the same genotypes as the whole file's source."""
    from stratify.genotypes.sources import PgenSource, read_pvar

    whole = PgenSource(fileset["pgen"])
    part = PgenSource(fileset["pgen"], variant_range=(50, 90))
    pd.testing.assert_frame_equal(part.variants(), whole.variants().iloc[50:90].reset_index(drop=True))
    cols = np.arange(5, 25)
    for dosage in (False, True):
        np.testing.assert_array_equal(
            part.read(np.arange(40), cols, dosage=dosage), whole.read(np.arange(50, 90), cols, dosage=dosage)
        )
    assert len(read_pvar(f"{fileset['pgen']}.pvar", rows=(230, 300))) == len(whole.variants()) - 230
    with pytest.raises(GenotypeError, match="asked for, but the .pgen has"):
        PgenSource(fileset["pgen"], variant_range=(200, 300))
    plan = make_plan(
        GenotypeInput("pgen", str(fileset["pgen"])), patient_ids=fileset["patients"], sample_map=fileset["smap"]
    )
    assert plan["multiallelic"] is False and "chr10" in plan["contigs"]
