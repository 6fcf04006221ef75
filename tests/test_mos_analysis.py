"""The MOS statistics: hand-computed values on a fixed synthetic ratings file, a simulated
panel with known biases and noise, the screens, power, and ``srgan mos analyse``."""

from __future__ import annotations

import itertools
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srgan.cli import main as cli
from srgan.core import paths
from srgan.core.errors import UserError
from srgan.mos import analysis, formatting, screening, store

sys.path.insert(0, str(Path(__file__).parent))
from mos_helpers import TRUE_QUALITY, make_study, simulated_panel

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC = Path(__file__).parent / "data" / "mos_synthetic_ratings.csv"
#: Student's t, 97.5% quantile, 5 degrees of freedom (tables: 2.5706).
T5 = 2.5705818356363146

# The synthetic file: six raters, Set5, two images (a, b), three methods; each rater's mean:
#   NN       1, 1.5, 1,   3,   1,   1.5   -> MOS 9 / 6   = 1.5,      squares 3.0
#   bicubic  2.5, 2, 3,   2,   4,   4     -> MOS 17.5 / 6 = 2.91667, squares 4.20833
#   HR       4.5, 4.5, 4.5, 5, 3.5, 3     -> MOS 25 / 6  = 4.16667,  squares 2.83333
# plus anchors (not counted) and attention items (R4 answers an HR one with 2).
HAND_MOS = {
    "nearest": (1.5, 3.0),
    "bicubic": (17.5 / 6, 4.208333333),
    "hr": (25 / 6, 2.833333333),
}


def exact_signed_rank_p(differences: list[float]) -> float:
    """Two-sided p of the signed-rank test by counting all 2^n sign patterns (no ties)."""
    ranks = np.argsort(np.argsort(np.abs(differences))) + 1
    observed = sum(r for r, d in zip(ranks, differences, strict=True) if d < 0)
    n = len(ranks)
    mean = n * (n + 1) / 4
    extreme = sum(
        abs(sum(r for r, s in zip(ranks, signs, strict=True) if s) - mean) >= abs(observed - mean)
        for signs in itertools.product((0, 1), repeat=n)
    )
    return extreme / 2**n


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    return analysis.read_ratings(SYNTHETIC)


def test_mos_and_confidence_intervals_by_hand(synthetic) -> None:
    table = analysis.mos_table(synthetic).set_index("method")
    assert list(table.index) == ["nearest", "bicubic", "hr"]  # the paper's order
    for method, (mos, squares) in HAND_MOS.items():
        half = T5 * math.sqrt(squares / 5 / 6)  # t * sd / sqrt(n), sd^2 = squares / (n - 1)
        row = table.loc[method]
        assert row["mos"] == pytest.approx(mos, abs=1e-12)
        assert row["sd"] == pytest.approx(math.sqrt(squares / 5), abs=1e-9)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((mos - half, mos + half), abs=1e-9)
        assert (row["n_raters"], row["n_ratings"]) == (6, 12)
    assert table.loc["nearest", ["ci_low", "ci_high"]].tolist() == pytest.approx(
        [0.687111, 2.312889], abs=1e-6
    )


def test_wilcoxon_p_values_and_holm_by_hand(synthetic) -> None:
    tests = analysis.wilcoxon_tests(synthetic).set_index(["method_a", "method_b"])
    # per-rater differences, bicubic - NN: 1.5, 0.5, 2, -1, 3, 2.5: ranks of |d| 3 1 4 2 6 5,
    # R- = 2; sign patterns with a rank sum <= 2: {}, {1}, {2} -> p = 2 * 3 / 64
    assert tests.loc[("nearest", "bicubic"), "p"] == pytest.approx(6 / 64)
    assert tests.loc[("nearest", "bicubic"), "statistic"] == 2.0
    # HR - bicubic: 2, 2.5, 1.5, 3, -0.5, -1: R- = 1 + 2 = 3; {}, {1}, {2}, {3}, {1, 2}
    assert tests.loc[("bicubic", "hr"), "p"] == pytest.approx(10 / 64)
    # HR - NN: 3.5, 3, 3.5, 2, 2.5, 1.5: all positive (ties: scipy's exhaustive permutation
    # test) -> only the two extreme patterns of 64
    assert tests.loc[("nearest", "hr"), "p"] == pytest.approx(2 / 64)
    for pair, d in {
        ("nearest", "bicubic"): [1.5, 0.5, 2, -1, 3, 2.5],
        ("bicubic", "hr"): [2, 2.5, 1.5, 3, -0.5, -1],
    }.items():
        assert tests.loc[pair, "p"] == pytest.approx(exact_signed_rank_p(d))
    # Holm: sorted p 2/64, 6/64, 10/64 times 3, 2, 1 -> 6/64, 12/64, max(10/64, 12/64)
    assert tests["p_holm"].tolist() == pytest.approx([12 / 64, 6 / 64, 12 / 64])
    assert not tests["significant"].any()
    assert (tests["n"] == 6).all() and (tests["unit"] == analysis.RATER).all()
    assert tests.loc[("nearest", "bicubic"), "difference"] == pytest.approx(17 / 12)


def test_holm_matches_its_definition() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005 0.01 0.03 0.04 times 4 3 2 1: 0.02 0.03 0.06 0.04 -> running max
    assert analysis.holm(p).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert analysis.holm([0.5, 0.9]).tolist() == [1.0, 1.0]  # 2 x 0.5 caps at 1, then max


def test_power_by_hand(synthetic) -> None:
    power = analysis.power_table(synthetic).set_index(["label_a", "label_b"])
    # bicubic - NN: of the 15 pairwise sums only -1 + 0.5 is negative: p' = 14 / 15;
    # n = (1.95996 + 0.84162)^2 / (3 (14/15 - 1/2)^2) = 7.84888 / 0.56333 = 13.93 -> 14;
    # at Holm's 0.05 / 3: (2.39398 + 0.84162)^2 / 0.56333 = 18.58 -> 19
    row = power.loc[("NN", "Bicubic")]
    assert row["p_prime"] == pytest.approx(14 / 15)
    assert (row["needed"], row["needed_holm"], row["raters"]) == (14, 19, 6)
    assert analysis.smallest_exact_n(0.05) == 6  # 2 / 2^6 = 0.031 <= 0.05 < 2 / 2^5
    assert analysis.raters_needed(np.array([1.0, -1.0])) == math.inf  # p' = 1/2: no effect


def test_noether_gives_the_power_it_promises() -> None:
    """Differences ~ N(0.3, 1): at the n Noether's formula asks for, the test has ~80% power."""
    rng = np.random.default_rng(1)
    n = int(analysis.raters_needed(rng.normal(0.3, 1.0, size=3000)))
    assert 85 <= n <= 110  # p' = Phi(0.3 sqrt 2) = 0.664: n = 97
    hits = [
        analysis.wilcoxon(rng.normal(0.3, 1.0, size=n), np.zeros(n))[1] < 0.05 for _ in range(400)
    ]
    assert 0.72 <= np.mean(hits) <= 0.88


def test_the_paper_layout_puts_the_papers_mos_beside_ours(synthetic) -> None:
    layout = analysis.paper_layout(analysis.mos_table(synthetic))
    table2 = layout[layout["table"] == analysis.TABLE2].set_index("column")
    assert list(table2.index) == ["NN", "Bicubic", "HR"]
    assert table2["mos_paper"].tolist() == [1.28, 1.97, 4.32]  # Table 2, Set5
    assert table2.loc["NN", "delta"] == pytest.approx(1.5 - 1.28)
    shown = formatting.mos_paper_layout(layout, analysis.TABLE2)
    assert shown.loc[("Set5", formatting.MOS_OURS_ROW), "NN"] == "1.50 [0.69, 2.31]"
    assert shown.loc[("Set5", formatting.MOS_PAPER_ROW), "HR"] == "4.32"
    assert shown.loc[("Set5", formatting.MOS_DELTA_ROW), "HR"] == "-0.15"
    assert (layout["table"] == analysis.TABLE1).sum() == 0  # no Table 1 model was rated


def test_screens_on_the_synthetic_file(synthetic) -> None:
    screened = screening.screen(synthetic)
    assert screened.loc["R4", "attention_failed"] == 1 and screened.loc["R4", "attention"]
    assert not screened.drop(index="R4")["attention"].any()
    assert screened["modal_share"].tolist() == pytest.approx(
        [1 / 3, 1 / 2, 1 / 3, 1 / 2, 1 / 2, 1 / 2]
    )
    # R1's scores 1 1 2 3 5 4 against the others' means of the same stimuli
    tests = synthetic[synthetic["kind"] == store.TEST]
    others = tests[tests["rater"] != "R1"].groupby(["method", "image"])["score"].mean()
    own = tests[tests["rater"] == "R1"].set_index(["method", "image"])["score"]
    expected = np.corrcoef(own.to_numpy(float), others.reindex(own.index).to_numpy())[0, 1]
    assert screened.loc["R1", "panel_r"] == pytest.approx(expected)
    assert screened.loc["R4", "reasons"] == "attention, panel"


def test_bt500_rejects_an_observer_off_both_ways() -> None:
    """25 raters score each of 20 stimuli 2, 3 or 4 (5, 15 and 5 of them, in turns); one more
    gives 5 and 1 by turns. Per stimulus: mean 3.08 (or 2.92), sd 0.74, beta2 3.25 (normal),
    so 5 >= mean + 2 sd and 1 <= mean - 2 sd: the outlier's P = Q = 10 of J = 20, balanced,
    is rejected; nobody else has a score beyond 2 sd."""
    pattern = [2] * 5 + [3] * 15 + [4] * 5
    rows = []
    for stimulus in range(20):
        for rater in range(25):
            score = pattern[(rater + stimulus) % 25]
            rows.append((f"R{rater:02d}", store.TEST, "X", f"i{stimulus}", "m", None, score))
        outlier = 5 if stimulus % 2 == 0 else 1
        rows.append(("R25", store.TEST, "X", f"i{stimulus}", "m", None, outlier))
    ratings = pd.DataFrame(rows, columns=list(analysis.REQUIRED_COLUMNS))
    table = screening.bt500(ratings)
    assert table["bt500"].tolist() == [False] * 25 + [True]
    assert table.loc["R25", ["bt500_P", "bt500_Q", "bt500_J"]].tolist() == [10, 10, 20]
    assert (table.drop(index="R25")[["bt500_P", "bt500_Q"]] == 0).all().all()
    # one-sided deviations are a bias, not an unreliable observer: BT.500 keeps such a rater
    biased = ratings.assign(score=ratings["score"].where(ratings["rater"] != "R25", 5))
    assert not screening.bt500(biased).loc["R25", "bt500"]


def test_a_simulated_panel_recovers_its_ordering_and_its_bad_raters() -> None:
    ratings = simulated_panel(raters=26, images=20, bad_raters=("random", "straight"))
    mos = analysis.mos_table(ratings)
    truth = sorted(TRUE_QUALITY, key=TRUE_QUALITY.get)
    assert mos.sort_values("mos")["method"].tolist() == truth
    tests = analysis.wilcoxon_tests(ratings)
    assert len(tests) == 10 and tests["significant"].all()
    assert (tests["difference"] > 0).all()  # every pair ordered as built (a before b)
    screened = screening.screen(ratings)
    assert screened.index[screened["flagged"]].tolist() == ["R27", "R28"]
    assert screened.loc["R27", "reasons"] == "attention, panel, bt500"
    assert screened.loc["R28", "reasons"] == "straight_lining"
    kept = analysis.mos_table(screening.without_flagged(ratings, screened))
    assert kept.sort_values("mos")["method"].tolist() == truth
    assert (kept["n_raters"] == 26).all()
    # the panel's MOS is near the truth shifted by the mean bias (clipping pulls the ends in)
    error = mos.set_index("method")["mos"] - pd.Series(TRUE_QUALITY)
    assert error.abs().max() < 0.5


def test_bad_ratings_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("rater,kind,dataset,image,method,expected\nR1,test,S,a,m,\n")
    with pytest.raises(UserError, match="lacks the column"):
        analysis.read_ratings(path)
    path.write_text("rater,kind,dataset,image,method,expected,score\nR1,test,S,a,m,,7\n")
    with pytest.raises(UserError, match="line 2 has score '7', not 1-5"):
        analysis.read_ratings(path)
    path.write_text("rater,kind,dataset,image,method,expected,score\nR1,warmup,S,a,m,,3\n")
    with pytest.raises(UserError, match="unknown kind 'warmup'"):
        analysis.read_ratings(path)
    with pytest.raises(UserError, match="no ratings file"):
        analysis.read_ratings(tmp_path / "none.csv")


@pytest.mark.process
def test_the_analysis_is_torch_free() -> None:
    script = (
        "import sys, srgan.mos.analysis, srgan.mos.screening, srgan.cli.mos;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.process
def test_analyse_exports_a_study_and_writes_every_table(tmp_path: Path, capsys) -> None:
    folder = make_study(tmp_path)
    db = store.Store(folder.database)
    for code in [row["code"] for row in db.progress()]:
        for _ in range(6):  # the four anchors, then two rated positions after the pause
            at = db.position(code)
            if at.pause:
                db.resume(code, at.index)
                at = db.position(code)
            db.record(code, at.index, at.stimulus, at.expected or 4, 1000.0)
    db.close()
    out = tmp_path / "mos"
    status = cli.main(
        ["mos", "analyse", "--study", str(folder.root), "--out-dir", str(out), "--no-report"]
    )
    assert status == 0
    exported = pd.read_csv(paths.mos_ratings_file(out))
    assert list(exported.columns) == list(store.EXPORT_COLUMNS)
    assert len(exported) == 12 and set(exported["kind"]) <= set(store.KINDS)
    names = ["mos", "paper", "wilcoxon", "wilcoxon_per_image", "screening", "mos_screened"]
    for name in [*names, "wilcoxon_screened", "power"]:
        assert paths.mos_table(name, out).is_file(), name
    assert "wrote mos, paper, wilcoxon" in capsys.readouterr().out


@pytest.mark.process
def test_analyse_writes_the_report(tmp_path: Path, capsys) -> None:
    """`srgan mos analyse --ratings` on the synthetic file: the MOS report, as HTML."""
    reports_dir, out = tmp_path / "reports", tmp_path / "mos"
    argv = ["mos", "analyse", "--ratings", str(SYNTHETIC), "--out-dir", str(out)]
    argv += ["--reports-dir", str(reports_dir), "--params", str(REPO / "params.yaml")]
    argv += ["--param", f"results_dir={tmp_path / 'results'}"]
    argv += ["--param", f"runs_dir={tmp_path / 'runs'}"]
    assert cli.main(argv) == 0
    said = capsys.readouterr().out
    assert "Set5     NN        MOS 1.50 [0.69, 2.31] (paper 1.28), 6 raters" in said
    html = paths.report_page(paths.MOS_REPORT, root=reports_dir).read_text()
    for text in ("1.50 [0.69, 2.31]", "Pairing unit: the rater", "0.0938", "Holm", "R4"):
        assert text in html, text
    assert "Traceback" not in html  # (a failed cell makes the command fail, too)
    assert (reports_dir / "figures" / "mos_histograms.png").is_file()
    assert (reports_dir / "figures" / "mos.png").is_file()


# --- what the report may say with few raters -------------------------------------------------


def test_the_headline_needs_its_minimum_of_raters_and_has_an_interval() -> None:
    """(SRGAN - SRResNet) / (HR - SRResNet) from the raters' means, as the MOS are, with a
    seeded bootstrap interval over the raters; not computed below MIN_HEADLINE_RATERS."""
    ratings = simulated_panel(raters=26, images=20)
    closure = analysis.gap_closure(ratings).set_index("dataset")
    mos = analysis.mos_table(ratings).set_index("method")["mos"]
    expected = (mos["srgan_vgg54"] - mos["srresnet_mse"]) / (mos["hr"] - mos["srresnet_mse"])
    row = closure.loc["BSD100"]
    assert row["n_raters"] == 26 and row["ours"] == pytest.approx(expected, abs=1e-12)
    assert row["ci_low"] < row["ours"] < row["ci_high"] and row["ci_high"] - row["ci_low"] < 0.5
    assert row["paper"] == pytest.approx((3.56 - 2.29) / (4.46 - 2.29))  # Table 2, BSD100
    assert analysis.gap_closure(ratings).equals(analysis.gap_closure(ratings))  # seeded
    few = ratings[ratings["rater"].isin([f"R{i:02d}" for i in range(1, 10)])]  # 9 raters
    row = analysis.gap_closure(few).iloc[0]
    assert row["n_raters"] == 9 == analysis.MIN_HEADLINE_RATERS - 1
    assert math.isnan(row["ours"]) and math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])
    assert analysis.gap_closure(few, min_raters=9).iloc[0]["ours"] == pytest.approx(
        (lambda m: (m["srgan_vgg54"] - m["srresnet_mse"]) / (m["hr"] - m["srresnet_mse"]))(
            analysis.mos_table(few).set_index("method")["mos"]
        )
    )


def test_a_mos_without_an_interval_says_so() -> None:
    assert formatting.mos_interval(3.0, math.nan, math.nan) == "3.00 [no interval: 1 rater]"
    assert formatting.mos_interval(3.0, 2.5, 3.25) == "3.00 [2.50, 3.25]"
    assert formatting.mos_interval(math.nan, math.nan, math.nan) == "–"
    assert formatting.share_interval(0.625, 0.5, 0.75) == "62% [50%, 75%]"
    assert formatting.share_interval(math.nan, math.nan, math.nan) == "–"


@pytest.mark.process
def test_the_report_of_a_single_rater(tmp_path: Path) -> None:
    """One rater: no headline, every MOS says it has no interval, no test or power table that
    cannot say anything, no 'nan', nothing wider than the page; the index, already built,
    lists the report afterwards."""
    one = tmp_path / "one.csv"
    simulated_panel(raters=1, images=5, datasets=("Set5",)).to_csv(one, index=False)
    reports_dir = tmp_path / "reports"
    reports_dir.mkdir()
    (reports_dir / "index.html").write_text("an index of the workflow's reports")
    argv = ["mos", "analyse", "--ratings", str(one), "--out-dir", str(tmp_path / "mos")]
    argv += ["--reports-dir", str(reports_dir), "--params", str(REPO / "params.yaml")]
    argv += ["--param", f"results_dir={tmp_path / 'results'}"]
    argv += ["--param", f"runs_dir={tmp_path / 'runs'}"]
    assert cli.main(argv) == 0
    html = paths.report_page(paths.MOS_REPORT, root=reports_dir).read_text()
    assert "Not computed: the headline needs at least 10 raters" in html
    assert "this study has 1." in html
    assert len(re.findall(r"\d\.\d\d \[no interval: 1 rater\]", html)) >= 5  # each method
    assert not re.search(r"\bnan\b", re.sub(r"<img [^>]*>", "", html), re.IGNORECASE)
    assert "no two-sided signed-rank test on them can reach p &lt; 0.05" in html
    assert "Not computed: an effect size needs the differences of at least two raters" in html
    assert "<table" in html and not re.search(r"<tbody>\s*</tbody>", html)  # no empty table
    index = (reports_dir / "index.html").read_text()
    assert "href='mos.html'>MOS study" in index and "href='mos.ipynb'" in index
