"""srgan.metrics.perceptual: LPIPS (torchmetrics) and NIQE (pyiqa) with stand-in or cached weights.

No test downloads anything: the stand-in weights are made here (seeded), the "cached" files
are written into a temporary torch.hub folder, and the downloader is replaced by a failure.
The published reference values (pyiqa's calibration of LPIPS and NIQE on images that ship
inside pyiqa's wheel) need the real weight files: that test runs only where they are cached.
"""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data as skimage_data

from srgan.cli.main import main
from srgan.core import comparability, variants
from srgan.core.config import PerceptualConfig, load_config
from srgan.core.errors import UserError
from srgan.core.paper import BORDER, SCALE
from srgan.evaluation.protocol import baseline_upscaler, evaluate_dataset
from srgan.metrics import perceptual
from srgan.report import tables

REPO = Path(__file__).resolve().parents[1]
STANDIN = PerceptualConfig(enabled=True, lpips=("alex", "vgg"), niqe=True, weights="standin")
PRETRAINED = replace(STANDIN, weights="pretrained")
#: Gaussian blur sigmas of the graded distortion series (mild to strong).
BLURS = (0.5, 1.0, 2.0, 4.0)


@pytest.fixture(scope="module")
def scorer() -> perceptual.PerceptualScorer:
    return perceptual.PerceptualScorer(STANDIN)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photograph (scikit-image's bundled astronaut), 200 x 200 pixels."""
    return skimage_data.astronaut()[40:240, 150:350]


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    sigmas = (sigma, sigma, 0)[: img.ndim]  # no blur across colour channels
    blurred = gaussian_filter(img.astype(np.float64), sigma=sigmas)
    return np.clip(np.round(blurred), 0, 255).astype(np.uint8)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch) -> Path:
    """An empty torch.hub folder (through TORCH_HOME: ``torch.hub.set_dir`` would outlive the
    test), and a downloader that fails as offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert Path(torch.hub.get_dir()) == tmp_path / "torch" / "hub"

    def offline(file: perceptual.WeightFile) -> None:
        raise OSError(f"offline: {file.url}")

    monkeypatch.setattr(perceptual, "_download", offline)
    return tmp_path / "torch" / "hub"


# --- values ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_image_against_itself_scores_zero(scorer, photo) -> None:
    scores = scorer.score(photo, photo.copy(), border=BORDER)
    assert scores["lpips"] == 0.0 and scores["lpips_vgg"] == 0.0
    assert np.isfinite(scores["niqe"])
    assert list(scores) == list(perceptual.metric_keys(STANDIN)) == ["lpips", "lpips_vgg", "niqe"]


@pytest.mark.slow
def test_lpips_orders_a_graded_blur_series(scorer, photo) -> None:
    series = [scorer.score(_blur(photo, sigma), photo, border=BORDER) for sigma in BLURS]
    for key in ("lpips", "lpips_vgg"):
        values = [s[key] for s in series]
        assert values == sorted(values) and len(set(values)) == len(values), (key, values)
        assert values[0] > 0


@pytest.mark.slow
def test_gray_images_and_planes_smaller_than_a_niqe_block(scorer, photo) -> None:
    gray = photo[..., 1]
    scores = scorer.score(_blur(gray, 1.0), gray, border=BORDER)
    assert scores["lpips"] > 0 and np.isfinite(scores["niqe"])
    small = photo[: perceptual.NIQE_BLOCK + 2 * BORDER - 1]  # one pixel short of a block
    assert np.isnan(scorer.score(small, small, border=BORDER)["niqe"])


@pytest.mark.slow
def test_standins_are_deterministic_and_leave_the_rng_alone(scorer, photo) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    again = perceptual.PerceptualScorer(replace(STANDIN, niqe=False))
    assert torch.equal(torch.rand(3), expected)
    blurred = _blur(photo, 2.0)
    assert (
        again.score(blurred, photo, BORDER)["lpips"]
        == scorer.score(blurred, photo, BORDER)["lpips"]
    )


def test_keys_follow_the_settings_and_the_tables_know_them() -> None:
    assert perceptual.metric_keys(replace(STANDIN, enabled=False)) == ()
    assert perceptual.metric_keys(replace(STANDIN, lpips=("vgg",), niqe=False)) == ("lpips_vgg",)
    assert perceptual.metric_keys(STANDIN) == tables.PERCEPTUAL_KEYS
    with pytest.raises(ValueError, match="enabled"):
        perceptual.PerceptualScorer(replace(STANDIN, enabled=False))


# --- weights ---------------------------------------------------------------------------------


def test_missing_weights_are_named_one_line_each(hub: Path) -> None:
    with pytest.raises(UserError) as caught:
        perceptual.check_weights(PRETRAINED)
    header, *lines = str(caught.value).splitlines()
    assert "3 weight file(s)" in header and "offline" in header
    assert "evaluate.perceptual.enabled=false" in header
    assert len(lines) == 3
    alex, vgg, niqe = lines
    assert alex.strip().startswith("alexnet-owt-7be5be79.pth (LPIPS-alex backbone")
    assert "233.087 MB per torchvision, sha256 starts 7be5be79" in alex
    assert alex.endswith(f"put it in {hub}/checkpoints/")
    assert vgg.strip().startswith("vgg16-397923af.pth") and "sha256 starts 397923af" in vgg
    assert niqe.strip().startswith("niqe_modelparameters.mat (NIQE pristine model")
    assert niqe.endswith(f"put it in {hub}/pyiqa/")
    perceptual.check_weights(replace(PRETRAINED, enabled=False))  # nothing needed
    perceptual.check_weights(STANDIN)


def test_the_cache_folders_are_the_libraries(hub: Path) -> None:
    from pyiqa.utils import download_util
    from torchvision.models import AlexNet_Weights

    files = perceptual.weight_files(PRETRAINED)
    assert files[0].url == AlexNet_Weights.IMAGENET1K_V1.url
    # pyiqa fixes its folder when imported: the same folder name under torch.hub's directory
    assert Path(download_util.DEFAULT_CACHE_DIR).name == perceptual.PYIQA_CACHE
    assert files[2].folder == hub / perceptual.PYIQA_CACHE


@pytest.mark.slow
def test_cached_files_load_the_libraries_way(hub: Path, photo) -> None:
    """Stand-in weights put where the real ones go: the pretrained path (torchmetrics' metric
    class, torchvision's cache; pyiqa's NIQE from its cache) gives the stand-in's values."""
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(perceptual.STANDIN_SEED)  # the backbone the stand-in LPIPS draws
        alexnet = torchvision.models.alexnet(weights=None)
    settings = replace(PRETRAINED, lpips=("alex",))
    (alex_file, niqe_file) = perceptual.weight_files(settings)
    alex_file.folder.mkdir(parents=True)
    torch.save(alexnet.state_dict(), alex_file.path)
    niqe_file.folder.mkdir(parents=True)
    zero, identity = np.zeros((1, perceptual.NIQE_FEATURES)), np.eye(perceptual.NIQE_FEATURES)
    scipy.io.savemat(niqe_file.path, {"mu_prisparam": zero, "cov_prisparam": identity})
    perceptual.check_weights(settings)  # found: no download attempted
    cached = perceptual.PerceptualScorer(settings)
    standin = perceptual.PerceptualScorer(replace(settings, weights="standin"))
    blurred = _blur(photo, 2.0)
    assert cached.score(blurred, photo, BORDER) == standin.score(blurred, photo, BORDER)


#: pyiqa's published calibration (ResultsCalibra/calibration_summary.csv, "(ours)" rows: pyiqa
#: against the official code) on TID2013 images that ship inside pyiqa's wheel.
CALIBRATION = {
    "lpips": [0.7237, 0.2572, 0.0508, 0.0521, 0.4253],
    "niqe": [15.6538, 3.6549, 3.2342, 3.1921, 9.0722],
}
CALIBRATION_IMAGES = ("I03", "I04", "I06", "I08", "I19")


def test_published_reference_values() -> None:
    """Runs only where the real files are cached (they cannot be downloaded here)."""
    import pyiqa

    settings = replace(PRETRAINED, lpips=("alex",))
    missing = [f.name for f in perceptual.weight_files(settings) if not f.path.is_file()]
    if missing:
        pytest.skip(f"needs the real weight files in the caches: {', '.join(missing)}")
    folder = Path(pyiqa.__file__).resolve().parents[1] / "ResultsCalibra"
    scorer = perceptual.PerceptualScorer(settings)
    from pyiqa.archs.niqe_arch import NIQE

    niqe = NIQE(pretrained_model_path=str(perceptual.weight_files(settings)[1].path))
    for i, name in enumerate(CALIBRATION_IMAGES):
        dist = np.asarray(Image.open(folder / "dist_dir" / f"{name}.bmp").convert("RGB"))
        ref = np.asarray(Image.open(folder / "ref_dir" / f"{name}.bmp").convert("RGB"))
        assert scorer.score(dist, ref, border=0)["lpips"] == pytest.approx(
            CALIBRATION["lpips"][i], abs=1e-3
        )
        # pyiqa's calibration runs NIQE on the RGB image's gray (YIQ) luma, not our Y plane
        rgb = torch.from_numpy(dist.transpose(2, 0, 1).copy()).unsqueeze(0).double() / 255
        assert float(niqe(rgb)) == pytest.approx(CALIBRATION["niqe"][i], abs=1e-3)


# --- evaluation and the command line -------------------------------------------------------


def _write_set(folder: Path, photo: np.ndarray) -> None:
    folder.mkdir(parents=True)
    Image.fromarray(photo).save(folder / "astronaut.png")
    Image.fromarray(photo[:100, :120, 0]).save(folder / "gray.png")


@pytest.mark.slow
def test_the_evaluation_json_carries_the_new_keys(scorer, photo, tmp_path: Path) -> None:
    _write_set(tmp_path / "Tiny", photo)
    result = evaluate_dataset(
        baseline_upscaler("bicubic", scale=SCALE),
        tmp_path / "Tiny",
        SCALE,
        progress=False,
        perceptual=scorer,
    )
    assert list(result) == [
        "psnr",
        "ssim",
        "ssim_wang",
        "ciede2000",
        "lpips",
        "lpips_vgg",
        "niqe",
        "n_images",
        "images",
    ]
    images = result["images"]
    for scores in images.values():
        assert list(scores) == [
            "psnr", "ssim", "ssim_wang", "ciede2000", "lpips", "lpips_vgg", "niqe"
        ]  # fmt: skip
        assert scores["lpips"] > 0
    assert result["lpips"] == pytest.approx(np.mean([s["lpips"] for s in images.values()]))
    assert np.isnan(images["gray"]["niqe"]) and np.isnan(result["niqe"])  # 92 px after the crop
    assert np.isfinite(images["astronaut"]["niqe"])


@pytest.mark.slow
def test_cli_writes_perceptual_scores(photo, tmp_path: Path, capsys) -> None:
    _write_set(tmp_path / "Tiny", photo)
    out = tmp_path / "bicubic.json"
    args = ["evaluate", "--method", "bicubic", "--data-dir", str(tmp_path), "--datasets", "Tiny"]
    args += ["--out", str(out), "--no-progress", "--params", str(REPO / "params.yaml")]
    status = main([*args, "--set", "evaluate.perceptual.weights=standin"])
    assert status == 0, capsys.readouterr().err
    row = json.loads(out.read_text())["Tiny"]
    assert (
        {"lpips", "lpips_vgg", "niqe"}
        <= set(row)
        <= {*tables.EVAL_KEYS, "ciede2000", "lpips", "lpips_vgg", "niqe"}
    )
    printed = capsys.readouterr().out
    assert f"LPIPS (stand-in) {row['lpips']:.4f}, LPIPS-VGG (stand-in)" in printed
    assert "their values mean nothing" in printed


def test_cli_fails_before_any_work_without_weights(hub: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "o.json"
    (tmp_path / "Set5").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "Set5" / "a.png")
    args = ["evaluate", "--method", "bicubic", "--data-dir", str(tmp_path)]
    args += ["--datasets", "Set5", "--out", str(out), "--params", str(REPO / "params.yaml")]
    assert main(args) == 2  # the set is fine (checked first); no image is scored
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith("srgan evaluate: error: perceptual metrics need 3 weight file")
    assert [line.split()[0] for line in lines[1:]] == [
        "alexnet-owt-7be5be79.pth",
        "vgg16-397923af.pth",
        "niqe_modelparameters.mat",
    ]
    assert not out.exists()


def test_standin_results_are_labelled_as_not_comparable() -> None:
    demo = load_config(REPO / "params.yaml", [REPO / "config/demo.yaml"])
    assert demo.evaluate.perceptual.weights == "standin"
    assert any("stand-in weights" in r for r in comparability.reasons(demo, results=True))
    # a trained model is not labelled by how it was scored
    variant = variants.get(variants.SRRESNET_MSE)
    assert not any("stand-in" in r for r in comparability.reasons(demo, variant))
    paper = load_config(REPO / "params.yaml")
    assert paper.evaluate.perceptual.weights == "pretrained"
    assert comparability.reasons(paper, results=True) == []
