"""Sphinx configuration of the documentation site (`make docs`, output in docs/_build/html).

Markdown sources (MyST-Parser), the furo theme, nothing fetched from the network. `make docs`
builds with warnings as errors (-W --keep-going -n): a broken link between pages, a heading
anchor that does not exist, a page missing from the table of contents or a reference to a
missing page fails the build.
"""

project = "srgan-repro"
author = "the srgan-repro contributors"
copyright = "the srgan-repro contributors"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Every heading down to level 3 gets an anchor, so `page.md#a-heading` links are checked.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "furo"
html_title = "srgan-repro"
html_static_path: list[str] = []
# Offline: no search index loaded from elsewhere, no copied sources.
html_copy_source = False
html_show_sourcelink = False
