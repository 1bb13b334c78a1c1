"""The input contract of issue 8: real exports read as their canonical form.

Accepted spellings (resources/synonyms.tsv), missing-value spellings, plain float notation,
separators by content, CSV quoting, UTF-8 with or without BOM, CRLF, the optional episode,
and config paths read from the config file's folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from stratify.config import load_config, load_schema, validate_config
from stratify.errors import ConfigError, InputError
from stratify.inputs.validate import parse_biomarkers, validate_inputs, validate_options
from stratify.io.schema import check_table
from stratify.io.synonyms import AMBIGUOUS, load_synonyms, normalise
from stratify.io.text import read_text_table

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- one cohort, two spellings

CANONICAL = {
    "patients": "patient_id\tsite\tage\tsex\tdiagnosis\nP1\tA\t40\tF\tMDD\nP2\tA\t51\tM\t\nP3\tB\t33\tF\tbipolar\n",
    "symptoms": "patient_id\tweek\tinstrument\titem\tscore\n"
    "P1\t0\tHAMD17\t1\t3\nP1\t8\tHAMD17\t1\t1\nP2\t0\tIDS_SR30\t4\t2\n"
    "P2\t0\tQIDS_SR16\t5\t3\nP3\t0\tPHQ9\t9\t0\n",
    "treatments": "patient_id\tepisode\ttrial\tmodality\tagent\tdose_mg_day\tduration_weeks\toutcome\tprospective\n"
    "P1\t1\t1\tmedication\tsertraline\t150\t8\tnonresponse\tfalse\n"
    "P1\t1\t2\tpsychotherapy\tcbt\t\t12\t\ttrue\n"
    "P2\t1\t1\trTMS\tother\t\t4\tpartial\ttrue\n",
    "biomarkers": "patient_id\tweek\tmarker\tvalue\tunit\n"
    "P1\t0\tcrp\t1.2\tmg/L\nP1\t0\til6\t<0.5\tpg/mL\nP2\t0\tcrp\t2570\tnmol/L\n"
    "P3\t0.5\ttnf_alpha\t0.5\tpg/mL\nP3\t0\tbmi\t27.5\tkg/m2\n",
}

# the same cohort as spreadsheets and databases export it: CSV with quotes, a BOM, CRLF line
# ends, a semicolon file, other spellings, 'visit', no 'episode', exponent notation, NA cells
EXPORT = {
    "patients.txt": '\ufeff"patient_id","Site","age","sex","diagnosis"\r\n'
    '"P1","A","4.0e1","female","major depressive disorder"\r\n'
    '"P2","A","+51","Male","NA"\r\n"P3","B","33.","f","Bipolar disorder"\r\n',
    "symptoms.csv": "patient_id;week;instrument;item;score\n"
    "P1;0;HAMD-17;1;3\nP1;8;HAM-D 17;1;1\nP2;0;IDS-SR30;4;2\nP2;.0;QIDS-SR;5;3E0\nP3;0;PHQ-9;9;0\n",
    "treatments.csv": "patient_id,trial,modality,agent,dose_mg_day,duration_weeks,outcome,prospective\r\n"
    "P1,1,Medication,Sertraline,1.5e+02,8,non-response,FALSE\r\n"
    'P1,2,Psychotherapy,"Cognitive behavioural therapy",N/A,12,-,TRUE\r\n'
    "P2,1,TMS,Other,.,4,Partial response,yes\r\n",
    "biomarkers.tsv": "patient_id\tvisit\tmarker\tvalue\tunit\r\n"
    "P1\t0\tCRP\t1.2\tmg/l\r\nP1\t0\tIL-6\t<.5\tpg/ml\r\nP2\t0\ths-CRP\t2.57e+03\tnmol/l\r\n"
    "P3\t0.5\tTNF-α\t5E-1\tpg/ml\r\nP3\t0\tBMI\t27.5\tkg/m²\r\n",
}


def _write(folder: Path, files: dict[str, str], *, encoding="utf-8") -> dict[str, str]:
    folder.mkdir()
    out = {}
    for name, text in files.items():
        p = folder / (name if "." in name else f"{name}.tsv")
        p.write_bytes(text.encode(encoding))
        out[name.split(".")[0]] = str(p)
    return out


def _validate(inputs):
    return validate_inputs(inputs, cohort="c")


def test_an_export_validates_to_the_tables_of_the_canonical_spelling(tmp_path):
    canon, _ = _validate(_write(tmp_path / "canonical", CANONICAL))
    export, manifest = _validate(_write(tmp_path / "export", EXPORT))
    for name in canon:
        pd.testing.assert_frame_equal(export[name], canon[name], obj=name)
    assert list(export["biomarkers"].columns)[:2] == ["patient_id", "week"]
    assert export["treatments"]["episode"].tolist() == [1, 1, 1]
    c = manifest["canonicalised"]
    assert c["biomarkers"]["columns"] == {"visit": "week"}
    assert c["biomarkers"]["values"]["marker"] == {
        "CRP -> crp": 1,
        "IL-6 -> il6": 1,
        "hs-CRP -> crp": 1,
        "TNF-α -> tnf_alpha": 1,
        "BMI -> bmi": 1,
    }
    assert c["biomarkers"]["values"]["unit"]["kg/m² -> kg/m2"] == 1
    assert c["symptoms"]["values"]["instrument"] == {
        "HAMD-17 -> HAMD17": 1,
        "HAM-D 17 -> HAMD17": 1,
        "IDS-SR30 -> IDS_SR30": 1,
        "QIDS-SR -> QIDS_SR16": 1,
        "PHQ-9 -> PHQ9": 1,
    }
    assert c["treatments"]["values"]["agent"] == {
        "Sertraline -> sertraline": 1,
        "Cognitive behavioural therapy -> cbt": 1,
        "Other -> other": 1,
    }
    assert c["treatments"]["values"]["modality"] == {
        "Medication -> medication": 1,
        "Psychotherapy -> psychotherapy": 1,
        "TMS -> rTMS": 1,
    }
    assert c["treatments"]["missing"] == {"dose_mg_day": {"N/A": 1, ".": 1}, "outcome": {"-": 1}}
    assert c["patients"]["columns"] == {"Site": "site"}
    assert c["patients"]["missing"] == {"diagnosis": {"NA": 1}}
    assert manifest["assumed"] == {
        "treatments.episode": f"{tmp_path / 'export' / 'treatments.csv'}: no 'episode' "
        "column; episode 1 assumed for all 3 trials"
    }
    canonical_manifest = _validate(_write(tmp_path / "c2", CANONICAL))[1]
    assert canonical_manifest["canonicalised"] == {} and canonical_manifest["assumed"] == {}


# --------------------------------------------------------------------------- the table itself


def test_the_synonym_table_is_unambiguous_and_names_only_canonical_values():
    syn = load_synonyms()  # raises if one key names two canonical values
    enums = {
        "marker": load_schema("biomarkers")["properties"]["marker"]["enum"],
        "instrument": load_schema("symptoms")["properties"]["instrument"]["enum"],
        "modality": load_schema("treatments")["properties"]["modality"]["enum"],
        "outcome": load_schema("treatments")["properties"]["outcome"]["enum"],
        "sex": load_schema("patients")["properties"]["sex"]["enum"],
        "diagnosis": load_schema("patients")["properties"]["diagnosis"]["enum"],
    }
    for field, allowed in enums.items():
        canon = set(syn["spellings"][field]) - {AMBIGUOUS}
        assert canon == set(allowed), field  # every canonical value has a row, and no other
    from stratify.config import load_resource

    units = {u for m in load_resource("biomarker_units.yaml").values() for u in m["units"]}
    assert set(syn["spellings"]["unit"]) == units
    assert normalise("instrument", "HAM-D 17") == normalise("instrument", "hamd17")


@pytest.mark.parametrize("value", ["HAMD", "HAM-D", "hdrs", "QIDS", "IDS", "PHQ"])
def test_an_ambiguous_instrument_is_refused_with_what_to_write(value):
    raw = {"patient_id": ["P1"], "week": ["0"], "instrument": [value], "item": ["1"], "score": ["1"]}
    with pytest.raises(InputError, match=rf"^s\.tsv, line 2, column 'instrument': '{value}' is ambiguous: .*write"):
        check_table(pd.DataFrame(raw), load_schema("symptoms"), path="s.tsv")


def test_an_unknown_value_lists_the_accepted_spellings():
    raw = {"patient_id": ["P1"], "week": ["0"], "instrument": ["BDI-II"], "item": ["1"], "score": ["1"]}
    with pytest.raises(
        InputError,
        match=r"expected one of HAMD17, MADRS, QIDS_SR16, IDS_SR30, PHQ9; accepted "
        r"spellings: HAMD17 \(HDRS17, HRSD17\);.*found 'BDI-II'$",
    ):
        check_table(pd.DataFrame(raw), load_schema("symptoms"), path="s.tsv")


@pytest.mark.parametrize("sex, ok", [("female", "F"), ("MALE", "M"), (" f ", "F"), ("woman", None), ("1", None)])
def test_sex_only_where_unambiguous(sex, ok):
    raw = pd.DataFrame({"patient_id": ["P1"], "site": ["A"], "age": ["40"], "sex": [sex]})
    if ok:
        assert check_table(raw, load_schema("patients"), path="p.tsv")["sex"].tolist() == [ok]
    else:
        with pytest.raises(InputError, match=r"column 'sex': expected one of F, M; accepted spellings: F \(female\)"):
            check_table(raw, load_schema("patients"), path="p.tsv")


# --------------------------------------------------------------------------- numbers and missing values


@pytest.mark.parametrize(
    "text, value",
    [("2.57e+03", 2570.0), ("1E-2", 0.01), ("+3", 3.0), (".5", 0.5), ("3.", 3.0), ("-1.5e0", -1.5), ("40", 40.0)],
)
def test_plain_float_notation_is_a_number(text, value):
    # a declared covariate has no bounds, so negative numbers reach the parser too
    raw = pd.DataFrame({"patient_id": ["P1"], "site": ["A"], "age": ["40"], "sex": ["F"], "score_x": [text]})
    out = check_table(raw, load_schema("patients"), path="p.tsv", extra_numeric=("score_x",))
    assert out["score_x"].tolist() == [value]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("inf", "expected a finite number (inf and nan are not values"),
        ("-Infinity", "expected a finite number"),
        ("+nan", "expected a finite number"),
        (
            "1,5",
            "expected a number (a decimal comma or a thousands separator? write plain numbers with '.' as the "
            "decimal point), found '1,5'",
        ),
        ("1 500", "expected a number (a decimal comma or a thousands separator?"),
        ("0x10", "expected a number, found '0x10'"),
        ("1e", "expected a number, found '1e'"),
        ("5 months", "expected a number, found '5 months'"),
    ],
)
def test_text_that_is_not_a_finite_number_is_named(text, expected):
    raw = pd.DataFrame({"patient_id": ["P1"], "site": ["A"], "age": ["40"], "sex": ["F"], "episode_months": [text]})
    with pytest.raises(InputError, match="^p.tsv, line 2, column 'episode_months': " + re.escape(expected)):
        check_table(raw, load_schema("patients"), path="p.tsv")


@pytest.mark.parametrize("cell", ["", "NA", "n/a", "NaN", "nan", "null", "NULL", ".", "-", " NA "])
def test_missing_value_spellings(cell):
    raw = pd.DataFrame(
        {
            "patient_id": ["P1"],
            "site": ["A"],
            "age": ["40"],
            "sex": ["F"],
            "episode_months": [cell],
            "diagnosis": [cell],
            "psychotic_features": [cell],
        }
    )
    out = check_table(raw, load_schema("patients"), path="p.tsv")
    assert out[["episode_months", "diagnosis", "psychotic_features"]].isna().all(axis=None)
    raw["age"] = [cell]
    with pytest.raises(
        InputError,
        match=r"column 'age': expected a value \(the column is required; an empty cell, "
        r"NA, N/A, NaN, null, '\.' and '-' mean no value\)",
    ):
        check_table(raw, load_schema("patients"), path="p.tsv")


@pytest.mark.parametrize(
    "text, value, below",
    [("<1e-1", 0.1, True), ("< 0.2", 0.2, True), ("2.57e+03", 2570, False), (".5", 0.5, False), ("+3", 3.0, False)],
)
def test_biomarker_values_in_plain_float_notation(text, value, below):
    raw = {"patient_id": ["P1"], "week": ["0"], "marker": ["crp"], "value": [text], "unit": ["nmol/L"]}
    b = parse_biomarkers(check_table(pd.DataFrame(raw), load_schema("biomarkers"), path="b.tsv"), path="b.tsv")
    assert b["value"].tolist() == [value] and b["below_detection"].tolist() == [below]


@pytest.mark.parametrize("text", ["inf", "<inf", "NaN%", "<", "1,2"])
def test_biomarker_value_that_is_not_a_number(text):
    raw = {"patient_id": ["P1"], "week": ["0"], "marker": ["crp"], "value": [text], "unit": ["mg/L"]}
    with pytest.raises(InputError, match=r"^b\.tsv, line 2, column 'value': expected a (finite )?number"):
        parse_biomarkers(check_table(pd.DataFrame(raw), load_schema("biomarkers"), path="b.tsv"), path="b.tsv")


# --------------------------------------------------------------------------- columns and the episode


def test_visit_and_week_in_one_biomarkers_table_is_an_error():
    raw = {"patient_id": ["P1"], "visit": ["0"], "Week": ["0"], "marker": ["crp"], "value": ["1"], "unit": ["mg/L"]}
    with pytest.raises(InputError, match=r"^b\.tsv: columns 'visit', 'Week' are both the column 'week'"):
        check_table(pd.DataFrame(raw), load_schema("biomarkers"), path="b.tsv")


def test_visit_is_not_a_synonym_in_the_symptoms_table():
    raw = {"patient_id": ["P1"], "visit": ["0"], "instrument": ["HAMD17"], "item": ["1"], "score": ["1"]}
    with pytest.raises(InputError, match=r"^s\.tsv: unknown column 'visit'"):
        check_table(pd.DataFrame(raw), load_schema("symptoms"), path="s.tsv")


def test_empty_episode_cells_are_episode_1_and_a_clash_is_a_duplicate(tmp_path):
    files = _write(tmp_path / "c", CANONICAL)
    Path(files["treatments"]).write_text(
        "patient_id\tepisode\ttrial\tmodality\tagent\tduration_weeks\tprospective\n"
        "P1\t2\t1\tmedication\tsertraline\t8\tfalse\nP1\tNA\t1\tmedication\tcitalopram\t8\tfalse\n"
        "P2\t\t1\tmedication\tcitalopram\t8\ttrue\n"
    )
    tables, manifest = _validate(files)
    assert tables["treatments"]["episode"].tolist() == [2, 1, 1]
    assert manifest["assumed"]["treatments.episode"].endswith(
        "'episode' empty in 2 of 3 trials; episode 1 assumed for those"
    )
    with open(files["treatments"], "a") as fh:
        fh.write("P2\t1\t1\tmedication\tsertraline\t8\tfalse\n")
    with pytest.raises(
        InputError,
        match=r"line 5: duplicate record \(patient_id=P2, episode=1, trial=1\); first "
        r"seen on line 4",
    ):
        _validate(files)


# --------------------------------------------------------------------------- reading files


@pytest.mark.parametrize(
    "name, text",
    [
        ("a.tsv", "a,b\n1,2\n"),
        ("a.csv", "a;b\r\n1;2\r\n"),
        ("a.txt", "\ufeffa\tb\r\n1\t2\r\n"),
        ("a.csv", "a\tb\n1\t2\n"),
        ("a", '"a","b"\n"1","2"\n'),
    ],
)
def test_separator_comes_from_the_header_not_the_name(tmp_path, name, text):
    p = tmp_path / name
    p.write_bytes(text.encode())
    assert read_text_table(p).to_dict("list") == {"a": ["1"], "b": ["2"]}


def test_quoted_csv_cells(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text('patient_id,site,note\nP1,"site, A","said ""hi"""\n"P2","B\nsecond line",x\nP3,C,\n')
    df = read_text_table(p)
    assert df["site"].tolist() == ["site, A", "B\nsecond line", "C"]
    assert df["note"].tolist() == ['said "hi"', "x", ""]
    assert (df.index + 2).tolist() == [2, 3, 5]  # P3 starts on line 5: the quoted line break counts
    p.write_text('a,b\n1,2\n"3,4\n5,6\n')
    with pytest.raises(
        InputError,
        match=r"p\.csv: cannot be read as a comma-separated table: line 3: .*a quote "
        r"that is never closed",
    ):
        read_text_table(p)
    p.write_text('a,b\n"1,2",3\n4,5,6\n')
    with pytest.raises(InputError, match=r"comma-separated table: line 3 has 3 fields, the header has 2$"):
        read_text_table(p)


def test_a_quote_in_a_tab_separated_file_is_text(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text('a\tb\n"x, y"\t"2\n')
    assert read_text_table(p).to_dict("list") == {"a": ['"x, y"'], "b": ['"2']}


def test_latin1_bytes_are_named_with_line_and_byte(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_bytes("patient_id\tsite\nP1\tA\nP2\tZürich\n".encode("latin-1"))
    with pytest.raises(InputError) as e:
        read_text_table(p)
    assert str(e.value).startswith(
        f"{p}, line 3, byte 5 of the line: byte 0xFC is not UTF-8 text; the file is probably in Latin-1 or Windows-1252"
    )
    assert "re-save it as UTF-8" in str(e.value)
    p.write_bytes("patient_id\tsite\n".encode("utf-16"))
    with pytest.raises(InputError, match=r"UTF-16 .* re-save it as UTF-8"):
        read_text_table(p)


def test_header_with_as_many_commas_as_semicolons(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("a,b;c\n1,2;3\n")
    with pytest.raises(InputError, match=r"as many commas as semicolons \(1\); cannot tell"):
        read_text_table(p)


def test_utf8_text_with_bom_and_crlf_is_read(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_bytes("\ufeffpatient_id\tsite\r\nP1\tZürich\r\n".encode("utf-8"))
    assert read_text_table(p).to_dict("list") == {"patient_id": ["P1"], "site": ["Zürich"]}


# --------------------------------------------------------------------------- config paths


def _minimal(**inputs):
    return {"cohort": "c", "genome_build": "GRCh38", "inputs": inputs, "endpoint": {"instrument": "HAMD17", "week": 8}}


def test_config_paths_are_read_from_the_config_folder(tmp_path, monkeypatch):
    d = tmp_path / "study" / "config"
    d.mkdir(parents=True)
    data = tmp_path / "study" / "data"
    data.mkdir()
    for f in ("p.tsv", "s.tsv", "doses.tsv", "link.tsv", "c.tsv", "m.tsv"):
        (data / f).write_text("x\n")
    cfg = _minimal(
        patients="../data/p.tsv",
        symptoms=str(data / "s.tsv"),
        star_alleles=[{"path": "../data/c.tsv", "tool": "cyrius", "sample_map": "../data/m.tsv"}],
    )
    cfg["clinical"] = {"dose_table": "../data/doses.tsv"}
    (d / "c.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(tmp_path)  # anywhere but the config's folder
    out = load_config("study/config/c.yaml")
    assert out["inputs"]["patients"] == str(data / "p.tsv")
    assert out["inputs"]["symptoms"] == str(data / "s.tsv")  # absolute: kept
    assert out["inputs"]["star_alleles"][0] == {
        "path": str(data / "c.tsv"),
        "tool": "cyrius",
        "sample_map": str(data / "m.tsv"),
    }
    assert out["clinical"]["dose_table"] == str(data / "doses.tsv")
    # the validated config, written elsewhere, stays valid (absolute paths)
    (tmp_path / "effective.yaml").write_text(yaml.safe_dump(out))
    assert load_config(tmp_path / "effective.yaml")["inputs"] == out["inputs"]


def test_a_missing_file_is_a_config_error_naming_the_key(tmp_path):
    (tmp_path / "p.tsv").write_text("x\n")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(_minimal(patients="p.tsv", symptoms="sym.tsv")))
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "c.yaml")
    assert str(e.value) == (
        f"{tmp_path / 'c.yaml'}: key inputs.symptoms: file not found: {tmp_path / 'sym.tsv'} "
        "(relative paths in a config file are read from the folder the config file is in)"
    )


def test_simulated_inputs_need_not_exist_yet(tmp_path):
    cfg = _minimal(patients="out/patients.tsv", symptoms="out/symptoms.tsv")
    cfg["simulate"] = {"n": 60}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert load_config(tmp_path / "c.yaml")["inputs"]["symptoms"] == str(tmp_path / "out" / "symptoms.tsv")
    cfg["clinical"] = {"dose_table": "elsewhere/doses.tsv"}  # not written by the simulator
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"key clinical\.dose_table: file not found"):
        load_config(tmp_path / "c.yaml")


def test_an_in_memory_config_keeps_its_paths():
    assert validate_config(_minimal(patients="p.tsv", symptoms="s.tsv"))["inputs"]["patients"] == "p.tsv"


def test_simulate_out_writes_a_config_valid_from_anywhere(tmp_path, monkeypatch):
    from stratify.simulate.cohort import write_cohort

    monkeypatch.chdir(tmp_path)
    paths = write_cohort("sim", n=60, seed=1, genotypes=False)
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")
    cfg = load_config(paths["config"])
    assert cfg["inputs"]["patients"] == str(tmp_path / "sim" / "patients.tsv")
    tables, _ = validate_inputs(cfg["inputs"], **validate_options(cfg))
    assert list(tables["biomarkers"].columns)[:2] == ["patient_id", "week"]


def test_snakemake_stops_at_parse_time_on_a_missing_input(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    del cfg["simulate"]
    cfg["inputs"] = {"patients": "nowhere/patients.tsv", "symptoms": "nowhere/symptoms.tsv"}
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    p = cfg_dir / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "-n",
            "--directory",
            str(tmp_path),
            "--configfile",
            str(p),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode != 0
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("stratify: error:")]
    assert lines == [
        f"stratify: error: {p}: key inputs.patients: file not found: {cfg_dir / 'nowhere/patients.tsv'} "
        "(relative paths in a config file are read from the folder the config file is in)"
    ]


def test_docs_list_the_synonym_table():
    from stratify.io.synonyms import markdown_table

    assert markdown_table() in (REPO / "docs" / "inputs.md").read_text()


def test_lone_carriage_returns_end_lines(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_bytes(b"a\tb\r1\t2\r3\r")
    with pytest.raises(InputError, match=r"tab-separated table: line 3 has 1 fields, the header has 2$"):
        read_text_table(p)


def test_space_before_a_quoted_csv_cell(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text('a, b\n1, "x, y"\n')
    assert read_text_table(p).to_dict("list") == {"a": ["1"], "b": ["x, y"]}


@pytest.mark.parametrize(
    "magic, says",
    [
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel .xlsx or LibreOffice .ods workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel .xls workbook"),
        (b"\x1f\x8b\x08\x00", "gzip-compressed; decompress it"),
    ],
)
def test_spreadsheet_and_compressed_files_are_named(tmp_path, magic, says):
    from stratify.io.text import read_text_table

    p = tmp_path / "patients.tsv"
    p.write_bytes(magic + bytes(range(256)))
    with pytest.raises(InputError, match=f"^{p}: .*{re.escape(says)}"):
        read_text_table(p)
