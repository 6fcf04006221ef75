"""benchmarks/bench_train.py on CPU with a tiny model: its rows, ratios and projections (no
timing is asserted: the figures belong in docs/benchmarks.md, measured on a quiet machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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


def test_cpu_run_prints_eager_and_defaults_rows_with_ratios(bench: tuple[str, dict]) -> None:
    stdout, record = bench
    rows = [(r["variant"], r["row"]) for r in record["rows"]]
    assert rows == [
        ("srresnet_mse", "eager"),
        ("srresnet_mse", "defaults"),
        ("srgan_vgg54", "eager"),
        ("srgan_vgg54", "defaults"),
    ]
    for r in record["rows"]:
        eager = next(
            e for e in record["rows"] if e["variant"] == r["variant"] and e["row"] == "eager"
        )
        assert r["ratio"] == pytest.approx(r["it_per_s"] / eager["it_per_s"])
        assert r["ms_per_step"] == pytest.approx(1e3 / r["it_per_s"])
        assert r["peak_gib"] is None  # no GPU memory on CPU
        table_line = f"{r['variant']:13s} {r['row']:12s} {r['label']:44s} {r['it_per_s']:9.3f}"
        assert table_line in stdout
    assert "projected hours of training steps" in stdout


def test_projections_follow_the_paper_and_quick_schedules(bench: tuple[str, dict]) -> None:
    """Two SRResNet variants at SRResNet-MSE's rate, three SRGAN ones at SRGAN-VGG54's: 1e6
    and 2e5 steps each (paper), 1e5 and 2e4 (config/quick.yaml)."""
    _, record = bench
    rate = {(r["row"], r["variant"]): r["it_per_s"] for r in record["rows"]}
    for row in ("eager", "defaults"):
        srresnet, srgan = rate[(row, "srresnet_mse")], rate[(row, "srgan_vgg54")]
        expected = {
            "paper": (2 * 1_000_000 / srresnet + 3 * 200_000 / srgan) / 3600,
            "quick": (2 * 100_000 / srresnet + 3 * 20_000 / srgan) / 3600,
        }
        assert record["projected_hours"][row] == pytest.approx(expected)
