"""Image operations: MATLAB-compatible bicubic resize, colour conversion, cropping and image IO.

``imresize`` is a port of MATLAB's ``imresize(x, scale, 'bicubic')`` (Keys cubic, a = -0.5,
antialiased when downscaling, symmetric borders). It is what makes the LR images, both for the
benchmark evaluation and for training patches, so it works on batched torch tensors, on any
device, in float32 or float64. It reproduces MATLAB's output to about 1e-12 in float64
(checked against MATLAB-produced vectors in tests/test_imageops.py).

``downscale_8bit`` is the one place that makes an LR image from an HR one (MATLAB bicubic
x1/4 rounded to 8 bits): the training batches (``srgan.patches``) and the benchmark evaluation
(``srgan.evaluation``) both call it, so a training LR crop is bit-exactly the evaluation LR
of the same pixels. ``IMAGE_EXTENSIONS`` and ``list_image_files`` say which files of a folder
are images, for every module that reads a folder of them.

Reading: ``read_image`` gives the stored pixels (training and scoring; alpha dropped);
``read_photo`` gives them as a viewer shows them, for ``srgan upscale``: turned upright by
the EXIF orientation, with the alpha channel kept apart. Writing: ``write_png`` writes a
whole image (Pillow); ``write_png_bands`` writes one from bands of rows as they are made, so
that a large output never has to be in memory whole.

This module uses nothing else of the package except the leaves ``srgan.errors`` and
``srgan.fileio``.
"""

from __future__ import annotations

import functools
import math
import os
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from srgan.errors import UserError
from srgan.fileio import IMAGE_EXTENSIONS, atomic_write

#: The paper's super-resolution factor: every experiment is x4.
SCALE = 4

# Keys' cubic convolution kernel parameter, as in MATLAB's imresize 'bicubic'.
CUBIC_A = -0.5
# Support of the cubic kernel (it is zero outside [-2, 2]).
CUBIC_SUPPORT = 4.0

# MATLAB rgb2ycbcr (ITU-R BT.601, studio range) luma for R, G, B in [0, 255]:
# Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255.
Y_OFFSET = 16.0
Y_COEFFS = (65.481, 128.553, 24.966)
#: The largest 8-bit level: uint8 / PIXEL_MAX is in [0, 1].
PIXEL_MAX = 255.0
UINT16_MAX = 65535.0

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
# Bicubic resize (MATLAB imresize port)
# --------------------------------------------------------------------------------------------


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic kernel with a = -0.5 (MATLAB's ``cubic``)."""
    a = CUBIC_A
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    near = ((a + 2) * ax3 - (a + 3) * ax2 + 1) * (ax <= 1)
    far = (a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a) * ((ax > 1) & (ax <= 2))
    return near + far


def resize_matrix(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """The (out_len, in_len) float64 matrix M with ``out = M @ in`` along one axis.

    Follows MATLAB's ``contributions``: output pixel x (1-based) maps to input coordinate
    u = x / scale + 0.5 * (1 - 1 / scale); when downscaling the kernel is stretched by 1/scale
    (antialiasing); each row of weights is normalised to sum 1; indices past the border are
    mirrored symmetrically (..., 2, 1, 1, 2, ..., n, n, n-1, ...).
    """
    antialias = scale < 1
    kernel_width = CUBIC_SUPPORT / scale if antialias else CUBIC_SUPPORT
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    dist = u[:, None] - indices
    weights = scale * _cubic(scale * dist) if antialias else _cubic(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # MATLAB's symmetric mirroring: aux = [1:n, n:-1:1]; idx = aux(mod(idx - 1, 2n) + 1).
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    mirrored = aux[np.mod(indices.astype(np.int64) - 1, 2 * in_len)]
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.repeat(np.arange(out_len), taps)
    np.add.at(matrix, (rows, mirrored.ravel()), weights.ravel())
    return matrix


@functools.lru_cache(maxsize=64)
def _resize_matrix_tensor(
    in_len: int, out_len: int, scale: float, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    return torch.from_numpy(resize_matrix(in_len, out_len, scale)).to(dtype=dtype, device=device)


def _output_size(
    in_size: tuple[int, int], scale: float | None, size: tuple[int, int] | None
) -> tuple[tuple[int, int], tuple[float, float]]:
    """Output (H, W) and per-axis scales, as MATLAB derives them from a scale or a size."""
    if (scale is None) == (size is None):
        raise ValueError("imresize: give exactly one of scale and size")
    if scale is not None:
        if scale <= 0:
            raise ValueError(f"imresize: scale must be positive, got {scale}")
        out = (math.ceil(scale * in_size[0]), math.ceil(scale * in_size[1]))
        return out, (float(scale), float(scale))
    assert size is not None
    out = (int(size[0]), int(size[1]))
    if min(out) <= 0:
        raise ValueError(f"imresize: size must be positive, got {size}")
    return out, (out[0] / in_size[0], out[1] / in_size[1])


def imresize(
    x: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """MATLAB ``imresize(x, scale, 'bicubic')`` for (N, C, H, W) or (C, H, W) float tensors.

    Give either ``scale`` (output size ceil(scale * H), ceil(scale * W)) or ``size`` (H, W).
    Downscaling is antialiased, as MATLAB's default. The result is not clipped or rounded:
    bicubic overshoots slightly outside the input's range, so a caller that needs a valid
    image clips it (MATLAB clips and rounds only for integer input types). Works on any
    device and in float32 or float64 (the weights are computed in float64 and cast).
    """
    if not torch.is_floating_point(x):
        raise TypeError(f"imresize needs a floating-point tensor, got {x.dtype}")
    if x.dim() not in (3, 4):
        raise ValueError(f"imresize needs (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    in_size = (x.shape[-2], x.shape[-1])
    out_size, scales = _output_size(in_size, scale, size)
    # MATLAB resizes the axis with the smaller scale first (height first on a tie). The two
    # 1-D passes commute mathematically; the order only changes rounding at the 1e-15 level.
    order = (0, 1) if scales[0] <= scales[1] else (1, 0)
    for axis in order:
        if out_size[axis] == in_size[axis] and scales[axis] == 1:
            continue
        matrix = _resize_matrix_tensor(
            in_size[axis], out_size[axis], scales[axis], x.dtype, x.device
        )
        if axis == 0:
            x = torch.einsum("oh,...hw->...ow", matrix, x)
        else:
            x = torch.einsum("...hw,ow->...ho", x, matrix)
    return x


# --------------------------------------------------------------------------------------------
# Colour and cropping
# --------------------------------------------------------------------------------------------


def rgb_to_y(img: np.ndarray, round_uint8: bool = False) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` luma (BT.601 studio range) of an H x W x 3 image in [0, 255].

    Returns float64 Y in [16, 235]. With ``round_uint8`` the result is rounded to the nearest
    integer and returned as uint8, which is what MATLAB returns for uint8 input (and what an
    8-bit luma plane holds). A 2-D (single-channel) image is returned as it is, unconverted:
    the common SR evaluation scores gray images on their full 0..255 range.
    """
    if img.ndim == 2:
        return img
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb_to_y needs H x W or H x W x 3, got shape {img.shape}")
    rgb = img.astype(np.float64)
    coeffs = np.asarray(Y_COEFFS, dtype=np.float64) / PIXEL_MAX
    y = Y_OFFSET + rgb @ coeffs
    if round_uint8:
        # MATLAB rounds half away from zero; Y > 0 so floor(y + 0.5) is the same.
        return np.floor(y + 0.5).astype(np.uint8)
    return y


def modcrop(img: np.ndarray, modulo: int) -> np.ndarray:
    """Crop H and W down to multiples of ``modulo``, keeping the top-left corner."""
    h = img.shape[0] - img.shape[0] % modulo
    w = img.shape[1] - img.shape[1] % modulo
    return img[:h, :w]


# --------------------------------------------------------------------------------------------
# 8-bit quantisation and LR images
# --------------------------------------------------------------------------------------------


def quantise_8bit(x: torch.Tensor) -> torch.Tensor:
    """Float tensor in [0, 1] -> uint8: clipped, then rounded to the nearest of the 256 levels.

    ``floor(x * 255 + 0.5)``: MATLAB's rounding (half away from zero) for x >= 0, which is what
    MATLAB returns for uint8 images and what saving the image as a PNG keeps.
    """
    return torch.floor(x.clamp(0.0, 1.0) * PIXEL_MAX + 0.5).to(torch.uint8)


def downscale_8bit(hr: torch.Tensor, scale: int = SCALE) -> torch.Tensor:
    """uint8 HR (N, C, H, W) or (C, H, W) -> uint8 LR: MATLAB ``imresize(hr, 1/scale)``.

    The LR image of the training crops and of the benchmark evaluation alike: ``imresize`` of
    HR / 255 in float64 (antialiased bicubic), clipped to [0, 1] and rounded to 8 bits, as
    MATLAB returns it for a uint8 image and as a benchmark LR PNG holds it. H and W must be
    multiples of ``scale`` (crop the HR image first, see ``modcrop``).
    """
    if hr.dtype != torch.uint8:
        raise TypeError(f"downscale_8bit needs a uint8 tensor, got {hr.dtype}")
    if hr.shape[-2] % scale or hr.shape[-1] % scale:
        raise ValueError(
            f"downscale_8bit: HR size {tuple(hr.shape[-2:])} is not a multiple of {scale}"
        )
    lr = imresize(hr.to(torch.float64) / PIXEL_MAX, scale=1 / scale)
    return quantise_8bit(lr)


# --------------------------------------------------------------------------------------------
# Tensor <-> array
# --------------------------------------------------------------------------------------------


def to_tensor(img: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """H x W or H x W x C image in [0, 255] (any dtype) -> (1, C, H, W) float tensor in [0, 1]."""
    arr = img[:, :, None] if img.ndim == 2 else img
    t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    return t.to(dtype).div_(PIXEL_MAX).unsqueeze(0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) tensor in [0, 1] -> H x W x C uint8 (H x W when C == 1).

    Clips to [0, 1] and rounds to the nearest level, as saving the image as a PNG would.
    """
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"to_uint8 needs a batch of one, got shape {tuple(x.shape)}")
        x = x[0]
    arr = quantise_8bit(x.detach().to("cpu", torch.float64)).numpy().transpose(1, 2, 0)
    return arr[:, :, 0] if arr.shape[2] == 1 else arr


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
