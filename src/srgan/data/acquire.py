"""Getting the image sets onto disk: which sets a configuration needs, and where from.

Every set ends as a folder of HR images plus a manifest (``sha256sum`` format, paths
relative to the folder) at ``paths.manifest``: the provenance of exactly what was used.

* The test sets (Set5, Set14, BSD100, DIV2K_valid) and DIV2K's training images are
  downloaded from canonical public URLs with published checksums (:mod:`srgan.data.download`).
* A mirror (``data.mirror``) is a local folder laid out as
  ``benchmarks/<set>/``, ``train/<set>/`` (docs/data.md); its files are checked against its
  ``SHA256SUMS`` when it has one, and nothing is downloaded.
* ImageNet is never downloaded: a seeded subset of a user's ILSVRC train folder is linked.
* The photographs bundled with scikit-image make the offline demo's sets.

This module uses ``srgan.core`` (config, datasets, paths, errors, fileio), ``download`` and
``bundled``; the catalogue of sets is ``srgan.core.datasets``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from srgan.core import datasets, paths
from srgan.core.config import Config
from srgan.core.errors import UserError
from srgan.core.fileio import (
    IMAGE_EXTENSIONS,
    format_sums,
    read_sums,
    replaced_folder,
    sha256_file,
    write_text_atomic,
)
from srgan.data import bundled

# --- the sources ------------------------------------------------------------------------


# --- which sets a configuration needs -------------------------------------------------


#: The config keys that name test sets (for error messages).
TEST_SET_KEYS = "evaluate.datasets/data.test_sets/workflow.depth.dataset"


def test_set_names(config: Config) -> list[str]:
    """Every test set the workflow reads: data.test_sets, evaluate.datasets, the depth set."""
    names = [*config.data.test_sets, *config.evaluate.datasets, config.workflow.depth.dataset]
    return list(dict.fromkeys(names))


def check_sources(config: Config) -> None:
    """Fail early, naming the key, when a configured set cannot be found or fetched."""
    data = config.data
    mirror = Path(data.mirror) if data.mirror else None
    if mirror is not None and not mirror.is_dir():
        raise UserError(f"data.mirror: {mirror} is not a folder")
    for name in test_set_names(config):
        if mirror is not None:
            folder = paths.test_sets_dir(config) / name
            if not folder.is_dir():
                raise UserError(
                    f"test set {name} ({TEST_SET_KEYS}) is not in data.mirror: no folder {folder}"
                )
        elif name not in datasets.TEST_SETS and name not in datasets.BUNDLED_SETS:
            known = ", ".join([*datasets.TEST_SETS, *datasets.BUNDLED_SETS])
            raise UserError(
                f"test set {name} ({TEST_SET_KEYS}) has no download; known: {known}; "
                "or set data.mirror"
            )
    name = paths.train_set_name(config)
    if name == datasets.TRAIN_SET_IMAGENET:
        if data.train_dir:  # the subset's link folder replaces data.train_dir: refuse that
            raise UserError("data.train_dir is for data.train_set: folder, not ImageNet; unset it")
        if not data.imagenet_dir:
            raise UserError("data.train_set is ImageNet but data.imagenet_dir is not set")
        if not Path(data.imagenet_dir).is_dir():
            raise UserError(f"data.imagenet_dir: {data.imagenet_dir} is not a folder")
    elif name == datasets.TRAIN_SET_FOLDER:
        folder = paths.train_images_dir(config)
        if not folder.is_dir():
            raise UserError(f"data.train_dir: {folder} is not a folder")
    elif name in datasets.BUNDLED_SETS:
        return
    elif mirror is not None:
        folder = paths.train_images_dir(config)
        if not folder.is_dir():
            raise UserError(f"data.train_set {name} is not in data.mirror: no folder {folder}")
    elif name in datasets.MIRROR_TRAIN_SETS and name not in datasets.TRAIN_SETS:
        raise UserError(
            f"data.train_set {name} has no download with a published checksum; "
            f"set data.mirror to a folder holding train/{name}/ (or use DIV2K)"
        )


# --- hashing and manifests ------------------------------------------------------------


def list_files(folder: Path) -> list[str]:
    """Regular files under ``folder`` (recursive, no hidden ones), as sorted POSIX paths."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file():
            found.append(relative.as_posix())
    return sorted(found)


def hash_folder(folder: Path, *, progress: bool = False) -> dict[str, str]:
    """sha256 of every file under ``folder`` (paths relative to it)."""
    names = list_files(folder)
    return {
        name: sha256_file(folder / name)
        for name in tqdm(names, desc=f"sha256 {folder.name}", unit="file", disable=not progress)
    }


def read_checked_sums(path: Path) -> dict[str, str]:
    """A ``sha256sum`` file (a manifest or a mirror's SHA256SUMS); a malformed line is a
    ``UserError`` naming the file and line."""
    try:
        return read_sums(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def write_manifest(folder: Path, manifest: Path, *, progress: bool = False) -> dict[str, str]:
    """Hash every file of ``folder`` into ``manifest``; an empty folder is a ``UserError``."""
    sums = hash_folder(folder, progress=progress)
    if not sums:
        raise UserError(f"{folder} holds no files")
    write_text_atomic(manifest, format_sums(sums))
    return sums


# --- mirrors --------------------------------------------------------------------------


def verify_mirror_set(mirror: Path, subdir: str, *, progress: bool = False) -> dict[str, str]:
    """Hash ``mirror/subdir`` and check it against the mirror's ``SHA256SUMS`` if present.

    Returns {path relative to the set folder: sha256}. A file that differs, is missing,
    or is not listed is a ``UserError`` naming it.
    """
    folder = mirror / subdir
    if not folder.is_dir():
        raise UserError(f"data.mirror {mirror} has no {subdir}/ folder")
    actual = hash_folder(folder, progress=progress)
    if not actual:
        raise UserError(f"{folder} holds no files")
    sums_path = mirror / datasets.MIRROR_SUMS
    if not sums_path.is_file():
        return actual
    prefix = PurePosixPath(subdir).as_posix() + "/"
    expected = {
        name.removeprefix(prefix): digest
        for name, digest in read_checked_sums(sums_path).items()
        if name.startswith(prefix)
    }
    for name, digest in actual.items():
        if name not in expected:
            raise UserError(f"{folder / name} is not listed in {sums_path}")
        if digest != expected[name]:
            raise UserError(f"{folder / name} does not match its sha256 in {sums_path}")
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise UserError(f"{folder} lacks {len(missing)} files of {sums_path}: {missing[0]}, ...")
    return actual


# --- ImageNet subset ------------------------------------------------------------------


def sample_rank(seed: int, name: str) -> str:
    """A file's place in the seeded order: sha256 of ``"<seed>:<relative path>"``."""
    return hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()


def imagenet_sample(imagenet_dir: Path, n: int, seed: int) -> list[str]:
    """``n`` image paths (relative, sorted) drawn from an ILSVRC train folder with ``seed``.

    The draw ranks every image by ``sample_rank`` and keeps the first ``n``: the same
    folder and seed give the same list on every machine and every Python/NumPy version.
    """
    if not imagenet_dir.is_dir():
        raise UserError(f"data.imagenet_dir: {imagenet_dir} is not a folder")
    images = [
        name
        for name in list_files(imagenet_dir)
        if PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS
    ]
    if len(images) < n:
        raise UserError(
            f"data.imagenet_samples is {n} but {imagenet_dir} holds only {len(images)} images"
        )
    return sorted(sorted(images, key=lambda name: sample_rank(seed, name))[:n])


def link_subset(source: Path, names: list[str], dest: Path) -> None:
    """Make ``dest`` a folder of symbolic links to ``source/<name>`` (atomic replace)."""
    root = source.resolve()
    with replaced_folder(dest) as tmp:
        for name in names:
            link = tmp / name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(root / name)


# --- the bundled photographs ----------------------------------------------------------


def export_bundled(name: str, dest: Path) -> list[Path]:
    """Write a bundled set (``SkimageTest``/``SkimageTrain``) as PNG files into ``dest``."""
    if name not in datasets.BUNDLED_SETS:
        raise UserError(f"no bundled set {name!r}; known: {', '.join(datasets.BUNDLED_SETS)}")
    with replaced_folder(dest) as tmp:
        bundled.export(datasets.BUNDLED_SETS[name], tmp)
    return sorted(dest.iterdir())


def ensure_bundled_train_set(config: Config) -> None:
    """The demo's training photographs (``data.train_set: skimage``) are written from
    scikit-image on first use, so ``srgan train`` works without the workflow's data step."""
    folder = paths.train_images_dir(config)
    if config.data.train_set == datasets.TRAIN_SET_BUNDLED and not folder.exists():
        export_bundled(datasets.BUNDLED_TRAIN_SET, folder)
