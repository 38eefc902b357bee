"""Encoding: the :class:`Encoder`, its cache, text preparation and long-document chunking."""

from embedlab.encode.cache import CacheStats, EmbeddingCache, default_cache_path
from embedlab.encode.documents import Chunk, DocumentEmbeddings, chunk_text, embed_documents
from embedlab.encode.encoder import PRECISIONS, Encoder, EncodeStats, Precision, quantize
from embedlab.encode.text import normalize_text, prepare_texts

__all__ = [
    "PRECISIONS",
    "CacheStats",
    "Chunk",
    "DocumentEmbeddings",
    "EmbeddingCache",
    "EncodeStats",
    "Encoder",
    "Precision",
    "chunk_text",
    "default_cache_path",
    "embed_documents",
    "normalize_text",
    "prepare_texts",
    "quantize",
]
