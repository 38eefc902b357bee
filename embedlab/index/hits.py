"""What a search gives: :class:`Hit`, and the steps from chunk rows to ranked documents.

Each component of a search (vector or BM25) finds chunk rows; :func:`collapse` keeps each document's best
chunk, and :func:`fuse` ranks the documents (one component by its own score, two by reciprocal rank or
weighted fusion) and turns the best ``k`` into hits. Rows that the ANN accelerator found stay in its
memory (:class:`LazyRow`) until they become hits.

Example:
    >>> rows = [{"doc_id": "a", "chunk": 0, "text": "x", "s": 0.2}, {"doc_id": "a", "chunk": 1, "text": "y", "s": 0.9},
    ...         {"doc_id": "b", "chunk": 0, "text": "z", "s": 0.5}]
    >>> found = collapse(rows, lambda row: row["s"])
    >>> [(hit.doc_id, hit.chunk, hit.score) for hit in fuse({"vector": found}, 2, mode="vector", fields=[])]
    [('a', 1, 0.9), ('b', 0, 0.5)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from embedlab.index.fusion import rrf, weighted
from embedlab.index.options import Fusion, Mode

Candidates = dict[str, tuple[float, Any]]  # doc_id -> (score, its best chunk's row: a dict or a LazyRow)


@dataclass
class Hit:
    """One document found: its id, score, best chunk, metadata, and the score of each component."""

    doc_id: str
    score: float
    text: str
    chunk: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    components: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LazyRow:
    """Row ``position`` of an Arrow table (the accelerator's in-memory rows), read only if it becomes a hit."""

    table: Any
    position: int


def collapse(rows: Iterable[dict[str, Any]], score: Callable[[dict[str, Any]], float]) -> Candidates:
    """The best chunk of each parent document, by ``score``."""
    best: Candidates = {}
    for row in rows:
        value = score(row)
        if row["doc_id"] not in best or value > best[row["doc_id"]][0]:
            best[row["doc_id"]] = (value, row)
    return best


def fuse(
    components: dict[str, Candidates],
    k: int,
    *,
    mode: Mode,
    fields: Sequence[str],
    fusion: Fusion = "rrf",
    alpha: float = 0.5,
    min_score: float | None = None,
) -> list[Hit]:
    """The best ``k`` documents of ``components`` (``{"vector": ..., "bm25": ...}``) as hits, best first.

    ``hybrid`` fuses both components (``fusion``, ``alpha``), other modes rank by their own component.
    Hits scoring below ``min_score`` are dropped; each hit shows the metadata ``fields`` of its row.
    """
    if mode == "hybrid":
        scores = {name: {doc: value for doc, (value, _) in found.items()} for name, found in components.items()}
        if fusion == "weighted":
            fused = weighted(scores["vector"], scores["bm25"], alpha=alpha)
        else:
            fused = rrf([sorted(s, key=lambda d: -s[d]) for s in scores.values()])
    else:
        fused = {doc: value for doc, (value, _) in components[mode].items()}
    ranked = sorted(fused, key=lambda doc: -fused[doc])
    chosen = [doc for doc in ranked if min_score is None or fused[doc] >= min_score][:k]
    rows = _read({doc: next(found[doc][1] for found in components.values() if doc in found) for doc in chosen})
    return [
        Hit(
            doc_id=doc,
            score=fused[doc],
            text=rows[doc]["text"],
            chunk=int(rows[doc]["chunk"]),
            metadata={name: rows[doc].get(name) for name in fields},
            components={name: found[doc][0] for name, found in components.items() if doc in found},
        )
        for doc in chosen
    ]


def _read(rows: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``rows`` with each :class:`LazyRow` read, one ``take`` per table."""
    lazy: dict[int, list[tuple[str, LazyRow]]] = {}
    for doc, row in rows.items():
        if isinstance(row, LazyRow):
            lazy.setdefault(id(row.table), []).append((doc, row))
    if lazy:
        import pyarrow as pa

        for group in lazy.values():
            taken = group[0][1].table.take(pa.array([row.position for _, row in group])).to_pylist()
            rows.update((doc, row) for (doc, _), row in zip(group, taken, strict=True))
    return rows
