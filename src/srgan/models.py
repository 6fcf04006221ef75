"""The networks: SRResNet (the SRGAN generator), the SRGAN discriminator, and frozen VGG19 features.

Value ranges (paper, Section 3.2): the generator takes LR images in [0, 1] and is trained
against HR images scaled to [-1, 1], so its output lives in [-1, 1] space. It has no final
activation (no tanh): the paper names none, and a plain 9x9 convolution lets the MSE loss act
on the raw output. Clamp to [-1, 1] only when converting to an image. The discriminator and
VGGFeatures take images in that same [-1, 1] space.

Also here, because inference and training both need them and both may use this module:
choosing the torch device (:func:`resolve_device`) and rebuilding a generator from a
checkpoint file (:func:`read_checkpoint`, :func:`generator_from_checkpoint`).

Imports: torch, torchvision (only when VGG19 is built: importing it takes seconds) and the
leaves ``srgan.errors`` and ``srgan.fileio``.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srgan.errors import UserError
from srgan.fileio import sha256_file

# --- SRResNet (generator) ---------------------------------------------------------------------

PRELU_CHOICES = ("per_channel", "shared")
_SRRESNET_KEYS = ("num_blocks", "channels", "prelu", "long_skip", "scale")
OUTER_KERNEL = 9  # first and last convolution: 9x9 (paper, Figure 4)
INNER_KERNEL = 3  # all other convolutions: 3x3
IMAGE_CHANNELS = 3  # RGB in and out
UPSAMPLE_FACTOR_PER_STEP = 2  # each sub-pixel step: conv to 4x channels, PixelShuffle(2)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``module`` (only those with requires_grad if asked)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _prelu(kind: str, channels: int) -> nn.PReLU:
    """A PReLU with one slope per channel or one slope shared by all channels (init 0.25)."""
    return nn.PReLU(num_parameters=channels if kind == "per_channel" else 1)


def _conv(in_ch: int, out_ch: int, kernel: int, *, bias: bool = True, stride: int = 1) -> nn.Conv2d:
    """A 'same'-padded convolution (odd kernel)."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=bias)


class ResidualBlock(nn.Module):
    """conv3x3, BN, PReLU, conv3x3, BN, plus the identity (paper, Figure 4)."""

    def __init__(self, channels: int, prelu: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, INNER_KERNEL, bias=False),
            nn.BatchNorm2d(channels),
            _prelu(prelu, channels),
            _conv(channels, channels, INNER_KERNEL, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """The SRResNet generator of Ledig et al. (2017), Figure 4; also SRGAN's generator.

    Layout: conv9x9/``channels`` + PReLU; ``num_blocks`` residual blocks
    (conv3x3, BN, PReLU, conv3x3, BN, + identity); conv3x3 + BN, then the long skip (the
    output of the first conv is added; ``long_skip=False`` drops the addition, for the depth
    study, and keeps every parameter); log2(``scale``) sub-pixel steps
    (conv3x3 to 4*``channels``, PixelShuffle(2), PReLU); final conv9x9 to 3 channels.

    Choices the paper leaves open:
    - Convolutions followed by BN have no bias (BN's shift makes it redundant); the others
      (first conv, upsampling convs, last conv) have one. With B = 16, 64 channels and shared
      PReLU this gives 1,547,350 parameters.
    - ``prelu="per_channel"``: one slope per channel (He et al. 2015's main variant, and the
      default of Lasagne's PReLU layer); ``"shared"``: one slope per activation layer
      (PyTorch's ``nn.PReLU()`` default). Per channel adds 1,197 parameters at B = 16.
    - No final activation: input LR in [0, 1], output in the HR's [-1, 1] space, unbounded.
    - Weights use PyTorch's default initialisation (the paper states none).
    """

    def __init__(
        self,
        num_blocks: int = 16,
        channels: int = 64,
        prelu: str = "per_channel",
        long_skip: bool = True,
        scale: int = 4,
    ) -> None:
        super().__init__()
        _check_srresnet_args(num_blocks, channels, prelu, scale)
        self._config = {
            "num_blocks": num_blocks,
            "channels": channels,
            "prelu": prelu,
            "long_skip": long_skip,
            "scale": scale,
        }
        self.long_skip = long_skip
        self.head = nn.Sequential(
            _conv(IMAGE_CHANNELS, channels, OUTER_KERNEL), _prelu(prelu, channels)
        )
        self.blocks = nn.Sequential(*(ResidualBlock(channels, prelu) for _ in range(num_blocks)))
        self.trunk_end = nn.Sequential(
            _conv(channels, channels, INNER_KERNEL, bias=False), nn.BatchNorm2d(channels)
        )
        shuffle_channels = channels * UPSAMPLE_FACTOR_PER_STEP**2
        self.upsample = nn.Sequential(
            *(
                nn.Sequential(
                    _conv(channels, shuffle_channels, INNER_KERNEL),
                    nn.PixelShuffle(UPSAMPLE_FACTOR_PER_STEP),
                    _prelu(prelu, channels),
                )
                for _ in range(round(math.log2(scale)))
            )
        )
        self.tail = _conv(channels, IMAGE_CHANNELS, OUTER_KERNEL)

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments, as plain values (to save in a checkpoint)."""
        return dict(self._config)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SRResNet:
        """Rebuild from :attr:`config`; unknown keys raise UserError, missing keys use defaults."""
        unknown = sorted(set(config) - set(_SRRESNET_KEYS))
        if unknown:
            raise UserError(
                f"unknown SRResNet setting(s) {unknown}; expected some of {list(_SRRESNET_KEYS)}"
            )
        return cls(**config)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """(N, 3, h, w) LR in [0, 1] -> (N, 3, scale*h, scale*w) SR in [-1, 1] space."""
        head = self.head(lr)
        trunk = self.trunk_end(self.blocks(head))
        if self.long_skip:
            trunk = trunk + head
        return self.tail(self.upsample(trunk))


def _check_srresnet_args(num_blocks: int, channels: int, prelu: str, scale: int) -> None:
    if prelu not in PRELU_CHOICES:
        raise UserError(f"generator prelu must be one of {list(PRELU_CHOICES)}, got {prelu!r}")
    if num_blocks < 0:
        raise UserError(f"generator num_blocks must be >= 0, got {num_blocks}")
    if channels < 1:
        raise UserError(f"generator channels must be >= 1, got {channels}")
    if scale < 2 or scale & (scale - 1):
        raise UserError(f"generator scale must be a power of 2 (2, 4, 8, ...), got {scale}")


# --- Discriminator ----------------------------------------------------------------------------

DISCRIMINATOR_CHANNELS = (64, 64, 128, 128, 256, 256, 512, 512)  # paper, Figure 4
DISCRIMINATOR_STRIDES = (1, 2, 1, 2, 1, 2, 1, 2)
DISCRIMINATOR_HIDDEN = 1024  # Dense(1024)
LEAKY_SLOPE = 0.2  # LeakyReLU(alpha = 0.2)


def conv_output_size(size: int, stride: int, kernel: int = INNER_KERNEL) -> int:
    """Spatial size after a 'same'-padded convolution: ceil(size / stride) for kernel 3."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


class Discriminator(nn.Module):
    """The SRGAN discriminator (paper, Figure 4), returning logits.

    Eight 3x3 convolutions (``channels``/``strides``), LeakyReLU(0.2) after each, BN after
    every conv except the first (convs followed by BN have no bias), then flatten,
    Dense(``dense``, 1024 in the paper), LeakyReLU(0.2), Dense(1). The paper ends with a
    sigmoid; here the output is the logit and the sigmoid lives in the loss
    (BCE-with-logits is the numerically stable equivalent of sigmoid + BCE).
    ``input_size`` (square crops, 96 in the paper) fixes the flattened size, so small demo
    crops work as well. Input: images in [-1, 1].
    """

    def __init__(
        self,
        input_size: int = 96,
        channels: Sequence[int] = DISCRIMINATOR_CHANNELS,
        strides: Sequence[int] = DISCRIMINATOR_STRIDES,
        dense: int = DISCRIMINATOR_HIDDEN,
    ) -> None:
        super().__init__()
        if len(channels) != len(strides) or not channels:
            raise UserError(
                "discriminator channels and strides must be non-empty and of equal length, got "
                f"{len(channels)} channels and {len(strides)} strides"
            )
        if input_size < 1:
            raise UserError(f"discriminator input_size must be >= 1, got {input_size}")
        self.input_size = input_size
        layers: list[nn.Module] = []
        in_ch, size = IMAGE_CHANNELS, input_size
        for index, (out_ch, stride) in enumerate(zip(channels, strides, strict=True)):
            first = index == 0
            layers.append(_conv(in_ch, out_ch, INNER_KERNEL, bias=first, stride=stride))
            if not first:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.LeakyReLU(LEAKY_SLOPE))
            in_ch, size = out_ch, conv_output_size(size, stride)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_ch * size * size, dense),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Linear(dense, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, input_size, input_size) in [-1, 1] -> (N, 1) logits."""
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(
                f"discriminator built for {self.input_size}x{self.input_size} inputs, "
                f"got {tuple(x.shape[-2:])}"
            )
        return self.classifier(self.features(x))


# --- VGG19 features ---------------------------------------------------------------------------

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


# --- Devices and generator checkpoints --------------------------------------------------------


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when available (else CPU); other names as torch spells them."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise UserError(f"unknown device {device!r} (auto, cpu, cuda, cuda:N)") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available here")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise UserError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device {device!r} requested but MPS is not available here")
    return resolved


def read_checkpoint(path: Path) -> dict[str, Any]:
    """torch.load a generator checkpoint safely (weights_only); UserError naming the file.

    A generator checkpoint (``final.pt`` or a training ``checkpoints/step_*.pt``) is a dict
    holding at least ``model`` (the SRResNet constructor arguments) and ``generator`` (its
    state dict); ``final.pt`` also has ``metadata``.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a torch file, or pickled code refused
        raise UserError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(data, dict) or not {"model", "generator"} <= set(data):
        raise UserError(
            f"{path} is not a generator checkpoint (expected a dict with 'model' and "
            "'generator'; train one with `srgan train`)"
        )
    return data


def generator_from_checkpoint(data: Mapping[str, Any], source: str | Path) -> SRResNet:
    """Rebuild the SRResNet described by a checkpoint dict and load its weights (CPU)."""
    if not isinstance(data["model"], dict):
        raise UserError(f"{source}: 'model' must be a dict of SRResNet settings")
    generator = SRResNet.from_config(data["model"])
    try:
        generator.load_state_dict(data["generator"], strict=True)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise UserError(
            f"{source}: generator weights do not match its model settings {data['model']}: {err}"
        ) from err
    return generator
