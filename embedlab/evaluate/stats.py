"""Confidence intervals and paired significance tests, on top of ``scipy.stats``.

- :func:`mean_ci`: percentile bootstrap interval of a mean (queries, pairs or items resampled).
- :func:`statistic_ci`: the same for any statistic of paired samples (e.g. a Spearman correlation).
- :func:`paired_test`: system A vs system B on the same queries: a paired randomisation (sign-flip)
  test of the mean difference, exact when there are few queries, and a bootstrap interval of the
  difference. A difference is called an improvement only when ``p < alpha`` and it is positive.

Example:
    >>> paired_test([0.5, 0.6, 0.7, 0.8], [0.5, 0.6, 0.7, 0.8]).p_value
    1.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from embedlab.errors import InputError

CONFIDENCE = 0.95
ALPHA = 0.05


@dataclass(frozen=True)
class Estimate:
    """A point value and its confidence interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"

    def to_dict(self) -> dict[str, float]:
        """``{"value", "low", "high"}``."""
        return asdict(self)


@dataclass(frozen=True)
class PairedComparison:
    """B minus A on the same units: the mean difference with its interval, and the test's p-value."""

    difference: Estimate
    p_value: float
    n: int
    alpha: float = ALPHA

    @property
    def significant(self) -> bool:
        """``p_value < alpha``."""
        return self.p_value < self.alpha

    @property
    def verdict(self) -> str:
        """``"better"`` or ``"worse"`` when significant, else ``"no significant difference"``."""
        if not self.significant or self.difference.value == 0:
            return "no significant difference"
        return "better" if self.difference.value > 0 else "worse"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the verdict."""
        return {**asdict(self), "significant": self.significant, "verdict": self.verdict}


def mean_ci(
    values: Sequence[float] | np.ndarray, *, confidence: float = CONFIDENCE, n_resamples: int = 2000, seed: int = 0
) -> Estimate:
    """The mean of ``values`` with a percentile bootstrap interval.

    Example:
        >>> mean_ci([1.0, 1.0, 1.0])
        Estimate(value=1.0, low=1.0, high=1.0)
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise InputError("Cannot estimate the mean of no values.")
    if np.all(array == array[0]):
        return Estimate(float(array[0]), float(array[0]), float(array[0]))
    result = stats.bootstrap(
        (array,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile", rng=seed
    )
    return Estimate(float(array.mean()), float(result.confidence_interval.low), float(result.confidence_interval.high))


def statistic_ci(
    statistic: Callable[..., float],
    *samples: Sequence[float] | np.ndarray,
    confidence: float = CONFIDENCE,
    n_resamples: int = 1000,
    seed: int = 0,
    vectorized: bool = False,
) -> Estimate:
    """Any statistic of paired samples (resampled together) with a percentile bootstrap interval.

    ``vectorized``: ``statistic`` takes an ``axis`` keyword and reduces along it (scipy then resamples in batches).
    """
    arrays = tuple(np.asarray(sample, dtype=np.float64) for sample in samples)
    result = stats.bootstrap(
        arrays,
        statistic,
        paired=True,
        vectorized=vectorized,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=seed,
    )
    interval = result.confidence_interval
    return Estimate(float(statistic(*arrays)), float(interval.low), float(interval.high))


def paired_test(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 10_000,
    alpha: float = ALPHA,
    seed: int = 0,
) -> PairedComparison:
    """Test whether B differs from A unit by unit (e.g. per-query NDCG): the mean of ``b - a`` against 0.

    The p-value is two-sided, from a paired randomisation test (each unit's two values swapped or not);
    with ``2**n <= n_resamples`` every arrangement is enumerated, so the p-value is exact.
    """
    first, second = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if first.shape != second.shape or first.ndim != 1:
        raise InputError(f"Paired samples must be two 1-D arrays of one length, got {first.shape} and {second.shape}.")
    differences = second - first
    if not differences.any():
        return PairedComparison(Estimate(0.0, 0.0, 0.0), 1.0, len(differences), alpha)
    test = stats.permutation_test(
        (first, second),
        lambda x, y, axis: np.mean(y - x, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        rng=seed,
    )
    return PairedComparison(mean_ci(differences, seed=seed), float(test.pvalue), len(differences), alpha)
