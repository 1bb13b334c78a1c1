"""`stratify pgx call`: the standalone CYP2C19 caller on real fixtures, through the CLI."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd

from stratify.cli import main

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pgx"
MERGED = SHARED / "pharmcat" / "tests" / "cyp2c19" / "merged_fixtures.GRCh38.vcf.gz"
DATA = Path(__file__).resolve().parent / "data" / "pgx"


def _run(*args):
    return subprocess.run([sys.executable, "-m", "stratify.cli", *args], capture_output=True, text=True, timeout=120)


def test_calls_every_sample_with_the_required_columns(tmp_path):
    out = tmp_path / "calls.tsv"
    assert main(["pgx", "call", "--gene", "CYP2C19", "--vcf", str(MERGED), "--out", str(out)]) == 0
    calls = pd.read_csv(out, sep="\t", keep_default_na=False).set_index("sample")
    assert {"sample", "gene", "diplotype", "phenotype", "status", "missing_positions"} <= set(calls.reset_index())
    assert len(calls) == 27 and set(calls["gene"]) == {"CYP2C19"}
    # fixtures named for their content (PharmCAT's tests assert these calls)
    # s2s2 lacks the rs12769205 record, a ./. row in the merged file: a failed genotype at a
    # defining position is never called over (issue 8), the lone match is named
    assert calls.loc["s2s2", ["diplotype", "status"]].tolist() == ["", "no-call"]
    assert "only *2/*2 matches the other positions" in calls.loc["s2s2", "genotype_flags"]
    assert calls.loc["s1s2", "diplotype"] == "*1/*2"
    # a fixture with a missing position reports it and keeps every candidate
    row = calls.loc["s4bs17rs28399504missing"]
    assert "rs28399504" in row["missing_positions"].split(";")
    assert row["status"] == "ambiguous" and row["alternatives"] != ""
    assert set(calls["status"]) <= {"called", "ambiguous", "no-call"}
    assert (calls.loc[calls["status"] == "no-call", "diplotype"] == "").all()


def test_standard_output_and_sample_selection():
    res = _run(
        "pgx", "call", "--gene", "CYP2C19", "--vcf", str(MERGED), "--out", "-", "--sample", "s2s2", "--sample", "s1s2"
    )
    assert res.returncode == 0, res.stderr
    calls = pd.read_csv(io.StringIO(res.stdout), sep="\t", keep_default_na=False)
    assert calls["sample"].tolist() == ["s2s2", "s1s2"]


def test_sample_missing_from_the_vcf_is_an_error():
    res = _run("pgx", "call", "--gene", "CYP2C19", "--vcf", str(MERGED), "--out", "-", "--sample", "NA99999")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == f"stratify: error: {MERGED}: sample(s) not in the VCF: NA99999"


def test_grch37_input_is_refused_with_what_to_do():
    vcf = DATA / "cyp2c19_grch37.vcf"
    res = _run("pgx", "call", "--gene", "CYP2C19", "--vcf", str(vcf), "--out", "-")
    assert res.returncode == 2
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith(f"stratify: error: {vcf}: the header says GRCh37/hg19") and "Lift the VCF over" in line


def test_unwritable_output_is_a_named_error_not_a_traceback(tmp_path, capsys):
    vcf = DATA / "cyp2c19_edgecases.nochr.vcf"
    for out in (tmp_path / "no" / "such" / "folder" / "calls.tsv", tmp_path):
        assert main(["pgx", "call", "--gene", "CYP2C19", "--vcf", str(vcf), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith(f"stratify: error: {out}: cannot write the calls TSV") and "or - for standard" in err


def test_pgx_run_with_a_malformed_call_file_is_a_named_error(tmp_path):
    """The pipeline stage: a star-allele file with a malformed diplotype exits 2 with one line."""
    from stratify.simulate.cohort import write_cohort

    paths = write_cohort(tmp_path / "c", n=20, seed=1, n_snps=200, genotypes=False)
    import yaml

    cfg = yaml.safe_load(Path(paths["config"]).read_text())
    calls = tmp_path / "calls.tsv"
    pid = pd.read_csv(cfg["inputs"]["patients"], sep="\t")["patient_id"].iloc[0]
    calls.write_text(f"sample\tgene\tdiplotype\n{pid}\tCYP2D6\t*1-*2\n")
    cfg["inputs"]["star_alleles"] = [{"path": str(calls), "tool": "plain"}]
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    results = tmp_path / "results"
    for stage in ("validate", "genotypes"):
        assert main([stage, "--config", str(cfg_path), "--results", str(results), "--quiet"]) == 0
    res = _run("pgx", "run", "--config", str(cfg_path), "--results", str(results))
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        f"stratify: error: {calls}, line 2, column 'diplotype': CYP2D6 diplotype '*1-*2' is malformed (one "
        "haplotype only; the haplotypes are separated by '/', not '-'); expected two haplotypes joined by one '/', "
        "each a star allele or '+'-joined star alleles, like '*1/*4', '*1x2/*4' or '*36+*10/*4'"
    )
