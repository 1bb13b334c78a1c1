"""environment.yml lists every [project] dependency of pyproject.toml with the same bounds
(scripts/check_environment.py), and the check itself notices what it should."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "check_environment.py"


def _load():
    spec = importlib.util.spec_from_file_location("check_environment", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


check = _load()

PROJECT = {"requires-python": ">=3.11", "dependencies": ["numpy>=1.26", "xgboost-cpu>=2.1", "deflate>=0.7"]}


def env(*conda, pip=("-e .",)):
    return {"dependencies": ["python=3.11", *conda, "pip", {"pip": list(pip)}]}


def test_environment_yml_matches_pyproject():
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr


def test_agreeing_files_pass():
    assert check.compare(PROJECT, env("numpy >=1.26", "py-xgboost-cpu>=2.1", pip=("deflate>=0.7", "-e ."))) == []


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        # deflate missing from both the conda list and the pip list
        (
            env("numpy>=1.26", "py-xgboost-cpu>=2.1"),
            "deflate: in pyproject.toml (deflate>=0.7) but not in environment.yml",
        ),
        # the PyPI name where conda-forge has another one
        (env("numpy>=1.26", "xgboost-cpu>=2.1", pip=("deflate>=0.7",)), "xgboost-cpu: in pyproject.toml"),
        # a lower bound that differs
        (
            env("numpy>=1.25", "py-xgboost-cpu>=2.1", pip=("deflate>=0.7",)),
            "numpy: pyproject.toml asks for >=1.26, environment.yml for >=1.25",
        ),
        (
            env("numpy>=1.26", "py-xgboost-cpu>=2.1", pip=("deflate",)),
            "deflate: pyproject.toml asks for >=0.7, environment.yml (pip:) for any version",
        ),
        # a conda package nothing asks for
        (
            env("numpy>=1.26", "py-xgboost-cpu>=2.1", "jinja2>=3.1", pip=("deflate>=0.7",)),
            "jinja2: in environment.yml but not among",
        ),
    ],
)
def test_differences_are_reported(environment, problem):
    problems = check.compare(PROJECT, environment)
    assert any(p.startswith(problem) for p in problems), problems


def test_python_pin_follows_requires_python():
    e = env("numpy>=1.26", "py-xgboost-cpu>=2.1", pip=("deflate>=0.7",))
    e["dependencies"][0] = "python=3.10"
    assert check.compare(PROJECT, e) == [
        "python: pyproject.toml requires-python >=3.11, environment.yml pins python=3.10"
    ]


def test_main_prints_and_fails_on_a_difference(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.11"\ndependencies = ["numpy>=1.26"]\n')
    (tmp_path / "environment.yml").write_text("dependencies:\n  - python=3.11\n  - numpy>=1.20\n")
    assert check.main(tmp_path) == 1
    assert "numpy: pyproject.toml asks for >=1.26, environment.yml for >=1.20" in capsys.readouterr().out


def test_default_profile_is_read_and_the_command_line_wins(monkeypatch):
    """workflow/profiles/default applies to a run that names no profile (Snakemake finds it as
    profiles/default beside the Snakefile), and options on the command line override it."""
    from snakemake.cli import parse_args

    monkeypatch.chdir(REPO)
    _, args = parse_args(["-n", "-s", str(REPO / "Snakefile")])
    assert (args.cores, args.printshellcmds, args.rerun_incomplete, args.keep_going) == (2, True, True, False)
    _, args = parse_args(["-n", "-s", str(REPO / "Snakefile"), "--cores", "5"])
    assert args.cores == 5
    _, args = parse_args(["-n", "-s", str(REPO / "Snakefile"), "--workflow-profile", "none"])
    assert args.cores is None and not args.printshellcmds
