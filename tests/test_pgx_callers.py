"""Tests for stratify.pgx.callers: reading star-allele caller outputs."""

from __future__ import annotations

import doctest
import json
import math
import zipfile
from pathlib import Path

import pytest

import stratify.pgx.callers as callers_mod
from stratify.errors import PgxError
from stratify.pgx import SUPPORTED_TOOLS, read_calls

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "pgx"
SHARED = REPO.parent / "shared" / "data" / "pgx"
COLUMNS = [
    "sample",
    "gene",
    "diplotype",
    "haplotype1",
    "haplotype2",
    "copy_number",
    "source_tool",
    "status",
    "alternatives",
    "note",
]


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_supported_tools():
    assert SUPPORTED_TOOLS == (
        "cyrius",
        "pharmcat_outside",
        "plain",
        "pharmcat_report",
        "pharmcat_phenotype",
        "pypgx",
        "aldy",
        "stellarpgx",
    )


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
    "SAMPLE08": (
        "*1+*2/*68",
        "*1+*2",
        "*68",
        3,
        "ambiguous",
        "*1/*2+*68;*1+*68/*2",
        "Not_assigned_to_haplotypes: *1_*2_*68",
    ),
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
            dip,
            h1,
            h2,
            status,
            alts,
        ), row.sample
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
    with pytest.raises(
        PgxError, match=r"c.tsv, line 2, column 'Genotype': CYP2D6 diplotype '\*1/' is malformed \(an empty haplotype\)"
    ):
        read_calls(p, "cyrius")


# --------------------------------------------------------------------------- PharmCAT outside call


def test_pharmcat_example_outside_call():
    out = read_calls(SHARED / "pharmcat" / "examples" / "pharmcat.example.outsideCall.tsv", "pharmcat_outside")
    assert out["gene"].tolist() == ["CYP2D6", "HLA-B", "MT-RNR1"]
    assert (out["sample"] == "pharmcat.example.outsideCall").all()
    cyp = out.iloc[0]
    assert (cyp.diplotype, cyp.haplotype1, cyp.haplotype2, cyp.status, cyp.copy_number) == (
        "*1/*3",
        "*1",
        "*3",
        "called",
        2.0,
    )
    assert out.iloc[1].diplotype == "*15:02/*57:01" and math.isnan(out.iloc[1].copy_number)
    assert (out.iloc[2].diplotype, out.iloc[2].haplotype1, out.iloc[2].haplotype2) == ("1555A>G", "1555A>G", "")
    # PharmCAT's golden report for this example: CYP2D6 *1/*3 from the outside call
    assert "CYP2D6\t*1/*3\t" in (SHARED / "pharmcat" / "examples" / "pharmcat.example.report.tsv").read_text()


def test_pharmcat_golden_gene_prefixed_alleles():
    out = read_calls(
        SHARED / "pharmcat" / "tests" / "golden" / "PharmCATTest-cyp2d6.tsv", "pharmcat_outside", sample="P1"
    )
    assert out[["sample", "gene", "diplotype", "status"]].values.tolist() == [["P1", "CYP2D6", "*3/*4", "called"]]


def test_outside_gene_filter_and_comments(tmp_path):
    p = _write(
        tmp_path, "x.tsv", "# outside calls\n\nCYP2C19\t*17/*2\tIntermediate Metabolizer\nCYP2D6\t\tPoor Metabolizer\n"
    )
    out = read_calls(p, "pharmcat_outside", gene="CYP2C19")
    assert out[["gene", "diplotype", "note"]].values.tolist() == [
        ["CYP2C19", "*2/*17", "outside phenotype: Intermediate Metabolizer"]
    ]
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
        (
            "sample\tgene\tdiplotype\tstatus\nS\tCYP2C19\t\tcalled\n",
            r"line 2, column 'diplotype': empty for status 'called'",
        ),
        (
            "sample\tgene\tdiplotype\talternatives\nS\tCYP2C19\t*1/*1\t*1/*38\n",
            r"line 2, column 'alternatives': alternatives given for status 'called'",
        ),
        (
            "sample\tgene\tdiplotype\nS\tCYP2C19\t*1/*1/*2\n",
            r"line 2, column 'diplotype': CYP2C19 diplotype '\*1/\*1/\*2' is malformed",
        ),
    ],
)
def test_plain_errors(tmp_path, text, message):
    with pytest.raises(PgxError, match=message):
        read_calls(_write(tmp_path, "p.tsv", text), "plain")


# --------------------------------------------------------------------------- common


def test_unknown_tool_lists_supported(tmp_path):
    with pytest.raises(
        PgxError,
        match=r"unknown star-allele caller 'stargazer'; supported: cyrius, pharmcat_outside, "
        r"plain, pharmcat_report, pharmcat_phenotype, pypgx, aldy, stellarpgx",
    ):
        read_calls(DATA / "cyrius_calls.tsv", "stargazer")


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


# --------------------------------------------------------------------------- new readers: shared checks

CALLERS = DATA / "callers"
PHARMCAT = SHARED / "pharmcat"
REPORT_HEADER = (
    "Gene\tSource Diplotype\tPhenotype\tActivity Score\tHaplotype 1\tHaplotype 1 Function\t"
    "Haplotype 1 Activity Value\tHaplotype 2\tHaplotype 2 Function\tHaplotype 2 Activity Value\t"
    "Outside Call\tMatch Score\tMissing positions\tRecommendation Lookup Diplotype\t"
    "Recommendation Lookup Phenotype\tRecommendation Lookup Activity Score"
)


def _report_row(gene, dip, outside="no", missing="no", phenotype=""):
    return "\t".join([gene, dip, phenotype, "", "", "", "", "", "", "", outside, "", missing, "", "", ""])


def _never_default(out):
    """Ambiguous calls and no-calls never turn into *1/*1; no-calls carry no diplotype."""
    nocall = out[out["status"] == "no-call"]
    assert (nocall["diplotype"] == "").all() and (nocall["alternatives"] == "").all()
    assert not ((out["status"] != "called") & (out["diplotype"] == "*1/*1")).any()
    assert list(out.columns) == COLUMNS and out["copy_number"].dtype == float


# --------------------------------------------------------------------------- PharmCAT report TSV


def test_pharmcat_report_real_example():
    out = read_calls(PHARMCAT / "examples" / "pharmcat.example.report.tsv", "pharmcat_report")
    _never_default(out)
    assert len(out) == 20 and (out["sample"] == "pharmcat.example").all()  # every gene row kept
    assert (out["source_tool"] == "pharmcat_report").all() and (out["status"] == "called").all()
    cyp2d6 = out.set_index("gene").loc["CYP2D6"]
    assert (cyp2d6.diplotype, cyp2d6.copy_number) == ("*1/*3", 2.0)
    assert cyp2d6.note == "PharmCAT outside call; phenotype: Intermediate Metabolizer; activity score: 1.0"
    assert out.set_index("gene").loc["CYP2C19", "diplotype"] == "*38/*38"
    vk = out.set_index("gene").loc["VKORC1"]  # allele names kept verbatim, spaces included
    assert (vk.haplotype1, vk.haplotype2) == ("rs9923231 reference (C)", "rs9923231 reference (C)")


def test_pharmcat_report_second_example_and_filter():
    out = read_calls(
        PHARMCAT / "examples" / "pharmcat.example2.report.tsv", "pharmcat_report", gene="CYP2C19", sample="P9"
    )
    assert out[["sample", "gene", "diplotype", "status", "note"]].values.tolist() == [
        ["P9", "CYP2C19", "*2/*2", "called", "phenotype: Poor Metabolizer"]
    ]


def test_pharmcat_report_no_call_or_and_sample_id(tmp_path):
    text = (
        "\n".join(
            [
                "PharmCAT v3.1.0",
                "Sample ID\t" + REPORT_HEADER,
                "S1\t" + _report_row("CYP2C19", "no call"),
                "S1\t" + _report_row("CYP2D6", "Unknown/Unknown", outside="yes"),
                "S1\t" + _report_row("CYP2B6", "*4/[*6 + *10] OR *6/[*4 + *10]", missing="yes"),
                "S2\t" + _report_row("CYP2C19", "*17/*2", phenotype="Intermediate Metabolizer"),
                "S2\t" + _report_row("DPYD", "c.1898delC (*3) AND c.295_298delTCAT (*7)"),
                "S2\t" + _report_row("CYP2D6", "*1/Unknown"),
                "S2\t" + _report_row("CYP2C9", ""),
            ]
        )
        + "\n"
    )
    out = read_calls(_write(tmp_path, "cohort.report.tsv", text), "pharmcat_report")
    _never_default(out)
    got = out[["sample", "gene", "diplotype", "status", "alternatives"]].values.tolist()
    assert got == [
        ["S1", "CYP2C19", "", "no-call", ""],
        ["S1", "CYP2D6", "", "no-call", ""],
        ["S1", "CYP2B6", "*4/[*6+*10]", "ambiguous", "*6/[*4+*10]"],
        ["S2", "CYP2C19", "*2/*17", "called", ""],
        ["S2", "DPYD", "c.1898delC (*3) AND c.295_298delTCAT (*7)", "called", ""],
        ["S2", "CYP2D6", "", "no-call", ""],
        ["S2", "CYP2C9", "", "no-call", ""],
    ]
    # every no-call says why (Unknown/Unknown is a flagged no-call, never a guess)
    assert out.loc[0, "note"] == "PharmCAT: 'no call', no call"
    assert out.loc[1, "note"] == "PharmCAT: 'Unknown/Unknown', no call; PharmCAT outside call"
    assert out.loc[2, "note"] == "missing positions"
    assert "lowest-function gene" in out.loc[4, "note"]
    assert out.loc[5, "note"] == "PharmCAT: '*1/Unknown', no call"
    assert out.loc[6, "note"] == "PharmCAT: no diplotype, no call"


def test_pharmcat_report_one_row_per_possible_diplotype(tmp_path):
    rows = [
        _report_row("CYP2C19", "*1/*2"),
        _report_row("CYP2D6", "*1/*4"),
        _report_row("CYP2C19", "*2/*38"),
        _report_row("CYP2D6", "Unknown/Unknown"),
    ]
    out = read_calls(
        _write(tmp_path, "m.report.tsv", "PharmCAT v2\n" + "\n".join([REPORT_HEADER, *rows]) + "\n"), "pharmcat_report"
    )
    _never_default(out)
    assert out[["gene", "diplotype", "status", "alternatives"]].values.tolist() == [
        ["CYP2C19", "*1/*2", "ambiguous", "*2/*38"],
        ["CYP2D6", "", "no-call", ""],
    ]


def test_pharmcat_report_sample_from_file_name(tmp_path):
    p = _write(tmp_path, "P42.report.tsv", f"PharmCAT v3\n{REPORT_HEADER}\n{_report_row('CYP2C19', '*1/*2')}\n")
    assert read_calls(p, "pharmcat_report").loc[0, "sample"] == "P42"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"r.report.tsv: empty file; expected a PharmCAT report TSV"),
        ("Gene\tSource Diplotype\n", r"r.report.tsv, line 1: expected the PharmCAT version line"),
        ("PharmCAT v3\n", r"r.report.tsv, line 2: missing header"),
        ("PharmCAT v3\nGene\tDiplotype\tPhenotype\n", r"r.report.tsv, line 2: missing column\(s\) Source Diplotype"),
        (f"PharmCAT v3\n{REPORT_HEADER}\nCYP2C19\t*1/*2\n", r"r.report.tsv, line 3: 2 fields, expected 16"),
        (
            f"PharmCAT v3\n{REPORT_HEADER}\n{_report_row('CYP2C19', '*1/*2/*3')}\n",
            r"r.report.tsv, line 3, column 'Source Diplotype': [A-Z0-9]+ diplotype '\*1/\*2/\*3' is malformed",
        ),
        (f"PharmCAT v3\n{REPORT_HEADER}\n{_report_row('', '*1/*2')}\n", r"line 3, column 'Gene': empty"),
    ],
)
def test_pharmcat_report_errors(tmp_path, text, message):
    with pytest.raises(PgxError, match=message):
        read_calls(_write(tmp_path, "r.report.tsv", text), "pharmcat_report")


# --------------------------------------------------------------------------- PharmCAT phenotype JSON


def test_pharmcat_phenotype_real_example():
    out = read_calls(PHARMCAT / "examples" / "pharmcat.example.phenotype.json", "pharmcat_phenotype")
    _never_default(out)
    assert len(out) == 23 and (out["sample"] == "Sample_1").all()  # matcherMetadata.sampleId
    by = out.set_index("gene")
    assert (by.loc["CYP2D6", "diplotype"], by.loc["CYP2D6", "status"]) == ("*1/*3", "called")
    assert by.loc["CYP2D6", "note"].startswith("PharmCAT outside call; phenotype: Intermediate Metabolizer")
    assert by.loc["CYP2C19", "diplotype"] == "*38/*38"
    assert (by.loc["HLA-A", "status"], by.loc["HLA-A", "diplotype"]) == ("no-call", "")  # Unknown/Unknown
    # agrees with PharmCAT's own TSV report for the same sample on every gene both list
    report = read_calls(PHARMCAT / "examples" / "pharmcat.example.report.tsv", "pharmcat_report").set_index("gene")
    for gene in report.index:
        assert report.loc[gene, "diplotype"] == by.loc[gene, "diplotype"], gene


def test_pharmcat_phenotype_golden_no_calls_and_ambiguous():
    out = read_calls(PHARMCAT / "tests" / "golden" / "Sample_1.phenotype.json", "pharmcat_phenotype", sample="G1")
    _never_default(out)
    by = out.set_index("gene")
    assert (out["sample"] == "G1").all()
    for gene in ("CYP2C19", "CYP2D6", "TPMT", "SLCO1B1"):  # Unknown/Unknown or callSource NONE
        assert (by.loc[gene, "status"], by.loc[gene, "diplotype"]) == ("no-call", ""), gene
    ugt = by.loc["UGT1A1"]
    assert (ugt.status, ugt.diplotype, ugt.alternatives) == (
        "ambiguous",
        "*28/*37",
        "*28/*80+*37;*37/*80+*28;*80+*28/*80+*37",
    )
    assert by.loc["CYP2C9", "diplotype"] == "*1/*25"
    assert by.loc["DPYD", "diplotype"] == "c.1898delC (*3) AND c.295_298delTCAT (*7)"


def _dip(a1, a2=None, phen=("Normal Metabolizer",)):
    return {
        "allele1": {"name": a1},
        "allele2": {"name": a2} if a2 else None,
        "phenotypes": list(phen),
        "activityScore": None,
    }


def test_pharmcat_phenotype_v2_per_source_uses_cpic(tmp_path):
    data = {
        "geneReports": {
            "CPIC": {
                "CYP2C19": {"callSource": "MATCHER", "sourceDiplotypes": [_dip("*17", "*1")]},
                "CYP2D6": {"callSource": "OUTSIDE", "sourceDiplotypes": [_dip("*4", "*1"), _dip("*1", "*10")]},
            },
            "DPWG": {"CYP2C19": {"callSource": "MATCHER", "sourceDiplotypes": [_dip("*2", "*2")]}},
        }
    }
    out = read_calls(_write(tmp_path, "X7.phenotype.json", json.dumps(data)), "pharmcat_phenotype")
    assert out[["sample", "gene", "diplotype", "status", "alternatives"]].values.tolist() == [
        ["X7", "CYP2C19", "*1/*17", "called", ""],
        ["X7", "CYP2D6", "*1/*4", "ambiguous", "*1/*10"],
    ]
    assert out.loc[1, "note"].startswith("PharmCAT outside call")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"p.phenotype.json: empty file"),
        ('{"geneReports": {\n"CYP2C19": }', r"p.phenotype.json, line 2: not valid JSON"),
        ('{"results": []}', r"p.phenotype.json: no 'geneReports' object"),
        ('{"geneReports": {"DPWG": {}}}', r"p.phenotype.json: geneReports has no CPIC block"),
        ('{"geneReports": {"CYP2C19": []}}', r"geneReports.CYP2C19: expected a gene report object, found list"),
        (
            '{"geneReports": {"CYP2C19": {"sourceDiplotypes": [{"allele1": {"name": "*1/*2"}, '
            '"allele2": {"name": "*3"}}]}}}',
            r"geneReports.CYP2C19, column 'sourceDiplotypes': CYP2C19 diplotype '\*1/\*2/\*3' is malformed",
        ),
    ],
)
def test_pharmcat_phenotype_errors(tmp_path, text, message):
    with pytest.raises(PgxError, match=message):
        read_calls(_write(tmp_path, "p.phenotype.json", text), "pharmcat_phenotype")


# --------------------------------------------------------------------------- PyPGx


def test_pypgx_results_zip_real_example():
    out = read_calls(CALLERS / "getrm-wgs70.CYP2D6.results.zip", "pypgx")
    _never_default(out)
    assert len(out) == 70 and (out["gene"] == "CYP2D6").all() and (out["source_tool"] == "pypgx").all()
    by = out.set_index("sample")
    row = by.loc["NA18540_PyPGx"]
    assert (row.diplotype, row.haplotype1, row.haplotype2, row.copy_number) == (
        "*36x2+*10/*41",
        "*36x2+*10",
        "*41",
        4.0,
    )
    assert row.note == "PyPGx phenotype: Intermediate Metabolizer; CNV: Tandem2B; alternative phase: *69"
    assert by.loc["NA07019_PyPGx", "diplotype"] == "*1/*4"
    # the archive holds exactly the shared data.tsv
    bare = read_calls(
        SHARED / "pypgx" / "pypgx-data" / "getrm-wgs70.GRCh37.CYP2D6.pypgx-results.tsv", "pypgx", gene="CYP2D6"
    )
    assert bare.drop(columns="note").equals(out.drop(columns="note"))


def test_pypgx_indeterminate_and_nan_are_no_calls(tmp_path):
    head = "\tGenotype\tPhenotype\tHaplotype1\tHaplotype2\tAlternativePhase\tVariantData\tCNV\n"
    p = _write(
        tmp_path,
        "data.tsv",
        head + "A\tIndeterminate\tIndeterminate\t*1;\t*4;\t;\t*4:x:0.5;\tNormal\n"
        "B\tnan\tnan\tnan\tnan\tnan\tnan\tnan\nC\t*2/*146\tIndeterminate\t*2;\t*146;\t;\t;\tNormal\n",
    )
    out = read_calls(p, "pypgx", gene="CYP2D6")
    _never_default(out)
    assert out[["sample", "diplotype", "status"]].values.tolist() == [
        ["A", "", "no-call"],
        ["B", "", "no-call"],
        ["C", "*2/*146", "called"],
    ]  # unknown *146 kept verbatim


def _zip(path, meta, data="\tGenotype\tPhenotype\tHaplotype1\tHaplotype2\tAlternativePhase\tVariantData\tCNV\n"):
    with zipfile.ZipFile(path, "w") as z:
        if meta is not None:
            z.writestr("tmpx/metadata.txt", meta)
        if data is not None:
            z.writestr("tmpx/data.tsv", data)
    return path


def test_pypgx_archive_errors(tmp_path):
    with pytest.raises(PgxError, match=r"a zip without metadata.txt and data.tsv"):
        read_calls(_zip(tmp_path / "a.zip", None), "pypgx")
    with pytest.raises(
        PgxError,
        match=r"expected a PyPGx archive of SemanticType SampleTable\[Results\], "
        r"found 'SampleTable\[Genotypes\]'",
    ):
        read_calls(_zip(tmp_path / "b.zip", "Gene=CYP2D6\nSemanticType=SampleTable[Genotypes]\n"), "pypgx")
    with pytest.raises(PgxError, match=r"metadata.txt has no Gene="):
        read_calls(_zip(tmp_path / "c.zip", "SemanticType=SampleTable[Results]\n"), "pypgx")
    with pytest.raises(PgxError, match=r"the archive holds CYP2C19 calls, not CYP2D6"):
        read_calls(
            _zip(tmp_path / "d.zip", "Gene=CYP2C19\nSemanticType=SampleTable[Results]\n"), "pypgx", gene="CYP2D6"
        )
    with pytest.raises(PgxError, match=r"e.zip:tmpx/metadata.txt, line 1: 'Gene CYP2D6'; expected 'Key=value'"):
        read_calls(_zip(tmp_path / "e.zip", "Gene CYP2D6\n"), "pypgx")
    ok = _zip(tmp_path / "f.zip", "Gene=CYP2C19\nSemanticType=SampleTable[Results]\n")
    assert read_calls(ok, "pypgx").empty


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"data.tsv: empty file; expected PyPGx results"),
        ("sample\tGenotype\tPhenotype\n", r"data.tsv, line 1: missing column\(s\) Haplotype1, Haplotype2"),
        (
            "\tGenotype\tPhenotype\tHaplotype1\tHaplotype2\tAlternativePhase\tVariantData\tCNV\nS\t*1/*2\n",
            r"data.tsv, line 2: 2 fields, expected 8",
        ),
        (
            "\tGenotype\tPhenotype\tHaplotype1\tHaplotype2\tAlternativePhase\tVariantData\tCNV\nS\t*1/\t\t\t\t\t\t\n",
            r"data.tsv, line 2, column 'Genotype': [A-Z0-9]+ diplotype '\*1/' is malformed",
        ),
        (
            "\tGenotype\tPhenotype\tHaplotype1\tHaplotype2\tAlternativePhase\tVariantData\tCNV\n\t*1/*2\t\t\t\t\t\t\n",
            r"data.tsv, line 2: empty sample name",
        ),
    ],
)
def test_pypgx_table_errors(tmp_path, text, message):
    with pytest.raises(PgxError, match=message):
        read_calls(_write(tmp_path, "data.tsv", text), "pypgx", gene="CYP2D6")


def test_pypgx_bare_table_needs_gene(tmp_path):
    with pytest.raises(
        PgxError,
        match=r"data.tsv: a bare PyPGx data.tsv does not name its gene; give the gene \(gene: CYP2D6 in the config entry\)",
    ):
        read_calls(_write(tmp_path, "data.tsv", "\tGenotype\n"), "pypgx")


# --------------------------------------------------------------------------- Aldy


def test_aldy_fixture():
    out = read_calls(CALLERS / "aldy_calls.aldy", "aldy")
    _never_default(out)
    got = out[["sample", "gene", "diplotype", "haplotype1", "haplotype2", "status", "alternatives"]].values.tolist()
    assert got == [
        ["ALDY01", "CYP2D6", "*1/*4+*4", "*1", "*4+*4", "called", ""],  # both solutions reduce to *1/*4+*4
        ["ALDY02", "CYP2D6", "*1/*4+*4", "*1", "*4+*4", "ambiguous", "*4+*4/*139"],
        ["ALDY03", "CYP2D6", "*2/*41-like", "*2", "*41-like", "called", ""],  # novel function change kept
        ["ALDY04", "CYP2C19", "*1/*17", "*1", "*17", "called", ""],
    ]
    assert out["copy_number"].tolist()[:3] == [3.0, 3.0, 2.0] and math.isnan(out.loc[3, "copy_number"])
    note = out.loc[0, "note"]
    assert "Aldy solution 1: *1/*4+*4.021.ALDY" in note and "Aldy solution 2: *1/*4.021+*4N.ALDY" in note
    assert "cpic=intermediate; cpic_score=1.0" in note
    assert read_calls(CALLERS / "aldy_calls.aldy", "aldy", gene="CYP2C19")["sample"].tolist() == ["ALDY04"]


def test_aldy_header_only_is_no_call(tmp_path):
    p = _write(tmp_path, "P3.CYP2D6.aldy", "#Sample\tGene\tSolutionID\tMajor\tMinor\tCopy\tAllele\tLocation\n")
    row = read_calls(p, "aldy", gene="CYP2D6").iloc[0]
    assert (row["sample"], row.status, row.diplotype) == ("P3", "no-call", "")
    with pytest.raises(PgxError, match=r"P3.CYP2D6.aldy: no Aldy solutions \(a no-call\), and no gene="):
        read_calls(p, "aldy")


ALDY_HEAD = "#Sample\tGene\tSolutionID\tMajor\tMinor\tCopy\tAllele\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"a.aldy: empty file; expected an Aldy .aldy file"),
        ("Sample\tGene\tMajor\n", r"a.aldy, line 1: expected the Aldy header"),
        ("S\tCYP2D6\t1\t*1/*1\t1;1\n", r"a.aldy, line 1: expected the Aldy header .* first"),
        (ALDY_HEAD + "S\tCYP2D6\t1\t*1/*1\n", r"a.aldy, line 2: 4 field\(s\); expected at least Sample"),
        (ALDY_HEAD + "S\tCYP2D6\tone\t*1/*1\t1;1\n", r"a.aldy, line 2, column 'SolutionID': 'one'"),
        (ALDY_HEAD + "S\tCYP2D6\t1\t*1+*4\t1;4\n", r"a.aldy, line 2, column 'Major': '\*1\+\*4' is not a diplotype"),
        (ALDY_HEAD + "S\tCYP2D6\t1\t*1/*4+\t1;4\n", r"a.aldy, line 2, column 'Major': '\*1/\*4\+' is not"),
        (
            ALDY_HEAD + "S\tCYP2D6\t1\t*1/*4\t1;4\nS\tCYP2D6\t1\t*1/*2\t1;2\n",
            r"a.aldy, line 3, column 'Major': '\*1/\*2' differs from '\*1/\*4' on line 2",
        ),
        (ALDY_HEAD + "\tCYP2D6\t1\t*1/*4\t1;4\n", r"a.aldy, line 2: empty Sample or Gene"),
    ],
)
def test_aldy_errors(tmp_path, text, message):
    with pytest.raises(PgxError, match=message):
        read_calls(_write(tmp_path, "a.aldy", text), "aldy")


def test_aldy_unknown_allele_kept_verbatim(tmp_path):
    p = _write(
        tmp_path,
        "a.aldy",
        ALDY_HEAD + "S\tCYP2D6\t1\t*1/*999X.ALDY\t1;999\nS\tCYP2D6\t2\t*1/*1\t1;1\nT\tCYP2D6\t1\t*1/*novel_hyb\t1;x\n",
    )
    out = read_calls(p, "aldy")
    assert out[["diplotype", "status", "alternatives"]].values.tolist() == [
        ["*1/*999", "ambiguous", "*1/*1"],
        ["*1/*novel_hyb", "called", ""],
    ]
    # a name without the star is not a star allele of a phenotyped gene: a named error, not a guess
    p = _write(tmp_path, "b.aldy", ALDY_HEAD + "T\tCYP2D6\t1\t*1/novel_hyb\t1;x\n")
    with pytest.raises(
        PgxError,
        match=r"b.aldy, line 2, column 'Major': CYP2D6 diplotype '\*1/novel_hyb' is "
        r"malformed \('novel_hyb' is not a star allele\)",
    ):
        read_calls(p, "aldy")


# --------------------------------------------------------------------------- StellarPGx


def test_stellarpgx_alleles_real_example():
    out = read_calls(CALLERS / "SIM001_2d6.alleles", "stellarpgx")
    assert out[["sample", "gene", "diplotype", "status", "copy_number"]].values.tolist() == [
        ["SIM001", "CYP2D6", "*17/*29", "called", 2.0]
    ]
    assert out.loc[0, "note"] == "StellarPGx activity score: 1.0; metaboliser status: Intermediate metaboliser (IM)"
    assert read_calls(CALLERS / "SIM001_2d6.alleles", "stellarpgx", sample="P1").loc[0, "sample"] == "P1"


def test_stellarpgx_summary_fixture():
    out = read_calls(CALLERS / "stellarpgx_summary.tsv", "stellarpgx", gene="CYP2D6")
    _never_default(out)
    assert out[["sample", "diplotype", "status", "alternatives"]].values.tolist() == [
        ["SP01", "*1/*2", "called", ""],
        ["SP02", "", "no-call", ""],  # "*2/*1 or *1/*34" plus "Duplication present": structure unresolved
        ["SP03", "", "no-call", ""],
        ["SP04", "", "no-call", ""],
        ["SP05", "", "no-call", ""],
        ["SP06", "*1/*2x2", "called", ""],
        ["SP07", "*5/*other", "called", ""],  # unknown allele name kept verbatim
    ]
    assert out.loc[1, "note"] == "StellarPGx: *2/*1 or *1/*34; Duplication present"
    assert out.loc[2, "note"] == "StellarPGx: No_call"
    assert out.loc[3, "note"] == "StellarPGx: possible novel allele or suballele; likely background alleles *1/*2"
    assert (out["gene"] == "CYP2D6").all() and (out["source_tool"] == "stellarpgx").all()


def test_stellarpgx_alleles_novel_allele_is_no_call(tmp_path):
    text = (
        "CYP2C19 Star Allele Calling with StellarPGx\n\nResult:\nPossible novel allele or suballele present: "
        "interpret with caution\n\nLikely background alleles:\n[*1/*2]\n\nActivity score:\nIndeterminate\n"
    )
    row = read_calls(_write(tmp_path, "HG1_cyp2c19.alleles", text), "stellarpgx").iloc[0]
    assert (row["sample"], row.gene, row.status, row.diplotype) == ("HG1", "CYP2C19", "no-call", "")
    assert "likely background alleles *1/*2" in row.note


def test_stellarpgx_unresolved_structure_is_no_call(tmp_path):
    # the candidates are SNV-only: with "Duplication present" the copy carrying the extra gene is unknown,
    # so *1/*4 (IM) might really be *1x2/*4 (NM); the call must not be used as is
    text = "CYP2D6 Star Allele Calling with StellarPGx\n\nResult:\n*1/*4 or *2/*4\tDuplication present\n"
    row = read_calls(_write(tmp_path, "S_2d6.alleles", text), "stellarpgx").iloc[0]
    assert (row.status, row.diplotype, row.alternatives) == ("no-call", "", "")
    assert row.note == "StellarPGx: *1/*4 or *2/*4; Duplication present"
    assert math.isnan(row.copy_number)


def test_stellarpgx_alleles_or_is_ambiguous(tmp_path):
    text = "CYP2C19 Star Allele Calling with StellarPGx\n\nResult:\n*1/*2 or *2/*38\n"
    row = read_calls(_write(tmp_path, "S_cyp2c19.alleles", text), "stellarpgx").iloc[0]
    assert (row["sample"], row.status, row.diplotype, row.alternatives) == ("S", "ambiguous", "*1/*2", "*2/*38")


@pytest.mark.parametrize(
    "name, text, kwargs, message",
    [
        ("s.tsv", "", {"gene": "CYP2D6"}, r"s.tsv: empty file; expected a StellarPGx"),
        (
            "s.tsv",
            "S1\t*1/*2\n",
            {},
            r"s.tsv: a StellarPGx summary does not name its gene; give the gene \(gene: CYP2D6 in the config entry\)",
        ),
        (
            "s.tsv",
            "S1\t*1/*2\tnote\textra\n",
            {"gene": "CYP2D6"},
            r"s.tsv, line 1: expected 'sample<TAB>diplotype\[<TAB>note\]' .* found 4 field",
        ),
        ("s.tsv", "S1 *1/*2\n", {"gene": "CYP2D6"}, r"s.tsv, line 1: expected 'sample<TAB>diplotype"),
        (
            "s.tsv",
            "S1\t*1/*2/*3\n",
            {"gene": "CYP2D6"},
            r"s.tsv, line 1, column 'diplotype \(Result\)': CYP2D6 diplotype '\*1/\*2/\*3'",
        ),
        ("x.alleles", "Result:\n*1/*2\n", {}, r"x.alleles: no line '<GENE> Star Allele Calling with StellarPGx'"),
        (
            "x.alleles",
            "CYP2D6 Star Allele Calling with StellarPGx\n\nResult:\n*1//*2\n",
            {},
            r"x.alleles, line 4, column 'diplotype \(Result\)': CYP2D6 diplotype '\*1//\*2' is malformed",
        ),
    ],
)
def test_stellarpgx_errors(tmp_path, name, text, kwargs, message):
    with pytest.raises(PgxError, match=message):
        read_calls(_write(tmp_path, name, text), "stellarpgx", **kwargs)


@pytest.mark.parametrize("tool", ["pharmcat_report", "pharmcat_phenotype", "pypgx", "aldy", "stellarpgx"])
def test_new_tools_missing_file(tmp_path, tool):
    with pytest.raises(PgxError, match=rf"nope: {tool} call file not found"):
        read_calls(tmp_path / "nope", tool)


@pytest.mark.parametrize("dip", ["Unknown/Unknown", "Unknown", "*1/Unknown", "no call"])
def test_pharmcat_outside_unknown_is_a_flagged_no_call(tmp_path, dip):
    p = _write(tmp_path, "P9.outside.tsv", f"CYP2D6\t{dip}\nCYP2C19\t*1/*2\n")
    out = read_calls(p, "pharmcat_outside")
    assert out[["gene", "diplotype", "status"]].values.tolist() == [
        ["CYP2D6", "", "no-call"],
        ["CYP2C19", "*1/*2", "called"],
    ]
    assert out.loc[0, "note"] == f"outside call {dip!r}: no call"


def test_pharmcat_phenotype_unknown_is_a_flagged_no_call(tmp_path):
    doc = {
        "geneReports": {
            "CYP2D6": {
                "callSource": "MATCHER",
                "sourceDiplotypes": [{"allele1": {"name": "Unknown"}, "allele2": {"name": "Unknown"}}],
            }
        }
    }
    out = read_calls(_write(tmp_path, "S.phenotype.json", json.dumps(doc)), "pharmcat_phenotype")
    assert out[["diplotype", "status"]].values.tolist() == [["", "no-call"]]
    assert out.loc[0, "note"] == "PharmCAT: Unknown allele, no call"


@pytest.mark.parametrize("dip", ["*1-*2", "*1//*2", "1/2", "*1", "*1/", "/*2", " / ", "junk", "*1 *2"])
@pytest.mark.parametrize(
    "tool, make",
    [
        ("plain", lambda d: "sample\tgene\tdiplotype\nS1\tCYP2D6\t" + d + "\n"),
        ("cyrius", lambda d: "Sample\tGenotype\tFilter\nS1\t" + d + "\tPASS\n"),
        ("pharmcat_outside", lambda d: "CYP2D6\t" + d + "\n"),
    ],
)
def test_malformed_diplotypes_are_named_errors(tmp_path, tool, make, dip):
    p = _write(tmp_path, "calls.tsv", make(dip))
    with pytest.raises(
        PgxError,
        match=r"calls.tsv, line \d, column '[^']+': CYP2D6 diplotype .* is malformed .*"
        r"expected two haplotypes joined by one '/'",
    ):
        read_calls(p, tool)
