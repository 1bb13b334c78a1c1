"""A throwaway single-node SLURM cluster for tests/test_slurm.py.

munged, slurmctld and slurmd run in the foreground as children of the test process, so each has a
known PID and is stopped by it; every file they use (slurm.conf, munge key and socket, state,
spool, logs, pid files) lies under one temporary folder. Nothing is written to /etc, and no
daemon is left behind: `stop` cancels any job still on the cluster, then stops slurmd, slurmctld
and munged by their PIDs. Client commands find this cluster through the SLURM_CONF variable of
`env`; commands that do not have it never see it.

Why each setting (a container without systemd or cgroups, one machine):
ProctrackType=proctrack/linuxproc, TaskPlugin=task/none and JobAcctGatherType=jobacct_gather/none
need no cgroups; SelectType=select/cons_tres with CR_Core_Memory makes SLURM schedule the cores
and the memory each job asks for (the profile's mem_mb and cpus_per_task are read, not ignored);
AccountingStorageType=accounting_storage/none is the "no accounting database" case of
docs/cluster.md; MinJobAge=3600 keeps finished jobs in `squeue --states=all` for an hour, long
enough for the executor's status checks (with `--slurm-status-command squeue` it needs at least 3 x
--slurm-init-seconds-before-status-checks) and for the test to list every job of the run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PROFILE = REPO / "workflow" / "profiles" / "slurm"
COHORT = "slurm_check"
PACKAGES = ("munge", "slurmctld", "slurmd", "slurm-client")
PROGRAMS = {
    "munged": "munge",
    "munge": "munge",
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "sbatch": "slurm-client",
    "squeue": "slurm-client",
    "sinfo": "slurm-client",
    "scontrol": "slurm-client",
    "scancel": "slurm-client",
    "srun": "slurm-client",
}


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be started on this machine; the message says why and which log to read."""


def missing_programs() -> list[str]:
    """The SLURM and munge programs not found on PATH (with /usr/sbin), as 'program (package)'."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/sbin"
    return [f"{prog} ({pkg})" for prog, pkg in PROGRAMS.items() if shutil.which(prog, path=path) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path} was not written)"
    return "\n".join(lines[-n:]) or f"({path} is empty)"


class LocalSlurm:
    """One node, one partition ('test', the default), every file under `root`.

    Parameters
    ----------
    root
        An empty folder of its own (the daemons' files go there).
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.logs = {
            "munged": self.root / "munge" / "munged.log",
            "slurmctld": self.root / "log" / "slurmctld.log",
            "slurmd": self.root / "log" / "slurmd.log",
        }
        self.node = ""
        self.cpus = 0
        self.memory_mb = 0
        self._procs: dict[str, subprocess.Popen] = {}
        self._sbin = os.pathsep.join(["/usr/sbin", "/sbin", os.environ.get("PATH", "")])

    @property
    def env(self) -> dict[str, str]:
        """os.environ with SLURM_CONF pointing at this cluster."""
        env = dict(os.environ)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = self._sbin
        return env

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self._procs.items()}

    def _run(self, *cmd: str, timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, timeout=timeout)

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        out = open(self.root / "log" / f"{name}.stdout", "w")
        proc = subprocess.Popen(
            cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        out.close()
        self._procs[name] = proc
        return proc

    def _fail(self, what: str, name: str) -> SlurmUnavailable:
        log = self.logs[name]
        return SlurmUnavailable(
            f"{what}; read {log} (last lines below) and {self.root}/log/{name}.stdout\n"
            f"{_tail(log)}\n{_tail(self.root / 'log' / f'{name}.stdout', 5)}"
        )

    def _wait(self, name: str, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._procs[name].poll() is not None:
                raise self._fail(f"{name} exited with status {self._procs[name].returncode} {what}", name)
            if ready():
                return
            time.sleep(0.5)
        raise self._fail(f"{name} did not come up within {timeout:.0f} s ({what})", name)

    def start(self, timeout: float = 60) -> None:
        """Write the config and key, start munged, slurmctld and slurmd, wait until the node is idle.

        Raises SlurmUnavailable (after stopping whatever it started) when a step fails.
        """
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
            (self.root / sub).chmod(0o700)
        # the node as slurmd sees it (name, sockets, cores, memory): the first line of `slurmd -C`
        probe = self._run("slurmd", "-C")
        node_line = probe.stdout.splitlines()[0] if probe.returncode == 0 and probe.stdout else ""
        if not node_line.startswith("NodeName="):
            raise SlurmUnavailable(
                f"`slurmd -C` did not describe this node (exit {probe.returncode}): "
                f"{probe.stdout.strip()} {probe.stderr.strip()}"
            )
        fields = dict(item.split("=", 1) for item in node_line.split())
        self.node, self.cpus, self.memory_mb = fields["NodeName"], int(fields["CPUs"]), int(fields["RealMemory"])

        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        ctld_port, slurmd_port = _free_port(), _free_port()
        r = self.root
        self.conf.write_text(f"""\
# written by tests/slurm_cluster.py for one test run; see its docstring for the settings
ClusterName=stratifytest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/state/slurmctld.pid
SlurmdPidFile={r}/spool/slurmd.pid
SlurmctldLogFile={self.logs["slurmctld"]}
SlurmdLogFile={self.logs["slurmd"]}
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=3600
MailProg=/bin/true
{node_line} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")

        self._spawn(
            "munged",
            [
                "munged",
                "--foreground",
                "--force",
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={r}/munge/munged.pid",
                f"--log-file={self.logs['munged']}",
                f"--seed-file={r}/munge/munged.seed",
            ],
        )
        self._wait(
            "munged",
            lambda: self._run("munge", "-n", f"--socket={self.munge_socket}").returncode == 0,
            "(munge -n against its socket)",
            timeout,
        )

        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._wait("slurmctld", lambda: "is UP" in self._run("scontrol", "ping").stdout, "(scontrol ping)", timeout)

        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf), "-N", self.node])
        self._wait("slurmd", lambda: self.node_state() == "idle", "(node idle in sinfo)", timeout)

    def node_state(self) -> str:
        res = self._run("sinfo", "--noheader", "--Node", "--format=%t", timeout=10)
        return res.stdout.strip() if res.returncode == 0 else ""

    def stop(self) -> None:
        """Cancel every job still on the cluster, then stop slurmd, slurmctld and munged by PID."""
        ctld = self._procs.get("slurmctld")
        if ctld is not None and ctld.poll() is None:
            try:
                self._run("scancel", "--full", f"--user={os.getuid()}", timeout=10)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    q = self._run("squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING,CONFIGURING", timeout=10)
                    if q.returncode != 0 or not q.stdout.strip():
                        break
                    time.sleep(1)
            except (OSError, subprocess.SubprocessError):
                pass  # the daemons are stopped below either way
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self._procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


# ------------------------------------------------------------------ the two workflow runs of the test


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
    cfg["genotypes"] = {"sample_chunk": 150}  # two sample chunks: two genotypes_shard jobs, merged
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
        pytest.skip(
            "uv not found (neither $UV nor on PATH): needed to install the optional extra "
            "`slurm` into a separate venv; run the suite with `uv run --locked pytest`"
        )
    venv = tmp / "venv-slurm"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    res = subprocess.run(
        [uv, "sync", "--locked", "--extra", "slurm", "--no-dev", "--quiet"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if res.returncode != 0:
        pytest.skip(
            f"could not install the `slurm` extra into {venv} (uv sync --locked --extra slurm, "
            f"exit {res.returncode}; no package registry?):\n{res.stderr[-2000:]}"
        )
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
    shim.write_text(
        f'#!/bin/sh\necho "$SLURM_JOB_ID|$(command -v stratify)" >> {notes}\n'
        f'SLURM_CONF={conf} exec {shutil.which("srun")} "$@"\n'
    )
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


def _snakemake(python: Path | str, args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [str(python), "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


class WorkflowRuns:
    """The test's two runs of the workflow, started in the background when the test session starts.

    Under SLURM most of a run's wall time is the executor's waiting between status checks (it adds
    10 s to the interval after every check that finds no job finished), not computing, so the runs
    go on while the rest of the suite does (tests/conftest.py starts them first when
    tests/test_slurm.py is selected), and the test itself only waits for them and compares.

    `start` returns at once; a thread starts SLURM (munged, slurmctld, slurmd), installs the
    `slurm` extra into a venv of its own, then starts `snakemake --executor slurm` and a local
    `snakemake --cores 2` of the same config. `wait` (in the test) re-raises anything that thread
    raised, a skip included, and returns both exit codes; `close` stops whatever still runs and
    the daemons, by PID.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.cluster: LocalSlurm | None = None
        self.venv = self.root / "venv-slurm"
        self.slurm_logs = self.root / "slurm_logs"
        self.run_slurm, self.run_local = self.root / "run_slurm", self.root / "run_local"
        self.logs = {"slurm": self.root / "slurm.log", "local": self.root / "local.log"}
        self.srun_calls: Path | None = None
        self.started = time.monotonic()
        self._procs: dict[str, subprocess.Popen] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._launch, name="slurm-workflow-runs", daemon=True)
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> WorkflowRuns:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def _launch(self) -> None:
        try:
            if os.geteuid() != 0:
                pytest.skip(f"starting slurmctld and slurmd needs root (uid {os.geteuid()})")
            missing = missing_programs()
            if missing:
                pytest.skip(
                    f"not installed: {', '.join(missing)}; install with "
                    f"`apt-get install {' '.join(PACKAGES)}` (.ci/run does)"
                )
            cluster = LocalSlurm(self.root / "slurm")
            with self._lock:
                if self._closed:
                    return
                self.cluster = cluster
            try:
                cluster.start()
            except SlurmUnavailable as exc:
                pytest.skip(f"could not start SLURM here: {exc}")
            _plugin_venv(self.root)
            # one config per run folder: config paths are read from the config's folder, so each
            # run simulates its cohort into its own folder (<run>/results/...)
            cfgs = {}
            for run in (self.run_local, self.run_slurm):
                run.mkdir(parents=True, exist_ok=True)
                cfgs[run] = _cohort_config(run / "cohort.yaml")
            profile = _profile_within(cluster.memory_mb, self.root)
            self.srun_calls = _srun_shim(self.root / "bin", cluster.conf)
            # jobs inherit this environment (sbatch --export=ALL): the plugin venv's python, snakemake
            # and stratify first on PATH, the project's .venv not at all
            main_bin = str(Path(sys.executable).parent)
            path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != main_bin]
            env_slurm = dict(
                cluster.env,
                VIRTUAL_ENV=str(self.venv),
                PATH=os.pathsep.join([str(self.venv / "bin"), str(self.root / "bin"), *path]),
            )
            env_local = {k: v for k, v in os.environ.items() if not k.startswith("SLURM")}
            env_local["PATH"] = main_bin + os.pathsep + env_local.get("PATH", "")
            with self._lock:
                if self._closed:
                    return
                self._procs["local"] = _snakemake(
                    sys.executable,
                    ["--cores", "2", "--directory", str(self.run_local), "--configfile", str(cfgs[self.run_local])],
                    env_local,
                    self.logs["local"],
                )
                self._procs["slurm"] = _snakemake(
                    self.venv / "bin" / "python",
                    [
                        "--workflow-profile",
                        str(profile),
                        "--jobs",
                        "4",
                        "--slurm-status-command",
                        "squeue",
                        "--slurm-init-seconds-before-status-checks",
                        "1",
                        "--slurm-logdir",
                        str(self.slurm_logs),
                        "--slurm-keep-successful-logs",
                        "--directory",
                        str(self.run_slurm),
                        "--configfile",
                        str(cfgs[self.run_slurm]),
                    ],
                    env_slurm,
                    self.logs["slurm"],
                )
        except BaseException as exc:  # a skip too: re-raised in the test by wait()
            self._error = exc

    def wait(self, timeout: float = 900) -> tuple[int, int]:
        """Exit codes (SLURM run, local run), waiting at most `timeout` s from `start`."""
        deadline = self.started + timeout
        self._thread.join(max(deadline - time.monotonic(), 1))
        if self._thread.is_alive():
            raise TimeoutError(
                f"SLURM did not start within {timeout:.0f} s; daemons' logs under {self.root / 'slurm' / 'log'}"
            )
        if self._error is not None:
            raise self._error
        rcs = []
        for name in ("slurm", "local"):
            try:
                rcs.append(self._procs[name].wait(timeout=max(deadline - time.monotonic(), 1)))
            except subprocess.TimeoutExpired:
                raise TimeoutError(
                    f"the {name} run did not finish within {timeout:.0f} s of the session's "
                    f"start (log {self.logs[name]})"
                ) from None
        return rcs[0], rcs[1]

    def close(self) -> None:
        """Kill the runs if they still go on, then stop the cluster by PID (idempotent)."""
        with self._lock:
            self._closed = True
            procs, cluster = list(self._procs.values()), self.cluster
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self._thread.join(120)  # a start still under way finishes (or fails) before the stop
        cluster = self.cluster or cluster
        if cluster is not None:
            cluster.stop()
