"""Figures made of images (srgan.report.figures): the crop, the visual comparison with its
zooms, crops and colour maps, and its caption.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from report_helpers import TEST_SETS, empty_panels, make_outputs, png_ok

from srgan.core import paper, paths
from srgan.core.paper import SCALE
from srgan.metrics.colour import ciede2000_map
from srgan.report import charts, figures, page_frame, tables


def test_busiest_window_finds_the_texture() -> None:
    img = np.zeros((60, 80), np.uint8)
    img[30:50, 40:60] = np.random.default_rng(0).integers(0, 255, (20, 20))
    row, col = figures.busiest_window(img, 20)
    assert (row, col) == (30, 40)
    crop = figures.choose_crop(np.zeros((100, 300), np.uint8), scale=SCALE)
    assert crop.side == 48 and crop.zoom_side == 10  # 45 % of 100 -> 45, raised to MIN_CROP
    assert (crop.top % 4, crop.left % 4) == (0, 0)  # on the LR pixel grid
    # Two zoomed regions that do not overlap, the busiest first.
    img[5:15, 5:15] = np.random.default_rng(1).integers(0, 255, (10, 10)) // 2
    first, second = figures.zoom_windows(img, 20)
    assert first == (30, 40)
    assert second[0] <= 5 and second[1] <= 5  # the weaker texture, whole, not the first again


@pytest.mark.slow
def test_comparison_figure_has_lr_hr_zooms_and_crops(tmp_path: Path) -> None:
    make_outputs(tmp_path)
    per_image = tables.per_image_scores(tmp_path / "results" / "eval")
    assert len(per_image) == 7 * 6
    picks = figures.resolve_picks(
        ["Set14/comic", "Set5/nothere"],
        tmp_path / paths.SR_IMAGES_DIR,
        tmp_path / TEST_SETS,
    )
    assert picks == [("Set14", "comic")]
    images, hr_dir = tmp_path / paths.SR_IMAGES_DIR, tmp_path / TEST_SETS
    crop, panels = figures.comparison_panels(
        "Set14", "comic", images, hr_dir, per_image, scale=SCALE
    )
    assert [p.name for p in panels] == ["nearest", "bicubic", *paper.TABLE1_METHODS, "hr"]
    assert panels[0].title.startswith("LR (pixels repeated ×4)")
    assert panels[1].title == "Bicubic\n21.00 dB / 0.5500"
    assert panels[-1].title == "HR (original)"
    assert all(p.image.shape[:2] == (crop.side, crop.side) for p in panels)
    # The LR panel is the LR image's pixels repeated: constant 4x4 blocks on the LR grid.
    lr = panels[0].image
    assert (lr[::4, ::4].repeat(4, 0).repeat(4, 1) == lr).all()
    # Each panel but HR has its crop's colour-error map: CIEDE2000 per pixel against HR's crop.
    assert panels[-1].error is None
    hr_crop_image = panels[-1].image
    for panel in panels[:-1]:
        expected = ciede2000_map(panel.image, hr_crop_image, border=0)
        assert np.array_equal(panel.error, expected) and panel.error.shape == (crop.side,) * 2
    fig = figures.panels_figure(panels, crop, "heading")
    # each panel, its two enlargements and its map (HR: none), and one colour bar for the maps
    assert len(fig.axes) == 8 * (1 + figures.ZOOMS) + 7 + 1
    bar = fig.axes[-1]
    assert bar.get_xlim() == (0.0, figures.ERROR_MAP_MAX)
    assert "CIEDE2000" in bar.get_xlabel()
    # Four panels a row, each about 350 px wide in the PNG (not seven squeezed into one row).
    width = fig.get_size_inches()[0] * charts.DPI / figures.PANEL_COLUMNS
    assert width >= 330
    assert empty_panels(fig) == []
    png_ok(charts.save(fig, tmp_path / "cmp.png", page_frame.DEMO_STAMP))
    crops = figures.save_crops(panels, "comparison_Set14_comic", tmp_path / "crops")
    assert list(crops)[0] == "LR (pixels repeated ×4)" and list(crops)[-1] == "HR (original)"
    hr_crop = np.asarray(Image.open(crops["HR (original)"]))
    assert hr_crop.shape[:2] == (crop.side, crop.side)  # full resolution, not rescaled
    assert crops["Bicubic"] == tmp_path / "crops" / "comparison_Set14_comic" / "bicubic.png"
    # A model without SR images is a "not run" panel, still not an empty one.
    shutil.rmtree(tmp_path / paths.sr_images_dir("srgan_vgg22"))
    _, panels = figures.comparison_panels("Set14", "comic", images, hr_dir, per_image, scale=SCALE)
    assert panels[5].image is None
    assert empty_panels(figures.panels_figure(panels, crop, "x")) == []


def test_the_comparison_caption_says_what_the_scores_show() -> None:
    per_image = pd.DataFrame(
        {
            "method": ["bicubic", "srresnet_mse", "srgan_vgg54"],
            "label": ["Bicubic", "SRResNet-MSE", "SRGAN-VGG54"],
            "dataset": "Set14",
            "image": "baboon",
            "psnr": [23.0, 24.5, 22.25],
            "ssim": [0.6, 0.7, 0.55],
            "ciede2000": [3.5, 5.25, 6.0],
        }
    )
    assert figures.comparison_caption(per_image, "Set14", "baboon") == (
        "On Set14/baboon, PSNR [dB] of the whole image: SRResNet-MSE 24.50 > Bicubic 23.00 > "
        "SRGAN-VGG54 22.25. Colour difference (mean ΔE00, lower is closer to HR): smallest "
        "Bicubic 3.50, largest SRGAN-VGG54 6.00."
    )
    older = per_image.assign(ciede2000=math.nan)  # evaluations made before the colour measure
    assert figures.comparison_caption(older, "Set14", "baboon").endswith("SRGAN-VGG54 22.25.")
    assert figures.comparison_caption(per_image, "Set14", "zebra") == ""
    shown = per_image.assign(ciede2000=[3.456, math.nan, 6.0])
    assert figures._score(shown, "bicubic", "Set14", "baboon") == "23.00 dB / 0.6000 / ΔE00 3.46"
    assert figures._score(shown, "srresnet_mse", "Set14", "baboon") == "24.50 dB / 0.7000"
