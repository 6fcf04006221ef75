"""Write the report notebooks (table1, table2, figures) as .ipynb files.

The notebooks are thin: their code calls srgan.reports / srgan.tables / srgan.figures /
srgan.provenance. Edit this script, not the .ipynb files, then run it from the project root:

    .venv/bin/python notebooks/generate.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from srgan.figures import DEFAULT_PICKS

HERE = Path(__file__).resolve().parent

PARAMETERS = """\
# Parameters: papermill replaces them (`-p name value`). Paths are relative to the project root.
results_dir = "results"  # eval/, images/, benchmarks/, depth/ of the workflow
runs_dir = "runs"  # <variant>/final.pt and <variant>/dvclive/ training logs
reports_dir = "reports"  # where figures go (<reports_dir>/figures/*.png)
data_dir = ""  # HR test images in <data_dir>/<dataset>/; empty: from the configuration
profile = ""  # a profile name: lays config/<profile>.yaml over params.yaml (e.g. "demo")
config_files = []  # further YAML files laid over params.yaml, in order
config_sets = []  # dotted overrides, as in srgan train --set
params_file = "params.yaml"  # the base configuration"""

SETUP = """\
%matplotlib inline
from IPython.display import HTML, Markdown, display

from srgan import {modules}

ctx = reports.context(
    results_dir, runs_dir, reports_dir, data_dir, profile, config_files, config_sets, params_file
)
display(HTML(ctx.banner()))"""

PROVENANCE = "display(Markdown(provenance.to_markdown(ctx.provenance)))"

TABLE_INTRO = """\
How to read the tables: **paper** is the published number, **ours** our mean over the test
set, **Δ = ours − paper** (green: at least the paper's; red: below it). PSNR [dB] and SSIM are
computed on the luma (Y) channel after removing a 4-pixel border, as in the paper. **SSIM** is
the paper's variant (the daala package's, whose Gaussian window grows with the image); our
**SSIM (Wang)** is the common Wang et al. SSIM, which the paper did not report. **MOS** is the
paper's mean opinion score: we ran no opinion test, so there is no number of ours. A number we
do not have yet shows as *not run*. A test set outside the paper's table (BSD100 in Table 1,
the offline demo's bundled photographs) shows our numbers with no paper value (–). The same
numbers are in `results/tables/*.csv` (and `*.json`, the DVC metrics)."""


def table_notebook(number: int) -> nbformat.NotebookNode:
    if number == 1:
        title = (
            "# Table 1: the content-loss study (x4)\n\n"
            "The five models of the paper's Table 1, SRResNet and SRGAN each trained with "
            "different content losses (MSE, VGG22 = relu2_2 features, VGG54 = relu5_4 "
            "features), on Set5 and Set14."
        )
        build = "table = tables.table1(tables.load_evals(ctx.evals_dir), ctx.evals_dir, ctx.demo)"
    else:
        title = (
            "# Table 2: comparison with the state of the art (x4)\n\n"
            "NN, bicubic, SRResNet (= SRResNet-MSE) and SRGAN (= SRGAN-VGG54) are ours, "
            "beside the paper's numbers. **SRCNN, SelfExSR, DRCN and ESPCN are quoted from the "
            "paper** (grey italics): the paper scored the other authors' published outputs, "
            "which we do not rerun. HR is the original image (PSNR infinite, SSIM 1)."
        )
        build = "table = tables.table2(tables.load_evals(ctx.evals_dir), ctx.evals_dir, ctx.demo)"
    show = f"""\
{build}
for dataset in table["dataset"].unique():
    display(Markdown(f"### {{dataset}}"))
    display(tables.style_frame(tables.display_frame(table, dataset)))"""
    sources = """\
display(Markdown("**Where our numbers come from** (one `srgan evaluate` JSON file per model):"))
display(tables.sources_frame(table, ctx.evals_dir))"""
    cells = [
        new_markdown_cell(title),
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(SETUP.format(modules="paper, provenance, reports, tables")),
        new_markdown_cell(TABLE_INTRO),
        new_code_cell(show),
        new_code_cell(sources),
        new_code_cell(PROVENANCE),
    ]
    return _notebook(cells)


FIGURE_PARAMETERS = (
    PARAMETERS + f"\ncomparison_images = {list(DEFAULT_PICKS)!r}  # <dataset>/<stem>, in order"
)

COMPARISON = """\
images_dir = ctx.results_dir / "images"
per_image = tables.per_image_scores(ctx.evals_dir)
picks = figures.resolve_picks(comparison_images, images_dir, ctx.data_dir)
if not picks:
    display(Markdown(
        f"_No super-resolved images in `{images_dir}` with HR images in `{ctx.data_dir}`: "
        "run `srgan evaluate ... --save-images` first._"
    ))
for dataset, stem in picks:
    fig = figures.comparison_figure(dataset, stem, images_dir, ctx.data_dir, per_image)
    path = figures.save(fig, ctx.figures_dir / f"comparison_{dataset}_{stem}.png", ctx.demo)
    display(HTML(figures.html_image(path, f"Visual comparison on {dataset}/{stem}")))
    display(Markdown(
        f"Saved as `{path}`; SR images from `{images_dir}/<method>/{dataset}/{stem}.png`."
    ))"""

CURVES = """\
logs = figures.training_logs(ctx.runs_dir)
logs_dir = f"{ctx.runs_dir}/<variant>/dvclive"
if not logs:
    display(Markdown(f"_No DVCLive logs in `{logs_dir}/`: no model trained yet._"))
curves = {
    "training_losses": figures.loss_figure(logs),
    "training_psnr": figures.psnr_curve_figure(logs),
}
for name, fig in curves.items():
    if fig is None:
        continue
    path = figures.save(fig, ctx.figures_dir / f"{name}.png", ctx.demo)
    display(HTML(figures.html_image(path, name.replace("_", " "))))
    display(Markdown(f"Saved as `{path}`; from `{logs_dir}/plots/metrics/`."))"""

DISTRIBUTION = """\
fig = figures.distribution_figure(per_image)
if fig is None:
    display(Markdown(f"_No evaluation files in `{ctx.evals_dir}`._"))
else:
    path = figures.save(fig, ctx.figures_dir / "psnr_distribution.png", ctx.demo)
    display(HTML(figures.html_image(path, "Per-image PSNR of each method")))
    display(Markdown(f"Saved as `{path}`; scores from `{ctx.evals_dir}/<method>.json`."))"""

DEPTH = """\
depth_dir = ctx.results_dir / "depth"
depth_set = ctx.config["workflow"]["depth"]["dataset"]
fig = figures.depth_figure(tables.depth_table(depth_dir), depth_set)
if fig is None:
    display(Markdown(
        f"_The depth study has not been run: no `{depth_dir}/b<B>_skip<0|1>.json` with "
        f"{depth_set} results. It is the workflow's `depth` target (not part of the default "
        "one): `snakemake depth`._"
    ))
else:
    path = figures.save(fig, ctx.figures_dir / "depth.png", ctx.demo)
    display(HTML(figures.html_image(path, f"{depth_set} PSNR against residual blocks")))
    display(Markdown(f"Saved as `{path}`; from `{depth_dir}/b<B>_skip<0|1>.json`."))"""


def figures_notebook() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Figures\n\n"
            "A visual comparison like the paper's, the training curves, the per-image PSNR of "
            "every method and the depth study. Every figure is also saved as a PNG file beside "
            "this report."
        ),
        new_code_cell(FIGURE_PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(SETUP.format(modules="figures, provenance, reports, tables")),
        new_markdown_cell(
            "## Visual comparison\n\n"
            "The same crop of each test image for bicubic, the five models of Table 1 and the "
            "HR original, with an enlarged inset (yellow square). The crop and the inset are "
            "chosen automatically where the HR image has the most detail. Titles give PSNR "
            "[dB] / SSIM (daala) of the whole image: SRGAN trades PSNR for sharper texture."
        ),
        new_code_cell(COMPARISON),
        new_markdown_cell(
            "## Training curves\n\n"
            "Losses logged during training (per variant) and the Set5 PSNR evaluated during "
            "training. SRGAN variants start from the trained SRResNet-MSE generator; their "
            "iterations count from that start."
        ),
        new_code_cell(CURVES),
        new_markdown_cell(
            "## Per-image PSNR\n\n"
            "The spread behind each mean of Tables 1 and 2: one point per test image."
        ),
        new_code_cell(DISTRIBUTION),
        new_markdown_cell(
            "## Network depth\n\n"
            "The paper's appendix: PSNR against the number of residual blocks B, with and "
            "without the long skip connection (the paper reports these only as a figure)."
        ),
        new_code_cell(DEPTH),
        new_code_cell(PROVENANCE),
    ]
    return _notebook(cells)


def _notebook(cells: list) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    return nb


def main() -> None:
    for name, nb in (
        ("table1", table_notebook(1)),
        ("table2", table_notebook(2)),
        ("figures", figures_notebook()),
    ):
        # Stable cell ids keep the files' diffs small when the generator is rerun.
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{name}-{i:02d}"
        nbformat.validate(nb)
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print(f"wrote {HERE / f'{name}.ipynb'}")


if __name__ == "__main__":
    main()
