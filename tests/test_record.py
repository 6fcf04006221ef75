"""The run record (srgan.core.record) and why results are not comparable (srgan.core.comparability):
one typed contract, written as final.pt and final.json, read back exactly, older files upgraded,
and a model whose files disagree refused in one line."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT, make_record, paper_generator

from srgan.core import comparability, identity, record, variants
from srgan.core.config import load_config
from srgan.core.errors import UserError
from srgan.core.paths import RunFolder
from srgan.models import checkpoints
from srgan.models.networks import SRResNet

PARAMS = REPO_ROOT / "params.yaml"
PROFILES = REPO_ROOT / "config"


def _generator(seed: int = 0) -> SRResNet:
    torch.manual_seed(seed)
    return paper_generator(num_blocks=1, channels=4)


def _final(root: Path, variant: str = "srresnet_mse", seed: int = 0) -> tuple[RunFolder, SRResNet]:
    generator = _generator(seed)
    folder = RunFolder(root / variant)
    written = make_record(generator, variant)
    checkpoints.write_final(folder, generator.config, generator.state_dict(), written)
    return folder, generator


# --- the record and its two serialisations ------------------------------------------------------


def test_final_pt_and_final_json_hold_the_same_record(tmp_path: Path) -> None:
    folder, generator = _final(tmp_path)
    written = make_record(generator)
    on_disk = json.loads(folder.final_metadata.read_text())
    assert on_disk == written.to_dict()
    assert on_disk["format"] == record.RECORD_FORMAT and on_disk["version"] == 2
    blob = torch.load(folder.final, weights_only=True)
    assert blob["record"] == written.to_dict() and blob["version"] == checkpoints.FORMAT_VERSION
    loaded, found = checkpoints.load_generator(folder.final)
    assert found == written and not loaded.training
    assert record.read(on_disk, "final.json") == written  # every field, typed, back


def test_the_record_says_what_how_from_what_and_why(tmp_path: Path) -> None:
    written = make_record(_generator(), "srgan_vgg54", step=40)
    assert written.label == "SRGAN-VGG54" and written.profile == "demo"
    assert written.vgg_weights == "random" and not written.comparable
    assert written.schedule.phases == ((0, 20, 1e-4), (20, 40, pytest.approx(1e-5)))
    assert written.reasons == tuple(
        comparability.reasons(
            load_config(PARAMS, [PROFILES / "demo.yaml"]), variants.get("srgan_vgg54")
        )
    )
    assert make_record(_generator()).vgg_weights is None  # srresnet_mse: no VGG in its loss


@pytest.mark.process
def test_the_record_is_read_without_torch(tmp_path: Path) -> None:
    folder, _ = _final(tmp_path)
    code = (
        "import sys; from srgan.core import paths; from srgan.models import checkpoints; "
        f"r = checkpoints.read_record(paths.RunFolder({str(folder.root)!r})); "
        "print(r.step, r.variant, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["7", "srresnet_mse", "False"]


def test_final_pt_stands_in_for_a_missing_final_json(tmp_path: Path) -> None:
    assert checkpoints.read_record(RunFolder(tmp_path / "none")) is None
    folder, generator = _final(tmp_path)
    folder.final_metadata.unlink()  # killed between the two writes
    assert checkpoints.read_record(folder) == make_record(generator)
    folder.final.write_bytes(b"truncated")
    with pytest.raises(UserError, match="cannot read checkpoint"):
        checkpoints.read_record(folder)


def test_a_record_of_another_format_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        record.read({"format": "something", "version": 9}, "x/final.json")
    assert "x/final.json is not a run record this version reads" in str(info.value)
    assert "retrain the model with `srgan train`" in str(info.value)
    blob = make_record(_generator()).to_dict()
    del blob["weights_digest"]
    with pytest.raises(UserError, match="the run record lacks weights_digest"):
        record.read(blob, "x/final.json")


# --- version 1 files: upgraded --------------------------------------------------------------------


def _legacy_metadata(generator: SRResNet) -> dict:
    """What srgan train wrote before the run record (final.pt/final.json version 1)."""
    config = load_config(PARAMS, [PROFILES / "demo.yaml"])
    spec = variants.get("srgan_mse")
    return {
        "variant": "srgan_mse",
        "step": 40,
        "config_hash": config.hash(),
        "train_hash": identity.run_hash(config, spec),
        "config": config.to_dict(),
        "model": generator.config,
        "schedule": {"steps": 40, "lr": 1e-4, "decay_step": 20, "decay": 0.1},
        "init": {
            "path": "runs/srresnet_mse/final.pt",
            "digest": "d" * 16,
            "variant": "srresnet_mse",
            "step": 1500,
            "train_hash": "e" * 12,
        },  # fmt: skip
        "vgg_weights": None,
        "demo": True,
        "notes": ["demo run (profile: demo): small model and schedule"],
        "git_commit": "1" * 40,
        "torch_version": "2.14.1",
        "device": "cpu",
        "precision": "fp32",
        "created": "2026-11-30T10:00:00+00:00",
    }


def _write_legacy(folder: RunFolder, generator: SRResNet, metadata: dict) -> None:
    folder.root.mkdir(parents=True)
    header = {"format": checkpoints.GENERATOR_FORMAT, "version": 1}
    torch.save(
        {
            **header,
            "model": generator.config,
            "generator": generator.state_dict(),
            "metadata": metadata,
        },
        folder.final,
    )
    folder.final_metadata.write_text(json.dumps({**header, "metadata": metadata}))


def test_a_version_1_model_is_upgraded_when_read(tmp_path: Path) -> None:
    generator = _generator()
    folder = RunFolder(tmp_path / "srgan_mse")
    metadata = _legacy_metadata(generator)
    _write_legacy(folder, generator, metadata)
    found = checkpoints.read_record(folder)
    assert (found.variant, found.step, found.identity) == ("srgan_mse", 40, metadata["train_hash"])
    assert found.init == record.InitModel(
        "runs/srresnet_mse/final.pt", "d" * 16, "srresnet_mse", 1500, "e" * 12
    )
    assert found.start_step == 1500 and found.schedule == variants.Schedule(40, 1e-4, 20, 0.1)
    assert found.data is None and found.weights_digest is None  # never recorded: unknown
    assert found.reasons[0] == comparability.DEMO and len(found.reasons) == 2  # + the schedule
    # final.pt says the same, and loading it checks the two agree.
    _, from_pt = checkpoints.load_generator(folder.final)
    assert from_pt == found


def test_a_version_1_model_this_version_cannot_read_says_what_to_do(tmp_path: Path) -> None:
    generator = _generator()
    metadata = _legacy_metadata(generator)
    del metadata["config"]["model"]  # a configuration of an earlier layout
    with pytest.raises(UserError) as info:
        record.upgrade(metadata, "runs/srgan_mse/final.json")
    message = str(info.value)
    assert "written by an earlier version of srgan (commit 1111" in message
    assert "retrain the model with `srgan train`" in message and "\n" not in message


# --- final.pt, final.json and the folder must agree ---------------------------------------------


def test_another_models_final_pt_in_a_variants_folder_is_refused(tmp_path: Path) -> None:
    """A final.pt of another model copied over a variant's: refused, naming both."""
    mse, _ = _final(tmp_path, "srresnet_mse")
    gan, _ = _final(tmp_path / "other", "srgan_mse", seed=1)
    shutil.copy(gan.final, mse.final)
    with pytest.raises(UserError) as info:
        checkpoints.load_generator(mse.final)
    assert str(info.value).startswith(
        f"{mse.final} is a trained srgan_mse generator (its run record)"
    )
    assert "not the srresnet_mse its folder names" in str(info.value)


def test_a_stale_final_json_is_refused_with_what_to_run(tmp_path: Path) -> None:
    folder, generator = _final(tmp_path)
    other = make_record(generator, step=3)
    folder.final_metadata.write_text(json.dumps(other.to_dict()))
    with pytest.raises(UserError) as info:
        checkpoints.load_generator(folder.final)
    message = str(info.value)
    assert f"{folder.final_metadata} describes srresnet_mse at step 3" in message
    assert f"`srgan train srresnet_mse --workdir {folder.root}` to rewrite final.json" in message


def test_weights_that_are_not_the_recorded_ones_are_refused(tmp_path: Path) -> None:
    folder, generator = _final(tmp_path)
    blob = torch.load(folder.final, weights_only=True)
    key = next(iter(blob["generator"]))
    blob["generator"][key] = blob["generator"][key] + 1
    torch.save(blob, folder.final)
    with pytest.raises(UserError, match="its weights .* are not the ones its run record names"):
        checkpoints.load_generator(folder.final)


# --- comparability: one list of reasons -----------------------------------------------------------


def _config(*profiles: str, sets: tuple[str, ...] = ()):
    return load_config(PARAMS, [PROFILES / f"{p}.yaml" for p in profiles], list(sets))


def test_the_papers_settings_have_no_reason() -> None:
    assert comparability.reasons(_config(), results=True) == []
    assert comparability.reasons(_config("paper"), results=True) == []


def test_the_demo_names_each_reason_once() -> None:
    demo = _config("demo")
    found = comparability.reasons(demo, results=True)
    assert found[0] == comparability.DEMO
    assert found[1] == (
        "a shorter schedule than the paper's (iterations: SRResNet-MSE 1,500 of 1,000,000; "
        "SRResNet-VGG22 300 of 1,000,000; SRGAN-MSE 40 of 200,000; SRGAN-VGG22 40 of 200,000; "
        "SRGAN-VGG54 40 of 200,000)"
    )
    assert found[2:] == [comparability.RANDOM_VGG, comparability.STANDIN_PERCEPTUAL]
    # A model: its own schedule, random VGG only when its loss uses VGG, no perceptual scores.
    assert comparability.reasons(demo, variants.get("srresnet_mse")) == [
        comparability.DEMO,
        "a shorter schedule than the paper's (iterations: SRResNet-MSE 1,500 of 1,000,000)",
    ]


def test_a_shorter_schedule_is_a_reason_wherever_it_comes_from() -> None:
    quick = comparability.reasons(_config("quick"), variants.get("srgan_vgg54"))
    assert quick == [
        "a shorter schedule than the paper's (iterations: SRGAN-VGG54 20,000 of 200,000)"
    ]
    pinned = _config(sets=("train.variant_steps={srresnet_vgg22: 10}",))
    assert comparability.reasons(pinned) == [
        "a shorter schedule than the paper's (iterations: SRResNet-VGG22 10 of 1,000,000)"
    ]
    longer = _config(sets=("train.srgan.steps=300000",))
    assert comparability.reasons(longer) == []


def test_merged_reasons_keep_each_once_in_order() -> None:
    assert comparability.merged(["a", "b"], ("b", "c"), []) == ["a", "b", "c"]


def test_a_record_is_frozen() -> None:
    written = make_record(_generator())
    with pytest.raises(dataclasses.FrozenInstanceError):
        written.step = 8  # type: ignore[misc]
