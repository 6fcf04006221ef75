"""Progress a user can see: the progress lines of a run's log (srgan.training.progress) and
``srgan status`` (srgan.training.status), which reads run folders and logs without torch."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_record, paper_generator

from srgan.core import identity, paths, variants
from srgan.core.config import Config, load_config
from srgan.training import progress, status
from srgan.training.progress import Progress, ProgressLog

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"
QUICK = REPO / "config" / "quick.yaml"
TWO = "workflow.variants=[srresnet_mse,srgan_vgg54]"
QUICK_SRRESNET_STEPS, QUICK_SRGAN_STEPS = 100000, 20000


# --- progress lines -----------------------------------------------------------------------------


def test_a_progress_line_reads_back_as_written() -> None:
    line = Progress(
        "srresnet_mse",
        12000,
        100000,
        rate=212.44,
        eta_s=414.0,
        losses={"content": 0.012345, "generator": 0.012345},
        psnr=("Set5", 28.4149, 10000),
    )
    text = progress.format_line(line)
    assert text == (
        "progress srresnet_mse: step 12000/100000 (12.0%) | 212.4 it/s | ETA 6m54s | "
        "content 0.01235 generator 0.01235 | Set5 PSNR 28.41 dB (step 10000)"
    )
    assert progress.parse_line(text) == Progress(
        "srresnet_mse",
        12000,
        100000,
        212.4,
        414.0,
        {"content": 0.01235, "generator": 0.01235},
        ("Set5", 28.41, 10000),
    )
    bare = progress.format_line(Progress("srgan_vgg54", 0, 20000))
    assert bare == "progress srgan_vgg54: step 0/20000 (0.0%)"
    assert progress.parse_line(bare) == Progress("srgan_vgg54", 0, 20000)
    for other in ("srgan train srresnet_mse: resuming from step 4", "", "progress: nothing"):
        assert progress.parse_line(other) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.4, "59s"), (61, "1m01s"), (3600 * 5 + 7 * 60 + 3, "5h07m"), (93600, "1d2h")],
)
def test_durations_keep_the_two_largest_units(seconds: float, text: str) -> None:
    assert progress.format_duration(seconds) == text
    assert progress.parse_duration(text) == pytest.approx(seconds, abs=60 if "h" in text else 1)


def test_progress_log_writes_a_line_per_interval_and_after_the_last_step() -> None:
    """Steps at 0.5 s each from step 100 of 140, a line every 10 s: the rate since the previous
    line, the time left at that rate, the last logged losses and PSNR."""
    now = [1000.0]
    written: list[str] = []
    lines = ProgressLog(
        "srgan_mse", 140, 100, enabled=True, every_s=10, clock=lambda: now[0], write=written.append
    )
    for done in range(101, 141):
        now[0] += 0.5
        if done == 110:
            lines.losses({"content": 0.5, "adversarial": 2.0})
        if done == 120:
            lines.scores(done, {"eval/Set5_psnr": 27.5, "eval/Set5_ssim": 0.8})
        lines.step(done)
    parsed = [progress.parse_line(line) for line in written]
    assert [(p.step, p.rate, p.eta_s) for p in parsed] == [(120, 2.0, 10.0), (140, 2.0, 0.0)]
    assert parsed[0].losses == {"content": 0.5, "adversarial": 2.0}
    assert parsed[0].psnr == parsed[1].psnr == ("Set5", 27.5, 120)
    silent: list[str] = []
    off = ProgressLog("srgan_mse", 5, 0, enabled=False, every_s=0, write=silent.append)
    for done in range(1, 6):
        off.step(done)
    assert silent == []


# --- srgan status -------------------------------------------------------------------------------


def quick_config(*sets: str) -> Config:
    return load_config(PARAMS, [QUICK], [TWO, *sets])


def _final(variant: str, config: Config, step: int) -> None:
    folder = paths.RunFolder(paths.run_dir(variant))
    folder.root.mkdir(parents=True, exist_ok=True)
    folder.final.write_bytes(b"")
    spec = variants.get(variant)
    written = make_record(
        paper_generator(num_blocks=1, channels=4),
        variant,
        step,
        identity=identity.run_hash(config, spec),
        config=config.to_dict(),
    )
    folder.final_metadata.write_text(json.dumps(written.to_dict()))


def _checkpoint(variant: str, step: int) -> None:
    folder = paths.RunFolder(paths.run_dir(variant))
    folder.checkpoints.mkdir(parents=True, exist_ok=True)
    folder.checkpoint(step).write_bytes(b"")


def _log(variant: str, *lines: str) -> Path:
    path = paths.log_file("train", variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def _psnr(variant: str, rows: list[tuple[int, float]]) -> None:
    metrics = paths.RunFolder(paths.run_dir(variant)).metrics / "eval"
    metrics.mkdir(parents=True, exist_ok=True)
    body = "".join(f"1700000000\t{step}\t{value}\n" for step, value in rows)
    (metrics / "Set5_psnr.tsv").write_text(f"timestamp\tstep\tSet5_psnr\n{body}")


def _states(config: Config, now: float | None = None) -> dict[str, status.RunStatus]:
    return {row.variant: row for row in status.profile_status(config, now)}


def test_status_of_runs_not_started_and_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = quick_config()
    rows = _states(config)
    assert [(r.state, r.step, r.total) for r in rows.values()] == [
        (status.WAITING, 0, QUICK_SRRESNET_STEPS),
        (status.WAITING, 0, QUICK_SRGAN_STEPS),
    ]
    assert rows["srresnet_mse"].log == str(Path("logs") / "train" / "srresnet_mse.log")
    _final("srresnet_mse", config, QUICK_SRRESNET_STEPS)
    _psnr("srresnet_mse", [(5000, 27.0), (100000, 30.25)])
    _final("srgan_vgg54", quick_config("train.srgan.lr=2.0e-4"), QUICK_SRGAN_STEPS)
    rows = _states(config)
    done = rows["srresnet_mse"]
    assert (done.state, done.step, done.psnr) == (status.DONE, 100000, ("Set5", 30.25, 100000))
    other = rows["srgan_vgg54"]  # a model of another configuration: retrained, so waiting
    assert other.state == status.WAITING and "another configuration" in other.note


def test_status_of_a_running_run_from_its_lock_and_progress_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = quick_config()
    _checkpoint("srresnet_mse", 10000)
    line = Progress("srresnet_mse", 12000, 100000, 200.0, 440.0, {"content": 0.01}, None)
    log = _log("srresnet_mse", "srgan train srresnet_mse: cuda: ...", progress.format_line(line))
    _psnr("srresnet_mse", [(10000, 28.5)])
    lock = paths.RunFolder(paths.run_dir("srresnet_mse")).lock
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        row = _states(config, now=log.stat().st_mtime + 40)["srresnet_mse"]
    assert (row.state, row.step, row.rate, row.eta_s) == (status.RUNNING, 12000, 200.0, 400.0)
    assert row.psnr == ("Set5", 28.5, 10000)
    # the lock released and the log closed: a run that stopped without a word (SIGKILL)
    row = _states(config)["srresnet_mse"]
    assert (row.state, row.step, row.rate) == (status.INTERRUPTED, 10000, None)
    assert row.note == "resumes from step 10000; stopped without a message (killed?)"


def test_a_job_preparing_its_data_is_running_while_its_log_is_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before it takes the run folder's lock (decoding the training set), a workflow job is
    seen by its open log."""
    monkeypatch.chdir(tmp_path)
    log = _log("srgan_vgg54")
    with open(log, "a"):
        assert _states(quick_config())["srgan_vgg54"].state == status.RUNNING
    assert _states(quick_config())["srgan_vgg54"].state == status.WAITING


def test_status_of_failed_and_interrupted_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = quick_config()
    _checkpoint("srresnet_mse", 8000)
    stopped = (
        "srgan train: SIGTERM: stopped after step 8000 of 100000; checkpoint "
        "runs/srresnet_mse/checkpoints/step_000008000.pt; rerun the same command to resume"
    )
    _log("srresnet_mse", "progress srresnet_mse: step 7000/100000 (7.0%)", stopped)
    _log("srgan_vgg54", "srgan train: error: non-finite loss at step 12 (content)")
    rows = _states(config)
    assert rows["srresnet_mse"].state == status.INTERRUPTED
    assert rows["srresnet_mse"].note == f"resumes from step 8000; {stopped}"
    assert rows["srgan_vgg54"].state == status.FAILED
    assert rows["srgan_vgg54"].note.startswith("starts over; srgan train: error: non-finite")
    _log("srgan_vgg54", "Traceback (most recent call last):", '  File "x"', "OSError: boom")
    assert _states(config)["srgan_vgg54"].state == status.FAILED
    table = status.format_table(list(rows.values()))
    assert table.splitlines()[0].split() == ["model", "state", "step", "it/s", "ETA", "last",
                                             "PSNR", "log"]  # fmt: skip
    assert table.splitlines()[1].split()[:3] == ["srresnet_mse", "interrupted", "8000/100000"]


@pytest.mark.process
def test_srgan_status_runs_without_torch(tmp_path: Path) -> None:
    """The command as a user runs it while Snakemake trains: no torch import, one row per
    model of the profile, --json keeps the rows."""
    _log_dir = tmp_path / "logs" / "train"
    _log_dir.mkdir(parents=True)
    (_log_dir / "srresnet_mse.log").write_text("progress srresnet_mse: step 5/100000 (0.0%)\n")
    code = (
        "import sys; from srgan.cli.main import main; "
        f"code = main(['status', '--params', {str(PARAMS)!r}, '--config', {str(QUICK)!r}, "
        "'--json', 'status.json']); print('torch' in sys.modules); sys.exit(code)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "False"  # torch was not imported
    assert [line.split()[0] for line in lines[1:6]] == [v.name for v in variants.VARIANTS.values()]
    record = json.loads((tmp_path / "status.json").read_text())
    assert record["profile"] == "quick"
    assert [(r["variant"], r["state"], r["step"]) for r in record["runs"][:2]] == [
        ("srresnet_mse", status.INTERRUPTED, 0),
        ("srresnet_vgg22", status.WAITING, 0),
    ]


@pytest.mark.process
def test_srgan_status_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """``srgan status | head``: a reader that leaves early ends the command with exit 1 and
    nothing on stderr (no BrokenPipeError traceback, no 'Exception ignored' at exit)."""
    command = [
        *(sys.executable, "-m", "srgan.cli", "status"),
        *("--params", str(PARAMS), "--config", str(QUICK)),
    ]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    try:
        done = subprocess.run(
            command,
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (1, "")
