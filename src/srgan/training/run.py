"""The training run of a variant: resume or start over, the loop, checkpoints, signals, logs.

``train(variant, workdir, config)`` trains one of the five Table 1 variants
(:mod:`srgan.core.variants`) with the paper's schedule; one step is
:mod:`srgan.training.step`'s. The SRGAN generator starts from a trained SRResNet-MSE (paper,
Section 3.2): ``init`` (the CLI's ``--init``) is required for the srgan_* variants when a run
starts.

A run lives in a work folder (:class:`srgan.core.paths.RunFolder`):

    DIR/final.pt, final.json      the generator and its run record, written once training completes
    DIR/checkpoints/step_N.pt     resumable state after N steps (the newest two are kept)
    DIR/snapshots/step_N.pt       the generator at the steps of train.snapshot_steps (all kept)
    DIR/dvclive/                  per-step metrics (DVCLive): losses, learning rate, and the
                                  test-set PSNR/SSIM of the ``evaluate`` callback if given
    DIR/.lock                     held while a run trains here (one run per folder)
    DIR/superseded/<time>/        earlier state that could not continue into this run
    DIR/unreadable/               a damaged final.pt or checkpoint, set aside (never deleted)

Rerunning the same command resumes from the newest readable checkpoint; once ``final.pt``
holds the requested number of steps it does nothing; asking for more steps continues. What
counts as "the same run" is the *run identity* (:func:`srgan.core.identity.run_identity`), plus
the weights of the ``--init`` generator and the training files. State that cannot continue
into the requested run (another identity, init or file list, or more steps than asked for) is
moved to ``DIR/superseded/<UTC time>/`` and the run starts over: this is what happens when
Snakemake reruns a job after a training key changed (it deletes only final.pt), and nothing
is ever deleted. A final.pt or checkpoint that cannot be read (truncated by a full disk,
say) is set aside into ``DIR/unreadable/`` with a warning: it never counts among the kept
checkpoints, and the run continues from the newest valid checkpoint. The batch of step t is
a pure function of (seed, t, training files) (:mod:`srgan.data.patches`), so resuming needs only
the step; with ``train.deterministic`` on CPU, a resumed run ends bit-identical to an
uninterrupted one.

Checkpoints are written atomically (:mod:`srgan.models.checkpoints`); the previous one is removed
only once the new one is complete; a write that fails (a full disk) stops the run with a
UserError saying so and naming the last good checkpoint. The work folder is checked for
writability before anything else. SIGINT/SIGTERM finish the current step, write a checkpoint
and raise :class:`TrainingInterrupted` (the CLI exits 128 + signal: 130 / 143). A non-finite
loss raises :class:`srgan.training.step.NonFiniteLossError` (a UserError) naming the step and the
loss terms, without writing a checkpoint, so the last good one stays the newest. Losses are
checked at every log step and before every checkpoint (no per-step device synchronisation).

Scoring the generator during training is the caller's: :func:`train` takes an optional
``evaluate`` callback (``srgan.evaluation.protocol.training_evaluator`` scores the set named by
:func:`srgan.core.variants.training_eval_set`), so this module needs neither evaluation nor
inference.

With the progress bar off (``progress=False``, the workflow's ``--no-progress``) the loop
prints a plain progress line at a steady interval (:mod:`srgan.training.progress`), which
``srgan status`` reads back.

What to do with the folder's state (nothing, resume, start over) is :mod:`srgan.training.resume`'s;
signals are :mod:`srgan.training.signals`'. Imports: those, ``srgan.training.step``, ``log``
and ``progress``, ``srgan.models`` (checkpoints, losses), ``srgan.data`` (patches, trainset),
``srgan.core``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import signal
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from srgan.core import comparability, paths, variants
from srgan.core.config import Config
from srgan.core.errors import UserError
from srgan.core.fileio import (
    git_state,
    require_writable,
)
from srgan.core.identity import run_hash
from srgan.core.record import InitModel, RunRecord, Software, TrainingData
from srgan.core.runtime import resolve_device, rng_state, set_rng_state, torch_settings
from srgan.core.variants import Schedule, Variant
from srgan.data.patches import PIPELINE_WORDS, make_batches, resolve_pipeline
from srgan.models import checkpoints
from srgan.models.losses import check_content_loss_weights
from srgan.models.networks import SRResNet
from srgan.training import resume
from srgan.training.log import log_metrics, open_live
from srgan.training.progress import ProgressLog
from srgan.training.signals import TrainingInterrupted, stop_on_signals
from srgan.training.step import (
    LossMeter,
    NonFiniteLossError,
    Trainer,
    build_trainer,
    describe_step,
    loss_names,
    parameters_finite,
)

EVAL_PREFIX = "eval/"  # logged names of the evaluate callback's scores: eval/<name>

#: Scores the generator (in eval mode) during training: {name: value}, logged as eval/<name>
#: (``srgan.evaluation.protocol.training_evaluator``'s: {"Set5_psnr": ..., "Set5_ssim": ...}).
Evaluator = Callable[[SRResNet], dict[str, float]]


# --------------------------------------------------------------------------------------------
# The training run
# --------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """Everything one call of :func:`train` works with."""

    variant: Variant
    config: Config
    folder: paths.RunFolder
    schedule: Schedule
    identity: str
    device: torch.device
    trainer: Trainer
    meter: LossMeter
    data: TrainingData
    init: InitModel | None

    def checkpoint_state(self) -> dict[str, Any]:
        """The resumable state (``checkpoints.write_state`` adds format and step)."""
        return {
            "variant": self.variant.name,
            "train_hash": self.identity,
            "config_hash": self.config.hash(),
            "config": self.config.to_dict(),
            **self.trainer.state(),
            "meter": self.meter.state_dict(),
            "rng": rng_state(),
            "data": dataclasses.asdict(self.data),
            "init": None if self.init is None else dataclasses.asdict(self.init),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.trainer.load_state(state)
        self.meter.load_state_dict(state["meter"])
        self.init = resume.init_from_state(state["init"])
        set_rng_state(state["rng"])

    def record(self, step: int) -> RunRecord:
        """The run record of the trained generator (final.pt and final.json)."""
        generator = self.trainer.generator
        return RunRecord(
            variant=self.variant.name,
            step=step,
            identity=self.identity,
            config_hash=self.config.hash(),
            config=self.config.to_dict(),
            model=generator.config,
            schedule=self.schedule,
            init=self.init,
            data=self.data,
            weights_digest=checkpoints.weights_digest(generator.state_dict()),
            reasons=tuple(comparability.reasons(self.config, self.variant)),
            software=Software(
                git_commit=git_commit(),
                torch_version=str(torch.__version__),
                device=str(self.device),
                precision=self.config.train.precision,
                created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            ),
        )


def _evaluate(generator: SRResNet, evaluate: Evaluator) -> dict[str, float]:
    """The callback's scores of the current generator (eval mode, then back to training
    mode), named ``eval/<name>``."""
    generator.eval()
    try:
        scores = evaluate(generator)
    finally:
        generator.train()
    return {f"{EVAL_PREFIX}{name}": float(value) for name, value in scores.items()}


def _batches(
    files: list[Path], config: Config, start_step: int, device: torch.device, progress: bool
) -> Generator[tuple[torch.Tensor, torch.Tensor], None, None]:
    """(LR in [0, 1], HR in [-1, 1]) batches for steps start_step, start_step + 1, ..."""
    return make_batches(  # a generator: closing it stops the data workers
        files,
        crop_size=config.data.crop_size,
        batch_size=config.data.batch_size,
        seed=config.seed,
        start_step=start_step,
        workers=config.data.workers,
        cache_images=config.data.cache_images,
        device=device,
        scale=config.scale,
        store_dir=paths.cache_dir(config),
        progress=progress,
        pipeline=config.data.pipeline,
    )


def train(
    variant: str,
    workdir: Path,
    config: Config,
    steps: int | None = None,
    checkpoint_every: int | None = None,
    init: Path | None = None,
    progress: bool = True,
    evaluate: Evaluator | None = None,
) -> Path:
    """Train ``variant`` in ``workdir`` (resuming if it holds checkpoints); returns final.pt.

    ``steps`` overrides the schedule's total, ``checkpoint_every`` the config's interval;
    ``init`` is a generator checkpoint to start from (required by srgan_* variants on a
    fresh start; its weights are part of the run's identity). Every ``train.eval_every``
    steps ``evaluate`` (if given) scores the generator; its scores are logged as
    ``eval/<name>``. Raises UserError for bad inputs, NonFiniteLossError if a loss diverges,
    TrainingInterrupted on SIGINT/SIGTERM.

    The inputs are checked first (nothing is created when one is wrong); the work folder's
    state is read and acted on only under its lock, so a concurrent run cannot change it
    in between.
    """
    spec = variants.get(variant)
    folder = paths.RunFolder(Path(workdir))
    schedule = variants.schedule(config, spec, steps)
    every = config.train.checkpoint_every if checkpoint_every is None else checkpoint_every
    if every < 1:
        raise UserError(f"--checkpoint-every must be >= 1, got {every}")
    identity = run_hash(config, spec)
    final = folder.final
    tag = f"srgan train {spec.name}"
    require_writable(folder.root, f"--workdir {folder.root}")

    init_data = resume.read_init(init, config) if init is not None else None
    init_info = resume.init_model(init, init_data) if init_data is not None else None
    device = resolve_device(config.device)
    check_content_loss_weights(spec.content, config.vgg.weights)
    images_dir, files = resume.training_files(config, progress)
    data = resume.data_state(config, images_dir, files)
    requested = resume.Requested(identity, init_info, schedule.steps, data)
    if spec.adversarial and init_info is None and not checkpoints.list_checkpoints(folder):
        raise resume.init_required(spec)  # early: nothing to resume from, so no lock needed

    with resume.folder_lock(folder):
        resume.remove_stale_files(folder)
        had_final = final.exists()
        found = checkpoints.final_record(folder)  # an unreadable final.pt is set aside
        if resume.is_complete(found, requested):
            print(f"{tag}: {final} is complete ({schedule.steps} steps, same run); nothing to do")
            _repair_record(folder, found, tag)
            return final
        set_aside = had_final and found is None
        latest, superseded = resume.assess(folder, found, requested, set_aside)
        if latest is None and init_info is None and spec.adversarial:
            raise resume.init_required(spec)
        if superseded is not None:
            moved = resume.move_aside(folder)
            print(f"{tag}: {superseded}: moved it to {moved}; starting over")
        with torch_settings(config.train.deterministic, device):
            run = _Run(
                variant=spec,
                config=config,
                folder=folder,
                schedule=schedule,
                identity=identity,
                device=device,
                trainer=build_trainer(spec, config, device),
                meter=LossMeter(loss_names(spec), device),
                data=data,
                init=None,
            )
            start = 0
            if latest is not None:
                path, state = latest
                run.restore(state)
                start = state["step"]
                print(f"{tag}: resuming from step {start} ({path})")
            elif init_data is not None:
                run.trainer.generator.load_state_dict(init_data["generator"])
                run.init = init_info
                print(f"{tag}: generator initialised from {init}")
            words = PIPELINE_WORDS[resolve_pipeline(config.data.pipeline, device)]
            print(f"{tag}: {device}: {describe_step(config, device)}; {words}")
            for reason in comparability.reasons(config, spec):
                print(f"{tag}: not comparable with the paper: {reason}")
            _loop(run, start, every, files, progress, evaluate)
            last = folder.checkpoint(schedule.steps)
            with _written(final, f"the trained state is in {last}", "write final.pt"):
                checkpoints.write_final(
                    folder,
                    run.trainer.generator.config,
                    run.trainer.generator.state_dict(),
                    run.record(schedule.steps),
                )
    print(f"{tag}: done, {schedule.steps} steps; generator written to {final}")
    return final


def _repair_record(folder: paths.RunFolder, found: RunRecord, tag: str) -> None:
    """Rewrite final.json from final.pt's record when it is missing or says otherwise (a run
    killed between the two writes, a file copied over): final.pt's record is authoritative."""
    try:
        beside = json.loads(folder.final_metadata.read_text())
    except (OSError, ValueError):
        beside = None
    if beside != found.to_dict():
        checkpoints.write_record(folder, found)
        print(f"{tag}: rewrote {folder.final_metadata} from {folder.final}'s run record")


def _loop(
    run: _Run,
    start: int,
    every: int,
    files: list[Path],
    progress: bool,
    evaluate: Evaluator | None,
) -> None:
    """Steps ``start`` .. total - 1, with logging, evaluation, checkpoints and signals."""
    config, trainer, meter = run.config, run.trainer, run.meter
    total = run.schedule.steps
    log_every, eval_every = config.train.log_every, config.train.eval_every
    if eval_every and evaluate is None:
        print("note: no benchmark set to score; no PSNR is logged during training")
        eval_every = 0
    last_good = next(iter(checkpoints.list_checkpoints(run.folder)), (0, None))[1]
    channels_last = config.train.channels_last and run.device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    live = open_live(run.folder.dvclive, start if start else None)
    if start == 0:
        live.log_params(
            {
                "variant": run.variant.name,
                "train_hash": run.identity,
                "config_hash": config.hash(),
                "steps": total,
            }
        )
    bar = tqdm(
        total=total,
        initial=start,
        desc=run.variant.name,
        unit="step",
        disable=None if progress else True,
        dynamic_ncols=True,
    )
    lines = ProgressLog(run.variant.name, total, start, enabled=not progress)  # bar off: lines
    trainer.generator.train()
    if trainer.discriminator is not None:
        trainer.discriminator.train()
    with contextlib.ExitStack() as stack:
        stop = stack.enter_context(stop_on_signals())
        batches = _batches(files, config, start, run.device, progress)
        stack.callback(batches.close)
        stack.callback(bar.close)
        for step in range(start, total):
            trainer.set_lr(run.schedule.lr_at(step))
            lr, hr = next(batches)
            lr = lr.to(run.device, memory_format=memory_format, non_blocking=True)
            hr = hr.to(run.device, memory_format=memory_format, non_blocking=True)
            done = step + 1
            meter.add(done, trainer.step(lr, hr))
            bar.update(1)
            if done % log_every == 0 or done == total:
                meter.check(last_good)
                means = meter.pop_means()
                bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()}, refresh=False)
                lines.losses(means)
                metrics = {f"train/{k}": v for k, v in means.items()}
                log_metrics(live, done, {**metrics, "train/lr": run.schedule.lr_at(step)})
            if evaluate is not None and eval_every and (done % eval_every == 0 or done == total):
                scores = _evaluate(trainer.generator, evaluate)
                lines.scores(done, scores)
                log_metrics(live, done, scores)
            lines.step(done)
            if done in config.train.snapshot_steps:
                _write_snapshot(run, done)
            if done % every == 0 or done == total or stop.signum is not None:
                last_good = _write_checkpoint(run, done, last_good)
            if stop.signum is not None:
                name = signal.Signals(stop.signum).name
                raise TrainingInterrupted(
                    f"{name}: stopped after step {done} of {total}; checkpoint {last_good}; "
                    "rerun the same command to resume",
                    stop.signum,
                )
    live.end()


def _write_snapshot(run: _Run, step: int) -> Path:
    """Keep the generator of ``step`` (``train.snapshot_steps``) for the evolution figure."""
    generator = run.trainer.generator
    metadata = {"variant": run.variant.name, "step": step, "train_hash": run.identity}
    return checkpoints.write_snapshot(
        run.folder, step, generator.config, generator.state_dict(), metadata
    )


def _write_checkpoint(run: _Run, step: int, last_good: Path | None) -> Path:
    """Check the losses and weights, then write the step's checkpoint atomically."""
    run.meter.check(last_good)
    if not parameters_finite(run.trainer.generator, run.trainer.discriminator):
        kept = last_good or "none"
        raise NonFiniteLossError(
            f"the weights became non-finite by step {step}; training stopped, the last good "
            f"checkpoint is {kept}. Lower the learning rate or the loss weights"
        )
    kept = f"training stopped after step {step}; the last good checkpoint is {last_good or 'none'}"
    with _written(run.folder.checkpoint(step), kept, "resume"):
        return checkpoints.write_state(run.folder, step, run.checkpoint_state())


@contextlib.contextmanager
def _written(path: Path, kept: str, then: str) -> Iterator[None]:
    """A failed write of ``path`` (a full disk) as a UserError in words: what failed, what is
    kept (``kept``), and to rerun the same command to ``then``."""
    try:
        yield
    except OSError as err:
        raise UserError(
            f"cannot write {path}: {err.strerror or err}; {kept}. Free some space (or fix the "
            f"folder) and rerun the same command to {then}"
        ) from None


def git_commit() -> str:
    """The source tree's commit, with ``-dirty`` if tracked files changed, or "unknown"."""
    state = git_state()
    return state["commit"] + ("-dirty" if state["dirty"] else "")
