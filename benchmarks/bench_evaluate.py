"""Time the evaluation protocol on Set5 + Set14 + BSD100 (119 images) for one baseline.

Usage: .venv/bin/python benchmarks/bench_evaluate.py [--method bicubic] [--data-dir DIR]
           [--datasets Set5 Set14 BSD100] [--threads N] [--perceptual standin|pretrained|off]

Prints the time per stage (read, LR, upscale, Y, PSNR, daala SSIM, Wang SSIM, CIEDE2000 (the
colour difference on RGB), and LPIPS-alex, LPIPS-vgg, NIQE), the total and the time per image,
then times ``evaluate(...)`` end to end as the CLI calls it, without and with the perceptual
metrics. Stand-in weights cost what the real
ones cost (same networks, same arithmetic), so the default measures the added cost offline.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import torch
from _common import default_data_dir

from srgan.core.config import PerceptualConfig
from srgan.core.paper import BORDER, SCALE
from srgan.evaluation.protocol import (
    baseline_upscaler,
    evaluate,
    list_images,
    make_lr,
    super_resolve,
)
from srgan.image.colour import rgb_to_y
from srgan.image.io import read_image
from srgan.metrics.colour import CIEDE2000_KEY, ciede2000
from srgan.metrics.distortion import psnr, ssim_daala, ssim_wang
from srgan.metrics.perceptual import PerceptualScorer

DATASETS = ["Set5", "Set14", "BSD100"]
#: One scorer per perceptual metric, to time each alone: (stage, lpips backbones, niqe).
PERCEPTUAL_STAGES = (("LPIPS alex", ("alex",), False), ("LPIPS vgg", ("vgg",), False))
PERCEPTUAL_STAGES += (("NIQE", (), True),)


def perceptual_scorers(weights: str) -> dict[str, PerceptualScorer]:
    """{stage: a scorer computing only that metric}; empty with ``off``."""
    if weights == "off":
        return {}
    return {
        stage: PerceptualScorer(PerceptualConfig(True, nets, niqe, weights))
        for stage, nets, niqe in PERCEPTUAL_STAGES
    }


def time_stages(
    method: str, data_dir: Path, datasets: list[str], scorers: dict[str, PerceptualScorer]
) -> tuple[dict[str, float], int]:
    """Run the protocol stage by stage, summing the wall time of each stage."""
    upscaler = baseline_upscaler(method, scale=SCALE)
    seconds: dict[str, float] = defaultdict(float)
    n_images = 0

    def timed(stage: str, fn, *args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        seconds[stage] += time.perf_counter() - start
        seconds[f"{stage} (CPU s)"] += time.process_time() - cpu
        return out

    for dataset in datasets:
        for path in list_images(data_dir / dataset):
            img = timed("read", read_image, path)
            hr, lr = timed("make LR", make_lr, img, SCALE)
            sr = timed("upscale + 8 bit", super_resolve, upscaler, lr, "cpu", SCALE)
            y_sr = timed("Y", rgb_to_y, sr, round_uint8=True)
            y_hr = timed("Y", rgb_to_y, hr, round_uint8=True)
            timed("PSNR", psnr, y_sr, y_hr, border=BORDER)
            timed("SSIM daala", ssim_daala, y_sr, y_hr, border=BORDER)
            timed("SSIM Wang", ssim_wang, y_sr, y_hr, border=BORDER)
            timed("CIEDE2000", ciede2000, sr, hr, border=BORDER)
            for stage, scorer in scorers.items():
                timed(stage, scorer.score, sr, hr, border=BORDER)
            n_images += 1
    return dict(seconds), n_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="bicubic", choices=["nearest", "bicubic"])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir("benchmarks"))
    parser.add_argument("--datasets", nargs="+", default=DATASETS, metavar="NAME")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--perceptual",
        default="standin",
        choices=["standin", "pretrained", "off"],
        help="weights of the LPIPS/NIQE stages (off: PSNR/SSIM only)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"method {args.method}, torch threads {torch.get_num_threads()}, data {args.data_dir}")
    scorers = perceptual_scorers(args.perceptual)
    timings, n = time_stages(args.method, args.data_dir, args.datasets, scorers)
    # Wall time, and the process's CPU time (all its threads), which a busy machine inflates less.
    seconds = {k: v for k, v in timings.items() if not k.endswith("(CPU s)")}
    cpu = {k: timings[f"{k} (CPU s)"] for k in seconds}
    total = sum(seconds.values())
    added = sum(seconds.get(stage, 0.0) for stage, *_ in PERCEPTUAL_STAGES)
    rows = {**seconds, "all stages": total, **({"perceptual added": added} if scorers else {})}
    cpu["all stages"] = sum(cpu.values())
    cpu["perceptual added"] = sum(cpu.get(stage, 0.0) for stage, *_ in PERCEPTUAL_STAGES)
    print(f"\n{'stage':<18}{'total s':>9}{'ms/image':>10}{'share':>8}{'CPU ms/image':>14}")
    for stage, s in rows.items():
        line = f"{stage:<18}{s:>9.2f}{1000 * s / n:>10.1f}{s / total:>8.0%}"
        print(f"{line}{1000 * cpu[stage] / n:>14.1f}")
    print(f"({n} images)")

    upscaler = baseline_upscaler(args.method, scale=SCALE)
    full = {"weights": args.perceptual, "enabled": True, "lpips": ("alex", "vgg"), "niqe": True}
    runs = {"PSNR/SSIM/CIEDE2000 only": None}
    if scorers:
        runs["with LPIPS x2 + NIQE"] = PerceptualScorer(PerceptualConfig(**full))
    for title, scorer in runs.items():
        start = time.perf_counter()
        results = evaluate(
            upscaler, args.data_dir, args.datasets, SCALE, progress=False, perceptual=scorer
        )
        wall = time.perf_counter() - start
        print(f"\nevaluate() end to end, {title}: {wall:.2f} s, {1000 * wall / n:.1f} ms/image")
    keys = ["psnr", "ssim", "ssim_wang", CIEDE2000_KEY, *(runs[title].keys if scorers else ())]
    print(f"\n{'dataset':<8}" + "".join(f"{k:>11}" for k in keys))
    for name, r in results.items():
        print(f"{name:<8}" + "".join(f"{r[k]:>11.4f}" for k in keys))


if __name__ == "__main__":
    main()
