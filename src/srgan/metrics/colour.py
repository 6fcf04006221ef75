"""Colour fidelity: the CIEDE2000 colour difference of two 8-bit RGB images, per pixel and mean.

PSNR and SSIM are the paper's protocol, on luma (Y) only: a super-resolved image whose hues
drift (a purple patch turned grey, a sky turned teal) can keep its luma, and so its PSNR and
SSIM. This measure looks at the colour too. It is ours, not the paper's, and not part of its
protocol:

* both images are read as **sRGB** (8-bit, D65 white, 2° observer) and converted to **CIELAB**
  by scikit-image's ``rgb2lab``;
* each pixel's difference is **CIEDE2000** (ΔE00; CIE 142-2001, Sharma, Wu and Dalal 2005),
  scikit-image's ``deltaE_ciede2000`` with its default weights kL = kC = kH = 1. About 1 is a
  just-noticeable difference side by side; 0 is the same colour;
* the same ``border`` is removed from each side as for PSNR and SSIM; the image's score is the
  **mean ΔE00** over the remaining pixels (lower is better; identical images score 0).

A single-channel image (a gray test image, and its super-resolved version) is read as gray
sRGB: a* = b* = 0, so its ΔE00 measures lightness only.

This module uses nothing else of the package.
"""

from __future__ import annotations

import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

#: The evaluation JSON's key of the mean CIEDE2000 (per image and per test set).
CIEDE2000_KEY = "ciede2000"
#: RGB channels of a colour image; a 2-D image is gray.
RGB_CHANNELS = 3


def _rgb(img: np.ndarray) -> np.ndarray:
    """An 8-bit H x W x 3 image; a gray H x W one repeated to 3 channels."""
    if img.dtype != np.uint8:
        raise ValueError(f"CIEDE2000 needs uint8 images, got {img.dtype}")
    if img.ndim == 2:
        return np.repeat(img[..., None], RGB_CHANNELS, axis=2)
    if img.ndim != 3 or img.shape[2] != RGB_CHANNELS:
        raise ValueError(f"CIEDE2000 needs H x W or H x W x 3 images, got shape {img.shape}")
    return img


def to_lab(img: np.ndarray) -> np.ndarray:
    """CIELAB (L* in 0..100) of an 8-bit sRGB image (gray: H x W), float64, H x W x 3."""
    return rgb2lab(_rgb(img))


def lab_difference(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    """CIEDE2000 between two arrays of CIELAB colours (last axis L*, a*, b*), per colour."""
    return deltaE_ciede2000(np.asarray(lab_a, np.float64), np.asarray(lab_b, np.float64))


def ciede2000_map(a: np.ndarray, b: np.ndarray, border: int) -> np.ndarray:
    """ΔE00 of every pixel of two same-shaped 8-bit images, ``border`` pixels removed from
    each side first: an (H - 2 border) x (W - 2 border) float64 map."""
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if border < 0 or 2 * border >= min(a.shape[0], a.shape[1]):
        raise ValueError(f"border {border} too large for an image of shape {a.shape}")
    rows, cols = slice(border, a.shape[0] - border), slice(border, a.shape[1] - border)
    return lab_difference(to_lab(a[rows, cols]), to_lab(b[rows, cols]))


def ciede2000(a: np.ndarray, b: np.ndarray, border: int) -> float:
    """The mean CIEDE2000 colour difference of two 8-bit images after removing ``border``."""
    return float(np.mean(ciede2000_map(a, b, border)))
