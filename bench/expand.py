"""Query expansion (RM3 pseudo-relevance feedback) through the index: BM25 and hybrid NDCG@10 with and without.

    python bench/expand.py [--only scifact|esco] [--esco-queries 1000] [--seed 13] [--shared ../shared/data]

SciFact test (300 queries, 5,183 abstracts, one vector per abstract) and a seeded sample of ESCO job titles'
test queries (``--esco-queries 0``: all 6,037) against the 2,942 occupations. Each benchmark is one index
(the bundled model, vectors from the persistent cache after the first run); each mode is scored by
:func:`embedlab.operate.expansion.measure_expansion`, the measurement ``embedlab index tune-expansion``
decides by: 95% bootstrap intervals, and the paired randomisation test of expanded minus plain.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from embedlab import Encoder, load_model
from embedlab.evaluate import load_beir
from embedlab.evaluate.data import BenchmarkWarning, RetrievalBenchmark
from embedlab.index import Index
from embedlab.operate.expansion import measure_expansion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--esco-queries", type=int, default=1000, help="ESCO test queries sampled (0: all).")
    parser.add_argument("--seed", type=int, default=13, help="Seed of the ESCO query sample.")
    parser.add_argument("--only", choices=["scifact", "esco"], help="Run one benchmark (default: both).")
    args = parser.parse_args()
    encoder = Encoder(load_model(device="cpu"), cache=True)
    benchmarks: dict[str, Callable[[], RetrievalBenchmark]] = {
        "SciFact": lambda: load_beir(args.shared / "scifact_beir", split="test"),
        "ESCO job titles": lambda: sampled(
            load_beir(args.shared / "esco_jobtitles", split="test"), args.esco_queries, args.seed
        ),
    }
    print(f"{'benchmark':16s} {'mode':7s} {'plain NDCG@10 (95% CI)':>26s} {'expanded (95% CI)':>26s} "
          f"{'difference':>10s} {'p':>7s} {'ms/query':>14s}  verdict")  # fmt: skip
    for name, load in benchmarks.items():
        if args.only and not name.lower().startswith(args.only):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BenchmarkWarning)
            bench = load()
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            index = Index.create(Path(folder) / "index", encoder, chunk=False)
            index.add({"id": doc_id, "text": text} for doc_id, text in bench.corpus.items())
            decision = measure_expansion(index, bench)
        for trial in decision.trials:
            print(f"{name:16s} {trial.mode:7s} {trial.without!s:>26s} {trial.expanded!s:>26s} "
                  f"{trial.test.difference.value:+10.4f} {trial.test.p_value:7.4f} "
                  f"{'{:.1f} -> {:.1f}'.format(*trial.ms_per_query):>14s}  {trial.test.verdict}")  # fmt: skip
        print(f"{'':16s} {decision.queries} queries, {len(bench.corpus)} documents, "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip


def sampled(bench: RetrievalBenchmark, size: int, seed: int) -> RetrievalBenchmark:
    """``bench`` with a seeded sample of ``size`` of its judged queries (all of them for 0 or more than there are)."""
    judged = [qid for qid in bench.queries if qid in bench.qrels]
    if 0 < size < len(judged):
        chosen = set(random.Random(seed).sample(judged, size))
        judged = [qid for qid in judged if qid in chosen]
    return RetrievalBenchmark(bench.corpus, {q: bench.queries[q] for q in judged}, {q: bench.qrels[q] for q in judged},
                              name=bench.name)  # fmt: skip


if __name__ == "__main__":
    main()
