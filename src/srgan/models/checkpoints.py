"""The on-disk formats of trained generators and resumable training state.

A run folder (:class:`srgan.core.paths.RunFolder`) holds:

* ``final.pt``: the trained generator, ``{"format": GENERATOR_FORMAT, "version", "model"
  (the SRResNet constructor arguments), "generator" (its state dict), "record"}``, where
  ``record`` is its :class:`srgan.core.record.RunRecord` as JSON-ready data;
* ``final.json``: the same record as JSON, so reports, provenance and the workflow read it
  without importing torch. final.pt's is the authoritative copy: loading a trained model
  checks that final.pt, final.json and the folder it sits in describe the same model
  (:func:`check_final`), and ``srgan train`` rewrites a final.json that does not;
* ``checkpoints/step_<N>.pt``: resumable state after N steps, ``{"format": STATE_FORMAT,
  "version", "step", "model", "generator", ...}`` (the trainer decides the rest: D,
  optimisers, RNG, data); the newest ``KEEP_CHECKPOINTS`` are kept;
* ``snapshots/step_<N>.pt``: the generator alone at the steps of ``train.snapshot_steps``, as
  a generator file (``format`` GENERATOR_FORMAT, ``metadata`` {variant, step}); all kept (a
  paper-size one is 6 MB), for the figure of the training's evolution.
* ``unreadable/``: a ``final.pt`` or checkpoint that could not be read, set aside (moved, never
  deleted) when a run resumes, so that it never counts among the kept checkpoints.

Everything is written atomically (``fileio.atomic_write``) and read with
``torch.load(..., weights_only=True)``: no pickled code ever runs. A file that cannot be
read is reported in one line saying what it is (a folder, empty, text, truncated, not a
torch file, or pickled objects that are not weights). A generator file is any file with
``model`` and ``generator`` (``final.pt`` or a ``step_*.pt``). A write that fails (a full
disk) raises the ``OSError`` itself, not torch's wrapper of it.

Files of version 1 (``metadata``: an untyped dict) are read and upgraded
(:func:`srgan.core.record.upgrade`). torch is imported inside the functions that need it, so
:func:`read_record` and the listing functions stay torch-free. Imports: ``srgan.models.networks``
and ``srgan.core``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import pickle
import re
import sys
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srgan.core import record as records
from srgan.core import variants
from srgan.core.errors import UserError
from srgan.core.fileio import atomic_write, write_json_atomic
from srgan.core.paths import RunFolder
from srgan.core.record import RunRecord

if TYPE_CHECKING:
    import torch

    from srgan.models.networks import SRResNet

STATE_FORMAT = "srgan-train-state"
GENERATOR_FORMAT = "srgan-generator"
#: Version 2: final.pt holds a ``record`` (a RunRecord); version 1 held a ``metadata`` dict.
FORMAT_VERSION = 2
#: Resumable checkpoints kept: the newest and the one before it.
KEEP_CHECKPOINTS = 2
CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)\.pt$")
#: The first bytes of what torch.save writes (a zip archive) and of a pickle (protocol >= 2).
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_MAGIC = b"\x80"
#: Bytes looked at to tell what an unreadable file is; characters of text quoted.
SNIFF_BYTES = 512
QUOTED_CHARS = 40
#: A pickled class or function that weights_only loading refuses, as torch names it.
REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


# --- writing ----------------------------------------------------------------------------------


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then rename over ``path``.

    A failed write (``ENOSPC``: the disk is full) raises its ``OSError``; torch wraps it in a
    RuntimeError ("unexpected pos") that says nothing to a user. ``path`` is left as it was.
    """
    import torch

    with atomic_write(path, "wb") as handle:
        try:
            torch.save(obj, handle)
        except RuntimeError as err:
            cause = err.__context__
            if not isinstance(cause, OSError):
                raise
            raise cause from None


def write_state(folder: RunFolder, step: int, state: dict[str, Any]) -> Path:
    """Write the resumable state of ``step`` (atomically), then prune older checkpoints."""
    path = folder.checkpoint(step)
    save_atomic({"format": STATE_FORMAT, "version": FORMAT_VERSION, "step": step, **state}, path)
    prune(folder)
    return path


def write_final(
    folder: RunFolder,
    model: dict[str, Any],
    generator: Mapping[str, torch.Tensor],
    record: RunRecord,
) -> Path:
    """Write ``final.pt`` (CPU tensors and the record), then ``final.json`` (the record)."""
    file = _generator_file(model, generator)
    save_atomic({**file, "record": record.to_dict()}, folder.final)
    write_record(folder, record)
    return folder.final


def write_record(folder: RunFolder, record: RunRecord) -> Path:
    """Write ``final.json``: the run record as JSON (atomically)."""
    write_json_atomic(folder.final_metadata, record.to_dict())
    return folder.final_metadata


def _generator_file(model: dict[str, Any], generator: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """What every generator file holds: format, version, model settings, CPU weights."""
    weights = {k: v.detach().cpu().contiguous() for k, v in generator.items()}
    header = {"format": GENERATOR_FORMAT, "version": FORMAT_VERSION}
    return {**header, "model": model, "generator": weights}


def write_snapshot(
    folder: RunFolder,
    step: int,
    model: dict[str, Any],
    generator: Mapping[str, torch.Tensor],
    metadata: dict[str, Any],
) -> Path:
    """Write the generator of ``step`` as ``snapshots/step_<N>.pt`` (a generator file)."""
    path = folder.snapshot(step)
    save_atomic({**_generator_file(model, generator), "metadata": metadata}, path)
    return path


# --- listing ----------------------------------------------------------------------------------


def _steps(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of the ``step_<N>.pt`` files in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = CHECKPOINT_PATTERN.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def list_checkpoints(folder: RunFolder) -> list[tuple[int, Path]]:
    """(step, path) of the checkpoint files, newest first."""
    return _steps(folder.checkpoints)[::-1]


def list_snapshots(folder: RunFolder) -> list[tuple[int, Path]]:
    """(step, path) of the generator snapshots, oldest first (torch-free)."""
    return _steps(folder.snapshots)


def prune(folder: RunFolder) -> None:
    """Delete all but the newest ``KEEP_CHECKPOINTS`` checkpoints."""
    for _, path in list_checkpoints(folder)[KEEP_CHECKPOINTS:]:
        path.unlink(missing_ok=True)


def set_aside(folder: RunFolder, path: Path) -> Path:
    """Move an unreadable file of the run into ``unreadable/`` (a name already there is kept:
    the newcomer gets a UTC time in its name); returns its new path."""
    folder.unreadable.mkdir(parents=True, exist_ok=True)
    dest = folder.unreadable / path.name
    if dest.exists() or dest.is_symlink():
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        dest = dest.with_name(f"{path.stem}.{stamp}{path.suffix}")
    os.replace(path, dest)
    return dest


def latest_state(folder: RunFolder) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads as training state, with its state, or None.

    Every newer file that does not (damaged, truncated, empty, foreign) is set aside into
    ``unreadable/`` with a warning naming it and why, so that it never counts among the
    kept checkpoints; the one before it is used.
    """
    for _, path in list_checkpoints(folder):
        try:
            state = load(path)
        except UserError as err:
            why = str(err)
        else:
            if isinstance(state, dict) and state.get("format") == STATE_FORMAT:
                return path, state
            why = f"{path} is a torch file but not a training checkpoint of srgan train"
        moved = set_aside(folder, path)
        print(f"warning: {why}; moved it to {moved}", file=sys.stderr)
    return None


def final_record(folder: RunFolder) -> RunRecord | None:
    """The run record of a run's ``final.pt``, read from final.pt itself.

    None when there is no final.pt, or when it cannot be read (or holds no record this
    version reads): then it is set aside into ``unreadable/`` with its final.json (a warning
    says so), and the run's checkpoints decide where training continues.
    """
    if not (folder.final.exists() or folder.final.is_symlink()):
        return None
    try:
        found = record_of(read_generator_file(folder.final), folder.final)
        if found is None:
            raise UserError(f"{folder.final} holds no run record (not written by srgan train)")
    except UserError as err:
        moved = [set_aside(folder, folder.final)]
        if folder.final_metadata.exists():
            moved.append(set_aside(folder, folder.final_metadata))
        names = " and ".join(p.name for p in moved)
        print(f"warning: {err}; moved {names} to {folder.unreadable}", file=sys.stderr)
        return None
    return found


# --- reading ----------------------------------------------------------------------------------


def read_record(folder: RunFolder) -> RunRecord | None:
    """The run record of a run's ``final.pt`` from ``final.json``, without torch.

    None when there is no ``final.pt``. When ``final.json`` is missing or unreadable (a run
    killed between the two writes) the record is read from ``final.pt`` itself (torch). A
    record that cannot be read at all is a one-line UserError naming the file.
    """
    if not folder.final.is_file():
        return None
    try:
        blob = json.loads(folder.final_metadata.read_text())
    except (OSError, ValueError):
        blob = None
    if blob is not None:
        return records.read(blob, str(folder.final_metadata))
    found = record_of(read_generator_file(folder.final), folder.final)
    if found is None:
        raise UserError(f"{folder.final} holds no run record (not written by srgan train)")
    return found


def record_of(data: Mapping[str, Any], source: str | Path) -> RunRecord | None:
    """The run record a generator file holds (``final.pt``: its ``record``, or a version-1
    ``metadata`` dict, upgraded); None for a file without one (a snapshot, a checkpoint)."""
    if "record" in data:
        return records.read(data["record"], str(source))
    metadata = data.get("metadata")
    legacy = data.get("version") == records.LEGACY_VERSION and isinstance(metadata, dict)
    if legacy and "config" in metadata:  # a version-1 final.pt (a snapshot has no config)
        return records.upgrade(metadata, str(source))
    return None


def check_final(path: Path, data: Mapping[str, Any]) -> RunRecord:
    """The record of a loaded ``final.pt``, after checking that it, the ``final.json`` beside
    it and the folder it sits in describe the same model, and that its weights are the ones
    it records. Any disagreement is a one-line UserError saying what to run."""
    path = Path(path)
    folder = RunFolder(path.parent)
    found = record_of(data, path)
    if found is None:
        raise UserError(f"{path} holds no run record: it was not written by `srgan train`")
    rerun = f"`srgan train {found.variant} --workdir {folder.root}`"
    if folder.root.name in variants.NAMES and folder.root.name != found.variant:
        raise UserError(
            f"{path} is a trained {found.variant} generator (its run record), not the "
            f"{folder.root.name} its folder names: put back the right final.pt, or retrain "
            f"with `srgan train {folder.root.name} --workdir {folder.root}`"
        )
    if found.weights_digest is not None:
        digest = weights_digest(data["generator"])
        if digest != found.weights_digest:
            raise UserError(
                f"{path}: its weights (digest {digest}) are not the ones its run record names "
                f"({found.weights_digest}): the file was altered; retrain with {rerun}"
            )
    if folder.final_metadata.exists():
        try:
            beside = records.read(json.loads(folder.final_metadata.read_text()), "final.json")
        except (OSError, ValueError, UserError):
            beside = None
        if beside is None or beside.to_dict() != found.to_dict():
            said = "cannot be read" if beside is None else f"describes {_describe(beside)}"
            raise UserError(
                f"{folder.final_metadata} {said}, but {path} holds {_describe(found)}: rerun "
                f"{rerun} to rewrite final.json from final.pt (nothing is retrained)"
            )
    return found


def _describe(found: RunRecord) -> str:
    return f"{found.variant} at step {found.step} (identity {found.identity})"


def read_generator_file(path: Path) -> dict[str, Any]:
    """torch.load a generator file safely (weights_only); a UserError names the file.

    A generator file (``final.pt`` or a training ``checkpoints/step_*.pt``) is a dict
    holding at least ``model`` (the SRResNet constructor arguments) and ``generator`` (its
    state dict); ``final.pt`` also has ``metadata``.
    """
    path = Path(path)
    data = load(path)
    if not isinstance(data, dict) or not {"model", "generator"} <= set(data):
        raise UserError(
            f"{path} is not a generator checkpoint (expected a dict with 'model' and "
            "'generator'; train one with `srgan train`)"
        )
    return data


def load(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a UserError (one line) names the
    file and says what it is when it cannot be loaded."""
    import torch

    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot read checkpoint {path}: it is a folder, not a file")
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # torch's remarks on odd pickles: said below instead
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # every failure is described; torch's text is several lines
        raise UserError(f"cannot read checkpoint {path}: {_what_it_is(path, err)}") from None


def _what_it_is(path: Path, err: Exception) -> str:
    """What a file that torch.load (weights only) refused is, in words (one line)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        return f"it cannot be opened ({exc.strerror})"
    refused = REFUSED_GLOBAL.search(str(err)) if isinstance(err, pickle.UnpicklingError) else None
    if size == 0:
        return "it is empty (0 bytes)"
    if refused:
        return (
            f"it holds pickled {refused.group(1)}, which is neither tensors nor plain data "
            "(a whole pickled model, or another program's objects); srgan loads weights only, "
            "since unpickling anything else can run code"
        )
    if head.startswith(ZIP_MAGIC):
        if not zipfile.is_zipfile(path):
            return (
                f"it is truncated: a torch archive whose end is missing ({size:,} bytes), cut "
                "off by a full disk, a killed copy or an incomplete download"
            )
        return f"it is a damaged torch archive ({size:,} bytes)"
    if head.startswith(PICKLE_MAGIC):
        return "it is a Python pickle, not a checkpoint written by torch.save"
    text = _as_text(head)
    if text is not None:
        return f"it is a text file, not a checkpoint (it begins {text[:QUOTED_CHARS]!r})"
    return f"it is not a torch checkpoint (binary data, {size:,} bytes, not a zip archive)"


def _as_text(head: bytes) -> str | None:
    """``head`` as text when it is printable UTF-8 (a character cut at the end allowed)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.end < len(head):
            return None
        text = head[: err.start].decode("utf-8")
    return text if all(c.isprintable() or c in "\t\r\n" for c in text) else None


def generator_from_data(data: Mapping[str, Any], source: str | Path) -> SRResNet:
    """Rebuild the SRResNet described by a generator file's dict and load its weights (CPU)."""
    from srgan.models.networks import SRResNet

    if not isinstance(data["model"], dict):
        raise UserError(f"{source}: 'model' must be a dict of SRResNet settings")
    generator = SRResNet.from_config(data["model"])
    try:
        generator.load_state_dict(data["generator"], strict=True)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise UserError(
            f"{source}: generator weights do not match its model settings {data['model']}: {err}"
        ) from err
    return generator


def load_generator(
    path: Path, device: str | torch.device = "cpu"
) -> tuple[SRResNet, RunRecord | None]:
    """The generator of a file (eval mode, frozen, on ``device``) and its run record (None for
    a file without one: a snapshot, a resumable ``step_*.pt``). A ``final.pt`` is checked
    against its final.json and its folder first (:func:`check_final`)."""
    path = Path(path)
    data = read_generator_file(path)
    found = check_final(path, data) if path.name == RunFolder(path.parent).final.name else None
    generator = generator_from_data(data, path)
    generator.requires_grad_(False)
    generator = generator.eval().to(device)
    return generator, found


def weights_digest(state: Mapping[str, torch.Tensor]) -> str:
    """A hash of a state dict's names, dtypes, shapes and bytes (independent of file layout)."""
    import torch

    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}\t{tensor.dtype}\t{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
