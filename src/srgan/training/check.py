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

It is a command, not a gate: training never requires it. Imports: the step, the batches, the
throughput measurement, checkpoints, the resize, the core.
"""

from __future__ import annotations

import contextlib
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from srgan.core import paths, runtime, variants
from srgan.core.config import Config, with_sets
from srgan.core.errors import UserError
from srgan.data.patches import DEVICE_PIPELINE, LOADER_PIPELINE, make_batches
from srgan.image.io import image_size, list_image_files
from srgan.image.resize import exact_downscale
from srgan.models import checkpoints
from srgan.training import throughput
from srgan.training.step import (
    EAGER,
    GRAPH_WARMUP_STEPS,
    Trainer,
    build_trainer,
    describe_step,
    step_mode,
)

PASS, FAIL, WARN, INFO, SKIP = "PASS", "FAIL", "WARN", "INFO", "SKIP"
#: The variants trained and timed: SRResNet-MSE, and SRGAN-VGG54 (the costliest SRGAN).
CHECKED = tuple(throughput.RATE_OF.values())
#: The project's speed targets on one H100/H200 at batch 16, crop 96, data included (it/s).
TARGET_RATES = {variants.SRRESNET_MSE: 250.0, variants.SRGAN_VGG54: 100.0}
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
#: Training images the check reads (the first of the folder, in name order).
CHECK_IMAGES = 32
#: Ways to run a step beside the configured one, measured on CUDA in this order (the cheap
#: one first; compiling takes a minute or more): (name, config keys).
ALTERNATIVES = (
    ("bf16", ("train.precision=bf16",)),
    ("compile", ("train.compile=true",)),
    ("compile+bf16", ("train.compile=true", "train.precision=bf16")),
)
CONFIGURED = "configured"
#: Seconds one measurement is expected to take at most (compiling a model: about a minute).
ROW_ESTIMATE_S = {False: 20.0, True: 90.0}  # by whether it compiles
#: Keys of every configuration the check builds: no VGG19 download (random weights cost the
#: same), no evaluation in the loop.
COMMON_SETS = ("vgg.weights=random", "train.eval_every=0")


@dataclass(frozen=True)
class Plan:
    """What the check runs on a kind of device."""

    note: str
    path_variants: tuple[str, ...]  # the variants whose training path is checked
    path_sets: tuple[str, ...]  # keys of the path check's configuration
    lr_steps: int  # batches of the LR comparison
    rate_sets: tuple[str, ...]  # keys of the rates' configuration
    rate_steps: int
    rate_warmup: int
    alternatives: bool  # measure ALTERNATIVES
    budget_s: float  # optional measurements stop when this would be exceeded


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

Evaluator = Callable[[torch.nn.Module], dict[str, float]]


@dataclass
class Verdict:
    check: str
    verdict: str
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0  # since the check started, when this verdict was made

    def line(self) -> str:
        return f"{self.verdict:4s}  {self.check:34s} {self.detail}"


@dataclass
class Rate:
    variant: str
    row: str
    settings: dict[str, Any]
    it_per_s: float | None
    ms_per_step: float | None
    peak_gib: float | None
    extrapolated_it_per_s: float | None  # at the configured batch and crop (CPU plan)
    error: str | None = None


@dataclass
class Report:
    device: str
    plan: Plan
    environment: dict[str, Any] = field(default_factory=dict)
    images: dict[str, Any] = field(default_factory=dict)
    checks: list[Verdict] = field(default_factory=list)
    rates: list[Rate] = field(default_factory=list)
    projected_hours: dict[str, dict[str, float]] = field(default_factory=dict)
    recommended: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    started: float = field(default_factory=time.monotonic, repr=False)

    def add(self, verdict: Verdict) -> None:
        verdict.elapsed_s = time.monotonic() - self.started
        self.checks.append(verdict)
        print(verdict.line(), flush=True)

    @property
    def failed(self) -> bool:
        return any(v.verdict == FAIL for v in self.checks)

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        del record["started"]  # a monotonic clock's reading: meaningless outside this process
        return record


def run_check(config: Config, schedules: dict[str, Config], evaluate: Evaluator | None) -> Report:
    """Every check on the configured device; ``schedules`` names the profiles to project
    ({"quick profile": ..., "paper's schedule": ...}); ``evaluate`` scores a generator between
    two replays (None: a forward pass instead)."""
    started = time.monotonic()
    device, environment, found = _environment(config)
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
        files, source = _images(config, needed, max(base.data.batch_size, 2), root)
        report.images = {"source": source, "count": len(files)}
        report.add(Verdict("images", INFO, f"{len(files)} images: {source}"))
        for variant in plan.path_variants:
            for verdict in _path_checks(variant, path_config, device, files, evaluate, root):
                report.add(verdict)
            throughput.release(device)
        report.add(_lr_check(base, device, files, source, plan.lr_steps))
        throughput.release(device)
        deadline = started + plan.budget_s
        _rates(report, base, plan, device, files, deadline)
    report.projected_hours = _projections(report.rates, schedules)
    for row, hours in report.projected_hours.items():
        text = ", ".join(f"{name} {value:,.1f} h" for name, value in hours.items())
        report.add(Verdict(f"projected hours {row}", INFO, f"{text} of training steps"))
    report.recommended = _recommend(report, config, device)
    for line in report.recommended:
        print(f"recommended: {line}", flush=True)
    report.wall_s = time.monotonic() - started
    print(f"srgan check: {report.wall_s:.0f} s", flush=True)
    return report


# --- 1. the environment -------------------------------------------------------------------------


def _environment(config: Config) -> tuple[torch.device, dict[str, Any], list[Verdict]]:
    cuda = torch.cuda.is_available()
    environment: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "cuda_build": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cuda_devices": torch.cuda.device_count() if cuda else 0,
        "cpu_threads": torch.get_num_threads(),
        "configured_device": config.device,
    }
    cudnn = f", cuDNN {environment['cudnn']}" if cuda else ""
    verdicts = [
        Verdict(
            "torch",
            INFO,
            f"torch {torch.__version__} (CUDA build {torch.version.cuda or 'none'}{cudnn}), "
            f"Python {environment['python']}, {environment['cpu_threads']} CPU threads",
        )
    ]
    try:
        device = runtime.resolve_device(config.device)
    except UserError as err:
        device = runtime.resolve_device("auto")
        verdicts.append(Verdict("device", FAIL, f"{err}; checking {device} instead"))
    else:
        verdicts.append(Verdict("device", PASS, f"device: {config.device} -> {device}"))
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        name = props.name
        environment["gpu"] = {
            "name": name,
            "memory_gib": props.total_memory / throughput.BYTES_PER_GIB,
            "capability": f"{props.major}.{props.minor}",
        }
        verdicts[-1].detail += (
            f": {name}, {environment['gpu']['memory_gib']:.0f} GiB, compute capability "
            f"{environment['gpu']['capability']}"
        )
    else:
        name = platform.processor() or platform.machine() or "CPU"
        if config.device == "auto":
            verdicts[-1] = Verdict("device", INFO, "device: auto -> cpu (no CUDA device here)")
    environment["device_name"] = name
    with runtime.torch_settings(config.train.deterministic, device):
        arithmetic = (
            f"convolutions {torch.backends.cudnn.conv.fp32_precision}, matmuls "
            f"{torch.backends.cuda.matmul.fp32_precision}"
        )
    environment["fp32"] = arithmetic
    verdicts.append(
        Verdict(
            "training step",
            INFO,
            f"srgan train here: {describe_step(config, device)}; fp32 on CUDA: {arithmetic}",
        )
    )
    verdicts.append(_training_set(config))
    return device, environment, verdicts


def _training_set(config: Config) -> Verdict:
    try:
        folder = paths.train_images_dir(config)
    except UserError as err:
        return Verdict("training set", WARN, str(err))
    count = len(list_image_files(folder, recursive=True)) if folder.is_dir() else 0
    if not count:
        return Verdict(
            "training set",
            INFO,
            f"{config.data.train_set} is not at {folder} yet (the workflow's data step or "
            "`srgan data` fetches it)",
        )
    return Verdict("training set", PASS, f"{config.data.train_set}: {count} images at {folder}")


def _images(config: Config, crop: int, least: int, root: Path) -> tuple[list[Path], str]:
    """Up to ``CHECK_IMAGES`` images at least ``crop`` pixels on a side: the training set's,
    else a test set's, else synthetic ones written under ``root``."""
    folders = []
    with contextlib.suppress(UserError):
        folders.append(
            (f"the training set ({config.data.train_set})", paths.train_images_dir(config))
        )
    for name in config.evaluate.datasets:
        folders.append((f"the test set {name}", paths.test_sets_dir(config) / name))
    for source, folder in folders:
        if not folder.is_dir():
            continue
        usable = []
        for path in list_image_files(folder, recursive=True):
            with contextlib.suppress(UserError):
                if min(image_size(path)) >= crop:
                    usable.append(path)
            if len(usable) == CHECK_IMAGES:
                break
        if len(usable) >= least:
            return usable, f"{source} at {folder}"
    synthetic = throughput.synthetic_images(root / "synthetic", CHECK_IMAGES)
    return sorted(synthetic.glob("*.png")), "synthetic (no training or test set here)"


# --- 2. the training path -----------------------------------------------------------------------


def _path_checks(
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
        return [Verdict(f"training path {variant}", FAIL, _first_line(err))]


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


def _lr_check(
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
        return Verdict("LR on the device", FAIL, _first_line(err))
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


# --- 4. rates, projections, recommendations ---------------------------------------------------


def _rates(
    report: Report,
    config: Config,
    plan: Plan,
    device: torch.device,
    files: list[Path],
    deadline: float,
) -> None:
    rate_config = with_sets(config, list(plan.rate_sets), "srgan check")
    pixels = config.data.batch_size * config.data.crop_size**2
    measured_pixels = rate_config.data.batch_size * rate_config.data.crop_size**2
    rows = [(CONFIGURED, ())]
    if plan.alternatives:
        seen = {(config.train.compile, config.train.precision)}
        for name, sets in ALTERNATIVES:
            changed = with_sets(rate_config, list(sets), "srgan check")
            key = (changed.train.compile, changed.train.precision)
            if key not in seen:
                seen.add(key)
                rows.append((name, sets))
    else:
        report.add(
            Verdict(
                "rates compile, bf16",
                SKIP,
                "bf16 autocast and the CUDA graph are CUDA-only; compiling takes minutes on a CPU",
            )
        )
    for row, sets in rows:
        row_config = with_sets(rate_config, list(sets), "srgan check")
        compiles = row_config.train.compile
        for variant in CHECKED:
            settings = {
                "train.compile": row_config.train.compile,
                "train.precision": row_config.train.precision,
                "step": describe_step(row_config, device),
            }
            name = f"rate {variant} {row}"
            if row != CONFIGURED and time.monotonic() + ROW_ESTIMATE_S[compiles] > deadline:
                report.add(Verdict(name, SKIP, "not measured: the check's time budget is spent"))
                continue
            try:
                measured = throughput.measure(
                    variant, row_config, files, device, plan.rate_steps, plan.rate_warmup
                )
            except Exception as err:  # a row that fails (a compile inside the graph) says so
                report.rates.append(
                    Rate(variant, row, settings, None, None, None, None, _first_line(err))
                )
                report.add(Verdict(name, FAIL, _first_line(err)))
                continue
            finally:
                throughput.release(device)
            scaled = None
            if measured_pixels != pixels:  # the CPU plan: extrapolated by the number of pixels
                scaled = measured.it_per_s * measured_pixels / pixels
            rate = Rate(
                variant,
                row,
                settings,
                measured.it_per_s,
                measured.ms_per_step,
                measured.peak_gib,
                scaled,
            )
            report.rates.append(rate)
            report.add(_rate_verdict(name, rate, device, row_config, config))


def _rate_verdict(
    name: str, rate: Rate, device: torch.device, config: Config, configured: Config
) -> Verdict:
    assert rate.it_per_s is not None and rate.ms_per_step is not None
    target = TARGET_RATES[rate.variant]
    peak = f", peak {rate.peak_gib:.1f} GiB" if rate.peak_gib is not None else ""
    text = f"{rate.it_per_s:.2f} it/s ({rate.ms_per_step:.1f} ms/step{peak})"
    if rate.extrapolated_it_per_s is not None:
        text += (
            f" at batch {config.data.batch_size}, crop {config.data.crop_size}; about "
            f"{rate.extrapolated_it_per_s:.3g} it/s at the configured batch "
            f"{configured.data.batch_size}, crop {configured.data.crop_size}"
        )
    if device.type != "cuda":
        return Verdict(name, INFO, text)
    verdict = PASS if rate.it_per_s >= target else WARN
    return Verdict(name, verdict, f"{text}; target {target:g} it/s")


def _effective(rate: Rate) -> float | None:
    return rate.extrapolated_it_per_s or rate.it_per_s


def _projections(rates: list[Rate], schedules: dict[str, Config]) -> dict[str, dict[str, float]]:
    """{row: {profile: hours}} for every row with both variants measured."""
    hours = {}
    for row in dict.fromkeys(r.row for r in rates):
        measured = {r.variant: _effective(r) for r in rates if r.row == row and _effective(r)}
        if all(v in measured for v in CHECKED):
            hours[row] = {
                name: throughput.projected_hours(measured, schedule)
                for name, schedule in schedules.items()
            }
    return hours


def _recommend(report: Report, config: Config, device: torch.device) -> list[str]:
    failed_path = any(
        v.verdict == FAIL and v.check.startswith(("graph step", "lr drop", "checkpoint", "eval"))
        for v in report.checks
    )
    lines = []
    if failed_path and step_mode(config, device) != EAGER:
        lines.append(
            "train.step: eager (a check of the captured step failed above: train with the eager "
            "step until it is fixed)"
        )
    hours = report.projected_hours
    if device.type != "cuda":
        if CONFIGURED in hours:
            paper = max(hours[CONFIGURED].values())
            days = float(f"{paper / 24:.2g}")  # two significant digits: a CPU rate is rough
            lines.append(
                f"no GPU here: training steps alone would take about {days:,.0f} days; "
                "run the demo on a CPU (make demo) and the quick profile or the paper's schedule "
                "on a GPU"
            )
        return lines
    fp32 = [r for r in hours if _precision(report, r) == "fp32"]
    if not fp32:
        return lines
    best = min(fp32, key=lambda r: sum(hours[r].values()))
    settings = _settings(report, best)
    meets = _meets_targets(report, best)
    if best == CONFIGURED:
        lines.append(f"the configured settings ({settings}): the fastest measured in fp32")
    else:
        lines.append(
            f"{settings}: the fastest measured in fp32 "
            f"({_hours_text(hours[best])} against {_hours_text(hours[CONFIGURED])} configured)"
            if CONFIGURED in hours
            else f"{settings}: the fastest measured in fp32"
        )
    if not meets:
        faster = [
            r
            for r in hours
            if _precision(report, r) == "bf16"
            and sum(hours[r].values()) < sum(hours[best].values())
        ]
        if faster:
            quickest = min(faster, key=lambda r: sum(hours[r].values()))
            lines.append(
                f"{_settings(report, quickest)} is faster still ({_hours_text(hours[quickest])}):"
                " bf16 is a deviation from the paper's fp32 (every report lists it; its effect "
                "on PSNR is not measured)"
            )
    return lines


def _precision(report: Report, row: str) -> str:
    return next(r.settings["train.precision"] for r in report.rates if r.row == row)


def _settings(report: Report, row: str) -> str:
    rate = next(r for r in report.rates if r.row == row)
    return (
        f"train.compile: {str(rate.settings['train.compile']).lower()}, "
        f"train.precision: {rate.settings['train.precision']}"
    )


def _meets_targets(report: Report, row: str) -> bool:
    rates = {r.variant: r.it_per_s for r in report.rates if r.row == row}
    return all((rates.get(v) or 0.0) >= target for v, target in TARGET_RATES.items())


def _hours_text(hours: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:,.1f} h" for name, value in hours.items())


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
