"""The record of a trained model: the one contract between training and everything after it.

``srgan train`` builds a :class:`RunRecord` once, when a run completes; ``final.pt`` and
``final.json`` are two serialisations of it (``srgan.models.checkpoints``). Provenance, the
tables, the charts, the index and ``srgan upscale`` read its attributes, never string keys of
a dict. It says:

* **what** was trained: the variant, its run identity (``srgan.core.identity.run_hash``), the
  effective configuration and its hash, the generator's settings, the steps done;
* **how**: the schedule actually used (steps, learning rate, its drop: :attr:`schedule`,
  whose ``phases`` are the steps at each learning rate);
* **from what**: the generator it was initialised from (path and weights digest), the
  training files it saw (their digest and count, the seed);
* **the result**: the digest of its weights;
* **whether its numbers compare with the paper's**: :attr:`reasons`
  (``srgan.core.comparability.reasons``), empty for a paper-faithful run;
* where and with what it ran (commit, torch, device, precision, time).

The format is versioned (:data:`RECORD_VERSION`). A file written by an earlier version of the
project (version 1: an untyped ``metadata`` dict) is upgraded when read (:func:`upgrade`); what
it never recorded (the training files' digest, the weights' digest) stays unknown (None), and a
file this version cannot read is a one-line :class:`~srgan.core.errors.UserError` saying what to
do. Torch-free: the reports read records without torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from srgan.core import comparability
from srgan.core.config import from_dict as config_from_dict
from srgan.core.errors import UserError
from srgan.core.variants import VARIANTS, Schedule

#: ``final.json``'s ``format``, and the version of the record written now. Version 1 is the
#: untyped metadata dict of earlier files (``{"format": "srgan-generator", "version": 1,
#: "metadata": {...}}``), upgraded when read.
RECORD_FORMAT = "srgan-run-record"
RECORD_VERSION = 2
LEGACY_VERSION = 1


@dataclass(frozen=True)
class InitModel:
    """The generator a run was initialised from (``srgan train --init``)."""

    path: str
    digest: str  # srgan.models.checkpoints.weights_digest of its weights
    variant: str | None
    step: int | None
    identity: str | None  # its own run identity, when it records one


@dataclass(frozen=True)
class TrainingData:
    """The training files a run saw: their content digest and count, the data seed, and their
    names, sizes and modification times (``files_stat_digest``: how earlier versions knew
    them, ``srgan.training.resume.other_training_images``)."""

    files_digest: str
    n_files: int
    seed: int
    files_stat_digest: str


@dataclass(frozen=True)
class Software:
    """Where and with what a run trained."""

    git_commit: str
    torch_version: str
    device: str
    precision: str
    created: str  # UTC, ISO 8601


@dataclass(frozen=True)
class RunRecord:
    """A trained model: what, how, from what, its weights, and why it is not comparable."""

    variant: str
    step: int
    identity: str
    config_hash: str
    config: dict[str, Any]
    model: dict[str, Any]
    schedule: Schedule
    init: InitModel | None
    data: TrainingData | None  # None: upgraded from a file that did not record it
    weights_digest: str | None  # None: upgraded from a file that did not record it
    reasons: tuple[str, ...]
    software: Software

    @property
    def label(self) -> str:
        """The paper's name of the variant (``SRGAN-VGG54``)."""
        return VARIANTS[self.variant].label

    @property
    def profile(self) -> str:
        """The profile of the configuration it was trained with (paper, quick, demo)."""
        return str(self.config["profile"])

    @property
    def comparable(self) -> bool:
        """Whether its numbers can be set beside the paper's (no :attr:`reasons`)."""
        return not self.reasons

    @property
    def vgg_weights(self) -> str | None:
        """The VGG19 weights its loss used (None when the loss does not use VGG)."""
        return self.config["vgg"]["weights"] if VARIANTS[self.variant].uses_vgg else None

    @property
    def start_step(self) -> int:
        """Steps of training before this run: its init generator's (0 from scratch)."""
        if self.init is None or self.init.step is None:
            return 0
        return self.init.step

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready record, with its format and version (``final.json``'s content)."""
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        plain = {k: asdict(v) if hasattr(v, "__dataclass_fields__") else v for k, v in body.items()}
        plain["reasons"] = list(self.reasons)
        return {"format": RECORD_FORMAT, "version": RECORD_VERSION, **plain}


def _build(cls: type, value: Any, source: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise UserError(f"{source}: its {cls.__name__} is not a mapping")
    names = {f.name for f in fields(cls)}
    if set(value) != names:
        missing, extra = sorted(names - set(value)), sorted(set(value) - names)
        raise UserError(f"{source}: its {cls.__name__} has keys {missing=} {extra=}")
    return cls(**value)


def read(blob: Any, source: str) -> RunRecord:
    """A record from its JSON form (this version's, or version 1's, upgraded); a one-line
    UserError naming ``source`` when it is neither."""
    if not isinstance(blob, dict):
        raise UserError(f"{source} is not a run record (a {type(blob).__name__}, not a mapping)")
    version = blob.get("version")
    if blob.get("format") != RECORD_FORMAT or version != RECORD_VERSION:
        if isinstance(blob.get("metadata"), dict) and version == LEGACY_VERSION:
            return upgrade(blob["metadata"], source)
        raise UserError(
            f"{source} is not a run record this version reads (format {blob.get('format')!r}, "
            f"version {version!r}; expected {RECORD_FORMAT!r} version {RECORD_VERSION}); "
            "retrain the model with `srgan train`, or read it with the version that wrote it"
        )
    body = {k: v for k, v in blob.items() if k not in ("format", "version")}
    names = {f.name for f in fields(RunRecord)}
    if set(body) != names:
        missing = sorted(names - set(body))
        raise UserError(f"{source}: the run record lacks {', '.join(missing) or 'nothing'}")
    return RunRecord(
        **{
            **body,
            "schedule": _build(Schedule, body["schedule"], source),
            "init": _build(InitModel, body["init"], source),
            "data": _build(TrainingData, body["data"], source),
            "software": _build(Software, body["software"], source),
            "reasons": tuple(body["reasons"]),
        }
    )


#: Keys every version-1 metadata dict holds.
LEGACY_KEYS = ("variant", "step", "train_hash", "config_hash", "config", "model", "schedule")


def upgrade(metadata: dict[str, Any], source: str) -> RunRecord:
    """A version-1 metadata dict as a record of this version. Its reasons are computed again
    from its configuration (:func:`srgan.core.comparability.reasons`); what it never recorded
    (the training files' digest, the weights' digest) is None. A one-line UserError when its
    configuration is not one this version can read."""
    missing = [k for k in LEGACY_KEYS if k not in metadata]
    if missing:
        raise UserError(
            f"{source} was written by an early version of srgan and lacks {', '.join(missing)}: "
            "retrain the model with `srgan train`"
        )
    try:
        config = config_from_dict(metadata["config"])
        variant = VARIANTS[metadata["variant"]]
    except (KeyError, TypeError) as err:
        commit = metadata.get("git_commit", "unknown")
        raise UserError(
            f"{source} was written by an earlier version of srgan (commit {commit}) whose "
            f"configuration this version cannot read ({err!r} missing or wrong): retrain the "
            "model with `srgan train`, or read it with the version that wrote it"
        ) from None
    init = metadata.get("init")
    return RunRecord(
        variant=variant.name,
        step=int(metadata["step"]),
        identity=metadata["train_hash"],
        config_hash=metadata["config_hash"],
        config=metadata["config"],
        model=metadata["model"],
        schedule=Schedule(**metadata["schedule"]),
        init=None
        if init is None
        else InitModel(
            path=init["path"],
            digest=init["digest"],
            variant=init.get("variant"),
            step=init.get("step"),
            identity=init.get("train_hash"),
        ),
        data=None,
        weights_digest=None,
        reasons=tuple(comparability.reasons(config, variant)),
        software=Software(
            git_commit=metadata.get("git_commit", "unknown"),
            torch_version=metadata.get("torch_version", "unknown"),
            device=metadata.get("device", "unknown"),
            precision=metadata.get("precision", config.train.precision),
            created=metadata.get("created", "unknown"),
        ),
    )
