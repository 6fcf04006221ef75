"""The MOS study builder and its database: what a study holds, the orders, the refusals."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srgan.core import paths, variants
from srgan.core.errors import UserError
from srgan.core.paper import SCALE
from srgan.evaluation import protocol as evaluation
from srgan.image.io import read_image
from srgan.mos import store, study
from srgan.mos.store import Outcome

sys.path.insert(0, str(Path(__file__).parent))
from mos_helpers import CALIBRATION_STEMS, METHODS, STEMS, make_outputs, make_study, study_config


@pytest.fixture
def built(tmp_path: Path) -> tuple[paths.StudyFolder, dict]:
    folder = make_study(tmp_path)
    return folder, json.loads(folder.manifest.read_text())


@pytest.mark.process
def test_a_study_holds_every_version_anchors_and_attention_items(built) -> None:
    folder, manifest = built
    stimuli = manifest["stimuli"]
    tests = [s for s in stimuli if s["kind"] == store.TEST]
    stems = STEMS["SetQuokka"]
    assert sorted((s["image"], s["method"]) for s in tests) == sorted(
        (stem, method) for stem in stems for method in (*METHODS, store.HR)
    )
    anchors = [s for s in stimuli if s["kind"] == store.CALIBRATION]
    assert len(anchors) == 2 * 2  # two images, NN and HR of each
    assert {(s["method"], s["expected"]) for s in anchors} == {(store.NN, 1), (store.HR, 5)}
    checks = [s for s in stimuli if s["kind"] == store.ATTENTION]
    assert [(s["method"], s["expected"]) for s in checks] == [(store.HR, 5), (store.NN, 1)]
    calibration_images = {s["image"] for s in anchors} | {s["image"] for s in checks}
    assert len(calibration_images) == 4 and calibration_images <= set(CALIBRATION_STEMS)
    assert manifest["settings"]["positions"] == 12 + 2 + 4
    assert manifest["settings"]["methods"] == [*METHODS, store.HR]
    assert manifest["software"]["srgan-repro"] and "commit" in manifest["software"]["git"]
    assert [r["seed"] for r in manifest["raters"]] == [[0, 1], [0, 2]]
    assert folder.codes.read_text().split() == [r["code"] for r in manifest["raters"]]


@pytest.mark.process
def test_stimuli_are_opaque_files_with_their_hashes(built) -> None:
    from srgan.core.fileio import sha256_file

    folder, manifest = built
    files = sorted(p.name for p in folder.stimuli.iterdir())
    assert files == sorted(f"{s['id']}.png" for s in manifest["stimuli"])
    for record in manifest["stimuli"]:
        assert len(record["id"]) == 12 and record["image"] not in record["id"]
        target = folder.stimulus(record["id"])
        assert sha256_file(target) == record["sha256"]
        assert sha256_file(Path(record["source"])) == record["source_sha256"]
        with Image.open(target) as image:
            assert image.info == {} or set(image.info) <= {"dpi"}  # no text chunks, no names
    # every version of one test image has the same size: HR is cropped as the protocol does
    by_image: dict[str, set] = {}
    for record in manifest["stimuli"]:
        size = read_image(folder.stimulus(record["id"])).shape
        by_image.setdefault(record["image"], set()).add(size)
    assert by_image[STEMS["SetQuokka"][0]] == {(32, 48, 3)}


@pytest.mark.process
def test_anchor_nn_is_the_protocols_nearest_neighbour(built) -> None:
    folder, manifest = built
    anchor = next(
        s
        for s in manifest["stimuli"]
        if s["kind"] == store.CALIBRATION and s["method"] == "nearest"
    )
    _, lr = evaluation.make_lr(read_image(anchor["source"]), scale=SCALE)
    expected = evaluation.super_resolve(
        evaluation.baseline_upscaler("nearest", SCALE), lr, "cpu", scale=SCALE
    )
    shown = read_image(folder.stimulus(anchor["id"]))
    np.testing.assert_array_equal(shown, expected)
    assert shown.shape == (40, 44, 3)
    blocks = shown.reshape(10, 4, 11, 4, 3)  # 4 x 4 blocks of one colour
    assert (blocks == blocks[:, :1, :, :1]).all()


@pytest.mark.process
def test_each_plan_covers_the_study_without_neighbours_from_one_image(built) -> None:
    folder, manifest = built
    group = {s["id"]: (s["dataset"], s["image"]) for s in manifest["stimuli"]}
    kind = {s["id"]: s["kind"] for s in manifest["stimuli"]}
    conn = sqlite3.connect(folder.database)
    plans = {}
    for code, _, stimulus in conn.execute("SELECT * FROM plan ORDER BY rater, position"):
        plans.setdefault(code, []).append(stimulus)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    anchors = [s["id"] for s in manifest["stimuli"] if s["kind"] == store.CALIBRATION]
    rated = [s["id"] for s in manifest["stimuli"] if s["kind"] != store.CALIBRATION]
    for entry in manifest["raters"]:
        plan = plans[entry["code"]]
        assert [kind[s] for s in plan[:4]] == [store.CALIBRATION] * 4
        assert sorted(plan) == sorted(anchors + rated)
        assert all(group[a] != group[b] for a, b in zip(plan, plan[1:], strict=False))
        # the order is a pure function of the recorded seed
        assert plan == study.rater_plan(anchors, rated, group, entry["seed"])
    assert plans[manifest["raters"][0]["code"]] != plans[manifest["raters"][1]["code"]]


@pytest.mark.parametrize("seed", range(40))
def test_presentation_order_keeps_neighbours_apart(seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 6, size=rng.integers(2, 7))
    items = [(group, i) for group, count in enumerate(counts) for i in range(count)]
    if counts.max() > (len(items) + 1) // 2:
        with pytest.raises(ValueError, match="no order keeps them apart"):
            study.presentation_order(items, lambda item: item[0], rng)
        return
    order = study.presentation_order(items, lambda item: item[0], rng)
    assert sorted(order) == sorted(items)
    assert all(a[0] != b[0] for a, b in zip(order, order[1:], strict=False))


def test_a_tight_order_is_still_found() -> None:
    """Three of five from one image: only a-x-a-y-a works, and it is found every time."""
    items = [("a", 1), ("a", 2), ("a", 3), ("x", 1), ("y", 1)]
    for seed in range(20):
        order = study.presentation_order(items, lambda i: i[0], np.random.default_rng(seed))
        assert [g for g, _ in order][::2] == ["a", "a", "a"]


@pytest.mark.process
def test_a_study_is_never_overwritten(built, tmp_path: Path) -> None:
    folder, _ = built
    config = study_config(tmp_path)
    conn = store.Store(folder.database)
    code = conn.progress()[0]["code"]
    position = conn.position(code)
    assert conn.record(code, 0, position.stimulus, position.expected, 900.0) is Outcome.RECORDED
    conn.close()
    with pytest.raises(UserError, match=r"already holds a study \(1 ratings\)"):
        study.create_study(config, folder.root, tmp_path / paths.SR_IMAGES_DIR, progress=False)
    assert store.count_ratings(folder.database) == 1


def test_missing_sr_images_and_too_few_anchors_are_named(tmp_path: Path) -> None:
    make_outputs(tmp_path)
    images = tmp_path / paths.SR_IMAGES_DIR
    missing = paths.sr_image(variants.SRGAN_VGG54, "SetQuokka", STEMS["SetQuokka"][1], images)
    missing.unlink()
    config = study_config(tmp_path)
    with pytest.raises(UserError, match=f"1 SR images are missing, e.g. {missing}"):
        study.create_study(config, tmp_path / "s1", images, progress=False)
    make_outputs(tmp_path)
    few = study_config(tmp_path, calibration_images=3, attention_items=2)
    with pytest.raises(UserError, match="has 4 images; the study needs 5"):
        study.create_study(few, tmp_path / "s2", images, progress=False)
    with pytest.raises(UserError, match="unknown method 'sharpest'"):
        study.create_study(config, tmp_path / "s3", images, methods=["sharpest"], progress=False)
    assert not (tmp_path / "s1").exists() and not (tmp_path / "s2").exists()


def test_the_calibration_folder_follows_the_configuration(tmp_path: Path) -> None:
    from srgan.core.config import load_config

    params = Path(__file__).resolve().parents[1] / "params.yaml"
    mirrored = load_config(params, [], [f"data.mirror={tmp_path}"])
    assert paths.mos_calibration_dir(mirrored) == tmp_path / "train" / "BSD200"
    plain = load_config(params, [], [])
    assert paths.mos_calibration_dir(plain) == paths.train_images_dir(plain)
    chosen = load_config(params, [], [f"mos.calibration_dir={tmp_path}"])
    assert paths.mos_calibration_dir(chosen) == tmp_path


# --- the store's decisions -------------------------------------------------------------------


def _dump(path: Path) -> dict[str, list]:
    conn = sqlite3.connect(path)
    tables = ("raters", "plan", "shown", "ratings", "pauses", "stimuli", "meta")
    dump = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables}
    conn.close()
    return dump


@pytest.mark.process
def test_the_store_accepts_only_the_next_planned_rating(built) -> None:
    folder, manifest = built
    db = store.Store(folder.database)
    first, second = (r["code"] for r in manifest["raters"])
    at = db.position(first)
    conn = sqlite3.connect(folder.database)
    theirs = [
        row[0] for row in conn.execute("SELECT stimulus FROM plan WHERE rater = ?", (second,))
    ]
    conn.close()
    foreign = next(s for s in theirs if s != at.stimulus)  # on the other rater's list
    assert (at.index, at.kind, at.pause, at.block) == (0, store.CALIBRATION, False, 0)
    before = _dump(folder.database)
    refused = [
        db.record("NOPE1234", 0, at.stimulus, at.expected, None),
        db.record(first, 0, at.stimulus, 0, None),
        db.record(first, 0, at.stimulus, 6, None),
        db.record(first, 1, at.stimulus, at.expected, None),
        db.record(first, 0, foreign, at.expected, None),
        db.record(first, 0, at.stimulus, 6 - at.expected, None),  # an anchor's other score
        db.resume(first, 0),
    ]
    assert refused == [
        Outcome.UNKNOWN_RATER,
        Outcome.BAD_SCORE,
        Outcome.BAD_SCORE,
        Outcome.OUT_OF_ORDER,
        Outcome.WRONG_ITEM,
        Outcome.WRONG_ANCHOR,
        Outcome.NO_PAUSE,
    ]
    assert _dump(folder.database) == before
    assert db.record(first, 0, at.stimulus, at.expected, 812.5) is Outcome.RECORDED
    assert db.record(first, 0, at.stimulus, at.expected, 812.5) is Outcome.REPLAYED
    # through the calibration: then a pause comes first
    for _ in range(3):
        now = db.position(first)
        assert db.record(first, now.index, now.stimulus, now.expected, None) is Outcome.RECORDED
    paused = db.position(first)
    assert (paused.index, paused.pause, paused.block, paused.blocks) == (4, True, 1, 3)
    assert db.record(first, 4, paused.stimulus, 3, None) is Outcome.PAUSED
    assert db.resume(first, 4) is Outcome.RECORDED
    assert db.resume(first, 4) is Outcome.NO_PAUSE
    assert db.record(first, 4, paused.stimulus, 3, None) is Outcome.RECORDED
    rows = db.export_rows()
    assert [(r["rater"], r["position"], r["score"]) for r in rows] == [
        (first, 0, at.expected),
        *[(first, i, r["score"]) for i, r in enumerate(rows[1:4], start=1)],
        (first, 4, 3),
    ]
    assert rows[0]["response_ms"] == 812.5 and rows[0]["rated_at"].endswith("Z")
    db.close()


def test_the_layout_of_pauses() -> None:
    layout = store.Layout(calibration=4, block_size=5, total=18)
    assert [i for i in range(19) if layout.pause_before(i)] == [4, 9, 14]
    assert [layout.block(i) for i in (0, 3, 4, 8, 9, 17)] == [0, 0, 1, 1, 2, 3]
    assert layout.blocks == 3


@pytest.mark.process
def test_cli_create_prints_the_codes_and_refuses_a_second_time(tmp_path: Path, capsys) -> None:
    from srgan.cli import main as cli

    make_outputs(tmp_path)
    config = study_config(tmp_path)
    sets = [
        f"data.root={config.data.root}",
        "evaluate.datasets=[SetQuokka]",
        f"workflow.variants=[{variants.SRGAN_VGG54}]",
        f"mos.calibration_dir={config.mos.calibration_dir}",
        "mos.raters=3",
        "mos.calibration_images=2",
        "mos.attention_items=2",
    ]
    argv = ["mos", "create", "--out", str(tmp_path / "study"), "--no-progress"]
    argv += ["--images-dir", str(tmp_path / paths.SR_IMAGES_DIR)]
    argv += [arg for pair in sets for arg in ("--set", pair)]
    assert cli.main(argv) == 0
    said = capsys.readouterr().out
    codes = (tmp_path / "study" / "codes.txt").read_text().split()
    assert len(codes) == 3 and " ".join(codes) in said
    assert "3 raters, 18 ratings each" in said  # 12 test + 4 anchors + 2 attention
    assert cli.main(argv) == 2
    assert "already holds a study (0 ratings)" in capsys.readouterr().err
    # one calibration image would put its NN and HR side by side: the schema wants two
    assert cli.main([*argv[:-1], "mos.calibration_images=1"]) == 2
    assert "mos.calibration_images" in capsys.readouterr().err
