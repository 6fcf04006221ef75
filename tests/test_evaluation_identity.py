"""One answer to "is this the same evaluation?", checked against what evaluation computes.

For every leaf key of the demo's configuration (on a small mirror), a changed value must change
an evaluation's fingerprint in Snakemake's DAG (``srgan.core.identity.evaluation_identity``:
what reruns it) if and only if it changes what ``srgan evaluate`` writes, for a trained
generator and for a baseline, with the same model and images. Both evaluations run here, in
this process, on tiny images; a value that cannot be evaluated offline (the pretrained LPIPS and
NIQE weights) is named and skipped. Moving the test sets (another ``data.mirror``) changes the
jobs' input files, which reruns them too; that is Snakemake's own rule and not checked here.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import paper_generator
from workflow_dag import (
    REPO,
    Workflow,
    as_set_pair,
    candidates,
    changed_config,
    leaves,
    linked_workflow,
)

from srgan.cli.main import main
from srgan.core.config import merged_config_dict
from srgan.image.io import write_png
from srgan.metrics import perceptual
from srgan.models import checkpoints

PROFILE = ["config/demo.yaml", "config/demo_mirror.yaml"]
EVALUATE_RULES = ("evaluate_model", "evaluate_baseline")
#: Other values worth trying where the schema's kind of value gives none.
EXTRA_CANDIDATES = {"evaluate.perceptual.lpips": [["alex", "vgg"], ["vgg"]]}
#: Values that cannot be evaluated without a network: the ImageNet backbones and NIQE's model.
OFFLINE_REFUSED = {("evaluate.perceptual.weights", "pretrained")}
#: The keys whose change must change both the evaluation and its fingerprint.
EXPECTED = {
    "evaluate.datasets",
    "evaluate.perceptual.enabled",
    "evaluate.perceptual.lpips",
    "evaluate.perceptual.niqe",
}


def _mirror(root: Path) -> Path:
    """A mirror with a small image in each test set and in a training set."""
    rng = np.random.default_rng(0)
    for kind, name in [*(("benchmarks", s) for s in ("Set5", "Set14", "BSD100")), ("train", "T91")]:
        image = rng.integers(0, 256, (44, 52, 3), np.uint8)
        write_png(root / kind / name / f"{name}.png", image)
    return root


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workflow, Path, Path]]:
    root = tmp_path_factory.mktemp("evaluation")
    mirror = _mirror(root / "mirror")
    shutil.copytree(mirror, root / "mirror2")
    torch.manual_seed(0)
    generator = paper_generator(num_blocks=1, channels=8)
    model = root / "generator.pt"
    checkpoints.save_atomic({"model": generator.config, "generator": generator.state_dict()}, model)
    (root / "workflow").mkdir()
    built = Workflow(linked_workflow(root / "workflow"))
    yield built, mirror, model
    built.api.__exit__(None, None, None)


def _evaluate(root: Path, model: Path, sets: list[str]) -> tuple[str, str]:
    """The JSON text ``srgan evaluate`` writes for the generator and for bicubic."""
    args = ["--params", str(REPO / "params.yaml")]
    for profile in PROFILE:
        args += ["--config", str(REPO / profile)]
    for pair in sets:
        args += ["--set", pair]
    texts = []
    for which in (["--checkpoint", str(model)], ["--method", "bicubic"]):
        out = root / "out.json"
        assert main(["evaluate", *which, "--out", str(out), "--no-progress", *args]) == 0
        texts.append(out.read_text())
    return texts[0], texts[1]


def _fingerprints(workflow: Workflow, sets: list[str]) -> dict[str, Any]:
    jobs = workflow.jobs("evaluate", EVALUATE_RULES, "fingerprint", PROFILE, sets)
    return {method: fingerprint for method, (fingerprint, _) in jobs.items()}


@pytest.mark.slow
def test_an_evaluation_reruns_exactly_when_its_result_would_change(
    setup: tuple[Workflow, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow, mirror, model = setup
    # A scorer depends on its settings and device only: build each once (seconds each).
    built: dict[str, perceptual.PerceptualScorer] = {}
    scorer = perceptual.PerceptualScorer

    def cached(settings, device="cpu"):
        return built.setdefault(repr((settings, str(device))), scorer(settings, device=device))

    monkeypatch.setattr(perceptual, "PerceptualScorer", cached)
    base_sets = [f"data.mirror={mirror}"]
    base = merged_config_dict(REPO / "params.yaml", [REPO / p for p in PROFILE], base_sets)
    before_results = _evaluate(tmp_path, model, base_sets)
    before = _fingerprints(workflow, base_sets)
    assert set(before) == {"nearest", "bicubic", *base["workflow"]["variants"]}
    folders = {"data.mirror": mirror.parent / "mirror2", "data.train_dir": mirror / "train" / "T91"}
    changing, skipped = set(), []
    for key, value in leaves(base):
        options = EXTRA_CANDIDATES.get(key, []) + candidates(key, value, folders)
        new = next((c for c in options if changed_config(base, key, c)), None)
        if new is None or any(key == k and new == v for k, v in OFFLINE_REFUSED):
            skipped.append(key)
            continue
        sets = [*base_sets, as_set_pair(key, new)]
        results_change = _evaluate(tmp_path, model, sets) != before_results
        after = _fingerprints(workflow, sets)
        for method in set(before) & set(after):
            reruns = after[method] != before[method]
            assert reruns == results_change, (
                f"{key} = {new!r} (was {value!r}): the {method} evaluation "
                f"{'reruns' if reruns else 'does not rerun'} in Snakemake, but its result "
                f"{'changes' if results_change else 'stays the same'}"
            )
        if results_change:
            changing.add(key)
    assert changing == EXPECTED
    assert sorted(skipped) == ["evaluate.perceptual.weights", "scale"]
