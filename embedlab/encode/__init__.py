"""Encoding: the :class:`Encoder`, its cache, text preparation and long-document chunking."""

from embedlab.encode.cache import CacheStats, EmbeddingCache, default_cache_path
from embedlab.encode.documents import (
    Chunk,
    ChunkEmbeddings,
    DocumentEmbeddings,
    chunk_text,
    embed_chunks,
    embed_documents,
)
from embedlab.encode.encoder import PRECISIONS, Encoded, Encoder, EncodeStats, Precision, Task, quantize
from embedlab.encode.text import normalize_text, prepare_texts, tokenizer_lock

__all__ = [
    "PRECISIONS",
    "CacheStats",
    "Chunk",
    "ChunkEmbeddings",
    "DocumentEmbeddings",
    "EmbeddingCache",
    "EncodeStats",
    "Encoded",
    "Encoder",
    "Precision",
    "Task",
    "chunk_text",
    "default_cache_path",
    "embed_chunks",
    "embed_documents",
    "normalize_text",
    "prepare_texts",
    "quantize",
    "tokenizer_lock",
]
