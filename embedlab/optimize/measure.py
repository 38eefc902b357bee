"""Speed on this machine, by token-length bucket, and retrieval quality of one model, to compare variants.

Speed is the model's own ``encode`` (the backend, tokenisation included; no cache): documents in batches
of :data:`DOC_BATCH`, reported as texts per second, and queries one at a time, reported as the median
latency. Texts are bucketed by their token count under the source's tokenizer so that a variant that is
fast on short texts and slow on long ones (ONNX's known weakness) shows it. Quality is
:func:`embedlab.evaluate.evaluate` with :class:`~embedlab.evaluate.ExactSearch` (NDCG@10 with its 95%
interval), compared query by query with the source by :func:`embedlab.evaluate.stats.paired_test`.

Example:
    >>> speed = measure_speed(load_model(), docs, queries, buckets=token_buckets(tokenizer, docs))  # doctest: +SKIP
    >>> speed.docs_per_s, speed.query_p50_ms  # times a model over a corpus  # doctest: +SKIP
    (46.1, 12.3)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from embedlab.encode.text import token_counts

if TYPE_CHECKING:
    from embedlab.models import EmbeddingModel

DOC_BATCH = 32
#: Upper bounds (tokens, inclusive) of the length buckets; the last one takes everything longer.
BUCKETS = (16, 64, 128, 256)


@dataclass
class Speed:
    """Texts per second for documents (batch 32) and median query latency (batch 1), overall and per bucket."""

    docs_per_s: float
    query_p50_ms: float
    docs: int
    queries: int
    by_bucket: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def bucket_name(upper: int, previous: int) -> str:
    """``"17-64"`` style names; the last bucket is ``">256"``."""
    return f"{previous + 1}-{upper}" if upper < 10**9 else f">{previous}"


def token_buckets(tokenizer: Any, texts: Sequence[str]) -> dict[str, list[int]]:
    """Indices of ``texts`` per token-length bucket (special tokens counted), empty buckets left out."""
    counts = np.array(token_counts(tokenizer, list(texts)))
    buckets: dict[str, list[int]] = {}
    previous = 0
    for upper in (*BUCKETS, 10**9):
        chosen = np.flatnonzero((counts > previous) & (counts <= upper)).tolist()
        if chosen:
            buckets[bucket_name(upper, previous)] = chosen
        previous = upper
    return buckets


def measure_speed(
    model: EmbeddingModel,
    docs: Sequence[str],
    queries: Sequence[str],
    *,
    doc_buckets: dict[str, list[int]] | None = None,
    query_buckets: dict[str, list[int]] | None = None,
    repeats: int = 2,
) -> Speed:
    """Documents per second (batch :data:`DOC_BATCH`) and query p50 latency (batch 1), best of ``repeats``."""
    st = model.st
    st.encode(list(docs[:DOC_BATCH]), batch_size=DOC_BATCH)  # warm-up: first-call allocations, lazy compilation
    docs_per_s = _docs_per_s(model, docs, repeats)
    latencies = _latencies(model, queries)
    speed = Speed(round(docs_per_s, 2), round(float(np.median(latencies)), 3), len(docs), len(queries))
    for name, indices in (doc_buckets or {}).items():
        bucket = speed.by_bucket.setdefault(name, {})
        bucket["docs_per_s"] = round(_docs_per_s(model, [docs[i] for i in indices], 1), 2)
        bucket["docs"] = len(indices)
    for name, indices in (query_buckets or {}).items():
        bucket = speed.by_bucket.setdefault(name, {})
        bucket["query_p50_ms"] = round(float(np.median(_latencies(model, [queries[i] for i in indices]))), 3)
        bucket["queries"] = len(indices)
    return speed


def _docs_per_s(model: EmbeddingModel, docs: Sequence[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        model.st.encode(list(docs), batch_size=DOC_BATCH, normalize_embeddings=True)
        best = min(best, time.perf_counter() - started)
    return len(docs) / max(best, 1e-9)


def _latencies(model: EmbeddingModel, queries: Sequence[str]) -> np.ndarray:
    times = []
    for query in queries:
        started = time.perf_counter()
        model.st.encode([query], batch_size=1, normalize_embeddings=True)
        times.append(1000 * (time.perf_counter() - started))
    return np.array(times)


def sample(items: Sequence[str], n: int, seed: int) -> list[int]:
    """``n`` seeded random indices of ``items`` (all of them, shuffled, when there are fewer)."""
    order = np.random.default_rng(seed).permutation(len(items))
    return order[:n].tolist()
