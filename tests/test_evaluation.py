"""srgan.evaluation.protocol: the protocol reproduces the NN and bicubic rows of Table 2."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srgan.core.errors import UserError
from srgan.core.paper import BORDER, SCALE
from srgan.evaluation.protocol import (
    baseline_upscaler,
    evaluate,
    evaluate_dataset,
    list_images,
    make_lr,
    score,
    three_channel,
    upscale_bicubic,
    upscale_nearest,
)
from srgan.image.colour import rgb_to_y
from srgan.image.io import read_image
from srgan.image.resize import downscale_8bit
from srgan.metrics.colour import ciede2000
from srgan.metrics.distortion import psnr, ssim_daala, ssim_wang

DATASETS = ["Set5", "Set14", "BSD100"]

# Table 2 of the paper: (PSNR dB, SSIM (daala)).
PAPER_TABLE2 = {
    "nearest": {"Set5": (26.26, 0.7552), "Set14": (24.64, 0.7100), "BSD100": (25.02, 0.6606)},
    "bicubic": {"Set5": (28.43, 0.8211), "Set14": (25.99, 0.7486), "BSD100": (25.94, 0.6935)},
}
PSNR_TOLERANCE = 0.05
SSIM_TOLERANCE = 0.003

# Our own values for the common Wang et al. SSIM (not in the paper; docs/evaluation.md's reference
# baseline), as measured with this protocol; they guard against silent protocol changes.
OUR_WANG_SSIM = {
    "nearest": {"Set5": 0.73722, "Set14": 0.65288, "BSD100": 0.62931},
    "bicubic": {"Set5": 0.81025, "Set14": 0.70240, "BSD100": 0.66737},
}
# Our mean CIEDE2000 colour difference on RGB (ours, not the paper's), measured the same way.
OUR_CIEDE2000 = {
    "nearest": {"Set5": 3.93791, "Set14": 4.53781, "BSD100": 4.02592},
    "bicubic": {"Set5": 3.16730, "Set14": 4.09010, "BSD100": 3.63100},
}


@pytest.fixture(scope="module", params=["nearest", "bicubic"])
def baseline_results(request, shared_data):
    method = request.param
    results = evaluate(
        baseline_upscaler(method, scale=SCALE),
        shared_data / "benchmarks",
        DATASETS,
        SCALE,
        progress=False,
    )
    return method, results


@pytest.mark.slow
@pytest.mark.parametrize("dataset", DATASETS)
def test_baselines_reproduce_table2(baseline_results, dataset):
    method, results = baseline_results
    paper_psnr, paper_ssim = PAPER_TABLE2[method][dataset]
    got = results[dataset]
    assert got["n_images"] == {"Set5": 5, "Set14": 14, "BSD100": 100}[dataset]
    assert abs(got["psnr"] - paper_psnr) <= PSNR_TOLERANCE, got["psnr"]
    assert abs(got["ssim"] - paper_ssim) <= SSIM_TOLERANCE, got["ssim"]
    assert got["ssim_wang"] == pytest.approx(OUR_WANG_SSIM[method][dataset], abs=1e-4)
    assert got["ciede2000"] == pytest.approx(OUR_CIEDE2000[method][dataset], abs=1e-4)


@pytest.mark.slow
def test_result_structure_and_means(baseline_results):
    _, results = baseline_results
    assert list(results) == DATASETS
    set5 = results["Set5"]
    assert set(set5) == {"psnr", "ssim", "ssim_wang", "ciede2000", "n_images", "images"}
    assert list(set5["images"]) == ["baby", "bird", "butterfly", "head", "woman"]
    for key in ("psnr", "ssim", "ssim_wang", "ciede2000"):
        per_image = [scores[key] for scores in set5["images"].values()]
        assert set5[key] == pytest.approx(np.mean(per_image), abs=1e-12)
        assert all(isinstance(v, float) for v in per_image)


# --------------------------------------------------------------------------------------------
# Protocol details
# --------------------------------------------------------------------------------------------


def test_make_lr_matches_rounded_matlab(shared_data):
    with np.load(shared_data / "reference" / "matlab_imresize_x4" / "butterfly.npz") as data:
        hr_ref, lr_matlab = data["hr"], data["lr_matlab"]
    hr, lr = make_lr(hr_ref, scale=SCALE)
    np.testing.assert_array_equal(hr, hr_ref)
    assert lr.shape == (1, 3, 64, 64)
    assert lr.dtype == torch.float32
    levels = lr[0].permute(1, 2, 0).double().numpy() * 255
    np.testing.assert_allclose(levels, np.round(levels), rtol=0, atol=1e-4)  # 8-bit levels
    np.testing.assert_array_equal(np.round(levels), np.floor(np.clip(lr_matlab, 0, 255) + 0.5))


def test_make_lr_crops_top_left(shared_data):
    comic = read_image(shared_data / "benchmarks" / "Set14" / "comic.png")
    hr, lr = make_lr(comic, scale=SCALE)
    assert hr.shape == (360, 248, 3)
    np.testing.assert_array_equal(hr, comic[:360, :248])
    assert lr.shape == (1, 3, 90, 62)


def test_nearest_is_pixel_replication():
    lr = torch.arange(6, dtype=torch.float32).reshape(1, 1, 2, 3) / 10
    sr = upscale_nearest(lr, scale=SCALE)
    assert sr.shape == (1, 1, 8, 12)
    assert torch.equal(sr[0, 0, :4, :4], torch.full((4, 4), 0.0))
    assert torch.equal(sr[0, 0, 4:, 8:], torch.full((4, 4), 0.5))


def test_bicubic_is_clipped_to_unit_range():
    lr = torch.zeros(1, 3, 8, 8)
    lr[..., ::2, ::2] = 1.0  # a checkerboard-like pattern makes bicubic overshoot
    sr = upscale_bicubic(lr, scale=SCALE)
    assert sr.shape == (1, 3, 32, 32)
    assert sr.min() == 0.0
    assert sr.max() == 1.0


def test_score_converts_rgb_to_rounded_y():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-9, 10, hr.shape), 0, 255).astype(np.uint8)
    got = score(sr, hr)
    y_sr, y_hr = rgb_to_y(sr, round_uint8=True), rgb_to_y(hr, round_uint8=True)
    assert got["psnr"] == psnr(y_sr, y_hr, border=BORDER)
    assert got["ssim"] == ssim_daala(y_sr, y_hr, border=BORDER)
    assert got["ssim_wang"] == ssim_wang(y_sr, y_hr, border=BORDER)
    assert got["ciede2000"] == ciede2000(sr, hr, border=BORDER)  # on RGB, not on Y
    assert list(got) == ["psnr", "ssim", "ssim_wang", "ciede2000"]


def test_a_colour_shift_at_equal_luma_moves_ciede2000_only():
    """PSNR and SSIM stay the paper's, on luma: swapping chroma at equal Y leaves them as they
    are, while CIEDE2000 sees the colours change."""
    rng = np.random.default_rng(3)
    hr = np.zeros((40, 40, 3), np.uint8)
    hr[..., 0], hr[..., 2] = rng.integers(60, 200, (40, 40)), rng.integers(60, 200, (40, 40))
    hr[..., 1] = 100
    grey = np.repeat(rgb_to_y(hr)[..., None], 3, axis=2)  # Y of a grey pixel v is 16 + 219 v / 255
    sr = np.round((grey - 16) * 255 / 219).clip(0, 255).astype(np.uint8)
    y_sr, y_hr = (rgb_to_y(x, round_uint8=True).astype(int) for x in (sr, hr))
    assert np.abs(y_sr - y_hr).max() <= 1
    got, same = score(sr, hr), score(hr, hr)
    assert got["psnr"] > 45  # luma within one level
    assert same["ciede2000"] == 0.0
    assert got["ciede2000"] > 10


def test_gray_bridge_is_scored_as_is(shared_data):
    hr_full = read_image(shared_data / "benchmarks" / "Set14" / "bridge.png")
    hr, lr = make_lr(hr_full, scale=SCALE)
    assert lr.shape == (1, 1, 128, 128)
    sr = (upscale_bicubic(lr, scale=SCALE)[0, 0].double().numpy() * 255 + 0.5).astype(np.uint8)
    got = score(sr, hr)
    # scored on the raw 0..255 gray values, not on Y = 16 + 219/255 v
    assert got["psnr"] == psnr(sr, hr, border=BORDER)
    assert got["ssim"] == ssim_daala(sr, hr, border=BORDER)
    assert got["psnr"] == pytest.approx(23.145, abs=0.001)
    assert got["ciede2000"] == ciede2000(sr, hr, border=BORDER)  # lightness only: gray
    # converting it to Y would compress the range by 219/255 and add about 1.32 dB
    y_psnr = psnr(16 + 219 / 255 * sr.astype(float), 16 + 219 / 255 * hr.astype(float), BORDER)
    assert y_psnr - got["psnr"] == pytest.approx(20 * np.log10(255 / 219), abs=1e-9)


def test_three_channel_wrapper_for_rgb_only_upscalers():
    def rgb_only(lr: torch.Tensor) -> torch.Tensor:
        assert lr.shape[1] == 3
        out = upscale_nearest(lr, scale=SCALE)
        out[:, 0] += 0.03  # channels differ slightly, as a generator's would
        out[:, 2] -= 0.03
        return out

    gray = torch.rand(1, 1, 5, 6)
    sr = three_channel(rgb_only)(gray)
    assert sr.shape == (1, 1, 20, 24)
    assert torch.allclose(sr, upscale_nearest(gray, scale=SCALE), rtol=0, atol=1e-6)
    rgb = torch.rand(1, 3, 5, 6)
    assert torch.equal(three_channel(rgb_only)(rgb), rgb_only(rgb))


def test_unknown_baseline():
    with pytest.raises(UserError, match="lanczos"):
        baseline_upscaler("lanczos", scale=SCALE)


# --------------------------------------------------------------------------------------------
# Folders, errors, saving
# --------------------------------------------------------------------------------------------


def _write_images(folder: Path, names: list[str], size: tuple[int, int] = (32, 40)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(names))
    for name in names:
        img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(img).save(folder / name)


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(UserError, match="Set99"):
        evaluate(
            baseline_upscaler("nearest", SCALE), tmp_path, ["Set99"], progress=False, scale=SCALE
        )


def test_empty_dataset_folder(tmp_path):
    (tmp_path / "Empty").mkdir()
    (tmp_path / "Empty" / "notes.txt").write_text("no images here")
    with pytest.raises(UserError, match="no images"):
        evaluate(
            baseline_upscaler("nearest", SCALE), tmp_path, ["Empty"], progress=False, scale=SCALE
        )


def test_corrupt_image_is_named(tmp_path):
    _write_images(tmp_path / "Mini", ["a.png"])
    (tmp_path / "Mini" / "b.png").write_bytes(b"not an image at all")
    with pytest.raises(UserError, match="b.png"):
        evaluate_dataset(
            baseline_upscaler("nearest", SCALE), tmp_path / "Mini", progress=False, scale=SCALE
        )


def test_extensions_sorting_and_saving(tmp_path):
    _write_images(tmp_path / "data" / "Mini", ["c.PNG", "a.bmp", "b.tif"])
    (tmp_path / "data" / "Mini" / "readme.md").write_text("ignored")
    results = evaluate(
        baseline_upscaler("bicubic", scale=SCALE),
        tmp_path / "data",
        ["Mini"],
        SCALE,
        save_dir=tmp_path / "sr",
        progress=False,
    )
    mini = results["Mini"]
    assert mini["n_images"] == 3
    assert list(mini["images"]) == ["a", "b", "c"]
    for name in ("a", "b", "c"):
        saved = read_image(tmp_path / "sr" / "Mini" / f"{name}.png")
        assert saved.shape == (32, 40, 3)
        hr, _ = make_lr(
            read_image(next((tmp_path / "data" / "Mini").glob(f"{name}.*"))), scale=SCALE
        )
        assert score(saved, hr) == mini["images"][name]


def test_duplicate_names_and_webp(tmp_path):
    _write_images(tmp_path / "Mini", ["a.png", "b.webp", ".hidden.png"])
    assert [p.name for p in list_images(tmp_path / "Mini")] == ["a.png", "b.webp"]
    _write_images(tmp_path / "Mini", ["a.jpg"])
    with pytest.raises(UserError, match="several images share the name 'a'"):
        list_images(tmp_path / "Mini")


def test_gray_lr_is_single_channel_and_8_bit():
    hr = (np.arange(16 * 12).reshape(16, 12) * 7 % 251).astype(np.uint8)
    cropped, lr = make_lr(
        np.pad(hr, ((0, 3), (0, 2))), scale=SCALE
    )  # 19 x 14 is cropped to 16 x 12
    np.testing.assert_array_equal(cropped, hr)
    assert lr.shape == (1, 1, 4, 3) and lr.dtype == torch.float32
    assert torch.equal(lr, (lr.double() * 255).round().float() / 255)  # 8-bit levels
    assert torch.equal(lr[0], downscale_8bit(torch.from_numpy(hr)[None], scale=SCALE).float() / 255)


def test_upscaler_with_wrong_output_shape(tmp_path):
    _write_images(tmp_path / "Mini", ["a.png"])
    with pytest.raises(ValueError, match="shape"):
        evaluate_dataset(lambda lr: lr, tmp_path / "Mini", progress=False, scale=SCALE)


def test_scale_and_border_are_the_papers():
    assert SCALE == 4
    assert BORDER == 4
