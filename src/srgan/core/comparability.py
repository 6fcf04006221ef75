"""Whether numbers can be compared with the paper's: one list of reasons, empty when they can.

:func:`reasons` is the one function that decides it, for a configuration and, optionally, one
variant. A trained model stores the list it was trained under in its run record
(``srgan.core.record.RunRecord.reasons``); tables, reports, the index and ``srgan upscale``
read those lists (and the configuration's) and show them; nothing keeps a yes/no copy.

A reason is a sentence a reader understands without the code. The ones there are:

* the demo profile (``profile: demo``): a small model on a short CPU schedule;
* a schedule shorter than the paper's (the quick profile, ``train.variant_steps``, or fewer
  steps): the numbers of a model trained less than the paper's;
* VGG19 with random weights where the variant's loss uses VGG;
* for evaluation results only: LPIPS and NIQE with stand-in weights.

Choices the paper leaves open, and the documented deviations that this project makes on
purpose (DIV2K instead of ImageNet), are not reasons: they are listed apart
(``srgan.report.provenance.deviations``).

Torch-free.
"""

from __future__ import annotations

from srgan.core import paper
from srgan.core.config import PERCEPTUAL_STANDIN, Config
from srgan.core.variants import VARIANTS, Variant, schedule

DEMO = "demo run (profile: demo): small model and schedule"
RANDOM_VGG = "VGG19 with random weights (vgg.weights: random), not the paper's"
STANDIN_PERCEPTUAL = (
    "LPIPS and NIQE with stand-in weights (evaluate.perceptual.weights: standin): "
    "random LPIPS backbones, no pristine NIQE model; not comparable to published values"
)


def _paper_steps(variant: Variant) -> int:
    return paper.SRGAN_STEPS if variant.adversarial else paper.SRRESNET_STEPS


def short_schedule(config: Config, variants: list[Variant]) -> str | None:
    """The reason the schedule of ``variants`` is shorter than the paper's, or None: one
    sentence naming each variant trained for fewer iterations than the paper's."""
    short = []
    for variant in variants:
        steps, full = schedule(config, variant).steps, _paper_steps(variant)
        if steps < full:
            short.append(f"{variant.label} {steps:,} of {full:,}")
    if not short:
        return None
    return f"a shorter schedule than the paper's (iterations: {'; '.join(short)})"


def reasons(config: Config, variant: Variant | None = None, results: bool = False) -> list[str]:
    """Why numbers of ``config`` are not comparable with the paper's; [] when they are.

    For one ``variant`` (a trained model), the reasons that apply to it; for None, those of any
    variant the workflow trains (``workflow.variants``). ``results`` adds what concerns
    evaluation results only (the perceptual scores' stand-in weights).
    """
    chosen = [variant] if variant is not None else [VARIANTS[n] for n in config.workflow.variants]
    found = [DEMO] if config.demo else []
    shorter = short_schedule(config, chosen)
    found += [shorter] if shorter else []
    if config.vgg.weights == "random" and any(v.uses_vgg for v in chosen):
        found.append(RANDOM_VGG)
    perceptual = config.evaluate.perceptual
    if results and perceptual.enabled and perceptual.weights == PERCEPTUAL_STANDIN:
        found.append(STANDIN_PERCEPTUAL)
    return found


def merged(*lists: list[str] | tuple[str, ...]) -> list[str]:
    """Several lists of reasons as one, each reason once, in the order first seen."""
    return list(dict.fromkeys(r for reasons_ in lists for r in reasons_))
