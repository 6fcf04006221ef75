"""srgan.models.checkpoints: resumable states and safe reading (final.pt: tests/test_record.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srgan.core.errors import UserError
from srgan.core.paths import RunFolder
from srgan.models import checkpoints


def test_states_are_pruned_to_the_newest_two(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    for step in (2, 4, 6):
        checkpoints.write_state(folder, step, {"x": torch.tensor([step])})
    assert [step for step, _ in checkpoints.list_checkpoints(folder)] == [6, 4]
    path, state = checkpoints.latest_state(folder)
    assert path == folder.checkpoint(6) and state["step"] == 6
    assert state["format"] == checkpoints.STATE_FORMAT and state["x"].item() == 6


def test_a_file_that_is_not_a_generator_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(UserError, match="is not a generator checkpoint"):
        checkpoints.read_generator_file(path)
    with pytest.raises(UserError, match="checkpoint not found"):
        checkpoints.read_generator_file(tmp_path / "missing.pt")


class _Foreign:
    """A class of another program, pickled into a file."""


def _foreign(path: Path) -> None:
    torch.save({"model": {}, "generator": {}, "extra": _Foreign()}, path)


def _truncated(path: Path) -> None:
    torch.save({"weights": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:600])


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.mkdir(), "it is a folder, not a file"),
        (lambda p: p.write_bytes(b""), "it is empty (0 bytes)"),
        (lambda p: p.write_text("epoch 3 loss 0.1\n"), "it is a text file, not a checkpoint"),
        (lambda p: p.write_bytes(bytes(range(7, 256)) * 20), "it is not a torch checkpoint"),
        (_truncated, "it is truncated: a torch archive whose end is missing (600 bytes"),
        (lambda p: torch.save(torch.nn.Linear(2, 2), p), "pickled torch.nn.modules.linear.Linear"),
        (_foreign, "_Foreign, which is neither tensors nor plain data"),
    ],
    ids=["folder", "empty", "text", "random", "truncated", "module", "foreign"],
)
def test_unreadable_files_say_what_they_are_in_one_line(tmp_path: Path, make, expected) -> None:
    path = tmp_path / "model.pt"
    make(path)
    with pytest.raises(UserError) as info:
        checkpoints.read_generator_file(path)
    message = str(info.value)
    assert message.startswith(f"cannot read checkpoint {path}: ") and expected in message
    assert "\n" not in message and "issue" not in message and "weights_only=False" not in message
