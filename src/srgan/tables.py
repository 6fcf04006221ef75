"""Tables 1 and 2 of the paper rebuilt from our evaluations, with the paper's numbers beside.

Inputs are the ``srgan evaluate`` JSON files, ``<evals_dir>/<method>.json`` (LAYOUT.md):
``{dataset: {"psnr", "ssim" (daala), "ssim_wang", "n_images", "images": {stem: {...}}}}``.
A method whose file is missing, or a dataset it was not evaluated on, becomes a row with
status ``"not run"`` and NaN scores; it never stops the tables from being built.

Both tables are long ("tidy") DataFrames, one row per (dataset, method), with the columns of
``COLUMNS``: the paper's value, ours and ``delta = ours - paper`` for PSNR and SSIM (daala's
variant, the paper's), our Wang SSIM, the paper's MOS (we ran no opinion test) and where our
number came from. ``write_tables`` saves them as CSV and as a JSON metrics file for
``dvc metrics show``: ``{"table2": {"Set5": {"srresnet": {"psnr": .., "ssim": ..}}}}``.

This module uses paper and the leaves errors and fileio.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from srgan import paper
from srgan.errors import UserError
from srgan.fileio import atomic_write, write_json_atomic

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
    "mos_paper",  # the paper's mean opinion score: we ran no opinion test
    "n_images",
    "source",  # where "ours" came from
    "demo",  # True when the numbers come from the tiny demo profile
)
#: Keys every dataset entry of an eval JSON must have.
EVAL_KEYS = ("psnr", "ssim", "ssim_wang", "n_images", "images")
#: Decimals kept in the JSON metrics files (dvc metrics show), per score.
JSON_DECIMALS = {"psnr": 4, "ssim": 5}
#: Depth-study files: results/depth/b<B>_skip<0|1>.json.
DEPTH_FILE = re.compile(r"^b(\d+)_skip([01])\.json$")
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
    """One ``srgan evaluate`` JSON file, checked; a malformed one is a UserError naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read evaluation file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"evaluation file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"evaluation file {path} must map dataset names to scores")
    for dataset, entry in data.items():
        missing = [k for k in EVAL_KEYS if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise UserError(
                f"evaluation file {path}: dataset {dataset!r} lacks {', '.join(missing)}"
            )
    return data


def load_evals(
    evals_dir: Path, methods: tuple[str, ...] = paper.OUR_METHODS
) -> dict[str, dict[str, Any]]:
    """``{method: eval JSON}`` for each method whose ``<evals_dir>/<method>.json`` exists."""
    evals_dir = Path(evals_dir)
    return {
        m: read_eval(evals_dir / f"{m}.json")
        for m in methods
        if (evals_dir / f"{m}.json").is_file()
    }


# --- building the tables -------------------------------------------------------------------


def _delta(ours: float, theirs: float) -> float:
    if math.isnan(ours) or math.isnan(theirs) or math.isinf(theirs):
        return math.nan
    return ours - theirs


def _row(
    dataset: str,
    method: str,
    model: str,
    score: paper.PaperScore,
    evals: dict[str, dict[str, Any]],
    evals_dir: Path,
    demo: bool,
) -> dict[str, Any]:
    """One table row: the paper's ``score`` beside ``model``'s evaluation on ``dataset``."""
    entry = evals.get(model, {}).get(dataset) if model else None
    if method in paper.TABLE2_QUOTED and model == "":
        status, source = QUOTED, "quoted from the paper (published outputs of the original authors)"
    elif method in paper.TABLE2_REFERENCE:
        status, source = REFERENCE, "the HR originals (PSNR infinite, SSIM 1)"
    elif entry is None:
        status = NOT_RUN
        path = evals_dir / f"{model}.json"
        source = f"{path} (no {dataset} entry)" if model in evals else f"{path} (missing)"
    else:
        status, source = OURS, str(evals_dir / f"{model}.json")
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
        "mos_paper": score.mos,
        "n_images": int(entry["n_images"]) if entry else 0,
        "source": source,
        "demo": demo,
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
    evals: dict[str, dict[str, Any]], evals_dir: Path = Path("results/eval"), demo: bool = False
) -> pd.DataFrame:
    """Table 1 (content-loss study): 5 variants x Set5, Set14, dataset-major, paper order.

    Test sets outside the paper's Table 1 that the evaluations cover (BSD100, the demo's
    test set) follow, without paper numbers."""
    rows = [
        _row(ds, m, m, paper.TABLE1[m].get(ds, NO_PAPER_SCORE), evals, Path(evals_dir), demo)
        for ds in (*paper.TABLE1_DATASETS, *extra_datasets(evals, paper.TABLE1_DATASETS))
        for m in paper.TABLE1_METHODS
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def table2(
    evals: dict[str, dict[str, Any]], evals_dir: Path = Path("results/eval"), demo: bool = False
) -> pd.DataFrame:
    """Table 2 (comparison): the paper's 9 methods x Set5, Set14, BSD100, paper order.

    Test sets outside the paper's table that the evaluations cover follow with the methods we
    run (NN, bicubic, SRResNet, SRGAN) only, without paper numbers."""
    evals_dir = Path(evals_dir)
    rows = [
        _row(ds, m, paper.TABLE2_REPRODUCED.get(m, ""), paper.TABLE2[m][ds], evals, evals_dir, demo)
        for ds in paper.TABLE2_DATASETS
        for m in paper.TABLE2_METHODS
    ]
    rows += [
        _row(ds, m, model, NO_PAPER_SCORE, evals, evals_dir, demo)
        for ds in extra_datasets(evals, paper.TABLE2_DATASETS)
        for m, model in paper.TABLE2_REPRODUCED.items()
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def build_tables(evals_dir: Path, demo: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 1 and 2 from the eval JSONs in ``evals_dir``."""
    evals = load_evals(Path(evals_dir))
    return table1(evals, evals_dir, demo), table2(evals, evals_dir, demo)


def metrics(table: pd.DataFrame, name: str) -> dict[str, Any]:
    """Our PSNR and SSIM (daala's) as ``{name: {dataset: {method: {"psnr", "ssim"}}}}``.

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


# --- writing --------------------------------------------------------------------------------


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    """``table`` as UTF-8 CSV (the labels hold non-ASCII characters), atomically."""
    with atomic_write(path) as handle:
        handle.write(table.to_csv(index=False).encode("utf-8"))


def write_table(table: pd.DataFrame, out_dir: Path, name: str) -> list[Path]:
    """``<out_dir>/<name>.csv`` (every row) and ``<name>.json`` (metrics), atomically."""
    out_dir = Path(out_dir)
    csv_path, json_path = out_dir / f"{name}.csv", out_dir / f"{name}.json"
    _write_csv(csv_path, table)
    write_json_atomic(json_path, metrics(table, name))
    return [csv_path, json_path]


def write_tables(
    evals_dir: Path, out_dir: Path, demo: bool = False, depth_dir: Path | None = None
) -> list[Path]:
    """Build and write table1/table2 (CSV + JSON) and, with depth results, depth.csv."""
    t1, t2 = build_tables(evals_dir, demo)
    written = write_table(t1, out_dir, "table1") + write_table(t2, out_dir, "table2")
    if depth_dir is not None:
        depth = depth_table(depth_dir)
        if not depth.empty:
            path = Path(out_dir) / "depth.csv"
            _write_csv(path, depth)
            written.append(path)
    return written


def read_table(path: Path) -> pd.DataFrame:
    """A table CSV written by ``write_table``; a missing file is a UserError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"table file not found: {path} (run `srgan tables` first)")
    return pd.read_csv(path, keep_default_na=False, na_values=[""]).fillna({"model": ""})


# --- per-image scores, depth study ----------------------------------------------------------


def per_image_scores(evals_dir: Path, methods: tuple[str, ...] = paper.OUR_METHODS) -> pd.DataFrame:
    """Long table of every image score: method, label, dataset, image, psnr, ssim, ssim_wang."""
    rows = [
        {
            "method": method,
            "label": paper.LABELS[method],
            "dataset": dataset,
            "image": stem,
            "psnr": float(s["psnr"]),
            "ssim": float(s["ssim"]),
            "ssim_wang": float(s["ssim_wang"]),
        }
        for method, data in load_evals(Path(evals_dir), methods).items()
        for dataset, entry in data.items()
        for stem, s in entry["images"].items()
    ]
    columns = ["method", "label", "dataset", "image", "psnr", "ssim", "ssim_wang"]
    return pd.DataFrame(rows, columns=columns)


def depth_table(depth_dir: Path) -> pd.DataFrame:
    """The depth study: one row per ``b<B>_skip<0|1>.json`` and dataset in it, sorted.

    Empty (with the columns) when the folder is missing or holds no such file.
    """
    depth_dir = Path(depth_dir)
    files = sorted(depth_dir.glob("b*_skip*.json")) if depth_dir.is_dir() else []
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


# --- display (the notebooks) ------------------------------------------------------------------

#: Display columns of one dataset's table, from the long table's columns.
DISPLAY_COLUMNS = {
    "psnr_paper": "PSNR paper",
    "psnr_ours": "PSNR ours",
    "psnr_delta": "Δ PSNR",
    "ssim_paper": "SSIM paper",
    "ssim_ours": "SSIM ours",
    "ssim_delta": "Δ SSIM",
    "ssim_wang_ours": "SSIM (Wang) ours",
    "mos_paper": "MOS (paper's)",
    "status": "status",
}


def sources_frame(table: pd.DataFrame, evals_dir: Path) -> pd.DataFrame:
    """One row per model of ``table``: its evaluation file and how many images each test set
    contributed ("–" where the file has no entry for that set, "missing" where there is no
    file). Where the "ours" numbers of a table come from, at a glance."""
    rows = table[table["model"] != ""]
    datasets = list(dict.fromkeys(rows["dataset"]))
    records = []
    for (label, model), group in rows.groupby(["label", "model"], sort=False):
        path = evals_dir / f"{model}.json"
        counts = dict(zip(group["dataset"], group["n_images"], strict=True))
        statuses = dict(zip(group["dataset"], group["status"], strict=True))
        record = {"method": label, "model": model, "evaluation file": str(path)}
        for dataset in datasets:
            ran = statuses.get(dataset) == OURS
            record[f"{dataset} images"] = str(counts[dataset]) if ran else "–"
        if not path.exists():
            record["evaluation file"] += " (missing)"
        records.append(record)
    return pd.DataFrame.from_records(records).set_index(["method", "model"])


def display_frame(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """One dataset's rows as the paper lays them out: a method per row, named by the paper.

    Quoted rows are labelled ``"SRCNN (quoted)"``; Table 2's reproduced models name the
    variant standing for them (``"SRGAN (SRGAN-VGG54)"``).
    """
    rows = table[table["dataset"] == dataset]
    labels = []
    for row in rows.itertuples(index=False):
        label = row.label
        if row.status == QUOTED:
            label += " (quoted)"
        elif row.model and row.model != row.method:
            label += f" ({paper.LABELS[row.model]})"
        labels.append(label)
    frame = rows[list(DISPLAY_COLUMNS)].rename(columns=DISPLAY_COLUMNS)
    frame.index = pd.Index(labels)
    return frame


def _fmt(value: float, spec: str, missing: str) -> str:
    if pd.isna(value):
        return missing
    if math.isinf(value):
        return "∞"
    return format(value, spec)


def format_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``display_frame`` as text: fixed decimals, "not run" where we have no number yet,
    "–" where there is none to have (quoted methods and HR have no number of ours)."""
    out = pd.DataFrame(index=frame.index, columns=frame.columns, dtype=object)
    for label, row in frame.iterrows():
        ours_missing = "–" if row["status"] in (QUOTED, REFERENCE) else "not run"
        for column in frame.columns:
            value = row[column]
            if column == "status":
                out.loc[label, column] = value
            elif column.startswith("Δ"):
                spec = "+.2f" if "PSNR" in column else "+.4f"
                out.loc[label, column] = _fmt(value, spec, "–")
            else:
                spec = ".4f" if "SSIM" in column else ".2f"
                missing = ours_missing if column.endswith("ours") else "–"
                out.loc[label, column] = _fmt(value, spec, missing)
    return out


#: Text colours of the styled tables.
MUTED_STYLE = "color: #777; font-style: italic"
BETTER_STYLE = "color: #1a7f37"
WORSE_STYLE = "color: #c62828"


def style_frame(frame: pd.DataFrame):
    """A pandas Styler of ``format_frame(frame)``: quoted/reference rows in grey italics,
    deltas green where ours is at least the paper's and red where it is below."""

    def css(_: pd.DataFrame) -> pd.DataFrame:
        styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for label, row in frame.iterrows():
            if row["status"] in (QUOTED, REFERENCE):
                styles.loc[label, :] = MUTED_STYLE
            for column in ("Δ PSNR", "Δ SSIM"):
                if not pd.isna(row[column]):
                    styles.loc[label, column] = BETTER_STYLE if row[column] >= 0 else WORSE_STYLE
        return styles

    return format_frame(frame).style.apply(css, axis=None)
