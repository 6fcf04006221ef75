"""The torch runtime of a run (srgan.core.runtime): settings restored, random states saved."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from srgan.core import runtime
from srgan.models import checkpoints


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


def test_rng_state_round_trips_through_a_weights_only_load(tmp_path: Path) -> None:
    runtime.seed_everything(5)
    checkpoints.save_atomic(runtime.rng_state(), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    runtime.seed_everything(6)
    runtime.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])  # noqa: NPY002
    assert random.random() == expected[2]
