"""Loss values on known inputs: MSE, VGG, total variation, adversarial."""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srgan.core import paper
from srgan.core.config import load_config
from srgan.models.losses import (
    VGGLoss,
    discriminator_loss,
    generator_adversarial_loss,
    mse_loss,
    tv_loss,
)
from srgan.models.vgg import VGGFeatures

LOG2 = math.log(2)
PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


@pytest.fixture(scope="module")
def vgg22() -> VGGFeatures:
    torch.manual_seed(0)
    return VGGFeatures(layer="relu2_2", weights="random")


#: The paper's rescaling of the VGG feature maps, 1/12.75.
RESCALE = 1 / paper.VGG_DIVISOR


def test_params_yaml_holds_the_paper_loss_weights() -> None:
    loss = load_config(PARAMS).loss
    assert loss.adversarial_weight == paper.ADVERSARIAL_WEIGHT == 1e-3
    assert loss.tv_weight == paper.TV_WEIGHT == 2e-8
    assert loss.vgg_divisor == paper.VGG_DIVISOR == 12.75
    assert round(RESCALE**2, 5) == 0.00615  # the paper's "about 0.006"


def test_mse_of_constant_offset_is_exact() -> None:
    hr = (torch.arange(-8, 8, dtype=torch.float32) / 8).view(1, 1, 4, 4).expand(2, 3, 4, 4)
    assert mse_loss(hr + 0.25, hr).item() == 0.0625
    assert mse_loss(hr, hr).item() == 0.0


def test_losses_refuse_broadcasting(vgg22: VGGFeatures) -> None:
    with pytest.raises(ValueError, match="shape"):
        mse_loss(torch.zeros(2, 3, 8, 8), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="shape"):
        VGGLoss(vgg22, RESCALE)(torch.zeros(2, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_tv_of_known_tensor_is_exact() -> None:
    image = torch.tensor([[[[0.0, 1.0], [3.0, 7.0]]]])  # vertical 3 + 6, horizontal 1 + 4
    assert tv_loss(image).item() == 14.0
    batch = torch.cat([image, torch.zeros_like(image)])  # mean over the batch
    assert tv_loss(batch).item() == 7.0
    three_channels = image.expand(1, 3, 2, 2)  # summed over channels
    assert tv_loss(three_channels).item() == 42.0
    assert tv_loss(-2 * image).item() == 28.0  # absolute differences, homogeneous of degree 1


def test_tv_of_constant_image_is_zero_and_of_ramp_is_known() -> None:
    assert tv_loss(torch.full((2, 3, 5, 7), 0.3)).item() == 0.0
    ramp = torch.arange(6, dtype=torch.float32).view(1, 1, 1, 6).expand(1, 1, 4, 6)
    assert tv_loss(ramp).item() == 4 * 5  # 4 rows of 5 unit steps, no vertical change


def test_generator_adversarial_loss_values() -> None:
    assert generator_adversarial_loss(torch.zeros(4, 1)).item() == pytest.approx(LOG2, abs=1e-7)
    mixed = torch.tensor([[0.0], [50.0]])  # mean over the batch, not sum
    assert generator_adversarial_loss(mixed).item() == pytest.approx(LOG2 / 2, abs=1e-7)
    logits = torch.tensor([[-2.0], [1.5]])
    expected = (-math.log(1 / (1 + math.exp(2.0))) - math.log(1 / (1 + math.exp(-1.5)))) / 2
    assert generator_adversarial_loss(logits).item() == pytest.approx(expected, rel=1e-6)


def test_generator_loss_is_non_saturating() -> None:
    """-log D(G(x)): the gradient stays near -1 when D confidently rejects the fake."""
    logit = torch.tensor([[-30.0]], requires_grad=True)
    generator_adversarial_loss(logit).backward()
    assert logit.grad.item() == pytest.approx(-1.0, abs=1e-6)


def test_discriminator_loss_values() -> None:
    zeros = torch.zeros(3, 1)
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(2 * LOG2, abs=1e-6)
    real, fake = torch.tensor([[2.0]]), torch.tensor([[-1.0]])
    expected = math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-1.0))
    assert discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)
    # Perfect discrimination costs nothing.
    assert discriminator_loss(torch.full((2, 1), 40.0), torch.full((2, 1), -40.0)).item() < 1e-12


def test_vgg_loss_zero_on_identical_inputs_and_scales_by_rescale_squared(
    vgg22: VGGFeatures,
) -> None:
    torch.manual_seed(1)
    hr = torch.rand(2, 3, 24, 24) * 2 - 1
    sr = torch.rand(2, 3, 24, 24) * 2 - 1
    assert VGGLoss(vgg22, RESCALE)(hr, hr).item() == 0.0
    plain = F.mse_loss(vgg22(sr), vgg22(hr))
    torch.testing.assert_close(VGGLoss(vgg22, rescale=1.0)(sr, hr), plain)
    torch.testing.assert_close(VGGLoss(vgg22, RESCALE)(sr, hr), plain * RESCALE**2)


def test_vgg_loss_gradient_reaches_sr_only(vgg22: VGGFeatures) -> None:
    sr = (torch.rand(1, 3, 16, 16) * 2 - 1).requires_grad_(True)
    hr = (torch.rand(1, 3, 16, 16) * 2 - 1).requires_grad_(True)
    VGGLoss(vgg22, RESCALE)(sr, hr).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert hr.grad is None  # the target's features are computed without gradient
    assert all(p.grad is None for p in vgg22.parameters())


def test_vgg_loss_takes_any_feature_module() -> None:
    """With a linear 1x1 "feature" map the loss is known in closed form."""
    features = nn.Conv2d(3, 2, kernel_size=1, bias=False)
    with torch.no_grad():
        features.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]]).view(2, 3, 1, 1))
    hr = torch.zeros(1, 3, 4, 4)
    sr = hr + torch.tensor([0.5, 9.0, 0.25]).view(1, 3, 1, 1)  # green is not seen
    # feature differences: 0.5 and 2 * 0.25 everywhere -> feature MSE 0.25
    assert VGGLoss(features, rescale=2.0)(sr, hr).item() == 0.25 * 2.0**2
    assert VGGLoss(lambda x: x[:, :1], RESCALE)(sr, hr).item() == pytest.approx(
        0.25 * RESCALE**2, rel=1e-6
    )
