"""The report pages (srgan.report.notebooks, page_frame, table_display, index_page): the
notebooks executed by papermill into self-contained, navigable pages, the index, and their
errors.
"""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from report_helpers import DEMO_CONFIG, PAPER_SETS, PARAMS, REPO, make_outputs, png_ok

from srgan.cli.main import main
from srgan.core import paper, paths
from srgan.core.errors import UserError
from srgan.report import notebooks as reports
from srgan.report import table_display, tables

DEMO_PARAMS = {
    "params_file": str(PARAMS),
    "config_files": [str(DEMO_CONFIG)],
    "config_sets": PAPER_SETS,
}


def _run_report(root: Path, name: str, **extra) -> tuple[nbformat.NotebookNode, str]:
    notebook, page = reports.run_notebook(
        name, root / "reports", {**DEMO_PARAMS, **extra}, notebooks_dir=REPO / "notebooks", cwd=root
    )
    nb = nbformat.read(notebook, as_version=4)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []
    return nb, page.read_text()


def _check_page(page: str) -> None:
    assert page.count("DEMO OUTPUT") == 1 and "NOT comparable" in page  # the banner, once
    assert "results = Path(results_dir)" not in page and "reports.context(" not in page  # no code
    assert "Provenance" in page and "Deviations from the paper in force" in page
    assert "listed in the banner at the top of this page" in page  # not listed again
    random = "vgg.weights = &#x27;random&#x27;", "vgg.weights = 'random'"
    assert sum(page.count(text) for text in random) == 1  # each setting once, in the banner
    assert "0:00:12" in page  # training time from the benchmark files


class _TableParser(HTMLParser):
    """The text of every <table> of a page: a list of rows of cell strings per table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _html_tables(page: str) -> list[pd.DataFrame]:
    """Each HTML table whose first row is its header, as a DataFrame of strings."""
    parser = _TableParser()
    parser.feed(page)
    frames = []
    for rows in parser.tables:
        header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
        frames.append(pd.DataFrame(body, columns=header))
    return frames


@pytest.mark.process
def test_table1_notebook(tmp_path: Path) -> None:
    make_outputs(tmp_path, depth=False)
    (tmp_path / "results" / "eval" / "srgan_vgg22.json").unlink()  # a model not run yet
    nb, page = _run_report(tmp_path, "table1")
    assert "parameters" in nb.cells[1].metadata.tags
    _check_page(page)
    shown = [t for t in _html_tables(page) if "PSNR ours" in t.columns]
    assert len(shown) == 3  # Set5, Set14, and BSD100 (not in the paper's Table 1)
    # BSD100 is not in the paper's Table 1: no column of paper values (and differences) for it
    bsd = shown[2].set_index(shown[2].columns[0])
    shown_columns = [
        c for c in table_display.DISPLAY_COLUMNS.values() if c not in table_display.PAPER_COLUMNS
    ]
    assert list(bsd.columns) == shown_columns
    assert bsd.loc["SRGAN-MSE", "PSNR ours"] == "24.25"
    assert bsd.loc["SRGAN-MSE", "CIEDE2000 ours*"] == "–"  # these evaluations predate it
    ran = [paper.LABELS[m] for m in paper.TABLE1_METHODS if m != "srgan_vgg22"]
    for t in shown:
        assert t.iloc[:, 0].tolist() == ran  # the model not run is not a row of "not run" ...
    for dataset in ("Set5", "Set14", "BSD100"):  # ... but named under each table
        assert f"Not run on {dataset} yet (no evaluation): SRGAN-VGG22." in page
    assert list(shown[0].columns[1:]) == list(table_display.DISPLAY_COLUMNS.values())
    assert ">not run<" not in page
    set5 = shown[0].set_index(shown[0].columns[0])
    assert set5.loc["SRResNet-MSE", "PSNR paper"] == "32.05"
    assert set5.loc["SRResNet-MSE", "PSNR ours"] == "22.25"  # PSNR_BASE + 0.25 (mean of 2)
    assert set5.loc["SRResNet-MSE", "Δ PSNR"] == "-9.80"
    assert set5.loc["SRGAN-VGG54", "MOS (paper's)"] == "3.58"


@pytest.mark.process
def test_table2_notebook(tmp_path: Path) -> None:
    make_outputs(tmp_path, depth=False)
    nb, page = _run_report(tmp_path, "table2")
    _check_page(page)
    shown = [t for t in _html_tables(page) if "PSNR ours" in t.columns]
    assert len(shown) == 3  # Set5, Set14, BSD100
    assert "Not run" not in page  # every set and method ran
    bsd = shown[2].set_index(shown[2].columns[0])
    assert bsd.index.tolist() == [
        "NN",
        "Bicubic",
        "SRCNN (quoted)",
        "SelfExSR (quoted)",
        "DRCN (quoted)",
        "ESPCN (quoted)",
        "SRResNet (SRResNet-MSE)",
        "SRGAN (SRGAN-VGG54)",
        "HR",
    ]
    assert bsd.loc["DRCN (quoted)", "PSNR paper"] == "27.21"
    assert bsd.loc["DRCN (quoted)", "PSNR ours"] == "–"
    assert bsd.loc["DRCN (quoted)", "status"] == "quoted"
    assert bsd.loc["HR", "PSNR paper"] == "∞"
    assert bsd.loc["SRGAN (SRGAN-VGG54)", "PSNR ours"] == "26.25"


#: An external script or stylesheet (a CDN): what a self-contained page must not have.
NETWORK_FETCH = re.compile(r"<(script|link)\b[^>]*(src|href)\s*=\s*[\"']?(https?:)?//", re.I)


def _check_navigation(page: str, current: str) -> None:
    """Every page: a title, the navigation bar (the index, the tables, the figures, the
    provenance) with the current page marked, nothing fetched from the network."""
    title = re.search(r"<title>([^<]+)</title>", page).group(1)
    assert "SRGAN replication" in title and title.split()[0] not in paths.REPORTS  # not "table1"
    nav = re.search(r"<nav class='srgan-nav'>(.*?)</nav>", page).group(1)
    hrefs = re.findall(r"href='([^']+)'", nav)
    assert hrefs == [
        "index.html", "table1.html", "table2.html", "figures.html", "mos.html",
        "index.html#Provenance",
    ]  # fmt: skip
    assert f"href='{paths.report_page(current).name}' aria-current='page'" in nav
    assert NETWORK_FETCH.search(page) is None
    assert "require.js" not in page and "mathjax" not in page.lower()


@pytest.mark.process
def test_figures_notebook_and_index(tmp_path: Path) -> None:
    make_outputs(tmp_path)
    nb, page = _run_report(tmp_path, "figures", comparison_images=["Set14/comic", "Set5/butterfly"])
    _check_page(page)
    _check_navigation(page, "figures")
    fig_dir = tmp_path / "reports" / "figures"
    names = sorted(p.name for p in fig_dir.glob("*.png"))
    assert names == [
        "comparison_Set14_comic.png",
        "comparison_Set5_butterfly.png",
        "depth.png",
        "evolution_Set14_comic.png",
        "perception_distortion_lpips.png",
        "perception_distortion_lpips_vgg.png",
        "perception_distortion_niqe.png",
        "psnr_distribution.png",
        "training_losses.png",
        "training_psnr.png",
    ]
    for path in fig_dir.glob("*.png"):
        png_ok(path)
    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 10
    # the rank correlation with the paper's MOS, per test set, with its caveat
    assert "a proxy, not an opinion test" in page
    rho = next(t for t in _html_tables(page) if "Spearman ρ vs MOS" in t.columns)
    set5 = rho[rho["test set"] == "Set5"].set_index("our score")
    assert set5.loc["lpips", "Spearman ρ vs MOS"] == "-0.89" and set5.loc["lpips", "methods"] == "7"
    assert set5.loc["psnr", "Spearman ρ vs MOS"] == "+0.89"
    assert all('src="data:image/png;base64,' in i and re.search(r'alt="\w', i) for i in images)
    depth_png = base64.b64encode((fig_dir / "depth.png").read_bytes()).decode("ascii")
    assert f'src="data:image/png;base64,{depth_png}"' in page  # the saved file, inlined
    for name in names:  # ... and each image links to its file at full size
        assert f'<a href="figures/{name}" title="open at full size"><img' in page
    # The evolution: LR, the SRResNet-MSE start, each snapshot, the final generator, HR.
    evolution = sorted(p.name for p in (fig_dir / "crops" / "evolution_Set14_comic").iterdir())
    assert evolution == [
        "final.png",
        "hr.png",
        "nearest.png",
        "start.png",
        "step10.png",
        "step20.png",
    ]
    assert 'href="figures/crops/comparison_Set14_comic/srgan_vgg54.png">SRGAN-VGG54</a>' in page
    assert not list((tmp_path / "reports").glob(".*tmp*"))  # atomic writes left nothing
    # The index: the verdict, a link to every report and figure (captioned by what it shows),
    # the banner, the provenance.
    folders = {f"{name}_dir": str(tmp_path / name) for name in ("results", "runs", "reports")}
    ctx = reports.context(**folders, **DEMO_PARAMS)
    tables.write_tables(tmp_path / "results" / "eval", tmp_path / "results" / "tables", ctx.reasons)
    index = reports.build_index(
        tmp_path / "reports", tmp_path / "results" / "tables", prov=ctx.provenance
    )
    text = index.read_text()
    _check_navigation(text, paths.INDEX)
    assert "DEMO OUTPUT" in text and "not a replication" in text
    for name in names:
        assert f"figures/{name}" in text
    assert "<figcaption>Visual comparison: Set14/comic</figcaption>" in text
    assert "<figcaption>comparison_Set14_comic.png</figcaption>" not in text
    assert "<a href='figures.html'>Figures: visual" in text
    assert "<a href='table1.html'>Table 1: the" not in text  # table1 not built here
    assert "Table 1: the content-loss study (Set5, Set14): <em>not built</em>" in text
    assert "depth" not in reports.NOTEBOOKS["figures"]  # no promise of what may not run
    assert 'id="Provenance"' in text
    verdict = _html_tables(text)[0].set_index(["table", "test set", "method"])
    assert verdict.loc[("Table 2", "Set5", "NN"), "PSNR paper"] == "26.26"
    assert verdict.loc[("Table 2", "Set5", "Bicubic"), "PSNR ours"] == "21.25"
    assert verdict.loc[("Table 2", "Set5", "SRResNet (SRResNet-MSE)"), "verdict"] == (
        "not reproduced"
    )
    assert list(verdict.columns[:2]) == ["PSNR paper", "PSNR ours"]  # as on the table pages
    n = len(verdict)
    assert n == 5 * 2 + 4 * 3  # Table 1 on Set5, Set14; Table 2's four methods on 3 sets
    assert f"0 of {n} rows reproduced" in text
    assert (tmp_path / "reports" / "verdict.png").is_file()
    assert '<a href="verdict.png" title="open at full size"><img' in text


@pytest.mark.process
def test_table_pages_are_self_contained_and_navigable(tmp_path: Path) -> None:
    make_outputs(tmp_path, depth=False)
    for name in paths.TABLES:
        _, page = _run_report(tmp_path, name)
        _check_navigation(page, name)
        assert f"<title>{reports.NOTEBOOKS[name]} – SRGAN replication</title>" in page
    guide = {name: table_display.table_guide(name) for name in paths.TABLES}
    assert "(BSD100, the offline demo" in guide["table1"]
    assert "BSD100" not in guide["table2"]  # Table 2 has BSD100: no note copied from Table 1


@pytest.mark.process
def test_notes_when_the_depth_study_and_training_did_not_run(tmp_path: Path) -> None:
    """The plain offline demo (bundled photographs, no mirror): notes instead of figures."""
    make_outputs(tmp_path, depth=False)
    (tmp_path / "runs").rename(tmp_path / "runs_gone")  # no training logs either
    _, page = _run_report(tmp_path, "figures", config_sets=[])
    assert "The depth study has not been run" in page
    assert "SkimageTest results" in page  # the demo's depth-study test set
    assert "No DVCLive logs in" in page
    assert "No generator snapshots in" in page
    # Of the paper's images only Set14/comic has results here: the page says so.
    assert "these have results: <code>Set14/comic</code>" in page
    figs = sorted(p.name for p in (tmp_path / "reports" / "figures").glob("*.png"))
    assert figs == [
        "comparison_Set14_comic.png",
        "perception_distortion_lpips.png",
        "perception_distortion_lpips_vgg.png",
        "perception_distortion_niqe.png",
        "psnr_distribution.png",
    ]


@pytest.mark.process
def test_cli_report_index_and_errors(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            ["report", "nosuch", "--out-dir", "reports", "--notebooks-dir", str(REPO / "notebooks")]
        )
        == 2
    )
    assert (
        "unknown report 'nosuch' (choose from table1, table2, figures, mos)"
        in capsys.readouterr().err
    )
    assert (
        main(["report", "table1", "--param", "1x=2", "--notebooks-dir", str(REPO / "notebooks")])
        == 2
    )
    assert "--param expects name=value" in capsys.readouterr().err
    args = ["--params", str(PARAMS), "--config", str(DEMO_CONFIG)]
    assert main(["index", "--reports-dir", "reports", "--tables-dir", "results/tables", *args]) == 0
    text = (tmp_path / "reports" / "index.html").read_text()
    assert "No tables yet (run <code>srgan tables</code>)" in text and "DEMO OUTPUT" in text


@pytest.mark.parametrize("name", ["nosuch", "../table1", "/tmp/x", "table1.ipynb", ""])
def test_run_notebook_refuses_unknown_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(
        UserError, match=r"unknown report .* \(choose from table1, table2, figures, mos\)"
    ):
        reports.run_notebook(name, tmp_path / "reports", {}, notebooks_dir=REPO / "notebooks")
    assert not (tmp_path / "reports").exists()


def test_a_notebook_that_cannot_run_is_a_user_error(tmp_path: Path, monkeypatch) -> None:
    """No kernel, a broken notebook file...: one line, no temp file, old outputs kept."""
    import papermill

    out = tmp_path / "reports"
    out.mkdir()
    (out / "table1.ipynb").write_text("the previous result")

    def no_kernel(source, output, **kwargs):
        Path(output).write_text("{")  # papermill may have started writing
        raise RuntimeError("No such kernel named python3\n(install ipykernel)")

    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)
    with pytest.raises(UserError) as info:
        reports.run_notebook("table1", out, {}, notebooks_dir=REPO / "notebooks")
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert (
        "could not run: RuntimeError: No such kernel named python3 (install ipykernel)" in message
    )
    assert sorted(p.name for p in out.iterdir()) == ["table1.ipynb"]
    assert (out / "table1.ipynb").read_text() == "the previous result"


def test_the_mos_link_leads_somewhere_before_a_study(tmp_path: Path) -> None:
    """Every page links the MOS study; until one is analysed the index writes a page saying
    how to run one and lists the report as not built; a study's report is never replaced."""
    reports_dir = tmp_path / "reports"
    index = reports.build_index(reports_dir, tmp_path / "tables")
    placeholder = (reports_dir / "mos.html").read_text()
    assert "No mean opinion score study has been analysed here yet" in placeholder
    _check_navigation(placeholder, paths.MOS_REPORT)
    assert (
        "MOS study: mean opinion scores beside the paper&#x27;s, significance: <em>not built"
        in (index.read_text())
    )
    (reports_dir / "mos.html").write_text("the study's report")
    (reports_dir / "mos.ipynb").write_text("{}")
    reports.build_index(reports_dir, tmp_path / "tables")
    assert (reports_dir / "mos.html").read_text() == "the study's report"
    assert "href='mos.html'>MOS study" in index.read_text()
