"""Image quality metrics: PSNR, Wang et al. SSIM, and the "daala" SSIM the paper used.

All functions take two same-shaped numpy images (H x W, or H x W x C scored over all
channels) on the 0..255 scale, remove ``border`` pixels from every side first, and return a
Python float. Colour conversion (Y channel) is the caller's job.

``ssim_wang`` is the common SSIM of Wang et al. (2004) as SR papers compute it (the reference
MATLAB ``ssim_index.m``): 11x11 Gaussian window with sigma 1.5, "valid" filtering (no
padding), K1 = 0.01, K2 = 0.03, L = 255, mean over the map.

``ssim_daala`` follows Xiph's daala ``tools/dump_ssim.c`` (the SRGAN paper's tool): integer
8-bit planes, a quantised Gaussian whose sigma grows with the image height, windows truncated
at the border and each pixel weighted by its in-image window weight (docs/evaluation.md).

This module uses nothing else of the package.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

# Peak value of an 8-bit image.
PEAK_8BIT = 255.0

# SSIM stabilising constants (Wang et al. 2004): C1 = (K1 L)^2, C2 = (K2 L)^2.
SSIM_K1 = 0.01
SSIM_K2 = 0.03

# Wang et al. window: 11x11 Gaussian, sigma 1.5.
WANG_SIGMA = 1.5
WANG_WINDOW = 11

# daala dump_ssim: sigma = plane height * 1.5 / 256 (1.5 at a height of 256).
DAALA_SIGMA_PER_HEIGHT = 1.5 / 256
# daala quantises the Gaussian to integer weights summing to 2^8.
DAALA_KERNEL_WEIGHT = 256


def _shave(img: np.ndarray, border: int) -> np.ndarray:
    if border == 0:
        return img
    return img[border:-border, border:-border]


def _prepare(a: np.ndarray, b: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if border < 0 or 2 * border >= min(a.shape[0], a.shape[1]):
        raise ValueError(f"border {border} too large for an image of shape {a.shape}")
    return _shave(a, border).astype(np.float64), _shave(b, border).astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray, border: int, peak: float = PEAK_8BIT) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(peak^2 / MSE), after removing ``border``.

    Identical images give ``inf``.
    """
    x, y = _prepare(a, b, border)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


# --------------------------------------------------------------------------------------------
# Wang et al. SSIM
# --------------------------------------------------------------------------------------------


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(r * r) / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable 2-D filtering of a 2-D array, keeping only the fully-inside ("valid") part."""
    out = ndimage.correlate1d(img, kernel, axis=0, mode="constant")
    out = ndimage.correlate1d(out, kernel, axis=1, mode="constant")
    half = len(kernel) // 2
    return out[half:-half, half:-half]


def _ssim_wang_plane(x: np.ndarray, y: np.ndarray) -> float:
    if min(x.shape) < WANG_WINDOW:
        raise ValueError(f"image of shape {x.shape} is smaller than the SSIM window")
    c1 = (SSIM_K1 * PEAK_8BIT) ** 2
    c2 = (SSIM_K2 * PEAK_8BIT) ** 2
    g = _gaussian_1d(WANG_WINDOW, WANG_SIGMA)
    mu_x = _filter_valid(x, g)
    mu_y = _filter_valid(y, g)
    sxx = _filter_valid(x * x, g) - mu_x * mu_x
    syy = _filter_valid(y * y, g) - mu_y * mu_y
    sxy = _filter_valid(x * y, g) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def ssim_wang(a: np.ndarray, b: np.ndarray, border: int) -> float:
    """Wang et al. SSIM (11x11 Gaussian, sigma 1.5, valid window), mean over channels."""
    x, y = _prepare(a, b, border)
    if x.ndim == 2:
        return _ssim_wang_plane(x, y)
    return float(np.mean([_ssim_wang_plane(x[..., c], y[..., c]) for c in range(x.shape[2])]))


# --------------------------------------------------------------------------------------------
# daala SSIM
# --------------------------------------------------------------------------------------------


def daala_kernel(sigma: float, max_len: int) -> np.ndarray:
    """daala's integer Gaussian kernel (``gaussian_filter_init``), as an int64 array.

    Half-length floor(sigma sqrt(-2 ln s)) with s = sqrt(pi/2) sigma / 256 (0 when s >= 1),
    capped at ``max_len`` - 1; each side weight is round(256 g(k)) for the normalised Gaussian
    g(k) = exp(-k^2 / (2 sigma^2)) / (sqrt(2 pi) sigma); the centre takes what is left of 256.
    """
    s = math.sqrt(0.5 * math.pi) * sigma / DAALA_KERNEL_WEIGHT
    half = 0.0 if s >= 1 else math.floor(sigma * math.sqrt(-2.0 * math.log(s)))
    half_len = max_len - 1 if half >= max_len else int(half)
    k = np.arange(1, half_len + 1, dtype=np.float64)
    g = np.exp(-0.5 * k * k / (sigma * sigma)) / (math.sqrt(2 * math.pi) * sigma)
    side = np.floor(DAALA_KERNEL_WEIGHT * g + 0.5).astype(np.int64)
    centre = DAALA_KERNEL_WEIGHT - 2 * int(side.sum())
    return np.concatenate([side[::-1], [centre], side])


def _filter_truncated(img: np.ndarray, kv: np.ndarray, kh: np.ndarray) -> np.ndarray:
    """Separable windowed sums with the window truncated at the border (zeros outside)."""
    out = ndimage.correlate1d(img, kv, axis=0, mode="constant", cval=0.0)
    return ndimage.correlate1d(out, kh, axis=1, mode="constant", cval=0.0)


def ssim_daala(a: np.ndarray, b: np.ndarray, border: int) -> float:
    """daala's SSIM of two 8-bit gray planes (H x W), after removing ``border`` pixels.

    The inputs must hold integers in 0..255 (daala reads 8-bit planes); the border is
    removed first, so sigma follows the height of the plane actually scored. All windowed
    sums are integers below 2^53, hence exact in float64, as daala's int64 accumulators.
    """
    x, y = _prepare(a, b, border)
    if x.ndim != 2:
        raise ValueError(f"ssim_daala needs a single plane (H x W), got shape {a.shape}")
    if not (np.array_equal(x, np.round(x)) and x.min() >= 0 and x.max() <= PEAK_8BIT):
        raise ValueError("ssim_daala needs 8-bit integer planes (values 0..255)")
    if not (np.array_equal(y, np.round(y)) and y.min() >= 0 and y.max() <= PEAK_8BIT):
        raise ValueError("ssim_daala needs 8-bit integer planes (values 0..255)")
    h, w = x.shape
    sigma = h * DAALA_SIGMA_PER_HEIGHT  # daala uses the height for both directions
    kv = daala_kernel(sigma, min(w, h)).astype(np.float64)
    kh = kv  # the horizontal sigma is the same (pixel aspect ratio 1)
    weight = _filter_truncated(np.ones_like(x), kv, kh)
    mux = _filter_truncated(x, kv, kh)
    muy = _filter_truncated(y, kv, kh)
    x2 = _filter_truncated(x * x, kv, kh)
    y2 = _filter_truncated(y * y, kv, kh)
    xy = _filter_truncated(x * y, kv, kh)
    # Unnormalised moments (sums weighted by w), as daala: the constants scale with w^2.
    c1 = (SSIM_K1 * PEAK_8BIT) ** 2 * weight * weight
    c2 = (SSIM_K2 * PEAK_8BIT) ** 2 * weight * weight
    mx2 = mux * mux
    my2 = muy * muy
    mxy = mux * muy
    ssim_map = ((2 * mxy + c1) * (c2 + 2 * (xy * weight - mxy))) / (
        (mx2 + my2 + c1) * (x2 * weight - mx2 + y2 * weight - my2 + c2)
    )
    return float(np.sum(weight * ssim_map) / np.sum(weight))
