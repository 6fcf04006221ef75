"""Tables and numbers as a reader of the reports sees them (Markdown, HTML, styled frames).

``tables``, ``provenance``, ``figures`` and ``charts`` build data (DataFrames, dicts,
matplotlib figures); this module turns tables and numbers into text:

* a table's display (:func:`display_frame`, :func:`format_frame`, :func:`style_frame`): one
  test set laid out as in the paper, numbers formatted, deltas coloured by the tolerance of
  the verdict; how to read it (:func:`table_guide`, :func:`table_guide_html`); the test sets
  and methods not run (:func:`not_run_note`, :func:`not_run_sets_html`); where its numbers
  come from (:func:`sources_frame`); the rank correlation with the paper's MOS
  (:func:`correlation_frame`);
* any frame as a Markdown table (:func:`markdown_table`) and the provenance section
  (:func:`provenance_markdown`).

Numbers are formatted by :func:`number` only. Every page's frame, the banner, the figures'
stamp and captions are :mod:`srgan.report.page_frame`'s. This module uses paper, paths, tables (the
row statuses, the tolerances) and page_frame (Markdown to HTML); it is torch-free.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from srgan.core import paper, paths
from srgan.report import reproduced, tables
from srgan.report.page_frame import markdown_html
from srgan.report.tables import NOT_RUN, OURS, PERCEPTUAL_KEYS, QUOTED, REFERENCE

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
    "ciede2000_ours": "CIEDE2000 ours*",
    "lpips_ours": "LPIPS ours*",
    "lpips_vgg_ours": "LPIPS (VGG) ours*",
    "niqe_ours": "NIQE ours*",
    "mos_paper": "MOS (paper's)",
    "status": "status",
}
#: Display columns of the perceptual scores (ours only: the paper has none), left out of a
#: table whose rows have none of them.
PERCEPTUAL_COLUMNS = tuple(DISPLAY_COLUMNS[f"{key}_ours"] for key in PERCEPTUAL_KEYS)
#: Display columns of the paper's numbers and the differences to them, left out for a test
#: set the paper's table does not have (the offline demo's).
PAPER_COLUMNS = tuple(
    DISPLAY_COLUMNS[c]
    for c in ("psnr_paper", "psnr_delta", "ssim_paper", "ssim_delta", "mos_paper")
)
#: Decimals of each score, and of the differences (signed).
PSNR_SPEC, SSIM_SPEC = ".2f", ".4f"
PSNR_DELTA_SPEC, SSIM_DELTA_SPEC = "+.2f", "+.4f"
#: Text colours of the styled tables: within the verdict's tolerance, outside it.
MUTED_STYLE = "color: #777; font-style: italic"
WITHIN_STYLE = "color: #1a7f37"
OUTSIDE_STYLE = "color: #c62828"
#: The tolerance of each delta column (``reproduced.PSNR_TOLERANCE_DB``, ``SSIM_TOLERANCE``), by
#: the table's column name and by the displayed one.
TOLERANCES = {"psnr_delta": reproduced.PSNR_TOLERANCE_DB, "ssim_delta": reproduced.SSIM_TOLERANCE}
DELTA_TOLERANCES = {DISPLAY_COLUMNS[column]: tol for column, tol in TOLERANCES.items()}
#: The tolerance as the pages state it.
TOLERANCE_TEXT = (
    f"|Δ PSNR| ≤ {reproduced.PSNR_TOLERANCE_DB} dB and |Δ SSIM| ≤ {reproduced.SSIM_TOLERANCE}"
)
#: The test sets of each of the paper's tables.
TABLE_DATASETS = {tables.TABLE1: paper.TABLE1_DATASETS, tables.TABLE2: paper.TABLE2_DATASETS}


#: What the colour-fidelity score measures and why, as the tables and figures say it.
COLOUR_TEXT = (
    "**CIEDE2000** is the mean colour difference ΔE00 between the SR and HR images in CIELAB "
    "(sRGB, D65; the same 4-pixel border removed; about 1 is a just-noticeable difference, 0 "
    "identical; lower is better). PSNR and SSIM, on luma only, cannot see a hue drift: a model "
    "that turns a purple patch grey (as the demo's small models do to the astronaut's) can keep "
    'its PSNR, not its CIEDE2000. It is ours, not part of the paper\'s protocol; "–" where an '
    "evaluation was made before it existed."
)


def table_guide(name: str) -> str:
    """How to read Table 1 or 2 (``tables.TABLE1``/``TABLE2``), shown above it (Markdown)."""
    outside = [d for d in paper.TABLE2_DATASETS if d not in TABLE_DATASETS[name]]
    outside.append("the offline demo's bundled photographs")
    return f"""\
How to read the tables: **paper** is the published number, **ours** our mean over the test
set, **Δ = ours − paper**: green within the tolerance of the verdict ({TOLERANCE_TEXT}),
red outside it. PSNR [dB] and SSIM are computed on the luma (Y) channel after removing a
4-pixel border, as in the paper. **SSIM** is the paper's variant (the daala package's, whose
Gaussian window grows with the image); our **SSIM (Wang)** is the common Wang et al. SSIM,
which the paper did not report. **MOS** is the paper's mean opinion score (ours needs human
raters: a study built with `srgan mos`, reported in `reports/mos.html`). The test sets we have
numbers for come first; methods and test sets not run yet are named under them. A test
set outside the paper's table ({", ".join(outside)}) shows our numbers with no paper value
(–). Columns marked `*` are ours only, the paper has no such metric. {COLOUR_TEXT} **LPIPS**
(AlexNet, and VGG16) of the RGB image against HR, and **NIQE** of the SR image's luma, both
after the same border crop and lower-better (the paper's perceptual evidence is its MOS). The
same numbers are in `{paths.TABLES_DIR.as_posix()}/{name}.csv` (and `.json`, the DVC metrics)."""


def table_guide_html(name: str) -> str:
    """The table guide as a page shows it above the tables: the colours in one line, the rest
    of :func:`table_guide` folded (so the tables come into view first)."""
    return (
        f"<p>Δ = ours − paper, <span style='{WITHIN_STYLE}'>green</span> within the verdict's "
        f"tolerance ({html.escape(TOLERANCE_TEXT)}), <span style='{OUTSIDE_STYLE}'>red</span> "
        "outside it; <code>*</code>: ours only, not in the paper.</p>"
        "<details><summary>How to read the tables: every column</summary>"
        f"{markdown_html(table_guide(name))}</details>"
    )


def method_label(row: dict[str, Any]) -> str:
    """A table row's method as the pages name it: Table 2's reproduced models with the variant
    standing for them (``"SRGAN (SRGAN-VGG54)"``)."""
    model = row["model"]
    if model and model != row["method"]:
        return f"{row['label']} ({paper.LABELS[model]})"
    return row["label"]


def display_frame(table: pd.DataFrame, dataset: str, ran_only: bool = False) -> pd.DataFrame:
    """One dataset's rows as the paper lays them out: a method per row, named by the paper.

    Quoted rows are labelled ``"SRCNN (quoted)"``; Table 2's reproduced models name the
    variant standing for them (``"SRGAN (SRGAN-VGG54)"``). With ``ran_only`` the methods we
    have not run are left out (:func:`not_run_note` names them).
    """
    rows = table[table["dataset"] == dataset]
    if ran_only:
        rows = rows[rows["status"] != NOT_RUN]
    labels = [
        f"{row['label']} (quoted)" if row["status"] == QUOTED else method_label(row)
        for row in rows.to_dict("records")
    ]
    frame = rows[list(DISPLAY_COLUMNS)].rename(columns=DISPLAY_COLUMNS)
    frame.index = pd.Index(labels)
    empty = [c for c in (*PERCEPTUAL_COLUMNS, *PAPER_COLUMNS) if frame[c].isna().all()]
    return frame.drop(columns=empty)


def format_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``display_frame`` as text: fixed decimals, "not run" where we have no number yet,
    "–" where there is none to have (quoted methods and HR have no number of ours)."""
    out = pd.DataFrame(index=frame.index, columns=frame.columns, dtype=object)
    for label, row in frame.iterrows():
        # A score an evaluation lacks (made before the score existed) is "–", not "not run".
        ours_missing = NOT_RUN if row["status"] == NOT_RUN else DASH
        for column in frame.columns:
            value = row[column]
            if column == "status":
                out.loc[label, column] = value
            elif column.startswith("Δ"):
                spec = PSNR_DELTA_SPEC if "PSNR" in column else SSIM_DELTA_SPEC
                out.loc[label, column] = number(value, spec)
            else:
                spec = SSIM_SPEC if "SSIM" in column or "LPIPS" in column else PSNR_SPEC
                missing = ours_missing if column.rstrip("*").endswith("ours") else DASH
                out.loc[label, column] = number(value, spec, missing)
    return out


def style_frame(frame: pd.DataFrame):
    """A pandas Styler of ``format_frame(frame)``: quoted/reference rows in grey italics,
    deltas green within the verdict's tolerance and red outside it (not by their sign: 0.01 dB
    below the paper is a match)."""

    def css(_: pd.DataFrame) -> pd.DataFrame:
        styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for label, row in frame.iterrows():
            if row["status"] in (QUOTED, REFERENCE):
                styles.loc[label, :] = MUTED_STYLE
            for column, tolerance in DELTA_TOLERANCES.items():
                if column in frame.columns:  # a set outside the paper has no differences
                    styles.loc[label, column] = delta_style(row[column], tolerance)
        return styles

    return format_frame(frame).style.apply(css, axis=None)


def datasets_run(table: pd.DataFrame) -> list[str]:
    """The test sets of ``table`` with at least one number of ours, in the table's order."""
    return list(dict.fromkeys(table.loc[table["status"] == OURS, "dataset"]))


def _labels(rows: pd.DataFrame) -> str:
    return ", ".join(method_label(row) for row in rows.to_dict("records"))


def not_run_note(table: pd.DataFrame, dataset: str) -> str:
    """One line under a test set's table naming the methods we have not run on it (Markdown;
    '' when every method ran)."""
    rows = table[(table["dataset"] == dataset) & (table["status"] == NOT_RUN)]
    if rows.empty:
        return ""
    return f"_Not run on {dataset} yet (no evaluation): {html.escape(_labels(rows))}._"


#: The paper's columns of a test set none of our models was evaluated on: (title, format).
#: MOS is the paper's with two decimals.
PAPER_ONLY_COLUMNS = {
    "psnr_paper": ("PSNR paper", PSNR_SPEC),
    "ssim_paper": ("SSIM paper", SSIM_SPEC),
    "mos_paper": ("MOS paper", ".2f"),
}


def not_run_sets_html(table: pd.DataFrame) -> str:
    """The test sets of ``table`` that none of our evaluations covers, said in one line, with
    the paper's numbers for them folded away (HTML; '' when every set has numbers of ours)."""
    ran = set(datasets_run(table))
    missing = [d for d in dict.fromkeys(table["dataset"]) if d not in ran]
    if not missing:
        return ""
    parts = []
    for dataset in missing:
        rows = table[table["dataset"] == dataset]
        text = pd.DataFrame(
            {title: [number(v, spec) for v in rows[key]] for key, (title, spec) in
             PAPER_ONLY_COLUMNS.items()},
            index=pd.Index([method_label(r) for r in rows.to_dict("records")]),
        )  # fmt: skip
        parts.append(f"<h4>{html.escape(dataset)}</h4>{text.to_html(border=0)}")
    names = ", ".join(missing)
    return (
        f"<p class='srgan-not-run'><b>Not run:</b> {html.escape(names)}: none of our models has "
        "been evaluated on these test sets yet (the workflow's <code>evaluate</code> rules "
        "write their results).</p>"
        f"<details><summary>The paper's numbers on {html.escape(names)}</summary>"
        f"{''.join(parts)}</details>"
    )


def delta_style(delta: float, tolerance: float) -> str:
    """The colour of a difference ours − paper: within the tolerance, outside it, or none."""
    if pd.isna(delta):
        return ""
    return WITHIN_STYLE if reproduced.within_tolerance(delta, tolerance) else OUTSIDE_STYLE


def sources_frame(table: pd.DataFrame, evals_dir: Path) -> pd.DataFrame:
    """One row per model of ``table``: its evaluation file and how many images each test set
    contributed ("–" where the file has no entry for that set, "missing" where there is no
    file). Where the "ours" numbers of a table come from, at a glance (one header row:
    :func:`markdown_table` shows it)."""
    rows = table[table["model"] != ""]
    datasets = list(dict.fromkeys(rows["dataset"]))
    records = []
    for (label, model), group in rows.groupby(["label", "model"], sort=False):
        path = paths.eval_file(model, evals_dir)
        counts = dict(zip(group["dataset"], group["n_images"], strict=True))
        statuses = dict(zip(group["dataset"], group["status"], strict=True))
        record = {"method": label, "model": model, "evaluation file": str(path)}
        for dataset in datasets:
            ran = statuses.get(dataset) == tables.OURS
            record[f"{dataset} images"] = str(counts[dataset]) if ran else DASH
        if not path.exists():
            record["evaluation file"] += " (missing)"
        records.append(record)
    return pd.DataFrame.from_records(records)


#: What the rank correlation with the paper's MOS means, shown beside it.
CORRELATION_NOTE = """\
**Rank correlation with the paper's MOS (a proxy, not an opinion test).** Spearman's ρ between
each of our scores and the paper's mean opinion score, over the methods of one test set that
have both. The MOS was rated on the paper's own outputs and ours come from our models, so this
asks only whether our scores *rank* the methods as the paper's raters did. LPIPS and NIQE are
lower-better, so agreement is a negative ρ (PSNR: positive). With 3 to 7 methods per set the
p-values are large; read ρ as a direction, not a test."""


def correlation_frame(correlation: pd.DataFrame) -> pd.DataFrame:
    """``perception.mos_correlation`` as text: ρ to two decimals, p to two significant digits."""
    return pd.DataFrame(
        {
            "test set": correlation["dataset"],
            "our score": correlation["score"],
            "methods": correlation["n_methods"],
            "Spearman ρ vs MOS": [number(v, "+.2f") for v in correlation["spearman_rho"]],
            "p": [number(v, ".2g") for v in correlation["p_value"]],
        }
    )


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


def _deviations_lines(prov: dict[str, Any]) -> list[str]:
    """The settings that depart from the paper: listed, or for results not comparable with
    the paper's (whose banner at the top of the page lists them, :func:`banner_html`) counted
    and pointed to, so a page says them once."""
    found = prov["deviations"]
    if not found:
        return ["**Deviations from the paper in force**: none"]
    if prov.get("reasons"):
        return [
            f"**Deviations from the paper in force**: {len(found)} settings, listed in the "
            "banner at the top of this page."
        ]
    return ["**Deviations from the paper in force**:", "", *[f"- {d}" for d in found]]


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
        *_deviations_lines(prov),
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
