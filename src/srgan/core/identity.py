"""What makes two training runs the same, and two evaluations: the workflow's rerun decisions.

**Run identity.** :func:`run_identity` is the single answer to "is this the same training
run?": the configuration keys that change what a variant computes. ``srgan train`` starts a
variant over when its identity changes (and resumes or does nothing otherwise), and the
workflow reruns a training job when :func:`rerun_trigger` changes: the identity plus the
schedule's length (a longer schedule continues from the last checkpoint, a shorter one
starts over). Keys that only say where or how fast a run happens (devices, workers, logging,
checkpoint frequency, other variants' keys) are left out; tests/test_identity.py walks every
key of ``params.yaml`` and its profiles to check both sides agree.

**Evaluation identity.** :func:`evaluation_identity` is what an evaluation's result depends on
besides its model and its images: the scale, the test sets and the perceptual scores' settings
(:func:`depth_evaluation_identity` for the depth study, which scores PSNR and SSIM on one set).
Where and how it runs is not part of it: the device, and the tile size (tiling is exact, the
tiles overlapping by the generator's receptive field). The workflow reruns an evaluation when
its identity changes; tests/test_evaluation_identity.py walks every key and checks that exactly
these change what ``srgan evaluate`` writes.

Torch-free: the workflow imports this module when it starts.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from srgan.core.config import Config, config_hash
from srgan.core.variants import DEPTH_STUDY, Variant, get, schedule

#: Config keys that never change what a run computes: where and how fast it runs, how often
#: it logs, scores or saves, which data it could read (the files it does read are checked
#: apart, by their digest), what the workflow does after training (the MOS study included),
#: and the profile's name (a demo's model records it in its metadata).
NOT_IDENTITY = (
    "device",
    "profile",
    "data.root",
    "data.mirror",
    "data.test_sets",
    "data.workers",
    "data.cache_images",
    "data.pipeline",
    "train.srresnet.steps",
    "train.srgan.steps",
    "train.variant_steps",
    "train.snapshot_steps",
    "train.checkpoint_every",
    "train.log_every",
    "train.eval_every",
    "train.channels_last",
    "train.compile",
    "train.step",
    "train.adam_kernel",
    "train.deterministic",
    "evaluate",
    "workflow",
    "mos",
)
#: Keys only some variants read: part of the identity of those only.
SRGAN_ONLY = ("discriminator", "train.srgan", "loss.adversarial_weight")
SRRESNET_ONLY = ("train.srresnet",)
VGG_ONLY = ("vgg", "loss.vgg_divisor")
TV_ONLY = ("loss.tv_weight",)
#: Keys each model of the depth study sets for itself (workflow.depth gives their values).
DEPTH_STUDY_SETS = ("model.blocks", "model.long_skip")


def _drop_key(tree: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        tree = tree.get(part, {})
    tree.pop(last, None)


def run_identity(config: Config, variant: Variant) -> dict[str, Any]:
    """The config keys that determine what ``variant`` computes, plus the variant's name.

    Two runs with the same identity (and the same ``--init`` generator and training files)
    compute the same thing, so one may resume the other.
    """
    tree = copy.deepcopy(config.to_dict())
    dropped = list(NOT_IDENTITY)
    dropped += SRRESNET_ONLY if variant.adversarial else SRGAN_ONLY
    dropped += () if variant.uses_vgg else VGG_ONLY
    dropped += () if variant.total_variation else TV_ONLY
    for key in dropped:
        _drop_key(tree, key)
    return {"variant": variant.name, "config": tree}


def run_hash(config: Config, variant: Variant) -> str:
    """A short hash of :func:`run_identity` (what checkpoints and final.json record)."""
    return config_hash(run_identity(config, variant))


def rerun_trigger(config: Config, variant: Variant) -> str:
    """What makes the workflow rerun ``variant``'s training job, as text (Snakemake compares
    it with the value recorded at the last run): the run identity and the schedule's length.
    ``srgan train`` then starts over (another identity), continues (more steps) or starts over
    (fewer steps), so the job never ends with a stale model."""
    key = {"identity": run_hash(config, variant), "steps": schedule(config, variant).steps}
    return json.dumps(key, sort_keys=True)


# --- evaluation identity ----------------------------------------------------------------------


def evaluation_identity(config: Config) -> dict[str, Any]:
    """What an evaluation's result depends on besides its model and its images."""
    settings = config.evaluate
    return {
        "scale": config.scale,
        "datasets": list(settings.datasets),
        "perceptual": dataclasses.asdict(settings.perceptual),
    }


def depth_evaluation_identity(config: Config) -> dict[str, Any]:
    """What a depth-study evaluation depends on besides its model: PSNR and SSIM on one set."""
    return {"scale": config.scale, "datasets": [config.workflow.depth.dataset]}


def depth_study_identity(config: Config) -> dict[str, Any]:
    """What the depth study's results depend on: its variant's run identity without the keys
    the study sets itself (the blocks and the long skip of each model), its settings
    (``workflow.depth``: the blocks, the skips, the steps, the set) and its evaluation's
    identity. The DVC pipeline records it as the depth stage's params
    (``paths.DEPTH_PARAMS``), so a change that touches none of it leaves the study up to date.
    """
    run = run_identity(config, get(DEPTH_STUDY))["config"]
    for key in DEPTH_STUDY_SETS:
        _drop_key(run, key)
    return {
        "run": run,
        "depth": dataclasses.asdict(config.workflow.depth),
        "evaluation": depth_evaluation_identity(config),
    }


def evaluation_trigger(identity: dict[str, Any]) -> str:
    """An evaluation identity as the text Snakemake compares between runs."""
    return json.dumps(identity, sort_keys=True)
