"""A one-node SLURM cluster on localhost for the workflow's cluster tests (tests/test_slurm.py).

Debian's SLURM (packages munge, slurmctld, slurmd, slurm-client; .ci/run installs them) run as
root from a private folder: its own munged (own key and socket), slurmctld and slurmd on free
ports, state, spool, logs and configuration in that folder, reached through ``SLURM_CONF``. So
nothing under /etc, /run or /var is touched and no other SLURM on the machine is disturbed.
``stop()`` ends exactly the daemons ``start()`` started.

One consequence: inside a job, Snakemake's jobstep plugin calls ``srun`` with every
``SLURM_*`` variable but a few removed, ``SLURM_CONF`` included, and a real cluster's
``srun`` finds /etc/slurm/slurm.conf. Here ``bin/srun``, first on the ``PATH`` of ``env``,
sets ``SLURM_CONF`` again and runs the real one.

The node has the machine's CPUs and ``gpus`` fake GPUs: a GRES ``gpu`` on character devices
made with mknod (copies of /dev/null): SLURM schedules them and sets ``CUDA_VISIBLE_DEVICES``
for each job as on a GPU node, and no program can use them. Finished jobs stay visible to
``squeue`` for ``MIN_JOB_AGE`` seconds (no accounting here: the profile's status command is
squeue). A partition ``main`` with no time limit.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

#: The Debian packages, and a program of each.
PACKAGES = ("munge", "slurmctld", "slurmd", "slurm-client")
PROGRAMS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")
PARTITION = "main"
#: Seconds a finished job stays visible to squeue and scontrol: at least 3x the plugin's first
#: status check delay (it polls with squeue), and longer than the whole DAG, whose jobs the
#: test reads back at its end (16 minutes on a busy 2-core machine).
MIN_JOB_AGE = 7200
#: Seconds between SIGTERM and SIGKILL at a time limit or scancel (SLURM's default).
KILL_WAIT = 30
#: How long the daemons get to come up.
START_TIMEOUT = 60
NULL_DEVICE = (1, 3)  # major, minor of /dev/null
PR_SET_PDEATHSIG = 1  # prctl option: the signal a process gets when its parent ends

SLURM_CONF = """\
ClusterName=srgantest
SlurmctldHost=localhost
AuthType=auth/munge
AuthInfo=socket={munge_socket}
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
GresTypes=gpu
MinJobAge={min_job_age}
KillWait={kill_wait}
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
Waittime=0
NodeName=localhost CPUs={cpus} RealMemory={memory_mb} Gres=gpu:{gpus} State=UNKNOWN
PartitionName={partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _end_with_parent() -> None:
    """In a daemon, before it starts: SIGTERM when the process that started it ends, so a
    test that is killed leaves no daemon behind (Linux's PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def missing_programs() -> list[str]:
    return [name for name in PROGRAMS if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _memory_mb() -> int:
    """The machine's memory less a quarter (left to the test itself), in MB."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(pages * 3 / 4 / 2**20)


class LocalSlurm:
    """A one-node SLURM in ``root``; ``env`` is what a client needs (SLURM_CONF)."""

    def __init__(self, root: Path, gpus: int = 2) -> None:
        self.root = root
        self.gpus = gpus
        self.conf = root / "slurm.conf"
        self.bin = root / "bin"
        path = f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path}
        self.daemons: list[subprocess.Popen] = []

    def _write_config(self) -> None:
        for name in ("state", "spool", "log", "gpus", "munge"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        (self.root / "munge").chmod(0o755)  # clients reach the socket; the key is 0600
        devices = []
        for index in range(self.gpus):
            device = self.root / "gpus" / f"nvidia{index}"
            if not device.exists():
                os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(*NULL_DEVICE))
            devices.append(device)
        self.conf.write_text(
            SLURM_CONF.format(
                root=self.root,
                munge_socket=self.root / "munge" / "socket",
                ctld_port=_free_port(),
                slurmd_port=_free_port(),
                min_job_age=MIN_JOB_AGE,
                kill_wait=KILL_WAIT,
                cpus=os.cpu_count(),
                memory_mb=_memory_mb(),
                gpus=self.gpus,
                partition=PARTITION,
            )
        )
        self.bin.mkdir(exist_ok=True)
        srun = self.bin / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {shutil.which("srun")} "$@"\n')
        srun.chmod(0o755)
        gres = "".join(f"NodeName=localhost Name=gpu File={device}\n" for device in devices)
        (self.root / "gres.conf").write_text(gres)

    def _spawn(self, name: str, *command: str) -> None:
        log = (self.root / "log" / f"{name}.out").open("w")
        self.daemons.append(
            subprocess.Popen(
                command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for the test goes to the test
                preexec_fn=_end_with_parent,
            )
        )

    def _wait_for(self, what: str, ready) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            for daemon in self.daemons:
                if daemon.poll() is not None:
                    raise RuntimeError(f"{daemon.args[0]} exited: see {self.root / 'log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {START_TIMEOUT} s: {self.root}")
            time.sleep(0.2)

    def _quiet(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(command, env=self.env, capture_output=True, text=True)

    def start(self) -> LocalSlurm:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._write_config()
        munge = self.root / "munge"
        key = munge / "munge.key"
        if not key.exists():
            subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True)
            key.chmod(0o600)
        socket_path = munge / "socket"
        self._spawn(
            "munged",
            "munged",
            "--foreground",
            "--force",
            f"--socket={socket_path}",
            f"--key-file={key}",
            f"--log-file={munge / 'munged.log'}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--seed-file={munge / 'munged.seed'}",
        )
        self._wait_for(
            "munged", lambda: self._quiet("munge", "-n", "-S", str(socket_path)).returncode == 0
        )
        self._spawn("slurmctld", "slurmctld", "-D", "-i", "-f", str(self.conf))
        self._spawn("slurmd", "slurmd", "-D", "-N", "localhost", "-f", str(self.conf))
        self._wait_for(
            "the node", lambda: self._quiet("sinfo", "-h", "-o", "%T").stdout.strip() == "idle"
        )

    def stop(self) -> None:
        """End the daemons started here (newest first), by their process."""
        for daemon in reversed(self.daemons):
            if daemon.poll() is None:
                daemon.terminate()
                try:
                    daemon.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
        self.daemons.clear()
