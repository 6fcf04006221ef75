"""DVC's views, readable and offline.

``format_metrics``: a metrics file of Tables 1 and 2 (``srgan.report.tables.metrics``) as one
table a person reads in a terminal (``srgan metrics``), where ``dvc metrics show`` prints one
row of every score.

The page ``dvc plots show`` fills, with its chart library inlined so that it renders offline.

DVC's default page loads Vega, Vega-Lite and vega-embed from a CDN, so without a network
``dvc_plots/index.html`` stays blank. DVC takes another page (``.dvc/config``: ``plots
.html_template``, or ``--html-template``) holding ``{plot_divs}``, where it puts one
``<div>`` per plot, each calling ``vegaEmbed``. This page defines ``vegaEmbed`` itself: it
inlines the UMD builds of the three libraries that the installed Snakemake ships for its own
reports (``snakemake.assets``: Vega 5, Vega-Lite 5, vega-embed 6, the major versions DVC's
templates are written for), checked against the sha256 sums Snakemake records for them. The
page is generated (``srgan plots-page``, run by ``make setup``), not versioned: about 2 MB of
third-party JavaScript, each library's licence named in the page.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from srgan.core.errors import UserError
from srgan.report.tables import COLOUR_KEY, JSON_DECIMALS

#: The libraries DVC's vega plots need, in load order (paths in Snakemake's assets).
VEGA_LIBRARIES = ("vega/vega.js", "vega-lite/vega-lite.js", "vega-embed/vega-embed.js")
#: Where DVC puts the plots (dvc_render.html.HTML.PLOTS_PLACEHOLDER).
PLOTS_PLACEHOLDER = "{plot_divs}"
#: The page has no ``{scripts}`` placeholder, where DVC's own page gets its CDN scripts.
PAGE_TITLE = "srgan-repro: DVC plots (training curves)"
PAGE_STYLE = (
    "body{font-family:sans-serif;margin:1em 2em}"
    "body>div{display:inline-block;vertical-align:top;margin:0 1em 1em 0}"
)


def library_source(asset: str) -> tuple[str, str]:
    """One library's JavaScript and version from Snakemake's assets, its sha256 checked."""
    from snakemake.assets import Assets

    path = Path(str(Assets.base_path())) / asset
    if not path.is_file():
        raise UserError(f"{path} is missing: the installed snakemake lacks its bundled {asset}")
    data = path.read_bytes()
    expected = Assets.spec[asset].sha256
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise UserError(f"{path} does not match the sha256 snakemake records for {asset}")
    return data.decode("utf-8"), Assets.get_version(asset) or "?"


def plots_page() -> str:
    """The whole page: the three libraries inlined, then DVC's placeholder."""
    scripts = []
    for asset in VEGA_LIBRARIES:
        source, version = library_source(asset)
        if "</script" in source.lower():
            raise UserError(f"{asset} holds '</script': it cannot be inlined")
        name = asset.split("/")[0]
        note = f"{name} {version}, from snakemake.assets (licence: {name}/LICENSE there)"
        scripts.append(f"<script>/* {note} */\n{source}\n</script>")
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{PAGE_TITLE}</title>\n<style>{PAGE_STYLE}</style>\n"
        + "\n".join(scripts)
        + f"\n</head>\n<body>\n{PLOTS_PLACEHOLDER}\n</body>\n</html>\n"
    )


def write_plots_page(path: Path) -> Path:
    """Write :func:`plots_page` to ``path`` (atomically)."""
    from srgan.core.fileio import write_text_atomic

    write_text_atomic(Path(path), plots_page())
    return Path(path)


# --- the metrics, one table each -------------------------------------------------------------

#: Column headers of :func:`metrics_frame`, per score key (JSON_DECIMALS' order).
METRIC_HEADERS = {
    "psnr": "PSNR",
    "ssim": "SSIM",
    COLOUR_KEY: "CIEDE2000",
    "lpips": "LPIPS",
    "lpips_vgg": "LPIPS-VGG",
    "niqe": "NIQE",
}


def metrics_frame(data: dict[str, Any]) -> pd.DataFrame:
    """A metrics file's content (:func:`metrics`) as a table a person reads: one row per set
    and method, in the file's order, one column per score it holds (METRIC_HEADERS)."""
    rows = [
        {"set": dataset, "method": method, **scores}
        for dataset, methods in data.items()
        for method, scores in methods.items()
    ]
    present = [key for key in METRIC_HEADERS if any(key in row for row in rows)]
    frame = pd.DataFrame(rows, columns=["set", "method", *present])
    return frame.rename(columns=METRIC_HEADERS)


def format_metrics(name: str, data: dict[str, Any], source: str) -> str:
    """One table of :func:`metrics_frame` under a title naming it and where it came from."""
    title = f"{name} ({source})"
    frame = metrics_frame(data)
    if frame.empty:
        return f"{title}: no rows of ours"
    decimals = {
        METRIC_HEADERS[k]: d for k, d in JSON_DECIMALS.items() if METRIC_HEADERS[k] in frame
    }
    body = frame.to_string(
        index=False,
        na_rep="-",
        formatters={
            col: (lambda v, d=d: "-" if pd.isna(v) else f"{v:.{d}f}") for col, d in decimals.items()
        },
    )
    return f"{title}\n{body}"
