"""Training: schedules, all five variants, exact resume after SIGKILL/SIGTERM, stability.

Runs use the demo profile shrunk further with --set (1 block, 8 channels, 16-pixel crops,
batch 2) on small synthetic images, so a step takes milliseconds on a CPU.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL, paper_generator
from PIL import Image
from torch import nn

from srgan.core import comparability, identity, paths, runtime, variants
from srgan.core.config import Config, load_config
from srgan.core.errors import UserError
from srgan.data import patches, trainset
from srgan.data.patches import make_batches
from srgan.evaluation import inference
from srgan.evaluation import protocol as evaluation
from srgan.models import checkpoints
from srgan.models.losses import VGGLoss, content_loss
from srgan.training import log as trainlog
from srgan.training import progress
from srgan.training import run as training
from srgan.training import step as trainer
from srgan.training.progress import ProgressLog
from srgan.training.signals import TrainingInterrupted

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
RESUME_STEPS = 16  # srgan_mse: the learning rate drops at step 10
STOP_AT_CALL = 11  # the child signals itself at its 11th step (after checkpoints 4 and 8)
PROCESS_TIMEOUT = 300
# `srgan train` in a child that signals itself at a fixed step: deterministic on any machine.
SELF_SIGNALLING_CHILD = """
import os, signal, sys
from srgan.cli import main as cli
from srgan.training import step as trainer
original, calls = trainer.Trainer.step, [0]
def step(self, *args):
    calls[0] += 1
    if calls[0] == {at}:
        os.kill(os.getpid(), signal.{signal})
    return original(self, *args)
trainer.Trainer.step = step
sys.exit(cli.main(sys.argv[1:]))
"""
# `srgan train` in a child whose disk fills up part-way through its second checkpoint.
FULL_DISK_CHILD = """
import contextlib, errno, sys
from srgan.models import checkpoints
from srgan.cli import main as cli
original, calls = checkpoints.atomic_write, [0]
class FillingDisk:
    def __init__(self, handle):
        self.handle, self.written = handle, 0
    def write(self, data):
        self.written += len(data)
        if self.written > 1000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.handle.write(data)
    def __getattr__(self, name):
        return getattr(self.handle, name)
@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    calls[0] += 1
    with original(path, mode) as handle:
        yield FillingDisk(handle) if calls[0] == 2 else handle
checkpoints.atomic_write = atomic_write
sys.exit(cli.main(sys.argv[1:]))
"""
STEP_PAUSE_S = 0.2  # the slow child's pause per step: time to signal it mid-run
# `srgan train` in a child whose steps take STEP_PAUSE_S longer (same results): a signal sent
# from outside, once a checkpoint exists, lands in the middle of the run.
SLOW_CHILD = f"""
import sys, time
from srgan.cli import main as cli
from srgan.training import step as trainer
original = trainer.Trainer.step
def step(self, *args):
    time.sleep({STEP_PAUSE_S})
    return original(self, *args)
trainer.Trainer.step = step
sys.exit(cli.main(sys.argv[1:]))
"""


def _write_images(folder: Path, count: int, size: tuple[int, int], seed: int) -> Path:
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


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads; two pytest workers on two cores with two torch
    threads each make every small convolution wait on busy cores (100x slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_images(tmp_path_factory.mktemp("train") / "images", 6, (40, 48), seed=0)


def _sets(root: Path, images: Path, extra: list[str]) -> list[str]:
    return [
        "data.train_set=folder",
        f"data.train_dir={images}",
        f"data.root={root / 'data'}",
        *TINY,
        *extra,
    ]


def make_config(root: Path, images: Path, *extra: str) -> Config:
    return load_config(PARAMS, [DEMO], _sets(root, images, list(extra)))


def cli_args(root: Path, images: Path, *extra: str) -> list[str]:
    args = ["--params", str(PARAMS), "--config", str(DEMO), "--no-progress"]
    for item in _sets(root, images, list(extra)):
        args += ["--set", item]
    return args


@pytest.fixture(scope="module")
def srresnet_run(tmp_path_factory: pytest.TempPathFactory, images: Path) -> tuple[Path, Config]:
    """A short srresnet_mse run (the SRGAN variants' --init), evaluated on a tiny Set5."""
    root = tmp_path_factory.mktemp("srresnet")
    _write_images(root / "data" / "test_sets" / "Set5", 2, (24, 28), seed=1)
    config = make_config(root, images, "train.eval_every=3", "evaluate.datasets=[Set5]")
    final = training.train(
        "srresnet_mse",
        root / "run",
        config,
        steps=6,
        progress=False,
        evaluate=evaluation.training_evaluator(config),
    )
    return final, config


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["generator"]


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = _tensors(a), _tensors(b)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def _metric(workdir: Path, name: str) -> list[list[str]]:
    path = workdir / "dvclive" / "plots" / "metrics" / f"{name}.tsv"
    return [line.split("\t") for line in path.read_text().splitlines()]


# --- schedules and identity -------------------------------------------------------------------


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


# --- training runs ------------------------------------------------------------------------------


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
    logged = [float(row[1]) for row in _metric(tmp_path / "run", "train/content")[1:]]
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
    assert [row[0] for row in _metric(workdir, "train/content")] == ["step", "2", "4", "6"]
    psnr = _metric(workdir, "eval/Set5_psnr")
    assert [row[0] for row in psnr] == ["step", "3", "6"]
    assert all(5 < float(row[1]) < 60 for row in psnr[1:])
    ssim = _metric(workdir, "eval/Set5_ssim")
    assert [row[0] for row in ssim] == ["step", "3", "6"]
    assert all(0 < float(row[1]) <= 1 for row in ssim[1:])


def test_a_run_without_the_bar_writes_progress_lines(
    tmp_path: Path,
    images: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--no-progress (every workflow rule): plain progress lines in the output, here one per
    step (the interval set to 0), with the logged loss means and the PSNR of the evaluation."""
    _write_images(tmp_path / "data" / "test_sets" / "Set5", 2, (24, 28), seed=1)
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
    content = {int(row[0]): float(row[1]) for row in _metric(tmp_path / "run", "train/content")[1:]}
    for line in made[1:]:
        logged = content[line.step - line.step % 2]  # train.log_every=2
        assert line.losses["content"] == pytest.approx(logged, rel=1e-3)
    psnr = {int(row[0]): float(row[1]) for row in _metric(tmp_path / "run", "eval/Set5_psnr")[1:]}
    assert [p.psnr for p in made[2:]] == [("Set5", round(psnr[3], 2), 3)] * 3 + [
        ("Set5", round(psnr[6], 2), 6)
    ]
    assert all(p.rate is not None and p.rate > 0 for p in made[1:])
    assert made[-1].eta_s == 0


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
        value = float(_metric(tmp_path / "run", f"train/{name}")[-1][1])
        assert math.isfinite(value), name
    state = torch.load(paths.RunFolder(tmp_path / "run").checkpoint(2), weights_only=True)
    assert (state["discriminator"] is not None) == spec.adversarial
    if spec.adversarial:
        start, end = _tensors(init), _tensors(final)
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


def test_state_that_cannot_continue_is_moved_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir, own = tmp_path / "run", _write_images(tmp_path / "own", 6, (40, 48), seed=0)
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
    _write_images(own, 7, (40, 48), seed=1)
    training.train("srresnet_mse", workdir, changed, steps=1, progress=False)
    assert "other training images (6 files then, 7 now)" in capsys.readouterr().out
    assert len(list(paths.RunFolder(workdir).superseded.iterdir())) == 3


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


# --- exact resume -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resume_reference(
    tmp_path_factory: pytest.TempPathFactory, images: Path, srresnet_run: tuple[Path, Config]
) -> tuple[Path, Path]:
    """An uninterrupted srgan_mse run (D, two optimisers, the lr decay at step 10)."""
    root = tmp_path_factory.mktemp("reference")
    init, _ = srresnet_run
    config = make_config(root, images)
    final = training.train(
        "srgan_mse", root / "run", config, steps=RESUME_STEPS, init=init, progress=False
    )
    return final, init


def _train_until_signal(
    workdir: Path, images: Path, init: Path, signame: str, *extra: str
) -> subprocess.CompletedProcess:
    """`srgan train srgan_mse` in a child that sends itself ``signame`` at its
    STOP_AT_CALL-th step (SIGKILL: before that step runs; SIGTERM: the step completes)."""
    code = SELF_SIGNALLING_CHILD.format(at=STOP_AT_CALL, signal=signame)
    command = [sys.executable, "-c", code, "train", "srgan_mse", "--workdir", str(workdir)]
    command += ["--steps", str(RESUME_STEPS), "--init", str(init)]
    command += cli_args(workdir.parent, images, *extra)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as in this process (one_thread)
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=PROCESS_TIMEOUT, check=False
    )


def test_exact_resume_after_sigkill(
    tmp_path: Path, images: Path, resume_reference: tuple[Path, Path]
) -> None:
    reference, init = resume_reference
    workdir = tmp_path / "run"
    done = _train_until_signal(workdir, images, init, "SIGKILL")
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert not (workdir / "final.pt").exists()
    # checkpoints every 4 steps; killed before step 11: 8 is the newest
    assert [s for s, _ in checkpoints.list_checkpoints(paths.RunFolder(workdir))] == [8, 4]
    assert _metric(workdir, "train/generator")[-1][0] == "10"  # logged after the checkpoint
    config = make_config(tmp_path, images)
    final = training.train(
        "srgan_mse", workdir, config, steps=RESUME_STEPS, init=init, progress=False
    )
    assert_same_weights(final, reference)
    for name in ("train/generator", "train/discriminator", "train/lr"):
        assert _metric(workdir, name) == _metric(reference.parent, name), name


#: The CUDA defaults' step and data paths, as they run without CUDA: the step of graph mode
#: (static buffers, lr as a tensor) uncaptured, the batches from the decoded images in one tensor.
DEVICE_PATHS = ("train.step=graph", "data.pipeline=device")


def test_exact_resume_on_the_graph_step_and_device_data(
    tmp_path: Path,
    images: Path,
    srresnet_run: tuple[Path, Config],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    init, _ = srresnet_run
    config = make_config(tmp_path / "reference", images, *DEVICE_PATHS)
    reference = training.train(
        "srgan_mse",
        tmp_path / "reference" / "run",
        config,
        steps=RESUME_STEPS,
        init=init,
        progress=False,
    )
    workdir = tmp_path / "run"
    done = _train_until_signal(workdir, images, init, "SIGKILL", *DEVICE_PATHS)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert [s for s, _ in checkpoints.list_checkpoints(paths.RunFolder(workdir))] == [8, 4]
    config = make_config(tmp_path, images, *DEVICE_PATHS)
    calls = {"crops": 0, "steps": 0}
    crops, step = patches.DeviceImages.hr_crops, trainer.CapturedStep.__call__

    def counted_crops(self: patches.DeviceImages, *args: np.ndarray) -> torch.Tensor:
        calls["crops"] += 1
        return crops(self, *args)

    def counted_step(self: trainer.CapturedStep, *args: torch.Tensor) -> torch.Tensor:
        calls["steps"] += 1
        return step(self, *args)

    monkeypatch.setattr(patches.DeviceImages, "hr_crops", counted_crops)
    monkeypatch.setattr(trainer.CapturedStep, "__call__", counted_step)
    final = training.train(
        "srgan_mse", workdir, config, steps=RESUME_STEPS, init=init, progress=False
    )
    assert calls == {"crops": RESUME_STEPS - 8, "steps": RESUME_STEPS - 8}  # the paths ran
    assert_same_weights(final, reference)
    for name in ("train/generator", "train/discriminator", "train/lr"):
        assert _metric(workdir, name) == _metric(reference.parent, name), name


def test_sigterm_writes_a_checkpoint_then_resumes_exactly(
    tmp_path: Path, images: Path, resume_reference: tuple[Path, Path]
) -> None:
    reference, init = resume_reference
    workdir = tmp_path / "run"
    done = _train_until_signal(workdir, images, init, "SIGTERM", "train.checkpoint_every=1000")
    assert done.returncode == 128 + signal.SIGTERM == 143, done.stderr
    assert "SIGTERM" in done.stderr and "rerun the same command" in done.stderr
    # the interrupted step finishes, then its checkpoint is written (none before it)
    assert [s for s, _ in checkpoints.list_checkpoints(paths.RunFolder(workdir))] == [STOP_AT_CALL]
    assert not (workdir / "final.pt").exists()
    config = make_config(tmp_path, images, "train.checkpoint_every=1000")
    final = training.train(
        "srgan_mse", workdir, config, steps=RESUME_STEPS, init=init, progress=False
    )
    assert_same_weights(final, reference)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_process_group_with_data_workers_checkpoints_and_resumes(
    signum: int, tmp_path: Path, images: Path, resume_reference: tuple[Path, Path]
) -> None:
    """As SLURM, `scancel` and `timeout` do (SIGTERM), or Ctrl-C in a terminal (SIGINT): the
    signal goes to the whole process group, the data workers included, once a checkpoint
    exists. The workers ignore it; the main process finishes its step, writes a checkpoint at
    that step, stops the workers and exits 128 + signal (143, 130)."""
    reference, init = resume_reference
    workdir = tmp_path / "run"
    folder = paths.RunFolder(workdir)
    command = [sys.executable, "-c", SLOW_CHILD, "train", "srgan_mse", "--workdir", str(workdir)]
    command += ["--steps", str(RESUME_STEPS), "--init", str(init)]
    command += cli_args(tmp_path, images, "data.workers=2")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while not checkpoints.list_checkpoints(folder):  # the periodic one of step 4
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.01)
    time.sleep(1.5 * STEP_PAUSE_S)  # into step 6: between periodic checkpoints
    os.killpg(child.pid, signum)
    _, err = child.communicate(timeout=PROCESS_TIMEOUT)
    assert child.returncode == 128 + signum, err
    assert "Traceback" not in err and "DataLoader worker" not in err
    with pytest.raises(ProcessLookupError):  # the workers are gone too
        os.killpg(child.pid, 0)
    stopped = int(re.search(r"stopped after step (\d+) of 16", err).group(1))
    assert 4 < stopped < 8  # not a periodic checkpoint's step
    newest = checkpoints.list_checkpoints(folder)[0]
    assert newest == (stopped, folder.checkpoint(stopped)) and str(newest[1]) in err
    config = make_config(tmp_path, images)
    final = training.train(
        "srgan_mse", workdir, config, steps=RESUME_STEPS, init=init, progress=False
    )
    assert_same_weights(final, reference)


def test_a_full_disk_says_so_keeps_the_last_good_checkpoint_and_resumes(
    tmp_path: Path, images: Path
) -> None:
    config = make_config(tmp_path, images)
    reference = training.train("srresnet_mse", tmp_path / "ref", config, steps=12, progress=False)
    workdir = tmp_path / "run"
    folder = paths.RunFolder(workdir)
    command = [sys.executable, "-c", FULL_DISK_CHILD, "train", "srresnet_mse", "--workdir"]
    command += [str(workdir), "--steps", "12", *cli_args(tmp_path, images)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=PROCESS_TIMEOUT)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines() == [
        f"srgan train: error: cannot write {folder.checkpoint(8)}: No space left on device; "
        f"training stopped after step 8; the last good checkpoint is {folder.checkpoint(4)}. "
        "Free some space (or fix the folder) and rerun the same command to resume"
    ]
    assert [s for s, _ in checkpoints.list_checkpoints(folder)] == [4]
    assert not list(workdir.rglob("*.tmp"))  # the partial file is gone
    final = training.train("srresnet_mse", workdir, config, steps=12, progress=False)
    assert_same_weights(final, reference)


def test_sigint_in_process_checkpoints_and_restores_handlers(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original_step = trainer.Trainer.step
    calls = []

    def step(self: trainer.Trainer, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)
        return original_step(self, lr, hr)

    monkeypatch.setattr(trainer.Trainer, "step", step)
    handler = signal.getsignal(signal.SIGINT)
    config = make_config(tmp_path, images)
    with pytest.raises(TrainingInterrupted) as info:
        training.train("srresnet_mse", tmp_path / "run", config, steps=20, progress=False)
    assert info.value.exit_code == 130 and "after step 3 of 20" in str(info.value)
    assert [s for s, _ in checkpoints.list_checkpoints(paths.RunFolder(tmp_path / "run"))] == [3]
    assert signal.getsignal(signal.SIGINT) is handler


# --- stability and files ------------------------------------------------------------------------


class _NaNAfter(nn.Module):
    """MSE that returns NaN from its ``start``-th call on."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start, self.calls = start, 0

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = nn.functional.mse_loss(sr, hr)
        return loss * float("nan") if self.calls >= self.start else loss


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trainer, "content_loss", lambda kind, **kwargs: _NaNAfter(start=7))
    config = make_config(tmp_path, images)
    workdir = tmp_path / "run"
    with pytest.raises(training.NonFiniteLossError) as info:
        training.train("srresnet_mse", workdir, config, steps=20, progress=False)
    message = str(info.value)
    assert "non-finite loss at step 7 (content, generator)" in message
    assert "step_000000004.pt" in message and "\n" not in message
    assert isinstance(info.value, UserError)
    [(step, path)] = checkpoints.list_checkpoints(paths.RunFolder(workdir))
    assert step == 4
    weights = torch.load(path, weights_only=True)["generator"]
    assert all(torch.isfinite(t).all() for t in weights.values())
    assert not (workdir / "final.pt").exists()


def test_unreadable_newest_checkpoint_falls_back_and_is_set_aside(tmp_path: Path) -> None:
    folder = paths.RunFolder(tmp_path)
    for step in (4, 8):
        checkpoints.save_atomic(
            {"format": checkpoints.STATE_FORMAT, "step": step}, folder.checkpoint(step)
        )
    folder.checkpoint(8).write_bytes(b"truncated")
    path, state = checkpoints.latest_state(folder)
    assert state["step"] == 4 and path.name == "step_000000004.pt"
    assert (folder.unreadable / "step_000000008.pt").read_bytes() == b"truncated"
    assert [s for s, _ in checkpoints.list_checkpoints(folder)] == [4]


def test_unreadable_newest_checkpoints_are_set_aside_and_never_kept(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two damaged checkpoints with the highest steps (a full disk) must not push the new
    checkpoints out of the two kept: the run resumes from the last good one, sets the
    damaged ones aside and ends as an uninterrupted run."""
    config = make_config(tmp_path, images)
    reference = training.train("srresnet_mse", tmp_path / "ref", config, steps=12, progress=False)
    workdir = tmp_path / "run"
    folder = paths.RunFolder(workdir)
    training.train("srresnet_mse", workdir, config, steps=4, progress=False)
    good = folder.checkpoint(4).read_bytes()
    folder.checkpoint(20).write_bytes(good[: len(good) // 2])
    folder.checkpoint(16).write_bytes(b"")
    capsys.readouterr()
    final = training.train("srresnet_mse", workdir, config, steps=12, progress=False)
    captured = capsys.readouterr()
    assert [s for s, _ in checkpoints.list_checkpoints(folder)] == [12, 8]
    assert "resuming from step 4" in captured.out
    assert "step_000000020.pt: it is truncated" in captured.err
    assert "step_000000016.pt: it is empty" in captured.err
    assert sorted(p.name for p in folder.unreadable.iterdir()) == [
        "step_000000016.pt",
        "step_000000020.pt",
    ]
    assert not folder.superseded.exists()
    assert_same_weights(final, reference)


@pytest.mark.parametrize("final_json", ["intact", "missing"])
def test_unreadable_final_pt_resumes_from_the_newest_valid_checkpoint(
    final_json: str, tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, images)
    workdir = tmp_path / "run"
    folder = paths.RunFolder(workdir)
    final = training.train("srresnet_mse", workdir, config, steps=8, progress=False)
    trained = final.read_bytes()
    final.write_bytes(trained[:100])  # cut off by a full disk
    if final_json == "missing":
        folder.final_metadata.unlink()
    capsys.readouterr()
    assert training.train("srresnet_mse", workdir, config, steps=8, progress=False) == final
    captured = capsys.readouterr()
    assert "resuming from step 8" in captured.out and "starting over" not in captured.out
    assert "final.pt: it is truncated" in captured.err and "unreadable" in captured.err
    assert not folder.superseded.exists()
    assert (folder.unreadable / "final.pt").read_bytes() == trained[:100]
    assert (folder.unreadable / "final.json").exists() == (final_json == "intact")
    (tmp_path / "trained.pt").write_bytes(trained)
    assert_same_weights(final, tmp_path / "trained.pt")
    assert checkpoints.final_record(folder).step == 8


@pytest.mark.parametrize("final_json", ["missing", "stale"])
def test_a_missing_or_stale_final_json_is_rewritten_from_final_pt(
    final_json: str, tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A kill between the writes of final.pt and final.json, or another model's final.json
    copied beside it: `srgan train` retrains nothing and rewrites final.json from final.pt."""
    config = make_config(tmp_path, images)
    folder = paths.RunFolder(tmp_path / "run")
    final = training.train("srresnet_mse", folder.root, config, steps=2, progress=False)
    right = folder.final_metadata.read_text()
    if final_json == "missing":
        folder.final_metadata.unlink()
    else:
        stale = json.loads(right)
        stale["step"] = 1
        folder.final_metadata.write_text(json.dumps(stale))
        with pytest.raises(UserError, match="to rewrite final.json from final.pt"):
            inference.load_generator(final, "cpu")
    mtime = final.stat().st_mtime_ns
    capsys.readouterr()
    training.train("srresnet_mse", folder.root, config, steps=2, progress=False)
    out = capsys.readouterr().out
    assert "nothing to do" in out and f"rewrote {folder.final_metadata}" in out
    assert folder.final_metadata.read_text() == right and final.stat().st_mtime_ns == mtime
    inference.load_generator(final, "cpu")  # the three agree again


def test_dvclive_leaves_the_enclosing_git_repository_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(trainlog.DVC_ROOT_ENV, raising=False)
    live = trainlog.open_live(tmp_path / "dvclive", None)
    trainlog.log_metrics(live, 3, {"train/loss": 0.5})
    assert not (tmp_path / ".dvc").exists() and not (tmp_path / ".dvcignore").exists()
    assert _metric(tmp_path, "train/loss") == [["step", "loss"], ["3", "0.5"]]


def test_truncate_metrics_drops_rows_after_the_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "plots" / "metrics" / "train"
    folder.mkdir(parents=True)
    (folder / "loss.tsv").write_text("step\tloss\n2\t0.5\n4\t0.25\n6\t0.125\n8\t0.1")
    (folder / "late.tsv").write_text("timestamp\tstep\tlate\n17\t4\t1\n30\t5\t2\n")
    (folder / "other.tsv").write_text("time\tvalue\n9\t1\n")  # no step column: untouched
    trainlog.truncate_metrics(tmp_path, 4)
    assert (folder / "loss.tsv").read_text() == "step\tloss\n2\t0.5\n4\t0.25\n"
    assert (folder / "late.tsv").read_text() == "timestamp\tstep\tlate\n17\t4\t1\n"
    assert (folder / "other.tsv").read_text() == "time\tvalue\n9\t1\n"
    assert sorted(p.name for p in folder.iterdir()) == ["late.tsv", "loss.tsv", "other.tsv"]


def test_stale_temp_files_are_removed_under_the_lock(tmp_path: Path, images: Path) -> None:
    workdir = tmp_path / "run"
    metrics = workdir / "dvclive" / "plots" / "metrics" / "train"
    stale = [
        workdir / ".final.pt.x1.tmp",
        workdir / "checkpoints" / ".step_000000002.pt.x2.tmp",
        metrics / ".generator.tsv.x3.tmp",
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    config = make_config(tmp_path, images)
    training.train("srresnet_mse", workdir, config, steps=2, progress=False)
    assert not [p for p in stale if p.exists()]
    assert not list(workdir.rglob("*.tmp"))


def test_files_digest_is_the_content_and_names_not_the_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _write_images(tmp_path / "imgs", 3, (8, 8), seed=0)
    files = sorted(folder.glob("*.png"))
    lines = "".join(
        f"{f.name}\t{f.stat().st_size}\t{hashlib.sha256(f.read_bytes()).hexdigest()}\n"
        for f in files
    )
    first = trainset.files_digest(files, folder)
    assert first == "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
    stat = files[0].stat()
    os.utime(files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same bytes, touched
    assert trainset.files_digest(files, folder) == first
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, copy_function=shutil.copyfile)  # `cp -r`: new mtimes
    assert trainset.files_digest(sorted(copy.glob("*.png")), copy) == first
    assert trainset.files_digest(files[:2], folder) != first
    (copy / "img0.png").rename(copy / "img9.png")  # a renamed file moves in the data order
    assert trainset.files_digest(sorted(copy.glob("*.png")), copy) != first
    changed = bytearray(files[1].read_bytes())
    changed[-20] ^= 1  # one bit of the same size
    files[1].write_bytes(bytes(changed))
    assert trainset.files_digest(files, folder) != first
    # the scan keeps each file's sha256: with its manifest, a warm digest reads no image
    cache = tmp_path / "cache"
    scanned = trainset.scan_images(folder, 2, "skip", cache_dir=cache, progress=False)
    expected = trainset.files_digest(scanned, folder)

    def no_reading(path):
        raise AssertionError(f"read {path}")

    monkeypatch.setattr(trainset, "sha256_file", no_reading)
    assert trainset.files_digest(scanned, folder, cache) == expected
    trainset.scan_images(folder, 2, "skip", cache_dir=cache, progress=False)  # nothing read


def test_files_stat_digest_sees_names_sizes_and_mtimes(tmp_path: Path) -> None:
    folder = _write_images(tmp_path / "imgs", 2, (8, 8), seed=0)
    files = sorted(folder.glob("*.png"))
    first = trainset.files_stat_digest(files, folder)
    assert len(first) == 16 and trainset.files_stat_digest(files, folder) == first
    stat = files[0].stat()
    os.utime(files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # same bytes, touched
    assert trainset.files_stat_digest(files, folder) != first
    assert trainset.files_stat_digest(files[:1], folder) != first


def _rewrite_same_bytes(folder: Path) -> None:
    """What rerunning the data step, `tar x` or `cp` does: the same bytes with new mtimes."""
    for path in sorted(folder.glob("*.png")):
        data = path.read_bytes()
        path.unlink()
        path.write_bytes(data)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 3 * 10**9))


def test_a_copy_of_the_training_images_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = _write_images(tmp_path / "own", 6, (40, 48), seed=0)
    workdir = tmp_path / "run"
    config = make_config(tmp_path, own)
    training.train("srresnet_mse", workdir, config, steps=4, progress=False)
    (workdir / "final.pt").unlink()  # as Snakemake does before it reruns the job
    _rewrite_same_bytes(own)  # the data step reran
    capsys.readouterr()
    training.train("srresnet_mse", workdir, config, steps=5, progress=False)
    out = capsys.readouterr().out
    assert "resuming from step 4" in out and "other training images" not in out
    assert not paths.RunFolder(workdir).superseded.exists()
    # a `cp -r` of a data root on another disk (data.root is not part of the run identity)
    sets = ["data.train_set=T91", "data.train_dir=null", "data.mirror=null", *TINY]
    first_root, second_root = tmp_path / "disk1", tmp_path / "disk2"
    _write_images(first_root / paths.FETCHED_TRAIN_DIR / "T91", 6, (40, 48), seed=3)
    staged = load_config(PARAMS, [DEMO], [f"data.root={first_root}", *sets])
    training.train("srresnet_mse", tmp_path / "run2", staged, steps=4, progress=False)
    (tmp_path / "run2" / "final.pt").unlink()
    shutil.copytree(first_root / "train", second_root / "train", copy_function=shutil.copyfile)
    shutil.rmtree(first_root)
    moved = load_config(PARAMS, [DEMO], [f"data.root={second_root}", *sets])
    capsys.readouterr()
    training.train("srresnet_mse", tmp_path / "run2", moved, steps=5, progress=False)
    assert "resuming from step 4" in capsys.readouterr().out


def _as_older_version(checkpoint: Path, images: Path) -> None:
    """Rewrite a checkpoint's data state as an older version recorded it: the training images'
    names, sizes and mtimes (``files_stat_digest``), no content identity."""
    state = torch.load(checkpoint, weights_only=True)
    files = sorted(images.glob("*.png"))
    state["data"] = {
        "seed": state["data"]["seed"],
        "files_digest": trainset.files_stat_digest(files, images),
        "n_files": len(files),
    }
    torch.save(state, checkpoint)


def test_a_checkpoint_of_the_older_version_is_recognised_or_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = _write_images(tmp_path / "own", 6, (40, 48), seed=0)
    workdir = tmp_path / "run"
    config = make_config(tmp_path, own)
    training.train("srresnet_mse", workdir, config, steps=4, progress=False)
    (workdir / "final.pt").unlink()
    [(_, checkpoint)] = checkpoints.list_checkpoints(paths.RunFolder(workdir))
    _as_older_version(checkpoint, own)
    capsys.readouterr()
    training.train("srresnet_mse", workdir, config, steps=5, progress=False)
    assert "resuming from step 4" in capsys.readouterr().out  # same files, untouched: recognised
    [(step, newest), *_] = checkpoints.list_checkpoints(paths.RunFolder(workdir))
    assert step == 5
    recorded = torch.load(newest, weights_only=True)["data"]["files_digest"]
    assert recorded.startswith("sha256:")  # from now on, the content
    (workdir / "final.pt").unlink()
    for _step, path in checkpoints.list_checkpoints(paths.RunFolder(workdir)):
        if path != checkpoint:
            path.unlink()
    _as_older_version(checkpoint, own)
    _rewrite_same_bytes(own)  # new mtimes: an older version's record cannot tell
    with pytest.raises(UserError) as refused:
        training.train("srresnet_mse", workdir, config, steps=5, progress=False)
    message = str(refused.value)
    assert f"checkpoint {checkpoint} was written by an older version" in message
    assert "(6 files then, 6 now)" in message and "\n" not in message
    assert checkpoint.exists() and not paths.RunFolder(workdir).superseded.exists()


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


def test_torch_settings_restore_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(runtime.CUBLAS_WORKSPACE_ENV, raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    with runtime.torch_settings(deterministic=True, device=torch.device("cuda")):
        assert os.environ[runtime.CUBLAS_WORKSPACE_ENV] == runtime.CUBLAS_WORKSPACE
        assert torch.are_deterministic_algorithms_enabled()
    assert runtime.CUBLAS_WORKSPACE_ENV not in os.environ
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before
    monkeypatch.setenv(runtime.CUBLAS_WORKSPACE_ENV, ":16:8")  # the user's own: kept
    with runtime.torch_settings(deterministic=True, device=torch.device("cuda")):
        assert os.environ[runtime.CUBLAS_WORKSPACE_ENV] == ":16:8"
    assert os.environ[runtime.CUBLAS_WORKSPACE_ENV] == ":16:8"
    with runtime.torch_settings(deterministic=False, device=torch.device("cuda")):
        assert torch.backends.cudnn.benchmark is True
    assert torch.backends.cudnn.benchmark == before[1]


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


def test_rng_state_round_trips_through_a_weights_only_load(tmp_path: Path) -> None:
    runtime.seed_everything(5)
    checkpoints.save_atomic(runtime.rng_state(), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    runtime.seed_everything(6)
    runtime.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])  # noqa: NPY002
    assert random.random() == expected[2]
