"""Where the reported numbers came from: code, configuration, software, hardware, data, time.

Every report shows ``gather(...)``: the git commit (and whether the tree had local changes),
the hash of the effective configuration, package versions, the machine, the training time of
each model (Snakemake ``benchmark:`` files), the metadata of each trained model (``final.pt``),
checksums of the data, and the deviations from the paper that the configuration puts in force.
``demo_reasons`` says why numbers must not be compared with the paper (the demo profile, or
models trained with random VGG weights).

This module uses config, paper and the leaves errors and fileio; ``final.pt`` is read with
``srgan.models.read_checkpoint`` (imported only then, so torch loads only for that).
"""

from __future__ import annotations

import hashlib
import html
import importlib.metadata
import math
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from srgan import paper
from srgan.config import Config, benchmarks_dir, from_dict, train_images_dir
from srgan.errors import UserError
from srgan.fileio import git_state, sha256_file

#: Packages whose versions a report lists.
PACKAGES = (
    "srgan-repro",
    "torch",
    "torchvision",
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
#: Benchmark files of training jobs: results/benchmarks/train_<name>.tsv.
TRAIN_BENCHMARK_PREFIX = "train_"
#: Metadata keys of final.pt a report shows (LAYOUT.md).
MODEL_KEYS = (
    "variant",
    "step",
    "config_hash",
    "git_commit",
    "vgg_weights",
    "demo",
    "device",
    "precision",
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


def training_times(bench_dir: Path) -> pd.DataFrame:
    """One row per ``train_<name>.tsv``: model, seconds, wall time (h:m:s), peak memory."""
    bench_dir = Path(bench_dir)
    files = sorted(bench_dir.glob(f"{TRAIN_BENCHMARK_PREFIX}*.tsv")) if bench_dir.is_dir() else []
    rows = []
    for path in files:
        bench = read_benchmark(path)
        rows.append(
            {
                "model": path.stem.removeprefix(TRAIN_BENCHMARK_PREFIX),
                "seconds": bench["seconds"],
                "wall_time": format_duration(bench["seconds"]),
                "max_rss_mb": bench["max_rss_mb"],
                "source": str(path),
            }
        )
    return pd.DataFrame(rows, columns=["model", "seconds", "wall_time", "max_rss_mb", "source"])


def read_model_metadata(path: Path) -> dict[str, Any]:
    """The metadata of a ``final.pt`` (under ``"metadata"``, else the top level), read safely
    with ``srgan.models.read_checkpoint`` (weights_only); tensors and weights are left out."""
    import torch

    from srgan.models import read_checkpoint

    blob = read_checkpoint(path)
    meta = blob.get("metadata") if isinstance(blob.get("metadata"), dict) else blob
    return {
        k: v for k, v in meta.items() if not isinstance(v, torch.Tensor | dict) or k == "config"
    }


def models(runs_dir: Path) -> list[dict[str, Any]]:
    """Metadata of every ``final.pt`` under ``runs_dir`` (variants and depth models), sorted."""
    runs_dir = Path(runs_dir)
    paths = sorted(runs_dir.glob("*/final.pt")) + sorted(runs_dir.glob("depth/*/final.pt"))
    found = []
    for path in paths:
        meta = read_model_metadata(path)
        found.append({"path": str(path), **meta})
    return found


def models_frame(found: list[dict[str, Any]], current_hash: str | None = None) -> pd.DataFrame:
    """The report's model table: MODEL_KEYS per model and whether its config is the current one."""
    rows = []
    for meta in found:
        row = {"model": _model_name(meta)}
        row.update({k: meta.get(k, "–") for k in MODEL_KEYS})
        if isinstance(row["git_commit"], str):
            row["git_commit"] = row["git_commit"][:GIT_SHORT]
        if current_hash is not None:
            row["same_config"] = meta.get("config_hash") == current_hash
        rows.append(row)
    return pd.DataFrame(rows)


# --- data ----------------------------------------------------------------------------------


def _digest_lines(lines: list[str]) -> str:
    """sha256 of the sorted ``"<sha256>  <file name>"`` lines (folders dropped from names, so
    a checksum file, the mirror's SHA256SUMS and hashing the files agree)."""
    normalised = []
    for line in lines:
        digest, _, name = line.strip().partition(" ")
        normalised.append(f"{digest}  {Path(name.strip().lstrip('*')).name}")
    return hashlib.sha256("\n".join(sorted(normalised)).encode()).hexdigest()


def _hash_folder(folder: Path) -> list[str]:
    return [f"{sha256_file(p)}  {p.name}" for p in sorted(folder.iterdir()) if p.is_file()]


def dataset_checksum(name: str, folder: Path, config: Config, hash_files: bool) -> dict[str, Any]:
    """Files and a combined sha256 of one dataset, from the first source that has them.

    Sources, in order: the workflow's ``<data.root>/checksums/<name>.sha256``; the mirror's
    ``SHA256SUMS``; hashing the files (only with ``hash_files``, for the small test sets).
    The combined digest is the sha256 of the sorted "hash  name" lines.
    """
    recorded = Path(config.data.root) / "checksums" / f"{name}.sha256"
    if recorded.is_file():
        lines = [ln for ln in recorded.read_text().splitlines() if ln.strip()]
        return {
            "dataset": name,
            "files": len(lines),
            "sha256": _digest_lines(lines),
            "source": str(recorded),
        }
    mirror = Path(config.data.mirror) if config.data.mirror else None
    sums = mirror / "SHA256SUMS" if mirror else None
    if sums is not None and sums.is_file() and folder.is_relative_to(mirror):
        prefix = f"{folder.relative_to(mirror).as_posix()}/"
        lines = [ln for ln in sums.read_text().splitlines() if f"  {prefix}" in ln]
        if lines:
            return {
                "dataset": name,
                "files": len(lines),
                "sha256": _digest_lines(lines),
                "source": str(sums),
            }
    if hash_files and folder.is_dir():
        lines = _hash_folder(folder)
        return {
            "dataset": name,
            "files": len(lines),
            "sha256": _digest_lines(lines),
            "source": f"hashed now from {folder}",
        }
    return {"dataset": name, "files": 0, "sha256": "not recorded", "source": str(folder)}


def data_checksums(config: Config, data_dir: Path | None = None) -> pd.DataFrame:
    """Checksums of the test sets (``data_dir`` or the config's) and of the training set."""
    bench = Path(data_dir) if data_dir else benchmarks_dir(config)
    rows = [
        dataset_checksum(name, bench / name, config, hash_files=True)
        for name in config.evaluate.datasets
    ]
    try:
        train = train_images_dir(config)
    except UserError:
        train = None
    if train is not None:
        rows.append(
            dataset_checksum(f"train: {config.data.train_set}", train, config, hash_files=False)
        )
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
    if config["data"]["train_set"] == "ImageNet":
        samples = config["data"]["imagenet_samples"]
        if samples != paper.IMAGENET_SAMPLES:
            found.append(f"data.imagenet_samples = {samples} (paper: 350 thousand)")
    if config["train"]["precision"] != "fp32":
        found.append(f"train.precision = {config['train']['precision']!r} (paper: fp32 assumed)")
    return found


def open_point_choices(config: dict[str, Any]) -> list[str]:
    """The value this configuration picks for each point the paper leaves open."""
    return [f"{what}: {_lookup(config, key)!r} ({key})" for key, what in paper.OPEN_POINTS.items()]


def _model_name(meta: dict[str, Any]) -> str:
    """``runs/srgan_mse/final.pt`` -> ``srgan_mse`` (``depth/b4_skip1`` for depth models)."""
    path = Path(meta.get("path", "?/final.pt"))
    parent = path.parent
    return f"{parent.parent.name}/{parent.name}" if parent.parent.name == "depth" else parent.name


def demo_reasons(config: dict[str, Any], found_models: list[dict[str, Any]] = ()) -> list[str]:
    """Why these numbers are not comparable with the paper's (empty when they are)."""
    reasons = []
    if config.get("demo"):
        reasons.append("the configuration is the demo profile (demo: true)")
    if config["vgg"]["weights"] == "random":
        reasons.append("the configuration uses random VGG19 weights (vgg.weights: random)")
    demo_models = [_model_name(m) for m in found_models if m.get("demo")]
    if demo_models:
        reasons.append(f"models trained by a demo run: {', '.join(demo_models)}")
    random_vgg = [_model_name(m) for m in found_models if m.get("vgg_weights") == "random"]
    if random_vgg:
        reasons.append(f"models trained with random VGG19 weights: {', '.join(random_vgg)}")
    return reasons


# --- everything together ----------------------------------------------------------------------


def gather(
    config: dict[str, Any],
    runs_dir: Path = Path("runs"),
    bench_dir: Path = Path("results/benchmarks"),
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
        "demo_reasons": demo_reasons(config, found),
        "deviations": deviations(config),
        "open_points": open_point_choices(config),
        "protocol_choices": list(PROTOCOL_CHOICES),
        "packages": package_versions(),
        "hardware": hardware(),
        "python_executable": sys.executable,
        "training_times": training_times(bench_dir),
        "models": models_frame(found, config_hash),
        "data": data_checksums(typed, data_dir),
    }


def _md_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_none found_\n"
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = [
        "| " + " | ".join(html.escape(_cell(v)) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body]) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.1f}"
    return str(value).replace("|", "\\|")


def to_markdown(prov: dict[str, Any]) -> str:
    """The provenance section of a report, as Markdown."""
    git = prov["git"]
    dirty = {True: " (with uncommitted changes)", False: "", None: ""}[git["dirty"]]
    hw = prov["hardware"]
    gpus = ", ".join(hw["gpus"]) or "none"
    lines = [
        "## Provenance",
        "",
        f"- **Git commit**: `{git['commit']}`{dirty}",
        f"- **Effective configuration hash**: `{prov['config_hash']}`",
        f"- **Report machine**: {hw['cpu']} ({hw['cpu_cores']} cores), "
        f"{hw['memory_gib']} GiB RAM, GPU: {gpus}; {hw['os']}",
        "- **Packages**: "
        + ", ".join(f"{name} {version}" for name, version in prov["packages"].items()),
        "",
        "**Deviations from the paper in force**" + (":" if prov["deviations"] else ": none"),
        "",
        *[f"- {d}" for d in prov["deviations"]],
        "",
        "**Choices for points the paper leaves open**:",
        "",
        *[f"- {c}" for c in prov["open_points"]],
        *[f"- {c}" for c in prov["protocol_choices"]],
        "",
        "**Training time per model** (Snakemake benchmark files):",
        "",
        _md_table(prov["training_times"].drop(columns=["seconds"], errors="ignore")),
        "**Trained models** (metadata of `final.pt`; `same_config`: trained with this "
        "report's configuration):",
        "",
        _md_table(prov["models"]),
        "**Data checksums** (sha256 of the sorted per-file checksums):",
        "",
        _md_table(prov["data"]),
    ]
    return "\n".join(lines)


#: The banner of demo output.
DEMO_BANNER_STYLE = (
    "border: 3px solid #c62828; background: #fdecea; color: #8b1a1a; padding: 12px 16px; "
    "margin: 8px 0 16px 0; font-size: 1.1em; border-radius: 4px;"
)


def demo_banner_html(reasons: list[str]) -> str:
    """A visible warning that the numbers come from a tiny CPU run ('' when there is none)."""
    if not reasons:
        return ""
    items = "".join(f"<li>{html.escape(r)}</li>" for r in reasons)
    return (
        f'<div class="srgan-demo-banner" style="{DEMO_BANNER_STYLE}">'
        "<strong>DEMO OUTPUT: these numbers come from a tiny CPU run and are NOT comparable "
        "to the paper.</strong> They only show that the pipeline works end to end."
        f"<ul style='margin: 6px 0 0 0'>{items}</ul></div>"
    )
