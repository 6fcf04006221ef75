"""``srgan check``: the training path (the configured step against the eager one) and LR
made on the device against the CPU loader's.

The path (:func:`path_checks`): ``PATH_STEPS`` real steps of one variant on real crops
against the eager step on the same batches, under deterministic algorithms: the capture and
the replays, a learning-rate drop and a rate of 0, an evaluation between two replays, a
checkpoint written after the capture and resumed into a new trainer. LR on the device
(:func:`lr_check`): the batches of the device pipeline against the CPU loader's, bit for bit,
and whether the scale's LR sums are exact.

This module uses paths, runtime, variants, the configuration, the batches, the resize,
checkpoints, the step and ``check_report`` (the verdicts).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from srgan.core import paths, runtime, variants
from srgan.core.config import Config, with_sets
from srgan.data.patches import DEVICE_PIPELINE, LOADER_PIPELINE, make_batches
from srgan.image.resize import exact_downscale
from srgan.models import checkpoints
from srgan.training.check_report import FAIL, PASS, WARN, Verdict, first_line
from srgan.training.step import EAGER, GRAPH_WARMUP_STEPS, Trainer, build_trainer, step_mode

#: Steps of the path check: the warm-up, the capture, then replays at these learning rates
#: (a fraction of the schedule's): full, dropped tenfold, 0 (must freeze every weight), and
#: dropped again after an evaluation and a checkpoint.
PATH_STEPS = 2 * GRAPH_WARMUP_STEPS + 7
LR_DROP = 0.1
FREEZE_STEP = GRAPH_WARMUP_STEPS + 3  # 0-based: the step at rate 0, then eval and checkpoint
#: Largest difference between two weights allowed where they should agree. An Adam step moves
#: a weight by about the learning rate (1e-4 in the paper): a replay that did nothing, or at
#: the wrong rate, is far outside it; rounding differences are far inside.
WEIGHT_ATOL = 1e-5
#: Batches of the LR comparison (16 crops each at the paper's batch).
LR_CHECK_STEPS = 64

Evaluator = Callable[[torch.nn.Module], dict[str, float]]


def path_checks(
    variant: str,
    config: Config,
    device: torch.device,
    files: list[Path],
    evaluate: Evaluator | None,
    root: Path,
) -> list[Verdict]:
    try:
        return _path(variant, config, device, files, evaluate, root)
    except Exception as err:  # reported as a verdict: the check goes on with the rest
        return [Verdict(f"training path {variant}", FAIL, first_line(err))]


def _path(
    variant: str,
    config: Config,
    device: torch.device,
    files: list[Path],
    evaluate: Evaluator | None,
    root: Path,
) -> list[Verdict]:
    spec = variants.get(variant)
    base = variants.schedule(config, spec).lr
    rates = [base] * (FREEZE_STEP - 1) + [base * LR_DROP, 0.0]
    rates += [base * LR_DROP] * (PATH_STEPS - len(rates))
    graph_mode = step_mode(config, device) != EAGER
    captures = graph_mode and device.type == "cuda"
    verdicts = []
    with runtime.torch_settings(deterministic=True, device=device):
        data = _batches(config, device, files, PATH_STEPS)
        eager = build_trainer(spec, with_sets(config, ["train.step=eager"], "srgan check"), device)
        for (lr, hr), rate in zip(data, rates, strict=True):
            eager.set_lr(rate)
            eager.step(lr, hr)
        trainer = build_trainer(spec, config, device)
        at_capture: dict[str, torch.Tensor] = {}
        frozen = False
        score = ""
        state_path = None
        for i, ((lr, hr), rate) in enumerate(zip(data, rates, strict=True)):
            trainer.set_lr(rate)
            before = _weights(trainer, buffers=False) if i == FREEZE_STEP else None
            trainer.step(lr, hr)
            if i == GRAPH_WARMUP_STEPS:
                at_capture = _weights(trainer, buffers=False)
            if before is not None:
                frozen = _max_difference(before, _weights(trainer, buffers=False)) == 0.0
                state_path = checkpoints.write_state(
                    paths.RunFolder(root / "runs" / variant), i + 1, _as_a_cpu_run_writes(trainer)
                )
                score = _evaluate_between(trainer, evaluate, device)
        captured = trainer.captured is not None and trainer.captured.graph is not None
        moved = _max_difference(at_capture, _weights(trainer, buffers=False))
        off = _max_difference(_weights(eager), _weights(trainer))
        assert state_path is not None
        resumed = build_trainer(spec, config, device)
        resumed.load_state(checkpoints.load(state_path))
        layouts = _layouts_match(resumed)
        for (lr, hr), rate in list(zip(data, rates, strict=True))[FREEZE_STEP + 1 :]:
            resumed.set_lr(rate)
            resumed.step(lr, hr)
        apart = _max_difference(_weights(trainer), _weights(resumed))
    figures = {"replays_moved": moved, "graph_vs_eager": off, "resumed_vs_uninterrupted": apart}
    agree = off <= WEIGHT_ATOL
    replays = PATH_STEPS - GRAPH_WARMUP_STEPS - 1
    after = "the capture" if captures else f"{GRAPH_WARMUP_STEPS} warm-up steps"
    if not graph_mode:
        how = "eager steps (train.step: eager): nothing is captured"
        ok = moved > WEIGHT_ATOL and agree
    elif captures:
        how = f"captured after {GRAPH_WARMUP_STEPS} eager steps, then {replays} replays"
        ok = captured and moved > WEIGHT_ATOL and agree
    else:
        how = "graph mode's step, uncaptured (no CUDA)"
        ok = moved > WEIGHT_ATOL and agree
    matches = "match" if agree else "do NOT match"
    verdicts.append(
        Verdict(
            f"graph step {variant}",
            PASS if ok else FAIL,
            f"{how}; the steps after {after} moved the weights by up to {moved:.1e} and "
            f"{matches} the eager step's (within {off:.1e}; tolerance {WEIGHT_ATOL:.0e})",
            figures,
        )
    )
    drops = f"{base:g} -> {base * LR_DROP:g} -> 0 -> {base * LR_DROP:g}"
    verdicts.append(
        Verdict(
            f"lr drop {variant}",
            PASS if frozen and agree else FAIL,
            f"after {after}: lr {drops}; lr 0 "
            f"{'left every weight exactly as it was' if frozen else 'CHANGED the weights'}; "
            f"the steps {matches} the eager step's",
        )
    )
    verdicts.append(
        Verdict(
            f"evaluation between replays {variant}",
            PASS if agree else FAIL,
            f"{score} after step {FREEZE_STEP + 1}; the steps after it {matches} the eager step's",
        )
    )
    layout_note = "" if device.type == "cuda" else " (contiguous on a CPU either way)"
    verdicts.append(
        Verdict(
            f"checkpoint after capture {variant}",
            PASS if layouts and apart <= WEIGHT_ATOL else FAIL,
            f"written after step {FREEZE_STEP + 1}, reloaded as a CPU run writes it: the Adam "
            f"state {'has' if layouts else 'LACKS'} the parameters' layouts{layout_note}; the "
            f"resumed run continues as the uninterrupted one within {apart:.1e}",
        )
    )
    return verdicts


def _batches(
    config: Config, device: torch.device, files: list[Path], count: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` training batches of the configured pipeline, as the loop hands them over."""
    channels_last = config.train.channels_last and device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    made = []
    with contextlib.closing(_make(config, device, files, config.data.pipeline)) as batches:
        for _ in range(count):
            lr, hr = next(batches)
            made.append(
                (
                    lr.to(device, memory_format=memory_format),
                    hr.to(device, memory_format=memory_format),
                )
            )
    return made


def _make(config: Config, device: torch.device, files: list[Path], pipeline: str) -> Iterator:
    return make_batches(
        files,
        config.data.crop_size,
        config.data.batch_size,
        seed=config.seed,
        scale=config.scale,
        workers=0,
        device=device,
        store_dir=paths.cache_dir(config),
        progress=False,
        pipeline=pipeline,
    )


def _weights(trainer: Trainer, buffers: bool = True) -> dict[str, torch.Tensor]:
    """Copies of the networks' parameters, and their buffers (BatchNorm's running statistics,
    which a step at learning rate 0 still updates) unless ``buffers`` is False."""
    found: dict[str, torch.Tensor] = {}
    for prefix, module in (("g", trainer.generator), ("d", trainer.discriminator)):
        if module is not None:
            items = module.state_dict().items() if buffers else module.named_parameters()
            found |= {f"{prefix}.{name}": value.detach().clone() for name, value in items}
    return found


def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(
        ((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point()),
        default=0.0,
    )


def _as_a_cpu_run_writes(trainer: Trainer) -> dict[str, Any]:
    """The trainer's state with every tensor on the CPU and contiguous, as a run on the CPU
    (or with train.channels_last off) writes it."""

    def plain(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().contiguous()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(plain(v) for v in value)
        return value

    return plain(trainer.state())


def _layouts_match(trainer: Trainer) -> bool:
    """Whether every per-parameter optimiser state tensor has its parameter's strides."""
    for optimizer in (trainer.opt_g, trainer.opt_d):
        for group in optimizer.param_groups if optimizer else ():
            for param in group["params"]:
                for value in optimizer.state.get(param, {}).values():
                    same_shape = isinstance(value, torch.Tensor) and value.shape == param.shape
                    if same_shape and value.stride() != param.stride():
                        return False
    return True


def _evaluate_between(trainer: Trainer, evaluate: Evaluator | None, device: torch.device) -> str:
    generator = trainer.generator
    generator.eval()
    try:
        if evaluate is None:
            with torch.no_grad():
                generator(torch.rand(1, 3, 16, 16, device=device))
            return "a forward pass (no test set to score here)"
        scores = evaluate(generator)
    finally:
        generator.train()
    shown = ", ".join(f"{name} {value:.2f}" for name, value in scores.items())
    return f"scored {shown}"


# --- 3. LR on the device ------------------------------------------------------------------------


def lr_check(
    config: Config, device: torch.device, files: list[Path], source: str, steps: int
) -> Verdict:
    crop, scale = config.data.crop_size, config.scale
    exact = exact_downscale((crop, crop), scale)
    exactness = (
        f"scale {scale}: the LR sums are exact, the same on every device"
        if exact
        else f"scale {scale}: the weights are not dyadic, so a value within about 1e-13 of a "
        "rounding boundary may round apart on another device"
    )
    try:
        with runtime.torch_settings(config.train.deterministic, device):
            cpu = _make(config, torch.device("cpu"), files, LOADER_PIPELINE)
            made = _make(config, device, files, DEVICE_PIPELINE)
            with contextlib.closing(cpu), contextlib.closing(made):
                differ = 0
                for _ in range(steps):
                    (lr_a, hr_a), (lr_b, hr_b) = next(cpu), next(made)
                    same = torch.equal(lr_a, lr_b.cpu()) and torch.equal(hr_a, hr_b.cpu())
                    differ += not same
    except Exception as err:  # reported as a verdict
        return Verdict("LR on the device", FAIL, first_line(err))
    crops = steps * config.data.batch_size
    where = (
        f"on {device}"
        if device.type == "cuda"
        else "its code run on the CPU; the GPU's arithmetic is checked on a GPU only"
    )
    made = "the CPU loader's" if not differ else f"{differ} of {steps} batches unlike the CPU's"
    verdict = FAIL if differ else PASS if exact else WARN
    return Verdict(
        "LR on the device",
        verdict,
        f"{crops} crops ({source.split(' at ')[0]}): the device pipeline ({where}) made "
        f"{made} batches{' bit for bit' if not differ else ''}; {exactness}",
        {"crops": crops, "batches_that_differ": differ, "exact_sums": exact},
    )
