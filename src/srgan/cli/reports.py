"""``srgan tables``, ``srgan report`` and ``srgan index``: from evaluations to pages."""

from __future__ import annotations

import argparse
from pathlib import Path

from srgan.cli.common import DEFAULT_HELP, add_config_args, load_config, report_parameters
from srgan.core import paths


def _cmd_tables(args: argparse.Namespace) -> None:
    from srgan.report import provenance, tables

    reasons = tuple(provenance.result_reasons(load_config(args)))
    for path in tables.write_tables(args.evals_dir, args.out_dir, reasons, args.depth_dir):
        print(f"wrote {path}")


def add_tables(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tables",
        help="build Tables 1 and 2 (ours, the paper's, the difference) as CSV + JSON metrics",
        description="Build table1/table2 .csv and .json (DVC metrics) from the evaluation "
        "JSON files; a method not evaluated yet shows as 'not run'.",
    )
    p.add_argument("--evals-dir", type=Path, required=True, metavar="DIR", help="<method>.json")
    p.add_argument("--out-dir", type=Path, required=True, metavar="DIR")
    p.add_argument(
        "--depth-dir", type=Path, default=None, metavar="DIR", help="b<B>_skip<0|1>.json files"
    )
    add_config_args(p)
    p.set_defaults(func=_cmd_tables)


def _cmd_report(args: argparse.Namespace) -> None:
    from srgan.report import notebooks

    parameters = report_parameters(args, args.out_dir)
    notebook, page = notebooks.run_notebook(args.name, args.out_dir, parameters, args.notebooks_dir)
    print(f"wrote {notebook} and {page}")


def add_report(sub: argparse._SubParsersAction) -> None:
    from srgan.core.paths import NOTEBOOKS_DIR, REPORTS_DIR

    p = sub.add_parser(
        "report",
        help="run a report notebook with papermill (executed .ipynb + HTML without code)",
        description="Execute notebooks/NAME.ipynb with papermill (kernel python3) into "
        "OUT_DIR/NAME.ipynb and OUT_DIR/NAME.html; figures go to OUT_DIR/figures/.",
    )
    p.add_argument("name", metavar="NAME", help=" | ".join((*paths.REPORTS, paths.MOS_REPORT)))
    p.add_argument("--out-dir", type=Path, default=REPORTS_DIR, metavar="DIR", help=DEFAULT_HELP)
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a notebook parameter (YAML value), e.g. --param results_dir=results (repeatable)",
    )
    p.add_argument(
        "--notebooks-dir", type=Path, default=NOTEBOOKS_DIR, metavar="DIR", help=DEFAULT_HELP
    )
    add_config_args(p)
    p.set_defaults(func=_cmd_report)


def write_index(config, reports_dir: Path, tables_dir: Path, runs_dir: Path) -> Path:
    """``<reports_dir>/index.html`` for ``config``, from the tables, figures and reports there
    (``srgan index``; ``srgan mos analyse`` calls it again once the MOS report is built)."""
    from srgan.report import index_page, notebooks, provenance

    results = tables_dir.parent  # <results>/tables: its timings are <results>/timings
    prov = provenance.gather(config.to_dict(), runs_dir, paths.rebased(paths.TIMINGS_DIR, results))
    line = index_page.provenance_line(
        prov["git"]["commit"], prov["config_hash"], provenance.GIT_SHORT
    )
    return notebooks.build_index(
        reports_dir, tables_dir, prov["reasons"], line, prov, prov["profile_note"]
    )


def _cmd_index(args: argparse.Namespace) -> None:
    index = write_index(load_config(args), args.reports_dir, args.tables_dir, args.runs_dir)
    print(f"wrote {index}")


def add_index(sub: argparse._SubParsersAction) -> None:
    from srgan.core.paths import REPORTS_DIR, RUNS_DIR, TABLES_DIR

    p = sub.add_parser(
        "index",
        help="write reports/index.html: headline numbers and links to every report and figure",
    )
    p.add_argument(
        "--reports-dir", type=Path, default=REPORTS_DIR, metavar="DIR", help=DEFAULT_HELP
    )
    p.add_argument("--tables-dir", type=Path, default=TABLES_DIR, metavar="DIR", help=DEFAULT_HELP)
    runs_help = f"trained models ({DEFAULT_HELP})"
    p.add_argument("--runs-dir", type=Path, default=RUNS_DIR, metavar="DIR", help=runs_help)
    add_config_args(p)
    p.set_defaults(func=_cmd_index)
