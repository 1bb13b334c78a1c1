"""Tests for stratify.pgx.alleles: definitions, VCF reading, PharmCAT-style matching."""

from __future__ import annotations

import doctest
import hashlib
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stratify.pgx.alleles as alleles_mod
from stratify.errors import GenotypeError, PgxError
from stratify.io.paths import resource_dir
from stratify.pgx import call_diplotypes, load_definitions, read_vcf_genotypes, star_sort_key

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "pgx"
SHARED = REPO.parent / "shared" / "data" / "pgx"
CYP2C19_TESTS = SHARED / "pharmcat" / "tests" / "cyp2c19"
FIXTURES = sorted(p.name for p in CYP2C19_TESTS.glob("*.vcf"))


@pytest.fixture(scope="module")
def defs():
    return load_definitions("CYP2C19")


def genotypes(defs, variations=None, missing=(), sample="S", phased=False):
    """A genotype table like PharmCAT's TestVcfBuilder: reference everywhere except
    ``variations`` (rsid -> (allele1, allele2)) and the ``missing`` rsIDs."""
    variations = variations or {}
    rows = []
    for p in defs.positions:
        if p.rsid in missing:
            a1 = a2 = None
        else:
            a1, a2 = variations.get(p.rsid, (p.ref, p.ref))
        rows.append({"sample": sample, "pos": p.pos, "rsid": p.rsid, "allele1": a1, "allele2": a2, "phased": phased})
    unknown = (set(variations) | set(missing)) - {p.rsid for p in defs.positions}
    assert not unknown, unknown
    return pd.DataFrame(rows).astype({"allele1": object, "allele2": object})


def candidates(row) -> set[str]:
    return {row["diplotype"], *[a for a in row["alternatives"].split(";") if a]} - {""}


def considered(row) -> set[str]:
    """The candidates, plus the lone match a failed genotype kept from being called."""
    m = re.search(r"only (\S+) matches the other positions", row["genotype_flags"])
    return candidates(row) | ({m.group(1)} if m else set())


def lone_match_not_called(row, expected: str) -> bool:
    """A record with a failed call (./.) at a defining position: never a confident call."""
    return row["status"] != "called" and "'./.'" in row["genotype_flags"] and expected in considered(row)


# --------------------------------------------------------------------------- definitions


def test_definitions_shape(defs):
    assert (defs.gene, defs.chrom, defs.build, defs.reference) == ("CYP2C19", "chr10", "GRCh38", "*38")
    assert len(defs.positions) == 35 and len(defs.alleles) == 36
    assert defs.positions[0].pos == 94761900 and defs.positions[0].rsid == "rs12248560"
    assert defs.positions[-1].pos == 94852914
    assert [p.pos for p in defs.positions] == sorted(p.pos for p in defs.positions)  # file order
    assert all(len(b) == 35 for b in defs.alleles.values())


def test_definitions_scores_follow_pharmcat(defs):
    # PharmCAT's score is the number of non-null bases in the file's ``alleles`` (its
    # ``score`` field); *1 is fully specified there although its cpicAlleles name one position.
    raw = json.loads((resource_dir() / "pgx" / "CYP2C19_translation.json").read_text())
    assert defs.defined == {a["name"]: a["score"] for a in raw["namedAlleles"]}
    assert (defs.defined["*1"], defs.defined["*38"], defs.defined["*2"], defs.defined["*4"]) == (35, 35, 4, 3)
    assert sum(b is not None for b in raw["namedAlleles"][1]["cpicAlleles"]) == 1  # *1's cpicAlleles


def test_definitions_fill_reference_where_silent(defs):
    ref = defs.alleles["*38"]
    assert ref == tuple(p.ref for p in defs.positions)
    k4244285 = [p.rsid for p in defs.positions].index("rs4244285")
    assert defs.alleles["*2"][k4244285] == "A"
    assert defs.alleles["*2"][0] == "C"  # silent at rs12248560 -> reference
    assert defs.alleles["*4"][0] == "Y"  # IUPAC kept
    assert not any(b is None for bases in defs.alleles.values() for b in bases)
    assert sum(defs.specified["*2"]) == 4


def test_shipped_definitions_identical_to_source():
    shipped = resource_dir() / "pgx" / "CYP2C19_translation.json"
    source = SHARED / "pharmcat" / "definitions" / "CYP2C19_translation.json"
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()


def test_unknown_gene_points_to_callers():
    with pytest.raises(PgxError, match=r"no allele definitions for CYP2D6.*read_calls"):
        load_definitions("CYP2D6")


def _write_defs(tmp_path, mutate):
    raw = json.loads((resource_dir() / "pgx" / "CYP2C19_translation.json").read_text())
    mutate(raw)
    p = tmp_path / "X_translation.json"
    p.write_text(json.dumps(raw))
    return p


def test_definitions_missing_field(tmp_path):
    p = _write_defs(tmp_path, lambda r: r.pop("variants"))
    with pytest.raises(PgxError, match=r"X_translation.json: allele-definition file lacks the field 'variants'"):
        load_definitions(path=p)


def test_definitions_wrong_length(tmp_path):
    p = _write_defs(tmp_path, lambda r: r["namedAlleles"][3]["alleles"].pop())
    with pytest.raises(PgxError, match=r"allele \*3 has 34 bases, expected one per variant \(35\)"):
        load_definitions(path=p)


def test_definitions_need_one_reference(tmp_path):
    p = _write_defs(tmp_path, lambda r: r["namedAlleles"][1].update(reference=True))
    with pytest.raises(PgxError, match="exactly one named allele"):
        load_definitions(path=p)


def test_definitions_not_json(tmp_path):
    p = tmp_path / "bad_translation.json"
    p.write_text("{not json")
    with pytest.raises(PgxError, match="bad_translation.json: cannot read allele definitions"):
        load_definitions(path=p)


def test_star_sort_key():
    assert sorted(["*38", "*10", "*2", "*1", "Reference", "*2B"], key=star_sort_key) == [
        "*1",
        "*2",
        "*2B",
        "*10",
        "*38",
        "Reference",
    ]


# --------------------------------------------------------------------------- VCF reading


def test_read_single_fixture(defs):
    g = read_vcf_genotypes(CYP2C19_TESTS / "s1s2.vcf", defs)
    assert list(g.columns) == ["sample", "pos", "rsid", "allele1", "allele2", "phased", "gt", "gt_status"]
    assert len(g) == 35 and set(g["sample"]) == {"PharmCAT"}
    assert g["pos"].dtype == np.int64 and g["phased"].dtype == bool
    assert g["allele1"].dtype == object
    row = g.set_index("rsid").loc["rs4244285"]
    assert (row.allele1, row.allele2, row.phased) == ("G", "A", False)
    # rs57700608 (*41) postdates this fixture: missing, not reference
    absent = g.set_index("rsid").loc["rs57700608"]
    assert absent.allele1 is None and absent.allele2 is None


def test_read_edge_cases_contig_without_chr(defs):
    g = read_vcf_genotypes(DATA / "cyp2c19_edgecases.nochr.vcf", defs)
    assert list(dict.fromkeys(g["sample"])) == ["A", "B", "C"]
    got = {(r.sample, r.rsid): (r.allele1, r.allele2, r.phased) for r in g.itertuples()}
    assert got[("A", "rs12248560")] == ("C", "T", True)
    assert got[("B", "rs12248560")] == ("T", "T", False)
    assert got[("C", "rs12248560")] == (None, None, False)  # ./.
    assert got[("A", "rs28399504")] == ("A", "C", False)  # multi-allelic G,C: 0/2
    assert got[("B", "rs28399504")] == ("A", "G", False)
    assert got[("C", "rs58973490")] == ("G", None, False)  # half call 0/.
    assert got[("A", "rs4244285")] == (None, None, False)  # split records contradict each other
    assert got[("B", "rs4244285")] == ("G", "T", False)  # split records merged
    assert got[("C", "rs4244285")] == ("A", "G", True)
    assert got[("A", "rs3758581")] == ("G", "G", False)  # ID "." in the VCF; rsID from the definition
    assert got[("A", "rs4986893")] == (None, None, False)  # absent record -> missing
    assert len(g) == 3 * 35  # the non-definition record 94760676 is ignored


def test_read_samples_subset_in_requested_order(defs):
    g = read_vcf_genotypes(DATA / "cyp2c19_edgecases.nochr.vcf", defs, samples=["C", "A"])
    assert list(dict.fromkeys(g["sample"])) == ["C", "A"]
    assert g.set_index(["sample", "rsid"]).loc[("C", "rs4244285"), "allele1"] == "A"


def test_read_unknown_sample(defs):
    with pytest.raises(GenotypeError, match=r"cyp2c19_edgecases.nochr.vcf: sample\(s\) not in the VCF: Z"):
        read_vcf_genotypes(DATA / "cyp2c19_edgecases.nochr.vcf", defs, samples=["A", "Z"])


def test_indexed_region_query_equals_scan(defs, tmp_path):
    pysam = pytest.importorskip("pysam")
    gz = tmp_path / "edge.vcf.gz"
    pysam.tabix_compress(str(DATA / "cyp2c19_edgecases.nochr.vcf"), str(gz))
    pysam.tabix_index(str(gz), preset="vcf")
    assert (tmp_path / "edge.vcf.gz.tbi").is_file()
    scanned = read_vcf_genotypes(DATA / "cyp2c19_edgecases.nochr.vcf", defs)
    queried = read_vcf_genotypes(gz, defs)
    pd.testing.assert_frame_equal(scanned, queried)


def test_merged_indexed_fixtures_equal_single_files(defs):
    merged = read_vcf_genotypes(CYP2C19_TESTS / "merged_fixtures.GRCh38.vcf.gz", defs)
    for name in FIXTURES:
        # bcftools merge wrote ./. where a single file has no record: the bases agree, gt/gt_status do not
        single = read_vcf_genotypes(CYP2C19_TESTS / name, defs).drop(columns=["sample", "gt", "gt_status"])
        part = merged[merged["sample"] == name[:-4]].drop(columns=["sample", "gt", "gt_status"])
        part = part.reset_index(drop=True)
        pd.testing.assert_frame_equal(single, part, obj=name)


def test_grch37_fixture_rejected(defs):
    with pytest.raises(GenotypeError, match=r"cyp2c19_grch37.vcf: the header says GRCh37/hg19.*liftover.*CrossMap"):
        read_vcf_genotypes(DATA / "cyp2c19_grch37.vcf", defs)


def test_grch37_real_chip_vcf_rejected(defs):
    # Real Affymetrix 6.0 genotypes of Coriell samples: contig 10 with length and assembly=b37.
    with pytest.raises(GenotypeError, match="GRCh37"):
        read_vcf_genotypes(SHARED / "pypgx" / "pypgx-data" / "coriell-affy6.GRCh37.variants.vcf.gz", defs)


@pytest.mark.parametrize(
    "header, is_37",
    [
        ("##reference=file:///ref/hg19.fa\n##contig=<ID=chr10>\n", True),
        ("##reference=human_g1k_v37.fasta\n", True),
        ("##contig=<ID=chr10,assembly=GRCh37>\n", True),
        ("##contig=<ID=chr10,length=133797422,assembly=hg19>\n", False),  # length decides
        ("##reference=GRCh38\n##contig=<ID=chr10>\n", False),
        ("##contig=<ID=chr10,assembly=hg38>\n", False),
        ("", False),
    ],
)
def test_build_detection_from_header(defs, tmp_path, header, is_37):
    p = tmp_path / "h.vcf"
    p.write_text(
        "##fileformat=VCFv4.2\n" + header + '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\n"
        "chr10\t94781859\trs4244285\tG\tA\t.\tPASS\t.\tGT\t0/1\n"
    )
    if is_37:
        with pytest.raises(GenotypeError, match="GRCh37 is not supported|GRCh37/hg19"):
            read_vcf_genotypes(p, defs)
    else:
        g = read_vcf_genotypes(p, defs)
        assert g.set_index("rsid").loc["rs4244285", "allele2"] == "A"


def test_ref_mismatch_names_file_position_and_bases(defs):
    with pytest.raises(
        GenotypeError,
        match=r"cyp2c19_ref_mismatch.vcf, line 7, record chr10:94781859 \(rs4244285\): "
        r"REF is A, the definition's is G; is the VCF on GRCh38 and normalised",
    ):
        read_vcf_genotypes(DATA / "cyp2c19_ref_mismatch.vcf", defs)


def test_missing_vcf(defs, tmp_path):
    with pytest.raises(GenotypeError, match="nothere.vcf: VCF not found"):
        read_vcf_genotypes(tmp_path / "nothere.vcf", defs)


def test_unreadable_vcf(defs, tmp_path):
    p = tmp_path / "garbage.vcf.gz"
    p.write_bytes(b"\x00\x01 not a vcf")
    with pytest.raises(GenotypeError, match="garbage.vcf.gz, line 1: the first record comes before the #CHROM"):
        read_vcf_genotypes(p, defs)


def test_sites_only_vcf(defs, tmp_path):
    p = tmp_path / "sites.vcf"
    p.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr10>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "chr10\t94781859\trs4244285\tG\tA\t.\tPASS\t.\n"
    )
    with pytest.raises(GenotypeError, match="sites.vcf: the VCF has no samples"):
        read_vcf_genotypes(p, defs)


def test_vcf_without_gene_contig(defs):
    # The GeT-RM CYP2D6 VCF covers chr22 only.
    with pytest.raises(GenotypeError, match=r"no contig chr10 or 10 in the header \(contigs: chr22\)"):
        read_vcf_genotypes(SHARED / "getrm" / "getrm88.CYP2D6.GRCh38.unphased.vcf.gz", defs)


# --------------------------------------------------------------------------- PharmCAT fixtures

# Expected top-scoring candidates for each of PharmCAT's 27 static CYP2C19 fixtures (first =
# the diplotype column), with where the expectation comes from:
#   junit: the assertion of PharmCAT's same-named test (expected_calls.tsv); PharmCAT's test
#          lists every match, best first, unless it asks for top candidates only; we compare
#          the top-scoring ones.
#   name:  no PharmCAT assertion; the file name's diplotype.
#   rule:  no PharmCAT assertion, and the answer differs from the name; the reason says why
#          PharmCAT's own rules give it.
# Legacy fixtures lack rs57700608 (*41) and many lack rs3758581 and rs17885179; with
# rs3758581 missing *1 and *38 are indistinguishable, so both are reported.
EXPECTED = {
    "noCall.vcf": ([], "rule", "rs4244285 A/A with rs12769205 only het: no pair of alleles fits (PyPGx imputes *1/*2)"),
    "rs12769205call.vcf": (["*1/*35"], "junit", ""),
    "rs12769205missingrs4244285het.vcf": (
        ["*1/*2", "*2/*35", "*2/*41"],
        "junit",
        "PharmCAT lists *1/*2 then *2/*35; in the merged file rs12769205 is a "
        "record with a failed call (./.), so every matching pair stays",
    ),
    "rs12769205only.vcf": (
        ["*1/*2", "*1/*35", "*2/*38", "*35/*38"],
        "rule",
        "only rs12769205 is present: *1, *2, *35, *38 all reduce to that one position",
    ),
    "rs12769205ref.vcf": (["*1/*35", "*35/*38"], "rule", "rs3758581 missing: *1 vs *38 undecidable"),
    "s15s28.vcf": (["*15/*28", "*28/*39"], "junit", "rs17885179 (*39) missing: *15 and *39 tie"),
    "s1s1.vcf": (["*1/*1"], "junit", ""),
    "s1s17.vcf": (["*1/*17", "*17/*38"], "rule", "name says *1/*17; rs3758581 missing so *17/*38 ties"),
    "s1s17s1s4bmissing.vcf": (["*1/*4", "*1/*17"], "junit", "rs28399504 missing: *4 and *17 tie"),
    "s1s17s1s4bmissingmore.vcf": (
        None,
        "junit",
        "ten ./. calls: every pair they leave open is kept (a superset "
        "of PharmCAT's top-only *1/*4, *1/*17; Indeterminate either way)",
    ),
    "s1s1rs12248560missing.vcf": (
        ["*1/*1", "*1/*17", "*17/*17"],
        "junit",
        "rs12248560 ./.: *17 cannot be told from *1, so PharmCAT's full list, not its top "
        "*1/*1 (a failed call is no evidence)",
    ),
    "s1s2.vcf": (["*1/*2"], "junit", ""),
    "s1s28.vcf": (["*1/*28"], "junit", ""),
    "s1s2rs3758581missing.vcf": (["*1/*2", "*2/*38"], "rule", "name says *1/*2; rs3758581 missing so *2/*38 ties"),
    "s1s2rs3758581missingRs58973490het.vcf": (
        ["*1/*2"],
        "name",
        "byte-identical to s1s2rs58973490het.vcf: rs3758581 is present",
    ),
    "s1s2rs58973490het.vcf": (["*1/*2"], "name", "*1/*2 (35+4) beats *2/*11 (4+2), which PyPGx reports"),
    "s1s35.vcf": (["*1/*35", "*35/*38"], "rule", "name says *1/*35; rs3758581 missing so *35/*38 ties"),
    "s1s4b.vcf": (["*1/*4"], "junit", "PharmCAT's s1s4: *1/*4 over *4/*17"),
    "s1s4s17.vcf": (["*1/*4"], "name", "byte-identical to s1s4b.vcf (PyPGx says *4/*17)"),
    "s2s2.vcf": (["*2/*2"], "junit", ""),
    "s2s3.vcf": (["*2/*3"], "junit", ""),
    "s4as4b.vcf": (["*4/*4"], "junit", ""),
    "s4bs17.vcf": (["*4/*17"], "junit", ""),
    "s4bs17rs28399504missing.vcf": (["*4/*4", "*4/*17", "*17/*17"], "junit", "all three score 4"),
    "s4s17het.vcf": (["*4/*17"], "junit", ""),
    "s4s17missingS1.vcf": (
        ["*1/*4", "*4/*38"],
        "rule",
        "name says *4/*17, but rs12248560 is het: *1/*4 (fully specified *1) beats *4/*17 "
        "as in PharmCAT's own s1s4 test; rs3758581 missing so *4/*38 ties",
    ),
    "sUnks17.vcf": ([], "junit", "rs28399504 A>C is a base no allele has: NO_CALL"),
}


def test_expectations_cover_every_fixture():
    assert len(FIXTURES) == 27
    assert set(EXPECTED) == set(FIXTURES)


@pytest.fixture(scope="module")
def fixture_calls(defs):
    g = read_vcf_genotypes(CYP2C19_TESTS / "merged_fixtures.GRCh38.vcf.gz", defs)
    return call_diplotypes(g, defs).set_index("sample")


@pytest.mark.parametrize("name", FIXTURES)
def test_pharmcat_fixture(fixture_calls, name):
    expected, _source, _reason = EXPECTED[name]
    row = fixture_calls.loc[name[:-4]]
    if expected is None:  # failed calls keep every pair they leave open
        assert row.status == "ambiguous" and {"*1/*4", "*1/*17"} <= candidates(row)
        return
    if not expected:
        assert (row.status, row.diplotype, row.n_candidates) == ("no-call", "", 0)
        return
    if len(expected) == 1 and row.genotype_flags:
        # the merged file turned this fixture's absent records into ./. rows: a failed call
        assert lone_match_not_called(row, expected[0]), row.to_dict()
        return
    assert row.diplotype == expected[0]
    assert row.alternatives == ";".join(expected[1:])
    assert row.status == ("called" if len(expected) == 1 else "ambiguous")
    assert row.n_candidates == len(expected)
    assert (row.haplotype1, row.haplotype2) == tuple(expected[0].split("/"))


def _pharmcat_alternatives(text: str) -> list[str]:
    return [] if text in ("", "NO_CALL") else text.split("|")


def test_concordance_with_pharmcat_assertions(fixture_calls):
    """Every fixture with a PharmCAT assertion: our top candidates are PharmCAT's top ones.

    PharmCAT's lists are all matches, best first; ours keeps the top-scoring ones, which must
    be the head of PharmCAT's list, and PharmCAT's remaining matches must be among ours when
    we keep all matches.
    """
    table = pd.read_csv(CYP2C19_TESTS / "expected_calls.tsv", sep="\t", dtype=str).fillna("")
    asserted = table[table["junit_assertion_same_named_test"] != ""]
    assert len(asserted) == 17
    agree = 0
    for r in asserted.itertuples():
        ours = EXPECTED[r.vcf_file][0]
        theirs = _pharmcat_alternatives(r.junit_assertion_same_named_test)
        assert EXPECTED[r.vcf_file][1] == "junit"
        row = fixture_calls.loc[r.vcf_file[:-4]]
        if ours is None:  # ./. calls: a superset of PharmCAT's top candidates
            assert set(theirs) <= candidates(row)
        elif len(ours) == 1 and row.genotype_flags:
            assert lone_match_not_called(row, ours[0]) and ours[0] in theirs
        else:
            assert sorted(candidates(row)) == sorted(ours)
            # *41 pairs: the static files lack rs57700608 (see test_all_matches_contain_pharmcat_lists)
            assert {d for d in ours if "*41" not in d} <= set(theirs) or (not ours and not theirs)
        agree += 1
    assert agree == 17


def test_all_matches_contain_pharmcat_lists(defs):
    g = read_vcf_genotypes(CYP2C19_TESTS / "merged_fixtures.GRCh38.vcf.gz", defs)
    every = call_diplotypes(g, defs, top_only=False).set_index("sample")
    table = pd.read_csv(CYP2C19_TESTS / "expected_calls.tsv", sep="\t", dtype=str).fillna("")
    for r in table.itertuples():
        theirs = set(_pharmcat_alternatives(r.junit_assertion_same_named_test))
        # The static files lack rs57700608, so *41 collapses onto *1 and adds pairs PharmCAT's
        # tests (built with the position present) do not have.
        ours = {d for d in considered(every.loc[r.vcf_file[:-4]]) if "*41" not in d}
        assert theirs <= ours, r.vcf_file


@pytest.mark.parametrize(
    "name, rsids",
    [
        ("s1s17s1s4bmissing", ["rs28399504"]),
        (
            "s1s17s1s4bmissingmore",
            [
                "rs28399504",
                "rs17882687",
                "rs1564656981",
                "rs1564657013",
                "rs1564660997",
                "rs1288601658",
                "rs17885179",
                "rs375781227",
                "rs72558186",
                "rs113934938",
            ],
        ),
        ("s1s1rs12248560missing", ["rs12248560"]),
        ("s4bs17rs28399504missing", ["rs28399504"]),
        ("rs12769205missingrs4244285het", ["rs12769205"]),
        ("s1s2rs3758581missing", ["rs3758581"]),
        ("s4s17missingS1", ["rs3758581"]),
    ],
)
def test_missing_positions_reported(fixture_calls, name, rsids):
    reported = fixture_calls.loc[name, "missing_positions"].split(";")
    assert set(rsids) <= set(reported)
    assert "rs57700608" in reported  # absent from every legacy fixture


def test_fully_typed_fixture_reports_only_absent_positions(fixture_calls):
    assert fixture_calls.loc["s1s2", "missing_positions"] == "rs57700608"


# PharmCAT's current NamedAlleleMatcherCyp2c19Test builds its VCFs at run time (TestVcfBuilder:
# reference everywhere except the listed variations and missing positions). Same cases here;
# ``top`` marks the tests that ask PharmCAT for top candidates only, the others compare all matches.
JUNIT = [
    ("s1s1", {"rs3758581": ("G", "G")}, [], False, ["*1/*1"]),
    ("s1s2", {"rs12769205": ("A", "G"), "rs4244285": ("G", "A"), "rs3758581": ("G", "G")}, [], False, ["*1/*2"]),
    ("s1s4", {"rs12248560": ("C", "T"), "rs28399504": ("A", "G"), "rs3758581": ("G", "G")}, [], True, ["*1/*4"]),
    (
        "s1s17s1s4bMissingCalls",
        {"rs12248560": ("C", "T"), "rs3758581": ("G", "G")},
        ["rs28399504"],
        True,
        ["*1/*4", "*1/*17"],
    ),
    (
        "s1s17s1s4bMissingMoreCalls",
        {"rs12248560": ("C", "T"), "rs3758581": ("G", "G")},
        [
            "rs28399504",
            "rs17882687",
            "rs1564656981",
            "rs1564657013",
            "rs1564660997",
            "rs1288601658",
            "rs17885179",
            "rs375781227",
            "rs72558186",
            "rs113934938",
        ],
        True,
        ["*1/*4", "*1/*17"],
    ),
    ("s1s28", {"rs17882687": ("A", "C"), "rs3758581": ("G", "G"), "rs113934938": ("G", "A")}, [], False, ["*1/*28"]),
    ("s2s2", {"rs12769205": ("G", "G"), "rs4244285": ("A", "A")}, ["rs3758581"], False, ["*2/*2"]),
    (
        "s2s3",
        {"rs12769205": ("A", "G"), "rs4986893": ("G", "A"), "rs4244285": ("G", "A")},
        ["rs3758581"],
        False,
        ["*2/*3"],
    ),
    ("s4as4b", {"rs12248560": ("C", "T"), "rs28399504": ("G", "G")}, ["rs3758581"], False, ["*4/*4"]),
    ("s4bs17", {"rs12248560": ("T", "T"), "rs28399504": ("A", "G")}, ["rs3758581"], False, ["*4/*17"]),
    (
        "s15s28",
        {"rs17882687": ("C", "C"), "rs113934938": ("G", "A")},
        ["rs3758581", "rs17885179"],
        False,
        ["*15/*28", "*28/*39"],
    ),
    ("sUnks17", {"rs12248560": ("T", "T"), "rs28399504": ("A", "G")}, [], False, []),
    (
        "rs12769205missingrs4244285het",
        {"rs4244285": ("G", "A"), "rs3758581": ("G", "G")},
        ["rs12769205"],
        False,
        ["*1/*2", "*2/*35"],
    ),
    ("rs12769205call", {"rs12769205": ("A", "G"), "rs3758581": ("G", "G")}, [], False, ["*1/*35"]),
    ("s4bs17rs28399504missing", {"rs12248560": ("T", "T")}, ["rs28399504"], False, []),
    ("s1s1rs12248560missing", {"rs3758581": ("G", "G")}, ["rs12248560"], False, ["*1/*1", "*1/*17", "*17/*17"]),
    ("s4s17het", {"rs12248560": ("T", "T"), "rs28399504": ("A", "G"), "rs3758581": ("G", "G")}, [], False, ["*4/*17"]),
    ("s2s35", {"rs12769205": ("A", "G"), "rs4244285": ("A", "A")}, [], False, []),
]


@pytest.mark.parametrize("name, variations, missing, top, expected", JUNIT, ids=[c[0] for c in JUNIT])
def test_pharmcat_junit_cases(defs, name, variations, missing, top, expected):
    row = call_diplotypes(genotypes(defs, variations, missing), defs, top_only=top).iloc[0]
    assert candidates(row) == set(expected)
    assert row.status == {0: "no-call", 1: "called"}.get(len(expected), "ambiguous")


def test_pharmcat_example_outputs(defs):
    """PharmCAT's documented examples: its match JSON says *38/*38 (score 70), report2 *2/*2."""
    ex = SHARED / "pharmcat" / "examples"
    match = json.loads((ex / "pharmcat.example.match.json").read_text())
    golden = next(r for r in match["results"] if r["gene"] == "CYP2C19")
    assert [d["name"] for d in golden["diplotypes"]] == ["*38/*38"]
    row = call_diplotypes(read_vcf_genotypes(ex / "pharmcat.example.vcf", defs), defs).iloc[0]
    assert (row.diplotype, row.status, row.missing_positions) == ("*38/*38", "called", "")
    assert golden["diplotypes"][0]["score"] == 2 * defs.defined["*38"]
    report2 = (ex / "pharmcat.example2.report.tsv").read_text()
    assert "CYP2C19\t*2/*2\t" in report2
    row2 = call_diplotypes(read_vcf_genotypes(ex / "pharmcat.example2.vcf", defs), defs).iloc[0]
    assert (row2.diplotype, row2.status) == ("*2/*2", "called")


def test_sample_without_any_position_is_no_call(defs):
    # PharmCAT's golden Sample_1 has no CYP2C19 position at all; its match JSON calls nothing.
    golden = SHARED / "pharmcat" / "tests" / "golden"
    match = json.loads((golden / "Sample_1.match.json").read_text())
    assert next(r for r in match["results"] if r["gene"] == "CYP2C19")["diplotypes"] == []
    row = call_diplotypes(read_vcf_genotypes(golden / "Sample_1.preprocessed.vcf", defs), defs).iloc[0]
    assert (row.status, row.diplotype, row.n_candidates) == ("no-call", "", 0)
    assert row.missing_positions.split(";") == [p.rsid for p in defs.positions]


# --------------------------------------------------------------------------- matching rules


def test_output_columns_and_types(defs):
    out = call_diplotypes(genotypes(defs, {"rs3758581": ("G", "G")}), defs, gene="CYP2C19-test")
    assert list(out.columns) == [
        "sample",
        "gene",
        "diplotype",
        "haplotype1",
        "haplotype2",
        "status",
        "alternatives",
        "missing_positions",
        "n_candidates",
        "genotype_flags",
        "not_callable",
    ]
    assert out.loc[0, "gene"] == "CYP2C19-test"
    assert out.loc[0, "not_callable"].startswith("*36 (whole-gene deletion); *37 (partial gene deletion)")
    assert out["n_candidates"].dtype == np.int64


def test_reference_is_38_only_when_rs3758581_reference(defs):
    assert call_diplotypes(genotypes(defs), defs).loc[0, "diplotype"] == "*38/*38"
    assert call_diplotypes(genotypes(defs, {"rs3758581": ("A", "G")}), defs).loc[0, "diplotype"] == "*1/*38"
    assert call_diplotypes(genotypes(defs, {"rs3758581": ("G", "G")}), defs).loc[0, "diplotype"] == "*1/*1"


def test_diplotype_alleles_in_numeric_order(defs):
    # *2 + *17, written in the VCF with the *17 variant first
    g = genotypes(
        defs, {"rs12248560": ("T", "C"), "rs12769205": ("A", "G"), "rs4244285": ("A", "G"), "rs3758581": ("G", "G")}
    )
    row = call_diplotypes(g, defs).iloc[0]
    assert (row.diplotype, row.haplotype1, row.haplotype2) == ("*2/*17", "*2", "*17")


def test_ambiguous_never_looks_like_clean_call(defs):
    row = call_diplotypes(genotypes(defs, {"rs3758581": ("G", "G")}, ["rs12248560", "rs28399504"]), defs).iloc[0]
    assert row.status == "called"  # *1/*1 still wins: it is specified at 33 positions
    row = call_diplotypes(
        genotypes(defs, {"rs12248560": ("C", "T"), "rs3758581": ("G", "G")}, ["rs28399504"]), defs
    ).iloc[0]
    assert row.status == "ambiguous" and row.alternatives and row.n_candidates == 2


def test_phase_decides_cis_or_trans(defs):
    """rs58973490 A (*11's core) beside *2: unphased, *1/*2 wins (more specific); phased on
    the other chromosome from *2's variants it is *2/*11 (1000 Genomes NA20764 has this)."""
    var = {"rs12769205": ("G", "A"), "rs4244285": ("A", "G"), "rs58973490": ("G", "A"), "rs3758581": ("G", "G")}
    assert call_diplotypes(genotypes(defs, var), defs).loc[0, "diplotype"] == "*1/*2"
    assert call_diplotypes(genotypes(defs, var, phased=True), defs).loc[0, "diplotype"] == "*2/*11"
    cis = dict(var, rs58973490=("A", "G"))  # on the *2 chromosome: *2's R base
    assert call_diplotypes(genotypes(defs, cis, phased=True), defs).loc[0, "diplotype"] == "*1/*2"


def test_phase_can_rule_everything_out(defs):
    # *17's and *22's variants on one chromosome: no named allele carries both.
    var = {"rs12248560": ("T", "C"), "rs140278421": ("C", "G"), "rs3758581": ("G", "G")}
    assert call_diplotypes(genotypes(defs, var), defs).loc[0, "diplotype"] == "*17/*22"
    assert call_diplotypes(genotypes(defs, var, phased=True), defs).loc[0, "status"] == "no-call"
    trans = dict(var, rs140278421=("G", "C"))
    assert call_diplotypes(genotypes(defs, trans, phased=True), defs).loc[0, "diplotype"] == "*17/*22"


def test_half_call_is_missing_for_matching(defs):
    g = genotypes(defs, {"rs3758581": ("G", "G")})
    g.loc[g.rsid == "rs4244285", "allele2"] = None
    row = call_diplotypes(g, defs).iloc[0]
    assert row.missing_positions == "rs4244285"
    # a half call is a failed genotype: the lone *1/*1 is named, not called (issue 8)
    assert (row.status, row.diplotype) == ("no-call", "")
    assert considered(row) == {"*1/*1"}


def test_every_position_missing_is_no_call(defs):
    g = genotypes(defs, missing=[p.rsid for p in defs.positions])
    row = call_diplotypes(g, defs).iloc[0]
    assert (row.status, row.diplotype) == ("no-call", "")
    assert len(row.missing_positions.split(";")) == 35


def test_position_without_rsid_reported_by_position(defs):
    d = load_definitions()
    positions = tuple(type(p)(p.pos, None if p.rsid == "rs4244285" else p.rsid, p.ref, p.alts) for p in d.positions)
    d2 = type(d)(**{**d.__dict__, "positions": positions})
    g = genotypes(d, {"rs3758581": ("G", "G")}, ["rs4244285"])
    assert call_diplotypes(g, d2).loc[0, "missing_positions"] == "94781859"


def test_rows_outside_definitions_ignored_and_absent_rows_missing(defs):
    g = genotypes(defs, {"rs3758581": ("G", "G")})
    extra = pd.DataFrame([{"sample": "S", "pos": 1, "rsid": "x", "allele1": "T", "allele2": "T", "phased": False}])
    g = pd.concat([g[g.rsid != "rs12248560"], extra], ignore_index=True)
    row = call_diplotypes(g, defs).iloc[0]
    assert row.missing_positions == "rs12248560"


def test_several_samples_keep_input_order(defs):
    g = pd.concat([genotypes(defs, {"rs3758581": ("G", "G")}, sample="Z9"), genotypes(defs, sample="A1")])
    out = call_diplotypes(g, defs)
    assert out["sample"].tolist() == ["Z9", "A1"]
    assert out["diplotype"].tolist() == ["*1/*1", "*38/*38"]


def test_empty_table(defs):
    out = call_diplotypes(genotypes(defs).iloc[:0], defs)
    assert len(out) == 0 and "diplotype" in out.columns


def test_missing_column_raises(defs):
    with pytest.raises(PgxError, match="lacks column\\(s\\) allele2"):
        call_diplotypes(genotypes(defs).drop(columns="allele2"), defs)


def test_duplicate_rows_raise(defs):
    g = genotypes(defs)
    g = pd.concat([g, g.iloc[[3]]], ignore_index=True)
    with pytest.raises(PgxError, match="several rows for sample S at position 94762715"):
        call_diplotypes(g, defs)


# --------------------------------------------------------------------------- real data, speed


@pytest.fixture(scope="module")
def kgp(defs):
    return read_vcf_genotypes(SHARED / "pypgx-bundle" / "1kgp" / "GRCh38" / "CYP2C19.vcf.gz", defs)


def test_phased_panel_matches_are_subset_of_unphased(defs, kgp):
    """1000 Genomes 30x, 3,202 phased samples: phase can only remove candidate diplotypes."""
    phased = call_diplotypes(kgp, defs, top_only=False)
    unphased = call_diplotypes(kgp.assign(phased=False), defs, top_only=False)
    assert len(phased) == 3202
    assert all(candidates(p) <= candidates(u) for (_, p), (_, u) in zip(phased.iterrows(), unphased.iterrows()))
    top = call_diplotypes(kgp, defs)
    assert (top["status"] == "called").mean() > 0.95
    assert top["diplotype"].value_counts().index[0] == "*1/*1"


def test_ten_thousand_samples_in_seconds(defs, kgp):
    big = pd.concat([kgp.assign(sample=kgp["sample"] + f"_{k}") for k in range(4)], ignore_index=True)
    assert big["sample"].nunique() > 12_000
    start = time.perf_counter()
    out = call_diplotypes(big, defs)
    elapsed = time.perf_counter() - start
    assert len(out) == big["sample"].nunique()
    assert elapsed < 10, f"call_diplotypes took {elapsed:.1f} s for {len(out)} samples"


def test_docstring_examples_run():
    attempted = 0
    for mod in (alleles_mod, alleles_mod.definitions, alleles_mod.vcf, alleles_mod.match, alleles_mod.nocall):
        result = doctest.testmod(mod)
        assert result.failed == 0, mod.__name__
        attempted += result.attempted
    assert attempted > 5


def test_shared_data_present():
    # The tests above read ../shared/data/pgx; fail loudly (not skip) if it is not there.
    assert (SHARED / "PROVENANCE.md").is_file()
