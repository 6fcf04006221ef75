"""One answer to "is this the same training run?", on both sides of the workflow.

For every leaf key of params.yaml, alone and under each profile, a changed value must rerun a
variant's training job in Snakemake if and only if `srgan train` would not find that variant's
final.pt complete (start over, or continue to more steps). The Snakemake side is Snakemake's
own DAG, built through its API with the changed configuration: a job reruns when its recorded
params (the `trigger`) or its set of input files change. The `srgan train` side is
`srgan.training.run.is_complete` on the metadata final.json records for the base configuration.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from srgan.core import variants
from srgan.core.config import from_dict, load_schema, merged_config_dict, validate
from srgan.core.errors import UserError
from srgan.data import acquire
from srgan.training import resume

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "workflow", "profiles", "params.yaml", "config", "notebooks")
PROFILES = {
    "paper": ["config/paper.yaml"],
    "quick": ["config/quick.yaml"],
    "params.yaml alone": [],
    "demo": ["config/demo.yaml"],
    "demo with a mirror": ["config/demo.yaml", "config/demo_mirror.yaml"],
}
TRAIN_RULES = ("train_srresnet", "train_srgan")


# --- the Snakemake side ------------------------------------------------------------------------


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


class Workflow:
    """Builds the workflow's DAG in this process (0.1 s a configuration after the first)."""

    def __init__(self, folder: Path) -> None:
        from snakemake.api import SnakemakeApi
        from snakemake.settings.types import OutputSettings

        self.folder = folder
        self.api = SnakemakeApi(OutputSettings()).__enter__()

    def train_jobs(self, configfiles: list[str], sets: list[str]) -> dict[str, tuple]:
        """{variant: (its trigger param, its set of input files)} of the training jobs."""
        from snakemake.settings.types import ConfigSettings, DAGSettings, ResourceSettings

        with _cwd(self.folder):
            workflow = self.api.workflow(
                resource_settings=ResourceSettings(cores=1),
                config_settings=ConfigSettings(
                    configfiles=[Path(f) for f in configfiles], config={"set": sets}
                ),
                snakefile=Path("Snakefile"),
                workdir=Path("."),
            )
            inner = workflow.dag(DAGSettings(targets={"train"})).workflow_api._workflow
            inner._prepare_dag(
                forceall=False, ignore_incomplete=True, lock_warn_only=True, nolock=True
            )
            inner._build_dag()
            return {
                job.wildcards.variant: (job.params.trigger, frozenset(map(str, job.input)))
                for job in inner.dag.jobs
                if job.rule.name in TRAIN_RULES
            }


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workflow]:
    folder = tmp_path_factory.mktemp("workflow")
    for name in WORKFLOW_FILES:
        (folder / name).symlink_to(REPO / name)
    built = Workflow(folder)
    yield built
    built.api.__exit__(None, None, None)


# --- changed values -------------------------------------------------------------------------------


def leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def schema_node(dotted: str) -> dict[str, Any]:
    schema = load_schema()
    node = schema
    for part in dotted.split("."):  # a key of a free-named mapping: its additionalProperties
        node = node.get("properties", {}).get(part) or node["additionalProperties"]
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def candidates(key: str, value: Any, folders: dict[str, Path]) -> list[Any]:
    """Other values for ``key``, most ordinary first; the first valid one is used."""
    node = schema_node(key)
    if "enum" in node:
        return [choice for choice in node["enum"] if choice != value]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        step = node.get("multipleOf", 1)
        return [value + step, value - step]
    if isinstance(value, float):
        return [value / 2, value * 2]
    if isinstance(value, list):
        if value and isinstance(value[0], bool):
            return [value[:1], [not v for v in value]]
        if value and isinstance(value[0], int):
            return [[value[0] + 1, *value[1:]], [2 if value[0] == 1 else 1, *value[1:]]]
        return [value[:-1], [*value, "Set5"], ["Set14"]]
    if value is None or key in ("data.mirror", "data.train_dir"):
        return [str(folders[key]) if key in folders else "elsewhere"]
    other = {"device": ["cpu", "auto"], "vgg.weights": ["random", "imagenet"]}
    return [v for v in other.get(key, []) if v != value] + [f"{value}2", "Set14", "Set5"]


def changed_config(base: dict[str, Any], key: str, new: Any) -> dict[str, Any] | None:
    """``base`` with ``key`` set to ``new``, if the schema and the data sources accept it."""
    config = copy.deepcopy(base)
    node = config
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = new
    try:
        validate(config)
        acquire.check_sources(from_dict(config))
    except UserError:
        return None
    return config


def as_set_pair(key: str, value: Any) -> str:
    return f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...')}"


# --- the srgan train side ------------------------------------------------------------------------


def complete_for(base: dict[str, Any], changed: dict[str, Any], variant: str) -> bool:
    """Would `srgan train` find the final.pt trained with ``base`` complete under ``changed``?"""
    spec = variants.get(variant)
    before, after = from_dict(base), from_dict(changed)
    record = {  # what final.json records for these decisions (tests/test_training.py checks)
        "train_hash": variants.run_hash(before, spec),
        "step": variants.schedule(before, spec).steps,
        "init": None,
    }
    steps = variants.schedule(after, spec).steps
    return resume.is_complete(record, variants.run_hash(after, spec), None, steps)


# --- the test ----------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", list(PROFILES))
def test_snakemake_reruns_training_exactly_when_srgan_train_would_work(
    profile: str, workflow: Workflow, shared_data: Path, tmp_path: Path
) -> None:
    configfiles = PROFILES[profile]
    base_sets = [f"data.mirror={shared_data}"] if "mirror" in profile else []
    base = merged_config_dict(REPO / "params.yaml", [REPO / f for f in configfiles], base_sets)
    (tmp_path / "photos").mkdir()
    mirror = tmp_path / "mirror"  # a mirror with a folder for every set any profile names
    for name in ("Set5", "Set14", "BSD100", "SkimageTest"):
        (mirror / "benchmarks" / name).mkdir(parents=True)
    for name in ("DIV2K", "T91", "BSD200"):
        (mirror / "train" / name).mkdir(parents=True)
    folders = {"data.mirror": mirror, "data.train_dir": tmp_path / "photos"}
    before = workflow.train_jobs(configfiles, base_sets)
    assert set(before) == set(base["workflow"]["variants"])

    walked, reruns = 0, set()
    for key, value in leaves(base):
        new = next(
            (c for c in candidates(key, value, folders) if changed_config(base, key, c)), None
        )
        if new is None:
            assert schema_node(key).get("enum") == [value], f"no other valid value for {key}"
            continue
        changed = changed_config(base, key, new)
        after = workflow.train_jobs(configfiles, [*base_sets, as_set_pair(key, new)])
        for variant in set(before) & set(after):
            snakemake_reruns = after[variant] != before[variant]
            srgan_train_works = not complete_for(base, changed, variant)
            assert snakemake_reruns == srgan_train_works, (
                f"{profile}: {key} = {new!r} (was {value!r}): Snakemake "
                f"{'reruns' if snakemake_reruns else 'does not rerun'} {variant}, but "
                f"`srgan train` would {'work' if srgan_train_works else 'do nothing'}"
            )
            if snakemake_reruns:
                reruns.add(key)
        walked += 1
    # The walk saw the whole configuration, and both kinds of key.
    assert walked >= len(list(leaves(base))) - 1
    assert {"seed", "model.blocks", "train.srgan.steps", "data.train_set"} <= reruns
    assert "train.log_every" not in reruns and "evaluate.datasets" not in reruns
