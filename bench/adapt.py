"""Fine-tune the bundled model on a shared benchmark's train split; base vs BM25 vs adapted on its test split.

    python bench/adapt.py scifact            # 809 train queries, embedding hard negatives (~16 min here)
    python bench/adapt.py esco               # 21,041 train pairs, 6 epochs of in-batch MNRL (~24 min here)
    python bench/adapt.py scifact --epochs 2 --lr 5e-5 --negatives curriculum
    python bench/adapt.py esco --split-by document   # seen and unseen occupations side by side, one model
    python bench/adapt.py esco --split-by document --epochs 1 --dev-queries 500 --test-queries 3000  # reduced

Uses embedlab's own path end to end: ``TrainingSet.from_benchmark`` -> ``finetune`` (dev split scored
during training, best checkpoint kept) -> ``run_evaluation`` (bootstrap intervals, paired test against
the base). Prints NDCG@10 of base, BM25 and adapted, the difference, the p-value and the times; writes
the model and report to bench/out/adapt/<dataset>/. A model trained on shorter texts than the base reads
is evaluated at the length (trained or base) that scores better on the dev split, chosen before the test.

Every run splits the verdict (``embedlab.evaluate.coverage``): test queries whose relevant documents training
paired with a query (seen) vs the others (unseen). ``--split-by query`` keeps the shared splits (ESCO's test
queries all point at occupations seen in training). ``--split-by document`` derives, in memory from the
shared files, a split that also holds documents out: 20% of the documents (groups of queries sharing a
relevant document, ``assign_splits(by="document")``, seed 13) go with all their queries to test, 10% to dev;
the other documents keep the shared query split. One model, one test split, both figures. Documents
relevant to dev or test queries that no train query is paired with never enter training, not even as
mined negatives (``held_out_documents``).
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
import warnings
from dataclasses import replace
from pathlib import Path

from embedlab import EmbeddingModel, Encoder, load_model
from embedlab.adapt import FinetuneConfig, TrainingSet, finetune
from embedlab.adapt.data import held_out_documents
from embedlab.evaluate import RetrievalBenchmark, evaluate, load_beir
from embedlab.evaluate.build import assign_splits
from embedlab.evaluate.coverage import GROUPS, coverage, coverage_evaluators
from embedlab.evaluate.data import BenchmarkWarning, has_split
from embedlab.evaluate.retrieval import ExactSearch
from embedlab.evaluate.suite import EvaluationReport, run_evaluation

# dataset: (folder, training config, max tokens while training: job titles and the start of each occupation
# description fit in 16 tokens, which makes an ESCO epoch ~3.5 min on 2 cores). The adapted model is read at
# the training length or the base's 256 tokens, whichever scores better on the dev split; the base at 256.
DATASETS = {
    "scifact": ("scifact_beir", FinetuneConfig(negatives="embedding", epochs=1, batch_size=32, lr=5e-5), None),
    "esco": ("esco_jobtitles", FinetuneConfig(negatives=None, epochs=6, batch_size=128, lr=2e-4), 16),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--negatives", choices=["none", "random", "bm25", "embedding", "curriculum"])
    parser.add_argument("--max-seq-length", type=int, help="Truncate texts to this many tokens while training.")
    parser.add_argument("--max-steps", type=int, help="Stop training after this many steps (a reduced run).")
    parser.add_argument("--split-by", choices=["query", "document"], default="query")
    parser.add_argument("--train-queries", type=int, help="Train on a seeded sample of this many queries.")
    parser.add_argument("--dev-queries", type=int, help="Score checkpoints on a seeded sample of this many queries.")
    parser.add_argument("--test-queries", type=int, help="Report on a seeded sample of this many test queries.")
    args = parser.parse_args()
    folder, config, max_seq_length = DATASETS[args.dataset]
    config.epochs = args.epochs or config.epochs
    config.lr = args.lr or config.lr
    config.batch_size = args.batch_size or config.batch_size
    config.max_steps = args.max_steps or config.max_steps
    if args.negatives:
        config.negatives = None if args.negatives == "none" else args.negatives  # type: ignore[assignment]
    train, dev, test = _splits(args.shared / folder, args.split_by, config.seed)
    if args.train_queries:
        train = train.split(1 - args.train_queries / len(train.queries), seed=config.seed, max_dev=len(train.queries))[
            0
        ]
    if args.dev_queries:
        dev = dev.split(args.dev_queries / len(dev.queries), seed=config.seed, max_dev=args.dev_queries)[1]
    if args.test_queries:
        kept = set(random.Random(config.seed).sample(sorted(test.queries), min(args.test_queries, len(test.queries))))
        test = replace(test, queries={q: t for q, t in test.queries.items() if q in kept},
                       qrels={q: judged for q, judged in test.qrels.items() if q in kept})  # fmt: skip
    print(f"{args.dataset} (split by {args.split_by}): train {len(train.queries)} queries / {train.n_pairs} pairs, "
          f"dev {len(dev.queries)}, test {len(test.queries)}, corpus {len(test.corpus)} ({len(train.corpus)} in "
          f"training); config {config}")  # fmt: skip
    out = Path(__file__).parent / "out" / "adapt" / f"{args.dataset}-{args.split_by}"
    shutil.rmtree(out, ignore_errors=True)
    base = load_model(device="cpu")
    base_length = base.st.max_seq_length
    if args.max_seq_length or max_seq_length:
        base.st.max_seq_length = args.max_seq_length or max_seq_length
    started = time.perf_counter()
    result = finetune(base, train, out=out / "model", config=config, dev=dev)
    trained = time.perf_counter() - started
    train_length = base.st.max_seq_length
    base = load_model(device="cpu")  # the base is evaluated at its own max_seq_length
    adapted = load_model(result.path, device="cpu")
    length = _length_on_dev(adapted, dev, {train_length, base_length})
    evaluators = coverage_evaluators(test, train.seen_documents)
    report = run_evaluation([base, adapted], benchmark=test, bm25=True, cache=True, evaluators=evaluators)
    report.save(out / "report")
    total = time.perf_counter() - started
    means = {system.name: system.retrieval.ci["ndcg@10"] for system in report.systems if system.retrieval}
    for name, estimate in means.items():
        print(f"{name:40s} NDCG@10 {estimate}")
    comparison = next(c for c in report.comparisons if c.metric == "ndcg@10" and c.system == report.systems[1].name)
    print(f"adapted - base: {comparison.test.difference} p = {comparison.test.p_value:.2g} ({comparison.test.verdict})")
    print(f"dev NDCG@10 by stage: {[(d.get('stage'), d.get('ndcg@10')) for d in result.dev]}")
    if length != base_length:
        other = _ndcg(adapted, test, base_length)
        print(f"(adapted, read at the base's {base_length} tokens, not chosen on dev: test NDCG@10 {other:.4f})")
    _print_groups(report)
    print(coverage(report, report.systems[1].name).sentence())
    print(f"training {trained / 60:.1f} min, whole run (training + test evaluation) {total / 60:.1f} min")
    print(f"wrote {out / 'report' / 'report.html'}")


def _splits(root: Path, split_by: str, seed: int) -> tuple[TrainingSet, TrainingSet, RetrievalBenchmark]:
    """Train, dev and test from a shared BEIR folder: its own splits, or with documents held out (module doc)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BenchmarkWarning)
        shared = {split: load_beir(root, split=split) for split in ("train", "dev", "test") if has_split(root, split)}
    split_of = {qid: split for split, bench in shared.items() for qid in bench.qrels}
    if split_by == "document":
        qrels = {qid: judged for bench in shared.values() for qid, judged in bench.qrels.items()}
        held = assign_splits(qrels, dev=0.1 if "dev" in shared else 0.0, test=0.2, seed=13, by="document")
        split_of = {qid: split_of[qid] if held[qid] == "train" else held[qid] for qid in qrels}
    test_bench = shared["test"]
    parts = {
        split: RetrievalBenchmark(
            test_bench.corpus,
            {q: text for b in shared.values() for q, text in b.queries.items() if split_of[q] == split},
            {q: judged for b in shared.values() for q, judged in b.qrels.items() if split_of[q] == split},
            name=f"{root.name}/{split}" + (" (documents held out)" if split_by == "document" else ""),
        )
        for split in ("train", "dev", "test")
    }
    train = TrainingSet.from_benchmark(parts["train"])
    if parts["dev"].queries:
        dev = TrainingSet.from_benchmark(parts["dev"])
    else:
        train, dev = train.split(0.1, seed=seed)
    held_out = held_out_documents(train, dev.to_benchmark().qrels, parts["test"].qrels)
    return train.without_documents(held_out), dev, parts["test"]


def _print_groups(report: EvaluationReport) -> None:
    """NDCG@10 of every system on seen and unseen documents side by side, and adapted - base in each."""
    groups = [group for group in GROUPS if group in report.tasks]
    print(f"{'NDCG@10':40s}" + "".join(f"{group + ' (' + str(report.tasks[group]['data']['queries']) + ' q)':34s}"
                                       for group in groups))  # fmt: skip
    for system in report.systems:
        print(f"{system.name:40s}" + "".join(f"{system.results[group].ci['ndcg@10']!s:34s}" for group in groups))
    for group in groups:
        test = coverage(report, report.systems[1].name).groups[group].test
        print(f"adapted - base on {group}: {test.difference} p = {test.p_value:.2g} ({test.verdict})")


def _length_on_dev(model: EmbeddingModel, dev: TrainingSet, lengths: set[int]) -> int:
    """The max_seq_length, among ``lengths``, that scores best on the dev split (ties: the longest)."""
    if len(lengths) == 1:
        model.st.max_seq_length = length = lengths.pop()
        return length
    scores = {length: _ndcg(model, dev.to_benchmark(), length) for length in sorted(lengths)}
    best = max(sorted(lengths, reverse=True), key=scores.__getitem__)
    model.st.max_seq_length = best
    print("dev NDCG@10 by evaluation max_seq_length:", {k: round(v, 4) for k, v in scores.items()}, "-> chosen", best)
    return best


def _ndcg(model: EmbeddingModel, benchmark: RetrievalBenchmark, length: int) -> float:
    """Mean NDCG@10 of ``model`` reading ``length`` tokens per text (left set on the model)."""
    model.st.max_seq_length = length
    search = ExactSearch(Encoder(model, show_progress=False, cache=True), benchmark.corpus)
    return evaluate(search, benchmark).mean["ndcg@10"]


if __name__ == "__main__":
    main()
