"""The ``srgan`` command line: the one entry point of the Snakemake rules and DVC stages.

Each subcommand parses its arguments, loads the configuration where it needs one, and
calls one function of the package. A ``UserError`` (bad path, bad config value, bad
image), and a write the machine refuses (a full disk, a read-only folder:
``fileio.WRITE_ERRNOS``), is printed as one line and exits with status 2; nothing imports
this module.

    srgan evaluate --method bicubic --data-dir DIR --datasets Set5 Set14 BSD100 --out FILE.json
    srgan evaluate --checkpoint final.pt --data-dir DIR --datasets Set5 --out FILE.json
    srgan train VARIANT --workdir DIR [--config FILE] [--steps N] [--checkpoint-every K]
                [--init CKPT] [--set key=value ...]
    srgan upscale INPUT... -o OUT --checkpoint CKPT
    srgan demo [--mirror DIR]
    srgan data download|extract|mirror|bundled|imagenet|manifest ...
    srgan tables --evals-dir results/eval --out-dir results/tables [config args]
    srgan report table1|table2|figures --out-dir reports [--param NAME=VALUE ...] [config args]
    srgan index --reports-dir reports [--tables-dir results/tables] [config args]
    srgan mos create|serve|analyse ...   (the MOS study kit: srgan.cli.mos)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from srgan.core import datasets, paths, variants
from srgan.core.errors import UserError

EXIT_USER_ERROR = 2


# --- shared helpers ------------------------------------------------------------------


def _add_config_args(parser: argparse.ArgumentParser) -> None:
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


def _load_config(args: argparse.Namespace):
    from srgan.core.config import load_config

    return load_config(args.params, args.config, args.sets)


def _show_progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "no_progress", False)


# --- srgan evaluate ------------------------------------------------------------------


def _perceptual_scorer(args: argparse.Namespace, config):
    """LPIPS/NIQE as ``evaluate.perceptual`` says (None when disabled); built first, so missing
    weight files stop the command before any work."""
    settings = config.evaluate.perceptual
    if not settings.enabled:
        return None
    from srgan.core import runtime
    from srgan.metrics.perceptual import PerceptualScorer

    device = runtime.resolve_device(args.device) if args.checkpoint is not None else "cpu"
    return PerceptualScorer(settings, device=device)


def _scores_line(row: dict) -> str:
    """One set's means as ``srgan evaluate`` prints them."""
    from srgan.metrics.perceptual import LPIPS_KEYS, NIQE_KEY

    line = (
        f"PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.4f} (daala), {row['ssim_wang']:.4f} (Wang)"
    )
    for key in (*LPIPS_KEYS.values(), NIQE_KEY):
        if key in row:
            line += f", {key.replace('_', '-').upper()} {row[key]:.4f}"
    return f"{line}, {row['n_images']} images"


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from srgan.core.fileio import require_writable, write_json_atomic
    from srgan.evaluation import protocol as evaluation

    if args.out.is_dir():
        raise UserError(f"--out {args.out} is a folder; name the JSON file to write")
    require_writable(args.out.parent, f"--out {args.out}")
    if args.save_images is not None:
        require_writable(args.save_images, f"--save-images {args.save_images}")
    config = _load_config(args)
    evaluation.check_datasets(args.data_dir, args.datasets, config.scale)  # the user's inputs
    if args.checkpoint is not None:
        from srgan.evaluation import inference

        generator = inference.load_generator(args.checkpoint, device=args.device)
        upscaler = inference.generator_upscaler(generator, tile=args.tile)
        method = f"checkpoint:{args.checkpoint}"
    else:
        upscaler = evaluation.baseline_upscaler(args.method, config.scale)
        method = args.method
    perceptual = _perceptual_scorer(args, config)  # may need weight files: after cheap checks
    results = evaluation.evaluate(
        upscaler,
        args.data_dir,
        args.datasets,
        config.scale,
        save_dir=args.save_images,
        progress=_show_progress(args),
        perceptual=perceptual,
    )
    # A PSNR is infinite where an SR image equals its HR image: written as Infinity (and a
    # NIQE NaN where an image is smaller than NIQE's block).
    write_json_atomic(args.out, results, allow_infinity=True)
    for name, row in results.items():
        print(f"{method} {name}: {_scores_line(row)}")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a method on test sets (PSNR/SSIM on Y, the paper's protocol; LPIPS, NIQE)",
        description="Score nearest/bicubic upscaling or a trained generator on test sets: "
        "PSNR and SSIM (the paper's protocol), and LPIPS and NIQE as evaluate.perceptual in "
        "the configuration says.",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--method", choices=variants.BASELINES, help="a baseline that needs no training"
    )
    which.add_argument("--checkpoint", type=Path, help="a trained generator (final.pt)")
    p.add_argument(
        "--data-dir", type=Path, required=True, help="folder holding <dataset>/ HR images"
    )
    p.add_argument("--datasets", nargs="+", required=True, metavar="NAME")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.json")
    p.add_argument("--save-images", type=Path, default=None, metavar="DIR")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (checkpoints)")
    p.add_argument("--tile", type=int, default=0, help="inference tile size, 0 = whole image")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_config_args(p)
    p.set_defaults(func=_cmd_evaluate)


# --- srgan train ---------------------------------------------------------------------


def _cmd_train(args: argparse.Namespace) -> None:
    from srgan.data import acquire
    from srgan.evaluation import protocol as evaluation
    from srgan.training import run as training

    config = _load_config(args)
    acquire.ensure_bundled_train_set(config)
    try:
        training.train(
            args.variant,
            workdir=args.workdir,
            config=config,
            steps=args.steps,
            checkpoint_every=args.checkpoint_every,
            init=args.init,
            progress=_show_progress(args),
            evaluate=evaluation.training_evaluator(config),
        )
    except training.TrainingInterrupted as exc:
        # A checkpoint was written; exit 128 + signal (130 SIGINT, 143 SIGTERM), not 0:
        # final.pt is missing, so Snakemake and shells must see a failure.
        print(f"srgan train: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one of the five Table 1 variants (resumes by itself)",
        description="Train a variant with the paper's schedule (params.yaml) or a profile. "
        "Rerunning the same command resumes from the last checkpoint; after completion "
        "it does nothing.",
    )
    p.add_argument("variant", choices=variants.NAMES)
    p.add_argument("--workdir", type=Path, required=True, metavar="DIR")
    p.add_argument("--steps", type=int, default=None, help="total steps (default: the schedule's)")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="K")
    p.add_argument(
        "--init", type=Path, default=None, metavar="CKPT", help="generator to start from"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_config_args(p)
    p.set_defaults(func=_cmd_train)


# --- srgan upscale -------------------------------------------------------------------


def _cmd_upscale(args: argparse.Namespace) -> None:
    from srgan.evaluation import inference

    inference.upscale_files(
        args.inputs,
        args.output,
        checkpoint=args.checkpoint,
        tile=args.tile,
        overlap=args.overlap,
        device=args.device,
        progress=_show_progress(args),
    )


def _add_upscale(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscale",
        help="super-resolve your own images (PNG/JPEG, any size, tiled)",
        description="Super-resolve images 4x with a trained generator.",
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="output folder (or file for one input)"
    )
    p.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT")
    p.add_argument("--tile", type=int, default=128, help="LR tile size (0 = whole image)")
    p.add_argument(
        "--overlap",
        type=int,
        default=None,
        help="LR pixels of context around each tile (default: the generator's receptive-field "
        "radius, 40 for 16 blocks, which makes tiling exact)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_upscale)


# --- srgan demo ----------------------------------------------------------------------

DEMO_PROFILE = Path("config/demo.yaml")
DEMO_MIRROR_PROFILE = Path("config/demo_mirror.yaml")
DEMO_WARNING = "DEMO: a small CPU run; none of its numbers is comparable with the paper."


def demo_layers(mirror: Path | None, imagenet_vgg: bool) -> tuple[list[Path], list[str]]:
    """The demo's configuration over params.yaml: its profiles and ``--set`` pairs."""
    profiles = [DEMO_PROFILE] + ([DEMO_MIRROR_PROFILE] if mirror is not None else [])
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
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores)]
    # The demo trains on the CPU (device: cpu): the workflow profile's one-GPU limit would
    # run its training and evaluation jobs one at a time on an idle core.
    command += ["--resources", f"gpu={cores}"]
    command += ["--configfile", *(str(p) for p in profiles)]
    if sets:
        command += ["--config", f"set=[{', '.join(sets)}]"]
    return command + (["--dry-run"] if dry_run else [])


def demo_banner(mirror: Path | None, imagenet_vgg: bool) -> str:
    """The warning the demo prints first and last, naming each setting of its configuration
    that departs from the paper (``provenance.deviations``, derived, never hand-written)."""
    from srgan.core.config import PARAMS_FILE, merged_config_dict
    from srgan.report import provenance

    profiles, sets = demo_layers(mirror, imagenet_vgg)
    config = merged_config_dict(Path(PARAMS_FILE), profiles, sets)
    settings = "\n".join(f"  - {d}" for d in provenance.deviations(config))
    return f"{DEMO_WARNING} Settings that depart from the paper's:\n{settings}"


def _imagenet_vgg_cached() -> bool:
    from srgan.models.vgg import VGG19_IMAGENET_SIZE, vgg19_imagenet_cache_path

    path = vgg19_imagenet_cache_path()
    return path.is_file() and path.stat().st_size == VGG19_IMAGENET_SIZE


def _print_demo_scores(eval_dir: Path) -> None:
    for path in sorted(eval_dir.glob("*.json")):
        for dataset, row in json.loads(path.read_text()).items():
            print(f"  {path.stem:15s} {dataset:12s} {_scores_line(row)}")


def _cmd_demo(args: argparse.Namespace) -> None:
    """Run the whole workflow with the demo profile (Snakemake), then print the scores."""
    import subprocess
    import time

    for needed in (Path("Snakefile"), DEMO_PROFILE):
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
    _print_demo_scores(paths.EVALS_DIR)
    index = paths.report_page(paths.INDEX)
    print(f"{banner}\nReports: {index}; tables: {paths.TABLES_DIR}/")


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the offline demo: the whole workflow, tiny and on CPU, in minutes",
        description="Run the Snakemake workflow with config/demo.yaml: data, the five "
        "variants trained briefly, evaluation, tables and reports. Without --mirror it "
        "needs no network (scikit-image's bundled photographs); with --mirror it uses the "
        "mirror's Set5, Set14, BSD100 and trains on T91 (config/demo_mirror.yaml).",
    )
    p.add_argument(
        "--mirror", type=Path, default=None, help="a data mirror laid out as ../shared/data"
    )
    p.add_argument("--cores", type=int, default=2, help="CPU cores for Snakemake (default 2)")
    p.add_argument("--dry-run", action="store_true", help="list the jobs, run nothing")
    p.set_defaults(func=_cmd_demo)


# --- srgan data (the workflow's data rules) --------------------------------------------


def _cmd_data_download(args: argparse.Namespace) -> None:
    from srgan.data import download

    source = datasets.DOWNLOADS[args.name]
    download.download(source, args.out, retries=args.retries, progress=_show_progress(args))
    print(f"{args.out}: matches its published checksum ({source.checksum_source})")


def _cmd_data_extract(args: argparse.Namespace) -> None:
    from srgan.data import acquire, download

    remote = {**datasets.TEST_SETS, **datasets.TRAIN_SETS}[args.name]
    images = download.extract_images(
        args.archive,
        remote.member_dir,
        args.out,
        n_images=remote.n_images,
        progress=_show_progress(args),
    )
    acquire.write_manifest(args.out, args.manifest)
    print(f"{args.name}: {len(images)} images in {args.out}; sha256 in {args.manifest}")


def _cmd_data_mirror(args: argparse.Namespace) -> None:
    from srgan.core.fileio import format_sums, write_text_atomic
    from srgan.data import acquire

    sums = acquire.verify_mirror_set(args.mirror, args.subdir, progress=_show_progress(args))
    write_text_atomic(args.manifest, format_sums(sums))
    print(f"{args.mirror / args.subdir}: {len(sums)} files verified; sha256 in {args.manifest}")


def _cmd_data_bundled(args: argparse.Namespace) -> None:
    from srgan.data import acquire

    images = acquire.export_bundled(args.name, args.out)
    acquire.write_manifest(args.out, args.manifest)
    print(f"{args.name}: {len(images)} scikit-image photographs in {args.out}")


def _cmd_data_imagenet(args: argparse.Namespace) -> None:
    from srgan.data import acquire

    names = acquire.imagenet_sample(args.imagenet_dir, args.samples, args.seed)
    acquire.link_subset(args.imagenet_dir, names, args.out)
    acquire.write_manifest(args.out, args.manifest, progress=_show_progress(args))
    print(f"ImageNet: {len(names)} images (seed {args.seed}) linked in {args.out}")


def _cmd_data_manifest(args: argparse.Namespace) -> None:
    from srgan.data import acquire

    sums = acquire.write_manifest(args.folder, args.manifest, progress=_show_progress(args))
    print(f"{args.folder}: {len(sums)} files; sha256 in {args.manifest}")


def _add_data(sub: argparse._SubParsersAction) -> None:
    from srgan.data import download

    p = sub.add_parser(
        "data",
        help="get image sets: download, extract, check a mirror, ImageNet subset (workflow)",
        description="The workflow's data steps. Each writes a folder of HR images and a "
        "sha256 manifest of it.",
    )
    data = p.add_subparsers(dest="data_command", required=True)

    q = data.add_parser("download", help="download an archive, resumable, checksum-verified")
    q.add_argument("name", choices=sorted(datasets.DOWNLOADS))
    q.add_argument("--out", type=Path, required=True, metavar="FILE")
    q.add_argument("--retries", type=int, default=download.DEFAULT_RETRIES)
    q.set_defaults(func=_cmd_data_download)

    q = data.add_parser("extract", help="extract a set's HR images from its archive (path-safe)")
    q.add_argument("name", choices=sorted({**datasets.TEST_SETS, **datasets.TRAIN_SETS}))
    q.add_argument("--archive", type=Path, required=True, metavar="FILE")
    q.add_argument("--out", type=Path, required=True, metavar="DIR")
    q.add_argument("--manifest", type=Path, required=True, metavar="FILE.sha256")
    q.set_defaults(func=_cmd_data_extract)

    q = data.add_parser("mirror", help="check a mirror's set against its SHA256SUMS")
    q.add_argument("subdir", help="the set's folder in the mirror, e.g. benchmarks/Set5")
    q.add_argument("--mirror", type=Path, required=True, metavar="DIR")
    q.add_argument("--manifest", type=Path, required=True, metavar="FILE.sha256")
    q.set_defaults(func=_cmd_data_mirror)

    q = data.add_parser("bundled", help="write scikit-image's bundled photographs as a set")
    q.add_argument("name", choices=sorted(datasets.BUNDLED_SETS))
    q.add_argument("--out", type=Path, required=True, metavar="DIR")
    q.add_argument("--manifest", type=Path, required=True, metavar="FILE.sha256")
    q.set_defaults(func=_cmd_data_bundled)

    q = data.add_parser("imagenet", help="link a seeded sample of a local ILSVRC train folder")
    q.add_argument("--imagenet-dir", type=Path, required=True, metavar="DIR")
    q.add_argument("--samples", type=int, required=True, metavar="N")
    q.add_argument("--seed", type=int, required=True)
    q.add_argument("--out", type=Path, required=True, metavar="DIR")
    q.add_argument("--manifest", type=Path, required=True, metavar="FILE.sha256")
    q.set_defaults(func=_cmd_data_imagenet)

    q = data.add_parser("manifest", help="sha256 of every file of a folder (data.train_dir)")
    q.add_argument("folder", type=Path)
    q.add_argument("--manifest", type=Path, required=True, metavar="FILE.sha256")
    q.set_defaults(func=_cmd_data_manifest)

    for q in data.choices.values():
        q.add_argument("--no-progress", action="store_true", help="no progress bars")


# --- srgan tables / report / index (the reports) ----------------------------------------


def _cmd_tables(args: argparse.Namespace) -> None:
    from srgan.report import provenance, tables

    demo = bool(provenance.demo_reasons(_load_config(args)))
    for path in tables.write_tables(args.evals_dir, args.out_dir, demo, args.depth_dir):
        print(f"wrote {path}")


def _add_tables(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tables",
        help="build Tables 1 and 2 (ours, the paper's, the difference) as CSV + JSON metrics",
        description="Build table1/table2 .csv and .json (DVC metrics) from the evaluation "
        "JSON files; a method not evaluated yet shows as 'not run'.",
    )
    p.add_argument("--evals-dir", type=Path, required=True, metavar="DIR", help="<method>.json")
    p.add_argument("--out-dir", type=Path, required=True, metavar="DIR")
    p.add_argument(
        "--depth-dir", type=Path, default=None, metavar="DIR", help="b<B>_skip<0|1>.json files"
    )
    _add_config_args(p)
    p.set_defaults(func=_cmd_tables)


#: Help of an option whose default is one of the workflow's folders (``srgan.core.paths``).
DEFAULT_HELP = "default: %(default)s"


def _report_parameters(args: argparse.Namespace, reports_dir: Path) -> dict:
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


def _cmd_report(args: argparse.Namespace) -> None:
    from srgan.report import notebooks as reports

    parameters = _report_parameters(args, args.out_dir)
    notebook, page = reports.run_notebook(args.name, args.out_dir, parameters, args.notebooks_dir)
    print(f"wrote {notebook} and {page}")


def _add_report(sub: argparse._SubParsersAction) -> None:
    from srgan.core.paths import NOTEBOOKS_DIR, REPORTS_DIR

    p = sub.add_parser(
        "report",
        help="run a report notebook with papermill (executed .ipynb + HTML without code)",
        description="Execute notebooks/NAME.ipynb with papermill (kernel python3) into "
        "OUT_DIR/NAME.ipynb and OUT_DIR/NAME.html; figures go to OUT_DIR/figures/.",
    )
    p.add_argument("name", metavar="NAME", help=" | ".join((*paths.REPORTS, paths.MOS_REPORT)))
    p.add_argument("--out-dir", type=Path, default=REPORTS_DIR, metavar="DIR", help=DEFAULT_HELP)
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a notebook parameter (YAML value), e.g. --param results_dir=results (repeatable)",
    )
    p.add_argument(
        "--notebooks-dir", type=Path, default=NOTEBOOKS_DIR, metavar="DIR", help=DEFAULT_HELP
    )
    _add_config_args(p)
    p.set_defaults(func=_cmd_report)


def _cmd_index(args: argparse.Namespace) -> None:
    from srgan.report import index_page, provenance
    from srgan.report import notebooks as reports

    config = _load_config(args)
    results = args.tables_dir.parent  # <results>/tables: its timings are <results>/timings
    prov = provenance.gather(
        config.to_dict(), args.runs_dir, paths.rebased(paths.TIMINGS_DIR, results)
    )
    line = index_page.provenance_line(
        prov["git"]["commit"], prov["config_hash"], provenance.GIT_SHORT
    )
    index = reports.build_index(
        args.reports_dir, args.tables_dir, prov["demo_reasons"], line, prov, prov["profile_note"]
    )
    print(f"wrote {index}")


def _add_index(sub: argparse._SubParsersAction) -> None:
    from srgan.core.paths import REPORTS_DIR, RUNS_DIR, TABLES_DIR

    p = sub.add_parser(
        "index",
        help="write reports/index.html: headline numbers and links to every report and figure",
    )
    p.add_argument(
        "--reports-dir", type=Path, default=REPORTS_DIR, metavar="DIR", help=DEFAULT_HELP
    )
    p.add_argument("--tables-dir", type=Path, default=TABLES_DIR, metavar="DIR", help=DEFAULT_HELP)
    runs_help = f"trained models ({DEFAULT_HELP})"
    p.add_argument("--runs-dir", type=Path, default=RUNS_DIR, metavar="DIR", help=runs_help)
    _add_config_args(p)
    p.set_defaults(func=_cmd_index)


# --- entry point ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srgan", description="SRGAN replication (Ledig et al., CVPR 2017)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_evaluate(sub)
    _add_train(sub)
    _add_upscale(sub)
    _add_demo(sub)
    _add_data(sub)
    _add_tables(sub)
    _add_report(sub)
    _add_index(sub)
    from srgan.cli.mos import add_mos  # argparse only; each command imports its module

    add_mos(sub, _add_config_args, _load_config, _report_parameters)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from srgan.core.fileio import WRITE_ERRNOS

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"srgan {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # a full disk, a read-only folder: the machine's state, not a bug
        if exc.errno not in WRITE_ERRNOS:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"srgan {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"srgan {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
