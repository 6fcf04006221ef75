"""Training batches: the data order, random HR crops and their LR, on any device.

1. The data order (``PatchSampler``) is a pure function of (seed, step, number of images,
   batch size); nothing else is state, so a run resumes exactly from its step number alone.
   With N images and batch size B an epoch has N // B steps. Epoch e visits the images in the
   order of a permutation drawn from ``numpy.random.default_rng([seed, 0, e])``; step t takes
   the B images at positions ``(t mod (N // B)) * B ...`` of the permutation of epoch
   ``t // (N // B)``, so the crops of a batch come from B different images and every image is
   used once per epoch (the last N mod B of each permutation wait for a later epoch). Crop
   corners come from ``default_rng([seed, 1, t]).random((B, 2))``: a fraction f in [0, 1)
   places the crop at ``floor(f * (H - crop + 1))`` (rows) and likewise for columns.

2. ``CropDataset[t]`` makes the uint8 HR crops of step t from the pixels of
   :mod:`srgan.trainset` (decoded store or on-demand decoding) and their LR, MATLAB
   ``imresize(hr, 1/4, 'bicubic')`` rounded to 8 bits: ``srgan.imageops.downscale_8bit``, the
   function the evaluation makes its LR images with. This runs on the CPU in DataLoader
   workers (or in the main process with 0 workers), so a batch is the same on every device
   and with any number of workers. ``make_batches`` moves the uint8 tensors to the device
   (pinned memory, non-blocking on CUDA) and scales them: LR in [0, 1], HR in [-1, 1].

DataLoader workers ignore SIGINT and SIGTERM (blocked from before they start until they
ignore them): a signal sent to the whole process group (Ctrl-C, SLURM, `timeout`) is the main
process's to act on, which finishes its step, writes a checkpoint and then stops the workers.
A worker still exits by itself within seconds once the main process is gone.

This module uses ``srgan.imageops``, ``srgan.trainset`` and the leaf ``srgan.errors``.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from srgan.errors import UserError
from srgan.imageops import PIXEL_MAX, SCALE, downscale_8bit
from srgan.trainset import DecodedStore, DecodingSource, open_store

#: uint8 / PIXEL_MAX is in [0, 1] (LR); uint8 / HR_HALF_RANGE - 1 is in [-1, 1] (HR).
HR_HALF_RANGE = PIXEL_MAX / 2
#: Tags that make the permutation and crop-corner generators independent streams.
PERMUTATION_STREAM = 0
CROP_STREAM = 1
#: Batches each DataLoader worker prepares ahead.
PREFETCH_BATCHES = 4
#: Signals the training run handles itself; its DataLoader workers ignore them.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# --------------------------------------------------------------------------------------------
# The data order
# --------------------------------------------------------------------------------------------


class PatchSampler:
    """Which images step t crops, and where: a pure function of (seed, t, N, batch size).

    See the module docstring for the order. It holds no state but a memo of the last
    epoch's permutation, so resuming at step t needs nothing but t.
    """

    def __init__(self, num_images: int, batch_size: int, seed: int) -> None:
        if batch_size < 1:
            raise UserError(f"data.batch_size must be at least 1, got {batch_size}")
        if batch_size > num_images:
            raise UserError(
                f"data.batch_size {batch_size} is larger than the {num_images} usable training "
                "images; the crops of a batch must come from different images"
            )
        self.num_images = num_images
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_epoch = num_images // batch_size
        self._memo: tuple[int, np.ndarray] | None = None

    def permutation(self, epoch: int) -> np.ndarray:
        """The order in which epoch ``epoch`` visits the images."""
        if self._memo is None or self._memo[0] != epoch:
            rng = np.random.default_rng([self.seed, PERMUTATION_STREAM, epoch])
            self._memo = (epoch, rng.permutation(self.num_images))
        return self._memo[1]

    def image_indices(self, step: int) -> np.ndarray:
        """The ``batch_size`` distinct image indices of step ``step``."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        epoch, position = divmod(step, self.steps_per_epoch)
        start = position * self.batch_size
        return self.permutation(epoch)[start : start + self.batch_size]

    def crop_fractions(self, step: int) -> np.ndarray:
        """(batch_size, 2) float64 in [0, 1): where each crop lies (rows, columns)."""
        rng = np.random.default_rng([self.seed, CROP_STREAM, step])
        return rng.random((self.batch_size, 2))


def crop_corner(fraction: float, length: int, crop_size: int) -> int:
    """First row (or column) of a crop placed at ``fraction`` of the free range."""
    return int(fraction * (length - crop_size + 1))


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------


def to_model_range(lr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 LR, HR -> float32 LR in [0, 1] and HR in [-1, 1] (the paper's input scaling)."""
    return lr.float() / PIXEL_MAX, hr.float() / HR_HALF_RANGE - 1.0


def _check_crop_size(crop_size: int, scale: int) -> None:
    if crop_size < scale or crop_size % scale:
        raise UserError(
            f"data.crop_size {crop_size} must be a positive multiple of the scale {scale}"
        )


class CropDataset(torch.utils.data.Dataset):
    """Item t is the uint8 (LR, HR) batch of step t: ((B, 3, c/s, c/s), (B, 3, c, c)).

    Pixels come from ``store`` when given, else decoded with ``cache_images`` kept.
    """

    def __init__(
        self,
        files: Sequence[Path],
        crop_size: int,
        batch_size: int,
        seed: int,
        scale: int = SCALE,
        store: DecodedStore | None = None,
        cache_images: int = 0,
    ) -> None:
        _check_crop_size(crop_size, scale)
        if store is not None and len(store) != len(files):
            raise ValueError(f"store holds {len(store)} images, not {len(files)}")
        self.files = [Path(f) for f in files]
        self.crop_size = crop_size
        self.scale = scale
        self.sampler = PatchSampler(len(self.files), batch_size, seed)
        self.source: DecodedStore | DecodingSource = (
            store if store is not None else DecodingSource(files, cache_images)
        )

    def hr_crops(self, step: int) -> torch.Tensor:
        """The uint8 (B, 3, c, c) HR crops of step ``step``."""
        c = self.crop_size
        indices = self.sampler.image_indices(step)
        fractions = self.sampler.crop_fractions(step)
        crops = np.empty((len(indices), c, c, 3), dtype=np.uint8)
        for k, (i, (frac_y, frac_x)) in enumerate(zip(indices, fractions, strict=True)):
            img = self.source.image(int(i))
            height, width = img.shape[:2]
            if height < c or width < c:
                raise UserError(
                    f"training image {self.files[i]} is {width}x{height}, smaller than the "
                    f"{c}x{c} crop (scan the folder with scan_images first)"
                )
            top = crop_corner(frac_y, height, c)
            left = crop_corner(frac_x, width, c)
            crops[k] = img[top : top + c, left : left + c]
        return torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous()

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        hr = self.hr_crops(step)
        return downscale_8bit(hr, self.scale), hr


class _Steps(torch.utils.data.Sampler):
    """The step numbers start, start + 1, ... (endless)."""

    def __init__(self, start: int) -> None:
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return itertools.count(self.start)


def make_batches(
    files: Sequence[Path],
    crop_size: int,
    batch_size: int,
    seed: int,
    start_step: int = 0,
    workers: int = 0,
    cache_images: int = 0,
    device: torch.device | str = "cpu",
    scale: int = SCALE,
    store_dir: Path | None = None,
    progress: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (lr, hr) batches for steps start_step, start_step + 1, ...

    lr: float32 (B, 3, crop/scale, crop/scale) in [0, 1]; hr: float32 (B, 3, crop, crop) in
    [-1, 1]; both on ``device``. The batch of step t depends on (seed, t, files, crop_size,
    batch_size, scale) only: not on ``workers``, ``cache_images``, ``store_dir`` or the
    device. With ``store_dir`` the images are decoded once into a ``DecodedStore`` there
    (built now if missing, with a progress bar unless ``progress`` is False). Errors in the
    arguments or the store build raise here; close the returned generator (or drop it) to
    stop the workers.
    """
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}")
    if workers < 0:
        raise UserError(f"data.workers must be >= 0, got {workers}")
    _check_crop_size(crop_size, scale)
    PatchSampler(len(files), batch_size, seed)  # checks the batch size before a store is built
    store = open_store(files, store_dir, progress=progress) if store_dir is not None else None
    dataset = CropDataset(files, crop_size, batch_size, seed, scale, store, cache_images)
    return _stream(dataset, start_step, workers, torch.device(device))


def _stream(
    dataset: CropDataset, start_step: int, workers: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    pin = device.type == "cuda"
    if workers == 0:
        for step in itertools.count(start_step):
            lr, hr = dataset[step]
            if pin:
                lr, hr = lr.pin_memory(), hr.pin_memory()
            yield _to_device(lr, hr, device)
        return
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        sampler=_Steps(start_step),
        num_workers=workers,
        pin_memory=pin,
        prefetch_factor=PREFETCH_BATCHES,
        worker_init_fn=_ignore_stop_signals,
    )
    with _stop_signals_blocked():  # the workers start here and inherit the blocked signals
        batches = iter(loader)
    try:
        for lr, hr in batches:
            yield _to_device(lr, hr, device)
    finally:
        del batches  # shuts the workers down


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """Hold SIGINT/SIGTERM pending in this thread; they arrive when the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _ignore_stop_signals(worker_id: int) -> None:
    """A DataLoader worker's set-up: ignore SIGINT/SIGTERM (one pending since the fork is
    dropped), so a signal to the process group cannot kill it before the main process has
    written its checkpoint."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _to_device(
    lr: torch.Tensor, hr: torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    non_blocking = device.type == "cuda"
    lr = lr.to(device, non_blocking=non_blocking)
    hr = hr.to(device, non_blocking=non_blocking)
    return to_model_range(lr, hr)
