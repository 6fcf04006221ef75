"""The five models of Table 1, the baselines beside them, and their schedules.

This is the one place where the variants are named (besides ``params.yaml`` and the config
schema, which list them for the user): the CLI's choices, the trainer, the paper's tables,
the Snakemake rules and the reports import them from here.

    srresnet_mse    SRResNet, MSE content loss                     (1e6 steps at 1e-4)
    srresnet_vgg22  SRResNet, VGG22 content loss + 2e-8 TV loss    (1e6 steps at 1e-4)
    srgan_mse       SRGAN, MSE + 1e-3 adversarial                  (1e5 at 1e-4, 1e5 at 1e-5)
    srgan_vgg22     SRGAN, VGG22 + 1e-3 adversarial                 "
    srgan_vgg54     SRGAN, VGG54 + 1e-3 adversarial                 "

Every SRGAN generator starts from the trained SRResNet-MSE (paper, Section 3.2): ``INIT``.
Whether results compare with the paper's is ``srgan.core.comparability``'s; what makes two
training runs (or two evaluations) the same is ``srgan.core.identity``'s.

Torch-free: the workflow imports this module when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from srgan.core.config import Config
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

    @property
    def phases(self) -> tuple[tuple[int, int, float], ...]:
        """(first step, end step, learning rate) of each constant-rate phase."""
        if self.decay_step is None or self.decay_step >= self.steps:
            return ((0, self.steps, self.lr),)
        return ((0, self.decay_step, self.lr), (self.decay_step, self.steps, self.lr * self.decay))

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
