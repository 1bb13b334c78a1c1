"""Tests for stratify.pgx.callers: reading star-allele caller outputs."""

from __future__ import annotations

import doctest
import math
from pathlib import Path

import pytest

import stratify.pgx.callers as callers_mod
from stratify.errors import PgxError
from stratify.pgx import SUPPORTED_TOOLS, read_calls

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "pgx"
SHARED = REPO.parent / "shared" / "data" / "pgx"
COLUMNS = ["sample", "gene", "diplotype", "haplotype1", "haplotype2", "copy_number", "source_tool", "status",
           "alternatives", "note"]


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_supported_tools():
    assert SUPPORTED_TOOLS == ("cyrius", "pharmcat_outside", "plain")


# --------------------------------------------------------------------------- Cyrius

CYRIUS_EXPECTED = {
    # sample: (diplotype, h1, h2, copy_number, status, alternatives, note contains)
    "SAMPLE01": ("*1/*2", "*1", "*2", 2, "called", "", ""),
    "SAMPLE02": ("*1/*4", "*1", "*4", 2, "called", "", ""),  # Cyrius wrote *4/*1
    "SAMPLE03": ("*3/*68+*4", "*3", "*68+*4", 3, "called", "", ""),
    "SAMPLE04": ("*2x2/*4", "*2x2", "*4", 3, "called", "", ""),
    "SAMPLE05": ("*10/*36+*10", "*10", "*36+*10", 3, "called", "", ""),
    "SAMPLE06": ("*5/*41", "*5", "*41", 1, "called", "", ""),  # *5 is the deletion
    "SAMPLE07": ("*1/*46", "*1", "*46", 2, "ambiguous", "*43/*45", ""),
    "SAMPLE08": ("*1+*2/*68", "*1+*2", "*68", 3, "ambiguous", "*1/*2+*68;*1+*68/*2",
                 "Not_assigned_to_haplotypes: *1_*2_*68"),
    "SAMPLE09": ("*1/*1x3", "*1", "*1x3", 4, "ambiguous", "*1x2/*1x2", "Not_assigned_to_haplotypes: *1x4"),
    "SAMPLE10": ("*2x5/*41", "*2x5", "*41", 6, "called", "", "LowQ_high_CN"),
    "SAMPLE11": ("", "", "", math.nan, "no-call", "", ""),
}


def test_cyrius_fixture():
    out = read_calls(DATA / "cyrius_calls.tsv", "cyrius")
    assert list(out.columns) == COLUMNS
    assert out["sample"].tolist() == list(CYRIUS_EXPECTED)
    assert (out["gene"] == "CYP2D6").all() and (out["source_tool"] == "cyrius").all()
    assert out["copy_number"].dtype == float
    for row in out.itertuples():
        dip, h1, h2, cn, status, alts, note = CYRIUS_EXPECTED[row.sample]
        assert (row.diplotype, row.haplotype1, row.haplotype2, row.status, row.alternatives) == (
            dip, h1, h2, status, alts), row.sample
        assert (math.isnan(cn) and math.isnan(row.copy_number)) or row.copy_number == cn, row.sample
        assert note in row.note and (note or row.note == ""), row.sample


def test_cyrius_gene_filter():
    assert len(read_calls(DATA / "cyrius_calls.tsv", "cyrius", gene="CYP2D6")) == 11
    with pytest.raises(PgxError, match="Cyrius calls only CYP2D6, not CYP2C19"):
        read_calls(DATA / "cyrius_calls.tsv", "cyrius", gene="CYP2C19")


def test_cyrius_unassignable_call_is_no_call_with_raw_text(tmp_path):
    p = _write(tmp_path, "c.tsv", "Sample\tGenotype\tFilter\nS\t*1xN\tNot_assigned_to_haplotypes\n")
    row = read_calls(p, "cyrius").iloc[0]
    assert (row.status, row.diplotype) == ("no-call", "")
    assert "*1xN" in row.note


def test_cyrius_bad_header(tmp_path):
    p = _write(tmp_path, "c.tsv", "sample\tgenotype\nS\t*1/*1\n")
    with pytest.raises(PgxError, match=r"c.tsv, line 1: expected the Cyrius header 'Sample<TAB>Genotype<TAB>Filter'"):
        read_calls(p, "cyrius")


def test_cyrius_empty_file(tmp_path):
    with pytest.raises(PgxError, match="empty file; expected a Cyrius TSV"):
        read_calls(_write(tmp_path, "c.tsv", ""), "cyrius")


def test_cyrius_wrong_field_count(tmp_path):
    p = _write(tmp_path, "c.tsv", "Sample\tGenotype\tFilter\nS1\t*1/*1\tPASS\nS2\t*1/*2\n")
    with pytest.raises(PgxError, match=r"c.tsv, line 3: expected 3 tab-separated fields .* found 2"):
        read_calls(p, "cyrius")


def test_cyrius_unknown_filter(tmp_path):
    p = _write(tmp_path, "c.tsv", "Sample\tGenotype\tFilter\nS1\t*1/*1\tMaybe\n")
    with pytest.raises(PgxError, match=r"c.tsv, line 2, column 'Filter': 'Maybe'; expected one of PASS, "):
        read_calls(p, "cyrius")


def test_cyrius_malformed_diplotype(tmp_path):
    p = _write(tmp_path, "c.tsv", "Sample\tGenotype\tFilter\nS1\t*1/\tPASS\n")
    with pytest.raises(PgxError, match=r"c.tsv, line 2, column 'diplotype': '\*1/' is not a diplotype"):
        read_calls(p, "cyrius")


# --------------------------------------------------------------------------- PharmCAT outside call


def test_pharmcat_example_outside_call():
    out = read_calls(SHARED / "pharmcat" / "examples" / "pharmcat.example.outsideCall.tsv", "pharmcat_outside")
    assert out["gene"].tolist() == ["CYP2D6", "HLA-B", "MT-RNR1"]
    assert (out["sample"] == "pharmcat.example.outsideCall").all()
    cyp = out.iloc[0]
    assert (cyp.diplotype, cyp.haplotype1, cyp.haplotype2, cyp.status, cyp.copy_number) == (
        "*1/*3", "*1", "*3", "called", 2.0)
    assert out.iloc[1].diplotype == "*15:02/*57:01" and math.isnan(out.iloc[1].copy_number)
    assert (out.iloc[2].diplotype, out.iloc[2].haplotype1, out.iloc[2].haplotype2) == ("1555A>G", "1555A>G", "")
    # PharmCAT's golden report for this example: CYP2D6 *1/*3 from the outside call
    assert "CYP2D6\t*1/*3\t" in (SHARED / "pharmcat" / "examples" / "pharmcat.example.report.tsv").read_text()


def test_pharmcat_golden_gene_prefixed_alleles():
    out = read_calls(SHARED / "pharmcat" / "tests" / "golden" / "PharmCATTest-cyp2d6.tsv", "pharmcat_outside",
                     sample="P1")
    assert out[["sample", "gene", "diplotype", "status"]].values.tolist() == [["P1", "CYP2D6", "*3/*4", "called"]]


def test_outside_gene_filter_and_comments(tmp_path):
    p = _write(tmp_path, "x.tsv", "# outside calls\n\nCYP2C19\t*17/*2\tIntermediate Metabolizer\n"
               "CYP2D6\t\tPoor Metabolizer\n")
    out = read_calls(p, "pharmcat_outside", gene="CYP2C19")
    assert out[["gene", "diplotype", "note"]].values.tolist() == [
        ["CYP2C19", "*2/*17", "outside phenotype: Intermediate Metabolizer"]]
    cyp2d6 = read_calls(p, "pharmcat_outside", gene="CYP2D6").iloc[0]
    assert (cyp2d6.status, cyp2d6.diplotype) == ("no-call", "")
    assert read_calls(p, "pharmcat_outside", gene="CYP3A5").empty


def test_outside_wrong_field_count(tmp_path):
    p = _write(tmp_path, "x.tsv", "CYP2D6\t*1/*3\nCYP2C19\n")
    with pytest.raises(PgxError, match=r"x.tsv, line 2: expected 'GENE<TAB>diplotype'.*found 1 field"):
        read_calls(p, "pharmcat_outside")


def test_outside_duplicate_gene(tmp_path):
    p = _write(tmp_path, "x.tsv", "CYP2D6\t*1/*3\nCYP2D6\t*1/*4\n")
    with pytest.raises(PgxError, match=r"x.tsv, line 2: second call for CYP2D6"):
        read_calls(p, "pharmcat_outside")


# --------------------------------------------------------------------------- plain


def test_plain_fixture():
    out = read_calls(DATA / "plain_calls.tsv", "plain")
    assert out[["sample", "gene", "diplotype", "status", "alternatives"]].values.tolist() == [
        ["P001", "CYP2C19", "*1/*2", "called", ""],
        ["P001", "CYP2D6", "*1/*4", "called", ""],
        ["P002", "CYP2C19", "*1/*4", "ambiguous", "*1/*17"],
        ["P002", "CYP2D6", "", "no-call", ""],
        ["P003", "CYP2C19", "", "no-call", ""],
        ["P003", "CYP2D6", "*1/*1x2", "called", ""],
    ]
    assert (out["source_tool"] == "plain").all()
    assert out.loc[5, "copy_number"] == 3.0
    assert read_calls(DATA / "plain_calls.tsv", "plain", gene="CYP2D6")["sample"].tolist() == ["P001", "P002", "P003"]


def test_plain_sample_names_stay_text(tmp_path):
    p = _write(tmp_path, "p.tsv", "sample\tgene\tdiplotype\n007\tCYP2C19\t*1/*1\n")
    assert read_calls(p, "plain").loc[0, "sample"] == "007"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"p.tsv: empty file; expected a TSV with columns sample, gene, diplotype"),
        ("sample\tdiplotype\nS\t*1/*1\n", r"p.tsv, line 1: missing column\(s\) gene"),
        ("sample\tgene\tdiplotype\nS\tCYP2C19\n", r"p.tsv, line 2: 2 fields, expected 3"),
        ("sample\tgene\tdiplotype\n\tCYP2C19\t*1/*1\n", r"p.tsv, line 2: empty sample or gene"),
        ("sample\tgene\tdiplotype\tstatus\nS\tCYP2C19\t*1/*1\tok\n", r"line 2, column 'status': 'ok'; expected one of"),
        ("sample\tgene\tdiplotype\tstatus\nS\tCYP2C19\t\tcalled\n",
         r"line 2, column 'diplotype': empty for status 'called'"),
        ("sample\tgene\tdiplotype\talternatives\nS\tCYP2C19\t*1/*1\t*1/*38\n",
         r"line 2, column 'alternatives': alternatives given for status 'called'"),
        ("sample\tgene\tdiplotype\nS\tCYP2C19\t*1/*1/*2\n", r"line 2, column 'diplotype': '\*1/\*1/\*2' is not"),
    ],
)
def test_plain_errors(tmp_path, text, message):
    with pytest.raises(PgxError, match=message):
        read_calls(_write(tmp_path, "p.tsv", text), "plain")


# --------------------------------------------------------------------------- common


def test_unknown_tool_lists_supported(tmp_path):
    with pytest.raises(PgxError, match=r"unknown star-allele caller 'aldy'; supported: cyrius, pharmcat_outside, pl"):
        read_calls(DATA / "cyrius_calls.tsv", "aldy")


def test_missing_file(tmp_path):
    with pytest.raises(PgxError, match=r"nope.tsv: cyrius call file not found"):
        read_calls(tmp_path / "nope.tsv", "cyrius")


def test_docstring_examples_run():
    result = doctest.testmod(callers_mod)
    assert result.attempted >= 4 and result.failed == 0


def test_ambiguous_flag_kept_with_single_candidate(tmp_path):
    p = _write(tmp_path, "p.tsv", "sample\tgene\tdiplotype\tstatus\nS\tCYP2D6\t*1/*4\tambiguous\n")
    row = read_calls(p, "plain").iloc[0]
    assert (row.status, row.diplotype, row.alternatives) == ("ambiguous", "*1/*4", "")
