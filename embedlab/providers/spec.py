"""Remote embedding providers: what a spec like ``openai:text-embedding-3-small#256`` names, and its key.

A remote model spec is ``PROVIDER:MODEL[@BASE_URL][#DIMENSIONS]``:

- ``openai:text-embedding-3-small`` (key ``OPENAI_API_KEY``), ``cohere:embed-english-v3.0``
  (``COHERE_API_KEY``), ``hf:BAAI/bge-small-en-v1.5`` (Hugging Face Inference, ``HF_TOKEN``);
- ``openai:MODEL@http://127.0.0.1:8000/v1``: any OpenAI-compatible endpoint (another embedlab, Ollama,
  vLLM, TEI). Its key, if it needs one, is ``EMBEDLAB_ENDPOINT_API_KEY``: a vendor's key is never sent to a
  URL the spec chose. The URL is part of the spec, not an environment variable, so a spec recorded in an
  index means the same server on every machine;
- ``#N`` asks for ``N`` dimensions (OpenAI's ``dimensions``, Cohere's ``output_dimension``).

Every key may also come from a file: ``OPENAI_API_KEY_FILE=/run/secrets/openai``. Keys are read when a
request is made, never stored in a spec, an index, the registry, a log or an error message.

Example:
    >>> spec = parse_spec("openai:text-embedding-3-small#256")
    >>> spec.provider.name, spec.model, spec.dimensions, spec.price_per_million
    ('openai', 'text-embedding-3-small', 256, 0.02)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from embedlab.errors import EmbedlabError, InputError

Wire = Literal["openai", "cohere", "hf"]

#: The key of an endpoint named by URL in the spec (``openai:MODEL@URL``), never a vendor's key.
ENDPOINT_KEY_ENV = "EMBEDLAB_ENDPOINT_API_KEY"


class RemoteError(EmbedlabError):
    """A remote provider failed or refused a request (after retries), or a spec or key is unusable."""


@dataclass(frozen=True)
class KnownModel:
    """A provider's model: its native dimension, list price in USD per million tokens, and whether it can shorten."""

    dimension: int
    price_per_million: float | None
    shortenable: bool = False


@dataclass(frozen=True)
class Provider:
    """One provider's endpoint, key and request limits (texts per request, tokens per request and per text)."""

    name: str
    wire: Wire
    base_url: str
    key_env: str
    max_inputs: int
    max_text_tokens: int
    max_request_tokens: int | None = None
    models: dict[str, KnownModel] = field(default_factory=dict)
    #: task (``"query"``, ``"document"``) -> the request's ``input_type``, for providers that embed the two apart
    input_types: dict[str, str] = field(default_factory=dict)


# List prices (USD per million input tokens) as published in 2025; `estimate_cost` lets a caller override them.
PROVIDERS: dict[str, Provider] = {
    "openai": Provider(
        "openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY",
        max_inputs=2048, max_text_tokens=8191, max_request_tokens=300_000,
        models={
            "text-embedding-3-small": KnownModel(1536, 0.02, shortenable=True),
            "text-embedding-3-large": KnownModel(3072, 0.13, shortenable=True),
            "text-embedding-ada-002": KnownModel(1536, 0.10),
        },
    ),
    "cohere": Provider(
        "cohere", "cohere", "https://api.cohere.com/v2", "COHERE_API_KEY",
        max_inputs=96, max_text_tokens=512,
        models={
            "embed-english-v3.0": KnownModel(1024, 0.10),
            "embed-multilingual-v3.0": KnownModel(1024, 0.10),
            "embed-english-light-v3.0": KnownModel(384, 0.10),
            "embed-multilingual-light-v3.0": KnownModel(384, 0.10),
            "embed-v4.0": KnownModel(1536, 0.12, shortenable=True),
        },
        input_types={"query": "search_query", "document": "search_document"},
    ),
    "hf": Provider(
        "hf", "hf", "https://router.huggingface.co/hf-inference/models", "HF_TOKEN",
        max_inputs=32, max_text_tokens=512,
    ),
}  # fmt: skip

_SPEC = re.compile(r"(?P<provider>[a-z]+):(?P<model>[^@#\s]+)(?:@(?P<url>[^#\s]+))?(?:#(?P<dims>\d+))?")


@dataclass(frozen=True)
class RemoteSpec:
    """A parsed remote model spec: provider, model, optional endpoint URL and dimensions (no key)."""

    provider: Provider
    model: str
    endpoint: str | None = None
    dimensions: int | None = None

    @property
    def base_url(self) -> str:
        """Where requests go: the spec's endpoint, else the provider's."""
        return (self.endpoint or self.provider.base_url).rstrip("/")

    @property
    def known(self) -> KnownModel | None:
        """The provider's published facts about this model (``None`` for an endpoint or an unlisted model)."""
        return None if self.endpoint else self.provider.models.get(self.model)

    @property
    def dimension(self) -> int | None:
        """The vector length: asked for with ``#N``, else the known model's; ``None`` when only a request can tell."""
        if self.dimensions is not None:
            return self.dimensions
        return self.known.dimension if self.known else None

    @property
    def price_per_million(self) -> float | None:
        """List price in USD per million tokens; ``None`` when unknown (an endpoint, an unlisted model)."""
        return self.known.price_per_million if self.known else None

    @property
    def key_env(self) -> str:
        """The environment variable holding the key (``NAME_FILE`` may name a file holding it instead)."""
        return ENDPOINT_KEY_ENV if self.endpoint else self.provider.key_env

    def identity(self) -> dict[str, Any]:
        """What identifies the vector space (hashed into the fingerprint): provider, model, dimensions, endpoint."""
        found = {"provider": self.provider.name, "model": self.model, "dimensions": self.dimension}
        return found | ({"endpoint": self.base_url} if self.endpoint else {})

    def __str__(self) -> str:
        url = f"@{self.endpoint}" if self.endpoint else ""
        dims = f"#{self.dimensions}" if self.dimensions is not None else ""
        return f"{self.provider.name}:{self.model}{url}{dims}"


def is_remote(spec: object) -> bool:
    """Whether ``spec`` names a remote model (``openai:``, ``cohere:``, ``hf:`` followed by a model)."""
    if not isinstance(spec, str):
        return False
    match = _SPEC.fullmatch(spec.strip())
    return match is not None and match["provider"] in PROVIDERS


def parse_spec(spec: str) -> RemoteSpec:
    """Parse ``PROVIDER:MODEL[@BASE_URL][#DIMENSIONS]`` (see the module docstring).

    Raises:
        InputError: an unknown provider, a URL that is not http(s), or dimensions a model cannot give.
    """
    match = _SPEC.fullmatch(spec.strip())
    if match is None or match["provider"] not in PROVIDERS:
        names = ", ".join(f"{name}:MODEL" for name in PROVIDERS)
        raise InputError(f"{spec!r} is not a remote model spec: use {names}, optionally @BASE_URL and #DIMENSIONS.")
    url = match["url"]
    if url is not None and not re.match(r"https?://[^/]", url):
        raise InputError(f"{spec!r}: the endpoint must be an http(s) URL such as http://127.0.0.1:8000/v1.")
    if url is not None and "@" in url.split("/")[2]:  # user:password@host would be stored with the spec
        raise InputError(f"The endpoint URL holds credentials: put the key in {ENDPOINT_KEY_ENV}, not in the URL.")
    dims = int(match["dims"]) if match["dims"] else None
    if dims is not None and dims < 1:
        raise InputError(f"{spec!r}: dimensions must be at least 1.")
    parsed = RemoteSpec(PROVIDERS[match["provider"]], match["model"], url, dims)
    known = parsed.known
    if known and dims and dims != known.dimension and (not known.shortenable or dims > known.dimension):
        raise InputError(f"{spec!r}: {parsed.model} gives {known.dimension} dimensions and cannot give {dims}.")
    return parsed


def api_key(spec: RemoteSpec, *, required: bool = True) -> str | None:
    """The key for ``spec`` from its environment variable, or from the file ``$<VAR>_FILE`` names.

    Raises:
        RemoteError: the key is required (a vendor's API) and neither variable is set, or the file is unreadable.
    """
    name = spec.key_env
    value = os.environ.get(name, "").strip()
    if not value and (path := os.environ.get(f"{name}_FILE")):
        try:
            value = Path(path).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise RemoteError(f"Cannot read the key file {name}_FILE={path}: {exc.strerror}.") from None
    if not value and required and spec.endpoint is None:
        raise RemoteError(f"{spec} needs an API key: set {name}, or {name}_FILE to a file holding it.")
    return value or None


def scrub(message: str, secret: str | None) -> str:
    """``message`` with the secret and any 8-character piece of it replaced by ``***`` (servers echo parts of keys)."""
    if not secret:
        return message
    message = message.replace(secret, "***")
    for start in range(max(0, len(secret) - 7)):
        message = message.replace(secret[start : start + 8], "***")
    return message
