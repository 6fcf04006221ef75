"""The torch runtime of a run: the device, deterministic algorithms, every random state.

``resolve_device`` turns ``device: auto|cpu|cuda|cuda:N`` into a torch device (a UserError
when it is not there). ``torch_settings`` switches deterministic algorithms on (exact resume
on CPU; best effort on CUDA) or cudnn autotuning, makes the run's CUDA device the current one,
sets the fp32 arithmetic of CUDA explicitly to PyTorch's defaults (``CONV_FP32_PRECISION``,
``MATMUL_FP32_PRECISION``, with PyTorch's ``fp32_precision`` API only: mixing it with the
legacy ``allow_tf32`` flags raises in PyTorch), and restores everything afterwards.
``rng_state``/``set_rng_state`` capture Python's, NumPy's and torch's generators as
``weights_only``-loadable values, for checkpoints.

Imports: torch, numpy and the leaf ``srgan.core.errors``.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from srgan.core.errors import UserError

CUBLAS_WORKSPACE_ENV = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS_WORKSPACE = ":4096:8"  # the setting NVIDIA documents for reproducible cuBLAS matmuls
#: fp32 on CUDA, as PyTorch does by default (stated here so that it is a decision, not an
#: accident): cuDNN convolutions may use TF32 tensor cores (fp32 storage and accumulation,
#: inputs rounded to a 10-bit mantissa; the bulk of SRResNet, D and VGG19), matmuls (D's two
#: dense layers) stay full fp32 ("ieee"). train.precision: bf16 is the deviation chosen for
#: speed. Values of PyTorch's ``fp32_precision`` settings.
CONV_FP32_PRECISION = "tf32"
MATMUL_FP32_PRECISION = "ieee"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when available (else CPU); other names as torch spells them."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise UserError(f"unknown device {device!r} (auto, cpu, cuda, cuda:N)") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available here")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise UserError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device {device!r} requested but MPS is not available here")
    return resolved


@contextlib.contextmanager
def torch_settings(deterministic: bool, device: torch.device) -> Iterator[None]:
    """The torch settings of a training run: deterministic algorithms (exact resume; best
    effort on CUDA) or cudnn autotuning, and ``device`` as the current CUDA device
    (:func:`device_current`). Everything is restored afterwards, including
    ``CUBLAS_WORKSPACE_CONFIG`` (set for deterministic CUDA runs when the user has not)."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.conv.fp32_precision,
        torch.backends.cuda.matmul.fp32_precision,
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
    torch.backends.cudnn.conv.fp32_precision = CONV_FP32_PRECISION
    torch.backends.cuda.matmul.fp32_precision = MATMUL_FP32_PRECISION
    try:
        with device_current(device):
            yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark = saved[2]
        torch.backends.cudnn.deterministic = saved[3]
        torch.backends.cudnn.conv.fp32_precision = saved[4]
        torch.backends.cuda.matmul.fp32_precision = saved[5]
        if set_cublas:
            os.environ.pop(CUBLAS_WORKSPACE_ENV, None)


def device_current(device: torch.device) -> contextlib.AbstractContextManager:
    """``cuda:N`` as the current CUDA device within the block (what streams, pinned-memory
    threads and a CUDA graph's capture use unless told otherwise); nothing for the CPU or a
    bare ``cuda``, which is the current device already."""
    if device.type == "cuda" and device.index is not None:
        return torch.cuda.device(device)
    return contextlib.nullcontext()


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
