"""CYP2B6 (CPIC 2023 SSRI/SNRI guideline, sertraline): definitions, VCF calls, phenotypes, readers, pipeline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratify.cli import main
from stratify.errors import GenotypeError, PgxError
from stratify.io.paths import resource_dir
from stratify.pgx.alleles import (
    KEEP_OTHER_PHASINGS,
    STRUCTURAL_ALLELES,
    VCF_CALLABLE_GENES,
    call_diplotypes,
    load_definitions,
    read_vcf_genotypes,
)
from stratify.pgx.alleles.definitions import _IUPAC
from stratify.pgx.api import call_vcf
from stratify.pgx.callers import read_calls
from stratify.pgx.phenotype import add_phenotypes

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pgx" / "pharmcat"
EXAMPLES = SHARED / "examples"
HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=chr19,length=58617616>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT"
)


@pytest.fixture(scope="module")
def defs():
    return load_definitions("CYP2B6")


def _haplotype(defs, allele: str) -> list[str]:
    """One base per position for a chromosome carrying ``allele`` (IUPAC: its first base)."""
    return [_IUPAC.get(b, b)[0] for b in defs.alleles[allele]]


def _vcf(tmp_path: Path, defs, samples: dict[str, tuple[str, str]], *, phased: bool = False) -> Path:
    """A VCF written from the definitions: each sample carries the two named haplotypes."""
    sep = "|" if phased else "/"
    haps = {s: (_haplotype(defs, a), _haplotype(defs, b)) for s, (a, b) in samples.items()}
    lines = [HEADER + "\t" + "\t".join(samples)]
    for k, p in enumerate(defs.positions):
        alts = list(p.alts)
        code = {p.ref: "0", **{a: str(i + 1) for i, a in enumerate(alts)}}
        gts = [f"{code[h1[k]]}{sep}{code[h2[k]]}" for h1, h2 in haps.values()]
        lines.append(
            "\t".join(["chr19", str(p.pos), p.rsid or ".", p.ref, ",".join(alts), ".", "PASS", ".", "GT", *gts])
        )
    path = tmp_path / "cyp2b6.vcf"
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------ definitions


def test_shipped_definitions_identical_to_source():
    shipped = resource_dir() / "pgx" / "CYP2B6_translation.json"
    source = SHARED / "definitions" / "CYP2B6_translation.json"
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()


def test_definitions_shape(defs):
    assert (defs.gene, defs.chrom, defs.build, defs.reference) == ("CYP2B6", "chr19", "GRCh38", "*1")
    assert len(defs.positions) == 48 and len(defs.alleles) == 47
    # *6 = 516G>T (rs3745274, *9) + 785A>G (rs2279343, *4)
    rs = [p.rsid for p in defs.positions]
    spec = {a: {rs[k] for k, s in enumerate(defs.specified[a]) if s} for a in ("*4", "*6", "*9")}
    assert spec == {"*4": {"rs2279343"}, "*6": {"rs3745274", "rs2279343"}, "*9": {"rs3745274"}}
    assert defs.defined["*1"] == 48 and "CYP2B6" in VCF_CALLABLE_GENES and "CYP2B6" in KEEP_OTHER_PHASINGS


@pytest.mark.parametrize(
    "gene, table",
    [
        ("CYP2B6", SHARED / "phenotype" / "CYP2B6.json"),
        ("CYP2C19", resource_dir() / "pgx" / "CYP2C19_phenotype.json"),
    ],
)
def test_structural_alleles_are_cpic_alleles_without_a_definition(gene, table):
    """The alleles named not-callable are exactly CPIC's alleles that the translation file cannot define."""
    cpic = {a["name"] for a in json.loads(table.read_text())["namedAlleles"]}
    defined = set(load_definitions(gene).alleles)
    assert set(STRUCTURAL_ALLELES[gene]) == cpic - defined


# ------------------------------------------------------------------ calling from a VCF


def test_every_allele_homozygous_and_with_star1_is_called(tmp_path, defs):
    names = [a for a in defs.alleles if a != "*1"]
    samples = {f"{a}_{a}": (a, a) for a in names} | {f"*1_{a}": ("*1", a) for a in names}
    calls = call_diplotypes(read_vcf_genotypes(_vcf(tmp_path, defs, samples), defs), defs).set_index("sample")
    for a in names:
        hom = calls.loc[f"{a}_{a}"]
        assert (hom.diplotype, hom.status) == (f"{a}/{a}", "called"), hom.to_dict()
        het = calls.loc[f"*1_{a}"]
        # PharmCAT's call leads; an allele made of other alleles' variants has other phasings behind it
        assert het.diplotype == f"*1/{a}", het.to_dict()
        assert het.status == ("called" if not het.alternatives else "ambiguous")


def test_star6_unphased_keeps_star4_star9(tmp_path, defs):
    vcf = _vcf(tmp_path, defs, {"S1": ("*1", "*6")})
    out = call_vcf(vcf, gene="CYP2B6").iloc[0]
    assert (out.diplotype, out.status, out.alternatives, out.n_candidates) == ("*1/*6", "ambiguous", "*4/*9", 2)
    assert out.phenotype == "Intermediate Metabolizer" and out.reason == ""
    assert out.not_callable.startswith("*29 (") and "*30 (" in out.not_callable
    # PharmCAT exactly: the top-scoring diplotype only
    geno = read_vcf_genotypes(vcf, defs)
    strict = call_diplotypes(geno, defs, phase_alternatives=False).iloc[0]
    assert (strict.diplotype, strict.status, strict.alternatives) == ("*1/*6", "called", "")


def test_phase_decides_star6_or_star4_star9(tmp_path, defs):
    cis = call_diplotypes(read_vcf_genotypes(_vcf(tmp_path, defs, {"S": ("*1", "*6")}, phased=True), defs), defs)
    trans = call_diplotypes(read_vcf_genotypes(_vcf(tmp_path, defs, {"S": ("*4", "*9")}, phased=True), defs), defs)
    assert cis[["diplotype", "status"]].values.tolist() == [["*1/*6", "called"]]
    assert trans[["diplotype", "status"]].values.tolist() == [["*4/*9", "called"]]


def test_phasings_with_different_phenotypes_are_indeterminate(tmp_path, defs):
    """*13 = *8's 415A>G + *6: unphased, *1/*13 (IM) cannot be told from *6/*8 (PM)."""
    out = call_vcf(_vcf(tmp_path, defs, {"S": ("*1", "*13")}), gene="CYP2B6").iloc[0]
    assert out.diplotype == "*1/*13" and "*6/*8" in out.alternatives.split(";")
    assert out.phenotype == "Indeterminate"
    assert "*1/*13 Intermediate Metabolizer" in out.reason and "*6/*8 Poor Metabolizer" in out.reason


def test_missing_positions_are_not_reference(tmp_path, defs):
    geno = read_vcf_genotypes(_vcf(tmp_path, defs, {"S": ("*1", "*6")}), defs)
    geno.loc[geno.rsid == "rs2279343", ["allele1", "allele2"]] = None
    out = call_diplotypes(geno, defs).iloc[0]
    assert out.missing_positions == "rs2279343"
    assert out.status == "ambiguous" and {out.diplotype, *out.alternatives.split(";")} >= {"*1/*6", "*1/*9"}


@pytest.mark.parametrize(
    "vcf, report",
    [
        ("pharmcat.example.vcf", "pharmcat.example.report.tsv"),
        ("pharmcat.example2.vcf", "pharmcat.example2.report.tsv"),
    ],
)
def test_pharmcat_examples_give_pharmcats_call_first(vcf, report):
    expected = read_calls(EXAMPLES / report, "pharmcat_report", gene="CYP2B6").iloc[0]
    got = call_vcf(EXAMPLES / vcf, gene="CYP2B6").iloc[0]
    assert got.diplotype == expected.diplotype
    assert got.phenotype == expected.note.removeprefix("phenotype: ")


def test_pharmcat_golden_sample_with_34_missing_positions():
    """PharmCAT's Sample_1 test: CYP2B6 *1/*17 from one of *17's four positions (Sample_1.match.json).

    The golden file was made with older definitions (it lists 34 missing positions); with the
    shipped 48 positions the VCF has one record, so every position PharmCAT missed is missing here too.
    """
    golden = SHARED / "tests" / "golden"
    match = json.loads((golden / "Sample_1.match.json").read_text())
    res = next(r for r in match["results"] if r["gene"] == "CYP2B6")
    got = call_vcf(golden / "Sample_1.preprocessed.vcf", gene="CYP2B6").iloc[0]
    assert [got.diplotype] == [d["name"] for d in res["diplotypes"]] and got.status == "called"
    missing = set(got.missing_positions.split(";"))
    assert len(missing) == 47 and "rs33973337" not in missing
    pos = {p.rsid or str(p.pos): p.pos for p in load_definitions("CYP2B6").positions}
    assert {m["position"] for m in res["matchData"]["missingPositions"]} <= {pos[m] for m in missing}


def test_multisample_example():
    got = call_vcf(EXAMPLES / "multisample.vcf", gene="CYP2B6")
    assert got[["sample", "diplotype", "status"]].values.tolist() == [
        ["Sample_1", "*1/*1", "called"],
        ["Sample_2", "*1/*6", "ambiguous"],
    ]


def test_grch37_chr19_header_is_refused(tmp_path, defs):
    vcf = _vcf(tmp_path, defs, {"S": ("*1", "*1")})
    vcf.write_text(vcf.read_text().replace("length=58617616", "length=59128983"))
    with pytest.raises(GenotypeError, match="GRCh37/hg19"):
        read_vcf_genotypes(vcf, defs)


def test_cli_calls_cyp2b6(tmp_path):
    out = tmp_path / "calls.tsv"
    assert (
        main(["pgx", "call", "--gene", "CYP2B6", "--vcf", str(EXAMPLES / "pharmcat.example2.vcf"), "--out", str(out)])
        == 0
    )
    calls = pd.read_csv(out, sep="\t", keep_default_na=False)
    assert calls[["gene", "diplotype", "alternatives", "phenotype"]].values.tolist() == [
        ["CYP2B6", "*1/*6", "*4/*9", "Intermediate Metabolizer"]
    ]
    assert "not callable from a VCF" in calls.loc[0, "not_callable"]


# ------------------------------------------------------------------ phenotypes (interim table)


def test_add_phenotypes_handles_cyp2b6_beside_the_other_genes_in_row_order():
    """CYP2B6 goes through the one phenotyper (stratify.pgx.phenotype; every CPIC CYP2B6 row is
    tested in tests/test_pgx_phenotype.py)."""
    calls = pd.DataFrame(
        {
            "gene": ["CYP2C19", "CYP2B6", "CYP2D6", "CYP2B6", "CYP2B6", "CYP2B6"],
            "diplotype": ["*1/*2", "*6/*6", "*1/*1", "*1/*13", "", "*1/*99"],
            "status": ["called", "called", "called", "ambiguous", "no-call", "called"],
            "alternatives": ["", "", "", "*6/*8", "", ""],
            "note": ["", "", "", "", "missing positions", ""],
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    out = add_phenotypes(calls)
    assert list(out.index) == [10, 11, 12, 13, 14, 15]
    assert out["phenotype"].tolist() == [
        "Intermediate Metabolizer",
        "Poor Metabolizer",
        "Normal Metabolizer",
        "Indeterminate",
        "",
        "Indeterminate",
    ]
    assert "*99" in out.loc[15, "reason"]
    assert np.isnan(out.loc[11, "activity_score"]) and out.loc[12, "activity_score"] == 2.0


def test_add_phenotypes_bad_status_is_named_for_cyp2b6():
    calls = pd.DataFrame({"gene": ["CYP2B6"], "diplotype": ["*1/*1"], "status": ["maybe"], "alternatives": [""]})
    with pytest.raises(PgxError, match="status 'maybe'"):
        add_phenotypes(calls)


# ------------------------------------------------------------------ other tools' calls


def test_callers_read_cyp2b6(tmp_path):
    plain = tmp_path / "plain.tsv"
    plain.write_text("sample\tgene\tdiplotype\nP1\tCYP2B6\tCYP2B6*6/CYP2B6*1\n")
    assert read_calls(plain, "plain")[["gene", "diplotype"]].values.tolist() == [["CYP2B6", "*1/*6"]]
    stellar = tmp_path / "summary.tsv"
    stellar.write_text("P2\t*6/*9\n")
    assert read_calls(stellar, "stellarpgx", gene="CYP2B6")[["gene", "diplotype"]].values.tolist() == [
        ["CYP2B6", "*6/*9"]
    ]
    pypgx = tmp_path / "data.tsv"
    pypgx.write_text(
        "\tGenotype\tPhenotype\tHaplotype1\tHaplotype2\tAlternativePhase\tVariantData\tCNV\n"
        "P3\t*1/*6\tIntermediate Metabolizer\t*1;\t*6;\t;\t;\tNormal\n"
    )
    assert read_calls(pypgx, "pypgx", gene="CYP2B6")[["gene", "diplotype"]].values.tolist() == [["CYP2B6", "*1/*6"]]
    report = read_calls(EXAMPLES / "pharmcat.example2.report.tsv", "pharmcat_report", gene="CYP2B6")
    assert report[["gene", "diplotype", "status"]].values.tolist() == [["CYP2B6", "*1/*6", "called"]]


def test_malformed_cyp2b6_diplotype_is_a_named_error(tmp_path):
    plain = tmp_path / "plain.tsv"
    plain.write_text("sample\tgene\tdiplotype\nP1\tCYP2B6\t*1-*6\n")
    with pytest.raises(PgxError, match=r"line 2, column 'diplotype': CYP2B6 diplotype '\*1-\*6' is malformed"):
        read_calls(plain, "plain")


def test_config_schema_accepts_cyp2b6():
    import yaml

    schema = yaml.safe_load((resource_dir().parent / "workflow" / "schemas" / "config.schema.yaml").read_text())
    gene = schema["properties"]["inputs"]["properties"]["star_alleles"]["items"]["properties"]["gene"]
    assert gene["enum"] == ["CYP2D6", "CYP2C19", "CYP2B6"]


# ------------------------------------------------------------------ features


def test_features_have_cyp2b6_rank():
    from stratify.features.table import available_features, pgx_features

    calls = pd.DataFrame(
        {
            "patient_id": ["P1", "P2", "P1"],
            "gene": ["CYP2B6", "CYP2B6", "CYP2C19"],
            "status": ["ambiguous", "no-call", "called"],
            "source_tool": "stratify-vcf",
            "phenotype": ["Intermediate Metabolizer", "", "Normal Metabolizer"],
            "activity_score": np.nan,
        }
    ).astype({"phenotype": str})
    f = pgx_features(calls).set_index("patient_id")
    assert f.loc["P1", "cyp2b6_rank"] == 1.0 and np.isnan(f.loc["P2", "cyp2b6_rank"])
    assert f.loc["P1", "cyp2b6_phenotype"] == "Intermediate Metabolizer"
    assert "cyp2b6_rank" in available_features({})


# ------------------------------------------------------------------ genotype stage and pgx stage


def _records(defs, chrom: str, samples: list[tuple[str, str]]) -> list[tuple[str, int, str]]:
    recs = []
    for k, p in enumerate(defs.positions):
        code = {p.ref: "0", **{a: str(i + 1) for i, a in enumerate(p.alts)}}
        gts = [f"{code[_haplotype(defs, a)[k]]}/{code[_haplotype(defs, b)[k]]}" for a, b in samples]
        recs.append(
            (
                chrom,
                p.pos,
                "\t".join([chrom, str(p.pos), p.rsid or ".", p.ref, ",".join(p.alts), ".", "PASS", ".", "GT", *gts]),
            )
        )
    return recs


@pytest.fixture(scope="module")
def two_gene_vcf(tmp_path_factory, defs):
    """Indexed VCF, 4 samples: CYP2C19 from the definitions, CYP2B6 *1/*6, *6/*6, *1/*1, *4/*4."""
    from stratify.simulate.cohort import write_vcf

    c19 = load_definitions("CYP2C19")
    b6 = [("*1", "*6"), ("*6", "*6"), ("*1", "*1"), ("*4", "*4")]
    recs = _records(c19, "chr10", [("*1", "*1"), ("*1", "*2"), ("*1", "*17"), ("*2", "*2")]) + _records(
        defs, "chr19", b6
    )
    return write_vcf(tmp_path_factory.mktemp("v") / "two.vcf.gz", ["S1", "S2", "S3", "S4"], recs)


def test_genotype_stage_reads_both_genes_sharded_or_not(two_gene_vcf):
    from stratify.genotypes.pca import fit_pca
    from stratify.genotypes.shards import PGX_COLUMNS, genotype_stage, make_plan, merge, run_shard, settings

    pids = {"S1", "S2", "S3", "S4"}
    one = genotype_stage(two_gene_vcf, patient_ids=pids, n_components=2)["pgx_genotypes"]
    assert list(one.columns) == PGX_COLUMNS
    assert one.groupby("gene").size().to_dict() == {"CYP2B6": 4 * 48, "CYP2C19": 4 * 35}
    cfg = settings({"genotypes": {"sample_chunk": 2, "pca": {"n_components": 2}}})
    plan = make_plan(two_gene_vcf, patient_ids=pids, cfg=cfg, seed=0)
    pca = fit_pca(plan, seed=0)
    sharded = merge(
        plan, pca, {j: run_shard(plan, j, pca, []) for j in plan["jobs"]}, [], sample_map=None, patient_ids=pids
    )["pgx_genotypes"]
    key = ["gene", "patient_id", "pos"]
    pd.testing.assert_frame_equal(
        sharded.sort_values(key).reset_index(drop=True), one.sort_values(key).reset_index(drop=True)
    )


def test_genotype_stage_skips_a_gene_whose_contig_the_header_lacks(tmp_path, defs):
    from stratify.genotypes.shards import genotype_stage
    from stratify.simulate.cohort import write_vcf

    c19 = load_definitions("CYP2C19")
    vcf = write_vcf(tmp_path / "c19.vcf.gz", ["S1"], _records(c19, "chr10", [("*1", "*2")]))
    # rewrite the header without chr19 (a CYP2C19-only panel)
    import gzip

    import pysam

    text = gzip.open(vcf, "rt").read().replace("##contig=<ID=chr19,", "##contig=<ID=chrUn_x,")
    plain = tmp_path / "c19only.vcf"
    plain.write_text(text)
    vcf2 = Path(pysam.tabix_index(str(plain), preset="vcf", force=True))
    res = genotype_stage(vcf2, patient_ids={"S1"}, n_components=0)
    assert set(res["pgx_genotypes"]["gene"]) == {"CYP2C19"}
    assert res["summary"]["pgx_genes_not_in_vcf"] == {
        "CYP2B6": "the VCF header lists no contig chr19 or 19: CYP2B6 is not called from the VCF (give its calls "
        "from another tool, inputs.star_alleles)"
    }


def test_run_pgx_calls_both_genes_and_not_genotyped_patients(tmp_path, two_gene_vcf):
    from stratify.genotypes.shards import genotype_stage
    from stratify.io.tables import read_table, write_table
    from stratify.pgx.stage import run_pgx

    results = tmp_path / "results"
    write_table(
        pd.DataFrame({"patient_id": ["S1", "S2", "S3", "S4", "P9"]}),
        results / "validate" / "patients.parquet",
        kind="input.patients",
    )
    write_table(
        pd.DataFrame({"patient_id": pd.Series([], dtype=str)}),
        results / "validate" / "treatments.parquet",
        kind="input.treatments",
    )
    res = genotype_stage(two_gene_vcf, patient_ids={"S1", "S2", "S3", "S4", "P9"}, n_components=0)
    write_table(res["pgx_genotypes"], results / "genotypes" / "pgx_genotypes.parquet", kind="genotypes.pgx")
    (results / "genotypes" / "summary.json").write_text(json.dumps(res["summary"]))
    config = {"cohort": "t", "seed": 0, "inputs": {}, "clinical": {"adequate_weeks": 4}}
    summary = run_pgx(config, results)
    calls = read_table(results / "pgx" / "calls.parquet", kind="pgx.calls")
    b6 = calls[calls["gene"] == "CYP2B6"].set_index("patient_id")
    assert b6.loc[["S1", "S2", "S3", "S4"], "diplotype"].tolist() == ["*1/*6", "*6/*6", "*1/*1", "*4/*4"]
    assert b6.loc[["S1", "S2", "S3", "S4"], "phenotype"].tolist() == [
        "Intermediate Metabolizer",
        "Poor Metabolizer",
        "Normal Metabolizer",
        "Ultrarapid Metabolizer",
    ]
    assert b6.loc["S1", "alternatives"] == "*4/*9"
    assert (b6.loc["P9", "status"], b6.loc["P9", "phenotype"]) == ("no-call", "")
    c19 = calls[calls["gene"] == "CYP2C19"].set_index("patient_id")
    assert c19.loc[["S1", "S2", "S3", "S4"], "diplotype"].tolist() == ["*1/*1", "*1/*2", "*1/*17", "*2/*2"]
    assert summary["not_genotyped"] == {"CYP2C19": 1, "CYP2B6": 1}
    assert [s["gene"] for s in summary["sources"]] == ["CYP2C19", "CYP2B6"]
