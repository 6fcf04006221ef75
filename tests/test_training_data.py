"""The training images a run records: their identity from content (a copy resumes), names,
sizes and times (how an older checkpoint knew them).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
import torch
from training_helpers import DEMO, PARAMS, TINY, make_config, write_images

from srgan.core import paths
from srgan.core.config import load_config
from srgan.core.errors import UserError
from srgan.data import trainset
from srgan.models import checkpoints
from srgan.training import run as training


def test_files_digest_is_the_content_and_names_not_the_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_images(tmp_path / "imgs", 3, (8, 8), seed=0)
    files = sorted(folder.glob("*.png"))
    lines = "".join(
        f"{f.name}\t{f.stat().st_size}\t{hashlib.sha256(f.read_bytes()).hexdigest()}\n"
        for f in files
    )
    first = trainset.files_digest(files, folder)
    assert first == "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
    stat = files[0].stat()
    os.utime(files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same bytes, touched
    assert trainset.files_digest(files, folder) == first
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, copy_function=shutil.copyfile)  # `cp -r`: new mtimes
    assert trainset.files_digest(sorted(copy.glob("*.png")), copy) == first
    assert trainset.files_digest(files[:2], folder) != first
    (copy / "img0.png").rename(copy / "img9.png")  # a renamed file moves in the data order
    assert trainset.files_digest(sorted(copy.glob("*.png")), copy) != first
    changed = bytearray(files[1].read_bytes())
    changed[-20] ^= 1  # one bit of the same size
    files[1].write_bytes(bytes(changed))
    assert trainset.files_digest(files, folder) != first
    # the scan keeps each file's sha256: with its manifest, a warm digest reads no image
    cache = tmp_path / "cache"
    scanned = trainset.scan_images(folder, 2, "skip", cache_dir=cache, progress=False)
    expected = trainset.files_digest(scanned, folder)

    def no_reading(path):
        raise AssertionError(f"read {path}")

    monkeypatch.setattr(trainset, "sha256_file", no_reading)
    assert trainset.files_digest(scanned, folder, cache) == expected
    trainset.scan_images(folder, 2, "skip", cache_dir=cache, progress=False)  # nothing read


def test_files_stat_digest_sees_names_sizes_and_mtimes(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "imgs", 2, (8, 8), seed=0)
    files = sorted(folder.glob("*.png"))
    first = trainset.files_stat_digest(files, folder)
    assert len(first) == 16 and trainset.files_stat_digest(files, folder) == first
    stat = files[0].stat()
    os.utime(files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # same bytes, touched
    assert trainset.files_stat_digest(files, folder) != first
    assert trainset.files_stat_digest(files[:1], folder) != first


def _rewrite_same_bytes(folder: Path) -> None:
    """What rerunning the data step, `tar x` or `cp` does: the same bytes with new mtimes."""
    for path in sorted(folder.glob("*.png")):
        data = path.read_bytes()
        path.unlink()
        path.write_bytes(data)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 3 * 10**9))


@pytest.mark.process
def test_a_copy_of_the_training_images_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = write_images(tmp_path / "own", 6, (40, 48), seed=0)
    workdir = tmp_path / "run"
    config = make_config(tmp_path, own)
    training.train("srresnet_mse", workdir, config, steps=4, progress=False)
    (workdir / "final.pt").unlink()  # as Snakemake does before it reruns the job
    _rewrite_same_bytes(own)  # the data step reran
    capsys.readouterr()
    training.train("srresnet_mse", workdir, config, steps=5, progress=False)
    out = capsys.readouterr().out
    assert "resuming from step 4" in out and "other training images" not in out
    assert not paths.RunFolder(workdir).superseded.exists()
    # a `cp -r` of a data root on another disk (data.root is not part of the run identity)
    sets = ["data.train_set=T91", "data.train_dir=null", "data.mirror=null", *TINY]
    first_root, second_root = tmp_path / "disk1", tmp_path / "disk2"
    write_images(first_root / paths.FETCHED_TRAIN_DIR / "T91", 6, (40, 48), seed=3)
    staged = load_config(PARAMS, [DEMO], [f"data.root={first_root}", *sets])
    training.train("srresnet_mse", tmp_path / "run2", staged, steps=4, progress=False)
    (tmp_path / "run2" / "final.pt").unlink()
    shutil.copytree(first_root / "train", second_root / "train", copy_function=shutil.copyfile)
    shutil.rmtree(first_root)
    moved = load_config(PARAMS, [DEMO], [f"data.root={second_root}", *sets])
    capsys.readouterr()
    training.train("srresnet_mse", tmp_path / "run2", moved, steps=5, progress=False)
    assert "resuming from step 4" in capsys.readouterr().out


def _as_older_version(checkpoint: Path, images: Path) -> None:
    """Rewrite a checkpoint's data state as an older version recorded it: the training images'
    names, sizes and mtimes (``files_stat_digest``), no content identity."""
    state = torch.load(checkpoint, weights_only=True)
    files = sorted(images.glob("*.png"))
    state["data"] = {
        "seed": state["data"]["seed"],
        "files_digest": trainset.files_stat_digest(files, images),
        "n_files": len(files),
    }
    torch.save(state, checkpoint)


@pytest.mark.process
def test_a_checkpoint_of_the_older_version_is_recognised_or_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = write_images(tmp_path / "own", 6, (40, 48), seed=0)
    workdir = tmp_path / "run"
    config = make_config(tmp_path, own)
    training.train("srresnet_mse", workdir, config, steps=4, progress=False)
    (workdir / "final.pt").unlink()
    [(_, checkpoint)] = checkpoints.list_checkpoints(paths.RunFolder(workdir))
    _as_older_version(checkpoint, own)
    capsys.readouterr()
    training.train("srresnet_mse", workdir, config, steps=5, progress=False)
    assert "resuming from step 4" in capsys.readouterr().out  # same files, untouched: recognised
    [(step, newest), *_] = checkpoints.list_checkpoints(paths.RunFolder(workdir))
    assert step == 5
    recorded = torch.load(newest, weights_only=True)["data"]["files_digest"]
    assert recorded.startswith("sha256:")  # from now on, the content
    (workdir / "final.pt").unlink()
    for _step, path in checkpoints.list_checkpoints(paths.RunFolder(workdir)):
        if path != checkpoint:
            path.unlink()
    _as_older_version(checkpoint, own)
    _rewrite_same_bytes(own)  # new mtimes: an older version's record cannot tell
    with pytest.raises(UserError) as refused:
        training.train("srresnet_mse", workdir, config, steps=5, progress=False)
    message = str(refused.value)
    assert f"checkpoint {checkpoint} was written by an older version" in message
    assert "(6 files then, 6 now)" in message and "\n" not in message
    assert checkpoint.exists() and not paths.RunFolder(workdir).superseded.exists()
