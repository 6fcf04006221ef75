"""The frozen VGG19 feature extractor of the perceptual loss, and its ImageNet weights.

``VGGFeatures(layer, weights, normalization)`` is torchvision's ``vgg19().features`` cut right
after the named ReLU: "relu2_2" (phi_{2,2}) or "relu5_4" (phi_{5,4}). ``weights`` is
"imagenet" (torchvision's IMAGENET1K_V1 file, through the torch.hub cache), "random"
(torchvision's initialisation; the offline demo and tests only) or the path of a vgg19 state
dict. Without the ImageNet file and without network, ``check_vgg_weights`` fails before any
training starts with one line naming the file, its size and sha256, and where to put it.

Imports: torch, torchvision (only when the network is built: it imports slowly) and the
leaves ``srgan.core.errors`` and ``srgan.core.fileio``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srgan.core.errors import UserError
from srgan.core.fileio import sha256_file

# Index just past the named ReLU in torchvision's ``vgg19().features``:
# relu2_2 (phi_{2,2}) is features[8], relu5_4 (phi_{5,4}) is features[35].
VGG_LAYER_CUTS = {"relu2_2": 9, "relu5_4": 36}
VGG_NORMALIZATIONS = ("imagenet", "none")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet preprocessing
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's VGG19_Weights.IMAGENET1K_V1 file, as torch.hub caches it.
VGG19_IMAGENET_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_IMAGENET_FILENAME = "vgg19-dcbb9e9d.pth"
VGG19_IMAGENET_SIZE = 574_673_361  # bytes
VGG19_IMAGENET_SHA256 = "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44"


def vgg19_imagenet_cache_path() -> Path:
    """Where torch.hub (and so torchvision) keeps the ImageNet VGG19 weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_IMAGENET_FILENAME


def _missing_imagenet_weights_error(path: Path, reason: str) -> UserError:
    return UserError(
        f"VGG19 ImageNet weights unavailable ({reason}). Put the file {VGG19_IMAGENET_FILENAME} "
        f"({VGG19_IMAGENET_SIZE} bytes, sha256 {VGG19_IMAGENET_SHA256}, from "
        f"{VGG19_IMAGENET_URL}) at {path}, or set vgg.weights to the path of a local VGG19 "
        "state dict (.pth)"
    )


def _ensure_imagenet_weights(verify_hash: bool) -> Path:
    """The cached ImageNet VGG19 file; downloads it through torch.hub when missing."""
    path = vgg19_imagenet_cache_path()
    if not path.is_file():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Verifies the full sha256 while downloading; writes a temp file, then renames.
            torch.hub.download_url_to_file(
                VGG19_IMAGENET_URL, str(path), hash_prefix=VGG19_IMAGENET_SHA256
            )
        except Exception as err:  # no network, proxy, disk full, bad hash: all the user's fix
            raise _missing_imagenet_weights_error(path, f"download failed: {err}") from err
    size = path.stat().st_size
    if size != VGG19_IMAGENET_SIZE:
        raise _missing_imagenet_weights_error(path, f"{path} has {size} bytes, a partial file?")
    if verify_hash and sha256_file(path) != VGG19_IMAGENET_SHA256:
        raise _missing_imagenet_weights_error(path, f"{path} has the wrong sha256")
    return path


def _vgg19_features_on_meta(cut: int) -> nn.Sequential:
    """torchvision's ``vgg19().features[:cut]`` on the meta device (no memory, no init)."""
    import torchvision  # here, not at the top: only VGG needs it, and it imports slowly

    with torch.device("meta"):
        return torchvision.models.vgg19(weights=None).features[:cut]


def _vgg19_conv_shapes(cut: int) -> dict[str, tuple[int, ...]]:
    """Expected ``features.N.weight/bias`` shapes of torchvision's vgg19 below ``cut``."""
    features = _vgg19_features_on_meta(cut)
    return {f"features.{key}": tuple(value.shape) for key, value in features.state_dict().items()}


def _load_state_dict_file(path: Path) -> Mapping[str, Any]:
    """torch.load a state dict safely; memory-maps files in the zip format (skips unused keys)."""
    if not path.is_file():
        raise UserError(f"vgg.weights: no such file {path}")
    try:
        state = torch.load(
            path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path)
        )
    except Exception as err:  # truncated file, not a torch file, pickled code refused
        raise UserError(f"vgg.weights: cannot read {path} as a state dict: {err}") from err
    if not isinstance(state, Mapping):
        raise UserError(f"vgg.weights: {path} holds a {type(state).__name__}, not a state dict")
    return state


def _select_vgg_state(state: Mapping[str, Any], cut: int, source: str) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors needed below ``cut``, keys relative to features, checked."""
    expected = _vgg19_conv_shapes(cut)
    missing = [key for key in expected if key not in state]
    if missing:
        raise UserError(
            f"vgg.weights: {source} lacks {len(missing)} key(s) of torchvision's vgg19 "
            f"(first: {missing[:3]}); expected a vgg19 state dict with 'features.N.weight' keys"
        )
    for key, shape in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise UserError(f"vgg.weights: {source} key {key} has shape {got}, expected {shape}")
    return {key.removeprefix("features."): state[key] for key in expected}


def check_vgg_weights(weights: str, layer: str = "relu5_4", verify_hash: bool = False) -> None:
    """Fail early (UserError) if ``weights`` cannot serve :class:`VGGFeatures`.

    "random" always passes. "imagenet" needs the cached file (downloaded via torch.hub when
    missing) with the right size; its sha256 (574 MB to hash) only if ``verify_hash``.
    A path must hold a readable vgg19 state dict with the keys and shapes ``layer`` needs.
    Neither case builds the network.
    """
    cut = _vgg_cut(layer)
    if weights == "random":
        return
    if weights == "imagenet":
        _ensure_imagenet_weights(verify_hash)
        return
    path = Path(weights).expanduser()
    _select_vgg_state(_load_state_dict_file(path), cut, str(path))


def _vgg_cut(layer: str) -> int:
    if layer not in VGG_LAYER_CUTS:
        raise UserError(f"vgg layer must be one of {list(VGG_LAYER_CUTS)}, got {layer!r}")
    return VGG_LAYER_CUTS[layer]


def _init_like_torchvision(features: nn.Sequential) -> None:
    """torchvision's VGG initialisation for convolutions (Kaiming normal, fan_out, zero bias)."""
    for module in features.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)


class VGGFeatures(nn.Module):
    """Frozen VGG19 feature extractor phi_{i,j}: torchvision's ``vgg19().features`` cut
    right after the named ReLU ("relu2_2" = features[:9], "relu5_4" = features[:36]).

    Input: images in [-1, 1] (the generator's space). With ``normalization="imagenet"`` they
    are mapped to [0, 1] and then standardised with the ImageNet mean/std torchvision's weights
    were trained with; with ``"none"`` they enter VGG unchanged, in [-1, 1].

    ``weights``: "imagenet" (torchvision's IMAGENET1K_V1, from the torch.hub cache, downloaded
    if missing, else a UserError naming the file to provide), "random" (torchvision's init;
    offline demos and tests only), or the path of a vgg19 state dict with ``features.N.*`` keys
    (a full vgg19 state dict, or only the features needed up to ``layer``).

    Only the truncated features are ever materialised: the 120M-parameter classifier is built
    on the meta device (no memory, no init) and dropped. The parameters are frozen and the
    module stays in eval mode even after ``.train()``; gradients still flow to the input.
    """

    def __init__(
        self, layer: str = "relu5_4", weights: str = "imagenet", normalization: str = "imagenet"
    ) -> None:
        super().__init__()
        cut = _vgg_cut(layer)
        if normalization not in VGG_NORMALIZATIONS:
            raise UserError(
                f"vgg normalization must be one of {list(VGG_NORMALIZATIONS)}, "
                f"got {normalization!r}"
            )
        self.layer = layer
        self.normalization = normalization
        features = _vgg19_features_on_meta(cut).to_empty(device="cpu")
        if weights == "random":
            _init_like_torchvision(features)
        else:
            if weights == "imagenet":
                path = _ensure_imagenet_weights(verify_hash=False)
            else:
                path = Path(weights).expanduser()
            features.load_state_dict(
                _select_vgg_state(_load_state_dict_file(path), cut, str(path)), strict=True
            )
        self.features = features
        self.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        super().train(False)

    def train(self, mode: bool = True) -> VGGFeatures:
        """Always eval: the feature extractor is a fixed function (no dropout/BN here anyway)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] -> the feature map of ``layer``."""
        if self.normalization == "imagenet":
            x = ((x + 1) / 2 - self.mean) / self.std
        return self.features(x)
