"""``srgan check``: what this machine does with the training path (``srgan.training.check``).

Run it first on a new machine, CPU or GPU; training never requires it. Exits 1 when a check
failed, 0 otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from srgan.cli.common import add_config_args, load_config

EXIT_CHECK_FAILED = 1


def _cmd_check(args: argparse.Namespace) -> None:
    from srgan.core import config as configuration
    from srgan.core import paths
    from srgan.core.fileio import write_json_atomic
    from srgan.evaluation import protocol
    from srgan.training import check

    config = load_config(args)
    params = args.params or configuration.find_params_file()
    quick = paths.profile_file(configuration.QUICK_PROFILE, params)
    schedules = {
        "quick profile": configuration.load_config(params, [quick]),
        "paper's schedule": configuration.load_config(params),
    }
    report = check.run_check(config, schedules, protocol.training_evaluator(config))
    if args.json is not None:
        write_json_atomic(args.json, report.to_dict())
        print(f"srgan check: everything is in {args.json}")
    if report.failed:
        raise SystemExit(EXIT_CHECK_FAILED)


def add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check this machine first: the environment, the training path, LR on the "
        "device, step rates, projected hours, recommended settings",
        description="Checks the environment (torch, CUDA, the configured device), trains "
        "SRResNet-MSE and SRGAN-VGG54 for a few steps with the configured step against the "
        "eager one (on CUDA the captured graph: replays, a learning-rate drop, an evaluation "
        "between replays, a checkpoint written after the capture and resumed), compares LR "
        "made on the device with the CPU's, measures the step rates (on CUDA also with "
        "train.compile and bf16), and prints one verdict line per check, the projected hours "
        "for the quick profile and the paper's schedule, and the settings it recommends. A few "
        "minutes; smaller shapes on a CPU (said so). Exits 1 if a check failed.",
    )
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="keep everything here")
    add_config_args(p)
    p.set_defaults(func=_cmd_check)
