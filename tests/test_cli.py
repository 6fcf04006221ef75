"""The srgan command line: contracts other tools rely on, and errors without tracebacks."""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
#: PSNR and SSIM only: tiny images, and no LPIPS/NIQE weight files (tests/test_perceptual.py).
NO_PERCEPTUAL = ("--set", "evaluate.perceptual.enabled=false")


def srgan(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "srgan.cli", *args], cwd=cwd, capture_output=True, text=True
    )


def _write_set(folder: Path, sizes: list[tuple[int, int]]) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i}.png")


@pytest.mark.process
def test_evaluate_writes_the_contracted_json(tmp_path):
    _write_set(tmp_path / "Tiny", [(32, 40), (35, 29)])
    out = tmp_path / "out" / "bicubic.json"
    saved = tmp_path / "sr"
    result = srgan(
        "evaluate", "--method", "bicubic", "--data-dir", str(tmp_path), "--datasets", "Tiny",
        "--out", str(out), "--save-images", str(saved), "--no-progress", *NO_PERCEPTUAL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert list(data) == ["Tiny"]
    row = data["Tiny"]
    assert set(row) == {"psnr", "ssim", "ssim_wang", "ciede2000", "n_images", "images"}
    assert row["n_images"] == 2 and set(row["images"]) == {"img0", "img1"}
    for scores in row["images"].values():
        assert set(scores) == {"psnr", "ssim", "ssim_wang", "ciede2000"}
    assert row["psnr"] == pytest.approx(np.mean([s["psnr"] for s in row["images"].values()]))
    assert row["ciede2000"] == pytest.approx(
        np.mean([s["ciede2000"] for s in row["images"].values()])
    )
    assert f"CIEDE2000 {row['ciede2000']:.2f}, 2 images" in result.stdout  # the printed line
    # the saved SR image has the modcropped HR size (35x29 -> 32x28)
    assert Image.open(saved / "Tiny" / "img1.png").size == (28, 32)


@pytest.mark.process
@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing", "Nowhere"),
        ("empty", "Empty"),
        ("corrupt", "broken.png"),
    ],
)
def test_evaluate_user_errors_are_one_line_exit_2(tmp_path, setup, expected):
    if setup == "empty":
        (tmp_path / "Empty").mkdir()
    if setup == "corrupt":
        _write_set(tmp_path / "Bad", [(16, 16)])
        (tmp_path / "Bad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    dataset = {"missing": "Nowhere", "empty": "Empty", "corrupt": "Bad"}[setup]
    result = srgan(
        "evaluate", "--method", "nearest", "--data-dir", str(tmp_path), "--datasets", dataset,
        "--out", str(tmp_path / "o.json"), "--no-progress", *NO_PERCEPTUAL,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0]
    assert not (tmp_path / "o.json").exists()


@pytest.mark.process
def test_evaluate_needs_exactly_one_method(tmp_path):
    result = srgan("evaluate", "--data-dir", str(tmp_path), "--datasets", "X", "--out", "o.json")
    assert result.returncode == 2 and "one of the arguments --method --checkpoint" in result.stderr


@pytest.mark.process
def test_bad_config_value_is_one_line_exit_2(tmp_path):
    result = srgan("train", "srresnet_mse", "--workdir", str(tmp_path), "--set", "model.blocks=-1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "model.blocks" in result.stderr


@pytest.mark.process
def test_evaluate_checks_the_sets_before_it_needs_weight_files(tmp_path):
    # Perceptual metrics on (params.yaml's default), their weights not cached here: the
    # user's own mistake is named first, before any weight file is looked for.
    result = srgan(
        "evaluate", "--method", "bicubic", "--data-dir", str(tmp_path / "nowhere"),
        "--datasets", "Set5", "--out", str(tmp_path / "o.json"), "--no-progress",
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(tmp_path / "nowhere" / "Set5") in result.stderr
    assert "weight file" not in result.stderr


@pytest.mark.process
def test_evaluate_refuses_tiny_images_by_name_before_scoring(tmp_path):
    _write_set(tmp_path / "Big", [(32, 40)])
    _write_set(tmp_path / "Mixed", [(24, 24), (19, 40), (20, 20), (40, 12)])
    result = srgan(
        "evaluate", "--method", "bicubic", "--data-dir", str(tmp_path),
        "--datasets", "Big", "Mixed", "--out", str(tmp_path / "o.json"), "--no-progress",
        *NO_PERCEPTUAL,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    mixed = tmp_path / "Mixed"
    assert f"2 image(s) too small to score: {mixed / 'img1.png'} (40x19), " in line
    assert f"{mixed / 'img3.png'} (12x40); the protocol needs at least 20x20 pixels" in line
    assert result.stdout == "" and not (tmp_path / "o.json").exists()  # nothing was scored
    (mixed / "img1.png").unlink()
    (mixed / "img3.png").unlink()
    ok = srgan(
        "evaluate", "--method", "bicubic", "--data-dir", str(tmp_path),
        "--datasets", "Mixed", "--out", str(tmp_path / "o.json"), "--no-progress",
        *NO_PERCEPTUAL,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr  # 20x20 is the smallest image the protocol scores
    assert json.loads((tmp_path / "o.json").read_text())["Mixed"]["n_images"] == 2


def _read_only_runner(folder: Path):
    """A wrapper that runs a command with ``folder`` on a read-only file system: an empty
    tmpfs mounted read-only in a private mount namespace (`unshare -rm`, no root needed);
    else, for a user other than root, the folder made read-only (mode 555)."""
    folder.mkdir()
    probe = ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o ro none "$0"', str(folder)]
    if shutil.which("unshare") and subprocess.run(probe, capture_output=True).returncode == 0:
        script = 'mount -t tmpfs -o ro none "$0" && exec "$@"'
        return lambda command: ["unshare", "-rm", "sh", "-c", script, str(folder), *command]
    if os.geteuid() == 0:
        pytest.skip("no read-only folder possible: unshare refused, and root writes anywhere")
    folder.chmod(0o555)
    return lambda command: command


@pytest.fixture
def read_only(tmp_path):
    """(a read-only folder, a wrapper making a command see it so)."""
    folder = tmp_path / "ro"
    wrap = _read_only_runner(folder)
    yield folder, wrap
    folder.chmod(0o755)


def _srgan_wrapped(wrap, *args: str) -> subprocess.CompletedProcess:
    command = wrap([sys.executable, "-m", "srgan.cli", *args])
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True)


def _one_line_error(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    for text in expected:
        assert text in line, line


@pytest.mark.process
def test_train_into_a_read_only_folder_is_one_line(tmp_path, read_only):
    folder, wrap = read_only
    _write_set(tmp_path / "train", [(40, 48)] * 4)
    sets = ["data.train_set=folder", f"data.train_dir={tmp_path / 'train'}",
            f"data.root={tmp_path / 'data'}", "data.crop_size=16", "data.batch_size=2"]  # fmt: skip
    args = ["train", "srresnet_mse", "--workdir", str(folder / "run"), "--no-progress"]
    result = _srgan_wrapped(wrap, *args, *[x for item in sets for x in ("--set", item)])
    _one_line_error(result, f"--workdir {folder / 'run'}: cannot write there", str(folder))


@pytest.mark.process
def test_evaluate_checks_its_outputs_before_scoring(tmp_path, read_only):
    folder, wrap = read_only
    _write_set(tmp_path / "Tiny", [(32, 40)])
    common = ["evaluate", "--method", "bicubic", "--data-dir", str(tmp_path),
              "--datasets", "Tiny", "--no-progress", *NO_PERCEPTUAL]  # fmt: skip
    out = _srgan_wrapped(wrap, *common, "--out", str(folder / "o.json"))
    _one_line_error(out, f"--out {folder / 'o.json'}: cannot write there")
    assert out.stdout == ""  # nothing was scored
    images = _srgan_wrapped(
        wrap, *common, "--out", str(tmp_path / "o.json"), "--save-images", str(folder / "sr")
    )
    _one_line_error(images, f"--save-images {folder / 'sr'}: cannot write there")
    assert images.stdout == "" and not (tmp_path / "o.json").exists()


@pytest.mark.process
def test_upscale_checks_its_output_before_the_work(tmp_path, read_only):
    folder, wrap = read_only
    _write_set(tmp_path / "in", [(8, 8)])
    missing = tmp_path / "missing.pt"  # the output is checked before the checkpoint is read
    result = _srgan_wrapped(
        wrap, "upscale", str(tmp_path / "in"), "-o", str(folder / "out"), "--checkpoint",
        str(missing), "--no-progress",
    )  # fmt: skip
    _one_line_error(result, f"-o {folder / 'out'}: cannot write there")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_full_disk_is_one_line_other_os_errors_keep_their_traceback(
    tmp_path, monkeypatch, capsys, code
):
    from srgan.cli import main as cli
    from srgan.core import fileio

    _write_set(tmp_path / "Tiny", [(24, 24)])
    out = tmp_path / "o.json"

    def full(path, data, allow_infinity=False):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(fileio, "write_json_atomic", full)
    args = ["evaluate", "--method", "nearest", "--data-dir", str(tmp_path), "--datasets",
            "Tiny", "--out", str(out), "--no-progress", *NO_PERCEPTUAL]  # fmt: skip
    if code == errno.EIO:  # a bug or a broken disk: not a user mistake, the traceback stays
        with pytest.raises(OSError):
            cli.main(args)
        return
    assert cli.main(args) == 2
    assert capsys.readouterr().err == f"srgan evaluate: error: No space left on device: {out}\n"
