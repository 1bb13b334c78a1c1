"""The workflow on a real SLURM cluster: Snakemake's SLURM executor with workflow/profiles/slurm.

The test starts a single-node SLURM (munged, slurmctld, slurmd; tests/slurm_cluster.py), runs a
small simulated cohort through `snakemake --executor slurm` (the profile) and through a local
`snakemake --cores 2` of the same config, and checks that every stage ran as its own SLURM job and
that the results agree (see `test_workflow_under_slurm_matches_a_local_run` for what is compared).

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
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from slurm_cluster import PACKAGES, LocalSlurm, SlurmUnavailable, missing_programs

REPO = Path(__file__).resolve().parent.parent
PROFILE = REPO / "workflow" / "profiles" / "slurm"
COHORT = "slurm_check"
# rules that run as SLURM jobs (effective_config is a local rule; `all` has no job)
SUBMITTED = {"simulate", "validate", "genotypes_plan", "genotypes_pca", "genotypes_shard", "genotypes", "pgx",
             "clinical", "trd", "features", "subtype", "model", "heterogeneity", "explain", "report"}
# numbers computed the same way on both sides: equal up to float noise
RTOL, ATOL = 1e-6, 1e-9


def _cohort_config(path: Path) -> Path:
    """The demo config (config.yaml) at 300 patients with cheap statistical settings.

    The inner hyperparameter search is off (n_candidates 0; 20 trees): its time budget would make the chosen
    model depend on how fast each machine is, and the two runs must be comparable.
    """
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    text = yaml.safe_dump(cfg).replace("results/demo/", f"results/{COHORT}/")
    cfg = yaml.safe_load(text)
    cfg["cohort"] = COHORT
    cfg["simulate"] = {"n": 300, "seed": 7}
    cfg["subtype"] = {"n_null": 20, "n_bootstrap": 20}
    cfg["model"] = {"n_bootstrap": 100, "n_permutations": 0, "n_estimators": 20, "search": {"n_candidates": 0}}
    cfg["genotypes"] = {"sample_chunk": 150}   # two sample chunks: two genotypes_shard jobs, merged
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _uv() -> str | None:
    """The uv that runs this test (`uv run` sets UV), else uv on PATH."""
    found = os.environ.get("UV")
    return found if found and Path(found).exists() else shutil.which("uv")


def _plugin_venv(tmp: Path) -> Path:
    """A venv with the project and its `slurm` extra, from uv.lock; skips when uv cannot make it."""
    uv = _uv()
    if uv is None:
        pytest.skip("uv not found (neither $UV nor on PATH): needed to install the optional extra "
                    "`slurm` into a separate venv; run the suite with `uv run --locked pytest`")
    venv = tmp / "venv-slurm"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    res = subprocess.run([uv, "sync", "--locked", "--extra", "slurm", "--no-dev", "--quiet"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        pytest.skip(f"could not install the `slurm` extra into {venv} (uv sync --locked --extra slurm, "
                    f"exit {res.returncode}; no package registry?):\n{res.stderr[-2000:]}")
    return venv


def _srun_shim(bindir: Path, conf: Path) -> Path:
    """An srun that finds this test cluster's slurm.conf, and notes where it ran; returns the notes' path.

    Inside a job, the executor's jobstep calls `srun` with every SLURM_* variable removed, SLURM_CONF
    included (snakemake-executor-plugin-slurm issue #164), so srun looks for /etc/slurm/slurm.conf,
    which a real cluster has and this throwaway one must not write. Each call appends the job's id
    and the `stratify` its environment finds, to check what the jobs inherited.
    """
    bindir.mkdir()
    notes = bindir / "srun.calls"
    shim = bindir / "srun"
    shim.write_text(f'#!/bin/sh\necho "$SLURM_JOB_ID|$(command -v stratify)" >> {notes}\n'
                    f'SLURM_CONF={conf} exec {shutil.which("srun")} "$@"\n')
    shim.chmod(0o755)
    return notes


def _profile_within(memory_mb: int, tmp: Path) -> Path:
    """workflow/profiles/slurm, or a copy with mem_mb capped at the node's memory when it is smaller
    (SLURM refuses a job that asks for more memory than any node has)."""
    cfg = yaml.safe_load((PROFILE / "config.yaml").read_text())
    entries = [cfg["default-resources"], *cfg["set-resources"].values()]
    if all(e.get("mem_mb", 0) <= memory_mb for e in entries):
        return PROFILE
    for e in entries:
        if e.get("mem_mb", 0) > memory_mb:
            e["mem_mb"] = memory_mb
    capped = tmp / "profile"
    capped.mkdir()
    (capped / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    print(f"node has {memory_mb} MB: profile mem_mb capped at that ({capped})")
    return capped


@pytest.fixture
def slurm(tmp_path):
    """A running single-node SLURM cluster (stopped by PID afterwards), or a skip saying why not."""
    if os.geteuid() != 0:
        pytest.skip(f"starting slurmctld and slurmd needs root (uid {os.geteuid()})")
    missing = missing_programs()
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}; install with "
                    f"`apt-get install {' '.join(PACKAGES)}` (.ci/run does)")
    cluster = LocalSlurm(tmp_path / "slurm")
    try:
        cluster.start()
    except SlurmUnavailable as exc:
        pytest.skip(f"could not start SLURM here: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


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


def _snakemake(python: Path | str, args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen([str(python), "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def _tail(path: Path, n: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def test_workflow_under_slurm_matches_a_local_run(slurm, tmp_path):
    """Every stage of a 300-patient simulated cohort runs as a SLURM job and gives the local results.

    Compared, SLURM run against local run: the features table, subtype assignments, out-of-fold
    model predictions and SHAP values (Parquet, numbers within rtol 1e-6), and the summaries of
    features, subtype, model metrics, explain and heterogeneity (JSON, every field but provenance and
    wall-clock durations).
    Both runs use the same code and seeds, so anything beyond float noise is a real difference.
    """
    started = time.monotonic()
    venv = _plugin_venv(tmp_path)
    cfg = _cohort_config(tmp_path / "cohort.yaml")
    profile = _profile_within(slurm.memory_mb, tmp_path)
    srun_calls = _srun_shim(tmp_path / "bin", slurm.conf)

    # jobs inherit this environment (sbatch --export=ALL): the plugin venv's python, snakemake and
    # stratify first on PATH, the project's .venv not at all
    main_bin = str(Path(sys.executable).parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != main_bin]
    env_slurm = dict(slurm.env, VIRTUAL_ENV=str(venv),
                     PATH=os.pathsep.join([str(venv / "bin"), str(tmp_path / "bin"), *path]))
    env_local = {k: v for k, v in os.environ.items() if not k.startswith("SLURM")}
    env_local["PATH"] = main_bin + os.pathsep + env_local.get("PATH", "")

    run_slurm, run_local = tmp_path / "run_slurm", tmp_path / "run_local"
    slurm_logs = tmp_path / "slurm_logs"
    local = _snakemake(sys.executable, ["--cores", "2", "--directory", str(run_local), "--configfile", str(cfg)],
                       env_local, tmp_path / "local.log")
    remote = _snakemake(venv / "bin" / "python",
                        ["--workflow-profile", str(profile), "--jobs", "4",
                         "--slurm-status-command", "squeue",
                         "--slurm-init-seconds-before-status-checks", "1",
                         "--slurm-logdir", str(slurm_logs), "--slurm-keep-successful-logs",
                         "--directory", str(run_slurm), "--configfile", str(cfg)],
                        env_slurm, tmp_path / "slurm.log")
    try:
        rc_remote = remote.wait(timeout=720)
        rc_local = local.wait(timeout=300)
    finally:
        for proc in (remote, local):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert rc_local == 0, f"the local run failed (log {tmp_path / 'local.log'}):\n{_tail(tmp_path / 'local.log')}"
    assert rc_remote == 0, (f"the run under SLURM failed (snakemake log {tmp_path / 'slurm.log'}, job logs under "
                            f"{slurm_logs}, daemons' logs under {slurm.root / 'log'}):\n{_tail(tmp_path / 'slurm.log')}")

    # every stage ran as its own SLURM job, and completed
    jobs = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%k"], env=slurm.env,
                          capture_output=True, text=True, timeout=30)
    assert jobs.returncode == 0, jobs.stderr
    states = {}
    for line in jobs.stdout.split():
        job_id, state, comment = line.split("|", 2)
        # a job with wildcards is commented rule_<rule>_wildcards_<values>
        states.setdefault(comment.removeprefix("rule_").split("_wildcards_")[0], []).append(state)
    print(f"SLURM jobs: {dict(sorted(states.items()))}; wall {time.monotonic() - started:.0f} s")
    assert set(states) == SUBMITTED, f"jobs by rule: {states}"
    assert all(set(s) == {"COMPLETED"} for s in states.values()), f"jobs by rule: {states}"
    assert len(states["genotypes_shard"]) == 2, f"jobs by rule: {states}"
    # one SLURM log per job, written by snakemake's jobstep on the node
    job_logs = sorted(slurm_logs.glob("rule_*/**/*.log"))   # rule_<rule>/[<wildcards>/]<job id>.log
    assert {p.relative_to(slurm_logs).parts[0].removeprefix("rule_") for p in job_logs} == SUBMITTED
    # each job ran its stage through srun, with the submitting environment: the plugin venv's stratify
    calls = [line.split("|") for line in srun_calls.read_text().split()]
    assert len({job for job, _ in calls}) == len(SUBMITTED) + 1, calls   # + the second shard job
    assert {exe for _, exe in calls} == {str(venv / "bin" / "stratify")}, calls

    a, b = run_slurm / "results" / COHORT, run_local / "results" / COHORT
    for table, key in (("features/features.parquet", "patient_id"), ("subtype/assignments.parquet", "patient_id"),
                       ("model/oof_predictions.parquet", "patient_id"), ("explain/shap_values.parquet", "patient_id")):
        x, y = pd.read_parquet(a / table), pd.read_parquet(b / table)
        pd.testing.assert_frame_equal(x.sort_values(key).reset_index(drop=True),
                                      y.sort_values(key).reset_index(drop=True), rtol=RTOL, atol=ATOL,
                                      obj=table)
    for summary in ("features/summary.json", "subtype/summary.json", "model/metrics.json", "explain/summary.json",
                    "heterogeneity/summary.json"):
        diffs = _compare(_json(a / summary), _json(b / summary), summary)
        assert not diffs, "SLURM and local runs differ:\n" + "\n".join(diffs[:20])
    metrics = _json(a / "model" / "metrics.json")
    assert metrics["features"], "the model used no features"
    assert (run_slurm / "logs" / COHORT / "model.log").exists()
    assert (a / "report" / "report.html").stat().st_size > 10_000
