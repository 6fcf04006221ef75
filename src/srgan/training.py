"""Training the five Table 1 variants with the paper's schedule; exact resume; stability.

Variants (paper, Section 3.4 and Table 1):

    srresnet_mse    SRResNet, MSE content loss                     (1e6 steps at 1e-4)
    srresnet_vgg22  SRResNet, VGG22 content loss + 2e-8 TV loss    (1e6 steps at 1e-4)
    srgan_mse       SRGAN, MSE + 1e-3 adversarial                  (1e5 at 1e-4, 1e5 at 1e-5)
    srgan_vgg22     SRGAN, VGG22 + 1e-3 adversarial                 "
    srgan_vgg54     SRGAN, VGG54 + 1e-3 adversarial                 "

The SRGAN generator starts from a trained SRResNet-MSE (paper, Section 3.2): ``init`` (the CLI's
``--init``) is required for the srgan_* variants when a run starts. Within one step the
discriminator is updated ``train.srgan.d_steps`` times (paper: k = 1; with k > 1 the updates
reuse the step's batch and generated images), then the generator once, against the updated D.

A run lives in a work folder:

    DIR/final.pt                  the generator + metadata, written once training completes
    DIR/checkpoints/step_N.pt     resumable state after N steps (the newest two are kept)
    DIR/dvclive/                  per-step metrics (DVCLive): losses, learning rate, and the
                                  benchmark PSNR/SSIM of the ``evaluate`` callback if given
    DIR/.lock                     held while a run trains here (one run per folder)
    DIR/superseded/<time>/        earlier state that could not continue into this run

Rerunning the same command resumes from the newest readable checkpoint; once ``final.pt``
holds the requested number of steps it does nothing; asking for more steps continues. What
counts as "the same run" is the *training identity* (:func:`training_identity`): the config
keys that change the computation of this variant (keys about logging, checkpoint frequency,
devices, workers, other variants and the total step count are left out), plus the weights of
the ``--init`` generator. State that cannot continue into the requested run (another
identity or init, or more steps than asked for) is moved to ``DIR/superseded/<UTC time>/``
and the run starts over: this is what happens when Snakemake reruns a job after a training
key changed (it deletes only final.pt), and nothing is ever deleted. The batch of step t
is a pure function of (seed, t, training files) (:mod:`srgan.data`), so resuming needs only
the step; with ``train.deterministic`` on CPU, a resumed run ends bit-identical to an
uninterrupted one.

Checkpoints are written atomically (temp file, fsync, rename); the previous one is removed
only once the new one is complete. SIGINT/SIGTERM finish the current step, write a checkpoint
and raise :class:`TrainingInterrupted` (the CLI exits 128 + signal: 130 / 143). A non-finite
loss raises :class:`NonFiniteLossError` (a UserError) naming the step and the loss terms,
without writing a checkpoint, so the last good one stays the newest. Losses are checked
at every log step and before every checkpoint (no per-step device synchronisation).

Scoring the generator during training is the caller's: :func:`train` takes an optional
``evaluate`` callback (the CLI builds one from :mod:`srgan.evaluation` on the set named by
:func:`eval_dataset`), so this module needs neither evaluation nor inference.

Imports: models, losses, data, and the leaves config, errors, fileio.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import fcntl
import hashlib
import io
import os
import random
import re
import signal
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from srgan.config import Config, benchmarks_dir, config_hash, train_images_dir
from srgan.data import cache_folder, make_batches, scan_images
from srgan.errors import UserError
from srgan.fileio import atomic_write, git_state, remove_stale_temp_files, write_text_atomic
from srgan.losses import (
    MSELoss,
    VGGLoss,
    discriminator_loss,
    generator_adversarial_loss,
    tv_loss,
)
from srgan.models import (
    Discriminator,
    SRResNet,
    VGGFeatures,
    check_vgg_weights,
    read_checkpoint,
    resolve_device,
)

FINAL_NAME = "final.pt"
CHECKPOINT_DIR = "checkpoints"
DVCLIVE_DIR = "dvclive"
LOCK_NAME = ".lock"
SUPERSEDED_DIR = "superseded"
CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)\.pt$")
KEEP_CHECKPOINTS = 2  # the newest checkpoint and the one before it
CHECKPOINT_FORMAT = "srgan-train-state"
GENERATOR_FORMAT = "srgan-generator"
FORMAT_VERSION = 1
# The benchmark set scored during training when present (the paper's smallest); else the
# first of evaluate.datasets that is (see eval_dataset).
PREFERRED_EVAL_DATASET = "Set5"
EVAL_PREFIX = "eval/"  # logged names of the evaluate callback's scores: eval/<name>
CUBLAS_WORKSPACE_ENV = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS_WORKSPACE = ":4096:8"  # the setting NVIDIA documents for reproducible cuBLAS matmuls
DVC_ROOT_ENV = "DVC_ROOT"  # DVC sets it for the commands of pipeline stages
SIGNAL_EXIT_BASE = 128  # shell convention: killed by signal N exits 128 + N

# Config keys that do not change what a variant computes: left out of its training identity.
RUN_ONLY_KEYS = (
    "device",
    "demo",
    "data.root",
    "data.mirror",
    "data.benchmarks",
    "data.workers",
    "data.cache_images",
    "train.srresnet.steps",
    "train.srgan.steps",
    "train.checkpoint_every",
    "train.log_every",
    "train.eval_every",
    "train.channels_last",
    "train.compile",
    "train.deterministic",
    "evaluate",
    "workflow",
)
# Keys only some variants use (also left out of the others' identity).
SRGAN_ONLY_KEYS = ("discriminator", "train.srgan", "loss.adversarial_weight")
SRRESNET_ONLY_KEYS = ("train.srresnet",)
VGG_ONLY_KEYS = ("vgg", "loss.vgg_divisor")
TV_ONLY_KEYS = ("loss.tv_weight",)

CONTENT_LOSS_KINDS = ("mse", "vgg22", "vgg54")
CONTENT_LOSS_VGG_LAYER = {"vgg22": "relu2_2", "vgg54": "relu5_4"}  # phi_{2,2}, phi_{5,4}

#: Scores the generator (in eval mode) during training: {name: value}, logged as eval/<name>
#: (the CLI's: {"Set5_psnr": ..., "Set5_ssim": ...}).
Evaluator = Callable[[SRResNet], dict[str, float]]


# --------------------------------------------------------------------------------------------
# Variants and schedules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One column of Table 1: the content loss, whether TV and the adversarial loss are on."""

    name: str
    content: str  # "mse" | "vgg22" | "vgg54"
    adversarial: bool
    total_variation: bool

    @property
    def uses_vgg(self) -> bool:
        return self.content in CONTENT_LOSS_VGG_LAYER


VARIANTS = {
    v.name: v
    for v in (
        Variant("srresnet_mse", "mse", adversarial=False, total_variation=False),
        Variant("srresnet_vgg22", "vgg22", adversarial=False, total_variation=True),
        Variant("srgan_mse", "mse", adversarial=True, total_variation=False),
        Variant("srgan_vgg22", "vgg22", adversarial=True, total_variation=False),
        Variant("srgan_vgg54", "vgg54", adversarial=True, total_variation=False),
    )
}


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise UserError(f"unknown variant {name!r} (choose from {', '.join(VARIANTS)})")
    return VARIANTS[name]


@dataclass(frozen=True)
class Schedule:
    """Total steps and the step-wise constant learning rate (a pure function of the step)."""

    steps: int
    lr: float
    decay_step: int | None = None  # the rate is multiplied by ``decay`` from this step on
    decay: float = 1.0

    def lr_at(self, step: int) -> float:
        """Learning rate of step ``step`` (0-based)."""
        if self.decay_step is not None and step >= self.decay_step:
            return self.lr * self.decay
        return self.lr


def make_schedule(variant: Variant, config: Config, steps: int | None = None) -> Schedule:
    """The paper's schedule for ``variant`` from the config; ``steps`` overrides the total
    (the decay step stays where the config puts it)."""
    if steps is not None and steps < 1:
        raise UserError(f"--steps must be >= 1, got {steps}")
    if variant.adversarial:
        gan = config.train.srgan
        return Schedule(steps or gan.steps, gan.lr, gan.lr_decay_step, gan.lr_decay)
    return Schedule(steps or config.train.srresnet.steps, config.train.srresnet.lr)


def _drop_key(tree: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        tree = tree.get(part, {})
    tree.pop(last, None)


def training_identity(config: Config, variant: Variant) -> dict[str, Any]:
    """The config keys that determine what ``variant`` computes, plus the variant's name."""
    tree = config.to_dict()
    dropped = list(RUN_ONLY_KEYS)
    dropped += SRRESNET_ONLY_KEYS if variant.adversarial else SRGAN_ONLY_KEYS
    dropped += () if variant.uses_vgg else VGG_ONLY_KEYS
    dropped += () if variant.total_variation else TV_ONLY_KEYS
    for key in dropped:
        _drop_key(tree, key)
    return {"variant": variant.name, "config": tree}


def training_hash(config: Config, variant: Variant) -> str:
    return config_hash(training_identity(config, variant))


# --------------------------------------------------------------------------------------------
# Errors and signals
# --------------------------------------------------------------------------------------------


class NonFiniteLossError(UserError):
    """A loss became NaN or infinite: the run stops; the last good checkpoint is kept."""


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was written. ``exit_code`` is 128 + signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = SIGNAL_EXIT_BASE + signum


class _StopFlag:
    """Set by SIGINT/SIGTERM; the loop checks it after each step. A second signal acts as
    usual (the previous handler is put back on the first)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}
        self.pid = os.getpid()

    def handle(self, signum: int, frame: Any) -> None:
        if os.getpid() != self.pid:
            return  # a forked DataLoader worker: the main process stops it when it is done
        self.signum = signum
        signal.signal(signum, self.previous[signum])
        name = signal.Signals(signum).name
        os.write(
            sys.stderr.fileno(),
            f"\n{name} received: finishing this step and writing a checkpoint "
            f"(send it again to stop at once, without one)\n".encode(),
        )


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[_StopFlag]:
    flag = _StopFlag()
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            flag.previous[signum] = signal.signal(signum, flag.handle)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield flag
    finally:
        for signum, handler in flag.previous.items():
            signal.signal(signum, handler)


# --------------------------------------------------------------------------------------------
# Devices, determinism, RNG state
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def torch_settings(deterministic: bool, device: torch.device) -> Iterator[None]:
    """The torch settings of a training run: deterministic algorithms (exact resume; best
    effort on CUDA) or cudnn autotuning. Everything is restored afterwards, including
    ``CUBLAS_WORKSPACE_CONFIG`` (set for deterministic CUDA runs when the user has not)."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    set_cublas = deterministic and device.type == "cuda" and CUBLAS_WORKSPACE_ENV not in os.environ
    if set_cublas:  # cuBLAS needs it for reproducible matmuls
        os.environ[CUBLAS_WORKSPACE_ENV] = CUBLAS_WORKSPACE
    if deterministic:
        # On CUDA an op without a deterministic kernel warns instead of ending a long run.
        torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = device.type == "cuda"
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark = saved[2]
        torch.backends.cudnn.deterministic = saved[3]
        if set_cublas:
            os.environ.pop(CUBLAS_WORKSPACE_ENV, None)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the legacy global generator, for third-party code)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states, as weights_only-loadable values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------------------------
# Models, losses, one training step
# --------------------------------------------------------------------------------------------


def generator_settings(config: Config) -> dict[str, Any]:
    """SRResNet constructor arguments from the config (what a checkpoint's ``model`` holds)."""
    return {
        "num_blocks": config.model.blocks,
        "channels": config.model.channels,
        "prelu": config.model.prelu,
        "long_skip": config.model.long_skip,
        "scale": config.scale,
    }


def content_loss(
    kind: str,
    *,
    vgg_weights: str = "imagenet",
    vgg_normalization: str = "imagenet",
    vgg_rescale: float | None = None,
) -> nn.Module:
    """The content loss named ``kind``: "mse", "vgg22" (relu2_2) or "vgg54" (relu5_4).

    Returns a module called as ``loss(sr, hr)``. The ``vgg_*`` arguments only matter for the
    VGG kinds (see :class:`srgan.models.VGGFeatures` and :class:`srgan.losses.VGGLoss`;
    ``vgg_rescale=None`` keeps VGGLoss's default, the paper's 1/12.75).
    """
    if kind == "mse":
        return MSELoss()
    if kind in CONTENT_LOSS_VGG_LAYER:
        features = VGGFeatures(
            layer=CONTENT_LOSS_VGG_LAYER[kind], weights=vgg_weights, normalization=vgg_normalization
        )
        return VGGLoss(features) if vgg_rescale is None else VGGLoss(features, vgg_rescale)
    raise UserError(f"content loss must be one of {list(CONTENT_LOSS_KINDS)}, got {kind!r}")


def mean_probability(logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's mean probability over a batch: mean(sigmoid(logits))."""
    return torch.sigmoid(logits.float()).mean()


def loss_names(variant: Variant) -> list[str]:
    """The logged terms of a step, in the order a step function returns them.

    ``generator`` is the generator's total loss; ``d_real``/``d_fake`` are D's mean
    probabilities for HR and generated crops."""
    if variant.adversarial:
        return ["content", "adversarial", "generator", "discriminator", "d_real", "d_fake"]
    return ["content", *(["tv"] if variant.total_variation else []), "generator"]


@dataclass
class Trainer:
    """The modules and optimisers of one run, and the step function that updates them."""

    variant: Variant
    generator: SRResNet
    discriminator: Discriminator | None
    content: nn.Module
    opt_g: torch.optim.Adam
    opt_d: torch.optim.Adam | None
    adversarial_weight: float
    tv_weight: float
    d_steps: int
    autocast: Callable[[], contextlib.AbstractContextManager]
    g_forward: nn.Module  # the generator, or its torch.compile'd wrapper
    d_forward: nn.Module | None

    def set_lr(self, lr: float) -> None:
        for optimizer in (self.opt_g, self.opt_d):
            for group in optimizer.param_groups if optimizer else ():
                group["lr"] = lr

    def step(self, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """One training step; returns the detached loss terms of :func:`loss_names`."""
        if self.variant.adversarial:
            return self._srgan_step(lr, hr)
        return self._srresnet_step(lr, hr)

    def _srresnet_step(self, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            sr = self.g_forward(lr)
            content = self.content(sr, hr).float()
            terms = [content]
            total = content
            if self.variant.total_variation:
                tv = tv_loss(sr.float())
                total = total + self.tv_weight * tv
                terms.append(tv)
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g.step()
        return torch.stack([*terms, total]).detach()

    def _srgan_step(self, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        assert self.discriminator is not None and self.d_forward is not None
        assert self.opt_d is not None
        with self.autocast():
            sr = self.g_forward(lr)
        # Discriminator: -log D(HR) - log(1 - D(G(LR))), k updates.
        self.discriminator.requires_grad_(True)
        for _ in range(self.d_steps):
            with self.autocast():
                d_real = self.d_forward(hr).float()
                d_fake = self.d_forward(sr.detach()).float()
                d_loss = discriminator_loss(d_real, d_fake)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
        # Generator: content + 1e-3 * -log D(G(LR)), against the updated discriminator.
        self.discriminator.requires_grad_(False)
        with self.autocast():
            adversarial = generator_adversarial_loss(self.d_forward(sr).float())
            content = self.content(sr, hr).float()
            total = content + self.adversarial_weight * adversarial
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g.step()
        probabilities = [mean_probability(d_real), mean_probability(d_fake)]
        terms = [content, adversarial, total, d_loss, *probabilities]
        return torch.stack([t.detach().float() for t in terms])


def build_trainer(variant: Variant, config: Config, device: torch.device) -> Trainer:
    """Seeded models, losses and optimisers, on ``device`` (same seed, same initial weights)."""
    seed_everything(config.seed)
    train = config.train
    channels_last = train.channels_last and device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    generator = SRResNet(**generator_settings(config)).to(device, memory_format=memory_format)
    discriminator = None
    if variant.adversarial:
        discriminator = Discriminator(
            input_size=config.data.crop_size,
            channels=config.discriminator.channels,
            strides=config.discriminator.strides,
            dense=config.discriminator.dense,
        ).to(device, memory_format=memory_format)
    content = content_loss(
        variant.content,
        vgg_weights=config.vgg.weights,
        vgg_normalization=config.vgg.normalization,
        vgg_rescale=1 / config.loss.vgg_divisor,
    ).to(device, memory_format=memory_format)
    betas = (train.adam_beta1, train.adam_beta2)
    schedule = make_schedule(variant, config)
    opt_g = torch.optim.Adam(generator.parameters(), lr=schedule.lr, betas=betas)
    opt_d = None
    if discriminator is not None:
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=schedule.lr, betas=betas)
    bf16 = train.precision == "bf16" and device.type == "cuda"

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)

    g_forward: nn.Module = generator
    d_forward: nn.Module | None = discriminator
    if train.compile:
        g_forward = torch.compile(generator)
        d_forward = torch.compile(discriminator) if discriminator is not None else None
    return Trainer(
        variant=variant,
        generator=generator,
        discriminator=discriminator,
        content=content,
        opt_g=opt_g,
        opt_d=opt_d,
        adversarial_weight=config.loss.adversarial_weight,
        tv_weight=config.loss.tv_weight,
        d_steps=train.srgan.d_steps,
        autocast=autocast,
        g_forward=g_forward,
        d_forward=d_forward,
    )


class LossMeter:
    """Running sums of the loss terms since the last log, and the first non-finite step.

    Everything stays on the device (no synchronisation per step); :meth:`check` and
    :meth:`pop_means` synchronise."""

    def __init__(self, names: list[str], device: torch.device) -> None:
        self.names = names
        self.sums = torch.zeros(len(names), device=device)
        self.count = 0
        self.first_bad = torch.full((len(names),), -1, dtype=torch.long, device=device)

    def add(self, step: int, values: torch.Tensor) -> None:
        self.sums += values
        self.count += 1
        newly_bad = ~torch.isfinite(values) & (self.first_bad < 0)
        self.first_bad = torch.where(newly_bad, step, self.first_bad)

    def check(self, last_good: Path | None) -> None:
        """Raise NonFiniteLossError naming the first step and terms that were not finite."""
        first = self.first_bad.tolist()
        bad_steps = [s for s in first if s >= 0]
        if not bad_steps:
            return
        step = min(bad_steps)
        terms = ", ".join(n for n, s in zip(self.names, first, strict=True) if s == step)
        kept = f"the last good checkpoint is {last_good}" if last_good else "no checkpoint yet"
        raise NonFiniteLossError(
            f"non-finite loss at step {step} ({terms}); training stopped, {kept}. "
            "Lower the learning rate or the loss weights, or check the training images"
        )

    def pop_means(self) -> dict[str, float]:
        means = (self.sums / max(self.count, 1)).tolist()
        self.sums.zero_()
        self.count = 0
        return dict(zip(self.names, means, strict=True))

    def state_dict(self) -> dict[str, Any]:
        return {"sums": self.sums.cpu(), "count": self.count, "first_bad": self.first_bad.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums.copy_(state["sums"])
        self.count = state["count"]
        self.first_bad.copy_(state["first_bad"])


def parameters_finite(*modules: nn.Module | None) -> bool:
    flags = [torch.isfinite(p).all() for m in modules if m is not None for p in m.parameters()]
    return bool(torch.stack(flags).all()) if flags else True


# --------------------------------------------------------------------------------------------
# Files: atomic saves, checkpoints, metadata
# --------------------------------------------------------------------------------------------


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then rename over ``path``."""
    with atomic_write(path, "wb") as handle:
        torch.save(obj, handle)


def checkpoint_path(workdir: Path, step: int) -> Path:
    return workdir / CHECKPOINT_DIR / f"step_{step:09d}.pt"


def list_checkpoints(workdir: Path) -> list[tuple[int, Path]]:
    """(step, path) of the checkpoint files, newest first."""
    folder = workdir / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = CHECKPOINT_PATTERN.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def _remove_stale_temp_files(workdir: Path) -> None:
    """Temp files of atomic writes a killed run left: in DIR, checkpoints/ and dvclive/."""
    live = workdir / DVCLIVE_DIR
    live_folders = [p for p in live.rglob("*") if p.is_dir()] if live.is_dir() else []
    for folder in (workdir, workdir / CHECKPOINT_DIR, live, *live_folders):
        remove_stale_temp_files(folder)


def load_latest_checkpoint(workdir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads; unreadable ones are reported and skipped."""
    for _, path in list_checkpoints(workdir):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated or damaged: fall back to the previous one
            print(f"warning: skipping unreadable checkpoint {path}: {err}", file=sys.stderr)
            continue
        if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
            return path, state
        print(f"warning: skipping {path}: not a training checkpoint", file=sys.stderr)
    return None


def _prune_checkpoints(workdir: Path) -> None:
    for _, path in list_checkpoints(workdir)[KEEP_CHECKPOINTS:]:
        path.unlink(missing_ok=True)


def git_commit() -> str:
    """The source tree's commit, with ``-dirty`` if tracked files changed, or "unknown"."""
    state = git_state()
    return state["commit"] + ("-dirty" if state["dirty"] else "")


def files_digest(files: list[Path], root: Path) -> str:
    """A hash of the training files' names (relative to ``root``), sizes and mtimes: a file
    replaced in place (same name and size) counts as other training images too."""
    digest = hashlib.sha256()
    for path in files:
        name = path.relative_to(root) if path.is_relative_to(root) else path
        stat = path.stat()
        digest.update(f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def random_vgg(config: Config, variant: Variant) -> bool:
    """Whether the variant's content loss uses VGG19 with random (not ImageNet) weights."""
    return variant.uses_vgg and config.vgg.weights == "random"


def is_demo(config: Config, variant: Variant) -> bool:
    """A demo result: the demo profile, or a perceptual loss without the paper's VGG."""
    return bool(config.demo) or random_vgg(config, variant)


def demo_notes(config: Config, variant: Variant) -> list[str]:
    """Why a result is a demo (empty exactly when :func:`is_demo` is false)."""
    notes = []
    if config.demo:
        notes.append("demo run: tiny model and schedule; numbers are not comparable to the paper")
    if random_vgg(config, variant):
        notes.append("VGG19 with random weights: not the paper's (ImageNet) perceptual loss")
    return notes


# --------------------------------------------------------------------------------------------
# DVCLive
# --------------------------------------------------------------------------------------------


def truncate_metrics(live_dir: Path, last_step: int) -> None:
    """Drop rows logged after ``last_step`` from DVCLive's metric files (``*.tsv``).

    After a crash, steps after the last checkpoint were logged but will be trained (and
    logged) again; without this, resumed runs would show them twice. A partly written last
    row is dropped too. The step is found by the header's ``step`` column (a file without
    one is left alone); each file is rewritten atomically."""
    for path in (live_dir / "plots" / "metrics").rglob("*.tsv"):
        rows = list(csv.reader(io.StringIO(path.read_text()), delimiter="\t"))
        if not rows or "step" not in rows[0]:
            continue
        header, body = rows[0], rows[1:]
        column = header.index("step")
        kept = [r for r in body if len(r) == len(header) and r[column].isdigit()]
        kept = [r for r in kept if int(r[column]) <= last_step]
        out = io.StringIO()
        csv.writer(out, delimiter="\t", lineterminator="\n").writerows([header, *kept])
        write_text_atomic(path, out.getvalue())


def open_live(live_dir: Path, resume_step: int | None) -> Any:
    """A DVCLive logger; a fresh run wipes old metrics, a resumed one appends after the
    checkpoint's step. Steps are set explicitly (the training step), never by next_step().

    DVCLive's repository set-up runs only inside ``dvc repro``/``dvc exp run`` (DVC sets
    ``DVC_ROOT`` for stage commands): elsewhere ``Live()`` would run ``dvc init`` and
    ``git add`` in the enclosing Git repository when it finds no DVC repository, a side effect
    a training run must not have (and it costs seconds)."""
    from dvclive import Live  # slow import (pulls in DVC): only when training

    class RunLive(Live):
        def _init_dvc(self) -> None:
            if os.environ.get(DVC_ROOT_ENV):
                super()._init_dvc()

    if resume_step is not None:
        truncate_metrics(live_dir, resume_step)
    resume = resume_step is not None
    return RunLive(dir=str(live_dir), resume=resume, dvcyaml=None, save_dvc_exp=False)


def log_metrics(live: Any, step: int, metrics: dict[str, float]) -> None:
    live.step = step
    for name, value in metrics.items():
        live.log_metric(name, value)
    live.make_summary()


# --------------------------------------------------------------------------------------------
# Checks before training
# --------------------------------------------------------------------------------------------


def training_files(config: Config, progress: bool = True) -> tuple[Path, list[Path]]:
    """The training images (scanned with the bad-input policy) and their folder.

    The folder must exist (the workflow's data rules, or ``srgan train`` for the demo's
    bundled ``skimage`` set, write it first).
    """
    folder = train_images_dir(config)
    files = scan_images(
        folder,
        config.data.crop_size,
        config.data.on_bad_image,
        cache_dir=cache_folder(config),
        progress=progress,
    )
    return folder, files


def read_init(init: Path, config: Config) -> dict[str, Any]:
    """A generator checkpoint to start from, checked against the configured architecture."""
    data = read_checkpoint(Path(init))
    expected = generator_settings(config)
    found = data["model"]
    if not isinstance(found, dict) or found != expected:
        differ = sorted(
            k for k in expected if not isinstance(found, dict) or found.get(k) != expected[k]
        )
        raise UserError(
            f"--init {init}: its generator ({found}) does not match the configured one "
            f"({expected}); differing: {', '.join(differ) or 'extra keys'}"
        )
    return data


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """A hash of a state dict's names, dtypes, shapes and bytes (independent of file layout)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}\t{tensor.dtype}\t{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def _init_summary(init: Path, data: dict[str, Any]) -> dict[str, Any]:
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return {
        "path": str(init),
        "digest": weights_digest(data["generator"]),
        "variant": metadata.get("variant", data.get("variant")),
        "step": metadata.get("step", data.get("step")),
        "train_hash": metadata.get("train_hash", data.get("train_hash")),
    }


def _mismatch(
    record: dict[str, Any], identity: str, init: dict[str, Any] | None, steps: int
) -> str | None:
    """Why a final.pt's metadata or a checkpoint cannot continue into the requested run."""
    if record.get("train_hash") != identity:
        return (
            f"another configuration or variant (training hash {record.get('train_hash')}, "
            f"now {identity})"
        )
    recorded_init = (record.get("init") or {}).get("digest")
    if init is not None and recorded_init != init["digest"]:
        return f"another --init generator (weights {recorded_init}, now {init['digest']})"
    if int(record.get("step", 0)) > steps:
        return f"{record.get('step')} steps, more than the {steps} asked for"
    return None


def _final_record(final: Path) -> dict[str, Any] | None:
    """final.pt's metadata; None if there is no final.pt, {} if it cannot be read."""
    if not final.exists():
        return None
    try:
        metadata = read_checkpoint(final).get("metadata")
    except UserError:
        return {}
    return metadata if isinstance(metadata, dict) else {}


def _is_complete(final: Path, identity: str, init: dict[str, Any] | None, steps: int) -> bool:
    record = _final_record(final)
    return (
        bool(record)
        and _mismatch(record, identity, init, steps) is None
        and (record.get("step") == steps)
    )


def _assess(
    workdir: Path, identity: str, init: dict[str, Any] | None, steps: int, data: dict[str, Any]
) -> tuple[tuple[Path, dict[str, Any]] | None, str | None]:
    """(the checkpoint to resume from, or None; why the folder's state cannot continue into
    the requested run, or None). Read-only."""
    final = workdir / FINAL_NAME
    record = _final_record(final)
    if record is not None:
        why = _mismatch(record, identity, init, steps) if record else "unreadable"
        if why is not None:
            return None, f"{final} is from {why}"
    latest = load_latest_checkpoint(workdir)
    if latest is None:
        missing = f"{final} has fewer steps and no checkpoint is left to continue from"
        return None, missing if record is not None else None
    path, state = latest
    why = _mismatch(state, identity, init, steps)
    if why is None and state["data"]["files_digest"] != data["files_digest"]:
        why = (
            f"other training images ({state['data']['n_files']} files then, {data['n_files']} now)"
        )
    return (None, f"checkpoint {path} is from {why}") if why else (latest, None)


def _move_aside(workdir: Path) -> Path:
    """Move final.pt, checkpoints/ and dvclive/ to DIR/superseded/<UTC time>/ (nothing lost)."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    dest = workdir / SUPERSEDED_DIR / stamp
    dest.mkdir(parents=True)
    for name in (FINAL_NAME, CHECKPOINT_DIR, DVCLIVE_DIR):
        if (workdir / name).exists():
            os.replace(workdir / name, dest / name)
    return dest


# --------------------------------------------------------------------------------------------
# The training run
# --------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """Everything one call of :func:`train` works with."""

    variant: Variant
    config: Config
    workdir: Path
    schedule: Schedule
    identity: str
    device: torch.device
    trainer: Trainer
    meter: LossMeter
    data_state: dict[str, Any]
    init: dict[str, Any] | None

    def checkpoint_state(self, step: int) -> dict[str, Any]:
        t = self.trainer
        return {
            "format": CHECKPOINT_FORMAT,
            "version": FORMAT_VERSION,
            "variant": self.variant.name,
            "step": step,
            "train_hash": self.identity,
            "config_hash": self.config.hash(),
            "config": self.config.to_dict(),
            "model": t.generator.config,
            "generator": t.generator.state_dict(),
            "discriminator": t.discriminator.state_dict() if t.discriminator else None,
            "optimizer_g": t.opt_g.state_dict(),
            "optimizer_d": t.opt_d.state_dict() if t.opt_d else None,
            "meter": self.meter.state_dict(),
            "rng": rng_state(),
            "data": self.data_state,
            "init": self.init,
        }

    def restore(self, state: dict[str, Any]) -> None:
        t = self.trainer
        t.generator.load_state_dict(state["generator"])
        t.opt_g.load_state_dict(state["optimizer_g"])
        if t.discriminator is not None and t.opt_d is not None:
            t.discriminator.load_state_dict(state["discriminator"])
            t.opt_d.load_state_dict(state["optimizer_d"])
        self.meter.load_state_dict(state["meter"])
        self.init = state["init"]
        set_rng_state(state["rng"])

    def final_state(self, step: int) -> dict[str, Any]:
        generator = self.trainer.generator
        state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
        return {
            "format": GENERATOR_FORMAT,
            "version": FORMAT_VERSION,
            "model": generator.config,
            "generator": state,
            "metadata": {
                "variant": self.variant.name,
                "step": step,
                "config_hash": self.config.hash(),
                "train_hash": self.identity,
                "config": self.config.to_dict(),
                "model": generator.config,
                "schedule": {
                    "steps": self.schedule.steps,
                    "lr": self.schedule.lr,
                    "decay_step": self.schedule.decay_step,
                    "decay": self.schedule.decay,
                },
                "init": self.init,
                "vgg_weights": self.config.vgg.weights if self.variant.uses_vgg else None,
                "demo": is_demo(self.config, self.variant),
                "notes": demo_notes(self.config, self.variant),
                "git_commit": git_commit(),
                "torch_version": str(torch.__version__),
                "device": str(self.device),
                "precision": self.config.train.precision,
                "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            },
        }


def eval_dataset(config: Config) -> str | None:
    """The benchmark set to score during training: Set5 when ``benchmarks_dir/Set5`` exists,
    else the first of ``evaluate.datasets`` whose folder exists (the demo's SkimageTest);
    None when there is none."""
    root = benchmarks_dir(config)
    for name in (PREFERRED_EVAL_DATASET, *config.evaluate.datasets):
        if (root / name).is_dir():
            return name
    return None


def _evaluate(generator: SRResNet, evaluate: Evaluator) -> dict[str, float]:
    """The callback's scores of the current generator (eval mode, then back to training
    mode), named ``eval/<name>``."""
    generator.eval()
    try:
        scores = evaluate(generator)
    finally:
        generator.train()
    return {f"{EVAL_PREFIX}{name}": float(value) for name, value in scores.items()}


def _batches(
    files: list[Path], config: Config, start_step: int, device: torch.device, progress: bool
) -> Generator[tuple[torch.Tensor, torch.Tensor], None, None]:
    """(LR in [0, 1], HR in [-1, 1]) batches for steps start_step, start_step + 1, ..."""
    return make_batches(  # a generator: closing it stops the data workers
        files,
        crop_size=config.data.crop_size,
        batch_size=config.data.batch_size,
        seed=config.seed,
        start_step=start_step,
        workers=config.data.workers,
        cache_images=config.data.cache_images,
        device=device,
        scale=config.scale,
        store_dir=cache_folder(config),
        progress=progress,
    )


def train(
    variant: str,
    workdir: Path,
    config: Config,
    steps: int | None = None,
    checkpoint_every: int | None = None,
    init: Path | None = None,
    progress: bool = True,
    evaluate: Evaluator | None = None,
) -> Path:
    """Train ``variant`` in ``workdir`` (resuming if it holds checkpoints); returns final.pt.

    ``steps`` overrides the schedule's total, ``checkpoint_every`` the config's interval;
    ``init`` is a generator checkpoint to start from (required by srgan_* variants on a
    fresh start; its weights are part of the run's identity). Every ``train.eval_every``
    steps ``evaluate`` (if given) scores the generator; its scores are logged as
    ``eval/<name>``. Raises UserError for bad inputs, NonFiniteLossError if a loss diverges,
    TrainingInterrupted on SIGINT/SIGTERM.

    The inputs are checked first (nothing is created when one is wrong); the work folder's
    state is read and acted on only under its lock, so a concurrent run cannot change it
    in between.
    """
    spec = get_variant(variant)
    workdir = Path(workdir)
    schedule = make_schedule(spec, config, steps)
    every = config.train.checkpoint_every if checkpoint_every is None else checkpoint_every
    if every < 1:
        raise UserError(f"--checkpoint-every must be >= 1, got {every}")
    identity = training_hash(config, spec)
    final = workdir / FINAL_NAME
    tag = f"srgan train {spec.name}"

    init_data = read_init(init, config) if init is not None else None
    init_info = _init_summary(init, init_data) if init_data is not None else None
    device = resolve_device(config.device)
    if spec.uses_vgg:
        check_vgg_weights(config.vgg.weights, layer=CONTENT_LOSS_VGG_LAYER[spec.content])
    folder, files = training_files(config, progress)
    data_state = {
        "seed": config.seed,
        "files_digest": files_digest(files, folder),
        "n_files": len(files),
    }
    if spec.adversarial and init_info is None and not list_checkpoints(workdir):
        raise _init_required(spec)  # early: nothing to resume from, so no lock needed

    with _workdir_lock(workdir):
        _remove_stale_temp_files(workdir)
        if _is_complete(final, identity, init_info, schedule.steps):
            print(f"{tag}: {final} is complete ({schedule.steps} steps, same run); nothing to do")
            return final
        latest, superseded = _assess(workdir, identity, init_info, schedule.steps, data_state)
        if latest is None and init_info is None and spec.adversarial:
            raise _init_required(spec)
        if superseded is not None:
            moved = _move_aside(workdir)
            print(f"{tag}: {superseded}: moved it to {moved}; starting over")
        with torch_settings(config.train.deterministic, device):
            run = _Run(
                variant=spec,
                config=config,
                workdir=workdir,
                schedule=schedule,
                identity=identity,
                device=device,
                trainer=build_trainer(spec, config, device),
                meter=LossMeter(loss_names(spec), device),
                data_state=data_state,
                init=None,
            )
            start = 0
            if latest is not None:
                path, state = latest
                run.restore(state)
                start = state["step"]
                print(f"{tag}: resuming from step {start} ({path})")
            elif init_data is not None:
                run.trainer.generator.load_state_dict(init_data["generator"])
                run.init = init_info
                print(f"{tag}: generator initialised from {init}")
            for note in demo_notes(config, spec):
                print(f"{tag}: note: {note}")
            _loop(run, start, every, files, progress, evaluate)
            save_atomic(run.final_state(schedule.steps), final)
    print(f"{tag}: done, {schedule.steps} steps; generator written to {final}")
    return final


def _init_required(spec: Variant) -> UserError:
    return UserError(
        f"{spec.name} starts from a trained srresnet_mse generator (paper, Section 3.2): "
        "pass --init WORKDIR/final.pt of an srresnet_mse run"
    )


@contextlib.contextmanager
def _workdir_lock(workdir: Path) -> Iterator[None]:
    """Hold ``DIR/.lock`` (released on exit, even on SIGKILL): one training per work folder."""
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / LOCK_NAME, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"another `srgan train` is running in {workdir} (it holds {workdir / LOCK_NAME})"
            ) from None
        yield


def _loop(
    run: _Run,
    start: int,
    every: int,
    files: list[Path],
    progress: bool,
    evaluate: Evaluator | None,
) -> None:
    """Steps ``start`` .. total - 1, with logging, evaluation, checkpoints and signals."""
    config, trainer, meter = run.config, run.trainer, run.meter
    total = run.schedule.steps
    log_every, eval_every = config.train.log_every, config.train.eval_every
    if eval_every and evaluate is None:
        print("note: no benchmark set to score; no PSNR is logged during training")
        eval_every = 0
    last_good = next(iter(list_checkpoints(run.workdir)), (0, None))[1]
    channels_last = config.train.channels_last and run.device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    live = open_live(run.workdir / DVCLIVE_DIR, start if start else None)
    if start == 0:
        live.log_params(
            {
                "variant": run.variant.name,
                "train_hash": run.identity,
                "config_hash": config.hash(),
                "steps": total,
            }
        )
    bar = tqdm(
        total=total,
        initial=start,
        desc=run.variant.name,
        unit="step",
        disable=None if progress else True,
        dynamic_ncols=True,
    )
    trainer.generator.train()
    if trainer.discriminator is not None:
        trainer.discriminator.train()
    with contextlib.ExitStack() as stack:
        stop = stack.enter_context(_stop_on_signals())
        batches = _batches(files, config, start, run.device, progress)
        stack.callback(batches.close)
        stack.callback(bar.close)
        for step in range(start, total):
            trainer.set_lr(run.schedule.lr_at(step))
            lr, hr = next(batches)
            lr = lr.to(run.device, memory_format=memory_format, non_blocking=True)
            hr = hr.to(run.device, memory_format=memory_format, non_blocking=True)
            done = step + 1
            meter.add(done, trainer.step(lr, hr))
            bar.update(1)
            if done % log_every == 0 or done == total:
                meter.check(last_good)
                means = meter.pop_means()
                bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()}, refresh=False)
                metrics = {f"train/{k}": v for k, v in means.items()}
                log_metrics(live, done, {**metrics, "train/lr": run.schedule.lr_at(step)})
            if evaluate is not None and eval_every and done % eval_every == 0:
                log_metrics(live, done, _evaluate(trainer.generator, evaluate))
            if done % every == 0 or done == total or stop.signum is not None:
                last_good = _write_checkpoint(run, done, last_good)
            if stop.signum is not None:
                name = signal.Signals(stop.signum).name
                raise TrainingInterrupted(
                    f"{name}: stopped after step {done} of {total}; checkpoint {last_good}; "
                    "rerun the same command to resume",
                    stop.signum,
                )
    live.end()


def _write_checkpoint(run: _Run, step: int, last_good: Path | None) -> Path:
    """Check the losses and weights, then write the step's checkpoint atomically."""
    run.meter.check(last_good)
    if not parameters_finite(run.trainer.generator, run.trainer.discriminator):
        kept = last_good or "none"
        raise NonFiniteLossError(
            f"the weights became non-finite by step {step}; training stopped, the last good "
            f"checkpoint is {kept}. Lower the learning rate or the loss weights"
        )
    path = checkpoint_path(run.workdir, step)
    save_atomic(run.checkpoint_state(step), path)
    _prune_checkpoints(run.workdir)
    return path
