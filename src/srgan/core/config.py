"""The configuration: ``params.yaml`` layered with profiles and ``--set`` overrides.

One file, ``params.yaml``, holds the paper's settings; Snakemake reads it as its
``configfile`` and DVC as its params file. A profile (``config/demo.yaml``) and
``--set key=value`` pairs override it, in that order. The merged result is validated
against ``config_schema.yaml`` (a wrong key or value names itself in a ``UserError``)
and turned into the typed, frozen dataclasses below. Beyond the schema: a number must be
finite (YAML's ``.nan`` and ``.inf`` pass JSON Schema's bounds). Files and ``--set`` values
are read by ``srgan.core.yaml_files`` (UTF-8, a key given twice refused, the work bounded
before anything is built). Types are checked as the
code uses them: an integer key takes a whole number written as one (``2``, not ``2.0``; not
``true``), by the schema and again when the typed dataclasses are built.

This module imports only ``yaml_files``, ``errors`` (and ``fileio`` to write the effective
configuration) of the package.
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
from srgan.core.yaml_files import UnboundedYAML, load_bounded, read_yaml

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
        try:
            value = _parse_scalar(raw)
        except UnboundedYAML as exc:
            raise UserError(f"--set {_shortened(item)} {exc}") from None
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {item!r} conflicts with another --set of {part!r}")
        node[parts[-1]] = value
    return result


#: Characters of a ``--set`` item quoted in an error message.
SHOWN_SET_CHARS = 60


def _shortened(item: str) -> str:
    return item if len(item) <= SHOWN_SET_CHARS else item[:SHOWN_SET_CHARS] + "..."


def _parse_scalar(raw: str) -> Any:
    """A ``--set`` value as YAML reads it (``load_bounded``: ``UnboundedYAML`` for an alias bomb
    or deep nesting); ``1e-4`` is a float too (YAML 1.1 wants ``1.0e-4``)."""
    try:
        value = load_bounded(raw) if raw != "" else ""
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
    """params.yaml, then each override file, then the ``--set`` pairs, merged and validated:
    the one way every command, notebook and the workflow layers the configuration."""
    params_path = Path(params) if params else find_params_file()
    merged = read_yaml(params_path)
    for path in overrides:
        merged = deep_merge(merged, read_yaml(Path(path)))
    merged = deep_merge(merged, parse_set(list(sets)))
    layers = [str(params_path), *(str(p) for p in overrides)] + (["--set"] if sets else [])
    validate(merged, source=" + ".join(layers))
    return merged


#: The first lines of an effective configuration file.
EFFECTIVE_HEADER = (
    "# The effective configuration of the last workflow run: params.yaml, the profiles and the\n"
    "# --config pairs, merged once by the workflow. Every job reads this file; edit params.yaml\n"
    "# or a profile instead (this file is rewritten at the next run).\n"
)


def effective_text(config: dict[str, Any]) -> str:
    """An effective configuration as the YAML text of ``results/config.yaml``."""
    return EFFECTIVE_HEADER + yaml.safe_dump(config, sort_keys=False, default_flow_style=None)


def write_effective(config: dict[str, Any], path: Path) -> bool:
    """Write the effective configuration to ``path`` (atomically) unless it already holds it;
    whether it was written."""
    from srgan.core.fileio import write_text_atomic

    text = effective_text(config)
    path = Path(path)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_text_atomic(path, text)
    return True


def load_config(
    params: Path | None = None,
    overrides: list[Path] | tuple[Path, ...] = (),
    sets: list[str] | tuple[str, ...] = (),
) -> Config:
    """The effective, validated, typed configuration."""
    return from_dict(merged_config_dict(params, overrides, sets))


def with_sets(config: Config, sets: list[str] | tuple[str, ...], source: str) -> Config:
    """``config`` with ``--set``-style pairs laid over it, validated (``source`` names who
    asked, in an error)."""
    merged = deep_merge(config.to_dict(), parse_set(list(sets)))
    validate(merged, source=source)
    return from_dict(merged)


def load_schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def validate(config: dict[str, Any], source: str = "config") -> None:
    """Check ``config`` against the schema; the first error names its dotted key. A
    number that is not finite (NaN, infinity) is refused first, wherever it is."""
    import jsonschema  # a second to import: only the commands that validate pay for it

    for key, value in _leaves(config):
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{source}: bad value for {key}: {value} is not a finite number")

    validator = _strict_validator(jsonschema)(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if not errors:
        _check_relations(config, source)
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
    hint = ""
    if error.validator == "type" and isinstance(error.instance, float | bool):
        hint = " (an integer key takes a whole number written as one, e.g. 2, not 2.0)"
    raise UserError(f"{source}: bad value for {key}: {error.message}{hint}")


def _is_integer(_checker: Any, value: Any) -> bool:
    """JSON Schema's "integer" as the code uses it: an ``int``, not ``2.0``, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _strict_validator(jsonschema: Any) -> Any:
    """Draft 7 with ``_is_integer`` for "integer" (the draft lets 2.0 pass as an integer)."""
    checker = jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", _is_integer)
    return jsonschema.validators.extend(jsonschema.Draft7Validator, type_checker=checker)


def check_crop_size(crop_size: int, scale: int, source: str = "config") -> None:
    """The HR crop must be a positive multiple of the scale (its LR crop is crop / scale): the
    one check of ``data.crop_size``, made when a configuration is validated and by
    ``srgan.data.patches.make_batches``."""
    if crop_size < scale or crop_size % scale:
        raise UserError(
            f"{source}: bad value for data.crop_size: {crop_size} is not a positive multiple of "
            f"the scale {scale}"
        )


def _check_relations(config: dict[str, Any], source: str) -> None:
    """What the schema cannot say: values that must agree with each other."""
    check_crop_size(config["data"]["crop_size"], config["scale"], source)


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
    """The typed configuration of a validated mapping; a value of another type than its
    field's (an integer given as 2.0, a bool as 1) is a UserError naming its key."""
    return _build(Config, data, "")


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = get_type_hints(cls)
    values = {}
    for field in fields(cls):
        hint = hints[field.name]
        value = data[field.name]
        key = f"{prefix}{field.name}"
        nested = is_dataclass(hint)
        values[field.name] = _build(hint, value, f"{key}.") if nested else _typed(value, hint, key)
    return cls(**values)


def _typed(value: Any, hint: Any, key: str) -> Any:
    """``value`` as field type ``hint`` uses it (ints to float where a float is meant, lists
    to tuples), or a UserError: int means an int (not a bool, not 2.0), bool a bool."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is tuple:
        item = args[0]
        return tuple(_typed(v, item, f"{key}.{i}") for i, v in enumerate(_listed(value, key)))
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"bad value for {key}: {value!r} is not a mapping")
        return {k: _typed(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if args and type(None) in args:  # X | None
        return None if value is None else _typed(value, args[0], key)
    if hint is bool and not isinstance(value, bool):
        raise UserError(f"bad value for {key}: {value!r} is not true or false")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise UserError(f"bad value for {key}: {value!r} is not an integer")
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserError(f"bad value for {key}: {value!r} is not a number")
        return float(value)
    if hint is str and not isinstance(value, str):
        raise UserError(f"bad value for {key}: {value!r} is not text")
    return value


def _listed(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise UserError(f"bad value for {key}: {value!r} is not a list")
    return list(value)


def _to_plain(obj: Any) -> Any:
    if is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple | list):
        return [_to_plain(v) for v in obj]
    return obj
