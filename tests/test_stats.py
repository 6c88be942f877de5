"""The report's statistics against scipy on fixed data, and against published worked examples."""

import math

import numpy as np
import pytest
from scipy import stats as sp

from mirror_hf.judges import stats

A = [3.5, 4.0, 2.75, 4.25, 3.0, 3.75, float("nan"), 4.5, 2.5, 3.25]
B = [3.0, 3.75, 3.0, 3.5, 2.25, 3.5, 4.0, 4.0, 2.0, float("nan")]


def test_confidence_interval_equals_scipy():
    x = np.array([v for v in A if not math.isnan(v)])
    low, high = sp.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sp.sem(x))
    ci = stats.mean_ci(A)
    assert (ci.mean, ci.low, ci.high, ci.n) == pytest.approx((x.mean(), low, high, 9))
    assert math.isnan(stats.mean_ci([2.0]).low) and stats.mean_ci([]).n == 0


def test_paired_t_test_equals_scipy_and_drops_incomplete_pairs():
    keep = [i for i in range(len(A)) if not (math.isnan(A[i]) or math.isnan(B[i]))]
    expected = sp.ttest_rel([A[i] for i in keep], [B[i] for i in keep])
    test = stats.paired_t_test(A, B)
    assert (test.statistic, test.p, test.n) == pytest.approx((expected.statistic, expected.pvalue, 8))
    assert math.isnan(stats.paired_t_test([1, 2], [1, 2]).p)  # no variance: no test


def test_correlations_equal_scipy_with_ties():
    x = [12, 30, 30, 45, 8, 22, 61, 30, float("nan"), 17]
    y = [3.0, 4.0, 3.5, 4.5, 2.0, 3.5, 5.0, 3.0, 1.0, 3.5]
    xs, ys = zip(*[(a, b) for a, b in zip(x, y, strict=True) if not math.isnan(a)], strict=True)
    p, s = stats.pearson(x, y), stats.spearman(x, y)
    assert (p.statistic, p.p) == pytest.approx(tuple(sp.pearsonr(xs, ys)))
    assert (s.statistic, s.p) == pytest.approx(tuple(sp.spearmanr(xs, ys)))
    assert p.n == s.n == 9


def test_icc_2_1_published_example():
    """Shrout & Fleiss (1979), Table 2: six targets, four judges; ICC(2,1) = 0.29."""
    ratings = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    assert round(stats.icc_2_1(ratings), 2) == 0.29
    assert stats.icc_2_1([[1, 1], [2, 2], [5, 5]]) == pytest.approx(1.0)


def test_cohen_kappa_published_example():
    """Wikipedia's worked example ("Cohen's kappa"): 50 proposals, both raters yes on 20, no on 15, A yes and B no on
    5, A no and B yes on 10: p_o = 0.7, p_e = 0.5, kappa = 0.4."""
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert stats.cohen_kappa(a, b) == pytest.approx(0.4)
    assert stats.cohen_kappa(a, a) == 1.0
    assert stats.cohen_kappa([*a, None], [*b, "yes"]) == pytest.approx(0.4)  # a missing label leaves the pair out
    assert math.isnan(stats.cohen_kappa(["A", "A"], ["A", "A"]))  # chance agreement 1: undefined


def test_krippendorff_alpha_published_example():
    """Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers, 12 units, missing values;
    alpha = 0.743 nominal, 0.849 interval."""
    nan = float("nan")
    ratings = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
    assert round(stats.krippendorff_alpha(ratings, "nominal"), 3) == 0.743
    assert round(stats.krippendorff_alpha(ratings, "interval"), 3) == 0.849


def test_adjusted_means_equal_a_least_squares_ancova():
    rng = np.random.default_rng(0)
    groups = ["a"] * 6 + ["b"] * 5 + ["c"] * 7
    x = rng.uniform(10, 60, len(groups))
    y = 2 + 0.03 * x + np.array([{"a": 0.0, "b": 0.5, "c": -0.4}[g] for g in groups]) + rng.normal(0, 0.2, len(x))
    found = stats.adjusted_means(y, x, groups)
    names = ["a", "b", "c"]
    design = np.column_stack([[g == n for g in groups] for n in names] + [x]).astype(float)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    assert found["slope"] == pytest.approx(coef[-1])
    for k, name in enumerate(names):
        assert found["means"][name] == pytest.approx(coef[k] + coef[-1] * x.mean())
