"""Inference with a trained generator: load a checkpoint, upscale tensors (tiled), upscale files.

A generator checkpoint (``final.pt`` or a resumable ``checkpoints/step_*.pt``; see
:mod:`srgan.training`) is a dict holding at least ``model`` (the SRResNet constructor
arguments) and ``generator`` (its state dict). It is read with ``weights_only=True``: no
pickled code is ever run.

Tiling. SRResNet is fully convolutional, so a large image can be processed tile by tile.
Each tile's *core* (``tile`` x ``tile`` LR pixels, a partition of the image) is run with a
margin of ``overlap`` LR pixels of real context on every side (less at the image border,
where the untiled network zero-pads too); the output is cropped back to the core and pasted.
Nothing is blended: when the margin covers the receptive field, every output pixel sees the
same input as in the untiled run, so the result equals the untiled one up to float rounding
(BN is in eval mode, so tiles are normalised identically). The receptive-field radius of
SRResNet in LR pixels (:func:`receptive_radius`) is 2 B + 8 (40 for B = 16), the default margin.

Imports: models, imageops, errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from srgan.errors import UserError
from srgan.imageops import read_image, to_tensor, to_uint8, write_png
from srgan.models import SRResNet

# Image files ``srgan upscale`` accepts (a folder input expands to these, case-insensitively).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Suffix of an output file: <stem>_x4.png.
OUTPUT_SUFFIX = "_x{scale}.png"

# Receptive field of SRResNet, radius in LR pixels (see receptive_radius):
HEAD_RADIUS = 4  # the first 9x9 conv, at LR resolution
BLOCK_RADIUS = 2  # each residual block: two 3x3 convs at LR resolution
TRUNK_END_RADIUS = 1  # the 3x3 conv after the blocks
TAIL_KERNEL_RADIUS = 4  # the last 9x9 conv, at HR resolution


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when available (else CPU); other names as torch spells them."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise UserError(f"unknown device {device!r} (auto, cpu, cuda, cuda:N)") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available here")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise UserError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device {device!r} requested but MPS is not available here")
    return resolved


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def read_checkpoint(path: Path) -> dict[str, Any]:
    """torch.load a generator checkpoint safely (weights_only); UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a torch file, or pickled code refused
        raise UserError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(data, dict) or not {"model", "generator"} <= set(data):
        raise UserError(
            f"{path} is not a generator checkpoint (expected a dict with 'model' and "
            "'generator'; train one with `srgan train`)"
        )
    return data


def generator_from_checkpoint(data: dict[str, Any], source: str | Path) -> SRResNet:
    """Rebuild the SRResNet described by a checkpoint dict and load its weights (CPU)."""
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


def load_generator(path: Path, device: str | torch.device = "auto") -> SRResNet:
    """The generator of a checkpoint, in eval mode, frozen, on ``device``."""
    generator = generator_from_checkpoint(read_checkpoint(path), path)
    generator.requires_grad_(False)
    return generator.eval().to(resolve_device(device))


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
    """An evaluation Upscaler: (1, 3, h, w) LR in [0, 1] -> (1, 3, 4h, 4w) SR in [0, 1].

    Tiles are moved to the generator's device; the result (float32) is on the input's
    device. The generator should be in eval mode (``load_generator`` does that).
    ``overlap=None`` uses the receptive-field radius (exact tiling).
    """
    margin = default_overlap(generator) if overlap is None else overlap
    scale = generator.config["scale"]

    def upscale(lr: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return upscale_tensor_tiled(generator, lr, tile, margin, scale=scale)

    return upscale


# --------------------------------------------------------------------------------------------
# Upscaling files (srgan upscale)
# --------------------------------------------------------------------------------------------


def expand_inputs(inputs: Sequence[Path]) -> list[Path]:
    """Input files, with each folder replaced by its image files (sorted); UserError if none."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(
                p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            )
            if not found:
                raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {item}")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise UserError(f"input not found: {item}")
    return files


def output_paths(inputs: Sequence[Path], output: Path, scale: int = 4) -> list[Path]:
    """Where each SR image goes: ``output/<stem>_x4.png``, or ``output`` itself when there is
    one input and ``output`` ends in ``.png``."""
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


def upscale_image(
    upscaler: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor
) -> torch.Tensor:
    """Upscale a (1, C, h, w) image, C = 1 (gray: run as RGB, channels averaged back) or 3."""
    if image.shape[1] == 1:
        return upscaler(image.repeat(1, 3, 1, 1)).mean(dim=1, keepdim=True)
    return upscaler(image)


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

    Each output is an 8-bit PNG (gray in, gray out). ``tile`` LR pixels per tile (0 = whole
    image) with ``overlap`` pixels of context (None = the receptive field: exact). Returns the
    written paths.
    """
    files = expand_inputs(inputs)
    targets = output_paths(files, output)
    data = read_checkpoint(checkpoint)
    metadata = data.get("metadata", {}) if isinstance(data.get("metadata"), dict) else {}
    if metadata.get("demo") or metadata.get("vgg_weights") == "random":
        print(f"note: {checkpoint} comes from a demo run (tiny model); expect little of it")
    generator = generator_from_checkpoint(data, checkpoint)
    generator.requires_grad_(False)
    generator = generator.eval().to(resolve_device(device))
    upscaler = generator_upscaler(generator, tile=tile, overlap=overlap)
    bar = tqdm(
        list(zip(files, targets, strict=True)),
        desc="upscale",
        unit="img",
        disable=None if progress else True,
    )
    for source, target in bar:
        image = to_tensor(read_image(source))
        write_png(target, to_uint8(upscale_image(upscaler, image)))
    return targets
