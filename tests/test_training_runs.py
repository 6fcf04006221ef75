"""Training runs: schedules and losses of the five variants, what a run writes (final.pt, its
run record, logs, progress lines), and what a rerun does (nothing, continue, start over).

Runs use the demo profile shrunk further with --set (1 block, 8 channels, 16-pixel crops,
batch 2) on small synthetic images, so a step takes milliseconds on a CPU.
"""

from __future__ import annotations

import fcntl
import functools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import paper_generator
from PIL import Image
from torch import nn
from training_helpers import (
    DEMO,
    PARAMS,
    generator_weights,
    logged_metric,
    make_config,
    write_images,
)

from srgan.core import comparability, identity, paths, variants
from srgan.core.config import Config, load_config
from srgan.core.errors import UserError
from srgan.data.patches import make_batches
from srgan.evaluation import inference
from srgan.evaluation import protocol as evaluation
from srgan.models import checkpoints
from srgan.models.losses import VGGLoss, content_loss
from srgan.training import progress
from srgan.training import run as training
from srgan.training import step as trainer
from srgan.training.progress import ProgressLog


def test_paper_schedules() -> None:
    config = load_config(PARAMS)
    srresnet = variants.schedule(config, variants.VARIANTS["srresnet_mse"])
    assert (srresnet.steps, srresnet.lr, srresnet.lr_at(999_999)) == (1_000_000, 1e-4, 1e-4)
    srgan = variants.schedule(config, variants.VARIANTS["srgan_vgg54"])
    assert srgan.steps == 200_000
    assert srgan.lr_at(0) == srgan.lr_at(99_999) == 1e-4
    assert math.isclose(srgan.lr_at(100_000), 1e-5) and math.isclose(srgan.lr_at(199_999), 1e-5)
    assert variants.schedule(config, variants.VARIANTS["srgan_mse"], steps=7).steps == 7
    with pytest.raises(UserError, match="--steps"):
        variants.schedule(config, variants.VARIANTS["srgan_mse"], steps=0)


def test_variants_losses() -> None:
    v = variants.VARIANTS
    assert [(x.content, x.adversarial, x.total_variation) for x in v.values()] == [
        ("mse", False, False),
        ("vgg22", False, True),
        ("mse", True, False),
        ("vgg22", True, False),
        ("vgg54", True, False),
    ]
    assert trainer.loss_names(v["srresnet_vgg22"]) == ["content", "tv", "generator"]
    assert trainer.loss_names(v["srgan_mse"])[:4] == [
        "content",
        "adversarial",
        "generator",
        "discriminator",
    ]


def test_training_identity_ignores_run_only_keys() -> None:
    base = load_config(PARAMS)

    def key(variant: str, *sets: str) -> str:
        return identity.run_hash(load_config(PARAMS, sets=list(sets)), variants.VARIANTS[variant])

    same = key("srresnet_mse")
    assert same == identity.run_hash(base, variants.VARIANTS["srresnet_mse"])
    for item in (
        "train.log_every=7",
        "data.workers=0",
        "device=cpu",
        "train.srresnet.steps=5",
        "discriminator.dense=8",
        "vgg.weights=random",
        "train.srgan.lr=1.0e-3",
    ):
        assert key("srresnet_mse", item) == same, item
    assert key("srresnet_mse", "train.srresnet.lr=1.0e-3") != same
    assert key("srresnet_vgg22") != same
    assert key("srgan_vgg54", "vgg.weights=random") != key("srgan_vgg54")
    assert key("srgan_mse", "vgg.weights=random") == key("srgan_mse")


@pytest.mark.process
def test_short_training_lowers_the_loss(tmp_path: Path, images: Path) -> None:
    """MSE on a fixed batch of 6 crops before/after 30 steps at lr 1e-3.

    Measured with BN on batch statistics (train mode), as the optimiser sees it: after only
    30 steps the running statistics used in eval mode still lag behind the weights."""
    config = make_config(tmp_path, images, "train.srresnet.lr=1.0e-3", "train.log_every=10")
    batches = make_batches(
        sorted(images.glob("*.png")), config.data.crop_size, 6, seed=123, scale=config.scale
    )
    lr, hr = next(batches)
    batches.close()
    initial = trainer.build_trainer(variants.VARIANTS["srresnet_mse"], config, torch.device("cpu"))
    final = training.train("srresnet_mse", tmp_path / "run", config, steps=30, progress=False)
    trained = inference.load_generator(final, "cpu")
    with torch.no_grad():
        before = nn.functional.mse_loss(initial.generator.train()(lr), hr).item()
        after = nn.functional.mse_loss(trained.train()(lr), hr).item()
    assert after < 0.6 * before, (before, after)
    logged = [float(row[1]) for row in logged_metric(tmp_path / "run", "train/content")[1:]]
    assert len(logged) == 3 and logged[-1] < 0.7 * logged[0]


def test_srresnet_run_outputs(srresnet_run: tuple[Path, Config]) -> None:
    final, config = srresnet_run
    data = torch.load(final, weights_only=True)
    assert data["format"] == "srgan-generator"
    assert data["model"] == trainer.generator_settings(config)
    found = checkpoints.read_record(paths.RunFolder(final.parent))
    assert data["record"] == found.to_dict()  # final.pt and final.json: one record
    assert (found.variant, found.step, found.config_hash) == ("srresnet_mse", 6, config.hash())
    assert found.identity == identity.run_hash(config, variants.get("srresnet_mse"))
    assert found.config == config.to_dict() and found.profile == "demo"
    assert found.vgg_weights is None and found.init is None
    assert found.schedule == variants.Schedule(6, 2e-3, 1200, 0.1)
    assert found.weights_digest == checkpoints.weights_digest(data["generator"])
    assert found.data.n_files == 6 and found.data.seed == config.seed
    assert found.reasons == tuple(comparability.reasons(config, variants.get("srresnet_mse")))
    assert found.software.git_commit and found.software.device == "cpu"
    workdir = final.parent
    assert [s for s, _ in checkpoints.list_checkpoints(paths.RunFolder(workdir))] == [
        6,
        4,
    ]  # the newest two kept
    assert not list(workdir.rglob("*.tmp"))
    assert [row[0] for row in logged_metric(workdir, "train/content")] == ["step", "2", "4", "6"]
    psnr = logged_metric(workdir, "eval/Set5_psnr")
    assert [row[0] for row in psnr] == ["step", "3", "6"]
    assert all(5 < float(row[1]) < 60 for row in psnr[1:])
    ssim = logged_metric(workdir, "eval/Set5_ssim")
    assert [row[0] for row in ssim] == ["step", "3", "6"]
    assert all(0 < float(row[1]) <= 1 for row in ssim[1:])


@pytest.mark.process
def test_a_run_without_the_bar_writes_progress_lines(
    tmp_path: Path,
    images: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--no-progress (every workflow rule): plain progress lines in the output, here one per
    step (the interval set to 0), with the logged loss means and the PSNR of the evaluation."""
    write_images(tmp_path / "data" / "test_sets" / "Set5", 2, (24, 28), seed=1)
    config = make_config(tmp_path, images, "train.eval_every=3", "evaluate.datasets=[Set5]")
    monkeypatch.setattr(training, "ProgressLog", functools.partial(ProgressLog, every_s=0))
    evaluate = evaluation.training_evaluator(config)
    training.train("srresnet_mse", tmp_path / "run", config, steps=6, progress=False,
                   evaluate=evaluate)  # fmt: skip
    lines = [progress.parse_line(line) for line in capsys.readouterr().out.splitlines()]
    made = [line for line in lines if line is not None]
    assert [(p.variant, p.step, p.total) for p in made] == [("srresnet_mse", s, 6) for s in
                                                            range(1, 7)]  # fmt: skip
    assert made[0].losses == {} and made[0].psnr is None
    content = {
        int(row[0]): float(row[1]) for row in logged_metric(tmp_path / "run", "train/content")[1:]
    }
    for line in made[1:]:
        logged = content[line.step - line.step % 2]  # train.log_every=2
        assert line.losses["content"] == pytest.approx(logged, rel=1e-3)
    psnr = {
        int(row[0]): float(row[1]) for row in logged_metric(tmp_path / "run", "eval/Set5_psnr")[1:]
    }
    assert [p.psnr for p in made[2:]] == [("Set5", round(psnr[3], 2), 3)] * 3 + [
        ("Set5", round(psnr[6], 2), 6)
    ]
    assert all(p.rate is not None and p.rate > 0 for p in made[1:])
    assert made[-1].eta_s == 0


@pytest.mark.process
def test_no_evaluate_callback_logs_no_scores(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, images, "train.eval_every=1")
    training.train("srresnet_mse", tmp_path / "run", config, steps=2, progress=False)
    assert "no PSNR is logged during training" in capsys.readouterr().out
    assert not (tmp_path / "run" / "dvclive" / "plots" / "metrics" / "eval").exists()


def test_training_eval_set_prefers_set5_then_the_first_evaluate_dataset(tmp_path: Path) -> None:
    assert variants.training_eval_set(load_config(PARAMS)) == "Set5"
    demo = load_config(PARAMS, [DEMO], [f"data.root={tmp_path}"])
    assert list(demo.evaluate.datasets) == ["SkimageTest"]
    assert variants.training_eval_set(demo) == "SkimageTest"
    later = load_config(PARAMS, sets=["evaluate.datasets=[BSD100, Set5]"])
    assert variants.training_eval_set(later) == "Set5"
    assert variants.training_eval_set(load_config(PARAMS, sets=["train.eval_every=0"])) is None
    # The folder is missing: training scores nothing (and says so) instead of failing.
    assert evaluation.training_evaluator(demo) is None
    # An image too small to score stops training before its first step, naming the file (not
    # at the first score, eval_every steps in, which every rerun would reach again).
    test_set = paths.test_sets_dir(demo) / "SkimageTest"
    test_set.mkdir(parents=True)
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(test_set / "tiny.png")
    with pytest.raises(UserError, match=r"tiny\.png \(24x16\)"):
        evaluation.training_evaluator(demo)


@pytest.mark.process
@pytest.mark.parametrize("variant", ["srresnet_vgg22", "srgan_mse", "srgan_vgg22", "srgan_vgg54"])
def test_variants_train(
    variant: str, tmp_path: Path, images: Path, srresnet_run: tuple[Path, Config]
) -> None:
    init, _ = srresnet_run
    config = make_config(tmp_path, images)
    final = training.train(variant, tmp_path / "run", config, steps=2, init=init, progress=False)
    found = checkpoints.read_record(paths.RunFolder(final.parent))
    assert (found.variant, found.step) == (variant, 2)
    spec = variants.VARIANTS[variant]
    assert found.vgg_weights == ("random" if spec.uses_vgg else None)
    assert (comparability.RANDOM_VGG in found.reasons) == spec.uses_vgg
    if spec.adversarial:
        assert found.init.path == str(init) and found.init.variant == "srresnet_mse"
        assert found.init.step == 6 and found.start_step == 6
    for name in trainer.loss_names(spec):
        value = float(logged_metric(tmp_path / "run", f"train/{name}")[-1][1])
        assert math.isfinite(value), name
    state = torch.load(paths.RunFolder(tmp_path / "run").checkpoint(2), weights_only=True)
    assert (state["discriminator"] is not None) == spec.adversarial
    if spec.adversarial:
        start, end = generator_weights(init), generator_weights(final)
        assert any(not torch.equal(start[k], end[k]) for k in start)


def test_srgan_needs_a_matching_init(tmp_path: Path, images: Path) -> None:
    config = make_config(tmp_path, images)
    with pytest.raises(UserError, match="--init"):
        training.train("srgan_mse", tmp_path / "a", config, steps=2, progress=False)
    with pytest.raises(UserError, match="checkpoint not found"):
        training.train("srgan_mse", tmp_path / "a", config, steps=2, init=tmp_path / "no.pt")
    other = paper_generator(num_blocks=2, channels=8, prelu="shared")
    torch.save({"model": other.config, "generator": other.state_dict()}, tmp_path / "g.pt")
    with pytest.raises(UserError, match="num_blocks"):
        training.train("srgan_mse", tmp_path / "a", config, steps=2, init=tmp_path / "g.pt")
    assert not (tmp_path / "a").exists()


def test_bad_inputs_fail_before_training(tmp_path: Path, images: Path) -> None:
    config = make_config(tmp_path, images, f"vgg.weights={tmp_path / 'vgg.pth'}")
    with pytest.raises(UserError, match="vgg.weights"):
        training.train("srresnet_vgg22", tmp_path / "run", config, steps=2, progress=False)
    config = make_config(tmp_path, tmp_path / "missing")
    with pytest.raises(UserError, match="does not exist"):
        training.train("srresnet_mse", tmp_path / "run", config, steps=2, progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.process
def test_one_run_per_workdir(tmp_path: Path, images: Path) -> None:
    """The folder's state is judged only under the lock: even a complete final.pt is not
    trusted while another run holds it."""
    config = make_config(tmp_path, images)
    final = training.train("srresnet_mse", tmp_path / "run", config, steps=2, progress=False)
    with open(paths.RunFolder(tmp_path / "run").lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(UserError, match="another `srgan train` is running"):
            training.train("srresnet_mse", tmp_path / "run", config, steps=2, progress=False)
    assert training.train("srresnet_mse", tmp_path / "run", config, steps=2) == final


@pytest.mark.process
def test_rerun_after_completion_does_nothing(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, images)
    final = training.train("srresnet_mse", tmp_path / "run", config, steps=2, progress=False)
    mtime = final.stat().st_mtime_ns
    capsys.readouterr()
    assert training.train("srresnet_mse", tmp_path / "run", config, steps=2) == final
    assert "is complete (2 steps, same run); nothing to do" in capsys.readouterr().out
    assert final.stat().st_mtime_ns == mtime
    # more steps continue from the last checkpoint; log_every and the like are not the run
    relogged = make_config(tmp_path, images, "train.log_every=1", "data.workers=1")
    training.train("srresnet_mse", tmp_path / "run", relogged, steps=3, progress=False)
    assert "resuming from step 2" in capsys.readouterr().out
    assert checkpoints.read_record(paths.RunFolder(final.parent)).step == 3


def _superseded(workdir: Path) -> list[Path]:
    return sorted(paths.RunFolder(workdir).superseded.glob("*/final.pt"))


@pytest.mark.process
def test_state_that_cannot_continue_is_moved_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir, own = tmp_path / "run", write_images(tmp_path / "own", 6, (40, 48), seed=0)
    config = make_config(tmp_path, own)
    first = training.train("srresnet_mse", workdir, config, steps=2, progress=False)
    old_hash = torch.load(first, weights_only=True)["record"]["identity"]
    changed = make_config(tmp_path, own, "train.srresnet.lr=1.0e-3")
    training.train("srresnet_mse", workdir, changed, steps=2, progress=False)
    assert "another configuration or variant" in capsys.readouterr().out
    [moved] = _superseded(workdir)
    assert torch.load(moved, weights_only=True)["record"]["identity"] == old_hash
    assert torch.load(first, weights_only=True)["record"]["identity"] != old_hash
    training.train("srresnet_mse", workdir, changed, steps=1, progress=False)
    assert "2 steps, more than the 1 asked for" in capsys.readouterr().out
    # Snakemake deletes final.pt, then reruns: new training images cannot continue either
    first.unlink()
    write_images(own, 7, (40, 48), seed=1)
    training.train("srresnet_mse", workdir, changed, steps=1, progress=False)
    assert "other training images (6 files then, 7 now)" in capsys.readouterr().out
    assert len(list(paths.RunFolder(workdir).superseded.iterdir())) == 3


@pytest.mark.process
def test_another_init_starts_over(
    tmp_path: Path, images: Path, srresnet_run: tuple[Path, Config]
) -> None:
    init, _ = srresnet_run
    config = make_config(tmp_path, images)
    training.train("srgan_mse", tmp_path / "run", config, steps=2, init=init, progress=False)
    other = torch.load(init, weights_only=True)
    other["generator"]["tail.bias"] += 0.1
    torch.save(other, tmp_path / "other.pt")
    final = training.train(
        "srgan_mse", tmp_path / "run", config, steps=2, init=tmp_path / "other.pt"
    )
    [moved] = _superseded(tmp_path / "run")
    digests = [torch.load(p, weights_only=True)["record"]["init"]["digest"] for p in (moved, final)]
    assert digests[0] != digests[1]


def test_d_probabilities_are_mean_sigmoids(images: Path, tmp_path: Path) -> None:
    """d_real/d_fake are the batch means of D's probabilities, not sigmoid(mean logit)."""
    assert trainer.mean_probability(torch.tensor([[-4.0], [4.0]])).item() == pytest.approx(0.5)
    logits = torch.tensor([[0.0], [4.0]])
    expected = (0.5 + 1 / (1 + math.exp(-4.0))) / 2  # 0.741; sigmoid(mean) would be 0.881

    class FixedLogits(nn.Module):
        """A "discriminator" that returns these logits (plus a zero-initialised bias)."""

        def __init__(self) -> None:
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return logits + self.bias + 0 * x.mean()

    config = make_config(tmp_path, images)
    gan = trainer.build_trainer(variants.VARIANTS["srgan_mse"], config, torch.device("cpu"))
    fixed = FixedLogits()
    gan.discriminator = gan.d_forward = fixed
    gan.opt_d = torch.optim.Adam(fixed.parameters(), lr=1e-4)
    lr, hr = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 16, 16) * 2 - 1
    values = gan.step(lr, hr).tolist()
    terms = dict(zip(trainer.loss_names(gan.variant), values, strict=True))
    assert terms["d_real"] == pytest.approx(expected, rel=1e-6)
    assert terms["d_fake"] == pytest.approx(expected, rel=1e-6)


def test_the_reasons_a_model_records_come_from_the_configuration() -> None:
    paper = load_config(PARAMS)
    assert paper.demo is False and paper.vgg.weights == "imagenet"
    random_vgg = load_config(PARAMS, sets=["vgg.weights=random"])
    demo = load_config(PARAMS, [DEMO], ["vgg.weights=imagenet"])
    for config, variant, expected in [
        (paper, "srgan_vgg54", []),
        (random_vgg, "srgan_mse", []),
        (random_vgg, "srgan_vgg54", ["VGG19 with random weights"]),
        (demo, "srresnet_mse", ["demo run"]),
    ]:
        spec = variants.VARIANTS[variant]
        notes = comparability.reasons(config, spec)
        assert [n.split(" (")[0] for n in notes if "shorter schedule" not in n] == expected


def test_batches_follow_the_configured_scale(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = {}
    monkeypatch.setattr(training, "make_batches", lambda files, **kwargs: seen.update(kwargs))
    config = make_config(tmp_path, images)
    training._batches([], config, 5, torch.device("cpu"), progress=False)
    assert (seen["scale"], seen["start_step"], seen["crop_size"]) == (config.scale, 5, 16)
    assert seen["progress"] is False


def test_content_loss_by_name() -> None:
    sr, hr = torch.zeros(1, 3, 16, 16), torch.full((1, 3, 16, 16), 0.5)
    vgg = {"vgg_weights": "random", "vgg_normalization": "imagenet", "vgg_divisor": 12.75}
    assert content_loss("mse", **vgg)(sr, hr).item() == 0.25
    vgg22 = content_loss("vgg22", **{**vgg, "vgg_normalization": "none"})
    vgg54 = content_loss("vgg54", **{**vgg, "vgg_divisor": 2.0})
    assert isinstance(vgg22, VGGLoss) and isinstance(vgg54, VGGLoss)
    assert (vgg22.features.layer, vgg22.features.normalization) == ("relu2_2", "none")
    assert (vgg54.features.layer, vgg54.features.normalization) == ("relu5_4", "imagenet")
    assert vgg22.rescale == 1 / 12.75 and vgg54.rescale == 0.5
    with pytest.raises(UserError, match="vgg19"):
        content_loss("vgg19", **vgg)
