"""SciFact through the index: vector, BM25, hybrid (RRF) and hybrid + cross-encoder rerank, NDCG@10.

The reranker re-scores hybrid's top ``--rerank-top`` documents; its ranking either replaces hybrid's
(``replace``) or is fused with it by reciprocal rank fusion (``rrf``, the default).

    python bench/rerank.py [--rerank-top 20] [--shared ../shared/data]

No pretrained cross-encoder can be downloaded here, so the reranker is the one Augmented SBERT's first
step trains (``train_cross_encoder``: the bundled MiniLM's transformer with a one-logit head, trained on
SciFact's train queries with BM25 and embedding negatives); it is kept in bench/out/rerank/ and reused.
Every mode runs through ``Index.search_fn`` and the evaluation suite (bootstrap intervals, paired test of
each mode against vector and against hybrid search).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from embedlab import Encoder, load_model
from embedlab.adapt import TrainingSet, train_cross_encoder
from embedlab.evaluate import evaluate, load_beir
from embedlab.evaluate.data import BenchmarkWarning
from embedlab.evaluate.stats import paired_test
from embedlab.index import Index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--rerank-top", type=int, default=20, help="Documents the cross-encoder re-scores.")
    args = parser.parse_args()
    root = args.shared / "scifact_beir"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BenchmarkWarning)
        train = TrainingSet.from_benchmark(load_beir(root, split="train"))
        test = load_beir(root, split="test")
    encoder = Encoder(load_model(device="cpu"), cache=True)
    reranker = Path(__file__).parent / "out" / "rerank" / "cross-encoder"
    if not (reranker / "config.json").is_file():
        shutil.rmtree(reranker, ignore_errors=True)
        started = time.perf_counter()
        train_cross_encoder(train, out=reranker, encoder=encoder)
        print(f"cross-encoder trained on {train.n_pairs} SciFact train pairs in {time.perf_counter() - started:.0f} s")
    with tempfile.TemporaryDirectory() as folder:
        index = Index.create(Path(folder) / "scifact", encoder, chunk=False)
        index.add({"id": doc_id, "text": text} for doc_id, text in test.corpus.items())
        modes = {
            "vector": index.search_fn("vector"),
            "bm25": index.search_fn("bm25"),
            "hybrid (rrf)": index.search_fn("hybrid"),
            **{
                f"hybrid + rerank {fusion}": index.search_fn(
                    "hybrid", rerank=str(reranker), rerank_top=args.rerank_top, rerank_fusion=fusion
                )
                for fusion in ("replace", "rrf")
            },
        }
        results = {name: evaluate(search, test) for name, search in modes.items()}
    vector, hybrid = results["vector"].values("ndcg@10"), results["hybrid (rrf)"].values("ndcg@10")
    print(f"SciFact test, {len(test.queries)} queries, {len(test.corpus)} documents, one vector per abstract")
    print(f"rerank: the cross-encoder re-scores hybrid's top {args.rerank_top}; paired tests against vector and hybrid")
    header = f"{'vs vector':>10s} {'p':>7s} {'vs hybrid':>10s} {'p':>7s}"
    print(f"{'mode':24s} {'NDCG@10 (95% CI)':>24s} {header} {'ms/query':>9s}")
    for name, result in results.items():
        against = [paired_test(baseline, result.values("ndcg@10")) for baseline in (vector, hybrid)]
        columns = " ".join(f"{test_.difference.value:+10.4f} {test_.p_value:7.4f}" for test_ in against)
        print(f"{name:24s} {result.ci['ndcg@10']!s:>24s} {columns} {result.speed['ms_per_query']:9.1f}")


if __name__ == "__main__":
    main()
