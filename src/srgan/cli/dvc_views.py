"""DVC's views, readable and offline: ``srgan metrics`` (Tables 1 and 2 from the DVC metrics,
one table each) and ``srgan plots-page`` (the page ``dvc plots show`` fills, with its chart
library inlined). docs/dvc.md has the ``dvc`` commands that go with them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from srgan.cli.common import DEFAULT_HELP


def _metrics_files(tables_dir: Path) -> list[Path]:
    from srgan.core import paths
    from srgan.report import tables

    return [paths.table_file(name, tables.METRICS, tables_dir) for name in paths.TABLES]


def _cmd_metrics(args: argparse.Namespace) -> None:
    import json

    from srgan.core.errors import UserError
    from srgan.report import dvc_views

    files = _metrics_files(args.tables_dir)
    if args.rev is None:
        found = {}
        for path in files:
            if path.is_file():
                try:
                    found[path.as_posix()] = json.loads(path.read_text(encoding="utf-8"))
                except (UnicodeDecodeError, ValueError) as exc:
                    raise UserError(
                        f"metrics file {path} is damaged ({exc}): run `srgan tables`"
                    ) from None
        source = "workspace"
    else:
        import dvc.api
        from dvc.exceptions import DvcException

        # One file at a time: DVC merges the files' top-level keys (table1, table2).
        try:
            found = {
                path.as_posix(): dvc.api.metrics_show(path.as_posix(), rev=args.rev)
                for path in files
            }
        except (DvcException, FileNotFoundError) as exc:
            raise UserError(f"no metrics at {args.rev!r}: {exc}") from None
        source = args.rev
    if not found:
        raise UserError(f"no metrics in {args.tables_dir} ({source}): run the workflow first")
    blocks = []
    for path, content in found.items():
        for name, data in content.items():
            blocks.append(dvc_views.format_metrics(name, data, f"{path}, {source}"))
    print("\n\n".join(blocks))


def _cmd_plots_page(args: argparse.Namespace) -> None:
    from srgan.report.dvc_views import write_plots_page

    print(f"srgan plots-page: {write_plots_page(args.out)}")


def add_metrics(sub: argparse._SubParsersAction) -> None:
    from srgan.core import paths

    p = sub.add_parser(
        "metrics",
        help="Tables 1 and 2 from the DVC metrics (results/tables/table{1,2}.json), one "
        "readable table each",
        description="Print each metrics file of the workflow (what `dvc metrics show` reads) "
        "as one table: a row per set and method, a column per score (PSNR, SSIM, CIEDE2000, "
        "LPIPS, NIQE where evaluated). --rev reads them at a Git revision or a DVC "
        "experiment through DVC (from its cache).",
    )
    p.add_argument(
        "--tables-dir", type=Path, default=paths.TABLES_DIR, help=DEFAULT_HELP, metavar="DIR"
    )
    p.add_argument("--rev", default=None, help="a Git revision or DVC experiment (default: here)")
    p.set_defaults(func=_cmd_metrics)


def add_plots_page(sub: argparse._SubParsersAction) -> None:
    from srgan.core import paths

    p = sub.add_parser(
        "plots-page",
        help="write the page `dvc plots show` fills, its chart library inlined (offline)",
        description="Write the HTML page .dvc/config names as DVC's plots template: Vega, "
        "Vega-Lite and vega-embed inlined from the copies the installed Snakemake ships "
        "(checksums checked), so that `dvc plots show` renders without a network. `make "
        "setup` runs it.",
    )
    p.add_argument("--out", type=Path, default=paths.DVC_PLOTS_PAGE, help=DEFAULT_HELP)
    p.set_defaults(func=_cmd_plots_page)
