"""An OpenAI-compatible embeddings server, plus search and rerank, over embedlab's own functions.

Layers: :class:`ServeConfig` (frozen; built by the CLI or from code) -> :func:`create_app` (FastAPI) ->
:class:`~embedlab.serve.batcher.MicroBatcher` -> :class:`~embedlab.Encoder`. Existing OpenAI clients
only change their base URL::

    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="...")
    client.embeddings.create(model="all-MiniLM-L6-v2", input=["hello"], dimensions=128)

``/v1/search`` takes every :class:`~embedlab.index.SearchOptions` field; with ``min_score`` (a number, or
``"calibrated"``: the index's calibrated threshold) its answer says ``"abstained": true`` when no document
passes it ("no confident match").

Errors use OpenAI's schema ``{"error": {"message", "type", "param", "code"}}``: 401 without a valid key
(when keys are configured), 404 for a model or index the server does not serve, 408 (and the connection
closed) for a body that does not arrive within ``body_timeout`` seconds, 413 for a body over the limit,
422 for invalid requests (too many inputs, an input too long or empty), 504 on timeout.

Everything here may run at once on several threads (the batcher's encoder thread, searches, reranks): the
encoder is safe for that, and the usage figures come from the same call that encodes (no second
tokenisation).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from annotated_types import Le
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from embedlab import __version__
from embedlab.encode import Encoder
from embedlab.encode.text import prepare_texts
from embedlab.errors import EmbedlabError, InputError
from embedlab.index.options import option_fields
from embedlab.index.rerank import load_reranker, rank
from embedlab.serve.batcher import MicroBatcher
from embedlab.serve.follow import open_served, open_shadows, serving
from embedlab.serve.monitoring import ServedMonitors

logger = logging.getLogger("embedlab.serve")


@dataclass(frozen=True)
class ServeConfig:
    """Everything the server needs; the CLI only builds this and starts uvicorn.

    Attributes:
        model: the model spec (``None``: the bundled default).
        served_name: the model name clients send; default the model's short name.
        indexes: ``{name: index folder or alias file}`` served by ``/v1/search``; an alias is followed
            (:mod:`embedlab.serve.follow`): a promote or rollback takes effect without a restart.
        shadow: ``{name: candidate index folder}``: searches of index ``name`` also run on the candidate in
            the background, both rankings logged to ``shadow_log`` (JSON lines).
        reranker: a CrossEncoder directory for ``/v1/rerank`` and ``rerank`` in search.
        api_keys: accepted Bearer keys; empty means no authentication.
        max_inputs, max_chars, max_body_bytes: request limits.
        body_timeout: seconds a request body may take to arrive (then 408, and the connection is closed).
        max_batch, max_wait: micro-batching budget (texts, seconds).
        timeout: seconds a request may wait for its vectors.
        cache: use the persistent embedding cache.
        cors_origins: origins allowed by CORS; empty turns CORS off.
        monitor_sample: the share of searches of a monitored index (one with ``embedlab monitor init``'s
            baseline) logged to its monitor history; 0 turns the logging off.
    """

    model: str | None = None
    served_name: str | None = None
    indexes: dict[str, str] = field(default_factory=dict)
    shadow: dict[str, str] = field(default_factory=dict)
    shadow_log: str = "shadow.jsonl"
    reranker: str | None = None
    api_keys: frozenset[str] = frozenset()
    max_inputs: int = 2048
    max_chars: int = 32_000
    max_body_bytes: int = 8 * 1024 * 1024
    body_timeout: float = 15.0
    max_batch: int = 64
    max_wait: float = 0.005
    timeout: float = 30.0
    cache: bool = False
    cors_origins: tuple[str, ...] = ()
    monitor_sample: float = 1.0

    def __post_init__(self) -> None:
        """Refuse limits that would serve nothing (``max_batch=0`` started a server that never encoded).

        Raises:
            InputError: a count under 1, a time that is not positive, or a negative ``max_wait``.
        """
        counts = {"max_inputs": self.max_inputs, "max_chars": self.max_chars, "max_body_bytes": self.max_body_bytes,
                  "max_batch": self.max_batch}  # fmt: skip
        times = {"body_timeout": self.body_timeout, "timeout": self.timeout}
        bad = [f"{name}={value!r} (at least 1)" for name, value in counts.items() if not value >= 1]
        bad += [f"{name}={value!r} (more than 0)" for name, value in times.items() if not value > 0]
        bad += [f"max_wait={self.max_wait!r} (at least 0)"] if not self.max_wait >= 0 else []
        bad += [f"monitor_sample={self.monitor_sample!r} (0 to 1)"] if not 0 <= self.monitor_sample <= 1 else []
        if bad:
            raise InputError(f"Server limits out of range: {', '.join(bad)}.")


def load_api_keys(*, env: str = "EMBEDLAB_API_KEYS", path: str | Path | None = None) -> frozenset[str]:
    """Keys from a file (one per line, ``#`` comments) and/or a comma-separated environment variable.

    Keys may hold any Unicode character but whitespace; clients send them UTF-8 encoded.

    Raises:
        EmbedlabError: the file cannot be read, is not UTF-8, holds a line with whitespace, or holds no key
            (a server asked to check keys never runs without one).
    """
    keys = {key.strip() for key in os.environ.get(env, "").split(",") if key.strip()}
    if path is None:
        return frozenset(keys)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise EmbedlabError(f"Cannot read the API key file {path}: {reason}.") from None
    found = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if any(char.isspace() for char in line):
            raise EmbedlabError(f"{path}:{number}: an API key line holds whitespace (one key a line, no comments).")
        keys.add(line)
        found += 1
    if not found:
        raise EmbedlabError(f"The API key file {path} holds no key (one key a line; '#' starts a comment line).")
    return frozenset(keys)


class EmbeddingRequest(BaseModel):
    """OpenAI's embeddings request (token-array inputs are not supported)."""

    input: str | list[str]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1, strict=True)
    user: str | None = None


class _SearchBase(BaseModel):
    """A search in one served index: what the server adds to :class:`~embedlab.index.SearchOptions`."""

    index: str
    query: str = Field(min_length=1, description="At most the server's max_chars characters.")
    k: int = Field(default=10, ge=1, le=1000, description="How many documents.")
    rerank: bool = Field(default=False, description="Rerank with the server's cross-encoder (--reranker).")


_SERVER_BOUNDS = {"candidates": Le(10_000), "rerank_top": Le(1000)}  # one request's work stays bounded


def _search_request() -> type[_SearchBase]:
    """``_SearchBase`` plus every field of ``SearchOptions`` it does not define, with their types and bounds."""
    fields: dict[str, Any] = {
        name: (Annotated[kind, _SERVER_BOUNDS[name]] if name in _SERVER_BOUNDS else kind,
               Field(default=default, description=doc))
        for name, (kind, default, doc) in option_fields().items()
        if name not in _SearchBase.model_fields  # rerank: the served cross-encoder, never a path from a client
    }  # fmt: skip
    return create_model("SearchRequest", __base__=_SearchBase, __doc__="A search in one served index.", **fields)


if TYPE_CHECKING:
    SearchRequest = _SearchBase
else:
    SearchRequest = _search_request()  # the same options as Index.search, from their one definition


class RerankRequest(BaseModel):
    """Score documents against a query with the served cross-encoder."""

    query: str = Field(min_length=1)
    documents: list[str] = Field(min_length=1)
    top_n: int | None = Field(default=None, ge=1)
    model: str | None = None


class ApiError(Exception):
    """An error answered in OpenAI's schema."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code


def create_app(config: ServeConfig, *, encoder: Encoder | None = None) -> FastAPI:
    """The FastAPI application for ``config`` (``encoder`` may be given to share a loaded model)."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

    from embedlab.optimize.variants import runtime

    encoder = encoder or Encoder(config.model, cache=config.cache or None, show_progress=False)
    name = config.served_name or encoder.info.name.rstrip("/").split("/")[-1]
    registry = CollectorRegistry()
    requests_total = Counter("embedlab_requests", "Requests by path and status", ["path", "status"], registry=registry)
    latency = Histogram("embedlab_request_seconds", "Request latency", ["path"], registry=registry)
    batch_sizes = Histogram("embedlab_batch_size", "Texts per encoder call", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))  # fmt: skip
    queue_depth = Gauge("embedlab_queue_depth", "Requests waiting for the encoder", registry=registry)
    cache_hits = Gauge("embedlab_cache_hits", "Texts served from the embedding cache", registry=registry)
    served = {"id": name, "fingerprint": encoder.info.fingerprint, **runtime(encoder.info)}
    Info("embedlab_model", "The served model and how it runs", registry=registry).info(
        {key: str(value or "none") for key, value in {**served, "fingerprint": encoder.info.short_fingerprint}.items()}
    )
    batcher = MicroBatcher(encoder, max_batch=config.max_batch, max_wait=config.max_wait,
                           on_batch=batch_sizes.observe)  # fmt: skip
    indexes = open_served(config.indexes, encoder)  # before serving: a missing index fails the start
    shadows = open_shadows(config.shadow, config.indexes, encoder, config.shadow_log)
    reranker = _load_reranker(config.reranker) if config.reranker else None
    monitors = ServedMonitors(indexes, registry, sample=config.monitor_sample)  # searches of monitored indexes
    max_chars = min(config.max_chars, encoder.max_chars or config.max_chars)  # the stricter limit, per request

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        monitors.start()
        yield
        await batcher.stop()  # graceful: queued requests are answered first
        monitors.stop()  # their searches' records are written
        for shadow in shadows.values():
            await asyncio.to_thread(shadow.close)

    app = FastAPI(title="embedlab", version=__version__, lifespan=lifespan)
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["*"],
                           allow_headers=["*"])  # fmt: skip

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        try:
            _check_key(request, config.api_keys)
            _check_size(request, config.max_body_bytes)
            await _read_body(request, config.body_timeout)
            response = await call_next(request)
        except ApiError as error:
            response = _error(error)
        except Exception:  # never a bare 500: OpenAI's schema, no internals
            logger.exception("unexpected error on %s", request.url.path)
            response = _error(ApiError(500, "Internal error; see the server log.", "server_error"))
        route = request.scope.get("route")
        path = getattr(route, "path", "other")  # route templates only: unknown paths cannot grow the metrics
        requests_total.labels(path, str(response.status_code)).inc()
        latency.labels(path).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return _error(error)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        location = first.get("loc", ())
        json_error = first.get("type") == "json_invalid"
        param = None if json_error else ".".join(str(part) for part in location[1:]) or None
        return _error(ApiError(422, f"Invalid request: {first.get('msg', 'bad body')} at {param}.", param=param))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
        response = _error(ApiError(error.status_code, str(error.detail), kind))
        response.headers.update(error.headers or {})  # e.g. Allow on 405
        return response

    @app.exception_handler(EmbedlabError)
    async def embedlab_error(_: Request, error: EmbedlabError) -> JSONResponse:
        return _error(ApiError(422, str(error)))

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingRequest) -> dict[str, Any]:
        if body.model != name:
            raise ApiError(404, f"The model {body.model!r} is not served here; this server serves {name!r}.",
                           "not_found_error", "model", "model_not_found")  # fmt: skip
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not texts:
            raise ApiError(422, "input must not be empty.", param="input")
        if len(texts) > config.max_inputs:
            raise ApiError(422, f"{len(texts)} inputs; at most {config.max_inputs} per request.", param="input")
        dimension = encoder.info.dimension
        if body.dimensions is not None and body.dimensions > dimension:
            raise ApiError(422, f"dimensions must be at most {dimension}.", param="dimensions")
        try:
            prepare_texts(texts, normalize=False, max_chars=max_chars, on_empty=encoder.on_empty)
        except EmbedlabError as exc:
            raise ApiError(422, str(exc), param="input") from exc
        queue_depth.set(batcher.depth)
        try:
            encoded = await asyncio.wait_for(batcher.encode(texts), config.timeout)
        except TimeoutError:
            raise ApiError(504, f"No answer within {config.timeout} s.", "timeout_error") from None
        cache_hits.set(encoder.stats.cache_hits)
        vectors = encoded.vectors
        if body.dimensions is not None:
            vectors = vectors[:, : body.dimensions]
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        # Usage: the tokens the model read for the input (its prompt included), without special tokens.
        tokens = int(np.maximum(encoded.n_tokens - encoder.special_tokens, 0).sum())
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _encode_vector(vector, body.encoding_format)}
                for i, vector in enumerate(vectors)
            ],
            "model": name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{**served, "object": "model", "created": 0, "owned_by": "embedlab"}]}

    @app.post("/v1/search")
    async def search(body: SearchRequest) -> dict[str, Any]:
        index = indexes.get(body.index)
        if index is None:
            raise ApiError(404, f"No index {body.index!r}; served: {sorted(indexes)}.", "not_found_error", "index")
        if len(body.query) > max_chars:
            raise ApiError(422, f"The query has {len(body.query)} characters; at most {max_chars}.", param="query")
        if body.rerank and reranker is None:
            raise ApiError(422, "This server has no reranker (start it with --reranker).", param="rerank")
        options = body.model_dump(exclude=set(_SearchBase.model_fields))
        hits = await asyncio.to_thread(
            index.search, body.query, body.k, **options, rerank=reranker if body.rerank else None
        )
        monitors.log(body.index, body.query, hits)
        if body.index in shadows:
            shadows[body.index].submit(
                body.query, body.k, hits, {**options, "rerank": reranker if body.rerank else None}
            )
        # abstained: a score floor (a number or the calibrated threshold) was asked for and no document passed it
        return {"object": "list", "data": [hit.__dict__ for hit in hits], "abstained": not hits and
                options.get("min_score") is not None}  # fmt: skip

    @app.post("/v1/rerank")
    async def rerank(body: RerankRequest) -> dict[str, Any]:
        if reranker is None:
            raise ApiError(404, "This server has no reranker (start it with --reranker).", "not_found_error")
        if len(body.documents) > config.max_inputs:
            raise ApiError(422, f"{len(body.documents)} documents; at most {config.max_inputs}.", param="documents")
        if any(len(doc) > max_chars for doc in [body.query, *body.documents]):
            raise ApiError(422, f"The query and each document must be at most {max_chars} characters.")
        ranked = await asyncio.to_thread(rank, reranker, body.query, body.documents)  # as search's reranking
        results = [{"index": i, "relevance_score": score, "document": body.documents[i]}
                   for i, score in ranked[: body.top_n or len(body.documents)]]  # fmt: skip
        return {"object": "list", "results": results}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": name, "fingerprint": encoder.info.fingerprint, "queue": batcher.depth,
                "indexes": {index_name: serving(index) for index_name, index in indexes.items()}}  # fmt: skip

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        queue_depth.set(batcher.depth)
        if monitors.loggers:
            await asyncio.to_thread(monitors.refresh)
        return PlainTextResponse(generate_latest(registry).decode(), media_type="text/plain; version=0.0.4")

    return app


def _load_reranker(spec: str) -> Any:
    """Load the cross-encoder once, at start-up, and refuse one that does not give one score per pair.

    One pair is scored here, before any request: that first call sets the tokenizer's padding and
    truncation, which every later call asks for unchanged, so concurrent reranks never change (and never
    collide on) the shared tokenizer.
    """
    cross = load_reranker(spec)
    scores = np.asarray(cross.predict([("query", "document")], show_progress_bar=False))
    if scores.shape != (1,):
        raise EmbedlabError(f"The reranker {spec} gives {scores.size} scores per pair; a reranker gives one.")
    return cross


_PUBLIC = {"/health", "/openapi.json", "/docs", "/redoc"}  # no secrets there; everything else needs a key


def _encode_vector(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode()
    return [float(x) for x in vector]


def _check_key(request: Request, keys: frozenset[str]) -> None:
    if not keys or request.url.path in _PUBLIC or request.method == "OPTIONS":  # CORS preflights carry no key
        return
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    given = token.encode("latin-1")  # the header's bytes again (Starlette decodes them as Latin-1); keys are UTF-8
    if not token or not any(hmac.compare_digest(given, key.encode("utf-8")) for key in keys):
        raise ApiError(401, "Missing or invalid API key (send 'Authorization: Bearer <key>').", "authentication_error")


def _check_size(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length is None and request.method in ("POST", "PUT", "PATCH"):
        raise ApiError(411, "Send a Content-Length header (chunked bodies are not accepted).", "invalid_request_error")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ApiError(413, f"The request body has {length} bytes; the limit is {limit}.", "request_too_large")


async def _read_body(request: Request, timeout: float) -> None:
    """Receive the whole body within ``timeout`` seconds (the app then reads it from memory), else 408."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    try:
        await asyncio.wait_for(request.body(), timeout)
    except TimeoutError:
        raise ApiError(408, f"The request body did not arrive within {timeout:g} s.", code="request_timeout") from None
    except ClientDisconnect:  # nobody reads the answer; it is counted as the client's error, not the server's
        raise ApiError(400, "The client disconnected before sending the whole body.") from None


def _error(error: ApiError) -> JSONResponse:
    body = {"error": {"message": error.message, "type": error.kind, "param": error.param, "code": error.code}}
    headers = {"Connection": "close"} if error.status == 408 else None  # the rest of that body is not awaited
    return JSONResponse(body, status_code=error.status, headers=headers)
