"""Where each model of a profile stands, read from its run folder and log (``srgan status``).

``profile_status(config)`` gives one :class:`RunStatus` per variant the configuration trains
(``workflow.variants``): its state, the step of its total, its rate and time left (a running
one's last progress line, :mod:`srgan.training.progress`), its last PSNR scored during training
(DVCLive's ``eval/<set>_psnr``) and the path of its log. Nothing is written or locked, so it
can run at any time, while Snakemake runs included. States:

* **done**: ``final.json`` records the requested steps and this configuration's run identity;
* **running**: a process holds the run folder's lock (``srgan train``) or has the job's log
  open (a Snakemake job still preparing its data); where ``/proc`` is missing, a log written to
  within ``STALE_AFTER_S`` that does not end in a failure or an interruption;
* **interrupted**: the log ends with the signal message of ``srgan train`` (SIGINT/SIGTERM: a
  checkpoint was written), or the run stopped without a word (SIGKILL, a power cut) after
  training began: rerunning resumes from the newest checkpoint;
* **failed**: the log ends with an error (``srgan train: error: ...``) or a traceback;
* **waiting**: nothing of this run yet (or only a model of another configuration, which the
  workflow will retrain).

Torch-free (a test checks): it imports the core, the torch-free listing of checkpoints and the
progress lines only.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from srgan.core import identity, paths, record, variants
from srgan.core.config import Config
from srgan.core.errors import UserError
from srgan.core.record import RunRecord
from srgan.models.checkpoints import list_checkpoints
from srgan.training.progress import (
    PROGRESS_EVERY_S,
    PSNR_METRIC,
    Progress,
    format_duration,
    parse_line,
)

WAITING, RUNNING, DONE, FAILED, INTERRUPTED = (
    "waiting",
    "running",
    "done",
    "failed",
    "interrupted",
)
#: Without ``/proc``: a log not written to for this long belongs to a run that is not running.
STALE_AFTER_S = 3 * PROGRESS_EVERY_S
#: How much of the end of a log is read (progress lines are short; a traceback is not).
LOG_TAIL_BYTES = 64 * 1024
#: How ``srgan train`` ends a log: an interruption (TrainingInterrupted), an error (the CLI's
#: UserError line), a crash.
INTERRUPTED_MARK = "stopped after step"
ERROR_MARK = "error:"
TRACEBACK_MARK = "Traceback (most recent call last)"
PROC = Path("/proc")


@dataclass
class RunStatus:
    """One row of ``srgan status``."""

    variant: str
    state: str
    step: int
    total: int
    rate: float | None  # steps per second (running runs)
    eta_s: float | None
    psnr: tuple[str, float, int] | None  # (set, dB, step)
    log: str
    note: str = ""


def profile_status(config: Config, now: float | None = None) -> list[RunStatus]:
    """One row per variant ``config`` trains, in Table 1 order."""
    return [run_status(config, spec.name, now) for spec in variants.selected(config)]


def run_status(config: Config, variant: str, now: float | None = None) -> RunStatus:
    """The state of ``variant``'s run in ``runs/<variant>/`` and ``logs/train/<variant>.log``
    (relative to the working directory, as the workflow writes them)."""
    spec = variants.get(variant)
    total = variants.schedule(config, spec).steps
    folder = paths.RunFolder(paths.run_dir(variant))
    log = paths.log_file("train", variant)
    now = time.time() if now is None else now
    lines = _tail(log)
    progress = _last_progress(lines, total)
    checkpoint = next(iter(list_checkpoints(folder)), (0, None))[0]
    psnr = last_psnr(folder)
    row = RunStatus(variant, WAITING, checkpoint, total, None, None, psnr, str(log))
    final = _final_record(folder)
    same_run = final is not None and final.identity == identity.run_hash(config, spec)
    if same_run and final.step == total:
        row.state, row.step = DONE, total
        return row
    if final is not None:
        row.note = "final.pt is of another configuration or length: the workflow retrains it"
    ending = _ending(lines)
    if _running(folder, log, ending, now):
        row.state = RUNNING
        if progress is not None:
            age = max(0.0, now - log.stat().st_mtime)
            row.step, row.rate = max(progress.step, checkpoint), progress.rate
            row.eta_s = None if progress.eta_s is None else max(0.0, progress.eta_s - age)
            row.psnr = progress.psnr or psnr
        return row
    if ending is not None:
        row.state = INTERRUPTED if INTERRUPTED_MARK in ending else FAILED
        row.note = ending
    elif checkpoint or progress is not None:
        row.state = INTERRUPTED
        row.note = "stopped without a message (killed?)"
    if row.state in (INTERRUPTED, FAILED):
        resume = f"resumes from step {checkpoint}" if checkpoint else "starts over"
        row.note = f"{resume}; {row.note}" if row.note else resume
    return row


def last_psnr(folder: paths.RunFolder) -> tuple[str, float, int] | None:
    """The newest PSNR scored during training: (set, dB, step) from DVCLive's
    ``eval/<set>_psnr.tsv`` (columns ``step`` and ``<set>_psnr``)."""
    found = []
    for path in sorted((folder.metrics / "eval").glob("*_psnr.tsv")):
        match = PSNR_METRIC.match(f"eval/{path.stem}")
        rows = _read_tsv(path)
        if match and rows and rows[-1].get("step", "").isdigit():
            try:
                found.append((match["set"], float(rows[-1][path.stem]), int(rows[-1]["step"])))
            except (KeyError, ValueError):
                continue
    return max(found, key=lambda item: item[2]) if found else None


def format_table(rows: list[RunStatus]) -> str:
    """The rows as ``srgan status`` prints them."""
    header = ("model", "state", "step", "it/s", "ETA", "last PSNR", "log")
    table = [header]
    for row in rows:
        rate = f"{row.rate:.1f}" if row.rate is not None else "-"
        eta = format_duration(row.eta_s) if row.eta_s is not None else "-"
        psnr = f"{row.psnr[0]} {row.psnr[1]:.2f} dB @{row.psnr[2]}" if row.psnr else "-"
        table.append((row.variant, row.state, f"{row.step}/{row.total}", rate, eta, psnr, row.log))
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            for line in table]  # fmt: skip
    text += [f"  {row.variant}: {row.note}" for row in rows if row.note]
    return "\n".join(line.rstrip() for line in text)


def as_dicts(rows: list[RunStatus]) -> list[dict]:
    return [asdict(row) for row in rows]


# --- reading the run's files --------------------------------------------------------------------


def _tail(log: Path) -> list[str]:
    """The last lines of ``log`` (none when it is missing)."""
    try:
        with open(log, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - LOG_TAIL_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line.rstrip("\r") for line in text.splitlines()]


def _last_progress(lines: list[str], total: int) -> Progress | None:
    for line in reversed(lines):
        progress = parse_line(line)
        if progress is not None:
            return progress if progress.total == total else None
    return None


def _ending(lines: list[str]) -> str | None:
    """The line that says how the log's run ended badly (interrupted or failed), if any: the
    last non-empty line when it is an error or interruption message, or the traceback's last
    line."""
    text = [line.strip() for line in lines if line.strip()]
    if not text:
        return None
    last = text[-1]
    if INTERRUPTED_MARK in last or ERROR_MARK in last:
        return last
    if any(TRACEBACK_MARK in line for line in text):
        return last
    return None


def _final_record(folder: paths.RunFolder) -> RunRecord | None:
    """The run record in ``final.json`` when ``final.pt`` is there and it can be read (torch-free:
    a missing or unreadable final.json is None, like no model)."""
    if not folder.final.is_file():
        return None
    try:
        return record.read(json.loads(folder.final_metadata.read_text()), "final.json")
    except (OSError, ValueError, UserError):
        return None


def _read_tsv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle, delimiter="\t"))
    except (OSError, csv.Error):
        return []


# --- is it running? -----------------------------------------------------------------------------


def _running(folder: paths.RunFolder, log: Path, ending: str | None, now: float) -> bool:
    if PROC.joinpath("locks").is_file():
        return _lock_held(folder.lock) or _open_by_a_process(log)
    try:
        recent = now - log.stat().st_mtime < STALE_AFTER_S
    except OSError:
        return False
    return recent and ending is None


def _lock_held(lock: Path) -> bool:
    """Whether some process holds a ``flock`` on ``lock`` (``/proc/locks``; nothing is taken,
    so a training that starts now never finds the lock busy)."""
    try:
        stat = lock.stat()
        table = PROC.joinpath("locks").read_text()
    except OSError:
        return False
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    return any(
        len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == device
        for fields in (line.split() for line in table.splitlines())
    )


def _open_by_a_process(path: Path) -> bool:
    """Whether a process of this user has ``path`` open (``/proc/<pid>/fd``)."""
    try:
        target = path.resolve(strict=True)
    except OSError:
        return False
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) == str(target):
                    return True
        except OSError:
            continue
    return False
