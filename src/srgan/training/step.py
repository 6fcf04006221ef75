"""One training step of a Table 1 variant: the models, losses and optimisers, wired.

``build_trainer(variant, config, device)`` makes the seeded generator (and, for SRGAN, the
discriminator), the content loss of the variant (:func:`srgan.models.losses.content_loss`), and
Adam for each network. ``Trainer.step(lr, hr)`` runs one step and returns the detached loss
terms of ``loss_names(variant)``; within an SRGAN step the discriminator is updated
``train.srgan.d_steps`` times (paper: k = 1; with k > 1 the updates reuse the step's batch and
generated images), then the generator once, against the updated D. ``LossMeter`` sums the
terms on the device and finds the first non-finite one without a synchronisation per step.
``Trainer.state``/``load_state`` are what a checkpoint keeps of it.

How a step runs (``train.step``, ``train.adam_kernel``; neither changes what it computes):

* **eager**: the step as written, one kernel launch per operation (the CPU default).
* **graph** (the CUDA default): the whole step (forward, losses, backward, every optimiser
  update; for SRGAN the discriminator, VGG and both optimisers too) is captured once as a CUDA
  graph by :class:`CapturedStep` after ``GRAPH_WARMUP_STEPS`` eager steps and then replayed:
  one launch per step. At batch 16 a step is bound by launch overhead, not arithmetic. The
  learning rate is then a tensor on the device that :meth:`Trainer.set_lr` writes into, so a
  schedule change reaches the captured step. Without CUDA the same step runs uncaptured (what
  the CPU tests exercise).
* Adam is PyTorch's default implementation or ``fused`` (one kernel for all parameters; the
  CUDA default). What a checkpoint restores is the optimisers' state, each tensor in its
  parameter's memory layout (fused Adam requires it); their implementation flags and learning
  rate stay those of the device a run trains on (``RUNTIME_OPTIMIZER_KEYS``).

The run around the steps (resume, loop, checkpoints, signals, logging) is :mod:`srgan.training.run`.
Imports: models, losses, runtime, variants and the leaves config, errors.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srgan.core import variants
from srgan.core.config import Config
from srgan.core.errors import UserError
from srgan.core.runtime import seed_everything
from srgan.core.variants import Variant
from srgan.models.losses import (
    content_loss,
    discriminator_loss,
    generator_adversarial_loss,
    tv_loss,
)
from srgan.models.networks import Discriminator, SRResNet

#: Eager steps before the step is captured as a CUDA graph. They are real training steps;
#: cudnn picks its algorithms, Adam creates its state and torch.compile compiles in them.
GRAPH_WARMUP_STEPS = 3
#: Values of ``train.step`` and ``train.adam_kernel`` (besides "auto").
EAGER, GRAPH = "eager", "graph"
DEFAULT_KERNEL, FUSED = "default", "fused"
#: Optimiser settings that belong to the device a run trains on, not to its state: a
#: checkpoint's values are replaced by the current optimiser's when it is loaded.
RUNTIME_OPTIMIZER_KEYS = ("lr", "foreach", "fused", "capturable", "differentiable")


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
    captured: CapturedStep | None = None  # graph mode: the step, captured after a warm-up
    _lr: float | None = None  # the learning rate last set

    def set_lr(self, lr: float) -> None:
        """Set both optimisers' learning rate (in place when it is a tensor, as in graph mode;
        nothing happens when it is unchanged, so no work is queued on most steps)."""
        if lr == self._lr:
            return
        self._lr = lr
        for optimizer in (self.opt_g, self.opt_d):
            for group in optimizer.param_groups if optimizer else ():
                if isinstance(group["lr"], torch.Tensor):
                    group["lr"].fill_(lr)
                else:
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
        """Restore what :meth:`state` returned (from a checkpoint, written on any device and
        with any step mode). In graph mode, before the first step (the capture)."""
        if self.captured is not None and self.captured.graph is not None:
            raise RuntimeError("load_state after the step was captured: it would not see it")
        self.generator.load_state_dict(state["generator"])
        load_optimizer_state(self.opt_g, state["optimizer_g"])
        if self.discriminator is not None and self.opt_d is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            load_optimizer_state(self.opt_d, state["optimizer_d"])

    def step(self, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """One training step; returns the detached loss terms of :func:`loss_names`."""
        if self.captured is not None:
            return self.captured(lr, hr)
        return self.eager_step(lr, hr)

    def eager_step(self, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """The step as written (what graph mode captures)."""
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
        vgg_divisor=config.loss.vgg_divisor,
    ).to(device, memory_format=memory_format)
    graph = step_mode(config, device) == GRAPH
    kernel = adam_kernel(config, device)
    betas = (train.adam_beta1, train.adam_beta2)
    lr = variants.schedule(config, variant).lr
    opt_g = make_adam(generator.parameters(), lr, betas, device, kernel, graph)
    opt_d = None
    if discriminator is not None:
        opt_d = make_adam(discriminator.parameters(), lr, betas, device, kernel, graph)
    bf16 = train.precision == "bf16" and device.type == "cuda"

    def autocast() -> contextlib.AbstractContextManager:
        # A CUDA graph replays the casts, so autocast must not cache them across the capture.
        return torch.autocast(
            device_type=device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=not graph
        )

    g_forward: nn.Module = generator
    d_forward: nn.Module | None = discriminator
    if train.compile:
        g_forward = torch.compile(generator)
        d_forward = torch.compile(discriminator) if discriminator is not None else None
    built = Trainer(
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
        _lr=lr,
    )
    if graph:
        built.captured = CapturedStep(built.eager_step, device)
    return built


def step_mode(config: Config, device: torch.device) -> str:
    """``train.step`` resolved: "auto" is a CUDA graph on CUDA, eager elsewhere."""
    if config.train.step == "auto":
        return GRAPH if device.type == "cuda" else EAGER
    return config.train.step


def describe_step(config: Config, device: torch.device) -> str:
    """How steps run on ``device`` with ``config``, in words (``srgan train`` prints it)."""
    if step_mode(config, device) == EAGER:
        how = "eager steps"
    elif device.type == "cuda":
        how = f"one CUDA graph per step (captured after {GRAPH_WARMUP_STEPS} eager steps)"
    else:
        how = "graph mode's step, uncaptured (no CUDA)"
    compiled = ", torch.compile" if config.train.compile else ""
    bf16 = config.train.precision == "bf16" and device.type == "cuda"
    tf32 = " (TF32 convolutions)" if device.type == "cuda" else ""
    precision = "bf16 autocast" if bf16 else f"fp32{tf32}"
    return f"{how}{compiled}, {adam_kernel(config, device)} Adam, {precision}"


def adam_kernel(config: Config, device: torch.device) -> str:
    """``train.adam_kernel`` resolved: "auto" is fused on CUDA, PyTorch's default elsewhere."""
    if config.train.adam_kernel == "auto":
        return FUSED if device.type == "cuda" else DEFAULT_KERNEL
    return config.train.adam_kernel


def make_adam(
    params: Any,
    lr: float,
    betas: tuple[float, float],
    device: torch.device,
    kernel: str,
    graph: bool,
) -> torch.optim.Adam:
    """Adam for one network. In graph mode its learning rate is a tensor on ``device`` (a
    captured step reads it there) and on CUDA it is capturable; PyTorch's default kernel
    then takes the per-parameter loop off CUDA (its multi-tensor one needs capturable for a
    tensor learning rate, and capturable is CUDA-only)."""
    options: dict[str, Any] = {"betas": betas}
    if kernel == FUSED:
        options["fused"] = True
    if not graph:
        return torch.optim.Adam(params, lr=lr, **options)
    if device.type == "cuda":
        options["capturable"] = True
    elif kernel == DEFAULT_KERNEL:
        options["foreach"] = False
    return torch.optim.Adam(params, lr=torch.tensor(lr, device=device), **options)


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load a checkpoint's optimiser state, keeping this optimiser's runtime settings
    (``RUNTIME_OPTIMIZER_KEYS``: a run resumed on another device or step mode keeps its own
    kernel and learning-rate tensor; the learning rate is a function of the step anyway)."""
    groups = [
        {**saved, **{key: current[key] for key in RUNTIME_OPTIMIZER_KEYS if key in current}}
        for saved, current in zip(state["param_groups"], optimizer.param_groups, strict=True)
    ]
    optimizer.load_state_dict({**state, "param_groups": groups})
    match_parameter_layouts(optimizer)


def match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give every per-parameter state tensor (Adam's ``exp_avg``, ``exp_avg_sq``) its
    parameter's strides, values unchanged. A checkpoint written on the CPU or with
    ``train.channels_last`` off holds contiguous tensors; CUDA's fused Adam requires each state
    tensor to have its parameter's layout (a channels_last weight's strides differ), and
    PyTorch's loading keeps the saved strides."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.shape == param.shape
                    and value.stride() != param.stride()
                ):
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


class CapturedStep:
    """A step function replayed as one CUDA graph (graph mode's :meth:`Trainer.step`).

    Each call copies its inputs into static buffers. The first ``warmup`` calls run the
    function eagerly on a side stream (as PyTorch asks before a capture); the next call
    captures it into a CUDA graph and replays it, and every later call only replays it.
    Everything the function reads must keep its address: parameters, buffers and optimiser
    state are updated in place, the learning rate is a tensor written in place (so load a
    checkpoint before the first call). The warm-up, the capture (on a stream made on
    ``device``) and the replays run with ``device`` as the current CUDA device, whichever
    device the caller had current. Off CUDA nothing is captured: the function runs on the
    static buffers at every call.
    """

    def __init__(
        self,
        function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        device: torch.device,
        warmup: int = GRAPH_WARMUP_STEPS,
    ) -> None:
        self.function = function
        self.device = device
        self.warmup = warmup
        self.calls = 0
        self.inputs: tuple[torch.Tensor, torch.Tensor] | None = None
        self.output: torch.Tensor | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self._side_stream: torch.cuda.Stream | None = None

    def __call__(self, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if self.inputs is None:
            self.inputs = (torch.empty_like(lr), torch.empty_like(hr))
        for static, value in zip(self.inputs, (lr, hr), strict=True):
            if static.shape != value.shape:
                raise ValueError(
                    f"a captured step needs batches of one shape: {tuple(static.shape)}, "
                    f"now {tuple(value.shape)}"
                )
            static.copy_(value)
        self.calls += 1
        if self.device.type != "cuda":
            return self.function(*self.inputs)
        # The model's device is current throughout: the capture, the streams and the replays
        # (on cuda:N a capture on another device's stream would record nothing of the step).
        with torch.cuda.device(self.device):
            if self.graph is None and self.calls <= self.warmup:
                return self._warmup_step()
            if self.graph is None:
                self._capture()
            assert self.graph is not None and self.output is not None
            self.graph.replay()
            return self.output.clone()  # the static output is overwritten by the next replay

    def _warmup_step(self) -> torch.Tensor:
        assert self.inputs is not None
        current = torch.cuda.current_stream(self.device)
        if self._side_stream is None:
            self._side_stream = torch.cuda.Stream(self.device)
        self._side_stream.wait_stream(current)
        with torch.cuda.stream(self._side_stream), warnings.catch_warnings():
            # Adam warns that a capturable optimiser runs uncaptured: these steps do.
            warnings.filterwarnings("ignore", message=".*capturable=True.*")
            output = self.function(*self.inputs)
        current.wait_stream(self._side_stream)
        output.record_stream(current)
        return output

    def _capture(self) -> None:
        assert self.inputs is not None
        graph = torch.cuda.CUDAGraph()
        # A capture stream of the model's device: torch.cuda.graph's default one is made once,
        # on whichever device is current when it is first used.
        stream = torch.cuda.Stream(self.device)
        try:
            # thread_local: DataLoader's pin-memory thread may call CUDA during the capture
            with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
                self.output = self.function(*self.inputs)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(
                f"capturing the training step as a CUDA graph failed ({first}); "
                "train with train.step=eager"
            ) from err
        self.graph = graph


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
