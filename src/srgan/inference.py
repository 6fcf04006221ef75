"""Inference with a trained generator: load a checkpoint, upscale tensors (tiled), upscale files.

A generator file (``final.pt`` or a resumable ``checkpoints/step_*.pt``) is read by
:func:`srgan.checkpoints.load_generator` with ``weights_only=True``: no pickled code is ever
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

Imports: models, checkpoints, runtime, imageops, errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from srgan import checkpoints
from srgan.errors import UserError
from srgan.imageops import (
    IMAGE_EXTENSIONS,
    list_image_files,
    read_image,
    to_tensor,
    to_uint8,
    write_png,
)
from srgan.models import IMAGE_CHANNELS, SRResNet
from srgan.runtime import resolve_device

# Image files ``srgan upscale`` accepts (a folder input expands to these, case-insensitively).
# Suffix of an output file: <stem>_x<scale>.png (the checkpoint's scale, 4 in the paper).
OUTPUT_SUFFIX = "_x{scale}.png"

# Receptive field of SRResNet, radius in LR pixels (see receptive_radius):
HEAD_RADIUS = 4  # the first 9x9 conv, at LR resolution
BLOCK_RADIUS = 2  # each residual block: two 3x3 convs at LR resolution
TRUNK_END_RADIUS = 1  # the 3x3 conv after the blocks
TAIL_KERNEL_RADIUS = 4  # the last 9x9 conv, at HR resolution


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_generator_with_metadata(
    path: Path, device: str | torch.device = "auto"
) -> tuple[SRResNet, dict[str, Any]]:
    """The generator of a checkpoint (eval mode, frozen, on ``device``) and the checkpoint's
    ``metadata`` dict ({} when it has none, as in a resumable ``step_*.pt``)."""
    return checkpoints.load_generator(path, resolve_device(device))


def load_generator(path: Path, device: str | torch.device = "auto") -> SRResNet:
    """The generator of a checkpoint, in eval mode, frozen, on ``device``."""
    return load_generator_with_metadata(path, device)[0]


# --------------------------------------------------------------------------------------------
# Upscaling tensors
# --------------------------------------------------------------------------------------------


def receptive_radius(num_blocks: int, scale: int = 4) -> int:
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


def _tile_starts(length: int, tile: int) -> list[int]:
    return list(range(0, length, tile))


def upscale_tensor_tiled(
    generator: torch.nn.Module,
    lr: torch.Tensor,
    tile: int,
    overlap: int,
    scale: int = 4,
) -> torch.Tensor:
    """Super-resolve ``lr`` (1, 3, h, w) in [0, 1] tile by tile; returns (1, 3, sh, sw) in [0, 1].

    The image is cut into ``tile`` x ``tile`` cores; each runs with ``overlap`` LR pixels of
    context on every side and only its core's output is kept. ``tile <= 0`` runs the whole
    image at once. Tiles run on the generator's device; the output is assembled on ``lr``'s
    (so a large image can stay in CPU memory). Call under ``torch.inference_mode()``.
    """
    if tile <= 0 or (lr.shape[-2] <= tile and lr.shape[-1] <= tile):
        return _run(generator, lr)
    if overlap < 0:
        raise UserError(f"tile overlap must be >= 0, got {overlap}")
    height, width = lr.shape[-2:]
    out = torch.empty((lr.shape[0], lr.shape[1], scale * height, scale * width), device=lr.device)
    for y0 in _tile_starts(height, tile):
        for x0 in _tile_starts(width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            top, left = max(y0 - overlap, 0), max(x0 - overlap, 0)
            bottom, right = min(y1 + overlap, height), min(x1 + overlap, width)
            sr = _run(generator, lr[..., top:bottom, left:right])
            out[..., scale * y0 : scale * y1, scale * x0 : scale * x1] = sr[
                ...,
                scale * (y0 - top) : scale * (y1 - top),
                scale * (x0 - left) : scale * (x1 - left),
            ]
    return out


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


def output_paths(inputs: Sequence[Path], output: Path, scale: int = 4) -> list[Path]:
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


def upscale_files(
    inputs: Sequence[Path],
    output: Path,
    checkpoint: Path,
    tile: int = 128,
    overlap: int | None = None,
    device: str = "auto",
    progress: bool = True,
) -> list[Path]:
    """``srgan upscale``: super-resolve image files (PNG, JPEG, ...; gray or colour; any size).

    Each output is an 8-bit PNG (gray in, gray out), ``scale`` times larger (the
    checkpoint's scale). ``tile`` LR pixels per tile (0 = whole
    image) with ``overlap`` pixels of context (None = the receptive field: exact). Returns the
    written paths.
    """
    files = expand_inputs(inputs)
    generator, metadata = load_generator_with_metadata(checkpoint, device)
    targets = output_paths(files, output, scale=generator.config["scale"])
    if metadata.get("demo"):
        print(f"note: {checkpoint} comes from a demo run (tiny model); expect little of it")
    upscaler = generator_upscaler(generator, tile=tile, overlap=overlap)
    bar = tqdm(
        list(zip(files, targets, strict=True)),
        desc="upscale",
        unit="img",
        disable=None if progress else True,
    )
    for source, target in bar:
        image = to_tensor(read_image(source))
        write_png(target, to_uint8(upscaler(image)))
    return targets
