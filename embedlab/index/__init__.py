"""Index and search: LanceDB-backed documents and vectors of one model, vector/BM25/hybrid search."""

from embedlab.index import lancedb_embeddings  # noqa: F401  (registers "embedlab" with LanceDB)
from embedlab.index.faq import FaqAnswer, FaqAnswerer
from embedlab.index.fusion import rrf, weighted
from embedlab.index.store import Hit, Index, SearchOptions

__all__ = ["FaqAnswer", "FaqAnswerer", "Hit", "Index", "SearchOptions", "rrf", "weighted"]
