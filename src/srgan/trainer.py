"""One training step of a Table 1 variant: the models, losses and optimisers, wired.

``build_trainer(variant, config, device)`` makes the seeded generator (and, for SRGAN, the
discriminator), the content loss of the variant (:func:`srgan.losses.content_loss`), and
Adam for each network. ``Trainer.step(lr, hr)`` runs one step and returns the detached loss
terms of ``loss_names(variant)``; within an SRGAN step the discriminator is updated
``train.srgan.d_steps`` times (paper: k = 1; with k > 1 the updates reuse the step's batch and
generated images), then the generator once, against the updated D. ``LossMeter`` sums the
terms on the device and finds the first non-finite one without a synchronisation per step.
``Trainer.state``/``load_state`` are what a checkpoint keeps of it.

The run around the steps (resume, loop, checkpoints, signals, logging) is :mod:`srgan.training`.
Imports: models, losses, runtime, variants and the leaves config, errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srgan import variants
from srgan.config import Config
from srgan.errors import UserError
from srgan.losses import content_loss, discriminator_loss, generator_adversarial_loss, tv_loss
from srgan.models import Discriminator, SRResNet
from srgan.runtime import seed_everything
from srgan.variants import Variant


class NonFiniteLossError(UserError):
    """A loss became NaN or infinite: the run stops; the last good checkpoint is kept."""


def generator_settings(config: Config) -> dict[str, Any]:
    """SRResNet constructor arguments from the config (what a checkpoint's ``model`` holds)."""
    return {
        "num_blocks": config.model.blocks,
        "channels": config.model.channels,
        "prelu": config.model.prelu,
        "long_skip": config.model.long_skip,
        "scale": config.scale,
    }


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

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps: the networks' weights and both optimisers' states."""
        return {
            "model": self.generator.config,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict() if self.discriminator else None,
            "optimizer_g": self.opt_g.state_dict(),
            "optimizer_d": self.opt_d.state_dict() if self.opt_d else None,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned (from a checkpoint)."""
        self.generator.load_state_dict(state["generator"])
        self.opt_g.load_state_dict(state["optimizer_g"])
        if self.discriminator is not None and self.opt_d is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.opt_d.load_state_dict(state["optimizer_d"])

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
    lr = variants.schedule(config, variant).lr
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = None
    if discriminator is not None:
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
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
