"""Hard-negative mining (random, BM25, embedding) with a false-negative guard, and an easy-to-hard curriculum.

A negative is a corpus document that is *not* relevant to a query. How hard it is depends on where it
comes from: a random document is easy, a top BM25 hit that is not relevant shares words with the query,
and a nearest neighbour of the current model is the hardest. The hardest candidates are also the most
likely to be unlabelled positives, so candidates are skipped when they rank inside ``skip_top`` or when
they score above ``margin`` times the query's (least similar) positive: a candidate the model already
finds as close as the answer is more likely relevant than wrong.

:func:`curriculum` orders strategies from easy to hard across epochs.

Example:
    >>> mined = mine_negatives(train, "embedding", encoder=Encoder(), n=1)  # doctest: +SKIP
    >>> mined.negatives["q1"], mined.skipped  # doctest: +SKIP
    (['d42'], {'margin': 131, 'window': 0, 'random_fill': 0})
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from embedlab.adapt.data import TrainingSet
from embedlab.encode import Encoder
from embedlab.errors import InputError

Strategy = Literal["random", "bm25", "embedding"]
STRATEGIES: tuple[Strategy, ...] = ("random", "bm25", "embedding")


@dataclass
class MinedNegatives:
    """``negatives[query_id]``: ``n`` document ids per query, and how many candidates the guard skipped."""

    strategy: Strategy
    negatives: dict[str, list[str]]
    skipped: dict[str, int] = field(default_factory=dict)


def mine_negatives(
    train: TrainingSet,
    strategy: Strategy,
    *,
    n: int = 1,
    encoder: Encoder | None = None,
    max_rank: int = 50,
    skip_top: int = 0,
    margin: float | None = 0.95,
    seed: int = 0,
) -> MinedNegatives:
    """Pick ``n`` negatives per query of ``train`` from its corpus.

    Args:
        train: the queries, their positives and the corpus.
        strategy: ``random``, ``bm25`` (top BM25 hits that are not positives) or ``embedding`` (nearest
            neighbours under ``encoder``, the current model).
        n: negatives per query.
        encoder: the current model, for ``embedding``.
        max_rank: candidates come from the top ``max_rank`` of the ranking.
        skip_top: the guard's rank window: the first ``skip_top`` candidates are never used.
        margin: the guard's score margin: skip candidates scoring above ``margin`` x the lowest positive's
            score (``embedding`` only, where scores are cosine similarities; ``None`` turns it off).
        seed: for ``random``, and for filling in when a ranking runs out of candidates.

    A candidate whose text equals one of the query's positives is never a negative. Queries whose ranking
    runs out of usable candidates get random negatives (counted as ``random_fill``).

    Raises:
        InputError: an unknown strategy, ``n < 1``, ``embedding`` without an encoder, a corpus with no
            document that is not a positive.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"Unknown negative strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}.")
    doc_ids = list(train.corpus)
    if len(doc_ids) <= max((len(p) for p in train.positives.values()), default=0):
        raise InputError(f"{train.name}: the corpus has no documents left to be negatives.")
    rng = random.Random(seed)
    query_ids = list(train.positives)
    skipped = {"margin": 0, "window": 0, "random_fill": 0}
    if strategy == "random":
        candidates: list[list[str]] = [[] for _ in query_ids]
    elif strategy == "bm25":
        from embedlab.evaluate.bm25 import BM25Search

        rankings = BM25Search(train.corpus)([train.queries[q] for q in query_ids], max_rank + skip_top)
        candidates = [[doc for doc, _ in ranking] for ranking in rankings]
    else:
        if encoder is None:
            raise InputError("Embedding negatives need an encoder (the current model).")
        candidates = _embedding_candidates(train, query_ids, encoder, max_rank + skip_top, margin, skipped)

    negatives: dict[str, list[str]] = {}
    for query_id, ranked in zip(query_ids, candidates, strict=True):
        positive_texts = {train.corpus[doc] for doc in train.positives[query_id]}
        excluded = set(train.positives[query_id]) | {doc for doc in ranked if train.corpus[doc] in positive_texts}
        usable = [doc for doc in ranked if doc not in excluded]
        skipped["window"] += min(skip_top, len(usable))
        chosen = usable[skip_top : skip_top + n]
        if len(chosen) < n:
            pool = [doc for doc in doc_ids if doc not in excluded and doc not in chosen]
            pool = [doc for doc in pool if train.corpus[doc] not in positive_texts]
            if len(pool) < n - len(chosen):
                raise InputError(
                    f"Query {query_id} has only {len(chosen) + len(pool)} possible negatives in a corpus of "
                    f"{len(doc_ids)}; ask for fewer than n={n}."
                )
            extra = rng.sample(pool, n - len(chosen))
            skipped["random_fill"] += len(extra) if strategy != "random" else 0
            chosen += extra
        negatives[query_id] = chosen
    return MinedNegatives(strategy=strategy, negatives=negatives, skipped=skipped)


def _embedding_candidates(
    train: TrainingSet,
    query_ids: list[str],
    encoder: Encoder,
    depth: int,
    margin: float | None,
    skipped: dict[str, int],
) -> list[list[str]]:
    doc_ids = list(train.corpus)
    position = {doc: i for i, doc in enumerate(doc_ids)}
    doc_vectors = encoder.encode([train.corpus[d] for d in doc_ids])
    query_vectors = encoder.encode([train.queries[q] for q in query_ids])
    candidates: list[list[str]] = []
    for start in range(0, len(query_ids), 256):
        scores = query_vectors[start : start + 256] @ doc_vectors.T
        top = min(depth + max(len(p) for p in train.positives.values()), len(doc_ids))
        best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
        for row, query_id in enumerate(query_ids[start : start + 256]):
            order = best[row][np.argsort(-scores[row, best[row]], kind="stable")]
            positive_ids = train.positives[query_id]
            ceiling = margin * min(scores[row, position[doc]] for doc in positive_ids) if margin is not None else np.inf
            kept = []
            for index in order:
                doc = doc_ids[index]
                if doc in positive_ids:
                    continue
                if scores[row, index] > ceiling:
                    skipped["margin"] += 1
                    continue
                kept.append(doc)
            candidates.append(kept)
    return candidates


def curriculum(epochs: int, stages: tuple[Strategy, ...] = STRATEGIES) -> list[Strategy]:
    """The negative strategy of each epoch, easy to hard.

    With fewer epochs than stages the hardest stages are kept; with more, each stage gets a block of
    epochs and the hardest stage takes the remainder.

    Example:
        >>> curriculum(4)
        ['random', 'bm25', 'embedding', 'embedding']
        >>> curriculum(2)
        ['bm25', 'embedding']
    """
    if epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}.")
    if not stages:
        raise InputError("A curriculum needs at least one stage.")
    if epochs <= len(stages):
        return list(stages[len(stages) - epochs :])
    per_stage = epochs // len(stages)
    schedule = [stage for stage in stages for _ in range(per_stage)]
    return schedule + [stages[-1]] * (epochs - len(schedule))
