"""The ``srgan`` command line: the one entry point of the Snakemake rules and DVC stages.

Each subcommand parses its arguments, loads the configuration where it needs one, and
calls one function of the package. A ``UserError`` (bad path, bad config value, bad
image) is printed as one line and exits with status 2; nothing imports this module.

    srgan evaluate --method bicubic --data-dir DIR --datasets Set5 Set14 BSD100 --out FILE.json
    srgan evaluate --checkpoint final.pt --data-dir DIR --datasets Set5 --out FILE.json
    srgan train VARIANT --workdir DIR [--config FILE] [--steps N] [--checkpoint-every K]
                [--init CKPT] [--set key=value ...]
    srgan upscale INPUT... -o OUT --checkpoint CKPT
    srgan demo
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from srgan.errors import UserError

VARIANTS = ("srresnet_mse", "srresnet_vgg22", "srgan_mse", "srgan_vgg22", "srgan_vgg54")
BASELINES = ("nearest", "bicubic")
EXIT_USER_ERROR = 2


# --- shared helpers ------------------------------------------------------------------


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a YAML file laid over params.yaml (repeatable; later files win)",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one dotted config key, e.g. --set train.srresnet.steps=100 (repeatable)",
    )
    parser.add_argument(
        "--params",
        type=Path,
        default=None,
        metavar="FILE",
        help="the base params file (default: params.yaml in this folder or a parent)",
    )


def _load_config(args: argparse.Namespace):
    from srgan.config import load_config

    return load_config(args.params, args.config, args.sets)


def _write_json_atomic(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def _show_progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "no_progress", False)


# --- srgan evaluate ------------------------------------------------------------------


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from srgan import evaluation

    if args.checkpoint is not None:
        from srgan import inference

        generator = inference.load_generator(args.checkpoint, device=args.device)
        upscaler = evaluation.three_channel(inference.generator_upscaler(generator, tile=args.tile))
        method = f"checkpoint:{args.checkpoint}"
    else:
        upscaler = evaluation.baseline_upscaler(args.method)
        method = args.method
    results = evaluation.evaluate(
        upscaler,
        args.data_dir,
        args.datasets,
        save_dir=args.save_images,
        progress=_show_progress(args),
    )
    _write_json_atomic(args.out, results)
    for name, row in results.items():
        print(
            f"{method} {name}: PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.4f} (daala), "
            f"{row['ssim_wang']:.4f} (Wang), {row['n_images']} images"
        )


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a method on benchmark sets (PSNR/SSIM on Y, the paper's protocol)",
        description="Score nearest/bicubic upscaling or a trained generator on benchmark sets.",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--method", choices=BASELINES, help="a baseline that needs no training")
    which.add_argument("--checkpoint", type=Path, help="a trained generator (final.pt)")
    p.add_argument(
        "--data-dir", type=Path, required=True, help="folder holding <dataset>/ HR images"
    )
    p.add_argument("--datasets", nargs="+", required=True, metavar="NAME")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.json")
    p.add_argument("--save-images", type=Path, default=None, metavar="DIR")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (checkpoints)")
    p.add_argument("--tile", type=int, default=0, help="inference tile size, 0 = whole image")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_evaluate)


# --- srgan train ---------------------------------------------------------------------


def _cmd_train(args: argparse.Namespace) -> None:
    from srgan import training

    config = _load_config(args)
    training.train(
        args.variant,
        workdir=args.workdir,
        config=config,
        steps=args.steps,
        checkpoint_every=args.checkpoint_every,
        init=args.init,
        progress=_show_progress(args),
    )


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one of the five Table 1 variants (resumes by itself)",
        description="Train a variant with the paper's schedule (params.yaml) or a profile. "
        "Rerunning the same command resumes from the last checkpoint; after completion "
        "it does nothing.",
    )
    p.add_argument("variant", choices=VARIANTS)
    p.add_argument("--workdir", type=Path, required=True, metavar="DIR")
    p.add_argument("--steps", type=int, default=None, help="total steps (default: the schedule's)")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="K")
    p.add_argument(
        "--init", type=Path, default=None, metavar="CKPT", help="generator to start from"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_config_args(p)
    p.set_defaults(func=_cmd_train)


# --- srgan upscale -------------------------------------------------------------------


def _cmd_upscale(args: argparse.Namespace) -> None:
    from srgan import inference

    inference.upscale_files(
        args.inputs,
        args.output,
        checkpoint=args.checkpoint,
        tile=args.tile,
        overlap=args.overlap,
        device=args.device,
        progress=_show_progress(args),
    )


def _add_upscale(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscale",
        help="super-resolve your own images (PNG/JPEG, any size, tiled)",
        description="Super-resolve images 4x with a trained generator.",
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="output folder (or file for one input)"
    )
    p.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT")
    p.add_argument("--tile", type=int, default=128, help="LR tile size (0 = whole image)")
    p.add_argument("--overlap", type=int, default=16, help="LR pixels of overlap between tiles")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_upscale)


# --- srgan demo ----------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> None:
    """The baseline evaluation on the benchmark sets (mirror) or the bundled photographs."""
    from srgan import evaluation, sample_data

    out_dir = args.out_dir
    mirror = args.mirror or os.environ.get("SRGAN_DATA_MIRROR")
    if mirror:
        data_dir = Path(mirror) / "benchmarks"
        datasets = ["Set5", "Set14", "BSD100"]
        if not data_dir.is_dir():
            raise UserError(f"data mirror has no benchmarks/ folder: {data_dir}")
    else:
        data_dir = out_dir / "data"
        datasets = [sample_data.TEST_SET_NAME]
        sample_data.export(sample_data.TEST_IMAGES, data_dir / sample_data.TEST_SET_NAME)
        print(f"No data mirror configured: using scikit-image's bundled photos in {data_dir}")
    for method in BASELINES:
        results = evaluation.evaluate(
            evaluation.baseline_upscaler(method), data_dir, datasets, progress=_show_progress(args)
        )
        _write_json_atomic(out_dir / f"{method}.json", results)
        for name, row in results.items():
            print(
                f"{method:8s} {name:12s} PSNR {row['psnr']:6.2f} dB  SSIM {row['ssim']:.4f} "
                f"(daala)  {row['ssim_wang']:.4f} (Wang)  n={row['n_images']}"
            )
    print(f"Results written to {out_dir}/")


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the offline demo replication")
    p.add_argument("--mirror", type=Path, default=None, help="local data mirror (../shared/data)")
    p.add_argument("--out-dir", type=Path, default=Path("reports/demo"))
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)


# --- entry point ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srgan", description="SRGAN replication (Ledig et al., CVPR 2017)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_evaluate(sub)
    _add_train(sub)
    _add_upscale(sub)
    _add_demo(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"srgan {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"srgan {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
