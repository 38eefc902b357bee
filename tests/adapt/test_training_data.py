"""Training data and its dev split, loaded the same way for `adapt finetune`, `negatives mine` and `adapt auto`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedlab import InputError
from embedlab.adapt.data import TrainingSet, load_training
from embedlab.evaluate.data import RetrievalBenchmark, has_split, load_beir


def _benchmark(root: Path, splits: dict[str, dict[str, dict[str, int]]]) -> Path:
    (root / "qrels").mkdir(parents=True)
    docs = sorted({doc for qrels in splits.values() for judged in qrels.values() for doc in judged})
    queries = sorted({query for qrels in splits.values() for query in qrels})
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": "", "text": f"text of {d}"}) + "\n" for d in docs)
    )
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": f"query {q}"}) + "\n" for q in queries))
    for split, qrels in splits.items():
        rows = [f"{q}\t{d}\t{g}" for q, judged in qrels.items() for d, g in judged.items()]
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(["query-id\tcorpus-id\tscore", *rows]) + "\n")
    return root


TRAIN = {f"t{i}": {f"d{i}": 1} for i in range(20)}


def test_the_benchmark_dev_split_is_used_as_graded_on_disk(tmp_path: Path) -> None:
    root = _benchmark(tmp_path / "b", {"train": TRAIN, "dev": {"v1": {"d1": 2, "d2": 1}}})
    train, dev = load_training(root, dev_fraction=0.5)
    assert isinstance(train, TrainingSet) and set(train.queries) == set(TRAIN)  # nothing held out of train
    assert isinstance(dev, RetrievalBenchmark) and dev.qrels == {"v1": {"d1": 2, "d2": 1}}
    assert (has_split(root, "dev"), has_split(root, "test")) == (True, False)


def test_without_a_dev_split_a_fraction_of_train_is_held_out_unless_too_few(tmp_path: Path) -> None:
    root = _benchmark(tmp_path / "b", {"train": TRAIN})
    train, dev = load_training(root, dev_fraction=0.1, seed=3)
    assert isinstance(dev, TrainingSet) and len(dev.queries) == 2 and len(train.queries) == 18
    assert not set(dev.queries) & set(train.queries)
    assert load_training(root, dev_fraction=0.1, min_pairs=21)[1] is None  # 20 pairs: too few to spare any
    assert load_training(root, dev_fraction=0)[1] is None


def test_pairs_files_work_the_same(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"anchor": f"q{i}", "positive": f"doc {i}"}) + "\n" for i in range(10)))
    train, dev = load_training(pairs=pairs, dev_fraction=0.2)
    assert isinstance(dev, TrainingSet) and (len(train.queries), len(dev.queries)) == (8, 2)


def test_a_query_in_two_splits_and_a_wrong_source_are_refused(tmp_path: Path) -> None:
    root = _benchmark(tmp_path / "b", {"train": TRAIN, "dev": {"t3": {"d3": 1}}, "test": {"x": {"d1": 1}}})
    with pytest.raises(InputError, match=r"1 queries are in both train and dev, e\.g\. \['t3'\]"):
        load_training(root)
    clean = _benchmark(tmp_path / "c", {"train": TRAIN, "test": {"t5": {"d5": 1}}})
    with pytest.raises(InputError, match="queries are in both train and test"):
        load_training(clean, test=load_beir(clean, split="test"))
    with pytest.raises(InputError, match="Give exactly one of --pairs FILE and --benchmark DIR"):
        load_training()
    with pytest.raises(InputError, match="is not a BEIR benchmark for split 'train'"):
        load_training(_benchmark(tmp_path / "d", {"test": {"x": {"d1": 1}}}))


def test_documents_only_dev_or_test_queries_are_paired_with_never_enter_training(tmp_path: Path) -> None:
    # d1 is a train positive and a test document (a query split); d30 and d31 only dev and test judge relevant,
    # d32 is judged but not relevant: it stays a possible negative.
    test = {"x1": {"d1": 1}, "x2": {"d31": 2, "d32": 0}}
    root = _benchmark(tmp_path / "b", {"train": TRAIN, "dev": {"v1": {"d30": 1}}, "test": test})
    train, dev = load_training(root)
    assert {"d30", "d31"}.isdisjoint(train.corpus) and {"d1", "d32"} <= set(train.corpus)
    assert isinstance(dev, RetrievalBenchmark) and "d30" in dev.corpus  # dev still ranks the whole corpus
    with pytest.raises(InputError, match="cannot hold out 1 documents training uses"):
        train.without_documents({"d1"})
