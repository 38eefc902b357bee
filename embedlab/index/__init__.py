"""Index and search: LanceDB-backed documents and vectors of one model, vector/BM25/hybrid search.

The modules follow an index's life: ``settings`` (``index.json``, labels), ``rows`` (the LanceDB table),
``fulltext`` (BM25 upkeep), ``hnsw`` and ``ann`` (the accelerator of vector search), ``compact`` (its
precision and dimensions: float32, float16, int8, binary, Matryoshka truncation), ``options``,
``search``, ``hits``, ``fusion`` and ``rerank`` (a query's way to its hits), and ``store`` (:class:`Index`,
which ties them together). :class:`Index`, :class:`FaqAnswerer` and :class:`FaqAnswer` load on first use,
so importing the light parts (the search options the server and the CLI are built from) loads neither
LanceDB nor faiss. Loading them registers ``"embedlab"`` as a LanceDB embedding function
(:mod:`embedlab.index.lancedb_embeddings`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from embedlab.index.fusion import rrf, weighted
from embedlab.index.hits import Hit
from embedlab.index.options import Fusion, Mode, RerankFusion, SearchOptions

if TYPE_CHECKING:
    from embedlab.index.faq import FaqAnswer, FaqAnswerer
    from embedlab.index.store import Index

_HEAVY = {"Index": "embedlab.index.store", "FaqAnswer": "embedlab.index.faq", "FaqAnswerer": "embedlab.index.faq"}

__all__ = ["FaqAnswer", "FaqAnswerer", "Fusion", "Hit", "Index", "Mode", "RerankFusion", "SearchOptions", "rrf",
           "weighted"]  # fmt: skip


def __getattr__(name: str) -> Any:
    """Load :class:`Index` and the FAQ classes (with LanceDB and faiss) when first asked for."""
    if name not in _HEAVY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    importlib.import_module("embedlab.index.lancedb_embeddings")  # registers "embedlab" with LanceDB
    value = getattr(importlib.import_module(_HEAVY[name]), name)
    globals()[name] = value
    return value
