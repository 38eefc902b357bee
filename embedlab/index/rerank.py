"""Cross-encoder reranking: a sentence-transformers ``CrossEncoder`` re-scores the first results.

A cross-encoder reads query and document together, so it can rank better than vector similarity, but it
costs a forward pass per pair: use it on the top few dozen. Any CrossEncoder works, for example the one
Augmented SBERT trains.

By default (``fusion="rrf"``) the cross-encoder's ranking is fused with the first stage's by reciprocal
rank fusion, so a reranker weaker than the first stage cannot undo it: on SciFact test, hybrid search
scores NDCG@10 0.7149; reranking its top 20 with the cross-encoder Augmented SBERT trains here gives
0.6508 when its order replaces the first stage's (``fusion="replace"``) and 0.7410 fused
(``python bench/rerank.py``). With a strong cross-encoder, ``replace`` trusts it alone.

Example:
    >>> # not run: needs an index and a cross-encoder folder
    >>> index.search("query", k=5, rerank="./models/cross-encoder", rerank_top=50)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedlab.errors import ModelNotFoundError
from embedlab.index.fusion import rrf
from embedlab.index.hits import Hit
from embedlab.index.options import RerankFusion

_LOADED: dict[str, Any] = {}


def load_reranker(spec: Any) -> Any:
    """A ``CrossEncoder``: returned as is, or loaded (once per process) from a directory or a cached hub id."""
    from sentence_transformers import CrossEncoder

    if isinstance(spec, CrossEncoder):
        return spec
    key = str(spec)
    if key not in _LOADED:
        from embedlab.models import _resolve_hub_id

        path = Path(key).expanduser()
        location = path if path.is_dir() else _resolve_hub_id(key)
        try:
            _LOADED[key] = CrossEncoder(str(location), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(f"{spec} is not a loadable cross-encoder: {exc}") from exc
    return _LOADED[key]


def rank(cross_encoder: Any, query: str, texts: Sequence[str]) -> list[tuple[int, float]]:
    """``(position, score)`` of each of ``texts`` by the cross-encoder's score for ``(query, text)``, best first.

    Ties keep the order of ``texts``. Search's reranking and the server's ``/v1/rerank`` both rank here.
    """
    if not texts:
        return []
    scores = [
        float(score) for score in cross_encoder.predict([(query, text) for text in texts], show_progress_bar=False)
    ]
    return sorted(enumerate(scores), key=lambda item: -item[1])


def rerank_hits(
    cross_encoder: Any,
    query: str,
    hits: list[Hit],
    k: int,
    min_score: float | None,
    top: int,
    fusion: RerankFusion = "rrf",
) -> list[Hit]:
    """Re-score the first ``top`` of ``hits`` with ``cross_encoder`` on (query, hit text); keep the best ``k``.

    Every re-scored hit gets ``components["rerank"]`` (the cross-encoder's score). Its ``score`` becomes the
    reciprocal rank fusion of its cross-encoder rank and its first-stage rank (``fusion="rrf"``; ties keep
    the first-stage order), or the cross-encoder's score (``"replace"``). Hits past ``top`` follow in
    their first-stage order and score; with ``min_score`` (on the cross-encoder's score) they are dropped.
    """
    head, tail = hits[:top], hits[top:]
    if not head:
        return head
    ranked = []
    for position, score in rank(cross_encoder, query, [hit.text for hit in head]):
        hit = head[position]
        hit.components["rerank"] = hit.score = score
        ranked.append(hit)
    if fusion == "rrf":
        fused = rrf([[hit.doc_id for hit in head], [hit.doc_id for hit in ranked]])
        for hit in head:
            hit.score = fused[hit.doc_id]
        ranked = sorted(head, key=lambda hit: -hit.score)
    if min_score is not None:
        return [hit for hit in ranked if hit.components["rerank"] >= min_score][:k]
    return [*ranked, *tail][:k]
