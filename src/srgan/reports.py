"""Run the report notebooks with papermill, render them as HTML, and build ``index.html``.

``run_notebook("table1", Path("reports"), params)`` executes ``notebooks/table1.ipynb``
with the ``python3`` kernel (always named: a kernel named only in the notebook metadata may
not exist), writes the executed notebook to ``reports/table1.ipynb`` and the HTML without code
cells (nbconvert's ``--no-input``) to ``reports/table1.html``. A notebook that fails in a
cell is still written, with its error, before the failure is raised; one that cannot run at
all (no kernel, a broken notebook file) leaves the previous outputs as they were.
``build_index`` writes ``reports/index.html``: Table 2's SRResNet and SRGAN rows (ours beside
the paper's) on top, then links to every report, figure and table.

This module uses config, paper, provenance, tables and the leaves errors and fileio.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from srgan import paper, provenance, tables
from srgan.config import benchmarks_dir, from_dict, merged_config_dict
from srgan.errors import UserError
from srgan.fileio import atomic_write

#: The report notebooks, in the order the index lists them, with their titles.
NOTEBOOKS = {
    "table1": "Table 1: the content-loss study (Set5, Set14)",
    "table2": "Table 2: comparison with the state of the art (Set5, Set14, BSD100)",
    "figures": "Figures: visual comparison, training curves, PSNR distributions, depth study",
}
#: The Jupyter kernel the notebooks run with (ipykernel's, in the project's environment).
KERNEL = "python3"
#: Where the notebooks live, relative to the project root.
NOTEBOOKS_DIR = Path("notebooks")
#: Table 2 rows shown on top of the index.
HEADLINE_METHODS = ("srresnet", "srgan")


@dataclass(frozen=True)
class ReportContext:
    """What every report notebook starts from: the effective config, its paths, provenance."""

    config: dict[str, Any]
    results_dir: Path
    runs_dir: Path
    reports_dir: Path
    data_dir: Path
    provenance: dict[str, Any]

    @property
    def evals_dir(self) -> Path:
        return self.results_dir / "eval"

    @property
    def figures_dir(self) -> Path:
        return self.reports_dir / "figures"

    @property
    def demo(self) -> bool:
        return bool(self.provenance["demo_reasons"])

    def banner(self) -> str:
        """The demo banner as HTML ('' for a real run)."""
        return provenance.demo_banner_html(self.provenance["demo_reasons"])


def context(
    results_dir: str = "results",
    runs_dir: str = "runs",
    reports_dir: str = "reports",
    data_dir: str = "",
    profile: str = "",
    config_files: list[str] | tuple[str, ...] = (),
    config_sets: list[str] | tuple[str, ...] = (),
    params_file: str = "params.yaml",
) -> ReportContext:
    """The notebooks' parameters turned into a ``ReportContext``.

    ``profile`` adds ``config/<profile>.yaml`` before ``config_files``; an empty ``data_dir``
    means the config's benchmark folder.
    """
    overlays = [Path(f"config/{profile}.yaml")] if profile else []
    overlays += [Path(p) for p in config_files]
    config = merged_config_dict(Path(params_file), overlays, list(config_sets))
    hr_dir = Path(data_dir) if data_dir else benchmarks_dir(from_dict(config))
    results = Path(results_dir)
    prov = provenance.gather(
        config,
        runs_dir=Path(runs_dir),
        bench_dir=results / "benchmarks",
        data_dir=hr_dir,
        repo=Path(params_file).resolve().parent,
    )
    return ReportContext(config, results, Path(runs_dir), Path(reports_dir), hr_dir, prov)


def _write_utf8(path: Path, text: str) -> None:
    """``text`` as UTF-8 (whatever the locale), atomically (``fileio.atomic_write``)."""
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))


def notebook_html(notebook: Path) -> str:
    """An executed notebook as HTML without code cells or prompts (``nbconvert --no-input``)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(
        nbformat.read(notebook, as_version=4), resources={"metadata": {"name": notebook.stem}}
    )
    return body


def run_notebook(
    name: str,
    out_dir: Path,
    parameters: dict[str, Any],
    notebooks_dir: Path = NOTEBOOKS_DIR,
    cwd: Path | None = None,
) -> tuple[Path, Path]:
    """Execute ``<notebooks_dir>/<name>.ipynb`` into ``<out_dir>/<name>.ipynb`` and ``.html``.

    ``name`` is one of ``NOTEBOOKS``. ``parameters`` replace the defaults of the notebook's
    ``parameters`` cell. The kernel runs in ``cwd`` (default: the current folder), where the
    notebook's relative paths resolve. Any failure is a ``UserError``.
    """
    if name not in NOTEBOOKS:
        raise UserError(f"unknown report {name!r} (choose from {', '.join(NOTEBOOKS)})")
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = Path(notebooks_dir) / f"{name}.ipynb"
    if not source.is_file():
        known = ", ".join(sorted(p.stem for p in Path(notebooks_dir).glob("*.ipynb"))) or "none"
        raise UserError(f"no report notebook {source} (notebooks in {notebooks_dir}: {known})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    executed, page = out_dir / f"{name}.ipynb", out_dir / f"{name}.html"
    # papermill writes the notebook as it runs, to a path that must end in .ipynb; a unique
    # temp name beside the result keeps two runs apart and the old result until the end.
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=".tmp.ipynb")
    os.close(fd)
    tmp = Path(tmp_name)
    failure: PapermillExecutionError | None = None
    try:
        papermill.execute_notebook(
            str(source),
            str(tmp),
            parameters=parameters,
            kernel_name=KERNEL,
            cwd=str(cwd or Path.cwd()),
            progress_bar=False,
        )
    except PapermillExecutionError as exc:  # a cell failed; the notebook holds its error
        failure = exc
    except Exception as exc:  # no kernel, a broken notebook file, the kernel died...
        tmp.unlink(missing_ok=True)
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise UserError(f"report notebook {source} could not run: {reason}") from exc
    except BaseException:  # Ctrl-C
        tmp.unlink(missing_ok=True)
        raise
    text = tmp.read_text(encoding="utf-8") if tmp.is_file() else ""
    tmp.unlink(missing_ok=True)
    if not text.strip():
        raise UserError(f"report notebook {source} produced no executed notebook")
    _write_utf8(executed, text)
    _write_utf8(page, notebook_html(executed))
    if failure is not None:
        error = " ".join(f"{failure.ename}: {failure.evalue}".split())
        raise UserError(
            f"report notebook {source} failed in cell {failure.exec_count}: {error} "
            f"(the executed notebook is {executed})"
        )
    return executed, page


# --- index.html ----------------------------------------------------------------------------


def _num(value: float, spec: str, missing: str = "not run") -> str:
    if pd.isna(value):
        return missing
    return "∞" if math.isinf(value) else format(value, spec)


#: Headline columns: (title, table column, format, text when missing); ours in bold.
HEADLINE_COLUMNS = (
    ("PSNR ours", "psnr_ours", ".2f", "not run"),
    ("PSNR paper", "psnr_paper", ".2f", "–"),
    ("Δ PSNR", "psnr_delta", "+.2f", "–"),
    ("SSIM ours", "ssim_ours", ".4f", "not run"),
    ("SSIM paper", "ssim_paper", ".4f", "–"),
    ("Δ SSIM", "ssim_delta", "+.4f", "–"),
    ("MOS (paper's)", "mos_paper", ".2f", "–"),
)


def headline_html(table2: pd.DataFrame | None) -> str:
    """Table 2's SRResNet and SRGAN rows: ours, the paper's and the difference, per dataset."""
    if table2 is None:
        return "<p><em>Table 2 has not been built yet (run <code>srgan tables</code>).</em></p>"
    head = "".join(f"<th>{html.escape(title)}</th>" for title, *_ in HEADLINE_COLUMNS)
    rows = []
    for method in HEADLINE_METHODS:
        for row in table2[table2["method"] == method].to_dict("records"):
            model = paper.LABELS.get(row["model"], row["model"])
            cells = [f"{html.escape(row['label'])} ({html.escape(model)})", row["dataset"]]
            for _, column, spec, missing in HEADLINE_COLUMNS:
                text = html.escape(_num(row[column], spec, missing))
                cells.append(f"<b>{text}</b>" if column.endswith("_ours") else text)
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr><th>method</th><th>dataset</th>{head}</tr>{''.join(rows)}</table>"


INDEX_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th { background: #f0f0f0; } td:first-child, td:nth-child(2) { text-align: left; }
td:first-child { white-space: nowrap; }
.figs { display: flex; flex-wrap: wrap; gap: 12px; }
.figs figure { margin: 0; width: 320px; } .figs img { width: 320px; border: 1px solid #ddd; }
.figs figcaption { font-size: 0.85em; word-break: break-all; }
.note { color: #555; font-size: 0.9em; }
"""


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def build_index(
    reports_dir: Path,
    tables_dir: Path = Path("results/tables"),
    demo_reasons: list[str] | tuple[str, ...] = (),
    provenance_line: str = "",
) -> Path:
    """Write ``<reports_dir>/index.html`` linking every report, figure and table.

    The demo banner shows when ``demo_reasons`` is not empty or Table 2 says it is a demo run.
    """
    reports_dir, tables_dir = Path(reports_dir), Path(tables_dir)
    table2_path = tables_dir / "table2.csv"
    table2 = tables.read_table(table2_path) if table2_path.is_file() else None
    reasons = list(demo_reasons)
    if table2 is not None and table2["demo"].astype(str).eq("True").any():
        reasons.append(f"{table2_path} was built from a demo run")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>SRGAN replication: results</title>",
        f"<style>{INDEX_STYLE}</style></head><body>",
        "<h1>SRGAN replication: results</h1>",
        f"<p class='note'>Replication of {html.escape(paper.CITATION)}. "
        f"Built {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}. "
        f"{html.escape(provenance_line)}</p>",
        provenance.demo_banner_html(reasons),
        "<h2>Headline: Table 2, SRResNet and SRGAN (x4), ours against the paper</h2>",
        headline_html(table2),
        "<p class='note'>Ours: mean over the test set, from "
        f"<code>{html.escape(str(table2_path))}</code> (built from the evaluation JSON files"
        " named in its <code>source</code> column)."
        " SSIM is daala's variant, as in the paper. Δ = ours − paper. MOS values are the paper's:"
        " we ran no opinion test.</p>",
        "<h2>Reports</h2><ul>",
    ]
    for name, title in NOTEBOOKS.items():
        page, notebook = reports_dir / f"{name}.html", reports_dir / f"{name}.ipynb"
        if page.is_file():
            parts.append(
                f"<li><a href='{_rel(page, reports_dir)}'>{html.escape(title)}</a> "
                f"(<a href='{_rel(notebook, reports_dir)}'>executed notebook</a>)</li>"
            )
        else:
            parts.append(f"<li>{html.escape(title)}: <em>not built</em></li>")
    parts.append(
        "</ul><h2>Tables (CSV, and JSON metrics for <code>dvc metrics show</code>)</h2><ul>"
    )
    table_files = sorted(tables_dir.glob("*.csv")) + sorted(tables_dir.glob("*.json"))
    parts += [
        f"<li><a href='{_rel(p, reports_dir)}'>{html.escape(p.name)}</a></li>" for p in table_files
    ]
    if not table_files:
        parts.append(f"<li><em>no tables in {html.escape(str(tables_dir))}</em></li>")
    parts.append("</ul><h2>Figures</h2><div class='figs'>")
    figures = sorted((reports_dir / "figures").glob("*.png"))
    for fig in figures:
        rel = _rel(fig, reports_dir)
        parts.append(
            f"<figure><a href='{rel}'><img src='{rel}' alt='{html.escape(fig.stem)}'></a>"
            f"<figcaption>{html.escape(fig.name)}</figcaption></figure>"
        )
    if not figures:
        parts.append("<p><em>no figures yet (run the figures report)</em></p>")
    parts.append("</div></body></html>\n")
    index = reports_dir / "index.html"
    _write_utf8(index, "\n".join(parts))
    return index
