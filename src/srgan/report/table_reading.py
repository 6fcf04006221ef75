"""A table file read back, checked: ``read_table`` returns a table CSV written by
``srgan.report.tables.write_table`` with its types, or a UserError naming the file, the line
and the field, and saying to rebuild it. Tables 1 and 2 must also hold every row the tables
write and every row of the metrics JSON beside them: a file cut short is named, never read
short.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from srgan.core import paper
from srgan.core.errors import UserError
from srgan.report.tables import (
    COLUMNS,
    CSV,
    METRICS,
    NOT_RUN,
    OURS,
    QUOTED,
    REFERENCE,
    TABLE1,
    TABLE2,
)

#: What a table's CSV holds: numbers (empty: NaN), whole numbers, text that must not be empty,
#: and the row statuses.
NUMBER_COLUMNS = tuple(c for c in COLUMNS if c.startswith(("psnr_", "ssim_", "lpips_", "niqe_")))
NUMBER_COLUMNS += ("mos_paper",)
TEXT_COLUMNS = ("dataset", "method", "label", "status", "source")
STATUSES = (OURS, NOT_RUN, QUOTED, REFERENCE)
#: What to do about a damaged table.
REBUILD = "rebuild it with `srgan tables`"


def read_table(path: Path) -> pd.DataFrame:
    """A table CSV written by ``write_table``, checked (a UserError naming the file, the line
    and the field, and saying to rebuild it): a missing, empty or malformed file, a missing
    column, a last row without its newline, a value that is not a number where one belongs, an
    unknown status. Tables 1 and 2
    (``table1.csv``, ``table2.csv``) must also hold every row :func:`table1` and
    :func:`table2` write, in order, and every row of the metrics JSON beside them
    (:func:`check_rows`): a file cut short is named, never read short."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"table file not found: {path} (run `srgan tables` first)")
    with open(path, "rb") as handle:  # every row ends with a newline: a cut one does not
        handle.seek(max(0, path.stat().st_size - 1))
        if handle.read(1) not in (b"\n", b""):
            raise UserError(f"table file {path} ends inside a row (cut short?): {REBUILD}")
    try:
        table = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        problem = " ".join(str(exc).split())
        raise UserError(f"table file {path} is not a table ({problem}): {REBUILD}") from None
    missing = [column for column in COLUMNS if column not in table.columns]
    if missing:
        raise UserError(f"table file {path} lacks the column {', '.join(missing)}: {REBUILD}")
    if table.empty:
        raise UserError(f"table file {path} has no rows (cut short?): {REBUILD}")
    table = _typed_table(table, path)
    name = path.stem
    if path.suffix == CSV and name in (TABLE1, TABLE2):
        check_rows(table, name, path)
    return table


def _typed_table(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The CSV's text as the table's types; a value that does not fit names its line."""
    out = table.copy()
    for index, row in table.iterrows():
        where = f"table file {path}, line {index + 2} ({row['dataset']}, {row['method']})"
        for column in TEXT_COLUMNS:
            if pd.isna(row[column]):
                raise UserError(f"{where}: {column} is empty (cut short?): {REBUILD}")
        if row["status"] not in STATUSES:
            raise UserError(
                f"{where}: status is {row['status']!r}, not one of {', '.join(STATUSES)}: {REBUILD}"
            )
        for column in (*NUMBER_COLUMNS, "n_images"):
            value = row[column]
            try:
                number = math.nan if pd.isna(value) else float(value)
            except ValueError:
                number = None
            whole = column != "n_images" or (number is not None and float(number).is_integer())
            if number is None or not whole:
                kind = "a whole number" if column == "n_images" else "a number"
                raise UserError(f"{where}: {column} is {value!r}, not {kind}: {REBUILD}")
    out[list(NUMBER_COLUMNS)] = out[list(NUMBER_COLUMNS)].astype(float)
    out["n_images"] = out["n_images"].astype(int)
    return out.fillna({"model": "", "reasons": ""})


def expected_rows(name: str, datasets: list[str]) -> list[tuple[str, str]]:
    """(dataset, method) of every row :func:`table1` or :func:`table2` writes, in order, when
    the evaluations cover ``datasets`` besides the paper's."""
    if name == TABLE1:
        known, methods, extra_methods = paper.TABLE1_DATASETS, paper.TABLE1_METHODS, None
    else:
        known, methods = paper.TABLE2_DATASETS, paper.TABLE2_METHODS
        extra_methods = tuple(paper.TABLE2_REPRODUCED)
    extras = [ds for ds in dict.fromkeys(datasets) if ds not in known]
    rows = [(ds, m) for ds in known for m in methods]
    return rows + [(ds, m) for ds in extras for m in (extra_methods or methods)]


def check_rows(table: pd.DataFrame, name: str, path: Path) -> None:
    """A UserError unless ``table`` holds the rows of Table ``name`` (:func:`expected_rows`)
    and every row of the metrics JSON written beside it (which names data sets whose rows
    a cut at a line boundary would drop without a trace)."""
    found = list(zip(table["dataset"], table["method"], strict=True))
    expected = expected_rows(name, list(table["dataset"]))
    if found != expected:
        for dataset in dict.fromkeys(ds for ds, _ in expected):
            want = [m for ds, m in expected if ds == dataset]
            have = [m for ds, m in found if ds == dataset]
            if have != want:
                what = (
                    f"lacks the rows of {dataset}"
                    if not have
                    else f"{dataset} has {len(have)} of the {len(want)} rows of {', '.join(want)}"
                )
                raise UserError(f"table file {path}: {what} (cut short?): {REBUILD}")
        raise UserError(f"table file {path} holds rows no table has: {REBUILD}")
    metrics_file = path.with_suffix(METRICS)
    try:
        recorded = json.loads(metrics_file.read_text()).get(name, {})
    except (OSError, ValueError, AttributeError):
        return  # no metrics beside it: the rows above are what can be checked
    present = set(found)
    for dataset, methods in recorded.items() if isinstance(recorded, dict) else ():
        if any((dataset, method) not in present for method in methods):
            raise UserError(
                f"table file {path} lacks the rows of {dataset} that {metrics_file.name} has "
                f"(cut short?): {REBUILD}"
            )
