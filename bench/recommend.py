"""``models recommend`` on SciFact and ESCO job titles: the measured table and the choice under two requirement sets.

    flock /tmp/embedlab-cpu.lock python bench/recommend.py                      # both sets, MiniLM and mpnet
    python bench/recommend.py --datasets esco --queries 300 --corpus-size 1000  # a smaller sample

Each candidate (default: the bundled MiniLM and the all-mpnet-base-v2 pack; ``--model`` adds registered models,
optimized variants or remote specs) is scored on the test split (NDCG@10 with its 95% interval) and timed on
this machine in the same run (documents/s at batch 32, query p50 at batch 1), then
:func:`embedlab.optimize.recommend.recommend` picks under (a) no requirement and (b) a query latency budget
with at most 384 dimensions, local only. ``--queries`` keeps a seeded sample of the test queries and
``--corpus-size`` a sample of the corpus with every judged document, so that mpnet fits a CPU budget.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from embedlab.evaluate import load_beir
from embedlab.evaluate.data import RetrievalBenchmark
from embedlab.optimize.recommend import Requirements, measure_candidates, recommend

DATASETS = {"esco": "esco_jobtitles", "scifact": "scifact_beir"}


def subsample(bench: RetrievalBenchmark, queries: int | None, corpus_size: int | None, seed: int) -> RetrievalBenchmark:
    """``queries`` seeded test queries (all when None), against ``corpus_size`` documents (all when None)."""
    if queries is not None and queries < len(bench.queries):
        kept = sorted(random.Random(seed).sample(sorted(bench.queries), queries))
        bench = RetrievalBenchmark(bench.corpus, {q: bench.queries[q] for q in kept},
                                   {q: bench.qrels[q] for q in kept}, bench.name)  # fmt: skip
    return bench.sample(corpus_size, seed=seed) if corpus_size else bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--model", action="append", help="More candidates (registered names, variants, remote specs).")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--corpus-size", type=int, default=None)
    parser.add_argument("--latency-ms", type=float, default=None, help="(b)'s budget; default: 1.5x MiniLM's p50.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    specs = [None, "all-mpnet-base-v2", *(args.model or [])]
    for name in args.datasets:
        bench = subsample(load_beir(args.shared / DATASETS[name], split="test"), args.queries, args.corpus_size,
                          args.seed)  # fmt: skip
        started = time.perf_counter()
        candidates = measure_candidates(specs, bench)
        print(f"\n## {DATASETS[name]} test: {len(bench.queries)} queries, {len(bench.corpus)} documents "
              f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
        print("| model | NDCG@10 [95% CI] | docs/s | query p50 ms | GB / 1M vectors | $ / 1M tokens | Pareto |")
        print("|---|---|---|---|---|---|---|")
        for one in candidates:
            price = "?" if one.usd_per_million_tokens is None else f"{one.usd_per_million_tokens:g}"
            print(f"| {one.name} | {one.ndcg} | {one.docs_per_s:.1f} | {one.query_p50_ms:.1f} | "
                  f"{one.gb_per_million:.2f} | {price} | {'yes' if one.pareto else ''} |")  # fmt: skip
        budget = args.latency_ms or 1.5 * candidates[0].query_p50_ms
        settings = {"(a) no requirement": Requirements(),
                    f"(b) p50 <= {budget:.1f} ms, <= 384 dims, local": Requirements(budget, 384, True)}  # fmt: skip
        for label, needs in settings.items():
            chosen = recommend(candidates, needs)
            print(f"- {label}: **{chosen.chosen}**: {chosen.reason}")


if __name__ == "__main__":
    main()
