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
import time
from pathlib import Path

PACKAGES = ("munge", "slurmctld", "slurmd", "slurm-client")
PROGRAMS = {"munged": "munge", "munge": "munge", "slurmctld": "slurmctld", "slurmd": "slurmd",
            "sbatch": "slurm-client", "squeue": "slurm-client", "sinfo": "slurm-client",
            "scontrol": "slurm-client", "scancel": "slurm-client", "srun": "slurm-client"}


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
        self.logs = {"munged": self.root / "munge" / "munged.log",
                     "slurmctld": self.root / "log" / "slurmctld.log",
                     "slurmd": self.root / "log" / "slurmd.log"}
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
        proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self._procs[name] = proc
        return proc

    def _fail(self, what: str, name: str) -> SlurmUnavailable:
        log = self.logs[name]
        return SlurmUnavailable(f"{what}; read {log} (last lines below) and {self.root}/log/{name}.stdout\n"
                                f"{_tail(log)}\n{_tail(self.root / 'log' / f'{name}.stdout', 5)}")

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
            raise SlurmUnavailable(f"`slurmd -C` did not describe this node (exit {probe.returncode}): "
                                   f"{probe.stdout.strip()} {probe.stderr.strip()}")
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
SlurmctldLogFile={self.logs['slurmctld']}
SlurmdLogFile={self.logs['slurmd']}
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

        self._spawn("munged", ["munged", "--foreground", "--force", f"--key-file={key}",
                               f"--socket={self.munge_socket}", f"--pid-file={r}/munge/munged.pid",
                               f"--log-file={self.logs['munged']}", f"--seed-file={r}/munge/munged.seed"])
        self._wait("munged", lambda: self._run("munge", "-n", f"--socket={self.munge_socket}").returncode == 0,
                   "(munge -n against its socket)", timeout)

        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._wait("slurmctld", lambda: "is UP" in self._run("scontrol", "ping").stdout,
                   "(scontrol ping)", timeout)

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
                    q = self._run("squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING,CONFIGURING",
                                  timeout=10)
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
