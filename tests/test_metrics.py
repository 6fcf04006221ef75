"""Tests for srgan.metrics.distortion: PSNR, Wang SSIM, daala SSIM."""

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from srgan.core.paper import BORDER
from srgan.metrics.distortion import daala_kernel, psnr, ssim_daala, ssim_wang


def _noisy_pair(shape: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.clip(128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + rng.normal(0, 10, shape), 0, 255)
    b = np.clip(a + rng.normal(0, 15, shape), 0, 255)
    return np.round(a).astype(np.uint8), np.round(b).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# PSNR
# --------------------------------------------------------------------------------------------


def test_psnr_constant_offset_is_exact():
    a = np.full((20, 30), 100, np.uint8)
    b = np.full((20, 30), 110, np.uint8)
    assert psnr(a, b, border=BORDER) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-12)
    assert psnr(a, b, peak=1.0, border=BORDER) == pytest.approx(10 * math.log10(1 / 100), abs=1e-12)


def test_psnr_ignores_the_border():
    a = np.full((20, 30), 50, np.uint8)
    b = a.copy()
    b[:4] = 0
    b[-4:] = 255
    b[:, :4] = 3
    b[:, -4:] = 9
    b[4:-4, 4:-4] += 1  # MSE 1 inside
    assert psnr(a, b, border=4) == pytest.approx(10 * math.log10(255**2), abs=1e-12)
    assert psnr(a, b, border=0) < 20


def test_psnr_identical_is_inf():
    a = np.arange(100, dtype=np.uint8).reshape(10, 10)
    assert psnr(a, a, border=0) == math.inf


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError):
        psnr(np.zeros((10, 10)), np.zeros((10, 11)), border=BORDER)


# --------------------------------------------------------------------------------------------
# Wang SSIM
# --------------------------------------------------------------------------------------------


def test_ssim_identical_is_exactly_one():
    a, _ = _noisy_pair((64, 48), 0)
    assert ssim_wang(a, a, border=BORDER) == 1.0
    assert ssim_daala(a, a, border=BORDER) == 1.0


def test_ssim_wang_matches_scikit_image():
    a, b = _noisy_pair((70, 90), 1)
    ours = ssim_wang(a, b, border=0)
    ref = structural_similarity(
        a.astype(np.float64),
        b.astype(np.float64),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert ours == pytest.approx(ref, abs=1e-12)
    assert 0.3 < ours < 0.99


def test_ssim_wang_border_is_a_crop():
    a, b = _noisy_pair((70, 90), 2)
    assert ssim_wang(a, b, border=4) == ssim_wang(a[4:-4, 4:-4], b[4:-4, 4:-4], border=0)


# --------------------------------------------------------------------------------------------
# daala SSIM
# --------------------------------------------------------------------------------------------


def test_daala_kernel_for_height_256():
    # sigma = 256 * 1.5 / 256 = 1.5; s = sqrt(pi/2) * 1.5 / 256 = 0.00734;
    # half-length floor(1.5 * sqrt(-2 ln s)) = floor(4.70) = 4;
    # sides round(256 g(k)) for g(k) = exp(-k^2 / 4.5) / (1.5 sqrt(2 pi)):
    # 54.5 -> 55, 27.99 -> 28, 9.21 -> 9, 1.94 -> 2; centre 256 - 2 (55 + 28 + 9 + 2) = 68.
    assert daala_kernel(1.5, 256).tolist() == [2, 9, 28, 55, 68, 55, 28, 9, 2]


def test_daala_kernel_cap_and_tiny_sigma():
    # half-length 4 capped at max_len - 1 = 3: centre absorbs the dropped weights.
    assert daala_kernel(1.5, 4).tolist() == [9, 28, 55, 72, 55, 28, 9]
    assert daala_kernel(0.1, 100).tolist() == [256]  # half-length 0
    assert daala_kernel(1.0, 50).sum() == 256


def _daala_reference(src: np.ndarray, dst: np.ndarray) -> float:
    """Loop-for-loop transcription of daala's calc_ssim (tools/dump_ssim.c), 8-bit planes."""
    h, w = src.shape
    kernel = daala_kernel(h * 1.5 / 256, min(w, h)).tolist()
    off = len(kernel) // 2
    src = src.astype(np.int64)
    dst = dst.astype(np.int64)
    ssim = 0.0
    ssimw = 0.0
    for y in range(h):
        for x in range(w):
            mux = muy = x2 = xy = y2 = wsum = 0
            for j in range(max(0, y - off), min(h, y + off + 1)):
                for i in range(max(0, x - off), min(w, x + off + 1)):
                    k = kernel[j - y + off] * kernel[i - x + off]
                    s, d = int(src[j, i]), int(dst[j, i])
                    mux += k * s
                    muy += k * d
                    x2 += k * s * s
                    xy += k * s * d
                    y2 += k * d * d
                    wsum += k
            c1 = 255 * 255 * 0.01 * 0.01 * wsum * wsum
            c2 = 255 * 255 * 0.03 * 0.03 * wsum * wsum
            mx2, my2, mxy = float(mux) * mux, float(muy) * muy, float(mux) * muy
            ssim += (
                wsum
                * (2 * mxy + c1)
                * (c2 + 2 * (xy * wsum - mxy))
                / ((mx2 + my2 + c1) * (x2 * wsum - mx2 + y2 * wsum - my2 + c2))
            )
            ssimw += wsum
    return ssim / ssimw


def test_ssim_daala_matches_loop_transcription():
    # height 120 -> sigma 0.703, a 5-tap kernel (256 g(1) = 52.8, 256 g(2) = 2.54);
    # width 23 makes the truncated border windows matter
    a, b = _noisy_pair((120, 23), 3)
    assert daala_kernel(120 * 1.5 / 256, 23).tolist() == [3, 53, 144, 53, 3]
    assert ssim_daala(a, b, border=0) == pytest.approx(_daala_reference(a, b), rel=1e-12)


def test_ssim_daala_border_is_a_crop_and_sigma_follows_it():
    a, b = _noisy_pair((100, 80), 4)
    assert ssim_daala(a, b, border=4) == ssim_daala(a[4:-4, 4:-4], b[4:-4, 4:-4], border=0)


def test_ssim_daala_differs_from_wang():
    a, b = _noisy_pair((300, 200), 5)
    assert abs(ssim_daala(a, b, border=BORDER) - ssim_wang(a, b, border=BORDER)) > 0.01


def test_ssim_daala_needs_integer_planes():
    a, b = _noisy_pair((40, 40), 6)
    with pytest.raises(ValueError, match="8-bit"):
        ssim_daala(a + 0.5, b, border=BORDER)
    with pytest.raises(ValueError, match="single plane"):
        ssim_daala(np.dstack([a, a, a]), np.dstack([b, b, b]), border=BORDER)
