"""SRResNet, Discriminator and VGGFeatures: shapes, exact parameter counts, VGG weight loading."""

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from srgan import models
from srgan.errors import UserError
from srgan.fileio import sha256_file
from srgan.models import (
    Discriminator,
    SRResNet,
    VGGFeatures,
    check_vgg_weights,
    conv_output_size,
    count_parameters,
    resolve_device,
    vgg19_imagenet_cache_path,
)

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
    assert count_parameters(SRResNet(prelu="shared")) == SRRESNET_PARAMS_SHARED
    assert count_parameters(SRResNet(prelu="per_channel")) == SRRESNET_PARAMS_PER_CHANNEL
    assert SRRESNET_PARAMS_PER_CHANNEL - SRRESNET_PARAMS_SHARED == 19 * 63


@pytest.mark.parametrize(
    ("prelu", "per_block"),
    [("shared", BLOCK_PARAMS_SHARED), ("per_channel", BLOCK_PARAMS_PER_CHANNEL)],
)
def test_srresnet_parameters_grow_linearly_with_depth(prelu: str, per_block: int) -> None:
    full = SRRESNET_PARAMS_SHARED if prelu == "shared" else SRRESNET_PARAMS_PER_CHANNEL
    for blocks in (0, 3):
        got = count_parameters(SRResNet(num_blocks=blocks, prelu=prelu))
        assert got == full - (16 - blocks) * per_block


def test_srresnet_bias_only_where_no_batchnorm_follows() -> None:
    net = SRResNet(num_blocks=2)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    without_bias = [m for m in convs if m.bias is None]
    # 2 per block + the trunk end; head, 2 upsampling convs and tail keep their bias.
    assert len(without_bias) == 2 * 2 + 1
    assert len(convs) - len(without_bias) == 4
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == len(without_bias)


@pytest.mark.parametrize(("prelu", "slopes"), [("shared", 1), ("per_channel", 64)])
def test_srresnet_prelu_slopes(prelu: str, slopes: int) -> None:
    prelus = [m for m in SRResNet(num_blocks=2, prelu=prelu).modules() if isinstance(m, nn.PReLU)]
    assert len(prelus) == 1 + 2 + 2
    assert all(m.weight.numel() == slopes for m in prelus)
    assert all(torch.all(m.weight == 0.25) for m in prelus)


@pytest.mark.parametrize(("size", "expected"), [((24, 24), (96, 96)), ((17, 23), (68, 92))])
def test_srresnet_upscales_by_four(size: tuple[int, int], expected: tuple[int, int]) -> None:
    out = SRResNet()(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, *expected)


@pytest.mark.parametrize("scale", [2, 8])
def test_srresnet_other_scales(scale: int) -> None:
    net = SRResNet(num_blocks=1, scale=scale)
    upsampling_convs = [m for m in net.upsample.modules() if isinstance(m, nn.Conv2d)]
    assert len(upsampling_convs) == {2: 1, 8: 3}[scale]
    assert net(torch.rand(1, 3, 5, 7)).shape == (1, 3, 5 * scale, 7 * scale)


def test_long_skip_off_keeps_parameters_and_changes_output() -> None:
    with_skip = SRResNet(num_blocks=2).eval()
    without = SRResNet(num_blocks=2, long_skip=False).eval()
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
    net = SRResNet(num_blocks=3, channels=16, prelu="shared", long_skip=False, scale=2)
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
        SRResNet(**kwargs)


def test_srresnet_from_config_rejects_unknown_keys() -> None:
    with pytest.raises(UserError, match="blocks"):
        SRResNet.from_config({"blocks": 16})


# --- Discriminator ----------------------------------------------------------------------------


def test_discriminator_parameter_count_and_logit_shape() -> None:
    disc = Discriminator()
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
    disc = Discriminator(input_size=size)
    assert disc.classifier[1].in_features == 512 * final * final
    assert disc.features(torch.rand(2, 3, size, size)).shape == (2, 512, final, final)
    assert disc(torch.rand(2, 3, size, size)).shape == (2, 1)


def test_conv_output_size_is_ceil_of_size_over_stride() -> None:
    assert [conv_output_size(n, 2) for n in (96, 48, 17, 9, 1)] == [48, 24, 9, 5, 1]
    assert conv_output_size(17, 1) == 17


def test_discriminator_rejects_wrong_input_size_and_bad_layout() -> None:
    with pytest.raises(ValueError, match="96x96"):
        Discriminator()(torch.rand(1, 3, 64, 64))
    with pytest.raises(UserError, match="strides"):
        Discriminator(channels=(64, 64), strides=(1,))


def test_discriminator_custom_layout() -> None:
    disc = Discriminator(input_size=16, channels=(8, 16), strides=(2, 2))
    # conv 3*8*9 + 8; conv 8*16*9 (no bias) + BN 32; Dense 16*4*4*1024 + 1024; Dense 1025.
    assert count_parameters(disc) == 224 + 1152 + 32 + 262_144 + 1024 + 1025
    assert disc(torch.rand(3, 3, 16, 16)).shape == (3, 1)


# --- VGGFeatures ------------------------------------------------------------------------------


def _vgg_layer_name(features: nn.Sequential, index: int) -> str:
    """'relu{block}_{conv}' of features[index], counting pools and convs like the paper."""
    pools = sum(isinstance(m, nn.MaxPool2d) for m in features[:index])
    last_pool = max((i for i in range(index) if isinstance(features[i], nn.MaxPool2d)), default=-1)
    convs = sum(isinstance(m, nn.Conv2d) for m in features[last_pool + 1 : index])
    assert isinstance(features[index], nn.ReLU)
    return f"relu{pools + 1}_{convs}"


def test_vgg_layer_cuts_match_torchvision_layout() -> None:
    with torch.device("meta"):
        features = torchvision.models.vgg19(weights=None).features
    for name, cut in models.VGG_LAYER_CUTS.items():
        assert _vgg_layer_name(features, cut - 1) == name
    assert models.VGG_LAYER_CUTS == {"relu2_2": 9, "relu5_4": 36}


@pytest.mark.parametrize(("layer", "shape"), [("relu2_2", (128, 48, 48)), ("relu5_4", (512, 6, 6))])
def test_vgg_feature_shapes(layer: str, shape: tuple[int, int, int]) -> None:
    vgg = VGGFeatures(layer=layer, weights="random")
    out = vgg(torch.rand(2, 3, 96, 96) * 2 - 1)
    assert out.shape == (2, *shape)
    assert out.min() >= 0  # ends on a ReLU
    expected_params = {"relu2_2": 260_160, "relu5_4": 20_024_384}[layer]
    assert count_parameters(vgg) == expected_params


def test_vgg_is_frozen_and_stays_in_eval_mode() -> None:
    vgg = VGGFeatures(layer="relu2_2", weights="random")
    parent = nn.ModuleDict({"vgg": vgg, "other": nn.BatchNorm2d(3)})
    vgg.train()
    parent.train()
    assert parent["other"].training
    assert not any(m.training for m in vgg.modules())
    assert count_parameters(vgg, trainable_only=True) == 0
    x = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    vgg(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())


def test_vgg_normalization() -> None:
    imagenet = VGGFeatures(layer="relu2_2", weights="random", normalization="imagenet")
    plain = VGGFeatures(layer="relu2_2", weights="random", normalization="none")
    plain.load_state_dict(imagenet.state_dict())
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(imagenet(x), imagenet.features(((x + 1) / 2 - mean) / std))
    assert torch.equal(plain(x), plain.features(x))
    assert "mean" not in imagenet.state_dict()  # normalisation constants are not weights


def test_vgg_rejects_bad_layer_and_normalization() -> None:
    with pytest.raises(UserError, match="relu3_3"):
        VGGFeatures(layer="relu3_3", weights="random")
    with pytest.raises(UserError, match="caffe"):
        VGGFeatures(layer="relu2_2", weights="random", normalization="caffe")


def test_imagenet_constants_match_torchvision() -> None:
    url = torchvision.models.VGG19_Weights.IMAGENET1K_V1.url
    assert url == models.VGG19_IMAGENET_URL
    assert url.rsplit("/", 1)[1] == models.VGG19_IMAGENET_FILENAME
    assert models.VGG19_IMAGENET_SHA256.startswith("dcbb9e9d")


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty TORCH_HOME; returns the path where the ImageNet VGG19 file is expected."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = vgg19_imagenet_cache_path()
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    return path


def test_imagenet_weights_missing_and_no_network(
    empty_torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def offline(url: str, dst: str, **kwargs: object) -> None:
        calls.append((url, dst, kwargs.get("hash_prefix")))
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    for attempt in (lambda: check_vgg_weights("imagenet"), lambda: VGGFeatures(weights="imagenet")):
        with pytest.raises(UserError) as info:
            attempt()
        message = str(info.value)
        assert str(empty_torch_home) in message
        assert models.VGG19_IMAGENET_SHA256 in message
        assert "574673361 bytes" in message
        assert "vgg.weights" in message
        assert "no network" in message
    url, dst, hash_prefix = calls[0]
    assert (url, dst) == (models.VGG19_IMAGENET_URL, str(empty_torch_home))
    assert hash_prefix == models.VGG19_IMAGENET_SHA256


def test_imagenet_weights_partial_file(empty_torch_home: Path) -> None:
    empty_torch_home.parent.mkdir(parents=True)
    empty_torch_home.write_bytes(b"truncated")
    with pytest.raises(UserError, match="9 bytes"):
        check_vgg_weights("imagenet")


def test_imagenet_weights_through_the_cache(
    empty_torch_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole "imagenet" path, with a small relu2_2 state dict standing in for the file."""
    source = VGGFeatures(layer="relu2_2", weights="random")
    fake = tmp_path / "fake.pth"
    torch.save(source.state_dict(), fake)
    monkeypatch.setattr(models, "VGG19_IMAGENET_SIZE", fake.stat().st_size)
    monkeypatch.setattr(models, "VGG19_IMAGENET_SHA256", sha256_file(fake))
    monkeypatch.setattr(
        torch.hub,
        "download_url_to_file",
        lambda url, dst, **_: Path(dst).write_bytes(fake.read_bytes()),
    )
    check_vgg_weights("imagenet", layer="relu2_2", verify_hash=True)
    assert empty_torch_home.is_file()
    loaded = VGGFeatures(layer="relu2_2", weights="imagenet")
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    monkeypatch.setattr(models, "VGG19_IMAGENET_SHA256", "0" * 64)
    check_vgg_weights("imagenet")  # cheap check: size only
    with pytest.raises(UserError, match="wrong sha256"):
        check_vgg_weights("imagenet", verify_hash=True)


@pytest.mark.parametrize("zip_format", [True, False])
def test_vgg_from_local_state_dict(tmp_path: Path, zip_format: bool) -> None:
    """A state dict with only the features a layer needs (relu2_2: ~1 MB) is enough;
    extra keys (a full vgg19's classifier) are ignored. Both torch.save formats load."""
    source = VGGFeatures(layer="relu2_2", weights="random")
    state = dict(source.state_dict())
    assert sorted(state) == sorted(
        f"features.{i}.{p}" for i in (0, 2, 5, 7) for p in ("weight", "bias")
    )
    state["classifier.0.bias"] = torch.zeros(4)
    path = tmp_path / "vgg.pth"
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    check_vgg_weights(str(path), layer="relu2_2")
    loaded = VGGFeatures(layer="relu2_2", weights=str(path))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert torch.equal(loaded(x), source(x))
    with pytest.raises(UserError, match=r"features\.10\.weight"):
        check_vgg_weights(str(path), layer="relu5_4")


def test_vgg_local_weights_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(UserError, match="no such file"):
        VGGFeatures(layer="relu2_2", weights=str(missing))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="cannot read"):
        check_vgg_weights(str(garbage), layer="relu2_2")
    tensor_file = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor_file)
    with pytest.raises(UserError, match="not a state dict"):
        check_vgg_weights(str(tensor_file), layer="relu2_2")
    state = dict(VGGFeatures(layer="relu2_2", weights="random").state_dict())
    state["features.7.weight"] = torch.zeros(1)
    bad_shape = tmp_path / "bad_shape.pth"
    torch.save(state, bad_shape)
    with pytest.raises(UserError, match=r"features\.7\.weight has shape \(1,\)"):
        VGGFeatures(layer="relu2_2", weights=str(bad_shape))
    no_prefix = tmp_path / "no_prefix.pth"
    torch.save({k.removeprefix("features."): v for k, v in state.items()}, no_prefix)
    with pytest.raises(UserError, match="lacks 8 key"):
        check_vgg_weights(str(no_prefix), layer="relu2_2")


def test_check_vgg_weights_random_needs_nothing(
    empty_torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    downloads = []
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: downloads.append(a))
    check_vgg_weights("random")  # no cached file: must neither raise nor download
    assert downloads == [] and not empty_torch_home.exists()
    with pytest.raises(UserError, match="relu9_9"):
        check_vgg_weights("random", layer="relu9_9")


def test_discriminator_hidden_width_is_configurable():
    small = Discriminator(input_size=16, channels=(8, 16), strides=(2, 2), dense=10)
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
