"""Tables 1 and 2 of the paper rebuilt from our evaluations, with the paper's numbers beside.

Inputs are the ``srgan evaluate`` JSON files, ``results/eval/<method>.json``
(``srgan.core.paths.eval_file``):
``{dataset: {"psnr", "ssim" (daala), "ssim_wang", "n_images", "images": {stem: {...}}}}``.
A method whose file is missing, or a dataset it was not evaluated on, becomes a row with
status ``"not run"`` and NaN scores; it never stops the tables from being built. A damaged
file (not JSON, cut short, a score that is not a number) is a UserError naming the file and
the field.

Both tables are long ("tidy") DataFrames, one row per (dataset, method), with the columns of
``COLUMNS``: the paper's value, ours and ``delta = ours - paper`` for PSNR and SSIM (daala's
variant, the paper's), our Wang SSIM, our colour difference (mean CIEDE2000 on RGB; an
evaluation made before it has none: NaN), our LPIPS and NIQE where the evaluation has them (the
paper has no such metric), the paper's MOS (ours comes from a MOS study: ``srgan mos``) and
where our number came from. ``perception_points`` and ``mos_correlation`` set our perceptual
scores beside the MOS.
``write_tables`` saves the tables as CSV and as a JSON metrics file for ``dvc metrics show``:
``{"table2": {"Set5": {"srresnet": {"psnr": .., "ssim": .., "lpips": .., "niqe": ..}}}}``.
``read_table`` reads a CSV back checked: every column, a number where one belongs, and, for
Tables 1 and 2, every row the table has (a file cut short is named, not read short).

``verdict`` answers "was it reproduced?": every row we ran, reproduced when ours is within
``PSNR_TOLERANCE_DB`` and ``SSIM_TOLERANCE`` of the paper's, and its difference to our own
bicubic (the sanity check).

How a table is shown (one test set laid out as in the paper, numbers formatted) is
``srgan.report.table_display``'s. This module uses paper, paths, variants and the leaves errors
and fileio.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srgan.core import paper, paths, variants
from srgan.core.errors import UserError
from srgan.core.fileio import atomic_write, write_json_atomic
from srgan.metrics.colour import CIEDE2000_KEY

#: Row status: our own number, a method we did not (yet) run, a number quoted from the paper,
#: the HR originals.
OURS, NOT_RUN, QUOTED, REFERENCE = "ours", "not run", "quoted", "reference"

COLUMNS = (
    "dataset",
    "method",  # Table 1: our variant; Table 2: the paper's method (srresnet, srgan, ...)
    "model",  # the evaluation standing for it (results/eval/<model>.json), "" if none
    "label",  # the paper's name for it
    "status",  # ours | not run | quoted | reference
    "psnr_paper",
    "psnr_ours",
    "psnr_delta",
    "ssim_paper",
    "ssim_ours",
    "ssim_delta",
    "ssim_wang_ours",  # Wang et al. SSIM (the common one), which the paper did not report
    "ciede2000_ours",  # mean CIEDE2000 colour difference on RGB (ours); NaN in an older JSON
    "lpips_ours",  # LPIPS (AlexNet), NaN when not computed: the paper reports no such metric
    "lpips_vgg_ours",  # LPIPS (VGG16)
    "niqe_ours",  # NIQE (no reference)
    "mos_paper",  # the paper's mean opinion score (ours: srgan mos)
    "n_images",
    "source",  # where "ours" came from
    "reasons",  # why the numbers are not comparable with the paper's ("; "-joined), or ""
)
#: The tables' names (``results/tables/<name>.csv``, ``paths.table_file``), and the suffixes
#: of a table's full CSV and of its JSON metrics.
TABLE1, TABLE2, DEPTH = "table1", "table2", "depth"
CSV, METRICS = ".csv", ".json"
#: Between two reasons in a table's ``reasons`` cell.
REASON_SEPARATOR = "; "
#: Keys every dataset entry of an eval JSON must have.
EVAL_KEYS = ("psnr", "ssim", "ssim_wang", "n_images", "images")
#: Our colour-fidelity score (``srgan.metrics.colour``), per set and per image; an eval JSON
#: written before it was added lacks it (its table cells are NaN, shown "–").
COLOUR_KEY = CIEDE2000_KEY
#: Keys an eval JSON has per set and per image when ``evaluate.perceptual`` was on
#: (``srgan.metrics.perceptual.metric_keys``): LPIPS (AlexNet, VGG16) and NIQE; lower is better.
PERCEPTUAL_KEYS = ("lpips", "lpips_vgg", "niqe")
#: Decimals kept in the JSON metrics files (dvc metrics show), per score.
JSON_DECIMALS = {"psnr": 4, "ssim": 5, COLOUR_KEY: 4, "lpips": 4, "lpips_vgg": 4, "niqe": 4}
#: Depth-study files, ``paths.depth_eval_file(paths.depth_run_name(B, skip))``:
#: results/depth/b<B>_skip<0|1>.json; the pattern reads B and the skip back.
DEPTH_GLOB = paths.depth_eval_file(paths.depth_run_name("*", "*")).name
_DEPTH_PATTERN = paths.depth_eval_file(paths.depth_run_name(r"(\d+)", "([01])"))
DEPTH_FILE = re.compile(f"^{_DEPTH_PATTERN.stem}{re.escape(_DEPTH_PATTERN.suffix)}$")
DEPTH_COLUMNS = (
    "blocks",
    "long_skip",
    "dataset",
    "psnr",
    "ssim",
    "ssim_wang",
    "n_images",
    "source",
)


# --- reading evaluations -----------------------------------------------------------------


def read_eval(path: Path) -> dict[str, Any]:
    """One ``srgan evaluate`` JSON file, checked: a file that is no JSON (empty, cut short),
    an entry without a key of ``EVAL_KEYS``, a score that is not a number, is a UserError
    naming the file, the data set (and image) and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read evaluation file {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"evaluation file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"evaluation file {path} must map dataset names to scores")
    for dataset, entry in data.items():
        where = f"evaluation file {path}: dataset {dataset!r}"
        if not isinstance(entry, dict):
            raise UserError(f"{where} is {_shown(entry)}, not a mapping of scores")
        missing = [k for k in EVAL_KEYS if k not in entry]
        if missing:
            raise UserError(f"{where} lacks {', '.join(missing)}")
        _check_scores(entry, where)
        count = entry["n_images"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise UserError(f"{where}: n_images is {_shown(count)}, not a whole number")
        images = entry["images"]
        if not isinstance(images, dict):
            raise UserError(f"{where}: images is {_shown(images)}, not a mapping")
        for stem, scores in images.items():
            here = f"{where}, image {stem!r}"
            if not isinstance(scores, dict):
                raise UserError(f"{here} is {_shown(scores)}, not a mapping of scores")
            missing = [k for k in SCORE_KEYS if k not in scores]
            if missing:
                raise UserError(f"{here} lacks {', '.join(missing)}")
            _check_scores(scores, here)
    return data


#: The scores of a set and of each image of an eval JSON that every evaluation has.
SCORE_KEYS = ("psnr", "ssim", "ssim_wang")
#: Characters of a bad value quoted in an error message.
SHOWN_CHARS = 40


def _check_scores(scores: dict[str, Any], where: str) -> None:
    """Every score of ``SCORE_KEYS`` and the ``PERCEPTUAL_KEYS`` present is a number (an
    infinite PSNR and a NaN NIQE are numbers; a bool or a string is not)."""
    for key in (*SCORE_KEYS, *(k for k in PERCEPTUAL_KEYS if k in scores)):
        value = scores[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserError(f"{where}: {key} is {_shown(value)}, not a number")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


def load_evals(
    evals_dir: Path, methods: tuple[str, ...] = paper.OUR_METHODS
) -> dict[str, dict[str, Any]]:
    """``{method: eval JSON}`` for each method whose ``<evals_dir>/<method>.json`` exists."""
    files = {m: paths.eval_file(m, evals_dir) for m in methods}
    return {m: read_eval(path) for m, path in files.items() if path.is_file()}


# --- building the tables -------------------------------------------------------------------


def _delta(ours: float, theirs: float) -> float:
    if math.isnan(ours) or math.isnan(theirs) or math.isinf(theirs):
        return math.nan
    return ours - theirs


def _optional(scores: dict[str, Any] | None, key: str) -> float:
    """A score that only some evaluations have (the perceptual ones); NaN where missing."""
    return float(scores[key]) if scores and key in scores else math.nan


def _row(
    dataset: str,
    method: str,
    model: str,
    score: paper.PaperScore,
    evals: dict[str, dict[str, Any]],
    evals_dir: Path,
    reasons: tuple[str, ...],
) -> dict[str, Any]:
    """One table row: the paper's ``score`` beside ``model``'s evaluation on ``dataset``."""
    entry = evals.get(model, {}).get(dataset) if model else None
    if method in paper.TABLE2_QUOTED and model == "":
        status, source = QUOTED, "quoted from the paper (published outputs of the original authors)"
    elif method in paper.TABLE2_REFERENCE:
        status, source = REFERENCE, "the HR originals (PSNR infinite, SSIM 1)"
    elif entry is None:
        status = NOT_RUN
        path = paths.eval_file(model, evals_dir)
        source = f"{path} (no {dataset} entry)" if model in evals else f"{path} (missing)"
    else:
        status, source = OURS, str(paths.eval_file(model, evals_dir))
    psnr = float(entry["psnr"]) if entry else math.nan
    ssim = float(entry["ssim"]) if entry else math.nan
    return {
        "dataset": dataset,
        "method": method,
        "model": model,
        "label": paper.LABELS[method],
        "status": status,
        "psnr_paper": score.psnr,
        "psnr_ours": psnr,
        "psnr_delta": _delta(psnr, score.psnr),
        "ssim_paper": score.ssim,
        "ssim_ours": ssim,
        "ssim_delta": _delta(ssim, score.ssim),
        "ssim_wang_ours": float(entry["ssim_wang"]) if entry else math.nan,
        f"{COLOUR_KEY}_ours": _optional(entry, COLOUR_KEY),
        **{f"{key}_ours": _optional(entry, key) for key in PERCEPTUAL_KEYS},
        "mos_paper": score.mos,
        "n_images": int(entry["n_images"]) if entry else 0,
        "source": source,
        "reasons": REASON_SEPARATOR.join(reasons),
    }


#: The paper's score where the paper has none (a test set outside its tables).
NO_PAPER_SCORE = paper.PaperScore(psnr=math.nan, ssim=math.nan, mos=math.nan)


def extra_datasets(evals: dict[str, dict[str, Any]], known: tuple[str, ...]) -> list[str]:
    """Test sets our evaluations cover that the paper's table does not (e.g. the offline
    demo's ``SkimageTest``), in the order they first appear."""
    found: list[str] = []
    for data in evals.values():
        found += [ds for ds in data if ds not in known and ds not in found]
    return found


def table1(
    evals: dict[str, dict[str, Any]],
    evals_dir: Path = paths.EVALS_DIR,
    reasons: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Table 1 (content-loss study): 5 variants x Set5, Set14, dataset-major, paper order.

    Test sets outside the paper's Table 1 that the evaluations cover (BSD100, the demo's
    test set) follow, without paper numbers."""
    rows = [
        _row(ds, m, m, paper.TABLE1[m].get(ds, NO_PAPER_SCORE), evals, Path(evals_dir), reasons)
        for ds in (*paper.TABLE1_DATASETS, *extra_datasets(evals, paper.TABLE1_DATASETS))
        for m in paper.TABLE1_METHODS
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def table2(
    evals: dict[str, dict[str, Any]],
    evals_dir: Path = paths.EVALS_DIR,
    reasons: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Table 2 (comparison): the paper's 9 methods x Set5, Set14, BSD100, paper order.

    Test sets outside the paper's table that the evaluations cover follow with the methods we
    run (NN, bicubic, SRResNet, SRGAN) only, without paper numbers."""
    evals_dir = Path(evals_dir)
    rows = [
        _row(
            ds,
            m,
            paper.TABLE2_REPRODUCED.get(m, ""),
            paper.TABLE2[m][ds],
            evals,
            evals_dir,
            reasons,
        )
        for ds in paper.TABLE2_DATASETS
        for m in paper.TABLE2_METHODS
    ]
    rows += [
        _row(ds, m, model, NO_PAPER_SCORE, evals, evals_dir, reasons)
        for ds in extra_datasets(evals, paper.TABLE2_DATASETS)
        for m, model in paper.TABLE2_REPRODUCED.items()
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def build_tables(
    evals_dir: Path, reasons: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 1 and 2 from the eval JSONs in ``evals_dir``; ``reasons``: why the results are
    not comparable with the paper's (``srgan.report.provenance.result_reasons``)."""
    evals = load_evals(Path(evals_dir))
    return table1(evals, evals_dir, reasons), table2(evals, evals_dir, reasons)


def table_reasons(table: pd.DataFrame) -> list[str]:
    """The reasons a table records (its ``reasons`` column), each once."""
    values = table["reasons"].fillna("").astype(str) if "reasons" in table else []
    return list(dict.fromkeys(r for v in values for r in v.split(REASON_SEPARATOR) if r))


def metrics(table: pd.DataFrame, name: str) -> dict[str, Any]:
    """Our PSNR and SSIM (daala's), and CIEDE2000 and LPIPS/NIQE where evaluated, as
    ``{name: {dataset: {method: {"psnr", "ssim", "ciede2000", "lpips", ...}}}}``.

    Kept small for ``dvc metrics show`` / ``dvc metrics diff`` (``table2.Set5.srresnet.psnr``):
    the paper's numbers are constants, so the deltas and Wang's SSIM are in the CSV only.
    Rows that were not run, quoted or the HR reference are left out, and so is a score that
    is not finite (JSON has no NaN or infinity; PSNR is infinite when every SR image equals
    its HR image), which the CSV keeps.
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in table[table["status"] == OURS].to_dict("records"):
        scores = {
            key: round(float(row[f"{key}_ours"]), decimals)
            for key, decimals in JSON_DECIMALS.items()
            if math.isfinite(row[f"{key}_ours"])
        }
        if scores:
            out.setdefault(row["dataset"], {})[row["method"]] = scores
    return {name: out}


#: Column headers of :func:`metrics_frame`, per score key (JSON_DECIMALS' order).
METRIC_HEADERS = {
    "psnr": "PSNR",
    "ssim": "SSIM",
    COLOUR_KEY: "CIEDE2000",
    "lpips": "LPIPS",
    "lpips_vgg": "LPIPS-VGG",
    "niqe": "NIQE",
}


def metrics_frame(data: dict[str, Any]) -> pd.DataFrame:
    """A metrics file's content (:func:`metrics`) as a table a person reads: one row per set
    and method, in the file's order, one column per score it holds (METRIC_HEADERS)."""
    rows = [
        {"set": dataset, "method": method, **scores}
        for dataset, methods in data.items()
        for method, scores in methods.items()
    ]
    present = [key for key in METRIC_HEADERS if any(key in row for row in rows)]
    frame = pd.DataFrame(rows, columns=["set", "method", *present])
    return frame.rename(columns=METRIC_HEADERS)


def format_metrics(name: str, data: dict[str, Any], source: str) -> str:
    """One table of :func:`metrics_frame` under a title naming it and where it came from."""
    title = f"{name} ({source})"
    frame = metrics_frame(data)
    if frame.empty:
        return f"{title}: no rows of ours"
    decimals = {
        METRIC_HEADERS[k]: d for k, d in JSON_DECIMALS.items() if METRIC_HEADERS[k] in frame
    }
    body = frame.to_string(
        index=False,
        na_rep="-",
        formatters={
            col: (lambda v, d=d: "-" if pd.isna(v) else f"{v:.{d}f}") for col, d in decimals.items()
        },
    )
    return f"{title}\n{body}"


# --- writing --------------------------------------------------------------------------------


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    """``table`` as UTF-8 CSV (the labels hold non-ASCII characters), atomically."""
    with atomic_write(path) as handle:
        handle.write(table.to_csv(index=False).encode("utf-8"))


def write_table(table: pd.DataFrame, out_dir: Path, name: str) -> list[Path]:
    """``<out_dir>/<name>.csv`` (every row) and ``<name>.json`` (metrics), atomically."""
    csv_path, json_path = (paths.table_file(name, suffix, out_dir) for suffix in (CSV, METRICS))
    _write_csv(csv_path, table)
    write_json_atomic(json_path, metrics(table, name))
    return [csv_path, json_path]


def write_tables(
    evals_dir: Path,
    out_dir: Path,
    reasons: tuple[str, ...] = (),
    depth_dir: Path | None = None,
) -> list[Path]:
    """Build and write table1/table2 (CSV + JSON) and, with depth results, depth.csv."""
    t1, t2 = build_tables(evals_dir, reasons)
    written = write_table(t1, out_dir, TABLE1) + write_table(t2, out_dir, TABLE2)
    if depth_dir is not None:
        depth = depth_table(depth_dir)
        if not depth.empty:
            path = paths.table_file(DEPTH, CSV, out_dir)
            _write_csv(path, depth)
            written.append(path)
    return written


# --- the verdict: was it reproduced? ---------------------------------------------------------

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


# --- per-image scores, depth study ----------------------------------------------------------


def per_image_scores(evals_dir: Path, methods: tuple[str, ...] = paper.OUR_METHODS) -> pd.DataFrame:
    """Long table of every image score: method, label, dataset, image, psnr, ssim, ssim_wang,
    ciede2000 and the perceptual scores (NaN where an evaluation has none)."""
    rows = [
        {
            "method": method,
            "label": paper.LABELS[method],
            "dataset": dataset,
            "image": stem,
            "psnr": float(s["psnr"]),
            "ssim": float(s["ssim"]),
            "ssim_wang": float(s["ssim_wang"]),
            COLOUR_KEY: _optional(s, COLOUR_KEY),
            **{key: _optional(s, key) for key in PERCEPTUAL_KEYS},
        }
        for method, data in load_evals(Path(evals_dir), methods).items()
        for dataset, entry in data.items()
        for stem, s in entry["images"].items()
    ]
    columns = ["method", "label", "dataset", "image", "psnr", "ssim", "ssim_wang", COLOUR_KEY]
    columns += list(PERCEPTUAL_KEYS)
    return pd.DataFrame(rows, columns=columns)


def depth_table(depth_dir: Path) -> pd.DataFrame:
    """The depth study: one row per ``b<B>_skip<0|1>.json`` and dataset in it, sorted.

    Empty (with the columns) when the folder is missing or holds no such file.
    """
    depth_dir = Path(depth_dir)
    files = sorted(depth_dir.glob(DEPTH_GLOB)) if depth_dir.is_dir() else []
    rows = []
    for path in files:
        match = DEPTH_FILE.match(path.name)
        if not match:
            continue
        for dataset, entry in read_eval(path).items():
            rows.append(
                {
                    "blocks": int(match.group(1)),
                    "long_skip": match.group(2) == "1",
                    "dataset": dataset,
                    "psnr": float(entry["psnr"]),
                    "ssim": float(entry["ssim"]),
                    "ssim_wang": float(entry["ssim_wang"]),
                    "n_images": int(entry["n_images"]),
                    "source": str(path),
                }
            )
    table = pd.DataFrame(rows, columns=list(DEPTH_COLUMNS))
    return table.sort_values(["dataset", "long_skip", "blocks"], ignore_index=True)


# --- perception against distortion ------------------------------------------------------------

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
