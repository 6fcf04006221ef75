"""Charts of numbers: training curves (srgan.report.curves) and results (srgan.report.charts:
the verdict's dot plot, per-image PSNR, the depth study).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.colors import to_hex
from report_helpers import DEMO_CONFIG, PARAMS, empty_panels, make_outputs, png_ok, write_tsv

from srgan.core import paper, paths
from srgan.core.config import load_config
from srgan.report import charts, curves, page_frame, reproduced, tables


def _runs(root: Path, config: dict | None = None) -> list[curves.TrainingRun]:
    config = config or load_config(PARAMS, [DEMO_CONFIG]).to_dict()
    return curves.training_runs(config, root / "runs")


@pytest.mark.slow
def test_training_curves_from_synthetic_logs(tmp_path: Path) -> None:
    make_outputs(tmp_path)
    runs = _runs(tmp_path)
    assert [r.variant for r in runs] == list(paper.TABLE1_METHODS)
    srgan = next(r for r in runs if r.variant == "srgan_mse")
    assert set(srgan.curves) == {
        "train/content",
        "train/generator",
        "train/adversarial",
        "train/discriminator",
        "train/d_real",
        "train/d_fake",
        "train/lr",
        "eval/Set5_psnr",
    }
    assert [curves.is_loss_metric(n) for n in ("train/content", "train/lr", "train/d_real")] == [
        True,
        False,
        False,
    ]
    # SRGAN starts where SRResNet-MSE ended (final.json's init step), SRResNet at 0.
    assert [r.start for r in runs] == [0, 0, 40, 40, 40]
    losses = curves.loss_figure(runs)
    assert empty_panels(losses) == []
    assert len(losses.axes) == 5 + 1  # a panel per variant and one for D: no empty panel
    # An SRGAN panel: its own steps, after the SRResNet-MSE steps it starts from; 40 steps on
    # a linear axis that ends at the run's last step, the paper's schedule (to step 200,000)
    # said under it, not drawn (it would make the run a sliver).
    srgan_ax = next(ax for ax in losses.axes if ax.get_title() == "SRGAN-MSE (from step 40)")
    assert srgan_ax.get_xscale() == "linear"
    assert srgan_ax.get_xlabel() == (
        f"{curves.SRGAN_STEPS_LABEL}\n(the paper's schedule runs to step 200,000, off this axis)"
    )
    assert srgan_ax.get_xlim() == pytest.approx((-40 * 0.04, 40 * 1.04))
    assert not [line for line in srgan_ax.lines if line.get_label().startswith("paper")]
    assert not srgan_ax.texts  # nothing written over the curves
    # One legend below the panels, none inside a loss panel over its curves.
    assert len(losses.legends) == 1
    assert all(ax.get_legend() is None for ax in losses.axes[:-1])
    png_ok(charts.save(losses, tmp_path / "losses.png"))
    psnr = curves.psnr_curve_figure(runs, {"Set5": {"bicubic": 19.0}})
    assert empty_panels(psnr) == []
    png_ok(charts.save(psnr, tmp_path / "psnr.png"))
    assert curves.loss_figure([]) is None and curves.psnr_curve_figure([]) is None


@pytest.mark.slow
def test_a_long_run_gets_a_log_axis_with_the_paper_schedule_marked(tmp_path: Path) -> None:
    """A run past the paper's learning-rate drop: log steps, the drop drawn, the end (beyond
    the run's last step) in the note."""
    make_outputs(tmp_path)
    steps = [1_000, 10_000, 50_000, 120_000]
    for variant in paper.TABLE1_METHODS:
        metrics = paths.RunFolder(tmp_path / paths.run_dir(variant)).metrics / "train"
        for tsv in metrics.glob("*.tsv"):
            name = tsv.stem
            write_tsv(tsv, name, steps, [0.5 / (1 + s / 1e4) for s in steps])
    fig = curves.loss_figure(_runs(tmp_path))
    srgan_ax = next(ax for ax in fig.axes if ax.get_title() == "SRGAN-MSE (from step 40)")
    assert srgan_ax.get_xscale() == "log"
    assert srgan_ax.get_xlabel() == (
        f"{curves.SRGAN_STEPS_LABEL} (log scale)\n"
        "(the paper's schedule runs to step 200,000, off this axis)"
    )
    assert srgan_ax.get_xlim() == pytest.approx((1_000 / 1.4, 120_000 * 1.4))
    marks = [line.get_xdata()[0] for line in srgan_ax.lines if line.get_label()[0] == "p"]
    assert marks == [100_000]
    srresnet_ax = next(ax for ax in fig.axes if ax.get_title() == "SRResNet-MSE")
    assert srresnet_ax.get_xlabel().endswith("runs to step 1,000,000, off this axis)")


def test_loss_terms_are_drawn_with_their_weights(tmp_path: Path) -> None:
    """SRResNet-VGG22's TV term enters the loss times 2e-8: drawn so, not unweighted; the total
    of SRResNet-MSE equals its content term and is drawn once."""
    make_outputs(tmp_path)
    vgg = paths.RunFolder(tmp_path / paths.run_dir("srresnet_vgg22"))
    write_tsv(vgg.metrics / "train" / "tv.tsv", "tv", [5, 10], [500.0, 400.0])
    config = load_config(PARAMS, [DEMO_CONFIG]).to_dict()
    fig = curves.loss_figure(_runs(tmp_path, config))
    ax = next(ax for ax in fig.axes if ax.get_title() == "SRResNet-VGG22")
    weight = config["loss"]["tv_weight"]
    tv = next(line for line in ax.lines if line.get_label() == f"{weight:.0e} × tv")
    assert list(tv.get_ydata()) == [500.0 * weight, 400.0 * weight]
    mse = next(ax for ax in fig.axes if ax.get_title() == "SRResNet-MSE")
    assert [line.get_label() for line in mse.lines if not line.get_label().startswith("paper")] == [
        "content"
    ]


def test_the_training_psnr_names_the_set_of_the_data(tmp_path: Path) -> None:
    """The demo scores SkimageTest during training: the figure says so (and draws no Set5
    reference), with the SRGAN curve starting at SRResNet-MSE's last value."""
    make_outputs(tmp_path)
    for variant in paper.TABLE1_METHODS:
        metrics = paths.RunFolder(tmp_path / paths.run_dir(variant)).metrics / "eval"
        (metrics / "Set5_psnr.tsv").unlink()
        write_tsv(metrics / "SkimageTest_psnr.tsv", "SkimageTest_psnr", [20, 40], [25.0, 26.5])
    fig = curves.psnr_curve_figure(_runs(tmp_path), {"SkimageTest": {"bicubic": 28.35}})
    (ax,) = fig.axes
    assert "SkimageTest" in ax.get_title() and "SkimageTest" in ax.get_ylabel()
    assert "Set5" not in ax.get_title() + ax.get_ylabel()
    srgan = next(line for line in ax.lines if line.get_label() == "SRGAN-VGG54")
    assert list(srgan.get_xdata()) == [40, 60, 80] and list(srgan.get_ydata())[0] == 26.5
    # The axis is the runs' own (to step 80, linear), not the paper's million steps.
    assert ax.get_xscale() == "linear" and ax.get_xlim()[1] == pytest.approx(80 * 1.04)
    assert ax.get_xlabel().endswith("(the paper's schedule runs to step 1,200,000, off this axis)")


def test_verdict_dot_plot(tmp_path: Path) -> None:
    make_outputs(tmp_path)
    named = dict(
        zip(
            (tables.TABLE1, tables.TABLE2),
            tables.build_tables(tmp_path / "results" / "eval"),
            strict=True,
        )
    )
    verdict = reproduced.verdict(named)
    fig = charts.verdict_figure(verdict)
    psnr_ax, ssim_ax = fig.axes
    assert empty_panels(fig) == []
    judged = verdict[verdict["verdict"] != ""].drop_duplicates(["dataset", "model"])
    points = [line for line in psnr_ax.lines if len(line.get_xdata()) == 1]
    assert len(points) == len(judged)
    diagonal = psnr_ax.lines[0]
    assert list(diagonal.get_xdata()) == list(diagonal.get_ydata())  # ours = paper
    png_ok(charts.save(fig, tmp_path / "verdict.png"))
    offline = verdict.assign(verdict="")
    assert charts.verdict_figure(offline) is None
    # Only Table 1's BSD100 rows lack a paper value here (the index shows the dot plot above).
    (ax,) = charts.sanity_figure(verdict).axes
    assert ax.get_xlabel().startswith("BSD100 PSNR − our bicubic's")
    # The offline demo: no paper value, a dot per model against our bicubic instead.
    ax = charts.sanity_figure(offline).axes[0]  # Set5, then Set14 and BSD100 below
    assert len(charts.sanity_figure(offline).axes) == 3
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:2] == ["SRResNet-MSE", "SRResNet-VGG22"] and "Bicubic" in labels
    gains = ax.collections[0].get_offsets()[:, 0]
    bicubic = labels.index("Bicubic")
    assert gains[bicubic] == 0.0 and gains[labels.index("NN")] == -1.0  # PSNR_BASE: 20 vs 21
    colours = [to_hex(c) for c in ax.collections[0].get_facecolors()]
    assert colours[bicubic] == charts.SIGN_COLOURS[0]  # the reference itself: neither colour
    assert colours[labels.index("NN")] == charts.SIGN_COLOURS[-1]
    # The index names every figure the reports save, the perceptual and MOS ones too.
    assert page_frame.figure_caption("perception_distortion_niqe") == (
        "Perception against distortion: PSNR and NIQE"
    )
    assert page_frame.figure_caption("mos") == "MOS per method with 95% intervals (our study)"


@pytest.mark.slow
def test_depth_and_distribution_figures(tmp_path: Path) -> None:
    make_outputs(tmp_path)
    per_image = tables.per_image_scores(tmp_path / "results" / "eval")
    png_ok(charts.save(charts.distribution_figure(per_image), tmp_path / "p.png"))
    depth = tables.depth_table(tmp_path / "results" / "depth")
    png_ok(charts.save(charts.depth_figure(depth, "BSD100"), tmp_path / "d.png"))
    assert charts.depth_figure(tables.depth_table(tmp_path / "nothing"), "BSD100") is None
    assert charts.distribution_figure(per_image[:0]) is None
