"""What the report tests share: synthetic outputs of a demo workflow (evaluations, SR images,
training logs, run records, timings) where srgan.core.paths puts them, and checks of a PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from conftest import make_record, paper_generator
from PIL import Image

from srgan.core import paper, paths
from srgan.core.config import load_config
from srgan.core.record import InitModel, Software
from srgan.models import checkpoints
from srgan.report import figures

REPO = Path(__file__).resolve().parents[1]


DEMO_CONFIG = REPO / "config" / "demo.yaml"


PARAMS = REPO / "params.yaml"


#: Synthetic test sets: dataset -> (stem, height, width, gray). Sizes not a multiple of 4
#: check the HR crop; ``bridge`` is gray, as in Set14.
IMAGES = {
    "Set5": [("butterfly", 96, 96, False), ("head", 84, 100, False)],
    "Set14": [("comic", 102, 82, False), ("bridge", 80, 80, True)],
    "BSD100": [("101085", 64, 96, False), ("101087", 96, 64, False)],
}


#: Noise level of each method's synthetic SR image (nearest is blocky instead).
NOISE = {
    "bicubic": 20,
    "srresnet_mse": 8,
    "srresnet_vgg22": 10,
    "srgan_mse": 12,
    "srgan_vgg22": 14,
    "srgan_vgg54": 16,
}


#: Synthetic per-image scores: PSNR = base + 0.5 * image index.
PSNR_BASE = {m: 20.0 + i for i, m in enumerate(paper.OUR_METHODS)}


#: Synthetic perceptual scores, better (lower) down the methods' order: against the paper's
#: Set5 MOS (1.28, 1.97, 3.37, 3.46, 3.77, 3.78, 3.58) Spearman's rho is -0.89.
PERCEPTUAL = {
    m: {"lpips": 0.4 - 0.04 * i, "lpips_vgg": 0.5 - 0.04 * i, "niqe": 8.0 - 0.5 * i}
    for i, m in enumerate(paper.OUR_METHODS)
}


#: The generator every synthetic final.pt and snapshot holds (a real one: the evolution
#: figure runs them), and the steps of the synthetic snapshots.
torch.manual_seed(0)


TINY = paper_generator(num_blocks=1, channels=4)


SNAPSHOT_STEPS = (10, 20)


BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"


def synthetic_hr(height: int, width: int, gray: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    base[height // 3 : height // 2, :] += rng.normal(0, 40, (height // 2 - height // 3, width))
    img = np.stack([base, np.roll(base, 5, 1), 255 - base], -1) if not gray else base
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_sr(hr: np.ndarray, method: str, seed: int) -> np.ndarray:
    if method == "nearest":
        return hr[::4, ::4].repeat(4, 0).repeat(4, 1)
    noise = np.random.default_rng(seed).normal(0, NOISE[method], hr.shape)
    return np.clip(hr + noise, 0, 255).astype(np.uint8)


def write_tsv(path: Path, name: str, steps: list[int], values: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"step\t{name}", *(f"{s}\t{v}" for s, v in zip(steps, values, strict=True))]
    path.write_text("\n".join(lines) + "\n")


def make_outputs(root: Path, depth: bool = True) -> None:
    """Synthetic demo workflow outputs under ``root``, where ``srgan.core.paths`` puts them."""
    hr_images = {}
    for ds, specs in IMAGES.items():
        for i, (stem, h, w, gray) in enumerate(specs):
            hr = synthetic_hr(h, w, gray, seed=i)
            path = root / TEST_SETS / ds / f"{stem}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(hr).save(path)
            hr_images[ds, stem] = hr[: h - h % 4, : w - w % 4]
    for k, method in enumerate(paper.OUR_METHODS):
        result = {}
        for ds, specs in IMAGES.items():
            per_image = {}
            for i, (stem, *_) in enumerate(specs):
                sr = synthetic_sr(hr_images[ds, stem], method, seed=k * 10 + i)
                out = root / paths.sr_image(method, ds, stem)
                out.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(sr).save(out)
                per_image[stem] = {
                    "psnr": PSNR_BASE[method] + 0.5 * i,
                    "ssim": 0.5 + 0.05 * k,
                    "ssim_wang": 0.6 + 0.05 * k,
                    **PERCEPTUAL[method],
                }
            result[ds] = {
                "psnr": float(np.mean([s["psnr"] for s in per_image.values()])),
                "ssim": 0.5 + 0.05 * k,
                "ssim_wang": 0.6 + 0.05 * k,
                **PERCEPTUAL[method],
                "n_images": len(per_image),
                "images": per_image,
            }
        (root / paths.EVALS_DIR).mkdir(parents=True, exist_ok=True)
        (root / paths.eval_file(method)).write_text(json.dumps(result))
    steps = list(range(0, 41, 5))
    for variant in paper.TABLE1_METHODS:
        run = paths.RunFolder(root / paths.run_dir(variant))
        metrics = run.metrics
        names = ["content", "generator"]
        if variant.startswith("srgan"):
            names += ["adversarial", "discriminator", "d_real", "d_fake"]
        for j, name in enumerate(names):
            values = [(j + 1) * 0.5 / (1 + s / 10) for s in steps]
            write_tsv(metrics / "train" / f"{name}.tsv", name, steps, values)
        write_tsv(metrics / "train" / "lr.tsv", "lr", steps, [1e-4] * len(steps))
        write_tsv(metrics / "eval" / "Set5_psnr.tsv", "Set5_psnr", [20, 40], [18.0, 19.5])
        init = InitModel("runs/srresnet_mse/final.pt", "d" * 16, "srresnet_mse", 40, "e" * 12)
        meta = make_record(
            TINY,
            variant,
            40,
            config_hash="abc123",
            init=init if variant.startswith("srgan") else None,
            software=Software(
                "0123456789abcdef0123456789abcdef01234567", "2.14.1", "cpu", "fp32", "now"
            ),
        )
        checkpoints.write_final(run, TINY.config, TINY.state_dict(), meta)
        if variant == figures.EVOLUTION_VARIANT:
            for step in SNAPSHOT_STEPS:
                checkpoints.write_snapshot(run, step, TINY.config, TINY.state_dict(), {})
        bench = root / paths.train_timing(variant)
        bench.parent.mkdir(parents=True, exist_ok=True)
        bench.write_text(f"{BENCH_HEADER}\n12.50\t0:00:12\t300.5\t900\t250\t260\t0\t1\t90\t11.0\n")
    if depth:
        for blocks in (1, 2):
            for skip in (0, 1):
                entry = {
                    "psnr": 21.0 + blocks + skip,
                    "ssim": 0.6,
                    "ssim_wang": 0.7,
                    "n_images": 2,
                    "images": {},
                }
                path = root / paths.depth_eval_file(paths.depth_run_name(blocks, skip))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"BSD100": entry}))


#: The demo profile on the paper's test sets (as config/demo_mirror.yaml does, without a mirror).
PAPER_SETS = [
    "data.test_sets=[Set5,Set14,BSD100]",
    "evaluate.datasets=[Set5,Set14,BSD100]",
    "workflow.depth.dataset=BSD100",
]


#: Where that configuration reads the HR test images, relative to the project folder.
TEST_SETS = paths.test_sets_dir(load_config(PARAMS, [DEMO_CONFIG], PAPER_SETS))


def png_ok(path: Path, min_side: int = 200) -> np.ndarray:
    """A real image: big enough, not blank (many distinct colours, spread-out values)."""
    img = np.asarray(Image.open(path).convert("RGB"))
    assert min(img.shape[:2]) >= min_side, f"{path} is only {img.shape}"
    assert img.std() > 10, f"{path} is nearly uniform"
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50, f"{path} has too few colours"
    return img


def empty_panels(fig) -> list[str]:
    """The titles (or positions) of the axes of ``fig`` that draw nothing."""
    empty = []
    for i, ax in enumerate(fig.axes):
        drawn = ax.lines or ax.images or ax.collections or ax.patches or ax.texts
        if not drawn:
            empty.append(ax.get_title() or f"axes {i}")
    return empty
