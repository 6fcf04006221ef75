"""Downloads with published checksums, and path-safe extraction of archives.

* A ``Download`` names a file at canonical public URLs with the checksums its publishers
  give (``checksum_source`` says where each is published). ``download`` resumes a partial
  file with an HTTP ``Range`` request, retries transient failures, and renames the file to
  its final name only once verified (atomic ``os.replace``).
* ``extract_images`` is path-safe: an archive with an absolute member name, a ``..``
  component, or a link pointing outside the archive is rejected as a whole; only regular
  files are written, into a temporary folder that replaces the destination at the end.

Which files to download and which sets they hold is :mod:`srgan.core.datasets`'s.
This module uses nothing of the package but the leaves ``errors`` and ``fileio``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import stat
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from tqdm import tqdm

from srgan.core.datasets import Download
from srgan.core.errors import UserError
from srgan.core.fileio import HASH_CHUNK_BYTES, IMAGE_EXTENSIONS, replaced_folder

#: Bytes read per chunk of a transfer or an extraction.
CHUNK_BYTES = 1 << 20
#: Retries of a failed transfer (each resumes where the last one stopped).
DEFAULT_RETRIES = 5
#: Seconds before the first retry; doubled for every further one.
RETRY_BACKOFF_S = 2.0
#: Socket timeout of one HTTP request, in seconds.
HTTP_TIMEOUT_S = 60.0
USER_AGENT = "srgan-repro dataset fetcher (urllib)"
#: HTTP statuses worth retrying; other 4xx answers are final.
TRANSIENT_HTTP = (408, 425, 429)


def file_digests(path: Path, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of a file, all algorithms in one pass (a download's sha256 and md5)."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK_BYTES):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def checksum_mismatch(path: Path, download: Download) -> str | None:
    """``None`` when ``path`` matches every published size/checksum, else what differs."""
    size = path.stat().st_size
    if download.size is not None and size != download.size:
        return f"size {size} bytes, expected {download.size}"
    wanted = {"sha256": download.sha256, "md5": download.md5}
    wanted = {name: value for name, value in wanted.items() if value}
    actual = file_digests(path, wanted)
    for name, value in wanted.items():
        if actual[name] != value.lower():
            return f"{name} {actual[name]}, expected {value}"
    return None


# --- downloads ------------------------------------------------------------------------


class TransientError(Exception):
    """A transfer failure worth retrying (network, timeout, short read, 5xx)."""


def partial_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def download(
    download: Download,
    dest: Path,
    *,
    retries: int = DEFAULT_RETRIES,
    backoff_s: float = RETRY_BACKOFF_S,
    timeout_s: float = HTTP_TIMEOUT_S,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Fetch ``download`` to ``dest``: resumable, retried, verified, atomic.

    The bytes accumulate in ``dest.part`` (kept across failures and runs, so an
    interrupted download resumes with an HTTP Range request). Once complete they are
    checked against the published size and checksums and only then renamed to ``dest``.
    A mismatch after resuming restarts once from zero; a mismatch of a fresh download is
    a ``UserError`` (the file was tampered with or changed upstream) and nothing is kept.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        problem = checksum_mismatch(dest, download)
        if problem is None:
            return dest
        raise UserError(
            f"{dest} exists but does not match its published checksum ({problem}); delete it"
        )
    part = partial_path(dest)
    started_fresh = not part.exists()
    failures = 0
    while True:
        url = download.urls[failures % len(download.urls)]
        try:
            _transfer(url, part, download.size, timeout_s=timeout_s, progress=progress)
        except TransientError as exc:
            failures += 1
            if failures > retries:
                raise UserError(
                    f"downloading {download.filename} failed {failures} times; last error: "
                    f"{exc}. Rerun to resume from {part.stat().st_size if part.exists() else 0} "
                    "bytes, or put the file there by hand"
                ) from None
            sleep(backoff_s * 2 ** (failures - 1))
            continue
        problem = checksum_mismatch(part, download)
        if problem is None:
            os.replace(part, dest)
            return dest
        part.unlink()
        if started_fresh:
            raise UserError(
                f"{download.filename} from {url} does not match its published checksum "
                f"({problem}; published in {download.checksum_source}); not kept"
            )
        started_fresh = True  # the partial file we resumed from was bad: start over once


def _transfer(url: str, part: Path, size: int | None, *, timeout_s: float, progress: bool) -> None:
    """Append the missing bytes of ``url`` to ``part`` (Range request when it has some)."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        part.unlink()
        offset = 0
    if size is not None and offset == size:
        return
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing after offset: the partial file is complete
            return
        if exc.code >= 500 or exc.code in TRANSIENT_HTTP:
            raise TransientError(f"HTTP {exc.code} from {url}") from None
        raise UserError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise TransientError(f"{url}: {exc}") from None
    with response:
        if offset and response.status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if start != offset:
                raise TransientError(f"{url}: asked for bytes from {offset}, got from {start}")
            mode = "ab"
        else:
            offset, mode = 0, "wb"  # the server sent the whole file
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        total = offset + expected if expected is not None else size
        received = 0
        with (
            open(part, mode) as out,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name.removesuffix(".part"),
                disable=not progress,
            ) as bar,
        ):
            try:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as exc:
                raise TransientError(f"{url}: {exc} after {offset + received} bytes") from None
            finally:
                out.flush()
                os.fsync(out.fileno())
    if expected is not None and received != expected:
        raise TransientError(f"{url}: got {received} of {expected} bytes")


def _content_range_start(value: str | None) -> int | None:
    """The first byte of ``Content-Range: bytes START-END/TOTAL``."""
    if not value or not value.startswith("bytes "):
        return None
    first, _, _ = value.removeprefix("bytes ").partition("-")
    return int(first) if first.isdigit() else None


# --- path-safe extraction -------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One archive entry, reduced to what the safety check and the extraction need."""

    name: str
    is_file: bool
    symlink_target: str | None  # relative to the member's folder
    hardlink_target: str | None  # relative to the archive root
    open: Callable[[], BinaryIO]


def safe_relative(name: str) -> PurePosixPath:
    """An archive member name as a relative path; absolute names and ``..`` are refused."""
    if not name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UserError(f"unsafe archive member {name!r}: absolute path")
    path = PurePosixPath(name.replace("\\", "/"))
    if ".." in path.parts:
        raise UserError(f"unsafe archive member {name!r}: '..' in the path")
    return path


def check_symlink(name: str, target: str) -> None:
    """A symbolic link member must point inside the archive's folder."""
    if target.startswith(("/", "\\")):
        raise UserError(f"unsafe archive member {name!r}: link to absolute path {target!r}")
    depth = 0
    for part in (*safe_relative(name).parent.parts, *PurePosixPath(target).parts):
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            raise UserError(f"unsafe archive member {name!r}: link {target!r} points outside")


def check_member(member: Member) -> None:
    """Refuse an absolute name, a ``..`` component, or a link pointing outside."""
    safe_relative(member.name)
    if member.symlink_target is not None:
        check_symlink(member.name, member.symlink_target)
    if member.hardlink_target is not None:
        safe_relative(member.hardlink_target)


def _tar_members(archive: tarfile.TarFile) -> Iterator[Member]:
    for info in archive.getmembers():
        yield Member(
            info.name,
            info.isfile(),
            info.linkname if info.issym() else None,
            info.linkname if info.islnk() else None,
            lambda info=info: archive.extractfile(info),  # type: ignore[misc]
        )


def _zip_members(archive: zipfile.ZipFile) -> Iterator[Member]:
    for info in archive.infolist():
        is_link = stat.S_ISLNK(info.external_attr >> 16)
        target = archive.read(info).decode("utf-8", "replace") if is_link else None
        yield Member(
            info.filename,
            not info.is_dir() and not is_link,
            target,
            None,
            lambda info=info: archive.open(info),  # type: ignore[misc]
        )


def _members(opened: tarfile.TarFile | zipfile.ZipFile) -> list[Member]:
    members = list(
        _tar_members(opened) if isinstance(opened, tarfile.TarFile) else _zip_members(opened)
    )
    for member in members:
        check_member(member)
    return members


def _open_archive(path: Path) -> tarfile.TarFile | zipfile.ZipFile:
    if zipfile.is_zipfile(path):
        return zipfile.ZipFile(path)
    try:
        return tarfile.open(path)
    except tarfile.TarError:
        raise UserError(f"{path} is neither a zip nor a tar archive") from None


def extract_images(
    archive_path: Path,
    member_dir: str,
    dest: Path,
    *,
    n_images: int | None = None,
    progress: bool = False,
) -> list[Path]:
    """Extract the images under ``member_dir/`` of a tar or zip archive into ``dest``.

    Every member of the archive is checked first (see ``check_member``);
    one unsafe member rejects the archive. The images go to a temporary sibling folder
    that replaces ``dest`` only when all are written (and, with ``n_images``, counted).
    """
    prefix = PurePosixPath(member_dir)
    with _open_archive(archive_path) as opened, replaced_folder(dest) as tmp:
        members = _members(opened)
        chosen = [
            m
            for m in members
            if m.is_file
            and safe_relative(m.name).parent == prefix
            and safe_relative(m.name).suffix.lower() in IMAGE_EXTENSIONS
        ]
        if n_images is not None and len(chosen) != n_images:
            raise UserError(
                f"{archive_path} holds {len(chosen)} images under {member_dir}/, "
                f"expected {n_images}"
            )
        written = []
        for member in tqdm(chosen, desc=f"extract {dest.name}", unit="file", disable=not progress):
            out = tmp / safe_relative(member.name).name
            with member.open() as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK_BYTES)
            written.append(dest / out.name)
    return written
