"""Long documents: token-aware chunks with overlap and character offsets, and document vectors.

A model reads at most ``max_seq_length`` tokens (256 for all-MiniLM-L6-v2) and drops the rest silently.
:func:`chunk_text` cuts a document into windows of at most that many tokens, on word boundaries, with
``overlap`` tokens shared between neighbours; every :class:`Chunk` knows its ``start``/``end`` character
offsets, so ``document[chunk.start:chunk.end] == chunk.text``. :func:`embed_documents` encodes the chunks
(optionally prefixed with the document title) and aggregates them into one vector per document.

Example:
    >>> from embedlab import Encoder
    >>> docs = Encoder(model).encode_documents(["A long text ..."], titles=["Title"], aggregate="mean")
    >>> docs.vectors.shape, docs.chunks[0].start
    ((1, 384), 0)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from embedlab.encode.text import prepare_texts, quiet_tokenizer, tokenizer_lock, with_title
from embedlab.errors import InputError
from embedlab.models import UNLIMITED_TOKENS

if TYPE_CHECKING:
    from embedlab.encode.encoder import Encoder, Precision

Aggregation = Literal["mean", "max", "first"]
AGGREGATIONS: tuple[Aggregation, ...] = get_args(Aggregation)
_REFITS = 4


@dataclass(frozen=True)
class Chunk:
    """One window of a document: the source slice, where it lies, and what is actually embedded."""

    doc_index: int
    chunk_index: int
    start: int
    end: int
    text: str
    n_tokens: int
    title: str | None = None

    @property
    def embed_text(self) -> str:
        """The text given to the model: the chunk, behind the document title when there is one."""
        return with_title(self.title, self.text)


@dataclass
class ChunkEmbeddings:
    """The chunks of documents and their vectors (what an index stores)."""

    chunks: list[Chunk]
    chunk_vectors: np.ndarray

    @property
    def chunk_doc_index(self) -> np.ndarray:
        """For every chunk, the index of its document (to map chunk hits back to parents)."""
        return np.array([chunk.doc_index for chunk in self.chunks], dtype=np.int64)


@dataclass
class DocumentEmbeddings(ChunkEmbeddings):
    """Per-document vectors, plus the chunks and chunk vectors they were aggregated from."""

    vectors: np.ndarray


def chunk_text(
    text: str,
    tokenizer: Any,
    max_tokens: int,
    *,
    overlap: int = 32,
    title: str | None = None,
    doc_index: int = 0,
) -> list[Chunk]:
    """Cut ``text`` into windows of at most ``max_tokens`` tokens sharing ``overlap`` tokens.

    Windows end and start on word boundaries unless one word alone is longer than a window. Offsets are
    the tokenizer's character offsets into ``text``, so chunks round-trip to the source exactly. Special
    tokens and the title are not counted here: callers subtract them from the model's limit.

    Example:
        >>> chunks = chunk_text("one two three four", model.st.tokenizer, max_tokens=2, overlap=0)
        >>> [c.text for c in chunks]
        ['one two', 'three four']
    """
    with tokenizer_lock(tokenizer), quiet_tokenizer():
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
    return _windows(text, encoding["offset_mapping"], encoding.word_ids(), max_tokens, overlap, title, doc_index)


def _windows(
    text: str,
    offsets: list[tuple[int, int]],
    words: list[int | None],
    max_tokens: int,
    overlap: int,
    title: str | None,
    doc_index: int,
) -> list[Chunk]:
    """Cut one tokenized text into chunks (see :func:`chunk_text`)."""
    check_window(max_tokens, overlap)
    chunks: list[Chunk] = []
    start, n = 0, len(offsets)
    while start < n:
        end = min(start + max_tokens, n)
        end = _word_start(words, end, floor=start)
        begin_char, end_char = offsets[start][0], offsets[end - 1][1]
        chunks.append(
            Chunk(
                doc_index=doc_index,
                chunk_index=len(chunks),
                start=begin_char,
                end=end_char,
                text=text[begin_char:end_char],
                n_tokens=end - start,
                title=title,
            )
        )
        if end == n:
            break
        start = _word_start(words, max(end - overlap, start + 1), floor=start)
    return chunks


def check_window(max_tokens: int | None, overlap: int) -> None:
    """Refuse a window of under one token, or an overlap that is negative or not smaller than the window."""
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise InputError(f"max_tokens must be a whole number of at least 1, got {max_tokens!r}.")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise InputError(f"overlap must be a whole number of at least 0, got {overlap!r}.")
    if max_tokens is not None and overlap >= max_tokens:
        raise InputError(f"overlap must be smaller than max_tokens ({max_tokens}), got {overlap}.")


def _word_start(words: list[int | None], position: int, *, floor: int) -> int:
    """Move ``position`` back to the first token of its word, but never to ``floor`` or before."""
    moved = position
    while moved > floor and moved < len(words) and words[moved] is not None and words[moved] == words[moved - 1]:
        moved -= 1
    return moved if moved > floor else position  # a word longer than the window is split


def embed_chunks(
    encoder: Encoder,
    documents: Sequence[str],
    *,
    titles: Sequence[str | None] | None = None,
    max_tokens: int | None = None,
    overlap: int = 32,
    precision: Precision = "float32",
) -> ChunkEmbeddings:
    """Encode documents of any length as chunks: chunk, encode every chunk; no document vectors.

    Arguments as :func:`embed_documents`. Each document is checked and tokenised once (for its chunk
    offsets), each chunk once more by the model, which also counts its tokens: a chunk that text
    normalisation made longer than the model reads (NFKC turns "½" into "1⁄2") is found there, and only its
    document is cut again into smaller windows and encoded again.
    """
    from embedlab.encode.encoder import quantize

    chunks, vectors = _chunk_and_encode(encoder, documents, titles, max_tokens, overlap)
    return ChunkEmbeddings(chunks=chunks, chunk_vectors=quantize(vectors, precision, encoder.ranges_for(precision)))


def embed_documents(
    encoder: Encoder,
    documents: Sequence[str],
    *,
    titles: Sequence[str | None] | None = None,
    max_tokens: int | None = None,
    overlap: int = 32,
    aggregate: Aggregation = "mean",
    precision: Precision = "float32",
) -> DocumentEmbeddings:
    """Encode documents of any length: chunk, encode every chunk, aggregate to one vector per document.

    Args:
        encoder: the :class:`~embedlab.Encoder` to use (its cache and options apply to chunks).
        documents: the texts, any length.
        titles: an optional title per document, put before each of its chunks
            (:func:`~embedlab.encode.text.with_title`).
        max_tokens: tokens per chunk; default the model's max length minus special and title tokens.
        overlap: tokens shared by consecutive chunks.
        aggregate: ``"mean"`` or ``"max"`` of chunk vectors (re-normalised when the encoder normalises),
            or the ``"first"`` chunk's vector.
        precision: output precision of both document and chunk vectors.
    """
    from embedlab.encode.encoder import quantize

    if aggregate not in AGGREGATIONS:
        raise InputError(f"aggregate must be one of {', '.join(AGGREGATIONS)}; got {aggregate!r}.")
    chunks, chunk_vectors = _chunk_and_encode(encoder, documents, titles, max_tokens, overlap)
    vectors = np.zeros((len(documents), encoder.info.dimension), dtype=np.float32)
    bounds = np.searchsorted([chunk.doc_index for chunk in chunks], np.arange(len(documents) + 1))
    for index, (start, end) in enumerate(itertools.pairwise(bounds)):
        if end > start:
            vectors[index] = _aggregate(chunk_vectors[start:end], aggregate, encoder.normalize)
    ranges = encoder.ranges_for(precision)
    chunk_vectors, vectors = quantize(chunk_vectors, precision, ranges), quantize(vectors, precision, ranges)
    return DocumentEmbeddings(chunks=chunks, chunk_vectors=chunk_vectors, vectors=vectors)


def _chunk_and_encode(
    encoder: Encoder,
    documents: Sequence[str],
    titles: Sequence[str | None] | None,
    max_tokens: int | None,
    overlap: int,
) -> tuple[list[Chunk], np.ndarray]:
    """The chunks of ``documents`` (in document order) and their float32 vectors: see :func:`embed_chunks`."""
    if isinstance(documents, str):
        raise InputError("encode_documents takes a sequence of documents, not a single string.")
    if titles is not None and len(titles) != len(documents):
        raise InputError(f"Got {len(titles)} titles for {len(documents)} documents.")
    check_window(max_tokens, overlap)
    prepare_texts(documents, normalize=False, on_empty="zero", max_chars=None)  # types and Unicode, with indices
    title_list = list(titles) if titles is not None else [None] * len(documents)
    try:
        prepare_texts([t if isinstance(t, str) else "" for t in title_list], normalize=False, on_empty="zero",
                      max_chars=None)  # fmt: skip
    except InputError as exc:
        raise InputError(f"Titles: {exc}") from None
    if encoder.model.max_seq_length >= UNLIMITED_TOKENS:  # a static model reads whole texts: nothing to cut
        if max_tokens is not None:
            raise InputError(f"{encoder.info.name} reads whole texts (no token limit): leave max_tokens unset.")
        per_document = [_whole(documents[index], title, index) for index, title in enumerate(title_list)]
        _check_empty(encoder, per_document)
        encoded = _encode(encoder, per_document, range(len(documents)))
        counted = [[replace(chunk, n_tokens=int(encoded[index][1][0])) for chunk in doc_chunks]
                   for index, doc_chunks in enumerate(per_document)]  # fmt: skip
        return _joined(encoder, counted, encoded)
    tokenizer = encoder.model.st.tokenizer
    named = list(dict.fromkeys(t for t in title_list if t))
    with tokenizer_lock(tokenizer), quiet_tokenizer():
        prompt = [encoder.effective_prompt] if encoder.effective_prompt else []
        limit = encoder.model.max_seq_length - encoder.special_tokens - sum(_count(tokenizer, prompt))
        title_tokens = dict(zip(named, _count(tokenizer, [with_title(t, "") for t in named]),
                                strict=True))  # fmt: skip
        encodings = tokenizer(list(documents), add_special_tokens=False, return_offsets_mapping=True, truncation=False)

    def windows(index: int, budget: int) -> list[Chunk]:
        if budget <= overlap:
            raise InputError(
                f"Document {index}: only {budget} tokens are left per chunk after the title and prompt, not more "
                f"than the overlap of {overlap}. Shorten the title or lower overlap."
            )
        offsets, words = encodings["offset_mapping"][index], encodings.word_ids(index)
        return _windows(documents[index], offsets, words, budget, overlap, title_list[index], index)

    budgets = [limit - title_tokens.get(title or "", 0) if max_tokens is None else max_tokens for title in title_list]
    per_document = [windows(index, budget) for index, budget in enumerate(budgets)]
    _check_empty(encoder, per_document)
    encoded = _encode(encoder, per_document, range(len(documents)))
    # Text normalisation (NFKC) can add tokens ("½" -> "1⁄2"): re-cut the documents whose chunks overflow.
    for _ in range(_REFITS):
        overflow = {index: int(counts.max()) for index, (_, counts) in encoded.items() if counts.size and
                    counts.max() > encoder.model.max_seq_length}  # fmt: skip
        if not overflow:
            break
        for index, longest in overflow.items():
            budgets[index] = min(budgets[index] - 1, budgets[index] * encoder.model.max_seq_length // longest)
            per_document[index] = windows(index, budgets[index])
        encoded.update(_encode(encoder, per_document, overflow))
    return _joined(encoder, per_document, encoded)


def _whole(text: str, title: str | None, index: int) -> list[Chunk]:
    """A whole document as its one chunk (blanks at its ends left out; tokens counted when encoded), or none."""
    start, end = len(text) - len(text.lstrip()), len(text.rstrip())
    return [Chunk(index, 0, start, end, text[start:end], 0, title)] if end > start else []


def _check_empty(encoder: Encoder, per_document: list[list[Chunk]]) -> None:
    for index, doc_chunks in enumerate(per_document):
        if not doc_chunks and encoder.on_empty == "error":
            raise InputError(f"Document {index} is empty; remove it or use on_empty='zero'.")


def _joined(
    encoder: Encoder, per_document: list[list[Chunk]], encoded: dict[int, tuple[np.ndarray, np.ndarray]]
) -> tuple[list[Chunk], np.ndarray]:
    """All chunks in document order and their vectors (truncation warned about once)."""
    chunks = [chunk for doc_chunks in per_document for chunk in doc_chunks]
    vectors = np.zeros((0, encoder.info.dimension), np.float32)
    if per_document:
        vectors = np.concatenate([encoded[index][0] for index in range(len(per_document))])
        encoder.warn_truncated(np.concatenate([encoded[index][1] for index in range(len(per_document))]))
    return chunks, vectors


def _encode(
    encoder: Encoder, per_document: list[list[Chunk]], which: Iterable[int]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Vectors and token counts of the chunks of the documents ``which``, by document."""
    which = list(which)
    inputs = [encoder.prepare_text(chunk.embed_text) for index in which for chunk in per_document[index]]
    encoded = encoder.encode_prepared(inputs)
    bounds = np.cumsum([0] + [len(per_document[index]) for index in which])
    return {
        index: (encoded.vectors[start:end], encoded.n_tokens[start:end])
        for index, start, end in zip(which, bounds[:-1], bounds[1:], strict=True)
    }


def _aggregate(rows: np.ndarray, how: str, normalize: bool) -> np.ndarray:
    if how == "first":
        return rows[0]
    pooled = rows.mean(axis=0) if how == "mean" else rows.max(axis=0)
    norm = float(np.linalg.norm(pooled))
    return pooled / norm if normalize and norm > 0 else pooled


def _count(tokenizer: Any, texts: list[str]) -> list[int]:
    """Tokens of each text without special tokens (the caller holds the tokenizer's lock)."""
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
