"""Training data pipeline throughput (patches/s) at the paper's batch (16) and crop (96).

Usage: .venv/bin/python benchmarks/bench_data.py [--data DIR] [--seconds S] [--workers 0 1 2]

Times, in one run and on CPU tensors: the folder scan (cold: empty manifest; warm: rerun);
a naive baseline (per sample: PIL open, random crop, the project's downscale_8bit on that one
crop); and ``srgan.data.patches.make_batches`` for each worker count, with the decoded-image
store and without it (workers decode, keeping ``--cache-images`` images each). "cold" starts from an
empty cache folder (its startup includes building the store; without a store the first
seconds decode every image once per worker); "warm" reuses the store, or, without a store,
continues the same workers after the cold window. Startup is the time to the first batch;
patches/s is measured over the S seconds after it, and in the best 1 s window of those;
the machine may be shared, so the CPU time per batch (all processes) is printed too.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from _common import default_data_dir, naive_batches

from srgan.core.paper import SCALE
from srgan.data.patches import CropDataset, make_batches
from srgan.data.trainset import open_store, scan_images
from srgan.image.resize import downscale_8bit

PAPER_CROP = 96  # paper: 96 x 96 HR crops
PAPER_BATCH = 16  # paper: 16 crops per mini-batch
WINDOW_S = 1.0  # length of the windows whose best rate is reported


@dataclass
class Row:
    pipeline: str
    workers: str
    cache: str
    startup_s: float | None = None
    patches: int = 0
    seconds: float = 0.0
    best: float = 0.0
    cpu_ms_per_batch: float | None = None


def measure(batches: Iterator[object], row: Row, batch: int, seconds: float) -> Row:
    """Fill ``row`` with the patches ``batches`` gives in ``seconds`` and its best 1 s window.

    The best window shows what the pipeline does when other processes leave it the cores.
    """
    window_patches, window = 0, time.perf_counter()
    start = window
    while (now := time.perf_counter()) - start < seconds:
        if now - window >= WINDOW_S:
            row.best = max(row.best, window_patches / (now - window))
            window, window_patches = now, 0
        next(batches)
        row.patches += batch
        window_patches += batch
    row.seconds = now - start
    row.best = max(row.best, row.patches / row.seconds)
    return row


def cpu_seconds() -> float:
    """CPU time of this process and of its finished (joined) child processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run(make: Callable[[], Iterator[object]], rows: list[Row], batch: int, seconds: float) -> None:
    """Start ``make()``, time its first batch, then fill ``rows`` one after the other.

    Its CPU time per batch (all processes, startup included) goes on the last row.
    """
    cpu = cpu_seconds()
    start = time.perf_counter()
    batches = make()
    next(batches)
    rows[0].startup_s = time.perf_counter() - start
    for row in rows:
        measure(batches, row, batch, seconds)
    batches.close()  # joins the workers, so their CPU time is counted
    count = 1 + sum(row.patches for row in rows) // batch
    rows[-1].cpu_ms_per_batch = (cpu_seconds() - cpu) * 1000 / count


def cpu_cost(files: list[Path], crop: int, batch: int, store_dir: Path) -> tuple[float, float]:
    """CPU ms per batch of the two stages a worker runs (one torch thread, warm store).

    Process time, so other load on the machine does not inflate it.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    store = open_store(files, store_dir, progress=False)
    dataset = CropDataset(files, crop, batch, seed=0, scale=SCALE, store=store)
    steps = range(200)
    start = time.process_time()
    crops = [dataset.hr_crops(t) for t in steps]
    crop_ms = (time.process_time() - start) * 1000 / len(steps)
    start = time.process_time()
    for hr in crops:
        downscale_8bit(hr, scale=SCALE)
    resize_ms = (time.process_time() - start) * 1000 / len(steps)
    torch.set_num_threads(threads)
    return crop_ms, resize_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir("train/BSD200"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--crop", type=int, default=PAPER_CROP)
    parser.add_argument("--batch", type=int, default=PAPER_BATCH)
    parser.add_argument("--cache-images", type=int, default=512)
    args = parser.parse_args()
    crop, batch, seconds = args.crop, args.batch, args.seconds

    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        cache = Path(tmp)
        start = time.perf_counter()
        files = scan_images(args.data, crop, "skip", cache_dir=cache, progress=False)
        scan_cold = time.perf_counter() - start
        start = time.perf_counter()
        scan_images(args.data, crop, "skip", cache_dir=cache, progress=False)
        scan_warm = time.perf_counter() - start
        print(
            f"data {args.data}: {len(files)} usable images; crop {crop}, batch {batch}; "
            f"{os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}"
        )
        print(f"scan (full decode, manifest): cold {scan_cold:.3f} s, warm {scan_warm:.3f} s\n")

        rows = [Row("naive (PIL + downscale per crop)", "-", "-")]
        run(lambda: naive_batches(files, crop, batch, 0), rows, batch, seconds)
        for workers in args.workers:
            store_dir = cache / f"store_w{workers}"

            def stored(store_dir=store_dir, workers=workers):
                return make_batches(
                    files,
                    crop,
                    batch,
                    0,
                    SCALE,
                    workers=workers,
                    store_dir=store_dir,
                    progress=False,
                )

            def decoding(workers=workers):
                return make_batches(
                    files, crop, batch, 0, SCALE, workers=workers, cache_images=args.cache_images
                )

            for label in ("cold", "warm"):
                rows.append(Row("decoded store", str(workers), label))
                run(stored, rows[-1:], batch, seconds)
            lru = f"decode, LRU {args.cache_images}"
            rows += [Row(lru, str(workers), "cold"), Row(lru, str(workers), "warm")]
            run(decoding, rows[-2:], batch, seconds)

        crop_ms, resize_ms = cpu_cost(files, crop, batch, cache / "store_cost")
    capacity = batch / (crop_ms + resize_ms) * 1000
    print(
        f"CPU cost per batch (1 thread): crop {crop_ms:.2f} ms, LR resize {resize_ms:.2f} ms"
        f" -> {capacity:.0f} patches/s per busy core\n"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(
        f"{'pipeline':<34}{'workers':>8}{'cache':>7}{'startup s':>11}"
        f"{'patches/s':>11}{'best 1 s':>10}{'CPU ms/batch':>14}"
    )
    for row in rows:
        startup = f"{row.startup_s:.2f}" if row.startup_s is not None else "-"
        cpu = f"{row.cpu_ms_per_batch:.1f}" if row.cpu_ms_per_batch is not None else "-"
        print(
            f"{row.pipeline:<34}{row.workers:>8}{row.cache:>7}{startup:>11}"
            f"{row.patches / row.seconds:>11.0f}{row.best:>10.0f}{cpu:>14}"
        )
    print(
        "\nCPU ms/batch: all processes, startup included (for 'decode, LRU' the cold and warm"
        " windows together); 2 cores give at most 2000 / (CPU ms/batch) batches/s."
    )


if __name__ == "__main__":
    main()
