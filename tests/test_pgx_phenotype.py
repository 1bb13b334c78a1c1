"""Tests for stratify.pgx.phenotype: CPIC phenotypes and CYP2D6 activity scores."""

from __future__ import annotations

import csv
import doctest
import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stratify.pgx.phenotype as phenotype_mod
from stratify.errors import PgxError
from stratify.paths import resource_dir
from stratify.pgx import (
    add_phenotypes,
    call_diplotypes,
    cyp2c19_phenotype,
    cyp2d6_activity,
    load_definitions,
    read_calls,
    read_vcf_genotypes,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "pgx"
SHARED = REPO.parent / "shared" / "data" / "pgx"
PM, IM, NM, UM, IND = (
    "Poor Metabolizer",
    "Intermediate Metabolizer",
    "Normal Metabolizer",
    "Ultrarapid Metabolizer",
    "Indeterminate",
)

# facts.md §1, CYP2D6 activity values (Caudle et al. 2020)
FACTS_CYP2D6 = {
    1.0: "1 2 33 34 35 39 45 46 48 53",
    0.5: "9 14 17 29 41 49 50 54 55 59",
    0.25: "10",
    0.0: "3 4 5 6 7 8 11 12 13 15 18 19 20 21 31 36 38 40 42 44 47 51 56 57 60 62 68",
}
# facts.md §1, CYP2C19 allele functions
FACTS_CYP2C19 = {
    "normal": "1 11 13 15 18 28 38",
    "increased": "17",
    "decreased": "9 10 16 19 25 26",
    "none": "2 3 4 5 6 7 8 22 24 35 36 37",
}


# --------------------------------------------------------------------------- resources


def test_cyp2c19_table_identical_to_source():
    shipped = resource_dir() / "pgx" / "CYP2C19_phenotype.json"
    source = SHARED / "pharmcat" / "phenotype" / "CYP2C19.json"
    assert hashlib.sha256(shipped.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()


def test_cyp2d6_table_is_the_documented_derivation():
    rows = [r for r in csv.DictReader(open(SHARED / "pypgx" / "tables" / "allele-table.csv")) if r["Gene"] == "CYP2D6"]
    buf = io.StringIO()
    buf.write("allele\tactivity_value\tfunction\n")
    for r in rows:
        v = "" if r["ActivityScore"] == "N/A" else r["ActivityScore"]
        buf.write(f"{r['StarAllele']}\t{v}\t{r['Function']}\n")
    assert (resource_dir() / "pgx" / "CYP2D6_activity.tsv").read_text() == buf.getvalue()


def test_cyp2d6_table_agrees_with_facts():
    table = pd.read_csv(resource_dir() / "pgx" / "CYP2D6_activity.tsv", sep="\t").set_index("allele")
    assert len(table) == 131
    for value, alleles in FACTS_CYP2D6.items():
        for n in alleles.split():
            assert table.loc[f"*{n}", "activity_value"] == value, n
    listed = {f"*{n}" for a in FACTS_CYP2D6.values() for n in a.split()}
    extra = table[table["activity_value"].notna() & ~table.index.isin(listed)]
    assert set(extra.index) == {"*69", "*81", "*92", "*96", "*99", "*100", "*101", "*114", "*120", "*124",
                                "*129", "*143"}
    assert (extra["activity_value"] == 0).all() and (extra["function"] == "No Function").all()
    assert table["activity_value"].isna().sum() == 71


# --------------------------------------------------------------------------- CYP2C19


def test_cyp2c19_every_cpic_row_either_order():
    rows = json.loads((resource_dir() / "pgx" / "CYP2C19_phenotype.json").read_text())["diplotypes"]
    assert len(rows) == 666
    for r in rows:
        a, b = r["diplotype"].split("/")
        assert cyp2c19_phenotype(f"{a}/{b}") == r["generesult"]
        assert cyp2c19_phenotype(f"{b}/{a}") == r["generesult"]


def test_cyp2c19_table_follows_facts_rules():
    function = {f"*{n}": f for f, alleles in FACTS_CYP2C19.items() for n in alleles.split()}

    def rule(a: str, b: str) -> str:
        fa, fb = sorted((function[a], function[b]))
        pair = {fa, fb}
        if pair == {"increased"}:
            return UM
        if pair == {"increased", "normal"}:
            return "Rapid Metabolizer"
        if pair == {"normal"}:
            return NM
        if "decreased" in pair and pair <= {"normal", "increased", "decreased"}:
            return "Likely Intermediate Metabolizer"
        if "none" in pair and pair & {"normal", "increased"}:
            return IM
        if pair == {"decreased", "none"}:
            return "Likely Poor Metabolizer"
        return PM

    names = sorted(function)
    checked = 0
    for i, a in enumerate(names):
        for b in names[i:]:
            assert cyp2c19_phenotype(f"{a}/{b}") == rule(a, b), (a, b)
            checked += 1
    assert checked == 26 * 27 // 2  # 26 alleles of known function


@pytest.mark.parametrize(
    "diplotype, expected",
    [
        ("*1/*1", NM), ("*1/*38", NM), ("*38/*38", NM), ("*1/*17", "Rapid Metabolizer"), ("*17/*17", UM),
        ("*1/*2", IM), ("*2/*17", IM), ("*2/*2", PM), ("*2/*3", PM), ("*1/*9", "Likely Intermediate Metabolizer"),
        ("*2/*9", "Likely Poor Metabolizer"), ("*1/*12", IND),
        ("*1/*41", IND),  # *41 is defined but not in CPIC's phenotype table
        ("*1/*99", IND), ("CYP2C19*1/CYP2C19*2", IM), ("", ""),
    ],
)
def test_cyp2c19_examples(diplotype, expected):
    assert cyp2c19_phenotype(diplotype) == expected


@pytest.mark.parametrize("bad", ["*1", "*1/", "/*2", "*1/*2/*3"])
def test_cyp2c19_malformed(bad):
    with pytest.raises(PgxError, match="expected two haplotypes joined by '/'"):
        cyp2c19_phenotype(bad)


# --------------------------------------------------------------------------- CYP2D6


@pytest.mark.parametrize(
    "diplotype, expected",
    [
        ("*1/*1", (2.0, NM, False)),
        ("*1/*4", (1.0, IM, False)),  # 1.0 is Intermediate since 2020
        ("*4/*4", (0.0, PM, False)),
        ("*4/*5", (0.0, PM, False)),
        ("*10/*10", (0.5, IM, False)),
        ("*1/*10", (1.25, NM, False)),
        ("*2/*41", (1.5, NM, False)),
        ("*41/*41", (1.0, IM, False)),
        ("*1/*2x2", (3.0, UM, False)),
        ("*1x2/*1", (3.0, UM, False)),
        ("*4x2/*1", (1.0, IM, False)),  # *4x2 = 0
        ("*10x2/*10", (0.75, IM, False)),  # *10x2 = 0.5
        ("*1/*9", (1.5, NM, False)),
        ("*1/*17", (1.5, NM, False)),
        ("*9/*9x2", (1.5, NM, False)),
        ("*1x2/*41", (2.5, UM, False)),
        ("*36+*10/*1", (1.25, NM, False)),
        ("*36+*10/*36+*10", (0.5, IM, False)),
        ("*68+*4/*4", (0.0, PM, False)),
        ("*13+*2/*1", (2.0, NM, False)),
        ("*4.001/*1", (1.0, IM, False)),  # suballele -> core allele
        ("CYP2D6*1/CYP2D6*4", (1.0, IM, False)),
        ("*1 / *4", (1.0, IM, False)),
        # unknown copy number: lower bound with N = 3, phenotype only where decisive
        ("*1xN/*4", (3.0, UM, True)),
        ("*1x≥3/*1", (4.0, UM, True)),
        ("*2x>=3/*4", (3.0, UM, True)),
        ("*41xN/*1", (2.5, UM, True)),
        ("*41xN/*4", (1.5, IND, True)),  # 1.5, 2.0, 2.5 ... spans Normal and Ultrarapid
        ("*10xN/*4", (0.75, IND, True)),  # 0.75, 1.0, 1.25 ... spans Intermediate and Normal
        ("*4xN/*1", (1.0, IM, False)),  # zero-value copies: exact
        # unknown or uncertain function
        ("*1/*22", (None, IND, False)),
        ("*1/*999", (None, IND, False)),
        ("*1/*4K", (None, IND, False)),
        ("*1/*4x", (None, IND, False)),
        ("", (None, "", False)),
    ],
)
def test_cyp2d6_activity(diplotype, expected):
    assert cyp2d6_activity(diplotype) == expected


@pytest.mark.parametrize("bad", ["*1", "*1/", "*1/*2/*4"])
def test_cyp2d6_malformed(bad):
    with pytest.raises(PgxError, match="CYP2D6 diplotype .* expected two haplotypes"):
        cyp2d6_activity(bad)


def test_cyp2d6_phenotype_boundaries():
    f = phenotype_mod.cyp2d6_phenotype_from_score
    assert [f(x) for x in np.arange(0, 3.01, 0.25)] == [PM] + [IM] * 4 + [NM] * 5 + [UM] * 3


# --------------------------------------------------------------------------- add_phenotypes


def _calls(rows):
    return pd.DataFrame(rows, columns=["sample", "gene", "diplotype", "status", "alternatives"])


def test_add_phenotypes_rules():
    calls = _calls([
        ("a", "CYP2C19", "*1/*2", "called", ""),
        ("b", "CYP2C19", "*1/*35", "ambiguous", "*35/*38"),  # both IM: keep
        ("c", "CYP2C19", "*4/*4", "ambiguous", "*4/*17;*17/*17"),  # PM/IM/UM: Indeterminate
        ("d", "CYP2C19", "", "no-call", ""),
        ("e", "CYP2D6", "*1/*4", "called", ""),
        ("f", "CYP2D6", "*1/*46", "ambiguous", "*43/*45"),  # *43 unknown -> Indeterminate
        ("g", "CYP2D6", "*1+*2/*68", "ambiguous", "*1/*2+*68;*1+*68/*2"),  # all 2.0
        ("h", "CYP2D6", "*1/*10", "ambiguous", "*2/*41"),  # NM both, scores 1.25 vs 1.5
        ("i", "CYP2D6", "", "no-call", ""),
        ("j", "CYP2D6", "*1xN/*1", "called", ""),
    ])
    out = add_phenotypes(calls)
    assert out["phenotype"].tolist() == [IM, IM, IND, "", IM, IND, NM, NM, "", UM]
    np.testing.assert_array_equal(
        out["activity_score"].to_numpy(), [np.nan, np.nan, np.nan, np.nan, 1.0, np.nan, 2.0, np.nan, np.nan, 4.0]
    )
    assert out["activity_lower_bound"].tolist() == [False] * 9 + [True]
    assert out["activity_score"].dtype == float and out["activity_lower_bound"].dtype == bool
    assert "phenotype" not in calls.columns  # input untouched
    assert list(out.columns[:5]) == list(calls.columns)


def test_no_call_is_never_normal():
    out = add_phenotypes(_calls([("x", g, "", "no-call", "") for g in ("CYP2C19", "CYP2D6")]))
    assert (out["phenotype"] == "").all() and out["activity_score"].isna().all()


def test_missing_values_in_text_columns():
    calls = _calls([("x", "CYP2C19", None, "no-call", None), ("y", "CYP2C19", "*1/*2", "called", np.nan)])
    assert add_phenotypes(calls)["phenotype"].tolist() == ["", IM]


def test_add_phenotypes_missing_column():
    with pytest.raises(PgxError, match="calls table lacks column\\(s\\) alternatives"):
        add_phenotypes(_calls([]).drop(columns="alternatives"))


def test_add_phenotypes_unsupported_gene():
    with pytest.raises(PgxError, match="row 0: gene 'HLA-B' has no phenotype rules here; supported: CYP2C19, CYP2D6"):
        add_phenotypes(_calls([("x", "HLA-B", "*15:02/*57:01", "called", "")]))


def test_add_phenotypes_bad_status():
    with pytest.raises(PgxError, match="row 0: status 'maybe'; expected one of called, ambiguous, no-call"):
        add_phenotypes(_calls([("x", "CYP2C19", "*1/*1", "maybe", "")]))


def test_end_to_end_from_vcf():
    defs = load_definitions()
    g = read_vcf_genotypes(SHARED / "pharmcat" / "tests" / "cyp2c19" / "merged_fixtures.GRCh38.vcf.gz", defs)
    out = add_phenotypes(call_diplotypes(g, defs)).set_index("sample")
    assert out.loc["s1s2", "phenotype"] == IM
    assert out.loc["s1s17", "phenotype"] == "Rapid Metabolizer"  # *1/*17 or *17/*38
    assert out.loc["s4bs17rs28399504missing", "phenotype"] == IND  # *4/*4, *4/*17, *17/*17
    assert out.loc["sUnks17", "phenotype"] == ""
    assert out.loc["s2s2", "phenotype"] == ""   # ./. at rs12769205: a no-call naming *2/*2 (issue 8)
    assert out.loc["s2s3", "phenotype"] in ("", IND)


def test_end_to_end_from_cyrius():
    out = add_phenotypes(read_calls(DATA / "cyrius_calls.tsv", "cyrius")).set_index("sample")
    assert out.loc["SAMPLE04", ["activity_score", "phenotype"]].tolist() == [2.0, NM]  # *2x2/*4
    assert out.loc["SAMPLE08", "phenotype"] == NM  # *1_*2_*68: every split scores 2
    assert out.loc["SAMPLE09", "phenotype"] == UM  # *1x4
    assert out.loc["SAMPLE11", "phenotype"] == ""
    assert math.isnan(out.loc["SAMPLE11", "activity_score"])


def test_docstring_examples_run():
    result = doctest.testmod(phenotype_mod)
    assert result.attempted > 5 and result.failed == 0


# --------------------------------------------------------------------------- the reason, in the row

def _called(gene, *dips, status="called", alternatives="", note=""):
    return pd.DataFrame({"gene": [gene] * len(dips), "diplotype": list(dips), "status": status,
                         "alternatives": alternatives, "note": note})


@pytest.mark.parametrize("gene, dip, reason", [
    ("CYP2D6", "*1/*999", "allele *999 is not in CPIC's CYP2D6 table"),
    ("CYP2D6", "*999/*999", "allele *999 is not in CPIC's CYP2D6 table"),
    ("CYP2D6", "*5/*other", "allele *other is not in CPIC's CYP2D6 table"),
    ("CYP2D6", "*1/*22", "allele *22 has unknown or uncertain function in CPIC's CYP2D6 table (no activity value)"),
    ("CYP2D6", "*10xN/*4", "unknown copy number in *10xN/*4: the activity score is at least 0.75 (N = 3), which "
                           "does not decide the phenotype"),
    ("CYP2C19", "*1/*999", "allele *999 is not in CPIC's CYP2C19 table"),
])
def test_indeterminate_phenotype_states_its_reason_in_the_row(gene, dip, reason):
    out = add_phenotypes(_called(gene, dip))
    assert out["phenotype"].item() == "Indeterminate"
    assert out["reason"].item() == reason


def test_determinate_phenotype_has_no_reason_and_no_call_keeps_the_tools_note():
    out = add_phenotypes(pd.concat([_called("CYP2D6", "*1/*4"),
                                    _called("CYP2D6", "", status="no-call",
                                            note="PharmCAT: 'Unknown/Unknown', no call")], ignore_index=True))
    assert out["reason"].tolist() == ["", "no call: PharmCAT: 'Unknown/Unknown', no call"]


def test_ambiguous_call_with_disagreeing_candidates_lists_them():
    out = add_phenotypes(_called("CYP2D6", "*1/*4", status="ambiguous", alternatives="*1/*999"))
    assert out["phenotype"].item() == "Indeterminate"
    assert out["reason"].item() == ("ambiguous call whose candidates give different phenotypes: *1/*4 Intermediate "
                                    "Metabolizer; *1/*999 Indeterminate (allele *999 is not in CPIC's CYP2D6 table)")
