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
    from stratify.pipeline import run_all
    from stratify.simulate.cohort import write_cohort

    base = tmp_path_factory.mktemp("null" if null else "planted")
    paths = write_cohort(base / "cohort", n=800, seed=7, null=null, n_snps=600)
    config = load_config(paths["config"])
    report = run_all(config, base / "results")
    return {"cohort": base / "cohort", "results": base / "results", "config": config, "report": report}


@pytest.fixture(scope="session")
def slurm_runs(tmp_path_factory):
    """tests/test_slurm.py's two workflow runs (under SLURM and local), going on in the background.

    Started by `_start_slurm_runs_first` when the session begins, and the tests that use it run
    last, so the SLURM run's waiting overlaps the rest of the suite; stopped (runs killed,
    daemons stopped by PID) at the end of the session at the latest.
    """
    from slurm_cluster import WorkflowRuns

    runs = WorkflowRuns(tmp_path_factory.mktemp("slurm")).start()
    yield runs
    runs.close()


# session fixtures whose tests must share one process under pytest-xdist: each worker would
# otherwise build its own copy (the simulated runs) or start its own daemons (SLURM)
SHARED_FIXTURES = ("slurm_runs", "planted_run", "null_run")


def _xdist(config) -> bool:
    """Whether this is a pytest-xdist worker (``pytest -n 2``, as .ci/run runs the suite)."""
    return hasattr(config, "workerinput")  # set in xdist's worker processes only


def pytest_collection_modifyitems(config, items):
    """Tests that use `slurm_runs` go last, so their background runs have the whole session to finish.

    Under pytest-xdist every worker runs this session's fixtures for itself, so the tests of each
    shared fixture form one xdist group (one worker; ``--dist loadgroup``), and the SLURM tests go
    first instead: a worker cannot start the daemons for tests that another worker may be given,
    so the runs start with their test and the other worker carries on meanwhile.
    """
    xdist = _xdist(config)
    uses = {item: [f for f in SHARED_FIXTURES if f in getattr(item, "fixturenames", ())] for item in items}
    items.sort(key=lambda item: ("slurm_runs" in uses[item]) != xdist)
    if xdist:
        for item in items:
            if uses[item]:
                item.add_marker(pytest.mark.xdist_group(uses[item][0]))


@pytest.fixture(scope="session", autouse=True)
def _start_slurm_runs_first(request):
    """Start `slurm_runs` before the first test when a selected test uses it (not under xdist: there
    the worker given the SLURM tests starts it with them)."""
    if _xdist(request.config):
        return
    if any("slurm_runs" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("slurm_runs")
