"""Training throughput (iterations/s) at the paper's batch (16) and crop (96).

Usage: .venv/bin/python benchmarks/bench_train.py [--device cpu|cuda] [--steps N] [--warmup W]
                                                  [--variants srresnet_mse srgan_vgg54]
                                                  [--data DIR] [--workers K]

For each variant (the full paper models: 16 blocks, 64 channels, the 8-conv discriminator;
VGG19 with random weights, which costs the same as ImageNet's), one run times the training
step of ``srgan.trainer`` (``build_trainer`` + ``Trainer.step``, the code ``srgan train``
runs, under the same torch settings, ``runtime.torch_settings``: cudnn autotuning on CUDA
with params.yaml's ``train.deterministic: false``) fed by two data pipelines:

- naive: per sample, PIL open, random crop, MATLAB-bicubic downscale of that crop, all in the
  main process (the usual first implementation);
- project: ``srgan.patches.make_batches`` (decoded-image store, batched downscale, ``--workers``
  DataLoader workers).

On CUDA it also compares fp32 with bf16 autocast, and eager with ``torch.compile``, for the
project pipeline, and reports peak GPU memory. Images: ``--data`` (default: the mirror's
BSD200), or, when that is missing, synthetic 256x256 PNGs in a temp folder. Each row is
the mean over ``--steps`` steps after ``--warmup`` steps (compilation happens in the warmup).
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from _common import REPO_ROOT, default_data_dir, naive_batches
from PIL import Image

from srgan import runtime, variants
from srgan.config import Config, load_config
from srgan.patches import make_batches
from srgan.trainer import Trainer, build_trainer
from srgan.trainset import scan_images

PAPER_CROP = 96  # paper: 96 x 96 HR crops
PAPER_BATCH = 16  # paper: 16 crops per mini-batch
SYNTHETIC_IMAGES = 32
SYNTHETIC_SIZE = 256
CPU_DEFAULTS = {"steps": 2, "warmup": 1}  # a paper-size SRGAN step takes seconds on 2 cores
CUDA_DEFAULTS = {"steps": 20, "warmup": 5}


def synthetic_images(folder: Path) -> Path:
    """Smooth random colour fields plus noise, as PNGs (when no real images are at hand)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:SYNTHETIC_SIZE, 0:SYNTHETIC_SIZE] / SYNTHETIC_SIZE
    for i in range(SYNTHETIC_IMAGES):
        freq = rng.uniform(2, 20, size=(3, 2))
        img = np.stack([np.sin(f[0] * x * 6 + f[1] * y * 6) for f in freq], axis=-1)
        img = 127 + 100 * img + rng.normal(0, 10, img.shape)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"syn{i:03d}.png")
    return folder


def naive_device_batches(
    files: list[Path], crop: int, batch: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The naive baseline pipeline (benchmarks/_common.py), moved to ``device``."""
    for lr, hr in naive_batches(files, crop, batch):
        yield lr.to(device), hr.to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    trainer: Trainer,
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    memory_format: torch.memory_format,
    steps: int,
    warmup: int,
) -> tuple[float, float]:
    """Wall and process-CPU seconds per training step (data included), mean over ``steps``
    after ``warmup``. CPU time counts this process's threads only (not data workers); on a
    shared machine wall time above CPU time / threads means waiting for cores."""
    start = cpu_start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            start, cpu_start = time.perf_counter(), time.process_time()
        lr, hr = next(batches)
        trainer.step(
            lr.contiguous(memory_format=memory_format), hr.contiguous(memory_format=memory_format)
        )
    _sync(device)
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu_start) / steps


def bench_one(
    variant: str,
    files: list[Path],
    device: torch.device,
    precision: str,
    compile_models: bool,
    pipeline: str,
    args: argparse.Namespace,
    data_root: Path,
) -> dict[str, object]:
    sets = [
        f"device={device}",
        f"train.precision={precision}",
        f"train.compile={str(compile_models).lower()}",
        "vgg.weights=random",
        f"data.root={data_root}",
    ]
    config = load_config(REPO_ROOT / "params.yaml", sets=sets)
    with runtime.torch_settings(config.train.deterministic, device):
        return _bench_run(variant, files, device, config, pipeline, args, data_root)


def _bench_run(
    variant: str,
    files: list[Path],
    device: torch.device,
    config: Config,
    pipeline: str,
    args: argparse.Namespace,
    data_root: Path,
) -> dict[str, object]:
    """One row: build the trainer and time its steps (inside ``runtime.torch_settings``)."""
    spec = variants.get(variant)
    trainer = build_trainer(spec, config, device)
    trainer.generator.train()
    channels_last = config.train.channels_last and device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if pipeline == "naive":
        batches = naive_device_batches(files, PAPER_CROP, PAPER_BATCH, device)
    else:
        batches = make_batches(
            files,
            PAPER_CROP,
            PAPER_BATCH,
            seed=0,
            workers=args.workers,
            cache_images=0,
            device=device,
            store_dir=data_root / "cache",
        )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        seconds, cpu_seconds = time_steps(
            trainer, batches, device, memory_format, args.steps, args.warmup
        )
    finally:
        close = getattr(batches, "close", None)
        if close:
            close()
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {
        "variant": variant,
        "precision": config.train.precision,
        "compile": config.train.compile,
        "data": pipeline,
        "it/s": 1 / seconds,
        "s/it": seconds,
        "cpu s/it": cpu_seconds,
        "peak GiB": peak,
    }


def print_table(rows: list[dict[str, object]]) -> None:
    header = f"{'variant':14s} {'precision':9s} {'compile':7s} {'data':8s} {'it/s':>8s} "
    header += f"{'s/it':>8s} {'cpu s/it':>8s} {'peak GiB':>8s}"
    print(header)
    print("-" * len(header))
    for row in rows:
        peak = "" if row["peak GiB"] is None else f"{row['peak GiB']:.2f}"
        print(
            f"{row['variant']:14s} {row['precision']:9s} {'yes' if row['compile'] else 'no':7s} "
            f"{row['data']:8s} {row['it/s']:8.3f} {row['s/it']:8.3f} "
            f"{row['cpu s/it']:8.3f} {peak:>8s}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument(
        "--variants", nargs="+", default=[variants.SRRESNET_MSE, variants.SRGAN_VGG54]
    )
    parser.add_argument("--steps", type=int, default=None, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first")
    parser.add_argument("--data", type=Path, default=None, help="folder of HR training images")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers")
    args = parser.parse_args()
    device = torch.device(args.device)
    defaults = CUDA_DEFAULTS if device.type == "cuda" else CPU_DEFAULTS
    args.steps = args.steps or defaults["steps"]
    args.warmup = defaults["warmup"] if args.warmup is None else args.warmup
    if args.workers is None:
        args.workers = min(4, max(1, (os.cpu_count() or 2) - 1))

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data or default_data_dir("train/BSD200")
        if not data_dir.is_dir():
            print(f"no training images at {data_dir}: using {SYNTHETIC_IMAGES} synthetic ones")
            data_dir = synthetic_images(Path(tmp))
        files = scan_images(data_dir, PAPER_CROP, "skip")
        print(
            f"device {device}, {torch.get_num_threads()} CPU threads, {args.workers} data "
            f"workers, {len(files)} images from {data_dir}; batch {PAPER_BATCH}, crop "
            f"{PAPER_CROP}; {args.warmup} warmup + {args.steps} timed steps per row"
        )
        if device.type == "cuda":
            settings = [("fp32", False, "naive"), ("fp32", False, "project")]
            settings += [
                (p, c, "project")
                for p, c in itertools.product(("fp32", "bf16"), (False, True))
                if (p, c) != ("fp32", False)
            ]
        else:
            settings = [("fp32", False, "naive"), ("fp32", False, "project")]
        rows = []
        for variant in args.variants:
            for precision, compile_models, pipeline in settings:
                row = bench_one(
                    variant, files, device, precision, compile_models, pipeline, args, Path(tmp)
                )
                rows.append(row)
                print(
                    f"  {variant} {precision} compile={compile_models} {pipeline}: "
                    f"{row['s/it']:.3f} s/it",
                    flush=True,
                )
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
