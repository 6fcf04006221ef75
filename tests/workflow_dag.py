"""The workflow's DAG built in this process, and other values for every configuration key:
what the tests of the rerun decisions share (tests/test_identity.py for training,
tests/test_evaluation_identity.py for evaluation).

Snakemake's API has no public call that builds a DAG and exposes its jobs' params without
running them, so :meth:`Workflow.jobs` uses two internal steps of Snakemake 9
(``_prepare_dag``, ``_build_dag``), here only.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from srgan.core.config import from_dict, load_schema, validate
from srgan.core.errors import UserError
from srgan.core.paper import SCALE
from srgan.data import acquire

REPO = Path(__file__).resolve().parents[1]
#: What a copy of the workflow needs (linked into a temporary folder).
WORKFLOW_FILES = ("Snakefile", "workflow", "profiles", "params.yaml", "config", "notebooks")
#: The profiles every rerun test walks, by the files laid over params.yaml.
PROFILES = {
    "paper": ["config/paper.yaml"],
    "quick": ["config/quick.yaml"],
    "params.yaml alone": [],
    "demo": ["config/demo.yaml"],
    "demo with a mirror": ["config/demo.yaml", "config/demo_mirror.yaml"],
}


def as_set_pair(key: str, value: Any) -> str:
    return f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...')}"


def linked_workflow(folder: Path) -> Path:
    """A folder holding links to the workflow's files (the DAG is built there)."""
    for name in WORKFLOW_FILES:
        (folder / name).symlink_to(REPO / name)
    return folder


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

    def jobs(
        self,
        target: str,
        rules: tuple[str, ...],
        param: str,
        configfiles: list[str],
        sets: list[str],
    ) -> dict[str, tuple]:
        """{job: (its ``param``, its set of input files)} of the jobs of ``rules`` that
        ``target`` needs, named by their first wildcard."""
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
            inner = workflow.dag(DAGSettings(targets={target})).workflow_api._workflow
            inner._prepare_dag(
                forceall=False, ignore_incomplete=True, lock_warn_only=True, nolock=True
            )
            inner._build_dag()
            return {
                job.wildcards[0]: (job.params[param], frozenset(map(str, job.input)))
                for job in inner.dag.jobs
                if job.rule.name in rules
            }


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
        return [value + 1, value - 1, value + SCALE, value - SCALE]  # crop sizes: the scale
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
