"""The configuration layer: params.yaml + profiles + --set, validated, typed."""

import re
import shutil
import subprocess
import sys
import time
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


@pytest.mark.process
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
            "--no-default-groups",
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


# --- input that would crash or hang: bounded before it is built, typed as the code uses it ----

#: Nine levels of nine aliases each: 9**9 (387 million) values once expanded, 90 in the file.
ALIAS_BOMB = "".join(
    f"l{level}: &l{level} [{', '.join([f'*l{level - 1}' if level else 'x'] * 9)}]\n"
    for level in range(9)
)
#: The same on one line, as a --set value.
FLOW_BOMB = (
    "["
    + ", ".join(
        f"&l{level} [{', '.join([f'*l{level - 1}' if level else 'x'] * 9)}]" for level in range(9)
    )
    + "]"
)
DEEP = 5000


def _srgan(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "srgan.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    [line] = result.stderr.splitlines()
    for text in expected:
        assert text in line, line
    return line


@pytest.mark.process
def test_an_alias_bomb_is_refused_at_once_naming_the_file(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB)
    started = time.monotonic()
    with pytest.raises(UserError) as info:
        load_config(PARAMS, [bomb])
    message = str(info.value)
    assert message.startswith(f"config file {bomb} is too large once its aliases are expanded")
    assert "\n" not in message
    with pytest.raises(UserError, match=r"^--set l=.*too large once its aliases are expanded"):
        parse_set([f"l={FLOW_BOMB}"])
    assert time.monotonic() - started < 5
    # the command line, as a user meets it: one line, at once (before: minutes of work)
    workdir = tmp_path / "run"
    result = _srgan("train", "srresnet_mse", "--workdir", str(workdir), "--config", str(bomb))
    _one_line(result, f"config file {bomb} is too large once its aliases are expanded")
    assert time.monotonic() - started < 30


def test_a_value_that_refers_to_itself_is_refused(tmp_path):
    loop = tmp_path / "loop.yaml"
    loop.write_text("evaluate:\n  datasets: &d [Set5, *d]\n")
    with pytest.raises(UserError, match=rf"^config file {loop} .*refers to itself"):
        load_config(PARAMS, [loop])


@pytest.mark.process
@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_deeply_nested_input_is_one_line_not_a_recursion_error(tmp_path, opening):
    closing = "]" if opening == "[" else "}"
    deep = tmp_path / "deep.yaml"
    deep.write_text(f"model:\n  blocks: {opening * DEEP}1{closing * DEEP}\n")
    with pytest.raises(UserError) as info:
        load_config(PARAMS, [deep])
    message = str(info.value)
    assert message.startswith(f"config file {deep} is nested more than 64 levels deep (line 2")
    value = f"{opening * DEEP}1{closing * DEEP}"
    with pytest.raises(UserError, match=r"^--set model.blocks=\[*.*nested more than 64 levels"):
        parse_set([f"model.blocks={value}"])
    # aliases can nest deeper than the text: a chain of 100 anchors, two levels in the file
    chain = "".join(f"c{i}: &c{i} [{f'*c{i - 1}' if i else 1}]\n" for i in range(100))
    deep.write_text(chain)
    with pytest.raises(UserError, match="nested more than 64 levels deep once its aliases"):
        load_config(PARAMS, [deep])
    workdir = str(tmp_path / "run")
    result = _srgan("train", "srresnet_mse", "--workdir", workdir, "--set", f"model.blocks={value}")
    _one_line(result, "--set model.blocks=", "nested more than 64 levels deep")


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("model.blocks=2.0", "model.blocks", "2.0"),
        ("train.checkpoint_every=500.0", "train.checkpoint_every", "500.0"),
        ("data.batch_size=true", "data.batch_size", "True"),
        ("discriminator.strides=[1, 2.0]", "discriminator.strides.1", "2.0"),
        ("train.variant_steps={srgan_mse: 1000.0}", "train.variant_steps.srgan_mse", "1000.0"),
        ("model.long_skip=1", "model.long_skip", "1"),
    ],
)
def test_integer_and_boolean_keys_take_their_own_type(tmp_path, override, key, value):
    with pytest.raises(UserError) as info:
        load_config(PARAMS, sets=[override])
    assert f"bad value for {key}: {value} is not of type" in str(info.value)
    # the same in a file
    name, _, raw = override.partition("=")
    *parents, leaf = name.split(".")
    text = "".join(f"{'  ' * i}{part}:\n" for i, part in enumerate(parents))
    profile = tmp_path / "p.yaml"
    profile.write_text(text + f"{'  ' * len(parents)}{leaf}: {raw}\n")
    with pytest.raises(UserError, match=rf"{re.escape(str(profile))}.*bad value for {key}: "):
        load_config(PARAMS, [profile])


@pytest.mark.process
def test_a_float_for_an_integer_is_one_line_on_the_command_line(tmp_path):
    result = _srgan(
        "train", "srresnet_mse", "--workdir", str(tmp_path / "run"), "--set", "model.blocks=2.0"
    )
    _one_line(result, "bad value for model.blocks: 2.0 is not of type 'integer'")
    assert load_config(PARAMS, sets=["model.blocks=2"]).model.blocks == 2
    assert load_config(PARAMS, sets=["train.srresnet.lr=1"]).train.srresnet.lr == 1.0  # a number


def test_the_typed_config_checks_what_the_schema_lets_through():
    from srgan.core.config import from_dict, merged_config_dict

    tree = merged_config_dict(PARAMS)
    tree["model"]["blocks"] = 2.0  # past validation (a caller building its own mapping)
    with pytest.raises(UserError, match=r"^bad value for model.blocks: 2.0 is not an integer$"):
        from_dict(tree)
    tree["model"]["blocks"] = 2
    tree["train"]["compile"] = 1
    with pytest.raises(UserError, match=r"^bad value for train.compile: 1 is not true or false"):
        from_dict(tree)
