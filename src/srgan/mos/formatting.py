"""The MOS study's numbers as the report and ``srgan mos analyse`` print them.

A MOS with its 95% interval, or the reason it has none (:func:`mos_interval`), p-values
(:func:`p_value`), the paper's layout of a MOS table (:func:`mos_paper_layout`), columns of
numbers (:func:`format_columns`), and the report's compact tables (:func:`mos_frame`,
:func:`pairs_frame`, :func:`screening_frame`, :func:`power_frame`: every cell text, "–" for a
missing value, no column without a value), built on ``srgan.report.table_display``'s one
way of writing a number.
"""

from __future__ import annotations

import math

import pandas as pd

from srgan.report.table_display import DASH, number
from srgan.report.tables import NOT_RUN

#: Decimals of a MOS and of its difference to the paper's; p-values below P_FLOOR as "< ...".
MOS_SPEC, MOS_DELTA_SPEC, P_SPEC, P_FLOOR = ".2f", "+.2f", ".4f", 1e-4
#: The rows of one data set in the paper's MOS layout.
MOS_PAPER_ROW, MOS_OURS_ROW, MOS_DELTA_ROW = "MOS paper", "MOS ours [95% CI]", "Δ MOS"


#: What stands for the interval of a MOS from fewer than two raters (it has none): said, so a
#: bare number never looks as certain as one with its interval.
NO_INTERVAL = "no interval: 1 rater"


def mos_interval(mos: float, low: float, high: float) -> str:
    """``3.56 [3.41, 3.70]``; ``3.56 [no interval: 1 rater]`` when there is none."""
    if pd.isna(mos):
        return number(mos, MOS_SPEC)
    if pd.isna(low):
        return f"{number(mos, MOS_SPEC)} [{NO_INTERVAL}]"
    return f"{number(mos, MOS_SPEC)} [{number(low, MOS_SPEC)}, {number(high, MOS_SPEC)}]"


def share_interval(share: float, low: float, high: float) -> str:
    """A share with its interval, in percent: ``62% [48%, 75%]`` (``–`` when there is none)."""
    if pd.isna(share):
        return number(share, ".0%")
    return f"{number(share, '.0%')} [{number(low, '.0%')}, {number(high, '.0%')}]"


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
    frame.index = pd.MultiIndex.from_tuples(list(out))  # no header row of index names
    return frame


def paper_sets(layout: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``analysis.paper_layout`` on the test sets the paper rated (a MOS of the
    paper's beside ours); a set outside the paper has only ours, shown elsewhere."""
    rated = layout.groupby(["table", "dataset"])["mos_paper"].transform(lambda v: v.notna().any())
    return layout[rated.astype(bool)] if len(layout) else layout


def format_columns(frame: pd.DataFrame, specs: dict[str, str]) -> pd.DataFrame:
    """``frame`` with the columns named in ``specs`` formatted by :func:`number` (a spec of
    "p" formats a p-value); other columns as they are."""
    out = frame.copy()
    for column, spec in specs.items():
        if column in out.columns:
            show = p_value if spec == "p" else (lambda v, spec=spec: number(v, spec))
            out[column] = [show(v) for v in frame[column]]
    return out


# --- the report's tables: compact, every number formatted, no empty column -----------------------


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as text; a missing value as "–" (never "nan"); a column with no value at all
    (every cell "–", e.g. the spread of a single rater's means) left out."""
    text = frame.astype(object).where(frame.notna(), DASH).astype(str)
    return text.loc[:, (text != DASH).any(axis=0)]


def mos_frame(mos: pd.DataFrame) -> pd.DataFrame:
    """``analysis.mos_table`` as the report shows it: one column holding each MOS with its
    95% interval (or why it has none), the spread of the raters' means, the counts."""
    return _text(
        pd.DataFrame(
            {
                "test set": mos["dataset"],
                "method": mos["label"],
                "MOS [95% CI]": [
                    mos_interval(*row) for row in mos[["mos", "ci_low", "ci_high"]].to_numpy()
                ],
                "sd of raters' means": [number(v, MOS_SPEC) for v in mos["sd"]],
                "raters": mos["n_raters"],
                "ratings": mos["n_ratings"],
            }
        )
    )


def pairs_frame(tests: pd.DataFrame) -> pd.DataFrame:
    """``analysis.wilcoxon_tests`` as the report shows them: the pair in one column, its
    units, both MOS and their difference, p and Holm's p, significant or not."""
    return _text(
        pd.DataFrame(
            {
                "test set": tests["dataset"],
                "pair (a vs b)": [f"{a} vs {b}" for a, b in zip(tests["label_a"], tests["label_b"],
                                                                 strict=True)],
                "n": tests["n"],
                "MOS a": [number(v, MOS_SPEC) for v in tests["mos_a"]],
                "MOS b": [number(v, MOS_SPEC) for v in tests["mos_b"]],
                "b − a": [number(v, MOS_DELTA_SPEC) for v in tests["difference"]],
                "p": [p_value(v) if not pd.isna(v) else DASH for v in tests["p"]],
                "p (Holm)": [p_value(v) if not pd.isna(v) else DASH for v in tests["p_holm"]],
                "significant": ["yes" if s else "no" for s in tests["significant"]],
            }
        )
    )  # fmt: skip


def screening_frame(screened: pd.DataFrame) -> pd.DataFrame:
    """``screening.screen`` as the report shows it (one row per rater): flagged and why, then
    each screen's evidence."""
    return _text(
        pd.DataFrame(
            {
                "rater": screened["rater"],
                "flagged": ["yes" if f else "no" for f in screened["flagged"]],
                "by": [r or DASH for r in screened["reasons"]],
                "attention failed": [
                    f"{int(f)} of {int(n)}" if not pd.isna(n) else DASH
                    for f, n in zip(screened["attention_failed"], screened["attention_items"],
                                    strict=True)
                ],
                "modal share": [number(v, ".2f") for v in screened["modal_share"]],
                "panel r": [number(v, ".2f") for v in screened["panel_r"]],
                "BT.500 P / Q of J": [
                    f"{int(p)} / {int(q)} of {int(j)}" if not pd.isna(j) else DASH
                    for p, q, j in screened[["bt500_P", "bt500_Q", "bt500_J"]].to_numpy()
                ],
            }
        )
    )  # fmt: skip


def power_frame(power: pd.DataFrame) -> pd.DataFrame:
    """``analysis.power_table`` as the report shows it."""
    return _text(
        pd.DataFrame(
            {
                "test set": power["dataset"],
                "pair (a vs b)": [f"{a} vs {b}" for a, b in zip(power["label_a"], power["label_b"],
                                                                 strict=True)],
                "raters now": power["raters"],
                "p′": [number(v, ".3f") for v in power["p_prime"]],
                "raters needed (α)": [number(v, ".0f") for v in power["needed"]],
                "raters needed (Holm)": [number(v, ".0f") for v in power["needed_holm"]],
            }
        )
    )  # fmt: skip
