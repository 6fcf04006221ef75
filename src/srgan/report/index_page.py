"""The results page, ``reports/index.html``: "was it reproduced?", the verdict of every row of
Tables 1 and 2 we ran against the paper's within a tolerance (:func:`verdict_html`, from
``reproduced.verdict``), its dot plot, then links to every report, table and figure, and the
provenance line (:func:`index_html`, data gathered by ``srgan.report.notebooks.build_index``).

The page's frame, banner and captions are :mod:`srgan.report.page_frame`'s, its numbers
:mod:`srgan.report.table_display`'s. Torch-free.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from srgan.core import paper, paths
from srgan.report import reproduced, tables
from srgan.report.page_frame import (
    SITE_TITLE,
    banner_html,
    figure_caption,
    markdown_html,
    page_html,
    profile_note_html,
)
from srgan.report.table_display import (
    DASH,
    OUTSIDE_STYLE,
    PSNR_DELTA_SPEC,
    PSNR_SPEC,
    SSIM_DELTA_SPEC,
    SSIM_SPEC,
    TOLERANCE_TEXT,
    TOLERANCES,
    WITHIN_STYLE,
    delta_style,
    method_label,
    number,
)

# --- the verdict: was it reproduced? -----------------------------------------------------------

#: Verdict columns: (title, column, format, text when missing); None: text shown as it is.
VERDICT_HTML_COLUMNS = (
    ("table", "table", None, ""),
    ("test set", "dataset", None, ""),
    ("method", "label", None, ""),
    ("PSNR paper", "psnr_paper", PSNR_SPEC, DASH),
    ("PSNR ours", "psnr_ours", PSNR_SPEC, DASH),
    ("Δ PSNR", "psnr_delta", PSNR_DELTA_SPEC, DASH),
    ("SSIM paper", "ssim_paper", SSIM_SPEC, DASH),
    ("SSIM ours", "ssim_ours", SSIM_SPEC, DASH),
    ("Δ SSIM", "ssim_delta", SSIM_DELTA_SPEC, DASH),
    ("PSNR − our bicubic", "psnr_vs_bicubic", PSNR_DELTA_SPEC, DASH),
    ("verdict", "verdict", None, "no paper value"),
)
#: Where the tables are called what on the pages.
TABLE_TITLES = {tables.TABLE1: "Table 1", tables.TABLE2: "Table 2"}
SANITY_NOTE = (
    "SSIM is daala's variant, as in the paper. The last column is the sanity check: a trained "
    "model should beat our own bicubic on the same set."
)


def _verdict_cell(row: dict[str, Any], column: str, spec: str | None, missing: str) -> str:
    value = row[column]
    if column == "table":
        return TABLE_TITLES.get(value, value)
    if column == "label":
        return method_label(row)
    if spec is None:
        return str(value) if value else missing
    return number(value, spec, missing)


def _verdict_style(row: dict[str, Any], column: str) -> str:
    if column in TOLERANCES:
        return delta_style(row[column], TOLERANCES[column])
    if column == "psnr_vs_bicubic" and not pd.isna(row[column]):
        return SIGN_STYLES[(row[column] > 0) - (row[column] < 0)]
    if column == "verdict" and row[column]:
        return WITHIN_STYLE if row[column] == reproduced.REPRODUCED else OUTSIDE_STYLE
    return ""


#: The style of a model's PSNR minus our bicubic's by its sign: above, below, bicubic itself.
SIGN_STYLES = {1: WITHIN_STYLE, -1: OUTSIDE_STYLE, 0: ""}

#: The columns of the sanity check on sets outside the paper (no paper value to show).
SANITY_COLUMNS = ("dataset", "label", "psnr_ours", "ssim_ours", "psnr_vs_bicubic")


def verdict_table_html(frame: pd.DataFrame, only: tuple[str, ...] = ()) -> str:
    """The verdict rows as an HTML table (``only`` these columns, if given), deltas coloured
    by the tolerance."""
    columns = [c for c in VERDICT_HTML_COLUMNS if not only or c[1] in only]
    head = "".join(
        f"<th{' class=text' if spec is None else ''}>{html.escape(title)}</th>"
        for title, _, spec, _ in columns
    )
    rows = []
    for row in frame.to_dict("records"):
        cells = []
        for _, column, spec, missing in columns:
            style = _verdict_style(row, column)
            attrs = (" class=text" if spec is None else "") + (f' style="{style}"' if style else "")
            text = html.escape(_verdict_cell(row, column, spec, missing))
            cells.append(f"<td{attrs}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class='verdict'><tr>{head}</tr>{''.join(rows)}</table>"


def _first_seen(column: pd.Series) -> dict[Any, int]:
    return {value: i for i, value in enumerate(dict.fromkeys(column))}


#: The mark over the verdict of results not comparable with the paper's (demo, or not).
NOT_REPLICATION_DEMO = (
    "DEMO: the verdict is computed as for a real run, but this is not a replication "
    "(see the banner above)."
)
NOT_REPLICATION = (
    "NOT COMPARABLE: the verdict is computed as for a real run, but these results are not the "
    "replication's numbers (the banner above says why)."
)


def verdict_html(
    frame: pd.DataFrame | None, not_comparable: bool, plot: str = "", demo: bool = False
) -> str:
    """The index's answer to "was it reproduced?": "k of n rows reproduced", the tolerance
    and why, every row we ran beside the paper's (``reproduced.verdict``), and ``plot`` (the dot
    plot's HTML). Results that are ``not_comparable`` with the paper's (a ``demo``, a shorter
    schedule...) get the same, marked as not a replication."""
    if frame is None:
        return "<p><em>No tables yet (run <code>srgan tables</code>).</em></p>"
    k, n = reproduced.verdict_count(frame)
    text = NOT_REPLICATION_DEMO if demo else NOT_REPLICATION
    mark = f"<p class='not-replication'>{text}</p>" if not_comparable else ""
    judged = frame[frame["verdict"] != ""]
    # Outside the paper each model once (SRResNet-MSE is Table 1's and Table 2's SRResNet).
    outside = frame[frame["verdict"] == ""].drop_duplicates(["dataset", "model"])
    order = {m: i for i, m in enumerate(paper.OUR_METHODS)}
    outside = outside.sort_values("model", key=lambda c: c.map(order), kind="stable")
    outside = outside.sort_values("dataset", key=lambda c: c.map(_first_seen(c)), kind="stable")
    count = (
        f"{k} of {n} rows reproduced"
        if n
        else "No row to judge: none of our test sets is in the paper's tables"
    )
    parts = [
        mark,
        f"<p class='verdict-count'>{count}</p>",
        f"<p>A row is <b>reproduced</b> when {TOLERANCE_TEXT} (Δ = ours − paper).</p>",
        f"<p class='note'>{html.escape(reproduced.TOLERANCE_REASON)} {SANITY_NOTE}</p>",
    ]
    if n:
        parts.append(verdict_table_html(judged))
    if len(outside):
        pairs = zip(outside["table"], outside["dataset"], strict=True)
        where = dict.fromkeys(f"{TABLE_TITLES.get(t, t)} on {d}" for t, d in pairs)
        parts += [
            f"<h3>Rows the paper has no value for ({html.escape(', '.join(where))}): the sanity"
            " check only</h3>",
            "<p class='note'>What remains is whether each trained model beats our bicubic on "
            "the same set.</p>",
            verdict_table_html(outside, SANITY_COLUMNS),
        ]
    return "\n".join([*parts, plot])


# --- index.html -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportLink:
    """A report on the index: its title and links (relative to the index), None if not built."""

    title: str
    page: str | None
    notebook: str | None


@dataclass(frozen=True)
class IndexPage:
    """What ``index.html`` shows; links are relative to the index's folder."""

    built: dt.datetime
    provenance_line: str
    reasons: tuple[str, ...]  # why the numbers are not comparable with the paper's
    demo: bool  # the demo profile
    deviations: tuple[str, ...]
    profile_note: str | None
    verdict: pd.DataFrame | None
    verdict_plot: str  # the dot plot's HTML, "" when there is none
    tables_path: str
    reports: tuple[ReportLink, ...]
    tables_dir: str
    tables: tuple[str, ...]
    figures: tuple[str, ...]
    provenance: str  # the provenance section, Markdown ("" when not gathered)


def _report_item(report: ReportLink) -> str:
    if report.page is None:
        return f"<li>{html.escape(report.title)}: <em>not built</em></li>"
    return (
        f"<li><a href='{report.page}'>{html.escape(report.title)}</a> "
        f"(<a href='{report.notebook}'>executed notebook</a>)</li>"
    )


def _figure_item(href: str) -> str:
    caption = figure_caption(Path(href).stem)
    return (
        f"<figure><a href='{href}'><img src='{href}' alt='{html.escape(caption)}'></a>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def index_html(page: IndexPage) -> str:
    """The index: the banner, the verdict, links to reports, tables, figures, and the
    provenance."""
    parts = [
        f"<h1>{SITE_TITLE}: results</h1>",
        f"<p class='note'>Replication of {html.escape(paper.CITATION)}. "
        f"Built {page.built:%Y-%m-%d %H:%M %Z}. "
        f"{html.escape(page.provenance_line)}</p>",
        banner_html(page.reasons, page.deviations, page.demo),
        profile_note_html(page.profile_note),
        "<h2>Was it reproduced? Tables 1 and 2, ours against the paper</h2>",
        verdict_html(page.verdict, bool(page.reasons), page.verdict_plot, page.demo),
        f"<p class='note'>Ours: mean over the test set, from <code>"
        f"{html.escape(page.tables_path)}</code> (built from the evaluation JSON files named in"
        " their <code>source</code> column). MOS: the paper's on the table pages; ours only after a"
        " MOS study with human raters (the MOS report).</p>",
        "<h2>Reports</h2><ul>",
        *[_report_item(report) for report in page.reports],
        "</ul><h2>Tables (CSV, and JSON metrics for <code>dvc metrics show</code>)</h2><ul>",
        *[f"<li><a href='{p}'>{html.escape(Path(p).name)}</a></li>" for p in page.tables],
    ]
    if not page.tables:
        parts.append(f"<li><em>no tables in {html.escape(page.tables_dir)}</em></li>")
    parts.append("</ul><h2>Figures</h2><div class='figs'>")
    parts += [_figure_item(href) for href in page.figures]
    if not page.figures:
        parts.append("<p><em>no figures yet (run the figures report)</em></p>")
    parts.append("</div>")
    if page.provenance:
        parts.append(markdown_html(page.provenance))
    return page_html("results", "\n".join(parts), paths.INDEX)


def provenance_line(commit: str, config_hash: str, short: int) -> str:
    """The index's one line of provenance: the commit (``short`` characters) and config hash."""
    return f"Git commit {commit[:short]}, configuration hash {config_hash}."
