"""Was it reproduced? Every row of Tables 1 and 2 we ran, against the paper's.

``verdict`` lists every row of ours with its verdict: REPRODUCED when our PSNR and SSIM
(daala's) are within ``PSNR_TOLERANCE_DB`` and ``SSIM_TOLERANCE`` of the paper's, and the
difference to our own bicubic on the same set (the sanity check: did the model learn?). The
index page opens with it; the tables' pages colour their deltas with the same tolerances.
"""

from __future__ import annotations

import math

import pandas as pd

from srgan.core import variants
from srgan.report.tables import COLUMNS, OURS

#: A row is reproduced when ours is within these of the paper's, both PSNR and SSIM (daala's);
#: why, as the index says it:
TOLERANCE_REASON = (
    "Why this tolerance: our measuring stick reproduces the rows that need no training (NN, "
    "bicubic) within 0.02 dB and 0.0013 SSIM, and the paper prints 0.01 dB and 1e-4. The "
    "tolerance leaves room for what a faithful retraining cannot pin down (the training set, "
    "the seed, the points the paper leaves open) and stays below the gaps the paper's "
    "conclusions rest on (SRResNet is 0.53 dB above the next method, DRCN, on Set5, and "
    "3.6 dB above bicubic)."
)
PSNR_TOLERANCE_DB = 0.3
SSIM_TOLERANCE = 0.01
#: The verdict's words.
REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"
#: Our baseline that every trained model must beat on its test set (the first sanity check).
SANITY_BASELINE = variants.BICUBIC
#: The verdict's columns: a table's, less _NOT_IN_VERDICT, then ``psnr_vs_bicubic`` (ours
#: minus our bicubic on the same set: did the model learn?) and ``verdict`` (REPRODUCED,
#: NOT_REPRODUCED, or "": no paper value, a set outside the paper).
_NOT_IN_VERDICT = ("status", "ssim_wang_ours", "mos_paper", "n_images", "source")
VERDICT_COLUMNS = (
    "table",
    *(column for column in COLUMNS if column not in _NOT_IN_VERDICT),
    "psnr_vs_bicubic",
    "verdict",
)
#: Floating-point noise of a difference: 0.8111 - 0.8211 is -0.010000000000000009, which the
#: pages print as -0.0100 and which is within a tolerance of 0.01.
TOLERANCE_SLACK = 1e-9


def within_tolerance(delta: float, tolerance: float) -> bool:
    """Whether a difference ours - paper is within ``tolerance`` (NaN: no, there is no number)."""
    return not math.isnan(delta) and abs(delta) <= tolerance + TOLERANCE_SLACK


def row_verdict(psnr_delta: float, ssim_delta: float) -> str:
    """REPRODUCED when both differences are within tolerance, NOT_REPRODUCED when one is
    not, "" when the paper has no value to compare with (both differences NaN)."""
    if math.isnan(psnr_delta) and math.isnan(ssim_delta):
        return ""
    psnr_ok = within_tolerance(psnr_delta, PSNR_TOLERANCE_DB)
    ssim_ok = within_tolerance(ssim_delta, SSIM_TOLERANCE)
    return REPRODUCED if psnr_ok and ssim_ok else NOT_REPRODUCED


def verdict(named: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every row we ran of the tables ``{name: table}`` (Tables 1 and 2), with its verdict
    and the difference to our own bicubic on the same set. Rows of sets outside the paper
    (the offline demo's) are kept, with an empty verdict."""
    ran = {name: table[table["status"] == OURS] for name, table in named.items()}
    bicubic = {
        row["dataset"]: row["psnr_ours"]
        for table in ran.values()
        for row in table[table["model"] == SANITY_BASELINE].to_dict("records")
    }
    records = []
    for name, ours in ran.items():
        for row in ours.to_dict("records"):
            baseline = bicubic.get(row["dataset"], math.nan)
            records.append(
                {
                    **{key: row[key] for key in VERDICT_COLUMNS if key in row},
                    "table": name,
                    "psnr_vs_bicubic": row["psnr_ours"] - baseline,
                    "verdict": row_verdict(row["psnr_delta"], row["ssim_delta"]),
                }
            )
    return pd.DataFrame(records, columns=list(VERDICT_COLUMNS))


def verdict_count(frame: pd.DataFrame) -> tuple[int, int]:
    """(rows reproduced, rows with a paper value to compare with)."""
    judged = frame[frame["verdict"] != ""]
    return int((judged["verdict"] == REPRODUCED).sum()), len(judged)
