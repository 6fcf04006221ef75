# %% [markdown]
# # Figures
#
# A visual comparison like the paper's, the training curves, the per-image PSNR of every method
# and the depth study. Every figure is also saved as a PNG file beside this report.

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

from srgan import figures, paths, render, reports, tables

ctx = reports.context(
    results_dir, runs_dir, reports_dir, data_dir, profile, config_files, config_sets, params_file
)
display(HTML(ctx.banner()))

# %% [markdown]
# ## Visual comparison
#
# The same crop of each test image for bicubic, the five models of Table 1 and the HR original,
# with an enlarged inset (yellow square). The crop and the inset are chosen automatically where
# the HR image has the most detail. Titles give PSNR [dB] / SSIM (daala) of the whole image:
# SRGAN trades PSNR for sharper texture.

# %%
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
for dataset, stem in picks:
    fig = figures.comparison_figure(dataset, stem, ctx.images_dir, ctx.data_dir, per_image)
    path = figures.save(fig, ctx.figure(f"comparison_{dataset}_{stem}"), ctx.demo)
    display(HTML(render.html_image(path, f"Visual comparison on {dataset}/{stem}")))
    sr_images = paths.sr_image("<method>", dataset, stem, ctx.images_dir)
    display(Markdown(f"Saved as `{path}`; SR images from `{sr_images}`."))

# %% [markdown]
# ## Training curves
#
# Losses logged during training (per variant) and the Set5 PSNR evaluated during training.
# SRGAN variants start from the trained SRResNet-MSE generator; their iterations count from
# that start.

# %%
logs = figures.training_logs(ctx.runs_dir)
run = ctx.run_folder("<variant>")
if not logs:
    display(Markdown(f"_No DVCLive logs in `{run.dvclive}/`: no model trained yet._"))
curves = {
    "training_losses": figures.loss_figure(logs),
    "training_psnr": figures.psnr_curve_figure(logs),
}
for name, fig in curves.items():
    if fig is None:
        continue
    path = figures.save(fig, ctx.figure(name), ctx.demo)
    display(HTML(render.html_image(path, name.replace("_", " "))))
    display(Markdown(f"Saved as `{path}`; from `{run.metrics}/`."))

# %% [markdown]
# ## Per-image PSNR
#
# The spread behind each mean of Tables 1 and 2: one point per test image.

# %%
fig = figures.distribution_figure(per_image)
if fig is None:
    display(Markdown(f"_No evaluation files in `{ctx.evals_dir}`._"))
else:
    path = figures.save(fig, ctx.figure("psnr_distribution"), ctx.demo)
    display(HTML(render.html_image(path, "Per-image PSNR of each method")))
    scores = paths.eval_file("<method>", ctx.evals_dir)
    display(Markdown(f"Saved as `{path}`; scores from `{scores}`."))

# %% [markdown]
# ## Perception against distortion
#
# The paper's claim is perceptual: SRGAN loses PSNR against SRResNet but wins the mean opinion
# score (MOS). PSNR alone can show only the loss, so here each method and test set is a point
# at its PSNR (x) and a perceptual score of ours (y: LPIPS, then NIQE; the paper has neither),
# labelled with the paper's MOS where it has one.

# %%
evals = tables.load_evals(ctx.evals_dir)
points = tables.perception_points(
    tables.table1(evals, ctx.evals_dir, ctx.demo), tables.table2(evals, ctx.evals_dir, ctx.demo)
)
sources = paths.eval_file("<method>", ctx.evals_dir)
drawn = False
for score in tables.PERCEPTUAL_KEYS:
    fig = figures.perception_distortion_figure(points, score)
    if fig is None:
        continue
    drawn = True
    path = figures.save(fig, ctx.figure(f"perception_distortion_{score}"), ctx.demo)
    display(HTML(render.html_image(path, f"PSNR against {score} per method and test set")))
    display(Markdown(f"Saved as `{path}`; scores from `{sources}`."))
if not drawn:
    display(
        Markdown(
            f"_No perceptual scores in `{ctx.evals_dir}`: evaluate with "
            "`evaluate.perceptual.enabled: true`._"
        )
    )

# %%
correlation = tables.mos_correlation(points)
display(Markdown(render.CORRELATION_NOTE))
if correlation.empty:
    display(Markdown("_No test set has at least three of our methods with a paper MOS._"))
else:
    display(render.correlation_frame(correlation))

# %% [markdown]
# ## Network depth
#
# The paper's appendix: PSNR against the number of residual blocks B, with and without the
# long skip connection (the paper reports these only as a figure).

# %%
depth_set = ctx.config["workflow"]["depth"]["dataset"]
depth_files = paths.depth_eval_file(paths.depth_run_name("<B>", "<0|1>"), ctx.depth_dir)
fig = figures.depth_figure(tables.depth_table(ctx.depth_dir), depth_set)
if fig is None:
    display(
        Markdown(
            f"_The depth study has not been run: no `{depth_files}` with {depth_set} results. "
            "It is the workflow's `depth` target (not part of the default one): "
            "`snakemake depth`._"
        )
    )
else:
    path = figures.save(fig, ctx.figure("depth"), ctx.demo)
    display(HTML(render.html_image(path, f"{depth_set} PSNR against residual blocks")))
    display(Markdown(f"Saved as `{path}`; from `{depth_files}`."))

# %%
display(Markdown(render.provenance_markdown(ctx.provenance)))
