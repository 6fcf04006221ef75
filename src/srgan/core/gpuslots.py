"""One GPU per job on a machine with several: a free GPU taken when a command starts, held
until its process ends.

``snakemake --resources gpu=N`` runs up to N GPU jobs at once but tells none of them which GPU
to use. So ``srgan train`` and ``srgan evaluate`` call :func:`claim` before anything touches
CUDA: it takes the first GPU no other process holds (an exclusive, non-blocking ``flock`` on
``<lock dir>/gpu<id>.lock``), keeps the lock file open for the rest of the process, and sets
``CUDA_VISIBLE_DEVICES`` to that GPU alone (the job then sees it as ``cuda:0``). The kernel
drops the lock when the process ends, however it ends (a crash, ``kill -9``), so a slot is
never leaked. When every GPU is held the command waits for one and says so.

Which GPUs: those ``CUDA_VISIBLE_DEVICES`` lists when it is set (the ones this process may
use), else every GPU of the NVIDIA driver (``/proc/driver/nvidia/gpus``, read without
starting CUDA). Nothing is claimed when the device is the CPU or a numbered ``cuda:N`` (the
user chose), inside a SLURM job (SLURM assigned the GPU; the lock files of a shared node's
other users are not ours to take), or when there is no GPU (a CPU machine: then there is
nothing to share). The lock folder is ``$SRGAN_GPU_LOCK_DIR``, by default
``srgan-gpu-locks`` in the temporary folder (``$TMPDIR`` or /tmp); it is made world-writable
with the sticky bit, like /tmp, and each lock file readable by all, so the jobs of every user
with the same folder share the slots (``flock`` needs only a read-only descriptor).

Imports: the standard library only (it runs before torch initialises CUDA).
"""

from __future__ import annotations

import datetime
import fcntl
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
LOCK_DIR_ENV = "SRGAN_GPU_LOCK_DIR"
LOCK_DIR_NAME = "srgan-gpu-locks"
#: Set in every SLURM job: the scheduler chose the job's GPUs.
SLURM_JOB_ENV = "SLURM_JOB_ID"
#: One entry per GPU the NVIDIA driver knows (a container sees its own GPUs only).
NVIDIA_GPUS_DIR = Path("/proc/driver/nvidia/gpus")
#: Devices that choose no slot: the CPU, Apple's GPU, and a numbered CUDA device.
UNSHARED_DEVICE = re.compile(r"^(cpu|mps|cuda:\d+)$")
#: Seconds between two looks for a free GPU while all are held.
POLL_SECONDS = 1.0
LOCK_DIR_MODE = 0o1777  # like /tmp: every user may add a lock file, none remove another's
LOCK_FILE_MODE = 0o644


@dataclass(frozen=True)
class Slot:
    """The GPU this process holds: its id (as CUDA_VISIBLE_DEVICES names it) and lock file."""

    gpu: str
    lock_file: Path


#: The lock of this process's slot, open until the process ends (never closed on purpose).
_held: dict[str, int] = {}


def lock_dir(environ: dict[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    default = Path(tempfile.gettempdir()) / LOCK_DIR_NAME
    return Path(environ.get(LOCK_DIR_ENV) or default)


def visible_gpus(
    environ: dict[str, str] | None = None, driver_dir: Path = NVIDIA_GPUS_DIR
) -> list[str]:
    """The GPUs this process may use: CUDA_VISIBLE_DEVICES's entries (up to the first invalid
    one, as CUDA reads it) when set, else one index per GPU of the NVIDIA driver."""
    environ = os.environ if environ is None else environ
    listed = environ.get(VISIBLE_ENV)
    if listed is not None:
        gpus = []
        for entry in (part.strip() for part in listed.split(",")):
            if not entry or entry.startswith("-"):
                break
            gpus.append(entry)
        return gpus
    count = len(list(driver_dir.iterdir())) if driver_dir.is_dir() else 0
    return [str(index) for index in range(count)]


def why_unclaimed(device: str, environ: dict[str, str] | None = None) -> str | None:
    """Why a command on ``device`` takes no slot (None: it takes one)."""
    environ = os.environ if environ is None else environ
    if UNSHARED_DEVICE.match(device):
        return f"device {device}: no slot taken"
    if SLURM_JOB_ENV in environ:
        return f"SLURM job {environ[SLURM_JOB_ENV]}: SLURM chose the GPUs"
    return None


def _lock_name(gpu: str) -> str:
    return "gpu" + re.sub(r"[^A-Za-z0-9_.-]", "_", gpu) + ".lock"


def _open_lock(path: Path) -> int:
    """A read-only descriptor of a GPU's lock file, made (readable by all) if missing. An
    existing file is opened without O_CREAT: Linux refuses O_CREAT on another user's file in
    a sticky folder (fs.protected_regular)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        try:
            return os.open(path, flags)
        except FileNotFoundError:
            pass
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, LOCK_FILE_MODE)
        except FileExistsError:
            continue  # another process made it in between: open that one
        os.fchmod(fd, LOCK_FILE_MODE)  # whatever the umask
        return fd


def try_claim(gpus: list[str], folder: Path) -> Slot | None:
    """Take the first of ``gpus`` no other process holds; None when all are held."""
    folder.mkdir(parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid == os.getuid() and info.st_mode & 0o7777 != LOCK_DIR_MODE:
        folder.chmod(LOCK_DIR_MODE)
    for gpu in gpus:
        path = folder / _lock_name(gpu)
        fd = _open_lock(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _held[gpu] = fd
        return Slot(gpu, path)
    return None


def claim(device: str, environ: dict[str, str] | None = None) -> str | None:
    """Take a free GPU for this process and make it the only one CUDA shows (see the module's
    text); waits while every GPU is held. Returns a line saying which GPU the command uses
    and why (None on a machine without GPUs, or on the CPU). Call it before CUDA starts."""
    environ = os.environ if environ is None else environ
    gpus = visible_gpus(environ)
    if not gpus or device == "cpu":
        return None
    reason = why_unclaimed(device, environ)
    if reason is not None:
        return f"GPU: {VISIBLE_ENV}={environ.get(VISIBLE_ENV, '(unset)')} ({reason})"
    folder = lock_dir(environ)
    slot = try_claim(gpus, folder)
    if slot is None:
        print(
            f"waiting for a free GPU: {', '.join(gpus)} are held by other jobs "
            f"(lock files in {folder})",
            file=sys.stderr,
            flush=True,
        )
        while slot is None:
            time.sleep(POLL_SECONDS)
            slot = try_claim(gpus, folder)
    environ[VISIBLE_ENV] = slot.gpu
    taken = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    held = f"slot {slot.lock_file}, held from {taken} until this command ends"
    return f"GPU: {VISIBLE_ENV}={slot.gpu} ({held})"
