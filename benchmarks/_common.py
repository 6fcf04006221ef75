"""What the benchmark scripts share: where the local data mirror is.

The scripts run as ``python benchmarks/<script>.py``, so this folder is on ``sys.path`` and
they import this module as ``_common``. (tests/conftest.py keeps its own copy: the tests do
not import from the benchmarks.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srgan.core.paper import SCALE
from srgan.data.patches import to_model_range
from srgan.image.resize import downscale_8bit

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The data mirror: ``$SRGAN_SHARED_DATA``, else ``../shared/data`` beside the checkout."""
    env = os.environ.get("SRGAN_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def default_data_dir(subfolder: str) -> Path:
    """A folder of the mirror, e.g. ``default_data_dir("train/BSD200")``."""
    return shared_data_dir() / subfolder


def naive_batches(
    files: list[Path], crop: int, batch: int, seed: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The naive baseline pipeline: every sample opened with PIL, cropped and downscaled on
    its own, in this process; (LR in [0, 1], HR in [-1, 1]) like
    ``srgan.data.patches.make_batches``."""
    rng = np.random.default_rng(seed)
    while True:
        lrs, hrs = [], []
        for i in rng.choice(len(files), batch, replace=False):
            with Image.open(files[i]) as im:
                img = np.array(im.convert("RGB"))
            top = rng.integers(0, img.shape[0] - crop + 1)
            left = rng.integers(0, img.shape[1] - crop + 1)
            hr = torch.from_numpy(img[top : top + crop, left : left + crop].transpose(2, 0, 1))
            lrs.append(downscale_8bit(hr.unsqueeze(0), scale=SCALE))
            hrs.append(hr.unsqueeze(0))
        yield to_model_range(torch.cat(lrs), torch.cat(hrs))
