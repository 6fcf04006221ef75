"""Where the reported numbers came from: code, configuration, software, hardware, data, time.

Every report shows ``gather(...)``: the git commit (and whether the tree had local changes),
the hash of the effective configuration, package versions, the machine, the training time of
each model (Snakemake's ``benchmark:`` files in ``results/timings/``), the run record of each
trained model (its ``final.json``), checksums of the data, and the deviations from the paper
that the configuration puts in force. ``reasons`` says why numbers must not be compared with
the paper (:func:`result_reasons`): the configuration's (``srgan.core.comparability.reasons``)
and those each trained model recorded. ``srgan.report.table_display`` turns it into
Markdown.

This module uses ``srgan.models.checkpoints`` (torch-free ``read_record``) and ``srgan.core``.
It does not import torch.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from srgan.core import comparability, datasets, paper, paths, variants
from srgan.core.config import QUICK_PROFILE, Config, from_dict
from srgan.core.errors import UserError
from srgan.core.fileio import git_state, read_sums, sha256_file, sums_digest
from srgan.core.record import RunRecord
from srgan.models import checkpoints

#: Packages whose versions a report lists.
PACKAGES = (
    "srgan-repro",
    "torch",
    "torchvision",
    "torchmetrics",  # LPIPS
    "pyiqa",  # NIQE
    "numpy",
    "scipy",
    "pillow",
    "scikit-image",
    "pandas",
    "matplotlib",
    "seaborn",
    "snakemake",
    "dvc",
    "dvclive",
    "papermill",
)
#: Seconds to wait for nvidia-smi before giving up on it.
TOOL_TIMEOUT_S = 10
#: Columns of a Snakemake benchmark file this module reads (seconds, peak resident memory MB).
BENCHMARK_SECONDS, BENCHMARK_RSS = "s", "max_rss"
SECONDS_PER_MINUTE, SECONDS_PER_HOUR, SECONDS_PER_DAY = 60, 3600, 86400
#: The columns of the report's table of trained models (from their run records).
MODEL_COLUMNS = (
    "model",
    "variant",
    "step",
    "profile",
    "config_hash",
    "git_commit",
    "vgg_weights",
    "device",
    "precision",
    "reasons",
)
#: Characters of a git commit shown in tables.
GIT_SHORT = 12
#: Evaluation choices the paper leaves open, fixed in srgan/evaluation.py (not configurable).
PROTOCOL_CHOICES = (
    "LR test images are MATLAB-bicubic x1/4 rounded to 8 bits, as a saved LR PNG is",
    "SR outputs are quantised to 8 bits before scoring; Y is rounded to an 8-bit plane",
    "daala SSIM is computed on the border-cropped plane (its sigma follows the cropped height)",
)


# --- code and software ------------------------------------------------------------------------


def _run(cmd: list[str]) -> str | None:
    """stdout of ``cmd``, stripped, or None when the tool is missing or fails."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package ("not installed" if absent), and Python's."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine() or "unknown"


def _memory_gib() -> float | None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return None


def hardware() -> dict[str, Any]:
    """This machine: OS, CPU model and cores, memory, GPUs (from nvidia-smi, if any)."""
    gpus = _run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"])
    return {
        "os": f"{platform.system()} {platform.release()}",
        "cpu": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "gpus": [g.strip() for g in gpus.splitlines() if g.strip()] if gpus else [],
    }


# --- training time and trained models -------------------------------------------------------


def read_benchmark(path: Path) -> dict[str, float]:
    """Wall time (s, mean over repeats) and peak memory (max_rss, MB) of a benchmark file."""
    try:
        frame = pd.read_csv(path, sep="\t")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"cannot read Snakemake benchmark file {path}: {exc}") from None
    if BENCHMARK_SECONDS not in frame.columns or frame.empty:
        raise UserError(f"Snakemake benchmark file {path} has no '{BENCHMARK_SECONDS}' column")
    rss = pd.to_numeric(frame[BENCHMARK_RSS], errors="coerce") if BENCHMARK_RSS in frame else None
    return {
        "seconds": float(frame[BENCHMARK_SECONDS].mean()),
        "max_rss_mb": float(rss.max()) if rss is not None and rss.notna().any() else math.nan,
    }


def format_duration(seconds: float) -> str:
    """``3725.0`` -> ``"1:02:05"``; days are written out (``"2 d 3:00:00"``)."""
    if math.isnan(seconds):
        return "–"
    days, rest = divmod(round(seconds), SECONDS_PER_DAY)
    hours, rest = divmod(rest, SECONDS_PER_HOUR)
    minutes, secs = divmod(rest, SECONDS_PER_MINUTE)
    clock = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days} d {clock}" if days else clock


def training_times(timings_dir: Path = paths.TIMINGS_DIR) -> pd.DataFrame:
    """One row per training job's timing file (``paths.train_timing``: ``train_<name>.tsv``):
    model, seconds, wall time (h:m:s), peak memory."""
    timings_dir = Path(timings_dir)
    pattern = paths.train_timing("*", timings_dir).name
    files = sorted(timings_dir.glob(pattern)) if timings_dir.is_dir() else []
    rows = []
    for path in files:
        bench = read_benchmark(path)
        rows.append(
            {
                "model": path.stem.removeprefix(paths.TRAIN_TIMING_PREFIX),
                "seconds": bench["seconds"],
                "wall_time": format_duration(bench["seconds"]),
                "max_rss_mb": bench["max_rss_mb"],
                "source": str(path),
            }
        )
    return pd.DataFrame(rows, columns=["model", "seconds", "wall_time", "max_rss_mb", "source"])


def _final_files(top: Path) -> list[Path]:
    """The ``final.pt`` of each run folder directly in ``top``, sorted."""
    return sorted(Path(top).glob(paths.RunFolder(Path("*")).final.as_posix()))


@dataclass(frozen=True)
class TrainedModel:
    """A trained model the reports show: its name (``srgan_mse``, ``depth/b4_skip1``), its
    ``final.pt`` and its run record."""

    name: str
    path: Path
    record: RunRecord


def models(runs_dir: Path = paths.RUNS_DIR) -> list[TrainedModel]:
    """Every trained model, variants (``runs/<variant>/final.pt``) then depth models
    (``runs/depth/<name>/final.pt``), each sorted. Their records come from ``final.json``
    (``checkpoints.read_record``), without torch; one that cannot be read is a one-line
    UserError naming it."""
    runs_dir = Path(runs_dir)
    depth_dir = paths.rebased(paths.DEPTH_RUNS_DIR, runs_dir)
    found = []
    for final in _final_files(runs_dir) + _final_files(depth_dir):
        record = checkpoints.read_record(paths.RunFolder(final.parent))
        if record is not None:
            found.append(TrainedModel(_model_name(final), final, record))
    return found


def models_frame(found: list[TrainedModel], current_hash: str | None = None) -> pd.DataFrame:
    """The report's model table (``MODEL_COLUMNS``), and whether each was trained with the
    current configuration (``same_config``)."""
    rows = []
    for model in found:
        record = model.record
        row = {
            "model": model.name,
            "variant": record.variant,
            "step": record.step,
            "profile": record.profile,
            "config_hash": record.config_hash,
            "git_commit": record.software.git_commit[:GIT_SHORT],
            "vgg_weights": record.vgg_weights or "–",
            "device": record.software.device,
            "precision": record.software.precision,
            "reasons": "; ".join(record.reasons) or "–",
        }
        if current_hash is not None:
            row["same_config"] = record.config_hash == current_hash
        rows.append(row)
    columns = [*MODEL_COLUMNS, *(["same_config"] if current_hash is not None else [])]
    return pd.DataFrame(rows, columns=columns)


# --- data ----------------------------------------------------------------------------------


def folder_sums(folder: Path) -> dict[str, str]:
    """``{file name: sha256}`` of the files in ``folder`` (not its sub-folders), hashed now."""
    return {p.name: sha256_file(p) for p in sorted(Path(folder).iterdir()) if p.is_file()}


def _recorded_sums(path: Path) -> dict[str, str]:
    """A ``sha256sum`` list; a malformed one is a UserError naming the file and line."""
    try:
        return read_sums(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _checksum_row(name: str, sums: dict[str, str], source: str) -> dict[str, Any]:
    return {"dataset": name, "files": len(sums), "sha256": sums_digest(sums), "source": source}


def dataset_checksum(name: str, folder: Path, config: Config, hash_files: bool) -> dict[str, Any]:
    """Files and a combined sha256 of one dataset, from the first source that has them.

    Sources, in order: the workflow's manifest ``paths.manifest(config, name)``; the mirror's
    ``SHA256SUMS``; hashing the files (only with ``hash_files``, for the small test sets).
    The combined digest is ``fileio.sums_digest``: the same files give the same digest from
    each source.
    """
    recorded = paths.manifest(config, name)
    if recorded.is_file():
        return _checksum_row(name, _recorded_sums(recorded), str(recorded))
    mirror = Path(config.data.mirror) if config.data.mirror else None
    mirror_sums = mirror / datasets.MIRROR_SUMS if mirror else None
    if mirror_sums is not None and mirror_sums.is_file() and folder.is_relative_to(mirror):
        prefix = f"{folder.relative_to(mirror).as_posix()}/"
        sums = {n: d for n, d in _recorded_sums(mirror_sums).items() if n.startswith(prefix)}
        if sums:
            return _checksum_row(name, sums, str(mirror_sums))
    if hash_files and folder.is_dir():
        return _checksum_row(name, folder_sums(folder), f"hashed now from {folder}")
    return {"dataset": name, "files": 0, "sha256": "not recorded", "source": str(folder)}


#: The data table's name for the training set: "train: <its manifest name>".
TRAIN_LABEL = "train: {}"


def data_checksums(config: Config, data_dir: Path | None = None) -> pd.DataFrame:
    """Checksums of the test sets (in ``data_dir``, else ``paths.test_sets_dir``) and of the
    training set (its manifest ``paths.manifest(config, paths.train_set_name(config))``)."""
    test_dir = Path(data_dir) if data_dir else paths.test_sets_dir(config)
    rows = [
        dataset_checksum(name, test_dir / name, config, hash_files=True)
        for name in config.evaluate.datasets
    ]
    try:
        train = paths.train_images_dir(config)
    except UserError:
        train = None
    if train is not None:
        name = paths.train_set_name(config)
        row = dataset_checksum(name, train, config, hash_files=False)
        rows.append({**row, "dataset": TRAIN_LABEL.format(name)})
    return pd.DataFrame(rows, columns=["dataset", "files", "sha256", "source"])


# --- deviations and demo ------------------------------------------------------------------


def _lookup(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node[part]
    return node


def _same(value: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(value, int | float):
        return math.isclose(value, expected, rel_tol=1e-9)
    return value == expected


def deviations(config: dict[str, Any]) -> list[str]:
    """Each setting the paper states that ``config`` (an effective config dict) changes."""
    found = []
    for setting in paper.PAPER_SETTINGS:
        value = _lookup(config, setting.key)
        if not _same(value, setting.value):
            found.append(f"{setting.key} = {value!r} (paper: {setting.what})")
    if config["data"]["train_set"] == datasets.TRAIN_SET_IMAGENET:
        samples = config["data"]["imagenet_samples"]
        if samples != paper.IMAGENET_SAMPLES:
            found.append(f"data.imagenet_samples = {samples} (paper: 350 thousand)")
    for variant, steps in config["train"]["variant_steps"].items():
        found.append(f"train.variant_steps.{variant} = {steps} (paper: the schedule's steps)")
    if config["train"]["precision"] != "fp32":
        found.append(f"train.precision = {config['train']['precision']!r} (paper: fp32 assumed)")
    return found


def open_point_choices(config: dict[str, Any]) -> list[str]:
    """The value this configuration picks for each point the paper leaves open."""
    return [f"{what}: {_lookup(config, key)!r} ({key})" for key, what in paper.OPEN_POINTS.items()]


def _model_name(final: Path) -> str:
    """``runs/srgan_mse/final.pt`` -> ``srgan_mse`` (``depth/b4_skip1`` for depth models)."""
    run = Path(final).parent
    depth = run.parent.name == paths.DEPTH_RUNS_DIR.name
    return f"{paths.DEPTH_RUNS_DIR.name}/{run.name}" if depth else run.name


def result_reasons(
    config: Config, found: list[TrainedModel] | tuple[TrainedModel, ...] = ()
) -> list[str]:
    """Why these results are not comparable with the paper's ([] when they are): the
    configuration's (``comparability.reasons`` of its results), then each reason a trained
    model recorded that the configuration would not give that model, naming the models."""
    reasons = comparability.reasons(config, results=True)
    recorded: dict[str, list[str]] = {}
    for model in found:
        given = comparability.reasons(config, variants.get(model.record.variant))
        for reason in model.record.reasons:
            if reason not in given and reason not in reasons:
                recorded.setdefault(reason, []).append(model.name)
    return reasons + [
        f"{reason} (models: {', '.join(names)})" for reason, names in recorded.items()
    ]


def profile_note(config: Config) -> str | None:
    """What the reports say about a shortened but real run (the quick profile); None for the
    paper's profile, and for the demo, whose banner says more (:func:`result_reasons`)."""
    if config.profile != QUICK_PROFILE:
        return None
    srresnet, srgan = config.train.srresnet, config.train.srgan
    return (
        f"Quick profile (config/quick.yaml): the paper's models on a shortened schedule "
        f"(SRResNet {srresnet.steps:,} iterations; SRGAN {srgan.steps:,}, the learning rate "
        f"dropping at {srgan.lr_decay_step:,}). A check of the replication in about an hour "
        "on one GPU, not its final numbers."
    )


# --- everything together ----------------------------------------------------------------------


def gather(
    config: dict[str, Any],
    runs_dir: Path = paths.RUNS_DIR,
    timings_dir: Path = paths.TIMINGS_DIR,
    data_dir: Path | None = None,
    repo: Path = Path("."),
) -> dict[str, Any]:
    """All provenance of a report, for the effective configuration dict ``config``."""
    typed = from_dict(config)
    found = models(runs_dir)
    config_hash = typed.hash()
    return {
        "git": git_state(repo),
        "config_hash": config_hash,
        "reasons": result_reasons(typed, found),
        "demo": typed.demo,
        "profile_note": profile_note(typed),
        "deviations": deviations(config),
        "open_points": open_point_choices(config),
        "protocol_choices": list(PROTOCOL_CHOICES),
        "packages": package_versions(),
        "hardware": hardware(),
        "python_executable": sys.executable,
        "training_times": training_times(timings_dir),
        "models": models_frame(found, config_hash),
        "data": data_checksums(typed, data_dir),
    }
