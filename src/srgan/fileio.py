"""Files the safe way: atomic writes, chunked checksums, and the source tree's git state.

A leaf module like ``errors``: it imports nothing else of the package, and every module may
use it. Every result, checkpoint, table and image the project writes goes through
``atomic_write``: a temp file in the same folder (unique name, so two writers never share
one), flushed and fsynced, then renamed over the target. A kill at any moment leaves either
the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

#: Bytes read at a time when hashing a file (large files never sit in memory whole).
HASH_CHUNK_BYTES = 1 << 20
#: File name extensions read as images (compared lower-case); other files are ignored.
#: Here, in a torch-free leaf, so that the workflow's data code can share it with imageops.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Seconds a git query may take before the commit is reported as "unknown".
GIT_TIMEOUT_S = 10


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path`` for writing; on success it replaces ``path``.

    On any exception (Ctrl-C included) the temp file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_write(path, "w") as handle:
        handle.write(text)


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON with two-space indents and a final newline; NaN/inf are refused (invalid JSON)."""
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def remove_stale_temp_files(folder: Path) -> None:
    """Delete temp files an interrupted ``atomic_write`` in ``folder`` may have left."""
    if folder.is_dir():
        for path in folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def git_state(repo: Path | None = None) -> dict[str, Any]:
    """``{"commit": sha or "unknown", "dirty": bool | None}`` of the checkout at ``repo``.

    ``repo`` defaults to the folder of this source file (the package's own checkout).
    """
    cwd = Path(repo) if repo is not None else Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return {"commit": "unknown", "dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {"commit": commit, "dirty": bool(status)}


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (not every platform lets a folder be opened and fsynced)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
