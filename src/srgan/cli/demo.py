"""``srgan demo``: the whole workflow with the demo profile, tiny and on the CPU, in minutes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from srgan.cli.common import STANDIN_NOTE, scores_line, uses_standin
from srgan.core import datasets, paths
from srgan.core.config import DEMO_PROFILE
from srgan.core.errors import UserError

DEMO_PROFILE_FILE = paths.profile_file(DEMO_PROFILE)
DEMO_MIRROR_PROFILE_FILE = paths.profile_file(f"{DEMO_PROFILE}_mirror")
DEMO_WARNING = "DEMO: a small CPU run; none of its numbers is comparable with the paper."


def demo_layers(mirror: Path | None, imagenet_vgg: bool) -> tuple[list[Path], list[str]]:
    """The demo's configuration over params.yaml: its profiles and ``--set`` pairs."""
    profiles = [DEMO_PROFILE_FILE] + ([DEMO_MIRROR_PROFILE_FILE] if mirror is not None else [])
    sets = ["vgg.weights=imagenet"] if imagenet_vgg else []
    if mirror is not None:
        sets.append(f"data.mirror={mirror}")
    return profiles, sets


def demo_command(
    mirror: Path | None, cores: int, imagenet_vgg: bool, dry_run: bool = False
) -> list[str]:
    """The Snakemake command of the demo: config/demo.yaml, plus the mirror's real sets.

    The demo profile trains with random VGG19 weights; ``imagenet_vgg`` (the ImageNet
    weights are already in the torch.hub cache) uses those instead.
    """
    profiles, sets = demo_layers(mirror, imagenet_vgg)
    # The demo trains on the CPU (device: cpu), so its jobs ask for no GPU and the workflow
    # profile's one-GPU limit does not hold them back.
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores)]
    command += ["--configfile", *(str(p) for p in profiles)]
    if sets:
        command += ["--config", f"set=[{', '.join(sets)}]"]
    return command + (["--dry-run"] if dry_run else [])


def demo_config(mirror: Path | None, imagenet_vgg: bool) -> dict:
    """The demo's effective configuration (params.yaml and its layers, merged)."""
    from srgan.core.config import PARAMS_FILE, merged_config_dict

    profiles, sets = demo_layers(mirror, imagenet_vgg)
    return merged_config_dict(Path(PARAMS_FILE), profiles, sets)


def demo_banner(mirror: Path | None, imagenet_vgg: bool) -> str:
    """The warning the demo prints first and last, naming each setting of its configuration
    that departs from the paper (``provenance.deviations``, derived, never hand-written)."""
    from srgan.report import provenance

    config = demo_config(mirror, imagenet_vgg)
    settings = "\n".join(f"  - {d}" for d in provenance.deviations(config))
    return f"{DEMO_WARNING} Settings that depart from the paper's:\n{settings}"


def _imagenet_vgg_cached() -> bool:
    from srgan.models.vgg import VGG19_IMAGENET_SIZE, vgg19_imagenet_cache_path

    path = vgg19_imagenet_cache_path()
    return path.is_file() and path.stat().st_size == VGG19_IMAGENET_SIZE


def demo_scores(eval_dir: Path, standin: bool) -> list[str]:
    """The summary lines of the demo's evaluations: one per method and set, then, when its
    LPIPS and NIQE come from stand-in weights (the demo profile's), the note that says so."""
    lines = [
        f"  {path.stem:15s} {dataset:12s} {scores_line(row, standin)}"
        for path in sorted(eval_dir.glob("*.json"))
        for dataset, row in json.loads(path.read_text()).items()
    ]
    return lines + ([STANDIN_NOTE] if standin else [])


def _cmd_demo(args: argparse.Namespace) -> None:
    """Run the whole workflow with the demo profile (Snakemake), then print the scores."""
    import subprocess
    import time

    for needed in (Path("Snakefile"), DEMO_PROFILE_FILE):
        if not needed.is_file():
            raise UserError(f"no {needed} here: run `srgan demo` in the project folder")
    if args.mirror is not None and not (args.mirror / datasets.MIRROR_TEST_DIR).is_dir():
        raise UserError(f"--mirror {args.mirror} has no {datasets.MIRROR_TEST_DIR}/ folder")
    imagenet_vgg = _imagenet_vgg_cached()
    command = demo_command(args.mirror, args.cores, imagenet_vgg, args.dry_run)
    print(
        "VGG19: ImageNet weights (found in the torch.hub cache)"
        if imagenet_vgg
        else "VGG19: random weights (the ImageNet ones are not in the torch.hub cache)"
    )
    banner = demo_banner(args.mirror, imagenet_vgg)
    print(banner)
    print("running:", " ".join(command), flush=True)
    start = time.monotonic()
    status = subprocess.run(command, check=False).returncode
    if status != 0:
        raise UserError(f"the demo workflow failed (snakemake exit status {status}); see above")
    if args.dry_run:
        return
    print(f"\nDemo finished in {time.monotonic() - start:.0f} s. Scores (x4, luma):")
    from srgan.core.config import from_dict

    standin = uses_standin(from_dict(demo_config(args.mirror, imagenet_vgg)))
    print("\n".join(demo_scores(paths.EVALS_DIR, standin)))
    index = paths.report_page(paths.INDEX)
    print(f"{banner}\nReports: {index}; tables: {paths.TABLES_DIR}/")


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the offline demo: the whole workflow, tiny and on CPU, in minutes",
        description="Run the Snakemake workflow with config/demo.yaml: data, the five "
        "variants trained briefly, evaluation, tables and reports. Without --mirror it "
        "needs no network (scikit-image's bundled photographs); with --mirror it uses the "
        "mirror's Set5, Set14, BSD100 and trains on T91 (config/demo_mirror.yaml).",
    )
    p.add_argument(
        "--mirror",
        type=Path,
        default=None,
        help="a data mirror: benchmarks/<set>/, train/<set>/, optionally SHA256SUMS",
    )
    p.add_argument("--cores", type=int, default=2, help="CPU cores for Snakemake (default 2)")
    p.add_argument("--dry-run", action="store_true", help="list the jobs, run nothing")
    p.set_defaults(func=_cmd_demo)
