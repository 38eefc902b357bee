"""Where calibration's scored pairs come from: a model over labelled text pairs, a search over a benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def pair_scores(encoder: Any, texts1: Sequence[str], texts2: Sequence[str]) -> np.ndarray:
    """The cosine of each pair (every distinct text encoded once)."""
    unique = list(dict.fromkeys([*texts1, *texts2]))
    vectors = encoder.encode(unique)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    position = {text: i for i, text in enumerate(unique)}
    left = vectors[[position[text] for text in texts1]]
    right = vectors[[position[text] for text in texts2]]
    return np.einsum("ij,ij->i", left, right).astype(np.float64)


def benchmark_pairs(search: Any, benchmark: Any, *, k: int = 10) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(scores, labels, query ids)`` of every query's top ``k`` hits: relevant (qrels grade > 0) or not.

    ``search`` is an :class:`~embedlab.index.Index` (vector search) or a ``SearchFn``; ``benchmark`` a
    :class:`~embedlab.evaluate.data.RetrievalBenchmark`. Relevant documents outside the top ``k`` have no
    score and are not counted: recall is that of what the user would see.
    """
    query_ids = list(benchmark.queries)
    texts = [benchmark.queries[qid] for qid in query_ids]
    if hasattr(search, "search_many"):
        rankings = [[(hit.doc_id, hit.score) for hit in hits] for hits in search.search_many(texts, k)]
    else:
        rankings = search(texts, k)
    scores, labels, groups = [], [], []
    for qid, ranking in zip(query_ids, rankings, strict=True):
        for doc_id, score in ranking[:k]:
            scores.append(float(score))
            labels.append(int(benchmark.qrels[qid].get(doc_id, 0) > 0))
            groups.append(qid)
    return np.asarray(scores), np.asarray(labels), groups
