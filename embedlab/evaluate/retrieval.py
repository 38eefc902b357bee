"""Retrieval evaluation: any search callable, scored with ranx's metrics, per query and averaged.

A *search function* takes a list of query texts and ``k`` and returns, for each query, its ranked
``(doc_id, score)`` list. :func:`evaluate` calls it on a benchmark's queries and scores the ranking with
`ranx <https://github.com/AmenRa/ranx>`_ (tested against trec_eval; NDCG uses linear gains, as BEIR and
MTEB do). The ranking is taken in the order returned: ties in score are broken by that order, not by
document id. :class:`ExactSearch` and :class:`embedlab.evaluate.bm25.BM25Search` are search functions;
later an index, a hybrid search or a remote server plugs in the same way.

Example:
    >>> search = ExactSearch(Encoder(), bench.corpus)  # bench: SciFact test, in the shared data  # doctest: +SKIP
    >>> result = evaluate(search, bench)  # doctest: +SKIP
    >>> result.mean["ndcg@10"]  # doctest: +SKIP
    0.6451
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.evaluate.data import BenchmarkWarning, RetrievalBenchmark
from embedlab.evaluate.stats import Estimate, mean_ci

Ranking = list[tuple[str, float]]
SearchFn = Callable[[Sequence[str], int], list[Ranking]]

DEFAULT_METRICS = ("ndcg@10", "mrr@10", "map@10", "recall@10", "recall@100", "precision@10", "hit_rate@10")


@dataclass
class RetrievalResult:
    """Averaged metrics with 95% bootstrap intervals, per-query values, rankings, and speed."""

    mean: dict[str, float]
    per_query: dict[str, dict[str, float]]
    ci: dict[str, Estimate] = field(default_factory=dict)
    rankings: dict[str, Ranking] = field(repr=False, default_factory=dict)
    speed: dict[str, float] = field(default_factory=dict)

    def values(self, metric: str) -> np.ndarray:
        """The per-query values of one metric, in query order."""
        return np.array([scores[metric] for scores in self.per_query.values()])

    def to_dict(self, *, top: int = 10) -> dict[str, object]:
        """JSON-ready: means, intervals, per-query values, speed, and each query's top ``top`` documents."""
        return {
            "mean": self.mean,
            "ci": {metric: estimate.to_dict() for metric, estimate in self.ci.items()},
            "per_query": self.per_query,
            "speed": self.speed,
            "rankings": {qid: [[doc, score] for doc, score in ranking[:top]] for qid, ranking in self.rankings.items()},
        }


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

    unjudged = [qid for qid, judged in qrels.items() if not any(grade > 0 for grade in judged.values())]
    if unjudged:
        warnings.warn(
            f"{len(unjudged)} queries have no relevant document and are not scored (e.g. {unjudged[:3]}).",
            BenchmarkWarning,
            stacklevel=2,
        )
        qrels = {qid: judged for qid, judged in qrels.items() if qid not in set(unjudged)}
    if not qrels:
        raise InputError("No judged queries to evaluate.")
    query_ids = list(qrels)
    run: dict[str, dict[str, float]] = {}
    for qid in query_ids:
        ranked = _unique(rankings.get(qid, []))
        # Scores by rank so ranx keeps the order returned (its sort would reorder ties).
        run[qid] = {doc: float(len(ranked) - rank) for rank, doc in enumerate(ranked)} or {"\0none": 0.0}
    judged = Qrels(qrels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's first-call notices
        values = ranx_evaluate(judged, Run(run), list(metrics), return_mean=False, make_comparable=True)
    if len(metrics) == 1:
        values = {metrics[0]: values}
    # ranx returns per-query arrays in its own (sorted) query order, not the order of our dict.
    position = {qid: i for i, qid in enumerate(judged.get_query_ids())}
    values = {m: np.asarray(values[m])[[position[qid] for qid in query_ids]] for m in metrics}
    per_query = {qid: {m: float(values[m][i]) for m in metrics} for i, qid in enumerate(query_ids)}
    mean = {m: float(np.mean(values[m])) for m in metrics}
    ci = {m: mean_ci(values[m]) for m in metrics}
    return RetrievalResult(mean=mean, per_query=per_query, ci=ci, rankings=rankings)


def evaluate(
    search: SearchFn,
    benchmark: RetrievalBenchmark,
    *,
    k: int = 100,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> RetrievalResult:
    """Run ``search`` on every benchmark query (top ``k``) and score the rankings."""
    query_ids = list(benchmark.queries)
    started = time.perf_counter()
    results = search([benchmark.queries[qid] for qid in query_ids], k)
    seconds = time.perf_counter() - started
    if len(results) != len(query_ids):
        raise InputError(f"The search function returned {len(results)} rankings for {len(query_ids)} queries.")
    result = retrieval_metrics(benchmark.qrels, dict(zip(query_ids, results, strict=True)), metrics)
    result.speed = {"queries": len(query_ids), "ms_per_query": 1000 * seconds / max(len(query_ids), 1)}
    index_seconds = getattr(search, "index_seconds", None)
    if index_seconds is not None:
        documents = len(getattr(search, "doc_ids", []))
        result.speed.update({"index_seconds": index_seconds, "docs_per_s": documents / max(index_seconds, 1e-9)})
    return result


class ExactSearch:
    """Search ``corpus`` by exact cosine (dot product of normalised vectors), callable as ``search(queries, k)``.

    The corpus is encoded once, when the object is made (``index_seconds`` records how long); each call
    encodes its queries and ranks every document. Equal scores keep corpus order.
    """

    def __init__(self, encoder: Encoder, corpus: dict[str, str], *, batch: int = 256) -> None:
        self.encoder = encoder
        self.doc_ids = list(corpus)
        self.batch = batch
        started = time.perf_counter()
        self.doc_vectors = encoder.encode([corpus[d] for d in self.doc_ids])
        self.index_seconds = time.perf_counter() - started

    def __call__(self, queries: Sequence[str], k: int) -> list[Ranking]:
        """The top ``k`` documents of each query, best first."""
        query_vectors = self.encoder.encode(list(queries), task="query")
        rankings: list[Ranking] = []
        for start in range(0, len(query_vectors), self.batch):
            scores = query_vectors[start : start + self.batch] @ self.doc_vectors.T
            for row, order in enumerate(top_k(scores, k)):
                rankings.append([(self.doc_ids[i], float(scores[row, i])) for i in order])
        return rankings


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The column indices of each row's ``k`` highest scores, best first; equal scores keep column order.

    Example:
        >>> top_k(np.array([[0.1, 0.9, 0.5, 0.9]]), 3).tolist()
        [[1, 3, 2]]
    """
    top = min(k, scores.shape[1])
    if top < 1:
        return np.empty((len(scores), 0), dtype=np.intp)
    best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
    rows = np.arange(len(scores))[:, None]
    chosen = scores[rows, best]
    kth = chosen.min(axis=1, keepdims=True)
    # A tie at the cut: the partition took some of the tied columns, not necessarily the first ones.
    for row in np.flatnonzero((scores == kth).sum(axis=1) > (chosen == kth).sum(axis=1)):
        best[row] = np.argsort(-scores[row], kind="stable")[:top]
    order = np.lexsort((best, -scores[rows, best]), axis=1)
    return np.take_along_axis(best, order, axis=1)


def _unique(ranking: Ranking) -> list[str]:
    seen: dict[str, None] = {}
    for doc, _ in ranking:
        seen.setdefault(doc, None)
    return list(seen)
