"""Bad input stops the run with one clear line naming the file and the problem.

Each case goes through the real command line (``stratify validate``), as a user meets it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stratify.simulate.cohort import write_cohort


def _env():
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _stratify(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "stratify.cli", *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    paths = write_cohort(d / "cohort", n=60, seed=3, n_snps=50)
    return d, paths


def _config(small_cohort, **changes):
    d, paths = small_cohort
    cfg = yaml.safe_load(Path(paths["config"]).read_text())
    for k, v in changes.items():
        if k == "inputs":
            cfg["inputs"].update(v)
        else:
            cfg[k] = v
    p = d / f"cfg_{abs(hash(str(changes)))}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _error_lines(res):
    return [ln for ln in res.stderr.splitlines() if ln.startswith("stratify: error:")]


def test_valid_cohort_validates(small_cohort, tmp_path):
    res = _stratify("validate", "--config", str(_config(small_cohort)), "--results", str(tmp_path), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "validate" / "manifest.json").exists()


def test_unknown_config_key(small_cohort, tmp_path):
    cfg = _config(small_cohort, colour="blue")
    res = _stratify("validate", "--config", str(cfg), "--results", str(tmp_path), cwd=tmp_path)
    assert res.returncode == 2
    lines = _error_lines(res)
    assert len(lines) == 1
    assert str(cfg) in lines[0] and "unknown key 'colour'" in lines[0]
    assert "Traceback" not in res.stderr


def test_missing_required_column(small_cohort, tmp_path):
    d, paths = small_cohort
    bad = tmp_path / "patients_no_site.tsv"
    lines = Path(paths["patients"]).read_text().splitlines()
    bad.write_text("\n".join("\t".join(c for j, c in enumerate(ln.split("\t")) if j != 1) for ln in lines) + "\n")
    res = _stratify(
        "validate",
        "--config",
        str(_config(small_cohort, inputs={"patients": str(bad)})),
        "--results",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert res.returncode == 2
    assert _error_lines(res) == [f"stratify: error: {bad}: missing required column 'site'"]


def test_patient_not_in_patients(small_cohort, tmp_path):
    d, paths = small_cohort
    bad = tmp_path / "symptoms_unknown.tsv"
    text = Path(paths["symptoms"]).read_text()
    bad.write_text(text + "P99999\t0\tHAMD17\t1\t2\n")
    n_lines = len(text.splitlines()) + 1
    res = _stratify(
        "validate",
        "--config",
        str(_config(small_cohort, inputs={"symptoms": str(bad)})),
        "--results",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert res.returncode == 2
    (line,) = _error_lines(res)
    assert line.startswith(f"stratify: error: {bad}, line {n_lines}, column 'patient_id': patient 'P99999'")
    assert paths["patients"].name in line


def test_error_is_written_to_the_log_too(small_cohort, tmp_path):
    cfg = _config(small_cohort, colour="blue")
    log = tmp_path / "validate.log"
    res = _stratify("validate", "--config", str(cfg), "--results", str(tmp_path), "--log", str(log), cwd=tmp_path)
    assert res.returncode == 2
    assert "unknown key 'colour'" in log.read_text()
