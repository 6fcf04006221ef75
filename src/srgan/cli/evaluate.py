"""``srgan evaluate`` (the paper's protocol on test sets) and ``srgan upscale`` (your images)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from srgan.cli.common import (
    STANDIN_NOTE,
    add_config_args,
    load_config,
    scores_line,
    show_progress,
    take_gpu,
    uses_standin,
)
from srgan.core import paths, variants
from srgan.core.errors import UserError


def _perceptual_scorer(args: argparse.Namespace, config):
    """LPIPS/NIQE as ``evaluate.perceptual`` says (None when disabled); built first, so missing
    weight files stop the command before any work."""
    settings = config.evaluate.perceptual
    if not settings.enabled:
        return None
    from srgan.core import runtime
    from srgan.metrics.perceptual import PerceptualScorer

    device = runtime.resolve_device(config.device) if args.checkpoint is not None else "cpu"
    return PerceptualScorer(settings, device=device)


def _flag_sets(args: argparse.Namespace) -> list[str]:
    """The flags that override a configuration key, as ``--set`` pairs laid last."""
    sets = []
    if args.datasets is not None:
        sets.append(f"evaluate.datasets={json.dumps(args.datasets)}")
    if args.tile is not None:
        sets.append(f"evaluate.tile={args.tile}")
    if args.device is not None:
        sets.append(f"device={args.device}")
    return sets


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from srgan.core.fileio import require_writable, write_json_atomic
    from srgan.evaluation import protocol

    if args.out.is_dir():
        raise UserError(f"--out {args.out} is a folder; name the JSON file to write")
    require_writable(args.out.parent, f"--out {args.out}")
    if args.save_images is not None:
        require_writable(args.save_images, f"--save-images {args.save_images}")
    config = load_config(args, _flag_sets(args))
    data_dir = args.data_dir if args.data_dir is not None else paths.test_sets_dir(config)
    datasets = config.evaluate.datasets
    protocol.check_datasets(data_dir, datasets, config.scale)  # the user's inputs first
    if args.checkpoint is not None:
        from srgan.evaluation import inference

        take_gpu(config.device)
        generator = inference.load_generator(args.checkpoint, device=config.device)
        upscaler = inference.generator_upscaler(generator, tile=config.evaluate.tile)
        method = f"checkpoint:{args.checkpoint}"
    else:
        upscaler = protocol.baseline_upscaler(args.method, config.scale)
        method = args.method
    perceptual = _perceptual_scorer(args, config)  # may need weight files: after cheap checks
    results = protocol.evaluate(
        upscaler,
        data_dir,
        datasets,
        config.scale,
        save_dir=args.save_images,
        progress=show_progress(args),
        perceptual=perceptual,
    )
    # A PSNR is infinite where an SR image equals its HR image: written as Infinity (and a
    # NIQE NaN where an image is smaller than NIQE's block).
    write_json_atomic(args.out, results, allow_infinity=True)
    standin = uses_standin(config)
    for name, row in results.items():
        print(f"{method} {name}: {scores_line(row, standin)}")
    if standin:
        print(STANDIN_NOTE)


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a method on test sets (PSNR/SSIM on Y, the paper's protocol; LPIPS, NIQE)",
        description="Score nearest/bicubic upscaling or a trained generator on test sets: "
        "PSNR and SSIM (the paper's protocol), and LPIPS and NIQE as evaluate.perceptual in "
        "the configuration says. The test sets, the tile size and the device come from the "
        "configuration (evaluate.datasets, evaluate.tile, device; the sets' folder from data); "
        "the flags below override them.",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--method", choices=variants.BASELINES, help="a baseline that needs no training"
    )
    which.add_argument("--checkpoint", type=Path, help="a trained generator (final.pt)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder holding <dataset>/ HR images (default: the configuration's test sets)",
    )
    p.add_argument("--datasets", nargs="+", default=None, metavar="NAME", help="evaluate.datasets")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.json")
    p.add_argument("--save-images", type=Path, default=None, metavar="DIR")
    p.add_argument("--device", default=None, help="device: auto | cpu | cuda | cuda:N")
    p.add_argument(
        "--tile", type=int, default=None, help="evaluate.tile: inference tile size, 0 = whole"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_config_args(p)
    p.set_defaults(func=_cmd_evaluate)


def _cmd_upscale(args: argparse.Namespace) -> None:
    from srgan.evaluation import inference

    inference.upscale_files(
        args.inputs,
        args.output,
        checkpoint=args.checkpoint,
        tile=args.tile,
        overlap=args.overlap,
        device=args.device,
        progress=show_progress(args),
        overwrite=args.overwrite,
    )


def add_upscale(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscale",
        help="super-resolve your own images (PNG/JPEG, any size, tiled)",
        description="Super-resolve images 4x with a trained generator. An input is never "
        "overwritten; an output file that exists already only with --overwrite.",
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="output folder (or file for one input)"
    )
    p.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT")
    p.add_argument("--tile", type=int, default=128, help="LR tile size (0 = whole image)")
    p.add_argument(
        "--overlap",
        type=int,
        default=None,
        help="LR pixels of context around each tile (default: the generator's receptive-field "
        "radius, 40 for 16 blocks, which makes tiling exact)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace output files that exist already (an input is never replaced)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_upscale)
