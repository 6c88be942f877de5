"""The statistics of an evaluation report: t-based confidence intervals, the paired t-test of Table 2, correlations,
a length-controlled (ANCOVA-adjusted) mean, and inter-judge agreement: ICC(2,1) and Krippendorff's alpha.

NaN marks a missing score everywhere: a mean skips it, a paired test drops the pair, agreement drops the unit.

Example:
    >>> round(icc_2_1([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]), 2)
    0.29
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np


def valid_mean(values) -> float:
    """The mean of the values that are not NaN (a score nobody could read is left out, never counted as 0); NaN
    when there is none."""
    valid = [v for v in values if not math.isnan(v)]
    return statistics.fmean(valid) if valid else math.nan


def _valid(values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[~np.isnan(array)]


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int


def mean_ci(values, confidence: float = 0.95) -> Interval:
    """Mean and its t-based confidence interval (``scipy.stats.t.interval`` with the standard error)."""
    from scipy import stats

    x = _valid(values)
    if len(x) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if len(x) < 2:
        return Interval(mean, math.nan, math.nan, 1)
    half = float(stats.t.ppf((1 + confidence) / 2, len(x) - 1)) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return Interval(mean, mean - half, mean + half, len(x))


@dataclass(frozen=True)
class Test:
    statistic: float
    p: float
    n: int


def paired_t_test(a, b) -> Test:
    """Two-sided paired t-test of ``a - b`` over the pairs where both are present."""
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    d = a[keep] - b[keep]
    n = len(d)
    if n < 2:
        return Test(math.nan, math.nan, n)
    sd = d.std(ddof=1)
    if sd == 0:
        return Test(math.nan, math.nan, n)  # as scipy: no variance, no test
    t = float(d.mean() / (sd / math.sqrt(n)))
    return Test(t, float(2 * stats.t.sf(abs(t), n - 1)), n)


def _paired(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def pearson(x, y) -> Test:
    """Pearson's r with its two-sided p-value (t with n - 2 degrees of freedom)."""
    from scipy import stats

    x, y = _paired(x, y)
    n = len(x)
    if n < 3 or x.std() == 0 or y.std() == 0:
        return Test(math.nan, math.nan, n)
    r = float(np.clip(np.corrcoef(x, y)[0, 1], -1.0, 1.0))
    if abs(r) == 1.0:
        return Test(r, 0.0, n)
    t = r * math.sqrt((n - 2) / (1 - r * r))
    return Test(r, float(2 * stats.t.sf(abs(t), n - 2)), n)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x, y) -> Test:
    """Spearman's rho: Pearson's r of the (tie-averaged) ranks."""
    x, y = _paired(x, y)
    return pearson(_ranks(x), _ranks(y)) if len(x) else Test(math.nan, math.nan, 0)


def adjusted_means(scores, covariate, groups) -> dict:
    """ANCOVA-adjusted group means: ``mean_g(y) - b * (mean_g(x) - mean(x))`` with ``b`` the pooled within-group
    slope of y on x. With x = response length, each group's score at the average length of all groups."""
    y, x = np.asarray(scores, dtype=float), np.asarray(covariate, dtype=float)
    g = np.asarray(groups, dtype=object)
    keep = ~(np.isnan(y) | np.isnan(x))
    y, x, g = y[keep], x[keep], g[keep]
    sxy = sxx = 0.0
    for name in dict.fromkeys(g):
        xs, ys = x[g == name], y[g == name]
        sxy += float(((xs - xs.mean()) * (ys - ys.mean())).sum())
        sxx += float(((xs - xs.mean()) ** 2).sum())
    slope = sxy / sxx if sxx else 0.0
    grand = float(x.mean()) if len(x) else math.nan
    adjusted = {name: float(y[g == name].mean() - slope * (x[g == name].mean() - grand)) for name in dict.fromkeys(g)}
    return {"slope": slope, "mean_covariate": grand, "means": adjusted}


def icc_2_1(ratings) -> float:
    """ICC(2,1) of Shrout & Fleiss (1979): two-way random effects, absolute agreement, one rater.

    ``ratings`` is targets x raters; targets with a missing rating are left out.
    """
    y = np.asarray(ratings, dtype=float)
    y = y[~np.isnan(y).any(axis=1)]
    n, k = y.shape
    if n < 2 or k < 2:
        return math.nan
    grand = y.mean()
    bms = k * ((y.mean(axis=1) - grand) ** 2).sum() / (n - 1)  # between targets
    jms = n * ((y.mean(axis=0) - grand) ** 2).sum() / (k - 1)  # between raters
    residual = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + grand
    ems = (residual**2).sum() / ((n - 1) * (k - 1))
    denominator = bms + (k - 1) * ems + k * (jms - ems) / n
    return float((bms - ems) / denominator) if denominator else math.nan


def cohen_kappa(a, b) -> float:
    """Cohen's kappa of two raters' labels of the same units (any hashable labels; pairs with a None left out):
    (observed - chance agreement) / (1 - chance), chance from each rater's own label frequencies."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    n = len(pairs)
    if n == 0:
        return math.nan
    labels = {x for pair in pairs for x in pair}
    observed = sum(x == y for x, y in pairs) / n
    chance = sum((sum(x == c for x, _ in pairs) / n) * (sum(y == c for _, y in pairs) / n) for c in labels)
    return float((observed - chance) / (1 - chance)) if chance < 1 else math.nan


def krippendorff_alpha(ratings, level: str = "interval") -> float:
    """Krippendorff's alpha for ``ratings`` as raters x units with NaN for missing; ``level`` interval or nominal.

    Units with fewer than two ratings are not pairable and left out (Krippendorff 2011).
    """
    if level not in ("interval", "nominal"):
        raise ValueError("level must be 'interval' or 'nominal'")
    data = np.asarray(ratings, dtype=float)
    units = [_valid(data[:, u]) for u in range(data.shape[1])]
    units = [u for u in units if len(u) >= 2]
    values = np.concatenate(units) if units else np.array([])
    n = len(values)
    if n < 2:
        return math.nan

    def disagreement(v: np.ndarray) -> float:
        """Sum of the squared distance over ordered pairs i != j."""
        if level == "interval":
            return float(2 * len(v) * (v**2).sum() - 2 * v.sum() ** 2)
        _, counts = np.unique(v, return_counts=True)
        return float(len(v) ** 2 - (counts**2).sum())

    observed = sum(disagreement(u) / (len(u) - 1) for u in units) / n
    expected = disagreement(values) / (n * (n - 1))
    return 1.0 - observed / expected if expected else math.nan
