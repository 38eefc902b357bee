"""Send texts to a remote provider: batches within its limits, retries with backoff, keys kept out of sight.

One :class:`RemoteClient` per spec. It splits texts into requests within the provider's limits (texts and
tokens per request), retries 429, 5xx, timeouts and dropped connections with exponential backoff and
jitter (a ``Retry-After`` header is obeyed), and raises :class:`RemoteError` with the key scrubbed from
the message. ``sleep`` and ``rng`` are injectable, so tests check the schedule without waiting.

Example:
    >>> from embedlab.providers.spec import parse_spec
    >>> client = RemoteClient(parse_spec("openai:all-MiniLM-L6-v2@http://127.0.0.1:8000/v1"))
    >>> client.embed(["hello"]).shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import numpy as np

from embedlab.providers.spec import RemoteError, RemoteSpec, api_key, scrub

log = logging.getLogger(__name__)

#: Longest ``Retry-After`` obeyed; a server asking for more gets an error saying when to try again.
MAX_RETRY_AFTER = 120.0


class RemoteClient:
    """Embed texts through one remote spec.

    Args:
        spec: the parsed spec (provider, model, endpoint, dimensions).
        timeout: seconds for one request (connect, read, write).
        max_retries: retries after the first attempt of a request.
        backoff: the first retry's delay scale in seconds; attempt ``n`` waits between ``d/2`` and ``d`` with
            ``d = min(max_backoff, backoff * 2**n)``, unless the server said how long (``Retry-After``).
        sleep: the function that waits (tests pass one that records).
        rng: the jitter's random source.
        transport: an httpx transport (tests), else the network.
    """

    def __init__(
        self,
        spec: RemoteSpec,
        *,
        timeout: float = 60.0,
        max_retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.spec = spec
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.requests = 0  # HTTP requests sent, retries included
        self.usage_tokens = 0  # tokens the provider said it billed
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def embed(
        self, texts: Sequence[str], token_counts: Sequence[int] | None = None, *, task: str | None = None
    ) -> np.ndarray:
        """Float32 vectors of ``texts`` (in order), in as few requests as the provider's limits allow.

        ``task`` (``"query"`` or ``"document"``, the default) picks the provider's ``input_type`` where it has
        one (Cohere: ``search_query``, ``search_document``); other providers embed both alike.
        """
        counts = list(token_counts) if token_counts is not None else [0] * len(texts)
        rows = [self._request(list(texts[start:stop]), task) for start, stop in batches(self.spec, counts)]
        if not rows:
            return np.zeros((0, self.spec.dimension or 0), dtype=np.float32)
        return np.concatenate(rows).astype(np.float32, copy=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retry ``attempt`` (0-based): the server's ``Retry-After``, else backoff with jitter."""
        if retry_after is not None:
            return retry_after
        ceiling = min(self.max_backoff, self.backoff * 2**attempt)
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def _request(self, texts: list[str], task: str | None) -> np.ndarray:
        url, payload = self._payload(texts, task)
        key = api_key(self.spec)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                self.requests += 1
                response = self._http.post(url, json=payload, headers=headers)
            except httpx.TimeoutException:
                reason = "timed out"
            except httpx.TransportError as exc:
                reason = f"connection failed ({type(exc).__name__}: {exc})"
            else:
                if response.status_code < 400:
                    return self._vectors(response, len(texts), key)
                reason = f"HTTP {response.status_code}: {_body(response)}"
                if response.status_code != 429 and response.status_code < 500:
                    raise RemoteError(scrub(f"{self.spec} refused the request ({reason}).", key))
                retry_after = _retry_after(response)
                if retry_after is not None and retry_after > MAX_RETRY_AFTER:
                    raise RemoteError(
                        scrub(f"{self.spec} is rate limited and asks to wait {retry_after:.0f} s ({reason}).", key)
                    )
            if attempt == self.max_retries:
                break
            wait = self.delay(attempt, retry_after)
            log.warning("%s: %s; retry %d of %d in %.2f s", self.spec, scrub(reason, key), attempt + 1,
                        self.max_retries, wait)  # fmt: skip
            self.sleep(wait)
        raise RemoteError(scrub(f"{self.spec} failed after {self.max_retries + 1} attempts: {reason}.", key))

    def _payload(self, texts: list[str], task: str | None) -> tuple[str, dict[str, Any]]:
        spec, dims = self.spec, self.spec.dimensions
        if spec.provider.wire == "openai":
            payload: dict[str, Any] = {"model": spec.model, "input": texts, "encoding_format": "float"}
            return f"{spec.base_url}/embeddings", payload | ({"dimensions": dims} if dims else {})
        if spec.provider.wire == "cohere":
            payload = {
                "model": spec.model,
                "texts": texts,
                "input_type": spec.provider.input_types[task or "document"],
                "embedding_types": ["float"],
            }
            return f"{spec.base_url}/embed", payload | ({"output_dimension": dims} if dims else {})
        url = spec.base_url if spec.endpoint else f"{spec.base_url}/{spec.model}/pipeline/feature-extraction"
        return url, {"inputs": texts}

    def _vectors(self, response: httpx.Response, expected: int, key: str | None) -> np.ndarray:
        try:
            body = response.json()
            wire = self.spec.provider.wire
            if wire == "openai":
                rows = [item["embedding"] for item in sorted(body["data"], key=lambda item: item["index"])]
                self.usage_tokens += int(body.get("usage", {}).get("total_tokens", 0))
            elif wire == "cohere":
                rows = body["embeddings"]["float"]
                self.usage_tokens += int(body.get("meta", {}).get("billed_units", {}).get("input_tokens", 0))
            else:
                rows = body
            vectors = np.asarray(rows, dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise RemoteError(
                scrub(f"{self.spec} answered with an unexpected body ({exc}): {_body(response)}", key)
            ) from None
        if vectors.ndim != 2 or len(vectors) != expected:
            raise RemoteError(
                f"{self.spec} answered with vectors of shape {vectors.shape} for {expected} texts (a model that gives "
                "one vector per token, not per text, cannot be used as an embedding model)."
            )
        if self.spec.dimension is not None and vectors.shape[1] != self.spec.dimension:
            raise RemoteError(f"{self.spec} answered with {vectors.shape[1]} dimensions, not {self.spec.dimension}.")
        return vectors


def batches(spec: RemoteSpec, token_counts: Sequence[int]) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` ranges of consecutive texts within the texts and tokens one request may carry."""
    provider = spec.provider
    start, tokens = 0, 0
    for position, count in enumerate(token_counts):
        full = position - start >= provider.max_inputs
        too_long = provider.max_request_tokens is not None and tokens + count > provider.max_request_tokens
        if position > start and (full or too_long):
            yield start, position
            start, tokens = position, 0
        tokens += count
    if start < len(token_counts):
        yield start, len(token_counts)


def _body(response: httpx.Response, limit: int = 300) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("..." if len(text) > limit else "")


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (a number, or an HTTP date), ``None`` without a usable one."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
