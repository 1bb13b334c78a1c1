"""The workflow on a real SLURM cluster: Snakemake's SLURM executor with workflow/profiles/slurm.

The test starts a single-node SLURM (munged, slurmctld, slurmd; tests/slurm_cluster.py), runs a
small simulated cohort through `snakemake --executor slurm` (the profile) and through a local
`snakemake --cores 2` of the same config, and checks that every stage ran as its own SLURM job and
that the results agree (see `test_workflow_under_slurm_matches_a_local_run` for what is compared).
The two runs start in the background when the test session starts (the `slurm_runs` fixture of
tests/conftest.py), because under SLURM they mostly wait for the executor's status checks; the
test runs last, waits for them and compares.

Needs root and the Debian packages munge, slurmctld, slurmd and slurm-client (.ci/run installs
them). Without them, or when a daemon does not start, the test is skipped and says why and which
log to read; once the node is idle, a failed run is a failure, not a skip.

The slurm executor plugin is the optional extra `slurm`. The test installs it into a virtual
environment of its own under tmp_path (`uv sync --locked --extra slurm`, same lock file), never into
the project's .venv: with the plugin installed, every snakemake call runs `scontrol show config`
while loading its plugins, which waits 10 s when a slurm.conf names a controller that is not
running (docs/cluster.md#6-troubleshooting).
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path

import pandas as pd

from slurm_cluster import COHORT

# rules that run as SLURM jobs (`all` has no job)
SUBMITTED = {
    "simulate",
    "validate",
    "genotypes_plan",
    "genotypes_pca",
    "genotypes_shard",
    "genotypes",
    "pgx",
    "clinical",
    "trd",
    "features",
    "subtype",
    "model",
    "heterogeneity",
    "explain",
    "report",
}
# numbers computed the same way on both sides: equal up to float noise
RTOL, ATOL = 1e-6, 1e-9


def _is_duration(key: str) -> bool:
    """Wall-clock durations recorded in the summaries (explain's `seconds`, model's `search_seconds`)."""
    return key == "seconds" or key.endswith("_seconds")


def _compare(a, b, where: str = "") -> list[str]:
    """Differences between two JSON values: numbers within RTOL/ATOL, everything else equal, except
    wall-clock durations (present on both sides, values not compared)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}: keys {sorted(set(a) ^ set(b))} on one side only"] if set(a) != set(b) else []
        for k in sorted(set(a) & set(b)):
            if not _is_duration(k):
                out += _compare(a[k], b[k], f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _compare(x, y, f"{where}[{i}]")]
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL):
            return []
        return [f"{where}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def _json(path: Path) -> dict:
    data = json.loads(path.read_text())
    data.pop("provenance", None)  # run times, paths and versions: differ by design
    return data


def _tail(path: Path, n: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def test_workflow_under_slurm_matches_a_local_run(slurm_runs):
    """Every stage of a 300-patient simulated cohort runs as a SLURM job and gives the local results.

    Compared, SLURM run against local run: the features table, subtype assignments, out-of-fold
    model predictions and SHAP values (Parquet, numbers within rtol 1e-6), and the summaries of
    features, subtype, model metrics, explain and heterogeneity (JSON, every field but provenance and
    wall-clock durations).
    Both runs use the same code and seeds, so anything beyond float noise is a real difference.
    """
    runs = slurm_runs
    try:
        rc_remote, rc_local = runs.wait(timeout=900)
        _check(runs, rc_remote, rc_local)
    finally:
        runs.close()  # the daemons stop now, not at the end of the session


def _check(runs, rc_remote: int, rc_local: int) -> None:
    slurm, venv, srun_calls, slurm_logs = runs.cluster, runs.venv, runs.srun_calls, runs.slurm_logs
    run_slurm, run_local = runs.run_slurm, runs.run_local
    log_local, log_slurm = runs.logs["local"], runs.logs["slurm"]
    assert rc_local == 0, f"the local run failed (log {log_local}):\n{_tail(log_local)}"
    assert rc_remote == 0, (
        f"the run under SLURM failed (snakemake log {log_slurm}, job logs under "
        f"{slurm_logs}, daemons' logs under {slurm.root / 'log'}):\n{_tail(log_slurm)}"
    )

    # every stage ran as its own SLURM job, and completed
    jobs = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T|%k"],
        env=slurm.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert jobs.returncode == 0, jobs.stderr
    states = {}
    for line in jobs.stdout.split():
        job_id, state, comment = line.split("|", 2)
        # a job with wildcards is commented rule_<rule>_wildcards_<values>
        states.setdefault(comment.removeprefix("rule_").split("_wildcards_")[0], []).append(state)
    print(f"SLURM jobs: {dict(sorted(states.items()))}; {time.monotonic() - runs.started:.0f} s since the runs started")
    assert set(states) == SUBMITTED, f"jobs by rule: {states}"
    assert all(set(s) == {"COMPLETED"} for s in states.values()), f"jobs by rule: {states}"
    assert len(states["genotypes_shard"]) == 2, f"jobs by rule: {states}"
    # one SLURM log per job, written by snakemake's jobstep on the node
    job_logs = sorted(slurm_logs.glob("rule_*/**/*.log"))  # rule_<rule>/[<wildcards>/]<job id>.log
    assert {p.relative_to(slurm_logs).parts[0].removeprefix("rule_") for p in job_logs} == SUBMITTED
    # each job ran its stage through srun, with the submitting environment: the plugin venv's stratify
    calls = [line.split("|") for line in srun_calls.read_text().split()]
    assert len({job for job, _ in calls}) == len(SUBMITTED) + 1, calls  # + the second shard job
    assert {exe for _, exe in calls} == {str(venv / "bin" / "stratify")}, calls

    a, b = run_slurm / "results" / COHORT, run_local / "results" / COHORT
    for table, key in (
        ("features/features.parquet", "patient_id"),
        ("subtype/assignments.parquet", "patient_id"),
        ("model/oof_predictions.parquet", "patient_id"),
        ("explain/shap_values.parquet", "patient_id"),
    ):
        x, y = pd.read_parquet(a / table), pd.read_parquet(b / table)
        pd.testing.assert_frame_equal(
            x.sort_values(key).reset_index(drop=True),
            y.sort_values(key).reset_index(drop=True),
            rtol=RTOL,
            atol=ATOL,
            obj=table,
        )
    for summary in (
        "features/summary.json",
        "subtype/summary.json",
        "model/metrics.json",
        "explain/summary.json",
        "heterogeneity/summary.json",
    ):
        diffs = _compare(_json(a / summary), _json(b / summary), summary)
        assert not diffs, "SLURM and local runs differ:\n" + "\n".join(diffs[:20])
    metrics = _json(a / "model" / "metrics.json")
    assert metrics["features"], "the model used no features"
    assert (run_slurm / "logs" / COHORT / "model.log").exists()
    assert (a / "report" / "report.html").stat().st_size > 10_000
