"""No labels at all: `adapt auto` on SciFact's corpus, base vs BM25 vs adapted on its test split, and the decision.

    python bench/unlabelled.py [--strategy doc2query|synthetic|tsdae] [--max-docs 100] [--llm-model PACK|GGUF]
        [--llm-base-url URL] [--epochs N] [--shared ../shared/data]

Shows SciFact to embedlab without its train queries (a temporary BEIR folder that links the corpus, the
queries and ``qrels/test.tsv`` only), so ``adapt_auto`` sees unlabelled text and nothing else.
``--strategy doc2query`` (the default, the table's choice without labels) asks the local LLM (the
``qwen2.5-coder-0.5b-gguf`` pack through llama.cpp, ~0.36 queries/s on 2 cores, so ``--max-docs`` abstracts
only) or an endpoint for three queries per abstract, keeps those that find their abstract in the top 10 of
the base model or BM25, and fine-tunes with embedding hard negatives behind the false-negative guard.
``--strategy synthetic``: one inverse-cloze pair per document, in-batch MNRL (contrastive continued
pre-training). ``--strategy tsdae``: ``bench/tsdae.py`` measures it with more detail. Prints NDCG@10 of
base, BM25 and adapted with 95% intervals, the paired difference, its p-value, the do-no-harm decision,
the queries generated and kept, and the time; writes the model (or, when the base is kept, the report
folder's ``adapted-model``) and the report to bench/out/unlabelled/<strategy>/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from embedlab.adapt.auto import adapt_auto


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--strategy", choices=["doc2query", "synthetic", "tsdae"], default="doc2query")
    parser.add_argument("--max-docs", type=int, default=100, help="doc2query: abstracts asked about")
    parser.add_argument("--llm-model", help="a GGUF pack or file, or the model at --llm-base-url")
    parser.add_argument("--llm-base-url")
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    source = (args.shared / "scifact_beir").resolve()
    out = Path(__file__).parent / "out" / "unlabelled" / args.strategy
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        view = Path(folder) / "scifact_unlabelled"
        (view / "qrels").mkdir(parents=True)
        for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
            (view / name).symlink_to(source / name)
        model = out / f"scifact-{args.strategy}"
        llm = {"llm_model": args.llm_model, "llm_base_url": args.llm_base_url, "max_docs": args.max_docs}
        result = adapt_auto(view, out=model, report=out / "report", strategy=args.strategy, epochs=args.epochs, **llm)
    minutes = (time.perf_counter() - started) / 60
    print(f"strategy {result.strategy}: {result.reason}; training data {result.adapted.lineage.data}")
    for system in result.report.systems:
        if system.retrieval is not None:
            print(f"{system.name:40s} NDCG@10 {system.retrieval.ci['ndcg@10']}")
    comparison = result.comparison
    difference = comparison["difference"]
    print(
        f"adapted - base: {difference['value']:+.4f} [{difference['low']:+.4f}, {difference['high']:+.4f}] "
        f"p = {comparison['p_value']:.2g} ({comparison['verdict']})"
    )
    if result.synthetic is not None:
        made = result.synthetic
        print(f"doc2query: {made.documents} abstracts, {made.generated} queries generated, {made.kept} kept "
              f"({made.failed_round_trip} failed the round trip, {made.duplicates} duplicates, "
              f"{made.llm_errors} LLM errors)")  # fmt: skip
    print(f"decision: {result.decision.reason}; model at {result.adapted.path}")
    generation = result.adapted.lineage.data.get("doc2query", {}).get("seconds", 0.0)
    print(
        f"generation and round trip {generation / 60:.1f} min, training {result.adapted.lineage.seconds / 60:.1f} min"
    )
    if result.coverage is not None:
        print(result.coverage.sentence())
    print(f"whole run (pairs, training, test evaluation) {minutes:.1f} min; wrote {result.files['report']}")


if __name__ == "__main__":
    main()
