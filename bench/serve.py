"""Server load: throughput and latency of `embedlab serve` under concurrent clients, on loopback.

Starts the real server (uvicorn, bundled model, no cache) on 127.0.0.1, sends a fixed number of
one-text requests from --clients concurrent clients (bounded: it stops by itself), and compares the
throughput with one-request-at-a-time encoding in this process (the baseline, same texts, same run).

    python bench/serve.py [--requests 600] [--clients 32]

Prints requests/s, p50/p99 latency, errors, and the throughput ratio; writes bench/out/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from embedlab import Encoder, load_model
from embedlab.demo import stdlib_docstrings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def load(url: str, texts: list[str], clients: int) -> tuple[list[float], int, float]:
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
            response = await session.post(f"{url}/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": text})
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=120) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return latencies, errors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    texts = [doc.summary for doc in stdlib_docstrings()][: args.requests]

    encoder = Encoder(load_model(device="cpu"), show_progress=False)
    encoder.encode(texts[:8])  # warm-up
    started = time.perf_counter()
    for text in texts:
        encoder.encode([text])
    sequential = len(texts) / (time.perf_counter() - started)

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "embedlab", "serve", "--port", str(port), "--no-cache"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        asyncio.run(load(url, texts[:32], args.clients))  # warm-up
        latencies, errors, seconds = asyncio.run(load(url, texts, args.clients))
    finally:
        server.terminate()
        server.wait(30)
    throughput = len(texts) / seconds
    figures = {
        "requests": len(texts),
        "clients": args.clients,
        "errors": errors,
        "server_requests_per_s": throughput,
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
        "sequential_texts_per_s": sequential,
        "throughput_ratio_vs_sequential": throughput / sequential,
    }
    print(f"{len(texts)} requests of one text, {args.clients} concurrent clients on loopback, {errors} errors")
    print(f"  server:     {throughput:8.1f} requests/s, p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms")
    print(f"  baseline:   {sequential:8.1f} texts/s encoding one request at a time in-process")
    print(f"  ratio:      {figures['throughput_ratio_vs_sequential']:.2f}x (micro-batching)")
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "serve.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
