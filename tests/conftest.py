"""Shared fixtures: simulated cohorts run through every stage once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def planted_run(tmp_path_factory):
    """A planted cohort of 800 patients (seed 7) run through every stage."""
    return _run(tmp_path_factory, null=False)


@pytest.fixture(scope="session")
def null_run(tmp_path_factory):
    """Its null twin: same seed, no subgroup, no effects."""
    return _run(tmp_path_factory, null=True)


def _run(tmp_path_factory, *, null: bool):
    from stratify.config import load_config
    from stratify.simulate import write_cohort
    from stratify.stages import run_all

    base = tmp_path_factory.mktemp("null" if null else "planted")
    paths = write_cohort(base / "cohort", n=800, seed=7, null=null, n_snps=600)
    config = load_config(paths["config"])
    report = run_all(config, base / "results")
    return {"cohort": base / "cohort", "results": base / "results", "config": config, "report": report}
