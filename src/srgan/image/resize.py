"""MATLAB-compatible bicubic resize, and the one function that makes an LR image.

``imresize`` is a port of MATLAB's ``imresize(x, scale, 'bicubic')`` (Keys cubic, a = -0.5,
antialiased when downscaling, symmetric borders). It is what makes the LR images, both for the
benchmark evaluation and for training patches, so it works on batched torch tensors, on any
device, in float32 or float64. It reproduces MATLAB's output to about 1e-12 in float64
(checked against MATLAB-produced vectors in tests/test_imageops.py).

``downscale_8bit`` is the one place that makes an LR image from an HR one (MATLAB bicubic
x1/scale rounded to 8 bits): the training batches (``srgan.data.patches``, on the CPU or on the
GPU) and the benchmark evaluation (``srgan.evaluation.protocol``) all call it, so a training LR
crop is bit-exactly the evaluation LR of the same pixels. Its sums are exact for the
power-of-two scales (2, 4, 8: :func:`exact_downscale`), so the LR is the same on every device
and in any summation order, exact .5 ties included. ``modcrop`` crops an HR image to a multiple
of the scale first. The scale is always the caller's (the configuration's ``scale``).

Uses ``srgan.image.colour`` (8-bit levels) and nothing else of the package.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from srgan.image.colour import round_levels

# Keys' cubic convolution kernel parameter, as in MATLAB's imresize 'bicubic'.
CUBIC_A = -0.5
# Support of the cubic kernel (it is zero outside [-2, 2]).
CUBIC_SUPPORT = 4.0

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


def modcrop(img: np.ndarray, modulo: int) -> np.ndarray:
    """Crop H and W down to multiples of ``modulo``, keeping the top-left corner."""
    h = img.shape[0] - img.shape[0] % modulo
    w = img.shape[1] - img.shape[1] % modulo
    return img[:h, :w]


# --------------------------------------------------------------------------------------------
# 8-bit quantisation and LR images
# --------------------------------------------------------------------------------------------


def downscale_8bit(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """uint8 HR (N, C, H, W) or (C, H, W) -> uint8 LR: MATLAB ``imresize(hr, 1/scale)``.

    The LR image of the training crops and of the benchmark evaluation alike: ``imresize`` of
    the 8-bit levels in float64 (antialiased bicubic), clipped to [0, 255] and rounded half up
    to 8 bits, as MATLAB returns it for a uint8 image and as a benchmark LR PNG holds it. H and
    W must be multiples of ``scale`` (crop the HR image first, see ``modcrop``).

    The levels are resized as they are (integers, not levels / 255): for the power-of-two
    scales every weight is a multiple of 2**-k with small k (:func:`exact_downscale`), so every
    partial sum is exact in float64 and the result does not depend on the order a device's
    matrix product sums in. Some values land exactly on .5 (the bicubic weights are dyadic):
    they round up on every device, where sums of levels / 255 rounded them either way.
    """
    if hr.dtype != torch.uint8:
        raise TypeError(f"downscale_8bit needs a uint8 tensor, got {hr.dtype}")
    if hr.shape[-2] % scale or hr.shape[-1] % scale:
        raise ValueError(
            f"downscale_8bit: HR size {tuple(hr.shape[-2:])} is not a multiple of {scale}"
        )
    return round_levels(imresize(hr.to(torch.float64), scale=1 / scale))


#: float64's significand: integers up to 2**53 are exact.
FLOAT64_EXACT_BITS = 53
#: The largest 8-bit level, the magnitude the sums of ``downscale_8bit`` start from.
LEVEL_MAX = 255


def exact_downscale(size: tuple[int, int], scale: int) -> bool:
    """Whether ``downscale_8bit`` of an H x W (``size``) image computes exact sums in float64:
    every weight of both passes is a multiple of a power of two 2**-k, and the largest value a
    partial sum can reach, in units of 2**-(k_rows + k_cols), stays below 2**53. True for the
    power-of-two scales (scale 4: k = 12); false for scale 3, whose weights are not dyadic
    (there the order of the sums may still move a value within about 1e-13 of a rounding
    boundary)."""
    bits, reach = 0, float(LEVEL_MAX)
    for length in size:
        matrix = resize_matrix(length, length // scale, 1 / scale)
        k = _dyadic_bits(matrix)
        if k is None:
            return False
        bits += k
        reach *= np.abs(matrix).sum(axis=1).max()
    return math.ldexp(reach, bits) < 2.0**FLOAT64_EXACT_BITS


def _dyadic_bits(matrix: np.ndarray) -> int | None:
    """The least k with every entry of ``matrix`` a multiple of 2**-k (None past float64's)."""
    for k in range(FLOAT64_EXACT_BITS):
        scaled = np.ldexp(matrix, k)
        if np.array_equal(scaled, np.rint(scaled)):
            return k
    return None
