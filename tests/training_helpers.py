"""What the training tests share: small learnable images, a configuration shrunk until a step takes
milliseconds, the children that interrupt `srgan train` at a fixed step, weight comparisons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from conftest import TINY_MODEL
from PIL import Image

from srgan.core.config import Config, load_config

REPO = Path(__file__).resolve().parents[1]


PARAMS = REPO / "params.yaml"


DEMO = REPO / "config" / "demo.yaml"


TINY = [
    *TINY_MODEL,
    "train.log_every=2",
    "train.checkpoint_every=4",
    "train.eval_every=0",
    "train.srgan.lr_decay_step=10",
]


def write_images(folder: Path, count: int, size: tuple[int, int], seed: int) -> Path:
    """Smooth colour patterns plus noise: learnable, different per image."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    height, width = size
    y, x = np.mgrid[0:height, 0:width]
    for i in range(count):
        wave = np.sin(x / (2 + i) + y / (3 + i))[..., None] * np.array([1.0, 0.7, 0.4])
        img = 127 + 100 * wave + rng.normal(0, 8, (height, width, 3))
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


def config_sets(root: Path, images: Path, extra: list[str]) -> list[str]:
    return [
        "data.train_set=folder",
        f"data.train_dir={images}",
        f"data.root={root / 'data'}",
        *TINY,
        *extra,
    ]


def make_config(root: Path, images: Path, *extra: str) -> Config:
    return load_config(PARAMS, [DEMO], config_sets(root, images, list(extra)))


def generator_weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["generator"]


def logged_metric(workdir: Path, name: str) -> list[list[str]]:
    path = workdir / "dvclive" / "plots" / "metrics" / f"{name}.tsv"
    return [line.split("\t") for line in path.read_text().splitlines()]
