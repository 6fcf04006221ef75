"""Signals during training: SIGINT and SIGTERM finish the step, then a checkpoint is written.

``stop_on_signals`` installs a handler that only sets a flag (:class:`StopFlag`); the loop of
:mod:`srgan.training.run` checks it after each step, writes a checkpoint and raises
:class:`TrainingInterrupted`, whose ``exit_code`` is 128 + the signal (130 for SIGINT, 143
for SIGTERM), as shells and Snakemake expect. A second signal acts as usual. Forked data
workers ignore the flag (the main process stops them when it is done).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

SIGNAL_EXIT_BASE = 128  # shell convention: killed by signal N exits 128 + N


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was written. ``exit_code`` is 128 + signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = SIGNAL_EXIT_BASE + signum


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop checks it after each step. A second signal acts as
    usual (the previous handler is put back on the first)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}
        self.pid = os.getpid()

    def handle(self, signum: int, frame: Any) -> None:
        if os.getpid() != self.pid:
            return  # a forked DataLoader worker: the main process stops it when it is done
        self.signum = signum
        signal.signal(signum, self.previous[signum])
        name = signal.Signals(signum).name
        os.write(
            sys.stderr.fileno(),
            f"\n{name} received: finishing this step and writing a checkpoint "
            f"(send it again to stop at once, without one)\n".encode(),
        )


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    flag = StopFlag()
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            flag.previous[signum] = signal.signal(signum, flag.handle)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield flag
    finally:
        for signum, handler in flag.previous.items():
            signal.signal(signum, handler)
