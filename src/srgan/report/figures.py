"""The report figures made of images: visual comparisons, the SRGAN training's evolution; and
the per-image PSNR, perception against distortion (PSNR against LPIPS/NIQE), the depth study.

Each ``*_figure`` function returns a matplotlib ``Figure`` (made without pyplot, so nothing
is shown by itself) or None when its inputs do not exist; ``srgan.report.charts.save`` writes it as
a PNG, atomically (``srgan.report.render.html_image`` shows a saved one in a report, linked to the
file). Inputs are where ``srgan.core.paths`` puts them: SR images
``results/images/<method>/<dataset>/<stem>.png`` (the ``nearest`` ones are the LR image,
upscaled by pixel repetition), HR images ``<test sets>/<dataset>/<stem>.*``, generator
snapshots ``runs/<variant>/snapshots/step_<N>.pt``, and the tables of ``srgan.report.tables``.

A per-image figure is a grid of panels (:class:`Panel`): the same crop of the image for each
method (or training step), with two enlarged insets below it; :func:`save_crops` writes each
panel's crop at full resolution, for the link under the figure. Training curves and the
verdict's dot plot are ``srgan.report.charts``'s.

This module uses charts, imageops, paper, paths and the leaves errors; checkpoints,
evaluation and inference (torch) only to run the snapshots of :func:`evolution_panels`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from srgan.core import paper, paths, variants
from srgan.core.errors import UserError
from srgan.image.io import list_image_files, read_image, write_png
from srgan.image.resize import modcrop

#: Methods of the visual comparison, in the paper's order, after the LR image (the nearest
#: baseline's output: the LR pixels repeated) and before HR.
LR_PANEL, HR_PANEL = variants.NEAREST, "hr"
COMPARISON_METHODS = (variants.BICUBIC, *paper.TABLE1_METHODS)
#: Test images of the visual comparison by default ("<dataset>/<stem>"): the Set14 images
#: the paper shows (Figures 2 and 6, and its supplement), then two BSD100 images of our choice
#: (fine texture and an animal). The first available image is used when none of them was
#: evaluated (the offline demo's SkimageTest).
DEFAULT_PICKS = ("Set14/baboon", "Set14/comic", "Set14/zebra", "BSD100/8023", "BSD100/148026")
#: The comparison crop's side as a fraction of the shorter image side, and its bounds (pixels).
CROP_FRACTION, MIN_CROP, MAX_CROP = 0.45, 48, 192
#: The zoomed regions' side as a fraction of the crop, and how many each panel enlarges.
ZOOM_FRACTION, ZOOMS = 0.2, 2
ZOOM_COLOURS = ("yellow", "cyan")
#: Panels per row of a per-image figure, and one panel's width (inches).
PANEL_COLUMNS, PANEL_INCHES = 4, 3.2


# --- choosing the crop ------------------------------------------------------------------------


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


def _window_sums(img: np.ndarray, side: int) -> np.ndarray:
    """The gradient energy of every ``side`` x ``side`` window (by its top-left corner)."""
    y = _luma(img)
    energy = np.zeros_like(y)
    energy[:-1, :] += np.diff(y, axis=0) ** 2
    energy[:, :-1] += np.diff(y, axis=1) ** 2
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return (
        integral[side:, side:]
        - integral[:-side, side:]
        - integral[side:, :-side]
        + integral[:-side, :-side]
    )


def busiest_window(img: np.ndarray, side: int, step: int = 1) -> tuple[int, int]:
    """Top-left (row, col) of the ``side`` x ``side`` window with the most gradient energy,
    among corners on multiples of ``step``.

    Textured regions show the differences between methods best; ties go to the first one.
    """
    sums = _window_sums(img, side)[::step, ::step]
    row, col = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(row) * step, int(col) * step


def zoom_windows(patch: np.ndarray, side: int, count: int = ZOOMS) -> list[tuple[int, int]]:
    """Top-left corners of the ``count`` busiest ``side``-pixel windows of ``patch`` that do
    not overlap (fewer when the patch has no room for more)."""
    sums = _window_sums(patch, side).astype(np.float64)
    found: list[tuple[int, int]] = []
    while len(found) < count and np.isfinite(sums).any():
        row, col = np.unravel_index(int(np.argmax(sums)), sums.shape)
        found.append((int(row), int(col)))
        sums[max(0, row - side + 1) : row + side, max(0, col - side + 1) : col + side] = -np.inf
    return found


@dataclass(frozen=True)
class Crop:
    """The crop shown in every panel (on the LR grid: multiples of the scale) and, inside it,
    the zoomed regions (crop coordinates, ``zoom_side`` pixels each)."""

    top: int
    left: int
    side: int
    zooms: tuple[tuple[int, int], ...]
    zoom_side: int

    def cut(self, img: np.ndarray) -> np.ndarray:
        return img[self.top : self.top + self.side, self.left : self.left + self.side]


def choose_crop(hr: np.ndarray, scale: int) -> Crop:
    """A square crop around the image's busiest region, on the LR pixel grid (``scale``), and its
    ``ZOOMS`` busiest non-overlapping sub-squares to enlarge."""
    short = min(hr.shape[:2])
    side = int(np.clip(round(short * CROP_FRACTION), min(MIN_CROP, short), min(MAX_CROP, short)))
    side -= side % scale
    top, left = busiest_window(hr, side, scale)
    zoom = max(4, round(side * ZOOM_FRACTION))
    patch = hr[top : top + side, left : left + side]
    return Crop(top, left, side, tuple(zoom_windows(patch, zoom)), zoom)


# --- per-image figures: panels ------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """One panel of a per-image figure: ``name`` (its crop file's name), a title, and the
    crop (None: nothing to show, e.g. a model not run yet)."""

    name: str
    title: str
    image: np.ndarray | None


def _show(ax, img: np.ndarray) -> None:
    if img.ndim == 2:
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(img, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _box(ax, top: int, left: int, side: int, colour: str) -> None:
    ax.add_patch(
        Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor=colour, linewidth=1.4)
    )


def panels_figure(panels: list[Panel], crop: Crop, heading: str) -> Figure:
    """The panels in rows of ``PANEL_COLUMNS``: each crop with its zoomed regions boxed, and
    below it each region enlarged (framed in the box's colour)."""
    columns = min(PANEL_COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    unit = PANEL_INCHES / ZOOMS
    fig = Figure(figsize=(PANEL_INCHES * columns, rows * (PANEL_INCHES + unit + 0.5) + 0.4))
    grid = fig.add_gridspec(2 * rows, ZOOMS * columns, height_ratios=[ZOOMS, 1] * rows)
    for i, panel in enumerate(panels):
        row, col = divmod(i, columns)
        ax = fig.add_subplot(grid[2 * row, ZOOMS * col : ZOOMS * (col + 1)])
        ax.set_title(panel.title, fontsize=9)
        if panel.image is None:
            ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        _show(ax, panel.image)
        for k, ((top, left), colour) in enumerate(zip(crop.zooms, ZOOM_COLOURS, strict=False)):
            _box(ax, top, left, crop.zoom_side, colour)
            zoom_ax = fig.add_subplot(grid[2 * row + 1, ZOOMS * col + k])
            _show(zoom_ax, panel.image[top : top + crop.zoom_side, left : left + crop.zoom_side])
            for spine in zoom_ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(2)
    fig.suptitle(heading, fontsize=10)
    fig.tight_layout()
    return fig


def save_crops(panels: list[Panel], figure: str, root: Path = paths.CROPS_DIR) -> dict[str, Path]:
    """Each panel's crop at full resolution (``paths.crop_file``), ``{title's first line:
    file}``: what the link under a per-image figure opens."""
    written = {}
    for panel in panels:
        if panel.image is not None:
            path = paths.crop_file(figure, panel.name, root)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_png(path, panel.image)
            written[panel.title.split("\n")[0]] = path
    return written


def _read_hr(data_dir: Path, dataset: str, stem: str, scale: int) -> np.ndarray:
    hr_path = find_hr(Path(data_dir), dataset, stem)
    if hr_path is None:
        raise UserError(f"no HR image {dataset}/{stem} in {data_dir}")
    return modcrop(read_image(hr_path), scale)


def _score(per_image: pd.DataFrame, method: str, dataset: str, stem: str) -> str:
    row = per_image[
        (per_image["method"] == method)
        & (per_image["dataset"] == dataset)
        & (per_image["image"] == stem)
    ]
    return f"{row['psnr'].iloc[0]:.2f} dB / {row['ssim'].iloc[0]:.4f}" if len(row) else ""


#: Panel titles of the LR image and the original.
LR_TITLE, HR_TITLE = "LR (pixels repeated ×4)", "HR (original)"


def comparison_panels(
    dataset: str,
    stem: str,
    images_dir: Path,
    data_dir: Path,
    per_image: pd.DataFrame,
    scale: int,
    methods: tuple[str, ...] = COMPARISON_METHODS,
) -> tuple[Crop, list[Panel]]:
    """One test image as in the paper's Figures 2 and 6: the same crop of the LR image (the
    nearest baseline's output), each method and HR, for :func:`panels_figure`. Titles give
    the PSNR/SSIM (daala) of the whole image (from the eval JSON); a method without an SR
    image is "not run"."""
    hr = _read_hr(data_dir, dataset, stem, scale)
    crop = choose_crop(hr, scale)
    panels = []
    for method in (LR_PANEL, *methods):
        sr_path = paths.sr_image(method, dataset, stem, images_dir)
        title = LR_TITLE if method == LR_PANEL else paper.LABELS[method]
        if not sr_path.is_file():
            panels.append(Panel(method, title, None))
            continue
        img = read_image(sr_path)
        if img.shape[:2] != hr.shape[:2]:
            raise UserError(f"{sr_path} is {img.shape[:2]}, HR (cropped) is {hr.shape[:2]}")
        score = _score(per_image, method, dataset, stem)
        panels.append(Panel(method, f"{title}\n{score}", crop.cut(img)))
    panels.append(Panel(HR_PANEL, HR_TITLE, crop.cut(hr)))
    return crop, panels


def comparison_heading(dataset: str, stem: str, crop: Crop) -> str:
    return (
        f"{dataset}/{stem}: {crop.side} px crop at (row {crop.top}, col {crop.left}); "
        f"below, two {crop.zoom_side} px regions enlarged. PSNR [dB] / SSIM (daala) of the "
        "whole image"
    )


# --- the SRGAN training's evolution (the paper's appendix) ----------------------------------------

#: The variant whose training the evolution figure shows: the paper's "SRGAN".
EVOLUTION_VARIANT = paper.TABLE2_REPRODUCED["srgan"]


def evolution_panels(
    run: paths.RunFolder, init: Path | None, dataset: str, stem: str, data_dir: Path, scale: int
) -> tuple[Crop, list[Panel]] | None:
    """The same crop super-resolved by ``run``'s generator at each kept snapshot
    (``train.snapshot_steps``), after the generator it started from (``init``: SRResNet-MSE's
    ``final.pt``) and before its final one; LR and HR around them. None without snapshots."""
    from srgan.evaluation.inference import default_overlap, generator_upscaler
    from srgan.evaluation.protocol import make_lr, super_resolve
    from srgan.models import checkpoints

    snapshots = checkpoints.list_snapshots(run)
    if not snapshots:
        return None
    hr = _read_hr(data_dir, dataset, stem, scale)
    crop = choose_crop(hr, scale)
    _, lr = make_lr(hr, scale)
    stages = [("start", f"{paper.LABELS[variants.INIT]} (the start)", init)] if init else []
    stages += [(f"step{step}", f"step {step:,}", path) for step, path in snapshots]
    if run.final.is_file():
        step = (checkpoints.read_final_metadata(run) or {}).get("step", "?")
        stages.append(("final", f"final (step {step:,})", run.final))
    panels = [Panel(LR_PANEL, LR_TITLE, crop.cut(lr_repeated(lr, scale)))]
    s = scale
    for name, title, path in stages:
        generator, _ = checkpoints.load_generator(path)
        margin = default_overlap(generator)
        top, left = max(0, crop.top // s - margin), max(0, crop.left // s - margin)
        bottom = min(lr.shape[2], (crop.top + crop.side) // s + margin)
        right = min(lr.shape[3], (crop.left + crop.side) // s + margin)
        window = super_resolve(
            generator_upscaler(generator), lr[:, :, top:bottom, left:right], "cpu", scale
        )
        row, col = crop.top - top * s, crop.left - left * s
        image = window[row : row + crop.side, col : col + crop.side]
        panels.append(Panel(name, title, image))
    panels.append(Panel(HR_PANEL, HR_TITLE, crop.cut(hr)))
    return crop, panels


def lr_repeated(lr, scale: int) -> np.ndarray:
    """The LR tensor (1, C, h, w) in [0, 1] as a uint8 image with each pixel repeated
    ``scale`` times in both directions (the nearest baseline)."""
    from srgan.evaluation.protocol import upscale_nearest
    from srgan.image.colour import to_uint8

    return to_uint8(upscale_nearest(lr, scale))


def evolution_heading(variant: str, dataset: str, stem: str, crop: Crop) -> str:
    return (
        f"{paper.LABELS[variant]} during training on {dataset}/{stem} (the paper's appendix): "
        f"the same {crop.side} px crop from generator snapshots; below, two regions enlarged"
    )


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
