# %% [markdown]
# # MOS study: mean opinion scores beside the paper's
#
# Raters scored each image from 1 (bad) to 5 (excellent) on the blind rating page of
# `srgan mos serve`, after calibration on NN (shown as 1) and HR (shown as 5) versions of other
# images, as in the paper (Section 3.4). `srgan mos analyse` exported the ratings and runs this
# report. The statistics are in `srgan.mos.analysis` and `srgan.mos.screening`, the charts in
# `srgan.mos.charts`.

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
ratings_file = ""  # the ratings (srgan mos analyse); empty: <results_dir>/mos/ratings.csv
study_dir = ""  # the study (its manifest.json); empty: <results_dir>/mos/study

# %%
# %matplotlib inline
import json
from pathlib import Path

import pandas as pd
from IPython.display import HTML, Markdown, display

from srgan.core import paths
from srgan.mos import analysis, charts, formatting, screening, store
from srgan.report import notebooks, table_display


def show(frame: pd.DataFrame, empty: str = "_Nothing to show._") -> None:
    """A table without its row numbers; ``empty`` (Markdown) instead of an empty table."""
    if frame.empty:
        display(Markdown(empty))
    else:
        display(frame.style.hide(axis="index"))


ctx = notebooks.context(
    results_dir, runs_dir, reports_dir, data_dir, profile, config_files, config_sets, params_file
)
display(HTML(ctx.banner()))
mos_dir = paths.rebased(paths.MOS_DIR, ctx.results_dir)
ratings_path = Path(ratings_file) if ratings_file else paths.mos_ratings_file(mos_dir)
study = paths.StudyFolder(Path(study_dir) if study_dir else paths.mos_study_dir(mos_dir))
if ratings_path.is_file():
    ratings = analysis.read_ratings(ratings_path)
else:
    ratings = pd.DataFrame(columns=analysis.REQUIRED_COLUMNS)
    display(Markdown(f"_No ratings file `{ratings_path}` yet: run `srgan mos analyse`._"))
tables = analysis.analyse(ratings)

# %% [markdown]
# ## The study
#
# Who rated what, and with which software. Scores of the calibration anchors are fixed (the
# rater presses the score shown); attention items are HR (expected 5) and NN (expected 1)
# versions of further images hidden among the test images.

# %%
kinds = ratings.groupby("kind")["score"].size().reindex(list(store.KINDS), fill_value=0)
per_rater = ratings[ratings["kind"] == store.TEST].groupby("rater").size()
lines = [
    f"- **Ratings file**: `{ratings_path}`: {len(ratings)} ratings by "
    f"{ratings['rater'].nunique()} raters ({', '.join(f'{k}: {n}' for k, n in kinds.items())})",
    f"- **Test ratings per rater**: {per_rater.min() if len(per_rater) else 0} to "
    f"{per_rater.max() if len(per_rater) else 0}",
]
if study.manifest.is_file():
    manifest = json.loads(study.manifest.read_text())
    settings, software = manifest["settings"], manifest["software"]
    lines += [
        f"- **Study**: `{study.root}`, built {manifest['created']}; "
        f"{len(manifest['raters'])} rater codes, {settings['positions']} positions each "
        f"({settings['calibration_positions']} calibration); blocks of {settings['block_size']}",
        f"- **Test sets**: {', '.join(settings['datasets'])}; **methods**: "
        + ", ".join(analysis.label(m) for m in settings["methods"]),
        f"- **Calibration and attention images** from `{settings['calibration_dir']}`",
        f"- **Seeds**: rater r's order is drawn with `numpy.random.default_rng([{settings['seed']},"
        " r])`",
        f"- **Software**: srgan-repro {software['srgan-repro']}, git "
        f"`{software['git']['commit']}`, Python {software['python']}",
    ]
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## The headline: how much of the gap to HR SRGAN closes
#
# The paper's claim in one number per test set: the share of the MOS gap between SRResNet and
# HR that SRGAN closes, (SRGAN − SRResNet) / (HR − SRResNet) (the paper: more than half), over
# the raters who rated all three, with a 95% bootstrap interval over those raters.

# %%
closure = analysis.gap_closure(ratings)
raters = int(ratings["rater"].nunique())
if closure.empty:
    display(Markdown("_Not computed: the study does not rate SRResNet, SRGAN and HR on one set._"))
elif closure["ours"].isna().all():
    display(
        Markdown(
            f"_Not computed: the headline needs at least {analysis.MIN_HEADLINE_RATERS} raters "
            f"(`analysis.MIN_HEADLINE_RATERS`); this study has {raters}. With fewer, one "
            "rater's use of the scale moves the ratio by tens of percent. The MOS below, with "
            "their intervals, are all this study can say._"
        )
    )
else:
    show(
        pd.DataFrame(
            {
                "test set": closure["dataset"],
                "raters": closure["n_raters"],
                "ours [95% CI]": [
                    formatting.share_interval(*r)
                    for r in closure[["ours", "ci_low", "ci_high"]].to_numpy()
                ],
                "paper": [formatting.number(v, ".0%") for v in closure["paper"]],
            }
        )
    )

# %% [markdown]
# ## The paper's MOS tables, ours beside them
#
# Table 2's layout (SRResNet is our SRResNet-MSE, SRGAN our SRGAN-VGG54) and Table 1's (the
# five variants). Ours: the mean over raters of each rater's mean score, with a 95% Student-t
# interval over the raters (a single rater's MOS has none, and says so). Δ = ours − paper. A
# test set outside the paper's table shows ours only.

# %%
in_paper = formatting.paper_sets(tables["paper"])
for table in (analysis.TABLE2, analysis.TABLE1):
    if (in_paper["table"] == table).any():
        display(Markdown(f"### {table}"))
        display(formatting.mos_paper_layout(in_paper, table))
outside = [
    d for d in dict.fromkeys(tables["paper"]["dataset"]) if d not in set(in_paper["dataset"])
]
if outside:
    display(
        Markdown(
            f"_{', '.join(outside)}: not in the paper's MOS tables, so nothing to set beside "
            "ours; our MOS are in the next section._"
        )
    )

# %% [markdown]
# ## MOS per method and test set
#
# All raters, each MOS with its 95% interval over the raters; the spread is the standard
# deviation of the raters' means.

# %%
show(formatting.mos_frame(tables["mos"]), "_No test ratings yet._")
fig = charts.mos_figure(tables["mos"])
if fig is not None:
    display(HTML(ctx.show_figure(fig, "mos", "MOS per method with 95% intervals")))

# %% [markdown]
# ## Which differences are significant
#
# Paired two-sided Wilcoxon signed-rank tests between every pair of methods of a test set.
# **Pairing unit: the rater**: each rater's mean over the images of the set for one method,
# paired with the same rater's mean for the other. Raters are the independent units (a rater's
# ratings share that rater's bias and use of the scale); pairing single ratings would treat
# them as independent and overstate the evidence. Holm's correction over the pairs of a set;
# *significant*: Holm-adjusted p < 0.05. Below: the same tests per image (the mean over raters
# of each image), a sensitivity analysis. A test with fewer pairs than the exact test needs to
# reach p < 0.05 at all is not shown (with 5 pairs its smallest p is 2 / 2⁵ = 0.0625).

# %%
FEWEST = analysis.smallest_exact_n(analysis.ALPHA)


def show_tests(tests: pd.DataFrame, unit: str) -> None:
    """The tests with enough pairs to reach ALPHA; a sentence for those without."""
    able = tests[tests["n"] >= FEWEST]
    if len(able) < len(tests):
        most = int(tests["n"].max()) if len(tests) else 0
        display(
            Markdown(
                f"_{len(tests) - len(able)} of {len(tests)} pairs have fewer than {FEWEST} "
                f"{unit}s (here at most {most}): no two-sided signed-rank test on them can "
                f"reach p < {analysis.ALPHA}, so they are not shown._"
            )
        )
    if len(able):
        show(formatting.pairs_frame(able))


show_tests(tables["wilcoxon"], "rater")
display(Markdown("**Per image** (sensitivity):"))
show_tests(tables["wilcoxon_per_image"], "image")

# %% [markdown]
# ## Rater screening: a sensitivity analysis
#
# Nobody is removed from the results above. Each screen flags raters: **attention** (more than
# 20% of the hidden HR/NN items answered more than one point off), **straight_lining** (one
# score for at least 80% of the test ratings), **panel** (Pearson's r with the other raters'
# mean on the same stimuli below 0.7), **bt500** (ITU-R BT.500's observer rejection). Below the
# screening: the MOS and the tests without the flagged raters.

# %%
show(formatting.screening_frame(tables["screening"]), "_No raters yet._")
flagged = tables["screening"].loc[tables["screening"]["flagged"], "rater"].tolist()
display(Markdown(f"Flagged: {', '.join(flagged) or 'nobody'}."))
if flagged:
    both = tables["mos"].merge(
        tables["mos_screened"],
        on=["dataset", "method", "label"],
        how="left",
        suffixes=("", "_kept"),
    )
    side_by_side = pd.DataFrame(
        {
            "test set": both["dataset"],
            "method": both["label"],
            "MOS, all raters": [
                formatting.mos_interval(*r) for r in both[["mos", "ci_low", "ci_high"]].to_numpy()
            ],
            "MOS, without flagged": [
                formatting.mos_interval(*r)
                for r in both[["mos_kept", "ci_low_kept", "ci_high_kept"]].to_numpy()
            ],
            "raters kept": [formatting.number(v, ".0f", "0") for v in both["n_raters_kept"]],
        }
    )
    show(side_by_side)
    display(Markdown("**Wilcoxon tests without the flagged raters**:"))
    show_tests(tables["wilcoxon_screened"], "rater")
else:
    display(Markdown("_Nobody is flagged: the results without flagged raters are those above._"))
display(
    Markdown(
        f"Thresholds: `screening.ATTENTION_MAX_FAILED_SHARE` = "
        f"{screening.ATTENTION_MAX_FAILED_SHARE}, `STRAIGHT_LINE_SHARE` = "
        f"{screening.STRAIGHT_LINE_SHARE}, `MIN_PANEL_CORRELATION` = "
        f"{screening.MIN_PANEL_CORRELATION}."
    )
)

# %% [markdown]
# ## The ratings given
#
# The share of each score per method and test set (test images only).

# %%
fig = charts.histogram_figure(ratings)
if fig is not None:
    display(HTML(ctx.show_figure(fig, "mos_histograms", "Histograms of the ratings")))

# %% [markdown]
# ## How many raters the observed effects need
#
# For each pair: p′, the estimated probability that two raters' differences add up to a
# positive number (0.5: no effect), and the raters a two-sided Wilcoxon signed-rank test needs
# for 80% power by Noether's formula, at α = 0.05 and at Holm's strictest level α / m (m pairs
# in the set). Never fewer than the exact test needs to reach α at all. The paper had 26 raters.

# %%
if raters < 2:
    display(
        Markdown(
            f"_Not computed: an effect size needs the differences of at least two raters; this "
            f"study has {raters}._"
        )
    )
else:
    show(formatting.power_frame(tables["power"]))

# %%
display(Markdown(table_display.provenance_markdown(ctx.provenance)))
