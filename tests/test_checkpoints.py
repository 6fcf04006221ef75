"""srgan.checkpoints: final.pt with final.json beside it, resumable states, safe reading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from srgan import checkpoints
from srgan.errors import UserError
from srgan.models import SRResNet
from srgan.paths import RunFolder

METADATA = {"variant": "x", "step": 7, "train_hash": "abc", "demo": True, "notes": ["n"]}


def _final(tmp_path: Path) -> tuple[RunFolder, SRResNet]:
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=1, channels=4)
    folder = RunFolder(tmp_path / "run")
    checkpoints.write_final(folder, generator.config, generator.state_dict(), METADATA)
    return folder, generator


def test_final_json_holds_the_metadata_of_final_pt(tmp_path: Path) -> None:
    folder, generator = _final(tmp_path)
    blob = torch.load(folder.final, weights_only=True)
    assert blob["format"] == checkpoints.GENERATOR_FORMAT and blob["metadata"] == METADATA
    on_disk = json.loads(folder.final_metadata.read_text())
    assert on_disk == {
        "format": checkpoints.GENERATOR_FORMAT,
        "version": checkpoints.FORMAT_VERSION,
        "metadata": METADATA,
    }
    loaded, metadata = checkpoints.load_generator(folder.final)
    assert metadata == METADATA and not loaded.training
    for key, tensor in generator.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key


def test_metadata_is_read_without_torch(tmp_path: Path) -> None:
    folder, _ = _final(tmp_path)
    code = (
        "import sys; from srgan import checkpoints, paths; "
        f"m = checkpoints.read_final_metadata(paths.RunFolder({str(folder.root)!r})); "
        "print(m['step'], 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["7", "False"]


def test_metadata_falls_back_to_final_pt(tmp_path: Path) -> None:
    assert checkpoints.read_final_metadata(RunFolder(tmp_path / "none")) is None
    folder, _ = _final(tmp_path)
    folder.final_metadata.unlink()  # killed between the two writes, or an older run
    assert checkpoints.read_final_metadata(folder) == METADATA
    folder.final.write_bytes(b"truncated")
    assert checkpoints.read_final_metadata(folder) == {}


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
