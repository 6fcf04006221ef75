"""The reports' charts of numbers: training curves, the verdict's dot plot; saving figures.

Each ``*_figure`` function returns a matplotlib ``Figure`` (made without pyplot, so nothing
is shown by itself) or None when it has nothing to draw; ``save`` writes a figure as a PNG,
atomically, stamped when it comes from a demo run. Images (visual comparisons, the training's
evolution) are ``srgan.report.figures``'s.

Training curves come from each run folder's DVCLive logs
(``runs/<variant>/dvclive/plots/metrics/**/<name>.tsv``, columns ``step`` and ``<name>``) and
its ``final.json``. They are drawn the way the paper's schedule reads: a log step axis, each
SRGAN variant after the SRResNet-MSE steps it starts from, the paper's schedule marked, the
test set named from the logged metric (``eval/<set>_psnr``), and each loss term multiplied by
the weight it enters the generator's loss with (``LOSS_WEIGHTS``).

This module uses checkpoints (torch-free ``read_final_metadata``), paper, paths, tables and
the leaves errors and fileio. It does not import torch: the index draws the dot plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, NullFormatter

from srgan.core import paper, paths
from srgan.core.errors import UserError
from srgan.core.fileio import atomic_write
from srgan.models import checkpoints
from srgan.report import tables

#: Figure resolution (dots per inch).
DPI = 110
#: The line every figure of a demo run carries.
DEMO_STAMP = "DEMO: small CPU run, numbers NOT comparable to the paper"
#: A model's dot against our bicubic by the sign of the difference: above, below, bicubic.
SIGN_COLOURS = {1: "#1a7f37", -1: "#c62828", 0: "#9e9e9e"}


def save(fig: Figure, path: Path, demo: bool = False) -> Path:
    """Write ``fig`` as a PNG at ``path``, atomically (``fileio.atomic_write``).

    With ``demo`` the figure is stamped with ``DEMO_STAMP`` in red above everything else.
    """
    if demo:
        fig.text(
            0.5,
            1.0,
            DEMO_STAMP,
            ha="center",
            va="bottom",
            color="#c62828",
            fontsize=12,
            fontweight="bold",
        )
    path = Path(path)
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return path


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


def _init_step(meta: dict[str, Any] | None, config: dict[str, Any]) -> int:
    """The step of the generator an SRGAN run started from: final.json's ``init.step``, else
    the configured SRResNet schedule."""
    init = (meta or {}).get("init") or {}
    step = init.get("step")
    return int(step) if isinstance(step, int | float) else int(config["train"]["srresnet"]["steps"])


def training_runs(
    config: dict[str, Any],
    runs_dir: Path = paths.RUNS_DIR,
    variants: tuple[str, ...] = paper.TABLE1_METHODS,
) -> list[TrainingRun]:
    """The runs of ``variants`` that logged anything (``paths.run_dir`` under ``runs_dir``),
    with their start on the common step axis and the loss weights of ``config`` (the
    effective configuration dict)."""
    weights = {term: float(config["loss"][key]) for term, key in LOSS_WEIGHTS.items()}
    found = []
    for variant in variants:
        folder = paths.RunFolder(paths.rebased(paths.run_dir(variant), runs_dir))
        curves = read_dvclive(folder.root)
        if not curves:
            continue
        meta = checkpoints.read_final_metadata(folder)
        adversarial = "train/adversarial" in curves or (meta or {}).get("init") is not None
        start = _init_step(meta, config) if adversarial else 0
        found.append(TrainingRun(variant, curves, start, weights))
    return found


# --- the paper's schedule -----------------------------------------------------------------------

_PAPER = {setting.key: setting.value for setting in paper.PAPER_SETTINGS}
_SRRESNET_END = _PAPER["train.srresnet.steps"]
_SRGAN_DROP, _SRGAN_END = _PAPER["train.srgan.lr_decay_step"], _PAPER["train.srgan.steps"]
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


def _mark_paper_schedule(ax, marks: tuple[tuple[int, str, str], ...] = PAPER_MARKS) -> None:
    for step, label, style in marks:
        ax.axvline(step, color=MARK_COLOUR, linestyle=style, lw=1, label=label)


def _log_steps(ax, label: str = "training step (log scale)") -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(label)
    ax.grid(alpha=0.3, which="major")


#: The x label of an SRGAN run's own steps.
SRGAN_STEPS_LABEL = "SRGAN step (log scale), after its SRResNet-MSE start"


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
    loss with, against the step (log-log: an SRGAN variant's own steps, after its SRResNet-MSE
    start), the paper's schedule marked; the total (when there is more than one term) as a
    wide pale line beneath. A last panel holds the discriminator's mean outputs of the SRGAN
    variants. One legend below the panels; a term has the same colour in every panel."""
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
        _log_steps(ax, SRGAN_STEPS_LABEL if run.start else "SRResNet step (log scale)")
        _mark_paper_schedule(ax, SRGAN_MARKS if run.start else SRRESNET_MARKS)
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
        _log_steps(ax, SRGAN_STEPS_LABEL)
        _mark_paper_schedule(ax, SRGAN_MARKS)
        ax.set_title("Discriminator: mean D(HR) (d_real), D(SR) (d_fake)", fontsize=10)
        ax.legend(handles=ax.lines[: -len(SRGAN_MARKS)], fontsize=7, loc="best")
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
    against the step (log scale). An SRGAN curve starts at the last PSNR of the SRResNet-MSE
    run it was initialised from. Dashed: the paper's final Table 1 value of each variant,
    where the paper has the set; dotted: our baselines (``{set: {label: PSNR}}``)."""
    sets = list(dict.fromkeys(s for run in runs for s in _psnr_curves(run)))
    if not sets:
        return None
    init = next((run for run in runs if run.start == 0 and _psnr_curves(run)), None)
    fig = Figure(figsize=(8.5, 4.4 * len(sets)))
    axes = fig.subplots(len(sets), 1, squeeze=False)[:, 0]
    palette = dict(zip(paper.TABLE1_METHODS, sns.color_palette("tab10"), strict=False))
    for ax, dataset in zip(axes, sets, strict=True):
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
            reference = paper.TABLE1.get(run.variant, {}).get(dataset)
            if reference is not None:
                ax.axhline(reference.psnr, color=colour, linestyle="--", lw=0.8)
        for (label, value), style in zip(
            (baselines or {}).get(dataset, {}).items(), (":", "-."), strict=False
        ):
            ax.axhline(value, color="black", linestyle=style, lw=1, label=f"our {label}")
        _mark_paper_schedule(ax)
        _log_steps(ax)
        ax.set_ylabel(f"{dataset} PSNR [dB]")
        in_paper = any(dataset in scores for scores in paper.TABLE1.values())
        note = "dashed: the paper's final Table 1 value" if in_paper else "not in the paper"
        ax.set_title(f"{dataset} PSNR during training ({note})", fontsize=10)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


# --- the verdict: ours against the paper's -----------------------------------------------------

#: (column of the verdict, axis title, tolerance) of the dot plot's panels.
VERDICT_PANELS = (
    ("psnr", "PSNR [dB]", tables.PSNR_TOLERANCE_DB),
    ("ssim", "SSIM (daala)", tables.SSIM_TOLERANCE),
)
DATASET_MARKERS = ("o", "s", "^", "D", "v")


def _one_per_model(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per test set and model (Table 1's SRResNet-MSE is Table 2's SRResNet), named
    by the model (``paper.LABELS``), so a model has one colour and one name everywhere."""
    rows = rows.drop_duplicates(["dataset", "model"])
    return rows.assign(label=[paper.LABELS.get(m, m) for m in rows["model"]])


def verdict_figure(verdict: pd.DataFrame) -> Figure | None:
    """Ours against the paper's, one point per method and test set (``tables.verdict``'s
    rows that have a paper value), PSNR and SSIM side by side: the diagonal is a perfect
    match, the band around it the verdict's tolerance. None when no row has a paper value."""
    rows = _one_per_model(verdict[verdict["verdict"] != ""])
    if rows.empty:
        return None
    fig = Figure(figsize=(11, 4.8))
    axes = fig.subplots(1, len(VERDICT_PANELS))
    labels = list(dict.fromkeys(rows["label"]))
    colours = dict(zip(labels, sns.color_palette("tab10", len(labels)), strict=True))
    markers = dict(zip(dict.fromkeys(rows["dataset"]), DATASET_MARKERS, strict=False))
    guides = []
    for ax, (key, title, tolerance) in zip(axes, VERDICT_PANELS, strict=True):
        x, y = rows[f"{key}_paper"], rows[f"{key}_ours"]
        low, high = min(x.min(), y.min()), max(x.max(), y.max())
        pad = (high - low) * 0.06 or tolerance
        span = [low - pad, high + pad]
        (diagonal,) = ax.plot(span, span, color="black", lw=0.8, label="ours = paper")
        band = ax.fill_between(
            span,
            [v - tolerance for v in span],
            [v + tolerance for v in span],
            color="#1a7f37",
            alpha=0.15,
            label="within the tolerance (reproduced)",
        )
        guides = [diagonal, band]
        for row in rows.to_dict("records"):
            ax.plot(
                row[f"{key}_paper"],
                row[f"{key}_ours"],
                markers.get(row["dataset"], "o"),
                color=colours[row["label"]],
                markersize=7,
                markeredgecolor="black",
                markeredgewidth=0.5,
            )
        ax.set_xlim(span)
        ax.set_ylim(span)
        ax.set_aspect("equal")
        ax.set_xlabel(f"paper's {title}")
        ax.set_ylabel(f"our {title} (tolerance ±{tolerance})")
        ax.grid(alpha=0.3)
    keys = [Line2D([], [], marker="o", ls="", color=c, label=lab) for lab, c in colours.items()]
    keys += [Line2D([], [], marker=m, ls="", color="grey", label=d) for d, m in markers.items()]
    fig.legend(handles=[*keys, *guides], loc="center left", bbox_to_anchor=(0.99, 0.5), fontsize=8)
    fig.suptitle("Ours against the paper's: one point per method and test set", fontsize=11)
    fig.tight_layout()
    return fig


def sanity_figure(verdict: pd.DataFrame) -> Figure | None:
    """Where the paper has no value (the offline demo's test set): each model's PSNR minus
    our bicubic's on the same set, one dot per method, one panel per set; right of the line,
    the model beats bicubic. None when every row has a paper value."""
    rows = _one_per_model(verdict[verdict["verdict"] == ""])
    rows = rows[rows["psnr_vs_bicubic"].notna()]
    if rows.empty:
        return None
    sets = list(dict.fromkeys(rows["dataset"]))
    labels = list(dict.fromkeys(rows["label"]))
    fig = Figure(figsize=(7.5, 0.45 * len(labels) * len(sets) + 1.4))
    axes = fig.subplots(len(sets), 1, squeeze=False)[:, 0]
    for ax, dataset in zip(axes, sets, strict=True):
        shown = rows[rows["dataset"] == dataset]
        gains = shown.set_index("label")["psnr_vs_bicubic"].reindex(labels)
        colours = [SIGN_COLOURS[(g > 0) - (g < 0)] for g in gains.fillna(0)]
        ax.axvline(0, color="black", lw=1, label="our bicubic")
        ax.scatter(gains, range(len(labels)), c=colours, s=45, zorder=3, edgecolors="black")
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(f"{dataset} PSNR − our bicubic's [dB] (the paper has no value here)")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Did the models learn? Each against our bicubic", fontsize=11)
    fig.tight_layout()
    return fig
