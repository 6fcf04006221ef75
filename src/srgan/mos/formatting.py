"""The MOS study's numbers as the report and ``srgan mos analyse`` print them.

A MOS with its 95% interval (:func:`mos_interval`), p-values (:func:`p_value`), the paper's
layout of a MOS table (:func:`mos_paper_layout`) and columns of numbers (:func:`format_columns`),
built on ``srgan.report.render``'s one way of writing a number.
"""

from __future__ import annotations

import math

import pandas as pd

from srgan.report.render import NOT_RUN, number

#: Decimals of a MOS and of its difference to the paper's; p-values below P_FLOOR as "< ...".
MOS_SPEC, MOS_DELTA_SPEC, P_SPEC, P_FLOOR = ".2f", "+.2f", ".4f", 1e-4
#: The rows of one data set in the paper's MOS layout.
MOS_PAPER_ROW, MOS_OURS_ROW, MOS_DELTA_ROW = "MOS paper", "MOS ours [95% CI]", "Δ MOS"


def mos_interval(mos: float, low: float, high: float) -> str:
    """``3.56 [3.41, 3.70]``; the bare MOS when there is no interval (a single rater)."""
    if pd.isna(low):
        return number(mos, MOS_SPEC)
    return f"{number(mos, MOS_SPEC)} [{number(low, MOS_SPEC)}, {number(high, MOS_SPEC)}]"


def p_value(p: float) -> str:
    return f"< {P_FLOOR:g}" if p < P_FLOOR else number(p, P_SPEC)


def mos_paper_layout(layout: pd.DataFrame, table: str) -> pd.DataFrame:
    """``srgan.mos.analysis.paper_layout`` rows of one table as the paper lays it out: a
    column per method (the paper's names), per data set the paper's MOS, ours with its 95%
    interval, and the difference."""
    rows = layout[layout["table"] == table]
    columns = list(dict.fromkeys(rows["column"]))
    out = {}
    for dataset, of_set in rows.groupby("dataset", sort=False):
        cells = of_set.set_index("column")
        out[(dataset, MOS_PAPER_ROW)] = [
            number(cells["mos_paper"].get(c, math.nan), MOS_SPEC) for c in columns
        ]
        out[(dataset, MOS_OURS_ROW)] = [
            mos_interval(*cells.loc[c, ["mos_ours", "ci_low", "ci_high"]])
            if c in cells.index
            else NOT_RUN
            for c in columns
        ]
        out[(dataset, MOS_DELTA_ROW)] = [
            number(cells["delta"].get(c, math.nan), MOS_DELTA_SPEC) for c in columns
        ]
    frame = pd.DataFrame.from_dict(out, orient="index", columns=columns)
    frame.index = pd.MultiIndex.from_tuples(list(out), names=["dataset", ""])
    return frame


def format_columns(frame: pd.DataFrame, specs: dict[str, str]) -> pd.DataFrame:
    """``frame`` with the columns named in ``specs`` formatted by :func:`number` (a spec of
    "p" formats a p-value); other columns as they are."""
    out = frame.copy()
    for column, spec in specs.items():
        if column in out.columns:
            show = p_value if spec == "p" else (lambda v, spec=spec: number(v, spec))
            out[column] = [show(v) for v in frame[column]]
    return out
