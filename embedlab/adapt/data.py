"""Training data for adaptation: queries, the documents relevant to each, and the corpus negatives come from.

A :class:`TrainingSet` is what every supervised strategy trains on. It comes from a BEIR benchmark's
train split (:meth:`TrainingSet.from_benchmark`) or from a pairs file with ``anchor`` and ``positive``
columns and, optionally, ``negative`` (:func:`read_training_pairs`). Documents are keyed by id, so mined
negatives, false-negative guards and dev evaluation all speak about the same documents.

Example:
    >>> train = TrainingSet.from_benchmark(load_beir("scifact_beir", split="train"))  # doctest: +SKIP
    >>> train.n_pairs  # needs the SciFact data  # doctest: +SKIP
    919
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from embedlab.errors import InputError
from embedlab.evaluate.data import BenchmarkWarning, RetrievalBenchmark, has_split, load_beir, read_qrels
from embedlab.io import read_records


@dataclass
class TrainingSet:
    """``positives[query_id]`` lists the ids of ``corpus`` documents relevant to ``queries[query_id]``.

    ``negatives`` holds explicit negatives given with the data (mined ones are kept apart); ``scored``
    holds graded ``(query_id, doc_id, score in [0, 1])`` pairs, such as Augmented SBERT's silver labels.
    """

    queries: dict[str, str]
    corpus: dict[str, str]
    positives: dict[str, list[str]]
    negatives: dict[str, list[str]] = field(default_factory=dict)
    scored: list[tuple[str, str, float]] = field(default_factory=list)
    name: str = "training data"

    def __post_init__(self) -> None:
        missing = sorted({doc for docs in self.positives.values() for doc in docs} - set(self.corpus))
        if missing:
            raise InputError(f"{self.name}: positives name {len(missing)} documents not in the corpus: {missing[:5]}")
        unknown = sorted(set(self.positives) - set(self.queries))
        if unknown:
            raise InputError(f"{self.name}: positives for {len(unknown)} unknown queries: {unknown[:5]}")

    @property
    def n_pairs(self) -> int:
        """Number of (query, relevant document) pairs."""
        return sum(len(docs) for docs in self.positives.values())

    @property
    def seen_documents(self) -> set[str]:
        """The documents training pairs with a query (every positive)."""
        return {doc for docs in self.positives.values() for doc in docs}

    def without_documents(self, documents: set[str]) -> TrainingSet:
        """The same set with ``documents`` taken out of the corpus, so no miner can pick them as negatives.

        Raises:
            InputError: one of ``documents`` is a positive or an explicit negative (it is part of training).
        """
        used = (self.seen_documents | {doc for docs in self.negatives.values() for doc in docs}) & documents
        if used:
            raise InputError(f"{self.name}: cannot hold out {len(used)} documents training uses: {sorted(used)[:5]}")
        corpus = {doc: text for doc, text in self.corpus.items() if doc not in documents}
        return TrainingSet(self.queries, corpus, self.positives, self.negatives, self.scored, self.name)

    def pairs(self) -> Iterator[tuple[str, str]]:
        """``(query_id, doc_id)`` for every relevant pair, in a stable order."""
        for query_id, docs in self.positives.items():
            for doc_id in docs:
                yield query_id, doc_id

    @classmethod
    def from_benchmark(cls, benchmark: RetrievalBenchmark) -> TrainingSet:
        """Every judged-relevant (grade > 0) pair of a benchmark split; its whole corpus supplies negatives."""
        positives = {
            qid: [doc for doc, grade in judged.items() if grade > 0 and doc in benchmark.corpus]
            for qid, judged in benchmark.qrels.items()
            if qid in benchmark.queries
        }
        positives = {qid: docs for qid, docs in positives.items() if docs}
        return cls(
            queries={qid: benchmark.queries[qid] for qid in positives},
            corpus=benchmark.corpus,
            positives=positives,
            name=benchmark.name,
        )

    def to_benchmark(self) -> RetrievalBenchmark:
        """The same pairs as a benchmark (grade 1), for the evaluation suite."""
        return RetrievalBenchmark(
            corpus=self.corpus,
            queries=dict(self.queries),
            qrels={qid: dict.fromkeys(docs, 1) for qid, docs in self.positives.items()},
            name=self.name,
        )

    def split(self, dev_fraction: float = 0.1, *, seed: int = 0, max_dev: int = 500) -> tuple[TrainingSet, TrainingSet]:
        """Hold out a fraction of the queries (at most ``max_dev``) as a dev set; the corpus is shared."""
        query_ids = sorted(self.positives)
        random.Random(seed).shuffle(query_ids)
        n_dev = min(max_dev, max(1, round(len(query_ids) * dev_fraction))) if len(query_ids) > 1 else 0
        dev_ids, train_ids = set(query_ids[:n_dev]), query_ids[n_dev:]
        return self._subset(train_ids, "train"), self._subset(sorted(dev_ids), "dev")

    def _subset(self, query_ids: list[str], part: str) -> TrainingSet:
        return TrainingSet(
            queries={qid: self.queries[qid] for qid in query_ids},
            corpus=self.corpus,
            positives={qid: self.positives[qid] for qid in query_ids},
            negatives={qid: self.negatives[qid] for qid in query_ids if qid in self.negatives},
            scored=[row for row in self.scored if row[0] in self.queries and row[0] in set(query_ids)],
            name=f"{self.name}/{part}",
        )


def read_training_pairs(
    path: str | Path,
    *,
    anchor_field: str = "anchor",
    positive_field: str = "positive",
    negative_field: str = "negative",
    corpus: dict[str, str] | None = None,
) -> TrainingSet:
    """Read (anchor, positive[, negative]) rows from .jsonl/.csv/.tsv/.parquet into a :class:`TrainingSet`.

    ``query``/``document`` and ``text1``/``text2`` are accepted as column names too. Repeated anchors
    become one query with several positives; identical texts become one document. ``corpus`` adds more
    documents to draw negatives from.

    Raises:
        InputError: no rows, a missing column, or an empty anchor or positive (the row number is named).
    """
    rows = read_records(path)
    if not rows:
        raise InputError(f"{path}: no training pairs.")
    columns = set(rows[0])
    anchor_field = _column(columns, anchor_field, ("query", "text1", "sentence1"), path)
    positive_field = _column(columns, positive_field, ("document", "text2", "sentence2"), path)
    queries: dict[str, str] = {}
    documents: dict[str, str] = {}
    by_text: dict[str, str] = {}
    positives: dict[str, list[str]] = {}
    negatives: dict[str, list[str]] = {}

    def doc_id(text: str) -> str:
        if text not in by_text:
            by_text[text] = f"d{len(by_text)}"
            documents[by_text[text]] = text
        return by_text[text]

    query_ids: dict[str, str] = {}
    for number, row in enumerate(rows):
        anchor, positive = str(row.get(anchor_field) or "").strip(), str(row.get(positive_field) or "").strip()
        if not anchor or not positive:
            raise InputError(f"{rows.where(number)}: an empty {anchor_field!r} or {positive_field!r}.")
        qid = query_ids.setdefault(anchor, f"q{len(query_ids)}")
        queries[qid] = anchor
        doc = doc_id(positive)
        if doc not in positives.setdefault(qid, []):
            positives[qid].append(doc)
        negative = str(row.get(negative_field) or "").strip()
        if negative:
            negatives.setdefault(qid, []).append(doc_id(negative))
    for text in (corpus or {}).values():
        doc_id(text.strip())
    return TrainingSet(queries, documents, positives, negatives, name=Path(path).name)


def load_training(
    benchmark: str | Path | None = None,
    *,
    pairs: str | Path | None = None,
    dev_fraction: float = 0.1,
    min_pairs: int = 10,
    seed: int = 0,
    test: RetrievalBenchmark | None = None,
) -> tuple[TrainingSet, RetrievalBenchmark | TrainingSet | None]:
    """The training set, from a pairs file or a BEIR folder's train split, and the dev split to evaluate on.

    The dev split is the folder's own (graded, as on disk) when it has ``qrels/dev.tsv``; else
    ``dev_fraction`` of the train queries are held out, none when the fraction is 0 or there are fewer than
    ``min_pairs`` pairs to spare. A folder's splits share no query, nor with ``test``, the split a caller
    reports on. The documents relevant to the folder's dev and test queries (and ``test``'s) that no train
    query is paired with are taken out of the training corpus (:func:`held_out_documents`): no miner picks
    them as negatives, so a document split's test documents stay unseen.

    Raises:
        InputError: both or neither of ``benchmark`` and ``pairs``, a folder without a train split, a
            query in two splits.
    """
    dev: RetrievalBenchmark | TrainingSet | None = None
    if pairs is not None and benchmark is None:
        train = read_training_pairs(pairs)
    elif benchmark is not None and pairs is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BenchmarkWarning)
            train = TrainingSet.from_benchmark(load_beir(benchmark, split="train"))
            dev = load_beir(benchmark, split="dev") if has_split(benchmark, "dev") else None
        splits = {"train": set(train.queries), "test": set(test.queries) if test else set(),
                  "dev": set(dev.queries) if dev else set()}  # fmt: skip
        for first, second in (("train", "test"), ("dev", "test"), ("train", "dev")):
            leaked = sorted(splits[first] & splits[second])
            if leaked:
                raise InputError(
                    f"{benchmark}: {len(leaked)} queries are in both {first} and {second}, e.g. {leaked[:3]}."
                )
        judged = [
            read_qrels(Path(benchmark) / "qrels" / f"{s}.tsv") for s in ("dev", "test") if has_split(benchmark, s)
        ]
        train = train.without_documents(held_out_documents(train, *judged, *([test.qrels] if test else [])))
    else:
        raise InputError("Give exactly one of --pairs FILE and --benchmark DIR.")
    if dev is not None or dev_fraction <= 0 or train.n_pairs < min_pairs:
        return train, dev
    return train.split(dev_fraction, seed=seed)


def held_out_documents(train: TrainingSet, *qrels: dict[str, dict[str, int]]) -> set[str]:
    """The documents relevant (grade > 0) in any of ``qrels`` that ``train`` pairs with no query.

    Example:
        >>> train = TrainingSet({"q": "x"}, {"a": "A", "b": "B", "c": "C"}, {"q": ["a"]})
        >>> sorted(held_out_documents(train, {"t1": {"a": 1, "b": 1}, "t2": {"c": 0}}))
        ['b']
    """
    judged = {doc for split in qrels for docs in split.values() for doc, grade in docs.items() if grade > 0}
    return judged - train.seen_documents


def _column(columns: set[str], wanted: str, aliases: tuple[str, ...], path: str | Path) -> str:
    for name in (wanted, *aliases):
        if name in columns:
            return name
    raise InputError(f"{path}: no {wanted!r} column (nor {', '.join(aliases)}); columns are {sorted(columns)}.")
