"""A fake embedding provider on 127.0.0.1 (OpenAI, Cohere and HF wire formats) that fails on cue."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


def fake_vector(text: str, dim: int) -> np.ndarray:
    """The fake provider's unnormalised vector of ``text``: a fixed function of the text."""
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).normal(size=dim).astype(np.float32)


@dataclass
class Fault:
    """One scripted answer: an HTTP ``status`` (with ``headers`` and ``body``), or a ``delay`` before answering."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    delay: float = 0.0


@dataclass
class FakeProvider:
    """Answers with :func:`fake_vector` rows of ``dim``; ``faults`` are served first, one per request."""

    dim: int = 8
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)  # path, headers, body of every request
    url: str = ""

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any] | list[Any]:
        """The success body for the wire format the path names."""
        texts = body.get("input") or body.get("texts") or body.get("inputs") or []
        dim = int(body.get("dimensions") or body.get("output_dimension") or self.dim)
        rows = [fake_vector(text, dim).tolist() for text in texts]
        if path.endswith("/embeddings"):
            data = [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)]
            return {"object": "list", "data": data[::-1], "usage": {"prompt_tokens": 3, "total_tokens": 3}}
        if path.endswith("/embed"):
            return {"embeddings": {"float": rows}, "meta": {"billed_units": {"input_tokens": 3}}}
        return rows


@contextmanager
def serving(provider: FakeProvider) -> Iterator[FakeProvider]:
    """Run ``provider`` on a free loopback port until the block ends (``provider.url`` is set)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            provider.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            fault = provider.faults.pop(0) if provider.faults else Fault()
            time.sleep(fault.delay)
            payload = (
                fault.body.encode() if fault.status != 200 else json.dumps(provider.answer(self.path, body)).encode()
            )
            try:
                self.send_response(fault.status)
                for name, value in {"Content-Type": "application/json", **fault.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout): nothing to answer
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
