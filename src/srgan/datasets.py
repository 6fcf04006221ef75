"""Getting the image sets onto disk: downloads, verification, extraction, mirrors, ImageNet.

Every set ends as a folder of HR images plus a manifest (``sha256sum`` format, paths
relative to the folder) under ``data/checksums/``: the provenance of exactly what was used.

* Downloads come from canonical public URLs and are checked against *published*
  checksums (``Download.checksum_source`` says where each is published). A
  download resumes a partial file with an HTTP ``Range`` request, retries transient
  failures, and becomes its final name only once verified (atomic ``os.replace``).
* Extraction is path-safe: an archive with an absolute member name, a ``..`` component, or
  a link pointing outside the archive is rejected as a whole; only regular files are
  written, into a temporary folder that replaces the destination at the end.
* A mirror (``data.mirror``) is a local folder laid out as ``../shared/data``
  (``benchmarks/<set>/``, ``train/<set>/``); its files are checked against its
  ``SHA256SUMS`` when it has one, and nothing is downloaded.
* ImageNet is never downloaded: a seeded subset of a user's ILSVRC train folder is linked.
* The photographs bundled with scikit-image make the offline demo's sets.

This module uses nothing of the package but ``errors``, ``fileio``, ``config`` and
``sample_data``.
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

from srgan import sample_data
from srgan.config import MIRROR_TRAIN_SETS, Config, train_images_dir
from srgan.errors import UserError
from srgan.fileio import HASH_CHUNK_BYTES, IMAGE_EXTENSIONS, sha256_file, write_text_atomic

#: Name of a mirror's checksum list, in ``sha256sum`` format.
MIRROR_SUMS = "SHA256SUMS"
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


# --- the sources ------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    """A file at canonical public URLs, with the checksums its publishers give."""

    filename: str
    urls: tuple[str, ...]
    size: int | None
    sha256: str | None
    md5: str | None
    checksum_source: str


@dataclass(frozen=True)
class RemoteSet:
    """An image set inside a downloaded archive."""

    download: Download
    member_dir: str  # folder inside the archive holding the HR images
    n_images: int  # how many images the folder must hold


EDSR_BENCHMARK = Download(
    filename="benchmark.tar",
    urls=("https://cv.snu.ac.kr/research/EDSR/benchmark.tar",),
    size=None,
    sha256=None,
    md5="4ace41d33c2384b97e6b320cd0afd6ba",
    checksum_source="Coloquinte/torchSR torchsr/datasets/benchmarks.py (MD5)",
)
DIV2K_TRAIN_HR = Download(
    filename="DIV2K_train_HR.zip",
    urls=(
        "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip",
        "http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip",
    ),
    size=3530603713,
    sha256="9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
    md5="bdc2d9338d4e574fe81bf7d158758658",
    checksum_source="tensorflow/datasets url_checksums/div2k.txt (size, SHA256); torchSR (MD5)",
)
DIV2K_VALID_HR = Download(
    filename="DIV2K_valid_HR.zip",
    urls=(
        "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",
        "http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",
    ),
    size=448993893,
    sha256="20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
    md5="9fcdda83005c5e5997799b69f955ff88",
    checksum_source="tensorflow/datasets url_checksums/div2k.txt (size, SHA256); torchSR (MD5)",
)
DOWNLOADS = {d.filename: d for d in (EDSR_BENCHMARK, DIV2K_TRAIN_HR, DIV2K_VALID_HR)}

#: Test sets that can be downloaded (folder name -> where it is in which archive).
BENCHMARK_SETS = {
    "Set5": RemoteSet(EDSR_BENCHMARK, "benchmark/Set5/HR", 5),
    "Set14": RemoteSet(EDSR_BENCHMARK, "benchmark/Set14/HR", 14),
    "BSD100": RemoteSet(EDSR_BENCHMARK, "benchmark/B100/HR", 100),
    "DIV2K_valid": RemoteSet(DIV2K_VALID_HR, "DIV2K_valid_HR", 100),
}
#: Training sets that can be downloaded.
TRAIN_SETS = {"DIV2K": RemoteSet(DIV2K_TRAIN_HR, "DIV2K_train_HR", 800)}
#: Sets made from the photographs bundled with scikit-image (no network needed).
BUNDLED_SETS = {
    sample_data.TEST_SET_NAME: sample_data.TEST_IMAGES,
    sample_data.TRAIN_SET_NAME: sample_data.TRAIN_IMAGES,
}
IMAGENET = "ImageNet"
#: The name of a user-given training folder (``data.train_set: folder``).
FOLDER = "folder"


# --- which sets a configuration needs -------------------------------------------------


def train_set_name(config: Config) -> str:
    """The manifest name of the training set (``data/checksums/<name>.sha256``).

    ``ImageNet`` (a linked subset), ``folder`` (any set given by ``data.train_dir``),
    ``SkimageTrain`` (``skimage``), else the set's own name.
    """
    if config.data.train_set == IMAGENET:
        return IMAGENET
    if config.data.train_dir:
        return FOLDER
    if config.data.train_set == "skimage":
        return sample_data.TRAIN_SET_NAME
    return config.data.train_set


def test_set_names(config: Config) -> list[str]:
    """Every test set the workflow reads: data.benchmarks, evaluate.datasets, the depth set."""
    names = [*config.data.benchmarks, *config.evaluate.datasets, config.workflow.depth.dataset]
    return list(dict.fromkeys(names))


def check_sources(config: Config) -> None:
    """Fail early, naming the key, when a configured set cannot be found or fetched."""
    data = config.data
    mirror = Path(data.mirror) if data.mirror else None
    if mirror is not None and not mirror.is_dir():
        raise UserError(f"data.mirror: {mirror} is not a folder")
    for name in test_set_names(config):
        if mirror is not None:
            if not (mirror / "benchmarks" / name).is_dir():
                raise UserError(
                    f"test set {name} (evaluate.datasets/data.benchmarks/workflow.depth.dataset) "
                    f"is not in data.mirror: no folder {mirror / 'benchmarks' / name}"
                )
        elif name not in BENCHMARK_SETS and name not in BUNDLED_SETS:
            known = ", ".join([*BENCHMARK_SETS, *BUNDLED_SETS])
            raise UserError(
                f"test set {name} (evaluate.datasets/data.benchmarks/workflow.depth.dataset) "
                f"has no download; known: {known}; or set data.mirror"
            )
    name = train_set_name(config)
    if name == IMAGENET:
        if data.train_dir:  # the subset's link folder replaces data.train_dir: refuse that
            raise UserError("data.train_dir is for data.train_set: folder, not ImageNet; unset it")
        if not data.imagenet_dir:
            raise UserError("data.train_set is ImageNet but data.imagenet_dir is not set")
        if not Path(data.imagenet_dir).is_dir():
            raise UserError(f"data.imagenet_dir: {data.imagenet_dir} is not a folder")
    elif name == FOLDER:
        folder = train_images_dir(config)
        if not folder.is_dir():
            raise UserError(f"data.train_dir: {folder} is not a folder")
    elif name in BUNDLED_SETS:
        return
    elif mirror is not None:
        if not (mirror / "train" / name).is_dir():
            raise UserError(
                f"data.train_set {name} is not in data.mirror: no folder {mirror / 'train' / name}"
            )
    elif name in MIRROR_TRAIN_SETS and name not in TRAIN_SETS:
        raise UserError(
            f"data.train_set {name} has no download with a published checksum; "
            f"set data.mirror to a folder holding train/{name}/ (or use DIV2K)"
        )


# --- hashing and manifests ------------------------------------------------------------


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


def list_files(folder: Path) -> list[str]:
    """Regular files under ``folder`` (recursive, no hidden ones), as sorted POSIX paths."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file():
            found.append(relative.as_posix())
    return sorted(found)


def hash_folder(folder: Path, *, progress: bool = False) -> dict[str, str]:
    """sha256 of every file under ``folder`` (paths relative to it)."""
    names = list_files(folder)
    return {
        name: sha256_file(folder / name)
        for name in tqdm(names, desc=f"sha256 {folder.name}", unit="file", disable=not progress)
    }


def format_sums(sums: dict[str, str]) -> str:
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))


def read_sums(path: Path) -> dict[str, str]:
    """A ``sha256sum`` file as {path: digest}; a malformed line is a ``UserError``."""
    sums = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise UserError(f"{path}:{number}: not a sha256sum line: {line!r}")
        sums[name.lstrip("*")] = digest.lower()
    return sums


def write_manifest(folder: Path, manifest: Path, *, progress: bool = False) -> dict[str, str]:
    """Hash every file of ``folder`` into ``manifest``; an empty folder is a ``UserError``."""
    sums = hash_folder(folder, progress=progress)
    if not sums:
        raise UserError(f"{folder} holds no files")
    write_text_atomic(manifest, format_sums(sums))
    return sums


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
    tmp = dest.with_name(f".{dest.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    with _open_archive(archive_path) as opened:
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
        tmp.mkdir(parents=True)
        written = []
        for member in tqdm(chosen, desc=f"extract {dest.name}", unit="file", disable=not progress):
            out = tmp / safe_relative(member.name).name
            with member.open() as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK_BYTES)
            written.append(dest / out.name)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return written


# --- mirrors --------------------------------------------------------------------------


def verify_mirror_set(mirror: Path, subdir: str, *, progress: bool = False) -> dict[str, str]:
    """Hash ``mirror/subdir`` and check it against the mirror's ``SHA256SUMS`` if present.

    Returns {path relative to the set folder: sha256}. A file that differs, is missing,
    or is not listed is a ``UserError`` naming it.
    """
    folder = mirror / subdir
    if not folder.is_dir():
        raise UserError(f"data.mirror {mirror} has no {subdir}/ folder")
    actual = hash_folder(folder, progress=progress)
    if not actual:
        raise UserError(f"{folder} holds no files")
    sums_path = mirror / MIRROR_SUMS
    if not sums_path.is_file():
        return actual
    prefix = PurePosixPath(subdir).as_posix() + "/"
    expected = {
        name.removeprefix(prefix): digest
        for name, digest in read_sums(sums_path).items()
        if name.startswith(prefix)
    }
    for name, digest in actual.items():
        if name not in expected:
            raise UserError(f"{folder / name} is not listed in {sums_path}")
        if digest != expected[name]:
            raise UserError(f"{folder / name} does not match its sha256 in {sums_path}")
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise UserError(f"{folder} lacks {len(missing)} files of {sums_path}: {missing[0]}, ...")
    return actual


# --- ImageNet subset ------------------------------------------------------------------


def sample_rank(seed: int, name: str) -> str:
    """A file's place in the seeded order: sha256 of ``"<seed>:<relative path>"``."""
    return hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()


def imagenet_sample(imagenet_dir: Path, n: int, seed: int) -> list[str]:
    """``n`` image paths (relative, sorted) drawn from an ILSVRC train folder with ``seed``.

    The draw ranks every image by ``sample_rank`` and keeps the first ``n``: the same
    folder and seed give the same list on every machine and every Python/NumPy version.
    """
    if not imagenet_dir.is_dir():
        raise UserError(f"data.imagenet_dir: {imagenet_dir} is not a folder")
    images = [
        name
        for name in list_files(imagenet_dir)
        if PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS
    ]
    if len(images) < n:
        raise UserError(
            f"data.imagenet_samples is {n} but {imagenet_dir} holds only {len(images)} images"
        )
    return sorted(sorted(images, key=lambda name: sample_rank(seed, name))[:n])


def link_subset(source: Path, names: list[str], dest: Path) -> None:
    """Make ``dest`` a folder of symbolic links to ``source/<name>`` (atomic replace)."""
    tmp = dest.with_name(f".{dest.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    root = source.resolve()
    for name in names:
        link = tmp / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(root / name)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)


# --- the bundled photographs ----------------------------------------------------------


def export_bundled(name: str, dest: Path) -> list[Path]:
    """Write a bundled set (``SkimageTest``/``SkimageTrain``) as PNG files into ``dest``."""
    if name not in BUNDLED_SETS:
        raise UserError(f"no bundled set {name!r}; known: {', '.join(BUNDLED_SETS)}")
    tmp = dest.with_name(f".{dest.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    sample_data.export(BUNDLED_SETS[name], tmp)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return sorted(dest.iterdir())
