"""Nothing lost when training stops: exact resume after SIGKILL, SIGTERM and SIGINT (to the
process or its whole group, with data workers), a full disk, a diverging loss, unreadable
checkpoints and final.pt, a stale final.json, temp files of a killed run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from training_helpers import (
    DEMO,
    PARAMS,
    config_sets,
    generator_weights,
    logged_metric,
    make_config,
)

from srgan.core import paths
from srgan.core.config import Config
from srgan.core.errors import UserError
from srgan.data import patches
from srgan.evaluation import inference
from srgan.models import checkpoints
from srgan.training import log as trainlog
from srgan.training import run as training
from srgan.training import step as trainer
from srgan.training.signals import TrainingInterrupted

RESUME_STEPS = 16  # srgan_mse: the learning rate drops at step 10


STOP_AT_CALL = 11  # the child signals itself at its 11th step (after checkpoints 4 and 8)


PROCESS_TIMEOUT = 300


# `srgan train` in a child that signals itself at a fixed step: deterministic on any machine.
SELF_SIGNALLING_CHILD = """
import os, signal, sys
from srgan.cli import main as cli
from srgan.training import step as trainer
original, calls = trainer.Trainer.step, [0]
def step(self, *args):
    calls[0] += 1
    if calls[0] == {at}:
        os.kill(os.getpid(), signal.{signal})
    return original(self, *args)
trainer.Trainer.step = step
sys.exit(cli.main(sys.argv[1:]))
"""


# `srgan train` in a child whose disk fills up part-way through its second checkpoint.
FULL_DISK_CHILD = """
import contextlib, errno, sys
from srgan.models import checkpoints
from srgan.cli import main as cli
original, calls = checkpoints.atomic_write, [0]
class FillingDisk:
    def __init__(self, handle):
        self.handle, self.written = handle, 0
    def write(self, data):
        self.written += len(data)
        if self.written > 1000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.handle.write(data)
    def __getattr__(self, name):
        return getattr(self.handle, name)
@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    calls[0] += 1
    with original(path, mode) as handle:
        yield FillingDisk(handle) if calls[0] == 2 else handle
checkpoints.atomic_write = atomic_write
sys.exit(cli.main(sys.argv[1:]))
"""


STEP_PAUSE_S = 0.2  # the slow child's pause per step: time to signal it mid-run


# `srgan train` in a child whose steps take STEP_PAUSE_S longer (same results): a signal sent
# from outside, once a checkpoint exists, lands in the middle of the run.
SLOW_CHILD = f"""
import sys, time
from srgan.cli import main as cli
from srgan.training import step as trainer
original = trainer.Trainer.step
def step(self, *args):
    time.sleep({STEP_PAUSE_S})
    return original(self, *args)
trainer.Trainer.step = step
sys.exit(cli.main(sys.argv[1:]))
"""


def cli_args(root: Path, images: Path, *extra: str) -> list[str]:
    args = ["--params", str(PARAMS), "--config", str(DEMO), "--no-progress"]
    for item in config_sets(root, images, list(extra)):
        args += ["--set", item]
    return args


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = generator_weights(a), generator_weights(b)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


@pytest.fixture(scope="module")
def resume_reference(
    tmp_path_factory: pytest.TempPathFactory, images: Path, srresnet_run: tuple[Path, Config]
) -> tuple[Path, Path]:
    """An uninterrupted srgan_mse run (D, two optimisers, the lr decay at step 10)."""
    root = tmp_path_factory.mktemp("reference")
    init, _ = srresnet_run
    config = make_config(root, images)
    final = training.train(
        "srgan_mse", root / "run", config, steps=RESUME_STEPS, init=init, progress=False
    )
    return final, init


def _train_until_signal(
    workdir: Path, images: Path, init: Path, signame: str, *extra: str
) -> subprocess.CompletedProcess:
    """`srgan train srgan_mse` in a child that sends itself ``signame`` at its
    STOP_AT_CALL-th step (SIGKILL: before that step runs; SIGTERM: the step completes)."""
    code = SELF_SIGNALLING_CHILD.format(at=STOP_AT_CALL, signal=signame)
    command = [sys.executable, "-c", code, "train", "srgan_mse", "--workdir", str(workdir)]
    command += ["--steps", str(RESUME_STEPS), "--init", str(init)]
    command += cli_args(workdir.parent, images, *extra)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as in this process (one_thread)
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=PROCESS_TIMEOUT, check=False
    )


@pytest.mark.process
def test_exact_resume_after_sigkill(
    tmp_path: Path, images: Path, resume_reference: tuple[Path, Path]
) -> None:
    reference, init = resume_reference
    workdir = tmp_path / "run"
    done = _train_until_signal(workdir, images, init, "SIGKILL")
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert not (workdir / "final.pt").exists()
    # checkpoints every 4 steps; killed before step 11: 8 is the newest
    assert [s for s, _ in checkpoints.list_checkpoints(paths.RunFolder(workdir))] == [8, 4]
    assert logged_metric(workdir, "train/generator")[-1][0] == "10"  # logged after the checkpoint
    config = make_config(tmp_path, images)
    final = training.train(
        "srgan_mse", workdir, config, steps=RESUME_STEPS, init=init, progress=False
    )
    assert_same_weights(final, reference)
    for name in ("train/generator", "train/discriminator", "train/lr"):
        assert logged_metric(workdir, name) == logged_metric(reference.parent, name), name


#: The CUDA defaults' step and data paths, as they run without CUDA: the step of graph mode
#: (static buffers, lr as a tensor) uncaptured, the batches from the decoded images in one tensor.
DEVICE_PATHS = ("train.step=graph", "data.pipeline=device")


@pytest.mark.process
def test_exact_resume_on_the_graph_step_and_device_data(
    tmp_path: Path,
    images: Path,
    srresnet_run: tuple[Path, Config],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    init, _ = srresnet_run
    config = make_config(tmp_path / "reference", images, *DEVICE_PATHS)
    reference = training.train(
        "srgan_mse",
        tmp_path / "reference" / "run",
        config,
        steps=RESUME_STEPS,
        init=init,
        progress=False,
    )
    workdir = tmp_path / "run"
    done = _train_until_signal(workdir, images, init, "SIGKILL", *DEVICE_PATHS)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert [s for s, _ in checkpoints.list_checkpoints(paths.RunFolder(workdir))] == [8, 4]
    config = make_config(tmp_path, images, *DEVICE_PATHS)
    calls = {"crops": 0, "steps": 0}
    crops, step = patches.DeviceImages.hr_crops, trainer.CapturedStep.__call__

    def counted_crops(self: patches.DeviceImages, *args: np.ndarray) -> torch.Tensor:
        calls["crops"] += 1
        return crops(self, *args)

    def counted_step(self: trainer.CapturedStep, *args: torch.Tensor) -> torch.Tensor:
        calls["steps"] += 1
        return step(self, *args)

    monkeypatch.setattr(patches.DeviceImages, "hr_crops", counted_crops)
    monkeypatch.setattr(trainer.CapturedStep, "__call__", counted_step)
    final = training.train(
        "srgan_mse", workdir, config, steps=RESUME_STEPS, init=init, progress=False
    )
    assert calls == {"crops": RESUME_STEPS - 8, "steps": RESUME_STEPS - 8}  # the paths ran
    assert_same_weights(final, reference)
    for name in ("train/generator", "train/discriminator", "train/lr"):
        assert logged_metric(workdir, name) == logged_metric(reference.parent, name), name


@pytest.mark.process
def test_sigterm_writes_a_checkpoint_then_resumes_exactly(
    tmp_path: Path, images: Path, resume_reference: tuple[Path, Path]
) -> None:
    reference, init = resume_reference
    workdir = tmp_path / "run"
    done = _train_until_signal(workdir, images, init, "SIGTERM", "train.checkpoint_every=1000")
    assert done.returncode == 128 + signal.SIGTERM == 143, done.stderr
    assert "SIGTERM" in done.stderr and "rerun the same command" in done.stderr
    # the interrupted step finishes, then its checkpoint is written (none before it)
    assert [s for s, _ in checkpoints.list_checkpoints(paths.RunFolder(workdir))] == [STOP_AT_CALL]
    assert not (workdir / "final.pt").exists()
    config = make_config(tmp_path, images, "train.checkpoint_every=1000")
    final = training.train(
        "srgan_mse", workdir, config, steps=RESUME_STEPS, init=init, progress=False
    )
    assert_same_weights(final, reference)


@pytest.mark.process
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_process_group_with_data_workers_checkpoints_and_resumes(
    signum: int, tmp_path: Path, images: Path, resume_reference: tuple[Path, Path]
) -> None:
    """As SLURM, `scancel` and `timeout` do (SIGTERM), or Ctrl-C in a terminal (SIGINT): the
    signal goes to the whole process group, the data workers included, once a checkpoint
    exists. The workers ignore it; the main process finishes its step, writes a checkpoint at
    that step, stops the workers and exits 128 + signal (143, 130)."""
    reference, init = resume_reference
    workdir = tmp_path / "run"
    folder = paths.RunFolder(workdir)
    command = [sys.executable, "-c", SLOW_CHILD, "train", "srgan_mse", "--workdir", str(workdir)]
    command += ["--steps", str(RESUME_STEPS), "--init", str(init)]
    command += cli_args(tmp_path, images, "data.workers=2")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while not checkpoints.list_checkpoints(folder):  # the periodic one of step 4
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.01)
    time.sleep(1.5 * STEP_PAUSE_S)  # into step 6: between periodic checkpoints
    os.killpg(child.pid, signum)
    _, err = child.communicate(timeout=PROCESS_TIMEOUT)
    assert child.returncode == 128 + signum, err
    assert "Traceback" not in err and "DataLoader worker" not in err
    with pytest.raises(ProcessLookupError):  # the workers are gone too
        os.killpg(child.pid, 0)
    stopped = int(re.search(r"stopped after step (\d+) of 16", err).group(1))
    assert 4 < stopped < 8  # not a periodic checkpoint's step
    newest = checkpoints.list_checkpoints(folder)[0]
    assert newest == (stopped, folder.checkpoint(stopped)) and str(newest[1]) in err
    config = make_config(tmp_path, images)
    final = training.train(
        "srgan_mse", workdir, config, steps=RESUME_STEPS, init=init, progress=False
    )
    assert_same_weights(final, reference)


@pytest.mark.process
def test_a_full_disk_says_so_keeps_the_last_good_checkpoint_and_resumes(
    tmp_path: Path, images: Path
) -> None:
    config = make_config(tmp_path, images)
    reference = training.train("srresnet_mse", tmp_path / "ref", config, steps=12, progress=False)
    workdir = tmp_path / "run"
    folder = paths.RunFolder(workdir)
    command = [sys.executable, "-c", FULL_DISK_CHILD, "train", "srresnet_mse", "--workdir"]
    command += [str(workdir), "--steps", "12", *cli_args(tmp_path, images)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=PROCESS_TIMEOUT)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines() == [
        f"srgan train: error: cannot write {folder.checkpoint(8)}: No space left on device; "
        f"training stopped after step 8; the last good checkpoint is {folder.checkpoint(4)}. "
        "Free some space (or fix the folder) and rerun the same command to resume"
    ]
    assert [s for s, _ in checkpoints.list_checkpoints(folder)] == [4]
    assert not list(workdir.rglob("*.tmp"))  # the partial file is gone
    final = training.train("srresnet_mse", workdir, config, steps=12, progress=False)
    assert_same_weights(final, reference)


def test_sigint_in_process_checkpoints_and_restores_handlers(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original_step = trainer.Trainer.step
    calls = []

    def step(self: trainer.Trainer, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)
        return original_step(self, lr, hr)

    monkeypatch.setattr(trainer.Trainer, "step", step)
    handler = signal.getsignal(signal.SIGINT)
    config = make_config(tmp_path, images)
    with pytest.raises(TrainingInterrupted) as info:
        training.train("srresnet_mse", tmp_path / "run", config, steps=20, progress=False)
    assert info.value.exit_code == 130 and "after step 3 of 20" in str(info.value)
    assert [s for s, _ in checkpoints.list_checkpoints(paths.RunFolder(tmp_path / "run"))] == [3]
    assert signal.getsignal(signal.SIGINT) is handler


class _NaNAfter(nn.Module):
    """MSE that returns NaN from its ``start``-th call on."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start, self.calls = start, 0

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = nn.functional.mse_loss(sr, hr)
        return loss * float("nan") if self.calls >= self.start else loss


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trainer, "content_loss", lambda kind, **kwargs: _NaNAfter(start=7))
    config = make_config(tmp_path, images)
    workdir = tmp_path / "run"
    with pytest.raises(training.NonFiniteLossError) as info:
        training.train("srresnet_mse", workdir, config, steps=20, progress=False)
    message = str(info.value)
    assert "non-finite loss at step 7 (content, generator)" in message
    assert "step_000000004.pt" in message and "\n" not in message
    assert isinstance(info.value, UserError)
    [(step, path)] = checkpoints.list_checkpoints(paths.RunFolder(workdir))
    assert step == 4
    weights = torch.load(path, weights_only=True)["generator"]
    assert all(torch.isfinite(t).all() for t in weights.values())
    assert not (workdir / "final.pt").exists()


def test_unreadable_newest_checkpoint_falls_back_and_is_set_aside(tmp_path: Path) -> None:
    folder = paths.RunFolder(tmp_path)
    for step in (4, 8):
        checkpoints.save_atomic(
            {"format": checkpoints.STATE_FORMAT, "step": step}, folder.checkpoint(step)
        )
    folder.checkpoint(8).write_bytes(b"truncated")
    path, state = checkpoints.latest_state(folder)
    assert state["step"] == 4 and path.name == "step_000000004.pt"
    assert (folder.unreadable / "step_000000008.pt").read_bytes() == b"truncated"
    assert [s for s, _ in checkpoints.list_checkpoints(folder)] == [4]


@pytest.mark.process
def test_unreadable_newest_checkpoints_are_set_aside_and_never_kept(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two damaged checkpoints with the highest steps (a full disk) must not push the new
    checkpoints out of the two kept: the run resumes from the last good one, sets the
    damaged ones aside and ends as an uninterrupted run."""
    config = make_config(tmp_path, images)
    reference = training.train("srresnet_mse", tmp_path / "ref", config, steps=12, progress=False)
    workdir = tmp_path / "run"
    folder = paths.RunFolder(workdir)
    training.train("srresnet_mse", workdir, config, steps=4, progress=False)
    good = folder.checkpoint(4).read_bytes()
    folder.checkpoint(20).write_bytes(good[: len(good) // 2])
    folder.checkpoint(16).write_bytes(b"")
    capsys.readouterr()
    final = training.train("srresnet_mse", workdir, config, steps=12, progress=False)
    captured = capsys.readouterr()
    assert [s for s, _ in checkpoints.list_checkpoints(folder)] == [12, 8]
    assert "resuming from step 4" in captured.out
    assert "step_000000020.pt: it is truncated" in captured.err
    assert "step_000000016.pt: it is empty" in captured.err
    assert sorted(p.name for p in folder.unreadable.iterdir()) == [
        "step_000000016.pt",
        "step_000000020.pt",
    ]
    assert not folder.superseded.exists()
    assert_same_weights(final, reference)


@pytest.mark.process
@pytest.mark.parametrize("final_json", ["intact", "missing"])
def test_unreadable_final_pt_resumes_from_the_newest_valid_checkpoint(
    final_json: str, tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, images)
    workdir = tmp_path / "run"
    folder = paths.RunFolder(workdir)
    final = training.train("srresnet_mse", workdir, config, steps=8, progress=False)
    trained = final.read_bytes()
    final.write_bytes(trained[:100])  # cut off by a full disk
    if final_json == "missing":
        folder.final_metadata.unlink()
    capsys.readouterr()
    assert training.train("srresnet_mse", workdir, config, steps=8, progress=False) == final
    captured = capsys.readouterr()
    assert "resuming from step 8" in captured.out and "starting over" not in captured.out
    assert "final.pt: it is truncated" in captured.err and "unreadable" in captured.err
    assert not folder.superseded.exists()
    assert (folder.unreadable / "final.pt").read_bytes() == trained[:100]
    assert (folder.unreadable / "final.json").exists() == (final_json == "intact")
    (tmp_path / "trained.pt").write_bytes(trained)
    assert_same_weights(final, tmp_path / "trained.pt")
    assert checkpoints.final_record(folder).step == 8


@pytest.mark.process
@pytest.mark.parametrize("final_json", ["missing", "stale"])
def test_a_missing_or_stale_final_json_is_rewritten_from_final_pt(
    final_json: str, tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A kill between the writes of final.pt and final.json, or another model's final.json
    copied beside it: `srgan train` retrains nothing and rewrites final.json from final.pt."""
    config = make_config(tmp_path, images)
    folder = paths.RunFolder(tmp_path / "run")
    final = training.train("srresnet_mse", folder.root, config, steps=2, progress=False)
    right = folder.final_metadata.read_text()
    if final_json == "missing":
        folder.final_metadata.unlink()
    else:
        stale = json.loads(right)
        stale["step"] = 1
        folder.final_metadata.write_text(json.dumps(stale))
        with pytest.raises(UserError, match="to rewrite final.json from final.pt"):
            inference.load_generator(final, "cpu")
    mtime = final.stat().st_mtime_ns
    capsys.readouterr()
    training.train("srresnet_mse", folder.root, config, steps=2, progress=False)
    out = capsys.readouterr().out
    assert "nothing to do" in out and f"rewrote {folder.final_metadata}" in out
    assert folder.final_metadata.read_text() == right and final.stat().st_mtime_ns == mtime
    inference.load_generator(final, "cpu")  # the three agree again


@pytest.mark.process
def test_dvclive_leaves_the_enclosing_git_repository_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(trainlog.DVC_ROOT_ENV, raising=False)
    live = trainlog.open_live(tmp_path / "dvclive", None)
    trainlog.log_metrics(live, 3, {"train/loss": 0.5})
    assert not (tmp_path / ".dvc").exists() and not (tmp_path / ".dvcignore").exists()
    assert logged_metric(tmp_path, "train/loss") == [["step", "loss"], ["3", "0.5"]]


def test_truncate_metrics_drops_rows_after_the_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "plots" / "metrics" / "train"
    folder.mkdir(parents=True)
    (folder / "loss.tsv").write_text("step\tloss\n2\t0.5\n4\t0.25\n6\t0.125\n8\t0.1")
    (folder / "late.tsv").write_text("timestamp\tstep\tlate\n17\t4\t1\n30\t5\t2\n")
    (folder / "other.tsv").write_text("time\tvalue\n9\t1\n")  # no step column: untouched
    trainlog.truncate_metrics(tmp_path, 4)
    assert (folder / "loss.tsv").read_text() == "step\tloss\n2\t0.5\n4\t0.25\n"
    assert (folder / "late.tsv").read_text() == "timestamp\tstep\tlate\n17\t4\t1\n"
    assert (folder / "other.tsv").read_text() == "time\tvalue\n9\t1\n"
    assert sorted(p.name for p in folder.iterdir()) == ["late.tsv", "loss.tsv", "other.tsv"]


@pytest.mark.process
def test_stale_temp_files_are_removed_under_the_lock(tmp_path: Path, images: Path) -> None:
    workdir = tmp_path / "run"
    metrics = workdir / "dvclive" / "plots" / "metrics" / "train"
    stale = [
        workdir / ".final.pt.x1.tmp",
        workdir / "checkpoints" / ".step_000000002.pt.x2.tmp",
        metrics / ".generator.tsv.x3.tmp",
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    config = make_config(tmp_path, images)
    training.train("srresnet_mse", workdir, config, steps=2, progress=False)
    assert not [p for p in stale if p.exists()]
    assert not list(workdir.rglob("*.tmp"))
