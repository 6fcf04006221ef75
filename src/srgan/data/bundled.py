"""Photographs that ship inside scikit-image, for the offline demo.

A newcomer without the benchmark sets and without network still gets a complete demo:
the photographs bundled in ``skimage/data`` are written out as PNG files, split into a
small test set (a stand-in for Set5) and a disjoint training set. Numbers on them are not
comparable with the paper; every demo output says so.

This module uses imageops (the 8-bit range, atomic PNG writing), imported where it is used:
the workflow imports this module when it starts and should not pay for torch there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def bundled_image(name: str) -> np.ndarray:
    """One bundled photograph as uint8 (H, W) or (H, W, 3); loaded from disk, never downloaded."""
    import skimage.data

    from srgan.image.colour import PIXEL_MAX

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = skimage.data.stereo_motorcycle()
        image = left if name == "motorcycle_left" else right
    else:
        image = getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if image.dtype != np.uint8:
        image = np.clip(np.round(image * PIXEL_MAX if image.max() <= 1.0 else image), 0, PIXEL_MAX)
        image = image.astype(np.uint8)
    return image


def export(names: tuple[str, ...], dest: Path) -> list[Path]:
    """Write the named photographs as PNG files into ``dest`` (atomic per file)."""
    from srgan.image.io import write_png

    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        path = dest / f"{name}.png"
        if not path.exists():
            write_png(path, bundled_image(name))
        written.append(path)
    return written
