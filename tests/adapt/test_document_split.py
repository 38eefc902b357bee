"""A document split keeps every relevant document of a test query out of training: pairs, corpus and negatives."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.adapt.data import load_training
from embedlab.adapt.negatives import mine_negatives
from embedlab.evaluate.build import assign_splits, build_benchmark
from embedlab.evaluate.data import read_qrels

# Each query judges one to three of twelve documents relevant: shared documents link queries into groups; eight
# more documents are never relevant.
LOGS = st.lists(st.lists(st.integers(0, 11), min_size=1, max_size=3), min_size=8, max_size=30)


def _build(root: Path, log: list[list[int]], seed: int) -> Path:
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": f"document {i} about topic {i % 4}"}) + "\n"
                              for i in range(20)))  # fmt: skip
    rows = [
        {"query": f"question {n} on topic {docs[0] % 4}", "doc_id": [f"d{d}" for d in docs]}
        for n, docs in enumerate(log)
    ]
    (root / "log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    build_benchmark(corpus, root / "log.jsonl", root / "bench", split_by="document", dev=0.1, test=0.3, seed=seed)
    return root / "bench"


def _relevant(path: Path) -> set[str]:
    return {doc for judged in read_qrels(path).values() for doc, grade in judged.items() if grade > 0}


@settings(max_examples=20, deadline=None)
@given(log=LOGS, seed=st.integers(0, 1000))
def test_no_test_document_reaches_training_pairs_corpus_or_negatives(log: list[list[int]], seed: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        try:
            bench = _build(Path(folder), log, seed)
        except Exception as error:  # one group holding every query cannot be split by document: said so
            assert "split by query instead" in str(error)
            return
        test_docs = _relevant(bench / "qrels" / "test.tsv")
        assert test_docs and not test_docs & _relevant(bench / "qrels" / "train.tsv")
        train, _ = load_training(bench, dev_fraction=0)
        assert not test_docs & train.seen_documents and not test_docs & set(train.corpus)
        for strategy in ("random", "bm25"):
            mined = mine_negatives(train, strategy, n=1, seed=seed)  # type: ignore[arg-type]
            assert not test_docs & {doc for docs in mined.negatives.values() for doc in docs}

        # a search function over the whole corpus (an index, say) ranks the test documents first
        def everything(queries: list[str], k: int) -> list[list[tuple[str, float]]]:
            ranked = sorted(test_docs) + [f"d{i}" for i in range(20) if f"d{i}" not in test_docs]
            return [[(doc, 1.0 - rank / 100) for rank, doc in enumerate(ranked[:k])] for _ in queries]

        mined = mine_negatives(train, everything, n=1, margin=None)  # type: ignore[arg-type]
        assert not test_docs & {doc for docs in mined.negatives.values() for doc in docs}


def test_queries_sharing_a_document_stay_in_one_split_and_a_query_split_is_unchanged() -> None:
    qrels = {"a": {"d1": 1}, "b": {"d1": 1, "d2": 1}, "c": {"d2": 1}, "d": {"d3": 1}, "e": {"d4": 1, "d9": 0}}
    for seed in range(20):
        split = assign_splits(qrels, dev=0.0, test=0.4, seed=seed, by="document")
        assert split["a"] == split["b"] == split["c"]  # linked through d1 and d2
        assert set(split.values()) == {"train", "test"}
    # split by query, each query on its own: the same cut as before document splits existed (the old code's answer)
    assert assign_splits(qrels, dev=0.2, test=0.2, seed=13) == {"a": "dev", "b": "test", "c": "train", "d": "train",
                                                                "e": "train"}  # fmt: skip
