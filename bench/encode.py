"""Encoding speed: plain sentence-transformers vs embedlab's Encoder, the cache speed-up, the document path.

Runs every variant on the same texts in one process, interleaved, several rounds, and reports medians,
so the ratios hold on a noisy machine. Texts: the standard-library docstrings of the demo (real text on
every machine), first --n of them.

    python bench/encode.py [--n 1000] [--rounds 3] [--batch-size 32]

Prints texts/s per variant, embedlab's overhead against plain sentence-transformers (goal: under 5%),
the cache speed-up of a warm re-encode against encoding (goal: at least 50x), and the document path's
overhead (`encode_documents` with titles: validation, chunking, encoding, aggregation) against plain
sentence-transformers encoding the very chunks it makes. Writes the figures to bench/out/encode.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from embedlab import EmbeddingCache, Encoder, load_model
from embedlab.demo import stdlib_docstrings


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    model = load_model(device="cpu")
    texts = [doc.text for doc in stdlib_docstrings()][: args.n]
    plain = lambda: model.st.encode(  # noqa: E731
        texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    no_cache = Encoder(model, batch_size=args.batch_size, show_progress=False)
    plain()  # warm-up: first-call allocations and thread pools
    titles = [doc.id for doc in stdlib_docstrings()][: args.n]
    documents = lambda: no_cache.encode_documents(texts, titles=titles)  # noqa: E731
    chunk_texts = [chunk.embed_text for chunk in documents().chunks]
    plain_chunks = lambda: model.st.encode(  # noqa: E731
        chunk_texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True,
        show_progress_bar=False,
    )  # fmt: skip
    times: dict[str, list[float]] = {"plain": [], "embedlab": [], "embedlab_cold_cache": [], "embedlab_warm_cache": [],
                                     "plain_chunks": [], "embedlab_documents": []}  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            cached = Encoder(model, batch_size=args.batch_size, show_progress=False,
                             cache=EmbeddingCache(Path(folder) / f"cache{round_}.sqlite3"))  # fmt: skip
            times["plain"].append(timed(plain))
            times["embedlab"].append(timed(lambda: no_cache.encode(texts)))
            times["embedlab_cold_cache"].append(timed(lambda c=cached: c.encode(texts)))
            times["embedlab_warm_cache"].append(timed(lambda c=cached: c.encode(texts)))
            times["plain_chunks"].append(timed(plain_chunks))
            times["embedlab_documents"].append(timed(documents))
            print(f"round {round_ + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()))

    median = {name: statistics.median(values) for name, values in times.items()}
    figures = {
        "texts": len(texts),
        "rounds": args.rounds,
        "batch_size": args.batch_size,
        "seconds": median,
        "texts_per_s": {name: len(texts) / seconds for name, seconds in median.items()},
        "overhead_vs_plain": median["embedlab"] / median["plain"] - 1,
        "overhead_cold_cache_vs_plain": median["embedlab_cold_cache"] / median["plain"] - 1,
        "cache_speedup_vs_encoding": median["embedlab"] / median["embedlab_warm_cache"],
        "cache_speedup_vs_plain": median["plain"] / median["embedlab_warm_cache"],
        "chunks": len(chunk_texts),
        "documents_overhead_vs_plain_chunks": median["embedlab_documents"] / median["plain_chunks"] - 1,
    }
    print(f"\n{len(texts)} texts, median of {args.rounds} rounds, batch size {args.batch_size}")
    for name, rate in figures["texts_per_s"].items():
        print(f"  {name:22s} {rate:10.1f} texts/s   ({median[name]:.3f} s)")
    print(
        f"embedlab overhead vs plain sentence-transformers (baseline): {figures['overhead_vs_plain']:+.1%} (goal < 5%)"
    )
    print(
        f"  with a cold cache (writes included):                        {figures['overhead_cold_cache_vs_plain']:+.1%}"
    )
    print(f"cache speed-up, warm re-encode vs encoding: {figures['cache_speedup_vs_encoding']:.0f}x (goal >= 50x)")
    print(
        f"document path ({len(texts)} documents with titles -> {len(chunk_texts)} chunks) vs plain "
        f"sentence-transformers on the same chunks (baseline): {figures['documents_overhead_vs_plain_chunks']:+.1%}"
    )
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "encode.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
