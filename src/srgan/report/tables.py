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
where our number came from.
``write_tables`` saves the tables as CSV and as a JSON metrics file for ``dvc metrics show``:
``{"table2": {"Set5": {"srresnet": {"psnr": .., "ssim": .., "lpips": .., "niqe": ..}}}}``.

What is built on them lives beside: ``read_table`` (``srgan.report.table_reading``) reads a
CSV back checked; ``verdict`` (``srgan.report.reproduced``) answers "was it reproduced?";
``perception_points`` and ``mos_correlation`` (``srgan.report.perception``) set our
perceptual scores beside the MOS; ``format_metrics`` (``srgan.report.dvc_views``) prints a
metrics file readably.

How a table is shown (one test set laid out as in the paper, numbers formatted) is
``srgan.report.table_display``'s. This module uses paper, paths, the colour metric's key and
the leaves errors and fileio.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from srgan.core import paper, paths
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
