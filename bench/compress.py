"""Compressed search vectors: RAM, latency and recall at scale, and NDCG@10 kept on SciFact and ESCO.

Scale part: the vectors of bench/search.py (its generator: real all-MiniLM-L6-v2 vectors of SciFact and
ESCO texts plus covariance-shaped perturbed copies up to --n; held-out SciFact claims and ESCO job titles
as queries). For each precision the in-memory search structure an index would hold
(``embedlab.index.hnsw.AnnIndex``: faiss HNSW, M=32, efConstruction=64, efSearch 128, with the full float32
vectors re-scoring the best k x rescore) is built from the matrix; one query at a time, top 10: its RAM
(codes and graph links), p50/p99 latency, recall@10 against exact float32 inner product.

Quality part: ``embedlab.operate.compress.plan`` (the planner behind ``embedlab compress plan``) on a
float32 index of SciFact (test) and of ESCO job titles (test), one vector per document: NDCG@10 of each
setting and the share of exact float32 search's NDCG@10 it keeps.

    python bench/compress.py [--n 1000000] [--queries 300] [--rescore 0,1,4,10] [--precisions binary,int8]

At 1M with OMP_NUM_THREADS=2 on 2 cores each HNSW build takes 2.5-3 minutes and the whole run 13 minutes
(measured), peak RAM about 6 GB; --precisions splits the run (the goals need binary and int8 only; recall is
against exact search).

Goals of issue 18: binary + rescoring keeps >= 97% of NDCG@10 on both sets with p50 <= 1 ms at 1M,
int8 keeps >= 99.5%. Writes bench/out/compress.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import OUT, SEED, SHARED, exact_top10, load_average, make_vectors, real_texts, recall, timed

from embedlab import Encoder, load_model
from embedlab.evaluate import load_beir
from embedlab.index import Index
from embedlab.index.compact import PRECISIONS
from embedlab.index.hnsw import BATCH, EF_SEARCH, AnnIndex
from embedlab.operate.compress import grid, plan


def scale(encoder: Encoder, n: int, count: int, rescores: list[int], precisions: list[str]) -> list[dict[str, Any]]:
    """RAM, p50/p99 and recall@10 of each precision's structure over ``n`` vectors of bench/search.py."""
    corpus, query_texts = real_texts()
    real = encoder.encode([text for _, text in corpus])
    rng = np.random.default_rng(SEED)
    chosen = [query_texts[i] for i in rng.permutation(len(query_texts))[:count]]
    queries = encoder.encode([text for _, text in chosen])
    path = OUT / f"search-{n}.npy"
    if not path.exists():
        make_vectors(real, n, path)
    matrix = np.load(path, mmap_mode="r")
    started = time.perf_counter()
    truth = exact_top10(np.asarray(matrix), queries)
    print(f"{n} vectors, {len(queries)} held-out queries; exact top 10 in {time.perf_counter() - started:.1f} s")
    rows = []
    for precision in precisions:
        started = time.perf_counter()
        graph = AnnIndex(384, precision=precision)
        for start in range(0, n, BATCH):
            graph.add(np.arange(start, min(start + BATCH, n)), np.asarray(matrix[start : start + BATCH]))
        built = time.perf_counter() - started
        for rescore in [0] if precision == "float32" else rescores:
            seconds, found = timed(lambda q, r=rescore, g=graph: g.search(q, 10, EF_SEARCH, None, r)[1].tolist(),
                                   queries)  # fmt: skip
            row = {"precision": precision, "rescore": rescore, "ram_mib": graph.memory() / 2**20,
                   "vectors_mib": graph.size * 384 * {"float32": 4, "float16": 2, "int8": 1, "binary": 1 / 8}[precision]
                   / 2**20, "p50_ms": 1000 * float(np.median(seconds)),
                   "p99_ms": 1000 * float(np.percentile(seconds, 99)), "recall@10": recall(found, truth),
                   "build_s": built}  # fmt: skip
            rows.append(row)
            print(f"  {precision:8} x{rescore:<3} RAM {row['ram_mib']:8.1f} MiB (vectors {row['vectors_mib']:7.1f}) "
                  f"p50 {row['p50_ms']:.3f} ms p99 {row['p99_ms']:.3f} ms recall@10 {row['recall@10']:.3f} "
                  f"(built in {built:.0f} s)", flush=True)  # fmt: skip
        del graph
    return rows


def quality(encoder: Encoder, name: str, rescores: list[int], precisions: list[str]) -> list[dict[str, Any]]:
    """The planner's measures on a float32 index of ``name``'s test split (one vector per document)."""
    bench = load_beir(SHARED / name, split="test")
    folder = OUT / f"compress-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    documents = [{"id": doc, "text": text} for doc, text in bench.corpus.items()]
    started = time.perf_counter()
    index = Index.build(folder, documents, encoder, chunk=False)
    print(f"{name}: {len(documents)} documents indexed in {time.perf_counter() - started:.0f} s, "
          f"{len(bench.queries)} queries")  # fmt: skip
    started = time.perf_counter()
    report = plan(index, bench, target=0.97, settings=grid(384, precisions, rescores=rescores))
    print(f"  planned in {time.perf_counter() - started:.0f} s")
    print(f"  exact float32 NDCG@10 {report.exact}")
    rows = []
    for m in report.measures:
        rows.append({"precision": m.setting.precision, "rescore": m.setting.rescore, "ndcg@10": m.ndcg.to_dict(),
                     "kept": m.retained, "recall@10": m.recall, "p50_ms": m.p50_ms})  # fmt: skip
        print(f"  {m.setting.label:18} NDCG@10 {m.ndcg} kept {m.retained:7.2%} recall@10 {m.recall:.3f}")
    shutil.rmtree(folder, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rescore", default="0,1,4,10", help="rescore multipliers of the compressed precisions")
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="the precisions measured")
    args = parser.parse_args()
    rescores = [int(r) for r in args.rescore.split(",")]
    precisions = [p for p in PRECISIONS if p in args.precisions.split(",")]
    warnings.simplefilter("ignore")  # truncation warnings of long abstracts
    OUT.mkdir(exist_ok=True)
    print(f"{os.cpu_count()} CPUs, load average at start {load_average()}")
    encoder = Encoder(load_model(device="cpu"), cache=True, show_progress=False)
    figures: dict[str, Any] = {"n": args.n, "scale": scale(encoder, args.n, args.queries, rescores, precisions)}
    for name in ("scifact_beir", "esco_jobtitles"):
        figures[name] = quality(encoder, name, rescores, precisions)
    print(f"load average at end {load_average()}")
    goals(figures)
    (OUT / "compress.json").write_text(json.dumps(figures, indent=1))


def goals(figures: dict[str, Any]) -> None:
    """Print issue 18's goals against the figures: binary + rescoring and int8 (each at its best multiplier)."""
    for precision, keep in (("binary", 0.97), ("int8", 0.995)):
        if not any(row["precision"] == precision for row in figures["scale"]):
            continue
        for rescore in sorted({row["rescore"] for row in figures["scale"] if row["precision"] == precision}):
            kept = [next(r["kept"] for r in figures[name] if (r["precision"], r["rescore"]) == (precision, rescore))
                    for name in ("scifact_beir", "esco_jobtitles")]  # fmt: skip
            p50 = next(r["p50_ms"] for r in figures["scale"] if (r["precision"], r["rescore"]) == (precision, rescore))
            met = min(kept) >= keep and (precision != "binary" or p50 <= 1.0)
            speed = f", p50 {p50:.3f} ms <= 1 ms at n={figures['n']}" if precision == "binary" else ""
            print(f"goal {precision} x{rescore}: keeps {kept[0]:.2%} (SciFact) and {kept[1]:.2%} (ESCO) >= {keep:.1%}"
                  f"{speed}: {'met' if met else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
