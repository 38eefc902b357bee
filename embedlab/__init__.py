"""embedlab: local-first custom text embeddings — encode, evaluate, adapt, index and operate.

Example:
    >>> import embedlab
    >>> encoder = embedlab.Encoder()  # the verified, bundled all-MiniLM-L6-v2
    >>> encoder.encode("Hello world").shape
    (384,)
"""

__version__ = "0.1.0"

from embedlab.check import QualityReport, check_embeddings
from embedlab.encode import (
    Chunk,
    DocumentEmbeddings,
    EmbeddingCache,
    Encoder,
    chunk_text,
    normalize_text,
)
from embedlab.errors import (
    CacheError,
    EmbedlabError,
    InputError,
    ModelChecksumError,
    ModelNotFoundError,
    TruncationWarning,
)
from embedlab.io import read_embeddings, read_texts, write_embeddings
from embedlab.models import EmbeddingModel, ModelInfo, load_model

__all__ = [
    "CacheError",
    "Chunk",
    "DocumentEmbeddings",
    "EmbeddingCache",
    "EmbeddingModel",
    "EmbedlabError",
    "Encoder",
    "InputError",
    "ModelChecksumError",
    "ModelInfo",
    "ModelNotFoundError",
    "QualityReport",
    "TruncationWarning",
    "__version__",
    "check_embeddings",
    "chunk_text",
    "load_model",
    "normalize_text",
    "read_embeddings",
    "read_texts",
    "write_embeddings",
]
