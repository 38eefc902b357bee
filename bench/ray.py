"""Documents/s of one process against the Ray engine (actors = cores) on this machine, torch and an ONNX variant.

    flock /tmp/embedlab-cpu.lock python bench/ray.py [--n 1000] [--actors N] [--no-variant]

In one run, on the same texts (the standard library's docstrings, first --n, as bench/encode.py), with a
local Ray started once (its start-up is timed apart):

- ``encode``: :func:`embedlab.encode.files.encode_file` with ``engine="local"`` and ``engine="ray"``;
- ``index``: :meth:`Index.add <embedlab.index.Index.add>` against :func:`embedlab.scale.add_with_ray` into a new index;
- ``encode-onnx``: the same as ``encode`` with the model's ONNX variant (``embedlab.optimize``), if the onnx
  extra is installed.

Each Ray figure includes its actors' model loads and the driver's writes: the run as a user sees it once
Ray is up. Prints documents/s and the ratio Ray / one process (above 1: Ray is faster), and the largest
difference between the vectors of the two paths; writes bench/out/ray.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from embedlab import EmbeddingModel, Encoder, load_model
from embedlab.demo import stdlib_docstrings
from embedlab.encode.files import encode_file
from embedlab.extras import missing
from embedlab.index import Index
from embedlab.index.documents import read_documents
from embedlab.index.rows import embed_for_index
from embedlab.io import read_embeddings
from embedlab.scale import Cluster, Ledger, add_with_ray, content_hash
from embedlab.scale.cluster import connected


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def commit_rate(model: EmbeddingModel, documents: list[dict], work: Path) -> float:
    """Documents/s of the driver's side alone: whole-document commits and ledger records of encoded documents."""
    index = Index.create(work / "commits", model)
    ledger = Ledger(index.path, index.settings["model"]["fingerprint"])
    batches = [documents[start : start + 1024] for start in range(0, len(documents), 1024)]
    embedded = [embed_for_index(index.encoder, index.settings, batch) for batch in batches]
    started = time.perf_counter()
    for batch, chunks in zip(batches, embedded, strict=True):
        index.commit_chunks(batch, chunks)
        ledger.record([doc["id"] for doc in batch], [content_hash(doc) for doc in batch])
    return len(documents) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--actors", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-variant", action="store_true", help="skip the ONNX variant")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent  # this file is ray.py: Ray itself must not be imported from here
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]

    model = load_model(device="cpu")
    docs = stdlib_docstrings()[: args.n]
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    source = work / "docs.jsonl"
    source.write_text("".join(json.dumps({"id": doc.id, "text": doc.text}) + "\n" for doc in docs), encoding="utf-8")
    cluster = Cluster(actors=args.actors)
    encoders = {"encode": model}
    if not args.no_variant and not missing("onnx"):
        from embedlab.optimize.variants import build_variant

        build_variant(model, "onnx", work / "onnx")
        encoders["encode-onnx"] = load_model(work / "onnx")
    results: dict[str, dict[str, float]] = {}

    started = time.perf_counter()
    with connected(cluster):
        startup = time.perf_counter() - started
        for name, encoder_model in encoders.items():
            encoder = Encoder(encoder_model, show_progress=False)
            local = timed(lambda e=encoder: encode_file(source, work / "local.parquet", encoder=e))
            ray = timed(lambda e=encoder: encode_file(source, work / "ray.parquet", encoder=e, engine="ray",
                                                      cluster=cluster))  # fmt: skip
            gap = float(np.abs(read_embeddings(work / "local.parquet").vectors
                               - read_embeddings(work / "ray.parquet").vectors).max())  # fmt: skip
            results[name] = {"local_s": local, "ray_s": ray, "max_abs_diff": gap}
        documents = read_documents(source)
        local = timed(lambda: Index.build(work / f"one-{time.time_ns()}", documents, model))
        index = Index.create(work / "ray-index", model)
        ray = timed(lambda: add_with_ray(index, source, cluster=cluster))
        results["index"] = {"local_s": local, "ray_s": ray, "documents": len(index)}
    commits = commit_rate(model, documents, work)

    print(f"{len(docs)} documents, {args.actors} Ray actors on {os.cpu_count()} cores; local Ray start-up "
          f"{startup:.1f}s (not in the figures)")  # fmt: skip
    print(f"{'path':<12} {'one process docs/s':>19} {'Ray docs/s':>11} {'Ray / one':>10} {'max |diff|':>11}")
    for name, figures in results.items():
        figures["local_docs_per_s"] = len(docs) / figures["local_s"]
        figures["ray_docs_per_s"] = len(docs) / figures["ray_s"]
        figures["ratio"] = figures["ray_docs_per_s"] / figures["local_docs_per_s"]
        gap = f"{figures['max_abs_diff']:.1e}" if "max_abs_diff" in figures else "-"
        print(f"{name:<12} {figures['local_docs_per_s']:>19.1f} {figures['ray_docs_per_s']:>11.1f} "
              f"{figures['ratio']:>10.2f} {gap:>11}")  # fmt: skip
    print(f"the driver's commits alone (vectors precomputed, 1,024 documents a commit): {commits:,.0f} documents/s")
    out = Path(__file__).parent / "out" / "ray.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"n": len(docs), "actors": args.actors, "cores": os.cpu_count(), "startup_s": startup,
                               "driver_commits_docs_per_s": commits, "results": results}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
