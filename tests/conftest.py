"""Shared test fixtures: where the local data mirror (../shared/data) lives."""

import os
from pathlib import Path

import pytest

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
        data=TrainingData(files_digest="f" * 16, n_files=12, seed=config.seed),
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
