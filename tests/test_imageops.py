"""Tests for srgan.imageops: MATLAB bicubic resize, Y conversion, modcrop, image IO."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    TIE_CROPS,
    TIE_IMAGE,
    WEIGHT_BITS,
    exact_lr,
    reordered_einsum,
    tie_crops,
)
from PIL import Image

from srgan.core.errors import UserError
from srgan.core.paper import SCALE
from srgan.image.colour import quantise_8bit, rgb_to_y, to_tensor, to_uint8
from srgan.image.io import (
    IMAGE_EXTENSIONS,
    list_image_files,
    read_image,
    read_photo,
    write_png,
    write_png_bands,
)
from srgan.image.resize import (
    downscale_8bit,
    exact_downscale,
    imresize,
    modcrop,
    resize_matrix,
)

REFERENCE_NAMES = ["butterfly", "face"]


def _reference(shared_data: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(shared_data / "reference" / "matlab_imresize_x4" / f"{name}.npz") as data:
        return {key: data[key] for key in data.files}


def _chw(img: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(img.astype(np.float64).transpose(2, 0, 1)).to(dtype)


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x.to(torch.float64).numpy().transpose(1, 2, 0)


# --------------------------------------------------------------------------------------------
# imresize against MATLAB
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REFERENCE_NAMES)
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-6), (torch.float32, 2e-4)])
def test_imresize_down_matches_matlab(shared_data, name, dtype, tol):
    ref = _reference(shared_data, name)
    lr = _hwc(imresize(_chw(ref["hr"], dtype), scale=1 / 4))
    assert lr.shape == ref["lr_matlab"].shape
    assert np.abs(lr - ref["lr_matlab"]).max() <= tol


@pytest.mark.parametrize("name", REFERENCE_NAMES)
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-6), (torch.float32, 2e-4)])
def test_imresize_up_matches_matlab(shared_data, name, dtype, tol):
    ref = _reference(shared_data, name)
    up = _hwc(imresize(_chw(ref["lr_matlab"], dtype), scale=4))
    up = np.clip(up, 0, 255)  # the reference is clipped; imresize leaves clipping to the caller
    assert up.shape == ref["bicubic_up_matlab"].shape
    assert np.abs(up - ref["bicubic_up_matlab"]).max() <= tol


def test_imresize_float64_is_essentially_exact(shared_data):
    ref = _reference(shared_data, "butterfly")
    lr = _hwc(imresize(_chw(ref["hr"], torch.float64), scale=1 / 4))
    assert np.abs(lr - ref["lr_matlab"]).max() < 1e-10


# --------------------------------------------------------------------------------------------
# imresize properties
# --------------------------------------------------------------------------------------------


def test_imresize_output_size_is_ceil():
    x = torch.rand(2, 3, 7, 5, dtype=torch.float64)
    assert imresize(x, scale=0.5).shape == (2, 3, 4, 3)
    assert imresize(x, scale=4).shape == (2, 3, 28, 20)
    assert imresize(x, size=(9, 2)).shape == (2, 3, 9, 2)


def test_imresize_batched_equals_single_and_chw():
    x = torch.rand(4, 3, 24, 20, dtype=torch.float64)
    batched = imresize(x, scale=0.25)
    for i in range(4):
        assert (imresize(x[i], scale=0.25) - batched[i]).abs().max() < 1e-12


def test_imresize_keeps_constants():
    x = torch.full((1, 1, 13, 11), 0.3, dtype=torch.float64)
    for scale in (0.25, 0.5, 2, 4):
        assert (imresize(x, scale=scale) - 0.3).abs().max() < 1e-14


@pytest.mark.parametrize(("n_in", "n_out", "scale"), [(96, 24, 0.25), (24, 96, 4.0), (7, 3, 0.5)])
def test_resize_matrix_rows_sum_to_one(n_in, n_out, scale):
    m = resize_matrix(n_in, n_out, scale)
    assert m.shape == (n_out, n_in)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=0, atol=1e-14)


def test_imresize_training_patch_batch_float32():
    x = torch.rand(16, 3, 96, 96)
    lr = imresize(x, scale=1 / 4)
    assert lr.shape == (16, 3, 24, 24)
    assert lr.dtype == torch.float32
    ref = imresize(x.double(), scale=1 / 4)
    assert (lr.double() - ref).abs().max() < 1e-5


def test_imresize_rejects_integer_tensors_and_bad_arguments():
    with pytest.raises(TypeError):
        imresize(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), scale=0.5)
    with pytest.raises(ValueError):
        imresize(torch.zeros(1, 1, 8, 8), scale=0.5, size=(4, 4))
    with pytest.raises(ValueError):
        imresize(torch.zeros(8, 8), scale=0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_imresize_cuda_matches_cpu():
    x = torch.rand(16, 3, 96, 96, dtype=torch.float64)
    cpu = imresize(x, scale=1 / 4)
    gpu = imresize(x.cuda(), scale=1 / 4)
    assert gpu.device.type == "cuda"
    assert (gpu.cpu() - cpu).abs().max() < 1e-12


# --------------------------------------------------------------------------------------------
# Colour, cropping, conversion
# --------------------------------------------------------------------------------------------


def test_rgb_to_y_white_and_black():
    img = np.array([[[255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    y = rgb_to_y(img)
    assert y.dtype == np.float64
    assert y[0, 0] == 235.0
    assert y[0, 1] == 16.0
    y8 = rgb_to_y(img, round_uint8=True)
    assert y8.dtype == np.uint8
    assert y8.tolist() == [[235, 16]]


def test_rgb_to_y_formula_and_rounding():
    img = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]]], dtype=np.uint8)
    y = rgb_to_y(img)
    np.testing.assert_allclose(
        y[0], [16 + 65.481, 16 + 128.553, 16 + 24.966, 16 + 219 * 128 / 255], rtol=0, atol=1e-12
    )
    assert rgb_to_y(img, round_uint8=True)[0].tolist() == [81, 145, 41, 126]


def test_rgb_to_y_leaves_gray_alone():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert rgb_to_y(gray) is gray
    assert rgb_to_y(gray, round_uint8=True) is gray


def test_modcrop_keeps_top_left():
    img = np.arange(361 * 250 * 3).reshape(361, 250, 3)  # Set14 comic: 250 x 361 (W x H)
    out = modcrop(img, 4)
    assert out.shape == (360, 248, 3)
    np.testing.assert_array_equal(out, img[:360, :248])
    assert modcrop(np.zeros((5, 7)), 4).shape == (4, 4)
    assert modcrop(np.zeros((8, 12)), 4).shape == (8, 12)


def test_modcrop_set14_comic(shared_data):
    comic = read_image(shared_data / "benchmarks" / "Set14" / "comic.png")
    assert comic.shape == (361, 250, 3)
    assert modcrop(comic, 4).shape == (360, 248, 3)


def test_tensor_round_trip():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    t = to_tensor(rgb)
    assert t.shape == (1, 3, 5, 7)
    np.testing.assert_array_equal(to_uint8(t), rgb)
    assert to_tensor(gray).shape == (1, 1, 5, 7)
    np.testing.assert_array_equal(to_uint8(to_tensor(gray, torch.float64)), gray)


def test_to_uint8_clips_and_rounds():
    x = torch.tensor([[[[-0.5, 0.6 / 255, 1.49 / 255, 2.0]]]], dtype=torch.float64)
    assert to_uint8(x).tolist() == [[0, 1, 1, 255]]


# --------------------------------------------------------------------------------------------
# Image IO
# --------------------------------------------------------------------------------------------


def test_read_image_modes(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png"), rgb)

    rgba = np.dstack([rgb, np.full((6, 5), 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), rgb)

    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.png")
    pal = read_image(tmp_path / "pal.png")
    assert pal.shape == (6, 5, 3)
    assert pal.dtype == np.uint8

    gray16 = (np.arange(30, dtype=np.uint16).reshape(6, 5) * 2000).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    g16 = read_image(tmp_path / "g16.png")
    assert g16.shape == (6, 5)
    assert g16.dtype == np.uint8
    assert g16[0, 0] == 0
    assert g16[-1, -1] == round(29 * 2000 / 65535 * 255)

    dark16 = np.full((6, 5), 257 * 3, np.uint16)  # a dark 16-bit image is still 16-bit
    Image.fromarray(dark16).save(tmp_path / "dark16.png")
    assert read_image(tmp_path / "dark16.png").tolist() == np.full((6, 5), 3).tolist()

    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.tif")
    assert read_image(tmp_path / "cmyk.tif").shape == (6, 5, 3)


def test_read_image_gray_bridge_stays_single_channel(shared_data):
    bridge = read_image(shared_data / "benchmarks" / "Set14" / "bridge.png")
    assert bridge.shape == (512, 512)
    assert bridge.dtype == np.uint8


def test_read_image_errors_name_the_file(tmp_path):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(UserError, match="corrupt.png"):
        read_image(bad)
    with pytest.raises(UserError, match="missing.png"):
        read_image(tmp_path / "missing.png")


def test_write_png_round_trip_is_atomic(tmp_path):
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (9, 4, 3), dtype=np.uint8)
    target = tmp_path / "out" / "img.png"
    write_png(target, img)
    np.testing.assert_array_equal(read_image(target), img)
    gray = img[:, :, 0].copy()
    write_png(target, gray)  # overwrite in place
    np.testing.assert_array_equal(read_image(target), gray)
    assert sorted(p.name for p in target.parent.iterdir()) == ["img.png"]
    with pytest.raises(ValueError):
        write_png(target, img.astype(np.float32))


def test_write_png_leaves_the_old_file_when_it_fails(tmp_path, monkeypatch):
    target = tmp_path / "img.png"
    old = np.full((4, 4), 9, np.uint8)
    write_png(target, old)

    def broken_save(self, fp, format=None, **params):
        fp.write(b"half a PNG")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_png(target, np.zeros((4, 4), np.uint8))
    monkeypatch.undo()
    np.testing.assert_array_equal(read_image(target), old)
    assert [p.name for p in tmp_path.iterdir()] == ["img.png"]  # no temp file left


# --------------------------------------------------------------------------------------------
# 8-bit LR images
# --------------------------------------------------------------------------------------------


def test_scale_is_the_papers():
    assert SCALE == 4


def test_quantise_8bit_clips_and_rounds_half_up():
    x = [-0.5, 0.0, 0.6 / 255, 0.4 / 255, 1.6 / 255, 254.6 / 255, 0.5, 1.0, 2.0]
    got = quantise_8bit(torch.tensor(x, dtype=torch.float64))
    assert got.dtype == torch.uint8
    assert got.tolist() == [0, 0, 1, 0, 2, 255, 128, 255, 255]  # 0.5 * 255 = 127.5 -> 128


def test_downscale_8bit_is_rounded_matlab_imresize(shared_data):
    with np.load(shared_data / "reference" / "matlab_imresize_x4" / "butterfly.npz") as ref:
        hr, lr_matlab = ref["hr"], ref["lr_matlab"]
    hr_t = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1)))
    lr = downscale_8bit(hr_t, scale=SCALE)  # (C, H, W) works as (N, C, H, W) does
    assert lr.dtype == torch.uint8 and lr.shape == (3, 64, 64)
    expected = np.floor(np.clip(lr_matlab, 0, 255) + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(lr.permute(1, 2, 0).numpy(), expected)
    assert torch.equal(
        downscale_8bit(hr_t[None].repeat(2, 1, 1, 1), scale=SCALE), lr[None].repeat(2, 1, 1, 1)
    )


def test_downscale_8bit_rejects_floats_and_uncropped_sizes():
    with pytest.raises(TypeError):
        downscale_8bit(torch.zeros(1, 3, 8, 8), scale=SCALE)
    with pytest.raises(ValueError, match="not a multiple of 4"):
        downscale_8bit(torch.zeros(1, 3, 8, 10, dtype=torch.uint8), scale=SCALE)


# --------------------------------------------------------------------------------------------
# Listing image folders
# --------------------------------------------------------------------------------------------


def test_image_extensions_include_webp_and_the_usual_ones():
    assert set(IMAGE_EXTENSIONS) == {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def test_list_image_files_flat_and_recursive(tmp_path):
    for name in ("b.PNG", "a.webp", "c.jpeg", "notes.txt", ".hidden.png", "sub/d.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")  # listing does not decode
    (tmp_path / "folder.png").mkdir()  # a folder with an image-like name is no image
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "e.png").write_bytes(b"")
    assert [p.name for p in list_image_files(tmp_path)] == ["a.webp", "b.PNG", "c.jpeg"]
    deep = list_image_files(tmp_path, recursive=True)
    assert [p.relative_to(tmp_path).as_posix() for p in deep] == [
        "a.webp",
        "b.PNG",
        "c.jpeg",
        "sub/d.png",
    ]
    with pytest.raises(UserError, match="nowhere"):
        list_image_files(tmp_path / "nowhere")


def test_list_image_files_ends_a_symlink_cycle(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.png").write_bytes(b"")
    (tmp_path / "a" / "b" / "up").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "a" / "b" / "self").symlink_to(".", target_is_directory=True)
    found = list_image_files(tmp_path / "a", recursive=True)
    assert found == [tmp_path / "a" / "b" / "x.png"]


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_written_band_by_band_reads_back_exactly(tmp_path, channels):
    img = np.random.default_rng(channels).integers(0, 256, (150, 37, channels), dtype=np.uint8)
    img[:70] //= 16  # smooth rows too: every Paeth predictor gets used
    target = tmp_path / "img.png"
    write_png_bands(target, 150, 37, channels, [img[:1], img[1:100], img[100:]])
    with Image.open(target) as im:
        assert im.mode == {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
        back = np.asarray(im)
    np.testing.assert_array_equal(back.reshape(img.shape), img)


def test_png_bands_of_the_wrong_height_leave_no_file(tmp_path):
    band = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="4 rows, not 5"):
        write_png_bands(tmp_path / "img.png", 5, 5, 3, [band])
    with pytest.raises(ValueError, match="uint8"):
        write_png_bands(tmp_path / "img.png", 4, 5, 3, [band.astype(np.int16)])
    assert list(tmp_path.iterdir()) == []


def test_read_photo_applies_exif_orientation_and_keeps_alpha(tmp_path):
    stored = np.arange(6 * 4 * 4, dtype=np.uint8).reshape(6, 4, 4)
    exif = Image.Exif()
    exif[0x0112] = 8  # shown rotated 90 degrees counter-clockwise
    Image.fromarray(stored, "RGBA").save(tmp_path / "a.png", exif=exif)
    photo = read_photo(tmp_path / "a.png")
    shown = np.rot90(stored)  # counter-clockwise
    np.testing.assert_array_equal(photo.pixels, shown[..., :3])
    np.testing.assert_array_equal(photo.alpha, shown[..., 3])
    assert photo.orientation == 8 and len(photo.notes()) == 2
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), stored[..., :3])  # as stored
    Image.fromarray(stored[..., 0]).save(tmp_path / "gray.png")
    plain = read_photo(tmp_path / "gray.png")
    assert (plain.alpha, plain.orientation, plain.notes()) == (None, 1, [])


# --- LR images: the same on every device, exact ties included ---------------------------------


def _lr_every_way(hr: torch.Tensor, monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """downscale_8bit(hr) as computed, on the image flipped either way, transposed, one crop at
    a time, and with the taps summed in another order."""
    made = [
        downscale_8bit(hr, SCALE),
        downscale_8bit(hr.flip(-1), SCALE).flip(-1),
        downscale_8bit(hr.flip(-2), SCALE).flip(-2),
        downscale_8bit(hr.transpose(-1, -2).contiguous(), SCALE).transpose(-1, -2),
        torch.cat([downscale_8bit(one[None], SCALE) for one in hr]),
    ]
    with monkeypatch.context() as patch:
        patch.setattr(torch, "einsum", reordered_einsum)
        made.append(downscale_8bit(hr, SCALE))
    return made


def test_scale_4_bicubic_weights_are_dyadic_so_the_lr_sums_are_exact() -> None:
    """What makes the LR exact in float64 whatever the summation order: every weight is a
    multiple of 2**-12, so every partial sum of levels times weights is exactly representable
    (for the power-of-two scales; scale 3's weights are not dyadic)."""
    for size in (16, 24, 32, 96, 100, 512):
        scaled = resize_matrix(size, size // SCALE, 1 / SCALE) * (1 << WEIGHT_BITS)
        assert np.array_equal(scaled, np.rint(scaled))
    assert [exact_downscale((96, 120), s) for s in (2, 3, 4, 8)] == [True, False, True, True]
    assert exact_downscale((2048, 2048), SCALE)


def test_lr_rounds_exact_ties_half_up_whatever_the_summation_order(monkeypatch):
    """Crops built to hit exact .5 ties: downscale_8bit equals the integer-arithmetic LR (ties
    rounded half up) however its sums are ordered (as on another device)."""
    hr = tie_crops(900)
    exact = exact_lr(hr)
    one = 1 << WEIGHT_BITS
    matrix = torch.from_numpy(np.rint(resize_matrix(32, 8, 1 / SCALE) * one).astype(np.int64))
    total = torch.einsum("oh,nchw,pw->ncop", matrix, hr.long(), matrix)
    ties = int((total % (one * one) == one * one // 2).sum())
    assert ties >= 10  # the crops do hit ties
    for lr in _lr_every_way(hr, monkeypatch):
        assert torch.equal(lr, exact)


def test_lr_of_real_crops_with_exact_ties_is_the_same_whatever_the_order(shared_data, monkeypatch):
    """Real crops (BSD200, the two with a tie; T91 tiles): the same LR every way it is
    computed, the exact one, and the tie rounded up."""
    image = read_image(shared_data / TIE_IMAGE)
    crops = [image[top : top + 96, left : left + 96] for top, left in TIE_CROPS]
    t91 = read_image(shared_data / "train" / "T91" / "t1.png")
    crops += [t91[top : top + 96, left : left + 96] for top in (0, 40) for left in (0, 50)]
    hr = torch.from_numpy(np.stack(crops).transpose(0, 3, 1, 2).copy())
    exact = exact_lr(hr)
    for k, (channel, row, col) in enumerate(TIE_CROPS.values()):
        assert exact[k, channel, row, col] == 36  # 35.5, rounded half up
    for lr in _lr_every_way(hr, monkeypatch):
        assert torch.equal(lr, exact)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_lr_made_on_cuda_is_the_exact_lr() -> None:
    """The GPU's matrix products sum in their own order: the LR is still the exact one."""
    hr = tie_crops(900)
    assert torch.equal(downscale_8bit(hr.cuda(), SCALE).cpu(), exact_lr(hr))
