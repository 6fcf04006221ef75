"""Every report page's frame, and what a page shows beside its tables: HTML.

* every page's frame (:func:`page_html`): title, navigation bar (:func:`nav_html`), style,
  nothing fetched from the network; the MOS page until a study is analysed
  (:func:`mos_placeholder_html`); Markdown as HTML (:func:`markdown_html`);
* the banner of results that are not comparable with the paper's (:func:`banner_html`), the
  one warning every such page shows, naming why and each setting that departs from the paper,
  the stamp of their figures (:func:`stamp`), and the note of a shortened run
  (:func:`profile_note_html`);
* a saved figure inline, linked to its file (:func:`html_image`), its name and caption
  (:func:`figure_name`, :func:`figure_caption`), and a line of links (:func:`links_line`).

Tables and numbers are :mod:`srgan.report.table_display`'s. This module uses paths; it is
torch-free (nbconvert is imported where Markdown is converted).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from srgan.core import paths

# --- results not comparable with the paper's: the banner and the figures' stamp -------------------

#: The line a figure of a demo run, or of other results not comparable with the paper's, carries.
DEMO_STAMP = "DEMO: small CPU run, numbers NOT comparable to the paper"
NOT_COMPARABLE_STAMP = "NOT comparable to the paper's numbers (see the page's banner)"


def stamp(reasons: list[str] | tuple[str, ...], demo: bool) -> str | None:
    """The stamp of a figure: the demo's, another when there are ``reasons``, else None."""
    if not reasons:
        return None
    return DEMO_STAMP if demo else NOT_COMPARABLE_STAMP


DEMO_BANNER_STYLE = (
    "border: 3px solid #c62828; background: #fdecea; color: #8b1a1a; padding: 12px 16px; "
    "margin: 8px 0 16px 0; font-size: 1.1em; border-radius: 4px;"
)


#: The banner's headline: for the demo profile, and for any other results with reasons.
DEMO_HEADLINE = (
    "DEMO OUTPUT: these numbers come from a small CPU run and are NOT comparable to the paper."
    "</strong> They show the pipeline end to end, not a replication."
)
NOT_COMPARABLE_HEADLINE = "These numbers are NOT comparable to the paper's.</strong> Why:"


def banner_html(
    reasons: list[str] | tuple[str, ...],
    settings: list[str] | tuple[str, ...] = (),
    demo: bool = False,
) -> str:
    """A visible warning that the numbers are not comparable with the paper's, listing the
    ``reasons`` ('' when there are none), with ``settings``, the configuration's departures
    from the paper (``provenance.deviations``, derived from the configuration), counted and
    folded so that the warning does not fill the reader's first screen; headed as the demo's
    when ``demo``."""
    if not reasons:
        return ""
    items = "".join(f"<li>{html.escape(r)}</li>" for r in reasons)
    changed = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in settings)
    listed = (
        "<details style='margin: 8px 0 0 0'><summary>"
        f"{len(settings)} settings depart from the paper's (click to list them)</summary>"
        f"<ul class='srgan-demo-settings'>{changed}</ul></details>"
        if settings
        else ""
    )
    return (
        f'<div class="srgan-demo-banner" style="{DEMO_BANNER_STYLE}">'
        f"<strong>{DEMO_HEADLINE if demo else NOT_COMPARABLE_HEADLINE}"
        f"<ul style='margin: 6px 0 0 0'>{items}</ul>{listed}</div>"
    )


PROFILE_NOTE_STYLE = (
    "border: 2px solid #1565c0; background: #e3f2fd; color: #0d3c61; padding: 10px 14px; "
    "margin: 8px 0 16px 0; border-radius: 4px;"
)


def profile_note_html(note: str | None) -> str:
    """The note of a shortened but real run (``provenance.profile_note``; '' when there is none)."""
    if not note:
        return ""
    return f'<div class="srgan-profile-note" style="{PROFILE_NOTE_STYLE}">{html.escape(note)}</div>'


# --- figures --------------------------------------------------------------------------------------

#: Captions of the figures the reports save (``reports/figures/<name>.png``), by name; the
#: per-image figures are named ``<kind>_<dataset>_<stem>``.
FIGURE_CAPTIONS = {
    "training_losses": "Training losses of each model, weighted as they enter the loss",
    "training_psnr": "Test-set PSNR during training",
    "psnr_distribution": "Per-image PSNR of each method",
    "depth": "Depth study: PSNR against the number of residual blocks",
    "perception_distortion_lpips": "Perception against distortion: PSNR and LPIPS (AlexNet)",
    "perception_distortion_lpips_vgg": "Perception against distortion: PSNR and LPIPS (VGG16)",
    "perception_distortion_niqe": "Perception against distortion: PSNR and NIQE",
    "mos": "MOS per method with 95% intervals (our study)",
    "mos_histograms": "Histograms of the ratings (our study)",
}
PER_IMAGE_CAPTIONS = {
    "comparison": "Visual comparison",
    "evolution": "SRGAN during training",
}


def figure_name(kind: str, dataset: str, stem: str) -> str:
    """The name of a per-image figure (``kind`` one of ``PER_IMAGE_CAPTIONS``)."""
    return f"{kind}_{dataset}_{stem}"


def figure_caption(name: str) -> str:
    """What a saved figure shows, from its name (the name itself when it is not known)."""
    if name in FIGURE_CAPTIONS:
        return FIGURE_CAPTIONS[name]
    kind, _, image = name.partition("_")
    if kind in PER_IMAGE_CAPTIONS and image:
        dataset, _, stem = image.partition("_")
        return f"{PER_IMAGE_CAPTIONS[kind]}: {dataset}/{stem}"
    return name


def html_image(path: Path, alt: str, href: str | None = None) -> str:
    """A saved PNG as an inline ``<img>`` (base64) with alternative text, for the reports;
    with ``href`` (the file, relative to the page) a click opens it at full size."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    img = (
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
        'style="max-width: 100%; height: auto">'
    )
    if href is None:
        return img
    return f'<a href="{html.escape(href)}" title="open at full size">{img}</a>'


def links_line(title: str, links: dict[str, str]) -> str:
    """``title: a | b | c`` with each name linked (hrefs relative to the page), as HTML."""
    items = " | ".join(
        f'<a href="{html.escape(href)}">{html.escape(name)}</a>' for name, href in links.items()
    )
    return f"<p class='srgan-links'>{html.escape(title)}: {items}</p>"


# --- every page: title, navigation, style --------------------------------------------------------

#: The navigation bar: the index, each report page (``paths.REPORTS``) and the MOS study's
#: (``paths.MOS_REPORT``; until a study is analysed, a page saying how to run one), in reading
#: order; the provenance is the index's last section.
NAV_LABELS = {
    **dict(zip(paths.REPORTS, ("Table 1", "Table 2", "Figures"), strict=True)),
    paths.MOS_REPORT: "MOS study",
}
INDEX_LABEL = "Index"
PROVENANCE_LABEL, PROVENANCE_ANCHOR = "Provenance", "Provenance"
SITE_TITLE = "SRGAN replication"

PAGE_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 0 auto 3em auto;
       padding: 0 1em; color: #222; line-height: 1.4; }
nav.srgan-nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ccc;
       padding: 8px 0; margin-bottom: 1em; z-index: 10; }
nav.srgan-nav a { margin-right: 1.2em; text-decoration: none; color: #0645ad; }
nav.srgan-nav a[aria-current] { font-weight: bold; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 0.92em; }
.jp-OutputArea-output, .jp-RenderedHTMLCommon { overflow-x: auto; max-width: 100%; }
details { margin: 0.5em 0 1em 0; } details summary { cursor: pointer; color: #0645ad; }
th, td { border: 1px solid #ccc; padding: 3px 9px; text-align: right; }
th { background: #f0f0f0; }
td.text, th.text, tbody th, td:first-child { text-align: left; }
code { background: #f4f4f4; padding: 0 3px; }
img { max-width: 100%; height: auto; }
a.anchor-link { display: none; }
.figs { display: flex; flex-wrap: wrap; gap: 14px; }
.figs figure { margin: 0; width: 360px; } .figs img { width: 360px; border: 1px solid #ddd; }
.figs figcaption { font-size: 0.9em; }
.note { color: #555; font-size: 0.92em; }
.verdict-count { font-size: 1.25em; font-weight: bold; }
.not-replication { color: #c62828; font-weight: bold; }
"""


def nav_html(current: str) -> str:
    """The navigation bar; ``current`` (a report name or ``paths.INDEX``) is marked."""
    entries = [(paths.INDEX, INDEX_LABEL), *NAV_LABELS.items()]
    links = [
        f"<a href='{paths.report_page(name).name}'"
        + (" aria-current='page'" if name == current else "")
        + f">{html.escape(label)}</a>"
        for name, label in entries
    ]
    provenance = f"{paths.report_page(paths.INDEX).name}#{PROVENANCE_ANCHOR}"
    links.append(f"<a href='{provenance}'>{PROVENANCE_LABEL}</a>")
    return f"<nav class='srgan-nav'>{''.join(links)}</nav>"


def page_html(title: str, body: str, current: str) -> str:
    """A whole page: ``<title>``, the style, the navigation bar, then ``body``. Nothing is
    fetched from the network (no external script or stylesheet)."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)} – {SITE_TITLE}</title>"
        f"<style>{PAGE_STYLE}</style></head>\n<body>{nav_html(current)}\n{body}\n</body></html>\n"
    )


#: The MOS page until a study is analysed (``srgan mos analyse`` replaces it).
MOS_PLACEHOLDER = """\
<h1>MOS study</h1>
<p>No mean opinion score study has been analysed here yet. The paper's perceptual claim rests
on one (26 raters); ours needs people too:</p>
<ol>
<li><code>srgan mos create</code> builds a study from the evaluated images (blind ids, a seeded
order per rater, calibration and attention items);</li>
<li><code>srgan mos serve</code> serves the rating page to the raters;</li>
<li><code>srgan mos analyse</code> computes the MOS with their 95% intervals, the tests between
methods and the rater screening, writes this page and updates the index.</li>
</ol>
<p class='note'>The paper's MOS are on the Table 1 and 2 pages.</p>"""


def mos_placeholder_html() -> str:
    """The MOS page before any study: what it will hold and how to get there."""
    return page_html("MOS study (not run)", MOS_PLACEHOLDER, paths.MOS_REPORT)


def markdown_html(text: str) -> str:
    """Markdown as HTML, with the converter of the notebook pages (nbconvert's)."""
    from nbconvert.filters.markdown import markdown2html_mistune

    return markdown2html_mistune(text)
