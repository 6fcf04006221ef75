"""Before a run trains: its inputs checked, and the resume decision.

``srgan train`` reruns the same command to resume, so every start decides from the work
folder's state what to do: nothing (``final.pt`` is the requested run, finished:
:func:`is_complete`), resume from the newest readable checkpoint, or move the state that cannot
continue into the requested run (another identity, ``--init`` generator or training files, or
more steps than asked for: :func:`mismatch`) to ``DIR/superseded/<UTC time>/`` and start over
(:func:`assess`, :func:`move_aside`). Nothing is ever deleted. The folder is held by one run at
a time (:func:`folder_lock`).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srgan.core import paths
from srgan.core.config import Config
from srgan.core.errors import UserError
from srgan.core.fileio import LockBusy, file_lock, remove_stale_temp_files
from srgan.core.record import InitModel, RunRecord, TrainingData
from srgan.core.variants import Variant
from srgan.data.trainset import (
    CONTENT_DIGEST_PREFIX,
    files_digest,
    files_stat_digest,
    scan_images,
)
from srgan.models import checkpoints
from srgan.training.step import generator_settings


def training_files(config: Config, progress: bool = True) -> tuple[Path, list[Path]]:
    """The training images (scanned with the bad-input policy) and their folder.

    The folder must exist (the workflow's data rules, or ``srgan train`` for the demo's
    bundled ``skimage`` set, write it first).
    """
    folder = paths.train_images_dir(config)
    files = scan_images(
        folder,
        config.data.crop_size,
        config.data.on_bad_image,
        cache_dir=paths.cache_dir(config),
        progress=progress,
    )
    return folder, files


def data_state(config: Config, images_dir: Path, files: list[Path]) -> TrainingData:
    """What a run records of its data: the seed, the training images' identity from their
    content (``trainset.files_digest``: a copy of the same images resumes), their count, and
    their names, sizes and mtimes (``files_stat_digest``: what a checkpoint of an older
    version recorded instead, see :func:`other_training_images`)."""
    return TrainingData(
        files_digest=files_digest(files, images_dir, paths.cache_dir(config)),
        n_files=len(files),
        seed=config.seed,
        files_stat_digest=files_stat_digest(files, images_dir),
    )


def other_training_images(checkpoint: Path, then: dict[str, Any], now: TrainingData) -> str | None:
    """Why a checkpoint with data state ``then`` was trained on other images than ``now``'s
    (None: the same images). A checkpoint of an older version recorded names, sizes and
    mtimes: if these are unchanged, the images are the same (the next checkpoint records
    their content); if not, whether they are cannot be told, and that is a UserError (the
    checkpoints stay where they are) rather than a start from scratch."""
    recorded = then["files_digest"]
    if recorded == now.files_digest:
        return None
    counts = f"{then['n_files']} files then, {now.n_files} now"
    if recorded.startswith(CONTENT_DIGEST_PREFIX):
        return f"other training images ({counts})"
    if recorded == now.files_stat_digest:
        return None
    raise UserError(
        f"checkpoint {checkpoint} was written by an older version, which recorded the training "
        f"images by name, size and modification time, and these differ now ({counts}): "
        "whether they are the same images cannot be told. If they are, give them back their "
        "modification times (e.g. `touch -r` from the originals, or copy with `cp -p` or "
        f"`rsync -t`) and rerun; to start over instead, move {checkpoint.parent} aside"
    )


def read_init(init: Path, config: Config) -> dict[str, Any]:
    """A generator checkpoint to start from, checked against the configured architecture."""
    data = checkpoints.read_generator_file(Path(init))
    expected = generator_settings(config)
    found = data["model"]
    if not isinstance(found, dict) or found != expected:
        differ = sorted(
            k for k in expected if not isinstance(found, dict) or found.get(k) != expected[k]
        )
        raise UserError(
            f"--init {init}: its generator ({found}) does not match the configured one "
            f"({expected}); differing: {', '.join(differ) or 'extra keys'}"
        )
    return data


def init_model(init: Path, data: dict[str, Any]) -> InitModel:
    """What a run records of the generator it starts from: path, weights digest, and the
    variant, step and identity of its run record (None for a file without one)."""
    found = checkpoints.record_of(data, init)
    return InitModel(
        path=str(init),
        digest=checkpoints.weights_digest(data["generator"]),
        variant=found.variant if found else None,
        step=found.step if found else None,
        identity=found.identity if found else None,
    )


def init_from_state(state: dict[str, Any] | None) -> InitModel | None:
    """The init generator a checkpoint recorded (``train_hash`` is its identity's older name)."""
    if state is None:
        return None
    identity = state.get("identity", state.get("train_hash"))
    keep = {k: state.get(k) for k in ("path", "digest", "variant", "step")}
    return InitModel(**keep, identity=identity)


# --------------------------------------------------------------------------------------------
# The resume decision
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requested:
    """The run ``srgan train`` was asked for: its identity (``srgan.core.identity.run_hash``), the
    ``--init`` generator, the schedule's total steps, the training files."""

    identity: str
    init: InitModel | None
    steps: int
    data: TrainingData


def mismatch(identity: Any, init_digest: Any, step: int, requested: Requested) -> str | None:
    """Why a run (a final.pt's record or a checkpoint) with ``identity``, init weights
    ``init_digest`` and ``step`` steps cannot continue into the ``requested`` run, or None."""
    if identity != requested.identity:
        return (
            f"another configuration or variant (training hash {identity}, now {requested.identity})"
        )
    if requested.init is not None and init_digest != requested.init.digest:
        return f"another --init generator (weights {init_digest}, now {requested.init.digest})"
    if step > requested.steps:
        return f"{step} steps, more than the {requested.steps} asked for"
    return None


def record_mismatch(found: RunRecord, requested: Requested) -> str | None:
    """:func:`mismatch` for a final.pt's run record."""
    init_digest = found.init.digest if found.init is not None else None
    return mismatch(found.identity, init_digest, found.step, requested)


def state_mismatch(state: dict[str, Any], requested: Requested, path: Path) -> str | None:
    """:func:`mismatch` for the checkpoint at ``path``, and its training files
    (:func:`other_training_images`)."""
    init_digest = (state.get("init") or {}).get("digest")
    why = mismatch(state.get("train_hash"), init_digest, int(state.get("step", 0)), requested)
    if why is None:
        why = other_training_images(path, state["data"], requested.data)
    return why


def is_complete(found: RunRecord | None, requested: Requested) -> bool:
    """Whether a final.pt with run record ``found`` is the requested run, finished: then
    ``srgan train`` does nothing (None: there is no readable final.pt)."""
    return (
        found is not None
        and record_mismatch(found, requested) is None
        and found.step == requested.steps
    )


def assess(
    folder: paths.RunFolder, found: RunRecord | None, requested: Requested, final_set_aside: bool
) -> tuple[tuple[Path, dict[str, Any]] | None, str | None]:
    """(the checkpoint to resume from, or None; why the folder's state cannot continue into
    the requested run, or None). ``found`` is final.pt's run record (None: no final.pt, or
    an unreadable one that was set aside: ``final_set_aside``). Unreadable checkpoints
    newer than the one chosen are set aside (:func:`srgan.models.checkpoints.latest_state`)."""
    final = folder.final
    if found is not None:
        why = record_mismatch(found, requested)
        if why is not None:
            return None, f"{final} is from {why}"
    latest = checkpoints.latest_state(folder)
    if latest is None:
        if final_set_aside:
            return None, f"{final} was unreadable and no checkpoint is left to continue from"
        missing = f"{final} has fewer steps and no checkpoint is left to continue from"
        return None, missing if found is not None else None
    path, state = latest
    why = state_mismatch(state, requested, path)
    return (None, f"checkpoint {path} is from {why}") if why else (latest, None)


def move_aside(folder: paths.RunFolder) -> Path:
    """Move final.pt, final.json, checkpoints/, snapshots/ and dvclive/ to
    DIR/superseded/<UTC time>/ (nothing lost)."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    dest = folder.superseded / stamp
    dest.mkdir(parents=True)
    kept = (folder.final, folder.final_metadata, folder.checkpoints, folder.snapshots)
    for path in (*kept, folder.dvclive):
        if path.exists():
            os.replace(path, dest / path.name)
    return dest


def remove_stale_files(folder: paths.RunFolder) -> None:
    """Temp files of atomic writes a killed run left: in DIR, checkpoints/, snapshots/ and
    dvclive/."""
    live = folder.dvclive
    live_folders = [p for p in live.rglob("*") if p.is_dir()] if live.is_dir() else []
    for path in (folder.root, folder.checkpoints, folder.snapshots, live, *live_folders):
        remove_stale_temp_files(path)


def init_required(spec: Variant) -> UserError:
    return UserError(
        f"{spec.name} starts from a trained {spec.init} generator (paper, Section 3.2): "
        f"pass --init WORKDIR/final.pt of an {spec.init} run"
    )


@contextlib.contextmanager
def folder_lock(folder: paths.RunFolder) -> Iterator[None]:
    """Hold ``DIR/.lock`` (released on exit, even on SIGKILL): one training per work folder."""
    try:
        with file_lock(folder.lock, wait=False):
            yield
    except LockBusy:
        raise UserError(
            f"another `srgan train` is running in {folder.root} (it holds {folder.lock})"
        ) from None
