"""Training throughput (iterations/s) at the paper's batch (16) and crop (96), data included.

Usage: .venv/bin/python benchmarks/bench_train.py [--device cpu|cuda] [--steps N] [--warmup W]
           [--variants srresnet_mse srgan_vgg54] [--rows KEY ...] [--data DIR] [--workers K]
           [--json FILE] [--batch B] [--crop C] [--set key=value ...]

For each variant (the full paper models: 16 blocks, 64 channels, the 8-conv discriminator;
VGG19 with random weights, which costs the same as ImageNet's) and each row below, one run
builds the trainer of ``srgan.training.step`` and the batches of ``srgan.data.patches`` from the
configuration (params.yaml with the row's keys laid over it) and times the loop body of
``srgan train``: set the learning rate, fetch the batch, the step, add the losses to the
meter (no per-step synchronisation), under ``runtime.torch_settings`` (cudnn autotuning, as
``train.deterministic: false``). The measuring code is ``srgan.training.throughput``'s, which
``srgan check`` uses too. Rows (``--rows``; all of them on CUDA, ``eager`` and
``defaults`` elsewhere):

    eager         the step as it was before graph mode: eager, PyTorch's default Adam
                  (multi-tensor on CUDA), the DataLoader pipeline (``--workers``), fp32
    fused         eager + fused Adam                      (each optimisation on its own)
    device-data   eager + batches made on the device
    graph         eager + the whole step as one CUDA graph
    compile       eager + torch.compile (inductor, default mode)
    bf16          eager + bf16 autocast (a deviation from the paper's fp32)
    defaults      what params.yaml picks on this device: on CUDA the full path (graph,
                  fused Adam, data on the device, fp32 with TF32 convolutions); elsewhere
                  the eager step, so eager vs defaults is the no-regression check on CPU
    full-compile  the full path + torch.compile
    full-bf16     the full path in bf16
    peer          a plain eager loop as public reimplementations write it: fp16 autocast,
                  GradScaler, ``loss.item()`` every step, batches already on the GPU (CUDA)

Each row is the mean over ``--steps`` steps after ``--warmup`` steps (cudnn autotuning, the
graph capture and compilation happen in the warmup). Printed: it/s, ms per step, CPU ms per
step of this process, the ratio to the ``eager`` row, peak GPU memory (the decoded images of
the device rows included), then the projected hours of training steps (no evaluation or data
download) for the paper's schedule (params.yaml) and the quick profile (config/quick.yaml):
the SRResNet variants at SRResNet-MSE's rate, the SRGAN variants at SRGAN-VGG54's (the
costliest of them: an upper bound). Images: ``--data`` (default: the mirror's BSD200), or
synthetic 256x256 PNGs when that is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from _common import REPO_ROOT, default_data_dir

from srgan.core import variants
from srgan.core.config import QUICK_PROFILE as QUICK
from srgan.core.config import Config, load_config
from srgan.core.paths import profile_file
from srgan.data.trainset import scan_images
from srgan.models.losses import content_loss, discriminator_loss, generator_adversarial_loss
from srgan.models.networks import Discriminator, SRResNet
from srgan.training.step import GRAPH_WARMUP_STEPS, generator_settings
from srgan.training.throughput import (
    RATE_OF,
    measure,
    projected_hours,
    release,
    synthetic_images,
)

PAPER_CROP = 96  # paper: 96 x 96 HR crops
PAPER_BATCH = 16  # paper: 16 crops per mini-batch
SYNTHETIC_IMAGES = 32
CPU_DEFAULTS = {"steps": 2, "warmup": 1}  # a paper-size SRGAN step takes seconds on 2 cores
CUDA_DEFAULTS = {"steps": 100, "warmup": GRAPH_WARMUP_STEPS + 7}
QUICK_PROFILE = profile_file(QUICK, REPO_ROOT / "params.yaml")

#: The step as it was before graph mode, fused Adam and data on the device.
BEFORE = {
    "train.step": "eager",
    "train.adam_kernel": "default",
    "data.pipeline": "loader",
    "train.compile": "false",
    "train.precision": "fp32",
}
#: params.yaml's own settings: on CUDA the full path, elsewhere the step as before.
DEFAULTS = {**BEFORE, "train.step": "auto", "train.adam_kernel": "auto", "data.pipeline": "auto"}
PEER = "peer"


@dataclass(frozen=True)
class RowSpec:
    key: str
    label: str
    keys: dict[str, str]  # config keys laid over params.yaml (none for the peer row)


ROWS = (
    RowSpec("eager", "as before: eager, default Adam, DataLoader", BEFORE),
    RowSpec("fused", "+ fused Adam", {**BEFORE, "train.adam_kernel": "fused"}),
    RowSpec("device-data", "+ batches made on the device", {**BEFORE, "data.pipeline": "device"}),
    RowSpec("graph", "+ whole step as one CUDA graph", {**BEFORE, "train.step": "graph"}),
    RowSpec("compile", "+ torch.compile", {**BEFORE, "train.compile": "true"}),
    RowSpec("bf16", "+ bf16 autocast (deviation)", {**BEFORE, "train.precision": "bf16"}),
    RowSpec("defaults", "defaults of params.yaml", DEFAULTS),
    RowSpec("full-compile", "defaults + torch.compile", {**DEFAULTS, "train.compile": "true"}),
    RowSpec("full-bf16", "defaults, bf16 (deviation)", {**DEFAULTS, "train.precision": "bf16"}),
    RowSpec(PEER, "peer-style: fp16+GradScaler+item()", {}),
)
ROW_KEYS = tuple(r.key for r in ROWS)
CPU_ROWS = ("eager", "defaults")


@dataclass
class Result:
    variant: str
    row: str
    label: str
    it_per_s: float
    ms_per_step: float
    cpu_ms_per_step: float
    peak_gib: float | None
    ratio: float | None = None


def row_config(spec: RowSpec, device: torch.device, args: argparse.Namespace, root: Path) -> Config:
    sets = [f"{key}={value}" for key, value in spec.keys.items()]
    sets += [
        f"device={device}",
        "vgg.weights=random",
        f"data.root={root}",
        f"data.crop_size={args.crop}",
        f"data.batch_size={args.batch}",
        f"data.workers={args.workers}",
        *args.set,
    ]
    return load_config(REPO_ROOT / "params.yaml", sets=sets)


def peer_iteration(variant: str, config: Config, device: torch.device) -> Callable[[int], None]:
    """A plain eager loop as public reimplementations write it: fp16 autocast and GradScaler,
    PyTorch's default Adam, the loss read back (``.item()``) every step, one synthetic batch
    already on the GPU."""
    spec = variants.get(variant)
    generator = SRResNet(**generator_settings(config)).to(device)
    content = content_loss(
        spec.content,
        vgg_weights=config.vgg.weights,
        vgg_normalization=config.vgg.normalization,
        vgg_divisor=config.loss.vgg_divisor,
    ).to(device)
    lr_value = variants.schedule(config, spec).lr
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr_value)
    scaler_g = torch.amp.GradScaler(device.type)
    crop, batch = config.data.crop_size, config.data.batch_size
    lr = torch.rand(batch, 3, crop // config.scale, crop // config.scale, device=device)
    hr = torch.rand(batch, 3, crop, crop, device=device) * 2 - 1
    discriminator = opt_d = scaler_d = None
    if spec.adversarial:
        discriminator = Discriminator(
            input_size=crop,
            channels=config.discriminator.channels,
            strides=config.discriminator.strides,
            dense=config.discriminator.dense,
        ).to(device)
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_value)
        scaler_d = torch.amp.GradScaler(device.type)

    def autocast() -> torch.autocast:
        return torch.autocast(device_type=device.type, dtype=torch.float16)

    def iteration(step: int) -> None:
        with autocast():
            sr = generator(lr)
        loss = None
        if discriminator is not None and opt_d is not None and scaler_d is not None:
            with autocast():
                d_loss = discriminator_loss(discriminator(hr), discriminator(sr.detach()))
            opt_d.zero_grad()
            scaler_d.scale(d_loss).backward()
            scaler_d.step(opt_d)
            scaler_d.update()
            with autocast():
                adversarial = generator_adversarial_loss(discriminator(sr))
                loss = content(sr, hr) + config.loss.adversarial_weight * adversarial
        else:
            with autocast():
                loss = content(sr, hr)
        opt_g.zero_grad()
        scaler_g.scale(loss).backward()
        scaler_g.step(opt_g)
        scaler_g.update()
        loss.item()

    return iteration


def bench_row(
    variant: str,
    spec: RowSpec,
    files: list[Path],
    device: torch.device,
    args: argparse.Namespace,
    root: Path,
) -> Result:
    config = row_config(spec, device, args, root)
    make_peer = (lambda: peer_iteration(variant, config, device)) if spec.key == PEER else None
    measured = measure(variant, config, files, device, args.steps, args.warmup, make_peer)
    return Result(
        variant,
        spec.key,
        spec.label,
        measured.it_per_s,
        measured.ms_per_step,
        measured.cpu_ms_per_step,
        measured.peak_gib,
    )


def add_ratios(results: list[Result]) -> None:
    eager = {r.variant: r.it_per_s for r in results if r.row == "eager"}
    for r in results:
        r.ratio = r.it_per_s / eager[r.variant] if r.variant in eager else None


def projected_hours_of_rows(results: list[Result]) -> dict[str, dict[str, float]]:
    """{row: {profile: hours}} of training steps for every row with both rates measured."""
    schedules = {
        "paper": load_config(REPO_ROOT / "params.yaml"),
        "quick": load_config(REPO_ROOT / "params.yaml", [QUICK_PROFILE]),
    }
    hours: dict[str, dict[str, float]] = {}
    for row in dict.fromkeys(r.row for r in results):
        rates = {r.variant: r.it_per_s for r in results if r.row == row}
        if all(v in rates for v in RATE_OF.values()):
            hours[row] = {name: projected_hours(rates, c) for name, c in schedules.items()}
    return hours


def print_tables(results: list[Result], hours: dict[str, dict[str, float]]) -> None:
    header = (
        f"{'variant':13s} {'row':12s} {'what':44s} {'it/s':>9s} {'ms/it':>9s} "
        f"{'CPU ms/it':>9s} {'x eager':>7s} {'peak GiB':>8s}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
        peak = "" if r.peak_gib is None else f"{r.peak_gib:.2f}"
        print(
            f"{r.variant:13s} {r.row:12s} {r.label:44s} {r.it_per_s:9.3f} {r.ms_per_step:9.1f} "
            f"{r.cpu_ms_per_step:9.1f} {ratio:>7s} {peak:>8s}"
        )
    if not hours:
        return
    print()
    print("projected hours of training steps, all five variants of Table 1")
    print(f"{'row':12s} {'paper schedule':>15s} {'quick profile':>14s}")
    for row, by_profile in hours.items():
        print(f"{row:12s} {by_profile['paper']:15.2f} {by_profile['quick']:14.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument(
        "--variants", nargs="+", default=[variants.SRRESNET_MSE, variants.SRGAN_VGG54]
    )
    parser.add_argument("--rows", nargs="+", choices=ROW_KEYS, default=None, help="row keys")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first")
    parser.add_argument("--data", type=Path, default=None, help="folder of HR training images")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--batch", type=int, default=PAPER_BATCH, help="crops per batch")
    parser.add_argument("--crop", type=int, default=PAPER_CROP, help="HR crop size")
    parser.add_argument(
        "--set", action="append", default=[], help="config key=value for every row (repeatable)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    defaults = CUDA_DEFAULTS if device.type == "cuda" else CPU_DEFAULTS
    args.steps = args.steps or defaults["steps"]
    args.warmup = defaults["warmup"] if args.warmup is None else args.warmup
    if args.workers is None:
        args.workers = min(4, max(1, (os.cpu_count() or 2) - 1))
    if args.rows is None:
        args.rows = list(ROW_KEYS) if device.type == "cuda" else list(CPU_ROWS)
    return args


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    specs = [spec for spec in ROWS if spec.key in args.rows]
    if device.type != "cuda" and any(spec.key == PEER for spec in specs):
        print("the peer-style row needs CUDA (fp16 autocast and GradScaler): left out")
        specs = [spec for spec in specs if spec.key != PEER]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data or default_data_dir("train/BSD200")
        if not data_dir.is_dir():
            print(f"no training images at {data_dir}: using {SYNTHETIC_IMAGES} synthetic ones")
            data_dir = synthetic_images(Path(tmp), SYNTHETIC_IMAGES)
        files = scan_images(data_dir, args.crop, "skip", progress=False)
        print(
            f"{name} ({device}), torch {torch.__version__}, {torch.get_num_threads()} CPU "
            f"threads, {args.workers} data workers (DataLoader rows), {len(files)} images from "
            f"{data_dir}; batch {args.batch}, crop {args.crop}; {args.warmup} warmup + "
            f"{args.steps} timed steps per row"
        )
        for variant in args.variants:
            for spec in specs:
                result = bench_row(variant, spec, files, device, args, Path(tmp) / "root")
                results.append(result)
                print(f"  {variant} {spec.key}: {result.it_per_s:.3f} it/s", flush=True)
                release(device)
    add_ratios(results)
    hours = projected_hours_of_rows(results)
    print()
    print_tables(results, hours)
    if args.json:
        record = {
            "device": name,
            "torch": str(torch.__version__),
            "data": str(data_dir),
            "images": len(files),
            "batch": args.batch,
            "crop": args.crop,
            "steps": args.steps,
            "warmup": args.warmup,
            "rows": [asdict(r) for r in results],
            "projected_hours": hours,
        }
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
