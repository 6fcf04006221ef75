"""VGGFeatures: the layer cuts, frozen features, normalisation, and loading the VGG19 weights."""

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from srgan.core.errors import UserError
from srgan.core.fileio import sha256_file
from srgan.models import vgg as srgan_vgg
from srgan.models.networks import count_parameters
from srgan.models.vgg import VGGFeatures, check_vgg_weights, vgg19_imagenet_cache_path


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


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
    for name, cut in srgan_vgg.VGG_LAYER_CUTS.items():
        assert _vgg_layer_name(features, cut - 1) == name
    assert srgan_vgg.VGG_LAYER_CUTS == {"relu2_2": 9, "relu5_4": 36}


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
    assert url == srgan_vgg.VGG19_IMAGENET_URL
    assert url.rsplit("/", 1)[1] == srgan_vgg.VGG19_IMAGENET_FILENAME
    assert srgan_vgg.VGG19_IMAGENET_SHA256.startswith("dcbb9e9d")


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
        assert srgan_vgg.VGG19_IMAGENET_SHA256 in message
        assert "574673361 bytes" in message
        assert "vgg.weights" in message
        assert "no network" in message
    url, dst, hash_prefix = calls[0]
    assert (url, dst) == (srgan_vgg.VGG19_IMAGENET_URL, str(empty_torch_home))
    assert hash_prefix == srgan_vgg.VGG19_IMAGENET_SHA256


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
    monkeypatch.setattr(srgan_vgg, "VGG19_IMAGENET_SIZE", fake.stat().st_size)
    monkeypatch.setattr(srgan_vgg, "VGG19_IMAGENET_SHA256", sha256_file(fake))
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
    monkeypatch.setattr(srgan_vgg, "VGG19_IMAGENET_SHA256", "0" * 64)
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
