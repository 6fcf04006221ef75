# %% [markdown]
# # Table 1: the content-loss study (x4)
#
# The five models of the paper's Table 1, SRResNet and SRGAN each trained with different
# content losses (MSE, VGG22 = relu2_2 features, VGG54 = relu5_4 features), on Set5 and Set14.

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

# %%
# %matplotlib inline
from IPython.display import HTML, Markdown, display

from srgan.report import notebooks, table_display, tables

ctx = notebooks.context(
    results_dir, runs_dir, reports_dir, data_dir, profile, config_files, config_sets, params_file
)
display(HTML(ctx.banner()))

# %%
display(HTML(table_display.table_guide_html(tables.TABLE1)))
table = tables.table1(tables.load_evals(ctx.evals_dir), ctx.evals_dir, ctx.reasons)
for dataset in table_display.datasets_run(table):  # what we ran first, then what we did not
    display(Markdown(f"### {dataset}"))
    display(table_display.style_frame(table_display.display_frame(table, dataset, ran_only=True)))
    if note := table_display.not_run_note(table, dataset):
        display(Markdown(note))
if not_run := table_display.not_run_sets_html(table):
    display(HTML(not_run))

# %%
display(Markdown("**Where our numbers come from** (one `srgan evaluate` JSON file per model):"))
display(Markdown(table_display.markdown_table(table_display.sources_frame(table, ctx.evals_dir))))

# %%
display(Markdown(table_display.provenance_markdown(ctx.provenance)))
