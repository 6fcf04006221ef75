"""``srgan check`` (srgan.training.check) on the CPU, with tiny models: every verdict, the
rates and their projections, the JSON it keeps, and that its checks see the faults they are
for. On a GPU the same command captures the step for real (not run here)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL
from PIL import Image

from srgan.cli import main as cli
from srgan.core import variants
from srgan.core.config import Config, load_config, with_sets
from srgan.training import check, check_environment, check_path, check_report, throughput
from srgan.training import step as trainer

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"
DEMO = REPO / "config" / "demo.yaml"
QUICK = REPO / "config" / "quick.yaml"
CPU = torch.device("cpu")
PATH_CHECKS = ("graph step", "lr drop", "evaluation between replays", "checkpoint after capture")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(6):
        pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i}.png")
    return folder


def _sets(images: Path) -> list[str]:
    return [*TINY_MODEL, "data.train_set=folder", f"data.train_dir={images}"]


def tiny_config(images: Path) -> Config:
    return load_config(PARAMS, [DEMO], _sets(images))


@pytest.mark.slow
def test_check_on_the_cpu_passes_every_check_and_keeps_everything(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``srgan check --json``: the verdicts in order, the path's figures within tolerance, the
    rates extrapolated by the number of pixels, the projections from them, exit status 0."""
    args = ["check", "--params", str(PARAMS), "--config", str(DEMO), "--json"]
    args.append(str(tmp_path / "check.json"))
    for item in _sets(images):
        args += ["--set", item]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    record = json.loads((tmp_path / "check.json").read_text())
    verdicts = [(c["check"], c["verdict"]) for c in record["checks"]]
    path = [
        (f"{name} {variant}", check_report.PASS)
        for variant in check.CPU_PLAN.path_variants
        for name in PATH_CHECKS
    ]
    assert verdicts == [
        ("torch", check_report.INFO),
        ("device", check_report.PASS),  # the demo profile names the CPU
        ("training step", check_report.INFO),
        ("training set", check_report.PASS),
        ("images", check_report.INFO),
        *path,
        ("LR on the device", check_report.PASS),
        ("rates compile, bf16", check_report.SKIP),
        ("rate srresnet_mse configured", check_report.INFO),
        ("rate srgan_vgg54 configured", check_report.INFO),
        ("projected hours configured", check_report.INFO),
    ]
    for item in record["checks"]:
        assert f"{item['verdict']:4s}  {item['check']:34s} {item['detail']}" in out
    figures = [c["figures"] for c in record["checks"] if c["check"].startswith("graph step")]
    for found in figures:
        assert found["graph_vs_eager"] <= check_path.WEIGHT_ATOL < found["replays_moved"]
        assert found["resumed_vs_uninterrupted"] <= check_path.WEIGHT_ATOL
    assert record["images"]["count"] == 6
    assert record["device"] == "cpu" and record["plan"]["note"] == check.CPU_PLAN.note
    # batch 2, crop 32 measured; the configuration's batch 2, crop 16: 4x the pixels
    rates = {r["variant"]: r for r in record["rates"]}
    for rate in rates.values():
        assert rate["extrapolated_it_per_s"] == pytest.approx(rate["it_per_s"] * 4, rel=1e-12)
    measured = {v: r["extrapolated_it_per_s"] for v, r in rates.items()}
    for name, profile in (("quick profile", [QUICK]), ("paper's schedule", [])):
        expected = throughput.projected_hours(measured, load_config(PARAMS, profile))
        assert record["projected_hours"]["configured"][name] == pytest.approx(expected)
    assert record["recommended"][0].startswith("no GPU here: training steps alone would take")
    assert record["wall_s"] > 0


def _path_config(images: Path, root: Path) -> Config:
    base = with_sets(tiny_config(images), [*check.COMMON_SETS, f"data.root={root}"], "test")
    return with_sets(base, list(check.CPU_PLAN.path_sets), "test")


def test_the_path_check_sees_a_learning_rate_that_never_reaches_the_step(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A graph-mode step whose learning rate is never written (the fault the device tensor
    is for): lr 0 moves the weights, and the steps drift from the eager ones."""
    original = trainer.Trainer.set_lr

    def stale(self: trainer.Trainer, lr: float) -> None:
        if self.captured is None:  # the eager reference gets its rates
            original(self, lr)

    monkeypatch.setattr(trainer.Trainer, "set_lr", stale)
    files = sorted(images.glob("*.png"))
    config = _path_config(images, tmp_path / "data")
    verdicts = check_path.path_checks(variants.SRRESNET_MSE, config, CPU, files, None, tmp_path)
    assert [(v.check, v.verdict) for v in verdicts] == [
        ("graph step srresnet_mse", check_report.FAIL),
        ("lr drop srresnet_mse", check_report.FAIL),
        ("evaluation between replays srresnet_mse", check_report.FAIL),
        ("checkpoint after capture srresnet_mse", check_report.PASS),  # resumes as it ran
    ]
    assert "lr 0 CHANGED the weights" in verdicts[1].detail


def test_layouts_match_sees_contiguous_adam_state_in_channels_last_parameters(
    images: Path,
) -> None:
    spec = variants.get(variants.SRGAN_MSE)
    config = with_sets(tiny_config(images), ["vgg.weights=random"], "test")
    built = trainer.build_trainer(spec, config, CPU)
    lr, hr = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 16, 16) * 2 - 1
    built.step(lr, hr)
    state = check_path._as_a_cpu_run_writes(built)
    assert check_path._layouts_match(built)
    for module in (built.generator, built.discriminator):
        module.to(memory_format=torch.channels_last)
    assert not check_path._layouts_match(built)  # the state made before, contiguous
    built.load_state(state)
    assert check_path._layouts_match(built)


def _rates(report: check_report.Report, table: dict[str, tuple[float, float, str, bool]]) -> None:
    for row, (srresnet, srgan, precision, compiled) in table.items():
        settings = {"train.compile": compiled, "train.precision": precision}
        for variant, value in ((variants.SRRESNET_MSE, srresnet), (variants.SRGAN_VGG54, srgan)):
            report.rates.append(
                check_report.Rate(variant, row, settings, value, 1e3 / value, 1, None)
            )


def test_recommendations_on_cuda_prefer_the_fastest_fp32_and_name_bf16_a_deviation() -> None:
    """Illustrative rates (not measurements): compile is the fastest fp32 setting and misses
    the targets; bf16 with compile is faster still, and named a deviation."""
    report = check_report.Report("cuda", check.CUDA_PLAN)
    _rates(
        report,
        {
            check_report.CONFIGURED: (179.0, 75.5, "fp32", False),
            "compile": (232.0, 80.0, "fp32", True),
            "bf16": (224.0, 98.0, "bf16", False),
            "compile+bf16": (259.0, 104.0, "bf16", True),
        },
    )
    schedules = {
        "quick profile": load_config(PARAMS, [QUICK]),
        "paper's schedule": load_config(PARAMS),
    }
    report.projected_hours = check_report.projections(report.rates, schedules)
    hours = report.projected_hours
    # quick: 2e5 SRResNet steps at 232 it/s, 6e4 SRGAN steps at 80 it/s
    assert hours["compile"]["quick profile"] == pytest.approx((2e5 / 232 + 6e4 / 80) / 3600)
    config = load_config(PARAMS)
    lines = check_report.recommend(report, config, torch.device("cuda"))
    assert lines[0].startswith("train.compile: true, train.precision: fp32: the fastest")
    assert lines[1].startswith("train.compile: true, train.precision: bf16 is faster still")
    assert "deviation" in lines[1]
    report.checks.append(
        check_report.Verdict("graph step srgan_vgg54", check_report.FAIL, "capture failed")
    )
    assert check_report.recommend(report, config, torch.device("cuda"))[0].startswith(
        "train.step: eager"
    )


def test_synthetic_images_stand_in_when_no_set_is_there(images: Path) -> None:
    config = load_config(PARAMS, [], ["data.mirror=null", "data.root=/nonexistent"])
    with tempfile.TemporaryDirectory() as tmp:
        files, source = check_environment.choose_images(config, 96, 16, Path(tmp))
        assert len(files) == check_environment.CHECK_IMAGES and source.startswith("synthetic")
    files, source = check_environment.choose_images(
        tiny_config(images), 16, 2, Path("/nonexistent")
    )
    assert len(files) == 6 and source.startswith("the training set (folder) at")


# --- on a GPU ----------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("variant", check_report.CHECKED)
def test_the_captured_path_and_lr_pass_on_cuda(variant: str, images: Path, tmp_path: Path) -> None:
    """The CUDA path for real (tiny models): capture, replays, the lr drop, an evaluation
    between replays, a checkpoint after the capture resumed; GPU-made LR against the CPU's."""
    cuda = torch.device("cuda")
    sets = [*check.COMMON_SETS, f"data.root={tmp_path / 'data'}", "device=cuda"]
    config = with_sets(tiny_config(images), sets, "test")
    files = sorted(images.glob("*.png"))
    verdicts = check_path.path_checks(variant, config, cuda, files, None, tmp_path)
    assert [v.verdict for v in verdicts] == [check_report.PASS] * len(PATH_CHECKS), verdicts
    assert "captured after" in verdicts[0].detail
    lr = check_path.lr_check(config, cuda, files, "test images", check_path.LR_CHECK_STEPS)
    assert lr.verdict == check_report.PASS, lr.detail
