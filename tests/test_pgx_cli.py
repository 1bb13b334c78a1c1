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
    return subprocess.run([sys.executable, "-m", "stratify.cli", *args], capture_output=True, text=True,
                          timeout=120)


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
    res = _run("pgx", "call", "--gene", "CYP2C19", "--vcf", str(MERGED), "--out", "-", "--sample", "s2s2",
               "--sample", "s1s2")
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
