"""Perception against distortion: our PSNR and perceptual scores beside the paper's MOS
(``perception_points``, the data of the perception-distortion figure) and how well each of
our scores ranks the methods as the paper's raters did (``mos_correlation``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from srgan.core import paper
from srgan.report.tables import OURS, PERCEPTUAL_KEYS

#: Columns of :func:`perception_points`.
POINT_COLUMNS = ("model", "label", "dataset", "psnr", *PERCEPTUAL_KEYS, "mos_paper")


def perception_points(table1: pd.DataFrame, table2: pd.DataFrame) -> pd.DataFrame:
    """One row per evaluated model and test set: our PSNR and perceptual scores beside the
    paper's MOS (Table 2's where a model stands for a method there, else Table 1's; NaN for a
    set the paper did not rate). The data of the perception-distortion figure."""
    rows = pd.concat([table2, table1], ignore_index=True)
    rows = rows[(rows["status"] == OURS) & (rows["model"] != "")]
    rows = rows.drop_duplicates(["model", "dataset"], keep="first")
    points = pd.DataFrame(
        {
            "model": rows["model"],
            "label": [paper.LABELS[m] for m in rows["model"]],
            "dataset": rows["dataset"],
            "psnr": rows["psnr_ours"],
            **{key: rows[f"{key}_ours"] for key in PERCEPTUAL_KEYS},
            "mos_paper": rows["mos_paper"],
        }
    )
    return points.reset_index(drop=True)[list(POINT_COLUMNS)]


#: Fewest methods a rank correlation is computed over (with 2 it is always +-1).
MIN_CORRELATION_METHODS = 3
#: Columns of :func:`mos_correlation`.
CORRELATION_COLUMNS = ("dataset", "score", "n_methods", "spearman_rho", "p_value")


def mos_correlation(
    points: pd.DataFrame, scores: tuple[str, ...] = PERCEPTUAL_KEYS
) -> pd.DataFrame:
    """Spearman's rank correlation between each of our scores and the paper's MOS, per test
    set, over the methods that have both (at least 3). A proxy only: the MOS was rated on the
    paper's outputs, the scores are computed on ours. LPIPS and NIQE are lower-better and
    MOS higher-better, so agreement shows as a negative rho (PSNR, also listed, positive)."""
    from scipy.stats import spearmanr

    records = []
    for dataset, group in points.groupby("dataset", sort=False):
        for score in ("psnr", *scores):
            both = group[["mos_paper", score]].dropna()
            both = both[np.isfinite(both[score])]
            if len(both) < MIN_CORRELATION_METHODS:
                continue
            constant = both[score].nunique() < 2  # no ranking: rho is undefined
            rho, p_value = (
                (math.nan, math.nan) if constant else spearmanr(both[score], both["mos_paper"])
            )
            records.append(
                {
                    "dataset": dataset,
                    "score": score,
                    "n_methods": len(both),
                    "spearman_rho": float(rho),
                    "p_value": float(p_value),
                }
            )
    return pd.DataFrame(records, columns=list(CORRELATION_COLUMNS))
