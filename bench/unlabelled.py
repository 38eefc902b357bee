"""No labels at all: `adapt auto --strategy synthetic` on SciFact's corpus, base vs BM25 vs adapted on its test split.

    python bench/unlabelled.py [--strategy synthetic|tsdae] [--epochs N] [--shared ../shared/data]

Shows SciFact to embedlab without its train queries (a temporary BEIR folder that links the corpus, the
queries and ``qrels/test.tsv`` only), so ``adapt_auto`` sees unlabelled text and nothing else. With
``--strategy synthetic`` (the default here) one inverse-cloze pair per document (a sentence as the query,
the rest of the abstract as its positive, round-trip filtered by the base model and BM25) trains the
bundled model with in-batch MNRL: contrastive continued pre-training. ``--strategy tsdae`` is the table's
default for unlabelled text (``bench/tsdae.py`` measures it with more detail). Prints NDCG@10 of base,
BM25 and adapted with 95% intervals, the paired difference, its p-value and the time; writes the model
and report to bench/out/unlabelled/<strategy>/ (the model as scifact-<strategy>).
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
    parser.add_argument("--strategy", choices=["synthetic", "tsdae"], default="synthetic")
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
        result = adapt_auto(view, out=model, report=out / "report", strategy=args.strategy, epochs=args.epochs)
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
    if result.coverage is not None:
        print(result.coverage.sentence())
    print(f"whole run (pairs, training, test evaluation) {minutes:.1f} min; wrote {result.files['report']}")


if __name__ == "__main__":
    main()
