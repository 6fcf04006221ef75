"""``srgan data ...``: the workflow's data steps (download, extract, mirror, bundled, ImageNet,
manifest); each writes a folder of HR images and a sha256 manifest of it."""

from __future__ import annotations

import argparse
from pathlib import Path

from srgan.cli.common import show_progress
from srgan.core import datasets


def _cmd_data_download(args: argparse.Namespace) -> None:
    from srgan.data import download

    source = datasets.DOWNLOADS[args.name]
    download.download(source, args.out, retries=args.retries, progress=show_progress(args))
    print(f"{args.out}: matches its published checksum ({source.checksum_source})")


def _cmd_data_extract(args: argparse.Namespace) -> None:
    from srgan.data import acquire, download

    remote = {**datasets.TEST_SETS, **datasets.TRAIN_SETS}[args.name]
    images = download.extract_images(
        args.archive,
        remote.member_dir,
        args.out,
        n_images=remote.n_images,
        progress=show_progress(args),
    )
    acquire.write_manifest(args.out, args.manifest)
    print(f"{args.name}: {len(images)} images in {args.out}; sha256 in {args.manifest}")


def _cmd_data_mirror(args: argparse.Namespace) -> None:
    from srgan.core.fileio import format_sums, write_text_atomic
    from srgan.data import acquire

    sums = acquire.verify_mirror_set(args.mirror, args.subdir, progress=show_progress(args))
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
    acquire.write_manifest(args.out, args.manifest, progress=show_progress(args))
    print(f"ImageNet: {len(names)} images (seed {args.seed}) linked in {args.out}")


def _cmd_data_manifest(args: argparse.Namespace) -> None:
    from srgan.data import acquire

    sums = acquire.write_manifest(args.folder, args.manifest, progress=show_progress(args))
    print(f"{args.folder}: {len(sums)} files; sha256 in {args.manifest}")


def add_data(sub: argparse._SubParsersAction) -> None:
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
