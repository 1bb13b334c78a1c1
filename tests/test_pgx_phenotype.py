"""Tests for stratify.pgx.phenotype: CPIC phenotypes and CYP2D6 activity scores."""

from __future__ import annotations

import doctest
import importlib.util
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stratify.pgx.phenotype as phenotype_mod
from stratify.errors import PgxError
from stratify.io.paths import resource_dir
from stratify.pgx import (
    add_phenotypes,
    call_diplotypes,
    cyp2c19_phenotype,
    cyp2d6_activity,
    load_definitions,
    read_calls,
    read_vcf_genotypes,
)
from stratify.pgx.phenotype import cyp2b6_phenotype

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

CPIC_DIR = SHARED / "pharmcat" / "phenotype"
needs_cpic = pytest.mark.skipif(
    not (CPIC_DIR / "cpic_CYP2D6.json").is_file(),
    reason=f"CPIC's source tables are not here ({CPIC_DIR}): shared data absent",
)

# CPIC's CYP2D6 activity values (cpic_CYP2D6.json, 2024-08-27); facts.md §1 lists examples
CPIC_CYP2D6 = {
    1.0: "1 2 27 33 34 35 39 45 46 48 53",
    0.5: "14 17 29 49 50 54 55 59",
    0.25: "9 10 32 41 52 91 109 119 132",
    0.0: "3 4 5 6 7 8 11 12 13 15 18 19 20 21 31 36 38 40 42 44 47 51 56 60 62 68 144 156 161",
}
# facts.md §1, CYP2C19 allele functions
FACTS_CYP2C19 = {
    "normal": "1 11 13 15 18 28 38",
    "increased": "17",
    "decreased": "9 10 16 19 25 26",
    "none": "2 3 4 5 6 7 8 22 24 35 36 37",
}


def _build_script():
    spec = importlib.util.spec_from_file_location("build_pgx_tables", REPO / "scripts" / "build_pgx_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------- resources


@needs_cpic
def test_shipped_tables_are_what_the_build_script_makes_from_cpic():
    built = _build_script().build(CPIC_DIR)
    assert set(built) == {
        "CYP2D6_activity.tsv",
        "CYP2D6_phenotype_bands.tsv",
        "CYP2C19_phenotype.json",
        "CYP2B6_phenotype.json",
    }
    for name, content in built.items():
        assert (resource_dir() / "pgx" / name).read_bytes() == content, name
    for gene in ("CYP2C19", "CYP2B6"):  # byte-identical copies
        assert built[f"{gene}_phenotype.json"] == (CPIC_DIR / f"{gene}.json").read_bytes()
    assert _build_script().main(["--check"]) == 0


@needs_cpic
@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["activityValues"].update({"*41x2": "0.75"}), "namedAlleles and activityValues disagree"),
        (
            lambda d: (
                [a.update({"activityValue": "0.75"}) for a in d["namedAlleles"] if a["name"] == "*41x2"]
                and d["activityValues"].update({"*41x2": "0.75"})
            ),
            r"\*41x2 has 0.75, not 2 x \*41",
        ),
        (lambda d: d["diplotypes"][0].update({"activityScore": "2.5"}), r"\*1/\*1 scores 2.5, not the sum"),
        (
            lambda d: [
                r.update({"generesult": "Normal Metabolizer", "phenotype": "Normal Metabolizer"})
                for r in d["diplotypes"]
                if r["diplotype"] == "*1/*4"
            ],
            "phenotype bands .* are not Caudle",
        ),
    ],
)
def test_build_script_refuses_cpic_data_that_break_its_rules(tmp_path, capsys, edit, message):
    d = json.loads((CPIC_DIR / "cpic_CYP2D6.json").read_text(encoding="utf-8"))
    edit(d)
    (tmp_path / "cpic_CYP2D6.json").write_text(json.dumps(d), encoding="utf-8")
    for name in ("CYP2C19.json", "CYP2B6.json"):
        (tmp_path / name).write_bytes((CPIC_DIR / name).read_bytes())
    mod = _build_script()
    with pytest.raises(mod.SourceError, match=message):
        mod.build(tmp_path)
    assert mod.main(["--shared", str(tmp_path), "--check"]) == 1
    assert capsys.readouterr().err.startswith("build_pgx_tables: cpic_CYP2D6.json: ")


def test_cyp2d6_table_holds_cpic_values():
    table = pd.read_csv(resource_dir() / "pgx" / "CYP2D6_activity.tsv", sep="\t", dtype=str, keep_default_na=False)
    table = table.set_index("allele")
    assert len(table) == 173 and (table["activity_value"] == "n/a").sum() == 86
    for value, alleles in CPIC_CYP2D6.items():
        for n in alleles.split():
            assert float(table.loc[f"*{n}", "activity_value"]) == value, n
    # CPIC lowered *9 and *41 from 0.5 to 0.25 (facts.md §1); PyPGx's table still had 0.5
    assert table.loc[["*9", "*10", "*41"], "activity_value"].tolist() == ["0.25"] * 3
    assert table.loc[["*1x2", "*41x3", "*1x≥3", "*4x≥3"], "activity_value"].tolist() == ["2.0", "0.75", "≥3.0", "0.0"]
    bands = pd.read_csv(resource_dir() / "pgx" / "CYP2D6_phenotype_bands.tsv", sep="\t")
    assert bands.values.tolist()[:3] == [[PM, 0.0, 0.0], [IM, 0.25, 1.0], [NM, 1.25, 2.25]]
    assert bands.values.tolist()[3][:2] == [UM, 2.5] and math.isnan(bands.values.tolist()[3][2])


# --------------------------------------------------------------------------- CYP2C19


def _every_row(rows, gene, *, swap=False):
    """CPIC's rows as a calls table (alleles swapped when ``swap``), phenotyped."""
    dips = [r["diplotype"] for r in rows]
    if swap:
        dips = ["/".join(d.split("/")[::-1]) for d in dips]
    return add_phenotypes(pd.DataFrame({"gene": gene, "diplotype": dips, "status": "called", "alternatives": ""}))


@pytest.mark.parametrize("gene, n_rows", [("CYP2C19", 666), ("CYP2B6", 1176)])
def test_every_cpic_lookup_row_either_order(gene, n_rows):
    """The shipped CYP2C19/CYP2B6 tables (copies of CPIC's; checked above) give CPIC's phenotype for every row."""
    rows = json.loads((resource_dir() / "pgx" / f"{gene}_phenotype.json").read_text(encoding="utf-8"))["diplotypes"]
    assert len(rows) == n_rows
    expected = [r["generesult"] for r in rows]
    for swap in (False, True):
        out = _every_row(rows, gene, swap=swap)
        assert out["phenotype"].tolist() == expected
        indeterminate = out["phenotype"] == IND
        assert (out.loc[indeterminate, "reason"].str.contains("uncertain function in CPIC's")).all()
        assert (out.loc[~indeterminate, "reason"] == "").all() and out["activity_score"].isna().all()


@needs_cpic
def test_every_cpic_cyp2d6_row_phenotype_and_activity_score():
    """CPIC's 15,051 CYP2D6 diplotypes: the same phenotype and activity score (CPIC writes a lower bound '≥4.0')."""
    cpic = json.loads((CPIC_DIR / "cpic_CYP2D6.json").read_text(encoding="utf-8"))
    rows = cpic["diplotypes"]
    assert len(rows) == 15051 and cpic["version"].startswith("2024-08-27")
    for swap in (False, True):
        out = _every_row(rows, "CYP2D6", swap=swap)
        score = out["activity_score"].map(lambda x: "n/a" if math.isnan(x) else str(x))
        score = np.where(out["activity_lower_bound"], "≥" + score, score)
        got = pd.DataFrame(
            {"diplotype": [r["diplotype"] for r in rows], "phenotype": out["phenotype"], "activity_score": score}
        )
        want = pd.DataFrame(
            {
                k: [r[k if k != "phenotype" else "generesult"] for r in rows]
                for k in ("diplotype", "phenotype", "activityScore")
            }
        ).rename(columns={"activityScore": "activity_score"})
        diff = got[(got != want).any(axis=1)]
        assert diff.empty, f"{len(diff)} rows differ from CPIC, first: {diff.head(3).values.tolist()}"
    assert (out["phenotype"] != IND).sum() == 3828


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
        ("*1/*1", NM),
        ("*1/*38", NM),
        ("*38/*38", NM),
        ("*1/*17", "Rapid Metabolizer"),
        ("*17/*17", UM),
        ("*1/*2", IM),
        ("*2/*17", IM),
        ("*2/*2", PM),
        ("*2/*3", PM),
        ("*1/*9", "Likely Intermediate Metabolizer"),
        ("*2/*9", "Likely Poor Metabolizer"),
        ("*1/*12", IND),
        ("*1/*41", IND),  # *41 is defined but not in CPIC's phenotype table
        ("*1/*99", IND),
        ("CYP2C19*1/CYP2C19*2", IM),
        ("", ""),
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
        # *9 and *41 are 0.25 (CPIC 2023; PyPGx's table had 0.5)
        ("*1/*9", (1.25, NM, False)),
        ("*9/*9", (0.5, IM, False)),
        ("*2/*41", (1.25, NM, False)),
        ("*41/*41", (0.5, IM, False)),
        ("*1x2/*41", (2.25, NM, False)),  # was Ultrarapid (2.5) with *41 = 0.5
        ("*4/*41x3", (0.75, IM, False)),  # was Normal (1.5)
        ("*1/*41x3", (1.75, NM, False)),
        ("*9/*9x2", (0.75, IM, False)),
        # alleles CPIC scores and PyPGx did not (were Indeterminate)
        ("*1/*27", (2.0, NM, False)),
        ("*4/*27", (1.0, IM, False)),
        ("*27x2/*1", (3.0, UM, False)),
        ("*32/*4", (0.25, IM, False)),
        ("*1/*144", (1.0, IM, False)),
        ("*119/*161", (0.25, IM, False)),
        ("*1/*17", (1.5, NM, False)),
        ("*1/*2x2", (3.0, UM, False)),
        ("*1x2/*1", (3.0, UM, False)),
        ("*4x2/*1", (1.0, IM, False)),  # *4x2 = 0
        ("*10x2/*10", (0.75, IM, False)),  # *10x2 = 0.5
        ("*14x2/*4", (1.0, IM, False)),  # not a CPIC name: 2 x *14
        ("*36+*10/*1", (1.25, NM, False)),
        ("*36+*10/*36+*10", (0.5, IM, False)),
        ("*68+*4/*4", (0.0, PM, False)),
        ("*13+*2/*1", (2.0, NM, False)),
        ("*13 + *2/*1", (2.0, NM, False)),  # PharmCAT writes hybrids with spaces
        ("*4.001/*1", (1.0, IM, False)),  # suballele -> core allele
        ("CYP2D6*1/CYP2D6*4", (1.0, IM, False)),
        ("*1 / *4", (1.0, IM, False)),
        # CPIC's own x≥3 rows: "≥" scores, exact where the allele scores 0
        ("*1/*1x≥3", (4.0, UM, True)),
        ("*1/*4x≥3", (1.0, IM, False)),
        ("*1x2/*2x≥3", (5.0, UM, True)),
        # unknown copy number: xN is two or more copies, x≥3 / x>=3 three or more, x>3 four or more
        ("*1xN/*4", (2.0, IND, True)),  # 2.0 Normal, or 3.0 Ultrarapid with a third copy
        ("*1xN/*1", (3.0, UM, True)),
        ("*1xn/*9", (2.25, IND, True)),
        ("*1xN/*41", (2.25, IND, True)),
        ("*2xN/*10", (2.25, IND, True)),
        ("*1xN/*17", (2.5, UM, True)),
        ("*1x≥3/*1", (4.0, UM, True)),
        ("*2x>=3/*4", (3.0, UM, True)),
        ("*1x>3/*4", (4.0, UM, True)),
        ("*41xN/*1", (1.5, IND, True)),
        ("*41xN/*4", (0.5, IND, True)),
        ("*10xN/*4", (0.5, IND, True)),
        ("*9x≥3/*4", (0.75, IND, True)),
        ("*4xN/*1", (1.0, IM, False)),  # zero-value copies: exact
        ("*5xN/*4", (0.0, PM, False)),
        # unknown or uncertain function, names CPIC does not list
        ("*1/*22", (None, IND, False)),
        ("*1/*28x2", (None, IND, False)),
        ("*1/*57", (None, IND, False)),  # facts.md lists *57; CPIC's 2024 table does not
        ("*1/*999", (None, IND, False)),
        ("*1/*4K", (None, IND, False)),
        ("*1/*4x", (None, IND, False)),
        ("*1/*4x0", (None, IND, False)),
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
    calls = _calls(
        [
            ("a", "CYP2C19", "*1/*2", "called", ""),
            ("b", "CYP2C19", "*1/*35", "ambiguous", "*35/*38"),  # both IM: keep
            ("c", "CYP2C19", "*4/*4", "ambiguous", "*4/*17;*17/*17"),  # PM/IM/UM: Indeterminate
            ("d", "CYP2C19", "", "no-call", ""),
            ("e", "CYP2D6", "*1/*4", "called", ""),
            ("f", "CYP2D6", "*1/*46", "ambiguous", "*43/*45"),  # *43 unknown -> Indeterminate
            ("g", "CYP2D6", "*1+*2/*68", "ambiguous", "*1/*2+*68;*1+*68/*2"),  # all 2.0
            ("h", "CYP2D6", "*1/*10", "ambiguous", "*2/*17"),  # NM both, scores 1.25 vs 1.5
            ("i", "CYP2D6", "", "no-call", ""),
            ("j", "CYP2D6", "*1xN/*1", "called", ""),
        ]
    )
    out = add_phenotypes(calls)
    assert out["phenotype"].tolist() == [IM, IM, IND, "", IM, IND, NM, NM, "", UM]
    np.testing.assert_array_equal(
        out["activity_score"].to_numpy(), [np.nan, np.nan, np.nan, np.nan, 1.0, np.nan, 2.0, np.nan, np.nan, 3.0]
    )
    assert out["candidate_phenotypes"].tolist() == [
        "",
        f"*1/*35: {IM}; *35/*38: {IM}",
        f"*4/*4: {PM}; *4/*17: {IM}; *17/*17: {UM}",
        "",
        "",
        f"*1/*46: {NM}; *43/*45: {IND}",
        f"*1+*2/*68: {NM}; *1/*2+*68: {NM}; *1+*68/*2: {NM}",
        f"*1/*10: {NM}; *2/*17: {NM}",
        "",
        "",
    ]
    assert out["activity_lower_bound"].tolist() == [False] * 9 + [True]
    assert out["activity_score"].dtype == float and out["activity_lower_bound"].dtype == bool
    assert "phenotype" not in calls.columns  # input untouched
    assert list(out.columns[:5]) == list(calls.columns)
    assert list(out.columns[5:]) == [
        "activity_score",
        "activity_lower_bound",
        "phenotype",
        "reason",
        "candidate_phenotypes",
    ]


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
    with pytest.raises(
        PgxError,
        match=r"^calls table, call 1 \(sample 'x', gene HLA-B\): gene 'HLA-B' has no "
        "phenotype rules here; supported: CYP2B6, CYP2C19, CYP2D6",
    ):
        add_phenotypes(_calls([("x", "HLA-B", "*15:02/*57:01", "called", "")]))


def test_add_phenotypes_bad_status():
    with pytest.raises(
        PgxError,
        match=r"call 1 \(sample 'x', gene CYP2C19\): status 'maybe'; expected one of "
        "called, ambiguous, no-call",
    ):
        add_phenotypes(_calls([("x", "CYP2C19", "*1/*1", "maybe", "")]))


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared PharmCAT fixtures absent ({SHARED})")
def test_end_to_end_from_vcf():
    defs = load_definitions()
    g = read_vcf_genotypes(SHARED / "pharmcat" / "tests" / "cyp2c19" / "merged_fixtures.GRCh38.vcf.gz", defs)
    out = add_phenotypes(call_diplotypes(g, defs)).set_index("sample")
    assert out.loc["s1s2", "phenotype"] == IM
    assert out.loc["s1s17", "phenotype"] == "Rapid Metabolizer"  # *1/*17 or *17/*38
    assert out.loc["s4bs17rs28399504missing", "phenotype"] == IND  # *4/*4, *4/*17, *17/*17
    assert out.loc["sUnks17", "phenotype"] == ""
    assert out.loc["s2s2", "phenotype"] == ""  # ./. at rs12769205: a no-call naming *2/*2 (issue 8)
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
    return pd.DataFrame(
        {
            "gene": [gene] * len(dips),
            "diplotype": list(dips),
            "status": status,
            "alternatives": alternatives,
            "note": note,
        }
    )


@pytest.mark.parametrize(
    "gene, dip, reason",
    [
        ("CYP2D6", "*1/*999", "allele *999 is not in CPIC's CYP2D6 table"),
        ("CYP2D6", "*999/*999", "allele *999 is not in CPIC's CYP2D6 table"),
        ("CYP2D6", "*5/*other", "allele *other is not in CPIC's CYP2D6 table"),
        ("CYP2D6", "*1/*22", "allele *22 has uncertain function in CPIC's CYP2D6 table (no activity value)"),
        ("CYP2D6", "*1/*58", "allele *58 has unknown function in CPIC's CYP2D6 table (no activity value)"),
        ("CYP2D6", "*1/*28x2", "allele *28 has uncertain function in CPIC's CYP2D6 table (no activity value)"),
        ("CYP2D6", "*1/*4x0", "*4x0: zero copies is not a haplotype (the gene deletion is *5)"),
        (
            "CYP2D6",
            "*1xN/*4",
            "copy number unknown (*1xN: 2 or more copies): the activity score is at least 2.0 "
            "(Normal Metabolizer) and more copies make it 3.0 (Ultrarapid Metabolizer), so the lower "
            "bound does not decide the phenotype",
        ),
        (
            "CYP2D6",
            "*10xN/*4",
            "copy number unknown (*10xN: 2 or more copies): the activity score is at least 0.5 "
            "(Intermediate Metabolizer) and more copies make it 1.25 (Normal Metabolizer) or 2.5 "
            "(Ultrarapid Metabolizer), so the lower bound does not decide the phenotype",
        ),
        (
            "CYP2D6",
            "*9x>=3/*41xN",
            "copy number unknown (*9x>=3: 3 or more copies; *41xN: 2 or more copies): the "
            "activity score is at least 1.25 (Normal Metabolizer) and more copies make it 2.5 "
            "(Ultrarapid Metabolizer), so the lower bound does not decide the phenotype",
        ),
        ("CYP2C19", "*1/*999", "allele *999 is not in CPIC's CYP2C19 table"),
        ("CYP2C19", "*1/*41", "allele *41 is not in CPIC's CYP2C19 table"),
        (
            "CYP2C19",
            "*12/*39",
            "allele *12 has uncertain function in CPIC's CYP2C19 table; allele *39 has uncertain "
            "function in CPIC's CYP2C19 table",
        ),
        ("CYP2B6", "*1/*3", "allele *3 has uncertain function in CPIC's CYP2B6 table"),
        ("CYP2B6", "*1/*16", "allele *16 is not in CPIC's CYP2B6 table"),
    ],
)
def test_indeterminate_phenotype_states_its_reason_in_the_row(gene, dip, reason):
    out = add_phenotypes(_called(gene, dip))
    assert out["phenotype"].item() == "Indeterminate"
    assert out["reason"].item() == reason


def test_determinate_phenotype_has_no_reason_and_no_call_keeps_the_tools_note():
    out = add_phenotypes(
        pd.concat(
            [
                _called("CYP2D6", "*1/*4"),
                _called("CYP2D6", "", status="no-call", note="PharmCAT: 'Unknown/Unknown', no call"),
            ],
            ignore_index=True,
        )
    )
    assert out["reason"].tolist() == ["", "no call: PharmCAT: 'Unknown/Unknown', no call"]


def test_ambiguous_call_with_disagreeing_candidates_lists_them():
    out = add_phenotypes(_called("CYP2D6", "*1/*4", status="ambiguous", alternatives="*1/*999"))
    assert out["phenotype"].item() == "Indeterminate"
    assert out["reason"].item() == (
        "ambiguous call whose candidates give different phenotypes: *1/*4 Intermediate "
        "Metabolizer; *1/*999 Indeterminate (allele *999 is not in CPIC's CYP2D6 table)"
    )


def test_ambiguous_candidates_agreeing_keep_the_phenotype_and_list_each():
    out = add_phenotypes(_called("CYP2D6", "*1/*4", status="ambiguous", alternatives="*2/*4;*4/*27"))
    assert out[["phenotype", "activity_score", "reason"]].values.tolist() == [[IM, 1.0, ""]]
    assert out["candidate_phenotypes"].item() == f"*1/*4: {IM}; *2/*4: {IM}; *4/*27: {IM}"


def test_ambiguous_call_of_undecided_copy_numbers_keeps_every_reason():
    out = add_phenotypes(_called("CYP2D6", "*1xN/*4", status="ambiguous", alternatives="*2xN/*4"))
    assert out["phenotype"].item() == IND and out["activity_lower_bound"].item()
    assert out["reason"].item().count("copy number unknown") == 2
    assert out["candidate_phenotypes"].item() == f"*1xN/*4: {IND}; *2xN/*4: {IND}"


def test_ambiguous_call_with_disagreeing_candidates_has_no_score():
    out = add_phenotypes(_called("CYP2D6", "*1/*4", status="ambiguous", alternatives="*4/*4"))
    assert out["phenotype"].item() == IND and math.isnan(out["activity_score"].item())
    assert out["candidate_phenotypes"].item() == f"*1/*4: {IM}; *4/*4: {PM}"


@pytest.mark.parametrize(
    "diplotype, expected",
    [
        ("*1/*1", NM),
        ("*1/*6", IM),
        ("*6/*1", IM),
        ("*6/*6", PM),
        ("*6/*18", PM),
        ("*1/*18", IM),
        ("*1/*4", "Rapid Metabolizer"),
        ("*4/*4", UM),
        ("*4/*6", IM),
        ("*1/*3", IND),
        ("*6.001/*6", PM),
        ("CYP2B6*1/CYP2B6*6", IM),
        ("", ""),
    ],
)
def test_cyp2b6_examples(diplotype, expected):
    assert cyp2b6_phenotype(diplotype) == expected


def test_malformed_diplotype_in_a_table_names_the_record():
    calls = pd.DataFrame(
        {
            "sample": ["S1", "S2"],
            "gene": ["CYP2D6", "CYP2B6"],
            "diplotype": ["*1/*4", "*6"],
            "status": ["called", "called"],
            "alternatives": ["", ""],
        }
    )
    with pytest.raises(
        PgxError,
        match=r"^calls.tsv, call 2 \(sample 'S2', gene CYP2B6\): CYP2B6 diplotype '\*6': "
        "expected two haplotypes joined by '/'",
    ):
        add_phenotypes(calls, source="calls.tsv")
    calls.loc[1, ["diplotype", "status", "alternatives"]] = ["*1/*6", "ambiguous", "*6/*6/*6"]
    with pytest.raises(PgxError, match=r"call 2 \(sample 'S2', gene CYP2B6\): CYP2B6 diplotype '\*6/\*6/\*6'"):
        add_phenotypes(calls, source="calls.tsv")


# --------------------------------------------------------------------------- stratify pgx phenotype

CALLS_TSV = (
    "sample\tgene\tdiplotype\tstatus\talternatives\n"
    "P1\tCYP2D6\t*1x2/*41\t\t\n"
    "P2\tCYP2D6\t*1xN/*4\t\t\n"
    "P3\tCYP2D6\t*4/*41x3\tcalled\t\n"
    "P4\tCYP2D6\t*1x≥3/*4\t\t\n"
    "P5\tCYP2C19\t*1/*4\tambiguous\t*4/*4\n"
    "P6\tCYP2B6\t*6/*1\t\t\n"
    "P7\tHLA-B\t*57:01/*15:02\t\t\n"
    "P8\tCYP2D6\t\tno-call\t\n"
    "P9\tCYP2D6\t*27/*4\t\t\n"
)


def _cli(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "stratify.cli", "pgx", "phenotype", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_phenotype_command_writes_every_call(tmp_path):
    from stratify.cli import main

    calls, out = tmp_path / "calls.tsv", tmp_path / "phenotypes.tsv"
    calls.write_text(CALLS_TSV, encoding="utf-8")
    assert main(["pgx", "phenotype", "--calls", str(calls), "--out", str(out)]) == 0
    got = pd.read_csv(out, sep="\t", keep_default_na=False, dtype=str)
    assert list(got.columns) == [
        "sample",
        "gene",
        "diplotype",
        "phenotype",
        "activity_score",
        "activity_lower_bound",
        "status",
        "reason",
        "alternatives",
        "candidate_phenotypes",
    ]
    shown = ["sample", "diplotype", "phenotype", "activity_score", "activity_lower_bound", "status"]
    assert got[shown].values.tolist() == [
        ["P1", "*1x2/*41", NM, "2.25", "False", "called"],
        ["P2", "*1xN/*4", IND, "2.0", "True", "called"],
        ["P3", "*4/*41x3", IM, "0.75", "False", "called"],
        ["P4", "*1x≥3/*4", UM, "3.0", "True", "called"],
        ["P5", "*1/*4", IND, "", "False", "ambiguous"],
        ["P6", "*1/*6", IM, "", "False", "called"],
        ["P7", "*15:02/*57:01", "", "", "False", "called"],
        ["P8", "", "", "", "False", "no-call"],
        ["P9", "*4/*27", IM, "1.0", "False", "called"],
    ]
    reason = got.set_index("sample")["reason"]
    assert reason["P2"].startswith("copy number unknown (*1xN: 2 or more copies): the activity score is at least 2.0")
    assert reason["P7"] == "no CPIC phenotype rules for HLA-B here (supported: CYP2B6, CYP2C19, CYP2D6)"
    assert reason["P8"] == "no call" and reason["P1"] == ""
    assert got.set_index("sample").loc["P5", "candidate_phenotypes"] == f"*1/*4: {IM}; *4/*4: {PM}"


def test_phenotype_command_standard_input_and_output():
    res = _cli("--calls", "-", "--out", "-", stdin=CALLS_TSV)
    assert res.returncode == 0, res.stderr
    got = pd.read_csv(io.StringIO(res.stdout), sep="\t", keep_default_na=False)
    assert len(got) == 9 and got["phenotype"].iloc[0] == NM
    assert "9 calls phenotyped" in res.stderr


def test_phenotype_command_reads_other_callers_formats(tmp_path):
    outside = tmp_path / "NA1.tsv"
    outside.write_text("CYP2D6\t*1/*9\n", encoding="utf-8")
    res = _cli("--calls", str(outside), "--tool", "pharmcat_outside", "--out", "-")
    assert res.returncode == 0, res.stderr
    got = pd.read_csv(io.StringIO(res.stdout), sep="\t", keep_default_na=False)
    assert got[["sample", "diplotype", "phenotype", "activity_score"]].values.tolist() == [["NA1", "*1/*9", NM, 1.25]]


@pytest.mark.parametrize(
    "content, tool, message",
    [
        (None, "plain", "{p}: plain call file not found"),
        ("sample\tgene\n", "plain", "{p}, line 1: missing column(s) diplotype; expected sample, gene, diplotype"),
        (
            "sample\tgene\tdiplotype\nP1\tCYP2D6\t*1-*4\n",
            "plain",
            "{p}, line 2, column 'diplotype': CYP2D6 diplotype '*1-*4' is malformed",
        ),
        (
            "sample\tgene\tdiplotype\tstatus\nP1\tCYP2D6\t*1/*4\tmaybe\n",
            "plain",
            "{p}, line 2, column 'status': 'maybe'; expected one of called, ambiguous, no-call",
        ),
        (
            "sample\tgene\tdiplotype\nP1\tCYP2B6\t*6\n",
            "plain",
            "{p}, line 2, column 'diplotype': CYP2B6 diplotype '*6' is malformed (one haplotype only)",
        ),
        ("x", "pharmgkb", "unknown star-allele caller 'pharmgkb'"),
    ],
)
def test_phenotype_command_bad_input_is_one_named_error(tmp_path, content, tool, message):
    p = tmp_path / "calls.tsv"
    if content is not None:
        p.write_text(content, encoding="utf-8")
    res = _cli("--calls", str(p), "--tool", tool, "--out", "-")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("stratify: error: " + message.format(p=p)), line


def test_phenotype_command_bad_standard_input_is_named_so():
    res = _cli("--calls", "-", "--out", "-", stdin="sample\tgene\tdiplotype\nP1\tCYP2D6\t*1//*4\n")
    assert res.returncode == 2
    assert (
        res.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "stratify: error: <standard input>, line 2, column 'diplotype': CYP2D6 diplotype '*1//*4' is malformed"
        )
    )


def test_phenotype_command_unwritable_output(tmp_path, capsys):
    from stratify.cli import main

    calls = tmp_path / "calls.tsv"
    calls.write_text(CALLS_TSV, encoding="utf-8")
    for out in (tmp_path / "no" / "such" / "dir" / "out.tsv", tmp_path):
        assert main(["pgx", "phenotype", "--calls", str(calls), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith(f"stratify: error: {out}: cannot write the phenotype TSV") and "or - for standard" in err


def test_api_docstring_examples_run():
    import stratify.pgx.api as api_mod

    result = doctest.testmod(api_mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 3
