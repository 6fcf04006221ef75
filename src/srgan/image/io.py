"""Image files: which files of a folder are images, reading, and writing PNG.

``IMAGE_EXTENSIONS`` (from ``srgan.core.fileio``) and ``list_image_files`` say which files of a
folder are images, for every module that reads a folder of them.

Reading: ``read_image`` gives the stored pixels (training and scoring; alpha dropped);
``read_photo`` gives them as a viewer shows them, for ``srgan upscale``: turned upright by
the EXIF orientation, with the alpha channel kept apart. Writing: ``write_png`` writes a
whole image (Pillow); ``write_png_bands`` writes one from bands of rows as they are made, so
that a large output never has to be in memory whole.

Uses ``srgan.image.colour`` and the leaves ``srgan.core.errors`` and ``srgan.core.fileio``.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from srgan.core.errors import UserError
from srgan.core.fileio import IMAGE_EXTENSIONS, atomic_write
from srgan.image.colour import PIXEL_MAX, UINT16_MAX

#: The EXIF tag of the orientation, and what each of its values asks a viewer to do.
EXIF_ORIENTATION_TAG = 0x0112
EXIF_ORIENTATIONS = {
    2: "mirrored left to right",
    3: "rotated by 180 degrees",
    4: "mirrored top to bottom",
    5: "mirrored and rotated by 90 degrees",
    6: "rotated by 90 degrees clockwise",
    7: "mirrored and rotated by 90 degrees",
    8: "rotated by 90 degrees counter-clockwise",
}
#: Modes whose last band is alpha (a palette or RGB image may carry transparency too).
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")

#: PNG: the file signature, the colour type by channels (gray, gray + alpha, RGB, RGBA), the
#: row filter written (Paeth, 4: good for photographs), zlib's level (Pillow's default), and
#: rows filtered at a time (bounds the filter's temporary arrays).
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
PNG_PAETH = 4
PNG_ZLIB_LEVEL = 6
PNG_FILTER_ROWS = 64


# --------------------------------------------------------------------------------------------
# Image IO
# --------------------------------------------------------------------------------------------


def is_image_name(name: str) -> bool:
    """A visible file name with an image extension (hidden names start with ".")."""
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS


def list_image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """The image files in ``folder``, sorted by their path relative to it.

    Files with an image extension (``IMAGE_EXTENSIONS``, any case) only; hidden files and
    folders (name starting with ".") are left out. With ``recursive`` the sub-folders are
    searched too, following symbolic links (a sampled ImageNet subset is often a folder of
    links), each real folder once: a link cycle, or two links to one folder, cannot repeat
    files or loop. A missing folder is a ``UserError``; callers with their own wording check
    it first.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"image folder not found: {folder}")
    if not recursive:
        found = [p for p in folder.iterdir() if is_image_name(p.name) and p.is_file()]
    else:
        found = []
        seen = {_folder_id(folder)}
        for root, dirs, names in os.walk(folder, followlinks=True):
            dirs[:] = [d for d in sorted(dirs) if not d.startswith(".")]
            dirs[:] = [d for d in dirs if _first_visit(Path(root, d), seen)]
            found.extend(Path(root, name) for name in names if is_image_name(name))
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _folder_id(folder: Path) -> tuple[int, int] | None:
    """(device, inode) of a folder, following links; None when it cannot be read."""
    try:
        stat = folder.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _first_visit(folder: Path, seen: set[tuple[int, int] | None]) -> bool:
    """True, and remember it, the first time the real folder behind ``folder`` comes up."""
    key = _folder_id(folder)
    if key is None or key in seen:
        return False
    seen.add(key)
    return True


def _to_l_or_rgb(im: Image.Image) -> Image.Image:
    """Any PIL image -> mode L (gray) or RGB, keeping gray images single-channel."""
    if im.mode in ("L", "RGB"):
        return im
    if im.mode == "1":
        return im.convert("L")
    if im.mode.startswith("I"):
        # 16-bit gray ("I;16*"), or 32-bit integer gray ("I") holding 8- or 16-bit values.
        arr = np.asarray(im, dtype=np.float64)
        is_16bit = im.mode.startswith("I;16") or arr.max() > PIXEL_MAX
        peak = UINT16_MAX if is_16bit else PIXEL_MAX
        arr = np.clip(np.floor(arr / peak * PIXEL_MAX + 0.5), 0, PIXEL_MAX)
        return Image.fromarray(arr.astype(np.uint8), "L")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        return Image.fromarray(np.clip(np.floor(arr + 0.5), 0, PIXEL_MAX).astype(np.uint8), "L")
    if im.mode in ("LA", "La"):
        return im.convert("L")
    # Palette (a gray palette gives R == G == B, like Set14 man), RGBA, CMYK, YCbCr, LAB,
    # HSV, ...: all become RGB; alpha is dropped.
    return im.convert("RGB")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as uint8: H x W for gray (mode L) images, H x W x 3 otherwise.

    Palette, RGBA, CMYK and other modes become RGB; 1-bit and 16-bit gray become 8-bit L.
    The pixels are taken as stored (no EXIF orientation: training and scoring see the same
    pixels whatever the file's tags). An unreadable or corrupt file raises ``UserError``
    naming it.
    """
    return _decode(path, lambda im: np.asarray(_to_l_or_rgb(im), dtype=np.uint8).copy())


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file as stored, from its header (nothing decoded)."""
    return _decode(path, lambda im: (im.height, im.width), load=False)


@dataclass(frozen=True)
class Photo:
    """An image as a viewer shows it: ``pixels`` as ``read_image`` gives them, ``alpha``
    (H x W uint8) when the file has transparency, and the EXIF ``orientation`` applied
    (1: none)."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    orientation: int

    def notes(self) -> list[str]:
        """What was done to show the file as a viewer does, in words."""
        done = []
        if self.orientation in EXIF_ORIENTATIONS:
            what = EXIF_ORIENTATIONS[self.orientation]
            done.append(f"turned upright as its EXIF orientation {self.orientation} asks ({what})")
        if self.alpha is not None:
            done.append("its alpha channel is kept, upscaled with bicubic interpolation")
        return done


def read_photo(path: str | Path) -> Photo:
    """Read an image for ``srgan upscale``: upright (EXIF orientation applied), alpha apart."""

    def convert(im: Image.Image) -> Photo:
        orientation = im.getexif().get(EXIF_ORIENTATION_TAG, 1)
        im = ImageOps.exif_transpose(im)
        alpha = None
        if im.mode in ALPHA_MODES or "transparency" in im.info:
            alpha = np.asarray(im.convert("RGBA").getchannel("A"), dtype=np.uint8).copy()
        pixels = np.asarray(_to_l_or_rgb(im), dtype=np.uint8).copy()
        return Photo(pixels, alpha, orientation if orientation in EXIF_ORIENTATIONS else 1)

    return _decode(path, convert)


def _decode(path: str | Path, convert: Callable[[Image.Image], Any], load: bool = True) -> Any:
    """``convert`` of the decoded image (of the opened file only, without ``load``); every
    failure is a UserError naming the file."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            if load:
                im.load()
            return convert(im)
    except FileNotFoundError as exc:
        raise UserError(f"image not found: {path}") from exc
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        SyntaxError,
    ) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from exc


def write_png(path: str | Path, img: np.ndarray) -> None:
    """Write an H x W or H x W x 3 uint8 array as PNG atomically (``fileio.atomic_write``)."""
    if img.dtype != np.uint8:
        raise ValueError(f"write_png needs uint8, got {img.dtype}")
    with atomic_write(Path(path)) as handle:
        Image.fromarray(img).save(handle, format="PNG")


def write_png_bands(
    path: str | Path, height: int, width: int, channels: int, bands: Iterable[np.ndarray]
) -> None:
    """Write a PNG from bands of rows, top to bottom, atomically: each band is a uint8
    (rows, width, channels) array (1: gray, 2: gray + alpha, 3: RGB, 4: RGBA), ``height``
    rows in all. Only one band is in memory at a time; on any error ``path`` is untouched."""
    if channels not in PNG_COLOUR_TYPES:
        raise ValueError(f"a PNG has 1 to 4 channels, not {channels}")
    header = struct.pack(">IIBBBBB", width, height, 8, PNG_COLOUR_TYPES[channels], 0, 0, 0)
    compressor = zlib.compressobj(PNG_ZLIB_LEVEL)
    above = np.zeros(width * channels, dtype=np.uint8)  # the row above the first one
    rows = 0
    with atomic_write(Path(path)) as handle:
        handle.write(PNG_SIGNATURE)
        _png_chunk(handle, b"IHDR", header)
        for band in bands:
            if band.dtype != np.uint8 or band.shape[1:] != (width, channels):
                raise ValueError(
                    f"a band must be uint8 (rows, {width}, {channels}), not "
                    f"{band.dtype} {band.shape}"
                )
            flat = band.reshape(len(band), width * channels)
            for start in range(0, len(flat), PNG_FILTER_ROWS):
                chunk = flat[start : start + PNG_FILTER_ROWS]
                _png_chunk(handle, b"IDAT", compressor.compress(_paeth(chunk, above, channels)))
                above = chunk[-1]
            rows += len(band)
        if rows != height:
            raise ValueError(f"the bands hold {rows} rows, not {height}")
        _png_chunk(handle, b"IDAT", compressor.flush())
        _png_chunk(handle, b"IEND", b"")


def _png_chunk(handle: IO[bytes], kind: bytes, data: bytes) -> None:
    if data or kind != b"IDAT":
        crc = zlib.crc32(data, zlib.crc32(kind))
        handle.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc))


def _paeth(rows: np.ndarray, above: np.ndarray, channels: int) -> bytes:
    """PNG rows (n, width * channels) with the Paeth filter, each row led by its filter type;
    ``above`` is the row before the first (zeros at the top of the image)."""
    x = rows.astype(np.int16)
    b = np.concatenate([above[None].astype(np.int16), x[:-1]])  # the pixel above
    a = np.zeros_like(x)
    a[:, channels:] = x[:, :-channels]  # the pixel to the left
    c = np.zeros_like(x)
    c[:, channels:] = b[:, :-channels]  # the pixel above that one
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    predicted = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    out = np.empty((len(rows), rows.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = PNG_PAETH
    out[:, 1:] = (x - predicted).astype(np.uint8)  # modulo 256
    return out.tobytes()
