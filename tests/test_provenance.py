"""Where the reported numbers came from (srgan.report.provenance): deviations and reasons,
the profile, trained models' run records, training times, data checksums; torch-free.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_record
from report_helpers import (
    BENCH_HEADER,
    DEMO_CONFIG,
    PAPER_SETS,
    PARAMS,
    REPO,
    TEST_SETS,
    TINY,
    make_outputs,
)

from srgan.core import comparability, paper, paths, variants
from srgan.core.config import load_config
from srgan.core.errors import UserError
from srgan.core.fileio import format_sums, read_sums, sums_digest
from srgan.models import checkpoints
from srgan.report import notebooks as reports
from srgan.report import page_frame, provenance, table_display


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
    banner = page_frame.banner_html(reasons, demo=True)
    assert "NOT comparable" in banner and f"<li>{comparability.DEMO}</li>" in banner
    assert "These numbers are NOT comparable" in page_frame.banner_html(["a reason"])
    assert page_frame.banner_html([]) == ""


@pytest.mark.process
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
    markdown = table_display.provenance_markdown(prov)
    assert markdown.splitlines()[2] == f"- **Profile**: {note}"
    # The quick profile's shorter schedule is a reason: its banner lists the deviations, and
    # the provenance counts them; without a banner, the provenance lists them itself.
    assert "train.srresnet.steps" not in markdown
    assert (
        f"**Deviations from the paper in force**: {len(prov['deviations'])} settings, listed in "
        "the banner at the top of this page." in markdown
    )
    listed = table_display.provenance_markdown({**prov, "reasons": []})
    assert "- train.srresnet.steps = 100000 (paper: SRResNet: 1e6 iterations)" in listed
    assert "**Profile**" not in table_display.provenance_markdown({**prov, "profile_note": None})
    box = page_frame.profile_note_html(note)
    assert box.startswith('<div class="srgan-profile-note"') and "config/quick.yaml" in box
    assert page_frame.profile_note_html(None) == ""
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

from srgan.report import provenance, table_display, notebooks as reports, tables

ctx = reports.context(params_file=sys.argv[1], config_files=[sys.argv[2]])
assert len(ctx.provenance["models"]) == 5, ctx.provenance["models"]
assert "srgan_vgg54" in table_display.provenance_markdown(ctx.provenance)
tables.write_tables(ctx.evals_dir, Path("results/tables"), ctx.reasons)
reports.build_index(Path("reports"), Path("results/tables"), ctx.reasons, prov=ctx.provenance)
print(sorted(name for name in sys.modules if name.split(".")[0] == "torch"))
"""


@pytest.mark.process
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
