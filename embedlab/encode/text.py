"""Text preparation shared by encoding and chunking: normalisation, validation, token counting, tokenizer locks."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

from embedlab.errors import InputError

EmptyPolicy = Literal["error", "zero"]

#: Texts longer than this many characters are refused by default: a model reads at most a few thousand
#: characters, so such a text is either a mistake or a document that should be chunked.
DEFAULT_MAX_CHARS = 1_000_000

_WHITESPACE = re.compile(r"\s+")
_SHOWN = 10


def normalize_text(text: str) -> str:
    r"""Unicode NFKC, every whitespace run turned into one space, stripped.

    Example:
        >>> normalize_text("  ﬁne\u00a0\n tuning ")
        'fine tuning'
    """
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def with_title(title: str | None, text: str) -> str:
    """What is embedded and searched for a document with a title: ``"{title} {text}"``; the text alone without one.

    The one join everywhere: the encoder's document path (each chunk behind its document's title), an
    index's vectors and full-text column, and BEIR corpora in evaluation and adaptation (BEIR's own
    ``title + " " + text``), so a document is the same text wherever it is embedded.

    Example:
        >>> with_title("Paella", "Rice from Valencia.")
        'Paella Rice from Valencia.'
        >>> with_title(None, "Rice from Valencia.")
        'Rice from Valencia.'
    """
    return f"{title} {text}" if title else text


def prepare_texts(
    texts: Sequence[object],
    *,
    normalize: bool = True,
    on_empty: EmptyPolicy = "error",
    max_chars: int | None = DEFAULT_MAX_CHARS,
) -> tuple[list[str], list[int]]:
    """Validate and (optionally) normalise texts; return them with the indices of empty ones.

    Args:
        texts: what the caller wants encoded; each item must be a ``str``.
        normalize: apply :func:`normalize_text`.
        on_empty: ``"error"`` refuses texts that are empty after normalisation; ``"zero"`` lets them
            through so the caller can give them an all-zero vector.
        max_chars: refuse texts longer than this (``None`` for no limit).

    Raises:
        InputError: a non-string item, a string that is not valid Unicode (lone surrogates, as left by
            decoding bytes with ``errors="surrogateescape"``), an over-long text, or an empty text under
            ``on_empty="error"``. The message names the offending indices.
    """
    if isinstance(texts, str | bytes):
        raise InputError("prepare_texts takes a sequence of strings, not a single string or bytes.")
    prepared: list[str] = []
    wrong_type: list[str] = []
    not_unicode: list[int] = []
    too_long: list[int] = []
    empty: list[int] = []
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            wrong_type.append(f"{index} ({type(text).__name__})")
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            not_unicode.append(index)
            continue
        if max_chars is not None and len(text) > max_chars:
            too_long.append(index)
            continue
        clean = normalize_text(text) if normalize else text
        if not clean.strip():
            empty.append(index)
        prepared.append(clean)
    if wrong_type:
        raise InputError(f"Texts must be str; got other types at {_list(wrong_type)}. Decode bytes as UTF-8 first.")
    if not_unicode:
        raise InputError(
            f"Texts at {_list(not_unicode)} are not valid Unicode (lone surrogates, e.g. from bytes decoded "
            "with errors='surrogateescape'). Decode the source as UTF-8 with errors='strict' or 'replace'."
        )
    if too_long:
        raise InputError(
            f"Texts at {_list(too_long)} are longer than max_chars={max_chars}. A model reads only its first "
            "few hundred tokens: split long documents with Encoder.encode_documents (or raise max_chars)."
        )
    if empty and on_empty == "error":
        raise InputError(
            f"{len(empty)} text(s) are empty or whitespace only, at {_list(empty)}. Remove them, or pass "
            "on_empty='zero' to get an all-zero vector for each."
        )
    return prepared, empty


_QUIET_GUARD = threading.Lock()
_QUIETED: dict[str, tuple[int, int]] = {}  # logger name -> (blocks inside, level to restore)


@contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Raise the named loggers to ERROR inside the block (expected library notices), then restore them.

    Safe across threads: the level is restored when the last block open on a logger ends.

    Example:
        >>> with quiet_loggers("transformers", "sentence_transformers"):
        ...     pass
    """
    with _QUIET_GUARD:
        for name in names:
            inside, level = _QUIETED.get(name, (0, logging.getLogger(name).level))
            _QUIETED[name] = (inside + 1, level)
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        with _QUIET_GUARD:
            for name in names:
                inside, level = _QUIETED.pop(name)
                if inside > 1:
                    _QUIETED[name] = (inside - 1, level)
                else:
                    logging.getLogger(name).setLevel(level)


def quiet_tokenizer() -> AbstractContextManager[None]:
    """Silence transformers' 'sequence length is longer than the maximum' log while we count tokens."""
    return quiet_loggers("transformers.tokenization_utils_base")


_LOCKS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_PINNED_LOCKS: dict[int, tuple[Any, threading.RLock]] = {}  # holds its tokenizer, so the id stays its own
_LOCKS_GUARD = threading.Lock()


def tokenizer_lock(tokenizer: Any) -> threading.RLock:
    """The one lock of ``tokenizer``: hold it around every call into it.

    A Hugging Face fast tokenizer is a Rust object that one thread may not use while another changes its
    truncation or padding settings (``RuntimeError: Already borrowed``), and every call with other settings
    changes them. Everything in embedlab that calls a tokenizer (encoding, chunking, counting) holds this
    lock, so one model can serve several threads at once; the model's forward pass needs no lock.

    Example:
        >>> with tokenizer_lock(model.st.tokenizer):
        ...     ids = model.st.tokenizer("hello")["input_ids"]
    """
    with _LOCKS_GUARD:
        try:
            lock = _LOCKS.get(tokenizer)
            if lock is None:
                lock = _LOCKS[tokenizer] = threading.RLock()
        except TypeError:  # a bare `tokenizers.Tokenizer` (a static model's) takes no weak reference
            lock = _PINNED_LOCKS.setdefault(id(tokenizer), (tokenizer, threading.RLock()))[1]
        return lock


def token_counts(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Number of tokens of each text with the model's special tokens, before any truncation."""
    if not texts:
        return []
    if not callable(tokenizer):  # a bare `tokenizers.Tokenizer`: a static model's, which reads whole texts
        with tokenizer_lock(tokenizer):
            return [len(encoding.ids) for encoding in tokenizer.encode_batch(list(texts), add_special_tokens=False)]
    with tokenizer_lock(tokenizer), quiet_tokenizer():
        encoded = tokenizer(
            list(texts),
            add_special_tokens=True,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
    return [len(ids) for ids in encoded["input_ids"]]


def _list(items: Sequence[object]) -> str:
    shown = ", ".join(str(item) for item in items[:_SHOWN])
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return f"index {shown}{more}"
