"""Inference: checkpoint loading, the receptive field, exact tiling, `srgan upscale`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_record, paper_generator
from PIL import Image

from srgan.cli import main as cli
from srgan.core.errors import UserError
from srgan.core.paper import SCALE
from srgan.core.paths import RunFolder
from srgan.evaluation import inference
from srgan.models import checkpoints
from srgan.models.networks import SRResNet


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Small convolutions only lose from threads when pytest workers share two cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_generator(
    blocks: int = 2, seed: int = 0, dtype: torch.dtype = torch.float32, scale: int = 4
) -> SRResNet:
    """A small SRResNet in eval mode with non-trivial BN statistics and outputs in range."""
    torch.manual_seed(seed)
    generator = paper_generator(num_blocks=blocks, channels=8, prelu="shared", scale=scale).to(
        dtype
    )
    for module in generator.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        generator.tail.weight.mul_(0.2)  # keep most outputs inside [-1, 1] (no clamping)
    return generator.eval().requires_grad_(False)


def save_checkpoint(generator: SRResNet, path: Path, **extra: object) -> Path:
    torch.save({"model": generator.config, "generator": generator.state_dict(), **extra}, path)
    return path


# --- the receptive field and tiling -----------------------------------------------------------


@pytest.mark.parametrize("blocks", [1, 2])
def test_receptive_radius_matches_autograd(blocks: int) -> None:
    radius = inference.receptive_radius(blocks, SCALE)
    assert radius == 2 * blocks + 8
    generator = tiny_generator(blocks, dtype=torch.float64).requires_grad_(False)
    size = 2 * radius + 7
    centre = size // 2
    reach = 0
    for offset in range(4):  # every position of an HR pixel inside its LR pixel
        lr = torch.rand(1, 3, size, size, dtype=torch.float64, requires_grad=True)
        generator(lr)[0, :, 4 * centre + offset, 4 * centre + offset].sum().backward()
        touched = (lr.grad[0].abs().sum(0) != 0).nonzero()
        reach = max(reach, int((touched - centre).abs().max()))
    assert reach == radius
    assert inference.receptive_radius(16, SCALE) == 40


def test_tiled_equals_untiled_when_the_overlap_covers_the_receptive_field() -> None:
    generator = tiny_generator(blocks=2)
    torch.manual_seed(1)
    lr = torch.rand(1, 3, 37, 45)
    with torch.inference_mode():
        whole = inference.upscale_tensor_tiled(generator, lr, tile=0, overlap=0, scale=SCALE)
        tiled = inference.upscale_tensor_tiled(generator, lr, tile=16, overlap=12, scale=SCALE)
        no_margin = inference.upscale_tensor_tiled(generator, lr, tile=16, overlap=0, scale=SCALE)
    assert whole.shape == tiled.shape == (1, 3, 148, 180)
    assert 0.05 < whole.mean() < 0.95  # mostly unclamped
    assert (tiled - whole).abs().max() < 1e-5
    assert (no_margin - whole).abs().max() > 1e-2  # the margin matters


def test_generator_upscaler_maps_minus_one_one_to_zero_one() -> None:
    generator = tiny_generator()
    with torch.no_grad():
        generator.tail.weight.zero_()
        generator.tail.bias.copy_(torch.tensor([0.5, -1.0, 3.0]))
    upscale = inference.generator_upscaler(generator, tile=4)
    sr = upscale(torch.rand(1, 3, 5, 9))
    assert sr.shape == (1, 3, 20, 36) and sr.dtype == torch.float32
    assert torch.equal(sr[0, :, 0, 0], torch.tensor([0.75, 0.0, 1.0]))
    assert torch.equal(sr.amin(dim=(2, 3)), sr.amax(dim=(2, 3)))


def test_generator_upscaler_runs_gray_as_rgb_and_averages_back() -> None:
    generator = tiny_generator()
    upscale = inference.generator_upscaler(generator, tile=4)
    torch.manual_seed(2)
    gray = torch.rand(1, 1, 6, 7)
    sr = upscale(gray)
    rgb = upscale(gray.repeat(1, 3, 1, 1))
    assert sr.shape == (1, 1, 24, 28)
    assert torch.equal(sr, rgb.mean(dim=1, keepdim=True))
    assert (rgb[:, 0] - rgb[:, 1]).abs().max() > 1e-3  # the channels differ: a real average


# --- loading ------------------------------------------------------------------------------------


def test_load_generator_round_trip(tmp_path: Path) -> None:
    generator = tiny_generator()
    path = save_checkpoint(generator, tmp_path / "g.pt", metadata={"variant": "srresnet_mse"})
    loaded = inference.load_generator(path, device="cpu")
    assert not loaded.training and loaded.config == generator.config
    assert all(not p.requires_grad for p in loaded.parameters())
    for key, value in generator.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    again, found = inference.load_generator_with_record(path, device="cpu")
    assert found is None and again.config == generator.config  # a snapshot has no run record
    folder = RunFolder(tmp_path / "run")
    written = make_record(generator)
    checkpoints.write_final(folder, generator.config, generator.state_dict(), written)
    assert inference.load_generator_with_record(folder.final, device="cpu")[1] == written


class NotWeights:
    pass


def test_load_generator_rejects_bad_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        inference.load_generator(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read checkpoint"):
        inference.load_generator(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a generator checkpoint"):
        inference.load_generator(tmp_path / "other.pt")
    torch.save(NotWeights(), tmp_path / "code.pt")
    with pytest.raises(UserError, match="cannot read checkpoint"):  # weights_only refuses it
        inference.load_generator(tmp_path / "code.pt")
    wrong = {"model": {**tiny_generator().config, "num_blocks": 3}}
    wrong["generator"] = tiny_generator().state_dict()
    torch.save(wrong, tmp_path / "wrong.pt")
    with pytest.raises(UserError, match="do not match"):
        inference.load_generator(tmp_path / "wrong.pt")


# --- srgan upscale ------------------------------------------------------------------------------


def test_upscale_cli_writes_png_for_png_and_jpeg(tmp_path: Path) -> None:
    checkpoint = save_checkpoint(tiny_generator(), tmp_path / "g.pt")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    gray = rng.integers(0, 256, (13, 17), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.jpg", quality=90)
    out = tmp_path / "out"
    inputs = [str(tmp_path / "rgb.png"), str(tmp_path / "gray.jpg")]
    common = ["--checkpoint", str(checkpoint), "--tile", "8", "--no-progress"]
    assert cli.main(["upscale", *inputs, "-o", str(out), *common]) == 0
    with Image.open(out / "rgb_x4.png") as im:
        assert (im.mode, im.size) == ("RGB", (96, 80))
    with Image.open(out / "gray_x4.png") as im:
        assert (im.mode, im.size) == ("L", (68, 52))
    single = tmp_path / "single.png"
    assert cli.main(["upscale", inputs[0], "-o", str(single), *common]) == 0
    untiled = tmp_path / "untiled.png"
    assert cli.main(["upscale", inputs[0], "-o", str(untiled), *common[:2], "--tile", "0"]) == 0
    assert np.array_equal(np.asarray(Image.open(single)), np.asarray(Image.open(untiled)))
    assert cli.main(["upscale", *inputs, "-o", str(tmp_path / "both.png"), *common]) == 2


def test_upscale_files_name_and_size_follow_the_checkpoint_scale(tmp_path: Path) -> None:
    checkpoint = save_checkpoint(tiny_generator(scale=2), tmp_path / "g2.pt")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    written = inference.upscale_files(
        [tmp_path / "a.png"], tmp_path / "out", checkpoint, tile=0, device="cpu", progress=False
    )
    assert written == [tmp_path / "out" / "a_x2.png"]
    with Image.open(written[0]) as im:
        assert im.size == (22, 18)


def test_output_paths() -> None:
    one = [Path("a/x.jpg")]
    assert inference.output_paths(one, Path("o/y.png"), SCALE) == [Path("o/y.png")]
    assert inference.output_paths(one, Path("o"), SCALE) == [Path("o/x_x4.png")]
    assert inference.output_paths(one, Path("o"), scale=8) == [Path("o/x_x8.png")]
    with pytest.raises(UserError, match="both be written"):
        inference.output_paths([Path("a/x.jpg"), Path("b/x.png")], Path("o"), SCALE)


def _upscale(inputs: list[Path], output: Path, checkpoint: Path, *extra: str) -> int:
    return cli.main(["upscale", *map(str, inputs), "-o", str(output), "--checkpoint",
                     str(checkpoint), "--no-progress", *extra])  # fmt: skip


def test_upscale_turns_photos_upright_by_their_exif_orientation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A phone photo stored sideways with orientation 6 ("rotate 90 degrees clockwise to
    show it") comes out as the upright photo would."""
    checkpoint = save_checkpoint(tiny_generator(), tmp_path / "g.pt")
    upright = np.random.default_rng(3).integers(0, 256, (12, 20, 3), dtype=np.uint8)
    Image.fromarray(upright).save(tmp_path / "upright.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.rot90(upright).copy()).save(tmp_path / "sideways.png", exif=exif)
    assert _upscale([tmp_path / "upright.png", tmp_path / "sideways.png"], tmp_path / "o",
                    checkpoint, "--tile", "8") == 0  # fmt: skip
    with Image.open(tmp_path / "o" / "sideways_x4.png") as im:
        assert im.size == (80, 48)
        assert np.array_equal(np.asarray(im), np.asarray(Image.open(tmp_path / "o/upright_x4.png")))
    out = capsys.readouterr().out
    assert "sideways.png: turned upright as its EXIF orientation 6 asks" in out
    assert "upright.png: turned" not in out


def test_upscale_keeps_alpha_and_says_what_it_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = save_checkpoint(tiny_generator(), tmp_path / "g.pt")
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)
    alpha = np.zeros((10, 14), np.uint8)
    alpha[:, 7:] = 255  # the right half opaque
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "logo.png")
    Image.fromarray(rgb).save(tmp_path / "plain.png")
    for tile in ("4", "0"):
        out = tmp_path / f"tile{tile}"
        assert _upscale([tmp_path / "logo.png", tmp_path / "plain.png"], out, checkpoint,
                        "--tile", tile) == 0  # fmt: skip
    captured = capsys.readouterr().out
    assert f"wrote {tmp_path / 'tile4' / 'logo_x4.png'} (56x40, RGB + alpha; x4 of " in captured
    assert f"wrote {tmp_path / 'tile4' / 'plain_x4.png'} (56x40, RGB; x4 of " in captured
    assert "logo.png: its alpha channel is kept" in captured
    with Image.open(tmp_path / "tile4" / "logo_x4.png") as im:
        assert (im.mode, im.size) == ("RGBA", (56, 40))
        logo = np.asarray(im)
    plain = np.asarray(Image.open(tmp_path / "tile4" / "plain_x4.png"))
    assert np.array_equal(logo[..., :3], plain)  # the colour as without alpha
    assert (logo[:, :24, 3] == 0).all() and (logo[:, 32:, 3] == 255).all()
    assert 0 < logo[:, 26, 3].min() < 255  # bicubic across the edge
    untiled = np.asarray(Image.open(tmp_path / "tile0" / "logo_x4.png"))
    assert np.array_equal(logo, untiled)  # tiled alpha and colour equal the untiled ones


@pytest.mark.parametrize("bad", [["--tile", "-5"], ["--overlap", "-1"]])
def test_upscale_refuses_negative_tiles_in_one_line(
    tmp_path: Path, bad: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = save_checkpoint(tiny_generator(), tmp_path / "g.pt")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    assert _upscale([tmp_path / "a.png"], tmp_path / "o", checkpoint, *bad) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"srgan upscale: error: {bad[0]} must be >= 0")
    assert not (tmp_path / "o").exists()


def test_upscale_output_comes_band_by_band_so_memory_follows_the_tile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither the float output nor the whole 8-bit output is ever held: the generator sees
    tiles of at most tile + 2 overlap LR pixels, and the PNG writer gets bands of one row
    of tiles (scale x tile output rows), which it writes before the next is made."""
    generator = tiny_generator()
    checkpoint = save_checkpoint(generator, tmp_path / "g.pt")
    Image.fromarray(np.zeros((37, 45, 3), np.uint8)).save(tmp_path / "a.png")
    seen, bands = [], []
    original_forward = SRResNet.forward
    monkeypatch.setattr(
        SRResNet, "forward", lambda self, x: seen.append(x.shape[-2:]) or original_forward(self, x)
    )
    original_writer = inference.write_png_bands

    def writer(path: Path, height: int, width: int, channels: int, parts: Iterator) -> None:
        def recorded() -> Iterator[np.ndarray]:
            for band in parts:
                bands.append(band.shape)
                yield band

        original_writer(path, height, width, channels, recorded())

    monkeypatch.setattr(inference, "write_png_bands", writer)
    assert _upscale([tmp_path / "a.png"], tmp_path / "o.png", checkpoint,
                    "--tile", "8", "--overlap", "3") == 0  # fmt: skip
    assert max(max(shape) for shape in seen) == 8 + 2 * 3 and len(seen) == 5 * 6
    assert bands == [(32, 180, 3)] * 4 + [(20, 180, 3)]
    with Image.open(tmp_path / "o.png") as im:
        assert im.size == (180, 148)


def test_upscale_never_overwrites_an_input_and_an_output_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = save_checkpoint(tiny_generator(), tmp_path / "g.pt")
    rng = np.random.default_rng(2)
    photo = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(photo)
    original = photo.read_bytes()
    (tmp_path / "link.png").symlink_to(photo)
    same_file = [
        photo,  # srgan upscale photo.png -o photo.png
        Path(os.path.relpath(photo)),  # the same file by another name
        tmp_path / "link.png",  # through a link
    ]
    for output in same_file:
        for extra in ((), ("--overwrite",)):
            capsys.readouterr()
            assert _upscale([photo], output, checkpoint, *extra) == 2
            [line] = capsys.readouterr().err.splitlines()
            assert line.startswith(f"srgan upscale: error: -o {output} is the input {photo}: ")
            assert "an input is never overwritten" in line
    # a folder output whose name for one input is another input
    Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "a_x4.png").write_bytes(original)
    both = [tmp_path / "a.png", tmp_path / "a_x4.png"]
    assert _upscale(both, tmp_path, checkpoint, "--overwrite") == 2
    assert "is the input" in capsys.readouterr().err
    assert photo.read_bytes() == original and (tmp_path / "a_x4.png").read_bytes() == original
    # an existing output: only with --overwrite
    out = tmp_path / "out.png"
    assert _upscale([photo], out, checkpoint) == 0
    first = out.read_bytes()
    out.write_bytes(b"mine")
    capsys.readouterr()
    assert _upscale([photo], out, checkpoint) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        f"srgan upscale: error: {out} exists already: pass --overwrite to replace it, "
        "or choose another -o"
    )
    assert out.read_bytes() == b"mine"
    assert _upscale([photo], out, checkpoint, "--overwrite") == 0
    assert out.read_bytes() == first


def test_upscale_help_says_what_is_overwritten(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["upscale", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "An input is never overwritten; an output file that exists already only with --overwrite"
        in text
    )
    assert (
        "--overwrite replace output files that exist already (an input is never replaced)" in text
    )
