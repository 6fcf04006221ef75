"""Perceptual quality beside PSNR: LPIPS (full reference) and NIQE (no reference).

Both come from libraries, used as their reference code uses them; nothing here re-implements
a metric:

* **LPIPS** (Zhang et al., CVPR 2018), ``torchmetrics``' port of the authors' ``lpips``
  package: the v0.1 linear layers ship inside torchmetrics' wheel; the backbone (AlexNet,
  LPIPS's default, key ``lpips``; VGG16, key ``lpips_vgg``) is torchvision's ImageNet model,
  loaded through torch.hub's cache (``$TORCH_HOME/hub/checkpoints/``). Computed on the **RGB**
  SR and HR images (a gray image is repeated to 3 channels) with the same 4-pixel border
  removed as PSNR, values in **[0, 1]** handed over with ``normalize=True`` (the library maps
  them to [-1, 1], its reference range). Lower is better; identical images score 0.
* **NIQE** (Mittal et al., IEEE SPL 2013), ``pyiqa``'s port, calibrated against the official
  MATLAB code (pyiqa's ResultsCalibra table). It needs Mittal's pristine model,
  ``niqe_modelparameters.mat``, from pyiqa's cache (``$TORCH_HOME/hub/pyiqa/``). Computed on
  the SR image only, on the same **8-bit luma (Y of MATLAB rgb2ycbcr)** plane as PSNR with the
  4-pixel border removed (the PIRM 2018 challenge's convention), values 0..255. Lower is
  better. A plane smaller than NIQE's 96-pixel block has no NIQE (NaN).

**Weights.** ``evaluate.perceptual.weights: pretrained`` uses the real files: missing ones are
downloaded the libraries' way; when that fails, :func:`check_weights` stops before any work
with one line per file (its name, what torchvision publishes about its size and checksum,
where to put it). ``standin`` is for the offline demo and tests only: LPIPS with randomly
initialised backbones (seeded; the shipped linear layers), NIQE with a stand-in "pristine"
model (mean 0, identity covariance). Such numbers only show that the pipeline runs; every
report says so (``srgan.core.comparability``).

Imports: torch, and torchmetrics, torchvision and pyiqa only where a metric is built (they
import slowly); ``imageops`` and the leaves ``config``, ``errors`` and ``variants``.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from srgan.core.config import PERCEPTUAL_STANDIN as STANDIN
from srgan.core.config import PerceptualConfig
from srgan.core.errors import UserError
from srgan.image.colour import PIXEL_MAX, rgb_to_y

#: ``evaluate.perceptual.weights``: the real files, or stand-ins (demo and tests only,
#: ``srgan.core.variants`` labels their results).
PRETRAINED = "pretrained"
#: LPIPS backbones (torchmetrics' ``net_type``) -> torchvision's model name and our JSON key.
LPIPS_BACKBONES = {"alex": "alexnet", "vgg": "vgg16"}
LPIPS_KEYS = {"alex": "lpips", "vgg": "lpips_vgg"}
NIQE_KEY = "niqe"
#: NIQE's block side (pyiqa's and the MATLAB code's 96 pixels): smaller planes have no NIQE.
NIQE_BLOCK = 96
#: pyiqa keeps its files in this folder of torch.hub's directory (its ``DEFAULT_CACHE_DIR``).
PYIQA_CACHE = "pyiqa"
#: The stand-in NIQE model: NIQE's 36 features (18 per scale), mean 0, identity covariance.
NIQE_FEATURES = 36
#: Seed of the stand-in LPIPS backbones (drawn without touching the caller's RNG state).
STANDIN_SEED = 0
#: What the error says to change to go without perceptual metrics.
DISABLE_HINT = "or set evaluate.perceptual.enabled=false to score PSNR/SSIM only"


def metric_keys(settings: PerceptualConfig) -> tuple[str, ...]:
    """The JSON keys the settings add per image and per set, in order (empty when disabled)."""
    if not settings.enabled:
        return ()
    keys = tuple(LPIPS_KEYS[net] for net in settings.lpips)
    return keys + ((NIQE_KEY,) if settings.niqe else ())


# --- the weight files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightFile:
    """A file a metric loads from a library's cache: what it is, where it comes from and goes."""

    name: str
    role: str
    url: str
    folder: Path
    facts: str  # size and checksum, as far as the library publishes them
    hash_prefix: str | None  # torch.hub checks a downloaded file's sha256 against it

    @property
    def path(self) -> Path:
        return self.folder / self.name

    def line(self) -> str:
        return (
            f"{self.name} ({self.role}; {self.facts}; from {self.url}) -> put it in {self.folder}/"
        )


def _backbone_file(net: str) -> WeightFile:
    """torchvision's ImageNet weights of an LPIPS backbone: the ``DEFAULT`` weights torchmetrics
    asks torchvision for, with the size torchvision's metadata gives and the sha256 prefix
    torch.hub's file name carries."""
    import torchvision

    model = LPIPS_BACKBONES[net]
    weights = torchvision.models.get_model_weights(model).DEFAULT
    name = Path(urlparse(weights.url).path).name
    match = torch.hub.HASH_REGEX.search(name)
    prefix = match.group(1) if match else None
    size = weights.meta.get("_file_size")
    facts = f"{size} MB per torchvision" if size else "size not published"
    facts += f", sha256 starts {prefix}" if prefix else ""
    return WeightFile(
        name=name,
        role=f"LPIPS-{net} backbone, torchvision {model} {weights.name}",
        url=weights.url,
        folder=Path(torch.hub.get_dir()) / "checkpoints",
        facts=facts,
        hash_prefix=prefix,
    )


def _niqe_file() -> WeightFile:
    """Mittal et al.'s pristine NIQE model as pyiqa downloads it (pyiqa publishes no checksum)."""
    from pyiqa.archs.niqe_arch import default_model_urls

    url = default_model_urls["url"]
    return WeightFile(
        name=Path(urlparse(url).path).name,
        role="NIQE pristine model of Mittal et al., as pyiqa loads it",
        url=url,
        folder=Path(torch.hub.get_dir()) / PYIQA_CACHE,
        facts="pyiqa publishes no size or checksum",
        hash_prefix=None,
    )


def weight_files(settings: PerceptualConfig) -> list[WeightFile]:
    """The files the settings need (none with stand-ins or when disabled)."""
    if not settings.enabled or settings.weights == STANDIN:
        return []
    files = [_backbone_file(net) for net in settings.lpips]
    return files + ([_niqe_file()] if settings.niqe else [])


def _download(file: WeightFile) -> None:
    """Fetch ``file`` into its cache folder the libraries' way (torch.hub: a temp file renamed
    at the end, the sha256 prefix checked when the name carries one)."""
    file.folder.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(file.url, str(file.path), hash_prefix=file.hash_prefix)


def check_weights(settings: PerceptualConfig) -> None:
    """Make sure every file the settings need is in its cache, downloading missing ones;
    UserError with one line per file that is still missing (before any work starts)."""
    missing: list[tuple[WeightFile, str]] = []
    for file in weight_files(settings):
        if file.path.is_file():
            continue
        try:
            _download(file)
        except Exception as err:  # no network, proxy, disk full, bad hash: the user's fix
            missing.append((file, " ".join(f"{type(err).__name__}: {err}".split())))
    if missing:
        lines = [
            f"perceptual metrics need {len(missing)} weight file(s) that are not cached and "
            f"could not be downloaded ({missing[0][1]}); put each where named, {DISABLE_HINT}:",
            *(f"  {file.line()}" for file, _ in missing),
        ]
        raise UserError("\n".join(lines))


# --- the metrics ----------------------------------------------------------------------------


def _lpips_network(net: str, weights: str) -> torch.nn.Module:
    """torchmetrics' LPIPS network: built by the library's metric class (backbone from the
    torch.hub cache), or with a seeded random backbone (stand-in; shipped linear layers)."""
    if weights == STANDIN:
        # The library's own network class with its own switch for a random backbone: the
        # public metric class has no such switch (it always loads the ImageNet backbone).
        # A private name, pinned by uv.lock; tests/test_perceptual.py checks both paths agree.
        from torchmetrics.functional.image.lpips import _NoTrainLpips

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(STANDIN_SEED)
            return _NoTrainLpips(net=net, pnet_rand=True)
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    return LearnedPerceptualImagePatchSimilarity(net_type=net, normalize=True).net


def _niqe_metric(weights: str) -> torch.nn.Module:
    """pyiqa's NIQE on a 1-channel plane, with the cached pristine model or the stand-in."""
    from pyiqa.archs.niqe_arch import NIQE

    if weights == PRETRAINED:
        return NIQE(pretrained_model_path=str(_niqe_file().path))
    import scipy.io

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "standin_niqe.mat"
        standin = {
            "mu_prisparam": np.zeros((1, NIQE_FEATURES)),
            "cov_prisparam": np.eye(NIQE_FEATURES),
        }
        scipy.io.savemat(path, standin)
        return NIQE(pretrained_model_path=str(path))


def _rgb_tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 H x W x 3 (or H x W, repeated to 3 channels) -> float (1, 3, H, W) in [0, 1]."""
    rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img
    chw = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))
    return chw.unsqueeze(0).to(device=device, dtype=torch.float32) / PIXEL_MAX


def _crop(img: np.ndarray, border: int) -> np.ndarray:
    return img[border:-border, border:-border] if border else img


class PerceptualScorer:
    """LPIPS and NIQE of SR images, as configured by ``evaluate.perceptual``.

    Construct it before any work: with ``pretrained`` weights it calls :func:`check_weights`.
    """

    def __init__(self, settings: PerceptualConfig, device: str | torch.device = "cpu") -> None:
        if not settings.enabled:
            raise ValueError("PerceptualScorer needs evaluate.perceptual.enabled: true")
        check_weights(settings)
        self.settings = settings
        self.device = torch.device(device)
        self.lpips = {
            net: _lpips_network(net, settings.weights).to(self.device).eval()
            for net in settings.lpips
        }
        self.niqe = _niqe_metric(settings.weights).to(self.device) if settings.niqe else None

    @property
    def keys(self) -> tuple[str, ...]:
        return metric_keys(self.settings)

    def score(self, sr: np.ndarray, hr: np.ndarray, border: int) -> dict[str, float]:
        """LPIPS of ``sr`` against ``hr`` (uint8, H x W x 3 or H x W) and NIQE of ``sr``, each
        with ``border`` pixels removed from every side."""
        if sr.shape != hr.shape:
            raise ValueError(f"SR shape {sr.shape} differs from HR shape {hr.shape}")
        sr, hr = _crop(sr, border), _crop(hr, border)
        scores: dict[str, float] = {}
        with torch.inference_mode():
            if self.lpips:
                x, y = _rgb_tensor(sr, self.device), _rgb_tensor(hr, self.device)
                for net, network in self.lpips.items():
                    scores[LPIPS_KEYS[net]] = float(network(x, y, normalize=True))
            if self.niqe is not None:
                scores[NIQE_KEY] = self._niqe(sr)
        return scores

    def _niqe(self, img: np.ndarray) -> float:
        y = rgb_to_y(img, round_uint8=True)
        if min(y.shape) < NIQE_BLOCK:
            return math.nan
        plane = torch.from_numpy(np.ascontiguousarray(y)).to(self.device, torch.float64)
        return float(self.niqe(plane[None, None] / PIXEL_MAX))
