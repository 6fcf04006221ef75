"""``srgan check``: what this machine does with the training path, before hours are spent on it.

``run_check(config, schedules, evaluate)`` checks, on the configured device, and prints one
verdict line per check (PASS, FAIL, WARN, INFO or SKIP) as soon as it has it:

1. **environment**: Python, torch (its CUDA and cuDNN), the configured ``device`` (a device
   that is not there is a FAIL, and the rest runs on what is), the fp32 arithmetic a run
   uses, and whether the configured training set is there.
2. **the training path** of SRResNet-MSE and SRGAN-VGG54 (its two optimisers, D and VGG19),
   with the configured step (on CUDA: the whole step as one CUDA graph, fused Adam, batches
   made on the GPU): ``2 * GRAPH_WARMUP_STEPS + 7`` real steps on real crops against the eager
   step on the same batches, under deterministic algorithms:
   * the capture and the replays (the replays must move the weights, and as the eager step
     moves them, within ``WEIGHT_ATOL``);
   * a learning-rate drop after the capture, and a learning rate of 0, which must leave every
     weight exactly as it was (the rate is a device tensor the captured step reads);
   * an evaluation between two replays (the test set ``srgan train`` scores, or a forward pass
     when it is not there), after which the replays still match the eager step;
   * a checkpoint written after the capture, reloaded as a CPU run writes it (contiguous
     tensors), into a new trainer: each Adam state tensor must have its parameter's layout
     (CUDA's fused Adam requires it), and the resumed run (warm-up, a new capture) must
     continue as the uninterrupted one.
3. **LR on the device**: the batches of ``LR_CHECK_STEPS`` steps made by the device pipeline
   against the CPU loader's, bit for bit (on a GPU, the GPU's gather and resize; elsewhere the
   same code on the CPU), and whether the scale's LR sums are exact
   (:func:`srgan.image.resize.exact_downscale`).
4. **step rates** (:mod:`srgan.training.throughput`, the loop body of ``srgan train``, data
   included) of SRResNet-MSE and SRGAN-VGG54 with the configured settings and, on CUDA, with
   ``train.compile`` and bf16 (``ALTERNATIVES``), against ``TARGET_RATES``; the projected
   hours of training steps of each setting for the quick profile and the paper's schedule;
   the settings it recommends for this machine.

VGG19 has random weights throughout (what it costs is the same; nothing is downloaded), the
data and checkpoints live in a temporary folder, and nothing of the project's folders is
touched. On CUDA the models and shapes are the configured ones, and the optional rows stop
when ``CUDA_PLAN.budget_s`` would be exceeded (designed to finish within 5 minutes on an
H100/H200). On a CPU the shapes are smaller (``CPU_PLAN``, said in the output): a tiny model
for the path, and the configured model at a smaller batch and crop for the rates, whose
projections are extrapolated by the number of pixels.

It is a command, not a gate: training never requires it. This module holds the plans (what
runs on which kind of device) and :func:`run_check`, which runs the checks in order:
``check_environment`` (1, and the images), ``check_path`` (2 and 3), ``check_rates`` (4);
``check_report`` holds the verdicts, the record ``--json`` keeps, the projections and the
recommendations.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from srgan.core import variants
from srgan.core.config import Config, with_sets
from srgan.training import throughput
from srgan.training.check_environment import choose_images, examine_environment
from srgan.training.check_path import LR_CHECK_STEPS, Evaluator, lr_check, path_checks
from srgan.training.check_rates import measure_rates
from srgan.training.check_report import (
    CHECKED,
    INFO,
    Plan,
    Report,
    Verdict,
    projections,
    recommend,
)
from srgan.training.step import GRAPH_WARMUP_STEPS

#: Keys of every configuration the check builds: no VGG19 download (random weights cost the
#: same), no evaluation in the loop.
COMMON_SETS = ("vgg.weights=random", "train.eval_every=0")
#: What the check runs on a GPU, and on a CPU.
CUDA_PLAN = Plan(
    note="the configured models, batch and crop",
    path_variants=CHECKED,
    path_sets=(),
    lr_steps=LR_CHECK_STEPS,
    rate_sets=(),
    rate_steps=100,
    rate_warmup=GRAPH_WARMUP_STEPS + 7,
    alternatives=True,
    budget_s=260.0,
)
CPU_PLAN = Plan(
    note=(
        "no GPU: smaller shapes. The path: the CUDA path's code (graph mode's step, uncaptured; "
        "batches made by the device pipeline) with a 1-block, 8-channel model at batch 2, crop "
        "16, for SRResNet-MSE and SRGAN-MSE (D and both optimisers; VGG19's cost left out). "
        "LR: 8 batches. The rates: the configured model at batch 2, crop 32, no data workers, "
        "extrapolated to the configured batch and crop by the number of pixels"
    ),
    path_variants=(variants.SRRESNET_MSE, variants.SRGAN_MSE),
    lr_steps=8,
    path_sets=(
        "train.step=graph",
        "data.pipeline=device",
        "model.blocks=1",
        "model.channels=8",
        "data.crop_size=16",
        "data.batch_size=2",
        "discriminator.channels=[8,8]",
        "discriminator.strides=[1,2]",
        "discriminator.dense=16",
    ),
    rate_sets=("data.batch_size=2", "data.crop_size=32", "data.workers=0"),
    rate_steps=1,
    rate_warmup=1,
    alternatives=False,
    budget_s=150.0,
)


def run_check(config: Config, schedules: dict[str, Config], evaluate: Evaluator | None) -> Report:
    """Every check on the configured device; ``schedules`` names the profiles to project
    ({"quick profile": ..., "paper's schedule": ...}); ``evaluate`` scores a generator between
    two replays (None: a forward pass instead)."""
    started = time.monotonic()
    device, environment, found = examine_environment(config)
    plan = CUDA_PLAN if device.type == "cuda" else CPU_PLAN
    report = Report(str(device), plan, environment, started=started)
    print(f"srgan check on {environment['device_name']} ({device}): {plan.note}", flush=True)
    for verdict in found:
        report.add(verdict)
    with tempfile.TemporaryDirectory(prefix="srgan-check-") as tmp:
        root = Path(tmp)
        base = with_sets(config, [*COMMON_SETS, f"data.root={root / 'data'}"], "srgan check")
        path_config = with_sets(base, list(plan.path_sets), "srgan check")
        needed = max(base.data.crop_size, path_config.data.crop_size)
        files, source = choose_images(config, needed, max(base.data.batch_size, 2), root)
        report.images = {"source": source, "count": len(files)}
        report.add(Verdict("images", INFO, f"{len(files)} images: {source}"))
        for variant in plan.path_variants:
            for verdict in path_checks(variant, path_config, device, files, evaluate, root):
                report.add(verdict)
            throughput.release(device)
        report.add(lr_check(base, device, files, source, plan.lr_steps))
        throughput.release(device)
        deadline = started + plan.budget_s
        measure_rates(report, base, plan, device, files, deadline)
    report.projected_hours = projections(report.rates, schedules)
    for row, hours in report.projected_hours.items():
        text = ", ".join(f"{name} {value:,.1f} h" for name, value in hours.items())
        report.add(Verdict(f"projected hours {row}", INFO, f"{text} of training steps"))
    report.recommended = recommend(report, config, device)
    for line in report.recommended:
        print(f"recommended: {line}", flush=True)
    report.wall_s = time.monotonic() - started
    print(f"srgan check: {report.wall_s:.0f} s", flush=True)
    return report
