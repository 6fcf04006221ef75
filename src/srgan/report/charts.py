"""The reports' charts of results: the verdict's dot plot (ours against the paper's), per-image
PSNR, the depth study, perception against distortion; and ``save``, which writes any figure.

Each ``*_figure`` function returns a matplotlib ``Figure`` (made without pyplot, so nothing
is shown by itself) or None when it has nothing to draw; ``save`` writes a figure as a PNG,
atomically, stamped when it comes from a demo run. Training curves are
``srgan.report.curves``'; images (visual comparisons, the training's evolution) are
``srgan.report.figures``'.

This module uses ``srgan.report.tables``, ``srgan.core`` (paper, errors, fileio). It does not
import torch: the index draws the dot plot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from srgan.core import paper
from srgan.core.fileio import atomic_write
from srgan.report import reproduced

#: Figure resolution (dots per inch).
DPI = 110
#: A model's dot against our bicubic by the sign of the difference: above, below, bicubic.
SIGN_COLOURS = {1: "#1a7f37", -1: "#c62828", 0: "#9e9e9e"}


def save(fig: Figure, path: Path, stamp: str | None = None) -> Path:
    """Write ``fig`` as a PNG at ``path``, atomically (``fileio.atomic_write``).

    A ``stamp`` (``srgan.report.page_frame.stamp``: the numbers are not comparable with the
    paper's) is written in red above everything else.
    """
    if stamp:
        fig.text(
            0.5,
            1.0,
            stamp,
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


# --- the verdict: ours against the paper's -----------------------------------------------------

#: (column of the verdict, axis title, tolerance) of the dot plot's panels.
VERDICT_PANELS = (
    ("psnr", "PSNR [dB]", reproduced.PSNR_TOLERANCE_DB),
    ("ssim", "SSIM (daala)", reproduced.SSIM_TOLERANCE),
)
DATASET_MARKERS = ("o", "s", "^", "D", "v")


def _one_per_model(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per test set and model (Table 1's SRResNet-MSE is Table 2's SRResNet), named
    by the model (``paper.LABELS``), so a model has one colour and one name everywhere."""
    rows = rows.drop_duplicates(["dataset", "model"])
    return rows.assign(label=[paper.LABELS.get(m, m) for m in rows["model"]])


def verdict_figure(verdict: pd.DataFrame) -> Figure | None:
    """Ours against the paper's, one point per method and test set (``reproduced.verdict``'s
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


# --- per-image distributions, depth study ------------------------------------------------------


def distribution_figure(per_image: pd.DataFrame) -> Figure | None:
    """Per-image PSNR of each method, one panel per dataset (box + points).

    Red crosses mark the paper's mean PSNR (Table 1/2) where the paper has one.
    """
    if per_image.empty:
        return None
    datasets = [d for d in paper.TABLE2_DATASETS if d in set(per_image["dataset"])]
    datasets += sorted(set(per_image["dataset"]) - set(datasets))
    order = [paper.LABELS[m] for m in paper.OUR_METHODS if m in set(per_image["method"])]
    ticks = [label.replace("-", "\n") for label in order]
    fig = Figure(figsize=(max(6.0, 1.1 * len(order)), 3.3 * len(datasets)))
    axes = fig.subplots(len(datasets), 1, squeeze=False)[:, 0]
    for ax, dataset in zip(axes, datasets, strict=True):
        rows = per_image[per_image["dataset"] == dataset]
        sns.boxplot(
            data=rows, x="label", y="psnr", order=order, ax=ax, color="#cfe2f3", fliersize=0
        )
        sns.stripplot(
            data=rows, x="label", y="psnr", order=order, ax=ax, color="#1f4e79", size=3, jitter=0.2
        )
        means = rows.groupby("label")["psnr"].mean()
        ours = [(i, means[label]) for i, label in enumerate(order) if label in means]
        ax.plot(*zip(*ours, strict=True), "D", color="black", markersize=5, label="our mean")
        theirs = [(i, _paper_psnr(label, dataset)) for i, label in enumerate(order)]
        theirs = [(i, v) for i, v in theirs if v is not None]
        if theirs:
            ax.plot(
                *zip(*theirs, strict=True),
                "x",
                color="#c62828",
                markersize=9,
                mew=2,
                label="the paper's mean",
            )
        n = rows.groupby("label")["image"].nunique().max()
        ax.set_title(f"{dataset}: per-image PSNR ({n} images)", fontsize=10)
        ax.legend(fontsize=8)
        ax.set_xticks(range(len(order)), ticks)
        ax.set_xlabel("")
        ax.set_ylabel("PSNR [dB]")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _paper_psnr(label: str, dataset: str) -> float | None:
    method = next(m for m in paper.OUR_METHODS if paper.LABELS[m] == label)
    table2_name = {v: k for k, v in paper.TABLE2_REPRODUCED.items()}.get(method)
    if table2_name and dataset in paper.TABLE2[table2_name]:
        return paper.TABLE2[table2_name][dataset].psnr
    if method in paper.TABLE1 and dataset in paper.TABLE1[method]:
        return paper.TABLE1[method][dataset].psnr
    return None


def depth_figure(depth: pd.DataFrame, dataset: str) -> Figure | None:
    """PSNR on ``dataset`` against the residual blocks B, with and without the long skip.

    The paper's SRResNet (B = 16, with skip) BSD100 PSNR of Table 2 is marked for reference.
    """
    rows = depth[depth["dataset"] == dataset] if not depth.empty else depth
    if rows.empty:
        return None
    fig = Figure(figsize=(6.5, 4.0))
    ax = fig.subplots()
    for skip, group in rows.groupby("long_skip"):
        group = group.sort_values("blocks")
        label = "with long skip" if skip else "without long skip"
        ax.plot(group["blocks"], group["psnr"], marker="o", label=label)
    if dataset in paper.TABLE2["srresnet"]:
        ax.plot(
            16,
            paper.TABLE2["srresnet"][dataset].psnr,
            "r*",
            markersize=12,
            label="paper: SRResNet, B = 16 (Table 2)",
        )
    ax.set_xlabel("residual blocks B")
    ax.set_ylabel(f"{dataset} PSNR [dB]")
    ax.set_xticks(
        sorted(set(rows["blocks"]) | ({16} if dataset in paper.TABLE2["srresnet"] else set()))
    )
    ax.set_title(f"Depth study: {dataset} PSNR against network depth", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- perception against distortion ------------------------------------------------------------

#: Axis labels of the perceptual scores (``tables.PERCEPTUAL_KEYS``); all are lower-better.
PERCEPTUAL_LABELS = {
    "lpips": "LPIPS (AlexNet), lower is better",
    "lpips_vgg": "LPIPS (VGG16), lower is better",
    "niqe": "NIQE, lower is better",
}


#: Markers of the methods in the perception-distortion plots: a second cue beside the colour.
METHOD_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: The height (inches) of one row of the legend below the perception-distortion panels.
LEGEND_ROW_INCHES = 0.24


def _mos_text(points: pd.DataFrame, model: str, datasets: list[str]) -> str:
    """``" (paper's MOS: Set5 3.58, Set14 3.72)"``, the sets of the figure where the paper
    rated the method; '' where it rated none."""
    rows = points[points["model"] == model].set_index("dataset")["mos_paper"]
    known = [f"{d} {rows[d]:.2f}" for d in datasets if d in rows.index and np.isfinite(rows[d])]
    return f" (paper's MOS: {', '.join(known)})" if known else ""


def perception_distortion_figure(points: pd.DataFrame, score: str = "lpips") -> Figure | None:
    """Distortion (PSNR, x) against perception (``score``, y): one panel per test set, one
    point per method (``perception.perception_points``), each method a colour and a marker named
    once in the legend below the panels, with the paper's MOS of each set where it has one (no
    text beside the points: labels of close points cannot overlap). None when no method has
    both numbers.

    The y axis is inverted, so up and right are better in every panel."""
    rows = (
        points[np.isfinite(points["psnr"]) & np.isfinite(points[score])] if len(points) else points
    )
    if rows.empty:
        return None
    datasets = list(dict.fromkeys(rows["dataset"]))
    models = [m for m in paper.OUR_METHODS if m in set(rows["model"])]
    colours = dict(zip(models, sns.color_palette("tab10", len(models)), strict=True))
    markers = dict(zip(models, METHOD_MARKERS, strict=False))
    columns = min(2, len(models))
    legend_inches = LEGEND_ROW_INCHES * -(-len(models) // columns) + 0.2
    height = 4.2 + legend_inches
    fig = Figure(figsize=(max(4.6 * len(datasets), 7.0), height))
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, dataset in zip(axes, datasets, strict=True):
        for row in rows[rows["dataset"] == dataset].itertuples(index=False):
            ax.plot(
                row.psnr,
                getattr(row, score),
                markers.get(row.model, "o"),
                color=colours[row.model],
                markersize=8,
                markeredgecolor="black",
                markeredgewidth=0.5,
            )
        ax.margins(x=0.12, y=0.12)
        ax.invert_yaxis()
        ax.set_title(dataset, fontsize=10)
        ax.set_xlabel("PSNR [dB] (Y), higher is better")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(PERCEPTUAL_LABELS[score])
    handles = [
        Line2D(
            [],
            [],
            marker=markers.get(model, "o"),
            ls="",
            color=colours[model],
            markeredgecolor="black",
            markeredgewidth=0.5,
            markersize=8,
            label=paper.LABELS[model] + _mos_text(rows, model, datasets),
        )
        for model in models
    ]
    fig.legend(handles=handles, loc="lower center", ncol=columns, fontsize=8, frameon=False)
    fig.suptitle("Perception against distortion (up and right are better)", fontsize=10)
    fig.tight_layout(rect=(0, legend_inches / height, 1, 1))
    return fig
