"""The heterogeneity stage: a randomised two-arm cohort is analysed from the feature table;
arms not declared randomised, or a cohort without two arms, get a plain statement of why
nothing was analysed; configured arms that are not in the data are an error."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from stratify.config import validate_config
from stratify.errors import ConfigError
from stratify.heterogeneity.cohort import CATE_COLUMNS
from stratify.heterogeneity.stage import run_heterogeneity
from stratify.io.tables import read_table
from stratify.pipeline import STAGES

REPO = Path(__file__).resolve().parent.parent
UP_TO_FEATURES = ("validate", "genotypes", "pgx", "clinical", "trd", "features")


def _prepare(base: Path, **simulate) -> dict:
    """A simulated cohort written and run through the stages up to the feature table."""
    from stratify.simulate.cohort import write_cohort

    paths = write_cohort(base / "cohort", n_snps=20, **simulate)
    raw = yaml.safe_load(Path(paths["config"]).read_text())
    results = base / "results"
    cfg = validate_config(raw)
    for name in UP_TO_FEATURES:
        STAGES[name](cfg, results)
    return {"raw": raw, "results": results, "truth": paths["truth"]}


@pytest.fixture(scope="module")
def two_arm(tmp_path_factory):
    """600 patients randomised 1:1 to escitalopram or bupropion, heterogeneity planted."""
    return _prepare(tmp_path_factory.mktemp("two_arm"), n=600, seed=3, teh="planted")


@pytest.fixture(scope="module")
def default_cohort(tmp_path_factory):
    """The default simulated cohort: index treatments chosen in practice, many agents."""
    return _prepare(tmp_path_factory.mktemp("default"), n=200, seed=4)


def _config(run: dict, **heterogeneity) -> dict:
    raw = copy.deepcopy(run["raw"])
    raw.setdefault("heterogeneity", {}).update(heterogeneity)
    return validate_config(raw)


def test_written_two_arm_config_declares_the_randomised_arms(two_arm):
    assert two_arm["raw"]["heterogeneity"] == {"arms": ["escitalopram", "bupropion"], "randomised": True}


def test_randomised_two_arm_cohort_is_analysed(two_arm):
    from stratify.report.build import section_heterogeneity

    cfg = _config(two_arm, learner="logistic", n_splits=3)
    s = run_heterogeneity(cfg, two_arm["results"])
    out = two_arm["results"] / "heterogeneity"
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(s))
    assert s["run"] is True
    assert s["arms"] == {"0": "escitalopram", "1": "bupropion"}
    assert s["arms_found"] == {"bupropion": 300, "escitalopram": 300}
    assert s["n"] + s["n_no_endpoint"] == 600 and s["n_other_arm"] == 0
    # the index-treatment features encode the arm and are left out, with the reason
    assert set(s["features_left_out"]) == {"index_ssri_snri", "index_escitalopram_citalopram"}
    assert not any(f.startswith("index_") for f in s["features"])
    assert "anhedonia" in s["features"] and "inflammatory_index" in s["features"]
    # planted heterogeneity is found, and the per-patient estimates follow the truth
    assert s["heterogeneity_claimed"] is True and s["test"]["p_value"] < 0.01
    assert s["statement"].startswith("Treatment-effect heterogeneity detected")
    cate = read_table(out / "cate.parquet", kind="heterogeneity.cate")
    assert list(cate.columns) == CATE_COLUMNS
    assert len(cate) == s["n"] and cate["patient_id"].is_unique
    assert set(cate["arm"]) == {"escitalopram", "bupropion"}
    assert np.allclose(cate["pai"], cate["mu1"] - cate["mu0"])
    truth = pd.read_csv(two_arm["truth"], sep="\t")[["patient_id", "ite_true"]]
    m = cate.merge(truth, on="patient_id", validate="one_to_one")
    assert m["tau_X"].corr(m["ite_true"]) > 0.5
    assert (out / "pai.png").stat().st_size > 0 and (out / "cate.png").stat().st_size > 0
    html = section_heterogeneity(cfg, two_arm["results"])
    assert "statement ok'>Treatment-effect heterogeneity detected" in html
    assert "Personalized Advantage Index" in html and "stratify teh vr" in html
    assert html.count("data:image/png;base64,") == 3
    # the arms' spread compared within each site (sites as studies), pooled, with its forest plot
    vr = s["variance_ratio"]
    assert vr["run"] is True and vr["k_sites"] == 4
    assert (vr["treatment_arm"], vr["control_arm"]) == ("bupropion", "escitalopram")
    sites = pd.read_csv(out / "vr_sites.tsv", sep="\t")
    f = read_table(two_arm["results"] / "features" / "features.parquet", kind="features")
    f = f[f["pct_change"].notna()]
    assert sites["n_treatment"].sum() + sites["n_control"].sum() == len(f)
    a_ = f[(f["site"] == "site_A") & (f["index_agent"] == "bupropion")]["pct_change"]
    b_ = f[(f["site"] == "site_A") & (f["index_agent"] == "escitalopram")]["pct_change"]
    expect = np.log(a_.std() / b_.std()) + 1 / (2 * (len(a_) - 1)) - 1 / (2 * (len(b_) - 1))
    assert sites.loc[sites["study"] == "site_A", "yi_vr"].item() == pytest.approx(expect, rel=1e-9)
    re_ = vr["pooled"][0]["lnVR"]["random"]
    assert re_["ratio_ci_low"] < re_["ratio"] < re_["ratio_ci_high"]
    assert (out / "vr_forest.png").stat().st_size > 0
    assert "Variance ratio between the arms, sites as studies" in html and f"VR {re_['ratio']:.3f}" in html


def test_arms_not_declared_randomised_claim_nothing(two_arm):
    from stratify.report.build import section_heterogeneity

    cfg = _config(two_arm, randomised=False)
    out = two_arm["results"] / "heterogeneity"
    out.mkdir(parents=True, exist_ok=True)
    (out / "pai.png").write_bytes(b"from an earlier run")
    s = run_heterogeneity(cfg, two_arm["results"])
    assert s["run"] is False and s["heterogeneity_claimed"] is False
    assert "not declared randomised (heterogeneity.randomised: false)" in s["reason"]
    assert "propensity model" in s["reason"]
    assert "Nothing is claimed" in s["reason"]
    assert s["statement"].startswith(
        "Treatment-effect heterogeneity was not analysed: the arms escitalopram (300) and bupropion (300)"
    )
    assert "test" not in s and "pai" not in s
    cate = read_table(out / "cate.parquet", kind="heterogeneity.cate")
    assert cate.empty and list(cate.columns) == CATE_COLUMNS
    # an earlier run's figure does not outlive it: the declared figure now says why it was not drawn
    assert (out / "pai.png").read_bytes().startswith(b"\x89PNG")
    assert pd.read_csv(out / "vr_sites.tsv", sep="\t").empty
    assert "was not analysed" in section_heterogeneity(cfg, two_arm["results"])


def test_cohort_without_two_arms_says_why(default_cohort):
    cfg = _config(default_cohort)
    s = run_heterogeneity(cfg, default_cohort["results"])
    assert s["run"] is False
    assert "is not a two-arm comparison" in s["reason"]
    assert f"{len(s['arms_found'])} values" in s["reason"] and len(s["arms_found"]) > 2
    assert "heterogeneity.randomised: true" in s["reason"]
    assert json.loads((default_cohort["results"] / "heterogeneity" / "summary.json").read_text())["run"] is False


def test_non_binary_endpoint_and_small_arms_are_not_analysed(two_arm):
    from stratify.heterogeneity.cohort import analyse_cohort, heterogeneity_options

    feats = read_table(two_arm["results"] / "features" / "features.parquet", kind="features")
    groups = json.loads((two_arm["results"] / "features" / "summary.json").read_text())["feature_groups"]
    cfg = _config(two_arm)
    pct = copy.deepcopy(cfg)
    pct["endpoint"]["kind"] = "pct_change"
    s, cate = analyse_cohort(
        feats.assign(y=feats["pct_change"]), options=heterogeneity_options(pct), feature_groups=groups
    )
    assert s["run"] is False and cate.empty
    assert s["reason"].startswith("the endpoint is pct_change; the analysis needs a binary endpoint")
    arm = feats["index_agent"]
    few = pd.concat([feats[arm == "escitalopram"], feats[arm == "bupropion"].head(15)])
    s, _ = analyse_cohort(few, options=heterogeneity_options(cfg), feature_groups=groups)
    assert s["run"] is False and s["reason"].startswith("too few patients with the endpoint per arm: bupropion (")


def test_configured_arms_not_in_the_data_are_an_error(two_arm):
    cfg = _config(two_arm, arms=["escitalopram", "sertraline"])
    with pytest.raises(ConfigError) as e:
        run_heterogeneity(cfg, two_arm["results"])
    path = two_arm["results"] / "features" / "features.parquet"
    assert str(e.value) == (
        f"{path}, column 'index_agent': heterogeneity.arms ['escitalopram', 'sertraline']: "
        "'sertraline' not found; values found: bupropion (300), escitalopram (300)"
    )


def test_missing_arm_column_of_a_randomised_cohort_is_an_error(two_arm):
    cfg = _config(two_arm, arm_column="trial_arm")
    with pytest.raises(
        ConfigError, match="key heterogeneity.arm_column: column 'trial_arm' is not in the feature table"
    ):
        run_heterogeneity(cfg, two_arm["results"])


def test_unknown_heterogeneity_feature_is_an_error(two_arm):
    cfg = _config(two_arm, features=["age", "response"])
    with pytest.raises(ConfigError, match="key heterogeneity.features: unknown feature 'response'"):
        run_heterogeneity(cfg, two_arm["results"])


def test_cli_stage_and_its_error(two_arm, tmp_path, capsys):
    from stratify.cli import main

    raw = copy.deepcopy(two_arm["raw"])
    raw["heterogeneity"].update(learner="logistic", n_splits=2)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(raw))
    assert main(["heterogeneity", "--config", str(good), "--results", str(two_arm["results"]), "--quiet"]) == 0
    assert json.loads((two_arm["results"] / "heterogeneity" / "summary.json").read_text())["run"] is True
    raw["heterogeneity"]["arms"] = ["escitalopram", "placebo"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    assert main(["heterogeneity", "--config", str(bad), "--results", str(two_arm["results"]), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("stratify: error: ") and "'placebo' not found; values found: bupropion (300)" in err


def test_workflow_wires_simulate_teh_and_the_stage(tmp_path):
    """Dry run of cohorts/demo_teh.yaml: the simulate rule passes --teh, the stage feeds the report."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "-n",
            "-p",
            # every job, simulate too: the cohort's inputs live beside the shipped config and may
            # already be written by an earlier run of demo_teh in this checkout
            "--forceall",
            "--directory",
            str(tmp_path),
            "--configfile",
            str(REPO / "cohorts" / "demo_teh.yaml"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    text = res.stdout + res.stderr
    assert res.returncode == 0, text[-3000:]
    assert "stratify simulate --n 1000 --seed 5  --teh planted" in text
    assert (
        "stratify heterogeneity --settings results/demo_teh/settings/heterogeneity.yaml "
        "--input features=results/demo_teh/features/features.parquet"
    ) in text
    assert "rule heterogeneity:" in text and "rule report:" in text


def test_heterogeneity_options_from_a_config():
    """heterogeneity_options reads the config once; its defaults are the schema's."""
    from stratify.heterogeneity.cohort import (
        HeterogeneityOptions,
        heterogeneity_options,
    )

    cfg = validate_config(
        {
            "cohort": "x",
            "genome_build": "GRCh38",
            "inputs": {"patients": "p.tsv", "symptoms": "s.tsv"},
            "endpoint": {"instrument": "HAMD17", "week": 8},
        }
    )
    o = heterogeneity_options(cfg)
    assert o == HeterogeneityOptions(endpoint=cfg["endpoint"], seed=cfg["seed"], known_features=o.known_features)
    assert o.arms is None and o.features is None and "log_crp" in o.known_features
    cfg["heterogeneity"].update(arms=["a", "b"], features=["age"], randomised=True)
    o = heterogeneity_options(cfg)
    assert o.arms == ("a", "b") and o.features == ("age",) and o.randomised
