"""Rater screening for a MOS study, reported as a sensitivity analysis beside the full data.

Four screens, each flagging raters (none removes anyone by itself: the report shows the MOS
and the tests with all raters and without the flagged ones):

* **attention items**: hidden HR (expected 5) and NN (expected 1) images; an answer more than
  ``ATTENTION_TOLERANCE`` away from the expected score fails; a rater failing more than
  ``ATTENTION_MAX_FAILED_SHARE`` of them is flagged;
* **straight-lining**: one score for at least ``STRAIGHT_LINE_SHARE`` of a rater's test
  ratings;
* **correlation with the panel**: Pearson's r between a rater's scores and the mean of the
  other raters on the same stimuli, below ``MIN_PANEL_CORRELATION``;
* **ITU-R BT.500 observer rejection** (BT.500-13, Annex 2, 2.3.1): per stimulus, the mean,
  standard deviation and kurtosis (beta2 = m4 / m2^2) of the scores; a score counts as high
  (P) when at least mean + 2 sd (mean + sqrt(20) sd when beta2 is outside [2, 4], the scores
  then not being normal), low (Q) when at most mean - that; a rater is rejected when
  (P + Q) / J > 0.05 and |(P - Q) / (P + Q)| < 0.3, J being the stimuli they rated (stimuli
  all raters scored alike are skipped: they single nobody out).

This module uses store (kinds) and is torch-free.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from srgan.mos import store

ATTENTION_TOLERANCE = 1
ATTENTION_MAX_FAILED_SHARE = 0.2
STRAIGHT_LINE_SHARE = 0.8
MIN_PANEL_CORRELATION = 0.7
#: BT.500's thresholds: the normal range of beta2, the multiples of sd, the two ratios.
BT500_NORMAL_KURTOSIS = (2.0, 4.0)
BT500_SD_NORMAL, BT500_SD_OTHER = 2.0, math.sqrt(20.0)
BT500_OUTLIER_SHARE, BT500_BALANCE = 0.05, 0.3
#: What a stimulus is, for the panel screens.
STIMULUS_KEYS = ["dataset", "image", "method"]
SCREENS = ("attention", "straight_lining", "panel", "bt500")


def attention(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per rater: attention items answered and failed, and the flag."""
    items = ratings[ratings["kind"] == store.ATTENTION]
    failed = (items["score"] - items["expected"]).abs() > ATTENTION_TOLERANCE
    table = pd.DataFrame(
        {
            "attention_items": items.groupby("rater").size(),
            "attention_failed": failed.groupby(items["rater"]).sum(),
        }
    )
    table = table.fillna(0).astype(int)
    share = table["attention_failed"] / table["attention_items"].where(table["attention_items"] > 0)
    table["attention"] = share > ATTENTION_MAX_FAILED_SHARE
    return table


def straight_lining(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per rater: the share of their test ratings taken by their most frequent score."""
    tests = ratings[ratings["kind"] == store.TEST]
    share = tests.groupby("rater")["score"].agg(lambda s: s.value_counts(normalize=True).iloc[0])
    return pd.DataFrame({"modal_share": share, "straight_lining": share >= STRAIGHT_LINE_SHARE})


def panel_correlation(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per rater: Pearson's r with the other raters' mean on each stimulus they rated."""
    tests = ratings[ratings["kind"] == store.TEST]
    grouped = tests.groupby(STIMULUS_KEYS)["score"]
    total, count = grouped.transform("sum"), grouped.transform("size")
    others = (total - tests["score"]) / (count - 1).where(count > 1)
    frame = tests.assign(others=others).dropna(subset=["others"])
    r = {}
    for rater, rows in frame.groupby("rater"):
        own, rest = rows["score"].to_numpy(float), rows["others"].to_numpy(float)
        defined = len(rows) > 2 and own.std() > 0 and rest.std() > 0
        r[rater] = float(np.corrcoef(own, rest)[0, 1]) if defined else math.nan
    values = pd.Series(r, dtype=float)
    return pd.DataFrame({"panel_r": values, "panel": values < MIN_PANEL_CORRELATION})


def bt500(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per rater: BT.500's P, Q, J, (P + Q) / J and the rejection flag."""
    tests = ratings[ratings["kind"] == store.TEST]
    grouped = tests.groupby(STIMULUS_KEYS)["score"]
    mean = grouped.transform("mean")
    deviation = tests["score"] - mean
    m2 = (deviation**2).groupby([tests[k] for k in STIMULUS_KEYS]).transform("mean")
    m4 = (deviation**4).groupby([tests[k] for k in STIMULUS_KEYS]).transform("mean")
    sd = grouped.transform(lambda s: s.std(ddof=1) if len(s) > 1 else 0.0)
    beta2 = m4 / (m2**2).where(m2 > 0)
    low_k, high_k = BT500_NORMAL_KURTOSIS
    normal = (beta2 >= low_k) & (beta2 <= high_k)
    width = np.where(normal, BT500_SD_NORMAL, BT500_SD_OTHER) * sd
    spread = sd > 0
    high = spread & (tests["score"] >= mean + width)
    low = spread & (tests["score"] <= mean - width)
    table = pd.DataFrame(
        {
            "bt500_P": high.groupby(tests["rater"]).sum().astype(int),
            "bt500_Q": low.groupby(tests["rater"]).sum().astype(int),
            "bt500_J": tests.groupby("rater").size(),
        }
    )
    outliers = table["bt500_P"] + table["bt500_Q"]
    table["bt500_share"] = outliers / table["bt500_J"]
    balance = (table["bt500_P"] - table["bt500_Q"]).abs() / outliers.where(outliers > 0)
    table["bt500"] = (table["bt500_share"] > BT500_OUTLIER_SHARE) & (balance < BT500_BALANCE)
    return table


def screen(ratings: pd.DataFrame) -> pd.DataFrame:
    """Every screen per rater (index: rater, in the order of the file), ``flagged`` (any
    screen) and ``reasons`` (the screens that flagged the rater)."""
    raters = pd.Index(pd.unique(ratings["rater"]), name="rater")
    parts = [
        attention(ratings),
        straight_lining(ratings),
        panel_correlation(ratings),
        bt500(ratings),
    ]
    table = pd.concat(parts, axis=1).reindex(raters)
    for flag in SCREENS:
        table[flag] = table[flag].astype("boolean").fillna(False).astype(bool)
    table["flagged"] = table[list(SCREENS)].any(axis=1)
    table["reasons"] = [
        ", ".join(flag for flag in SCREENS if row[flag]) for _, row in table.iterrows()
    ]
    return table


def without_flagged(ratings: pd.DataFrame, screened: pd.DataFrame) -> pd.DataFrame:
    """``ratings`` without the raters ``screen`` flagged."""
    flagged = set(screened.index[screened["flagged"]])
    return ratings[~ratings["rater"].isin(flagged)]
