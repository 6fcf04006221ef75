"""Tests for srgan.metrics.colour: CIEDE2000 in CIELAB of two 8-bit RGB images."""

import numpy as np
import pytest

from srgan.core.paper import BORDER
from srgan.metrics.colour import ciede2000, ciede2000_map, lab_difference, to_lab

#: Pairs of Sharma, Wu and Dalal (2005), Table 1: L1 a1 b1, L2 a2 b2, ΔE00 (4 decimals); chosen
#: to cover the formula's branches (hue sign, the 180° hue wrap, near-neutral colours, the
#: lightness weight).
SHARMA_PAIRS = (
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
    ((50.0, -0.001, 2.49), (50.0, 0.0011, -2.49), 4.7461),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (50.0, 3.1736, 0.5854), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
)


@pytest.mark.parametrize(("lab_1", "lab_2", "expected"), SHARMA_PAIRS)
def test_lab_difference_gives_sharmas_published_values(lab_1, lab_2, expected):
    assert lab_difference(np.array(lab_1), np.array(lab_2)) == pytest.approx(expected, abs=5e-5)
    assert lab_difference(np.array(lab_2), np.array(lab_1)) == pytest.approx(expected, abs=5e-5)


def test_to_lab_of_srgb_primaries_and_neutrals():
    pixels = np.array([[[255, 0, 0], [255, 255, 255], [0, 0, 0]]], np.uint8)
    lab = to_lab(pixels)
    # sRGB red in CIELAB (D65, 2°): 53.2371, 80.0901, 67.2033 (CSS Color 4); scikit-image's
    # rounder sRGB matrix gives 53.2406, 80.0923, 67.2028, and white a* -0.0025, b* 0.0047.
    assert lab[0, 0] == pytest.approx([53.24, 80.09, 67.20], abs=0.01)
    assert lab[0, 1] == pytest.approx([100.0, 0.0, 0.0], abs=0.01)
    assert lab[0, 2] == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)


def test_identical_images_score_zero():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(24, 28, 3), dtype=np.uint8)
    assert ciede2000(img, img, border=BORDER) == 0.0
    assert not ciede2000_map(img, img, border=BORDER).any()


def test_black_against_white_is_100():
    """Only lightness differs, and the mean lightness is 50, where CIEDE2000's lightness
    weight S_L is 1: ΔE00 is ΔL* = 100."""
    black = np.zeros((12, 12, 3), np.uint8)
    white = np.full((12, 12, 3), 255, np.uint8)
    assert ciede2000(black, white, border=BORDER) == pytest.approx(100.0, abs=1e-4)


def test_the_border_is_removed_and_the_mean_is_over_the_rest():
    hr = np.full((20, 30, 3), 128, np.uint8)
    sr = hr.copy()
    sr[:BORDER] = 0  # differences in the border only: not counted
    sr[:, -BORDER:] = 255
    assert ciede2000(sr, hr, border=BORDER) == 0.0
    sr[10, 10] = (128, 0, 128)  # one pixel inside: the mean is its ΔE00 over the pixels left
    shaved = (20 - 2 * BORDER) * (30 - 2 * BORDER)
    one = float(lab_difference(to_lab(sr[10:11, 10:11]), to_lab(hr[10:11, 10:11]))[0, 0])
    assert one > 30
    assert ciede2000(sr, hr, border=BORDER) == pytest.approx(one / shaved, rel=1e-12)
    assert ciede2000_map(sr, hr, border=BORDER).shape == (20 - 2 * BORDER, 30 - 2 * BORDER)


def test_a_hue_change_at_the_same_luma_is_seen():
    """What PSNR on Y misses: purple against a grey of the same BT.601 luma."""
    purple = np.full((16, 16, 3), (128, 64, 160), np.uint8)
    luma = round(0.299 * 128 + 0.587 * 64 + 0.114 * 160)
    grey = np.full((16, 16, 3), luma, np.uint8)
    assert ciede2000(purple, grey, border=BORDER) > 20


def test_a_gray_image_is_its_three_channel_repeat():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(20, 20), dtype=np.uint8)
    b = rng.integers(0, 256, size=(20, 20), dtype=np.uint8)
    rgb = lambda x: np.repeat(x[..., None], 3, axis=2)  # noqa: E731
    assert ciede2000(a, b, border=BORDER) == ciede2000(rgb(a), rgb(b), border=BORDER)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((10, 10, 3), np.uint8), np.zeros((10, 12, 3), np.uint8), "shapes differ"),
        (np.zeros((10, 10, 3), np.float64), np.zeros((10, 10, 3), np.float64), "uint8"),
        (np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10, 4), np.uint8), "H x W x 3"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8), "border"),
    ],
)
def test_bad_input_is_refused(a, b, message):
    with pytest.raises(ValueError, match=message):
        ciede2000(a, b, border=BORDER)
