"""What every ``srgan`` subcommand shares: the configuration arguments, the progress switch,
the notebook parameters, one line of scores, and the help of a default folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from srgan.core.errors import UserError

#: Help of an option whose default is one of the workflow's folders (``srgan.core.paths``).
DEFAULT_HELP = "default: %(default)s"


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a YAML file laid over params.yaml (repeatable; later files win)",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one dotted config key, e.g. --set train.srresnet.steps=100 (repeatable)",
    )
    parser.add_argument(
        "--params",
        type=Path,
        default=None,
        metavar="FILE",
        help="the base params file (default: params.yaml in this folder or a parent)",
    )


def load_config(args: argparse.Namespace, flag_sets: list[str] | None = None):
    """The configuration of the config arguments (``--params``, ``--config``, ``--set``), with
    ``flag_sets`` (a command's own flags that override keys) laid last."""
    from srgan.core.config import load_config

    return load_config(args.params, args.config, [*args.sets, *(flag_sets or [])])


def take_gpu(device: str) -> None:
    """Before CUDA starts: take a GPU no other job holds when several are there, and say
    which GPU the command uses (``srgan.core.gpuslots``)."""
    from srgan.core import gpuslots

    note = gpuslots.claim(device)
    if note is not None:
        print(note, flush=True)


def show_progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "no_progress", False)


def report_parameters(args: argparse.Namespace, reports_dir: Path) -> dict:
    """Notebook parameters: the config arguments, the reports folder, then each --param."""
    import yaml

    params: dict = {
        "reports_dir": str(reports_dir),
        "config_files": [str(p) for p in args.config],
        "config_sets": list(args.sets),
    }
    if args.params is not None:
        params["params_file"] = str(args.params)
    for item in args.param:
        key, sep, raw = item.partition("=")
        if not sep or not key.isidentifier():
            raise UserError(f"--param expects name=value with a Python name, got {item!r}")
        params[key] = yaml.safe_load(raw) if raw else ""
    return params


#: The label of a perceptual score computed with stand-in weights, wherever one is printed.
STANDIN_LABEL = "(stand-in)"
#: The line printed under scores that carry that label.
STANDIN_NOTE = (
    "LPIPS and NIQE marked (stand-in) come from stand-in weights "
    "(evaluate.perceptual.weights: standin): they show the pipeline works; "
    "their values mean nothing."
)


def uses_standin(config) -> bool:
    """Whether ``config``'s perceptual scores come from stand-in weights."""
    from srgan.core.config import PERCEPTUAL_STANDIN

    perceptual = config.evaluate.perceptual
    return perceptual.enabled and perceptual.weights == PERCEPTUAL_STANDIN


def scores_line(row: dict, standin: bool) -> str:
    """One set's means as ``srgan evaluate`` prints them; ``standin``: the perceptual scores
    come from stand-in weights, and each is labelled so."""
    from srgan.metrics.colour import CIEDE2000_KEY
    from srgan.metrics.perceptual import LPIPS_KEYS, NIQE_KEY

    line = (
        f"PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.4f} (daala), {row['ssim_wang']:.4f} (Wang)"
    )
    if CIEDE2000_KEY in row:  # an evaluation made before the colour measure has none
        line += f", CIEDE2000 {row[CIEDE2000_KEY]:.2f}"
    label = f" {STANDIN_LABEL}" if standin else ""
    for key in (*LPIPS_KEYS.values(), NIQE_KEY):
        if key in row:
            line += f", {key.replace('_', '-').upper()}{label} {row[key]:.4f}"
    return f"{line}, {row['n_images']} images"
