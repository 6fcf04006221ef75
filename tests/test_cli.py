"""The srgan command line: contracts other tools rely on, and errors without tracebacks."""

import json
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
    assert set(row) == {"psnr", "ssim", "ssim_wang", "n_images", "images"}
    assert row["n_images"] == 2 and set(row["images"]) == {"img0", "img1"}
    for scores in row["images"].values():
        assert set(scores) == {"psnr", "ssim", "ssim_wang"}
    assert row["psnr"] == pytest.approx(np.mean([s["psnr"] for s in row["images"].values()]))
    # the saved SR image has the modcropped HR size (35x29 -> 32x28)
    assert Image.open(saved / "Tiny" / "img1.png").size == (28, 32)


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


def test_evaluate_needs_exactly_one_method(tmp_path):
    result = srgan("evaluate", "--data-dir", str(tmp_path), "--datasets", "X", "--out", "o.json")
    assert result.returncode == 2 and "one of the arguments --method --checkpoint" in result.stderr


def test_bad_config_value_is_one_line_exit_2(tmp_path):
    result = srgan("train", "srresnet_mse", "--workdir", str(tmp_path), "--set", "model.blocks=-1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "model.blocks" in result.stderr
