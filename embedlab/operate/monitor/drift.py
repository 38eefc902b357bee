"""Two-sample tests for monitoring, each calibrated so that its false-alarm rate is ``alpha``.

- :func:`mmd_test`: maximum mean discrepancy with an RBF kernel (median-distance bandwidth of the pooled
  sample), p-value from a permutation test over the pooled vectors.
- :func:`classifier_test`: a domain classifier (logistic regression) trained on half of each sample to
  tell reference from current; its ROC-AUC on the other half, p-value from a permutation test of the
  held-out labels (the classifier never saw them, so under no drift they are exchangeable: the test is exact).
- :func:`score_shift`: Kolmogorov-Smirnov test of two score samples (``scipy.stats.ks_2samp``).
- :func:`rate_shift`: Fisher's exact test of two rates (e.g. the empty-result rate).

Every test returns a :class:`Signal`: its statistic, p-value and whether it alarms at ``alpha`` on its own
(``monitor run`` then corrects the query tests for their number, :mod:`.family`).

Example:
    >>> rng = np.random.default_rng(0)
    >>> same = rng.normal(size=(60, 4))
    >>> mmd_test(same[:30], same[30:], seed=0).alarm
    False
    >>> mmd_test(same[:30], same[30:] + 3.0, seed=0).alarm
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from embedlab.errors import InputError

ALPHA = 0.05
PERMUTATIONS = 1000


@dataclass(frozen=True)
class Signal:
    """One monitored signal: its value, the p-value of its test (``None``: a check, not a test), alarm or not.

    ``adjusted_p`` is the p-value corrected for the run's other tests of its family (``None``: not in one, see
    :mod:`.family`); when it is set, the alarm is decided on it.
    """

    name: str
    value: float
    p_value: float | None
    alarm: bool
    detail: dict[str, Any] = field(default_factory=dict)
    adjusted_p: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def permutation_p(observed: float, permuted: np.ndarray) -> float:
    """``(1 + #{permuted >= observed}) / (1 + len(permuted))``: never 0, at most ``alpha`` with probability ``alpha``.

    Example:
        >>> permutation_p(0.5, np.array([0.1, 0.2, 0.6]))
        0.5
    """
    return float((1 + np.count_nonzero(permuted >= observed - 1e-12)) / (1 + len(permuted)))


def _two(reference: np.ndarray, current: np.ndarray, least: int) -> tuple[np.ndarray, np.ndarray]:
    first, second = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    if first.ndim != 2 or second.ndim != 2 or first.shape[1] != second.shape[1]:
        raise InputError(f"Two samples of vectors of one dimension are needed, got {first.shape} and {second.shape}.")
    if len(first) < least or len(second) < least:
        raise InputError(f"Each sample needs at least {least} vectors, got {len(first)} and {len(second)}.")
    return first, second


def mmd_test(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    alpha: float = ALPHA,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> Signal:
    """Squared MMD (biased V-statistic, RBF kernel) between the samples, with a permutation p-value."""
    first, second = _two(reference, current, 2)
    pooled = np.vstack([first, second])
    squared = np.maximum(
        (pooled**2).sum(1)[:, None] + (pooled**2).sum(1)[None, :] - 2 * pooled @ pooled.T, 0.0
    )  # fmt: skip
    upper = squared[np.triu_indices(len(pooled), 1)]
    bandwidth = float(np.median(upper[upper > 0])) if np.any(upper > 0) else 1.0
    kernel = np.exp(-squared / bandwidth)
    n, m = len(first), len(second)
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])
    weights = np.vstack([labels, np.array([rng.permutation(labels) for _ in range(permutations)])])
    values = np.einsum("ij,ij->i", weights @ kernel, weights)
    observed = float(values[0])
    p = permutation_p(observed, values[1:])
    return Signal("query_mmd", observed, p, p < alpha, {"bandwidth": bandwidth, "permutations": permutations})


def classifier_test(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    alpha: float = ALPHA,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> Signal:
    """ROC-AUC of a logistic regression telling current from reference on held-out halves, permutation p-value.

    ``detail["scores"]`` holds each held-out current vector's index and its probability of being current
    (the queries that drifted most have the highest).
    """
    from sklearn.linear_model import LogisticRegression

    first, second = _two(reference, current, 4)
    rng = np.random.default_rng(seed)
    ref_order, cur_order = rng.permutation(len(first)), rng.permutation(len(second))
    ref_train, ref_test = ref_order[: len(first) // 2], ref_order[len(first) // 2 :]
    cur_train, cur_test = cur_order[: len(second) // 2], cur_order[len(second) // 2 :]
    train = np.vstack([first[ref_train], second[cur_train]])
    target = np.concatenate([np.zeros(len(ref_train)), np.ones(len(cur_train))])
    model = LogisticRegression(C=1.0, max_iter=1000).fit(train, target)
    held = np.vstack([first[ref_test], second[cur_test]])
    scores = model.predict_proba(held)[:, 1]
    ranks = stats.rankdata(scores)
    positives = len(cur_test)
    negatives = len(ref_test)
    labels = np.concatenate([np.zeros(negatives), np.ones(positives)])
    shuffled = np.vstack([labels, np.array([rng.permutation(labels) for _ in range(permutations)])])
    rank_sums = shuffled @ ranks
    aucs = (rank_sums - positives * (positives + 1) / 2) / (positives * negatives)
    p = permutation_p(float(aucs[0]), aucs[1:])
    drifted = sorted(zip(cur_test.tolist(), scores[negatives:].tolist(), strict=True), key=lambda pair: -pair[1])
    return Signal("query_classifier_auc", float(aucs[0]), p, p < alpha,
                  {"permutations": permutations, "scores": drifted})  # fmt: skip


def score_shift(
    reference: np.ndarray, current: np.ndarray, *, name: str = "top1_score_ks", alpha: float = ALPHA
) -> Signal:
    """Kolmogorov-Smirnov statistic between two score samples, with its p-value; the medians in ``detail``."""
    first, second = np.asarray(reference, np.float64).ravel(), np.asarray(current, np.float64).ravel()
    if len(first) < 2 or len(second) < 2:
        raise InputError(f"A score shift needs at least 2 scores on each side, got {len(first)} and {len(second)}.")
    test = stats.ks_2samp(first, second)
    detail = {"reference_median": float(np.median(first)), "current_median": float(np.median(second))}
    return Signal(name, float(test.statistic), float(test.pvalue), float(test.pvalue) < alpha, detail)


def rate_shift(
    reference: tuple[int, int], current: tuple[int, int], *, name: str = "empty_rate", alpha: float = ALPHA
) -> Signal:
    """Current rate ``hits / total`` against the reference's: alarm when it is higher (one-sided Fisher test).

    Example:
        >>> rate_shift((0, 50), (0, 50)).p_value
        1.0
    """
    (ref_hits, ref_total), (cur_hits, cur_total) = reference, current
    if min(ref_total, cur_total) < 1 or not (0 <= ref_hits <= ref_total and 0 <= cur_hits <= cur_total):
        raise InputError(f"Rates need counts within their totals, got {reference} and {current}.")
    table = [[cur_hits, cur_total - cur_hits], [ref_hits, ref_total - ref_hits]]
    p = float(stats.fisher_exact(table, alternative="greater").pvalue)
    rate = cur_hits / cur_total
    return Signal(name, rate, p, p < alpha, {"reference_rate": ref_hits / ref_total})
