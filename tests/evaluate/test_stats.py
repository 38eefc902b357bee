from __future__ import annotations

import numpy as np
import pytest

from embedlab import InputError
from embedlab.evaluate.stats import mean_ci, paired_test, statistic_ci


def test_exact_paired_test_by_hand() -> None:
    # 4 queries, B better by 0.1 on each: of the 2**4 sign arrangements only all-plus and all-minus reach
    # |mean| >= 0.1, so the exact two-sided p-value is 2/16.
    result = paired_test([0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.4, 0.5])
    assert result.p_value == pytest.approx(2 / 16)
    assert result.difference.value == pytest.approx(0.1)
    assert not result.significant and result.verdict == "no significant difference"


def test_exact_paired_test_with_mixed_signs() -> None:
    # differences +0.3, +0.1, -0.1, +0.3: observed sum 0.6. Flipping signs, |sum| >= 0.6 needs both 0.3s
    # on one side (2 ways) and not both 0.1s against them (3 of 4 ways): 6 of 16 arrangements.
    result = paired_test([0.0, 0.0, 0.1, 0.0], [0.3, 0.1, 0.0, 0.3])
    assert result.p_value == pytest.approx(6 / 16)


def test_clear_improvement_is_significant_and_identical_systems_are_not() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, 300)
    better = np.clip(a + 0.1 + rng.normal(0, 0.05, 300), 0, 1)
    result = paired_test(a, better)
    assert result.p_value < 0.001 and result.verdict == "better"
    assert result.difference.low > 0
    assert paired_test(better, a).verdict == "worse"
    same = paired_test(a, a)
    assert (same.p_value, same.verdict) == (1.0, "no significant difference")


def test_mean_ci_brackets_the_mean_and_shrinks_with_more_data() -> None:
    rng = np.random.default_rng(1)
    small, large = rng.normal(0.5, 0.2, 50), rng.normal(0.5, 0.2, 5000)
    a, b = mean_ci(small), mean_ci(large)
    assert a.low < a.value < a.high and b.low < b.value < b.high
    assert (b.high - b.low) < (a.high - a.low) / 5
    assert mean_ci([0.7, 0.7]).to_dict() == {"value": 0.7, "low": 0.7, "high": 0.7}


def test_statistic_ci_of_a_correlation() -> None:
    x = np.arange(100, dtype=float)
    estimate = statistic_ci(lambda u, v: float(np.corrcoef(u, v)[0, 1]), x, 2 * x + 1)
    assert estimate.value == pytest.approx(1.0) and estimate.low == pytest.approx(1.0)


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match="no values"):
        mean_ci([])
    with pytest.raises(InputError, match="one length"):
        paired_test([1.0, 2.0], [1.0])
