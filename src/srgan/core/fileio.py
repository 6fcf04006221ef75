"""Files the safe way: atomic writes, folder swaps, locks, checksums, the git state.

A leaf module: it imports nothing else of the package but ``errors``, and every module may
use it. Every result, checkpoint, table and image the project writes goes through
``atomic_write``: a temp file in the same folder (unique name, so two writers never share
one), flushed and fsynced, then renamed over the target. A kill at any moment leaves either
the old file or the new one, never a torn one. The file gets the mode a plain ``open()``
would give a new file (0666 less the umask: 0644 under umask 022), so a team's results stay
readable; a secret (a study's database, its rater codes) is written with
``permissions=PRIVATE`` and is 0600 whatever the umask. A folder is written the same way
(``replaced_folder``: a temp sibling that replaces it at the end). ``file_lock`` is the one
advisory lock (training folders, decoded-image stores), and ``read_sums``/``format_sums``
the one reader and writer of ``sha256sum`` lists (manifests, a mirror's ``SHA256SUMS``).
``require_writable`` checks an output folder before the work that fills it, and
``WRITE_ERRNOS`` are the write failures a user fixes (a full disk, a read-only folder).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from srgan.core.errors import UserError

#: Bytes read at a time when hashing a file (large files never sit in memory whole).
HASH_CHUNK_BYTES = 1 << 20
#: File name extensions read as images (compared lower-case); other files are ignored.
#: Here, in a torch-free leaf, so that the workflow's data code can share it with imageops.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Seconds a git query may take before the commit is reported as "unknown".
GIT_TIMEOUT_S = 10
#: Write failures that are the machine's state, not a bug: a full disk or quota, a read-only
#: file system, no permission. The CLI reports them in one line.
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
#: The mode of a new file before the umask (what ``open()`` uses), and of a secret (exact).
NEW_FILE_MODE = 0o666
PRIVATE = 0o600
#: Random bytes in a temp file's name (``secrets.token_hex``); a clash is retried.
TEMP_NAME_BYTES = 6


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "wb", permissions: int | None = None) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path`` for writing; on success it replaces ``path``.

    The file's mode is what ``open()`` gives a new file (the umask applies), or exactly
    ``permissions`` (e.g. ``PRIVATE``), set before a byte is written. On any exception
    (Ctrl-C included) the temp file is removed and ``path`` is untouched; an ``OSError`` with
    an errno but no file name (a full disk) is given ``path`` as its file name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path, permissions)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
            exc.filename = str(path)
        raise
    _fsync_folder(path.parent)


def _create_temp(path: Path, permissions: int | None) -> tuple[int, Path]:
    """A new, empty ``.<name>.<random>.tmp`` beside ``path``, open for writing. The kernel
    applies the umask to ``NEW_FILE_MODE`` as it does for ``open()``; ``permissions`` is then
    set exactly (a secret is created 0600 less the umask, so never readable by others)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(TEMP_NAME_BYTES)}.tmp")
        create = NEW_FILE_MODE if permissions is None else permissions
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, create)
        except FileExistsError:
            continue
        if permissions is not None:
            try:
                os.fchmod(fd, permissions)
            except BaseException:
                os.close(fd)
                tmp.unlink(missing_ok=True)
                raise
        return fd, tmp


def require_writable(folder: Path, what: str) -> None:
    """A UserError naming ``what`` (e.g. "--workdir DIR") unless files can be created in
    ``folder``, or in the folders that would be created for it. Nothing is created: the
    nearest existing folder on the way must be a folder, on a writable file system, that
    this process may write in."""
    existing = Path(folder).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        reason = f"{existing} is not a folder"
    elif os.statvfs(existing).f_flag & os.ST_RDONLY:
        reason = f"{existing} is on a read-only file system"
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = f"no permission to write in {existing}"
    else:
        return
    raise UserError(f"{what}: cannot write there: {reason}")


def write_text_atomic(path: Path, text: str, permissions: int | None = None) -> None:
    """``text`` as UTF-8, atomically (``permissions`` as in ``atomic_write``)."""
    with atomic_write(path, "w", permissions) as handle:
        handle.write(text)


def write_json_atomic(
    path: Path, data: Any, allow_infinity: bool = False, permissions: int | None = None
) -> None:
    """JSON with two-space indents and a final newline, atomically.

    NaN and infinities are refused (strict JSON) unless ``allow_infinity``: then they are
    written as Python's ``json`` writes them (``Infinity``, ``NaN``), which ``json.loads``
    and pandas read back. Evaluation files need that: an SR image equal to its HR image has
    an infinite PSNR.
    """
    text = json.dumps(data, indent=2, allow_nan=allow_infinity)
    write_text_atomic(path, text + "\n", permissions)


@contextlib.contextmanager
def replaced_folder(dest: Path) -> Iterator[Path]:
    """Write a folder in a temp sibling (``.<name>.partial``); it replaces ``dest`` at the end.

    Yields the empty temp folder. On success ``dest`` (if any) is removed and the temp
    folder renamed to it; on any exception the temp folder is removed and ``dest`` is left as
    it was. A temp folder a killed writer left behind is cleared first.
    """
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)


class LockBusy(Exception):
    """``file_lock(..., wait=False)`` found the lock held by another process."""


@contextlib.contextmanager
def file_lock(path: Path, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) while in the block.

    The kernel releases it when the process ends, even on SIGKILL, so a stale lock file never
    blocks anyone. ``wait=False`` raises ``LockBusy`` at once when another process holds it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LockBusy(str(path)) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def format_sums(sums: dict[str, str]) -> str:
    """``{path: sha256}`` as ``sha256sum`` lines (``<digest>  <path>``), sorted by path."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))


def read_sums(path: Path) -> dict[str, str]:
    """A ``sha256sum`` file as ``{path: digest}``; a malformed line raises ``ValueError``
    naming the file and line (callers turn it into their own error)."""
    sums = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ValueError(f"{path}:{number}: not a sha256sum line: {line!r}")
        sums[name.lstrip("*")] = digest.lower()
    return sums


def sums_digest(sums: dict[str, str]) -> str:
    """One sha256 for a set of files: of the sorted ``"<sha256>  <file name>"`` lines, with
    folders dropped from the names (so a manifest, a mirror's ``SHA256SUMS`` and hashing the
    files now all give the same digest for the same files)."""
    lines = sorted(f"{digest}  {Path(name).name}" for name, digest in sums.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


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
