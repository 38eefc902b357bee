"""A remote provider as an :class:`~embedlab.models.EmbeddingModel`, and what a run would cost before it is sent.

The remote model is a sentence-transformers model with one input module, :class:`RemoteEmbedding`, whose
forward pass is an HTTP request: the :class:`~embedlab.encode.Encoder` (normalisation, the cache, duplicate
texts, token counts), evaluation, indexes and the server take it like any local model. Its fingerprint
hashes the spec's identity (provider, model, dimensions, endpoint) and no weights, so an index built with
``openai:text-embedding-3-small#256`` refuses vectors of ``#512`` or of another model.

Token counts (for the cost estimate, batching and truncation warnings) come from the bundled model's
WordPiece tokenizer: an estimate of the provider's own count, available offline before anything is sent.

Example:
    >>> model = load_remote("openai:all-MiniLM-L6-v2@http://127.0.0.1:8000/v1#384")  # nothing is sent yet
    >>> estimate_cost(model.st[0].spec, ["hello world"]).tokens
    2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
from sentence_transformers.base.modules.input_module import InputModule

from embedlab.models import EmbeddingModel, describe
from embedlab.providers.client import RemoteClient, batches
from embedlab.providers.spec import RemoteError, RemoteSpec, parse_spec

if TYPE_CHECKING:
    from embedlab.encode import EmbeddingCache

#: The text sent once to learn an endpoint's dimension when the spec does not give it (no user data).
PROBE_TEXT = "dimension probe"


class RemoteEmbedding(InputModule):
    """A sentence-transformers input module whose forward pass asks a remote provider for the vectors."""

    spec: RemoteSpec
    client: RemoteClient

    def __init__(self, client: RemoteClient, dimension: int) -> None:
        super().__init__()
        self.client = client
        self.spec = client.spec
        self.dimension = dimension
        self.tokenizer = counting_tokenizer()

    @property
    def task_aware(self) -> bool:
        """Whether the provider embeds queries and documents apart (Cohere's ``input_type``).

        The encoder's cache then keys query vectors apart from document vectors.
        """
        return bool(self.spec.provider.input_types)

    def preprocess(
        self, inputs: list[Any], prompt: str | None = None, task: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """The texts (behind the prompt), their estimated token counts and the task: the request is made in forward.

        ``task``: ``"query"``, ``"document"`` or ``None`` (a document), as sentence-transformers passes it.
        """
        texts = [(prompt or "") + text for text in inputs]
        return {"texts": texts, "token_counts": count_tokens(texts), "task": task}

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Put the provider's vectors of ``features["texts"]`` (for ``features["task"]``) in ``sentence_embedding``."""
        import torch

        vectors = self.client.embed(features["texts"], features.get("token_counts"), task=features.get("task"))
        features["sentence_embedding"] = torch.from_numpy(vectors)
        return features

    @property
    def max_seq_length(self) -> int:
        """Tokens the provider reads per text."""
        return self.spec.provider.max_text_tokens

    def get_embedding_dimension(self) -> int:
        """The vector length."""
        return self.dimension

    def get_config_dict(self) -> dict[str, Any]:
        """The spec's identity (provider, model, dimensions, endpoint): what the fingerprint hashes. Never the key."""
        return self.spec.identity()

    def save(self, output_path: str, *args: Any, **kwargs: Any) -> None:
        """Refuse: a remote model has no weights to save."""
        raise RemoteError(f"{self.spec} is a remote model: there is nothing to save (its spec is its identity).")


def load_remote(spec: str | RemoteSpec, *, client: RemoteClient | None = None) -> EmbeddingModel:
    """An :class:`EmbeddingModel` that encodes through ``spec``'s provider.

    Nothing is sent when the dimension is known (a listed model, or ``#N`` in the spec); otherwise one request
    embeds :data:`PROBE_TEXT` to learn it. ``client`` lets tests inject sleep, randomness or a transport.

    Raises:
        InputError: a malformed spec.
        RemoteError: the probe failed.
    """
    from sentence_transformers import SentenceTransformer

    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    client = client or RemoteClient(parsed)
    dimension = parsed.dimension
    if dimension is None:
        dimension = int(client.embed([PROBE_TEXT]).shape[1])
    st = SentenceTransformer(modules=[RemoteEmbedding(client, dimension)], device="cpu")
    info = describe(st, name=str(parsed), source="remote")  # no path: an index reopens it by its name
    return EmbeddingModel(st=st, info=replace(info, backend=f"remote:{parsed.provider.name}"))


@cache
def counting_tokenizer() -> Any:
    """The bundled model's WordPiece tokenizer (a fast ``transformers`` one, which the chunker needs too).

    It estimates a provider's token counts offline and cuts long documents into chunks for a remote model.
    """
    from transformers import AutoTokenizer

    from embedlab.verified import bundled_model_dir

    return AutoTokenizer.from_pretrained(str(bundled_model_dir()), local_files_only=True)


def count_tokens(texts: Sequence[str]) -> list[int]:
    """Estimated tokens of each text (WordPiece, without special tokens)."""
    from embedlab.encode.text import quiet_tokenizer, tokenizer_lock

    if not texts:
        return []
    tokenizer = counting_tokenizer()
    with tokenizer_lock(tokenizer), quiet_tokenizer():
        encoded = tokenizer(list(texts), add_special_tokens=False, truncation=False, return_attention_mask=False)
    return [len(ids) for ids in encoded["input_ids"]]


@dataclass(frozen=True)
class CostEstimate:
    """What encoding some texts through a provider would send and cost, computed before anything is sent.

    ``texts`` to send (distinct, not cached), ``cached`` served locally, ``tokens`` estimated, ``requests``
    within the provider's limits, ``usd`` at ``price_per_million`` (``None`` when the price is unknown).
    """

    spec: str
    texts: int
    cached: int
    tokens: int
    requests: int
    price_per_million: float | None
    usd: float | None

    def describe(self) -> str:
        """One line for people."""
        cost = f"~${self.usd:.4g} at ${self.price_per_million}/M tokens" if self.usd is not None else "price unknown"
        return (
            f"{self.spec}: {self.texts} texts to send ({self.cached} cached), ~{self.tokens:,} tokens "
            f"(estimated), {self.requests} requests, {cost}"
        )


def estimate_encoding(
    spec: str | RemoteSpec,
    texts: Sequence[str],
    *,
    cache: EmbeddingCache | None = None,
    price_per_million: float | None = None,
) -> CostEstimate:
    """What an :class:`~embedlab.encode.Encoder` over ``spec`` would send for ``texts``: nothing is sent.

    The texts are normalised as the encoder does, empty ones and repeats dropped, and those already in
    ``cache`` counted as cached (when the dimension is known without a request).
    """
    from embedlab.encode import EmbeddingCache, Encoder
    from embedlab.encode.text import prepare_texts

    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    prepared, empty = prepare_texts(texts, on_empty="zero", max_chars=None)
    skipped = set(empty)
    distinct = list(dict.fromkeys(text for position, text in enumerate(prepared) if position not in skipped))
    hits: set[int] = set()
    if cache is not None and parsed.dimension is not None:
        encoder = Encoder(load_remote(parsed), cache=cache)
        keys = [EmbeddingCache.key(encoder.info.fingerprint, encoder.options, text) for text in distinct]
        hits = set(cache.get_many(keys, encoder.info.dimension))
    missing = [text for position, text in enumerate(distinct) if position not in hits]
    return estimate_cost(parsed, missing, cached=len(hits), price_per_million=price_per_million)


def estimate_cost(
    spec: str | RemoteSpec,
    texts: Sequence[str],
    *,
    cached: int = 0,
    price_per_million: float | None = None,
) -> CostEstimate:
    """Tokens, requests and USD for sending ``texts`` (already prepared, distinct, not cached) to ``spec``.

    Example:
        >>> estimate_cost("openai:text-embedding-3-small", ["hello world"] * 1000).usd  # 2,000 tokens at $0.02/M
        4e-05
    """
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    counts = count_tokens(texts)
    price = price_per_million if price_per_million is not None else parsed.price_per_million
    tokens = int(np.sum(counts)) if counts else 0
    requests = sum(1 for _ in batches(parsed, counts))
    usd = None if price is None else round(tokens * price / 1e6, 10)
    return CostEstimate(str(parsed), len(texts), cached, tokens, requests, price, usd)
