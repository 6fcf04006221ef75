"""Build a MOS study from the workflow's outputs: ``srgan mos create``.

What a study holds (the paper's test, Section 3.4, as far as our methods go):

* **test stimuli**: for every image of the evaluated test sets (``evaluate.datasets``), each
  method's SR image (``paths.sr_image``: NN, bicubic, each trained model) and the HR image,
  cropped to a multiple of 4 as the protocol scores it (so every version of an image has the
  same size: a size cannot give HR away);
* **calibration**: ``mos.calibration_images`` other images (the paper: 20 of BSD300's training
  set; here BSD200 from the mirror, or the training set), each as NN (shown as score 1) and
  HR (shown as 5), rated first. NN is the protocol's: the MATLAB-bicubic LR image
  (``protocol.make_lr``) upscaled by nearest neighbour;
* **attention items**: ``mos.attention_items`` further images, hidden among the test stimuli,
  alternately HR (expected 5) and NN (expected 1);
* **a presentation order per rater**, seeded with ``[mos.seed, rater number]``: calibration
  first, then the test and attention stimuli shuffled so that no two consecutive items come
  from the same image (:func:`presentation_order`).

Every stimulus is decoded and written again as a plain PNG named by a random opaque id
(``stimuli/<id>.png``): no file name, metadata chunk or size says which method or image it
is. ``manifest.json`` records each stimulus (source file, both sha256), the seeds, the rater
codes, the settings and the software version; ``study.sqlite`` holds the plans
(``srgan.mos.store``). Both, and ``codes.txt``, unblind the study: they are mode 0600
(``StudyFolder.secrets``), whatever the umask. A folder that already holds a study is
never overwritten.

This module uses evaluation (the protocol's LR and NN images), imageops, paths, variants,
config, fileio and store.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import secrets
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from tqdm import tqdm

from srgan.core import comparability, paths, variants
from srgan.core.config import Config
from srgan.core.errors import UserError
from srgan.core.fileio import (
    PRIVATE,
    git_state,
    replaced_folder,
    sha256_file,
    write_json_atomic,
    write_text_atomic,
)
from srgan.evaluation import protocol
from srgan.image.io import read_image, write_png
from srgan.image.resize import modcrop
from srgan.mos import store
from srgan.mos.store import ANCHOR_SCORES, HR, NN

#: Rater codes: letters and digits that cannot be mistaken for each other (no I, O, 0, 1).
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
#: Random bytes of a stimulus id (``secrets.token_urlsafe``: 12 characters).
ID_BYTES = 9
MANIFEST_VERSION = 1
PACKAGE = "srgan-repro"

T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    """One stimulus before it is written: what it shows and the file it comes from."""

    kind: str
    dataset: str
    image: str
    method: str
    path: Path
    expected: int | None = None

    @property
    def group(self) -> tuple[str, str]:
        """What "the same image" means for the presentation order."""
        return (self.dataset, self.image)


# --- what is rated -------------------------------------------------------------------------------


def study_methods(config: Config, requested: Sequence[str] = ()) -> list[str]:
    """The methods rated besides HR: ``requested``, or the baselines the workflow evaluates
    and the variants it trains (``evaluate.baselines``, ``workflow.variants``)."""
    known = [*variants.BASELINES, *variants.NAMES]
    if not requested:
        return [*config.evaluate.baselines, *(v.name for v in variants.selected(config))]
    unknown = [m for m in requested if m not in known]
    if unknown:
        raise UserError(f"unknown method {unknown[0]!r} (choose from {', '.join(known)})")
    return list(dict.fromkeys(m for m in requested if m != HR))


def test_sources(
    datasets: Sequence[str], methods: Sequence[str], images_root: Path, hr_root: Path
) -> list[Source]:
    """Each test image of ``datasets`` (HR files in ``hr_root/<dataset>/``) in every method's
    version (``paths.sr_image`` under ``images_root``) and as HR. A missing SR image is a
    UserError naming it."""
    sources, missing = [], []
    for dataset in datasets:
        for hr_file in protocol.list_images(Path(hr_root) / dataset):
            for method in methods:
                sr_file = paths.sr_image(method, dataset, hr_file.stem, images_root)
                if not sr_file.is_file():
                    missing.append(sr_file)
                sources.append(Source(store.TEST, dataset, hr_file.stem, method, sr_file))
            sources.append(Source(store.TEST, dataset, hr_file.stem, HR, hr_file))
    if missing:
        raise UserError(
            f"{len(missing)} SR images are missing, e.g. {missing[0]}: evaluate every method "
            "first (`snakemake evaluate`, or `srgan evaluate ... --save-images`)"
        )
    return sources


def anchor_sources(
    folder: Path, calibration: int, attention: int, rng: np.random.Generator
) -> tuple[list[Source], list[Source]]:
    """Calibration anchors (NN as 1, HR as 5) of ``calibration`` images and ``attention``
    hidden checks (alternately HR and NN) of as many other images, picked from ``folder``
    with ``rng``."""
    files = protocol.list_images(Path(folder))
    needed = calibration + attention
    if len(files) < needed:
        raise UserError(
            f"{folder} has {len(files)} images; the study needs {needed} "
            f"(mos.calibration_images {calibration} + mos.attention_items {attention})"
        )
    picked = [files[i] for i in rng.permutation(len(files))[:needed]]
    name = Path(folder).name

    def anchor(kind: str, path: Path, method: str) -> Source:
        return Source(kind, name, path.stem, method, path, ANCHOR_SCORES[method])

    anchors = [anchor(store.CALIBRATION, p, m) for p in picked[:calibration] for m in (NN, HR)]
    checks = [
        anchor(store.ATTENTION, p, (HR, NN)[i % 2]) for i, p in enumerate(picked[calibration:])
    ]
    return anchors, checks


def stimulus_pixels(source: Source, scale: int) -> np.ndarray:
    """The image a rater sees: an SR image as saved; HR cropped to a multiple of ``scale`` (as
    the protocol scores it); NN anchors made by the protocol (bicubic LR, nearest upscaling)."""
    image = read_image(source.path)
    if source.method == HR:
        return modcrop(image, scale)
    if source.kind == store.TEST:
        return image
    _, lr = protocol.make_lr(image, scale)
    nearest = protocol.baseline_upscaler(NN, scale)
    return protocol.super_resolve(nearest, lr, "cpu", scale)


# --- the order of presentation -----------------------------------------------------------------


def presentation_order(
    items: Sequence[T], group: Callable[[T], Hashable], rng: np.random.Generator
) -> list[T]:
    """``items`` in a random order in which no two neighbours share a ``group``.

    Each step draws a group other than the last one, with probability proportional to the
    items it has left, among the groups after which the rest can still be ordered (a rest of
    m items can be when no group holds more than (m + 1) // 2 of them, and, for odd m, the
    group just drawn does not hold exactly (m + 1) // 2). ValueError when no such order exists.
    """
    pools: dict[Hashable, list[T]] = {}
    for item in items:
        pools.setdefault(group(item), []).append(item)
    keys = list(pools)
    for key in keys:
        pools[key] = [pools[key][i] for i in rng.permutation(len(pools[key]))]
    counts = np.array([len(pools[key]) for key in keys], dtype=np.int64)
    left = int(counts.sum())
    if left and counts.max() > (left + 1) // 2:
        biggest = keys[int(counts.argmax())]
        raise ValueError(
            f"{int(counts.max())} of {left} items show {biggest}: no order keeps them apart"
        )
    order: list[T] = []
    last = -1
    while left:
        rest = left - 1
        after = counts - 1  # each group's count if it is drawn now
        descending = np.sort(counts)[::-1]
        first, second = descending[0], (descending[1] if len(counts) > 1 else 0)
        alone_on_top = (counts == first) & (np.count_nonzero(counts == first) == 1)
        others = np.where(alone_on_top, second, first)  # the largest count among the others
        allowed = (counts > 0) & (np.maximum(after, others) <= (rest + 1) // 2)
        allowed &= ~((rest % 2 == 1) & (after == (rest + 1) // 2))
        if last >= 0:
            allowed[last] = False
        weights = np.where(allowed, counts, 0).astype(np.float64)
        pick = int(rng.choice(len(keys), p=weights / weights.sum()))
        order.append(pools[keys[pick]].pop())
        counts[pick] -= 1
        left, last = rest, pick
    return order


def rater_plan(
    calibration: Sequence[str], rated: Sequence[str], group: dict[str, Hashable], seed: list[int]
) -> list[str]:
    """One rater's stimulus ids in order: the calibration anchors, then the rest, each part
    in a :func:`presentation_order` drawn with ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return [
        *presentation_order(calibration, group.__getitem__, rng),
        *presentation_order(rated, group.__getitem__, rng),
    ]


# --- the study folder --------------------------------------------------------------------------


def _unique_tokens(count: int, make: Callable[[], str]) -> list[str]:
    tokens: list[str] = []
    while len(tokens) < count:
        token = make()
        if token not in tokens:
            tokens.append(token)
    return tokens


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def software() -> dict:
    """The software that built the study: package version, git commit, Python."""
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {PACKAGE: version, "git": git_state(), "python": platform.python_version()}


def _refuse_existing(folder: paths.StudyFolder) -> None:
    if folder.manifest.exists() or folder.database.exists():
        ratings = store.count_ratings(folder.database)
        raise UserError(
            f"{folder.root} already holds a study ({ratings} ratings); a study is never "
            "overwritten: choose another --out, or move that folder away yourself"
        )


def _write_stimuli(
    sources: list[Source], ids: list[str], folder: paths.StudyFolder, scale: int, progress: bool
) -> list[dict]:
    """Write every stimulus as ``stimuli/<id>.png``; the manifest's record of each."""
    records, shapes = [], {}
    pairs = list(zip(ids, sources, strict=True))
    bar = tqdm(pairs, desc="stimuli", unit="img", disable=None if progress else True)
    for stimulus_id, source in bar:
        pixels = stimulus_pixels(source, scale)
        if shapes.setdefault(source.group, pixels.shape) != pixels.shape:
            raise UserError(
                f"{source.path} is {pixels.shape[:2]}, other versions of {source.image} are "
                f"{shapes[source.group][:2]}: are the SR images of an older test set?"
            )
        target = folder.stimulus(stimulus_id)
        write_png(target, pixels)
        records.append(
            {
                "id": stimulus_id,
                "kind": source.kind,
                "dataset": source.dataset,
                "image": source.image,
                "method": source.method,
                "expected": source.expected,
                "source": str(source.path),
                "source_sha256": sha256_file(source.path),
                "sha256": sha256_file(target),
            }
        )
    return records


def create_study(
    config: Config,
    out: Path,
    images_root: Path = paths.SR_IMAGES_DIR,
    methods: Sequence[str] = (),
    progress: bool = True,
) -> paths.StudyFolder:
    """Build a study in ``out`` (``paths.StudyFolder``) from the SR images under
    ``images_root``, the test sets of ``config`` and its ``mos`` settings."""
    folder = paths.StudyFolder(out)
    _refuse_existing(folder)
    settings = config.mos
    rated_methods = study_methods(config, methods)
    tests = test_sources(
        config.evaluate.datasets, rated_methods, images_root, paths.test_sets_dir(config)
    )
    calibration, attention = anchor_sources(
        paths.mos_calibration_dir(config),
        settings.calibration_images,
        settings.attention_items,
        np.random.default_rng([settings.seed]),
    )
    sources = [*calibration, *tests, *attention]
    ids = _unique_tokens(len(sources), lambda: secrets.token_urlsafe(ID_BYTES))
    kinds = dict(zip(ids, (s.kind for s in sources), strict=True))
    group = dict(zip(ids, (s.group for s in sources), strict=True))
    anchors = [i for i in ids if kinds[i] == store.CALIBRATION]
    rated = [i for i in ids if kinds[i] != store.CALIBRATION]
    codes = _unique_tokens(settings.raters, new_code)
    seeds = {code: [settings.seed, number] for number, code in enumerate(codes, start=1)}
    try:
        plans = {code: rater_plan(anchors, rated, group, seeds[code]) for code in codes}
    except ValueError as exc:
        raise UserError(f"cannot order the study: {exc}; rate more images") from None
    positions = len(anchors) + len(rated)
    meta = {
        "calibration_positions": str(len(anchors)),
        "block_size": str(settings.block_size),
        "positions": str(positions),
        "cookie_secret": secrets.token_hex(32),
    }
    with replaced_folder(folder.root) as tmp:
        staging = paths.StudyFolder(tmp)
        staging.stimuli.mkdir()
        records = _write_stimuli(sources, ids, staging, config.scale, progress)
        store.initialise(staging.database, meta, records, plans)
        write_text_atomic(staging.codes, "".join(f"{code}\n" for code in codes), PRIVATE)
        manifest = {
            "version": MANIFEST_VERSION,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "software": software(),
            "config_hash": config.hash(),
            "reasons": comparability.reasons(config, results=True),
            "settings": {
                **config.to_dict()["mos"],
                "calibration_dir": str(paths.mos_calibration_dir(config)),
                "datasets": list(config.evaluate.datasets),
                "methods": [*rated_methods, HR],
                "positions": positions,
                "calibration_positions": len(anchors),
            },
            "raters": [
                {"code": code, "number": seeds[code][1], "seed": seeds[code]} for code in codes
            ],
            "stimuli": records,
        }
        write_json_atomic(staging.manifest, manifest, permissions=PRIVATE)
    return folder
