"""Generator snapshots during training, per-variant steps, the SRResNet rate drop, and the
demo profile sized so that its SRResNet-MSE learns."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL
from PIL import Image

from srgan.core import identity, paths, variants
from srgan.core.config import load_config
from srgan.models import checkpoints
from srgan.report import provenance
from srgan.training import run as training

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"
DEMO = REPO / "config" / "demo.yaml"
TINY = [
    *TINY_MODEL,
    "train.log_every=2",
    "train.checkpoint_every=4",
    "train.eval_every=0",
]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        pixels = rng.integers(0, 255, (32, 36, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    return folder


@pytest.mark.process
def test_training_keeps_the_generator_at_the_snapshot_steps(tmp_path: Path, images: Path) -> None:
    sets = [
        *TINY,
        "data.train_set=folder",
        f"data.train_dir={images}",
        f"data.root={tmp_path / 'data'}",
        "train.snapshot_steps=[2, 5, 99]",
    ]
    config = load_config(PARAMS, [DEMO], sets)
    final = training.train("srresnet_mse", tmp_path / "run", config, steps=6, progress=False)
    folder = paths.RunFolder(tmp_path / "run")
    found = checkpoints.list_snapshots(folder)
    assert [step for step, _ in found] == [2, 5]  # 99 is past the end: never reached
    assert [path for _, path in found] == [folder.snapshot(2), folder.snapshot(5)]
    generator, found = checkpoints.load_generator(folder.snapshot(5))
    meta = checkpoints.read_generator_file(folder.snapshot(5))["metadata"]
    assert (meta["variant"], meta["step"]) == ("srresnet_mse", 5) and found is None
    last, _ = checkpoints.load_generator(final)
    assert generator.config == last.config
    differs = [
        not torch.equal(a, b)
        for a, b in zip(generator.state_dict().values(), last.state_dict().values(), strict=True)
    ]
    assert any(differs)  # step 5's weights, not the final ones
    # The snapshots are not resumable checkpoints, and pruning leaves them alone.
    assert [step for step, _ in checkpoints.list_checkpoints(folder)] == [6, 4]


def test_variant_steps_replace_one_variants_schedule() -> None:
    config = load_config(PARAMS, sets=["train.variant_steps={srresnet_vgg22: 30}"])
    vgg = variants.schedule(config, variants.VARIANTS[variants.SRRESNET_VGG22])
    mse = variants.schedule(config, variants.VARIANTS[variants.SRRESNET_MSE])
    assert (vgg.steps, mse.steps) == (30, 1_000_000)
    assert variants.schedule(config, variants.VARIANTS[variants.SRRESNET_VGG22], 7).steps == 7
    # A deviation the reports name; the run identity leaves steps out (the trigger has them).
    assert "train.variant_steps.srresnet_vgg22 = 30 (paper: the schedule's steps)" in (
        provenance.deviations(config.to_dict())
    )
    base = load_config(PARAMS)
    spec = variants.VARIANTS[variants.SRRESNET_VGG22]
    assert identity.run_hash(config, spec) == identity.run_hash(base, spec)
    assert identity.rerun_trigger(config, spec) != identity.rerun_trigger(base, spec)


def test_the_srresnet_rate_is_constant_unless_a_drop_is_configured() -> None:
    spec = variants.VARIANTS[variants.SRRESNET_MSE]
    paper = variants.schedule(load_config(PARAMS), spec)
    assert paper.decay_step is None and paper.lr_at(999_999) == 1e-4
    demo = variants.schedule(load_config(PARAMS, [DEMO]), spec)
    assert (demo.steps, demo.decay_step) == (1500, 1200)
    assert demo.lr_at(1199) == 2e-3 and math.isclose(demo.lr_at(1200), 2e-4)


def test_the_demo_banner_names_each_demo_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Derived from the configuration: every key the demo profile sets that the paper states."""
    from srgan.cli.demo import demo_banner

    monkeypatch.chdir(REPO)  # `srgan demo` runs in the project folder
    banner = demo_banner(None, imagenet_vgg=False)
    for key in (
        "data.crop_size = 48",
        "model.blocks = 4",
        "model.channels = 32",
        "train.srresnet.lr = 0.002",
        "train.srresnet.lr_decay_step = 1200",
        "train.srresnet.steps = 1500",
        "train.variant_steps.srresnet_vgg22 = 300",
        "vgg.weights = 'random'",
    ):
        assert key in banner, key
    assert "vgg.weights" not in demo_banner(None, imagenet_vgg=True)


def test_the_demo_summary_labels_stand_in_perceptual_scores(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The demo's LPIPS and NIQE come from stand-in weights: its summary says so on each score
    and in a line under them; PSNR, SSIM and colour are not labelled."""
    import json

    from srgan.cli.common import STANDIN_NOTE, uses_standin
    from srgan.cli.demo import demo_config, demo_scores
    from srgan.core.config import from_dict

    monkeypatch.chdir(REPO)  # `srgan demo` runs in the project folder
    row = {"psnr": 28.5, "ssim": 0.83, "ssim_wang": 0.8, "ciede2000": 3.2, "lpips": 0.25,
           "niqe": 12.5, "n_images": 5, "images": {}}  # fmt: skip
    (tmp_path / "bicubic.json").write_text(json.dumps({"SkimageTest": row}))
    standin = uses_standin(from_dict(demo_config(None, imagenet_vgg=False)))
    assert standin
    scores = (
        "PSNR 28.50 dB, SSIM 0.8300 (daala), 0.8000 (Wang), CIEDE2000 3.20, "
        "LPIPS (stand-in) 0.2500, NIQE (stand-in) 12.5000, 5 images"
    )
    assert demo_scores(tmp_path, standin) == [
        f"  bicubic         SkimageTest  {scores}",
        STANDIN_NOTE,
    ]
    assert "stand-in" in STANDIN_NOTE and "mean nothing" in STANDIN_NOTE
    pretrained = demo_scores(tmp_path, standin=False)
    assert pretrained == [f"  bicubic         SkimageTest  {scores.replace(' (stand-in)', '')}"]
    assert not uses_standin(load_config(PARAMS))
