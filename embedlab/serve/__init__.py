"""Serving: an OpenAI-compatible embeddings API with search and rerank (needs the ``serve`` extra)."""

try:
    import fastapi  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is part of the dev install
    raise ImportError("embedlab.serve needs the server extra: pip install 'embedlab[serve]'") from exc

from embedlab.serve.app import ServeConfig, create_app, load_api_keys
from embedlab.serve.batcher import MicroBatcher

__all__ = ["MicroBatcher", "ServeConfig", "create_app", "load_api_keys"]
