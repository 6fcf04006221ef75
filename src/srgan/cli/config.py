"""``srgan config``: the configuration a DVC run uses; with ``--write``, the DVC pipeline's
first stage (docs/dvc.md).

DVC runs the profile that params.yaml names (its ``profile`` key, so ``dvc exp run -S
profile=quick`` runs the quick profile): params.yaml, then ``config/<profile>.yaml`` (the
demo with ``data.mirror`` set also lays ``config/demo_mirror.yaml``, as ``srgan demo
--mirror`` does), merged by the code every command uses. ``--write`` writes the result to
``results/config.yaml``, the effective configuration every later stage passes to Snakemake
and takes as its DVC params, and ``results/depth_params.yaml``, what the depth study depends
on (the depth stage's params). So the parameters DVC records for a run are the ones that
produced it.

Before writing, two mistakes are refused with a message saying what to run instead:

* a key changed in params.yaml since the pipeline's last run (``dvc.lock``) that the profile
  overrides, so that the change would do nothing (``dvc exp run -S train.srgan.steps=30``
  under the demo: the demo's file sets that key; set it there instead);
* the paper or the quick profile, meant for a GPU, on a machine without one while
  ``device`` is ``auto`` (a fresh clone's ``dvc repro`` on a laptop would otherwise download
  DIV2K and train for months on the CPU).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from srgan.cli.common import add_config_args
from srgan.core.errors import UserError

#: The name of the DVC pipeline's first stage in dvc.yaml (tests/test_dvc.py checks it).
CONFIG_STAGE = "config"
#: The device setting the GPU check applies to (a device named explicitly is the user's call).
AUTO_DEVICE = "auto"
#: The header of results/depth_params.yaml.
DEPTH_PARAMS_HEADER = (
    "# What the depth study's results depend on (srgan.core.identity.depth_study_identity),\n"
    "# written by `srgan config --write`: the params of the depth study's DVC stage.\n"
)


def profile_layers(params: Path, raw: dict[str, Any]) -> tuple[list[Path], list[str]]:
    """The files and ``--set`` pairs DVC lays over ``params`` (read as ``raw``): the profile
    it names, and for the demo with a mirror what ``srgan demo --mirror`` lays."""
    from srgan.cli.demo import demo_layers
    from srgan.core import paths
    from srgan.core.config import DEMO_PROFILE

    profile = raw["profile"]
    if profile == DEMO_PROFILE:
        mirror = raw["data"]["mirror"]
        return demo_layers(Path(mirror) if mirror else None, imagenet_vgg=False)
    return [paths.profile_file(profile, params)], []


def leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{dotted key: value}`` of every leaf of a nested mapping (lists are leaves)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def recorded_params(lock: Path, params: Path) -> dict[str, Any] | None:
    """The params file's values the config stage last ran with (``dvc.lock``), or None."""
    import yaml

    if not lock.is_file():
        return None
    stage = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
    recorded = stage.get(CONFIG_STAGE, {}).get("params", {}).get(params.name)
    return recorded if isinstance(recorded, dict) else None


def shadowed_changes(
    before: dict[str, Any], now: dict[str, Any], effective: dict[str, Any]
) -> list[str]:
    """Keys whose value in params.yaml changed (``before`` to ``now``; a key new in ``now``
    counts) but does not reach the effective configuration: a profile sets them."""
    old, new, merged = leaves(before), leaves(now), leaves(effective)
    return [
        key
        for key, value in new.items()
        if (key not in old or old[key] != value) and key in merged and merged[key] != value
    ]


def _setter(key: str, overlays: list[Path]) -> Path | None:
    """The last overlay that sets ``key``."""
    from srgan.core.config import read_yaml

    found = None
    for path in overlays:
        if key in leaves(read_yaml(path)):
            found = path
    return found


def check_no_shadowed_change(
    params: Path, lock: Path, raw: dict, overlays: list[Path], effective: dict
) -> None:
    """Refuse a params.yaml change that the profile overrides (see the module's docstring)."""
    before = recorded_params(lock, params)
    if before is None:
        return
    keys = shadowed_changes(before, raw, effective)
    if not keys:
        return
    merged = leaves(effective)
    now = leaves(raw)
    lines = []
    for key in keys:
        setter = _setter(key, overlays)
        where = setter.as_posix() if setter else "a --set pair"
        lines.append(
            f"{key}: {now[key]!r} in {params.name}, but {where} sets {merged[key]!r} over it; "
            f"set it there: dvc exp run -S {where}:{key}={now[key]}"
        )
    raise UserError(
        f"{params.name} changed since the last DVC run in keys the profile "
        f"{raw['profile']!r} overrides, so the change would do nothing: " + "; ".join(lines)
    )


def check_device(effective: dict[str, Any]) -> None:
    """Refuse a GPU profile on a machine without a GPU while ``device`` is ``auto``."""
    from srgan.core.config import DEMO_PROFILE

    if effective["profile"] == DEMO_PROFILE or effective["device"] != AUTO_DEVICE:
        return
    from srgan.core.runtime import resolve_device

    if resolve_device(AUTO_DEVICE).type != "cpu":
        return
    raise UserError(
        f"the {effective['profile']} profile trains on a GPU for hours to days (README: the "
        "projected costs) and this machine has none (device: auto found only the CPU). Run "
        "the offline demo instead: dvc exp run -S profile=demo; or train this profile on the "
        "CPU all the same: dvc exp run -S device=cpu"
    )


def effective_config(args: argparse.Namespace) -> tuple[Path, dict, list[Path], dict]:
    """params.yaml (as read), the layers DVC lays over it, and the merged configuration."""
    from srgan.core.config import find_params_file, merged_config_dict, read_yaml

    params = Path(args.params) if args.params else find_params_file()
    raw = read_yaml(params)
    overlays, sets = profile_layers(params, raw)
    overlays = [*overlays, *args.config]
    effective = merged_config_dict(params, overlays, [*sets, *args.sets])
    return params, raw, overlays, effective


def _cmd_config(args: argparse.Namespace) -> None:
    import yaml

    from srgan.core import identity, paths
    from srgan.core.config import effective_text, from_dict, write_effective
    from srgan.core.fileio import write_text_atomic

    params, raw, overlays, effective = effective_config(args)
    if not args.write:
        print(effective_text(effective), end="")
        return
    check_no_shadowed_change(params, paths.DVC_LOCK, raw, overlays, effective)
    check_device(effective)
    write_effective(effective, paths.EFFECTIVE_CONFIG)
    depth = identity.depth_study_identity(from_dict(effective))
    text = DEPTH_PARAMS_HEADER + yaml.safe_dump(depth, sort_keys=False, default_flow_style=None)
    write_text_atomic(paths.DEPTH_PARAMS, text)
    layers = " + ".join(p.as_posix() for p in [params, *overlays])
    print(f"srgan config: profile {effective['profile']} ({layers}) -> {paths.EFFECTIVE_CONFIG}")


def add_config(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="the configuration a DVC run uses (params.yaml + the profile it names); "
        "--write: the DVC pipeline's first stage",
        description="Print the configuration `dvc repro` runs: params.yaml, then the profile "
        "its `profile` key names (config/<profile>.yaml; the demo with data.mirror set also "
        "config/demo_mirror.yaml, as `srgan demo --mirror`), then --config files and --set "
        "pairs. With --write (the first stage of dvc.yaml) write it to results/config.yaml "
        "and what the depth study depends on to results/depth_params.yaml, after refusing a "
        "params.yaml change that the profile overrides (it would do nothing) and a GPU "
        "profile on a machine without a GPU while device is auto.",
    )
    p.add_argument(
        "--write",
        action="store_true",
        help="write results/config.yaml and results/depth_params.yaml (the DVC stage)",
    )
    add_config_args(p)
    p.set_defaults(func=_cmd_config)
