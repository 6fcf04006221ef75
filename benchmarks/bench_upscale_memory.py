"""Peak memory of `srgan upscale` on one large image, at several tile sizes.

Usage: .venv/bin/python benchmarks/bench_upscale_memory.py [--size 3000 3000]
       [--tiles 64 256] [--blocks 16] [--channels 64] [--overlap N] [--device cpu]
       [--src DIR]

Writes an untrained generator (``srgan.models.checkpoints.write_final``: the same memory as a
trained one of that shape; default the paper's SRResNet, 16 blocks of 64 channels) and a photo-like
RGB test image of ``--size`` (width, height) into a temp folder, then runs `srgan upscale` in
a fresh Python process per tile size and prints its peak resident memory and wall time. The
peak is the process's own high-water mark (``VmHWM``, reset when it starts: Linux), not
``ru_maxrss``, which also counts the memory of the process it was forked from. ``--src DIR``
runs the package found in ``DIR`` instead of this checkout's (the code before a change:
``git archive <commit> src | tar -x -C DIR`` and pass ``DIR/src``). On a GPU
(``--device cuda``) the activations are in GPU memory, not in the peak printed here.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from srgan.core.paper import SCALE
from srgan.models import checkpoints
from srgan.models.networks import SRResNet

#: Bytes in a kibibyte (/proc reports kB) and in a gibibyte.
KIB = 1024
GIB = 1024**3
#: The measured process: resets its peak RSS, runs `srgan ...`, prints the peak last.
MEASURED = """
import re, sys
from pathlib import Path
Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts here (Linux)
from srgan.cli import main as cli
status = cli.main(sys.argv[1:])
status_text = Path("/proc/self/status").read_text()
print("peak_kib", re.search(r"VmHWM:\\s+(\\d+) kB", status_text).group(1))
sys.exit(status)
"""


def test_image(width: int, height: int, path: Path) -> None:
    """Smooth colour waves plus noise: compresses like a photograph, not like noise."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    wave = np.sin(x / 37 + y / 53)[..., None] * np.array([1.0, 0.7, 0.4], np.float32)
    pixels = 127 + 100 * wave + rng.normal(0, 6, (height, width, 3)).astype(np.float32)
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path)


def generator_file(blocks: int, channels: int, folder: Path) -> Path:
    """An untrained generator of the paper's design as a generator file (no run record)."""
    generator = SRResNet(
        num_blocks=blocks, channels=channels, prelu="per_channel", long_skip=True, scale=SCALE
    )
    path = Path(folder) / "generator.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoints.save_atomic({"model": generator.config, "generator": generator.state_dict()}, path)
    return path


def peak_rss(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(peak resident memory in GiB, wall seconds, exit status) of one `srgan` command."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, *command], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    found = re.search(r"^peak_kib (\d+)\n", done.stdout, re.MULTILINE)
    print(done.stdout.replace(found.group(0), "") if found else done.stdout, end="")
    print(done.stderr, end="")
    peak = int(found.group(1)) * KIB / GIB if found else float("nan")
    return peak, seconds, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[3000, 3000], metavar=("W", "H"))
    parser.add_argument("--tiles", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--overlap", type=int, default=None, help="default: the receptive field")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--src", type=Path, default=None, help="run the package in this folder")
    args = parser.parse_args()

    env = dict(os.environ)
    if args.src is not None:
        env["PYTHONPATH"] = str(args.src.resolve())
    width, height = args.size
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        image = folder / "input.png"
        test_image(width, height, image)
        checkpoint = generator_file(args.blocks, args.channels, folder / "run")
        print(
            f"srgan upscale of a {width}x{height} RGB image, SRResNet {args.blocks} blocks x "
            f"{args.channels} channels, {args.device}, code: {args.src or 'this checkout'}"
        )
        for tile in args.tiles:
            command = ["upscale", str(image)]
            command += ["-o", str(folder / f"out_{tile}.png"), "--checkpoint", str(checkpoint)]
            command += ["--tile", str(tile), "--device", args.device, "--no-progress"]
            if args.overlap is not None:
                command += ["--overlap", str(args.overlap)]
            peak, seconds, status = peak_rss(command, env)
            print(
                f"--tile {tile:4d}: peak RSS {peak:6.2f} GiB, {seconds:7.1f} s, exit {status}",
                flush=True,
            )


if __name__ == "__main__":
    main()
