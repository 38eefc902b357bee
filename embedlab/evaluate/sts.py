"""Semantic textual similarity: how well cosine similarity follows human similarity scores.

Example:
    >>> pairs = load_pairs("../shared/data/stsbenchmark/sts-test.csv")  # needs the shared STS-B data  # doctest: +SKIP
    >>> sts_correlation(Encoder(), pairs)["spearman"].value  # doctest: +SKIP
    0.8203
"""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr

from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.evaluate.data import PairSet
from embedlab.evaluate.stats import Estimate, statistic_ci

MIN_PAIRS = 10


def sts_correlation(encoder: Encoder, pairs: PairSet) -> dict[str, Estimate]:
    """Spearman and Pearson correlation of pair cosines with the gold scores, with bootstrap intervals."""
    if len(pairs.scores) < MIN_PAIRS:
        raise InputError(
            f"Need at least {MIN_PAIRS} scored pairs for a correlation and its interval, got {len(pairs.scores)}."
        )
    cosines = pair_cosines(encoder.encode(pairs.texts1), encoder.encode(pairs.texts2))
    gold = np.asarray(pairs.scores, dtype=np.float64)
    return {
        "spearman": statistic_ci(lambda x, y: float(spearmanr(x, y).statistic), cosines, gold),
        "pearson": statistic_ci(lambda x, y: float(pearsonr(x, y).statistic), cosines, gold),
    }


def pair_cosines(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The cosine of each row of ``left`` with the same row of ``right``."""
    return np.asarray((left * right).sum(axis=1) / (np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1)))
