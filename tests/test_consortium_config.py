"""The consortium config (stratify.consortium.config): every cohort config valid on its own,
paths read from the consortium file's folder, and one clear line for every mistake."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from stratify.config import load_config
from stratify.consortium.config import is_consortium_config, load_consortium, validate_consortium
from stratify.errors import ConfigError
from stratify.io.resources import load_schema

REPO = Path(__file__).resolve().parent.parent


def _cohort(folder: Path, name: str, **extra) -> Path:
    """A minimal cohort config in ``folder`` (its own input files beside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in ("patients.tsv", "symptoms.tsv"):
        (folder / f).write_text("")
    cfg = {
        "cohort": name,
        "genome_build": "GRCh38",
        "inputs": {"patients": "patients.tsv", "symptoms": "symptoms.tsv"},
        "endpoint": {"instrument": "HAMD17", "week": 8},
        **extra,
    }
    p = folder / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _consortium(folder: Path, cohorts: list[str], **extra) -> Path:
    p = folder / "consortium.yaml"
    p.write_text(yaml.safe_dump({"consortium": {"name": "cons", "cohorts": cohorts, **extra}}))
    return p


@pytest.fixture
def two(tmp_path):
    _cohort(tmp_path / "site_a", "alpha")
    _cohort(tmp_path / "site_b", "beta")
    return tmp_path


def _error(path, **kw) -> str:
    with pytest.raises(ConfigError) as exc:
        load_consortium(path, **kw)
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_a_consortium_lists_validated_cohorts_with_their_folders(two, monkeypatch, tmp_path):
    cons = _consortium(two, ["site_a/alpha.yaml", "site_b/beta.yaml"])
    monkeypatch.chdir(tmp_path / "site_b")  # paths are read from the consortium file's folder, not the cwd
    c = load_consortium(cons)
    assert c.name == "cons" and c.min_cell == 10 and c.cohort_names == ["alpha", "beta"]
    assert c.results == "results/consortium/cons"
    assert [x.results for x in c.cohorts] == ["results/alpha", "results/beta"]
    assert [x.logs for x in c.cohorts] == ["logs/alpha", "logs/beta"]
    a = c.cohorts[0]
    assert a.source == (two / "site_a" / "alpha.yaml").resolve()
    # each cohort config is validated exactly as on its own: its paths from its own folder
    assert a.config == load_config(two / "site_a" / "alpha.yaml")
    assert a.config["inputs"]["patients"] == str((two / "site_a" / "patients.tsv").resolve())
    assert a.config["model"]["folds"] == 5  # defaults filled


def test_min_cell_is_read_and_absolute_cohort_paths_work(two):
    cons = _consortium(two, [str(two / "site_a" / "alpha.yaml"), "site_b/beta.yaml"], min_cell=5)
    assert load_consortium(cons).min_cell == 5


def test_shipped_consortium_demo_is_valid():
    c = load_consortium(REPO / "cohorts" / "consortium_demo.yaml")  # before any simulation: the
    # simulate blocks say their inputs will be written
    assert c.name == "consortium_demo"
    assert c.cohort_names == ["consortium_demo_a", "consortium_demo_b", "consortium_demo_c"]
    for x in c.cohorts:
        assert x.config["simulate"]["n"] >= 800 and x.config["inputs"]["patients"].endswith(
            f"results/{x.name}/cohort/patients.tsv"
        )


def test_is_consortium_config():
    assert is_consortium_config({"consortium": {}}) and not is_consortium_config({"cohort": "x"})
    assert not is_consortium_config(["consortium"])


def test_missing_cohort_file(two):
    cons = _consortium(two, ["site_a/alpha.yaml", "site_b/gamma.yaml"])
    msg = _error(cons)
    assert msg.startswith(f"{cons}: key consortium.cohorts.1: cohort config not found: {two / 'site_b' / 'gamma.yaml'}")
    assert f"read from the folder the consortium config is in, {two}" in msg


def test_duplicate_cohort_names(two):
    _cohort(two / "site_c", "alpha")
    cons = _consortium(two, ["site_a/alpha.yaml", "site_b/beta.yaml", "site_c/alpha.yaml"])
    msg = _error(cons)
    assert msg.startswith(f"{cons}: key consortium.cohorts.2: duplicate cohort name 'alpha' in {two / 'site_c'}")
    assert f"cohort 0 ({two / 'site_a' / 'alpha.yaml'}) has the same name" in msg


def test_the_same_cohort_twice(two):
    msg = _error(_consortium(two, ["site_a/alpha.yaml", "site_b/beta.yaml", "site_a/../site_a/alpha.yaml"]))
    assert "key consortium.cohorts.2: duplicate cohort name 'alpha'" in msg and "the same file is listed twice" in msg


def test_empty_and_single_cohort_lists(two):
    cons = _consortium(two, [])
    assert _error(cons) == (
        f"{cons}: key consortium.cohorts: the list is empty; expected the paths of at least two cohort configs"
    )
    msg = _error(_consortium(two, ["site_a/alpha.yaml"]))
    assert "key consortium.cohorts: one cohort (site_a/alpha.yaml)" in msg and "at least two cohort configs" in msg


def test_a_cohort_config_that_fails_its_own_validation_is_named(two):
    bad = _cohort(two / "site_c", "gamma", modell={"folds": 3})
    cons = _consortium(two, ["site_a/alpha.yaml", "site_c/gamma.yaml"])
    msg = _error(cons)
    assert msg.startswith(f"{cons}: key consortium.cohorts.1: cohort config site_c/gamma.yaml is not valid: {bad}: ")
    assert "unknown key 'modell' at top level" in msg


def test_a_cohort_input_that_is_missing(two):
    (two / "site_b" / "symptoms.tsv").unlink()
    cons = _consortium(two, ["site_a/alpha.yaml", "site_b/beta.yaml"])
    msg = _error(cons)
    assert "key consortium.cohorts.1: cohort config site_b/beta.yaml is not valid" in msg
    assert "key inputs.symptoms: file not found" in msg
    assert load_consortium(cons, check_files=False).cohort_names == ["alpha", "beta"]


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            {"name": "c", "cohorts": ["a.yaml", "b.yaml"], "min_cells": 5},
            "unknown key 'min_cells' at consortium; allowed keys: bundles, cohorts, min_cell, name",
        ),
        ({"cohorts": ["a.yaml", "b.yaml"]}, "'name' is a required property (at consortium)"),
        ({"name": "c"}, "'cohorts' is a required property (at consortium)"),
        ({"name": "c d", "cohorts": ["a.yaml", "b.yaml"]}, "key consortium.name: 'c d' does not match"),
        ({"name": "c", "cohorts": ["a.yaml", "b.yaml"], "min_cell": 0}, "key consortium.min_cell: 0 is less than"),
        ({"name": "c", "cohorts": "a.yaml"}, "key consortium.cohorts: 'a.yaml' is not of type 'array'"),
    ],
)
def test_schema_errors_name_the_key(tmp_path, block, expected):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"consortium": block}))
    msg = _error(p)
    assert msg.startswith(f"{p}: ") and expected in msg


def test_a_cohort_config_given_as_a_consortium_config(two):
    msg = _error(two / "site_a" / "alpha.yaml")
    assert "this is a cohort config (it has the key 'cohort'); a consortium config has one key, 'consortium'" in msg


def test_unknown_top_level_key_and_wrong_shape(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"consortium": {"name": "c", "cohorts": ["a", "b"]}, "extra": 1}))
    assert "unknown key 'extra' at top level; allowed keys: consortium" in _error(p)
    p.write_text("- a\n- b\n")
    assert _error(p) == f"{p}: expected a YAML mapping with the key 'consortium', found list"
    p.write_text("consortium: {name: c\n")
    assert re.match(rf"{re.escape(str(p))}: not valid YAML at line \d+, column \d+", _error(p))
    assert _error(tmp_path / "none.yaml") == f"{tmp_path / 'none.yaml'}: config file not found"


def test_a_cohort_may_not_take_the_consortium_folder_name(two):
    _cohort(two / "site_c", "consortium")
    msg = _error(_consortium(two, ["site_a/alpha.yaml", "site_c/consortium.yaml"]))
    assert "names its cohort 'consortium', which is reserved (results/consortium/ holds" in msg


def test_validate_consortium_reads_paths_from_base_dir(two):
    raw = {"consortium": {"name": "c", "cohorts": ["site_a/alpha.yaml", "site_b/beta.yaml"]}}
    assert validate_consortium(raw, base_dir=two).cohort_names == ["alpha", "beta"]
    with pytest.raises(ConfigError, match="cohort config not found"):
        validate_consortium(raw, base_dir=two / "site_a")


def test_schema_is_closed_and_documented():
    schema = load_schema("consortium")
    assert schema["additionalProperties"] is False
    block = schema["properties"]["consortium"]
    assert block["additionalProperties"] is False and block["properties"]["min_cell"]["default"] == 10
    docs = (REPO / "docs" / "inputs.md").read_text()
    section = docs[docs.index("## Consortium config") :]
    for key in block["properties"]:
        assert f"`consortium.{key}`" in section, key


def _bundle_file(path: Path, cohort: str) -> Path:
    """The smallest file read_bundle accepts (the config checks readability and the cohort name)."""
    doc = {"format": "stratify.site_bundle", "cohort": cohort, "min_cell": 10}
    doc.update(subtypes={}, model={}, variance_ratio={})
    path.write_text(json.dumps(doc))
    return path


def test_site_bundles_join_a_consortium_by_their_cohort_name(two):
    _bundle_file(two / "gamma.bundle.json", "gamma")
    c = load_consortium(_consortium(two, ["site_a/alpha.yaml"], bundles=["gamma.bundle.json"]))
    assert c.cohort_names == ["alpha"] and c.bundles == (("gamma", (two / "gamma.bundle.json").resolve()),)
    # without bundles the key defaults to none
    assert load_consortium(_consortium(two, ["site_a/alpha.yaml", "site_b/beta.yaml"])).bundles == ()


def test_bundle_mistakes_name_the_key(two):
    cons = _consortium(two, ["site_a/alpha.yaml"], bundles=["missing.json"])
    msg = _error(cons)
    assert msg.startswith(f"{cons}: key consortium.bundles.0: site bundle not found: {two / 'missing.json'}")
    assert "stratify summarise" in msg
    (two / "other.json").write_text('{"format": "something else"}')
    msg = _error(_consortium(two, ["site_a/alpha.yaml"], bundles=["other.json"]))
    assert "key consortium.bundles.0:" in msg and "expected a site bundle" in msg
    _bundle_file(two / "alpha.bundle.json", "alpha")
    msg = _error(_consortium(two, ["site_a/alpha.yaml"], bundles=["alpha.bundle.json"]))
    assert "of cohort 'alpha', which consortium.cohorts.0 already names" in msg
