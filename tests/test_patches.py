"""srgan.data.trainset (scanning the training folder, the decoded store) and srgan.data.patches (the
data order, (LR, HR) batches)."""

import logging
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import TIE_CROPS, TIE_IMAGE, exact_lr, reordered_einsum
from PIL import Image

from srgan.core import paths
from srgan.core.errors import UserError
from srgan.core.paper import SCALE
from srgan.data import patches, trainset
from srgan.evaluation.protocol import make_lr
from srgan.image.io import read_image
from srgan.image.resize import imresize

CROP = 32  # HR crop in these tests; LR 8 x 8
LR_CROP = CROP // SCALE


def _save(path: Path, array: np.ndarray, **params) -> Path:
    """Write ``array`` as an image (Pillow picks the mode: L, LA, RGB, RGBA, I;16)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **params)
    return path


def _noise_images(folder: Path, count: int, size: tuple[int, int] = (40, 48)) -> list[Path]:
    rng = np.random.default_rng(123)
    return [
        _save(folder / f"img{i:02d}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        for i in range(count)
    ]


def _constant_images(folder: Path, count: int) -> list[Path]:
    """Images whose three channels hold (i, 100 + i, 200 - i): the value names the image."""
    files = []
    for i in range(count):
        img = np.empty((40 + i, 44, 3), dtype=np.uint8)
        img[...] = (i, 100 + i, 200 - i)
        files.append(_save(folder / f"c{i:02d}.png", img))
    return files


def _hr_uint8(hr: torch.Tensor) -> torch.Tensor:
    """Undo the HR scaling exactly: [-1, 1] float32 -> the uint8 crop."""
    levels = ((hr.double() + 1) * patches.HR_HALF_RANGE).round()
    assert torch.equal(hr, levels.float() / patches.HR_HALF_RANGE - 1)
    return levels.to(torch.uint8)


PIPELINES = ["loader", "device"]


def _pipeline(name: str, tmp_path: Path) -> dict:
    """make_batches arguments for a pipeline (the device one needs a decoded store)."""
    return {"pipeline": name, "store_dir": tmp_path / "cache", "progress": False}


def _take(batches, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    taken = [next(batches) for _ in range(count)]
    batches.close()
    return taken


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------


def test_batch_shapes_ranges_and_dtypes(tmp_path):
    files = _noise_images(tmp_path, 10)
    ((lr, hr),) = _take(patches.make_batches(files, CROP, 4, seed=0, scale=SCALE), 1)
    assert lr.shape == (4, 3, LR_CROP, LR_CROP) and hr.shape == (4, 3, CROP, CROP)
    assert lr.dtype == hr.dtype == torch.float32
    assert lr.min() >= 0 and lr.max() <= 1 and hr.min() >= -1 and hr.max() <= 1
    # Noise spans the whole 8-bit range, and both are 8-bit levels exactly.
    assert hr.min() == -1 and hr.max() == 1
    assert torch.equal(lr, (lr.double() * 255).round().float() / 255)
    _hr_uint8(hr)


def test_each_crop_of_a_batch_comes_from_a_different_image(tmp_path):
    files = _constant_images(tmp_path, 13)  # 13 // 4 = 3 steps per epoch, one image left out
    seen = []
    for lr, hr in _take(patches.make_batches(files, CROP, 4, seed=5, scale=SCALE), 6):  # two epochs
        hr8 = _hr_uint8(hr)
        ids = hr8[:, 0, 0, 0].tolist()
        for k, i in enumerate(ids):  # every crop is its image's constant colour, LR too
            colour = torch.tensor([i, 100 + i, 200 - i], dtype=torch.uint8).view(3, 1, 1)
            assert torch.equal(hr8[k], colour.expand(3, CROP, CROP))
            assert torch.equal(lr[k], colour.expand(3, LR_CROP, LR_CROP).float() / 255)
        assert len(set(ids)) == 4
        seen.append(ids)
    for epoch in (seen[:3], seen[3:]):  # 12 different images per epoch
        assert len({i for ids in epoch for i in ids}) == 12


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_data_order_follows_the_documented_formula(tmp_path, pipeline):
    """Image of step t and crop corner, as the module docstring states (pins exact resume)."""
    files = []
    for i in range(6):
        h, w = 50 + 7 * i, 60 + 5 * i
        img = np.zeros((h, w, 3), dtype=np.uint8)
        img[..., 0] = np.arange(h)[:, None]  # row
        img[..., 1] = np.arange(w)[None, :]  # column
        img[..., 2] = i  # image
        files.append(_save(tmp_path / f"g{i}.png", img))
    seed, batch = 7, 2
    batches = patches.make_batches(
        files, CROP, batch, seed=seed, **_pipeline(pipeline, tmp_path), scale=SCALE
    )
    taken = _take(batches, 7)  # 3 steps per epoch
    for step, (_, hr) in enumerate(taken):
        epoch, position = divmod(step, len(files) // batch)
        order = np.random.default_rng([seed, 0, epoch]).permutation(len(files))
        fractions = np.random.default_rng([seed, 1, step]).random((batch, 2))
        hr8 = _hr_uint8(hr).numpy().astype(int)
        for k in range(batch):
            i = order[position * batch + k]
            h, w = 50 + 7 * i, 60 + 5 * i
            assert hr8[k, 2, 0, 0] == i
            assert hr8[k, 0, 0, 0] == int(fractions[k, 0] * (h - CROP + 1))
            assert hr8[k, 1, 0, 0] == int(fractions[k, 1] * (w - CROP + 1))


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_batches_are_a_function_of_seed_and_step(tmp_path, pipeline):
    files = _noise_images(tmp_path, 9)
    args = _pipeline(pipeline, tmp_path)
    first = _take(patches.make_batches(files, CROP, 4, seed=1, scale=SCALE, **args), 6)
    again = _take(patches.make_batches(files, CROP, 4, seed=1, scale=SCALE, **args), 6)
    resumed = _take(
        patches.make_batches(files, CROP, 4, seed=1, scale=SCALE, start_step=4, **args), 2
    )
    other_seed = _take(patches.make_batches(files, CROP, 4, seed=2, scale=SCALE, **args), 1)
    for (lr_a, hr_a), (lr_b, hr_b) in zip(first, again, strict=True):
        assert torch.equal(lr_a, lr_b) and torch.equal(hr_a, hr_b)
    for (lr_a, hr_a), (lr_b, hr_b) in zip(first[4:], resumed, strict=True):
        assert torch.equal(lr_a, lr_b) and torch.equal(hr_a, hr_b)
    hrs = [hr for _, hr in first]
    assert all(not torch.equal(a, b) for i, a in enumerate(hrs) for b in hrs[i + 1 :])
    assert not torch.equal(other_seed[0][1], first[0][1])


@pytest.mark.process
def test_workers_and_store_give_identical_batches(tmp_path):
    files = _noise_images(tmp_path / "img", 11, size=(45, 37))
    inline = _take(patches.make_batches(files, CROP, 4, seed=3, scale=SCALE, start_step=2), 5)
    workers = _take(
        patches.make_batches(
            files, CROP, 4, seed=3, scale=SCALE, start_step=2, workers=2, cache_images=3
        ),
        5,
    )
    stored = _take(
        patches.make_batches(
            files,
            CROP,
            4,
            seed=3,
            scale=SCALE,
            start_step=2,
            workers=2,
            store_dir=tmp_path / "cache",
        ),
        5,
    )
    for (lr_a, hr_a), (lr_b, hr_b), (lr_c, hr_c) in zip(inline, workers, stored, strict=True):
        assert torch.equal(lr_a, lr_b) and torch.equal(hr_a, hr_b)
        assert torch.equal(lr_a, lr_c) and torch.equal(hr_a, hr_c)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_lr_is_matlab_imresize_of_hr_rounded_to_8_bits(tmp_path, pipeline):
    rng = np.random.default_rng(0)
    smooth = [rng.integers(0, 256, (12, 12, 3)).repeat(5, 0).repeat(5, 1).astype(np.uint8)]
    files = _noise_images(tmp_path, 5) + [_save(tmp_path / "smooth.png", smooth[0])]
    batches = patches.make_batches(
        files, CROP, 6, seed=0, scale=SCALE, **_pipeline(pipeline, tmp_path)
    )
    for lr, hr in _take(batches, 2):
        expected = imresize(_hr_uint8(hr).double() / 255, scale=1 / 4)
        expected = (torch.floor(expected.clamp(0, 1) * 255 + 0.5) / 255).float()
        assert torch.equal(lr, expected)
        # The rounding matters: the raw bicubic values are not 8-bit levels.
        assert not torch.equal(expected, imresize(_hr_uint8(hr).double() / 255, scale=0.25).float())


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_training_lr_equals_the_evaluation_lr_bit_exactly(tmp_path, pipeline):
    """A crop covering a whole image: its training LR is the evaluation's LR of that image."""
    rng = np.random.default_rng(4)
    ramp = np.linspace(0, 255, CROP * CROP * 3).reshape(CROP, CROP, 3).astype(np.uint8)
    images = {
        "noise.png": rng.integers(0, 256, (CROP, CROP, 3), dtype=np.uint8),
        "ramp.png": ramp,
    }
    files = [_save(tmp_path / name, img) for name, img in images.items()]
    ((lr, hr),) = _take(
        patches.make_batches(files, CROP, 2, seed=0, scale=SCALE, **_pipeline(pipeline, tmp_path)),
        1,
    )
    matched = set()
    for k in range(2):
        crop = _hr_uint8(hr[k]).permute(1, 2, 0).numpy()
        (name,) = [name for name, img in images.items() if np.array_equal(img, crop)]
        matched.add(name)
        eval_hr, eval_lr = make_lr(read_image(tmp_path / name), scale=SCALE)
        np.testing.assert_array_equal(eval_hr, crop)
        assert eval_lr.dtype == lr.dtype == torch.float32
        assert torch.equal(eval_lr, lr[k : k + 1])
    assert matched == set(images)


def test_device_pipeline_makes_the_loader_batches_from_the_gpu_or_the_host(tmp_path):
    """The device pipeline (pixels in one tensor, crops by one gather) and its host fallback
    (crops cut from the store, then copied) give the loader's batches, across epochs."""
    files = _noise_images(tmp_path / "img", 11, size=(45, 37)) + _constant_images(tmp_path, 3)
    loader = _take(
        patches.make_batches(files, CROP, 4, seed=3, scale=SCALE, start_step=2, workers=0), 8
    )
    device = _take(
        patches.make_batches(
            files, CROP, 4, seed=3, scale=SCALE, start_step=2, **_pipeline("device", tmp_path)
        ),
        8,
    )
    store = trainset.open_store(files, tmp_path / "cache", progress=False)
    sampler = patches.PatchSampler(len(files), 4, seed=3)
    on_host = patches.DeviceImages(files, store, CROP, torch.device("cpu"), resident=False)
    for step, ((lr_a, hr_a), (lr_b, hr_b)) in enumerate(zip(loader, device, strict=True), 2):
        assert torch.equal(lr_a, lr_b) and torch.equal(hr_a, hr_b)
        hr8 = on_host.hr_crops(sampler.image_indices(step), sampler.crop_fractions(step))
        assert hr8.dtype == torch.uint8 and hr8.is_contiguous()
        assert torch.equal(_hr_uint8(hr_a), hr8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_made_on_cuda_are_the_cpu_batches(tmp_path):
    """Crops gathered on the GPU, their LR resized there (float64): the CPU loader's batches."""
    files = _noise_images(tmp_path / "img", 11, size=(45, 37)) + _constant_images(tmp_path, 3)
    cpu = _take(patches.make_batches(files, CROP, 4, seed=3, scale=SCALE, start_step=2), 8)
    gpu = _take(
        patches.make_batches(
            files,
            CROP,
            4,
            seed=3,
            scale=SCALE,
            start_step=2,
            device="cuda",
            **_pipeline("device", tmp_path),
        ),
        8,
    )
    for (lr_a, hr_a), (lr_b, hr_b) in zip(cpu, gpu, strict=True):
        assert lr_b.is_cuda and hr_b.is_cuda
        assert torch.equal(lr_a, lr_b.cpu()) and torch.equal(hr_a, hr_b.cpu())


def test_pipeline_auto_is_the_device_one_on_cuda_only(tmp_path, caplog):
    assert patches.resolve_pipeline("auto", torch.device("cuda")) == "device"
    assert patches.resolve_pipeline("auto", torch.device("cpu")) == "loader"
    assert patches.resolve_pipeline("device", torch.device("cpu")) == "device"
    with pytest.raises(UserError, match="data.pipeline must be auto, device or loader"):
        patches.resolve_pipeline("gpu", torch.device("cpu"))
    # Without a decoded store the device pipeline cannot run: the loader's batches, and why.
    files = _noise_images(tmp_path, 5)
    with caplog.at_level(logging.WARNING, logger="srgan.data.patches"):
        [(lr, hr)] = _take(
            patches.make_batches(files, CROP, 2, seed=0, scale=SCALE, pipeline="device"), 1
        )
    assert "needs a decoded image store" in caplog.text
    [(lr_l, hr_l)] = _take(patches.make_batches(files, CROP, 2, seed=0, scale=SCALE), 1)
    assert torch.equal(lr, lr_l) and torch.equal(hr, hr_l)


def test_images_that_do_not_fit_on_the_gpu_stay_on_the_host_and_it_is_said(monkeypatch, caplog):
    gib = 1 << 30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (20 * gib, 80 * gib))
    cuda = torch.device("cuda:0")
    needed = 20 * gib - patches.DEVICE_MEMORY_RESERVE_BYTES
    with caplog.at_level(logging.WARNING, logger="srgan.data.patches"):
        assert patches.fits_on_gpu(needed, cuda, 800)
        assert caplog.text == ""
        assert not patches.fits_on_gpu(needed + 1, cuda, 800)
    [record] = caplog.records
    assert record.getMessage() == (
        f"the 800 decoded training images ({(needed + 1) / 1e9:.1f} GB) do not fit on cuda:0 "
        f"(21.5 GB free, {patches.DEVICE_MEMORY_RESERVE_BYTES / 1e9:.1f} GB of it kept for "
        "training): they stay in host memory, each batch's crops are copied to the GPU "
        "through pinned memory and their LR is made there"
    )


def test_device_pipeline_names_images_smaller_than_the_crop(tmp_path):
    files = _noise_images(tmp_path, 3, size=(40, 48)) + _noise_images(tmp_path / "s", 1, (20, 60))
    store = trainset.open_store(files, tmp_path / "cache", progress=False)
    with pytest.raises(UserError, match=r"smaller than the 32x32 crop: .*s/img00.png"):
        patches.DeviceImages(files, store, CROP, torch.device("cpu"))


def test_decoded_store_is_reused_and_rebuilt_when_a_file_changes(tmp_path):
    files = _noise_images(tmp_path / "img", 5)
    cache = tmp_path / "cache"
    first = trainset.open_store(files, cache)
    assert len(list(cache.glob("decoded-*.u8"))) == 1
    assert trainset.open_store(files, cache).pixels_path == first.pixels_path
    np.testing.assert_array_equal(first.image(2), np.asarray(Image.open(files[2])))
    new = np.full((40, 48, 3), 7, dtype=np.uint8)
    _save(files[2], new)
    os.utime(files[2], ns=(1, 1))  # a different mtime even on a coarse clock
    second = trainset.open_store(files, cache)
    assert second.pixels_path != first.pixels_path
    np.testing.assert_array_equal(second.image(2), new)


def test_batch_and_crop_size_checks(tmp_path):
    files = _noise_images(tmp_path, 3)
    with pytest.raises(UserError, match="batch_size 4 is larger than the 3"):
        patches.make_batches(files, CROP, 4, seed=0, scale=SCALE)
    with pytest.raises(UserError, match="multiple of the scale 4"):
        patches.make_batches(files, 30, 2, seed=0, scale=SCALE)


# --------------------------------------------------------------------------------------------
# Scanning and bad input
# --------------------------------------------------------------------------------------------


def _bad_files(folder: Path) -> dict[str, str]:
    """Four unusable files, each with the words its reason must contain."""
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    png = _save(folder / "corrupt.png", photo).read_bytes()
    start = png.index(b"IDAT") + 8
    (folder / "corrupt.png").write_bytes(png[:start] + bytes(200) + png[start + 200 :])
    jpeg = _save(folder / "truncated.jpg", photo, quality=95).read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "notes.png").write_text("this is not an image\n")
    _save(folder / "small.png", photo[:20, :50])
    return {
        "corrupt.png": "corrupt or truncated",
        "truncated.jpg": "corrupt or truncated",
        "notes.png": "not an image",
        "small.png": "too small: 50x20",
    }


def test_error_policy_names_every_unusable_file_and_why(tmp_path):
    good = _noise_images(tmp_path, 3)
    bad = _bad_files(tmp_path)
    with pytest.raises(UserError) as info:
        trainset.scan_images(tmp_path, CROP, "error")
    message = str(info.value)
    assert len(message.splitlines()) == 1  # the CLI prints a UserError as one line
    head = f"4 of 7 training images in {tmp_path} are unusable (data.on_bad_image: error): "
    tail = "; set data.on_bad_image: skip to train on the 3 usable ones, or fix or remove them"
    assert message.startswith(head) and message.endswith(tail)
    entries = message[len(head) : -len(tail)].split("; ")
    assert [entry.partition(": ")[0] for entry in entries] == sorted(bad)
    for entry in entries:
        name, _, reason = entry.partition(": ")
        assert bad[name] in reason, entry
    assert not any(path.name in message for path in good)


def test_skip_policy_returns_the_good_files_and_warns(tmp_path, caplog):
    good = _noise_images(tmp_path, 3)
    bad = _bad_files(tmp_path)
    with caplog.at_level(logging.WARNING, logger="srgan.data"):
        usable = trainset.scan_images(tmp_path, CROP, "skip")
    assert usable == good
    assert "skipping 4 of 7 training images" in caplog.text
    for name, reason in bad.items():
        assert f"{name}: {reason}" in caplog.text
    assert len(caplog.records) == 1 and "\n" not in caplog.records[0].getMessage()


def test_many_bad_files_are_listed_up_to_a_limit(tmp_path):
    _noise_images(tmp_path / "img", 1)
    for i in range(25):
        (tmp_path / "img" / f"bad{i:02d}.png").write_text("x")
    with pytest.raises(UserError) as info:
        trainset.scan_images(tmp_path / "img", CROP, "error", cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert len(message.splitlines()) == 1
    (report,) = (tmp_path / "cache").glob("bad-images-*.txt")
    assert "; bad19.png: not an image Pillow can read (" in message
    assert f"; and 5 more (full list: {report}); set data.on_bad_image: skip" in message
    assert "bad20.png" not in message
    listed = report.read_text().splitlines()
    assert len(listed) == 25 and listed[24].startswith("bad24.png: not an image")


def test_unusual_but_valid_images_come_out_as_rgb(tmp_path):
    size = (40, 40)
    _save(tmp_path / "gray.png", np.full(size, 90, np.uint8))
    _save(tmp_path / "gray_alpha.png", np.dstack([np.full(size, 60, np.uint8)] * 2))
    _save(tmp_path / "rgba.png", np.dstack([np.full(size, v, np.uint8) for v in (10, 20, 30, 99)]))
    _save(tmp_path / "deep.png", np.full(size, 40000, np.uint16))
    palette = Image.new("P", size, 3)
    palette.putpalette([0, 0, 0] * 3 + [200, 150, 100])
    palette.save(tmp_path / "palette.png")
    Image.new("CMYK", size, (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg", quality=100)
    _save(tmp_path / "upper.PNG", np.full((*size, 3), 250, np.uint8))
    modes = {p.name: Image.open(p).mode for p in tmp_path.iterdir()}
    assert sorted(modes.values()) == ["CMYK", "I;16", "L", "LA", "P", "RGB", "RGBA"]
    files = trainset.scan_images(tmp_path, CROP, "error")
    assert [f.name for f in files] == [
        "cmyk.jpg",
        "deep.png",
        "gray.png",
        "gray_alpha.png",
        "palette.png",
        "rgba.png",
        "upper.PNG",
    ]
    ((lr, hr),) = _take(patches.make_batches(files, CROP, len(files), seed=0, scale=SCALE), 1)
    assert hr.shape == (7, 3, CROP, CROP) and lr.shape == (7, 3, LR_CROP, LR_CROP)
    colours = {tuple(c) for c in _hr_uint8(hr)[:, :, 0, 0].tolist()}
    deep = round(40000 / 65535 * 255)
    assert colours == {
        (255, 255, 255),
        (deep, deep, deep),
        (90, 90, 90),
        (60, 60, 60),
        (200, 150, 100),
        (10, 20, 30),
        (250, 250, 250),
    }
    assert torch.equal(_hr_uint8(hr).amin((2, 3)), _hr_uint8(hr).amax((2, 3)))  # constant


def test_scan_is_recursive_sorted_and_ignores_other_files(tmp_path):
    a = _noise_images(tmp_path / "b_class", 2)
    b = _noise_images(tmp_path / "a_class" / "deeper", 1)
    (tmp_path / "README.txt").write_text("not an image, not an image extension")
    (tmp_path / ".hidden.png").write_text("hidden, ignored")
    (tmp_path / ".thumbs").mkdir()
    (tmp_path / ".thumbs" / "x.png").write_text("in a hidden folder, ignored")
    assert trainset.scan_images(tmp_path, CROP, "error") == b + a


def test_scan_follows_links_but_ends_a_link_cycle(tmp_path):
    root = tmp_path / "train"
    inner = _noise_images(root / "inner", 2)
    other = _noise_images(tmp_path / "elsewhere", 1)
    # train/inner/loop -> train: a cycle; train/x_same -> train/inner: inner a second time
    # (the first path in sorted order is the one kept); train/linked -> a folder outside.
    (root / "inner" / "loop").symlink_to(root, target_is_directory=True)
    (root / "x_same").symlink_to(root / "inner", target_is_directory=True)
    (root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    files = trainset.scan_images(root, CROP, "error")
    assert files == [root / "inner" / p.name for p in inner] + [root / "linked" / other[0].name]


def test_missing_empty_and_all_bad_folders_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        trainset.scan_images(tmp_path / "nowhere", CROP, "skip")
    with pytest.raises(UserError, match="holds no image files"):
        trainset.scan_images(tmp_path, CROP, "skip")
    (tmp_path / "x.png").write_text("x")
    with pytest.raises(UserError, match="no usable image is left"):
        trainset.scan_images(tmp_path, CROP, "skip")
    with pytest.raises(UserError, match="on_bad_image must be one of"):
        trainset.scan_images(tmp_path, CROP, "ignore")


def test_scan_manifest_makes_a_rerun_decode_nothing_new(tmp_path, monkeypatch):
    files = _noise_images(tmp_path / "img", 4)
    cache = tmp_path / "cache"
    assert trainset.scan_images(tmp_path / "img", CROP, "error", cache_dir=cache) == files
    decoded = []
    real_check = trainset.check_image
    monkeypatch.setattr(trainset, "check_image", lambda p: decoded.append(p.name) or real_check(p))
    assert trainset.scan_images(tmp_path / "img", CROP, "error", cache_dir=cache) == files
    assert decoded == []
    files[1].write_text("now broken")
    with pytest.raises(UserError, match="img01.png: not an image"):
        trainset.scan_images(tmp_path / "img", CROP, "error", cache_dir=cache)
    assert decoded == ["img01.png"]
    # A larger crop needs no decoding either: the manifest keeps the sizes.
    with pytest.raises(UserError, match="img00.png: too small: 48x40, the crop is 44x44"):
        trainset.scan_images(tmp_path / "img", 44, "error", cache_dir=cache)
    assert decoded == ["img01.png"]


def test_t91_with_the_papers_crop(shared_data, tmp_path):
    t91 = shared_data / "train" / "T91"
    with pytest.raises(UserError) as info:
        trainset.scan_images(t91, 96, "error", cache_dir=tmp_path)
    assert str(info.value) == (
        f"1 of 91 training images in {t91} are unusable (data.on_bad_image: error): "
        "t20.png: too small: 78x78, the crop is 96x96; set data.on_bad_image: skip to train on "
        "the 90 usable ones, or fix or remove them"
    )
    files = trainset.scan_images(t91, 96, "skip", cache_dir=tmp_path)
    assert len(files) == 90 and t91 / "t20.png" not in files
    assert len(trainset.scan_images(t91, 64, "error", cache_dir=tmp_path)) == 91
    ((lr, hr),) = _take(patches.make_batches(files, 96, 16, seed=0, scale=SCALE), 1)
    assert lr.shape == (16, 3, 24, 24) and hr.shape == (16, 3, 96, 96)
    assert len({tuple(h.flatten()[:64].tolist()) for h in hr}) == 16


def test_too_many_pixels_is_named_as_such(tmp_path, monkeypatch):
    (path,) = _noise_images(tmp_path, 1)  # 40 x 48 = 1920 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses more than twice this
    reason = trainset.check_image(path)
    assert reason.startswith("too many pixels for Pillow (") and "\n" not in reason


def test_progress_false_hides_every_bar(tmp_path, monkeypatch):
    files = _noise_images(tmp_path / "img", 4)
    disabled = []

    def fake_tqdm(iterable, **kwargs):
        disabled.append(kwargs["disable"])
        return iterable

    monkeypatch.setattr(trainset, "tqdm", fake_tqdm)
    trainset.scan_images(tmp_path / "img", CROP, "error", cache_dir=tmp_path / "c", progress=False)
    _take(
        patches.make_batches(
            files, CROP, 2, 0, store_dir=tmp_path / "c", progress=False, scale=SCALE
        ),
        1,
    )
    trainset.scan_images(tmp_path / "img", CROP, "error", progress=True)
    assert disabled == [True, True, None]  # scan, store build; None: a bar on a TTY only


def test_store_build_leaves_no_temp_file_and_clears_a_stale_one(tmp_path):
    files = _noise_images(tmp_path / "img", 3)
    cache = tmp_path / "cache"
    store = trainset.open_store(files, cache)
    stale = cache / f".{store.pixels_path.name}.killed.tmp"
    stale.write_bytes(b"left by a builder that was killed")
    store.pixels_path.unlink()  # the store must be built again
    again = trainset.open_store(files, cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [
            again.pixels_path.name,
            f"{again.pixels_path.stem}.index.npy",
            f"{again.pixels_path.stem}.lock",
        ]
    )
    np.testing.assert_array_equal(again.image(1), np.asarray(Image.open(files[1])))


def test_cache_folder_is_under_the_data_root():
    config = SimpleNamespace(data=SimpleNamespace(root="/some/root"))
    assert paths.cache_dir(config) == Path("/some/root/cache")


def test_device_pipeline_gives_real_tie_crops_the_loaders_lr_in_any_sum_order(
    shared_data, tmp_path, monkeypatch
):
    """Two real crops whose exact LR holds a .5 tie, cut and resized by the device pipeline's
    code (on the CPU, with its sums taken in another order, as a GPU's matrix product takes
    them) and by the loader's: the same batch, and the exact LR (the ties rounded up)."""
    image = read_image(shared_data / TIE_IMAGE)
    files = [_save(tmp_path / f"{k}.png", image) for k in range(2)]
    height, width = image.shape[:2]
    corners = np.array(list(TIE_CROPS), dtype=np.float64) + 0.5
    fractions = corners / np.array([height - 96 + 1, width - 96 + 1])
    sampler = SimpleNamespace(
        image_indices=lambda step: np.array([0, 1]), crop_fractions=lambda step: fractions
    )
    store = trainset.open_store(files, tmp_path / "cache", progress=False)
    loader = patches.CropDataset(files, 96, 2, seed=0, scale=SCALE, store=store)
    loader.sampler = sampler
    lr8, hr8 = loader[0]
    expected = patches.to_model_range(lr8, hr8)
    images = patches.DeviceImages(files, store, 96, torch.device("cpu"))
    with monkeypatch.context() as patch:
        patch.setattr(torch, "einsum", reordered_einsum)
        made = next(patches._device_stream(images, sampler, SCALE, start_step=0))
    assert torch.equal(made[0], expected[0]) and torch.equal(made[1], expected[1])
    assert torch.equal(lr8, exact_lr(hr8))
    for k, (channel, row, col) in enumerate(TIE_CROPS.values()):
        assert lr8[k, channel, row, col] == 36  # 35.5 exactly, rounded up
