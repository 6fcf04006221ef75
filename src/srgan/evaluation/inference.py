"""Inference with a trained generator: load a checkpoint, upscale tensors (tiled), upscale files.

A generator file (``final.pt`` or a resumable ``checkpoints/step_*.pt``) is read by
:func:`srgan.models.checkpoints.load_generator` with ``weights_only=True``: no pickled code is ever
run.

Gray images: the generator is RGB-only; :func:`generator_upscaler` runs a 1-channel image
as RGB (the channel repeated) and averages the three output channels back to one.

Tiling. SRResNet is fully convolutional, so a large image can be processed tile by tile.
Each tile's *core* (``tile`` x ``tile`` LR pixels, a partition of the image) is run with a
margin of ``overlap`` LR pixels of real context on every side (less at the image border,
where the untiled network zero-pads too); the output is cropped back to the core and pasted.
Nothing is blended: when the margin covers the receptive field, every output pixel sees the
same input as in the untiled run, so the result equals the untiled one up to float rounding
(BN is in eval mode, so tiles are normalised identically). The receptive-field radius of
SRResNet in LR pixels (:func:`receptive_radius`) is 2 B + 8 (40 for B = 16), the default margin.

``srgan upscale`` (:func:`upscale_files`) makes its output one band of tile rows at a time,
each quantised to 8 bits and written to the PNG as soon as it is complete
(``imageops.write_png_bands``): the input stays 8-bit, and beyond it the memory used grows with
the tile (the generator's activations, one band of output rows), not with the image. It shows
each image as a viewer does (EXIF orientation applied), keeps an alpha channel (upscaled with
MATLAB-style bicubic interpolation, tiled the same way), and says what it did and wrote.

Imports: models, checkpoints, runtime, imageops and the leaves errors, fileio.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from srgan.core.errors import UserError
from srgan.core.fileio import require_writable
from srgan.core.record import RunRecord
from srgan.core.runtime import resolve_device
from srgan.image.colour import PIXEL_MAX, quantise_8bit
from srgan.image.io import IMAGE_EXTENSIONS, list_image_files, read_photo, write_png_bands
from srgan.image.resize import CUBIC_SUPPORT, imresize
from srgan.models import checkpoints
from srgan.models.networks import IMAGE_CHANNELS, SRResNet

# Image files ``srgan upscale`` accepts (a folder input expands to these, case-insensitively).
# Suffix of an output file: <stem>_x<scale>.png (the checkpoint's scale, 4 in the paper).
OUTPUT_SUFFIX = "_x{scale}.png"

# Receptive field of SRResNet, radius in LR pixels (see receptive_radius):
HEAD_RADIUS = 4  # the first 9x9 conv, at LR resolution
BLOCK_RADIUS = 2  # each residual block: two 3x3 convs at LR resolution
TRUNK_END_RADIUS = 1  # the 3x3 conv after the blocks
TAIL_KERNEL_RADIUS = 4  # the last 9x9 conv, at HR resolution
# LR pixels of context bicubic interpolation needs around a tile (half the kernel's support).
BICUBIC_RADIUS = math.ceil(CUBIC_SUPPORT / 2)
# glibc's mallopt parameter and the value `srgan upscale` fixes it to (glibc's initial one):
# allocations from this size up get their own mapping, returned to the system when freed.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024
# What a PNG of so many channels holds, in the line `srgan upscale` prints per file.
PNG_CONTENTS = {1: "gray", 2: "gray + alpha", 3: "RGB", 4: "RGB + alpha"}


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_generator_with_record(
    path: Path, device: str | torch.device = "auto"
) -> tuple[SRResNet, RunRecord | None]:
    """The generator of a checkpoint (eval mode, frozen, on ``device``) and its run record
    (None for a file without one: a snapshot, a resumable ``step_*.pt``). A ``final.pt`` is
    checked against its final.json and its folder (``checkpoints.check_final``)."""
    return checkpoints.load_generator(path, resolve_device(device))


def load_generator(path: Path, device: str | torch.device = "auto") -> SRResNet:
    """The generator of a checkpoint, in eval mode, frozen, on ``device``."""
    return load_generator_with_record(path, device)[0]


# --------------------------------------------------------------------------------------------
# Upscaling tensors
# --------------------------------------------------------------------------------------------


def receptive_radius(num_blocks: int, scale: int) -> int:
    """Receptive-field radius of SRResNet in LR pixels, rounded up (2 B + 8 at scale 4).

    An output pixel depends on LR pixels within this distance: the 9x9 head (4), two 3x3
    convs per residual block (2 each), the 3x3 trunk-end conv (1), the 3x3 conv of each
    sub-pixel step at 1, 2, 4, ... times the LR resolution (1 + 1/2 + ...), and the 9x9 tail
    at HR resolution (4 / scale), rounded up to whole LR pixels. tests/test_inference.py checks
    it against autograd (the gradient of one output pixel is non-zero exactly this far out).
    """
    steps = round(math.log2(scale))
    upsample = sum(1 / 2**k for k in range(steps))
    radius = (
        HEAD_RADIUS
        + BLOCK_RADIUS * num_blocks
        + TRUNK_END_RADIUS
        + upsample
        + TAIL_KERNEL_RADIUS / scale
    )
    return math.ceil(radius)


def default_overlap(generator: SRResNet) -> int:
    """The margin that makes tiling exact for this generator: its receptive-field radius."""
    config = generator.config
    return receptive_radius(config["num_blocks"], config["scale"])


def _run(generator: torch.nn.Module, lr: torch.Tensor) -> torch.Tensor:
    """Generator output for an LR batch (run on the generator's device, returned on lr's),
    mapped from [-1, 1] to [0, 1] and clamped."""
    device = next(generator.parameters()).device
    sr = generator(lr.to(device, torch.float32))
    return ((sr + 1) / 2).clamp_(0.0, 1.0).to(lr.device)


def check_tiling(tile: int, overlap: int | None) -> None:
    """A UserError unless ``tile`` >= 0 (0: the whole image) and ``overlap`` >= 0 (or None)."""
    if tile < 0:
        raise UserError(f"--tile must be >= 0 LR pixels (0: the whole image at once), got {tile}")
    if overlap is not None and overlap < 0:
        raise UserError(f"--overlap must be >= 0 LR pixels, got {overlap}")


def _spans(length: int, tile: int) -> list[tuple[int, int]]:
    """[start, end) of the tiles along one axis (one span when ``tile <= 0``)."""
    step = tile if tile > 0 else length
    return [(start, min(start + step, length)) for start in range(0, length, step)]


def _tiled(
    run: Callable[[torch.Tensor], torch.Tensor],
    lr: torch.Tensor,
    tile: int,
    overlap: int,
    scale: int,
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """(core row start, core column start, ``run``'s output for the core) of each tile, row of
    tiles by row of tiles. ``run`` sees the core with ``overlap`` LR pixels of context."""
    height, width = lr.shape[-2:]
    for y0, y1 in _spans(height, tile):
        top, bottom = max(y0 - overlap, 0), min(y1 + overlap, height)
        for x0, x1 in _spans(width, tile):
            left, right = max(x0 - overlap, 0), min(x1 + overlap, width)
            sr = run(lr[..., top:bottom, left:right])
            yield (
                y0,
                x0,
                sr[
                    ...,
                    scale * (y0 - top) : scale * (y1 - top),
                    scale * (x0 - left) : scale * (x1 - left),
                ],
            )


def upscale_tensor_tiled(
    generator: torch.nn.Module,
    lr: torch.Tensor,
    tile: int,
    overlap: int,
    scale: int,
) -> torch.Tensor:
    """Super-resolve ``lr`` (1, 3, h, w) in [0, 1] tile by tile; returns (1, 3, sh, sw) in [0, 1].

    The image is cut into ``tile`` x ``tile`` cores; each runs with ``overlap`` LR pixels of
    context on every side and only its core's output is kept. ``tile <= 0`` runs the whole
    image at once. Tiles run on the generator's device; the output is assembled on ``lr``'s
    (so a large image can stay in CPU memory). Call under ``torch.inference_mode()``.
    """
    if tile <= 0 or (lr.shape[-2] <= tile and lr.shape[-1] <= tile):
        return _run(generator, lr)
    check_tiling(tile, overlap)
    height, width = lr.shape[-2:]
    out = torch.empty((lr.shape[0], lr.shape[1], scale * height, scale * width), device=lr.device)
    for y0, x0, sr in _tiled(lambda x: _run(generator, x), lr, tile, overlap, scale):
        rows, columns = sr.shape[-2:]
        out[..., scale * y0 : scale * y0 + rows, scale * x0 : scale * x0 + columns] = sr
    return out


def upscale_bands(
    upscaler: Callable[[torch.Tensor], torch.Tensor],
    image: np.ndarray,
    tile: int,
    overlap: int,
    scale: int,
) -> Iterator[np.ndarray]:
    """An 8-bit H x W x C image super-resolved band by band: yields uint8 (scale * rows,
    scale * W, C) arrays top to bottom, each a row of tiles (``tile <= 0``: one band).

    ``upscaler`` maps a (1, C, h, w) float tile in [0, 1] to (1, C, scale h, scale w); each
    tile is converted to float and its output quantised to 8 bits on its own, so only the
    8-bit input and one band of output stay in memory.
    """
    _, width, channels = image.shape
    pixels = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0)  # a view: (1, C, H, W)

    def run(tile_pixels: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return upscaler(tile_pixels.to(torch.float32) / PIXEL_MAX)

    band = np.empty((0, scale * width, channels), dtype=np.uint8)
    for _, x0, sr in _tiled(run, pixels, tile, overlap, scale):
        if x0 == 0:  # a new row of tiles
            if len(band):
                yield band
            band = np.empty((sr.shape[-2], scale * width, channels), dtype=np.uint8)
        core = quantise_8bit(sr[0].to("cpu", torch.float64)).permute(1, 2, 0).numpy()
        band[:, scale * x0 : scale * x0 + core.shape[1]] = core
    yield band


def generator_upscaler(
    generator: SRResNet, tile: int = 0, overlap: int | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """An evaluation Upscaler: (1, C, h, w) LR in [0, 1] -> (1, C, sh, sw) SR in [0, 1].

    C is 3 (RGB) or 1 (gray: run as RGB with the channel repeated, the three output
    channels averaged back to one; a trained generator's outputs for a gray input are
    nearly, not exactly, equal across channels). Tiles are moved to the generator's device;
    the result (float32) is on the input's device. The generator should be in eval mode
    (``load_generator`` does that). ``overlap=None`` uses the receptive-field radius (exact
    tiling).
    """
    check_tiling(tile, overlap)
    margin = default_overlap(generator) if overlap is None else overlap
    scale = generator.config["scale"]

    def upscale(lr: torch.Tensor) -> torch.Tensor:
        gray = lr.shape[1] == 1
        with torch.inference_mode():
            rgb = lr.repeat(1, IMAGE_CHANNELS, 1, 1) if gray else lr
            sr = upscale_tensor_tiled(generator, rgb, tile, margin, scale=scale)
            return sr.mean(dim=1, keepdim=True) if gray else sr

    return upscale


# --------------------------------------------------------------------------------------------
# Upscaling files (srgan upscale)
# --------------------------------------------------------------------------------------------


def expand_inputs(inputs: Sequence[Path]) -> list[Path]:
    """Input files, with each folder replaced by its image files (sorted); UserError if none."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = list_image_files(item)
            if not found:
                raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {item}")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise UserError(f"input not found: {item}")
    return files


def output_paths(inputs: Sequence[Path], output: Path, scale: int) -> list[Path]:
    """Where each SR image goes: ``output/<stem>_x<scale>.png``, or ``output`` itself when
    there is one input and ``output`` ends in ``.png``."""
    output = Path(output)
    if output.suffix.lower() == ".png":
        if len(inputs) != 1:
            raise UserError(
                f"-o {output} names one PNG file but {len(inputs)} inputs were given; "
                "pass a folder instead"
            )
        return [output]
    if output.exists() and not output.is_dir():
        raise UserError(f"-o {output} exists and is not a folder")
    paths = [output / (p.stem + OUTPUT_SUFFIX.format(scale=scale)) for p in inputs]
    seen: dict[Path, Path] = {}
    for source, target in zip(inputs, paths, strict=True):
        if target in seen:
            raise UserError(f"inputs {seen[target]} and {source} would both be written to {target}")
        seen[target] = source
    return paths


def check_targets(inputs: Sequence[Path], targets: Sequence[Path], overwrite: bool) -> None:
    """Refuse (UserError, one line) a target that is one of the inputs (the same file by any
    name: a link, a relative path), always; and a target that exists, unless ``overwrite``."""
    sources = {_file_key(path): path for path in inputs}
    for target in targets:
        source = sources.get(_file_key(target))
        if source is not None:
            raise UserError(
                f"-o {target} is the input {source}: an input is never overwritten (not even "
                "with --overwrite); choose another output"
            )
    existing = [target for target in targets if target.exists()]
    if existing and not overwrite:
        listed = f"{existing[0]}" + (f" and {len(existing) - 1} more" if len(existing) > 1 else "")
        raise UserError(
            f"{listed} exists already: pass --overwrite to replace it, or choose another -o"
        )
    folders = [target for target in existing if target.is_dir()]
    if folders:
        raise UserError(f"-o: {folders[0]} is a folder; it cannot be replaced by an image")


def _file_key(path: Path) -> tuple:
    """What makes two paths the same file: (device, inode) of an existing one, else its
    absolute path with links resolved."""
    try:
        stat = Path(path).stat()
    except OSError:
        return ("path", str(Path(path).resolve()))
    return ("inode", stat.st_dev, stat.st_ino)


def upscale_files(
    inputs: Sequence[Path],
    output: Path,
    checkpoint: Path,
    tile: int = 128,
    overlap: int | None = None,
    device: str = "auto",
    progress: bool = True,
    overwrite: bool = False,
) -> list[Path]:
    """``srgan upscale``: super-resolve image files (PNG, JPEG, ...; gray or colour; any size).

    Each output is an 8-bit PNG (gray in, gray out; alpha kept), ``scale`` times larger (the
    checkpoint's scale), upright as a viewer shows the input (EXIF orientation). ``tile`` LR
    pixels per tile (0 = whole image) with ``overlap`` pixels of context (None = the
    receptive field: exact). The arguments, the inputs and the output folder's writability
    are checked before the generator is loaded, the output files before an image is read:
    an input is never overwritten, an existing output only with ``overwrite``
    (:func:`check_targets`). Prints what it did and wrote; returns the written paths.
    """
    check_tiling(tile, overlap)
    _fix_mmap_threshold()
    files = expand_inputs(inputs)
    output = Path(output)
    require_writable(output.parent if output.suffix.lower() == ".png" else output, f"-o {output}")
    generator, found = load_generator_with_record(checkpoint, device)
    scale = generator.config["scale"]
    targets = output_paths(files, output, scale=scale)
    check_targets(files, targets, overwrite)
    for reason in found.reasons if found is not None else ():
        print(f"note: {checkpoint} is not comparable with the paper's models: {reason}")
    colour = generator_upscaler(generator, tile=0)  # a tile's worth at a time, below
    margin = default_overlap(generator) if overlap is None else overlap
    bar = tqdm(
        list(zip(files, targets, strict=True)),
        desc="upscale",
        unit="img",
        disable=None if progress else True,
    )
    for source, target in bar:
        photo = read_photo(source)
        image = photo.pixels if photo.pixels.ndim == 3 else photo.pixels[:, :, None]
        height, width, channels = image.shape
        bands = upscale_bands(colour, image, tile, margin, scale)
        if photo.alpha is not None:
            alpha = upscale_bands(
                _bicubic(scale), photo.alpha[:, :, None], tile, BICUBIC_RADIUS, scale
            )
            bands = (np.concatenate(pair, axis=2) for pair in zip(bands, alpha, strict=True))
            channels += 1
        write_png_bands(target, scale * height, scale * width, channels, bands)
        for note in photo.notes():
            tqdm.write(f"note: {source}: {note}")
        tqdm.write(
            f"wrote {target} ({scale * width}x{scale * height}, {PNG_CONTENTS[channels]}; "
            f"x{scale} of {source}, {width}x{height})"
        )
    return targets


def _fix_mmap_threshold() -> None:
    """Keep large buffers out of the heap (glibc only; elsewhere nothing happens).

    By default glibc raises its mmap threshold each time a large buffer is freed, so the
    per-tile buffers of a long run of tiles come from the heap, which fragments and grows
    with the number of tiles. A fixed threshold gives each large buffer its own mapping,
    returned when freed (figures: docs/benchmarks.md).
    """
    libc = ctypes.CDLL(None)  # this process's own symbols: the C library's among them
    if hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def _bicubic(scale: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """MATLAB-style bicubic upscaling of a float tile in [0, 1] (the alpha channel)."""
    return lambda x: imresize(x.to(torch.float64), scale=scale).clamp(0.0, 1.0)
