"""Check that environment.yml installs what pyproject.toml's [project] dependencies ask for.

environment.yml (for conda/mamba users and `snakemake --sdm conda`) mirrors the dependencies in
pyproject.toml by hand. This script compares the two and prints every difference:

- a [project] dependency with no entry in environment.yml (under its conda name, or by its PyPI
  name in the `pip:` section),
- an entry whose version bounds differ from pyproject.toml's (``numpy>=1.26`` in both),
- an entry in environment.yml that no [project] dependency asks for (besides python and pip),
- a python pin that is not requires-python's lower bound.

    python scripts/check_environment.py        # exit 0: they agree; 1: the differences are printed

tests/test_environment.py runs it. Where a package's conda-forge or bioconda name differs from its
PyPI name, add it to CONDA_NAMES.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent

# PyPI name -> conda-forge/bioconda name, where they differ
CONDA_NAMES = {
    "xgboost-cpu": "py-xgboost-cpu",  # conda-forge's CPU-only XGBoost
    "matplotlib": "matplotlib-base",  # matplotlib without the Qt GUI backend
    "snakemake": "snakemake-minimal",  # the workflow engine without the optional report/cloud extras
}
# conda entries that are not Python dependencies of the package
NOT_DEPENDENCIES = {"python", "pip"}

_SPEC = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*(;.*)?$")


def normalise(name: str) -> str:
    """A package name as PyPI and conda compare them (PEP 503: lower case, runs of -_. as -)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(spec: str) -> tuple[str, str]:
    """Split a requirement (``numpy>=1.26``, ``numpy >=1.26``, ``python=3.11``) into name and bounds.

    The bounds come back without spaces, comma-separated and sorted, so that equal bounds compare
    equal however they are written.

    >>> parse("numpy >=1.26")
    ('numpy', '>=1.26')
    >>> parse("Scikit_Learn>=1.5,<2")
    ('scikit-learn', '<2,>=1.5')
    """
    m = _SPEC.match(spec)
    if not m:
        raise ValueError(f"cannot read the requirement {spec!r}")
    bounds = ",".join(sorted(b.replace(" ", "") for b in m.group(3).split(",") if b.strip()))
    return normalise(m.group(1)), bounds


def conda_name(pypi: str) -> str:
    """The conda package name of a PyPI package (CONDA_NAMES, else the same name)."""
    return CONDA_NAMES.get(normalise(pypi), normalise(pypi))


def compare(project: dict[str, Any], env: dict[str, Any]) -> list[str]:
    """The differences between pyproject.toml's [project] table and environment.yml's content.

    >>> compare({"requires-python": ">=3.11", "dependencies": ["numpy>=1.26"]},
    ...         {"dependencies": ["python=3.11", "numpy>=1.25", "pip", {"pip": ["-e ."]}]})
    ['numpy: pyproject.toml asks for >=1.26, environment.yml for >=1.25']
    """
    conda: dict[str, str] = {}
    pip: dict[str, str] = {}
    for entry in env.get("dependencies") or []:
        if isinstance(entry, dict):
            for p in entry.get("pip") or []:
                if not p.startswith("-"):  # -e . (the package itself), -r file
                    name, bounds = parse(p)
                    pip[name] = bounds
        else:
            name, bounds = parse(str(entry))
            conda[name] = bounds
    problems = []
    wanted = set()
    for req in project.get("dependencies", []):
        name, bounds = parse(req)
        cname = conda_name(name)
        if cname in conda:
            wanted.add(("conda", cname))
            have, where = conda[cname], f"environment.yml ({cname})" if cname != name else "environment.yml"
        elif name in pip:
            wanted.add(("pip", name))
            have, where = pip[name], "environment.yml (pip:)"
        else:
            problems.append(f"{name}: in pyproject.toml ({req}) but not in environment.yml (conda name {cname})")
            continue
        if have != bounds:
            problems.append(
                f"{name}: pyproject.toml asks for {bounds or 'any version'}, {where} for {have or 'any version'}"
            )
    for cname in sorted(set(conda) - NOT_DEPENDENCIES):
        if ("conda", cname) not in wanted:
            problems.append(f"{cname}: in environment.yml but not among pyproject.toml's [project] dependencies")
    for name in sorted(pip):
        if ("pip", name) not in wanted:
            problems.append(
                f"{name}: in environment.yml's pip: list but not among pyproject.toml's [project] dependencies"
            )
    problems += _python(project.get("requires-python", ""), conda.get("python"))
    return problems


def _python(requires: str, pin: str | None) -> list[str]:
    """environment.yml's python pin against requires-python (``>=3.11`` wants ``python=3.11``)."""
    low = re.search(r">=\s*([0-9.]+)", requires)
    if pin is None:
        return ["python: environment.yml does not pin python"]
    if low and pin.lstrip("=>") != low.group(1):
        return [f"python: pyproject.toml requires-python {requires}, environment.yml pins python{pin}"]
    return []


def main(repo: Path = REPO) -> int:
    """Compare the files in ``repo``; print the differences; 0 if there are none, else 1."""
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((repo / "environment.yml").read_text())
    problems = compare(project, env)
    for p in problems:
        print(f"check_environment: {p}")
    if not problems:
        print(
            f"check_environment: environment.yml matches pyproject.toml ({len(project['dependencies'])} dependencies)"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO))
