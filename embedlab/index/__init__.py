"""Index and search: LanceDB-backed documents and vectors of one model, vector/BM25/hybrid search."""

from embedlab.index.fusion import rrf, weighted
from embedlab.index.store import Hit, Index

__all__ = ["Hit", "Index", "rrf", "weighted"]
