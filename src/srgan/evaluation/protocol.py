"""The paper's evaluation protocol: x4 benchmark LR images, baselines, PSNR and SSIM on Y.

Protocol (the paper's Section 4.1; docs/evaluation.md), with the choices
the paper leaves open:

1. The HR image is cropped to a multiple of the scale (4), keeping the top-left corner.
2. The LR image is MATLAB ``imresize(hr, 1/4, 'bicubic')`` (antialiased), **rounded to 8 bits**,
   as the benchmark LR PNGs (and any LR image an SR method reads from disk) are. Keeping it
   unrounded moves the means by up to 0.013 dB; rounding matches Table 2 slightly better.
   It is ``srgan.image.resize.downscale_8bit``, which makes the training LR crops too.
3. The upscaler maps the LR image (float in [0, 1], shape (1, C, h, w)) to SR (1, C, 4h, 4w).
   The SR image is clipped and **quantised to 8-bit** before scoring, as a saved PNG would be.
4. Both images go to luma with MATLAB ``rgb2ycbcr`` on uint8 input, i.e. Y **rounded to an
   8-bit plane** (daala's tools read 8-bit planes; MATLAB rounds for uint8 input). A
   single-channel image (Set14 ``bridge``) is scored as it is, on its 0..255 range.
   (Unrounded Y would move the PSNR means by up to 0.012 dB, and would not suit daala.)
5. A 4-pixel strip is removed from each border; PSNR, daala SSIM and Wang SSIM are computed
   on what is left. daala's SSIM sees the **cropped** plane, so its sigma follows the cropped
   height (as if the cropped planes were handed to daala's ``dump_ssim``). This matches
   Table 2's SSIM best: for BSD100 within 0.0005, while the uncropped plane is 0.004 off.
   So an HR image needs ``min_side(4)`` (20) pixels a side, for an 11x11 Wang window to fit;
   smaller ones are refused, all named, before any set is scored.

With these choices the NN and bicubic rows of Table 2 are reproduced within 0.02 dB PSNR and
0.0015 SSIM (tests/test_evaluation.py).

Beside them, ours and not the paper's: the mean CIEDE2000 colour difference of the RGB images
(``ciede2000``, ``srgan.metrics.colour``), per image and per set, with the same border removed:
luma alone cannot see a hue drift. A ``srgan.metrics.perceptual.PerceptualScorer`` adds LPIPS
and NIQE (``lpips``, ``lpips_vgg``, ``niqe``) per image and per set, on the same SR/HR pair
with the same border.

``training_evaluator(config)`` is the score ``srgan train`` logs during training: PSNR and
SSIM of the generator on the set :func:`srgan.core.variants.training_eval_set` names.

The scale is always the caller's (the configuration's ``scale``); the border is the paper's
(``srgan.core.paper.BORDER``). This module uses ``srgan.image``, ``srgan.metrics`` (the
perceptual scorer is given by the caller), ``srgan.evaluation.inference`` (to run a
generator) and ``srgan.core``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from srgan.core import paths, variants
from srgan.core.config import Config
from srgan.core.errors import UserError
from srgan.core.paper import BORDER
from srgan.image.colour import PIXEL_MAX, rgb_to_y, to_uint8
from srgan.image.io import IMAGE_EXTENSIONS, image_size, list_image_files, read_image, write_png
from srgan.image.resize import downscale_8bit, imresize, modcrop
from srgan.metrics.colour import CIEDE2000_KEY, ciede2000
from srgan.metrics.distortion import WANG_WINDOW, psnr, ssim_daala, ssim_wang
from srgan.metrics.perceptual import PerceptualScorer

#: Images too small to score named one by one in the error; the rest are counted.
MAX_LISTED_SMALL = 10

# An upscaler takes an LR image, float in [0, 1], shape (1, C, h, w), and returns the SR image,
# float in [0, 1] (values outside are clipped when scored), shape (1, C, scale h, scale w).
Upscaler = Callable[[torch.Tensor], torch.Tensor]


def min_side(scale: int) -> int:
    """The smallest side of a scorable HR image: cropped to a multiple of ``scale``, less
    ``BORDER`` on each side, it must still hold one Wang SSIM window (20 pixels at x4)."""
    return scale * math.ceil((2 * BORDER + WANG_WINDOW) / scale)


# --------------------------------------------------------------------------------------------
# LR images and baselines
# --------------------------------------------------------------------------------------------


def make_lr(hr: np.ndarray, scale: int) -> tuple[np.ndarray, torch.Tensor]:
    """HR uint8 image -> (HR cropped to a multiple of ``scale``, LR float32 (1, C, h, w) in
    [0, 1]).

    The LR image is ``downscale_8bit`` of the cropped HR (MATLAB-bicubic x1/scale in float64,
    rounded to 8-bit levels like a benchmark LR PNG), exactly as the training crops get
    theirs. C is 1 for a gray (H x W) image, 3 otherwise.
    """
    hr = modcrop(hr, scale)
    chw = hr[None] if hr.ndim == 2 else hr.transpose(2, 0, 1)
    lr = downscale_8bit(torch.from_numpy(np.ascontiguousarray(chw)).unsqueeze(0), scale)
    return hr, lr.to(torch.float32) / PIXEL_MAX


def upscale_nearest(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Nearest-neighbour upscaling: every LR pixel becomes a ``scale`` x ``scale`` block."""
    return lr.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)


def upscale_bicubic(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB-bicubic upscaling (in float64, clipped to [0, 1], returned in lr's dtype)."""
    return imresize(lr.to(torch.float64), scale=scale).clamp(0.0, 1.0).to(lr.dtype)


_BASELINES: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    variants.NEAREST: upscale_nearest,
    variants.BICUBIC: upscale_bicubic,
}


def baseline_upscaler(method: str, scale: int) -> Upscaler:
    """The NN ("nearest") or "bicubic" baseline of Table 2 as an Upscaler."""
    try:
        return functools.partial(_BASELINES[method], scale=scale)
    except KeyError:
        raise UserError(
            f"unknown baseline method {method!r} (choose from {', '.join(_BASELINES)})"
        ) from None


def three_channel(upscaler: Upscaler) -> Upscaler:
    """Wrap an RGB-only upscaler (a generator) so it also accepts 1-channel LR images.

    A (1, 1, h, w) input is repeated to 3 channels, upscaled, and the 3 output channels are
    averaged back to 1 (a trained generator's outputs for a gray input are nearly, not
    exactly, equal across channels). 3-channel input passes through unchanged.
    """

    def wrapped(lr: torch.Tensor) -> torch.Tensor:
        if lr.shape[1] != 1:
            return upscaler(lr)
        return upscaler(lr.repeat(1, 3, 1, 1)).mean(dim=1, keepdim=True)

    return wrapped


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


#: The keys :func:`score` returns, in order: the paper's protocol on Y, then our colour measure.
SCORE_KEYS = ("psnr", "ssim", "ssim_wang", CIEDE2000_KEY)


def score(sr: np.ndarray, hr: np.ndarray) -> dict[str, float]:
    """PSNR, daala SSIM ("ssim") and Wang SSIM ("ssim_wang") of two uint8 images, on luma as
    the paper scores them, and the mean CIEDE2000 colour difference ("ciede2000") on RGB.

    Both are H x W x 3 (converted to 8-bit Y for PSNR and SSIM, to CIELAB for CIEDE2000) or
    H x W (scored as they are; gray for CIEDE2000); BORDER pixels are removed from each side
    first.
    """
    if sr.shape != hr.shape:
        raise ValueError(f"SR shape {sr.shape} differs from HR shape {hr.shape}")
    if sr.dtype != np.uint8 or hr.dtype != np.uint8:
        raise ValueError(f"score needs uint8 images, got {sr.dtype} and {hr.dtype}")
    y_sr = rgb_to_y(sr, round_uint8=True)
    y_hr = rgb_to_y(hr, round_uint8=True)
    return {
        "psnr": psnr(y_sr, y_hr, border=BORDER),
        "ssim": ssim_daala(y_sr, y_hr, border=BORDER),
        "ssim_wang": ssim_wang(y_sr, y_hr, border=BORDER),
        CIEDE2000_KEY: ciede2000(sr, hr, border=BORDER),
    }


def list_images(hr_dir: Path) -> list[Path]:
    """The image files of a benchmark folder, sorted by name; UserError if none or missing.

    Two images with one name (``a.png``, ``a.jpg``) are a UserError too: results are keyed
    by the name without extension.
    """
    if not hr_dir.is_dir():
        raise UserError(f"dataset folder not found: {hr_dir}")
    files = list_image_files(hr_dir)
    if not files:
        raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in dataset folder {hr_dir}")
    stems = [p.stem for p in files]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise UserError(f"several images share the name {duplicates[0]!r} in {hr_dir}")
    return files


def check_datasets(data_dir: Path, datasets: Iterable[str], scale: int) -> None:
    """A UserError before any work: a missing or empty set, two images with one name, an image
    too small to score (every set listed and its sizes read from the file headers)."""
    files = [path for name in datasets for path in list_images(Path(data_dir) / name)]
    check_sizes(files, scale)


def check_sizes(files: list[Path], scale: int) -> None:
    """A UserError naming every image smaller than :func:`min_side` pixels a side (read from
    the file headers, so a whole set is checked before any image of it is scored)."""
    smallest = min_side(scale)
    small = []
    for path in files:
        height, width = image_size(path)
        if min(height, width) < smallest:
            small.append(f"{path} ({width}x{height})")
    if small:
        listed = ", ".join(small[:MAX_LISTED_SMALL])
        more = f" and {len(small) - MAX_LISTED_SMALL} more" if len(small) > MAX_LISTED_SMALL else ""
        raise UserError(
            f"{len(small)} image(s) too small to score: {listed}{more}; the protocol needs at "
            f"least {smallest}x{smallest} pixels (cropped to a multiple of {scale}, a "
            f"{BORDER}-pixel border removed, an {WANG_WINDOW}x{WANG_WINDOW} SSIM window left): "
            "remove them from the set"
        )


def super_resolve(
    upscaler: Upscaler, lr: torch.Tensor, device: str | torch.device, scale: int
) -> np.ndarray:
    """Run ``upscaler`` on one LR image and return the SR image quantised to uint8."""
    with torch.inference_mode():
        sr = upscaler(lr.to(device))
    expected = (*lr.shape[:2], scale * lr.shape[2], scale * lr.shape[3])
    if tuple(sr.shape) != expected:
        raise ValueError(f"upscaler returned shape {tuple(sr.shape)}, expected {expected}")
    return to_uint8(sr)


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return math.fsum(values) / len(values)


def evaluate_dataset(
    upscaler: Upscaler,
    hr_dir: Path,
    scale: int,
    save_dir: Path | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
    perceptual: PerceptualScorer | None = None,
) -> dict:
    """Score ``upscaler`` on every image of ``hr_dir``.

    Returns the means of :data:`SCORE_KEYS` (``psnr``, ``ssim``: daala's, ``ssim_wang``,
    ``ciede2000``), ``n_images`` and ``images`` (per file stem, the same scores). The LR
    image is moved to ``device`` before the upscaler runs. With ``save_dir`` each SR image is
    written to ``save_dir/<stem>.png``. With ``perceptual``, its keys (``lpips``, ``niqe``, ...) are
    added per image and as means, after ``ciede2000``.
    """
    hr_dir = Path(hr_dir)
    files = list_images(hr_dir)
    check_sizes(files, scale)
    images: dict[str, dict[str, float]] = {}
    bar = tqdm(files, desc=hr_dir.name, unit="img", disable=None if progress else True)
    for path in bar:
        hr, lr = make_lr(read_image(path), scale)
        sr = super_resolve(upscaler, lr, device, scale)
        if save_dir is not None:
            write_png(Path(save_dir) / f"{path.stem}.png", sr)
        images[path.stem] = score(sr, hr)
        if perceptual is not None:
            images[path.stem].update(perceptual.score(sr, hr, border=BORDER))
    keys = (*SCORE_KEYS, *(perceptual.keys if perceptual else ()))
    means = {key: _mean(s[key] for s in images.values()) for key in keys}
    return {**means, "n_images": len(images), "images": images}


def evaluate(
    upscaler: Upscaler,
    data_dir: Path,
    datasets: Iterable[str],
    scale: int,
    save_dir: Path | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
    perceptual: PerceptualScorer | None = None,
) -> dict:
    """Evaluate ``upscaler`` on ``data_dir/<dataset>`` for each dataset (e.g. Set5, Set14).

    Returns ``{dataset: evaluate_dataset(...)}``; SR images go to ``save_dir/<dataset>/``.
    Identical images score PSNR ``inf`` (JSON writes it as ``Infinity``). Every set is listed
    and its image sizes checked before any is scored.
    """
    data_dir = Path(data_dir)
    datasets = list(datasets)
    check_datasets(data_dir, datasets, scale)
    return {
        name: evaluate_dataset(
            upscaler,
            data_dir / name,
            scale,
            save_dir=None if save_dir is None else Path(save_dir) / name,
            progress=progress,
            device=device,
            perceptual=perceptual,
        )
        for name in datasets
    }


# --------------------------------------------------------------------------------------------
# Scoring during training
# --------------------------------------------------------------------------------------------


def training_evaluator(config: Config) -> Callable[[torch.nn.Module], dict[str, float]] | None:
    """PSNR and SSIM (daala) of a generator on :func:`srgan.core.variants.training_eval_set`, as
    ``{"<set>_psnr", "<set>_ssim"}``: what ``srgan train`` logs every ``train.eval_every``
    steps. None (with a note) when training scores nothing or the set's folder is missing; a
    UserError before any step when the set is empty or has an image too small to score."""
    from srgan.evaluation.inference import generator_upscaler

    dataset = variants.training_eval_set(config)
    if dataset is None:
        return None
    data_dir = paths.test_sets_dir(config)
    if not (data_dir / dataset).is_dir():
        print(f"note: no test set {data_dir / dataset} to score during training")
        return None
    check_datasets(
        data_dir, [dataset], config.scale
    )  # a bad set stops training now, not at its first score

    def evaluate_generator(generator: torch.nn.Module) -> dict[str, float]:
        upscaler = generator_upscaler(generator, tile=config.evaluate.tile)
        device = next(generator.parameters()).device
        scores = evaluate(
            upscaler, data_dir, [dataset], config.scale, progress=False, device=device
        )
        return {
            f"{dataset}_psnr": scores[dataset]["psnr"],
            f"{dataset}_ssim": scores[dataset]["ssim"],
        }

    return evaluate_generator
