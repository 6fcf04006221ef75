"""The configuration layer: params.yaml + profiles + --set, validated, typed."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from srgan.core import paths
from srgan.core.config import config_hash, deep_merge, load_config, merged_config_dict, parse_set
from srgan.core.errors import UserError

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"
DEMO = REPO / "config" / "demo.yaml"


def test_params_yaml_holds_the_papers_settings():
    config = load_config(PARAMS)
    assert config.scale == 4
    assert config.model.blocks == 16 and config.model.channels == 64
    assert config.data.crop_size == 96 and config.data.batch_size == 16
    assert config.train.srresnet.steps == 1_000_000 and config.train.srresnet.lr == 1e-4
    assert config.train.srgan.steps == 200_000 and config.train.srgan.lr_decay_step == 100_000
    assert config.train.srgan.lr * config.train.srgan.lr_decay == pytest.approx(1e-5)
    assert config.train.adam_beta1 == 0.9
    assert config.loss.adversarial_weight == 1e-3
    assert config.loss.vgg_divisor == 12.75
    assert config.loss.tv_weight == 2e-8
    assert config.vgg.weights == "imagenet"
    assert config.demo is False


def test_demo_profile_overrides_and_keeps_the_rest():
    config = load_config(PARAMS, [DEMO])
    assert config.demo is True
    assert config.vgg.weights == "random"
    assert config.model.blocks < 16
    assert config.loss.adversarial_weight == 1e-3  # untouched by the profile


def test_set_overrides_win_and_parse_types():
    config = load_config(PARAMS, [DEMO], ["train.srresnet.lr=1e-3", "model.long_skip=false"])
    assert config.train.srresnet.lr == 1e-3
    assert config.model.long_skip is False
    assert parse_set(["a.b=1", "a.c=[1, 2]", "d=null", "e=text"]) == {
        "a": {"b": 1, "c": [1, 2]},
        "d": None,
        "e": "text",
    }


def test_deep_merge_merges_mappings_and_replaces_the_rest():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    assert deep_merge(base, {"a": {"y": [3]}, "c": 4}) == {"a": {"x": 1, "y": [3]}, "b": 2, "c": 4}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 2}  # not mutated


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.blockz=3", "unknown key blockz in model"),
        ("model.blocks=0", "bad value for model.blocks"),
        ("data.on_bad_image=maybe", "bad value for data.on_bad_image"),
        ("train.precision=fp8", "bad value for train.precision"),
        ("nonsense=1", "unknown key nonsense at the top level"),
    ],
)
def test_bad_keys_and_values_name_themselves(override, expected):
    with pytest.raises(UserError, match=expected):
        load_config(PARAMS, sets=[override])


@pytest.mark.parametrize("bad", ["novalue", "=3", "a..b=1"])
def test_malformed_set_is_a_user_error(bad):
    with pytest.raises(UserError, match="--set expects key=value"):
        parse_set([bad])


def test_missing_or_malformed_override_file_names_it(tmp_path):
    with pytest.raises(UserError, match="cannot read config file .*missing.yaml"):
        load_config(PARAMS, [tmp_path / "missing.yaml"])
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(UserError, match="broken.yaml is not valid YAML"):
        load_config(PARAMS, [broken])


def test_hash_is_stable_and_sensitive():
    a = merged_config_dict(PARAMS)
    assert config_hash(a) == config_hash(dict(reversed(list(a.items()))))
    b = merged_config_dict(PARAMS, sets=["seed=1"])
    assert config_hash(a) != config_hash(b)
    assert load_config(PARAMS).hash() == config_hash(a)
    assert len(config_hash(a)) == 12


def test_data_folders_follow_the_mirror():
    config = load_config(PARAMS)
    assert paths.test_sets_dir(config) == Path("data/test_sets")
    assert paths.train_images_dir(config) == Path("data/train/DIV2K")
    mirrored = load_config(PARAMS, sets=["data.mirror=/m", "data.train_set=T91"])
    assert paths.test_sets_dir(mirrored) == Path("/m/benchmarks")  # the mirror's own layout
    assert paths.train_images_dir(mirrored) == Path("/m/train/T91")
    folder = load_config(PARAMS, sets=["data.train_set=folder", "data.train_dir=/photos"])
    assert paths.train_images_dir(folder) == Path("/photos")
    with pytest.raises(UserError, match="data.train_dir is not set"):
        paths.train_images_dir(load_config(PARAMS, sets=["data.train_set=folder"]))


def test_schema_link_for_snakemake_points_at_the_package_schema():
    link = REPO / "workflow" / "schemas" / "config.schema.yaml"
    assert link.resolve() == (REPO / "src" / "srgan" / "core" / "config_schema.yaml").resolve()


def test_pip_export_matches_the_lock():
    """requirements.lock.txt (for pip/conda users) is generated from uv.lock: no drift."""
    uv = shutil.which("uv") or str(REPO / ".uv" / "bin" / "uv")
    if not Path(uv).exists():
        pytest.skip("uv is not installed (make setup installs it into .uv/)")
    exported = subprocess.run(
        [
            uv,
            "export",
            "--frozen",
            "--no-hashes",
            "--no-emit-project",
            "--no-dev",
            "--format",
            "requirements-txt",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert _pins(exported) == _pins((REPO / "requirements.lock.txt").read_text())


def _pins(text: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line and not line.lstrip().startswith("#"))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.srresnet.lr=.nan", "train.srresnet.lr"),
        ("train.adam_beta1=.nan", "train.adam_beta1"),
        ("loss.tv_weight=.inf", "loss.tv_weight"),
        ("train.srgan.lr=nan", "train.srgan.lr"),
        ("loss.vgg_divisor=-.inf", "loss.vgg_divisor"),
    ],
)
def test_nan_and_infinity_are_refused(override, key):
    with pytest.raises(UserError, match=rf"bad value for {key}: .* is not a finite number"):
        load_config(PARAMS, sets=[override])


@pytest.mark.parametrize("crop", [50, 2, 97])
def test_a_crop_that_is_not_a_multiple_of_the_scale_is_refused_once(crop):
    """The one check of data.crop_size (config.check_crop_size): at validation, naming it."""
    with pytest.raises(UserError) as info:
        load_config(PARAMS, sets=[f"data.crop_size={crop}"])
    message = str(info.value)
    assert (
        message.endswith(
            f"bad value for data.crop_size: {crop} is not a positive multiple of the scale 4"
        )
        or f"bad value for data.crop_size: {crop} is less than the minimum of 8" in message
    )
    assert load_config(PARAMS, sets=["data.crop_size=100"]).data.crop_size == 100


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"train:\n  srresnet:\n    lr: .nan\n", r"bad value for train.srresnet.lr: nan is not a"),
        (
            b"train:\n  log_every: 5\n  eval_every: 3\n  log_every: 50\n",
            r"is not valid YAML: the key 'log_every' is given twice in one mapping \(lines 2 and 4",
        ),
        (
            "data:\n  root: donn\u00e9es\n".encode("latin-1"),
            r"is not UTF-8 text \(byte 18: invalid continuation byte\); save it as UTF-8",
        ),
        (b"model:\n  blocks: [1,\n", r"is not valid YAML: .* \(line 3, column 1\)$"),
    ],
    ids=["nan", "key twice", "latin-1", "malformed"],
)
def test_bad_config_files_are_one_line_naming_the_file(tmp_path, content, expected):
    profile = tmp_path / "p.yaml"
    profile.write_bytes(content)
    with pytest.raises(UserError) as info:
        load_config(PARAMS, [profile])
    message = str(info.value)
    assert "\n" not in message and str(profile) in message and re.search(expected, message)
