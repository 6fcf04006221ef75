"""The metrics log of a training run: DVCLive, in the layout ``dvc plots`` reads.

``open_live(folder, resume_step)`` opens DVCLive in a run's ``dvclive/`` folder: a fresh run
wipes old metrics, a resumed one first drops the rows logged after its checkpoint's step
(``truncate_metrics``), so a resumed run never shows steps twice. ``log_metrics`` logs one
step's values at that step.

Imports: the leaves ``fileio`` and ``paths`` (DVCLive is imported when a log is opened).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from srgan.core import paths
from srgan.core.fileio import write_text_atomic

DVC_ROOT_ENV = "DVC_ROOT"  # DVC sets it for the commands of pipeline stages


def truncate_metrics(live_dir: Path, last_step: int) -> None:
    """Drop rows logged after ``last_step`` from DVCLive's metric files (``*.tsv``).

    After a crash, steps after the last checkpoint were logged but will be trained (and
    logged) again; without this, resumed runs would show them twice. A partly written last
    row is dropped too. The step is found by the header's ``step`` column (a file without
    one is left alone); each file is rewritten atomically."""
    for path in (live_dir / paths.DVCLIVE_METRICS).rglob("*.tsv"):
        rows = list(csv.reader(io.StringIO(path.read_text()), delimiter="\t"))
        if not rows or "step" not in rows[0]:
            continue
        header, body = rows[0], rows[1:]
        column = header.index("step")
        kept = [r for r in body if len(r) == len(header) and r[column].isdigit()]
        kept = [r for r in kept if int(r[column]) <= last_step]
        out = io.StringIO()
        csv.writer(out, delimiter="\t", lineterminator="\n").writerows([header, *kept])
        write_text_atomic(path, out.getvalue())


def open_live(live_dir: Path, resume_step: int | None) -> Any:
    """A DVCLive logger; a fresh run wipes old metrics, a resumed one appends after the
    checkpoint's step. Steps are set explicitly (the training step), never by next_step().

    DVCLive's repository set-up runs only inside ``dvc repro``/``dvc exp run`` (DVC sets
    ``DVC_ROOT`` for stage commands): elsewhere ``Live()`` would run ``dvc init`` and
    ``git add`` in the enclosing Git repository when it finds no DVC repository, a side effect
    a training run must not have (and it costs seconds)."""
    from dvclive import Live  # slow import (pulls in DVC): only when training

    class RunLive(Live):
        def _init_dvc(self) -> None:
            if os.environ.get(DVC_ROOT_ENV):
                super()._init_dvc()

    if resume_step is not None:
        truncate_metrics(live_dir, resume_step)
    resume = resume_step is not None
    return RunLive(dir=str(live_dir), resume=resume, dvcyaml=None, save_dvc_exp=False)


def log_metrics(live: Any, step: int, metrics: dict[str, float]) -> None:
    live.step = step
    for name, value in metrics.items():
        live.log_metric(name, value)
    live.make_summary()
