"""TSDAE on SciFact: the bundled model before and after domain adaptation on the unlabelled corpus.

    python bench/tsdae.py [--max-sentences N] [--epochs E] [--out DIR] [--shared ../shared/data]

Trains all-MiniLM-L6-v2 with TSDAE on sentences of the SciFact corpus (title + text of every document;
no query and no relevance label is used), then scores base and adapted model on the SciFact test split
(300 queries, exact search): NDCG@10 with 95% bootstrap intervals, the paired difference with its
interval and a paired randomisation test over queries. Writes bench/out/tsdae.json; the model goes to
--out (default bench/out/tsdae-model).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from embedlab import EmbeddingModel, Encoder, load_model
from embedlab.adapt.tsdae import DEFAULT_MAX_SENTENCES, tsdae
from embedlab.evaluate import ExactSearch, evaluate, load_beir
from embedlab.evaluate.stats import paired_test
from embedlab.models import describe

OUT = Path(__file__).parent / "out"
METRICS = ("ndcg@10", "mrr@10", "recall@100")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--max-sentences", type=int, default=DEFAULT_MAX_SENTENCES)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT / "tsdae-model")
    args = parser.parse_args()

    bench = load_beir(args.shared / "scifact_beir", split="test")
    base = load_model()
    started = time.perf_counter()
    base_result = evaluate(ExactSearch(Encoder(base, cache=True, show_progress=False), bench.corpus), bench)
    print(f"base evaluated in {time.perf_counter() - started:.0f} s (cached vectors when warm)", flush=True)

    result = tsdae(
        base, list(bench.corpus.values()), out=args.out, max_sentences=args.max_sentences, epochs=args.epochs,
        show_progress=False, overwrite=True,
    )  # fmt: skip
    print(
        f"TSDAE: {result.sentences} sentences from {len(bench.corpus)} documents, {result.steps} steps "
        f"(batch 8, lr 3e-5, noise 0.6, {args.epochs} epoch(s)), {result.seconds:.0f} s; "
        f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}; "
        f"{result.tied_parameters} encoder tensors tied to the decoder",
        flush=True,
    )
    started = time.perf_counter()
    assert result.model is not None
    adapted = EmbeddingModel(result.model, describe(result.model, name="tsdae", source="local", path=result.path))
    adapted_result = evaluate(ExactSearch(Encoder(adapted, show_progress=False), bench.corpus), bench)
    print(f"adapted evaluated in {time.perf_counter() - started:.0f} s", flush=True)

    print(f"\nSciFact test, {len(bench.queries)} queries, {len(bench.corpus)} documents, exact search")
    print(f"{'metric':12s} {'base':>26s} {'TSDAE':>26s} {'difference':>28s} {'p':>7s}")
    summary = {}
    for metric in METRICS:
        test = paired_test(base_result.values(metric), adapted_result.values(metric))
        print(
            f"{metric:12s} {base_result.ci[metric]!s:>26s} {adapted_result.ci[metric]!s:>26s} "
            f"{test.difference.value:+.4f} [{test.difference.low:+.4f}, {test.difference.high:+.4f}] "
            f"{test.p_value:7.4f}  {test.verdict}"
        )
        summary[metric] = {
            "base": base_result.ci[metric].to_dict(),
            "tsdae": adapted_result.ci[metric].to_dict(),
            "test": test.to_dict(),
        }
    report = {
        "sentences": result.sentences,
        "steps": result.steps,
        "epochs": args.epochs,
        "train_seconds": result.seconds,
        "losses": [[entry["step"], entry["loss"]] for entry in result.history if "loss" in entry],
        "lineage": result.lineage.to_dict(),
        "metrics": summary,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tsdae.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"\nmodel: {result.path}\nwrote {OUT / 'tsdae.json'}")


if __name__ == "__main__":
    main()
