"""One GPU per job on a machine with several (srgan.core.gpuslots), tested on a CPU machine by
listing pretend GPUs in CUDA_VISIBLE_DEVICES: a slot is taken per process, never two processes
on one GPU, a third waits, and a killed holder's GPU is free again at once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srgan.core import gpuslots

#: A process that claims a slot as `srgan train` does, prints the GPU it got, then waits to be
#: ended (stdin closed: it exits; SIGKILL: a crash).
HOLDER = (
    "import os, sys\n"
    "from srgan.core import gpuslots\n"
    "print(gpuslots.claim(sys.argv[1]), flush=True)\n"
    "print(os.environ.get('CUDA_VISIBLE_DEVICES'), flush=True)\n"
    "sys.stdin.read()\n"
)
WAIT = 30  # seconds a holder may take to start (torch is not imported: it is fast)


def _env(tmp_path: Path, gpus: str) -> dict[str, str]:
    """Pretend GPUs, a lock folder of the test's own, and no SLURM job around."""
    env = {k: v for k, v in os.environ.items() if k != gpuslots.SLURM_JOB_ENV}
    return {**env, gpuslots.VISIBLE_ENV: gpus, gpuslots.LOCK_DIR_ENV: str(tmp_path / "locks")}


class Holder:
    def __init__(self, env: dict[str, str], device: str = "auto") -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, device],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def gpu(self) -> str:
        """The CUDA_VISIBLE_DEVICES the process ended up with (waits for it)."""
        self.note = self.process.stdout.readline().strip()
        return self.process.stdout.readline().strip()

    def end(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=WAIT)

    def crash(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=WAIT)


def test_visible_gpus_read_cuda_visible_devices_or_the_driver(tmp_path):
    assert gpuslots.visible_gpus({"CUDA_VISIBLE_DEVICES": "0,1,3"}) == ["0", "1", "3"]
    # CUDA stops at the first invalid entry; an empty list hides every GPU
    assert gpuslots.visible_gpus({"CUDA_VISIBLE_DEVICES": "2,-1,3"}) == ["2"]
    assert gpuslots.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert gpuslots.visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-8f2a, 1"}) == ["GPU-8f2a", "1"]
    driver = tmp_path / "gpus"
    for bus in ("0000:18:00.0", "0000:3b:00.0", "0000:86:00.0"):
        (driver / bus).mkdir(parents=True)
    assert gpuslots.visible_gpus({}, driver) == ["0", "1", "2"]
    assert gpuslots.visible_gpus({}, tmp_path / "no-driver") == []  # a CPU machine


def test_who_takes_no_slot():
    assert gpuslots.why_unclaimed("cpu", {}) == "device cpu: no slot taken"
    assert gpuslots.why_unclaimed("cuda:1", {}) == "device cuda:1: no slot taken"  # user's GPU
    assert gpuslots.why_unclaimed("mps", {}) == "device mps: no slot taken"
    assert gpuslots.why_unclaimed("auto", {}) is None
    assert gpuslots.why_unclaimed("cuda", {}) is None
    slurm = {"SLURM_JOB_ID": "42"}
    assert gpuslots.why_unclaimed("auto", slurm) == "SLURM job 42: SLURM chose the GPUs"


def test_claim_leaves_the_environment_alone_where_it_takes_no_slot(tmp_path):
    env = _env(tmp_path, "0,1")
    assert gpuslots.claim("cpu", env) is None
    assert gpuslots.claim("cuda:1", env) == (
        "GPU: CUDA_VISIBLE_DEVICES=0,1 (device cuda:1: no slot taken)"
    )
    in_slurm = {**env, "SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": "1"}
    assert gpuslots.claim("auto", in_slurm) == (
        "GPU: CUDA_VISIBLE_DEVICES=1 (SLURM job 7: SLURM chose the GPUs)"
    )
    assert in_slurm["CUDA_VISIBLE_DEVICES"] == "1"
    assert gpuslots.claim("auto", {**env, "CUDA_VISIBLE_DEVICES": ""}) is None  # no GPU
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert not (tmp_path / "locks").exists()


@pytest.mark.process
def test_each_process_gets_its_own_gpu_and_a_crash_frees_it(tmp_path):
    env = _env(tmp_path, "0,1")
    first, second = Holder(env), Holder(env)
    try:
        gpu_first, gpu_second = first.gpu(), second.gpu()
        assert {gpu_first, gpu_second} == {"0", "1"}  # never the same GPU twice
        assert re.search(r"\(slot \S+/gpu[01]\.lock, held from \S+ until this command", first.note)
        third = Holder(env)  # every GPU is held: it waits, and says so
        assert third.process.stderr.readline().startswith("waiting for a free GPU: 0, 1")
        assert third.process.poll() is None
        first.crash()  # kill -9: the kernel drops its lock
        start = time.monotonic()
        assert third.gpu() == gpu_first
        assert time.monotonic() - start < 2 * gpuslots.POLL_SECONDS + 2
        second.end()  # a holder that ends normally frees its GPU too
        fourth = Holder(env)
        assert fourth.gpu() == gpu_second
        third.end()
        fourth.end()
    finally:
        for holder in (first, second):
            if holder.process.poll() is None:
                holder.process.kill()
    lock_dir = tmp_path / "locks"
    assert lock_dir.stat().st_mode & 0o7777 == gpuslots.LOCK_DIR_MODE  # other users' jobs too
    assert sorted(p.name for p in lock_dir.iterdir()) == ["gpu0.lock", "gpu1.lock"]
    for lock in lock_dir.iterdir():
        assert lock.stat().st_mode & 0o777 == gpuslots.LOCK_FILE_MODE  # whatever the umask


@pytest.mark.process
def test_srgan_train_takes_the_free_gpu_before_it_starts(tmp_path):
    """`srgan train` on a machine whose GPU 0 is held trains with CUDA_VISIBLE_DEVICES=1
    (here on the CPU: the GPUs are pretend, so torch finds no CUDA and `auto` is the CPU)."""
    from conftest import TINY_MODEL

    env = _env(tmp_path, "0,1")
    holder = Holder(env)
    try:
        assert holder.gpu() == "0"
        sets = [arg for pair in [*TINY_MODEL, "train.srresnet.steps=2", "device=auto"]
                for arg in ("--set", pair)]  # fmt: skip
        result = subprocess.run(
            [str(Path(sys.executable).parent / "srgan"), "train", "srresnet_mse",
             "--workdir", str(tmp_path / "run"), "--no-progress",
             "--config", "config/demo.yaml", *sets],
            env=env, cwd=Path(__file__).resolve().parents[1],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        holder.end()
    assert result.returncode == 0, result.stderr
    assert "GPU: CUDA_VISIBLE_DEVICES=1 (slot" in result.stdout
    assert "srgan train srresnet_mse: cpu:" in result.stdout
    assert (tmp_path / "run" / "final.pt").is_file()


@pytest.mark.process
@pytest.mark.parametrize("device", ["cpu", "cuda:0"])
def test_a_chosen_device_takes_no_slot(tmp_path, device):
    env = _env(tmp_path, "0,1")
    holder = Holder(env, device)
    try:
        assert holder.gpu() == "0,1"  # untouched
    finally:
        holder.end()
    assert not (tmp_path / "locks").exists()
