"""``srgan check``: the step rates of SRResNet-MSE and SRGAN-VGG54.

Measured by :mod:`srgan.training.throughput` (the loop body of ``srgan train``, data
included) with the configured settings and, on CUDA, with ``ALTERNATIVES`` (bf16,
``train.compile``), each row skipped once the check's time budget would be exceeded
(:func:`measure_rates`); on a CPU extrapolated to the configured batch and crop by the number
of pixels. Each rate goes into the report with its verdict.

This module uses the configuration, the throughput measurement, the step's description and
``check_report`` (the report, its rates and verdicts).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from srgan.core.config import Config, with_sets
from srgan.training import throughput
from srgan.training.check_report import (
    CHECKED,
    CONFIGURED,
    FAIL,
    SKIP,
    Plan,
    Rate,
    Report,
    Verdict,
    first_line,
    rate_verdict,
)
from srgan.training.step import describe_step

#: Ways to run a step beside the configured one, measured on CUDA in this order (the cheap
#: one first; compiling takes a minute or more): (name, config keys).
ALTERNATIVES = (
    ("bf16", ("train.precision=bf16",)),
    ("compile", ("train.compile=true",)),
    ("compile+bf16", ("train.compile=true", "train.precision=bf16")),
)
#: Seconds one measurement is expected to take at most (compiling a model: about a minute).
ROW_ESTIMATE_S = {False: 20.0, True: 90.0}  # by whether it compiles


def measure_rates(
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
                    Rate(variant, row, settings, None, None, None, None, first_line(err))
                )
                report.add(Verdict(name, FAIL, first_line(err)))
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
            report.add(rate_verdict(name, rate, device, row_config, config))
