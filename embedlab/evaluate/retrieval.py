"""Retrieval evaluation: any search callable, scored with ranx's metrics, per query and averaged.

A *search function* takes a list of query texts and ``k`` and returns, for each query, its ranked
``(doc_id, score)`` list. :func:`evaluate` calls it on a benchmark's queries and scores the ranking with
`ranx <https://github.com/AmenRa/ranx>`_ (tested against trec_eval; NDCG uses linear gains, as BEIR and
MTEB do). The ranking is taken in the order returned: ties in score are broken by that order, not by
document id. :func:`exact_search` and :class:`embedlab.evaluate.bm25.BM25Search` make search functions;
later an index, a hybrid search or a remote server plugs in the same way.

Example:
    >>> search = exact_search(Encoder(), bench.corpus)  # doctest: +SKIP
    >>> result = evaluate(search, bench)  # doctest: +SKIP
    >>> result.mean["ndcg@10"]  # doctest: +SKIP
    0.6451
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.evaluate.data import RetrievalBenchmark

Ranking = list[tuple[str, float]]
SearchFn = Callable[[Sequence[str], int], list[Ranking]]

DEFAULT_METRICS = ("ndcg@10", "mrr@10", "map@10", "recall@10", "recall@100", "precision@10", "hit_rate@10")


@dataclass
class RetrievalResult:
    """Averaged and per-query metric values, and the rankings they were computed from."""

    mean: dict[str, float]
    per_query: dict[str, dict[str, float]]
    rankings: dict[str, Ranking] = field(repr=False, default_factory=dict)


def retrieval_metrics(
    qrels: dict[str, dict[str, int]],
    rankings: dict[str, Ranking],
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> RetrievalResult:
    """Score rankings against graded qrels with ranx; every judged query counts (no ranking = all zero).

    Example:
        >>> retrieval_metrics({"q": {"a": 1}}, {"q": [("b", 0.9), ("a", 0.5)]}, ["mrr@10"]).mean
        {'mrr@10': 0.5}
    """
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    if not qrels:
        raise InputError("No judged queries to evaluate.")
    query_ids = list(qrels)
    run: dict[str, dict[str, float]] = {}
    for qid in query_ids:
        ranked = _unique(rankings.get(qid, []))
        # Scores by rank so ranx keeps the order returned (its sort would reorder ties).
        run[qid] = {doc: float(len(ranked) - rank) for rank, doc in enumerate(ranked)} or {"\0none": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's first-call notices
        values = ranx_evaluate(Qrels(qrels), Run(run), list(metrics), return_mean=False, make_comparable=True)
    if len(metrics) == 1:
        values = {metrics[0]: values}
    per_query = {qid: {m: float(values[m][i]) for m in metrics} for i, qid in enumerate(query_ids)}
    mean = {m: float(np.mean(values[m])) for m in metrics}
    return RetrievalResult(mean=mean, per_query=per_query, rankings=rankings)


def evaluate(
    search: SearchFn,
    benchmark: RetrievalBenchmark,
    *,
    k: int = 100,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> RetrievalResult:
    """Run ``search`` on every benchmark query (top ``k``) and score the rankings."""
    query_ids = list(benchmark.queries)
    results = search([benchmark.queries[qid] for qid in query_ids], k)
    if len(results) != len(query_ids):
        raise InputError(f"The search function returned {len(results)} rankings for {len(query_ids)} queries.")
    return retrieval_metrics(benchmark.qrels, dict(zip(query_ids, results, strict=True)), metrics)


def exact_search(encoder: Encoder, corpus: dict[str, str], *, batch: int = 256) -> SearchFn:
    """A search function over ``corpus`` by exact cosine (dot product of normalised vectors).

    The corpus is encoded once, here; each call encodes its queries and ranks every document.
    """
    doc_ids = list(corpus)
    doc_vectors = encoder.encode([corpus[d] for d in doc_ids])

    def search(queries: Sequence[str], k: int) -> list[Ranking]:
        query_vectors = encoder.encode(list(queries))
        rankings: list[Ranking] = []
        for start in range(0, len(query_vectors), batch):
            scores = query_vectors[start : start + batch] @ doc_vectors.T
            top = min(k, scores.shape[1])
            best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
            for row, candidates in enumerate(best):
                # Stable: equal scores keep corpus order.
                order = candidates[np.lexsort((candidates, -scores[row, candidates]))]
                rankings.append([(doc_ids[i], float(scores[row, i])) for i in order])
        return rankings

    return search


def _unique(ranking: Ranking) -> list[str]:
    seen: dict[str, None] = {}
    for doc, _ in ranking:
        seen.setdefault(doc, None)
    return list(seen)
