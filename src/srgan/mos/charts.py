"""The two charts of a MOS study (``notebooks/mos.py``): the ratings given, as histograms per
data set and method, and each MOS with its interval beside the paper's.

They draw the tables ``srgan.mos.analysis`` computes; matplotlib's object API (no pyplot
state), torch-free like the rest of the report layer.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from srgan.mos import store
from srgan.mos.analysis import (
    DATASET_ORDER,
    METHOD_ORDER,
    label,
    ordered,
    paper_table_value,
    test_ratings,
)

#: Inches per panel of the histograms; resolution is the figure module's when saved.
PANEL_WIDTH, PANEL_HEIGHT = 1.7, 1.5
BAR_COLOR, PAPER_COLOR = "#1f4e79", "#c62828"


def histogram_figure(ratings: pd.DataFrame) -> Figure | None:
    """The share of each score 1-5, per data set (rows) and method (columns)."""
    tests = test_ratings(ratings)
    if tests.empty:
        return None
    datasets = ordered(tests["dataset"], DATASET_ORDER)
    methods = ordered(tests["method"], METHOD_ORDER)
    fig = Figure(figsize=(PANEL_WIDTH * len(methods), PANEL_HEIGHT * len(datasets) + 0.6))
    axes = fig.subplots(len(datasets), len(methods), squeeze=False, sharex=True, sharey=True)
    scores = list(store.SCORE_LABELS)
    for row, dataset in enumerate(datasets):
        for col, method in enumerate(methods):
            ax = axes[row, col]
            given = tests[(tests["dataset"] == dataset) & (tests["method"] == method)]["score"]
            shares = given.value_counts(normalize=True).reindex(scores, fill_value=0.0)
            ax.bar(scores, shares.to_numpy(), color=BAR_COLOR, width=0.8)
            mean = f"MOS {given.mean():.2f}" if len(given) else "no ratings"
            ax.set_title(f"{label(method)}\n{mean}, n={len(given)}", fontsize=8)
            ax.set_xticks(scores)
            ax.tick_params(labelsize=7)
            if col == 0:
                ax.set_ylabel(f"{dataset}\nshare", fontsize=8)
    fig.suptitle("Ratings given (1 bad ... 5 excellent)", fontsize=10)
    fig.tight_layout()
    return fig


def mos_figure(mos: pd.DataFrame) -> Figure | None:
    """MOS with 95% intervals per method, one panel per data set (hollow: a MOS without an
    interval, from one rater); red crosses: the paper's."""
    if mos.empty:
        return None
    datasets = ordered(mos["dataset"], DATASET_ORDER)
    fig = Figure(figsize=(max(5.0, 0.9 * mos["method"].nunique() + 2), 2.8 * len(datasets)))
    axes = fig.subplots(len(datasets), 1, squeeze=False)[:, 0]
    for ax, dataset in zip(axes, datasets, strict=True):
        rows = mos[mos["dataset"] == dataset].reset_index(drop=True)
        x = np.arange(len(rows))
        known = rows["ci_low"].notna().to_numpy()
        if known.any():
            ax.errorbar(
                x[known],
                rows["mos"][known],
                yerr=[
                    (rows["mos"] - rows["ci_low"])[known].to_numpy(),
                    (rows["ci_high"] - rows["mos"])[known].to_numpy(),
                ],
                fmt="o",
                color=BAR_COLOR,
                capsize=4,
                label="ours (95% CI)",
            )
        if not known.all():  # a single rater: no interval, drawn hollow so it does not look sure
            ax.plot(
                x[~known],
                rows["mos"][~known],
                "o",
                mfc="none",
                color=BAR_COLOR,
                label="ours, no interval (1 rater)",
            )
        theirs = [paper_table_value(m, dataset) for m in rows["method"]]
        shown = [(i, v) for i, v in enumerate(theirs) if not math.isnan(v)]
        if shown:
            ax.plot(
                *zip(*shown, strict=True),
                "x",
                color=PAPER_COLOR,
                markersize=9,
                mew=2,
                label="the paper's",
            )
        ax.set_xticks(x, [lbl.replace("-", "\n") for lbl in rows["label"]], fontsize=8)
        ax.set_ylim(0.8, 5.2)
        ax.set_ylabel("MOS")
        ax.set_title(f"{dataset}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
