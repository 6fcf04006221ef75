"""The configuration: ``params.yaml`` layered with profiles and ``--set`` overrides.

One file, ``params.yaml``, holds the paper's settings; Snakemake reads it as its
``configfile`` and DVC as its params file. A profile (``config/demo.yaml``) and
``--set key=value`` pairs override it, in that order. The merged result is validated
against ``config_schema.yaml`` (a wrong key or value names itself in a ``UserError``)
and turned into the typed, frozen dataclasses below. Beyond the schema: a number must be
finite (YAML's ``.nan`` and ``.inf`` pass JSON Schema's bounds), a file must be UTF-8 YAML,
and a key given twice in one mapping is an error, not a silent override.

This module is a leaf: it imports nothing else from the package but ``errors``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from srgan.core.errors import UserError

#: The ``profile`` of params.yaml (the paper's settings, also config/paper.yaml), of
#: config/quick.yaml (the paper's models on a shortened schedule) and of config/demo.yaml (the
#: offline CPU demo): what the reports name, and the one place that says a run is a demo.
PAPER_PROFILE, QUICK_PROFILE, DEMO_PROFILE = "paper", "quick", "demo"

#: ``evaluate.perceptual.weights`` of the offline demo and tests: random LPIPS backbones and no
#: pristine NIQE model (``srgan.metrics.perceptual``), not comparable with published values.
PERCEPTUAL_STANDIN = "standin"

SCHEMA_PATH = Path(__file__).with_name("config_schema.yaml")
PARAMS_FILE = "params.yaml"


@dataclass(frozen=True)
class DataConfig:
    root: str
    mirror: str | None
    train_set: str
    train_dir: str | None
    imagenet_dir: str | None
    imagenet_samples: int
    test_sets: tuple[str, ...]
    crop_size: int
    batch_size: int
    on_bad_image: str
    workers: int
    cache_images: int
    pipeline: str


@dataclass(frozen=True)
class ModelConfig:
    blocks: int
    channels: int
    prelu: str
    long_skip: bool


@dataclass(frozen=True)
class DiscriminatorConfig:
    channels: tuple[int, ...]
    strides: tuple[int, ...]
    dense: int


@dataclass(frozen=True)
class VGGConfig:
    weights: str
    normalization: str


@dataclass(frozen=True)
class LossConfig:
    adversarial_weight: float
    vgg_divisor: float
    tv_weight: float


@dataclass(frozen=True)
class SRResNetSchedule:
    steps: int
    lr: float
    lr_decay_step: int
    lr_decay: float


@dataclass(frozen=True)
class SRGANSchedule:
    steps: int
    lr: float
    lr_decay_step: int
    lr_decay: float
    d_steps: int


@dataclass(frozen=True)
class TrainConfig:
    srresnet: SRResNetSchedule
    srgan: SRGANSchedule
    adam_beta1: float
    adam_beta2: float
    checkpoint_every: int
    log_every: int
    eval_every: int
    precision: str
    channels_last: bool
    compile: bool
    step: str
    adam_kernel: str
    deterministic: bool
    variant_steps: dict[str, int]
    snapshot_steps: tuple[int, ...]


@dataclass(frozen=True)
class PerceptualConfig:
    enabled: bool
    lpips: tuple[str, ...]
    niqe: bool
    weights: str


@dataclass(frozen=True)
class EvaluateConfig:
    datasets: tuple[str, ...]
    baselines: tuple[str, ...]
    tile: int
    perceptual: PerceptualConfig


@dataclass(frozen=True)
class DepthStudyConfig:
    blocks: tuple[int, ...]
    long_skip: tuple[bool, ...]
    steps: int
    dataset: str


@dataclass(frozen=True)
class TrainingRates:
    """Training steps per second assumed for a job's time limit on a cluster."""

    srresnet_mse: float  # SRResNet-MSE and the depth study: MSE alone
    others: float  # a VGG loss and/or the discriminator


@dataclass(frozen=True)
class WorkflowConfig:
    variants: tuple[str, ...]
    threads: int
    steps_per_second: TrainingRates
    depth: DepthStudyConfig


@dataclass(frozen=True)
class MOSConfig:
    raters: int
    calibration_images: int
    calibration_dir: str | None
    attention_items: int
    block_size: int
    seed: int


@dataclass(frozen=True)
class Config:
    seed: int
    scale: int
    device: str
    data: DataConfig
    model: ModelConfig
    discriminator: DiscriminatorConfig
    vgg: VGGConfig
    loss: LossConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    workflow: WorkflowConfig
    mos: MOSConfig
    profile: str

    @property
    def demo(self) -> bool:
        """Whether this is the offline demo (``profile: demo``): every output says so."""
        return self.profile == DEMO_PROFILE

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    def hash(self) -> str:
        return config_hash(self.to_dict())


# --- loading and merging -------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    lines: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = lines.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if first != key_node.start_mark.line + 1:
            raise yaml.MarkedYAMLError(
                problem=f"the key {key!r} is given twice in one mapping (lines {first} and "
                f"{key_node.start_mark.line + 1})",
            )
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing, undecodable or malformed file (a key given twice
    included) is a one-line ``UserError`` naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"config file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
            "save it as UTF-8"
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: plain data only
    except yaml.YAMLError as exc:
        raise UserError(f"config file {path} is not valid YAML: {_yaml_problem(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(
            f"config file {path} must hold a mapping of keys, not {type(data).__name__}"
        )
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong, and where when known."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return " ".join(str(exc).split())
    mark = exc.problem_mark
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{exc.problem}{where}"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``override`` laid over it (mappings merge, everything else replaces)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_set(items: list[str]) -> dict[str, Any]:
    """Turn ``["train.srresnet.steps=10", "vgg.weights=random"]`` into a nested mapping.

    Values are parsed as YAML scalars/lists (``10`` is an int, ``[1,2]`` a list, ``null`` None).
    """
    result: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise UserError(f"--set expects key=value with a dotted key, got {item!r}")
        value = _parse_scalar(raw)
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {item!r} conflicts with another --set of {part!r}")
        node[parts[-1]] = value
    return result


def _parse_scalar(raw: str) -> Any:
    """A ``--set`` value as YAML reads it; ``1e-4`` is a float too (YAML 1.1 wants ``1.0e-4``)."""
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        return raw
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def find_params_file(start: Path | None = None) -> Path:
    """``params.yaml`` in ``start`` (default: the working directory) or its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PARAMS_FILE
        if candidate.is_file():
            return candidate
    raise UserError(f"no {PARAMS_FILE} in {here} or its parents; run from the project folder")


def merged_config_dict(
    params: Path | None = None,
    overrides: list[Path] | tuple[Path, ...] = (),
    sets: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """params.yaml, then each override file, then the ``--set`` pairs, merged and validated."""
    params_path = Path(params) if params else find_params_file()
    merged = read_yaml(params_path)
    for path in overrides:
        merged = deep_merge(merged, read_yaml(Path(path)))
    merged = deep_merge(merged, parse_set(list(sets)))
    layers = [str(params_path), *(str(p) for p in overrides)] + (["--set"] if sets else [])
    validate(merged, source=" + ".join(layers))
    return merged


def load_config(
    params: Path | None = None,
    overrides: list[Path] | tuple[Path, ...] = (),
    sets: list[str] | tuple[str, ...] = (),
) -> Config:
    """The effective, validated, typed configuration."""
    return from_dict(merged_config_dict(params, overrides, sets))


def load_schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def validate(config: dict[str, Any], source: str = "config") -> None:
    """Check ``config`` against the schema; the first error names its dotted key. A
    number that is not finite (NaN, infinity) is refused first, wherever it is."""
    import jsonschema  # a second to import: only the commands that validate pay for it

    for key, value in _leaves(config):
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{source}: bad value for {key}: {value} is not a finite number")

    validator = jsonschema.Draft7Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = errors[0]
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = f"in {key}" if error.absolute_path else "at the top level"
        raise UserError(
            f"{source}: unknown key {', '.join(unknown)} {where} (known: {', '.join(allowed)})"
        )
    raise UserError(f"{source}: bad value for {key}: {error.message}")


def _leaves(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every value in nested mappings and lists."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    for key, value in items:
        dotted = f"{prefix}{key}"
        if isinstance(value, dict | list):
            yield from _leaves(value, f"{dotted}.")
        else:
            yield dotted, value


def config_hash(config: dict[str, Any]) -> str:
    """A short, stable hash of a configuration (sorted-key JSON, sha256, 12 hex digits)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# --- dict <-> dataclasses ---------------------------------------------------------------


def from_dict(data: dict[str, Any]) -> Config:
    return _build(Config, data)


def _build(cls: type, data: dict[str, Any]) -> Any:
    hints = get_type_hints(cls)
    values = {}
    for field in fields(cls):
        hint = hints[field.name]
        value = data[field.name]
        if is_dataclass(hint):
            value = _build(hint, value)
        elif get_origin(hint) is tuple:
            value = tuple(value)
        elif hint is float or float in get_args(hint):
            value = float(value) if isinstance(value, int | float) else value
        values[field.name] = value
    return cls(**values)


def _to_plain(obj: Any) -> Any:
    if is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple | list):
        return [_to_plain(v) for v in obj]
    return obj
