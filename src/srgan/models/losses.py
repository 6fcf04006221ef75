"""SRGAN's losses (paper, Section 2.2): content (MSE / VGG), total variation, adversarial.

All images are in the HR's [-1, 1] space. Every loss is a mean over the batch, so the loss
weights below do not depend on the batch size. The perceptual loss of the paper is
``content + loss.adversarial_weight * generator_adversarial_loss`` (plus ``loss.tv_weight *
tv_loss`` for SRResNet-VGG22); combining the terms is the training step's job, with the weights
of the configuration (params.yaml holds the paper's, ``srgan.core.paper``; a test checks it).

``content_loss(kind, ...)`` builds the content loss of a variant: pixel MSE, or the VGG loss
on the frozen VGG19 features phi_{2,2} (VGG22) or phi_{5,4} (VGG54) of :mod:`srgan.models.vgg`
(``CONTENT_LAYERS`` maps the variant's content loss to the ReLU layer).

Imports: torch, ``srgan.models.vgg`` (the frozen feature network) and the leaves ``errors``,
``variants`` (the content-loss names).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from srgan.core.errors import UserError
from srgan.core.variants import CONTENT_LOSSES, MSE, VGG22, VGG54
from srgan.models.vgg import VGGFeatures, check_vgg_weights

#: The VGG19 layer of each VGG content loss: phi_{2,2} = relu2_2, phi_{5,4} = relu5_4.
CONTENT_LAYERS = {VGG22: "relu2_2", VGG54: "relu5_4"}


def _check_same_shape(sr: torch.Tensor, hr: torch.Tensor) -> None:
    """Refuse silent broadcasting between an output and its target."""
    if sr.shape != hr.shape:
        raise ValueError(f"loss inputs differ in shape: {tuple(sr.shape)} vs {tuple(hr.shape)}")


def mse_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Pixel-wise MSE (paper, eq. 4): mean of (sr - hr)^2 over all elements."""
    _check_same_shape(sr, hr)
    return F.mse_loss(sr, hr)


class MSELoss(nn.Module):
    """:func:`mse_loss` as a module, so every content loss is called as ``loss(sr, hr)``."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return mse_loss(sr, hr)


class VGGLoss(nn.Module):
    """VGG content loss (paper, eq. 5): MSE between rescaled VGG feature maps.

    Both feature maps are multiplied by ``rescale`` (1 / ``loss.vgg_divisor``: 1/12.75) before
    the MSE, which equals the
    plain feature MSE times rescale^2 (about 0.00615, the paper's "about 0.006"). The mean runs
    over all feature elements (channels included) and the batch. The HR features are the
    target and are computed without gradient. ``features`` is the frozen feature extractor
    (``srgan.models.vgg.VGGFeatures`` cut at phi_{i,j}); any module mapping images to feature
    maps works.
    """

    def __init__(self, features: Callable[[torch.Tensor], torch.Tensor], rescale: float) -> None:
        super().__init__()
        self.features = features
        self.rescale = rescale

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        _check_same_shape(sr, hr)
        with torch.no_grad():
            target = self.features(hr) * self.rescale
        return F.mse_loss(self.features(sr) * self.rescale, target)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation, as ``tf.image.total_variation``, averaged over the batch.

    For each image: sum over channels and pixels of |x[i+1, j] - x[i, j]| + |x[i, j+1] - x[i, j]|
    (absolute differences of vertical and horizontal neighbours, summed, not averaged); the
    result is the mean of that per-image sum over the batch. Summing over pixels is what makes
    the paper's tiny weight 2e-8 a small but non-zero regulariser: a 96x96 RGB natural image
    in [-1, 1] has a TV in the thousands.
    """
    vertical = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).sum(dim=1)
    horizontal = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).sum(dim=1)
    return (vertical + horizontal).mean()


def generator_adversarial_loss(d_fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -log D(G(x)) (paper, eq. 6), as BCE-with-logits
    against ones. The paper sums over the batch; this takes the mean (the usual practice that
    the 1e-3 weight goes with, and batch-size independent)."""
    return F.binary_cross_entropy_with_logits(d_fake_logits, torch.ones_like(d_fake_logits))


def discriminator_loss(d_real_logits: torch.Tensor, d_fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(HR) - log(1 - D(G(LR))), each term a batch mean of BCE-with-logits, summed."""
    real = F.binary_cross_entropy_with_logits(d_real_logits, torch.ones_like(d_real_logits))
    fake = F.binary_cross_entropy_with_logits(d_fake_logits, torch.zeros_like(d_fake_logits))
    return real + fake


def content_loss(
    kind: str, *, vgg_weights: str, vgg_normalization: str, vgg_divisor: float
) -> nn.Module:
    """The content loss named ``kind``: "mse", "vgg22" (relu2_2) or "vgg54" (relu5_4).

    Returns a module called as ``loss(sr, hr)``. The ``vgg_*`` arguments (the configuration's
    ``vgg`` and ``loss.vgg_divisor``) only matter for the VGG kinds (see
    :class:`srgan.models.vgg.VGGFeatures` and :class:`VGGLoss`, which multiplies the feature
    maps by 1 / ``vgg_divisor``).
    """
    if kind == MSE:
        return MSELoss()
    if kind in CONTENT_LAYERS:
        features = VGGFeatures(
            layer=CONTENT_LAYERS[kind], weights=vgg_weights, normalization=vgg_normalization
        )
        return VGGLoss(features, 1 / vgg_divisor)
    raise UserError(f"content loss must be one of {list(CONTENT_LOSSES)}, got {kind!r}")


def check_content_loss_weights(kind: str, vgg_weights: str) -> None:
    """Fail early (UserError naming the file to provide) when a VGG content loss cannot get
    its VGG19 weights; nothing to check for MSE."""
    if kind in CONTENT_LAYERS:
        check_vgg_weights(vgg_weights, layer=CONTENT_LAYERS[kind])
