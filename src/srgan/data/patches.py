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

2. Two pipelines make the batch of step t (``data.pipeline``; the same batch either way):

   * **loader**: ``CropDataset[t]`` makes the uint8 HR crops from the pixels of
     :mod:`srgan.data.trainset` (decoded store or on-demand decoding) and their LR on the CPU, in
     DataLoader workers (or in the main process with 0 workers); the uint8 tensors then go to
     the device (pinned memory, non-blocking on CUDA). The default off CUDA.
   * **device**: ``DeviceImages`` holds the decoded store's pixels as one uint8 tensor on the
     training device (DIV2K's 800 images: 6.6 GB), and makes the crops and their LR there: one
     gather kernel and the batched resize, no workers, nothing but 16 crop positions crossing
     the bus. On a GPU whose free memory lacks room for them (with
     ``DEVICE_MEMORY_RESERVE_BYTES`` kept for training), the pixels stay in host memory (a
     warning says so), the crops are cut there and copied to the GPU through pinned memory,
     and the LR is made on the GPU. The default on CUDA.

   The LR is MATLAB ``imresize(hr, 1/4, 'bicubic')`` rounded to 8 bits:
   ``srgan.image.resize.downscale_8bit``, the function the evaluation makes its LR images with.
   Its sums are exact, so a GPU makes the CPU's LR bit for bit, exact .5 ties included.
   ``make_batches`` scales both: LR in [0, 1], HR in [-1, 1].

DataLoader workers ignore SIGINT and SIGTERM (blocked from before they start until they
ignore them): a signal sent to the whole process group (Ctrl-C, SLURM, `timeout`) is the main
process's to act on, which finishes its step, writes a checkpoint and then stops the workers.
A worker still exits by itself within seconds once the main process is gone.

This module uses ``srgan.imageops``, ``srgan.data.trainset`` and the leaf ``srgan.core.errors``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from srgan.core.config import check_crop_size
from srgan.core.errors import UserError
from srgan.data.trainset import DecodedStore, DecodingSource, open_store
from srgan.image.colour import PIXEL_MAX
from srgan.image.resize import downscale_8bit

#: uint8 / PIXEL_MAX is in [0, 1] (LR); uint8 / HR_HALF_RANGE - 1 is in [-1, 1] (HR).
HR_HALF_RANGE = PIXEL_MAX / 2
#: Tags that make the permutation and crop-corner generators independent streams.
PERMUTATION_STREAM = 0
CROP_STREAM = 1
#: Batches each DataLoader worker prepares ahead.
PREFETCH_BATCHES = 4
#: Signals the training run handles itself; its DataLoader workers ignore them.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Values of ``data.pipeline`` (besides "auto").
DEVICE_PIPELINE, LOADER_PIPELINE = "device", "loader"
#: Each pipeline in words (``srgan train`` says which one runs).
PIPELINE_WORDS = {
    DEVICE_PIPELINE: "batches made on the training device",
    LOADER_PIPELINE: "batches made on the CPU (DataLoader)",
}
#: GPU memory the decoded images must leave free for training: the models, activations,
#: gradients, optimiser state and a captured step's memory pool (a few GB for SRGAN-VGG54 at
#: batch 16), with room to spare.
DEVICE_MEMORY_RESERVE_BYTES = 8 << 30
#: Bytes copied at a time when the decoded images are put on the GPU.
UPLOAD_CHUNK_BYTES = 256 << 20
#: Bytes per pixel of the decoded images (RGB, uint8).
CHANNELS = 3

log = logging.getLogger(__name__)


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


def crop_corner(fraction: np.ndarray, length: np.ndarray, crop_size: int) -> np.ndarray:
    """First row (or column) of a crop placed at ``fraction`` of the free range (element-wise
    on arrays: ``floor(fraction * (length - crop_size + 1))``)."""
    return (np.asarray(fraction) * (np.asarray(length) - crop_size + 1)).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------


def to_model_range(lr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 LR, HR -> float32 LR in [0, 1] and HR in [-1, 1] (the paper's input scaling)."""
    return lr.float() / PIXEL_MAX, hr.float() / HR_HALF_RANGE - 1.0


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
        scale: int,
        store: DecodedStore | None = None,
        cache_images: int = 0,
    ) -> None:
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
    scale: int,
    start_step: int = 0,
    workers: int = 0,
    cache_images: int = 0,
    device: torch.device | str = "cpu",
    store_dir: Path | None = None,
    progress: bool = True,
    pipeline: str = "auto",
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (lr, hr) batches for steps start_step, start_step + 1, ...

    lr: float32 (B, 3, crop/scale, crop/scale) in [0, 1]; hr: float32 (B, 3, crop, crop) in
    [-1, 1]; both on ``device``. The batch of step t depends on (seed, t, files, crop_size,
    batch_size, scale) only: not on ``workers``, ``cache_images``, ``store_dir``,
    ``pipeline`` or the device. With ``store_dir`` the images are decoded once into a
    ``DecodedStore`` there (built now if missing, with a progress bar unless ``progress`` is
    False). ``pipeline`` is ``data.pipeline`` (module docstring); the device pipeline needs
    the store (without one, a warning says so and the loader pipeline runs). Errors in the
    arguments or the store build raise here; close the returned generator (or drop it) to
    stop the workers.
    """
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}")
    if workers < 0:
        raise UserError(f"data.workers must be >= 0, got {workers}")
    check_crop_size(crop_size, scale, "make_batches")
    PatchSampler(len(files), batch_size, seed)  # checks the batch size before a store is built
    device = torch.device(device)
    store = open_store(files, store_dir, progress=progress) if store_dir is not None else None
    if resolve_pipeline(pipeline, device) == DEVICE_PIPELINE:
        if store is not None:
            images = DeviceImages(files, store, crop_size, device)
            sampler = PatchSampler(len(files), batch_size, seed)
            return _device_stream(images, sampler, scale, start_step)
        log.warning("the device pipeline needs a decoded image store: batches are made on the CPU")
    dataset = CropDataset(files, crop_size, batch_size, seed, scale, store, cache_images)
    return _stream(dataset, start_step, workers, device)


def resolve_pipeline(pipeline: str, device: torch.device) -> str:
    """``data.pipeline`` resolved: "auto" is the device pipeline on CUDA, the loader elsewhere."""
    if pipeline == "auto":
        return DEVICE_PIPELINE if device.type == "cuda" else LOADER_PIPELINE
    if pipeline not in (DEVICE_PIPELINE, LOADER_PIPELINE):
        raise UserError(f"data.pipeline must be auto, device or loader, got {pipeline!r}")
    return pipeline


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


# --------------------------------------------------------------------------------------------
# The device pipeline
# --------------------------------------------------------------------------------------------


class DeviceImages:
    """The decoded training images on the training device, and the HR crops of a step.

    ``pixels`` is the store's file as one flat uint8 tensor (image i is H x W x 3 at byte
    ``store.index[i, 0]``). It lives on ``device`` when ``resident`` (default: always off
    CUDA; on CUDA when it fits, see :func:`fits_on_gpu`); otherwise in host memory, mapped
    from the store's file, and each step's crops are cut on the CPU and copied over.
    """

    def __init__(
        self,
        files: Sequence[Path],
        store: DecodedStore,
        crop_size: int,
        device: torch.device,
        resident: bool | None = None,
    ) -> None:
        self.store = store
        self.crop_size = crop_size
        self.device = device
        index = store.index
        small = [str(files[i]) for i in np.flatnonzero(index[:, 1:].min(axis=1) < crop_size)]
        if small:
            raise UserError(
                f"training images smaller than the {crop_size}x{crop_size} crop: "
                f"{', '.join(small[:3])}{' ...' if len(small) > 3 else ''} (scan them first)"
            )
        host = torch.from_numpy(store.flat_pixels())
        if resident is None:
            resident = device.type != "cuda" or fits_on_gpu(host.numel(), device, len(files))
        self.pixels = _upload(host, device) if resident and device.type != "cpu" else host
        self.resident = resident
        # Position of channel k of pixel (0, j) of a crop, relative to its top-left byte.
        span = torch.arange(crop_size, device=device)
        self._span = span
        self._columns = CHANNELS * span[:, None] + torch.arange(CHANNELS, device=device)

    def hr_crops(self, indices: np.ndarray, fractions: np.ndarray) -> torch.Tensor:
        """uint8 (B, 3, c, c) crops on ``device``: from image ``indices[k]``, placed at
        ``fractions[k]`` (rows, columns) as :func:`crop_corner` says."""
        c = self.crop_size
        offsets, heights, widths = self.store.index[indices].T
        tops = crop_corner(fractions[:, 0], heights, c)
        lefts = crop_corner(fractions[:, 1], widths, c)
        if not self.resident:
            return self._host_crops(indices, tops, lefts)
        # Flat position of each crop's top-left byte, and the distance between its rows.
        where = torch.from_numpy(
            np.stack([offsets + (tops * widths + lefts) * CHANNELS, widths * CHANNELS], axis=1)
        )
        if self.device.type == "cuda":  # from pinned memory: no wait for the GPU
            where = where.pin_memory().to(self.device, non_blocking=True)
        starts, row_stride = where[:, :1], where[:, 1:]
        rows = starts + self._span * row_stride  # (B, c): first byte of each crop row
        positions = rows[:, :, None, None] + self._columns  # (B, c, c, 3)
        return torch.take(self.pixels, positions).permute(0, 3, 1, 2).contiguous()

    def _host_crops(self, indices: np.ndarray, tops: np.ndarray, lefts: np.ndarray) -> torch.Tensor:
        c = self.crop_size
        pin = self.device.type == "cuda"
        crops = torch.empty((len(indices), c, c, CHANNELS), dtype=torch.uint8, pin_memory=pin)
        view = crops.numpy()
        for k, (i, top, left) in enumerate(zip(indices, tops, lefts, strict=True)):
            view[k] = self.store.image(int(i))[top : top + c, left : left + c]
        crops = crops.to(self.device, non_blocking=pin)
        return crops.permute(0, 3, 1, 2).contiguous()


def fits_on_gpu(nbytes: int, device: torch.device, count: int) -> bool:
    """Whether ``nbytes`` of images fit in ``device``'s free memory with
    ``DEVICE_MEMORY_RESERVE_BYTES`` left for training; when not, a warning says what happens."""
    free, _ = torch.cuda.mem_get_info(device)
    if nbytes + DEVICE_MEMORY_RESERVE_BYTES <= free:
        return True
    log.warning(
        "the %d decoded training images (%.1f GB) do not fit on %s (%.1f GB free, %.1f GB of "
        "it kept for training): they stay in host memory, each batch's crops are copied to "
        "the GPU through pinned memory and their LR is made there",
        count,
        nbytes / 1e9,
        device,
        free / 1e9,
        DEVICE_MEMORY_RESERVE_BYTES / 1e9,
    )
    return False


def _upload(host: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``host`` copied to ``device`` in chunks (the store's file is read once, never whole)."""
    pixels = torch.empty(host.numel(), dtype=torch.uint8, device=device)
    for start in range(0, host.numel(), UPLOAD_CHUNK_BYTES):
        pixels[start : start + UPLOAD_CHUNK_BYTES].copy_(host[start : start + UPLOAD_CHUNK_BYTES])
    return pixels


def _device_stream(
    images: DeviceImages, sampler: PatchSampler, scale: int, start_step: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for step in itertools.count(start_step):
        hr = images.hr_crops(sampler.image_indices(step), sampler.crop_fractions(step))
        yield to_model_range(downscale_8bit(hr, scale), hr)
