"""Training progress as plain lines in a run's log, and reading them back.

With the progress bar off (``srgan train --no-progress``, as every workflow rule runs it, its
output going to ``logs/train/<variant>.log``), :class:`ProgressLog` prints one line every
``PROGRESS_EVERY_S`` seconds of training, and one after the last step:

    progress srresnet_mse: step 12000/100000 (12.0%) | 212.4 it/s | ETA 6m54s | content
    0.01234 generator 0.01234 | Set5 PSNR 28.41 dB (step 10000)

(one line): the step of the total, the rate since the previous line, the time left at that
rate, the loss terms of the last logged step (``train.log_every``; the means since the log
step before) and the last PSNR scored during training (``train.eval_every``). Nothing here
waits for the device: the line uses values the loop already has. :func:`parse_line` reads a
line back (``srgan status``, :mod:`srgan.training.status`).

Torch-free; imports nothing of the package.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

#: Seconds of training between two progress lines (the first comes after as long).
PROGRESS_EVERY_S = 30.0
PREFIX = "progress"
SEPARATOR = " | "
#: The logged name of a PSNR scored during training: ``eval/<set>_psnr``.
PSNR_METRIC = re.compile(r"^eval/(?P<set>.+)_psnr$")
_HEAD = re.compile(rf"^{PREFIX} (?P<variant>\S+): step (?P<step>\d+)/(?P<total>\d+) \([\d.]+%\)$")
_RATE = re.compile(r"^(?P<rate>[\d.]+) it/s$")
_ETA = re.compile(r"^ETA (?P<eta>\S+)$")
_PSNR = re.compile(r"^(?P<set>\S+) PSNR (?P<db>[-\d.]+) dB \(step (?P<step>\d+)\)$")
_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@dataclass
class Progress:
    """What one progress line says."""

    variant: str
    step: int
    total: int
    rate: float | None = None  # steps per second since the previous line
    eta_s: float | None = None  # seconds left at that rate
    losses: dict[str, float] = field(default_factory=dict)
    psnr: tuple[str, float, int] | None = None  # (set, dB, step scored at)


def format_duration(seconds: float) -> str:
    """``2d3h``, ``5h07m``, ``7m46s``, ``12s``: the two largest units."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def parse_duration(text: str) -> float | None:
    match = _DURATION.match(text)
    if not text or match is None:
        return None
    return float(sum(int(v) * SECONDS[k] for k, v in match.groupdict().items() if v))


def format_line(progress: Progress) -> str:
    percent = 100 * progress.step / progress.total if progress.total else 100.0
    fields = [
        f"{PREFIX} {progress.variant}: step {progress.step}/{progress.total} ({percent:.1f}%)"
    ]
    if progress.rate is not None:
        fields.append(f"{progress.rate:.1f} it/s")
    if progress.eta_s is not None:
        fields.append(f"ETA {format_duration(progress.eta_s)}")
    if progress.losses:
        fields.append(" ".join(f"{name} {value:.4g}" for name, value in progress.losses.items()))
    if progress.psnr is not None:
        name, value, step = progress.psnr
        fields.append(f"{name} PSNR {value:.2f} dB (step {step})")
    return SEPARATOR.join(fields)


def parse_line(line: str) -> Progress | None:
    """The :class:`Progress` of a line :func:`format_line` wrote; None for any other line."""
    fields = line.rstrip("\n").split(SEPARATOR)
    head = _HEAD.match(fields[0])
    if head is None:
        return None
    progress = Progress(head["variant"], int(head["step"]), int(head["total"]))
    for text in fields[1:]:
        if rate := _RATE.match(text):
            progress.rate = float(rate["rate"])
        elif eta := _ETA.match(text):
            progress.eta_s = parse_duration(eta["eta"])
        elif psnr := _PSNR.match(text):
            progress.psnr = (psnr["set"], float(psnr["db"]), int(psnr["step"]))
        else:
            words = text.split()
            pairs = zip(words[::2], words[1::2], strict=False)
            try:
                progress.losses = {name: float(value) for name, value in pairs}
            except ValueError:
                return None
    return progress


class ProgressLog:
    """Prints a progress line every ``every_s`` seconds and after the last step.

    The training loop calls :meth:`step` after every step, :meth:`losses` at its log steps
    and :meth:`scores` after an evaluation. ``enabled=False`` (the progress bar is on) makes
    every call do nothing."""

    def __init__(
        self,
        variant: str,
        total: int,
        start: int,
        enabled: bool,
        every_s: float = PROGRESS_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.variant = variant
        self.total = total
        self.enabled = enabled
        self.every_s = every_s
        self.clock = clock
        self.write = write or (lambda line: print(line, flush=True))
        self.last_step = start
        self.last_time = clock()
        self.latest_losses: dict[str, float] = {}
        self.psnr: tuple[str, float, int] | None = None

    def losses(self, means: Mapping[str, float]) -> None:
        self.latest_losses = dict(means)

    def scores(self, step: int, scores: Mapping[str, float]) -> None:
        """The scores of an evaluation at ``step`` (logged names, ``eval/<set>_psnr``...)."""
        for name, value in scores.items():
            match = PSNR_METRIC.match(name)
            if match:
                self.psnr = (match["set"], float(value), step)

    def step(self, done: int) -> None:
        """After step ``done`` (1-based): a line when one is due."""
        if not self.enabled:
            return
        now = self.clock()
        elapsed = now - self.last_time
        if elapsed < self.every_s and done < self.total:
            return
        steps = done - self.last_step
        rate = steps / elapsed if elapsed > 0 and steps > 0 else None
        eta = (self.total - done) / rate if rate else None
        line = format_line(
            Progress(self.variant, done, self.total, rate, eta, self.latest_losses, self.psnr)
        )
        self.write(line)
        self.last_step, self.last_time = done, now
