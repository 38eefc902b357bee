"""Batched, normalised, cached encoding with any sentence-transformers model.

Example:
    >>> from embedlab import Encoder
    >>> encoder = Encoder()  # bundled all-MiniLM-L6-v2
    >>> vectors = encoder.encode(["The weather is lovely today.", "It's so sunny outside!"])
    >>> vectors.shape, round(float(vectors[0] @ vectors[1]), 4)
    ((2, 384), 0.666)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from tqdm.auto import tqdm

from embedlab.encode.cache import EmbeddingCache
from embedlab.encode.documents import embed_documents
from embedlab.encode.text import DEFAULT_MAX_CHARS, EmptyPolicy, normalize_text, prepare_texts, token_counts
from embedlab.errors import InputError, TruncationWarning
from embedlab.models import EmbeddingModel, ModelInfo, load_model

Precision = Literal["float32", "float16", "int8", "uint8", "binary", "ubinary"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


@dataclass
class EncodeStats:
    """Running totals of one encoder: texts asked for, served from the cache, encoded, truncated, empty."""

    texts: int = 0
    cache_hits: int = 0
    encoded: int = 0
    truncated: int = 0
    empty: int = 0


# Texts are encoded in groups of this many batches: each group is one call to sentence-transformers
# (which length-sorts inside it), one progress-bar step and one cache transaction.
_BATCHES_PER_GROUP = 8


class Encoder:
    """Encode texts with one model: validation, normalisation, caching, precision, truncation warnings.

    Args:
        model: a loaded :class:`EmbeddingModel`, or a spec for :func:`load_model` (``None``: the bundled
            default).
        cache: an :class:`EmbeddingCache`, a path to its file, ``True`` for the default location, or
            ``None``/``False`` for none.
        batch_size: texts per forward pass.
        normalize: L2-normalise vectors (cosine similarity is then a dot product).
        normalize_text: apply NFKC and whitespace normalisation before encoding (and caching).
        on_empty: ``"error"`` (default) refuses empty texts; ``"zero"`` gives them all-zero vectors.
        max_chars: longest text accepted; longer documents belong in :meth:`encode_documents`.
        prompt: a string put before every text (for models trained with one, e.g. ``"query: "``).
        show_progress: progress bar on/off; ``None`` shows it for more than a few batches.
        quantization_ranges: ``(2, dim)`` min/max rows used for int8/uint8; default ``[-1, 1]`` for
            normalised vectors, or calibrate with :meth:`calibrate`.
        device: torch device for a model loaded from a spec.
    """

    def __init__(
        self,
        model: EmbeddingModel | str | Path | None = None,
        *,
        cache: EmbeddingCache | str | Path | bool | None = None,
        batch_size: int = 32,
        normalize: bool = True,
        normalize_text: bool = True,
        on_empty: EmptyPolicy = "error",
        max_chars: int | None = DEFAULT_MAX_CHARS,
        prompt: str | None = None,
        show_progress: bool | None = None,
        quantization_ranges: np.ndarray | None = None,
        device: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}.")
        self.model = model if isinstance(model, EmbeddingModel) else load_model(model, device=device)
        if cache is True:
            self.cache: EmbeddingCache | None = EmbeddingCache()
        elif cache is None or cache is False:
            self.cache = None
        else:
            self.cache = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
        self.batch_size = batch_size
        self.normalize = normalize
        self.normalize_text = normalize_text
        self.on_empty = on_empty
        self.max_chars = max_chars
        self.prompt = prompt
        self.show_progress = show_progress
        self.quantization_ranges = quantization_ranges
        self.stats = EncodeStats()

    @property
    def info(self) -> ModelInfo:
        """The model's :class:`ModelInfo` (fingerprint, dimension, max length...)."""
        return self.model.info

    @property
    def effective_prompt(self) -> str | None:
        """The prompt put before every text: ours, else the model's default prompt (if it has one)."""
        if self.prompt is not None:
            return self.prompt
        st = self.model.st
        name = getattr(st, "default_prompt_name", None)
        return st.prompts.get(name) if name else None

    def model_inputs(self, texts: Sequence[str]) -> list[str]:
        """The strings the model actually reads for ``texts``: normalised (if on) and behind the prompt."""
        prompt = self.effective_prompt or ""
        return [prompt + (normalize_text(text) if self.normalize_text else text) for text in texts]

    @property
    def options(self) -> dict[str, Any]:
        """Everything besides model and text that changes a float vector: part of every cache key."""
        return {
            "normalize": self.normalize,
            "normalize_text": self.normalize_text,
            "prompt": self.effective_prompt,
            "max_seq_length": self.model.max_seq_length,
        }

    def encode(
        self,
        texts: str | Sequence[str],
        *,
        precision: Precision = "float32",
        show_progress: bool | None = None,
    ) -> np.ndarray:
        """Encode one text (returns a vector) or a sequence (returns a ``(n, dim)`` matrix).

        ``precision`` picks the output type: float32, float16, int8/uint8 (scalar quantisation with
        :attr:`quantization_ranges`), or binary/ubinary (sign bits packed 8 per byte, shape
        ``(n, dim // 8)``). Texts longer than the model's max sequence length are truncated by the model;
        a :class:`~embedlab.errors.TruncationWarning` says how many.

        Example:
            >>> Encoder().encode(["a", "b"], precision="ubinary").shape  # doctest: +SKIP
            (2, 48)
        """
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}.")
        single = isinstance(texts, str)
        batch: Sequence[str] = [texts] if isinstance(texts, str) else texts
        vectors = self._encode_float(batch, self.show_progress if show_progress is None else show_progress)
        out = quantize(vectors, precision, self.ranges_for(precision))
        return out[0] if single else out

    #: Chunk long documents, encode the chunks, aggregate per document: see
    #: :func:`embedlab.encode.documents.embed_documents` (this is that function as a method).
    encode_documents = embed_documents

    def calibrate(self, texts: Sequence[str]) -> np.ndarray:
        """Set int8/uint8 ranges from the per-dimension min and max of these texts' vectors.

        Calibrating on a few thousand representative texts keeps more resolution than the default
        ``[-1, 1]`` range; values outside the calibrated range are clipped when quantising.
        """
        vectors = self._encode_float(texts, self.show_progress)
        self.quantization_ranges = np.stack([vectors.min(axis=0), vectors.max(axis=0)]).astype(np.float32)
        return self.quantization_ranges

    def ranges_for(self, precision: str) -> np.ndarray | None:
        """The int8/uint8 ranges :meth:`encode` uses for ``precision`` (``None`` for other precisions)."""
        if precision not in ("int8", "uint8") or self.quantization_ranges is not None:
            return self.quantization_ranges
        if not self.normalize:
            raise InputError(
                "int8/uint8 of unnormalised vectors need ranges: call Encoder.calibrate(sample_texts) first "
                "or pass quantization_ranges."
            )
        dim = self.info.dimension
        return np.stack([np.full(dim, -1.0), np.full(dim, 1.0)]).astype(np.float32)

    def _encode_float(self, texts: Sequence[str], show_progress: bool | None) -> np.ndarray:
        """The float32 vectors of texts: validated, normalised, from the cache where possible."""
        prepared, empty = prepare_texts(
            texts, normalize=self.normalize_text, on_empty=self.on_empty, max_chars=self.max_chars
        )
        dim = self.info.dimension
        vectors = np.zeros((len(prepared), dim), dtype=np.float32)
        n_tokens = np.zeros(len(prepared), dtype=np.int64)
        empty_set = set(empty)
        todo = [i for i in range(len(prepared)) if i not in empty_set]

        keys: list[bytes] = []
        if self.cache is not None and todo:
            keys = [EmbeddingCache.key(self.info.fingerprint, self.options, prepared[i]) for i in todo]
            hits = self.cache.get_many(keys, dim)
            for position, (vector, count) in hits.items():
                vectors[todo[position]] = vector
                n_tokens[todo[position]] = count
            missing = [position for position in range(len(todo)) if position not in hits]
        else:
            missing = list(range(len(todo)))

        if missing:
            self._encode_missing(prepared, todo, keys, missing, vectors, n_tokens, show_progress)
        truncated = self._warn_truncated(n_tokens)
        self.stats.texts += len(prepared)
        self.stats.cache_hits += len(todo) - len(missing)
        self.stats.encoded += len(missing)
        self.stats.truncated += truncated
        self.stats.empty += len(empty)
        return vectors

    def _encode_missing(
        self,
        prepared: list[str],
        todo: list[int],
        keys: list[bytes],
        missing: list[int],
        vectors: np.ndarray,
        n_tokens: np.ndarray,
        show_progress: bool | None,
    ) -> None:
        st = self.model.st
        # Longest first, as sentence-transformers does inside a call: batches then pad little.
        missing = sorted(missing, key=lambda position: -len(prepared[todo[position]]))
        group = self.batch_size * _BATCHES_PER_GROUP
        show = show_progress if show_progress is not None else len(missing) > group
        with tqdm(total=len(missing), desc="encoding", unit="text", disable=not show) as bar:
            for start in range(0, len(missing), group):
                positions = missing[start : start + group]
                batch = [prepared[todo[position]] for position in positions]
                encoded = st.encode(
                    batch,
                    prompt=self.effective_prompt,
                    batch_size=self.batch_size,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                    normalize_embeddings=self.normalize,
                )
                counts = token_counts(st.tokenizer, [(self.effective_prompt or "") + text for text in batch])
                rows = [todo[position] for position in positions]
                vectors[rows] = encoded
                n_tokens[rows] = counts
                if self.cache is not None:
                    self.cache.put_many(
                        self.info.fingerprint,
                        (
                            (keys[position], vectors[row], count)
                            for position, row, count in zip(positions, rows, counts, strict=False)
                        ),
                    )
                bar.update(len(positions))

    def _warn_truncated(self, n_tokens: np.ndarray) -> int:
        limit = self.model.max_seq_length
        over = int((n_tokens > limit).sum())
        if over:
            warnings.warn(
                f"{over} of {len(n_tokens)} texts are longer than the model's max_seq_length of {limit} tokens "
                f"(longest: {int(n_tokens.max())}) and were truncated. Use Encoder.encode_documents (or "
                "`embedlab encode --chunk`) to embed whole documents.",
                TruncationWarning,
                stacklevel=3,
            )
        return over


def quantize(vectors: np.ndarray, precision: Precision, ranges: np.ndarray | None = None) -> np.ndarray:
    """Convert float32 vectors to ``precision`` with sentence-transformers' quantisation.

    int8/uint8 need ``ranges`` (``(2, dim)``: min row, max row); values outside are clipped first, so
    a vector beyond the calibration range saturates instead of wrapping around.

    Example:
        >>> quantize(np.array([[0.5, -0.5]], dtype=np.float32), "float16").dtype
        dtype('float16')
    """
    if precision == "float32":
        return vectors.astype(np.float32, copy=False)
    if precision == "float16":
        return vectors.astype(np.float16)
    from sentence_transformers.util import quantize_embeddings

    if precision in ("int8", "uint8"):
        if ranges is None:
            raise InputError(f"{precision} quantisation needs ranges (a (2, dim) array of min and max).")
        ranges = np.asarray(ranges, dtype=np.float32)
        if ranges.shape != (2, vectors.shape[1]):
            raise InputError(f"ranges must have shape (2, {vectors.shape[1]}), got {ranges.shape}.")
        vectors = np.clip(vectors, ranges[0], ranges[1])
    return np.asarray(quantize_embeddings(vectors, precision=precision, ranges=ranges))
