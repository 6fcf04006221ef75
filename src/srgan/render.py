"""Data into Markdown and HTML: what a reader of the reports sees.

``tables``, ``provenance`` and ``figures`` build data (DataFrames, dicts, matplotlib figures);
this module turns it into text, and nothing else does:

* a table's display (:func:`display_frame`, :func:`format_frame`, :func:`style_frame`): one
  test set laid out as in the paper, numbers formatted, deltas coloured; and where its
  numbers come from (:func:`sources_frame`);
* the provenance section (:func:`provenance_markdown`);
* the demo banner (:func:`demo_banner_html`), the one warning every page of a demo run shows;
* the index page (:func:`index_html`) with Table 2's headline rows (:func:`headline_html`);
* a saved figure inline (:func:`html_image`).

Numbers are formatted by :func:`number` only. This module uses paper, paths and tables (the
row statuses); it is torch-free.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from srgan import paper, paths
from srgan.tables import NOT_RUN, OURS, QUOTED, REFERENCE

#: What a cell shows where there is no number to have, and for an infinite one.
DASH = "–"
INFINITY = "∞"


def number(value: float, spec: str, missing: str = DASH) -> str:
    """``value`` formatted with ``spec``; ``missing`` for NaN, "∞" for an infinite value."""
    if pd.isna(value):
        return missing
    if math.isinf(value):
        return INFINITY
    return format(value, spec)


# --- one test set of a table, as the paper lays it out ----------------------------------------

#: Display columns of one dataset's table, from the long table's columns.
DISPLAY_COLUMNS = {
    "psnr_paper": "PSNR paper",
    "psnr_ours": "PSNR ours",
    "psnr_delta": "Δ PSNR",
    "ssim_paper": "SSIM paper",
    "ssim_ours": "SSIM ours",
    "ssim_delta": "Δ SSIM",
    "ssim_wang_ours": "SSIM (Wang) ours",
    "mos_paper": "MOS (paper's)",
    "status": "status",
}
#: Decimals of each score, and of the differences (signed).
PSNR_SPEC, SSIM_SPEC = ".2f", ".4f"
PSNR_DELTA_SPEC, SSIM_DELTA_SPEC = "+.2f", "+.4f"
#: Text colours of the styled tables.
MUTED_STYLE = "color: #777; font-style: italic"
BETTER_STYLE = "color: #1a7f37"
WORSE_STYLE = "color: #c62828"


#: What the columns of Tables 1 and 2 mean, shown above them.
TABLE_GUIDE = f"""\
How to read the tables: **paper** is the published number, **ours** our mean over the test
set, **Δ = ours − paper** (green: at least the paper's; red: below it). PSNR [dB] and SSIM are
computed on the luma (Y) channel after removing a 4-pixel border, as in the paper. **SSIM** is
the paper's variant (the daala package's, whose Gaussian window grows with the image); our
**SSIM (Wang)** is the common Wang et al. SSIM, which the paper did not report. **MOS** is the
paper's mean opinion score: we ran no opinion test, so there is no number of ours. A number we
do not have yet shows as *not run*. A test set outside the paper's table (BSD100 in Table 1,
the offline demo's bundled photographs) shows our numbers with no paper value (–). The same
numbers are in `{paths.TABLES_DIR.as_posix()}/*.csv` (and `*.json`, the DVC metrics)."""


def display_frame(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """One dataset's rows as the paper lays them out: a method per row, named by the paper.

    Quoted rows are labelled ``"SRCNN (quoted)"``; Table 2's reproduced models name the
    variant standing for them (``"SRGAN (SRGAN-VGG54)"``).
    """
    rows = table[table["dataset"] == dataset]
    labels = []
    for row in rows.itertuples(index=False):
        label = row.label
        if row.status == QUOTED:
            label += " (quoted)"
        elif row.model and row.model != row.method:
            label += f" ({paper.LABELS[row.model]})"
        labels.append(label)
    frame = rows[list(DISPLAY_COLUMNS)].rename(columns=DISPLAY_COLUMNS)
    frame.index = pd.Index(labels)
    return frame


def format_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``display_frame`` as text: fixed decimals, "not run" where we have no number yet,
    "–" where there is none to have (quoted methods and HR have no number of ours)."""
    out = pd.DataFrame(index=frame.index, columns=frame.columns, dtype=object)
    for label, row in frame.iterrows():
        ours_missing = DASH if row["status"] in (QUOTED, REFERENCE) else NOT_RUN
        for column in frame.columns:
            value = row[column]
            if column == "status":
                out.loc[label, column] = value
            elif column.startswith("Δ"):
                spec = PSNR_DELTA_SPEC if "PSNR" in column else SSIM_DELTA_SPEC
                out.loc[label, column] = number(value, spec)
            else:
                spec = SSIM_SPEC if "SSIM" in column else PSNR_SPEC
                missing = ours_missing if column.endswith("ours") else DASH
                out.loc[label, column] = number(value, spec, missing)
    return out


def style_frame(frame: pd.DataFrame):
    """A pandas Styler of ``format_frame(frame)``: quoted/reference rows in grey italics,
    deltas green where ours is at least the paper's and red where it is below."""

    def css(_: pd.DataFrame) -> pd.DataFrame:
        styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for label, row in frame.iterrows():
            if row["status"] in (QUOTED, REFERENCE):
                styles.loc[label, :] = MUTED_STYLE
            for column in (DISPLAY_COLUMNS["psnr_delta"], DISPLAY_COLUMNS["ssim_delta"]):
                if not pd.isna(row[column]):
                    styles.loc[label, column] = BETTER_STYLE if row[column] >= 0 else WORSE_STYLE
        return styles

    return format_frame(frame).style.apply(css, axis=None)


def sources_frame(table: pd.DataFrame, evals_dir: Path) -> pd.DataFrame:
    """One row per model of ``table``: its evaluation file and how many images each test set
    contributed ("–" where the file has no entry for that set, "missing" where there is no
    file). Where the "ours" numbers of a table come from, at a glance."""
    rows = table[table["model"] != ""]
    datasets = list(dict.fromkeys(rows["dataset"]))
    records = []
    for (label, model), group in rows.groupby(["label", "model"], sort=False):
        path = paths.eval_file(model, evals_dir)
        counts = dict(zip(group["dataset"], group["n_images"], strict=True))
        statuses = dict(zip(group["dataset"], group["status"], strict=True))
        record = {"method": label, "model": model, "evaluation file": str(path)}
        for dataset in datasets:
            ran = statuses.get(dataset) == OURS
            record[f"{dataset} images"] = str(counts[dataset]) if ran else DASH
        if not path.exists():
            record["evaluation file"] += " (missing)"
        records.append(record)
    return pd.DataFrame.from_records(records).set_index(["method", "model"])


# --- provenance ---------------------------------------------------------------------------------

#: Decimals of the numbers in the provenance tables (seconds, megabytes).
PROVENANCE_SPEC = ".1f"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return number(value, PROVENANCE_SPEC)
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a Markdown table (cells HTML-escaped); "_none found_" when it is empty."""
    if frame.empty:
        return "_none found_\n"
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = [
        "| " + " | ".join(html.escape(_cell(v)) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body]) + "\n"


def provenance_markdown(prov: dict[str, Any]) -> str:
    """The provenance section of a report (``provenance.gather``'s dict), as Markdown."""
    git = prov["git"]
    dirty = {True: " (with uncommitted changes)", False: "", None: ""}[git["dirty"]]
    hw = prov["hardware"]
    gpus = ", ".join(hw["gpus"]) or "none"
    profile = prov.get("profile_note")
    lines = [
        "## Provenance",
        "",
        *([f"- **Profile**: {profile}"] if profile else []),
        f"- **Git commit**: `{git['commit']}`{dirty}",
        f"- **Effective configuration hash**: `{prov['config_hash']}`",
        f"- **Report machine**: {hw['cpu']} ({hw['cpu_cores']} cores), "
        f"{hw['memory_gib']} GiB RAM, GPU: {gpus}; {hw['os']}",
        "- **Packages**: "
        + ", ".join(f"{name} {version}" for name, version in prov["packages"].items()),
        "",
        "**Deviations from the paper in force**" + (":" if prov["deviations"] else ": none"),
        "",
        *[f"- {d}" for d in prov["deviations"]],
        "",
        "**Choices for points the paper leaves open**:",
        "",
        *[f"- {c}" for c in prov["open_points"]],
        *[f"- {c}" for c in prov["protocol_choices"]],
        "",
        "**Training time per model** (Snakemake benchmark files):",
        "",
        markdown_table(prov["training_times"].drop(columns=["seconds"], errors="ignore")),
        "**Trained models** (metadata of `final.pt`; `same_config`: trained with this "
        "report's configuration):",
        "",
        markdown_table(prov["models"]),
        "**Data checksums** (sha256 of the sorted per-file checksums):",
        "",
        markdown_table(prov["data"]),
    ]
    return "\n".join(lines)


# --- the demo banner ------------------------------------------------------------------------------

DEMO_BANNER_STYLE = (
    "border: 3px solid #c62828; background: #fdecea; color: #8b1a1a; padding: 12px 16px; "
    "margin: 8px 0 16px 0; font-size: 1.1em; border-radius: 4px;"
)


def demo_banner_html(reasons: list[str] | tuple[str, ...]) -> str:
    """A visible warning that the numbers come from a tiny CPU run ('' when there is none)."""
    if not reasons:
        return ""
    items = "".join(f"<li>{html.escape(r)}</li>" for r in reasons)
    return (
        f'<div class="srgan-demo-banner" style="{DEMO_BANNER_STYLE}">'
        "<strong>DEMO OUTPUT: these numbers come from a tiny CPU run and are NOT comparable "
        "to the paper.</strong> They only show that the pipeline works end to end."
        f"<ul style='margin: 6px 0 0 0'>{items}</ul></div>"
    )


PROFILE_NOTE_STYLE = (
    "border: 2px solid #1565c0; background: #e3f2fd; color: #0d3c61; padding: 10px 14px; "
    "margin: 8px 0 16px 0; border-radius: 4px;"
)


def profile_note_html(note: str | None) -> str:
    """The note of a shortened but real run (``variants.profile_note``; '' when there is none)."""
    if not note:
        return ""
    return f'<div class="srgan-profile-note" style="{PROFILE_NOTE_STYLE}">{html.escape(note)}</div>'


# --- figures --------------------------------------------------------------------------------------


def html_image(path: Path, alt: str) -> str:
    """A saved PNG as an inline ``<img>`` (base64) with alternative text, for the reports."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
        'style="max-width: 100%; height: auto">'
    )


# --- index.html -----------------------------------------------------------------------------------

#: Table 2 rows shown on top of the index.
HEADLINE_METHODS = ("srresnet", "srgan")
#: Headline columns: (title, table column, format, text when missing); ours in bold.
HEADLINE_COLUMNS = (
    ("PSNR ours", "psnr_ours", PSNR_SPEC, NOT_RUN),
    ("PSNR paper", "psnr_paper", PSNR_SPEC, DASH),
    ("Δ PSNR", "psnr_delta", PSNR_DELTA_SPEC, DASH),
    ("SSIM ours", "ssim_ours", SSIM_SPEC, NOT_RUN),
    ("SSIM paper", "ssim_paper", SSIM_SPEC, DASH),
    ("Δ SSIM", "ssim_delta", SSIM_DELTA_SPEC, DASH),
    ("MOS (paper's)", "mos_paper", PSNR_SPEC, DASH),
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
                text = html.escape(number(row[column], spec, missing))
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
    demo_reasons: tuple[str, ...]
    profile_note: str | None
    table2: pd.DataFrame | None
    table2_path: str
    reports: tuple[ReportLink, ...]
    tables_dir: str
    tables: tuple[str, ...]
    figures: tuple[str, ...]


def _report_item(report: ReportLink) -> str:
    if report.page is None:
        return f"<li>{html.escape(report.title)}: <em>not built</em></li>"
    return (
        f"<li><a href='{report.page}'>{html.escape(report.title)}</a> "
        f"(<a href='{report.notebook}'>executed notebook</a>)</li>"
    )


def _figure_item(href: str) -> str:
    name = Path(href)
    return (
        f"<figure><a href='{href}'><img src='{href}' alt='{html.escape(name.stem)}'></a>"
        f"<figcaption>{html.escape(name.name)}</figcaption></figure>"
    )


def index_html(page: IndexPage) -> str:
    """The index: the demo banner, Table 2's headline rows, links to reports, tables, figures."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>SRGAN replication: results</title>",
        f"<style>{INDEX_STYLE}</style></head><body>",
        "<h1>SRGAN replication: results</h1>",
        f"<p class='note'>Replication of {html.escape(paper.CITATION)}. "
        f"Built {page.built:%Y-%m-%d %H:%M %Z}. "
        f"{html.escape(page.provenance_line)}</p>",
        demo_banner_html(page.demo_reasons),
        profile_note_html(page.profile_note),
        "<h2>Headline: Table 2, SRResNet and SRGAN (x4), ours against the paper</h2>",
        headline_html(page.table2),
        "<p class='note'>Ours: mean over the test set, from "
        f"<code>{html.escape(page.table2_path)}</code> (built from the evaluation JSON files"
        " named in its <code>source</code> column)."
        " SSIM is daala's variant, as in the paper. Δ = ours − paper. MOS values are the paper's:"
        " we ran no opinion test.</p>",
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
    parts.append("</div></body></html>\n")
    return "\n".join(parts)


def provenance_line(commit: str, config_hash: str, short: int) -> str:
    """The index's one line of provenance: the commit (``short`` characters) and config hash."""
    return f"Git commit {commit[:short]}, configuration hash {config_hash}."
