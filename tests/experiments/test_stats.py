"""The seed statistics every experiment rule uses: Student t critical values, Welch and paired intervals, TOST."""

import math

import numpy as np
import pytest

from vizcore.experiments.base import (
    bound,
    diff_bound,
    diff_se,
    equivalent,
    paired,
    spread,
    t_critical,
    welch,
)


def t_quantile(p: float, df: float) -> float:
    """Return the Student t quantile by bisection on a numerically integrated density (independent of the table)."""

    def cdf(t: float) -> float:
        x = np.linspace(0.0, t, 20_001)
        c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
        return 0.5 + float(np.trapezoid(c * (1 + x * x / df) ** (-(df + 1) / 2), x))

    lo, hi = 0.0, 50.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def test_t_critical_known_values():
    assert t_critical(2, 0.95) == pytest.approx(4.303, abs=1e-3)
    assert t_critical(4, 0.95) == pytest.approx(2.776, abs=1e-3)
    assert t_critical(3, 0.90) == pytest.approx(2.353, abs=1e-3)  # the 95% one-sided quantile
    assert t_critical(1, 0.95) == pytest.approx(12.706, abs=1e-3)
    assert t_critical(math.inf, 0.95) == pytest.approx(1.960, abs=1e-3)
    assert t_critical(2) == t_critical(2, 0.95)  # 95% is the default


@pytest.mark.parametrize("confidence", [0.90, 0.95])
def test_t_critical_matches_the_t_distribution(confidence):
    p = (1 + confidence) / 2
    for df in (1, 2, 3, 5, 8, 13, 21, 30):  # the table
        assert t_critical(df, confidence) == pytest.approx(t_quantile(p, df), abs=2e-3), df
    for df in (1.5, 2.5, 3.3, 4.7, 7.5, 45.0, 120.0):  # interpolated: Welch's fractional df, and beyond the table
        exact, t = t_quantile(p, df), t_critical(df, confidence)
        assert t >= exact - 1e-3, df  # never on the lenient side
        assert df < 2 or t <= exact + (0.06 if df < 3 else 0.01), df


def test_t_critical_rejects_what_it_cannot_answer():
    for df in (0, 0.5, math.nan):
        with pytest.raises(ValueError):
            t_critical(df)
    with pytest.raises(ValueError):
        t_critical(3, 0.99)


def test_welch_interval_of_a_difference_of_means():
    a, b = spread([0.0, 1.0, 2.0]), spread([1.0, 1.0, 1.0])  # sample variance 1 and 0
    se, df = welch(a, b)
    assert se == pytest.approx(math.sqrt(1 / 3)) and df == pytest.approx(2.0)
    assert se == pytest.approx(diff_se(a, b))
    assert diff_bound(a, b) == pytest.approx(4.303 * math.sqrt(1 / 3), abs=1e-3)
    se, df = welch(spread([0.0, 1.0, 2.0]), spread([5.0, 6.0, 7.0]))  # equal variances: df = n1 + n2 - 2
    assert se == pytest.approx(math.sqrt(2 / 3)) and df == pytest.approx(4.0)
    assert diff_bound(spread([0.0, 1.0, 2.0]), spread([5.0, 6.0, 7.0])) == pytest.approx(2.776 * math.sqrt(2 / 3))
    # one seed a side: the noise is unknown, the bound is 0 and fixed thresholds decide
    assert welch(spread([0.5]), spread([0.9])) == (None, None) and diff_bound(spread([0.5]), spread([0.9])) == 0.0
    assert diff_bound({"mean": 0.5}, {"mean": 0.9}) == 0.0


def test_the_t_bound_is_wider_than_twice_the_standard_error_with_few_seeds():
    # what the rules used before: 2 x SE, about a 90% test with 3 seeds a side
    a, b = spread([0.90, 0.92, 0.94]), spread([0.95, 0.97, 0.99])
    assert diff_bound(a, b) > 2 * diff_se(a, b)
    assert diff_bound(a, b) == pytest.approx(2.776 * diff_se(a, b), abs=1e-6)


def test_paired_and_bound():
    p = paired([0.01, 0.02, None, 0.03])
    assert p["mean"] == pytest.approx(0.02) and p["se"] == pytest.approx(0.01 / math.sqrt(3)) and p["df"] == 2
    assert p["n"] == 3
    assert bound(p["se"], p["df"]) == pytest.approx(4.303 * 0.01 / math.sqrt(3), abs=1e-5)
    assert paired([0.5]) == {"mean": 0.5, "se": None, "df": None, "n": 1}
    assert paired([])["mean"] is None and bound(None, None) is None


def test_equivalence_is_two_one_sided_tests():
    # the 90% interval of [0, 0.001, -0.001] is 0 +- 2.92 x 0.00058 = +-0.0017: inside +-0.01
    steady = paired([0.0, 0.001, -0.001])
    assert equivalent(steady["mean"], steady["se"], steady["df"], margin=0.01)
    # the same mean from seeds that disagree: the interval (+-0.05) reaches past the margin
    noisy = paired([0.05, -0.05, 0.0])
    assert noisy["mean"] == pytest.approx(0.0) and not equivalent(noisy["mean"], noisy["se"], noisy["df"], 0.01)
    # a steady difference just outside the margin is not equivalence either
    off = paired([0.012, 0.011, 0.013])
    assert not equivalent(off["mean"], off["se"], off["df"], 0.01)
    # one seed: no noise estimate, no equivalence, however small the difference
    assert not equivalent(0.0, None, None, 0.01)
    # the interval is the 90% one (two tests at 5%): se 0.001 on 4 df reaches 2.132 x 0.001 either side
    assert equivalent(0.0078, 0.001, 4, margin=0.01) and not equivalent(0.0080, 0.001, 4, margin=0.01)
