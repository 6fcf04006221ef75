"""``srgan check``'s report: the verdict lines, the record it keeps, projections, advice.

A :class:`Verdict` per check (``PASS``, ``FAIL``, ``WARN``, ``INFO`` or ``SKIP``), printed as
soon as it is made (:meth:`Report.add`); a :class:`Rate` per measured row; the
:class:`Report` that holds them with the :class:`Plan` the check ran and the environment, and
that ``srgan check --json`` writes (:meth:`Report.to_dict`). From the rates: each rate's
verdict against ``TARGET_RATES`` (:func:`rate_verdict`), the projected hours of training
steps for each profile (:func:`projections`), and the settings recommended for this machine
(:func:`recommend`).

This module uses variants, the configuration, the step (its mode) and the throughput
projections; the checks themselves are ``check_environment``, ``check_path`` and
``check_rates``, run by ``check.run_check``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from srgan.core import variants
from srgan.core.config import Config
from srgan.training import throughput
from srgan.training.step import EAGER, step_mode

PASS, FAIL, WARN, INFO, SKIP = "PASS", "FAIL", "WARN", "INFO", "SKIP"
#: The variants trained and timed: SRResNet-MSE, and SRGAN-VGG54 (the costliest SRGAN).
CHECKED = tuple(throughput.RATE_OF.values())
#: The project's speed targets on one H100/H200 at batch 16, crop 96, data included (it/s).
TARGET_RATES = {variants.SRRESNET_MSE: 250.0, variants.SRGAN_VGG54: 100.0}
#: The row of the rates measured with the configured settings.
CONFIGURED = "configured"


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


def rate_verdict(
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


def projections(rates: list[Rate], schedules: dict[str, Config]) -> dict[str, dict[str, float]]:
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


def recommend(report: Report, config: Config, device: torch.device) -> list[str]:
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


def first_line(err: BaseException) -> str:
    """An error as a verdict shows it: its type and the first line of its message."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
