"""Tests for stratify.inputs.validate (and the text-table library it uses, stratify.io.text and
stratify.io.schema): strict checks of the input tables.

Line numbers in messages count the header as line 1, so the first record is line 2.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratify.config import load_config, load_schema
from stratify.errors import InputError
from stratify.inputs.validate import (
    check_known_patients,
    check_symptom_items,
    check_treatments,
    empty_table,
    parse_biomarkers,
    read_sample_map,
    sha256,
    validate_inputs,
    validate_options,
)
from stratify.io.schema import check_table
from stratify.io.text import read_text_table

DATA = Path(__file__).resolve().parent / "data" / "inputs"
TABLE_FILES = ("patients", "symptoms", "treatments", "biomarkers")


def _cohort(tmp_path, tables=TABLE_FILES, **extra_inputs):
    """Copy the fixture cohort into tmp_path; return a config naming the given tables."""
    inputs = {}
    for name in tables:
        p = tmp_path / f"{name}.tsv"
        shutil.copy(DATA / f"{name}.tsv", p)
        inputs[name] = str(p)
    inputs.update(extra_inputs)
    return {"cohort": "t", "inputs": inputs, "patient_covariates": []}


def _append(path, line):
    """Append a record; return its line number (header = line 1)."""
    with open(path, "a") as fh:
        fh.write(line + "\n")
    return len(Path(path).read_text().splitlines())


def _err(cfg):
    with pytest.raises(InputError) as e:
        validate_inputs(cfg["inputs"], **validate_options(cfg))
    return str(e.value)


def _patients(**cols):
    base = {"patient_id": ["P1", "P2"], "site": ["A", "A"], "age": ["40", "41"], "sex": ["F", "M"]}
    base.update(cols)
    return pd.DataFrame(base)


def _check(raw, name="patients", **kw):
    return check_table(pd.DataFrame(raw), load_schema(name), path=f"{name}.tsv", **kw)


# --------------------------------------------------------------------------- check_table: types


def test_check_table_types_the_columns():
    raw = _patients(diagnosis=["MDD", ""], episode_months=["6", ""])
    out = _check(raw)
    assert out["age"].tolist() == [40.0, 41.0]
    assert out["age"].dtype == float
    assert out["diagnosis"][0] == "MDD" and pd.isna(out["diagnosis"][1])  # empty optional cell: missing
    assert out["episode_months"].isna().tolist() == [False, True]


def test_number_error():
    with pytest.raises(InputError) as e:
        _check(_patients(age=["40", "forty"]))
    assert str(e.value) == "patients.tsv, line 3, column 'age': expected a number, found 'forty'"


def _one_trial(**cols):
    base = {
        "patient_id": ["P1"],
        "episode": ["1"],
        "trial": ["1"],
        "modality": ["medication"],
        "agent": ["sertraline"],
        "duration_weeks": ["8"],
        "prospective": ["false"],
    }
    return {**base, **cols}


@pytest.mark.parametrize("value", ["1.5", "one"])
def test_integer_error(value):
    with pytest.raises(InputError) as e:
        _check(_one_trial(trial=[value]), "treatments")
    assert str(e.value) == f"treatments.tsv, line 2, column 'trial': expected an integer, found '{value}'"


def test_integer_column_is_nullable_int():
    out = _check(_one_trial(trial=["3"]), "treatments")
    assert str(out["trial"].dtype) == "Int64" and out["trial"].tolist() == [3]


@pytest.mark.parametrize("value", ["1.5", "one", "0", "-1", "Totaal"])
def test_symptom_item_that_is_neither_a_number_nor_total(value):
    raw = {"patient_id": ["P1"], "week": ["0"], "instrument": ["HAMD17"], "item": [value], "score": ["1"]}
    with pytest.raises(InputError) as e:
        check_symptom_items(_check(raw, "symptoms"), path="symptoms.tsv")
    assert str(e.value) == (
        "symptoms.tsv, line 2, column 'item': expected an item number 1-17 of HAMD17, or 'total' "
        f"for a visit with only the total score, found '{value}'"
    )


def _treat(prospective):
    return {
        "patient_id": ["P1", "P1"],
        "episode": ["1", "1"],
        "trial": ["1", "2"],
        "modality": ["medication", "medication"],
        "agent": ["sertraline", "escitalopram"],
        "duration_weeks": ["6", "8"],
        "prospective": prospective,
    }


def test_boolean_values():
    out = _check(_treat(["FALSE", "yes"]), "treatments")
    assert out["prospective"].tolist() == [False, True]


def test_boolean_error():
    with pytest.raises(InputError) as e:
        _check(_treat(["no", "maybe"]), "treatments")
    assert str(e.value) == (
        "treatments.tsv, line 3, column 'prospective': expected true or false "
        "(true (t, yes, y, 1); false (f, no, n, 0)), found 'maybe'"
    )


def test_enum_error():
    with pytest.raises(InputError) as e:
        _check(_patients(sex=["F", "X"]))
    assert str(e.value) == (
        "patients.tsv, line 3, column 'sex': expected one of F, M; accepted spellings: F (female); M (male), found 'X'"
    )


def test_pattern_error():
    with pytest.raises(InputError) as e:
        _check(_patients(patient_id=["P1", "P 2"]))
    assert str(e.value) == (
        "patients.tsv, line 3, column 'patient_id': expected text matching ^[A-Za-z0-9_.:-]+$, found 'P 2'"
    )


def test_pattern_error_agent():
    raw = _treat(["false", "true"])
    raw["agent"] = ["sertraline", "Escitalopram 20mg"]
    with pytest.raises(InputError, match=r"^treatments\.tsv, line 3, column 'agent': expected text matching"):
        _check(raw, "treatments")


@pytest.mark.parametrize("age, expected", [("11", "a value >= 12"), ("111", "a value <= 110")])
def test_minimum_maximum(age, expected):
    with pytest.raises(InputError) as e:
        _check(_patients(age=["40", age]))
    assert str(e.value) == f"patients.tsv, line 3, column 'age': expected {expected}, found '{age}'"


def test_exclusive_minimum():
    # no input schema uses exclusiveMinimum yet; check_table supports it for when one does
    schema = {"properties": {"dose": {"type": "number", "exclusiveMinimum": 0}}, "required": ["dose"]}
    assert check_table(pd.DataFrame({"dose": ["0.5"]}), schema, path="d.tsv")["dose"].tolist() == [0.5]
    with pytest.raises(InputError) as e:
        check_table(pd.DataFrame({"dose": ["0.5", "0"]}), schema, path="d.tsv")
    assert str(e.value) == "d.tsv, line 3, column 'dose': expected a value > 0, found '0'"


def test_bounds_are_inclusive():
    assert _check(_patients(age=["12", "110"]))["age"].tolist() == [12.0, 110.0]


def test_unknown_column():
    with pytest.raises(InputError) as e:
        _check(_patients(bmi=["25", "30"]))
    assert str(e.value) == (
        "patients.tsv: unknown column 'bmi'; expected columns: patient_id, site, age, sex, "
        "diagnosis, episode_months, psychotic_features (declare extra numeric covariates under "
        "patient_covariates in the config)"
    )


def test_declared_covariate_is_numeric():
    out = _check(_patients(bmi=["25", "30.5"]), extra_numeric=("bmi",))
    assert out["bmi"].tolist() == [25.0, 30.5]
    with pytest.raises(InputError, match=r"^patients\.tsv, line 2, column 'bmi': expected a number, found 'n.a.'$"):
        _check(_patients(bmi=["n.a.", "30"]), extra_numeric=("bmi",))
    assert _check(_patients(bmi=["n/a", "30"]), extra_numeric=("bmi",))["bmi"].isna().tolist() == [True, False]


def test_missing_required_column():
    raw = _patients()
    del raw["site"]
    with pytest.raises(InputError) as e:
        _check(raw)
    assert str(e.value) == "patients.tsv: missing required column 'site'"


def test_empty_required_cell():
    with pytest.raises(InputError) as e:
        _check(_patients(site=["A", "  "]))
    assert str(e.value) == (
        "patients.tsv, line 3, column 'site': expected a value (the column is required; "
        "an empty cell, NA, N/A, NaN, null, '.' and '-' mean no value), found ''"
    )


def test_duplicate_header_column_in_memory():
    raw = pd.DataFrame([["P1", "A", "40", "F", "A"]], columns=["patient_id", "site", "age", "sex", "site"])
    with pytest.raises(InputError) as e:
        check_table(raw, load_schema("patients"), path="p.tsv")
    assert str(e.value) == "p.tsv: column 'site' appears more than once in the header"


def test_duplicate_header_column_in_file(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("patient_id\tsite\tage\tsex\tsite\nP1\tA\t40\tF\tA\n")
    with pytest.raises(InputError) as e:
        check_table(read_text_table(p), load_schema("patients"), path=p)
    assert str(e.value) == f"{p}: column 'site' appears more than once in the header"


# --------------------------------------------------------------------------- reading files


def test_read_text_table_keeps_text(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("patient_id, age\nP1,040\nP2,\n")
    df = read_text_table(p)
    assert list(df.columns) == ["patient_id", "age"]  # header cells are stripped
    assert df["age"].tolist() == ["040", ""]  # text, empty is "" (never NaN)


def test_read_text_table_errors(tmp_path):
    with pytest.raises(InputError) as e:
        read_text_table(tmp_path / "none.tsv")
    assert str(e.value) == f"{tmp_path / 'none.tsv'}: file not found"
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(InputError) as e:
        read_text_table(empty)
    assert str(e.value) == f"{empty}: file is empty; expected a header line"
    ragged = tmp_path / "ragged.tsv"
    ragged.write_text("a\tb\n1\t2\n1\t2\t3\n")
    with pytest.raises(InputError) as e:
        read_text_table(ragged)
    assert str(e.value) == (f"{ragged}: cannot be read as a tab-separated table: line 3 has 3 fields, the header has 2")


def test_sha256(tmp_path):
    p = tmp_path / "x.txt"
    p.write_bytes(b"abc")
    # the standard SHA-256 test vector for "abc"
    assert sha256(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# --------------------------------------------------------------------------- symptoms


def _sym(rows):
    df = pd.DataFrame(rows, columns=["patient_id", "week", "instrument", "item", "score"])
    df["item"] = df["item"].astype("Int64")
    df["score"] = df["score"].astype(float)
    return df


def test_symptom_item_outside_instrument():
    df = _sym([("P1", 0.0, "QIDS_SR16", 16, 1), ("P1", 0.0, "QIDS_SR16", 17, 1)])
    with pytest.raises(InputError) as e:
        check_symptom_items(df, path="s.tsv")
    assert str(e.value) == (
        "s.tsv, line 3, column 'item': expected an item number 1-16 of QIDS_SR16, or 'total' for "
        "a visit with only the total score, found '17'"
    )


def test_symptom_score_above_item_maximum():
    # HAMD-17 item 4 (insomnia early) is scored 0-2
    df = _sym([("P1", 0.0, "HAMD17", 1, 4), ("P1", 0.0, "HAMD17", 4, 3)])
    with pytest.raises(InputError) as e:
        check_symptom_items(df, path="s.tsv")
    assert str(e.value).startswith("s.tsv, line 3, column 'score': expected a score 0-2 for HAMD17 item 4, found '3")


def test_symptom_score_at_item_maximum_is_accepted():
    check_symptom_items(
        _sym([("P1", 0.0, "HAMD17", 1, 4), ("P1", 0.0, "HAMD17", 4, 2), ("P1", 0.0, "IDS_SR30", 30, 3)]), path="s.tsv"
    )


def test_symptom_fractional_score():
    with pytest.raises(InputError) as e:
        check_symptom_items(_sym([("P1", 0.0, "HAMD17", 1, 1.5)]), path="s.tsv")
    assert str(e.value) == "s.tsv, line 2, column 'score': expected a whole-number item score, found '1.5'"


# --------------------------------------------------------------------------- biomarkers


def _bio(rows):
    return pd.DataFrame(rows, columns=["patient_id", "week", "marker", "value", "unit"])


def test_below_detection_is_parsed():
    out = parse_biomarkers(_bio([("P1", 0.0, "crp", "<0.2", "mg/L"), ("P1", 0.0, "il6", "2.5", "pg/mL")]), path="b.tsv")
    assert out["value"].tolist() == [0.2, 2.5]
    assert out["below_detection"].tolist() == [True, False]
    assert out["unit"].tolist() == ["mg/L", "pg/mL"]  # kept in the reported unit here


def test_biomarker_unit_not_accepted():
    with pytest.raises(InputError) as e:
        parse_biomarkers(_bio([("P1", 0.0, "il6", "2", "pg/mL"), ("P1", 0.0, "crp", "1", "mg/ml")]), path="b.tsv")
    assert str(e.value) == (
        "b.tsv, line 3, column 'unit': expected a unit for crp: mg/L (µg/mL, ug/mL); mg/dL; nmol/L, found 'mg/ml'"
    )


def test_biomarker_implausible_value_in_canonical_units():
    # 60 mg/dL CRP = 600 mg/L, above the plausible 0-500 mg/L
    with pytest.raises(InputError) as e:
        parse_biomarkers(_bio([("P1", 0.0, "crp", "1", "mg/L"), ("P2", 0.0, "crp", "60", "mg/dL")]), path="b.tsv")
    assert str(e.value) == (
        "b.tsv, line 3, column 'value': expected a plausible crp value (0-500 mg/L), found '60 mg/dL'"
    )


def test_biomarker_implausible_bmi():
    with pytest.raises(InputError) as e:
        parse_biomarkers(_bio([("P1", 0.0, "bmi", "95", "kg/m2")]), path="b.tsv")
    assert str(e.value) == (
        "b.tsv, line 2, column 'value': expected a plausible bmi value (10-90 kg/m2), found '95 kg/m2'"
    )


def test_biomarker_value_pattern():
    raw = {"patient_id": ["P1"], "week": ["0"], "marker": ["crp"], "value": ["> 3"], "unit": ["mg/L"]}
    with pytest.raises(
        InputError,
        match=r"^b\.tsv, line 2, column 'value': expected a number, or '<' and a number "
        r"for a value below the detection limit, found '> 3'$",
    ):
        parse_biomarkers(_check(raw, "biomarkers"), path="b.tsv")


# --------------------------------------------------------------------------- treatments, patients


def test_two_prospective_trials():
    df = pd.DataFrame({"patient_id": ["P1", "P2", "P1"], "prospective": pd.array([True, True, True], "boolean")})
    with pytest.raises(InputError) as e:
        check_treatments(df, path="t.tsv")
    assert str(e.value) == (
        "t.tsv, line 4, column 'prospective': expected at most one prospective (index) trial "
        "per patient, found 'a second one for P1'"
    )


def test_one_prospective_trial_each_passes():
    df = pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "prospective": pd.array([False, True, pd.NA], "boolean")})
    check_treatments(df, path="t.tsv")


def test_unknown_patient_counts_all():
    df = pd.DataFrame({"patient_id": ["P1", "P9", "P8", "P9"]})
    with pytest.raises(InputError) as e:
        check_known_patients(df, {"P1"}, path="s.tsv", patients_path="p.tsv")
    assert str(e.value) == (
        "s.tsv, line 3, column 'patient_id': patient 'P9' is not in the patients table p.tsv "
        "(2 unknown patients in all)"
    )


def test_empty_table_has_schema_columns():
    b = empty_table("biomarkers")
    assert list(b.columns) == ["patient_id", "week", "marker", "value", "unit", "below_detection"]
    assert len(b) == 0 and b["value"].dtype == float and b["below_detection"].dtype == bool
    t = empty_table("treatments")
    assert str(t["episode"].dtype) == "Int64" and str(t["prospective"].dtype) == "boolean"


def test_read_sample_map_duplicates(tmp_path):
    p = tmp_path / "m.tsv"
    p.write_text("sample_id\tpatient_id\nS1\tP1\nS2\tP2\nS1\tP3\n")
    with pytest.raises(InputError) as e:
        read_sample_map(p)
    assert str(e.value) == f"{p}, line 4: duplicate record (sample_id=S1); first seen on line 2"


# --------------------------------------------------------------------------- validate_inputs (fixture cohort)


def test_validate_inputs_fixture(tmp_path):
    cfg = _cohort(tmp_path)
    tables, manifest = validate_inputs(cfg["inputs"], **validate_options(cfg))
    assert {k: len(v) for k, v in tables.items()} == {"patients": 3, "symptoms": 68, "treatments": 6, "biomarkers": 4}
    assert manifest["n_patients"] == 3
    assert manifest["inputs"]["symptoms"] == {
        "path": cfg["inputs"]["symptoms"],
        "sha256": sha256(DATA / "symptoms.tsv"),
        "rows": 68,
    }
    b = tables["biomarkers"]
    assert b["value"].tolist() == [0.2, 1.5, 0.25, 47.6]
    assert b["below_detection"].tolist() == [True, False, False, False]
    assert tables["treatments"]["prospective"].tolist() == [False, False, False, True, False, True]
    assert manifest["skipped"] == {
        "genotypes": "no VCF given (inputs.genotypes)",
        "star_alleles": "no star-allele calls given (inputs.star_alleles)",
    }


def test_validate_inputs_optional_tables_absent(tmp_path):
    cfg = _cohort(tmp_path, tables=("patients", "symptoms"))
    tables, manifest = validate_inputs(cfg["inputs"], **validate_options(cfg))
    for name in ("treatments", "biomarkers"):
        assert len(tables[name]) == 0
        assert list(tables[name].columns) == list(empty_table(name).columns)
        assert manifest["skipped"][name] == f"not given in the config (inputs.{name})"
        assert name not in manifest["inputs"]
    assert len(tables["symptoms"]) == 68


def test_validate_inputs_patient_covariates(tmp_path):
    cfg = _cohort(tmp_path, tables=("patients", "symptoms"))
    p = Path(cfg["inputs"]["patients"])
    lines = p.read_text().splitlines()
    p.write_text("\n".join([lines[0] + "\tbmi"] + [ln + "\t25" for ln in lines[1:]]) + "\n")
    with pytest.raises(InputError, match="unknown column 'bmi'"):
        validate_inputs(cfg["inputs"], **validate_options(cfg))
    cfg["patient_covariates"] = ["bmi"]
    tables, _ = validate_inputs(cfg["inputs"], **validate_options(cfg))
    assert tables["patients"]["bmi"].tolist() == [25.0, 25.0, 25.0]


def test_validate_inputs_duplicate_record(tmp_path):
    cfg = _cohort(tmp_path)
    line = _append(cfg["inputs"]["symptoms"], "P1\t8\tHAMD17\t3\t2")
    # P1 week 8 item 3 is on line 2 + 17 (week 0 items) + 2 (items 1-2 of week 8) = 21
    assert _err(cfg) == (
        f"{cfg['inputs']['symptoms']}, line {line}: duplicate record "
        f"(patient_id=P1, week=8.0, instrument=HAMD17, item=3); first seen on line 21"
    )


def test_validate_inputs_duplicate_patient(tmp_path):
    cfg = _cohort(tmp_path)
    line = _append(cfg["inputs"]["patients"], "P2\tsite_B\t50\tM\t\t")
    assert line == 5
    assert _err(cfg) == f"{cfg['inputs']['patients']}, line 5: duplicate record (patient_id=P2); first seen on line 3"


@pytest.mark.parametrize(
    "table, record",
    [
        ("symptoms", "P9\t0\tHAMD17\t1\t1"),
        ("treatments", "P9\t1\t1\tmedication\tsertraline\t50\t6\t\t\t\tnonresponse\tfalse"),
        ("biomarkers", "P9\t0\tcrp\t1.0\tmg/L"),
    ],
)
def test_validate_inputs_unknown_patient(tmp_path, table, record):
    cfg = _cohort(tmp_path)
    line = _append(cfg["inputs"][table], record)
    assert _err(cfg) == (
        f"{cfg['inputs'][table]}, line {line}, column 'patient_id': patient 'P9' is not in the "
        f"patients table {cfg['inputs']['patients']}"
    )


def test_validate_inputs_symptom_item_maximum_with_line(tmp_path):
    cfg = _cohort(tmp_path)
    line = _append(cfg["inputs"]["symptoms"], "P3\t0\tHAMD17\t17\t3")
    assert line == 70
    assert _err(cfg) == (
        f"{cfg['inputs']['symptoms']}, line 70, column 'score': expected a score 0-2 for HAMD17 item 17, found '3'"
    )


def test_validate_inputs_two_prospective_trials(tmp_path):
    cfg = _cohort(tmp_path)
    line = _append(cfg["inputs"]["treatments"], "P2\t1\t3\tmedication\tsertraline\t100\t8\tHAMD17\t20\t15\t\ttrue")
    assert line == 8
    assert _err(cfg) == (
        f"{cfg['inputs']['treatments']}, line 8, column 'prospective': expected at most one "
        f"prospective (index) trial per patient, found 'a second one for P2'"
    )


def test_validate_inputs_biomarker_unit(tmp_path):
    cfg = _cohort(tmp_path)
    line = _append(cfg["inputs"]["biomarkers"], "P2\t0\til6\t3\tpg/dL")
    assert _err(cfg) == (
        f"{cfg['inputs']['biomarkers']}, line {line}, column 'unit': expected a unit for il6: "
        f"pg/mL; ng/L, found 'pg/dL'"
    )


def test_validate_inputs_no_patients(tmp_path):
    cfg = _cohort(tmp_path, tables=("patients", "symptoms"))
    Path(cfg["inputs"]["patients"]).write_text("patient_id\tsite\tage\tsex\n")
    Path(cfg["inputs"]["symptoms"]).write_text("patient_id\tweek\tinstrument\titem\tscore\n")
    assert _err(cfg) == f"{cfg['inputs']['patients']}: the patients table has no rows"


def test_validate_inputs_vcf_missing(tmp_path):
    vcf = tmp_path / "g.vcf.gz"
    cfg = _cohort(tmp_path, genotypes={"vcf": str(vcf)})
    assert _err(cfg) == f"{vcf}: file not found (inputs.genotypes.vcf)"


def test_validate_inputs_sample_map_missing(tmp_path):
    vcf = tmp_path / "g.vcf.gz"
    vcf.write_bytes(b"x")
    smap = tmp_path / "map.tsv"
    cfg = _cohort(tmp_path, genotypes={"vcf": str(vcf), "sample_map": str(smap)})
    assert _err(cfg) == f"{smap}: file not found (inputs.genotypes.sample_map)"


def test_validate_inputs_vcf_without_index(tmp_path):
    vcf = tmp_path / "g.vcf.gz"
    vcf.write_bytes(b"not really bgzipped")
    cfg = _cohort(tmp_path, genotypes={"vcf": str(vcf)})
    msg = _err(cfg)
    assert msg.startswith(f"{vcf}: no index found ({vcf}.tbi or {vcf}.csi); ")
    assert f"tabix -p vcf {vcf}" in msg


def test_validate_inputs_vcf_with_index_and_sample_map(tmp_path):
    vcf = tmp_path / "g.vcf.gz"
    vcf.write_bytes(b"x")
    (tmp_path / "g.vcf.gz.csi").write_bytes(b"x")
    smap = tmp_path / "m.tsv"
    shutil.copy(DATA / "sample_map.tsv", smap)
    cfg = _cohort(tmp_path, genotypes={"vcf": str(vcf), "sample_map": str(smap)})
    _, manifest = validate_inputs(cfg["inputs"], **validate_options(cfg))
    assert manifest["inputs"]["genotypes.vcf"]["sha256"] == sha256(vcf)
    assert "genotypes" not in manifest["skipped"]
    # a sample mapped to a patient the cohort lacks
    line = _append(smap, "S4\tP4")
    assert _err(cfg) == (
        f"{smap}, line {line}, column 'patient_id': patient 'P4' is not in the patients table "
        f"{cfg['inputs']['patients']}"
    )


def test_validate_inputs_star_alleles_missing(tmp_path):
    cfg = _cohort(tmp_path, star_alleles=[{"path": str(tmp_path / "c.tsv"), "tool": "cyrius"}])
    assert _err(cfg) == f"{tmp_path / 'c.tsv'}: file not found (inputs.star_alleles[0].path)"
    (tmp_path / "c.tsv").write_text("Sample\tGenotype\tFilter\n")
    _, manifest = validate_inputs(cfg["inputs"], **validate_options(cfg))
    assert manifest["inputs"]["star_alleles[0]"]["tool"] == "cyrius"
    assert "star_alleles" not in manifest["skipped"]


def test_validate_inputs_missing_file(tmp_path):
    cfg = _cohort(tmp_path)
    cfg["inputs"]["treatments"] = str(tmp_path / "nope.tsv")
    assert _err(cfg) == f"{tmp_path / 'nope.tsv'}: file not found"


def test_biomarker_values_stay_in_reported_units(tmp_path):
    cfg = _cohort(tmp_path)
    tables, _ = validate_inputs(cfg["inputs"], **validate_options(cfg))
    b = tables["biomarkers"]
    assert np.allclose(b.loc[b["unit"] == "nmol/L", "value"], 47.6)


def test_line_number_after_blank_line(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("patient_id\tsite\tage\tsex\nP1\tA\t40\tF\n\nP2\tA\tx\tM\n")  # 'x' is on line 4
    with pytest.raises(InputError) as e:
        check_table(read_text_table(p), load_schema("patients"), path=p)
    assert str(e.value) == f"{p}, line 4, column 'age': expected a number, found 'x'"


def test_trailing_tab_is_a_clear_error(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("patient_id\tsite\tage\tsex\nP1\tA\t40\tF\t\nP2\tA\t41\tM\t\n")
    with pytest.raises(InputError) as e:
        read_text_table(p)
    assert str(e.value) == (
        f"{p}: cannot be read as a tab-separated table: line 2 has 5 fields, the header has 4 (a trailing separator?)"
    )


def test_extra_field_on_a_later_line(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("patient_id\tsite\tage\tsex\nP1\tA\t40\tF\nP2\tA\t41\tM\tx\n")
    with pytest.raises(InputError, match="line 3 has 5 fields, the header has 4"):
        read_text_table(p)


def test_two_samples_for_one_patient_in_a_sample_map(tmp_path):
    p = tmp_path / "map.tsv"
    p.write_text("sample_id\tpatient_id\nS1\tP1\nS2\tP1\n")
    with pytest.raises(InputError, match=r"line 3: duplicate record \(patient_id=P1\); first seen on line 2"):
        read_sample_map(p)


def test_header_with_trailing_separator(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("patient_id\tsite\tage\tsex\t\nP1\tA\t40\tF\t\n")
    with pytest.raises(InputError) as e:
        read_text_table(p)
    assert str(e.value) == f"{p}: line 1 (the header) has an empty column name at field 5 (a trailing separator?)"


def test_blank_first_line(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("\npatient_id\tsite\n")
    with pytest.raises(InputError, match="line 1 is empty; the first line must be the header"):
        read_text_table(p)


def test_crp_in_mg_dl_labelled_mg_l_is_caught(tmp_path):
    """A site that reports CRP in mg/dL but labels it mg/L: each value is plausible, the
    site's median (about 0.15 'mg/L') is not."""
    from stratify.simulate.cohort import write_cohort

    paths = write_cohort(tmp_path / "c", n=200, seed=5, n_snps=20)
    bio = pd.read_csv(paths["biomarkers"], sep="\t", dtype=str, keep_default_na=False)
    site_b = set(pd.read_csv(paths["patients"], sep="\t").query("site == 'site_B'")["patient_id"])
    wrong = bio["patient_id"].isin(site_b) & (bio["marker"] == "crp")
    assert (bio.loc[wrong, "unit"] == "mg/dL").all() and wrong.sum() >= 20
    bio.loc[wrong, "unit"] = "mg/L"
    bio.to_csv(paths["biomarkers"], sep="\t", index=False)
    cfg = load_config(paths["config"])
    with pytest.raises(InputError) as e:
        validate_inputs(cfg["inputs"], **validate_options(cfg))
    msg = str(e.value)
    assert msg.startswith(f"{paths['biomarkers']}: site site_B, marker crp, unit mg/L: the median of ")
    assert "outside the range expected for a cohort (0.3-20 mg/L); the unit is probably wrong" in msg


def test_correctly_labelled_units_pass_the_plausibility_check(tmp_path):
    from stratify.simulate.cohort import write_cohort

    paths = write_cohort(tmp_path / "c", n=200, seed=5, n_snps=20)
    cfg = load_config(paths["config"])
    tables, _ = validate_inputs(cfg["inputs"], **validate_options(cfg))
    assert len(tables["biomarkers"]) > 0


@pytest.mark.parametrize(
    "text, agree",
    [
        ("a\tb\n1\t2\n3\t4\n", True),
        ("a\tb\n1\t2\n3\t4", True),
        ("a\tb\r\n1\t2\r\n", True),
        ("a\tb\n", True),
        ("a\tb\n1\t2\t3\n3\t4\n", False),
        ("a\tb\n1\t2\n3\n", False),
        ("a\tb\n1\t2\n\n3\t4\n", False),
        ("a\tb\r1\t2\r", False),
        ("a\tb\n1\n3\t4\n", False),
    ],
)
def test_field_counts_agree_counts_every_line(tmp_path, text, agree):
    """The byte-level field count that lets a large table skip the line-by-line check."""
    from stratify.io.text import _field_counts_agree

    p = tmp_path / "t.tsv"
    p.write_bytes(text.encode())
    assert _field_counts_agree(p, "\t", 2) is agree


def test_read_text_table_reports_the_bad_line_and_drops_blank_rows(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("a\tb\n" + "1\t2\n" * 500 + "3\t4\t5\n" + "1\t2\n" * 10)
    with pytest.raises(InputError, match="line 502 has 3 fields, the header has 2"):
        read_text_table(p)
    p.write_text("a\tb\n1\t2\n \t \n\t3\n\n4\t\n")
    assert read_text_table(p).to_dict("list") == {"a": ["1", "", "4"], "b": ["2", "3", ""]}


# --------------------------------------------------------------------------- total-only symptom rows


def _ham_items(pid, week, scores):
    return [(pid, week, "HAMD17", str(i), s) for i, s in enumerate(scores, start=1)]


def _sym_text(rows):
    df = pd.DataFrame(rows, columns=["patient_id", "week", "instrument", "item", "score"])
    df["score"] = df["score"].astype(float)
    return df


def test_total_rows_are_accepted_within_the_instrument_total_range():
    check_symptom_items(
        _sym_text(
            [
                ("P1", 0.0, "HAMD17", "total", 52),
                ("P1", 8.0, "HAMD17", "Total", 0),
                ("P2", 0.0, "QIDS_SR16", "TOTAL", 27),
            ]
        ),
        path="s.tsv",
    )


def test_total_above_the_instrument_maximum_names_the_total_range():
    with pytest.raises(InputError) as e:
        check_symptom_items(_sym_text([("P1", 0.0, "QIDS_SR16", "total", 28)]), path="s.tsv")
    assert str(e.value) == "s.tsv, line 2, column 'score': expected a QIDS_SR16 total 0-27, found '28'"


def test_negative_item_score_names_the_item_range():
    with pytest.raises(InputError) as e:
        check_symptom_items(_sym_text([("P1", 0.0, "HAMD17", "4", -1)]), path="s.tsv")
    assert str(e.value) == "s.tsv, line 2, column 'score': expected a score 0-2 for HAMD17 item 4, found '-1'"


def test_items_and_an_agreeing_total_for_one_visit_are_accepted():
    items = [1] * 17
    check_symptom_items(_sym_text(_ham_items("P1", 0.0, items) + [("P1", 0.0, "HAMD17", "total", 17)]), path="s.tsv")


def test_items_and_a_disagreeing_total_are_a_named_error():
    rows = _ham_items("P1", 0.0, [1] * 17) + [("P1", 0.0, "HAMD17", "total", 20)]
    with pytest.raises(InputError) as e:
        check_symptom_items(_sym_text(rows), path="s.tsv")
    assert str(e.value) == (
        "s.tsv, line 19, column 'score': the HAMD17 total for patient P1, week 0, is 20, but its "
        "items (lines 2-18) give 17; correct one of them or drop the total row (the items are used)"
    )


def test_qids_total_beside_items_follows_the_domain_rule():
    # sleep domain max(3, 0, 0, 1) = 3, eight other domains of 1 -> 11 (not the plain sum 16)
    rows = [("P1", 0.0, "QIDS_SR16", str(i), s) for i, s in enumerate([3, 0, 0, 1] + [1] * 12, start=1)]
    check_symptom_items(_sym_text(rows + [("P1", 0.0, "QIDS_SR16", "total", 11)]), path="s.tsv")
    with pytest.raises(InputError, match="give 11"):
        check_symptom_items(_sym_text(rows + [("P1", 0.0, "QIDS_SR16", "total", 16)]), path="s.tsv")


def test_incomplete_items_beside_a_total_are_a_named_error():
    rows = _ham_items("P1", 0.0, [1] * 10) + [("P1", 0.0, "HAMD17", "total", 10)]
    with pytest.raises(InputError) as e:
        check_symptom_items(_sym_text(rows), path="s.tsv")
    assert str(e.value) == (
        "s.tsv, line 12, column 'item': a HAMD17 total for patient P1, week 0, and item scores "
        "for 10 of its 17 items (first on line 2); give all items (the total is then checked "
        "against them) or only the total"
    )


def test_validate_inputs_total_rows_pass_the_schema_and_item_scores_above_6_name_the_item_range(tmp_path):
    cfg = _cohort(tmp_path)
    _append(cfg["inputs"]["symptoms"], "P3\t0\tHAMD17\ttotal\t24")
    tables, _ = validate_inputs(cfg["inputs"], **validate_options(cfg))
    assert "total" in set(tables["symptoms"]["item"])
    line = _append(cfg["inputs"]["symptoms"], "P3\t8\tHAMD17\t1\t7")  # above the old schema maximum of 6
    assert _err(cfg) == (
        f"{cfg['inputs']['symptoms']}, line {line}, column 'score': expected a score 0-4 for HAMD17 item 1, found '7'"
    )


def test_validate_inputs_item_31_names_the_instruments_item_range(tmp_path):
    cfg = _cohort(tmp_path)
    line = _append(cfg["inputs"]["symptoms"], "P3\t0\tHAMD17\t31\t1")  # above the old schema maximum of 30
    assert _err(cfg) == (
        f"{cfg['inputs']['symptoms']}, line {line}, column 'item': expected an item number 1-17 of "
        "HAMD17, or 'total' for a visit with only the total score, found '31'"
    )


def _header_only(path):
    Path(path).write_text(Path(path).read_text().splitlines()[0] + "\n")


def test_header_only_symptoms_is_a_named_error(tmp_path):
    cfg = _cohort(tmp_path)
    _header_only(cfg["inputs"]["symptoms"])
    assert _err(cfg) == (
        f"{cfg['inputs']['symptoms']}: the symptoms table has a header and no rows; expected item "
        "scores (or instrument totals) per patient and visit: every endpoint and dimension needs them"
    )


@pytest.mark.parametrize("name", ["treatments", "biomarkers"])
def test_header_only_optional_table_is_flagged_as_absent(tmp_path, name):
    cfg = _cohort(tmp_path)
    _header_only(cfg["inputs"][name])
    tables, manifest = validate_inputs(cfg["inputs"], **validate_options(cfg))
    assert len(tables[name]) == 0 and manifest["inputs"][name]["rows"] == 0
    assert manifest["skipped"][name] == f"{cfg['inputs'][name]} has a header and no rows: treated as absent"
