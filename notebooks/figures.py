# %% [markdown]
# # Figures
#
# Visual comparisons like the paper's Figures 2 and 6, SRGAN during training (the paper's
# appendix), the training curves, the per-image PSNR of every method and, when it ran, the
# depth study. Every figure is saved as a PNG file beside this report: click one to open it at
# full size.

# %% tags=["parameters"]
# Parameters: papermill replaces them (`-p name value`). Paths are relative to the project root.
results_dir = "results"  # eval/, images/, timings/, depth/ of the workflow
runs_dir = "runs"  # <variant>/final.pt and <variant>/dvclive/ training logs
reports_dir = "reports"  # where figures go (<reports_dir>/figures/*.png)
data_dir = ""  # HR test images in <data_dir>/<dataset>/; empty: from the configuration
profile = ""  # a profile name: lays config/<profile>.yaml over params.yaml (e.g. "demo")
config_files = []  # further YAML files laid over params.yaml, in order
config_sets = []  # dotted overrides, as in srgan train --set
params_file = "params.yaml"  # the base configuration
comparison_images = []  # <dataset>/<stem>, in order; empty: figures.DEFAULT_PICKS

# %%
# %matplotlib inline
from IPython.display import HTML, Markdown, display

from srgan.core import paths, variants
from srgan.report import (
    charts,
    curves,
    figures,
    notebooks,
    page_frame,
    perception,
    table_display,
    tables,
)

ctx = notebooks.context(
    results_dir, runs_dir, reports_dir, data_dir, profile, config_files, config_sets, params_file
)
display(HTML(ctx.banner()))


def show_panels(name, crop, panels, heading, alt):
    """A per-image figure, inline and linked to its PNG, then links to its full-size crops."""
    display(HTML(ctx.show_figure(figures.panels_figure(panels, crop, heading), name, alt)))
    crops = figures.save_crops(panels, name, ctx.crops_dir)
    links = {title: ctx.href(path) for title, path in crops.items()}
    display(HTML(page_frame.links_line("Full-resolution crops", links)))


# %% [markdown]
# ## Visual comparison
#
# The same crop of each test image for the LR input (its pixels repeated 4 times), bicubic,
# the five models of Table 1 and the HR original; below each crop, two regions enlarged
# (yellow and cyan boxes), and below those the crop's colour error against HR: the CIEDE2000
# difference ΔE00 of each pixel, on one scale for every panel (dark: the colour of HR; bright:
# a different colour). The crop and the regions are chosen automatically where the HR image
# has the most detail. Titles give PSNR [dB] / SSIM (daala) / mean ΔE00 of the whole image;
# the line under each figure ranks the methods by these numbers. The links under it open
# every crop at full resolution.

# %%
display(Markdown(table_display.COLOUR_TEXT))
per_image = tables.per_image_scores(ctx.evals_dir)
wanted = comparison_images or figures.DEFAULT_PICKS
picks = figures.resolve_picks(wanted, ctx.images_dir, ctx.data_dir)
if not picks:
    display(
        Markdown(
            f"_No super-resolved images in `{ctx.images_dir}` with HR images in "
            f"`{ctx.data_dir}`: run `srgan evaluate ... --save-images` first._"
        )
    )
elif [f"{d}/{s}" for d, s in picks] != list(wanted):
    shown = ", ".join(f"`{d}/{s}`" for d, s in picks)
    display(
        Markdown(
            f"_Of the images asked for ({', '.join(wanted)}), these have results: {shown}. "
            "The paper's images are in Set14 and BSD100 (`make demo MIRROR=...` has them)._"
        )
    )
for dataset, stem in picks:
    name = page_frame.figure_name("comparison", dataset, stem)
    crop, panels = figures.comparison_panels(
        dataset, stem, ctx.images_dir, ctx.data_dir, per_image, ctx.scale
    )
    heading = figures.comparison_heading(dataset, stem, crop)
    show_panels(name, crop, panels, heading, f"Visual comparison on {dataset}/{stem}")
    if caption := figures.comparison_caption(per_image, dataset, stem):
        display(Markdown(caption))

# %% [markdown]
# ## SRGAN during training
#
# As in the paper's appendix: the same crop super-resolved by the SRGAN generator at several
# training steps (the snapshots of `train.snapshot_steps`), from the SRResNet-MSE generator it
# starts from to the final one.

# %%
variant = figures.EVOLUTION_VARIANT
run = ctx.run_folder(variant)
start = ctx.run_folder(variants.INIT).final
evolution = None
if picks:
    dataset, stem = picks[0]
    init = start if start.is_file() else None
    evolution = figures.evolution_panels(run, init, dataset, stem, ctx.data_dir, ctx.scale)
if evolution is None:
    display(
        Markdown(
            f"_No generator snapshots in `{run.snapshots}/` (or no test image): set "
            "`train.snapshot_steps` to steps the run passes._"
        )
    )
else:
    crop, panels = evolution
    name = page_frame.figure_name("evolution", dataset, stem)
    heading = figures.evolution_heading(variant, dataset, stem, crop)
    show_panels(name, crop, panels, heading, f"{variant} during training on {dataset}/{stem}")

# %% [markdown]
# ## Training curves
#
# Losses logged during training, each term multiplied by the weight it enters the loss with,
# and the PSNR on the test set scored during training, against the training step on a log
# scale. Each SRGAN variant starts from the trained SRResNet-MSE generator: its loss panel
# counts its own steps (the title gives the SRResNet-MSE step it starts from), and in the PSNR
# figure its curve starts where SRResNet-MSE ended. The step axis is the runs' own (linear for
# a short run, log for one spanning decades); grey vertical lines mark the paper's schedule
# (1e6 SRResNet steps, then 1e5 + 1e5 SRGAN steps) where it falls on that axis, and a note in
# a panel's corner says where it runs past it.

# %%
runs = curves.training_runs(ctx.config, ctx.runs_dir)
if not runs:
    display(
        Markdown(
            f"_No DVCLive logs in `{ctx.run_folder('<variant>').dvclive}/`: no model trained yet._"
        )
    )
bicubic = tables.load_evals(ctx.evals_dir, (variants.BICUBIC,)).get(variants.BICUBIC, {})
baselines = {ds: {f"bicubic ({e['psnr']:.2f} dB)": e["psnr"]} for ds, e in bicubic.items()}
curves = {
    "training_losses": curves.loss_figure(runs),
    "training_psnr": curves.psnr_curve_figure(runs, baselines),
}
for name, fig in curves.items():
    if fig is not None:
        display(HTML(ctx.show_figure(fig, name, page_frame.figure_caption(name))))
display(Markdown(f"From `{ctx.run_folder('<variant>').metrics}/`."))

# %% [markdown]
# ## Per-image PSNR
#
# The spread behind each mean of Tables 1 and 2: one point per test image.

# %%
fig = charts.distribution_figure(per_image)
if fig is None:
    display(Markdown(f"_No evaluation files in `{ctx.evals_dir}`._"))
else:
    display(HTML(ctx.show_figure(fig, "psnr_distribution", "Per-image PSNR of each method")))
    scores = paths.eval_file("<method>", ctx.evals_dir)
    display(Markdown(f"Scores from `{scores}`."))

# %% [markdown]
# ## Perception against distortion
#
# Each method and test set is a point at its PSNR (x) and a perceptual score of ours (y:
# LPIPS, then NIQE; the paper has neither); up and right are better. The legend names each
# method once, with the paper's mean opinion score (MOS) on each set where it has one. The
# paper reports SRGAN below SRResNet in PSNR and above it in MOS; the points show where our
# models fall, whatever that is.

# %%
evals = tables.load_evals(ctx.evals_dir)
points = perception.perception_points(
    tables.table1(evals, ctx.evals_dir, ctx.reasons),
    tables.table2(evals, ctx.evals_dir, ctx.reasons),
)
sources = paths.eval_file("<method>", ctx.evals_dir)
drawn = False
for score in tables.PERCEPTUAL_KEYS:
    fig = charts.perception_distortion_figure(points, score)
    if fig is None:
        continue
    drawn = True
    name, alt = f"perception_distortion_{score}", f"PSNR against {score} per method and test set"
    display(HTML(ctx.show_figure(fig, name, alt)))
    display(Markdown(f"Scores from `{sources}`."))
if not drawn:
    display(
        Markdown(
            f"_No perceptual scores in `{ctx.evals_dir}`: evaluate with "
            "`evaluate.perceptual.enabled: true`._"
        )
    )

# %%
correlation = perception.mos_correlation(points)
display(Markdown(table_display.CORRELATION_NOTE))
if correlation.empty:
    display(Markdown("_No test set has at least three of our methods with a paper MOS._"))
else:
    display(table_display.correlation_frame(correlation))

# %% [markdown]
# ## Network depth
#
# The paper's appendix: PSNR against the number of residual blocks B, with and without the
# long skip connection (the paper reports these only as a figure).

# %%
depth_set = ctx.config["workflow"]["depth"]["dataset"]
depth_files = paths.depth_eval_file(paths.depth_run_name("<B>", "<0|1>"), ctx.depth_dir)
fig = charts.depth_figure(tables.depth_table(ctx.depth_dir), depth_set)
if fig is None:
    display(
        Markdown(
            f"_The depth study has not been run: no `{depth_files}` with {depth_set} results. "
            "It is the workflow's `depth` target (not part of the default one): "
            "`snakemake depth`._"
        )
    )
else:
    display(HTML(ctx.show_figure(fig, "depth", f"{depth_set} PSNR against residual blocks")))
    display(Markdown(f"From `{depth_files}`."))

# %%
display(Markdown(table_display.provenance_markdown(ctx.provenance)))
