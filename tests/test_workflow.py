"""The Snakemake workflow: lint, config errors at parse time, and a second cohort config
run end to end with --configfile (configs swap; a cohort without a VCF runs and says so)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def _snakemake(*args, cwd=REPO, timeout=600):
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_lint_is_clean(tmp_path):
    res = _snakemake("--lint", "--directory", str(tmp_path), "--configfile", str(REPO / "config.yaml"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Congratulations" in res.stdout + res.stderr


def test_unknown_config_key_stops_the_workflow(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["inputs"]["biomarker"] = "typo.tsv"
    p = tmp_path / "typo.yaml"
    p.write_text(yaml.safe_dump(cfg))
    res = _snakemake("-n", "--directory", str(tmp_path), "--configfile", str(p))
    assert res.returncode != 0
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("stratify: error:")]
    assert lines == [
        f"stratify: error: {p}: unknown key 'biomarker' at inputs; allowed keys: biomarkers, "
        "genotypes, patients, star_alleles, symptoms, treatments"
    ]


def test_a_consortium_config_runs_every_cohort_then_the_consortium_stage(tmp_path):
    # a copy in tmp_path/cohorts: its cohorts' simulated data go to tmp_path/results, not the repository's
    shutil.copytree(REPO / "cohorts", tmp_path / "cohorts")
    cfg = tmp_path / "cohorts" / "consortium_demo.yaml"
    res = _snakemake("-n", "--directory", str(tmp_path), "--configfile", str(cfg))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    # one set of stage jobs per cohort, one simulate rule per simulated cohort, then the consortium
    for stage in ("validate", "clinical", "features", "subtype", "model", "heterogeneity", "report"):
        assert counts.get(stage) == "3", (stage, counts)
    for c in "abc":
        assert counts.get(f"simulate_consortium_demo_{c}") == "1"
        # each cohort writes into its own results/ and logs/ folder
        assert f"results/consortium_demo_{c}/model/metrics.json" in out
        assert f"logs/consortium_demo_{c}/model.log" in out
    assert counts.get("consortium") == "1"
    assert "results/consortium/consortium_demo/report.html" in out


def test_second_cohort_config_runs_end_to_end(tmp_path):
    # config paths are read from the config's folder (../results/...): a copy in tmp_path/cohorts
    # keeps the simulated cohort in tmp_path/results, out of the repository
    (tmp_path / "cohorts").mkdir()
    cfg = tmp_path / "cohorts" / "demo_null_noVCF.yaml"
    cfg.write_text((REPO / "cohorts" / "demo_null_noVCF.yaml").read_text())
    res = _snakemake("--cores", "2", "--directory", str(tmp_path), "--configfile", str(cfg))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r = tmp_path / "results" / "demo_null_noVCF"
    html = (r / "report" / "report.html").read_text()
    assert "no VCF given" in html  # the skipped input is reported
    # no randomised two-arm index treatment: the heterogeneity section says why, not silence
    assert "Treatment-effect heterogeneity was not analysed: the index treatment (index_agent)" in html
    met = json.loads((r / "model" / "metrics.json").read_text())
    assert met["endpoint"] == {"kind": "remission", "instrument": "QIDS_SR16", "week": 8}
    assert "cyp2c19_rank" not in met["features"]
    # the hard null (skewed, bounded features on one continuum): no subtypes claimed, and the
    # run says what separation it could have detected
    assert yaml.safe_load((r / "cohort" / "truth.yaml").read_text())["null_kind"] == "hard"
    sub = json.loads((r / "subtype" / "summary.json").read_text())
    assert sub["claimed"] is False and sub["existence_null"] == "gaussian_copula"
    assert sub["detectable_separation"]["run"] and sub["detectable_separation"]["n"] == 500
    assert "detectable separation" in html
    for stage in (
        "validate",
        "genotypes",
        "pgx",
        "clinical",
        "trd",
        "features",
        "subtype",
        "model",
        "explain",
        "heterogeneity",
        "report",
    ):
        assert (tmp_path / "logs" / "demo_null_noVCF" / f"{stage}.log").exists(), stage
    # a second run has nothing to do
    again = _snakemake("-n", "--cores", "2", "--directory", str(tmp_path), "--configfile", str(cfg))
    assert "Nothing to be done" in again.stdout + again.stderr
    from test_workflow_dag import untracked

    assert untracked(tmp_path, cfg) == []  # every file of the run is a declared output or log
    # snakemake --report works on the finished run, with every report output's caption
    smk = tmp_path / "snakemake_report.html"
    rep = _snakemake("--report", str(smk), "--directory", str(tmp_path), "--configfile", str(cfg))
    assert rep.returncode == 0, rep.stdout[-3000:] + rep.stderr[-3000:]
    page = smk.read_text()
    for caption in _captions():
        first = " ".join(caption.read_text().split()[:6])
        assert first in " ".join(page.split()), caption.name


def _captions() -> list[Path]:
    """The caption files the rules' report() outputs name; each must exist."""
    found = []
    for rule in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for rel in re.findall(r'caption="([^"]+)"', rule.read_text()):
            path = (rule.parent / rel).resolve()
            assert path.is_file(), f"{rule.name}: caption {rel} is missing"
            found.append(path)
    return sorted(set(found))


def test_every_report_output_has_a_caption():
    text = "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    n_report = len(re.findall(r"\breport\(", text))
    assert n_report >= 6 and n_report == text.count("caption=")
    assert len(_captions()) >= 5


def test_a_cohort_without_treatments_runs_every_stage(tmp_path):
    """Optional inputs may be absent: no treatments table -> trd staging is skipped, not an error."""
    from stratify.config import load_config
    from stratify.pipeline import run_all
    from stratify.simulate.cohort import write_cohort

    paths = write_cohort(tmp_path / "c", n=120, seed=2, n_snps=30)
    cfg = yaml.safe_load(Path(paths["config"]).read_text())
    del cfg["inputs"]["treatments"]
    p = tmp_path / "no_treatments.yaml"
    p.write_text(yaml.safe_dump(cfg))
    report = run_all(load_config(p), tmp_path / "r")
    html = report.read_text()
    assert "TRD staging skipped: no treatment history" in html
    assert (tmp_path / "r" / "trd" / "trials.parquet").exists()
