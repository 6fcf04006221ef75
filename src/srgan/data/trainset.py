"""The training image folder: every image checked once, and its pixels decoded once.

1. ``scan_images`` lists the image files of the training folder (recursively, sorted by
   relative path) and decodes every one of them fully once, because a truncated JPEG or PNG
   often only fails at full decode. The result per file (its size, or why it is unusable,
   and the sha256 of its bytes) is kept in a manifest under ``cache_dir`` keyed by (path,
   byte size, mtime), so a rerun only stats the files and reads new or changed ones.
   Unusable: unreadable, corrupt or truncated files, non-images with an image extension,
   images smaller than the crop. Unusual but valid images (gray, palette, RGBA, 16-bit, CMYK)
   are kept and come out as RGB.

2. Pixels come from a decoded-image store (``DecodedStore``: every image decoded once into
   one uint8 file under the cache folder, shared through the page cache by all workers and all
   concurrent runs; 92 MB for BSD200, 6.6 GB for DIV2K), or, without a store, are decoded on
   demand (``DecodingSource``), each process keeping ``cache_images`` decoded images (LRU;
   this only helps when it holds the whole training set, because every image recurs once per
   epoch).

3. ``files_digest`` is the identity of a training file list, from content (names, sizes,
   sha256 of the bytes): a run records it and resumes only on the same images, wherever they
   are and whenever they were copied (``cp -r``, ``tar``, the data step rerun). The sha256
   come from the scan manifest, so a warm start reads no image. ``files_stat_digest``
   (names, sizes, mtimes) names the decoded store, and recognises the training images of a
   checkpoint written before identities came from content.

The crops and batches made from these pixels are :mod:`srgan.data.patches`'s.
This module uses ``srgan.imageops`` and the leaves ``srgan.core.errors`` and ``srgan.core.fileio``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from srgan.core.errors import UserError
from srgan.core.fileio import atomic_write, file_lock, sha256_file, write_text_atomic
from srgan.image.io import IMAGE_EXTENSIONS, list_image_files, read_image

log = logging.getLogger(__name__)

#: Values of ``data.on_bad_image``.
POLICIES = ("error", "skip")
#: Unusable files named one by one in an error or warning; the rest are counted.
MAX_LISTED_BAD_FILES = 20
#: Bumped when the manifest or store layout changes; caches of another version are ignored.
CACHE_VERSION = 1
#: Disk space a decoded store leaves free; with less, the images are decoded on demand.
STORE_DISK_MARGIN_BYTES = 1 << 30
#: Threads that decode images while scanning or building a store (Pillow releases the GIL).
MAX_DECODE_THREADS = 16

ImageCheck = tuple[int, int] | str  # (height, width) of a usable image, or why it is unusable
#: How a content identity (``files_digest``) starts; an older checkpoint's identity of names,
#: sizes and mtimes (``files_stat_digest``) is 16 hex digits without it.
CONTENT_DIGEST_PREFIX = "sha256:"


# --------------------------------------------------------------------------------------------
# Scanning the training folder
# --------------------------------------------------------------------------------------------


def read_rgb(path: Path) -> np.ndarray:
    """An image file as H x W x 3 uint8 (gray images are repeated into the three channels)."""
    img = read_image(path)
    return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img


def check_image(path: Path) -> ImageCheck:
    """Decode ``path`` fully: its (height, width), or the reason it cannot be used."""
    try:
        img = read_image(path)
    except UserError as exc:  # read_image turns every decoding failure into one
        return _failure_reason(exc.__cause__ or exc)
    return img.shape[0], img.shape[1]


#: Reasons that may not hold next time: never kept in the scan manifest.
VANISHED = "broken link, or the file vanished during the scan"
NO_PERMISSION = "permission denied"


def _failure_reason(exc: BaseException) -> str:
    """Why ``read_image`` failed, from the exception it was raised from (one line)."""
    if isinstance(exc, Image.DecompressionBombError):
        return f"too many pixels for Pillow ({_one_line(exc)})"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image Pillow can read (wrong extension, unknown format or damaged header)"
    if isinstance(exc, FileNotFoundError):
        return VANISHED
    if isinstance(exc, PermissionError):
        return NO_PERMISSION
    return f"corrupt or truncated ({_one_line(exc)})"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def scan_images(
    folder: Path,
    crop_size: int,
    policy: str = "error",
    cache_dir: Path | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> list[Path]:
    """The usable training images in ``folder``, sorted; see the module docstring.

    ``policy`` is ``data.on_bad_image``: "error" raises one ``UserError`` (one line) naming
    the unusable files and why; "skip" logs them as a warning and returns the rest. A missing
    folder, a folder without images or without usable images is a ``UserError`` either way.
    With ``cache_dir`` the per-file results are kept in a manifest there (and, when more files
    are unusable than a message names, their full list in a text file beside it). A progress
    bar shows while images are decoded, unless ``progress`` is False (or stderr is no TTY).
    """
    if policy not in POLICIES:
        raise UserError(f"data.on_bad_image must be one of {', '.join(POLICIES)}, got {policy!r}")
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UserError(f"training image folder {folder} {what}")
    files = list_image_files(folder, recursive=True)
    if not files:
        raise UserError(
            f"training image folder {folder} holds no image files "
            f"({', '.join(IMAGE_EXTENSIONS)}, searched recursively)"
        )
    checks = _check_all(folder, files, cache_dir, threads, progress)
    usable, bad = [], []
    for path, check in zip(files, checks, strict=True):
        if isinstance(check, str):
            bad.append((path, check))
        elif min(check) < crop_size:
            height, width = check
            bad.append((path, f"too small: {width}x{height}, the crop is {crop_size}x{crop_size}"))
        else:
            usable.append(path)
    if not bad:
        return usable
    listing = _bad_files_listing(folder, bad, cache_dir)
    unusable = f"{len(bad)} of {len(files)} training images in {folder} are unusable"
    if not usable:
        raise UserError(f"{unusable} and no usable image is left: {listing}")
    if policy == "error":
        raise UserError(
            f"{unusable} (data.on_bad_image: error): {listing}; set data.on_bad_image: skip "
            f"to train on the {len(usable)} usable ones, or fix or remove them"
        )
    log.warning(
        "skipping %d of %d training images in %s (data.on_bad_image: skip): %s",
        len(bad),
        len(files),
        folder,
        listing,
    )
    return usable


def _bad_files_listing(folder: Path, bad: list[tuple[Path, str]], cache_dir: Path | None) -> str:
    """One line: "a.png: why; b.png: why; ... and N more (full list: <file>)".

    The first ``MAX_LISTED_BAD_FILES`` are named; with more, and a ``cache_dir``, the full
    list (one per line) is written to a text file there.
    """
    entries = [_one_line(f"{path.relative_to(folder).as_posix()}: {why}") for path, why in bad]
    shown = "; ".join(entries[:MAX_LISTED_BAD_FILES])
    if len(entries) <= MAX_LISTED_BAD_FILES:
        return shown
    more = f"{shown}; and {len(entries) - MAX_LISTED_BAD_FILES} more"
    if cache_dir is None:
        return more
    report = Path(cache_dir) / f"bad-images-{_folder_key(folder)}.txt"
    try:
        write_text_atomic(report, "\n".join(entries) + "\n")
    except OSError as exc:
        log.warning("cannot write the list of unusable images %s (%s)", report, exc)
        return more
    return f"{more} (full list: {report})"


def _check_all(
    folder: Path,
    files: list[Path],
    cache_dir: Path | None,
    threads: int | None,
    progress: bool = True,
) -> list[ImageCheck]:
    """``check_image`` of every file, taken from the manifest where (size, mtime) match. The
    manifest also keeps each file's sha256 (read beside the decoding, or alone for an entry
    of an older manifest that has none)."""
    manifest_path = None if cache_dir is None else _manifest_path(cache_dir, folder)
    old = _load_manifest(manifest_path) if manifest_path else {}
    names = [path.relative_to(folder).as_posix() for path in files]
    stats = [_stat_key(path) for path in files]
    checks: dict[int, ImageCheck] = {}
    sums: dict[int, str | None] = {}
    todo, unhashed = [], []
    for i, (name, stat) in enumerate(zip(names, stats, strict=True)):
        entry = old.get(name)
        if stat is None:
            checks[i] = VANISHED
        elif _fresh(entry, stat):
            checks[i] = entry[2] if isinstance(entry[2], str) else (entry[2][0], entry[2][1])
            sums[i] = entry[3] if len(entry) == 4 else None
            if sums[i] is None and manifest_path is not None:
                unhashed.append(i)
        else:
            todo.append(i)
    if todo or unhashed:
        with ThreadPoolExecutor(_decode_threads(threads)) as pool:
            results = pool.map(_check_and_hash, (files[i] for i in todo))
            bar = tqdm(results, total=len(todo), desc="checking images", disable=_no_bar(progress))
            for i, (check, digest) in zip(todo, bar, strict=True):
                checks[i], sums[i] = check, digest
            hashed = pool.map(_sha256_or_none, (files[i] for i in unhashed))
            sums.update(zip(unhashed, hashed, strict=True))
    if manifest_path is not None:
        new = {
            name: [*stat, _stored(checks[i]), *([sums[i]] if sums.get(i) else [])]
            for i, (name, stat) in enumerate(zip(names, stats, strict=True))
            if stat is not None and checks[i] not in (VANISHED, NO_PERMISSION)
        }
        if new != old:
            _save_manifest(manifest_path, folder, new)
    return [checks[i] for i in range(len(files))]


def _fresh(entry: object, stat: list[int]) -> bool:
    """Whether a manifest entry ([bytes, mtime_ns, check] or [..., check, sha256]) is of a
    file with this [bytes, mtime_ns]."""
    return isinstance(entry, list) and len(entry) in (3, 4) and entry[:2] == stat


def _stored(check: ImageCheck) -> str | list[int]:
    return check if isinstance(check, str) else list(check)


def _check_and_hash(path: Path) -> tuple[ImageCheck, str | None]:
    """``check_image`` and the sha256 of the file (read again, from the page cache)."""
    return check_image(path), _sha256_or_none(path)


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def _stat_key(path: Path) -> list[int] | None:
    """[byte size, mtime in ns] of a file (following links), or None if it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def _no_bar(progress: bool) -> bool | None:
    """tqdm's ``disable``: None shows the bar only on a TTY; True hides it."""
    return None if progress else True


def _decode_threads(threads: int | None) -> int:
    return max(1, threads if threads is not None else min(MAX_DECODE_THREADS, os.cpu_count() or 1))


def _folder_key(folder: Path) -> str:
    return hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:16]


def _manifest_path(cache_dir: Path, folder: Path) -> Path:
    return Path(cache_dir) / f"scan-{_folder_key(folder)}.json"


def _load_manifest(path: Path) -> dict[str, list]:
    """{relative path: [bytes, mtime_ns, [height, width] or reason]}; {} if absent or stale."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    entries = data.get("files")
    return entries if isinstance(entries, dict) else {}


def _save_manifest(path: Path, folder: Path, entries: dict[str, list]) -> None:
    blob = {"version": CACHE_VERSION, "folder": str(Path(folder).resolve()), "files": entries}
    try:
        write_text_atomic(path, json.dumps(blob, separators=(",", ":")))
    except OSError as exc:
        log.warning("cannot write the scan manifest %s (%s); the next run rescans", path, exc)


# --------------------------------------------------------------------------------------------
# Where the pixels come from
# --------------------------------------------------------------------------------------------


class DecodedStore:
    """All training images decoded once, H x W x 3 uint8 each, back to back in one file.

    ``index`` is an (N, 3) int64 array of (byte offset, height, width). The file is opened
    as a read-only memmap on first use in each process (never pickled), so DataLoader
    workers and concurrent runs share its pages through the OS cache.
    """

    def __init__(self, pixels_path: Path, index: np.ndarray) -> None:
        self.pixels_path = Path(pixels_path)
        self.index = index
        self._pixels: np.memmap | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pixels": None}

    def __len__(self) -> int:
        return len(self.index)

    def flat_pixels(self) -> np.ndarray:
        """The whole file as one writable uint8 array, mapped copy-on-write (nothing is read
        or copied until used; writes would stay in this process)."""
        return np.memmap(self.pixels_path, dtype=np.uint8, mode="c")

    def image(self, i: int) -> np.ndarray:
        if self._pixels is None:
            self._pixels = np.memmap(self.pixels_path, dtype=np.uint8, mode="r")
        offset, height, width = (int(v) for v in self.index[i])
        return self._pixels[offset : offset + height * width * 3].reshape(height, width, 3)


def open_store(
    files: Sequence[Path], store_dir: Path, threads: int | None = None, progress: bool = True
) -> DecodedStore | None:
    """The decoded store of ``files`` under ``store_dir``, built first if needed.

    The store is named by ``files_stat_digest`` (paths, sizes, mtimes), so a changed file
    list gets a new store (old ones are not deleted). Building decodes every image once
    (threads; a lock file makes concurrent runs wait for one builder; a progress bar unless
    ``progress`` is False) and writes atomically: the pixel file is complete and fsynced
    before the index that marks the store finished is written. Returns None, with a warning,
    when the disk lacks room for it.
    """
    store_dir = Path(store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    key = f"v{CACHE_VERSION}-{files_stat_digest(files)}"
    pixels_path = store_dir / f"decoded-{key}.u8"
    index_path = store_dir / f"decoded-{key}.index.npy"
    with file_lock(store_dir / f"decoded-{key}.lock"):
        index = _load_index(index_path, pixels_path, len(files))
        if index is None:
            # A builder of this store that was killed may have left its (large) temp file.
            for stale in store_dir.glob(f".{pixels_path.name}.*.tmp"):
                stale.unlink(missing_ok=True)
            index = _store_index(files)
            total = int(index[-1, 0] + index[-1, 1] * index[-1, 2] * 3)
            free = shutil.disk_usage(store_dir).free
            if total + STORE_DISK_MARGIN_BYTES > free:
                log.warning(
                    "not enough disk space in %s for the decoded image store (%.1f GB needed, "
                    "%.1f GB free); the data workers decode the images instead",
                    store_dir,
                    total / 1e9,
                    free / 1e9,
                )
                return None
            _build_store(files, index, total, pixels_path, threads, progress)
            with atomic_write(index_path) as handle:
                np.save(handle, index, allow_pickle=False)
    return DecodedStore(pixels_path, index)


def files_digest(files: Sequence[Path], root: Path, cache_dir: Path | None = None) -> str:
    """The identity of a training file list, from content: ``sha256:`` and the sha256 of one
    line per file, in order: its name relative to ``root`` (the order of the files is the
    data order), its byte size and the sha256 of its bytes. The same images copied elsewhere
    or rewritten (new mtimes) give the same identity; a renamed, added or changed file gives
    another. A file's sha256 comes from the scan manifest in ``cache_dir`` (``scan_images``)
    when its size and mtime are those recorded; other files are read. A file changed without
    changing its size or mtime is not noticed (as ``make`` or ``rsync`` would not)."""
    root = Path(root)
    manifest = _load_manifest(_manifest_path(cache_dir, root)) if cache_dir is not None else {}
    digest = hashlib.sha256()
    for path in map(Path, files):
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        stat = _stat_key(path)
        if stat is None:
            raise UserError(f"training image {path} vanished or cannot be read")
        entry = manifest.get(name)
        known = _fresh(entry, stat) and len(entry) == 4
        content = entry[3] if known else sha256_file(path)
        digest.update(f"{name}\t{stat[0]}\t{content}\n".encode())
    return CONTENT_DIGEST_PREFIX + digest.hexdigest()


def files_stat_digest(files: Sequence[Path], root: Path | None = None) -> str:
    """A hash of a file list's names (relative to ``root``, or resolved paths without one),
    byte sizes and mtimes, 16 hex digits: it names the decoded store, and it was the training
    images' identity before ``files_digest`` (a checkpoint of that time records it)."""
    digest = hashlib.sha256()
    for path in map(Path, files):
        stat = path.stat()
        if root is None:
            name = path.resolve()
        else:
            name = path.relative_to(root) if path.is_relative_to(root) else path
        digest.update(f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _load_index(index_path: Path, pixels_path: Path, count: int) -> np.ndarray | None:
    """A finished store's index, or None when there is none (or it does not fit)."""
    try:
        index = np.load(index_path, allow_pickle=False)
        size = pixels_path.stat().st_size
    except (OSError, ValueError):
        return None
    if index.shape != (count, 3):
        return None
    return index if size == int(index[-1, 0] + index[-1, 1] * index[-1, 2] * 3) else None


def _store_index(files: Sequence[Path]) -> np.ndarray:
    """(offset, height, width) of every file, read from the image headers (no decoding)."""
    index = np.zeros((len(files), 3), dtype=np.int64)
    offset = 0
    for i, path in enumerate(files):
        try:
            with Image.open(path) as im:
                width, height = im.size
        except (OSError, ValueError, SyntaxError) as exc:
            raise UserError(f"cannot read image {path}: {exc}") from exc
        index[i] = (offset, height, width)
        offset += height * width * 3
    return index


def _build_store(
    files: Sequence[Path],
    index: np.ndarray,
    total: int,
    pixels_path: Path,
    threads: int | None,
    progress: bool = True,
) -> None:
    """Decode every image into a temp file mapped in memory; fsync it, rename it."""
    with atomic_write(pixels_path, "w+b") as handle:
        handle.truncate(total)
        pixels = np.memmap(handle, dtype=np.uint8, mode="r+", shape=(total,))

        def fill(i: int) -> None:
            offset, height, width = (int(v) for v in index[i])
            img = read_rgb(files[i])
            if img.shape != (height, width, 3):
                raise UserError(f"image {files[i]} changed while the store was being built")
            pixels[offset : offset + img.size] = img.reshape(-1)

        with ThreadPoolExecutor(_decode_threads(threads)) as pool:
            jobs = pool.map(fill, range(len(files)))
            bar = tqdm(
                jobs,
                total=len(files),
                desc="decoding images",
                unit="img",
                disable=_no_bar(progress),
            )
            for _ in bar:
                pass
        pixels.flush()  # msync; atomic_write then fsyncs the file before renaming it


class DecodingSource:
    """Images decoded on demand, the last ``capacity`` kept (least recently used dropped)."""

    def __init__(self, files: Sequence[Path], capacity: int) -> None:
        self.files = [Path(f) for f in files]
        self.capacity = capacity
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": OrderedDict()}

    def image(self, i: int) -> np.ndarray:
        img = self._cache.get(i)
        if img is not None:
            self._cache.move_to_end(i)
            return img
        img = read_rgb(self.files[i])
        if self.capacity > 0:
            self._cache[i] = img
            if len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return img
