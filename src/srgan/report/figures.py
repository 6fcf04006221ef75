"""The report figures made of images: visual comparisons and the SRGAN training's evolution.

Each ``*_figure`` function returns a matplotlib ``Figure`` (made without pyplot, so nothing
is shown by itself) or None when its inputs do not exist; ``srgan.report.charts.save`` writes it as
a PNG, atomically (``srgan.report.page_frame.html_image`` shows a saved one in a report, linked
to the file). Inputs are where ``srgan.core.paths`` puts them: SR images
``results/images/<method>/<dataset>/<stem>.png`` (the ``nearest`` ones are the LR image,
upscaled by pixel repetition), HR images ``<test sets>/<dataset>/<stem>.*``, generator
snapshots ``runs/<variant>/snapshots/step_<N>.pt``, and the tables of ``srgan.report.tables``.

A per-image figure is a grid of panels (:class:`Panel`): the same crop of the image for each
method (or training step), with two enlarged insets below it and, in the visual comparison,
the crop's colour error against HR below those (the CIEDE2000 difference of each pixel,
``srgan.metrics.colour``, on one scale for every panel); :func:`save_crops` writes each
panel's crop at full resolution, for the link under the figure. :func:`comparison_caption`
says what the scores of the pictured image show. Charts of numbers are
``srgan.report.charts``' and ``srgan.report.curves``'.

This module uses ``srgan.image``, ``srgan.metrics.colour``, ``srgan.core`` (paper, paths,
variants, errors); the models' checkpoints and ``srgan.evaluation`` (torch) only to run the
snapshots of :func:`evolution_panels`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from srgan.core import paper, paths, variants
from srgan.core.errors import UserError
from srgan.image.io import list_image_files, read_image, write_png
from srgan.image.resize import modcrop
from srgan.metrics.colour import CIEDE2000_KEY, ciede2000_map

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
#: The colour-error maps: ΔE00 from 0 to ERROR_MAP_MAX (larger differences show as the top
#: colour; about 1 is just noticeable side by side, 10 a clearly different colour), the colour
#: map, and the colour bar's height (inches).
ERROR_MAP_MAX, ERROR_MAP_CMAP, COLOURBAR_INCHES = 20.0, "magma", 0.5
#: The height of one line of a figure's heading (inches), kept clear of the panels' titles.
HEADING_LINE_INCHES = 0.22


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
    """One panel of a per-image figure: ``name`` (its crop file's name), a title, the crop
    (None: nothing to show, e.g. a model not run yet) and, in the visual comparison, the
    crop's CIEDE2000 colour error against HR's crop (None: none drawn, e.g. HR itself)."""

    name: str
    title: str
    image: np.ndarray | None
    error: np.ndarray | None = None


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
    """The panels in rows of ``PANEL_COLUMNS``: each crop with its zoomed regions boxed, below
    it each region enlarged (framed in the box's colour) and, when panels have colour-error
    maps, the map below those, boxed the same way, over one colour bar for every map."""
    columns = min(PANEL_COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    unit = PANEL_INCHES / ZOOMS
    maps = any(panel.error is not None for panel in panels)
    bands = [ZOOMS, 1, ZOOMS] if maps else [ZOOMS, 1]  # crop, zooms[, colour error]
    row_inches = PANEL_INCHES + unit + (PANEL_INCHES + 0.3 if maps else 0) + 0.5
    bar = COLOURBAR_INCHES if maps else 0
    fig = Figure(figsize=(PANEL_INCHES * columns, rows * row_inches + 0.4 + bar))
    ratios = bands * rows + ([bar / unit] if maps else [])
    grid = fig.add_gridspec(len(ratios), ZOOMS * columns, height_ratios=ratios)
    shown = None
    for i, panel in enumerate(panels):
        row, col = divmod(i, columns)
        top_band = len(bands) * row
        ax = fig.add_subplot(grid[top_band, ZOOMS * col : ZOOMS * (col + 1)])
        ax.set_title(panel.title, fontsize=9)
        if panel.image is None:
            ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        _show(ax, panel.image)
        for k, ((top, left), colour) in enumerate(zip(crop.zooms, ZOOM_COLOURS, strict=False)):
            _box(ax, top, left, crop.zoom_side, colour)
            zoom_ax = fig.add_subplot(grid[top_band + 1, ZOOMS * col + k])
            _show(zoom_ax, panel.image[top : top + crop.zoom_side, left : left + crop.zoom_side])
            for spine in zoom_ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(2)
        if panel.error is not None:
            map_ax = fig.add_subplot(grid[top_band + 2, ZOOMS * col : ZOOMS * (col + 1)])
            shown = map_ax.imshow(
                panel.error,
                cmap=ERROR_MAP_CMAP,
                vmin=0.0,
                vmax=ERROR_MAP_MAX,
                interpolation="nearest",
            )
            for (top, left), colour in zip(crop.zooms, ZOOM_COLOURS, strict=False):
                _box(map_ax, top, left, crop.zoom_side, colour)
            map_ax.set_xticks([])
            map_ax.set_yticks([])
            map_ax.set_xlabel(f"colour error in this crop: mean ΔE00 {panel.error.mean():.1f}",
                              fontsize=8)  # fmt: skip
    if shown is not None:
        bar_ax = fig.add_subplot(grid[-1, 1 : ZOOMS * columns - 1])
        colourbar = fig.colorbar(shown, cax=bar_ax, orientation="horizontal", extend="max")
        colourbar.set_label(
            "CIEDE2000 colour difference against HR, per pixel (ΔE00; about 1: just "
            f"noticeable; {ERROR_MAP_MAX:g} and more: the top colour)",
            fontsize=8,
        )
    fig.suptitle(heading, fontsize=10)
    lines = heading.count("\n") + 1  # room for the heading above the panels' titles
    fig.tight_layout(rect=(0, 0, 1, 1 - HEADING_LINE_INCHES * lines / fig.get_figheight()))
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


def _scores(per_image: pd.DataFrame, method: str, dataset: str, stem: str) -> dict | None:
    """The whole image's scores of ``method`` (a row of ``tables.per_image_scores``), or None."""
    row = per_image[
        (per_image["method"] == method)
        & (per_image["dataset"] == dataset)
        & (per_image["image"] == stem)
    ]
    return row.iloc[0].to_dict() if len(row) else None


def _score(per_image: pd.DataFrame, method: str, dataset: str, stem: str) -> str:
    """``"25.10 dB / 0.7000 / ΔE00 3.21"``: PSNR, SSIM (daala) and, where the evaluation has
    it, the mean CIEDE2000 of the whole image; '' when the image was not scored."""
    scores = _scores(per_image, method, dataset, stem)
    if scores is None:
        return ""
    text = f"{scores['psnr']:.2f} dB / {scores['ssim']:.4f}"
    colour = scores.get(CIEDE2000_KEY, math.nan)
    return text if pd.isna(colour) else f"{text} / ΔE00 {colour:.2f}"


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
    the PSNR/SSIM (daala) and mean CIEDE2000 of the whole image (from the eval JSON); each
    panel but HR has the crop's colour-error map against HR; a method without an SR image is
    "not run"."""
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
        error = ciede2000_map(crop.cut(img), crop.cut(hr), border=0)
        panels.append(Panel(method, f"{title}\n{score}", crop.cut(img), error))
    panels.append(Panel(HR_PANEL, HR_TITLE, crop.cut(hr)))
    return crop, panels


def comparison_heading(dataset: str, stem: str, crop: Crop) -> str:
    return (
        f"{dataset}/{stem}: {crop.side} px crop at (row {crop.top}, col {crop.left}); "
        f"below, two {crop.zoom_side} px regions enlarged, then the crop's colour error "
        "against HR.\nTitles: PSNR [dB] / SSIM (daala) / mean CIEDE2000 ΔE00 of the whole image"
    )


def comparison_caption(per_image: pd.DataFrame, dataset: str, stem: str) -> str:
    """What the scores of the pictured image say, from the numbers only (Markdown): the
    methods ranked by PSNR, and by colour difference where the evaluation has it. '' when
    the image was not scored."""
    rows = per_image[(per_image["dataset"] == dataset) & (per_image["image"] == stem)]
    if rows.empty:
        return ""
    by_psnr = rows.sort_values("psnr", ascending=False, kind="stable")
    ranked = " > ".join(f"{r.label} {r.psnr:.2f}" for r in by_psnr.itertuples())
    parts = [f"On {dataset}/{stem}, PSNR [dB] of the whole image: {ranked}."]
    colour = rows.dropna(subset=[CIEDE2000_KEY]).sort_values(CIEDE2000_KEY, kind="stable")
    if len(colour):
        closest, farthest = colour.iloc[0], colour.iloc[-1]
        parts.append(
            f"Colour difference (mean ΔE00, lower is closer to HR): smallest "
            f"{closest['label']} {closest[CIEDE2000_KEY]:.2f}, largest {farthest['label']} "
            f"{farthest[CIEDE2000_KEY]:.2f}."
        )
    return " ".join(parts)


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
    found = checkpoints.read_record(run)
    if found is not None:
        stages.append(("final", f"final (step {found.step:,})", run.final))
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
