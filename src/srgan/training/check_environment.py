"""``srgan check``, first: the environment, and the images the other checks read.

Python, torch (its CUDA and cuDNN), the configured ``device`` (a device that is not there is
a FAIL, and the rest runs on what is), how ``srgan train`` would step there, the fp32
arithmetic a run uses, and whether the configured training set is there
(:func:`examine_environment`). The images the path, LR and rate checks read
(:func:`choose_images`): up to ``CHECK_IMAGES`` of the training set, else of a test set, else
synthetic ones.

This module uses paths, runtime, the configuration, image files, the step's description,
the throughput helpers and ``check_report`` (the verdicts).
"""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path
from typing import Any

import torch

from srgan.core import paths, runtime
from srgan.core.config import Config
from srgan.core.errors import UserError
from srgan.image.io import image_size, list_image_files
from srgan.training import throughput
from srgan.training.check_report import FAIL, INFO, PASS, WARN, Verdict
from srgan.training.step import describe_step

#: Training images the check reads (the first of the folder, in name order).
CHECK_IMAGES = 32


def examine_environment(config: Config) -> tuple[torch.device, dict[str, Any], list[Verdict]]:
    cuda = torch.cuda.is_available()
    environment: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "cuda_build": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cuda_devices": torch.cuda.device_count() if cuda else 0,
        "cpu_threads": torch.get_num_threads(),
        "configured_device": config.device,
    }
    cudnn = f", cuDNN {environment['cudnn']}" if cuda else ""
    verdicts = [
        Verdict(
            "torch",
            INFO,
            f"torch {torch.__version__} (CUDA build {torch.version.cuda or 'none'}{cudnn}), "
            f"Python {environment['python']}, {environment['cpu_threads']} CPU threads",
        )
    ]
    try:
        device = runtime.resolve_device(config.device)
    except UserError as err:
        device = runtime.resolve_device("auto")
        verdicts.append(Verdict("device", FAIL, f"{err}; checking {device} instead"))
    else:
        verdicts.append(Verdict("device", PASS, f"device: {config.device} -> {device}"))
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        name = props.name
        environment["gpu"] = {
            "name": name,
            "memory_gib": props.total_memory / throughput.BYTES_PER_GIB,
            "capability": f"{props.major}.{props.minor}",
        }
        verdicts[-1].detail += (
            f": {name}, {environment['gpu']['memory_gib']:.0f} GiB, compute capability "
            f"{environment['gpu']['capability']}"
        )
    else:
        name = platform.processor() or platform.machine() or "CPU"
        if config.device == "auto":
            verdicts[-1] = Verdict("device", INFO, "device: auto -> cpu (no CUDA device here)")
    environment["device_name"] = name
    with runtime.torch_settings(config.train.deterministic, device):
        arithmetic = (
            f"convolutions {torch.backends.cudnn.conv.fp32_precision}, matmuls "
            f"{torch.backends.cuda.matmul.fp32_precision}"
        )
    environment["fp32"] = arithmetic
    verdicts.append(
        Verdict(
            "training step",
            INFO,
            f"srgan train here: {describe_step(config, device)}; fp32 on CUDA: {arithmetic}",
        )
    )
    verdicts.append(_training_set(config))
    return device, environment, verdicts


def _training_set(config: Config) -> Verdict:
    try:
        folder = paths.train_images_dir(config)
    except UserError as err:
        return Verdict("training set", WARN, str(err))
    count = len(list_image_files(folder, recursive=True)) if folder.is_dir() else 0
    if not count:
        return Verdict(
            "training set",
            INFO,
            f"{config.data.train_set} is not at {folder} yet (the workflow's data step or "
            "`srgan data` fetches it)",
        )
    return Verdict("training set", PASS, f"{config.data.train_set}: {count} images at {folder}")


def choose_images(config: Config, crop: int, least: int, root: Path) -> tuple[list[Path], str]:
    """Up to ``CHECK_IMAGES`` images at least ``crop`` pixels on a side: the training set's,
    else a test set's, else synthetic ones written under ``root``."""
    folders = []
    with contextlib.suppress(UserError):
        folders.append(
            (f"the training set ({config.data.train_set})", paths.train_images_dir(config))
        )
    for name in config.evaluate.datasets:
        folders.append((f"the test set {name}", paths.test_sets_dir(config) / name))
    for source, folder in folders:
        if not folder.is_dir():
            continue
        usable = []
        for path in list_image_files(folder, recursive=True):
            with contextlib.suppress(UserError):
                if min(image_size(path)) >= crop:
                    usable.append(path)
            if len(usable) == CHECK_IMAGES:
                break
        if len(usable) >= least:
            return usable, f"{source} at {folder}"
    synthetic = throughput.synthetic_images(root / "synthetic", CHECK_IMAGES)
    return sorted(synthetic.glob("*.png")), "synthetic (no training or test set here)"
