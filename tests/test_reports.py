"""The reports: provenance, figures, the papermill notebooks on demo outputs, index.html.

``make_outputs`` lays out a tiny, synthetic set of workflow outputs where ``srgan.core.paths``
puts them (eval JSONs for 7 methods x 3 datasets, SR and HR images, DVCLive logs, final.pt
and final.json, Snakemake timing files, depth-study JSONs). The notebooks run on it
headless with the python3 kernel, as the workflow runs them.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_record, paper_generator
from matplotlib.colors import to_hex
from PIL import Image

from srgan.cli.main import main
from srgan.core import comparability, paper, paths, variants
from srgan.core.config import load_config
from srgan.core.errors import UserError
from srgan.core.fileio import format_sums, read_sums, sums_digest
from srgan.core.paper import SCALE
from srgan.core.record import InitModel, Software
from srgan.metrics.colour import ciede2000_map
from srgan.models import checkpoints
from srgan.report import charts, curves, figures, provenance, render, tables
from srgan.report import notebooks as reports

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "config" / "demo.yaml"
PARAMS = REPO / "params.yaml"

#: Synthetic test sets: dataset -> (stem, height, width, gray). Sizes not a multiple of 4
#: check the HR crop; ``bridge`` is gray, as in Set14.
IMAGES = {
    "Set5": [("butterfly", 96, 96, False), ("head", 84, 100, False)],
    "Set14": [("comic", 102, 82, False), ("bridge", 80, 80, True)],
    "BSD100": [("101085", 64, 96, False), ("101087", 96, 64, False)],
}
#: Noise level of each method's synthetic SR image (nearest is blocky instead).
NOISE = {
    "bicubic": 20,
    "srresnet_mse": 8,
    "srresnet_vgg22": 10,
    "srgan_mse": 12,
    "srgan_vgg22": 14,
    "srgan_vgg54": 16,
}
#: Synthetic per-image scores: PSNR = base + 0.5 * image index.
PSNR_BASE = {m: 20.0 + i for i, m in enumerate(paper.OUR_METHODS)}
#: Synthetic perceptual scores, better (lower) down the methods' order: against the paper's
#: Set5 MOS (1.28, 1.97, 3.37, 3.46, 3.77, 3.78, 3.58) Spearman's rho is -0.89.
PERCEPTUAL = {
    m: {"lpips": 0.4 - 0.04 * i, "lpips_vgg": 0.5 - 0.04 * i, "niqe": 8.0 - 0.5 * i}
    for i, m in enumerate(paper.OUR_METHODS)
}
#: The generator every synthetic final.pt and snapshot holds (a real one: the evolution
#: figure runs them), and the steps of the synthetic snapshots.
torch.manual_seed(0)
TINY = paper_generator(num_blocks=1, channels=4)
SNAPSHOT_STEPS = (10, 20)
BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"


def _hr(height: int, width: int, gray: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    base[height // 3 : height // 2, :] += rng.normal(0, 40, (height // 2 - height // 3, width))
    img = np.stack([base, np.roll(base, 5, 1), 255 - base], -1) if not gray else base
    return np.clip(img, 0, 255).astype(np.uint8)


def _sr(hr: np.ndarray, method: str, seed: int) -> np.ndarray:
    if method == "nearest":
        return hr[::4, ::4].repeat(4, 0).repeat(4, 1)
    noise = np.random.default_rng(seed).normal(0, NOISE[method], hr.shape)
    return np.clip(hr + noise, 0, 255).astype(np.uint8)


def _tsv(path: Path, name: str, steps: list[int], values: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"step\t{name}", *(f"{s}\t{v}" for s, v in zip(steps, values, strict=True))]
    path.write_text("\n".join(lines) + "\n")


def make_outputs(root: Path, depth: bool = True) -> None:
    """Synthetic demo workflow outputs under ``root``, where ``srgan.core.paths`` puts them."""
    hr_images = {}
    for ds, specs in IMAGES.items():
        for i, (stem, h, w, gray) in enumerate(specs):
            hr = _hr(h, w, gray, seed=i)
            path = root / TEST_SETS / ds / f"{stem}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(hr).save(path)
            hr_images[ds, stem] = hr[: h - h % 4, : w - w % 4]
    for k, method in enumerate(paper.OUR_METHODS):
        result = {}
        for ds, specs in IMAGES.items():
            per_image = {}
            for i, (stem, *_) in enumerate(specs):
                sr = _sr(hr_images[ds, stem], method, seed=k * 10 + i)
                out = root / paths.sr_image(method, ds, stem)
                out.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(sr).save(out)
                per_image[stem] = {
                    "psnr": PSNR_BASE[method] + 0.5 * i,
                    "ssim": 0.5 + 0.05 * k,
                    "ssim_wang": 0.6 + 0.05 * k,
                    **PERCEPTUAL[method],
                }
            result[ds] = {
                "psnr": float(np.mean([s["psnr"] for s in per_image.values()])),
                "ssim": 0.5 + 0.05 * k,
                "ssim_wang": 0.6 + 0.05 * k,
                **PERCEPTUAL[method],
                "n_images": len(per_image),
                "images": per_image,
            }
        (root / paths.EVALS_DIR).mkdir(parents=True, exist_ok=True)
        (root / paths.eval_file(method)).write_text(json.dumps(result))
    steps = list(range(0, 41, 5))
    for variant in paper.TABLE1_METHODS:
        run = paths.RunFolder(root / paths.run_dir(variant))
        metrics = run.metrics
        names = ["content", "generator"]
        if variant.startswith("srgan"):
            names += ["adversarial", "discriminator", "d_real", "d_fake"]
        for j, name in enumerate(names):
            values = [(j + 1) * 0.5 / (1 + s / 10) for s in steps]
            _tsv(metrics / "train" / f"{name}.tsv", name, steps, values)
        _tsv(metrics / "train" / "lr.tsv", "lr", steps, [1e-4] * len(steps))
        _tsv(metrics / "eval" / "Set5_psnr.tsv", "Set5_psnr", [20, 40], [18.0, 19.5])
        init = InitModel("runs/srresnet_mse/final.pt", "d" * 16, "srresnet_mse", 40, "e" * 12)
        meta = make_record(
            TINY,
            variant,
            40,
            config_hash="abc123",
            init=init if variant.startswith("srgan") else None,
            software=Software(
                "0123456789abcdef0123456789abcdef01234567", "2.14.1", "cpu", "fp32", "now"
            ),
        )
        checkpoints.write_final(run, TINY.config, TINY.state_dict(), meta)
        if variant == figures.EVOLUTION_VARIANT:
            for step in SNAPSHOT_STEPS:
                checkpoints.write_snapshot(run, step, TINY.config, TINY.state_dict(), {})
        bench = root / paths.train_timing(variant)
        bench.parent.mkdir(parents=True, exist_ok=True)
        bench.write_text(f"{BENCH_HEADER}\n12.50\t0:00:12\t300.5\t900\t250\t260\t0\t1\t90\t11.0\n")
    if depth:
        for blocks in (1, 2):
            for skip in (0, 1):
                entry = {
                    "psnr": 21.0 + blocks + skip,
                    "ssim": 0.6,
                    "ssim_wang": 0.7,
                    "n_images": 2,
                    "images": {},
                }
                path = root / paths.depth_eval_file(paths.depth_run_name(blocks, skip))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"BSD100": entry}))


#: The demo profile on the paper's test sets (as config/demo_mirror.yaml does, without a mirror).
PAPER_SETS = [
    "data.test_sets=[Set5,Set14,BSD100]",
    "evaluate.datasets=[Set5,Set14,BSD100]",
    "workflow.depth.dataset=BSD100",
]
DEMO_PARAMS = {
    "params_file": str(PARAMS),
    "config_files": [str(DEMO_CONFIG)],
    "config_sets": PAPER_SETS,
}
#: Where that configuration reads the HR test images, relative to the project folder.
TEST_SETS = paths.test_sets_dir(load_config(PARAMS, [DEMO_CONFIG], PAPER_SETS))


# --- provenance ------------------------------------------------------------------------------


def test_deviations_of_the_paper_config_and_the_demo() -> None:
    """params.yaml departs from the paper only in the training set; the demo in much more."""
    paper_cfg = load_config(PARAMS).to_dict()
    assert provenance.deviations(paper_cfg) == [
        "data.train_set = 'DIV2K' (paper: training set: 350 thousand ImageNet images)"
    ]
    assert provenance.result_reasons(load_config(PARAMS)) == []
    demo = provenance.deviations(load_config(PARAMS, [DEMO_CONFIG]).to_dict())
    keys = [d.split(" = ")[0] for d in demo]
    assert "vgg.weights" in keys and "model.blocks" in keys and "train.srresnet.steps" in keys
    assert "data.crop_size" in keys and "data.batch_size" in keys
    assert "model.long_skip" not in keys  # the demo keeps the long skip
    choices = provenance.open_point_choices(paper_cfg)
    assert "VGG input normalisation: 'imagenet' (vgg.normalization)" in choices


def test_result_reasons_name_the_config_and_the_models() -> None:
    """The configuration's reasons (comparability.reasons, the one place deciding them), then
    each reason a trained model recorded that the configuration does not give, naming it."""
    demo_cfg = load_config(PARAMS, [DEMO_CONFIG])
    own = make_record(TINY, "srgan_vgg54", 40)
    found = [
        provenance.TrainedModel("srgan_vgg54", Path("runs/srgan_vgg54/final.pt"), own),
        provenance.TrainedModel("depth/b4_skip1", Path("runs/depth/b4_skip1/final.pt"), own),
    ]
    reasons = provenance.result_reasons(demo_cfg, found)
    assert reasons == comparability.reasons(demo_cfg, results=True)  # nothing more to say
    assert len(reasons) == 4 and reasons[0] == comparability.DEMO
    paper_cfg = load_config(PARAMS)
    assert provenance.result_reasons(paper_cfg, found) == [
        f"{reason} (models: srgan_vgg54, depth/b4_skip1)" for reason in own.reasons
    ]
    banner = render.banner_html(reasons, demo=True)
    assert "NOT comparable" in banner and f"<li>{comparability.DEMO}</li>" in banner
    assert "These numbers are NOT comparable" in render.banner_html(["a reason"])
    assert render.banner_html([]) == ""


def test_the_quick_profile_is_named_in_every_report_and_the_index(tmp_path: Path) -> None:
    quick = load_config(PARAMS, [REPO / "config" / "quick.yaml"])
    note = provenance.profile_note(quick)
    assert note == (
        "Quick profile (config/quick.yaml): the paper's models on a shortened schedule "
        "(SRResNet 100,000 iterations; SRGAN 20,000, the learning rate dropping at 10,000). "
        "A check of the replication in about an hour on one GPU, not its final numbers."
    )
    assert provenance.profile_note(load_config(PARAMS)) is None
    assert provenance.profile_note(load_config(PARAMS, [DEMO_CONFIG])) is None  # its banner says it
    assert provenance.result_reasons(quick) == [
        comparability.short_schedule(quick, list(variants.VARIANTS.values()))
    ]  # real models on a tenth of the schedule: not the replication's numbers
    assert "train.srresnet.steps = 100000 (paper: SRResNet: 1e6 iterations)" in (
        provenance.deviations(quick.to_dict())
    )
    prov = provenance.gather(
        quick.to_dict(), tmp_path / "runs", tmp_path / "timings", tmp_path / "data"
    )
    markdown = render.provenance_markdown(prov)
    assert markdown.splitlines()[2] == f"- **Profile**: {note}"
    # The quick profile's shorter schedule is a reason: its banner lists the deviations, and
    # the provenance counts them; without a banner, the provenance lists them itself.
    assert "train.srresnet.steps" not in markdown
    assert (
        f"**Deviations from the paper in force**: {len(prov['deviations'])} settings, listed in "
        "the banner at the top of this page." in markdown
    )
    listed = render.provenance_markdown({**prov, "reasons": []})
    assert "- train.srresnet.steps = 100000 (paper: SRResNet: 1e6 iterations)" in listed
    assert "**Profile**" not in render.provenance_markdown({**prov, "profile_note": None})
    box = render.profile_note_html(note)
    assert box.startswith('<div class="srgan-profile-note"') and "config/quick.yaml" in box
    assert render.profile_note_html(None) == ""
    index = reports.build_index(tmp_path / "reports", tmp_path / "tables", profile_note=note)
    assert box in index.read_text()


def test_training_times_from_snakemake_benchmarks(tmp_path: Path) -> None:
    (tmp_path / "train_srgan_mse.tsv").write_text(
        f"{BENCH_HEADER}\n3725.0\t1:02:05\t1024.0\t2000\t1\t1\t0\t0\t95\t3600\n"
        "3735.0\t1:02:15\t2048.0\t2000\t1\t1\t0\t0\t95\t3600\n"
    )
    (tmp_path / "evaluate_bicubic.tsv").write_text(
        f"{BENCH_HEADER}\n1\t0:00:01\t1\t1\t1\t1\t0\t0\t1\t1\n"
    )
    times = provenance.training_times(tmp_path)
    assert times["model"].tolist() == ["srgan_mse"]  # only train_*.tsv
    assert times["seconds"].tolist() == [3730.0]  # mean of the repeats
    assert times["wall_time"].tolist() == ["1:02:10"]
    assert times["max_rss_mb"].tolist() == [2048.0]
    assert provenance.format_duration(2 * 86400 + 3 * 3600) == "2 d 3:00:00"
    (tmp_path / "train_bad.tsv").write_text("nothing\n1\n")
    with pytest.raises(UserError, match="train_bad.tsv"):
        provenance.training_times(tmp_path)


def test_model_records_and_data_checksums(tmp_path: Path) -> None:
    make_outputs(tmp_path, depth=False)
    found = provenance.models(tmp_path / "runs")
    assert [m.name for m in found] == sorted(paper.TABLE1_METHODS)
    assert [m.record.variant for m in found] == sorted(paper.TABLE1_METHODS)
    assert all(m.record.profile == "demo" and m.record.step == 40 for m in found)
    assert found[0].path == tmp_path / "runs" / "srgan_mse" / "final.pt"
    frame = provenance.models_frame(found, current_hash="abc123")
    assert frame["same_config"].all()
    assert frame["git_commit"].tolist() == ["0123456789ab"] * 5
    assert frame["vgg_weights"].tolist() == ["–", "random", "random", "–", "random"]
    assert frame["reasons"].tolist() == ["; ".join(m.record.reasons) for m in found]
    cfg = load_config(PARAMS, [DEMO_CONFIG], PAPER_SETS)
    sums = provenance.data_checksums(cfg, tmp_path / TEST_SETS)
    set5 = sums[sums["dataset"] == "Set5"].iloc[0]
    assert set5["files"] == 2 and len(set5["sha256"]) == 64
    assert set5["source"] == f"hashed now from {tmp_path / TEST_SETS / 'Set5'}"
    # The digest is fileio.sums_digest of the files' sha256: recompute it.
    assert set5["sha256"] == sums_digest(provenance.folder_sums(tmp_path / TEST_SETS / "Set5"))


def test_depth_models_are_found_and_named(tmp_path: Path) -> None:
    """runs/depth/<name>/final.pt (paths.DEPTH_RUNS_DIR) after the variants, named depth/<name>."""
    make_outputs(tmp_path, depth=False)
    depth_run = paths.RunFolder(tmp_path / paths.depth_run_dir(paths.depth_run_name(4, 1)))
    depth = make_record(TINY, "srresnet_mse", 7)
    checkpoints.write_final(depth_run, TINY.config, TINY.state_dict(), depth)
    found = provenance.models(tmp_path / paths.RUNS_DIR)
    assert len(found) == 6 and found[-1] == provenance.TrainedModel(
        "depth/b4_skip1", depth_run.final, depth
    )
    frame = provenance.models_frame(found)
    assert frame["model"].tolist() == [*sorted(paper.TABLE1_METHODS), "depth/b4_skip1"]
    assert frame["variant"].tolist()[-1] == "srresnet_mse"
    assert paths.rebased(paths.DEPTH_RUNS_DIR, tmp_path / "x") == tmp_path / "x" / "depth"


def test_checksums_agree_from_manifest_mirror_sums_and_files(
    shared_data: Path, tmp_path: Path
) -> None:
    """fileio.sums_digest gives one digest for the same files, whether from the workflow's
    manifest, the mirror's SHA256SUMS, or hashing the files now."""
    sets = [*PAPER_SETS, f"data.mirror={shared_data}", f"data.root={tmp_path}"]
    cfg = load_config(PARAMS, [DEMO_CONFIG], sets)
    sums = provenance.data_checksums(cfg).set_index("dataset")
    assert sums.loc["Set5", "files"] == 5
    assert sums.loc["Set14", "files"] == 14
    assert sums.loc["BSD100", "files"] == 100
    assert sums.loc["Set5", "source"] == str(shared_data / "SHA256SUMS")
    hashed = sums_digest(provenance.folder_sums(shared_data / "benchmarks" / "Set5"))
    assert sums.loc["Set5", "sha256"] == hashed
    mirror_sums = read_sums(shared_data / "SHA256SUMS")
    set5 = {n: d for n, d in mirror_sums.items() if n.startswith("benchmarks/Set5/")}
    assert len(set5) == 5 and sums_digest(set5) == hashed
    # A manifest, as the workflow's data rules write it (other folders in the names), wins.
    manifest = paths.manifest(cfg, "Set5")
    manifest.parent.mkdir(parents=True)
    manifest.write_text(format_sums({f"data/x/{Path(n).name}": d for n, d in set5.items()}))
    sums = provenance.data_checksums(cfg).set_index("dataset")
    assert sums.loc["Set5", "source"] == str(manifest)
    assert (sums.loc["Set5", "files"], sums.loc["Set5", "sha256"]) == (5, hashed)


def test_the_training_set_manifest_is_found(tmp_path: Path) -> None:
    """data.train_set: skimage is recorded as <data.root>/checksums/SkimageTrain.sha256
    (paths.train_set_name), not under the config value's name."""
    cfg = load_config(PARAMS, [DEMO_CONFIG], [f"data.root={tmp_path}"])
    assert paths.train_set_name(cfg) == "SkimageTrain"
    train = provenance.data_checksums(cfg).iloc[-1]
    assert (train["dataset"], train["sha256"]) == ("train: SkimageTrain", "not recorded")
    sums = {f"{tmp_path}/train/SkimageTrain/{n}.png": f"{i:064x}" for i, n in enumerate("abc")}
    manifest = tmp_path / "checksums" / "SkimageTrain.sha256"
    manifest.parent.mkdir()
    manifest.write_text(format_sums(sums))
    train = provenance.data_checksums(cfg).iloc[-1]
    assert train.to_dict() == {
        "dataset": "train: SkimageTrain",
        "files": 3,
        "sha256": sums_digest(sums),
        "source": str(manifest),
    }
    manifest.write_text("not a sha256sum line\n")
    with pytest.raises(UserError, match=r"SkimageTrain.sha256:1: not a sha256sum line"):
        provenance.data_checksums(cfg)


#: Run in a fresh interpreter: the report layer's modules, provenance with trained models
#: (their final.json), tables, the provenance Markdown and the index; prints torch's modules.
TORCH_FREE_SCRIPT = """
import sys
from pathlib import Path

from srgan.report import provenance, render, notebooks as reports, tables

ctx = reports.context(params_file=sys.argv[1], config_files=[sys.argv[2]])
assert len(ctx.provenance["models"]) == 5, ctx.provenance["models"]
assert "srgan_vgg54" in render.provenance_markdown(ctx.provenance)
tables.write_tables(ctx.evals_dir, Path("results/tables"), ctx.reasons)
reports.build_index(Path("reports"), Path("results/tables"), ctx.reasons, prov=ctx.provenance)
print(sorted(name for name in sys.modules if name.split(".")[0] == "torch"))
"""


def test_the_report_layer_does_not_import_torch(tmp_path: Path) -> None:
    make_outputs(tmp_path, depth=False)
    done = subprocess.run(
        [sys.executable, "-c", TORCH_FREE_SCRIPT, str(PARAMS), str(DEMO_CONFIG)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert "DEMO OUTPUT" in (tmp_path / "reports" / "index.html").read_text()


# --- figures -------------------------------------------------------------------------------


def _png_ok(path: Path, min_side: int = 200) -> np.ndarray:
    """A real image: big enough, not blank (many distinct colours, spread-out values)."""
    img = np.asarray(Image.open(path).convert("RGB"))
    assert min(img.shape[:2]) >= min_side, f"{path} is only {img.shape}"
    assert img.std() > 10, f"{path} is nearly uniform"
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50, f"{path} has too few colours"
    return img


def test_busiest_window_finds_the_texture() -> None:
    img = np.zeros((60, 80), np.uint8)
    img[30:50, 40:60] = np.random.default_rng(0).integers(0, 255, (20, 20))
    row, col = figures.busiest_window(img, 20)
    assert (row, col) == (30, 40)
    crop = figures.choose_crop(np.zeros((100, 300), np.uint8), scale=SCALE)
    assert crop.side == 48 and crop.zoom_side == 10  # 45 % of 100 -> 45, raised to MIN_CROP
    assert (crop.top % 4, crop.left % 4) == (0, 0)  # on the LR pixel grid
    # Two zoomed regions that do not overlap, the busiest first.
    img[5:15, 5:15] = np.random.default_rng(1).integers(0, 255, (10, 10)) // 2
    first, second = figures.zoom_windows(img, 20)
    assert first == (30, 40)
    assert second[0] <= 5 and second[1] <= 5  # the weaker texture, whole, not the first again


def _empty_panels(fig) -> list[str]:
    """The titles (or positions) of the axes of ``fig`` that draw nothing."""
    empty = []
    for i, ax in enumerate(fig.axes):
        drawn = ax.lines or ax.images or ax.collections or ax.patches or ax.texts
        if not drawn:
            empty.append(ax.get_title() or f"axes {i}")
    return empty


def test_comparison_figure_has_lr_hr_zooms_and_crops(tmp_path: Path) -> None:
    make_outputs(tmp_path)
    per_image = tables.per_image_scores(tmp_path / "results" / "eval")
    assert len(per_image) == 7 * 6
    picks = figures.resolve_picks(
        ["Set14/comic", "Set5/nothere"],
        tmp_path / paths.SR_IMAGES_DIR,
        tmp_path / TEST_SETS,
    )
    assert picks == [("Set14", "comic")]
    images, hr_dir = tmp_path / paths.SR_IMAGES_DIR, tmp_path / TEST_SETS
    crop, panels = figures.comparison_panels(
        "Set14", "comic", images, hr_dir, per_image, scale=SCALE
    )
    assert [p.name for p in panels] == ["nearest", "bicubic", *paper.TABLE1_METHODS, "hr"]
    assert panels[0].title.startswith("LR (pixels repeated ×4)")
    assert panels[1].title == "Bicubic\n21.00 dB / 0.5500"
    assert panels[-1].title == "HR (original)"
    assert all(p.image.shape[:2] == (crop.side, crop.side) for p in panels)
    # The LR panel is the LR image's pixels repeated: constant 4x4 blocks on the LR grid.
    lr = panels[0].image
    assert (lr[::4, ::4].repeat(4, 0).repeat(4, 1) == lr).all()
    # Each panel but HR has its crop's colour-error map: CIEDE2000 per pixel against HR's crop.
    assert panels[-1].error is None
    hr_crop_image = panels[-1].image
    for panel in panels[:-1]:
        expected = ciede2000_map(panel.image, hr_crop_image, border=0)
        assert np.array_equal(panel.error, expected) and panel.error.shape == (crop.side,) * 2
    fig = figures.panels_figure(panels, crop, "heading")
    # each panel, its two enlargements and its map (HR: none), and one colour bar for the maps
    assert len(fig.axes) == 8 * (1 + figures.ZOOMS) + 7 + 1
    bar = fig.axes[-1]
    assert bar.get_xlim() == (0.0, figures.ERROR_MAP_MAX)
    assert "CIEDE2000" in bar.get_xlabel()
    # Four panels a row, each about 350 px wide in the PNG (not seven squeezed into one row).
    width = fig.get_size_inches()[0] * charts.DPI / figures.PANEL_COLUMNS
    assert width >= 330
    assert _empty_panels(fig) == []
    _png_ok(charts.save(fig, tmp_path / "cmp.png", render.DEMO_STAMP))
    crops = figures.save_crops(panels, "comparison_Set14_comic", tmp_path / "crops")
    assert list(crops)[0] == "LR (pixels repeated ×4)" and list(crops)[-1] == "HR (original)"
    hr_crop = np.asarray(Image.open(crops["HR (original)"]))
    assert hr_crop.shape[:2] == (crop.side, crop.side)  # full resolution, not rescaled
    assert crops["Bicubic"] == tmp_path / "crops" / "comparison_Set14_comic" / "bicubic.png"
    # A model without SR images is a "not run" panel, still not an empty one.
    shutil.rmtree(tmp_path / paths.sr_images_dir("srgan_vgg22"))
    _, panels = figures.comparison_panels("Set14", "comic", images, hr_dir, per_image, scale=SCALE)
    assert panels[5].image is None
    assert _empty_panels(figures.panels_figure(panels, crop, "x")) == []


def test_the_comparison_caption_says_what_the_scores_show() -> None:
    per_image = pd.DataFrame(
        {
            "method": ["bicubic", "srresnet_mse", "srgan_vgg54"],
            "label": ["Bicubic", "SRResNet-MSE", "SRGAN-VGG54"],
            "dataset": "Set14",
            "image": "baboon",
            "psnr": [23.0, 24.5, 22.25],
            "ssim": [0.6, 0.7, 0.55],
            "ciede2000": [3.5, 5.25, 6.0],
        }
    )
    assert figures.comparison_caption(per_image, "Set14", "baboon") == (
        "On Set14/baboon, PSNR [dB] of the whole image: SRResNet-MSE 24.50 > Bicubic 23.00 > "
        "SRGAN-VGG54 22.25. Colour difference (mean ΔE00, lower is closer to HR): smallest "
        "Bicubic 3.50, largest SRGAN-VGG54 6.00."
    )
    older = per_image.assign(ciede2000=math.nan)  # evaluations made before the colour measure
    assert figures.comparison_caption(older, "Set14", "baboon").endswith("SRGAN-VGG54 22.25.")
    assert figures.comparison_caption(per_image, "Set14", "zebra") == ""
    shown = per_image.assign(ciede2000=[3.456, math.nan, 6.0])
    assert figures._score(shown, "bicubic", "Set14", "baboon") == "23.00 dB / 0.6000 / ΔE00 3.46"
    assert figures._score(shown, "srresnet_mse", "Set14", "baboon") == "24.50 dB / 0.7000"


def _runs(root: Path, config: dict | None = None) -> list[curves.TrainingRun]:
    config = config or load_config(PARAMS, [DEMO_CONFIG]).to_dict()
    return curves.training_runs(config, root / "runs")


def test_training_curves_from_synthetic_logs(tmp_path: Path) -> None:
    make_outputs(tmp_path)
    runs = _runs(tmp_path)
    assert [r.variant for r in runs] == list(paper.TABLE1_METHODS)
    srgan = next(r for r in runs if r.variant == "srgan_mse")
    assert set(srgan.curves) == {
        "train/content",
        "train/generator",
        "train/adversarial",
        "train/discriminator",
        "train/d_real",
        "train/d_fake",
        "train/lr",
        "eval/Set5_psnr",
    }
    assert [curves.is_loss_metric(n) for n in ("train/content", "train/lr", "train/d_real")] == [
        True,
        False,
        False,
    ]
    # SRGAN starts where SRResNet-MSE ended (final.json's init step), SRResNet at 0.
    assert [r.start for r in runs] == [0, 0, 40, 40, 40]
    losses = curves.loss_figure(runs)
    assert _empty_panels(losses) == []
    assert len(losses.axes) == 5 + 1  # a panel per variant and one for D: no empty panel
    # An SRGAN panel: its own steps, after the SRResNet-MSE steps it starts from; 40 steps on
    # a linear axis that ends at the run's last step, the paper's schedule (to step 200,000)
    # said under it, not drawn (it would make the run a sliver).
    srgan_ax = next(ax for ax in losses.axes if ax.get_title() == "SRGAN-MSE (from step 40)")
    assert srgan_ax.get_xscale() == "linear"
    assert srgan_ax.get_xlabel() == (
        f"{curves.SRGAN_STEPS_LABEL}\n(the paper's schedule runs to step 200,000, off this axis)"
    )
    assert srgan_ax.get_xlim() == pytest.approx((-40 * 0.04, 40 * 1.04))
    assert not [line for line in srgan_ax.lines if line.get_label().startswith("paper")]
    assert not srgan_ax.texts  # nothing written over the curves
    # One legend below the panels, none inside a loss panel over its curves.
    assert len(losses.legends) == 1
    assert all(ax.get_legend() is None for ax in losses.axes[:-1])
    _png_ok(charts.save(losses, tmp_path / "losses.png"))
    psnr = curves.psnr_curve_figure(runs, {"Set5": {"bicubic": 19.0}})
    assert _empty_panels(psnr) == []
    _png_ok(charts.save(psnr, tmp_path / "psnr.png"))
    assert curves.loss_figure([]) is None and curves.psnr_curve_figure([]) is None


def test_a_long_run_gets_a_log_axis_with_the_paper_schedule_marked(tmp_path: Path) -> None:
    """A run past the paper's learning-rate drop: log steps, the drop drawn, the end (beyond
    the run's last step) in the note."""
    make_outputs(tmp_path)
    steps = [1_000, 10_000, 50_000, 120_000]
    for variant in paper.TABLE1_METHODS:
        metrics = paths.RunFolder(tmp_path / paths.run_dir(variant)).metrics / "train"
        for tsv in metrics.glob("*.tsv"):
            name = tsv.stem
            _tsv(tsv, name, steps, [0.5 / (1 + s / 1e4) for s in steps])
    fig = curves.loss_figure(_runs(tmp_path))
    srgan_ax = next(ax for ax in fig.axes if ax.get_title() == "SRGAN-MSE (from step 40)")
    assert srgan_ax.get_xscale() == "log"
    assert srgan_ax.get_xlabel() == (
        f"{curves.SRGAN_STEPS_LABEL} (log scale)\n"
        "(the paper's schedule runs to step 200,000, off this axis)"
    )
    assert srgan_ax.get_xlim() == pytest.approx((1_000 / 1.4, 120_000 * 1.4))
    marks = [line.get_xdata()[0] for line in srgan_ax.lines if line.get_label()[0] == "p"]
    assert marks == [100_000]
    srresnet_ax = next(ax for ax in fig.axes if ax.get_title() == "SRResNet-MSE")
    assert srresnet_ax.get_xlabel().endswith("runs to step 1,000,000, off this axis)")


def test_loss_terms_are_drawn_with_their_weights(tmp_path: Path) -> None:
    """SRResNet-VGG22's TV term enters the loss times 2e-8: drawn so, not unweighted; the total
    of SRResNet-MSE equals its content term and is drawn once."""
    make_outputs(tmp_path)
    vgg = paths.RunFolder(tmp_path / paths.run_dir("srresnet_vgg22"))
    _tsv(vgg.metrics / "train" / "tv.tsv", "tv", [5, 10], [500.0, 400.0])
    config = load_config(PARAMS, [DEMO_CONFIG]).to_dict()
    fig = curves.loss_figure(_runs(tmp_path, config))
    ax = next(ax for ax in fig.axes if ax.get_title() == "SRResNet-VGG22")
    weight = config["loss"]["tv_weight"]
    tv = next(line for line in ax.lines if line.get_label() == f"{weight:.0e} × tv")
    assert list(tv.get_ydata()) == [500.0 * weight, 400.0 * weight]
    mse = next(ax for ax in fig.axes if ax.get_title() == "SRResNet-MSE")
    assert [line.get_label() for line in mse.lines if not line.get_label().startswith("paper")] == [
        "content"
    ]


def test_the_training_psnr_names_the_set_of_the_data(tmp_path: Path) -> None:
    """The demo scores SkimageTest during training: the figure says so (and draws no Set5
    reference), with the SRGAN curve starting at SRResNet-MSE's last value."""
    make_outputs(tmp_path)
    for variant in paper.TABLE1_METHODS:
        metrics = paths.RunFolder(tmp_path / paths.run_dir(variant)).metrics / "eval"
        (metrics / "Set5_psnr.tsv").unlink()
        _tsv(metrics / "SkimageTest_psnr.tsv", "SkimageTest_psnr", [20, 40], [25.0, 26.5])
    fig = curves.psnr_curve_figure(_runs(tmp_path), {"SkimageTest": {"bicubic": 28.35}})
    (ax,) = fig.axes
    assert "SkimageTest" in ax.get_title() and "SkimageTest" in ax.get_ylabel()
    assert "Set5" not in ax.get_title() + ax.get_ylabel()
    srgan = next(line for line in ax.lines if line.get_label() == "SRGAN-VGG54")
    assert list(srgan.get_xdata()) == [40, 60, 80] and list(srgan.get_ydata())[0] == 26.5
    # The axis is the runs' own (to step 80, linear), not the paper's million steps.
    assert ax.get_xscale() == "linear" and ax.get_xlim()[1] == pytest.approx(80 * 1.04)
    assert ax.get_xlabel().endswith("(the paper's schedule runs to step 1,200,000, off this axis)")


def test_verdict_dot_plot(tmp_path: Path) -> None:
    make_outputs(tmp_path)
    named = dict(
        zip(
            (tables.TABLE1, tables.TABLE2),
            tables.build_tables(tmp_path / "results" / "eval"),
            strict=True,
        )
    )
    verdict = tables.verdict(named)
    fig = charts.verdict_figure(verdict)
    psnr_ax, ssim_ax = fig.axes
    assert _empty_panels(fig) == []
    judged = verdict[verdict["verdict"] != ""].drop_duplicates(["dataset", "model"])
    points = [line for line in psnr_ax.lines if len(line.get_xdata()) == 1]
    assert len(points) == len(judged)
    diagonal = psnr_ax.lines[0]
    assert list(diagonal.get_xdata()) == list(diagonal.get_ydata())  # ours = paper
    _png_ok(charts.save(fig, tmp_path / "verdict.png"))
    offline = verdict.assign(verdict="")
    assert charts.verdict_figure(offline) is None
    # Only Table 1's BSD100 rows lack a paper value here (the index shows the dot plot above).
    (ax,) = charts.sanity_figure(verdict).axes
    assert ax.get_xlabel().startswith("BSD100 PSNR − our bicubic's")
    # The offline demo: no paper value, a dot per model against our bicubic instead.
    ax = charts.sanity_figure(offline).axes[0]  # Set5, then Set14 and BSD100 below
    assert len(charts.sanity_figure(offline).axes) == 3
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:2] == ["SRResNet-MSE", "SRResNet-VGG22"] and "Bicubic" in labels
    gains = ax.collections[0].get_offsets()[:, 0]
    bicubic = labels.index("Bicubic")
    assert gains[bicubic] == 0.0 and gains[labels.index("NN")] == -1.0  # PSNR_BASE: 20 vs 21
    colours = [to_hex(c) for c in ax.collections[0].get_facecolors()]
    assert colours[bicubic] == charts.SIGN_COLOURS[0]  # the reference itself: neither colour
    assert colours[labels.index("NN")] == charts.SIGN_COLOURS[-1]
    # The index names every figure the reports save, the perceptual and MOS ones too.
    assert render.figure_caption("perception_distortion_niqe") == (
        "Perception against distortion: PSNR and NIQE"
    )
    assert render.figure_caption("mos") == "MOS per method with 95% intervals (our study)"


def test_depth_and_distribution_figures(tmp_path: Path) -> None:
    make_outputs(tmp_path)
    per_image = tables.per_image_scores(tmp_path / "results" / "eval")
    _png_ok(charts.save(charts.distribution_figure(per_image), tmp_path / "p.png"))
    depth = tables.depth_table(tmp_path / "results" / "depth")
    _png_ok(charts.save(charts.depth_figure(depth, "BSD100"), tmp_path / "d.png"))
    assert charts.depth_figure(tables.depth_table(tmp_path / "nothing"), "BSD100") is None
    assert charts.distribution_figure(per_image[:0]) is None


# --- the notebooks -------------------------------------------------------------------------


def _run_report(root: Path, name: str, **extra) -> tuple[nbformat.NotebookNode, str]:
    notebook, page = reports.run_notebook(
        name, root / "reports", {**DEMO_PARAMS, **extra}, notebooks_dir=REPO / "notebooks", cwd=root
    )
    nb = nbformat.read(notebook, as_version=4)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []
    return nb, page.read_text()


def _check_page(page: str) -> None:
    assert page.count("DEMO OUTPUT") == 1 and "NOT comparable" in page  # the banner, once
    assert "results = Path(results_dir)" not in page and "reports.context(" not in page  # no code
    assert "Provenance" in page and "Deviations from the paper in force" in page
    assert "listed in the banner at the top of this page" in page  # not listed again
    random = "vgg.weights = &#x27;random&#x27;", "vgg.weights = 'random'"
    assert sum(page.count(text) for text in random) == 1  # each setting once, in the banner
    assert "0:00:12" in page  # training time from the benchmark files


class _TableParser(HTMLParser):
    """The text of every <table> of a page: a list of rows of cell strings per table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _html_tables(page: str) -> list[pd.DataFrame]:
    """Each HTML table whose first row is its header, as a DataFrame of strings."""
    parser = _TableParser()
    parser.feed(page)
    frames = []
    for rows in parser.tables:
        header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
        frames.append(pd.DataFrame(body, columns=header))
    return frames


def test_table1_notebook(tmp_path: Path) -> None:
    make_outputs(tmp_path, depth=False)
    (tmp_path / "results" / "eval" / "srgan_vgg22.json").unlink()  # a model not run yet
    nb, page = _run_report(tmp_path, "table1")
    assert "parameters" in nb.cells[1].metadata.tags
    _check_page(page)
    shown = [t for t in _html_tables(page) if "PSNR ours" in t.columns]
    assert len(shown) == 3  # Set5, Set14, and BSD100 (not in the paper's Table 1)
    # BSD100 is not in the paper's Table 1: no column of paper values (and differences) for it
    bsd = shown[2].set_index(shown[2].columns[0])
    shown_columns = [c for c in render.DISPLAY_COLUMNS.values() if c not in render.PAPER_COLUMNS]
    assert list(bsd.columns) == shown_columns
    assert bsd.loc["SRGAN-MSE", "PSNR ours"] == "24.25"
    assert bsd.loc["SRGAN-MSE", "CIEDE2000 ours*"] == "–"  # these evaluations predate it
    ran = [paper.LABELS[m] for m in paper.TABLE1_METHODS if m != "srgan_vgg22"]
    for t in shown:
        assert t.iloc[:, 0].tolist() == ran  # the model not run is not a row of "not run" ...
    for dataset in ("Set5", "Set14", "BSD100"):  # ... but named under each table
        assert f"Not run on {dataset} yet (no evaluation): SRGAN-VGG22." in page
    assert list(shown[0].columns[1:]) == list(render.DISPLAY_COLUMNS.values())
    assert ">not run<" not in page
    set5 = shown[0].set_index(shown[0].columns[0])
    assert set5.loc["SRResNet-MSE", "PSNR paper"] == "32.05"
    assert set5.loc["SRResNet-MSE", "PSNR ours"] == "22.25"  # PSNR_BASE + 0.25 (mean of 2)
    assert set5.loc["SRResNet-MSE", "Δ PSNR"] == "-9.80"
    assert set5.loc["SRGAN-VGG54", "MOS (paper's)"] == "3.58"


def test_table2_notebook(tmp_path: Path) -> None:
    make_outputs(tmp_path, depth=False)
    nb, page = _run_report(tmp_path, "table2")
    _check_page(page)
    shown = [t for t in _html_tables(page) if "PSNR ours" in t.columns]
    assert len(shown) == 3  # Set5, Set14, BSD100
    assert "Not run" not in page  # every set and method ran
    bsd = shown[2].set_index(shown[2].columns[0])
    assert bsd.index.tolist() == [
        "NN",
        "Bicubic",
        "SRCNN (quoted)",
        "SelfExSR (quoted)",
        "DRCN (quoted)",
        "ESPCN (quoted)",
        "SRResNet (SRResNet-MSE)",
        "SRGAN (SRGAN-VGG54)",
        "HR",
    ]
    assert bsd.loc["DRCN (quoted)", "PSNR paper"] == "27.21"
    assert bsd.loc["DRCN (quoted)", "PSNR ours"] == "–"
    assert bsd.loc["DRCN (quoted)", "status"] == "quoted"
    assert bsd.loc["HR", "PSNR paper"] == "∞"
    assert bsd.loc["SRGAN (SRGAN-VGG54)", "PSNR ours"] == "26.25"


#: An external script or stylesheet (a CDN): what a self-contained page must not have.
NETWORK_FETCH = re.compile(r"<(script|link)\b[^>]*(src|href)\s*=\s*[\"']?(https?:)?//", re.I)


def _check_navigation(page: str, current: str) -> None:
    """Every page: a title, the navigation bar (the index, the tables, the figures, the
    provenance) with the current page marked, nothing fetched from the network."""
    title = re.search(r"<title>([^<]+)</title>", page).group(1)
    assert "SRGAN replication" in title and title.split()[0] not in paths.REPORTS  # not "table1"
    nav = re.search(r"<nav class='srgan-nav'>(.*?)</nav>", page).group(1)
    hrefs = re.findall(r"href='([^']+)'", nav)
    assert hrefs == [
        "index.html", "table1.html", "table2.html", "figures.html", "mos.html",
        "index.html#Provenance",
    ]  # fmt: skip
    assert f"href='{paths.report_page(current).name}' aria-current='page'" in nav
    assert NETWORK_FETCH.search(page) is None
    assert "require.js" not in page and "mathjax" not in page.lower()


def test_network_fetches_are_recognised() -> None:
    """The pattern the self-containment checks rely on finds a CDN script and stylesheet."""
    cdn = "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"
    assert NETWORK_FETCH.search(f'<script src="{cdn}"></script>')
    assert NETWORK_FETCH.search("<link rel='stylesheet' href='//fonts.example/x.css'>")
    assert NETWORK_FETCH.search('<script src="figures.js"></script>') is None


def test_figures_notebook_and_index(tmp_path: Path) -> None:
    make_outputs(tmp_path)
    nb, page = _run_report(tmp_path, "figures", comparison_images=["Set14/comic", "Set5/butterfly"])
    _check_page(page)
    _check_navigation(page, "figures")
    fig_dir = tmp_path / "reports" / "figures"
    names = sorted(p.name for p in fig_dir.glob("*.png"))
    assert names == [
        "comparison_Set14_comic.png",
        "comparison_Set5_butterfly.png",
        "depth.png",
        "evolution_Set14_comic.png",
        "perception_distortion_lpips.png",
        "perception_distortion_lpips_vgg.png",
        "perception_distortion_niqe.png",
        "psnr_distribution.png",
        "training_losses.png",
        "training_psnr.png",
    ]
    for path in fig_dir.glob("*.png"):
        _png_ok(path)
    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 10
    # the rank correlation with the paper's MOS, per test set, with its caveat
    assert "a proxy, not an opinion test" in page
    rho = next(t for t in _html_tables(page) if "Spearman ρ vs MOS" in t.columns)
    set5 = rho[rho["test set"] == "Set5"].set_index("our score")
    assert set5.loc["lpips", "Spearman ρ vs MOS"] == "-0.89" and set5.loc["lpips", "methods"] == "7"
    assert set5.loc["psnr", "Spearman ρ vs MOS"] == "+0.89"
    assert all('src="data:image/png;base64,' in i and re.search(r'alt="\w', i) for i in images)
    depth_png = base64.b64encode((fig_dir / "depth.png").read_bytes()).decode("ascii")
    assert f'src="data:image/png;base64,{depth_png}"' in page  # the saved file, inlined
    for name in names:  # ... and each image links to its file at full size
        assert f'<a href="figures/{name}" title="open at full size"><img' in page
    # The evolution: LR, the SRResNet-MSE start, each snapshot, the final generator, HR.
    evolution = sorted(p.name for p in (fig_dir / "crops" / "evolution_Set14_comic").iterdir())
    assert evolution == [
        "final.png",
        "hr.png",
        "nearest.png",
        "start.png",
        "step10.png",
        "step20.png",
    ]
    assert 'href="figures/crops/comparison_Set14_comic/srgan_vgg54.png">SRGAN-VGG54</a>' in page
    assert not list((tmp_path / "reports").glob(".*tmp*"))  # atomic writes left nothing
    # The index: the verdict, a link to every report and figure (captioned by what it shows),
    # the banner, the provenance.
    folders = {f"{name}_dir": str(tmp_path / name) for name in ("results", "runs", "reports")}
    ctx = reports.context(**folders, **DEMO_PARAMS)
    tables.write_tables(tmp_path / "results" / "eval", tmp_path / "results" / "tables", ctx.reasons)
    index = reports.build_index(
        tmp_path / "reports", tmp_path / "results" / "tables", prov=ctx.provenance
    )
    text = index.read_text()
    _check_navigation(text, paths.INDEX)
    assert "DEMO OUTPUT" in text and "not a replication" in text
    for name in names:
        assert f"figures/{name}" in text
    assert "<figcaption>Visual comparison: Set14/comic</figcaption>" in text
    assert "<figcaption>comparison_Set14_comic.png</figcaption>" not in text
    assert "<a href='figures.html'>Figures: visual" in text
    assert "<a href='table1.html'>Table 1: the" not in text  # table1 not built here
    assert "Table 1: the content-loss study (Set5, Set14): <em>not built</em>" in text
    assert "depth" not in reports.NOTEBOOKS["figures"]  # no promise of what may not run
    assert 'id="Provenance"' in text
    verdict = _html_tables(text)[0].set_index(["table", "test set", "method"])
    assert verdict.loc[("Table 2", "Set5", "NN"), "PSNR paper"] == "26.26"
    assert verdict.loc[("Table 2", "Set5", "Bicubic"), "PSNR ours"] == "21.25"
    assert verdict.loc[("Table 2", "Set5", "SRResNet (SRResNet-MSE)"), "verdict"] == (
        "not reproduced"
    )
    assert list(verdict.columns[:2]) == ["PSNR paper", "PSNR ours"]  # as on the table pages
    n = len(verdict)
    assert n == 5 * 2 + 4 * 3  # Table 1 on Set5, Set14; Table 2's four methods on 3 sets
    assert f"0 of {n} rows reproduced" in text
    assert (tmp_path / "reports" / "verdict.png").is_file()
    assert '<a href="verdict.png" title="open at full size"><img' in text


def test_table_pages_are_self_contained_and_navigable(tmp_path: Path) -> None:
    make_outputs(tmp_path, depth=False)
    for name in paths.TABLES:
        _, page = _run_report(tmp_path, name)
        _check_navigation(page, name)
        assert f"<title>{reports.NOTEBOOKS[name]} – SRGAN replication</title>" in page
    guide = {name: render.table_guide(name) for name in paths.TABLES}
    assert "(BSD100, the offline demo" in guide["table1"]
    assert "BSD100" not in guide["table2"]  # Table 2 has BSD100: no note copied from Table 1


def test_notes_when_the_depth_study_and_training_did_not_run(tmp_path: Path) -> None:
    """The plain offline demo (bundled photographs, no mirror): notes instead of figures."""
    make_outputs(tmp_path, depth=False)
    (tmp_path / "runs").rename(tmp_path / "runs_gone")  # no training logs either
    _, page = _run_report(tmp_path, "figures", config_sets=[])
    assert "The depth study has not been run" in page
    assert "SkimageTest results" in page  # the demo's depth-study test set
    assert "No DVCLive logs in" in page
    assert "No generator snapshots in" in page
    # Of the paper's images only Set14/comic has results here: the page says so.
    assert "these have results: <code>Set14/comic</code>" in page
    figs = sorted(p.name for p in (tmp_path / "reports" / "figures").glob("*.png"))
    assert figs == [
        "comparison_Set14_comic.png",
        "perception_distortion_lpips.png",
        "perception_distortion_lpips_vgg.png",
        "perception_distortion_niqe.png",
        "psnr_distribution.png",
    ]


def test_cli_report_index_and_errors(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            ["report", "nosuch", "--out-dir", "reports", "--notebooks-dir", str(REPO / "notebooks")]
        )
        == 2
    )
    assert (
        "unknown report 'nosuch' (choose from table1, table2, figures, mos)"
        in capsys.readouterr().err
    )
    assert (
        main(["report", "table1", "--param", "1x=2", "--notebooks-dir", str(REPO / "notebooks")])
        == 2
    )
    assert "--param expects name=value" in capsys.readouterr().err
    args = ["--params", str(PARAMS), "--config", str(DEMO_CONFIG)]
    assert main(["index", "--reports-dir", "reports", "--tables-dir", "results/tables", *args]) == 0
    text = (tmp_path / "reports" / "index.html").read_text()
    assert "No tables yet (run <code>srgan tables</code>)" in text and "DEMO OUTPUT" in text


@pytest.mark.parametrize("name", ["nosuch", "../table1", "/tmp/x", "table1.ipynb", ""])
def test_run_notebook_refuses_unknown_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(
        UserError, match=r"unknown report .* \(choose from table1, table2, figures, mos\)"
    ):
        reports.run_notebook(name, tmp_path / "reports", {}, notebooks_dir=REPO / "notebooks")
    assert not (tmp_path / "reports").exists()


def test_a_notebook_that_cannot_run_is_a_user_error(tmp_path: Path, monkeypatch) -> None:
    """No kernel, a broken notebook file...: one line, no temp file, old outputs kept."""
    import papermill

    out = tmp_path / "reports"
    out.mkdir()
    (out / "table1.ipynb").write_text("the previous result")

    def no_kernel(source, output, **kwargs):
        Path(output).write_text("{")  # papermill may have started writing
        raise RuntimeError("No such kernel named python3\n(install ipykernel)")

    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)
    with pytest.raises(UserError) as info:
        reports.run_notebook("table1", out, {}, notebooks_dir=REPO / "notebooks")
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert (
        "could not run: RuntimeError: No such kernel named python3 (install ipykernel)" in message
    )
    assert sorted(p.name for p in out.iterdir()) == ["table1.ipynb"]
    assert (out / "table1.ipynb").read_text() == "the previous result"


def test_the_mos_link_leads_somewhere_before_a_study(tmp_path: Path) -> None:
    """Every page links the MOS study; until one is analysed the index writes a page saying
    how to run one and lists the report as not built; a study's report is never replaced."""
    reports_dir = tmp_path / "reports"
    index = reports.build_index(reports_dir, tmp_path / "tables")
    placeholder = (reports_dir / "mos.html").read_text()
    assert "No mean opinion score study has been analysed here yet" in placeholder
    _check_navigation(placeholder, paths.MOS_REPORT)
    assert (
        "MOS study: mean opinion scores beside the paper&#x27;s, significance: <em>not built"
        in (index.read_text())
    )
    (reports_dir / "mos.html").write_text("the study's report")
    (reports_dir / "mos.ipynb").write_text("{}")
    reports.build_index(reports_dir, tmp_path / "tables")
    assert (reports_dir / "mos.html").read_text() == "the study's report"
    assert "href='mos.html'>MOS study" in index.read_text()
