"""MOS study kit at the paper's size: building the study, committing ratings, the analysis.

    python benchmarks/bench_mos.py [--images 119] [--raters 26] [--ratings 300] [--dir DIR]

1. ``srgan mos create`` on synthetic outputs shaped like the paper's study: ``--images``
   test images of 480 x 320 (Set5 + Set14 + BSD100 = 119) in 8 versions (NN, bicubic, five
   models, HR), 20 calibration images (NN and HR each) and 10 attention items, ``--raters``
   codes: wall time, stimuli, folder size.
2. Ratings committed through ``Store.record`` (one ``BEGIN IMMEDIATE`` transaction each, WAL,
   ``synchronous=FULL``): median and 95th percentile latency over ``--ratings`` ratings.
3. ``analysis.analyse`` (MOS, both Wilcoxon tables, screening, power) on a complete panel of
   ``--raters`` raters with random scores: wall time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from srgan.core import paths, variants
from srgan.core.config import load_config
from srgan.image.io import write_png
from srgan.mos import analysis, store, study

REPO = Path(__file__).resolve().parents[1]
SIZE = (320, 480)
CALIBRATION_FILES = 30
DATASET = "Bench"


def smooth_image(rng: np.random.Generator) -> np.ndarray:
    """A photo-like test image: low-frequency colour fields plus a little noise."""
    coarse = rng.integers(0, 256, size=(SIZE[0] // 32, SIZE[1] // 32, 3)).astype(float)
    image = np.kron(coarse, np.ones((32, 32, 1))) + rng.normal(0, 8, size=(*SIZE, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def synthetic_outputs(root: Path, images: int) -> None:
    rng = np.random.default_rng(0)
    methods = [*variants.BASELINES, *variants.NAMES]
    for number in range(images):
        hr = smooth_image(rng)
        write_png(root / "data" / paths.FETCHED_TEST_DIR / DATASET / f"{number:03d}.png", hr)
        for method in methods:
            sr_file = paths.sr_image(method, DATASET, f"{number:03d}", root / paths.SR_IMAGES_DIR)
            write_png(sr_file, hr)
    for number in range(CALIBRATION_FILES):
        write_png(root / "calibration" / f"{number:03d}.png", smooth_image(rng))


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench_create(root: Path, raters: int) -> paths.StudyFolder:
    config = load_config(
        REPO / "params.yaml",
        [],
        [
            f"data.root={root / 'data'}",
            f"evaluate.datasets=[{DATASET}]",
            f"mos.raters={raters}",
            f"mos.calibration_dir={root / 'calibration'}",
        ],
    )
    start = time.perf_counter()
    folder = study.create_study(config, root / "study", root / paths.SR_IMAGES_DIR, progress=False)
    seconds = time.perf_counter() - start
    db = store.Store(folder.database)
    positions = db.layout.total
    db.close()
    stimuli = len(list(folder.stimuli.iterdir()))
    megabytes = folder_bytes(folder.root) / 1e6
    print(
        f"create: {seconds:.1f} s for {stimuli} stimuli, {raters} raters x {positions} "
        f"positions; study folder {megabytes:.0f} MB"
    )
    return folder


def bench_commits(folder: paths.StudyFolder, ratings: int) -> None:
    db = store.Store(folder.database)
    code = db.progress()[0]["code"]
    latencies = []
    while len(latencies) < ratings:
        at = db.position(code)
        if at.finished:
            break
        if at.pause:
            db.resume(code, at.index)
            continue
        start = time.perf_counter()
        outcome = db.record(code, at.index, at.stimulus, at.expected or 3, 1000.0)
        latencies.append(time.perf_counter() - start)
        assert outcome is store.Outcome.RECORDED
    db.close()
    ms = np.array(latencies) * 1000
    print(
        f"commit: {len(ms)} ratings, median {np.median(ms):.2f} ms, 95th percentile "
        f"{np.percentile(ms, 95):.2f} ms per rating (fsync on every commit)"
    )


def bench_analysis(images: int, raters: int) -> None:
    rng = np.random.default_rng(1)
    methods = [*variants.BASELINES, *variants.NAMES, store.HR]
    keys = pd.MultiIndex.from_product(
        [[f"R{r:02d}" for r in range(raters)], [f"i{i}" for i in range(images)], methods],
        names=["rater", "image", "method"],
    ).to_frame(index=False)
    quality = dict(zip(methods, np.linspace(1.2, 4.5, len(methods)), strict=True))
    scores = keys["method"].map(quality) + rng.normal(0, 0.8, size=len(keys))
    ratings = keys.assign(
        kind=store.TEST, dataset=DATASET, expected=np.nan, score=np.clip(np.rint(scores), 1, 5)
    ).astype({"score": int})
    start = time.perf_counter()
    tables = analysis.analyse(ratings)
    seconds = time.perf_counter() - start
    print(
        f"analysis: {seconds:.1f} s for {len(ratings)} ratings ({raters} raters, "
        f"{len(tables['wilcoxon'])} Wilcoxon pairs per unit)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=119)
    parser.add_argument("--raters", type=int, default=26)
    parser.add_argument("--ratings", type=int, default=300)
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where the study is built "
        "(default: the system's temp folder; commit latency depends on its disk)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        synthetic_outputs(root, args.images)
        folder = bench_create(root, args.raters)
        bench_commits(folder, args.ratings)
    bench_analysis(args.images, args.raters)


if __name__ == "__main__":
    main()
