"""``srgan train``: one variant, resumable (``srgan.training.run``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srgan.cli.common import add_config_args, load_config, show_progress, take_gpu
from srgan.core import variants


def _cmd_train(args: argparse.Namespace) -> None:
    from srgan.data import acquire
    from srgan.evaluation import protocol
    from srgan.training import run
    from srgan.training.signals import TrainingInterrupted

    config = load_config(args)
    take_gpu(config.device)
    acquire.ensure_bundled_train_set(config)
    try:
        run.train(
            args.variant,
            workdir=args.workdir,
            config=config,
            steps=args.steps,
            checkpoint_every=args.checkpoint_every,
            init=args.init,
            progress=show_progress(args),
            evaluate=protocol.training_evaluator(config),
        )
    except TrainingInterrupted as exc:
        # A checkpoint was written; exit 128 + signal (130 SIGINT, 143 SIGTERM), not 0:
        # final.pt is missing, so Snakemake and shells must see a failure.
        print(f"srgan train: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None


def add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one of the five Table 1 variants (resumes by itself)",
        description="Train a variant with the paper's schedule (params.yaml) or a profile. "
        "Rerunning the same command resumes from the last checkpoint; after completion "
        "it does nothing.",
    )
    p.add_argument("variant", choices=variants.NAMES)
    p.add_argument("--workdir", type=Path, required=True, metavar="DIR")
    p.add_argument("--steps", type=int, default=None, help="total steps (default: the schedule's)")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="K")
    p.add_argument(
        "--init", type=Path, default=None, metavar="CKPT", help="generator to start from"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_config_args(p)
    p.set_defaults(func=_cmd_train)
