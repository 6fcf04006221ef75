"""Training curves from the runs' logs: the loss terms and the test-set PSNR during training.

The curves come from each run folder's DVCLive logs
(``runs/<variant>/dvclive/plots/metrics/**/<name>.tsv``, columns ``step`` and ``<name>``) and
its ``final.json``. They are drawn on the run's own schedule: the step axis ends at the
run's last step (log when the steps span more than two decades, linear for a short run such as
the demo's), the paper's schedule marked where it falls on that axis and said in a note where
it runs past it; each SRGAN variant after the SRResNet-MSE steps it starts from, the
test set named from the logged metric (``eval/<set>_psnr``), and each loss term multiplied by
the weight it enters the generator's loss with (``LOSS_WEIGHTS``). ``srgan.report.charts.save``
writes a figure.

This module uses ``srgan.models.checkpoints`` (torch-free ``read_record``) and
``srgan.core`` (paper, paths, errors). It does not import torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter

from srgan.core import paper, paths, variants
from srgan.core.config import from_dict
from srgan.core.errors import UserError
from srgan.core.record import RunRecord
from srgan.models import checkpoints

# --- DVCLive logs and the runs they belong to ----------------------------------------------------

#: A DVCLive metric whose name contains one of these is an evaluation, not a loss.
EVAL_METRIC_KEYS = ("psnr", "ssim")
#: The logged test-set PSNR: ``eval/<set>_psnr`` (``srgan.evaluation.protocol.training_evaluator``).
PSNR_SUFFIX = "_psnr"
#: DVCLive metrics holding the discriminator's mean probabilities (plotted apart from losses).
PROBABILITY_METRICS = ("d_real", "d_fake")
#: The total generator loss (``srgan.training.step.loss_names``).
TOTAL_LOSS = "generator"
#: DVCLive metrics that are neither losses nor evaluations (not plotted as losses).
SCHEDULE_METRIC_PREFIXES = ("lr", "learning_rate", "time", "step")
#: Logged loss terms that enter the generator's loss with a weight (``srgan.training.step``),
#: and the ``loss`` config key holding it; the content term enters with 1.
LOSS_WEIGHTS = {"tv": "tv_weight", "adversarial": "adversarial_weight"}
#: Logged terms that are not the generator's: named so in the legend.
LOSS_LABELS = {"discriminator": "discriminator (D's own loss)"}


def read_dvclive(run_dir: Path) -> dict[str, pd.DataFrame]:
    """``{metric name: DataFrame(step, value)}`` from a run folder's DVCLive metrics
    (``paths.RunFolder.metrics``: ``<run_dir>/dvclive/plots/metrics``).

    The name is the TSV's path below that folder without ``.tsv`` (``loss/g`` for
    ``loss/g.tsv``); the value column is the one named after the file.
    """
    root = paths.RunFolder(Path(run_dir)).metrics
    curves = {}
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        frame = pd.read_csv(path, sep="\t")
        if "step" not in frame.columns or path.stem not in frame.columns:
            raise UserError(f"DVCLive file {path} lacks the columns step and {path.stem}")
        name = path.relative_to(root).with_suffix("").as_posix()
        curves[name] = frame[["step", path.stem]].rename(columns={path.stem: "value"})
    return curves


def _base(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def is_eval_metric(name: str) -> bool:
    return any(key in name.lower() for key in EVAL_METRIC_KEYS)


def is_probability_metric(name: str) -> bool:
    """The discriminator's mean outputs for real and generated crops (not losses)."""
    return _base(name).lower() in PROBABILITY_METRICS


def is_loss_metric(name: str) -> bool:
    base = _base(name).lower()
    return not (
        is_eval_metric(name)
        or is_probability_metric(name)
        or base.startswith(SCHEDULE_METRIC_PREFIXES)
    )


def eval_set(name: str) -> str | None:
    """The test set of a logged PSNR (``eval/SkimageTest_psnr`` -> ``SkimageTest``), else None."""
    base = _base(name)
    return base.removesuffix(PSNR_SUFFIX) if base.endswith(PSNR_SUFFIX) else None


@dataclass(frozen=True)
class TrainingRun:
    """One variant's logged curves, and where its steps start on the common axis: an SRGAN
    variant starts where the SRResNet-MSE generator it was initialised from ended."""

    variant: str
    curves: dict[str, pd.DataFrame]
    start: int = 0
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return paper.LABELS.get(self.variant, self.variant)

    @property
    def title(self) -> str:
        """The label, and for an SRGAN variant the step it starts from."""
        return f"{self.label} (from step {self.start:,})" if self.start else self.label


def _init_step(found: RunRecord | None, config: dict[str, Any]) -> int:
    """The step of the generator an SRGAN run started from: its run record's, else (a run
    still training) the configured schedule of the variant it starts from."""
    if found is not None and found.init is not None:
        return found.start_step
    typed = from_dict(config)
    return variants.schedule(typed, variants.get(variants.INIT)).steps


def training_runs(
    config: dict[str, Any],
    runs_dir: Path = paths.RUNS_DIR,
    names: tuple[str, ...] = paper.TABLE1_METHODS,
) -> list[TrainingRun]:
    """The runs of the variants ``names`` that logged anything (``paths.run_dir`` under
    ``runs_dir``), with their start on the common step axis and the loss weights of ``config`` (the
    effective configuration dict)."""
    weights = {term: float(config["loss"][key]) for term, key in LOSS_WEIGHTS.items()}
    found = []
    for variant in names:
        folder = paths.RunFolder(paths.rebased(paths.run_dir(variant), runs_dir))
        curves = read_dvclive(folder.root)
        if not curves:
            continue
        record = checkpoints.read_record(folder)
        adversarial = "train/adversarial" in curves or (record is not None and record.init)
        start = _init_step(record, config) if adversarial else 0
        found.append(TrainingRun(variant, curves, start, weights))
    return found


# --- the paper's schedule -----------------------------------------------------------------------

_SRRESNET_END = paper.SRRESNET_STEPS
_SRGAN_DROP, _SRGAN_END = paper.SRGAN_LR_DECAY_STEP, paper.SRGAN_STEPS
#: The paper's schedule, (step, what happens there): on the common axis (SRGAN after the
#: SRResNet steps it starts from), and on an SRGAN run's own steps.
#: (step, what happens there, line style).
PAPER_MARKS = (
    (_SRRESNET_END, "paper: SRResNet ends, SRGAN starts (1e6)", ":"),
    (_SRRESNET_END + _SRGAN_DROP, "paper: SRGAN learning rate to 1e-5 (+1e5)", "-."),
    (_SRRESNET_END + _SRGAN_END, "paper: SRGAN ends (+2e5)", "--"),
)
SRRESNET_MARKS = PAPER_MARKS[:1]
SRGAN_MARKS = (
    (_SRGAN_DROP, "paper: SRGAN learning rate to 1e-5 (SRGAN step 1e5)", "-."),
    (_SRGAN_END, "paper: SRGAN ends (SRGAN step 2e5)", "--"),
)
MARK_COLOUR = "#888"
#: The step axis's note when the paper's schedule runs past it.
BEYOND_NOTE = "(the paper's schedule runs to step {:,}, off this axis)"
#: Steps whose last is more than this many times the first (positive) one are drawn on a log
#: axis; a shorter run (the demo's tens of steps) on a linear one.
LOG_AXIS_MIN_RATIO = 100
#: The step axis ends this far past the run's last step (a factor on a log axis, a share of
#: the span on a linear one), so the last point is not on the frame.
LOG_AXIS_PAD, LINEAR_AXIS_PAD = 1.4, 0.04


def _fit_steps(
    ax, steps: list[float], marks: tuple[tuple[int, str, str], ...], label: str
) -> list[tuple[int, str, str]]:
    """Fit the step axis to the run's own ``steps`` (log when they span more than
    ``LOG_AXIS_MIN_RATIO``, else linear) and draw the paper's ``marks`` that fall on it; the
    marks beyond it are said in a second line of the axis label (``BEYOND_NOTE``), clear of
    the curves. Returns the marks drawn."""
    positive = [s for s in steps if s > 0] or [1]
    first, last = min(positive), max(positive)
    log = last / first > LOG_AXIS_MIN_RATIO
    if log:
        low, high = first / LOG_AXIS_PAD, last * LOG_AXIS_PAD
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        start = min([*steps, 0])
        pad = (last - start) * LINEAR_AXIS_PAD or 1
        low, high = start - pad, last + pad
    drawn = [mark for mark in marks if mark[0] <= high]
    for step, mark_label, style in drawn:
        ax.axvline(step, color=MARK_COLOUR, linestyle=style, lw=1, label=mark_label)
    beyond = [mark[0] for mark in marks if mark[0] > high]
    note = f"\n{BEYOND_NOTE.format(max(beyond))}" if beyond else ""
    ax.set_xlim(low, high)
    ax.set_xlabel(f"{label} (log scale){note}" if log else f"{label}{note}")
    ax.grid(alpha=0.3, which="major")
    return drawn


#: The x labels of a run's own steps (" (log scale)" added on a log axis).
SRGAN_STEPS_LABEL = "SRGAN step, after its SRResNet-MSE start"
SRRESNET_STEPS_LABEL = "SRResNet step"
COMMON_STEPS_LABEL = "training step"


def _shifted(run: TrainingRun, curve: pd.DataFrame) -> pd.Series:
    return curve["step"] + run.start


# --- training losses ----------------------------------------------------------------------------

#: One panel's size (inches), at most this many panels per row, the legend's height below.
CURVE_PANEL = (4.4, 3.2)
LEGEND_INCHES = 0.8
MAX_COLUMNS = 3


def _weighted(run: TrainingRun, name: str, curve: pd.DataFrame) -> tuple[str, pd.Series]:
    """A loss term as it enters the generator's loss: ``weight x term`` and its label."""
    base = _base(name)
    if base in run.weights:
        weight = run.weights[base]
        return f"{weight:.0e} × {base}", curve["value"] * weight
    return LOSS_LABELS.get(base, base), curve["value"]


def _grid(fig: Figure, n_panels: int) -> list:
    """``n_panels`` axes in rows of at most MAX_COLUMNS; no empty panel is left."""
    columns = min(MAX_COLUMNS, n_panels)
    rows = math.ceil(n_panels / columns)
    axes = list(fig.subplots(rows, columns, squeeze=False).ravel())
    for ax in axes[n_panels:]:
        fig.delaxes(ax)
    return axes[:n_panels]


def loss_figure(runs: list[TrainingRun]) -> Figure | None:
    """One panel per variant: its loss terms, each multiplied by the weight it enters the
    loss with, against the step (an SRGAN variant's own steps, after its SRResNet-MSE start;
    the axis fitted to the run by ``_fit_steps``), the paper's schedule marked where it falls;
    the total (when there is more than one term) as a wide pale line beneath. A last panel
    holds the discriminator's mean outputs of the SRGAN variants. One legend below the
    panels; a term has the same colour in every panel."""
    panels = [run for run in runs if any(is_loss_metric(n) for n in run.curves)]
    with_d = [run for run in runs if any(is_probability_metric(n) for n in run.curves)]
    if not panels and not with_d:
        return None
    n_panels = len(panels) + bool(with_d)
    columns = min(MAX_COLUMNS, n_panels)
    rows = math.ceil(n_panels / columns)
    fig = Figure(figsize=(CURVE_PANEL[0] * columns, CURVE_PANEL[1] * rows + LEGEND_INCHES))
    axes = _grid(fig, n_panels)
    handles: dict[str, Any] = {}
    colours: dict[str, Any] = {}
    palette = iter(sns.color_palette("tab10", 10) * 3)
    for ax, run in zip(axes, panels, strict=False):
        losses = {n: c for n, c in run.curves.items() if is_loss_metric(n)}
        terms = [n for n in losses if _base(n) != TOTAL_LOSS]
        for name, curve in losses.items():
            label, values = _weighted(run, name, curve)
            total = _base(name) == TOTAL_LOSS
            if total and len(terms) < 2:
                continue  # the total equals its only term: drawn once, as that term
            colour = colours.setdefault(label, "#bbbbbb" if total else next(palette))
            (line,) = ax.plot(
                curve["step"],
                values,
                color=colour,
                lw=5 if total else 1.4,
                alpha=0.6 if total else 1.0,
                zorder=1 if total else 2,
                label=f"total loss ({TOTAL_LOSS})" if total else label,
            )
            handles.setdefault(line.get_label(), line)
        if all((c["value"] > 0).all() for c in losses.values()):
            ax.set_yscale("log")
        steps = [s for c in losses.values() for s in c["step"]]
        marks = SRGAN_MARKS if run.start else SRRESNET_MARKS
        _fit_steps(ax, steps, marks, SRGAN_STEPS_LABEL if run.start else SRRESNET_STEPS_LABEL)
        ax.set_title(run.title, fontsize=10)
        ax.set_ylabel("loss term × its weight")
        handles.update(
            (line.get_label(), line) for line in ax.lines if line.get_label().startswith("paper")
        )
    if with_d:
        ax = axes[-1]
        for run, colour in zip(with_d, sns.color_palette("dark", len(with_d)), strict=True):
            for name, curve in run.curves.items():
                if is_probability_metric(name):
                    style = "-" if _base(name) == PROBABILITY_METRICS[0] else "--"
                    ax.plot(
                        curve["step"],
                        curve["value"],
                        style,
                        color=colour,
                        label=f"{run.label}: {_base(name)}",
                    )
        ax.set_ylim(0, 1)
        curves_drawn = list(ax.lines)
        steps = [s for run in with_d for n, c in run.curves.items() if is_probability_metric(n)
                 for s in c["step"]]  # fmt: skip
        _fit_steps(ax, steps, SRGAN_MARKS, SRGAN_STEPS_LABEL)
        ax.set_title("Discriminator: mean D(HR) (d_real), D(SR) (d_fake)", fontsize=10)
        ax.legend(handles=curves_drawn, fontsize=7, loc="best")
    height = CURVE_PANEL[1] * rows + LEGEND_INCHES
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="lower center",
        ncol=min(4, len(handles)),
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, LEGEND_INCHES / height, 1, 1))
    return fig


# --- test-set PSNR during training ----------------------------------------------------------


def _psnr_curves(run: TrainingRun) -> dict[str, pd.DataFrame]:
    return {eval_set(n): c for n, c in run.curves.items() if eval_set(n) and not c.empty}


def psnr_curve_figure(
    runs: list[TrainingRun], baselines: dict[str, dict[str, float]] | None = None
) -> Figure | None:
    """The test-set PSNR logged during training, one panel per test set (named from the log),
    against the step (the axis fitted to the runs by ``_fit_steps``). An SRGAN curve starts
    at the last PSNR of the SRResNet-MSE run it was initialised from. Dashed: the paper's
    final Table 1 value of each variant, where the paper has the set; dotted: our baselines
    (``{set: {label: PSNR}}``)."""
    sets = list(dict.fromkeys(s for run in runs for s in _psnr_curves(run)))
    if not sets:
        return None
    init = next((run for run in runs if run.start == 0 and _psnr_curves(run)), None)
    fig = Figure(figsize=(8.5, 4.4 * len(sets)))
    axes = fig.subplots(len(sets), 1, squeeze=False)[:, 0]
    palette = dict(zip(paper.TABLE1_METHODS, sns.color_palette("tab10"), strict=False))
    for ax, dataset in zip(axes, sets, strict=True):
        drawn_steps: list[float] = []
        for run in runs:
            curve = _psnr_curves(run).get(dataset)
            if curve is None:
                continue
            steps, values = list(_shifted(run, curve)), list(curve["value"])
            start = _psnr_curves(init).get(dataset) if init and run.start else None
            if start is not None and len(start):
                steps, values = [run.start, *steps], [start["value"].iloc[-1], *values]
            colour = palette.get(run.variant)
            ax.plot(steps, values, marker="o", markersize=3, color=colour, label=run.label)
            drawn_steps += steps
            reference = paper.TABLE1.get(run.variant, {}).get(dataset)
            if reference is not None:
                ax.axhline(reference.psnr, color=colour, linestyle="--", lw=0.8)
        for (label, value), style in zip(
            (baselines or {}).get(dataset, {}).items(), (":", "-."), strict=False
        ):
            ax.axhline(value, color="black", linestyle=style, lw=1, label=f"our {label}")
        _fit_steps(ax, drawn_steps, PAPER_MARKS, COMMON_STEPS_LABEL)
        ax.set_ylabel(f"{dataset} PSNR [dB]")
        in_paper = any(dataset in scores for scores in paper.TABLE1.values())
        note = "dashed: the paper's final Table 1 value" if in_paper else "not in the paper"
        ax.set_title(f"{dataset} PSNR during training ({note})", fontsize=10)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig
