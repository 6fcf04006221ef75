"""The ``srgan`` command line: the one entry point of the Snakemake rules and DVC stages.

Each subcommand parses its arguments, loads the configuration where it needs one, and
calls one function of the package. A ``UserError`` (bad path, bad config value, bad
image), and a write the machine refuses (a full disk, a read-only folder:
``srgan.core.fileio.WRITE_ERRNOS``), is printed as one line and exits with status 2; nothing
imports this package. Each group of commands is a module: ``evaluate`` (evaluate, upscale),
``train``, ``status``, ``check``, ``demo``, ``data``, ``reports`` (tables, report, index), ``mos``,
``config`` and ``dvc_views`` (metrics, plots-page: DVC's views);
``common`` holds what they share.

    srgan evaluate --method bicubic --data-dir DIR --datasets Set5 Set14 BSD100 --out FILE.json
    srgan evaluate --checkpoint final.pt --data-dir DIR --datasets Set5 --out FILE.json
    srgan train VARIANT --workdir DIR [--config FILE] [--steps N] [--checkpoint-every K]
                [--init CKPT] [--set key=value ...]
    srgan status [--json FILE] [config args]     (where each model of the profile stands)
    srgan check [--json FILE] [config args]      (what this machine does: run it first)
    srgan upscale INPUT... -o OUT --checkpoint CKPT
    srgan demo [--mirror DIR]
    srgan data download|extract|mirror|bundled|imagenet|manifest ...
    srgan tables --evals-dir results/eval --out-dir results/tables [config args]
    srgan report table1|table2|figures --out-dir reports [--param NAME=VALUE ...] [config args]
    srgan index --reports-dir reports [--tables-dir results/tables] [config args]
    srgan mos create|serve|analyse ...   (the MOS study kit: srgan.cli.mos)
    srgan config [--write]               (the configuration a DVC run uses; its first stage)
    srgan metrics [--rev REV]            (Tables 1 and 2 from the DVC metrics, readable)
    srgan plots-page                     (the offline page `dvc plots show` fills)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from srgan.cli import check, config, data, demo, dvc_views, evaluate, mos, reports, status, train
from srgan.core.errors import UserError

EXIT_USER_ERROR = 2
#: When the reader of the output went away (``srgan status | head``), as Python's docs advise.
EXIT_CLOSED_OUTPUT = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srgan", description="SRGAN replication (Ledig et al., CVPR 2017)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    # Building the parser imports argparse only: each command imports its modules when it runs.
    evaluate.add_evaluate(sub)
    train.add_train(sub)
    status.add_status(sub)
    check.add_check(sub)
    evaluate.add_upscale(sub)
    demo.add_demo(sub)
    data.add_data(sub)
    reports.add_tables(sub)
    reports.add_report(sub)
    reports.add_index(sub)
    mos.add_mos(sub)
    config.add_config(sub)
    dvc_views.add_metrics(sub)
    dvc_views.add_plots_page(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; its exit status. A reader that closes the output early (``| head``)
    ends it quietly, without a traceback."""
    try:
        try:
            return run(argv)
        finally:
            sys.stdout.flush()  # here, not at exit, where a closed pipe can no longer be caught
    except BrokenPipeError:
        # Nothing more can be written; the interpreter's own flush at exit must not try again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CLOSED_OUTPUT


def run(argv: Sequence[str] | None) -> int:
    """Parses the arguments and runs the command; a user's mistake is one line on stderr."""
    from srgan.core.fileio import WRITE_ERRNOS

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"srgan {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # a full disk, a read-only folder: the machine's state, not a bug
        if exc.errno not in WRITE_ERRNOS:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"srgan {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"srgan {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
