"""Benchmark data: BEIR-layout retrieval sets and scored sentence pairs, validated on load.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``)
and ``qrels/{split}.tsv`` (``query-id``, ``corpus-id``, ``score``; graded relevance allowed). Problems
that would make a score silently wrong are errors (duplicate ids, qrels naming unknown queries or
documents); problems that only shrink the set are counted warnings (empty queries and documents are
left out, queries without a relevant document are not scored).

Example:
    >>> bench = load_beir("../shared/data/scifact_beir", split="test")  # doctest: +SKIP
    >>> len(bench.queries), len(bench.corpus)  # needs the shared SciFact data  # doctest: +SKIP
    (300, 5183)
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from embedlab.encode.text import with_title
from embedlab.errors import InputError
from embedlab.io import read_records, read_table, read_text_file, read_texts


class BenchmarkWarning(UserWarning):
    """Something in a benchmark was left out; the message says what and how many."""


@dataclass
class RetrievalBenchmark:
    """Queries, a corpus and graded relevance judgements (``qrels[query_id][doc_id] = grade``)."""

    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    name: str = "benchmark"
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def doc_ids(self) -> list[str]:
        """Corpus ids in file order."""
        return list(self.corpus)

    def sample(self, size: int, *, seed: int = 0) -> RetrievalBenchmark:
        """The same queries against a smaller corpus: every judged document plus a seeded sample of the others.

        ``size`` documents in all (more when more are judged); corpus order is kept. The same ``size`` and
        ``seed`` give the same documents, so a score on a sample can be reproduced
        (``embedlab eval --corpus-size SIZE --seed SEED``).

        Example:
            >>> bench = RetrievalBenchmark({"a": "x", "b": "y", "c": "z"}, {"q": "x?"}, {"q": {"b": 1}})
            >>> list(bench.sample(2, seed=0).corpus)
            ['b', 'c']
        """
        if size < 1:
            raise InputError(f"A corpus sample needs at least one document, got {size}.")
        judged = {doc for docs in self.qrels.values() for doc in docs}
        others = [doc for doc in self.corpus if doc not in judged]
        wanted = min(len(others), max(0, size - len(judged)))
        keep = judged | {others[i] for i in np.random.default_rng(seed).choice(len(others), wanted, replace=False)}
        corpus = {doc: text for doc, text in self.corpus.items() if doc in keep}
        dropped = {**self.dropped, "documents_not_sampled": len(self.corpus) - len(corpus)}
        return replace(self, corpus=corpus, dropped=dropped)


@dataclass
class PairSet:
    """Scored text pairs (STS): ``texts1[i]`` vs ``texts2[i]`` with gold ``scores[i]``."""

    texts1: list[str]
    texts2: list[str]
    scores: list[float]


def load_beir(path: str | Path, *, split: str = "test") -> RetrievalBenchmark:
    """Load one split of a BEIR-layout folder; the document text is :func:`~embedlab.encode.text.with_title`'s.

    Raises:
        InputError: missing files, duplicate ids, a malformed qrels row, qrels naming unknown ids.
    """
    root = Path(path)
    qrels_path = root / "qrels" / f"{split}.tsv"
    for required in (root / "corpus.jsonl", root / "queries.jsonl", qrels_path):
        if not required.is_file():
            raise InputError(f"{root} is not a BEIR benchmark for split {split!r}: {required} is missing.")
    docs = read_texts(root / "corpus.jsonl", id_field="_id", title_field="title")
    corpus_all = {
        doc_id: with_title(title, text).strip()
        for doc_id, title, text in zip(docs.ids, docs.titles or [None] * len(docs.ids), docs.texts, strict=True)
    }
    query_records = read_texts(root / "queries.jsonl", id_field="_id")
    queries_all = dict(zip(query_records.ids, query_records.texts, strict=True))
    qrels = read_qrels(qrels_path)

    unknown_queries = sorted(set(qrels) - set(queries_all))
    unknown_docs = sorted({d for judged in qrels.values() for d in judged} - set(corpus_all))
    if unknown_queries or unknown_docs:
        raise InputError(
            f"{qrels_path} names {len(unknown_queries)} unknown query ids {unknown_queries[:5]} and "
            f"{len(unknown_docs)} unknown document ids {unknown_docs[:5]}: the qrels do not belong to this corpus."
        )
    dropped: dict[str, int] = {}
    corpus = {doc_id: text for doc_id, text in corpus_all.items() if text}
    dropped["empty_documents"] = len(corpus_all) - len(corpus)
    queries = {qid: queries_all[qid].strip() for qid in qrels if queries_all[qid].strip()}
    dropped["empty_queries"] = len(qrels) - len(queries)
    judged = {qid: qrels[qid] for qid in queries if any(grade > 0 for grade in qrels[qid].values())}
    dropped["queries_without_relevant"] = len(queries) - len(judged)
    queries = {qid: queries[qid] for qid in judged}
    for reason, count in dropped.items():
        if count:
            warnings.warn(f"{root.name}/{split}: left out {count} {reason.replace('_', ' ')}.", BenchmarkWarning, 2)
    return RetrievalBenchmark(
        corpus=corpus, queries=queries, qrels=judged, name=f"{root.name}/{split}", dropped=dropped
    )


def has_split(benchmark: str | Path, split: str) -> bool:
    """Whether the BEIR folder ``benchmark`` judges queries for ``split`` (has ``qrels/SPLIT.tsv``)."""
    return (Path(benchmark) / "qrels" / f"{split}.tsv").is_file()


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Read a BEIR qrels TSV (header ``query-id corpus-id score``) into ``{query: {doc: grade}}``."""
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    rows = csv.reader(io.StringIO(read_text_file(path)), delimiter="\t", quoting=csv.QUOTE_NONE)
    for number, row in enumerate(rows, start=1):
        if not any(cell.strip() for cell in row):
            continue  # blank lines (a trailing newline, say)
        if number == 1 and row and not row[-1].lstrip("-").isdigit():
            continue  # header
        if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
            raise InputError(f"{path}:{number}: expected 'query-id<TAB>corpus-id<TAB>integer score', got {row}.")
        query, doc, grade = row[0].strip(), row[1].strip(), int(row[2])
        if doc in qrels.setdefault(query, {}):
            raise InputError(f"{path}:{number}: query {query} judges document {doc} twice.")
        qrels[query][doc] = grade
    return qrels


def load_pairs(
    path: str | Path, *, text1_field: str = "text1", text2_field: str = "text2", score_field: str = "score"
) -> PairSet:
    """Read scored pairs from .csv/.tsv, .jsonl or .parquet.

    A CSV whose first row ends in a number has no header and is read by position (``text1, text2,
    score``, as the STS-B files); otherwise the named fields are used.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        table = read_table(path)
        if table and len(table[0][1]) >= 3 and _is_number(table[0][1][2]):
            rows = [(row[0], row[1], row[2]) if len(row) >= 3 else (row, None, None) for _, row in table]
            return _pairs(path, rows, lambda number: f"{path}:{table[number][0]}")
    records = read_records(path)
    if records and not {text1_field, text2_field, score_field} <= set(records[0]):
        raise InputError(
            f"{path}: needs fields {text1_field!r}, {text2_field!r}, {score_field!r}; has {', '.join(records[0])}."
        )
    return _pairs(path, [(r[text1_field], r[text2_field], r[score_field]) for r in records], records.where)


def _pairs(path: Path, rows: Sequence[tuple[object, object, object]], where: Callable[[int], str]) -> PairSet:
    texts1, texts2, scores = [], [], []
    for number, (left, right, score) in enumerate(rows):
        if not isinstance(left, str) or not isinstance(right, str) or not _is_number(str(score)):
            raise InputError(f"{where(number)}: expected 'text1,text2,score', got {[left, right, score]}.")
        texts1.append(left)
        texts2.append(right)
        scores.append(float(str(score)))
    if not scores:
        raise InputError(f"{path}: no scored pairs (expected rows of 'text1,text2,score').")
    return PairSet(texts1=texts1, texts2=texts2, scores=scores)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
