"""benchmarks/bench_train.py on CPU with a tiny model: its rows and projections (no timing is
asserted: the figures belong in docs/benchmarks.md, measured on a quiet machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srgan.core.config import load_config
from srgan.training import throughput

REPO = Path(__file__).resolve().parents[1]
TINY = ["model.blocks=1", "model.channels=8", "discriminator.channels=[8,8]",
        "discriminator.strides=[1,2]"]  # fmt: skip


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    out = folder.parent / "bench.json"
    command = [sys.executable, str(REPO / "benchmarks" / "bench_train.py"), "--steps", "1"]
    command += ["--warmup", "0", "--batch", "2", "--crop", "16", "--workers", "0"]
    command += ["--data", str(folder), "--json", str(out)]
    for pair in TINY:
        command += ["--set", pair]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text())


@pytest.mark.slow
def test_cpu_run_prints_eager_and_defaults_rows(bench: tuple[str, dict]) -> None:
    """The CPU rows, printed and kept in the JSON: each model's eager step and the configured
    one, measured (a rate above zero), eager the unit of the ratios, no GPU memory."""
    stdout, record = bench
    rows = [(r["variant"], r["row"]) for r in record["rows"]]
    assert rows == [
        ("srresnet_mse", "eager"),
        ("srresnet_mse", "defaults"),
        ("srgan_vgg54", "eager"),
        ("srgan_vgg54", "defaults"),
    ]
    for r in record["rows"]:
        assert r["it_per_s"] > 0 and r["peak_gib"] is None
        if r["row"] == "eager":
            assert r["ratio"] == 1.0
        assert f"{r['variant']:13s} {r['row']:12s} {r['label']:44s}" in stdout
    assert "projected hours of training steps" in stdout
    assert set(record["projected_hours"]) == {"eager", "defaults"}


def test_projected_hours_of_the_paper_and_quick_schedules() -> None:
    """Two SRResNet variants at SRResNet-MSE's rate, three SRGAN ones at SRGAN-VGG54's: at 100
    and 20 it/s the paper's 1e6 and 2e5 steps take (2e6 / 100 + 6e5 / 20) s = 50,000 s, the
    quick profile's 1e5 and 2e4 take 5,000 s."""
    rates = {"srresnet_mse": 100.0, "srgan_vgg54": 20.0}
    paper = load_config(REPO / "params.yaml")
    quick = load_config(REPO / "params.yaml", [REPO / "config" / "quick.yaml"])
    assert throughput.projected_hours(rates, paper) == pytest.approx(50_000 / 3600, rel=1e-12)
    assert throughput.projected_hours(rates, quick) == pytest.approx(5_000 / 3600, rel=1e-12)
