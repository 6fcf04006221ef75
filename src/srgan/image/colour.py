"""Pixel values and colour: 8-bit levels, tensors, and MATLAB's luma (BT.601).

``rgb_to_y`` is MATLAB's ``rgb2ycbcr`` luma, the channel the paper scores PSNR and SSIM on;
``quantise_8bit`` rounds as MATLAB does for uint8 images (and as a saved PNG keeps), and
``round_levels`` rounds values already on the 0..255 scale the same way;
``to_tensor`` and ``to_uint8`` move an image between uint8 arrays and [0, 1] tensors.

Uses nothing else of the package.
"""

from __future__ import annotations

import numpy as np
import torch

# MATLAB rgb2ycbcr (ITU-R BT.601, studio range) luma for R, G, B in [0, 255]:
# Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255.
Y_OFFSET = 16.0
Y_COEFFS = (65.481, 128.553, 24.966)
#: The largest 8-bit level: uint8 / PIXEL_MAX is in [0, 1].
PIXEL_MAX = 255.0
#: The largest 16-bit level (16-bit PNGs are scaled to 8 bits by it).
UINT16_MAX = 65535.0

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


def quantise_8bit(x: torch.Tensor) -> torch.Tensor:
    """Float tensor in [0, 1] -> uint8: clipped, then rounded to the nearest of the 256 levels.

    ``floor(x * 255 + 0.5)``: MATLAB's rounding (half away from zero) for x >= 0, which is what
    MATLAB returns for uint8 images and what saving the image as a PNG keeps.
    """
    return round_levels(x * PIXEL_MAX)


def round_levels(levels: torch.Tensor) -> torch.Tensor:
    """Float tensor of 8-bit levels (0..255 scale) -> uint8: clipped to [0, 255], then rounded
    half up, ``floor(levels + 0.5)`` (MATLAB's rounding for values >= 0)."""
    return torch.floor(levels.clamp(0.0, PIXEL_MAX) + 0.5).to(torch.uint8)


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
