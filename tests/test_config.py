"""Tests for stratify.config: schema validation, defaults, error messages."""

from __future__ import annotations

import copy

import pytest

from stratify.config import cohort_inputs, load_config, load_resource, load_schema, validate_config
from stratify.errors import ConfigError, InputError

MINIMAL = {
    "cohort": "demo",
    "genome_build": "GRCh38",
    "inputs": {"patients": "p.tsv", "symptoms": "s.tsv"},
    "endpoint": {"instrument": "HAMD17", "week": 8},
}


def _cfg(**changes):
    cfg = copy.deepcopy(MINIMAL)
    cfg.update(changes)
    return cfg


def test_defaults_are_filled():
    cfg = validate_config(MINIMAL)
    assert cfg["seed"] == 20240601
    assert cfg["endpoint"]["kind"] == "response"
    assert cfg["patient_covariates"] == []
    assert cfg["model"] == {
        "folds": 5,
        "cv": "auto",
        "n_bootstrap": 1000,
        "n_permutations": 100,
        "learners": ["xgboost", "elastic_net"],
        "n_estimators": 200,
        "max_depth": 2,
        "learning_rate": 0.05,
        "search": {
            "n_candidates": 6,
            "inner_folds": 3,
            "time_budget_s": 600,
            "early_stopping_rounds": 20,
            "max_estimators": 500,
            "max_patients": 20000,
        },
    }
    assert "definition" not in cfg["endpoint"]
    assert cfg["clinical"] == {
        "max_missing_items": 0.2,
        "adequate_weeks": 6,
        "min_psychotherapy_sessions": 8,
        "markowitz_min_sessions": 9,
        "sforzini_count_psychotherapy": False,
        "min_sessions": {},
        "crp_acute_mg_l": 10,
        "crp_acute_policy": "exclude",
        "dimensions": {},
    }
    assert cfg["subtype"] == {
        "features": ["inflammatory_index", "metabolic_index", "aes", "anhedonia"],
        "max_k": 6,
        "n_init": 5,
        "min_cluster_fraction": 0.05,
        "method": "gmm_bic",
        "n_null": 100,
        "n_bootstrap": 100,
        "alpha": 0.05,
        "stable_jaccard": 0.75,
        "existence_null": "gaussian_copula",
        "detectable_separation": {
            "run": True,
            "grid": [1.0, 1.5, 2.0, 2.5, 3.0, 4.0],
            "n_replicates": 10,
            "n_null": 39,
            "power": 0.8,
        },
        "naming": {},
    }
    assert cfg["features"]["genetic"] == ["cyp2c19_rank", "cyp2d6_activity_score", "pc1", "pc2", "pc3"]
    assert cfg["report"] == {"title": "stratify report", "pseudonymise": False}


def test_given_values_are_kept_and_partial_sections_completed():
    cfg = validate_config(_cfg(seed=7, model={"folds": 3}))
    assert cfg["seed"] == 7
    # the given key stays, the others of the section come from the schema
    assert cfg["model"]["folds"] == 3 and cfg["model"]["n_estimators"] == 200


def test_input_is_not_modified():
    raw = copy.deepcopy(MINIMAL)
    validate_config(raw)
    assert raw == MINIMAL


def test_simulate_defaults():
    cfg = validate_config(_cfg(simulate={"n": 100}))
    assert cfg["simulate"] == {"n": 100, "seed": 1, "null_twin": False, "null_kind": "hard"}


def test_unknown_top_level_key():
    with pytest.raises(ConfigError) as e:
        validate_config(_cfg(foo=1), source="cohort.yaml")
    msg = str(e.value)
    assert msg.startswith("cohort.yaml: unknown key 'foo' at top level")
    assert (
        "allowed keys: clinical, cohort, endpoint, features, genome_build, genotypes, heterogeneity, inputs, model, "
        "patient_covariates, report, seed, simulate, subtype"
    ) in msg


def test_unknown_nested_key():
    with pytest.raises(ConfigError) as e:
        validate_config(_cfg(model={"fold": 3}), source="cohort.yaml")
    assert str(e.value) == (
        "cohort.yaml: unknown key 'fold' at model; allowed keys: cv, folds, learners, learning_rate, "
        "max_depth, n_bootstrap, n_estimators, n_permutations, search"
    )


def test_unknown_key_in_list_item():
    cfg = copy.deepcopy(MINIMAL)
    cfg["inputs"]["star_alleles"] = [{"path": "c.tsv", "tool": "cyrius", "genes": "CYP2D6"}]
    with pytest.raises(ConfigError) as e:
        validate_config(cfg, source="c.yaml")
    assert str(e.value) == (
        "c.yaml: unknown key 'genes' at inputs.star_alleles.0; allowed keys: gene, path, sample, sample_map, tool"
    )


def test_wrong_enum():
    cfg = copy.deepcopy(MINIMAL)
    cfg["endpoint"]["kind"] = "cure"
    with pytest.raises(ConfigError) as e:
        validate_config(cfg, source="c.yaml")
    assert str(e.value) == (
        "c.yaml: key endpoint.kind: 'cure' is not one of ['response', 'remission', 'trd', 'pct_change']"
    )


def test_wrong_build_enum():
    with pytest.raises(ConfigError, match=r"key genome_build: 'hg19' is not one of \['GRCh38', 'GRCh37'\]"):
        validate_config(_cfg(genome_build="hg19"))


@pytest.mark.parametrize("key", ["cohort", "genome_build", "inputs", "endpoint"])
def test_missing_required_top_level(key):
    cfg = copy.deepcopy(MINIMAL)
    del cfg[key]
    with pytest.raises(ConfigError) as e:
        validate_config(cfg, source="c.yaml")
    assert str(e.value) == f"c.yaml: '{key}' is a required property (at top level)"


def test_missing_required_nested():
    cfg = copy.deepcopy(MINIMAL)
    del cfg["endpoint"]["week"]
    with pytest.raises(ConfigError) as e:
        validate_config(cfg, source="c.yaml")
    assert str(e.value) == "c.yaml: 'week' is a required property (at endpoint)"


def test_range_and_type_errors():
    with pytest.raises(ConfigError, match=r"^config: key model\.folds: 1 is less than the minimum of 2$"):
        validate_config(_cfg(model={"folds": 1}))
    with pytest.raises(ConfigError, match=r"key seed: 'x' is not of type 'integer'"):
        validate_config(_cfg(seed="x"))
    with pytest.raises(ConfigError, match=r"key cohort: 'my cohort' does not match"):
        validate_config(_cfg(cohort="my cohort"))


def test_not_a_mapping():
    with pytest.raises(ConfigError) as e:
        validate_config(["cohort"], source="c.yaml")
    assert str(e.value) == "c.yaml: expected a YAML mapping of keys, found list"


def test_load_config_reads_and_validates(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        "cohort: demo\ngenome_build: GRCh37\ninputs: {patients: p.tsv, symptoms: s.tsv}\n"
        "endpoint: {instrument: QIDS_SR16, week: 6, kind: remission}\n"
    )
    for f in ("p.tsv", "s.tsv"):
        (tmp_path / f).write_text("x\n")
    cfg = load_config(p)
    assert cfg["inputs"]["patients"] == str(tmp_path / "p.tsv")  # read from the config's folder
    assert (cfg["genome_build"], cfg["endpoint"]["instrument"], cfg["endpoint"]["kind"]) == (
        "GRCh37",
        "QIDS_SR16",
        "remission",
    )
    assert cfg["model"]["folds"] == 5


def test_load_config_error_names_the_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        "cohort: demo\ngenome_build: GRCh38\ninputs: {patients: p.tsv, symptoms: s.tsv}\n"
        "endpoint: {instrument: HAMD17, week: 8}\nmodle: {}\n"
    )
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value).startswith(f"{p}: unknown key 'modle' at top level")


def test_load_config_missing_file(tmp_path):
    p = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: config file not found"


def test_load_config_invalid_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("cohort: demo\ninputs: [unclosed\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: not valid YAML at line 3, column 1: expected ',' or ']', but got '<stream end>'"
    assert "\n" not in str(e.value)


def test_unknown_feature_name_is_caught_with_the_config():
    cfg = copy.deepcopy(MINIMAL)
    cfg["features"] = {"clinical": ["age", "pct_change"]}
    with pytest.raises(ConfigError, match=r"c.yaml: key features.clinical: unknown feature 'pct_change'; features"):
        validate_config(cfg, source="c.yaml")
    cfg = copy.deepcopy(MINIMAL)
    cfg["subtype"] = {"features": ["aes", "crp"]}
    with pytest.raises(ConfigError, match=r"key subtype.features: unknown feature 'crp'"):
        validate_config(cfg, source="c.yaml")


def test_sample_key_only_for_single_sample_formats():
    cfg = copy.deepcopy(MINIMAL)
    cfg["inputs"]["star_alleles"] = [{"path": "c.tsv", "tool": "cyrius", "sample": "S1"}]
    with pytest.raises(
        ConfigError, match=r"inputs.star_alleles.0.sample applies only to single-sample formats \(pharmcat_outside, "
    ):
        validate_config(cfg, source="c.yaml")


def test_load_config_empty_file(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: expected a YAML mapping of keys, found NoneType"


def test_cohort_inputs_flattens_every_file():
    cfg = copy.deepcopy(MINIMAL)
    cfg["inputs"].update(
        treatments="t.tsv",
        genotypes={"vcf": "g.vcf.gz", "sample_map": "m.tsv"},
        star_alleles=[{"path": "c.tsv", "tool": "cyrius"}, {"path": "o.tsv", "tool": "plain", "sample_map": "m2.tsv"}],
    )
    assert cohort_inputs(validate_config(cfg)) == {
        "patients": "p.tsv",
        "symptoms": "s.tsv",
        "treatments": "t.tsv",
        "vcf": "g.vcf.gz",
        "vcf_sample_map": "m.tsv",
        "star_alleles_0": "c.tsv",
        "star_alleles_1": "o.tsv",
        "star_alleles_1_sample_map": "m2.tsv",
    }


def test_schemas_forbid_unknown_keys():
    # house style 3: every schema is closed
    for name in ("config", "patients", "symptoms", "treatments", "biomarkers", "sample_map"):
        assert load_schema(name)["additionalProperties"] is False, name


def test_resources_load():
    inst = load_resource("instruments.yaml")
    # HAMD-17: 17 items, maximum 52 (9 items 0-4 and 8 items 0-2: 9*4 + 8*2 = 52)
    assert sum(v["max"] for v in inst["HAMD17"]["items"].values()) == inst["HAMD17"]["total_max"] == 52
    assert inst["QIDS_SR16"]["total_max"] == 27 and inst["HAMD17"]["remission_max"] == 7


def test_config_accepts_exactly_the_supported_caller_formats():
    from stratify.config import SINGLE_SAMPLE_TOOLS, load_schema
    from stratify.pgx.callers import SUPPORTED_TOOLS

    items = load_schema("config")["properties"]["inputs"]["properties"]["star_alleles"]["items"]
    assert sorted(items["properties"]["tool"]["enum"]) == sorted(SUPPORTED_TOOLS)
    assert set(SINGLE_SAMPLE_TOOLS) <= set(SUPPORTED_TOOLS)


def test_adequacy_options_follow_the_config(tmp_path):
    from stratify.clinical.adequacy import adequacy_options

    table = tmp_path / "doses.tsv"
    table.write_text(
        "agent\tclass\tmin_daily_dose_mg\tsource\tverified\tnotes\nsertraline\tssri\t100\tlocal protocol\tyes\t\n"
    )
    cfg = validate_config(
        {
            **MINIMAL,
            "clinical": {
                "adequate_weeks": 6,
                "min_psychotherapy_sessions": 12,
                "min_sessions": {"ECT": 8},
                "dose_table": str(table),
            },
        }
    )
    opts = adequacy_options(cfg)
    assert (opts["min_weeks"], opts["min_psychotherapy_sessions"], opts["min_sessions"]) == (6.0, 12, {"ECT": 8})
    assert opts["doses"].set_index("agent").loc["sertraline", "min_daily_dose_mg"] == 100.0
    assert "doses" not in adequacy_options(validate_config(MINIMAL))  # the shipped table


def test_bad_dose_table_is_reported_with_file_agent_and_column(tmp_path):
    from stratify.clinical.adequacy import load_doses

    table = tmp_path / "doses.tsv"
    table.write_text("agent\tclass\tmin_daily_dose_mg\tsource\nsertraline\tssri\tfifty\tlocal\n")
    with pytest.raises(
        InputError,
        match=r"doses.tsv: agent 'sertraline', column 'min_daily_dose_mg' is "
        r"'fifty'; expected a number >= 0 or empty",
    ):
        load_doses(table)


def test_unknown_session_modality_is_a_config_error():
    with pytest.raises(ConfigError, match=r"unknown key 'TMS' at clinical.min_sessions"):
        validate_config({**MINIMAL, "clinical": {"min_sessions": {"TMS": 10}}})


def test_subtype_settings_that_cannot_claim_are_errors():
    with pytest.raises(
        ConfigError,
        match=r"subtype.n_null: 19 simulations cannot give a p-value below "
        r"alpha = 0.05 \(the smallest is 1/\(n_null \+ 1\)\); use at least 20",
    ):
        validate_config({**MINIMAL, "subtype": {"n_null": 19}})
    validate_config({**MINIMAL, "subtype": {"n_null": 19, "alpha": 0.1}})
    with pytest.raises(ConfigError, match="subtype.max_k: kmeans needs max_k >= 2"):
        validate_config({**MINIMAL, "subtype": {"method": "kmeans", "max_k": 1}})


def test_trd_endpoint_definition():
    cfg = copy.deepcopy(MINIMAL)
    cfg["endpoint"]["kind"] = "trd"
    assert validate_config(cfg)["endpoint"]["definition"] == "sforzini_2021"
    cfg["endpoint"].update(kind="response", definition="msm")
    with pytest.raises(ConfigError, match="endpoint.definition applies only to endpoint.kind trd"):
        validate_config(cfg, source="c.yaml")


def test_load_config_latin1_bytes_are_named_with_line_and_byte(tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes("cohort: demo\ntitle: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == (
        f"{p}: line 2, byte 11 of the line: byte 0xE9 is not UTF-8; expected a UTF-8 YAML file (re-save it as UTF-8)"
    )
