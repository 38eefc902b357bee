"""Fusing rankings from several retrievers (vector and BM25): reciprocal rank fusion and weighted scores.

Example:
    >>> rrf([["a", "b"], ["b", "c"]], k=60)["b"] > rrf([["a", "b"], ["b", "c"]], k=60)["a"]
    True
"""

from __future__ import annotations

from collections.abc import Sequence


def rrf(rankings: Sequence[Sequence[str]], *, k: int = 60) -> dict[str, float]:
    """Reciprocal rank fusion (Cormack et al. 2009): ``score(d) = sum over rankings of 1 / (k + rank(d))``."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank)
    return fused


def weighted(first: dict[str, float], second: dict[str, float], *, alpha: float = 0.5) -> dict[str, float]:
    """``alpha * first + (1 - alpha) * second`` after min-max normalising each to [0, 1] (missing: 0)."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}.")
    a, b = _minmax(first), _minmax(second)
    return {doc: alpha * a.get(doc, 0.0) + (1 - alpha) * b.get(doc, 0.0) for doc in a.keys() | b.keys()}


def _minmax(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, 1.0)
    return {doc: (value - low) / (high - low) for doc, value in scores.items()}
