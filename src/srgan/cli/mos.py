"""``srgan mos create|serve|analyse``: the MOS study's subcommands, wired from ``srgan.cli.main``.

    srgan mos create [--out results/mos/study] [--images-dir results/images] [--methods M ...]
                     [config args]
    srgan mos serve [--study results/mos/study] [--host 127.0.0.1] [--port 8000]
    srgan mos analyse [--study results/mos/study | --ratings FILE] [--out-dir results/mos]
                      [--reports-dir reports] [--no-report] [--param NAME=VALUE] [config args]

``analyse`` writes the MOS report and, where the workflow's index is, rebuilds it so it lists
the report.

Building the parser imports nothing heavy (``srgan --help`` stays fast); each command
imports its module when it runs. The configuration arguments and the report parameters are
``srgan.cli.common``'s, read as every other command reads them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from srgan.cli.common import DEFAULT_HELP, add_config_args, load_config, report_parameters
from srgan.core import paths


def _cmd_create(args: argparse.Namespace) -> None:
    from srgan.mos import store, study

    config = load_config(args)
    folder = study.create_study(
        config, args.out, args.images_dir, args.methods, progress=not args.no_progress
    )
    database = store.Store(folder.database, writable=False)
    try:
        positions, codes = database.layout.total, [row["code"] for row in database.progress()]
    finally:
        database.close()
    print(f"wrote {folder.manifest}: {len(codes)} raters, {positions} ratings each")
    print(f"rater codes (also in {folder.codes}): {' '.join(codes)}")
    print(f"next: srgan mos serve --study {folder.root}")


def _cmd_serve(args: argparse.Namespace) -> None:
    from srgan.mos import server

    server.serve(args.study, args.host, args.port, announce=lambda line: print(line, flush=True))


def _cmd_analyse(args: argparse.Namespace) -> None:
    from srgan.core.fileio import write_text_atomic
    from srgan.mos import analysis, formatting, store

    ratings_file = args.ratings
    if ratings_file is None:
        database = store.Store(paths.StudyFolder(args.study).database, writable=False)
        try:
            text = database.export_csv()
        finally:
            database.close()
        ratings_file = paths.mos_ratings_file(args.out_dir)
        write_text_atomic(ratings_file, text)
        print(f"wrote {ratings_file}")
    tables = analysis.analyse(analysis.read_ratings(ratings_file))
    for name, table in tables.items():
        path = paths.mos_table(name, args.out_dir)
        write_text_atomic(path, table.to_csv(index=False))
    print(f"wrote {', '.join(tables)} (.csv) to {args.out_dir}")
    for row in tables["paper"][tables["paper"]["table"] == analysis.TABLE2].itertuples():
        ours = formatting.mos_interval(row.mos_ours, row.ci_low, row.ci_high)
        paper = formatting.number(row.mos_paper, formatting.MOS_SPEC)
        print(
            f"  {row.dataset:8s} {row.column:9s} MOS {ours} (paper {paper}), {row.n_raters} raters"
        )
    if args.no_report:
        return
    from srgan.report import notebooks

    parameters = report_parameters(args, args.reports_dir)
    parameters.update(ratings_file=str(ratings_file), study_dir=str(args.study))
    notebook, page = notebooks.run_notebook(paths.MOS_REPORT, args.reports_dir, parameters)
    print(f"wrote {notebook} and {page}")
    index = paths.report_page(paths.INDEX, root=args.reports_dir)
    if index.is_file():  # the workflow's reports are there: the index now lists this one
        from srgan.cli.reports import write_index

        results = Path(parameters.get("results_dir", paths.RESULTS_DIR))
        runs = Path(parameters.get("runs_dir", paths.RUNS_DIR))
        tables = paths.rebased(paths.TABLES_DIR, results)
        print(f"updated {write_index(load_config(args), args.reports_dir, tables, runs)}")


def add_mos(sub: argparse._SubParsersAction) -> None:
    """Add ``srgan mos`` and its subcommands to ``sub`` (the ``srgan`` subparsers)."""
    p = sub.add_parser(
        "mos",
        help="a MOS study like the paper's: build it, serve the rating page, analyse it",
        description="Rerun the paper's mean opinion score test on our models: a blind rating "
        "page for a lab's raters, every rating saved at once, and the paper's statistics.",
    )
    mos = p.add_subparsers(dest="mos_command", required=True)
    study_dir = paths.mos_study_dir()

    q = mos.add_parser(
        "create",
        help="build a study from the workflow's SR images (stimuli, anchors, orders, codes)",
        description="Build a study folder: every test image as NN, bicubic, each trained "
        "model and HR under opaque ids, calibration anchors and attention items from "
        "mos.calibration_dir, a seeded order per rater, rater codes, a manifest. Settings: "
        "the mos section of params.yaml (or --set mos.raters=...).",
    )
    q.add_argument("--out", type=Path, default=study_dir, metavar="DIR", help=DEFAULT_HELP)
    q.add_argument(
        "--images-dir",
        type=Path,
        default=paths.SR_IMAGES_DIR,
        metavar="DIR",
        help=f"SR images as <method>/<dataset>/<stem>.png ({DEFAULT_HELP})",
    )
    q.add_argument(
        "--methods",
        nargs="+",
        default=[],
        metavar="METHOD",
        help="methods to rate besides HR (default: evaluate.baselines and workflow.variants)",
    )
    q.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_config_args(q)
    q.set_defaults(func=_cmd_create)

    q = mos.add_parser(
        "serve",
        help="serve the rating page (127.0.0.1) and the operator page (token printed)",
        description="Serve a study until Ctrl-C: raters open the printed address and enter "
        "their code; the operator page's address, with a new token, is printed at start.",
    )
    q.add_argument("--study", type=Path, default=study_dir, metavar="DIR", help=DEFAULT_HELP)
    q.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this machine only; 0.0.0.0 lets "
        "the lab's other machines in)",
    )
    q.add_argument("--port", type=int, default=8000, help="default: %(default)s; 0: a free one")
    q.set_defaults(func=_cmd_serve)

    q = mos.add_parser(
        "analyse",
        help="MOS with 95%% CIs, Wilcoxon tests (Holm), screening, power; the MOS report",
        description="Export a study's ratings (or read a ratings file), write the analysis "
        "tables as CSV and run the report notebook (reports/mos.html).",
    )
    which = q.add_mutually_exclusive_group()
    which.add_argument("--study", type=Path, default=study_dir, metavar="DIR", help=DEFAULT_HELP)
    which.add_argument(
        "--ratings", type=Path, default=None, metavar="FILE", help="a ratings CSV instead"
    )
    q.add_argument("--out-dir", type=Path, default=paths.MOS_DIR, metavar="DIR", help=DEFAULT_HELP)
    q.add_argument(
        "--reports-dir", type=Path, default=paths.REPORTS_DIR, metavar="DIR", help=DEFAULT_HELP
    )
    q.add_argument("--no-report", action="store_true", help="only the CSV tables")
    q.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a report notebook parameter (YAML value), e.g. --param results_dir=results",
    )
    add_config_args(q)
    q.set_defaults(func=_cmd_analyse)
