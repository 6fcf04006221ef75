"""The statistics of a MOS study: ``srgan mos analyse`` and ``notebooks/mos.py``.

Input: a ratings file (``store.EXPORT_COLUMNS``; one row per rating, stimulus unblinded).
Only ``test`` ratings enter the MOS; anchors and attention items serve the screening
(``srgan.mos.screening``).

* **MOS** per method and data set: the mean over raters of each rater's mean score over the
  images (with a complete study: the plain mean of all ratings, as the paper reports), with a
  95% Student-t confidence interval over the raters' means. Raters, not ratings, are the
  independent units: one rater's ratings share the rater's bias and use of the scale, so an
  interval over all ratings would be too narrow.
* **Paired two-sided Wilcoxon signed-rank tests** (``scipy.stats.wilcoxon``) between every
  pair of methods of a data set. **Pairing unit: the rater** (each rater's mean over the
  images of a data set for one method, against the same rater's mean for the other), for the
  same reason; the paper does not state its unit. Per image (the mean over raters) is offered
  as a sensitivity analysis; with Set5's five images no two-sided test can reach p < 0.05.
  scipy's ``method="auto"``: the exact null distribution up to 50 pairs without ties or
  zeros, an exhaustive permutation test up to 13 pairs with them, else the normal
  approximation; zero differences are dropped (Wilcoxon's rule). **Holm's correction** over
  the pairs of one data set (the family the paper's per-set claims belong to).
* **The paper's layout**: Table 2 (NN, bicubic, SRResNet = SRResNet-MSE, SRGAN = SRGAN-VGG54,
  HR) and Table 1 (the five variants, Set5 and Set14), the paper's MOS beside ours.
* **Power**: how many raters a pair's observed effect needs for a Wilcoxon signed-rank test
  at 80% power, by Noether's formula (1987): n = (z_{1-a/2} + z_{power})^2 / (3 (p' - 1/2)^2),
  p' the probability that the sum of two raters' differences is positive (estimated from the
  observed per-rater differences); never fewer than the exact test needs to reach ``a`` at all.

This module uses paper, variants and store (names); scipy and pandas; it is torch-free, like
the rest of the report layer. The charts of these tables are ``srgan.mos.charts``.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from srgan.core import paper, variants
from srgan.core.errors import UserError
from srgan.mos import screening, store
from srgan.mos.store import HR

CONFIDENCE = 0.95
ALPHA = 0.05
POWER = 0.80
#: The columns a ratings file must have (the rest of ``store.EXPORT_COLUMNS`` is optional).
REQUIRED_COLUMNS = ("rater", "kind", "dataset", "image", "method", "expected", "score")
#: The two pairing units of the Wilcoxon tests; the first is the primary analysis.
RATER, IMAGE = "rater", "image"
UNITS = (RATER, IMAGE)
#: Our methods in the paper's order (Table 2's, then the other variants), HR last.
METHOD_ORDER = (*variants.BASELINES, *paper.TABLE1_METHODS, HR)
DATASET_ORDER = paper.TABLE2_DATASETS
#: The columns of each table (also when it is empty: no ratings yet).
MOS_COLUMNS = [
    "dataset",
    "method",
    "label",
    "mos",
    "sd",
    "ci_low",
    "ci_high",
    "n_raters",
    "n_ratings",
]
WILCOXON_COLUMNS = [
    "dataset",
    "unit",
    "method_a",
    "method_b",
    "label_a",
    "label_b",
    "n",
    "mos_a",
    "mos_b",
    "difference",
    "statistic",
    "p",
    "p_holm",
    "significant",
]
LAYOUT_COLUMNS = [
    "table",
    "dataset",
    "column",
    "method",
    "mos_paper",
    "mos_ours",
    "ci_low",
    "ci_high",
    "delta",
    "n_raters",
]
POWER_COLUMNS = ["dataset", "label_a", "label_b", "raters", "p_prime", "needed", "needed_holm"]


# --- reading --------------------------------------------------------------------------------------


def read_ratings(path: Path) -> pd.DataFrame:
    """A ratings file (``srgan mos analyse`` writes one; so does the operator's export),
    checked: the required columns, scores 1-5, known kinds. UserError naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no ratings file {path} (export one with `srgan mos analyse --study`)")
    text = {c: str for c in ("rater", "kind", "dataset", "image", "method", "stimulus")}
    try:
        ratings = pd.read_csv(path, dtype=text, keep_default_na=False, na_values={"expected": ""})
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read ratings file {path}: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in ratings.columns]
    if missing:
        raise UserError(f"{path} lacks the column(s) {', '.join(missing)}")
    scores = pd.to_numeric(ratings["score"], errors="coerce")
    bad = ~scores.isin(list(store.SCORE_LABELS))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = str(ratings["score"].iloc[row])
        raise UserError(f"{path}: line {row + 2} has score {value!r}, not 1-5")
    unknown = sorted(set(ratings["kind"]) - set(store.KINDS))
    if unknown:
        raise UserError(f"{path}: unknown kind {unknown[0]!r} (known: {', '.join(store.KINDS)})")
    return ratings.assign(score=scores.astype(int))


def test_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    return ratings[ratings["kind"] == store.TEST]


def ordered(names, order) -> list[str]:
    """``names`` in ``order``, the names ``order`` does not know after them, sorted."""
    present = set(names)
    return [n for n in order if n in present] + sorted(present - set(order))


def label(method: str) -> str:
    return paper.LABELS.get(method, method)


# --- MOS with confidence intervals ----------------------------------------------------------------


def unit_means(ratings: pd.DataFrame, unit: str = RATER) -> pd.DataFrame:
    """Test ratings averaged per (dataset, method, unit): a rater's mean over the images, or
    an image's mean over the raters. Columns dataset, method, <unit>, score."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    keys = ["dataset", "method", unit]
    return test_ratings(ratings).groupby(keys, as_index=False)["score"].mean()


def t_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t interval of the mean of ``values`` (NaN, NaN for fewer than two)."""
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    mean, sem = float(np.mean(values)), float(np.std(values, ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sem
    return mean - half, mean + half


def mos_table(ratings: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per data set and method: mos, sd (of the raters' means), ci_low, ci_high, n_raters,
    n_ratings, label; in the paper's order."""
    means = unit_means(ratings, RATER)
    counts = test_ratings(ratings).groupby(["dataset", "method"])["score"].size()
    rows = []
    for dataset in ordered(means["dataset"], DATASET_ORDER):
        of_set = means[means["dataset"] == dataset]
        for method in ordered(of_set["method"], METHOD_ORDER):
            values = of_set.loc[of_set["method"] == method, "score"].to_numpy(float)
            low, high = t_interval(values, confidence)
            rows.append(
                {
                    "dataset": dataset,
                    "method": method,
                    "label": label(method),
                    "mos": float(values.mean()),
                    "sd": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                    "ci_low": low,
                    "ci_high": high,
                    "n_raters": len(values),
                    "n_ratings": int(counts[(dataset, method)]),
                }
            )
    return pd.DataFrame(rows, columns=MOS_COLUMNS)


# --- Wilcoxon signed-rank tests with Holm's correction -------------------------------------------


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (in the input's order)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def paired(means: pd.DataFrame, dataset: str, a: str, b: str, unit: str) -> pd.DataFrame:
    """The units (raters or images) with a mean for both methods: columns a, b."""
    of_set = means[means["dataset"] == dataset]
    wide = of_set.pivot(index=unit, columns="method", values="score")
    return wide[[a, b]].dropna()


def wilcoxon(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of x - y: (statistic, p). Identical samples give
    (nan, 1.0)."""
    if np.all(x == y):
        return math.nan, 1.0
    result = stats.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided", method="auto")
    return float(result.statistic), float(result.pvalue)


def wilcoxon_tests(ratings: pd.DataFrame, unit: str = RATER) -> pd.DataFrame:
    """Every pair of methods per data set: n (pairs), mos_a, mos_b (the paired units' means),
    difference (b - a), statistic, p, p_holm (Holm within the data set), significant."""
    means = unit_means(ratings, unit)
    rows = []
    for dataset in ordered(means["dataset"], DATASET_ORDER):
        methods = ordered(means.loc[means["dataset"] == dataset, "method"], METHOD_ORDER)
        found = []
        for a, b in itertools.combinations(methods, 2):
            pairs = paired(means, dataset, a, b, unit)
            x, y = pairs[b].to_numpy(float), pairs[a].to_numpy(float)
            statistic, p = wilcoxon(x, y) if len(pairs) else (math.nan, math.nan)
            found.append(
                {
                    "dataset": dataset,
                    "unit": unit,
                    "method_a": a,
                    "method_b": b,
                    "label_a": label(a),
                    "label_b": label(b),
                    "n": len(pairs),
                    "mos_a": float(y.mean()) if len(y) else math.nan,
                    "mos_b": float(x.mean()) if len(x) else math.nan,
                    "difference": float((x - y).mean()) if len(x) else math.nan,
                    "statistic": statistic,
                    "p": p,
                }
            )
        adjusted = holm([r["p"] for r in found]) if found else []
        for row, p_holm in zip(found, adjusted, strict=True):
            row["p_holm"] = float(p_holm)
            row["significant"] = bool(p_holm < ALPHA)
        rows += found
    return pd.DataFrame(rows, columns=WILCOXON_COLUMNS)


# --- the paper's layout ---------------------------------------------------------------------------

TABLE1, TABLE2 = "Table 1", "Table 2"
#: Table 2's columns we rate (our method for each) and Table 1's.
TABLE2_COLUMNS = {**paper.TABLE2_REPRODUCED, "hr": HR}
TABLE1_COLUMNS = {m: m for m in paper.TABLE1_METHODS}


def paper_mos(table: str, column: str, dataset: str) -> float:
    """The paper's MOS of a column of Table 1 or 2 on ``dataset`` (NaN where it has none)."""
    scores = paper.TABLE2 if table == TABLE2 else paper.TABLE1
    cell = scores.get(column, {}).get(dataset)
    return cell.mos if cell is not None else math.nan


def paper_layout(mos: pd.DataFrame) -> pd.DataFrame:
    """Our MOS beside the paper's in the layout of its Tables 2 and 1: per table, data set
    and column (the paper's name), mos_paper, mos_ours, ci_low, ci_high, delta, n_raters."""
    rows = []
    for table, columns in ((TABLE2, TABLE2_COLUMNS), (TABLE1, TABLE1_COLUMNS)):
        datasets = paper.TABLE2_DATASETS if table == TABLE2 else paper.TABLE1_DATASETS
        for dataset in ordered(set(mos["dataset"]), datasets):
            for column, method in columns.items():
                ours = mos[(mos["dataset"] == dataset) & (mos["method"] == method)]
                theirs = paper_mos(table, column, dataset)
                if ours.empty:
                    continue
                row = ours.iloc[0]
                rows.append(
                    {
                        "table": table,
                        "dataset": dataset,
                        "column": paper.LABELS[column],
                        "method": method,
                        "mos_paper": theirs,
                        "mos_ours": row["mos"],
                        "ci_low": row["ci_low"],
                        "ci_high": row["ci_high"],
                        "delta": row["mos"] - theirs,
                        "n_raters": row["n_raters"],
                    }
                )
    return pd.DataFrame(rows, columns=LAYOUT_COLUMNS)


#: The fewest raters (with a rating of SRResNet, SRGAN and HR on the set) for which the report
#: gives the headline, the share of the SRResNet-HR gap SRGAN closes: the ratio of two MOS
#: differences swings by tens of percent with one rater's use of the scale in a smaller panel
#: (the paper had 26 raters). Below it the report shows the MOS with their intervals only.
MIN_HEADLINE_RATERS = 10
#: Bootstrap resamples of the raters for the headline's interval, and their seed.
BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED = 2000, 0
#: Table 2's columns of the headline: (SRResNet, SRGAN, HR).
HEADLINE_COLUMNS = ("srresnet", "srgan", "hr")
GAP_COLUMNS = ["dataset", "n_raters", "ours", "ci_low", "ci_high", "paper"]


def _closure(r, g, h):
    """(SRGAN - SRResNet) / (HR - SRResNet), elementwise; NaN where HR equals SRResNet."""
    r, g, h = (np.asarray(v, dtype=float) for v in (r, g, h))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(h != r, (g - r) / (h - r), np.nan)


def gap_closure(ratings: pd.DataFrame, min_raters: int = MIN_HEADLINE_RATERS) -> pd.DataFrame:
    """The paper's headline per data set: how much of the MOS gap between SRResNet and HR
    SRGAN closes, (SRGAN - SRResNet) / (HR - SRResNet), ours and the paper's (Table 2).

    Ours is computed over the raters who rated all three on the set (``n_raters``), from each
    rater's mean as the MOS is, with a 95% percentile bootstrap interval over those raters
    (``BOOTSTRAP_SAMPLES``, seeded); NaN (not computed) below ``min_raters`` raters."""
    methods = [TABLE2_COLUMNS[c] for c in HEADLINE_COLUMNS]
    means = unit_means(ratings, RATER)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    rows = []
    for dataset in ordered(means["dataset"], DATASET_ORDER):
        wide = means[means["dataset"] == dataset].pivot(index=RATER, columns="method")["score"]
        if not set(methods) <= set(wide.columns):
            continue
        raters = wide[methods].dropna().to_numpy(float)
        theirs = float(_closure(*(paper_mos(TABLE2, c, dataset) for c in HEADLINE_COLUMNS)))
        ours = low = high = math.nan
        if len(raters) >= min_raters:
            ours = float(_closure(*raters.mean(axis=0)))
            picks = rng.integers(0, len(raters), size=(BOOTSTRAP_SAMPLES, len(raters)))
            samples = _closure(*raters[picks].mean(axis=1).T)
            tail = 100 * (1 - CONFIDENCE) / 2
            low, high = (float(v) for v in np.nanpercentile(samples, [tail, 100 - tail]))
        rows.append(
            {
                "dataset": dataset,
                "n_raters": len(raters),
                "ours": ours,
                "ci_low": low,
                "ci_high": high,
                "paper": theirs,
            }
        )
    return pd.DataFrame(rows, columns=GAP_COLUMNS)


# --- power ---------------------------------------------------------------------------------------


def walsh_positive_share(differences: np.ndarray) -> float:
    """p': the share of pairs i < j of ``differences`` whose sum is positive (ties count
    half), the probability Noether's formula needs."""
    d = np.asarray(differences, dtype=float)
    i, j = np.triu_indices(len(d), k=1)
    sums = d[i] + d[j]
    if not len(sums):
        return math.nan
    return float(np.mean(sums > 0) + 0.5 * np.mean(sums == 0))


def smallest_exact_n(alpha: float) -> int:
    """The fewest pairs with which a two-sided exact signed-rank test can reach ``alpha``
    (its smallest p is 2 / 2^n)."""
    return math.ceil(math.log2(2.0 / alpha))


def raters_needed(differences: np.ndarray, alpha: float = ALPHA, power: float = POWER) -> float:
    """Noether's sample size for the observed per-rater ``differences`` (inf: no effect)."""
    share = walsh_positive_share(differences)
    if math.isnan(share) or share == 0.5:
        return math.inf
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(max(math.ceil(z**2 / (3 * (share - 0.5) ** 2)), smallest_exact_n(alpha)))


def power_table(ratings: pd.DataFrame, alpha: float = ALPHA, power: float = POWER) -> pd.DataFrame:
    """Per pair of methods and data set: the raters now, p', and the raters a test needs at
    ``power``: at ``alpha``, and at Holm's strictest level alpha / m (m pairs in the set)."""
    means = unit_means(ratings, RATER)
    rows = []
    for dataset in ordered(means["dataset"], DATASET_ORDER):
        methods = ordered(means.loc[means["dataset"] == dataset, "method"], METHOD_ORDER)
        pairs = list(itertools.combinations(methods, 2))
        for a, b in pairs:
            both = paired(means, dataset, a, b, RATER)
            differences = (both[b] - both[a]).to_numpy(float)
            rows.append(
                {
                    "dataset": dataset,
                    "label_a": label(a),
                    "label_b": label(b),
                    "raters": len(both),
                    "p_prime": walsh_positive_share(differences),
                    "needed": raters_needed(differences, alpha, power),
                    "needed_holm": raters_needed(differences, alpha / len(pairs), power),
                }
            )
    return pd.DataFrame(rows, columns=POWER_COLUMNS)


def paper_table_value(method: str, dataset: str) -> float:
    """The paper's MOS of our ``method`` on ``dataset``: Table 2's column standing for it,
    else Table 1's (NaN where the paper has none)."""
    for column, ours in TABLE2_COLUMNS.items():
        if ours == method and not math.isnan(paper_mos(TABLE2, column, dataset)):
            return paper_mos(TABLE2, column, dataset)
    return paper_mos(TABLE1, method, dataset)


# --- everything at once (srgan mos analyse) ------------------------------------------------------


def analyse(ratings: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every table of the report, by the name ``paths.mos_table`` files it under: the MOS
    (all raters), the paper's layout, the Wilcoxon tests (per rater; per image), the
    screening, the MOS and tests without the flagged raters, and the power analysis."""
    screened = screening.screen(ratings)
    kept = screening.without_flagged(ratings, screened)
    mos = mos_table(ratings)
    return {
        "mos": mos,
        "paper": paper_layout(mos),
        "wilcoxon": wilcoxon_tests(ratings, RATER),
        "wilcoxon_per_image": wilcoxon_tests(ratings, IMAGE),
        "screening": screened.reset_index(),
        "mos_screened": mos_table(kept),
        "wilcoxon_screened": wilcoxon_tests(kept, RATER),
        "power": power_table(ratings),
    }
