"""The consortium stage (stratify.consortium.stage) and ``stratify consortium`` on the small
consortium of tests/conftest.py (siteA, siteB planted, siteC null; siteD, siteE two-arm)."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml

from stratify.cli import main
from stratify.consortium.bundle import summarise, write_bundle
from stratify.consortium.external import BUNDLE_ONLY
from stratify.consortium.stage import (
    FILES,
    PLOTS,
    load_consortium_results,
    max_abs_difference,
    run_consortium_folders,
    write_report,
)
from stratify.consortium.tables import cohort_table, harmonisation_table
from stratify.consortium.transport import CELL_COLUMNS
from stratify.errors import InputError
from stratify.io.tables import read_table, write_table

THREE = ("siteA", "siteB", "siteC")


@pytest.fixture
def stage_run(consortium_stage_run):
    """The stage on siteA, siteB and siteC (tests/conftest.py): its folder and summary."""
    return consortium_stage_run


def _copy(consortium_runs, name, dest):
    """A copy of a cohort's results folder to edit."""
    return shutil.copytree(consortium_runs[name]["results"], dest / name)


def test_every_file_is_written_and_read_back(stage_run):
    out, summary = stage_run
    for rel in [*FILES.values(), PLOTS["transport_matrix"], PLOTS["forest_response"], PLOTS["forest_auc"]]:
        assert (out / rel).is_file(), rel
    for name in THREE:
        assert json.loads((out / "bundles" / f"{name}.json").read_text())["cohort"] == name
    # no two-arm cohort: no variance-ratio forest, and the summary says why
    assert (out / PLOTS["forest_variance_ratio"]).is_file()  # a figure that says why it was not drawn
    assert "two-arm" in summary["skipped"]["forest_variance_ratio"]
    assert summary["analyses"]["leave_one_cohort_out"]["run"]
    assert "siteA" in summary["analyses"]["leave_one_cohort_out"]["model_options_from"]
    assert set(summary["files"]) >= {"cohorts.tsv", "transport.tsv", "bundles/siteC.json", "plots/forest_auc.png"}
    parts = load_consortium_results(out)
    keys = {"name", "summary", "cohorts", "harmonisation", "transport", "loco", "replication", "verdicts"}
    keys |= {"overview", "pooled", "pooled_raw", "profile_matches", "plots"}
    assert set(parts) == keys
    assert parts["name"] == "three"
    assert list(parts["cohorts"]["cohort"]) == list(THREE)
    assert len(parts["transport"]) == 9 and len(parts["loco"]) == 3
    assert set(parts["plots"]) == set(PLOTS)
    # the planted subtype of siteA replicates in siteB and not in the null siteC
    v = parts["verdicts"].set_index(["cohort_a", "cohort_b"])
    assert v.loc[("siteA", "siteB"), "verdict"] == "replicated"
    assert v.loc[("siteA", "siteC"), "verdict"] == "not replicated"
    assert summary["headline"]["replication"]["claimed_only_in_one_cohort"] == []


def test_transport_diagonal_is_the_internal_auc(stage_run, consortium_runs):
    out, summary = stage_run
    cells = pd.read_csv(out / "transport.tsv", sep="\t")
    cohorts = pd.read_csv(out / "cohorts.tsv", sep="\t").set_index("cohort")
    for name in THREE:
        metrics = json.loads((consortium_runs[name]["results"] / "model" / "metrics.json").read_text())
        auc = metrics["metrics"]["selected"]["auc"]
        diag = cells[(cells["train"] == name) & (cells["test"] == name)].iloc[0]
        assert diag["kind"].startswith("within-cohort") and diag["auc"] == pytest.approx(auc, abs=1e-12)
        assert cohorts.loc[name, "model_auc"] == pytest.approx(auc, abs=1e-12)
    ext = cells[cells["kind"] == "external"]
    head = summary["headline"]["transport"]
    assert head["n_external_scored"] == 6
    assert head["external_auc_min"] == pytest.approx(ext["auc"].min())
    assert head["external_auc_max"] == pytest.approx(ext["auc"].max())
    # the null cohort's model predicts nothing elsewhere: its cells' intervals include 0.5
    assert {"siteC -> siteA", "siteC -> siteB"} <= set(head["cells_including_0_5"])


def test_pooled_from_bundles_equals_pooled_from_raw(stage_run):
    out, summary = stage_run
    pooled = json.loads((out / "pooled.json").read_text())
    raw = json.loads((out / "pooled_raw.json").read_text())
    diff = pooled.pop("max_abs_difference_from_raw")
    assert "3 cohorts with patients" in pooled.pop("note")
    assert diff <= 1e-8 and summary["analyses"]["pooling"]["max_abs_difference_from_raw"] == diff
    assert max_abs_difference(pooled, raw) <= 1e-8
    assert pooled["response"]["all patients"]["k"] == 3 and pooled["auc"]["k"] == 3
    # the check can fail: a changed number is seen
    raw["auc"]["random"]["estimate"] += 1e-6
    assert max_abs_difference(pooled, raw) == pytest.approx(1e-6, rel=1e-3)


def test_lacks_names_what_the_other_cohorts_have(consortium_runs, tmp_path):
    folder = _copy(consortium_runs, "siteC", tmp_path)
    path = folder / "features" / "summary.json"
    doc = json.loads(path.read_text())
    doc["model_features"] = [f for f in doc["model_features"] if f not in ("log_crp", "aes")]
    path.write_text(json.dumps(doc))
    table = cohort_table(
        {"siteA": consortium_runs["siteA"]["results"], "siteB": consortium_runs["siteB"]["results"], "siteC": folder}
    )
    lacks = table.set_index("cohort")["lacks"].fillna("")
    assert lacks["siteC"] == "aes; CRP"
    assert lacks["siteA"] == "" and lacks["siteB"] == ""
    assert not table["has_genotypes"].any()  # no cohort has genotypes, so none lacks them


def test_converted_endpoints_are_counted_per_instrument(consortium_runs, tmp_path):
    folder = _copy(consortium_runs, "siteB", tmp_path)
    path = folder / "features" / "features.parquet"
    f = read_table(path, kind="features")
    with_y = f.index[f["y"].notna()][:100]
    f["endpoint_converted_from"] = ""
    f["endpoint_conversion_source"] = ""
    f.loc[with_y, "endpoint_converted_from"] = "QIDS_SR16"
    f.loc[with_y, "endpoint_conversion_source"] = "resources/harmonisation/qids_sr16_hamd17.tsv"
    write_table(f, path, kind="features")
    summary = folder / "clinical" / "summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "endpoint_converted": {"QIDS_SR16": 100}}))
    cohorts = {"siteA": consortium_runs["siteA"]["results"], "siteB": folder}
    table = cohort_table(cohorts).set_index("cohort")
    assert table.loc["siteB", "endpoint_converted"] == "QIDS_SR16 -> HAMD17: 100 patients"
    assert pd.isna(table.loc["siteA", "endpoint_converted"]) or table.loc["siteA", "endpoint_converted"] == ""
    h = harmonisation_table(cohorts)
    rows = {(r.cohort, r.from_instrument): r for r in h.itertuples(index=False)}
    assert rows[("siteB", "QIDS_SR16")].n_patients == 100 and rows[("siteB", "QIDS_SR16")].to_instrument == "HAMD17"
    assert rows[("siteB", "QIDS_SR16")].table.endswith("qids_sr16_hamd17.tsv")
    assert rows[("siteB", "HAMD17")].n_patients == int(f["y"].notna().sum()) - 100
    assert rows[("siteA", "HAMD17")].n_patients == int(
        read_table(cohorts["siteA"] / "features" / "features.parquet", kind="features")["y"].notna().sum()
    )


def test_endpoint_mismatch_skips_what_needs_one_endpoint(consortium_runs, tmp_path):
    folder = _copy(consortium_runs, "siteC", tmp_path)
    path = folder / "clinical" / "summary.json"
    doc = json.loads(path.read_text())
    doc["endpoint"] = {**doc["endpoint"], "instrument": "MADRS"}
    path.write_text(json.dumps(doc))
    cohorts = {
        "siteA": consortium_runs["siteA"]["results"],
        "siteB": consortium_runs["siteB"]["results"],
        "siteC": folder,
    }
    out = tmp_path / "out"
    summary = run_consortium_folders(
        "mixed", cohorts, {n: consortium_runs[n]["config"] for n in THREE}, out=out, n_boot=20
    )
    assert not summary["common_endpoint"]
    for analysis in ("transport", "leave_one_cohort_out", "pooling"):
        why = summary["skipped"][analysis]
        assert "siteC: response on MADRS at week 8" in why and "clinical.harmonise" in why
    assert summary["analyses"]["replication"]["run"]
    assert list(pd.read_csv(out / "transport.tsv", sep="\t").columns) == CELL_COLUMNS
    assert pd.read_csv(out / "loco.tsv", sep="\t").empty
    assert json.loads((out / "pooled.json").read_text())["skipped"] is True
    assert (out / PLOTS["transport_matrix"]).is_file() and (out / "verdicts.tsv").is_file()


def _consortium_config(consortium_runs, tmp_path, names):
    path = tmp_path / "consortium.yaml"
    cohorts = [str(consortium_runs[n]["paths"]["config"]) for n in names]
    path.write_text(yaml.safe_dump({"consortium": {"name": "trial", "cohorts": cohorts, "min_cell": 5}}))
    return path


def test_cli_names_a_missing_results_folder_and_the_command_that_makes_it(consortium_runs, tmp_path, capsys):
    config = _consortium_config(consortium_runs, tmp_path, ["siteD", "siteE"])
    results = tmp_path / "results"
    results.mkdir()
    rc = main(["consortium", "--config", str(config), "--results", str(results)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert str(results / "siteD") in err and "snakemake --configfile" in err and "Traceback" not in err
    # a folder whose model stage has not run
    shutil.copytree(consortium_runs["siteD"]["results"], results / "siteD", ignore=shutil.ignore_patterns("model"))
    rc = main(["consortium", "--config", str(config), "--results", str(results)])
    err = capsys.readouterr().err
    assert rc == 2 and "model stage has not run" in err and str(results / "siteD" / "model") in err


def test_cli_runs_two_two_arm_cohorts(consortium_runs, tmp_path, capsys):
    config = _consortium_config(consortium_runs, tmp_path, ["siteD", "siteE"])
    results = tmp_path / "results"
    results.mkdir()
    for n in ("siteD", "siteE"):
        (results / n).symlink_to(consortium_runs[n]["results"], target_is_directory=True)
    log = tmp_path / "consortium.log"
    rc = main(["consortium", "--config", str(config), "--results", str(results), "--n-boot", "20", "--log", str(log)])
    assert rc == 0
    out = results / "consortium" / "trial"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["min_cell"] == 5 and summary["cohorts"] == ["siteD", "siteE"]
    assert (out / PLOTS["forest_variance_ratio"]).is_file()  # two-arm cohorts: variance ratios pooled
    studies = json.loads((out / "pooled.json").read_text())["variance_ratio"]["studies"]
    assert {s["study"].split(" / ")[0] for s in studies} == {"siteD", "siteE"}
    assert "at least three cohorts" in summary["skipped"]["leave_one_cohort_out"]
    assert list(pd.read_csv(out / "loco.tsv", sep="\t").columns) == [*CELL_COLUMNS, "features"]
    cohorts = pd.read_csv(out / "cohorts.tsv", sep="\t")
    assert cohorts["two_arm"].all() and cohorts["config"].str.endswith("config.yaml").all()
    text = log.read_text()
    assert "transport" in text and ("report" in text or (out / "report.html").is_file())
    assert "written to" in capsys.readouterr().out


def test_a_cohort_known_from_its_site_bundle_only(consortium_runs, tmp_path):
    """siteA and siteB with their results, siteC with its bundle alone: the bundle joins the pooling
    and the profile comparison, and is "not testable" wherever patients are needed."""
    bundle = write_bundle(summarise(consortium_runs["siteC"]["results"], cohort="siteC"), tmp_path / "c.json")
    out = tmp_path / "mixed"
    summary = run_consortium_folders(
        "mixed",
        {n: consortium_runs[n]["results"] for n in ("siteA", "siteB")},
        {n: consortium_runs[n]["config"] for n in ("siteA", "siteB")},
        out=out,
        n_boot=20,
        bundles={"siteC": bundle},
    )
    cohorts = pd.read_csv(out / "cohorts.tsv", sep="\t").set_index("cohort")
    assert list(cohorts.index) == ["siteA", "siteB", "siteC"]
    assert cohorts.loc["siteC", "lacks"] == BUNDLE_ONLY and cohorts.loc["siteC", "config"] == str(bundle)
    assert cohorts.loc["siteC", "n_patients"] == len(
        read_table(consortium_runs["siteC"]["results"] / "features" / "features.parquet", kind="features")
    )
    assert cohorts.loc["siteC", "endpoint"] == cohorts.loc["siteA", "endpoint"]
    # replication: the planted subtype of siteA is tested in siteB, not testable in siteC (why given)
    v = pd.read_csv(out / "verdicts.tsv", sep="\t").set_index(["cohort_a", "cohort_b"])
    assert v.loc[("siteA", "siteB"), "verdict"] == "replicated"
    assert v.loc[("siteA", "siteC"), "verdict"] == "not testable"
    assert "siteC shared a site bundle only" in v.loc[("siteA", "siteC"), "why"]
    assert "siteC" in summary["analyses"]["replication"]["not_testable"]
    # transport: only the cohorts with patients
    cells = pd.read_csv(out / "transport.tsv", sep="\t")
    assert set(cells["test"]) == {"siteA", "siteB"} and "siteC" in summary["analyses"]["transport"]["not_testable"]
    # pooling: every cohort's bundle; bundles == patients on the cohorts with patients
    pooled = json.loads((out / "pooled.json").read_text())
    assert pooled["auc"]["k"] == 3 and pooled["response"]["all patients"]["k"] == 3
    assert pooled["max_abs_difference_from_raw"] <= 1e-8
    assert json.loads((out / "pooled_raw.json").read_text())["auc"]["k"] == 2
    matches = pd.read_csv(out / "profile_matches.tsv", sep="\t")
    assert (
        "siteC" in set(matches["cohort_a"]) | set(matches["cohort_b"])
        or not summarise(consortium_runs["siteC"]["results"])["subtypes"]["profiles"]
    )
    assert summary["bundle_only_cohorts"] == {"siteC": str(bundle)}
    # the report says which cohort is known from its bundle only, and that the bundles lose nothing
    html = write_report(out).read_text()
    assert "Known from their site bundles only (aggregates, no patient rows):\nsiteC" in html
    assert "siteC joined with site bundles only. For the other cohorts, the pool from their bundles" in html
    # a bundle listed under a cohort's name that it is not of is refused, naming the file
    with pytest.raises(InputError, match="the site bundle is of cohort 'siteC', listed as 'siteD'"):
        run_consortium_folders(
            "bad",
            {"siteA": consortium_runs["siteA"]["results"]},
            {"siteA": consortium_runs["siteA"]["config"]},
            out=tmp_path / "bad",
            n_boot=20,
            bundles={"siteD": bundle},
        )
