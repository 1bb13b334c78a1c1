"""An empty result is a table with its header, never an empty or one-byte file; the report reads
legitimately empty tables; patients without a VCF sample are listed with the reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from stratify.genotypes.stage import not_genotyped as _not_genotyped
from stratify.genotypes.stage import run_genotypes
from stratify.io.results import write_tsv
from stratify.io.tables import write_table

DATA = Path(__file__).resolve().parent / "data" / "handwritten"


def test_write_tsv_refuses_a_table_without_columns(tmp_path):
    with pytest.raises(RuntimeError, match="a result table without columns"):
        write_tsv(pd.DataFrame(), tmp_path / "x.tsv")
    assert not (tmp_path / "x.tsv").exists()
    write_tsv(pd.DataFrame(columns=["a", "b"]), tmp_path / "y.tsv")
    assert (tmp_path / "y.tsv").read_text() == "a\tb\n"


def _results_with_patients(tmp_path, ids):
    results = tmp_path / "results"
    write_table(
        pd.DataFrame({"patient_id": ids, "site": "s", "age": 40.0, "sex": "F"}),
        results / "validate" / "patients.parquet",
        kind="input.patients",
    )
    return results


def test_genotypes_without_a_vcf_writes_header_only_tables(tmp_path):
    from stratify.genotypes.prs import REPORT_COLUMNS, VARIANT_COLUMNS

    results = _results_with_patients(tmp_path, ["P2", "P1"])
    summary = run_genotypes({"cohort": "c", "seed": 1, "inputs": {}}, results)
    out = results / "genotypes"
    assert list(pd.read_csv(out / "prs_report.tsv", sep="\t").columns) == REPORT_COLUMNS
    assert list(pd.read_csv(out / "prs_variants.tsv.gz", sep="\t").columns) == VARIANT_COLUMNS
    missing = pd.read_csv(out / "patients_without_genotypes.tsv", sep="\t")
    assert missing.to_dict("list") == {"patient_id": ["P1", "P2"], "reason": ["no VCF given (inputs.genotypes)"] * 2}
    assert summary["n_patients_without_genotypes"] == 2


def _ctx(sample_map, ids):
    return {"vcf": str(DATA / "genotypes.vcf.gz"), "sample_map": sample_map, "patient_ids": set(ids)}


def test_patients_without_a_vcf_sample_each_have_a_reason():
    smap = pd.DataFrame({"sample_id": ["WGS00106", "WGS99999"], "patient_id": ["KCL-002", "KCL-003"]})
    got = _not_genotyped(_ctx(smap, ["KCL-002", "KCL-003", "KCL-005"]), {"KCL-002"})
    assert got.to_dict("list") == {
        "patient_id": ["KCL-003", "KCL-005"],
        "reason": [
            "its sample WGS99999 (sample map) is not in the VCF",
            "not in the sample map (inputs.genotypes.sample_map)",
        ],
    }
    no_map = _not_genotyped(_ctx(None, ["WGS00106", "P7"]), {"WGS00106"})
    assert no_map["patient_id"].tolist() == ["P7"] and "no sample map given" in no_map["reason"].iloc[0]


def test_a_mapped_patient_left_ungenotyped_is_a_bug_not_silence():
    smap = pd.DataFrame({"sample_id": ["WGS00106"], "patient_id": ["KCL-002"]})
    with pytest.raises(RuntimeError, match="maps to VCF sample WGS00106 but was not genotyped"):
        _not_genotyped(_ctx(smap, ["KCL-002"]), set())


def test_report_reads_empty_and_legacy_one_byte_tables(tmp_path):
    from stratify.report.context import read_tsv as _tsv

    (tmp_path / "one_byte.tsv").write_text("\n")
    (tmp_path / "header.tsv").write_text("a\tb\n")
    assert _tsv(tmp_path / "one_byte.tsv").empty
    assert _tsv(tmp_path / "absent.tsv").empty
    assert list(_tsv(tmp_path / "header.tsv").columns) == ["a", "b"]


def test_concordance_and_profiles_have_their_columns_when_empty():
    from stratify.subtype.subtyping import profile_columns
    from stratify.trd import CONCORDANCE_COLUMNS, concordance

    staging = pd.DataFrame(
        {
            "patient_id": ["P1"],
            "sforzini_2021": ["TRD"],
            "thase_rush_1997": [2],
            "msm_score": [8],
            "msm_band": ["moderate"],
            "conway_2017": [1],
            "markowitz_2022": [False],
            "sforzini_pk": ["TRD"],
        }
    )
    assert list(concordance(staging).columns) == CONCORDANCE_COLUMNS
    assert profile_columns([])[:3] == ["cluster", "n", "subtype"]


def test_skipped_subtyping_writes_profiles_with_a_header():
    from stratify.config import validate_config
    from stratify.subtype.subtyping import profile_columns, run_subtyping, subtype_options

    cfg = validate_config(
        {
            "cohort": "c",
            "genome_build": "GRCh38",
            "inputs": {"patients": "p.tsv", "symptoms": "s.tsv"},
            "endpoint": {"instrument": "HAMD17", "week": 8},
        }
    )
    feats = pd.DataFrame({"patient_id": ["P1", "P2"], "aes": [1.0, 2.0], "anhedonia": [float("nan")] * 2})
    assign, prof, summary, model = run_subtyping(feats, options=subtype_options(cfg))
    assert summary["statement"].startswith("Subtyping skipped")
    assert list(prof.columns) == profile_columns(["aes"]) and prof.empty
    assert model["fitted"] is None and model["reason"] == summary["statement"]
