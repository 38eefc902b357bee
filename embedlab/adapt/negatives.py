"""Hard-negative mining (random, BM25, embedding) with a false-negative guard, and an easy-to-hard curriculum.

A negative is a corpus document that is *not* relevant to a query. How hard it is depends on where it
comes from: a random document is easy, a top BM25 hit that is not relevant shares words with the query,
and a nearest neighbour of the current model is the hardest. Each strategy (:data:`MINERS`) is a search
function, the evaluation contract ``(queries, k) -> [[(doc_id, score), ...]]`` (BM25, exact search with the
current model; ``random`` has none), and any other search function, an index's say, mines the same way.
The hardest candidates are also the most likely to be unlabelled positives, so candidates are skipped when
they rank inside ``skip_top`` or when they score above ``margin`` times the query's (least similar)
positive: a candidate the model already finds as close as the answer is more likely relevant than wrong.

:func:`curriculum` orders strategies from easy to hard across epochs.

Example:
    >>> mined = mine_negatives(train, "embedding", encoder=Encoder(), n=1)  # needs a training set  # doctest: +SKIP
    >>> mined.negatives["q1"], mined.skipped  # doctest: +SKIP
    (['d42'], {'margin': 131, 'window': 0, 'random_fill': 0})
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

from embedlab.adapt.data import TrainingSet
from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.evaluate.bm25 import BM25Search
from embedlab.evaluate.retrieval import ExactSearch, SearchFn

Strategy = Literal["random", "bm25", "embedding"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)


@dataclass(frozen=True)
class Miner:
    """A named strategy: the search function its candidates come from (none: random only).

    ``uses_model``: the search ranks with the current model, so it needs an encoder, and its scores are
    cosine similarities, so the margin guard applies.
    """

    search: Callable[[TrainingSet, Encoder | None], SearchFn | None]
    uses_model: bool = False


def _exact(train: TrainingSet, encoder: Encoder | None) -> SearchFn:
    if encoder is None:
        raise InputError("Embedding negatives need an encoder (the current model).")
    return ExactSearch(encoder, train.corpus)


MINERS: dict[Strategy, Miner] = {
    "random": Miner(lambda train, encoder: None),
    "bm25": Miner(lambda train, encoder: BM25Search(train.corpus)),
    "embedding": Miner(_exact, uses_model=True),
}


@dataclass
class MinedNegatives:
    """``negatives[query_id]``: ``n`` document ids per query, and how many candidates the guard skipped."""

    strategy: str
    negatives: dict[str, list[str]]
    skipped: dict[str, int] = field(default_factory=dict)


def miner(strategy: str) -> Miner:
    """The :class:`Miner` of a named strategy.

    Raises:
        InputError: an unknown name.
    """
    if strategy not in MINERS:
        raise InputError(f"Unknown negative strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    return MINERS[strategy]


def mine_negatives(
    train: TrainingSet,
    strategy: Strategy | SearchFn,
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
        strategy: ``random``, ``bm25`` (top BM25 hits that are not positives), ``embedding`` (nearest
            neighbours under ``encoder``, the current model), or any search function ``(queries, k) ->
            [[(doc_id, score), ...]]`` over ``train.corpus`` (an index's ``search_fn()``, say).
        n: negatives per query.
        encoder: the current model, for ``embedding``.
        max_rank: candidates come from the top ``max_rank`` of the ranking (past the positives).
        skip_top: the guard's rank window: the first ``skip_top`` candidates are never used.
        margin: the guard's score margin: skip candidates scoring above ``margin`` x the lowest positive's
            score (for ``embedding``, where scores are cosine similarities, and for a search function
            given; ``None`` turns it off). A positive the ranking stops before scores at most its last
            score.
        seed: for ``random``, and for filling in when a ranking runs out of candidates.

    A candidate whose text equals one of the query's positives is never a negative, nor is a document outside
    ``train.corpus`` (a held-out test document a search function returns). Queries whose ranking
    runs out of usable candidates get random negatives (counted as ``random_fill``).

    Raises:
        InputError: an unknown strategy, ``n < 1``, ``embedding`` without an encoder, a corpus with no
            document that is not a positive.
    """
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}.")
    doc_ids = list(train.corpus)
    most_positives = max((len(p) for p in train.positives.values()), default=0)
    if len(doc_ids) <= most_positives:
        raise InputError(f"{train.name}: the corpus has no documents left to be negatives.")
    search: SearchFn | None
    if callable(strategy):
        name, search, guard = getattr(strategy, "__name__", type(strategy).__name__), strategy, margin
    else:
        named = miner(strategy)
        name, search, guard = strategy, named.search(train, encoder), margin if named.uses_model else None
    rng = random.Random(seed)
    query_ids = list(train.positives)
    skipped = {"margin": 0, "window": 0, "random_fill": 0}
    depth = max_rank + skip_top + most_positives
    rankings = search([train.queries[q] for q in query_ids], depth) if search else [[] for _ in query_ids]

    negatives: dict[str, list[str]] = {}
    for query_id, ranking in zip(query_ids, rankings, strict=True):
        positives = train.positives[query_id]
        # A search function over a wider corpus (an index) may return documents training holds out.
        ranked = [(doc, score) for doc, score in ranking if doc not in positives and doc in train.corpus]
        if guard is not None and ranking:
            scores = dict(ranking)
            ceiling = guard * min(scores.get(doc, ranking[-1][1]) for doc in positives)
            kept = [doc for doc, score in ranked if score <= ceiling]
            skipped["margin"] += len(ranked) - len(kept)
        else:
            kept = [doc for doc, _ in ranked]
        positive_texts = {train.corpus[doc] for doc in positives}
        excluded = set(positives) | {doc for doc in kept if train.corpus[doc] in positive_texts}
        usable = [doc for doc in kept if doc not in excluded]
        skipped["window"] += min(skip_top, len(usable))
        chosen_docs = usable[skip_top : skip_top + n]
        if len(chosen_docs) < n:
            pool = [doc for doc in doc_ids if doc not in excluded and doc not in chosen_docs]
            pool = [doc for doc in pool if train.corpus[doc] not in positive_texts]
            if len(pool) < n - len(chosen_docs):
                raise InputError(
                    f"Query {query_id} has only {len(chosen_docs) + len(pool)} possible negatives in a corpus of "
                    f"{len(doc_ids)}; ask for fewer than n={n}."
                )
            extra = rng.sample(pool, n - len(chosen_docs))
            skipped["random_fill"] += len(extra) if search is not None else 0
            chosen_docs += extra
        negatives[query_id] = chosen_docs
    return MinedNegatives(strategy=name, negatives=negatives, skipped=skipped)


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
