"""The five models of Table 1, their schedules, and what makes two training runs the same.

This is the one place where the variants are named (besides ``params.yaml`` and the config
schema, which list them for the user): the CLI's choices, the trainer, the paper's tables,
the Snakemake rules and the reports import them from here.

    srresnet_mse    SRResNet, MSE content loss                     (1e6 steps at 1e-4)
    srresnet_vgg22  SRResNet, VGG22 content loss + 2e-8 TV loss    (1e6 steps at 1e-4)
    srgan_mse       SRGAN, MSE + 1e-3 adversarial                  (1e5 at 1e-4, 1e5 at 1e-5)
    srgan_vgg22     SRGAN, VGG22 + 1e-3 adversarial                 "
    srgan_vgg54     SRGAN, VGG54 + 1e-3 adversarial                 "

Every SRGAN generator starts from the trained SRResNet-MSE (paper, Section 3.2): ``INIT``.
Why results are not comparable with the paper's is named here too (:func:`demo_reasons`).

**Run identity.** :func:`run_identity` is the single answer to "is this the same training
run?": the configuration keys that change what a variant computes. ``srgan train`` starts a
variant over when its identity changes (and resumes or does nothing otherwise), and the
workflow reruns a training job when :func:`rerun_trigger` changes: the identity plus the
schedule's length (a longer schedule continues from the last checkpoint, a shorter one
starts over). Keys that only say where or how fast a run happens (devices, workers, logging,
checkpoint frequency, other variants' keys) are left out; tests/test_identity.py walks every
key of ``params.yaml`` and its profiles to check both sides agree.

Torch-free: the workflow imports this module when it starts.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from srgan.core.config import PERCEPTUAL_STANDIN, Config, config_hash
from srgan.core.errors import UserError

# --- the five variants --------------------------------------------------------------------

SRRESNET_MSE = "srresnet_mse"
SRRESNET_VGG22 = "srresnet_vgg22"
SRGAN_MSE = "srgan_mse"
SRGAN_VGG22 = "srgan_vgg22"
SRGAN_VGG54 = "srgan_vgg54"

#: Content losses: pixel MSE, or the MSE of VGG19 features phi_{2,2} / phi_{5,4}.
MSE, VGG22, VGG54 = "mse", "vgg22", "vgg54"
CONTENT_LOSSES = (MSE, VGG22, VGG54)


@dataclass(frozen=True)
class Variant:
    """One column of Table 1: its content loss, and whether TV and the adversarial loss are on."""

    name: str
    label: str  # the paper's name for it
    content: str  # MSE | VGG22 | VGG54
    adversarial: bool
    total_variation: bool

    @property
    def uses_vgg(self) -> bool:
        return self.content != MSE

    @property
    def init(self) -> str | None:
        """The variant whose trained generator this one starts from (None: from scratch)."""
        return INIT if self.adversarial else None


#: The variants in the paper's Table 1 order.
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(SRRESNET_MSE, "SRResNet-MSE", MSE, adversarial=False, total_variation=False),
        Variant(SRRESNET_VGG22, "SRResNet-VGG22", VGG22, adversarial=False, total_variation=True),
        Variant(SRGAN_MSE, "SRGAN-MSE", MSE, adversarial=True, total_variation=False),
        Variant(SRGAN_VGG22, "SRGAN-VGG22", VGG22, adversarial=True, total_variation=False),
        Variant(SRGAN_VGG54, "SRGAN-VGG54", VGG54, adversarial=True, total_variation=False),
    )
}
NAMES = tuple(VARIANTS)
#: Every SRGAN variant's generator starts from this variant's (paper, Section 3.2).
INIT = SRRESNET_MSE
#: The depth study (paper, appendix) trains this variant with other depths.
DEPTH_STUDY = SRRESNET_MSE


#: The baselines of Table 2 that need no training, scored beside the variants.
NEAREST, BICUBIC = "nearest", "bicubic"
BASELINES = (NEAREST, BICUBIC)


def get(name: str) -> Variant:
    """The variant called ``name``; an unknown name is a UserError listing the known ones."""
    if name not in VARIANTS:
        raise UserError(f"unknown variant {name!r} (choose from {', '.join(NAMES)})")
    return VARIANTS[name]


def selected(config: Config) -> list[Variant]:
    """The variants the workflow trains (``workflow.variants``), in Table 1 order."""
    return [v for v in VARIANTS.values() if v.name in config.workflow.variants]


# --- schedules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """Total steps and the step-wise constant learning rate (a pure function of the step)."""

    steps: int
    lr: float
    decay_step: int | None = None  # the rate is multiplied by ``decay`` from this step on
    decay: float = 1.0

    def lr_at(self, step: int) -> float:
        """Learning rate of step ``step`` (0-based)."""
        if self.decay_step is not None and step >= self.decay_step:
            return self.lr * self.decay
        return self.lr


def schedule(config: Config, variant: Variant, steps: int | None = None) -> Schedule:
    """The paper's schedule for ``variant`` from the config; ``train.variant_steps`` replaces
    the total for single variants, and ``steps`` (``srgan train --steps``) replaces both (the
    decay step stays where the config puts it)."""
    if steps is not None and steps < 1:
        raise UserError(f"--steps must be >= 1, got {steps}")
    steps = steps or config.train.variant_steps.get(variant.name)
    if variant.adversarial:
        gan = config.train.srgan
        return Schedule(steps or gan.steps, gan.lr, gan.lr_decay_step, gan.lr_decay)
    plain = config.train.srresnet
    decay_step = plain.lr_decay_step or None  # 0: a constant rate, as in the paper
    return Schedule(steps or plain.steps, plain.lr, decay_step, plain.lr_decay)


# --- which set training scores ----------------------------------------------------------------

#: The benchmark set scored during training when it is a test set (the paper's smallest).
PREFERRED_TRAINING_EVAL_SET = "Set5"


def training_eval_set(config: Config) -> str | None:
    """The test set ``srgan train`` scores every ``train.eval_every`` steps: Set5 when it is
    one of ``evaluate.datasets``, else the first of them (the demo's SkimageTest); None when
    training scores nothing (``train.eval_every: 0``)."""
    if not config.train.eval_every:
        return None
    sets = config.evaluate.datasets
    return PREFERRED_TRAINING_EVAL_SET if PREFERRED_TRAINING_EVAL_SET in sets else sets[0]


# --- run identity -------------------------------------------------------------------------------

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


# --- demo runs ----------------------------------------------------------------------------------


def demo_reasons(config: Config, variant: Variant | None = None) -> list[str]:
    """Why results of ``config`` (for ``variant``, or for any variant when None) are not
    comparable with the paper: the demo profile, or VGG19 with random weights where the
    loss uses VGG; and, for results (``variant`` None, not a trained model), perceptual
    scores with stand-in weights. Empty for a real run."""
    reasons = []
    if config.demo:
        reasons.append("demo run (profile: demo): small model and schedule")
    uses_vgg = variant.uses_vgg if variant is not None else True
    if uses_vgg and config.vgg.weights == "random":
        reasons.append("VGG19 with random weights (vgg.weights: random), not the paper's")
    perceptual = config.evaluate.perceptual
    if variant is None and perceptual.enabled and perceptual.weights == PERCEPTUAL_STANDIN:
        reasons.append(
            "LPIPS and NIQE with stand-in weights (evaluate.perceptual.weights: standin): "
            "random LPIPS backbones, no pristine NIQE model; not comparable to published values"
        )
    return reasons
