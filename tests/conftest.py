"""Shared test fixtures: where the local data mirror (../shared/data) lives; tiny models; LR
images with exact rounding ties and the exact LR to compare with."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from srgan.core.paper import SCALE
from srgan.image.resize import resize_matrix

REPO_ROOT = Path(__file__).resolve().parents[1]
#: --set pairs that shrink the models until a training step takes milliseconds on a CPU
#: (test_training, test_trainer: ``from conftest import TINY_MODEL``).
TINY_MODEL = [
    "model.blocks=1",
    "model.channels=8",
    "data.crop_size=16",
    "data.batch_size=2",
    "discriminator.channels=[8,8]",
    "discriminator.strides=[1,2]",
]


def _shared_data_dir() -> Path:
    env = os.environ.get("SRGAN_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The local mirror laid out as ``../shared/data`` (benchmarks/, train/, reference/)."""
    path = _shared_data_dir()
    if not (path / "benchmarks").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the data mirror is missing in CI: {path}")
        pytest.skip(f"no local data mirror at {path} (set SRGAN_SHARED_DATA)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread_per_worker():
    """pytest -n 2 on 2 cores: torch's default threads per worker would oversubscribe."""
    import torch

    torch.set_num_threads(1)


def make_record(generator, variant: str = "srresnet_mse", step: int = 7, **changes):
    """A run record of ``generator`` (an SRResNet) as ``srgan train`` writes one, with the
    demo configuration (tests/test_record.py; tests of the reports)."""
    import dataclasses

    from srgan.core import comparability, identity, variants
    from srgan.core.config import load_config
    from srgan.core.record import RunRecord, Software, TrainingData
    from srgan.models.checkpoints import weights_digest

    config = load_config(REPO_ROOT / "params.yaml", [REPO_ROOT / "config" / "demo.yaml"])
    spec = variants.get(variant)
    record = RunRecord(
        variant=variant,
        step=step,
        identity=identity.run_hash(config, spec),
        config_hash=config.hash(),
        config=config.to_dict(),
        model=generator.config,
        schedule=variants.schedule(config, spec, step),
        init=None,
        data=TrainingData(
            files_digest="f" * 16, n_files=12, seed=config.seed, files_stat_digest="e" * 16
        ),
        weights_digest=weights_digest(generator.state_dict()),
        reasons=tuple(comparability.reasons(config, spec)),
        software=Software("0" * 40, "2.14.1", "cpu", "fp32", "2026-12-03T00:00:00+00:00"),
    )
    return dataclasses.replace(record, **changes)


def paper_generator(**changes):
    """The paper's SRResNet (16 blocks of 64 channels, x4; srgan.core.paper), with ``changes``."""
    from srgan.core import paper
    from srgan.models.networks import SRResNet

    settings = {
        "num_blocks": paper.RESIDUAL_BLOCKS,
        "channels": paper.FEATURE_CHANNELS,
        "prelu": "per_channel",
        "long_skip": True,
        "scale": paper.SCALE,
    }
    return SRResNet(**{**settings, **changes})


def paper_discriminator(**changes):
    """The paper's discriminator (96 px crops; srgan.core.paper), with ``changes``."""
    from srgan.core import paper
    from srgan.models.networks import Discriminator

    settings = {
        "input_size": paper.HR_CROP,
        "channels": paper.DISCRIMINATOR_CHANNELS,
        "strides": paper.DISCRIMINATOR_STRIDES,
        "dense": paper.DISCRIMINATOR_DENSE,
    }
    return Discriminator(**{**settings, **changes})


# --- LR images with exact .5 ties (test_imageops, test_patches) -------------------------------

#: A crop of the mirror's BSD200 whose exact LR holds a value on a rounding tie (35.5 in the
#: blue channel at LR (20, 22)), and another of the same image (at (14, 22)): (top, left).
TIE_IMAGE = Path("train") / "BSD200" / "134008.png"
TIE_CROPS = {(192, 24): (2, 20, 22), (216, 24): (2, 14, 22)}
#: Scale-4 bicubic weights are multiples of 2**-12 (tested below).
WEIGHT_BITS = 12


def exact_lr(hr: torch.Tensor) -> torch.Tensor:
    """The LR of uint8 (N, C, H, W) ``hr`` in integer arithmetic: MATLAB's resize of the exact
    values, clipped, rounded half up (MATLAB's rounding), as uint8."""
    one = 1 << WEIGHT_BITS
    rows, cols = (
        torch.from_numpy(np.rint(resize_matrix(n, n // SCALE, 1 / SCALE) * one).astype(np.int64))
        for n in hr.shape[-2:]
    )
    total = torch.einsum("oh,nchw,pw->ncop", rows, hr.long(), cols)  # times one**2
    half, full = one * one // 2, one * one
    return ((total + half).div(full, rounding_mode="floor")).clamp(0, 255).to(torch.uint8)


def tie_crops(count: int, size: int = 32) -> torch.Tensor:
    """uint8 crops p[i, j] = base + r[i] + c[j] (per channel): their LR is base + (r's resize)
    + (c's resize), each a multiple of 2**-12, so some of them land exactly on .5."""
    rng = np.random.default_rng(1)
    base = rng.integers(40, 200, (count, 3, 1, 1))
    rows = rng.integers(-20, 21, (count, 3, size, 1))
    cols = rng.integers(-20, 21, (count, 3, 1, size))
    return torch.from_numpy((base + rows + cols).astype(np.uint8))


def reordered_einsum(equation: str, *operands: torch.Tensor) -> torch.Tensor:
    """``torch.einsum`` for the resize's two contractions, summing the taps one at a time in
    reverse order (another device's GEMM sums in its own order)."""
    if equation == "oh,...hw->...ow":
        matrix, x = operands
        terms = [matrix[:, k, None] * x[..., k : k + 1, :] for k in range(matrix.shape[1])]
    elif equation == "...hw,ow->...ho":
        x, matrix = operands
        terms = [x[..., k : k + 1] * matrix[:, k] for k in range(matrix.shape[1])]
    else:
        raise AssertionError(equation)
    total = torch.zeros_like(terms[0])
    for term in reversed(terms):
        total = total + term
    return total


# --- the fast path (`make check`): what an unmarked test may not do ------------------------------

#: Set by `make check`: an unmarked test that starts a process, or uses more CPU than this, fails.
FAST_CHECK_ENV = "SRGAN_FAST_CHECK"
FAST_CPU_S = 5.0
#: The marks of tests `make check` leaves out (pyproject.toml names them).
FAST_EXCLUDED_MARKS = ("slow", "process", "browser")


def _no_process(*args, **kwargs):
    pytest.fail(
        "this test starts a process: mark it @pytest.mark.process (make check leaves it out)",
        pytrace=False,
    )


@pytest.fixture(autouse=True)
def _fast_check_guard(request, monkeypatch):
    """Under `make check`, hold every unmarked test to the fast path's rules."""
    marked = any(request.node.get_closest_marker(m) for m in FAST_EXCLUDED_MARKS)
    if not os.environ.get(FAST_CHECK_ENV) or marked:
        yield
        return
    import multiprocessing.process
    import subprocess
    import time

    monkeypatch.setattr(subprocess.Popen, "__init__", _no_process)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", _no_process)
    start = time.process_time()
    yield
    used = time.process_time() - start
    if used > FAST_CPU_S:
        pytest.fail(
            f"this test used {used:.1f} s of CPU (more than {FAST_CPU_S} s): mark it "
            "@pytest.mark.slow (make check leaves it out)",
            pytrace=False,
        )


# --- training runs (tests/test_training_*.py) -------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six small learnable training images (``training_helpers.write_images``)."""
    from training_helpers import write_images

    return write_images(tmp_path_factory.mktemp("train") / "images", 6, (40, 48), seed=0)


@pytest.fixture(scope="module")
def srresnet_run(tmp_path_factory: pytest.TempPathFactory, images: Path):
    """A short srresnet_mse run (the SRGAN variants' --init), evaluated on a tiny Set5:
    (its final.pt, its configuration)."""
    from training_helpers import make_config, write_images

    from srgan.evaluation import protocol
    from srgan.training import run

    root = tmp_path_factory.mktemp("srresnet")
    write_images(root / "data" / "test_sets" / "Set5", 2, (24, 28), seed=1)
    config = make_config(root, images, "train.eval_every=3", "evaluate.datasets=[Set5]")
    final = run.train(
        "srresnet_mse",
        root / "run",
        config,
        steps=6,
        progress=False,
        evaluate=protocol.training_evaluator(config),
    )
    return final, config
