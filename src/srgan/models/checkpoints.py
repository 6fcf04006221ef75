"""The on-disk formats of trained generators and resumable training state.

A run folder (:class:`srgan.core.paths.RunFolder`) holds:

* ``final.pt``: the trained generator, ``{"format": GENERATOR_FORMAT, "version", "model"
  (the SRResNet constructor arguments), "generator" (its state dict), "metadata"}``;
* ``final.json``: the same ``metadata`` (plus format and version) as JSON, so reports,
  provenance and the workflow read it without importing torch;
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

torch is imported inside the functions that need it, so :func:`read_final_metadata` and the
listing functions stay torch-free. Imports: models, paths and the leaves errors, fileio.
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

from srgan.core.errors import UserError
from srgan.core.fileio import atomic_write, write_json_atomic
from srgan.core.paths import RunFolder

if TYPE_CHECKING:
    import torch

    from srgan.models.networks import SRResNet

STATE_FORMAT = "srgan-train-state"
GENERATOR_FORMAT = "srgan-generator"
FORMAT_VERSION = 1
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
    metadata: dict[str, Any],
) -> Path:
    """Write ``final.pt`` (CPU tensors) and then ``final.json`` (the metadata)."""
    save_atomic(_generator_file(model, generator, metadata), folder.final)
    header = {"format": GENERATOR_FORMAT, "version": FORMAT_VERSION}
    write_json_atomic(folder.final_metadata, {**header, "metadata": metadata})
    return folder.final


def _generator_file(
    model: dict[str, Any], generator: Mapping[str, torch.Tensor], metadata: dict[str, Any]
) -> dict[str, Any]:
    """What a generator file holds: format, version, model settings, CPU weights, metadata."""
    weights = {k: v.detach().cpu().contiguous() for k, v in generator.items()}
    header = {"format": GENERATOR_FORMAT, "version": FORMAT_VERSION}
    return {**header, "model": model, "generator": weights, "metadata": metadata}


def write_snapshot(
    folder: RunFolder,
    step: int,
    model: dict[str, Any],
    generator: Mapping[str, torch.Tensor],
    metadata: dict[str, Any],
) -> Path:
    """Write the generator of ``step`` as ``snapshots/step_<N>.pt`` (a generator file)."""
    path = folder.snapshot(step)
    save_atomic(_generator_file(model, generator, metadata), path)
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


def final_record(folder: RunFolder) -> dict[str, Any] | None:
    """The metadata of a run's ``final.pt``, read from final.pt itself ({} if it has none).

    None when there is no final.pt, or when it cannot be read: then it is set aside into
    ``unreadable/`` with its final.json (a warning says so), and the run's checkpoints
    decide where training continues.
    """
    if not (folder.final.exists() or folder.final.is_symlink()):
        return None
    try:
        metadata = read_generator_file(folder.final).get("metadata")
    except UserError as err:
        moved = [set_aside(folder, folder.final)]
        if folder.final_metadata.exists():
            moved.append(set_aside(folder, folder.final_metadata))
        names = " and ".join(p.name for p in moved)
        print(f"warning: {err}; moved {names} to {folder.unreadable}", file=sys.stderr)
        return None
    return metadata if isinstance(metadata, dict) else {}


# --- reading ----------------------------------------------------------------------------------


def read_final_metadata(folder: RunFolder) -> dict[str, Any] | None:
    """The metadata of a run's ``final.pt`` from ``final.json``, without torch.

    None when there is no ``final.pt``. When ``final.json`` is missing or unreadable (a run
    killed between the two writes, or trained before final.json existed) the metadata is
    read from ``final.pt`` itself; ``{}`` when neither can be read.
    """
    if not folder.final.is_file():
        return None
    try:
        blob = json.loads(folder.final_metadata.read_text())
        metadata = blob.get("metadata") if isinstance(blob, dict) else None
    except (OSError, ValueError):
        metadata = None
    if isinstance(metadata, dict):
        return metadata
    try:
        metadata = read_generator_file(folder.final).get("metadata")
    except UserError:
        return {}
    return metadata if isinstance(metadata, dict) else {}


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
) -> tuple[SRResNet, dict[str, Any]]:
    """The generator of a file (eval mode, frozen, on ``device``) and its ``metadata`` dict
    ({} when it has none, as in a resumable ``step_*.pt``)."""
    data = read_generator_file(path)
    generator = generator_from_data(data, path)
    generator.requires_grad_(False)
    metadata = data.get("metadata")
    generator = generator.eval().to(device)
    return generator, metadata if isinstance(metadata, dict) else {}


def weights_digest(state: Mapping[str, torch.Tensor]) -> str:
    """A hash of a state dict's names, dtypes, shapes and bytes (independent of file layout)."""
    import torch

    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}\t{tensor.dtype}\t{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
