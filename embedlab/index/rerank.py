"""Cross-encoder reranking: a sentence-transformers ``CrossEncoder`` re-scores the first results.

A cross-encoder reads query and document together, so it ranks better than vector similarity but costs a
forward pass per pair: use it on the top few dozen. Any CrossEncoder works, for example the one
Augmented SBERT trains.

Example:
    >>> index.search("query", k=5, rerank="./models/cross-encoder", rerank_top=50)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedlab.errors import ModelNotFoundError

if TYPE_CHECKING:
    from embedlab.index.store import Hit

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


def rerank_hits(
    cross_encoder: Any, query: str, hits: list[Hit], k: int, min_score: float | None, top: int
) -> list[Hit]:
    """Re-score the first ``top`` of ``hits`` with ``cross_encoder`` on (query, hit text); keep the best ``k``.

    Hits past ``top`` follow the reranked ones in their first-stage order, with their first-stage score
    (they have no ``components["rerank"]``); with ``min_score`` (a reranker score) they are dropped.
    """
    head, tail = hits[:top], hits[top:]
    if not head:
        return head
    scores = cross_encoder.predict([(query, hit.text) for hit in head], show_progress_bar=False)
    for hit, score in zip(head, scores, strict=True):
        hit.components["rerank"] = float(score)
        hit.score = float(score)
    ranked = sorted(head, key=lambda hit: -hit.score)
    if min_score is not None:
        return [hit for hit in ranked if hit.score >= min_score][:k]
    return [*ranked, *tail][:k]
