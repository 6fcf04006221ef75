"""The report figures: visual comparison, training curves, per-image PSNR, depth study.

Each ``*_figure`` function returns a matplotlib ``Figure`` (made without pyplot, so nothing
is shown by itself) or None when its inputs do not exist; ``save`` writes it as a PNG,
atomically (``srgan.render.html_image`` shows a saved one in a report). Inputs are where
``srgan.paths`` puts them: SR images ``results/images/<method>/<dataset>/<stem>.png``, HR
images ``<test sets>/<dataset>/<stem>.*``, DVCLive logs
``runs/<variant>/dvclive/plots/metrics/**/<name>.tsv`` (columns ``step``, ``<name>``), and the
tables of ``srgan.tables``.

This module uses imageops, paper, paths and the leaves errors and fileio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from srgan import paper, paths
from srgan.errors import UserError
from srgan.fileio import atomic_write
from srgan.imageops import SCALE, list_image_files, modcrop, read_image

#: Methods of the visual comparison, in the paper's order (HR is added as the last panel).
COMPARISON_METHODS = ("bicubic", *paper.TABLE1_METHODS)
#: Test images of the visual comparison by default ("<dataset>/<stem>"); the first available
#: image is used when none of them was evaluated.
DEFAULT_PICKS = ("Set14/comic", "Set14/baboon", "Set5/butterfly")
#: The comparison crop's side as a fraction of the shorter image side, and its bounds (pixels).
CROP_FRACTION, MIN_CROP, MAX_CROP = 0.45, 48, 192
#: The zoomed region's side as a fraction of the crop, and the inset's size in the panel.
ZOOM_FRACTION, INSET_FRACTION = 0.2, 0.5
#: Size of one panel of the comparison figure, inches; figure resolution.
PANEL_INCHES, DPI = 2.3, 110
#: A DVCLive metric whose name contains one of these is an evaluation, not a loss.
EVAL_METRIC_KEYS = ("psnr", "ssim")
#: DVCLive metrics holding the discriminator's mean probabilities (plotted apart from losses).
PROBABILITY_METRICS = ("d_real", "d_fake")
#: The total generator loss: dashed, as it often lies on top of its content term.
TOTAL_LOSS_METRICS = ("generator",)
#: DVCLive metrics that are neither losses nor evaluations (not plotted as losses).
SCHEDULE_METRIC_PREFIXES = ("lr", "learning_rate", "time", "step")


#: The line every figure of a demo run carries.
DEMO_STAMP = "DEMO: tiny CPU run, numbers NOT comparable to the paper"


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


# --- visual comparison --------------------------------------------------------------------


def find_hr(data_dir: Path, dataset: str, stem: str) -> Path | None:
    """The HR image ``<data_dir>/<dataset>/<stem>.<any image extension>``, or None."""
    folder = Path(data_dir) / dataset
    if not folder.is_dir():
        return None
    return next((p for p in list_image_files(folder) if p.stem == stem), None)


def resolve_picks(
    picks: list[str] | tuple[str, ...], images_dir: Path, data_dir: Path
) -> list[tuple[str, str]]:
    """The ``"<dataset>/<stem>"`` picks that have an HR image and at least one SR image.

    When none has, the first HR image (by name) of the first dataset with SR images.
    """
    images_dir, data_dir = Path(images_dir), Path(data_dir)

    def has_sr(dataset: str, stem: str) -> bool:
        methods = COMPARISON_METHODS
        return any(paths.sr_image(m, dataset, stem, images_dir).is_file() for m in methods)

    chosen = []
    for pick in picks:
        dataset, sep, stem = pick.partition("/")
        if not sep:
            raise UserError(f"comparison image {pick!r} must be written <dataset>/<stem>")
        if find_hr(data_dir, dataset, stem) and has_sr(dataset, stem):
            chosen.append((dataset, stem))
    if chosen:
        return chosen
    for method in COMPARISON_METHODS:
        method_dir = paths.sr_images_dir(method, images_dir)
        folders = (
            sorted(p for p in method_dir.iterdir() if p.is_dir()) if method_dir.is_dir() else []
        )
        for folder in folders:
            pattern = paths.sr_image(method, folder.name, "*", images_dir).name
            for sr in sorted(folder.glob(pattern)):
                if find_hr(data_dir, folder.name, sr.stem):
                    return [(folder.name, sr.stem)]
    return []


def _luma(img: np.ndarray) -> np.ndarray:
    img = img.astype(np.float64)
    return img if img.ndim == 2 else img @ np.array([0.299, 0.587, 0.114])


def busiest_window(img: np.ndarray, side: int) -> tuple[int, int]:
    """Top-left (row, col) of the ``side`` x ``side`` window with the most gradient energy.

    Textured regions show the differences between methods best; ties go to the first one.
    """
    y = _luma(img)
    energy = np.zeros_like(y)
    energy[:-1, :] += np.diff(y, axis=0) ** 2
    energy[:, :-1] += np.diff(y, axis=1) ** 2
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (
        integral[side:, side:]
        - integral[:-side, side:]
        - integral[side:, :-side]
        + integral[:-side, :-side]
    )
    row, col = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(row), int(col)


@dataclass(frozen=True)
class Crop:
    """The crop shown in every panel and, inside it, the zoomed region (crop coordinates)."""

    top: int
    left: int
    side: int
    zoom_top: int
    zoom_left: int
    zoom_side: int


def choose_crop(hr: np.ndarray) -> Crop:
    """A square crop around the image's busiest region, and its busiest sub-square to zoom."""
    short = min(hr.shape[:2])
    side = int(np.clip(round(short * CROP_FRACTION), min(MIN_CROP, short), min(MAX_CROP, short)))
    top, left = busiest_window(hr, side)
    patch = hr[top : top + side, left : left + side]
    zoom = max(4, round(side * ZOOM_FRACTION))
    ztop, zleft = busiest_window(patch, zoom)
    return Crop(top, left, side, ztop, zleft, zoom)


def _cut(img: np.ndarray, crop: Crop) -> np.ndarray:
    return img[crop.top : crop.top + crop.side, crop.left : crop.left + crop.side]


def _show(ax, img: np.ndarray) -> None:
    if img.ndim == 2:
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(img, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _add_zoom(ax, patch: np.ndarray, crop: Crop) -> None:
    """An enlarged view of the zoom region, in the panel corner farthest from it."""
    centre_row = crop.zoom_top + crop.zoom_side / 2
    centre_col = crop.zoom_left + crop.zoom_side / 2
    x0 = 0.02 if centre_col > crop.side / 2 else 1 - INSET_FRACTION - 0.02
    y0 = 1 - INSET_FRACTION - 0.02 if centre_row > crop.side / 2 else 0.02
    inset = ax.inset_axes((x0, y0, INSET_FRACTION, INSET_FRACTION))
    zoomed = patch[
        crop.zoom_top : crop.zoom_top + crop.zoom_side,
        crop.zoom_left : crop.zoom_left + crop.zoom_side,
    ]
    _show(inset, zoomed)
    for spine in inset.spines.values():
        spine.set_edgecolor("yellow")
        spine.set_linewidth(1.5)
    ax.add_patch(
        Rectangle(
            (crop.zoom_left - 0.5, crop.zoom_top - 0.5),
            crop.zoom_side,
            crop.zoom_side,
            fill=False,
            edgecolor="yellow",
            linewidth=1.2,
        )
    )


def comparison_figure(
    dataset: str,
    stem: str,
    images_dir: Path,
    data_dir: Path,
    per_image: pd.DataFrame,
    methods: tuple[str, ...] = COMPARISON_METHODS,
) -> Figure:
    """One test image: the same crop for each method and HR, each with a zoomed inset.

    Panel titles give the method and its PSNR/SSIM on this whole image (from the eval JSON);
    a method without an SR image shows "not run".
    """
    hr_path = find_hr(Path(data_dir), dataset, stem)
    if hr_path is None:
        raise UserError(f"no HR image {dataset}/{stem} in {data_dir}")
    hr = modcrop(read_image(hr_path), SCALE)
    crop = choose_crop(hr)
    panels = [*methods, "hr"]
    fig = Figure(figsize=(PANEL_INCHES * len(panels), PANEL_INCHES + 0.6))
    axes = fig.subplots(1, len(panels))
    for ax, method in zip(axes, panels, strict=True):
        sr_path = paths.sr_image(method, dataset, stem, images_dir)
        if method == "hr":
            img, title = hr, f"HR\n{dataset}/{stem}"
        elif sr_path.is_file():
            img = read_image(sr_path)
            if img.shape[:2] != hr.shape[:2]:
                raise UserError(f"{sr_path} is {img.shape[:2]}, HR (cropped) is {hr.shape[:2]}")
            row = per_image[
                (per_image["method"] == method)
                & (per_image["dataset"] == dataset)
                & (per_image["image"] == stem)
            ]
            score = f"{row['psnr'].iloc[0]:.2f} dB / {row['ssim'].iloc[0]:.4f}" if len(row) else ""
            title = f"{paper.LABELS[method]}\n{score}"
        else:
            ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(paper.LABELS[method], fontsize=9)
            continue
        patch = _cut(img, crop)
        _show(ax, patch)
        _add_zoom(ax, patch, crop)
        ax.set_title(title, fontsize=9)
    fig.suptitle(
        f"{dataset}/{stem}: crop at (row {crop.top}, col {crop.left}), {crop.side} px; "
        f"inset {crop.zoom_side} px enlarged. PSNR [dB] / SSIM (daala) of the whole image",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


# --- training curves ------------------------------------------------------------------------


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


def is_eval_metric(name: str) -> bool:
    return any(key in name.lower() for key in EVAL_METRIC_KEYS)


def is_probability_metric(name: str) -> bool:
    """The discriminator's mean outputs for real and generated crops (not losses)."""
    return name.rsplit("/", 1)[-1].lower() in PROBABILITY_METRICS


def is_loss_metric(name: str) -> bool:
    base = name.rsplit("/", 1)[-1].lower()
    return not (
        is_eval_metric(name)
        or is_probability_metric(name)
        or base.startswith(SCHEDULE_METRIC_PREFIXES)
    )


def training_logs(
    runs_dir: Path = paths.RUNS_DIR, variants: tuple[str, ...] = paper.TABLE1_METHODS
) -> dict[str, dict[str, pd.DataFrame]]:
    """The DVCLive curves of each variant that has any (``paths.run_dir`` under ``runs_dir``)."""
    logs = {v: read_dvclive(paths.rebased(paths.run_dir(v), runs_dir)) for v in variants}
    return {v: curves for v, curves in logs.items() if curves}


def _plot_curves(
    ax, curves: dict[str, pd.DataFrame], colors: dict[str, tuple], log_scale: bool
) -> None:
    for name, curve in curves.items():
        base = name.rsplit("/", 1)[-1]
        style = "--" if base in TOTAL_LOSS_METRICS else "-"
        ax.plot(curve["step"], curve["value"], style, label=base, color=colors[base], lw=1.2)
    if log_scale and curves and all((c["value"] > 0).all() for c in curves.values()):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=7)


def loss_figure(logs: dict[str, dict[str, pd.DataFrame]]) -> Figure | None:
    """One column per variant: the logged losses against the iteration (log scale), and
    below, for the GAN variants, the discriminator's mean output for HR and SR crops.

    A loss term has the same colour in every panel."""
    if not logs:
        return None
    names = sorted({n.rsplit("/", 1)[-1] for curves in logs.values() for n in curves})
    colors = dict(zip(names, sns.color_palette("tab10", len(names)), strict=True))
    with_d = any(any(is_probability_metric(n) for n in c) for c in logs.values())
    n_rows = 2 if with_d else 1
    fig = Figure(figsize=(3.6 * len(logs), 3.2 * n_rows))
    axes = fig.subplots(n_rows, len(logs), squeeze=False)
    d_label_done = False
    for col, (variant, curves) in enumerate(logs.items()):
        ax = axes[0, col]
        losses = {n: c for n, c in curves.items() if is_loss_metric(n)}
        _plot_curves(ax, losses, colors, log_scale=True)
        ax.set_title(paper.LABELS.get(variant, variant), fontsize=10)
        ax.set_xlabel("iteration")
        if not losses:
            ax.text(0.5, 0.5, "no losses logged", ha="center", transform=ax.transAxes)
        if not with_d:
            continue
        probs = {n: c for n, c in curves.items() if is_probability_metric(n)}
        if not probs:
            axes[1, col].set_axis_off()
            continue
        _plot_curves(axes[1, col], probs, colors, log_scale=False)
        axes[1, col].set_ylim(0, 1)
        axes[1, col].set_xlabel("iteration")
        if not d_label_done:
            axes[1, col].set_ylabel("mean D output\n(d_real: HR, d_fake: SR)")
            d_label_done = True
    axes[0, 0].set_ylabel("training loss\n(mean per log interval)")
    fig.tight_layout()
    return fig


def psnr_curve_figure(logs: dict[str, dict[str, pd.DataFrame]]) -> Figure | None:
    """Set5 PSNR against the iteration for each variant, the paper's final value dashed."""
    series = {}
    for variant, curves in logs.items():
        names = [n for n in curves if "psnr" in n.lower()]
        names.sort(key=lambda n: "set5" not in n.lower())
        if names and not curves[names[0]].empty:
            series[variant] = curves[names[0]]
    if not series:
        return None
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    palette = sns.color_palette("tab10", len(series))
    for color, (variant, curve) in zip(palette, series.items(), strict=True):
        label = paper.LABELS.get(variant, variant)
        ax.plot(curve["step"], curve["value"], marker="o", markersize=3, color=color, label=label)
        if variant in paper.TABLE1:
            ax.axhline(paper.TABLE1[variant]["Set5"].psnr, color=color, linestyle="--", lw=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("Set5 PSNR [dB]")
    ax.set_title("Set5 PSNR during training (dashed: the paper's final Table 1 value)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
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


def depth_figure(depth: pd.DataFrame, dataset: str = "BSD100") -> Figure | None:
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


def perception_distortion_figure(points: pd.DataFrame, score: str = "lpips") -> Figure | None:
    """Distortion (PSNR, x) against perception (``score``, y): one panel per test set, one
    point per method (``tables.perception_points``), labelled with the paper's MOS where it
    has one. None when no method has both numbers.

    The y axis is inverted, so up and right are better in every panel: SRGAN's claim is that
    it moves up (perceptually better) while moving left (lower PSNR)."""
    rows = (
        points[np.isfinite(points["psnr"]) & np.isfinite(points[score])] if len(points) else points
    )
    if rows.empty:
        return None
    datasets = list(dict.fromkeys(rows["dataset"]))
    labels = [paper.LABELS[m] for m in paper.OUR_METHODS if m in set(rows["model"])]
    colors = dict(zip(labels, sns.color_palette("tab10", len(labels)), strict=True))
    fig = Figure(figsize=(4.6 * len(datasets), 4.4))
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, dataset in zip(axes, datasets, strict=True):
        for row in rows[rows["dataset"] == dataset].itertuples(index=False):
            ax.plot(row.psnr, getattr(row, score), "o", color=colors[row.label])
            text = row.label if np.isnan(row.mos_paper) else f"{row.label}\nMOS {row.mos_paper:.2f}"
            ax.annotate(text, (row.psnr, getattr(row, score)), xytext=(4, 3),
                        textcoords="offset points", fontsize=7)  # fmt: skip
        ax.margins(x=0.2, y=0.15)  # room for the labels
        ax.invert_yaxis()
        ax.set_title(dataset, fontsize=10)
        ax.set_xlabel("PSNR [dB] (Y), higher is better")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(PERCEPTUAL_LABELS[score])
    fig.suptitle(
        "Perception against distortion (up and right are better)\n"
        "MOS: the paper's mean opinion score (its raters, its outputs)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig
