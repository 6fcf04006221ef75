"""What identifying the training images by content costs, on a DIV2K-sized folder.

    python benchmarks/bench_trainset_identity.py [--images 800] [--size 2040x1400]
                                                 [--distinct 8] [--dir DIR] [--threads N]

Writes ``--images`` photo-like PNGs of ``--size`` (DIV2K's 800 training images are about
2040 x 1400 and 4.4 MB each; ``--distinct`` of them are encoded, the rest are byte copies
under other names, which costs the same to read) into a temp folder under ``--dir``, then
times, as ``srgan train`` meets them:

1. the first scan (``scan_images``, no manifest): every image decoded once and hashed;
2. hashing alone (sha256 of every file, from the page cache): the part of (1) the content
   identity adds;
3. the identity (``files_digest``) from the scan's manifest, and a warm rescan: stats only;
4. a ``cp -r`` of the folder (new mtimes): first scan and identity of the copy, which equals
   the original's.

Every file was just written, so reads come from the page cache: on a cold disk, (1), (2) and
(4) also wait for the disk (3.5 GB at its read speed). Removes its files at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from srgan.core.fileio import sha256_file
from srgan.data import trainset

CROP = 96  # the paper's HR crop


def photo(index: int, height: int, width: int) -> np.ndarray:
    """Smooth colour waves plus a little noise: compresses like a photograph (~4.5 MB)."""
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:height, 0:width]
    colour = np.array([1.0, 0.7, 0.4])
    wave = 60 * np.sin(x / (37 + index) + y / 53)[..., None] * colour
    wave += 40 * np.cos(x / 211 - y / (97 + index))[..., None]
    return (127 + wave + rng.normal(0, 3, (height, width, 3))).clip(0, 255).astype(np.uint8)


def write_folder(folder: Path, images: int, distinct: int, height: int, width: int) -> int:
    folder.mkdir(parents=True)
    encoded = []
    for index in range(distinct):
        path = folder / f"{index:04d}.png"
        Image.fromarray(photo(index, height, width)).save(path)
        encoded.append(path.read_bytes())
    for index in range(distinct, images):
        (folder / f"{index:04d}.png").write_bytes(encoded[index % distinct])
    return sum(len(encoded[i % distinct]) for i in range(images))


def timed(what: str, function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    print(f"{what}: {time.perf_counter() - start:.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=800)
    parser.add_argument("--size", default="2040x1400", help="WIDTHxHEIGHT")
    parser.add_argument("--distinct", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="decoding threads")
    parser.add_argument("--dir", type=Path, default=None, help="where the images are written")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        folder, cache = root / "images", root / "cache"
        total = write_folder(folder, args.images, args.distinct, height, width)
        print(
            f"{args.images} PNGs of {width}x{height}, {total / 1e9:.2f} GB; {os.cpu_count()} "
            f"CPUs, {args.threads or 'default'} decoding threads"
        )
        files = timed(
            "1. first scan (decode + sha256 of every image)",
            trainset.scan_images,
            folder,
            CROP,
            cache_dir=cache,
            threads=args.threads,
            progress=False,
        )
        timed("2. sha256 of every file alone", lambda: [sha256_file(f) for f in files])
        identity = timed(
            "3. identity from the scan manifest", trainset.files_digest, files, folder, cache
        )
        timed(
            "3. warm rescan + identity",
            lambda: trainset.files_digest(
                trainset.scan_images(folder, CROP, cache_dir=cache, progress=False),
                folder,
                cache,
            ),
        )
        copy = root / "copy"
        timed("   cp -r", shutil.copytree, folder, copy, copy_function=shutil.copyfile)
        copied = timed(
            "4. first scan of the copy",
            trainset.scan_images,
            copy,
            CROP,
            cache_dir=cache,
            threads=args.threads,
            progress=False,
        )
        same = timed("4. identity of the copy", trainset.files_digest, copied, copy, cache)
        print(f"the copy's identity equals the original's: {same == identity}")


if __name__ == "__main__":
    main()
