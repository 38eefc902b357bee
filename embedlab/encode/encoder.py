"""Batched, normalised, cached encoding with any sentence-transformers model, safe to share between threads.

Each distinct text of a call is encoded once (duplicates share its vector), by sentence-transformers' own
preprocessing and forward pass; that one tokenisation also gives every text's token count (for truncation
warnings, the cache and the server's usage figures). The tokenizer is only ever called under
:func:`~embedlab.encode.text.tokenizer_lock`, so one encoder can serve several threads at once.

Example:
    >>> from embedlab import Encoder
    >>> encoder = Encoder()  # bundled all-MiniLM-L6-v2
    >>> vectors = encoder.encode(["The weather is lovely today.", "It's so sunny outside!"])
    >>> vectors.shape, round(float(vectors[0] @ vectors[1]), 4)
    ((2, 384), 0.666)
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from tqdm.auto import tqdm

from embedlab.encode.cache import EmbeddingCache
from embedlab.encode.documents import embed_chunks, embed_documents
from embedlab.encode.text import (
    DEFAULT_MAX_CHARS,
    EmptyPolicy,
    normalize_text,
    prepare_texts,
    quiet_tokenizer,
    token_counts,
    tokenizer_lock,
)
from embedlab.errors import InputError, TruncationWarning
from embedlab.models import EmbeddingModel, ModelInfo, load_model

Precision = Literal["float32", "float16", "int8", "uint8", "binary", "ubinary"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
#: What texts are encoded for: search queries or documents (``None``: the model's default, a document's encoding).
Task = Literal["query", "document"]


@dataclass
class EncodeStats:
    """Running totals of one encoder.

    ``texts`` asked for, of which ``cache_hits`` came from the cache and ``empty`` were empty;
    ``encoded`` distinct texts went through the model (a text repeated within a call is encoded once);
    ``truncated`` texts were longer than the model reads.
    """

    texts: int = 0
    cache_hits: int = 0
    encoded: int = 0
    truncated: int = 0
    empty: int = 0


@dataclass(frozen=True)
class Encoded:
    """Float32 vectors of texts and each text's token count for the model.

    ``n_tokens`` counts the tokens the model is given for the text (prompt and special tokens included)
    before truncation, so a count above the model's ``max_seq_length`` means the text was truncated; 0 for
    an empty text.
    """

    vectors: np.ndarray
    n_tokens: np.ndarray


# Texts are encoded in groups of this many batches (longest first, so batches pad little): each group
# is one progress-bar step and one cache transaction.
_BATCHES_PER_GROUP = 8
# Asks sentence-transformers' tokenisation for the windows past the truncation point too (fast tokenizers),
# so the same call that prepares a batch tells how long each text is; only each text's first window is encoded.
_OVERFLOW = {"text": {"return_overflowing_tokens": True, "stride": 0}}


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
        self._stats_lock = threading.Lock()

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
        return [prompt + self.prepare_text(text) for text in texts]

    def prepare_text(self, text: str) -> str:
        """One valid text as this encoder caches and encodes it: normalised when ``normalize_text`` is on."""
        return normalize_text(text) if self.normalize_text else text

    @cached_property
    def special_tokens(self) -> int:
        """How many special tokens (e.g. ``[CLS]``, ``[SEP]``) the model's tokenizer adds to one text."""
        tokenizer = self.model.st.tokenizer
        if not callable(tokenizer):  # a static model's bare `tokenizers.Tokenizer`: counted without specials
            return 0
        with tokenizer_lock(tokenizer):
            return int(tokenizer.num_special_tokens_to_add(pair=False))

    @property
    def options(self) -> dict[str, Any]:
        """Everything besides model and text that changes a float vector: part of every cache key."""
        return {
            "normalize": self.normalize,
            "normalize_text": self.normalize_text,
            "prompt": self.effective_prompt,
            "max_seq_length": self.model.max_seq_length,
        }

    @property
    def task_aware(self) -> bool:
        """Whether the model encodes queries apart from documents (a Cohere model's ``input_type``)."""
        return bool(getattr(self.model.st[0], "task_aware", False))

    def options_for(self, task: Task | None) -> dict[str, Any]:
        """:attr:`options` of texts encoded for ``task``: a task-aware model's queries are keyed apart from documents.

        Documents (and ``None``) keep :attr:`options`, the model's default encoding, so no existing cache row moves.
        """
        return self.options | {"task": "query"} if task == "query" and self.task_aware else self.options

    def encode(
        self,
        texts: str | Sequence[str],
        *,
        precision: Precision = "float32",
        show_progress: bool | None = None,
        task: Task | None = None,
    ) -> np.ndarray:
        """Encode one text (returns a vector) or a sequence (returns a ``(n, dim)`` matrix).

        ``precision`` picks the output type: float32, float16, int8/uint8 (scalar quantisation with
        :attr:`quantization_ranges`), or binary/ubinary (sign bits packed 8 per byte, shape
        ``(n, dim // 8)``). Texts longer than the model's max sequence length are truncated by the model;
        a :class:`~embedlab.errors.TruncationWarning` says how many. ``task="query"`` encodes search queries
        (a model that embeds queries apart, such as Cohere's, is told so; others give the same vectors).

        Example:
            >>> Encoder(model).encode(["a", "b"], precision="ubinary").shape
            (2, 48)
        """
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}.")
        single = isinstance(texts, str)
        batch: Sequence[str] = [texts] if isinstance(texts, str) else texts
        vectors = self.encode_with_counts(batch, show_progress=show_progress, task=task).vectors
        out = quantize(vectors, precision, self.ranges_for(precision))
        return out[0] if single else out

    def encode_with_counts(
        self, texts: Sequence[str], *, show_progress: bool | None = None, task: Task | None = None
    ) -> Encoded:
        """Float32 vectors of ``texts`` with their token counts (see :class:`Encoded`), from one tokenisation.

        Validates and normalises like :meth:`encode`, serves what it can from the cache, and warns about
        truncated texts.

        Example:
            >>> encoded = Encoder(model).encode_with_counts(["Hello world"])
            >>> encoded.vectors.shape, encoded.n_tokens.tolist()
            ((1, 384), [4])
        """
        prepared, empty = prepare_texts(
            texts, normalize=self.normalize_text, on_empty=self.on_empty, max_chars=self.max_chars
        )
        encoded = self.encode_prepared(prepared, empty, show_progress=show_progress, task=task)
        self.warn_truncated(encoded.n_tokens)
        return encoded

    #: Chunk long documents, encode the chunks, aggregate per document: see
    #: :func:`embedlab.encode.documents.embed_documents` (this is that function as a method).
    encode_documents = embed_documents
    #: Chunk long documents and encode the chunks, without document vectors (what an index stores): see
    #: :func:`embedlab.encode.documents.embed_chunks` (this is that function as a method).
    encode_chunks = embed_chunks

    def calibrate(self, texts: Sequence[str]) -> np.ndarray:
        """Set int8/uint8 ranges from the per-dimension min and max of these texts' vectors.

        Calibrating on a few thousand representative texts keeps more resolution than the default
        ``[-1, 1]`` range; values outside the calibrated range are clipped when quantising.
        """
        vectors = self.encode_with_counts(texts).vectors
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

    def encode_prepared(
        self,
        prepared: Sequence[str],
        empty: Collection[int] = (),
        *,
        show_progress: bool | None = None,
        task: Task | None = None,
    ) -> Encoded:
        """Encode texts already checked and normalised (:func:`prepare_texts`), without a truncation warning.

        Each distinct text is looked up in the cache and, if missing, encoded once; ``empty`` positions get
        zero vectors. For callers that check their texts themselves (the document path) and then call
        :meth:`warn_truncated` on what they keep.
        """
        empty_set = set(empty)
        distinct: dict[str, int] = {}
        owner = np.array(
            [-1 if i in empty_set else distinct.setdefault(text, len(distinct)) for i, text in enumerate(prepared)],
            dtype=np.int64,
        )
        texts = list(distinct)
        dim = self.info.dimension
        vectors = np.zeros((len(texts), dim), dtype=np.float32)
        n_tokens = np.zeros(len(texts), dtype=np.int64)
        cached = np.zeros(len(texts), dtype=bool)
        keys: list[bytes] = []
        if self.cache is not None and texts:
            options = self.options_for(task)
            keys = [EmbeddingCache.key(self.info.fingerprint, options, text) for text in texts]
            for position, (vector, count) in self.cache.get_many(keys, dim).items():
                vectors[position], n_tokens[position], cached[position] = vector, count, True
        missing = np.flatnonzero(~cached).tolist()
        if missing:
            show = self.show_progress if show_progress is None else show_progress
            self._encode_missing(texts, keys, missing, vectors, n_tokens, show, task)
        filled = owner >= 0
        out = np.zeros((len(prepared), dim), dtype=np.float32)
        counts = np.zeros(len(prepared), dtype=np.int64)
        out[filled], counts[filled] = vectors[owner[filled]], n_tokens[owner[filled]]
        with self._stats_lock:
            self.stats.texts += len(prepared)
            self.stats.cache_hits += int(cached[owner[filled]].sum())
            self.stats.encoded += len(missing)
            self.stats.empty += len(empty_set)
        return Encoded(out, counts)

    def warn_truncated(self, n_tokens: np.ndarray) -> int:
        """Count the texts longer than the model reads and warn (:class:`TruncationWarning`) if there are any."""
        limit = self.model.max_seq_length
        over = int((n_tokens > limit).sum())
        if over:
            with self._stats_lock:
                self.stats.truncated += over
            warnings.warn(
                f"{over} of {len(n_tokens)} texts are longer than the model's max_seq_length of {limit} tokens "
                f"(longest: {int(n_tokens.max())}) and were truncated. Use Encoder.encode_documents (or "
                "`embedlab encode --chunk`) to embed whole documents.",
                TruncationWarning,
                stacklevel=3,
            )
        return over

    def _encode_missing(
        self,
        texts: list[str],
        keys: list[bytes],
        missing: list[int],
        vectors: np.ndarray,
        n_tokens: np.ndarray,
        show_progress: bool | None,
        task: Task | None = None,
    ) -> None:
        # Longest first, as sentence-transformers does inside a call: batches then pad little.
        missing = sorted(missing, key=lambda position: -len(texts[position]))
        group = self.batch_size * _BATCHES_PER_GROUP
        show = show_progress if show_progress is not None else len(missing) > group
        with tqdm(total=len(missing), desc="encoding", unit="text", disable=not show) as bar:
            for start in range(0, len(missing), group):
                positions = missing[start : start + group]
                for first in range(0, len(positions), self.batch_size):
                    batch = positions[first : first + self.batch_size]
                    vectors[batch], n_tokens[batch] = self._forward([texts[position] for position in batch], task)
                if self.cache is not None:
                    self.cache.put_many(
                        self.info.fingerprint,
                        ((keys[position], vectors[position], int(n_tokens[position])) for position in positions),
                    )
                bar.update(len(positions))

    def _forward(self, texts: list[str], task: Task | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Vectors and token counts of one batch: sentence-transformers' preprocessing, then its forward pass.

        ``task`` reaches the preprocessing (as sentence-transformers' ``encode_query`` passes it) only for a
        task-aware model, so a local model's path is unchanged.
        """
        import torch
        from sentence_transformers.util import batch_to_device, truncate_embeddings

        st = self.model.st
        prompt = self.effective_prompt
        with tokenizer_lock(st.tokenizer), quiet_tokenizer():
            st.eval()
            options: dict[str, Any] = {"processing_kwargs": _OVERFLOW} if self._counts_from_overflow else {}
            if task is not None and self.task_aware:
                options["task"] = task
            inputs: list[Any] = list(texts)  # sentence-transformers' input type is a (invariant) list of many kinds
            features = st.preprocess(inputs, prompt=prompt, **options)
            counts = _first_windows(features, len(texts), self.special_tokens)
            if counts is None:  # a tokenizer that cannot report its overflow: count with a second tokenisation
                counts = np.asarray(token_counts(st.tokenizer, [(prompt or "") + text for text in texts]))
        with torch.inference_mode():
            embeddings = st(batch_to_device(features, st.device))["sentence_embedding"]
            if st.truncate_dim is not None:
                embeddings = truncate_embeddings(embeddings, st.truncate_dim)
            if self.normalize:
                embeddings = torch.nn.functional.normalize(embeddings, p=2, dim=1)
            return embeddings.float().cpu().numpy(), counts

    @cached_property
    def _counts_from_overflow(self) -> bool:
        """Whether the model's tokenisation can report the length of truncated texts (fast tokenizers)."""
        first = self.model.st[0]
        return bool(getattr(first, "tokenizer", None) is not None and getattr(first.tokenizer, "is_fast", False)
                    and not getattr(first, "can_flatten_inputs", False))  # fmt: skip


def _first_windows(features: dict[str, Any], n_texts: int, specials: int) -> np.ndarray | None:
    """Keep each text's first window in ``features`` (in place); return each text's untruncated token count.

    ``features`` holds one row per window of ``max_seq_length`` tokens (``overflow_to_sample_mapping`` says
    whose), each with the special tokens: a text's count is its windows' tokens without the repeated specials.
    ``None`` when the tokenisation did not report its windows.
    """
    import torch

    owners = features.pop("overflow_to_sample_mapping", None)
    if owners is None or "attention_mask" not in features:
        return None
    lengths = features["attention_mask"].sum(dim=1)
    counts = torch.zeros(n_texts, dtype=torch.int64).index_add_(0, owners, lengths - specials) + specials
    first = torch.ones(len(owners), dtype=torch.bool)
    first[1:] = owners[1:] != owners[:-1]
    rows = len(owners)
    for name, value in features.items():
        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == rows:
            features[name] = value[first]
    return counts.numpy()


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
