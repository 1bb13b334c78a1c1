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


#: the small consortium of tests/test_consortium_*.py: name -> (patients, seed, null, two-arm trial)
CONSORTIUM = {
    "siteA": (700, 11, False, None),
    "siteB": (600, 12, False, None),
    "siteC": (400, 13, True, None),
    "siteD": (400, 14, False, "planted"),
    "siteE": (400, 15, False, "none"),
}


@pytest.fixture(scope="session")
def consortium_runs(tmp_path_factory):
    """Five small cohorts without genotypes run up to the heterogeneity stage, with quick subtype and
    model settings (about 40 s in all): two planted (siteA, siteB), one null (siteC) and two two-arm
    trials (siteD with heterogeneity planted, siteE without): name -> cohort, results, config, paths."""
    from stratify.config import load_config
    from stratify.io.layout import config_slice
    from stratify.pipeline import ORDER, STAGES
    from stratify.simulate.cohort import write_cohort

    base = tmp_path_factory.mktemp("consortium")
    runs = {}
    for name, (n, seed, null, teh) in CONSORTIUM.items():
        paths = write_cohort(base / name / "cohort", n=n, seed=seed, null=null, teh=teh, genotypes=False, cohort=name)
        cfg = load_config(paths["config"])
        cfg["subtype"].update(n_null=39, n_bootstrap=20, n_init=2, detectable_separation={"run": False})
        cfg["model"].update(n_permutations=0, n_bootstrap=100, search={"n_candidates": 2})
        results = base / name / "results"
        for stage in ORDER[: ORDER.index("heterogeneity") + 1]:
            STAGES[stage](config_slice(cfg, stage), results)
        runs[name] = {"cohort": base / name / "cohort", "results": results, "config": cfg, "paths": paths}
    return runs


@pytest.fixture(scope="session")
def consortium_stage_run(consortium_runs, tmp_path_factory):
    """The consortium stage on siteA, siteB and siteC of `consortium_runs` (small bootstrap), for the
    stage's and the report's tests: its folder and summary (tests that write into it copy it first)."""
    from stratify.consortium.stage import run_consortium_folders

    three = ("siteA", "siteB", "siteC")
    out = tmp_path_factory.mktemp("consortium_stage") / "three"
    summary = run_consortium_folders(
        "three",
        {n: consortium_runs[n]["results"] for n in three},
        {n: consortium_runs[n]["config"] for n in three},
        out=out,
        min_cell=10,
        n_boot=50,
        seed=1,
        config_files={n: consortium_runs[n]["paths"]["config"] for n in three},
    )
    return out, summary


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
SHARED_FIXTURES = ("slurm_runs", "planted_run", "null_run", "consortium_runs", "consortium_stage_run")


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
