"""Errors embedlab raises: one base class, one subclass per thing that can go wrong.

Every message says what was wrong and what to do about it, so the CLI can print it as is.
"""

from __future__ import annotations


class EmbedlabError(Exception):
    """Base class of every error embedlab raises on purpose."""


class ModelNotFoundError(EmbedlabError):
    """A model spec names no local directory and cannot be fetched (offline, unknown id)."""


class ModelChecksumError(EmbedlabError):
    """A model's weights, configuration or fingerprint differ from what they must be (a verified model)."""


class InputError(EmbedlabError, ValueError):
    """Texts or files that cannot be encoded as given (empty, too long, not UTF-8, malformed)."""


class CacheError(EmbedlabError):
    """The embedding cache file is unreadable (corrupt, not SQLite, wrong permissions)."""


class TruncationWarning(UserWarning):
    """Some texts were longer than the model's max sequence length and were cut."""


class IndexMismatchError(EmbedlabError):
    """Vectors, a query or a model from another vector space than the index was built with."""


class LLMEndpointError(EmbedlabError):
    """An LLM endpoint cannot be reached or refuses the request (wrong URL, server down, bad key or model)."""


class IndexDataError(EmbedlabError):
    """An index's LanceDB data is missing or cannot be read (a deleted folder, missing manifests, I/O errors)."""


class MissingExtraError(EmbedlabError, ImportError):
    """An optional part of embedlab needs packages that are not installed; the message names the extra."""


class VariantError(EmbedlabError):
    """A model variant cannot be used here: built for another CPU, or failing its parity with the source."""


class CacheIntegrityWarning(UserWarning):
    """Cached vectors failed their checksum (or predate checksums) and are recomputed instead of served."""
