"""doc2query speed of the local LLM (Qwen2.5-Coder-0.5B-Instruct Q4_K_M) on SciFact: llama.cpp vs transformers.

Both runtimes answer the same doc2query prompts (embedlab's default prompt, 3 queries per abstract, the
abstract cut to 2,000 characters, at most 128 new tokens, temperature 0.7, seed 0) on a seeded sample of
SciFact abstracts, with the same number of threads. It prints load time, seconds per document, documents
and queries per second, and what 3,000 queries would take; transformers (float32, dequantised from the
GGUF) is the baseline. Needs the installed pack (`embedlab models install qwen2.5-coder-0.5b-gguf`), the
`llm` extra and ../shared/data.

    python bench/llm.py [--docs 12] [--baseline-docs 4] [--threads 2] [--runtime both|llama.cpp|transformers]
        [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

from embedlab.adapt.doc2query import DEFAULT_PROMPT, parse_queries
from embedlab.adapt.llm import LocalLLM, Runtime

PER_DOC, MAX_CHARS, MAX_TOKENS = 3, 2000, 128


def abstracts(shared: Path, count: int, seed: int = 0) -> list[str]:
    rows = [json.loads(line) for line in (shared / "scifact_beir" / "corpus.jsonl").open(encoding="utf-8")]
    return [row["text"] for row in random.Random(seed).sample(rows, count)]


def measure(runtime: Runtime, docs: list[str], threads: int) -> dict[str, float]:
    start = time.perf_counter()
    llm = LocalLLM(runtime=runtime, threads=threads)
    load = time.perf_counter() - start
    llm.chat("Say OK.", max_tokens=4)  # warm-up: first-call allocations are not part of the rate
    queries = 0
    start = time.perf_counter()
    for doc in docs:
        answer = llm.chat(DEFAULT_PROMPT.format(n=PER_DOC, document=doc[:MAX_CHARS]), max_tokens=MAX_TOKENS)
        queries += len(parse_queries(answer)[:PER_DOC])
    seconds = time.perf_counter() - start
    print(f"  {runtime}: last answer: {answer!r}")
    return {"load_s": load, "s_per_doc": seconds / len(docs), "docs_per_s": len(docs) / seconds,
            "queries_per_s": queries / seconds, "queries_per_doc": queries / len(docs)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=12, help="abstracts for llama.cpp")
    parser.add_argument("--baseline-docs", type=int, default=4, help="abstracts for transformers (slower)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runtime", choices=["both", "llama.cpp", "transformers"], default="both")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    sample = abstracts(args.shared, max(args.docs, args.baseline_docs))
    runtimes: list[tuple[Runtime, int]] = [("llama.cpp", args.docs), ("transformers", args.baseline_docs)]
    results = {}
    for runtime, count in runtimes:
        if args.runtime in ("both", runtime):
            results[runtime] = measure(runtime, sample[:count], args.threads)
    print(f"\ndoc2query on SciFact abstracts, {args.threads} threads, {PER_DOC} queries asked per abstract "
          f"(load average {os.getloadavg()[0]:.1f} at the end)")  # fmt: skip
    print(f"{'runtime':<14}{'docs':>6}{'load s':>9}{'s/doc':>8}{'docs/s':>8}{'queries/s':>11}{'3,000 queries':>15}")
    for runtime, row in results.items():
        count = dict(runtimes)[runtime]
        hours = 3000 / row["queries_per_s"] / 3600
        print(f"{runtime:<14}{count:>6}{row['load_s']:>9.1f}{row['s_per_doc']:>8.2f}{row['docs_per_s']:>8.3f}"
              f"{row['queries_per_s']:>11.3f}{hours:>13.1f} h")  # fmt: skip
    if len(results) == 2:
        ratio = results["llama.cpp"]["queries_per_s"] / results["transformers"]["queries_per_s"]
        print(f"llama.cpp / transformers: {ratio:.1f}x the queries per second")


if __name__ == "__main__":
    main()
