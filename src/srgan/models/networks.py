"""The networks: SRResNet (the SRGAN generator) and the SRGAN discriminator.

Value ranges (paper, Section 3.2): the generator takes LR images in [0, 1] and is trained
against HR images scaled to [-1, 1], so its output lives in [-1, 1] space. It has no final
activation (no tanh): the paper names none, and a plain 9x9 convolution lets the MSE loss act
on the raw output. Clamp to [-1, 1] only when converting to an image. The discriminator takes
images in that same [-1, 1] space. The frozen VGG19 of the perceptual loss is
:mod:`srgan.models.vgg`'s; reading and writing trained generators is
:mod:`srgan.models.checkpoints`'.

Imports: torch and the leaf ``srgan.core.errors``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from srgan.core.errors import UserError

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
        self, *, num_blocks: int, channels: int, prelu: str, long_skip: bool, scale: int
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
        """Rebuild from :attr:`config`; an unknown or missing key is a UserError."""
        unknown = sorted(set(config) - set(_SRRESNET_KEYS))
        missing = sorted(set(_SRRESNET_KEYS) - set(config))
        if unknown or missing:
            raise UserError(
                f"SRResNet settings {dict(config)}: unknown {unknown}, missing {missing}; "
                f"expected {list(_SRRESNET_KEYS)}"
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
        self, *, input_size: int, channels: Sequence[int], strides: Sequence[int], dense: int
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
