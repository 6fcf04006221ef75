"""Atomic writes, checksums and the git state."""

import errno
import hashlib
import json
import math

import pytest

from srgan.core.errors import UserError
from srgan.core.fileio import (
    PRIVATE,
    atomic_write,
    git_state,
    remove_stale_temp_files,
    require_writable,
    sha256_file,
    write_json_atomic,
    write_text_atomic,
)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_json_is_strict(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"x": 1.5})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5}
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "b.json", {"x": math.inf})
    assert not (tmp_path / "b.json").exists()


def test_stale_temp_files_are_removed(tmp_path):
    (tmp_path / ".x.pt.abc.tmp").write_bytes(b"")
    (tmp_path / "keep.pt").write_bytes(b"")
    remove_stale_temp_files(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.pt"]


def test_sha256_file_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 10_000  # spans several chunks
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


@pytest.mark.process
def test_git_state_outside_a_repository(tmp_path):
    assert git_state(tmp_path) == {"commit": "unknown", "dirty": None}


def test_a_write_error_without_a_file_name_gets_the_target(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(OSError) as info, atomic_write(target):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert (info.value.errno, info.value.filename) == (errno.ENOSPC, str(target))
    assert list(tmp_path.iterdir()) == []


def test_require_writable_creates_nothing_and_names_the_obstacle(tmp_path):
    require_writable(tmp_path / "new" / "deeper", "--out x")  # creatable: fine
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=rf"^--out y: cannot write there: {tmp_path / 'file'} is"):
        require_writable(tmp_path / "file" / "sub", "--out y")


@pytest.fixture
def umask():
    """Set the process's umask for one test (``umask(0o027)``), restored afterwards."""
    import os

    saved = os.umask(0o022)
    os.umask(saved)
    yield os.umask
    os.umask(saved)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_get_the_mode_the_umask_gives(tmp_path, umask, mask, expected):
    umask(mask)
    target = tmp_path / "result.json"
    write_json_atomic(target, {"psnr": 30.0})
    plain = tmp_path / "plain.json"
    plain.write_text("{}")  # what a normal open() gives, for comparison
    assert (target.stat().st_mode & 0o777, plain.stat().st_mode & 0o777) == (expected, expected)
    write_text_atomic(target, "again")  # a replaced file too
    assert target.stat().st_mode & 0o777 == expected


@pytest.mark.parametrize("mask", [0o000, 0o022])
def test_secrets_are_private_whatever_the_umask(tmp_path, umask, mask):
    umask(mask)
    target = tmp_path / "codes.txt"
    write_text_atomic(target, "ABCD\n", permissions=PRIVATE)
    assert target.stat().st_mode & 0o777 == 0o600
    with atomic_write(tmp_path / "key.bin", permissions=PRIVATE) as handle:
        handle.write(b"k")
    assert (tmp_path / "key.bin").stat().st_mode & 0o777 == 0o600
