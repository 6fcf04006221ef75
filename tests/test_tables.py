"""Tables 1 and 2: the paper's constants, ours beside them, CSV/JSON files, the CLI."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from srgan.cli.main import main
from srgan.core import comparability, paper, paths
from srgan.core.errors import UserError
from srgan.report import (
    charts,
    index_page,
    perception,
    reproduced,
    table_display,
    table_reading,
    tables,
)

REPO = Path(__file__).resolve().parents[1]
PAPER_MD = REPO.parent / "shared" / "PAPER.md"


def _entry(psnr: float, ssim: float, images: dict[str, float]) -> dict:
    """An eval JSON dataset entry; per-image scores are ``{stem: psnr}`` (SSIM = ``ssim``)."""
    return {
        "psnr": psnr,
        "ssim": ssim,
        "ssim_wang": ssim - 0.01,
        "n_images": len(images),
        "images": {
            s: {"psnr": p, "ssim": ssim, "ssim_wang": ssim - 0.01} for s, p in images.items()
        },
    }


def write_evals(folder: Path, skip: tuple[str, ...] = ()) -> None:
    """Eval JSONs for every method: PSNR = paper's Table 2/1 value + 0.5, SSIM = paper's - 0.01.

    srgan_mse has no BSD100 entry (it is not part of Table 2 anyway).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for method in paper.OUR_METHODS:
        if method in skip:
            continue
        table2_name = {v: k for k, v in paper.TABLE2_REPRODUCED.items()}.get(method)
        data = {}
        for ds in paper.TABLE2_DATASETS:
            if table2_name:
                ref = paper.TABLE2[table2_name][ds]
            elif ds in paper.TABLE1[method]:
                ref = paper.TABLE1[method][ds]
            else:
                continue
            data[ds] = _entry(ref.psnr + 0.5, ref.ssim - 0.01, {"a": ref.psnr, "b": ref.psnr + 1.0})
        (folder / f"{method}.json").write_text(json.dumps(data))


# --- the paper's numbers --------------------------------------------------------------------


def test_paper_tables_are_consistent() -> None:
    """Table 2's SRResNet is Table 1's SRResNet-MSE, its SRGAN is SRGAN-VGG54 (same numbers)."""
    for ds in paper.TABLE1_DATASETS:
        assert paper.TABLE2["srresnet"][ds] == paper.TABLE1["srresnet_mse"][ds]
        assert paper.TABLE2["srgan"][ds] == paper.TABLE1["srgan_vgg54"][ds]
    assert set(paper.TABLE2) == set(paper.TABLE2_METHODS)
    assert set(paper.TABLE1) == set(paper.TABLE1_METHODS)
    assert all(set(v) == set(paper.TABLE2_DATASETS) for v in paper.TABLE2.values())
    assert all(set(v) == set(paper.TABLE1_DATASETS) for v in paper.TABLE1.values())
    assert paper.TABLE2["hr"]["BSD100"] == paper.PaperScore(math.inf, 1.0, 4.46)
    assert set(paper.TABLE2_METHODS) == (
        set(paper.TABLE2_REPRODUCED) | set(paper.TABLE2_QUOTED) | set(paper.TABLE2_REFERENCE)
    )


def test_paper_constants_match_paper_md() -> None:
    """Every number of PAPER.md's Tables 1 and 2 is in paper.py, exactly."""
    if not PAPER_MD.is_file():
        pytest.skip(f"no {PAPER_MD}")
    text = PAPER_MD.read_text()
    t1 = text[text.index("## Table 1") : text.index("## Table 2")]
    for ds in paper.TABLE1_DATASETS:
        for metric in ("PSNR", "SSIM", "MOS"):
            line = re.search(rf"^\| {ds} {metric} \|(.*)\|$", t1, re.M).group(1)
            values = [float(v) for v in line.split("|")]
            ours = [getattr(paper.TABLE1[m][ds], metric.lower()) for m in paper.TABLE1_METHODS]
            assert ours == values, (ds, metric)
    t2 = text[text.index("## Table 2") : text.index("## Network depth")]
    for ds in paper.TABLE2_DATASETS:
        cells = re.search(rf"^\| {ds} \|(.*)\|$", t2, re.M).group(1).split("|")
        assert len(cells) == len(paper.TABLE2_METHODS)
        for method, cell in zip(paper.TABLE2_METHODS, cells, strict=True):
            psnr, ssim, mos = (float(v) for v in cell.split("/"))
            assert paper.TABLE2[method][ds] == paper.PaperScore(psnr, ssim, mos), (ds, method)


# --- building the tables ----------------------------------------------------------------------


def test_table1_rows_columns_and_deltas(tmp_path: Path) -> None:
    write_evals(tmp_path, skip=("srgan_vgg22",))
    t1, _ = tables.build_tables(tmp_path)
    assert list(t1.columns) == list(tables.COLUMNS)
    # Set5 and Set14 as in the paper, then BSD100 (evaluated, not in the paper's Table 1).
    assert len(t1) == 15
    assert t1[["dataset", "method"]].values.tolist() == [
        [ds, m] for ds in ("Set5", "Set14", "BSD100") for m in paper.TABLE1_METHODS
    ]
    bsd = t1[t1.dataset == "BSD100"]
    assert (
        bsd.psnr_paper.isna().all() and bsd.mos_paper.isna().all() and bsd.psnr_delta.isna().all()
    )
    assert bsd[bsd.method == "srresnet_mse"].psnr_ours.tolist() == [28.08]
    row = t1[(t1.dataset == "Set14") & (t1.method == "srresnet_vgg22")].iloc[0]
    assert row.psnr_paper == 27.19 and row.psnr_ours == 27.69
    assert row.psnr_delta == pytest.approx(0.5, abs=1e-12)
    assert row.ssim_delta == pytest.approx(-0.01, abs=1e-12)
    assert row.ssim_wang_ours == pytest.approx(0.7807 - 0.02)
    assert row.mos_paper == 3.15 and row.n_images == 2 and row.status == "ours"
    assert row.source == str(tmp_path / "srresnet_vgg22.json")
    missing = t1[t1.method == "srgan_vgg22"]
    assert (missing.status == "not run").all() and missing.psnr_ours.isna().all()
    assert missing.psnr_delta.isna().all() and (missing.n_images == 0).all()
    assert missing.psnr_paper.tolist()[:2] == [29.84, 26.44]  # the paper's number is still there
    assert missing.source.iloc[0] == f"{tmp_path / 'srgan_vgg22.json'} (missing)"


def test_table2_rows_status_and_models(tmp_path: Path) -> None:
    write_evals(tmp_path)
    _, t2 = tables.build_tables(tmp_path, ("a reason", "another"))
    assert len(t2) == 27
    by = t2.set_index(["dataset", "method"])
    assert by.loc[("BSD100", "srgan"), "model"] == "srgan_vgg54"
    assert by.loc[("BSD100", "srgan"), "psnr_ours"] == 25.66
    assert by.loc[("Set5", "srresnet"), "label"] == "SRResNet"
    quoted = t2[t2.method.isin(paper.TABLE2_QUOTED)]
    assert len(quoted) == 12 and (quoted.status == "quoted").all() and quoted.psnr_ours.isna().all()
    assert by.loc[("Set14", "drcn"), "psnr_paper"] == 28.02
    hr = t2[t2.method == "hr"]
    assert (hr.status == "reference").all() and (hr.psnr_paper == math.inf).all()
    assert hr.psnr_delta.isna().all()
    assert (t2.reasons == "a reason; another").all()
    assert tables.table_reasons(t2) == ["a reason", "another"]


def test_a_missing_dataset_is_not_run(tmp_path: Path) -> None:
    write_evals(tmp_path)
    data = json.loads((tmp_path / "bicubic.json").read_text())
    del data["BSD100"]
    (tmp_path / "bicubic.json").write_text(json.dumps(data))
    _, t2 = tables.build_tables(tmp_path)
    row = t2[(t2.dataset == "BSD100") & (t2.method == "bicubic")].iloc[0]
    assert row.status == "not run" and math.isnan(row.psnr_ours)
    assert row.source.endswith("bicubic.json (no BSD100 entry)")


def test_sources_frame_one_row_per_model(tmp_path: Path) -> None:
    write_evals(tmp_path, skip=("srgan_vgg54",))
    data = json.loads((tmp_path / "bicubic.json").read_text())
    del data["BSD100"]
    (tmp_path / "bicubic.json").write_text(json.dumps(data))
    _, t2 = tables.build_tables(tmp_path)
    frame = table_display.sources_frame(t2, tmp_path)
    assert frame["model"].tolist() == ["nearest", "bicubic", "srresnet_mse", "srgan_vgg54"]
    assert list(frame.columns) == [
        "method", "model", "evaluation file", "Set5 images", "Set14 images", "BSD100 images",
    ]  # fmt: skip
    frame = frame.set_index("model")
    assert (frame.loc["bicubic", "Set5 images"], frame.loc["bicubic", "BSD100 images"]) == (
        "2",
        "–",
    )
    srgan = frame.loc["srgan_vgg54"]
    assert srgan["evaluation file"] == f"{tmp_path / 'srgan_vgg54.json'} (missing)"
    assert srgan["Set5 images"] == "–"
    # One header row on the page (no two-row pandas header of a MultiIndex).
    markdown = table_display.markdown_table(table_display.sources_frame(t2, tmp_path))
    assert markdown.splitlines()[0] == (
        "| method | model | evaluation file | Set5 images | Set14 images | BSD100 images |"
    )


def test_a_test_set_outside_the_paper(tmp_path: Path) -> None:
    """The offline demo's bundled photographs: our rows, no paper numbers, no quoted rows."""
    for method in ("bicubic", "srresnet_mse", "srgan_vgg54"):
        data = {"SkimageTest": _entry(20.0, 0.5, {"astronaut": 20.0})}
        (tmp_path / f"{method}.json").write_text(json.dumps(data))
    t1, t2 = tables.build_tables(tmp_path)
    extra = t2[t2.dataset == "SkimageTest"]
    assert extra.method.tolist() == ["nearest", "bicubic", "srresnet", "srgan"]
    assert extra.status.tolist() == ["not run", "ours", "ours", "ours"]
    assert extra.psnr_paper.isna().all() and extra.psnr_delta.isna().all()
    assert len(t2) == 27 + 4 and len(t1) == 10 + 5
    assert tables.metrics(t2, "table2")["table2"] == {
        "SkimageTest": {m: {"psnr": 20.0, "ssim": 0.5}
                        for m in ("bicubic", "srresnet", "srgan")}
    }  # fmt: skip


def test_no_evaluations_at_all(tmp_path: Path) -> None:
    t1, t2 = tables.build_tables(tmp_path / "nothing")
    assert (t1.status == "not run").all()
    assert set(t2.status) == {"not run", "quoted", "reference"}
    assert tables.metrics(t2, "table2") == {"table2": {}}


def test_malformed_eval_files_name_themselves(tmp_path: Path) -> None:
    (tmp_path / "bicubic.json").write_text("{not json")
    with pytest.raises(UserError, match="bicubic.json is not valid JSON"):
        tables.load_evals(tmp_path)
    (tmp_path / "bicubic.json").write_text(json.dumps({"Set5": {"psnr": 1.0}}))
    with pytest.raises(UserError, match="'Set5' lacks ssim, ssim_wang, n_images, images"):
        tables.load_evals(tmp_path)


# --- files --------------------------------------------------------------------------------------


def test_write_tables_csv_and_metrics_json(tmp_path: Path) -> None:
    write_evals(tmp_path / "eval", skip=("nearest",))
    written = tables.write_tables(tmp_path / "eval", tmp_path / "tables")
    assert [p.name for p in written] == ["table1.csv", "table1.json", "table2.csv", "table2.json"]
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == sorted(
        p.name for p in written
    )
    # Strict JSON (no NaN/Infinity), a mapping of numbers for `dvc metrics show`.
    strict = json.loads((tmp_path / "tables" / "table2.json").read_text(), parse_constant=_refuse)
    assert list(strict) == ["table2"]
    assert list(strict["table2"]) == ["Set5", "Set14", "BSD100"]
    assert list(strict["table2"]["Set5"]) == ["bicubic", "srresnet", "srgan"]  # nearest not run
    assert strict["table2"]["Set5"]["srresnet"] == {"psnr": 32.55, "ssim": 0.8919}
    t1 = json.loads((tmp_path / "tables" / "table1.json").read_text(), parse_constant=_refuse)
    assert t1["table1"]["Set14"]["srgan_vgg54"]["psnr"] == 26.52
    # BSD100 is not in the paper's Table 1, but we evaluated it.
    assert t1["table1"]["BSD100"]["srresnet_mse"] == {"psnr": 28.08, "ssim": 0.752}
    assert list(t1["table1"]["BSD100"]) == ["srresnet_mse", "srgan_vgg54"]  # others: no BSD100
    # The CSV reads back with every row, NaN for 'not run', '' for rows without a model.
    back = table_reading.read_table(tmp_path / "tables" / "table2.csv")
    assert list(back.columns) == list(tables.COLUMNS) and len(back) == 27
    assert back[back.method == "nearest"].psnr_ours.isna().all()
    assert (back[back.method == "drcn"].model == "").all()
    assert (back[back.method == "hr"].psnr_paper == math.inf).all()
    with pytest.raises(UserError, match="run `srgan tables` first"):
        table_reading.read_table(tmp_path / "nope.csv")


def test_an_infinite_psnr_stays_out_of_the_metrics_json(tmp_path: Path) -> None:
    """An SR image identical to its HR image scores PSNR inf; ``srgan evaluate`` writes it
    as ``Infinity``. The metrics JSON must stay strict JSON: that score is left out there."""
    write_evals(tmp_path / "eval")
    path = tmp_path / "eval" / "bicubic.json"
    data = json.loads(path.read_text())
    data["Set5"]["images"]["a"]["psnr"] = math.inf
    data["Set5"]["psnr"] = math.inf  # the mean of a set with one identical image
    data["Set14"]["ssim"] = math.nan
    path.write_text(json.dumps(data))
    assert "Infinity" in path.read_text() and "NaN" in path.read_text()
    tables.write_tables(tmp_path / "eval", tmp_path / "tables")
    text = (tmp_path / "tables" / "table2.json").read_text()
    strict = json.loads(text, parse_constant=_refuse)["table2"]
    assert strict["Set5"]["bicubic"] == {
        "ssim": round(paper.TABLE2["bicubic"]["Set5"].ssim - 0.01, 5)
    }
    assert strict["Set14"]["bicubic"] == {
        "psnr": round(paper.TABLE2["bicubic"]["Set14"].psnr + 0.5, 4)
    }
    assert strict["BSD100"]["bicubic"].keys() == {"psnr", "ssim"}
    # The CSV keeps the infinite value.
    back = table_reading.read_table(tmp_path / "tables" / "table2.csv")
    row = back[(back.method == "bicubic") & (back.dataset == "Set5")]
    assert row.psnr_ours.iloc[0] == math.inf


def _refuse(name: str) -> None:
    raise AssertionError(f"non-standard JSON constant {name}")


def test_depth_table(tmp_path: Path) -> None:
    for blocks, skip, psnr in ((8, 1, 26.0), (4, 1, 25.5), (4, 0, 25.0)):
        entry = _entry(psnr, 0.7, {"x": psnr})
        (tmp_path / f"b{blocks}_skip{skip}.json").write_text(json.dumps({"BSD100": entry}))
    (tmp_path / "notes.json").write_text("{}")  # not a depth file: ignored
    depth = tables.depth_table(tmp_path)
    assert list(depth.columns) == list(tables.DEPTH_COLUMNS)
    assert depth[["blocks", "long_skip", "psnr"]].values.tolist() == [
        [4, False, 25.0],
        [4, True, 25.5],
        [8, True, 26.0],
    ]
    assert tables.depth_table(tmp_path / "missing").empty


def test_display_frame_and_formatting(tmp_path: Path) -> None:
    write_evals(tmp_path, skip=("srgan_vgg54",))
    _, t2 = tables.build_tables(tmp_path)
    frame = table_display.display_frame(t2, "Set5")
    assert frame.index.tolist() == [
        "NN", "Bicubic", "SRCNN (quoted)", "SelfExSR (quoted)", "DRCN (quoted)",
        "ESPCN (quoted)", "SRResNet (SRResNet-MSE)", "SRGAN (SRGAN-VGG54)", "HR",
    ]  # fmt: skip
    # no perceptual scores in these evaluations: their columns are left out
    shown = [
        c
        for c in table_display.DISPLAY_COLUMNS.values()
        if c not in table_display.PERCEPTUAL_COLUMNS
    ]
    assert list(frame.columns) == shown
    text = table_display.format_frame(frame)
    # These evaluations predate the colour measure: its cell is "–", not "not run".
    assert text.loc["Bicubic"].tolist() == [
        "28.43", "28.93", "+0.50", "0.8211", "0.8111", "-0.0100", "0.8011", "–", "1.97", "ours",
    ]  # fmt: skip
    assert text.loc["SRGAN (SRGAN-VGG54)", "PSNR ours"] == "not run"
    assert text.loc["SRGAN (SRGAN-VGG54)", "CIEDE2000 ours*"] == "not run"
    assert text.loc["DRCN (quoted)", "PSNR ours"] == "–"
    assert text.loc["HR", "PSNR paper"] == "∞"
    html = table_display.style_frame(frame).to_html()
    assert "font-style: italic" in html
    # Bicubic: +0.50 dB is outside the tolerance (red), -0.0100 SSIM within it (green).
    assert table_display.WITHIN_STYLE in html and table_display.OUTSIDE_STYLE in html


def test_ciede2000_is_read_where_an_evaluation_has_it(tmp_path: Path) -> None:
    write_evals(tmp_path)
    path = tmp_path / "bicubic.json"
    data = json.loads(path.read_text())
    data["Set5"]["ciede2000"] = 6.125
    data["Set5"]["images"]["a"]["ciede2000"] = 5.5
    path.write_text(json.dumps(data))
    t1, t2 = tables.build_tables(tmp_path)
    bicubic = t2[t2["method"] == "bicubic"].set_index("dataset")
    assert bicubic.loc["Set5", "ciede2000_ours"] == 6.125
    assert math.isnan(bicubic.loc["Set14", "ciede2000_ours"])  # an older entry: none
    assert tables.metrics(t2, "table2")["table2"]["Set5"]["bicubic"]["ciede2000"] == 6.125
    assert "ciede2000" not in tables.metrics(t2, "table2")["table2"]["Set14"]["bicubic"]
    text = table_display.format_frame(table_display.display_frame(t2, "Set5"))
    assert text.loc["Bicubic", "CIEDE2000 ours*"] == "6.12"  # 6.125 rounds half to even
    assert text.loc["NN", "CIEDE2000 ours*"] == "–"
    assert text.loc["DRCN (quoted)", "CIEDE2000 ours*"] == "–"
    per_image = tables.per_image_scores(tmp_path).set_index(["method", "dataset", "image"])
    assert per_image.loc[("bicubic", "Set5", "a"), "ciede2000"] == 5.5
    assert math.isnan(per_image.loc[("bicubic", "Set5", "b"), "ciede2000"])


def test_the_sets_we_ran_come_first_and_what_was_not_run_is_said_compactly(
    tmp_path: Path,
) -> None:
    """The offline demo's case: nothing on the paper's sets, our numbers on another set."""
    tmp_path.mkdir(exist_ok=True)
    for method in ("bicubic", "srresnet_mse", "srgan_vgg54"):
        entry = _entry(25.0, 0.7, {"astronaut": 25.0})
        (tmp_path / f"{method}.json").write_text(json.dumps({"SkimageTest": entry}))
    t1, t2 = tables.build_tables(tmp_path)
    assert table_display.datasets_run(t1) == ["SkimageTest"]
    assert table_display.datasets_run(t2) == ["SkimageTest"]
    shown = table_display.display_frame(t1, "SkimageTest", ran_only=True)
    assert shown.index.tolist() == ["SRResNet-MSE", "SRGAN-VGG54"]
    # a set outside the paper: no columns of paper values or differences, all "–"
    assert not set(table_display.PAPER_COLUMNS) & set(shown.columns)
    assert table_display.style_frame(shown).to_html()  # styled without the difference columns
    assert table_display.not_run_note(t1, "SkimageTest") == (
        "_Not run on SkimageTest yet (no evaluation): SRResNet-VGG22, SRGAN-MSE, SRGAN-VGG22._"
    )
    assert table_display.not_run_note(t2, "SkimageTest") == (
        "_Not run on SkimageTest yet (no evaluation): NN._"
    )
    folded = table_display.not_run_sets_html(t1)
    assert folded.startswith("<p class='srgan-not-run'><b>Not run:</b> Set5, Set14: none of")
    assert "<details><summary>The paper's numbers on Set5, Set14</summary>" in folded
    assert folded.count("<h4>") == 2 and "32.05" in folded  # SRResNet-MSE's Set5 PSNR
    assert "not run" not in folded.lower().replace("<b>not run:</b>", "")
    # every set run: nothing to say
    write_evals(tmp_path / "all")
    full1, _ = tables.build_tables(tmp_path / "all")
    assert table_display.not_run_sets_html(full1) == ""
    assert table_display.not_run_note(full1, "Set5") == ""


@pytest.mark.parametrize(
    ("delta", "tolerance", "style"),
    [
        (-0.01, reproduced.PSNR_TOLERANCE_DB, table_display.WITHIN_STYLE),  # 0.01 dB below: a match
        (0.3, reproduced.PSNR_TOLERANCE_DB, table_display.WITHIN_STYLE),
        (-0.31, reproduced.PSNR_TOLERANCE_DB, table_display.OUTSIDE_STYLE),
        (
            0.5,
            reproduced.PSNR_TOLERANCE_DB,
            table_display.OUTSIDE_STYLE,
        ),  # far above is no match either
        (-0.0099, reproduced.SSIM_TOLERANCE, table_display.WITHIN_STYLE),
        (-0.0101, reproduced.SSIM_TOLERANCE, table_display.OUTSIDE_STYLE),
        (math.nan, reproduced.SSIM_TOLERANCE, ""),
    ],
)
def test_deltas_are_coloured_by_the_tolerance_not_by_sign(
    delta: float, tolerance: float, style: str
) -> None:
    assert table_display.delta_style(delta, tolerance) == style


def test_the_verdict_counts_every_row_we_ran(tmp_path: Path) -> None:
    """NN and bicubic are rows of the verdict; k of n counts rows with a paper value; the
    difference to our bicubic is the sanity check."""
    write_evals(tmp_path, skip=("srgan_vgg54",))
    nearest = {  # within the tolerance of the paper on every set: reproduced
        ds: _entry(score.psnr - 0.29, score.ssim + 0.009, {"a": score.psnr})
        for ds, score in paper.TABLE2["nearest"].items()
    }
    (tmp_path / "nearest.json").write_text(json.dumps(nearest))
    t1, t2 = tables.build_tables(tmp_path)
    frame = reproduced.verdict({tables.TABLE1: t1, tables.TABLE2: t2})
    # Table 1: 4 variants x Set5, Set14, and SRResNet-MSE on BSD100 (no paper value);
    # Table 2: NN, bicubic, SRResNet x 3 sets. Only the 3 NN rows are within the tolerance.
    assert reproduced.verdict_count(frame) == (3, 8 + 9)
    assert (frame["verdict"] == "").sum() == 1
    table2 = frame[frame["table"] == tables.TABLE2].set_index(["dataset", "method"])
    assert table2.loc[("Set5", "nearest"), "label"] == "NN"
    bicubic = table2.loc[("Set5", "bicubic")]
    assert bicubic["psnr_delta"] == pytest.approx(0.5)  # 28.93 against the paper's 28.43
    assert bicubic["verdict"] == reproduced.NOT_REPRODUCED
    assert bicubic["psnr_vs_bicubic"] == 0.0
    assert "srgan" not in table2.index.get_level_values("method")  # not run: not judged
    assert len(frame) == len(t1[t1.status == "ours"]) + len(t2[t2.status == "ours"])
    # Results not comparable with the paper's (a demo, a shorter schedule): the same verdict,
    # marked as not a replication.
    plain = index_page.verdict_html(frame, not_comparable=False)
    assert "3 of 17 rows reproduced" in plain and "not-replication" not in plain
    for text, page in (
        (index_page.NOT_REPLICATION_DEMO, index_page.verdict_html(frame, True, demo=True)),
        (index_page.NOT_REPLICATION, index_page.verdict_html(frame, True)),
    ):
        mark = f"<p class='not-replication'>{text}</p>"
        assert mark in page and page.replace(mark, "") == plain


@pytest.mark.parametrize(
    ("psnr_delta", "ssim_delta", "verdict"),
    [
        (0.0, 0.0, reproduced.REPRODUCED),
        (-0.3, 0.01, reproduced.REPRODUCED),
        (-0.3001, 0.0, reproduced.NOT_REPRODUCED),
        (0.0, -0.0101, reproduced.NOT_REPRODUCED),
        (0.1, math.nan, reproduced.NOT_REPRODUCED),  # a paper value and no SSIM of ours
        (math.nan, math.nan, ""),  # no paper value: not judged
    ],
)
def test_row_verdict(psnr_delta: float, ssim_delta: float, verdict: str) -> None:
    assert reproduced.row_verdict(psnr_delta, ssim_delta) == verdict


def test_numbers_are_formatted_in_one_place() -> None:
    """table_display.number: the tables, the index's headline and the provenance Markdown use it."""
    assert table_display.number(28.4349, ".2f") == "28.43"
    assert table_display.number(-0.01, "+.4f") == "-0.0100"
    assert table_display.number(math.nan, ".2f") == "–"
    assert table_display.number(math.nan, ".2f", "not run") == "not run"
    assert table_display.number(math.inf, ".2f", "not run") == "∞"
    frame = pd.DataFrame({"model": ["a|b"], "seconds": [12.345], "max_rss_mb": [math.nan]})
    assert table_display.markdown_table(frame) == (
        "| model | seconds | max_rss_mb |\n|---|---|---|\n| a\\|b | 12.3 | – |\n"
    )
    assert table_display.markdown_table(frame[:0]) == "_none found_\n"


def test_the_depth_file_pattern_reads_what_paths_names() -> None:
    name = paths.depth_eval_file(paths.depth_run_name(16, 0)).name
    assert name == "b16_skip0.json" and tables.DEPTH_FILE.match(name).groups() == ("16", "0")
    assert tables.DEPTH_GLOB == "b*_skip*.json"


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_tables(tmp_path: Path, capsys) -> None:
    write_evals(tmp_path / "eval")
    depth = tmp_path / "depth"
    depth.mkdir()
    (depth / "b2_skip1.json").write_text(json.dumps({"BSD100": _entry(24.0, 0.6, {"x": 24.0})}))
    args = ["--params", str(REPO / "params.yaml"), "--config", str(REPO / "config" / "demo.yaml")]
    out = tmp_path / "tables"
    code = main(["tables", "--evals-dir", str(tmp_path / "eval"), "--out-dir", str(out),
                 "--depth-dir", str(depth), *args])  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "depth.csv",
        "table1.csv",
        "table1.json",
        "table2.csv",
        "table2.json",
    ]
    demo_reasons = pd.read_csv(out / "table1.csv")["reasons"]
    assert demo_reasons.str.startswith(comparability.DEMO).all()  # the demo's reasons, listed
    assert pd.read_csv(out / "depth.csv")["psnr"].tolist() == [24.0]
    assert "wrote" in capsys.readouterr().out
    code = main(["tables", "--evals-dir", str(tmp_path / "eval"), "--out-dir", str(out),
                 "--params", str(REPO / "params.yaml")])  # fmt: skip
    assert code == 0 and pd.read_csv(out / "table1.csv")["reasons"].isna().all()  # none
    (tmp_path / "eval" / "bicubic.json").write_text("[]")
    assert main(["tables", "--evals-dir", str(tmp_path / "eval"), "--out-dir", str(out),
                 "--params", str(REPO / "params.yaml")]) == 2  # fmt: skip
    assert "bicubic.json must map dataset names" in capsys.readouterr().err


# --- perceptual scores ---------------------------------------------------------------------------


def _add_perceptual(folder: Path, scores: dict[str, float]) -> None:
    """Give every set of every eval JSON in ``folder`` LPIPS = scores[method], NIQE = 10 x it."""
    for method, lpips in scores.items():
        path = folder / f"{method}.json"
        data = json.loads(path.read_text())
        for entry in data.values():
            entry.update(lpips=lpips, lpips_vgg=lpips + 0.1, niqe=10 * lpips)
        path.write_text(json.dumps(data))


def test_perceptual_columns_points_and_mos_correlation(tmp_path: Path) -> None:
    write_evals(tmp_path)
    lpips = {"nearest": 0.5, "bicubic": 0.4, "srresnet_mse": 0.3, "srgan_vgg54": 0.1}
    _add_perceptual(tmp_path, lpips)
    t1, t2 = tables.build_tables(tmp_path)
    row = t2[(t2["method"] == "srgan") & (t2["dataset"] == "BSD100")].iloc[0]
    assert (row["lpips_ours"], row["lpips_vgg_ours"], row["niqe_ours"]) == (0.1, 0.2, 1.0)
    assert math.isnan(t1[t1["method"] == "srgan_mse"]["lpips_ours"].iloc[0])
    assert tables.metrics(t2, "table2")["table2"]["BSD100"]["srgan"] == {
        "psnr": 25.66,
        "ssim": 0.6588,
        "lpips": 0.1,
        "lpips_vgg": 0.2,
        "niqe": 1.0,
    }
    text = table_display.format_frame(table_display.display_frame(t2, "Set5"))
    assert text.loc["Bicubic", "LPIPS ours*"] == "0.4000"
    assert text.loc["Bicubic", "NIQE ours*"] == "4.00"
    assert text.loc["DRCN (quoted)", "LPIPS ours*"] == "–"

    points = perception.perception_points(t1, t2)
    assert list(points.columns) == list(perception.POINT_COLUMNS)
    # one point per model and set: Table 2's MOS, else Table 1's
    set5 = points[points["dataset"] == "Set5"].set_index("model")
    assert len(set5) == 7 and set5.loc["srgan_vgg54", "mos_paper"] == 3.58
    assert set5.loc["srresnet_vgg22", "mos_paper"] == 3.46
    bsd100 = points[points["dataset"] == "BSD100"]  # the methods of Table 2 only
    assert bsd100["model"].tolist() == ["nearest", "bicubic", "srresnet_mse", "srgan_vgg54"]
    assert bsd100["mos_paper"].tolist() == [1.11, 1.47, 2.29, 3.56]

    rho = perception.mos_correlation(points).set_index(["dataset", "score"])
    # BSD100: 4 methods with LPIPS and a MOS; LPIPS falls as the MOS rises
    assert rho.loc[("BSD100", "lpips"), "n_methods"] == 4
    assert rho.loc[("BSD100", "lpips"), "spearman_rho"] == pytest.approx(-1.0)
    assert rho.loc[("BSD100", "niqe"), "spearman_rho"] == pytest.approx(-1.0)
    assert ("Set5", "lpips") in rho.index  # 4 of the 7 Set5 methods have LPIPS here
    # The figure: no text beside the points (labels of close points would overlap); each
    # method named once, in the legend, with the paper's MOS of each set drawn.
    fig = charts.perception_distortion_figure(points, "lpips")
    assert [ax.get_title() for ax in fig.axes] == ["Set5", "Set14", "BSD100"]
    assert all(not ax.texts for ax in fig.axes)
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[0] == "NN (paper's MOS: Set5 1.28, Set14 1.20, BSD100 1.11)"
    assert labels[-1].startswith("SRGAN-VGG54 (paper's MOS: Set5 3.58")
    assert len(labels) == 4  # the methods with LPIPS
    shown = table_display.correlation_frame(perception.mos_correlation(points))
    assert shown.columns.tolist() == ["test set", "our score", "methods", "Spearman ρ vs MOS", "p"]
    assert "-1.00" in shown["Spearman ρ vs MOS"].tolist()


# --- damaged result files: one line naming the file and the field, exit 2 ---------------------


def _srgan_tables(tmp_path: Path) -> list[str]:
    return ["tables", "--evals-dir", str(tmp_path / "eval"), "--out-dir",
            str(tmp_path / "tables"), "--params", str(REPO / "params.yaml")]  # fmt: skip


def _srgan_index(tmp_path: Path) -> list[str]:
    return ["index", "--reports-dir", str(tmp_path / "reports"), "--tables-dir",
            str(tmp_path / "tables"), "--runs-dir", str(tmp_path / "runs"),
            "--params", str(REPO / "params.yaml")]  # fmt: skip


def _one_line_error(capsys, command: str, *expected: str) -> str:
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"srgan {command}: error: ") and "Traceback" not in line, line
    for text in expected:
        assert text in line, line
    return line


@pytest.mark.parametrize(
    ("damage", "field"),
    [
        (lambda e: e["Set5"].update(psnr="abc"), "'Set5': psnr is 'abc', not a number"),
        (lambda e: e["Set5"].update(ssim=None), "'Set5': ssim is None, not a number"),
        (lambda e: e["Set5"].update(n_images="2"), "'Set5': n_images is '2', not a whole number"),
        (lambda e: e["Set5"].update(images=[]), "'Set5': images is [], not a mapping"),
        (
            lambda e: e["Set5"]["images"]["a"].update(ssim_wang="x"),
            "'Set5', image 'a': ssim_wang is 'x', not a number",
        ),
        (lambda e: e["Set5"].update(lpips=True), "'Set5': lpips is True, not a number"),
        (lambda e: e.update(Set5=3), "'Set5' is 3, not a mapping of scores"),
    ],
)
def test_a_non_number_where_a_score_belongs_is_one_line(tmp_path, capsys, damage, field) -> None:
    write_evals(tmp_path / "eval")
    path = tmp_path / "eval" / "bicubic.json"
    data = json.loads(path.read_text())
    damage(data)
    path.write_text(json.dumps(data))
    assert main(_srgan_tables(tmp_path)) == 2
    _one_line_error(capsys, "tables", f"evaluation file {path}: dataset {field}")


def test_an_empty_or_cut_evaluation_file_is_one_line(tmp_path, capsys) -> None:
    write_evals(tmp_path / "eval")
    path = tmp_path / "eval" / "bicubic.json"
    text = path.read_text()
    for damaged in ("", text[: len(text) // 2]):
        path.write_text(damaged)
        assert main(_srgan_tables(tmp_path)) == 2
        _one_line_error(capsys, "tables", f"evaluation file {path} is not valid JSON")


def _tables_written(tmp_path: Path) -> Path:
    write_evals(tmp_path / "eval")
    tables.write_tables(tmp_path / "eval", tmp_path / "tables")
    return tmp_path / "tables"


@pytest.mark.process
def test_a_cut_table_is_detected_not_read_short(tmp_path, capsys) -> None:
    folder = _tables_written(tmp_path)
    path = folder / "table1.csv"
    whole = path.read_text()
    lines = whole.splitlines(keepends=True)
    assert len(lines) == 1 + 15  # Set5, Set14, BSD100 x five variants
    assert main(_srgan_index(tmp_path)) == 0
    cuts = {
        "in a row": whole[: len(whole) - 40],
        "a row boundary": "".join(lines[:-3]),
        "a data set's end": "".join(lines[:11]),  # BSD100's rows gone, every group complete
        "the header only": lines[0],
        "inside the header": lines[0][:50],
        "empty": "",
    }
    for what, text in cuts.items():
        path.write_text(text)
        assert main(_srgan_index(tmp_path)) == 2, what
        line = _one_line_error(capsys, "index", f"table file {path}")
        assert "srgan tables" in line, (what, line)  # says what to run
    path.write_text("".join(lines[:11]))
    with pytest.raises(UserError, match=r"lacks the rows of BSD100 that table1.json has"):
        table_reading.read_table(path)
    path.write_text("".join(lines[:-3]))
    with pytest.raises(UserError, match=r"BSD100 has 2 of the 5 rows of srresnet_mse, "):
        table_reading.read_table(path)


@pytest.mark.process
def test_a_non_number_in_a_table_is_one_line(tmp_path, capsys) -> None:
    folder = _tables_written(tmp_path)
    path = folder / "table2.csv"
    frame = pd.read_csv(path, keep_default_na=False)
    frame.loc[3, "psnr_ours"] = "abc"
    frame.to_csv(path, index=False)
    assert main(_srgan_index(tmp_path)) == 2
    row = f"line 5 ({frame.loc[3, 'dataset']}, {frame.loc[3, 'method']})"
    _one_line_error(capsys, "index", f"table file {path}, {row}: psnr_ours is 'abc', not a number")
    frame.loc[3, "psnr_ours"] = "31.0"
    frame.loc[4, "status"] = "maybe"
    frame.to_csv(path, index=False)
    assert main(_srgan_index(tmp_path)) == 2
    _one_line_error(capsys, "index", "status is 'maybe', not one of ours, not run, quoted")
    frame.loc[4, "status"] = "ours"
    frame.drop(columns=["ssim_delta"]).to_csv(path, index=False)
    assert main(_srgan_index(tmp_path)) == 2
    _one_line_error(capsys, "index", f"table file {path} lacks the column ssim_delta")
