"""``srgan status``: one row per model of the configured profile (``srgan.training.status``).

Reads the run folders and logs only (no torch, no lock taken): safe while Snakemake runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from srgan.cli.common import add_config_args, load_config


def _cmd_status(args: argparse.Namespace) -> None:
    from srgan.core.fileio import write_json_atomic
    from srgan.training import status

    config = load_config(args)
    rows = status.profile_status(config)
    print(status.format_table(rows))
    if args.json is not None:
        write_json_atomic(args.json, {"profile": config.profile, "runs": status.as_dicts(rows)})


def add_status(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help="where each model of the profile stands (state, step, rate, ETA, PSNR, log)",
        description="One row per model the configuration trains (workflow.variants): waiting, "
        "running, done, failed or interrupted; the step of the total; the rate and time left "
        "of a running one (its log's last progress line); the last PSNR scored during "
        "training; the log's path. Reads runs/ and logs/ only, so it is safe while "
        "Snakemake runs. Give the profile as the workflow got it: "
        "--config config/quick.yaml for the quick profile.",
    )
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the rows")
    add_config_args(p)
    p.set_defaults(func=_cmd_status)
