"""Measuring training throughput: the loop body of ``srgan train``, timed.

``measure(variant, config, files, device, steps, warmup)`` builds the trainer of
:mod:`srgan.training.step` and the batches of :mod:`srgan.data.patches` from ``config`` and
times what one iteration of the training loop does: set the learning rate, fetch the batch,
the step, add the losses to the meter (no per-step synchronisation), under
``runtime.torch_settings`` (cudnn autotuning unless ``train.deterministic``). The mean over
``steps`` steps after ``warmup`` untimed ones (cudnn autotuning, the graph capture and
compilation happen there). ``projected_hours`` turns the rates of SRResNet-MSE and SRGAN-VGG54
into hours of training steps for a profile's variants (``RATE_OF``). ``release`` frees what a
measurement left on the device before the next one; ``synthetic_images`` writes images to
measure with when no real ones are at hand.

``benchmarks/bench_train.py`` and ``srgan check`` (:mod:`srgan.training.check`) both measure
with these functions. Imports: the step, the batches, image files, and the core's runtime and
schedules.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from srgan.core import runtime, variants
from srgan.core.config import Config
from srgan.data.patches import make_batches
from srgan.image.io import write_png
from srgan.training.step import LossMeter, build_trainer, loss_names

#: Which measured variant's rate stands for each variant in the projections (by
#: ``adversarial``): SRResNet-VGG22 at SRResNet-MSE's rate, every SRGAN variant at SRGAN-VGG54's
#: (the costliest of them: an upper bound).
RATE_OF = {False: variants.SRRESNET_MSE, True: variants.SRGAN_VGG54}
SECONDS_PER_HOUR = 3600
BYTES_PER_GIB = 2**30
#: Side of the synthetic training images used when no real ones are at hand.
SYNTHETIC_SIZE = 256


@dataclass
class Measurement:
    """One measured configuration: steps per second, wall and this process's CPU
    milliseconds per step, and peak GPU memory (None off CUDA)."""

    it_per_s: float
    ms_per_step: float
    cpu_ms_per_step: float
    peak_gib: float | None


def synthetic_images(folder: Path, count: int) -> Path:
    """``count`` PNGs of smooth random colour fields plus noise in ``folder`` (made if
    missing), for measuring when no real training images are at hand."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:SYNTHETIC_SIZE, 0:SYNTHETIC_SIZE] / SYNTHETIC_SIZE
    for i in range(count):
        freq = rng.uniform(2, 20, size=(3, 2))
        img = np.stack([np.sin(f[0] * x * 6 + f[1] * y * 6) for f in freq], axis=-1)
        img = 127 + 100 * img + rng.normal(0, 10, img.shape)
        write_png(folder / f"syn{i:03d}.png", img.clip(0, 255).astype(np.uint8))
    return folder


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_loop(
    iteration: Callable[[int], None], device: torch.device, steps: int, warmup: int
) -> tuple[float, float]:
    """Wall and process-CPU seconds per iteration, mean over ``steps`` after ``warmup``. CPU
    time counts this process's threads only (not data workers); on a shared machine wall
    time above CPU time / threads means waiting for cores."""
    start = cpu_start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            synchronize(device)
            start, cpu_start = time.perf_counter(), time.process_time()
        iteration(i)
    synchronize(device)
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu_start) / steps


def trainer_iteration(
    variant: str, config: Config, files: list[Path], device: torch.device
) -> tuple[Callable[[int], None], Callable[[], None]]:
    """One iteration of ``srgan train``'s loop for ``config``, and how to stop its data. The
    decoded images go to ``<data.root>/cache`` (the device pipeline needs them there)."""
    spec = variants.get(variant)
    trainer = build_trainer(spec, config, device)
    trainer.generator.train()
    meter = LossMeter(loss_names(spec), device)
    lr_value = variants.schedule(config, spec).lr
    channels_last = config.train.channels_last and device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    batches = make_batches(
        files,
        config.data.crop_size,
        config.data.batch_size,
        seed=config.seed,
        workers=config.data.workers,
        cache_images=0,
        device=device,
        scale=config.scale,
        store_dir=Path(config.data.root) / "cache",
        progress=False,
        pipeline=config.data.pipeline,
    )

    def iteration(step: int) -> None:
        trainer.set_lr(lr_value)
        lr, hr = next(batches)
        lr = lr.to(device, memory_format=memory_format, non_blocking=True)
        hr = hr.to(device, memory_format=memory_format, non_blocking=True)
        meter.add(step + 1, trainer.step(lr, hr))

    return iteration, batches.close


def measure(
    variant: str,
    config: Config,
    files: list[Path],
    device: torch.device,
    steps: int,
    warmup: int,
    make_iteration: Callable[[], Callable[[int], None]] | None = None,
) -> Measurement:
    """Time ``srgan train``'s loop body for ``variant`` with ``config``, or the iteration
    ``make_iteration`` builds (under the same torch settings)."""
    stop: Callable[[], None] = lambda: None  # noqa: E731
    with runtime.torch_settings(config.train.deterministic, device):
        if make_iteration is None:
            iteration, stop = trainer_iteration(variant, config, files, device)
        else:
            iteration = make_iteration()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        try:
            seconds, cpu_seconds = time_loop(iteration, device, steps, warmup)
        finally:
            stop()
    peak = None
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / BYTES_PER_GIB
    return Measurement(1 / seconds, 1e3 * seconds, 1e3 * cpu_seconds, peak)


def release(device: torch.device) -> None:
    """Free what a measurement left (graphs, compiled code, cached blocks) before the next
    one: a captured step and its trainer refer to each other, so only the collector frees
    them."""
    gc.collect()
    torch._dynamo.reset()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


def projected_hours(rates: Mapping[str, float], schedule_of: Config) -> float:
    """Hours of training steps for the variants ``schedule_of`` trains (``workflow.variants``,
    its schedules), each at the rate (it/s) of ``RATE_OF``'s variant in ``rates``."""
    return (
        sum(
            variants.schedule(schedule_of, spec).steps / rates[RATE_OF[spec.adversarial]]
            for spec in variants.selected(schedule_of)
        )
        / SECONDS_PER_HOUR
    )
