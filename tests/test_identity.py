"""One answer to "is this the same training run?", on both sides of the workflow.

For every leaf key of params.yaml, alone and under each profile, a changed value must rerun a
variant's training job in Snakemake if and only if `srgan train` would not find that variant's
final.pt complete (start over, or continue to more steps). The Snakemake side is Snakemake's
own DAG, built through its API with the changed configuration: a job reruns when its recorded
params (the `trigger`) or its set of input files change. The `srgan train` side is
`srgan.training.resume.is_complete` on the run record final.json holds for the base
configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workflow_dag import (
    PROFILES,
    REPO,
    Workflow,
    as_set_pair,
    candidates,
    changed_config,
    leaves,
    linked_workflow,
    schema_node,
)

from srgan.core import identity, variants
from srgan.core.config import from_dict, merged_config_dict
from srgan.core.record import RunRecord, Software, TrainingData
from srgan.training import resume

TRAIN_RULES = ("train_srresnet", "train_srgan")


# --- the Snakemake side ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workflow]:
    built = Workflow(linked_workflow(tmp_path_factory.mktemp("workflow")))
    yield built
    built.api.__exit__(None, None, None)


# --- the srgan train side ------------------------------------------------------------------------


def complete_for(base: dict[str, Any], changed: dict[str, Any], variant: str) -> bool:
    """Would `srgan train` find the final.pt trained with ``base`` complete under ``changed``?"""
    spec = variants.get(variant)
    before, after = from_dict(base), from_dict(changed)
    schedule = variants.schedule(before, spec)
    found = RunRecord(  # what final.json records for these decisions (test_training checks)
        variant=variant,
        step=schedule.steps,
        identity=identity.run_hash(before, spec),
        config_hash=before.hash(),
        config=base,
        model={},
        schedule=schedule,
        init=None,
        data=None,
        weights_digest=None,
        reasons=(),
        software=Software("", "", "", "", ""),
    )
    files = TrainingData(files_digest="", n_files=0, seed=after.seed, files_stat_digest="")
    requested = resume.Requested(
        identity.run_hash(after, spec), None, variants.schedule(after, spec).steps, files
    )
    return resume.is_complete(found, requested)


# --- the test ----------------------------------------------------------------------------------


@pytest.mark.process
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
    before = workflow.jobs("train", TRAIN_RULES, "trigger", configfiles, base_sets)
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
        after = workflow.jobs(
            "train", TRAIN_RULES, "trigger", configfiles, [*base_sets, as_set_pair(key, new)]
        )
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
