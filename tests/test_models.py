"""SRResNet and Discriminator: shapes, exact parameter counts; resolving the device."""

import pytest
import torch
from conftest import paper_discriminator, paper_generator
from torch import nn

from srgan.core.errors import UserError
from srgan.core.runtime import resolve_device
from srgan.models.networks import SRResNet, conv_output_size, count_parameters

# Hand count, B = 16, 64 channels, convs followed by BN without bias:
# head 3*64*81 + 64 = 15,616; block 2*(64*64*9) + 2*128 BN = 73,984 (+ PReLU slopes);
# trunk end 36,864 + 128; two upsampling convs 2*(64*256*9 + 256) = 295,424;
# tail 64*3*81 + 3 = 15,555.
SRRESNET_PARAMS_SHARED = 1_547_350  # 19 PReLU slopes (1 head + 16 blocks + 2 upsampling)
SRRESNET_PARAMS_PER_CHANNEL = 1_548_547  # 19 PReLUs x 64 slopes: 19 * 63 = 1,197 more
BLOCK_PARAMS_SHARED = 73_985
BLOCK_PARAMS_PER_CHANNEL = 74_048
# Convs 4,687,232 (first with bias, the rest bias-free + BN) + Dense 512*6*6*1024 + 1024 + 1025.
DISCRIMINATOR_PARAMS_96 = 23_563_649


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# --- SRResNet ---------------------------------------------------------------------------------


def test_srresnet_parameter_counts_are_exact() -> None:
    assert count_parameters(paper_generator(prelu="shared")) == SRRESNET_PARAMS_SHARED
    assert count_parameters(paper_generator(prelu="per_channel")) == SRRESNET_PARAMS_PER_CHANNEL
    assert SRRESNET_PARAMS_PER_CHANNEL - SRRESNET_PARAMS_SHARED == 19 * 63


@pytest.mark.parametrize(
    ("prelu", "per_block"),
    [("shared", BLOCK_PARAMS_SHARED), ("per_channel", BLOCK_PARAMS_PER_CHANNEL)],
)
def test_srresnet_parameters_grow_linearly_with_depth(prelu: str, per_block: int) -> None:
    full = SRRESNET_PARAMS_SHARED if prelu == "shared" else SRRESNET_PARAMS_PER_CHANNEL
    for blocks in (0, 3):
        got = count_parameters(paper_generator(num_blocks=blocks, prelu=prelu))
        assert got == full - (16 - blocks) * per_block


def test_srresnet_bias_only_where_no_batchnorm_follows() -> None:
    net = paper_generator(num_blocks=2)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    without_bias = [m for m in convs if m.bias is None]
    # 2 per block + the trunk end; head, 2 upsampling convs and tail keep their bias.
    assert len(without_bias) == 2 * 2 + 1
    assert len(convs) - len(without_bias) == 4
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == len(without_bias)


@pytest.mark.parametrize(("prelu", "slopes"), [("shared", 1), ("per_channel", 64)])
def test_srresnet_prelu_slopes(prelu: str, slopes: int) -> None:
    prelus = [
        m for m in paper_generator(num_blocks=2, prelu=prelu).modules() if isinstance(m, nn.PReLU)
    ]
    assert len(prelus) == 1 + 2 + 2
    assert all(m.weight.numel() == slopes for m in prelus)
    assert all(torch.all(m.weight == 0.25) for m in prelus)


@pytest.mark.parametrize(("size", "expected"), [((24, 24), (96, 96)), ((17, 23), (68, 92))])
def test_srresnet_upscales_by_four(size: tuple[int, int], expected: tuple[int, int]) -> None:
    out = paper_generator()(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, *expected)


@pytest.mark.parametrize("scale", [2, 8])
def test_srresnet_other_scales(scale: int) -> None:
    net = paper_generator(num_blocks=1, scale=scale)
    upsampling_convs = [m for m in net.upsample.modules() if isinstance(m, nn.Conv2d)]
    assert len(upsampling_convs) == {2: 1, 8: 3}[scale]
    assert net(torch.rand(1, 3, 5, 7)).shape == (1, 3, 5 * scale, 7 * scale)


def test_long_skip_off_keeps_parameters_and_changes_output() -> None:
    with_skip = paper_generator(num_blocks=2).eval()
    without = paper_generator(num_blocks=2, long_skip=False).eval()
    without.load_state_dict(with_skip.state_dict(), strict=True)
    assert count_parameters(with_skip) == count_parameters(without)
    lr = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        head = with_skip.head(lr)
        trunk = with_skip.trunk_end(with_skip.blocks(head))
        assert torch.equal(with_skip(lr), with_skip.tail(with_skip.upsample(trunk + head)))
        assert torch.equal(without(lr), with_skip.tail(with_skip.upsample(trunk)))
        assert not torch.allclose(with_skip(lr), without(lr))


def test_srresnet_config_round_trip() -> None:
    net = paper_generator(num_blocks=3, channels=16, prelu="shared", long_skip=False, scale=2)
    config = net.config
    assert config == {
        "num_blocks": 3,
        "channels": 16,
        "prelu": "shared",
        "long_skip": False,
        "scale": 2,
    }
    rebuilt = SRResNet.from_config(config)
    rebuilt.load_state_dict(net.state_dict(), strict=True)
    lr = torch.rand(1, 3, 8, 8)
    assert torch.equal(net.eval()(lr), rebuilt.eval()(lr))
    config["num_blocks"] = 99  # .config hands out a copy
    assert net.config["num_blocks"] == 3


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"prelu": "channel"}, "prelu"),
        ({"scale": 3}, "scale"),
        ({"num_blocks": -1}, "num_blocks"),
        ({"channels": 0}, "channels"),
    ],
)
def test_srresnet_rejects_bad_settings(kwargs: dict, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        paper_generator(**kwargs)


def test_srresnet_from_config_rejects_missing_keys() -> None:
    settings = paper_generator(num_blocks=1).config
    del settings["long_skip"]
    with pytest.raises(UserError, match=r"missing \['long_skip'\]"):
        SRResNet.from_config(settings)


def test_srresnet_from_config_rejects_unknown_keys() -> None:
    with pytest.raises(UserError, match="blocks"):
        SRResNet.from_config({"blocks": 16})


# --- Discriminator ----------------------------------------------------------------------------


def test_discriminator_parameter_count_and_logit_shape() -> None:
    disc = paper_discriminator()
    assert count_parameters(disc) == DISCRIMINATOR_PARAMS_96
    logits = disc(torch.rand(4, 3, 96, 96) * 2 - 1)
    assert logits.shape == (4, 1)
    convs = [m for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in disc.modules()) == 7
    assert all(m.negative_slope == 0.2 for m in disc.modules() if isinstance(m, nn.LeakyReLU))


@pytest.mark.parametrize(("size", "final"), [(96, 6), (32, 2), (20, 2), (17, 2)])
def test_discriminator_flatten_size_follows_input_size(size: int, final: int) -> None:
    disc = paper_discriminator(input_size=size)
    assert disc.classifier[1].in_features == 512 * final * final
    assert disc.features(torch.rand(2, 3, size, size)).shape == (2, 512, final, final)
    assert disc(torch.rand(2, 3, size, size)).shape == (2, 1)


def test_conv_output_size_is_ceil_of_size_over_stride() -> None:
    assert [conv_output_size(n, 2) for n in (96, 48, 17, 9, 1)] == [48, 24, 9, 5, 1]
    assert conv_output_size(17, 1) == 17


def test_discriminator_rejects_wrong_input_size_and_bad_layout() -> None:
    with pytest.raises(ValueError, match="96x96"):
        paper_discriminator()(torch.rand(1, 3, 64, 64))
    with pytest.raises(UserError, match="strides"):
        paper_discriminator(channels=(64, 64), strides=(1,))


def test_discriminator_custom_layout() -> None:
    disc = paper_discriminator(input_size=16, channels=(8, 16), strides=(2, 2))
    # conv 3*8*9 + 8; conv 8*16*9 (no bias) + BN 32; Dense 16*4*4*1024 + 1024; Dense 1025.
    assert count_parameters(disc) == 224 + 1152 + 32 + 262_144 + 1024 + 1025
    assert disc(torch.rand(3, 3, 16, 16)).shape == (3, 1)


def test_discriminator_hidden_width_is_configurable():
    small = paper_discriminator(input_size=16, channels=(8, 16), strides=(2, 2), dense=10)
    # conv1 3*8*9+8, conv2 8*16*9 + BN 2*16, flatten 16*4*4 -> dense 10 (+10), dense 1 (+1)
    expected = (3 * 8 * 9 + 8) + (8 * 16 * 9 + 2 * 16) + (16 * 4 * 4 * 10 + 10) + (10 + 1)
    assert sum(p.numel() for p in small.parameters()) == expected
    assert small(torch.rand(2, 3, 16, 16)).shape == (2, 1)


# --- devices ----------------------------------------------------------------------------------


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == torch.device(expected)
    with pytest.raises(UserError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(UserError, match="cuda:99"):
        resolve_device("cuda:99")
