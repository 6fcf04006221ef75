"""Run the report notebooks with papermill, render them as HTML, and build ``index.html``.

The notebooks' source is plain Python in jupytext's percent format, ``notebooks/<name>.py``;
``write_notebooks`` (``make notebooks``) generates the ``notebooks/<name>.ipynb`` papermill
runs from them. ``run_notebook("table1", Path("reports"), params)`` executes
``notebooks/table1.ipynb`` with the ``python3`` kernel (always named: a kernel named only in
the notebook metadata may not exist), writes the executed notebook to ``reports/table1.ipynb``
and the HTML without code cells (nbconvert's ``--no-input``) to ``reports/table1.html``. The
HTML is nbconvert's ``basic`` template (the cells' HTML only) inside the project's own page
(``page_frame.page_html``: title, navigation bar, style), so a page fetches nothing from the
network (nbconvert's full templates load require.js and MathJax from a CDN). A notebook that
fails in a cell is still written, with its error, before the failure is raised; one that
cannot run at all (no kernel, a broken notebook file) leaves the previous outputs as they
were. ``build_index`` writes ``reports/index.html``: the verdict (every row of Tables 1 and
2 we ran beside the paper's, reproduced or not, and the dot plot ``reports/verdict.png``),
then links to every report, figure and table, then the provenance; and, until a MOS study is
analysed, ``reports/mos.html`` saying how to run one (the navigation bar links to it).

Every file and folder comes from ``srgan.core.paths``; what a page looks like comes from
``srgan.report.page_frame``, how its tables and numbers read from ``srgan.report.table_display``.
This module uses charts, config, paths, provenance, page_frame, table_display, tables and the
leaves errors and fileio; papermill, nbconvert and jupytext are imported only where they are
used.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srgan.core import comparability, paths
from srgan.core.config import from_dict, merged_config_dict
from srgan.core.errors import UserError
from srgan.core.fileio import atomic_write
from srgan.report import (
    charts,
    index_page,
    page_frame,
    provenance,
    reproduced,
    table_display,
    table_reading,
    tables,
)

#: The report notebooks (``paths.REPORTS``: names and order) with the titles the index shows.
NOTEBOOKS = dict(
    zip(
        paths.REPORTS,
        (
            "Table 1: the content-loss study (Set5, Set14)",
            "Table 2: comparison with the state of the art (Set5, Set14, BSD100)",
            "Figures: visual comparisons, training, per-image PSNR, perception against distortion",
        ),
        strict=True,
    )
)
#: The MOS study's report: `srgan mos analyse` builds it after a study, the workflow does not.
NOTEBOOKS[paths.MOS_REPORT] = "MOS study: mean opinion scores beside the paper's, significance"
#: The Jupyter kernel the notebooks run with (ipykernel's, in the project's environment),
#: and the kernelspec the generated notebooks name.
KERNEL = "python3"
KERNELSPEC = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
#: A notebook's source (jupytext's percent format) and the notebook papermill runs.
SOURCE_SUFFIX, NOTEBOOK_SUFFIX = ".py", ".ipynb"
#: The figures' file type.
FIGURE_SUFFIX = ".png"
#: nbconvert's template that renders the cells only (no page around them, no script from a
#: CDN); ``page_frame.page_html`` makes the page.
HTML_TEMPLATE = "basic"


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
    def scale(self) -> int:
        """The configuration's super-resolution factor."""
        return int(self.config["scale"])

    @property
    def evals_dir(self) -> Path:
        return paths.rebased(paths.EVALS_DIR, self.results_dir)

    @property
    def images_dir(self) -> Path:
        """The SR images ``srgan evaluate --save-images`` wrote (``paths.sr_image``)."""
        return paths.rebased(paths.SR_IMAGES_DIR, self.results_dir)

    @property
    def depth_dir(self) -> Path:
        return paths.rebased(paths.DEPTH_RESULTS_DIR, self.results_dir)

    @property
    def figures_dir(self) -> Path:
        return paths.rebased(paths.FIGURES_DIR, self.reports_dir)

    @property
    def crops_dir(self) -> Path:
        """Full-resolution crops of the per-image figures (``paths.crop_file``)."""
        return paths.rebased(paths.CROPS_DIR, self.reports_dir)

    def run_folder(self, variant: str) -> paths.RunFolder:
        """A variant's training folder (``paths.run_dir``) under ``runs_dir``."""
        return paths.RunFolder(paths.rebased(paths.run_dir(variant), self.runs_dir))

    def figure(self, name: str) -> Path:
        """Where a report saves figure ``name``: ``<figures_dir>/<name>.png``."""
        return self.figures_dir / f"{name}{FIGURE_SUFFIX}"

    def href(self, path: Path) -> str:
        """A link from a report page (in ``reports_dir``) to ``path``."""
        return _rel(Path(path), self.reports_dir)

    def show_figure(self, fig: Any, name: str, alt: str) -> str:
        """Save ``fig`` as figure ``name`` (stamped when its numbers are not comparable with
        the paper's) and return its HTML: inline, linked to the PNG file at full size."""
        path = charts.save(fig, self.figure(name), page_frame.stamp(self.reasons, self.demo))
        return page_frame.html_image(path, alt, self.href(path))

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why these results are not comparable with the paper's (empty when they are)."""
        return tuple(self.provenance["reasons"])

    @property
    def demo(self) -> bool:
        """Whether the configuration is the demo profile."""
        return bool(self.provenance["demo"])

    def banner(self) -> str:
        """The banner of results not comparable with the paper's (naming why, and the settings
        that depart from the paper), and the quick profile's note, as HTML ('' for none)."""
        prov = self.provenance
        return page_frame.banner_html(
            self.reasons, prov["deviations"], self.demo
        ) + page_frame.profile_note_html(prov["profile_note"])


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

    The configuration is layered as every command layers it (``merged_config_dict``): the
    workflow passes its effective configuration as ``params_file`` (``results/config.yaml``);
    by hand, ``profile`` adds ``config/<profile>.yaml`` (``paths.profile_file``) before
    ``config_files``. An empty ``data_dir`` means the config's test sets
    (``paths.test_sets_dir``).
    """
    overlays = [paths.profile_file(profile)] if profile else []
    overlays += [Path(p) for p in config_files]
    config = merged_config_dict(Path(params_file), overlays, list(config_sets))
    hr_dir = Path(data_dir) if data_dir else paths.test_sets_dir(from_dict(config))
    results = Path(results_dir)
    prov = provenance.gather(
        config,
        runs_dir=Path(runs_dir),
        timings_dir=paths.rebased(paths.TIMINGS_DIR, results),
        data_dir=hr_dir,
        repo=Path(params_file).resolve().parent,
    )
    return ReportContext(config, results, Path(runs_dir), Path(reports_dir), hr_dir, prov)


def _write_utf8(path: Path, text: str) -> None:
    """``text`` as UTF-8 (whatever the locale), atomically (``fileio.atomic_write``)."""
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))


def notebook_html(notebook: Path) -> str:
    """An executed notebook as a page: its outputs without code cells or prompts
    (``nbconvert --no-input``, the ``basic`` template) in ``page_frame.page_html``, titled with
    its report's title (``NOTEBOOKS``), which the navigation bar marks."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name=HTML_TEMPLATE,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(
        nbformat.read(notebook, as_version=4), resources={"metadata": {"name": notebook.stem}}
    )
    name = Path(notebook).stem
    return page_frame.page_html(NOTEBOOKS.get(name, name), body, name)


def _notebook_file(notebooks_dir: Path, name: str, suffix: str = NOTEBOOK_SUFFIX) -> Path:
    """``<notebooks_dir>/<name>.ipynb`` (what papermill runs), or ``.py`` (its source)."""
    return Path(notebooks_dir) / f"{name}{suffix}"


def run_notebook(
    name: str,
    out_dir: Path,
    parameters: dict[str, Any],
    notebooks_dir: Path = paths.NOTEBOOKS_DIR,
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

    source = _notebook_file(notebooks_dir, name)
    if not source.is_file():
        found = Path(notebooks_dir).glob(f"*{NOTEBOOK_SUFFIX}")
        known = ", ".join(sorted(p.stem for p in found)) or "none"
        raise UserError(f"no report notebook {source} (notebooks in {notebooks_dir}: {known})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = paths.report_page(name, NOTEBOOK_SUFFIX, out_dir)
    page = paths.report_page(name, root=out_dir)
    # papermill writes the notebook as it runs, to a path that must end in .ipynb; a unique
    # temp name beside the result keeps two runs apart and the old result until the end.
    suffix = f".tmp{NOTEBOOK_SUFFIX}"
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=suffix)
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


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _report_link(name: str, title: str, reports_dir: Path) -> index_page.ReportLink:
    """A report on the index: built when its executed notebook and page are there (the MOS
    page alone may be the placeholder of :func:`write_mos_placeholder`)."""
    page = paths.report_page(name, root=reports_dir)
    notebook = paths.report_page(name, NOTEBOOK_SUFFIX, reports_dir)
    if not (page.is_file() and notebook.is_file()):
        return index_page.ReportLink(title, None, None)
    return index_page.ReportLink(title, _rel(page, reports_dir), _rel(notebook, reports_dir))


def write_mos_placeholder(reports_dir: Path) -> Path | None:
    """``<reports_dir>/mos.html`` saying how to run a MOS study, when no study's report is
    there (so the navigation's MOS link always leads somewhere); None when one is."""
    notebook = paths.report_page(paths.MOS_REPORT, NOTEBOOK_SUFFIX, reports_dir)
    if notebook.is_file():
        return None
    page = paths.report_page(paths.MOS_REPORT, root=reports_dir)
    _write_utf8(page, page_frame.mos_placeholder_html())
    return page


def build_index(
    reports_dir: Path = paths.REPORTS_DIR,
    tables_dir: Path = paths.TABLES_DIR,
    reasons: list[str] | tuple[str, ...] = (),
    provenance_line: str = "",
    prov: dict[str, Any] | None = None,
    profile_note: str | None = None,
) -> Path:
    """Write ``<reports_dir>/index.html``: the verdict (and its dot plot,
    ``paths.VERDICT_PLOT``), links to every report, figure and table, the provenance
    (``provenance.gather``'s ``prov``, when given).

    The banner shows when ``reasons`` is not empty or a table records reasons of its own, the
    quick profile's note when ``profile_note`` is given; the verdict is then marked as not a
    replication.
    """
    reports_dir, tables_dir = Path(reports_dir), Path(tables_dir)
    found = {
        name: paths.table_file(name, tables.CSV, tables_dir)
        for name in (tables.TABLE1, tables.TABLE2)
    }
    read = {name: table_reading.read_table(path) for name, path in found.items() if path.is_file()}
    reasons = comparability.merged(reasons, *(tables.table_reasons(t) for t in read.values()))
    demo = bool(prov and prov.get("demo"))
    verdict = reproduced.verdict(read) if read else None
    plot = ""
    if verdict is not None:
        fig = charts.verdict_figure(verdict) or charts.sanity_figure(verdict)
        if fig is not None:
            stamp = page_frame.stamp(reasons, demo)
            path = charts.save(fig, paths.rebased(paths.VERDICT_PLOT, reports_dir), stamp)
            plot = page_frame.html_image(path, "Ours against the paper's", _rel(path, reports_dir))
    table_files = [
        path
        for suffix in (tables.CSV, tables.METRICS)
        for path in sorted(tables_dir.glob(f"*{suffix}"))
    ]
    figures_dir = paths.rebased(paths.FIGURES_DIR, reports_dir)
    prov = prov or {}
    page = index_page.IndexPage(
        built=dt.datetime.now().astimezone(),
        provenance_line=provenance_line,
        reasons=tuple(reasons),
        demo=demo,
        deviations=tuple(prov.get("deviations", ())),
        profile_note=profile_note,
        verdict=verdict,
        verdict_plot=plot,
        tables_path=", ".join(str(path) for path in found.values()),
        reports=tuple(_report_link(n, title, reports_dir) for n, title in NOTEBOOKS.items()),
        tables_dir=str(tables_dir),
        tables=tuple(_rel(p, reports_dir) for p in table_files),
        figures=tuple(_rel(p, reports_dir) for p in sorted(figures_dir.glob(f"*{FIGURE_SUFFIX}"))),
        provenance=table_display.provenance_markdown(prov) if prov else "",
    )
    index = paths.report_page(paths.INDEX, root=reports_dir)
    _write_utf8(index, index_page.index_html(page))
    write_mos_placeholder(reports_dir)
    return index


# --- the notebooks' source --------------------------------------------------------------------


def _notebook_from_source(source: Path):
    """The notebook of a percent-format ``.py`` file (jupytext), with the python3 kernelspec
    and stable cell ids (``<name>-00``, ``<name>-01``, ...): the same source always gives the
    same file."""
    import jupytext

    notebook = jupytext.read(source)
    notebook.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"{source.stem}-{number:02d}"
    return notebook


def write_notebooks(notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> list[Path]:
    """Generate ``<name>.ipynb`` from ``<name>.py`` for every report notebook
    (``make notebooks``)."""
    import nbformat

    written = []
    for name in NOTEBOOKS:
        notebook = _notebook_from_source(_notebook_file(notebooks_dir, name, SOURCE_SUFFIX))
        nbformat.validate(notebook)
        path = _notebook_file(notebooks_dir, name)
        with atomic_write(path, "w") as handle:
            nbformat.write(notebook, handle)
        written.append(path)
    return written
