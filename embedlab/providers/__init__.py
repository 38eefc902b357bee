"""Remote embedding providers (OpenAI, Cohere, Hugging Face, any OpenAI-compatible endpoint) as models.

A spec ``PROVIDER:MODEL[@BASE_URL][#DIMENSIONS]`` loads wherever a model name does (``load_model``,
``--model``): see :mod:`embedlab.providers.spec` for keys and endpoints, :mod:`embedlab.providers.client`
for batching and retries, :mod:`embedlab.providers.model` for the model and the cost estimate.
"""

from embedlab.providers.client import RemoteClient
from embedlab.providers.model import (
    CostEstimate,
    RemoteEmbedding,
    count_tokens,
    estimate_cost,
    estimate_encoding,
    load_remote,
)
from embedlab.providers.spec import PROVIDERS, RemoteError, RemoteSpec, api_key, is_remote, parse_spec, scrub

__all__ = [
    "PROVIDERS",
    "CostEstimate",
    "RemoteClient",
    "RemoteEmbedding",
    "RemoteError",
    "RemoteSpec",
    "api_key",
    "count_tokens",
    "estimate_cost",
    "estimate_encoding",
    "is_remote",
    "load_remote",
    "parse_spec",
    "scrub",
]
