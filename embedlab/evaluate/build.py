"""Build a BEIR-layout benchmark from your own data: a corpus plus a query log or a relevance mapping.

The log holds records with a query and a relevant document id, one per row (a click or judgement log,
optionally with a grade), or a list of ids per row (a mapping). Queries are grouped by their normalised
text (NFKC, whitespace, case), so a query asked twice is one query, and the split into train/dev/test is
by query: the same query never lands in two splits. Judgements for documents that are not in the corpus
are left out and counted.

``split_by="document"`` splits by document instead: queries that share a relevant document stay together
(connected groups), so no relevant document of a test query is relevant to a train or dev query, and the
test split measures documents training never saw (a growing corpus), not the catalogue it learned.

Example:
    >>> summary = build_benchmark("corpus.jsonl", "clicks.jsonl", "bench/")  # doctest: +SKIP
    >>> summary.queries  # needs a corpus and a click log  # doctest: +SKIP
    {'train': 700, 'dev': 100, 'test': 200}
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from embedlab.atomic import replace_folder
from embedlab.encode.text import normalize_text
from embedlab.errors import InputError
from embedlab.io import read_records, read_texts

SPLITS = ("train", "dev", "test")
SplitBy = Literal["query", "document"]
SPLIT_BY: tuple[SplitBy, ...] = get_args(SplitBy)


@dataclass
class BenchmarkSummary:
    """What was built: queries per split, documents, judgements, relevant per query, what was left out."""

    path: str
    queries: dict[str, int]
    documents: int
    judgements: int
    relevant_per_query: dict[str, float]
    documents_never_relevant: int
    dropped_unknown_documents: int
    dropped_empty_queries: int
    split_by: str = "query"
    test_documents_in_train: int = 0
    """Relevant documents of test queries that are also relevant to a train query (0 in a document split)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def build_benchmark(
    corpus: str | Path,
    log: str | Path,
    out: str | Path,
    *,
    query_field: str = "query",
    doc_field: str = "doc_id",
    grade_field: str | None = None,
    text_field: str = "text",
    id_field: str | None = None,
    title_field: str | None = None,
    dev: float = 0.1,
    test: float = 0.2,
    seed: int = 13,
    split_by: SplitBy = "query",
    overwrite: bool = False,
) -> BenchmarkSummary:
    """Write ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/{train,dev,test}.tsv`` into ``out``.

    ``split_by`` is ``query`` (each query on its own) or ``document`` (queries sharing a relevant document
    together: see :func:`assign_splits`).

    Raises:
        InputError: bad fractions, an unknown ``split_by``, a document split that leaves train or test
            empty, missing fields, a non-empty ``out`` without ``overwrite``, no judgement
            left, or a row (named by its line) whose query is not a string, whose document id is missing or
            not a string, whole number or list of them, or whose grade is not a whole number.
    """
    if not (0 <= dev < 1 and 0 < test < 1 and dev + test < 1):
        raise InputError(f"dev={dev} and test={test} must be fractions that leave room for train.")
    if split_by not in SPLIT_BY:
        raise InputError(f"Unknown split {split_by!r}: split by {' or '.join(SPLIT_BY)}.")
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target} is a file; give a folder for the benchmark.")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise InputError(f"{target} is not empty; pass overwrite=True (--overwrite) to replace it.")
    docs = read_texts(corpus, text_field=text_field, id_field=id_field, title_field=title_field)
    known = set(docs.ids)
    rows = read_records(log)
    if rows and (query_field not in rows[0] or doc_field not in rows[0]):
        raise InputError(f"{log}: needs fields {query_field!r} and {doc_field!r}; has {', '.join(rows[0])}.")

    texts: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    unknown = empty = 0
    for number, row in enumerate(rows):
        where = rows.where(number)
        query = _query(row, query_field, where)
        key = normalize_text(query).casefold()
        if not key:
            empty += 1
            continue
        qid = "q" + hashlib.sha1(key.encode()).hexdigest()[:12]
        texts.setdefault(qid, normalize_text(query))
        grade = _grade(row, grade_field, where)
        for doc in _documents(row, doc_field, where):
            if doc not in known:
                unknown += 1
                continue
            judged = qrels.setdefault(qid, {})
            judged[doc] = max(grade, judged.get(doc, 0))
    qrels = {qid: judged for qid, judged in qrels.items() if any(g > 0 for g in judged.values())}
    if not qrels:
        raise InputError(f"{log}: no judgement names a document of the corpus ({unknown} did not).")

    split_of = assign_splits(qrels, dev=dev, test=test, seed=seed, by=split_by)

    with replace_folder(target) as staging:
        (staging / "qrels").mkdir(parents=True)
        with open(staging / "corpus.jsonl", "w", encoding="utf-8") as handle:
            titles = docs.titles or [None] * len(docs.ids)
            for doc_id, title, text in zip(docs.ids, titles, docs.texts, strict=True):
                handle.write(json.dumps({"_id": doc_id, "title": title or "", "text": text}, ensure_ascii=False) + "\n")
        with open(staging / "queries.jsonl", "w", encoding="utf-8") as handle:
            for qid in sorted(qrels):
                handle.write(json.dumps({"_id": qid, "text": texts[qid]}, ensure_ascii=False) + "\n")
        for split in SPLITS:
            with open(staging / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as handle:
                handle.write("query-id\tcorpus-id\tscore\n")
                for qid in sorted(q for q in qrels if split_of[q] == split):
                    for doc, grade in sorted(qrels[qid].items()):
                        handle.write(f"{qid}\t{doc}\t{grade}\n")

    relevant_in = {split: _relevant(qrels, [q for q, s in split_of.items() if s == split]) for split in SPLITS}
    relevant = [sum(g > 0 for g in judged.values()) for judged in qrels.values()]
    ever_relevant = {doc for judged in qrels.values() for doc, g in judged.items() if g > 0}
    return BenchmarkSummary(
        path=str(target),
        queries={split: sum(1 for q in split_of.values() if q == split) for split in SPLITS},
        documents=len(docs.ids),
        judgements=sum(len(judged) for judged in qrels.values()),
        relevant_per_query={
            "mean": sum(relevant) / len(relevant),
            "min": float(min(relevant)),
            "max": float(max(relevant)),
        },
        documents_never_relevant=len(known - ever_relevant),
        dropped_unknown_documents=unknown,
        dropped_empty_queries=empty,
        split_by=split_by,
        test_documents_in_train=len(relevant_in["test"] & relevant_in["train"]),
    )


def assign_splits(
    qrels: dict[str, dict[str, int]], *, dev: float, test: float, seed: int = 13, by: SplitBy = "query"
) -> dict[str, str]:
    """The split (``train``, ``dev`` or ``test``) of each judged query, seeded.

    ``by="query"`` shuffles the queries and cuts ``test`` then ``dev`` fractions off the front. ``by="document"``
    shuffles *groups* of queries linked by a shared relevant document (grade > 0) and fills test, then dev, by
    whole groups, so a relevant document of a test query is relevant to no train or dev query; a group
    larger than what is left of a fraction makes that split a little larger.

    Example:
        >>> qrels = {"a": {"d1": 1}, "b": {"d1": 1}, "c": {"d2": 1}, "d": {"d3": 1}}
        >>> split = assign_splits(qrels, dev=0.0, test=0.5, by="document")
        >>> split["a"] == split["b"]
        True

    Raises:
        InputError: a document split whose groups leave no train or no test query (one document relevant to
            nearly every query).
    """
    query_ids = sorted(qrels)
    groups = [[qid] for qid in query_ids] if by == "query" else _document_groups(qrels)
    random.Random(seed).shuffle(groups)
    n_test, n_dev = round(len(query_ids) * test), round(len(query_ids) * dev)
    split_of: dict[str, str] = {}
    for group in groups:
        done = len(split_of)
        split = "test" if done < n_test else "dev" if done < n_test + n_dev else "train"
        split_of.update(dict.fromkeys(group, split))
    if by == "document" and not {"train", "test"} <= set(split_of.values()):
        raise InputError(
            f"A document split of {len(query_ids)} queries in {len(groups)} groups (queries sharing a relevant "
            "document) leaves no train or no test query; split by query instead."
        )
    return split_of


def _document_groups(qrels: dict[str, dict[str, int]]) -> list[list[str]]:
    """Queries linked through shared relevant documents (connected components), each sorted, in a stable order."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for qid in sorted(qrels):
        for doc, grade in qrels[qid].items():
            if grade > 0:
                parent[root("q:" + qid)] = root("d:" + doc)
    groups: dict[str, list[str]] = {}
    for qid in sorted(qrels):
        groups.setdefault(root("q:" + qid), []).append(qid)
    return sorted(groups.values())


def _relevant(qrels: dict[str, dict[str, int]], query_ids: list[str]) -> set[str]:
    return {doc for qid in query_ids for doc, grade in qrels[qid].items() if grade > 0}


def _query(row: dict[str, Any], field: str, where: str) -> str:
    """The query of a log row: a string (null or missing is an empty query, counted and left out)."""
    value = row.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{where}: {field!r} must be a string (the query), got {type(value).__name__} {value!r:.80}.")
    return value


def _documents(row: dict[str, Any], field: str, where: str) -> list[str]:
    """The document ids a log row judges: one id (a string or whole number) or a list of them."""
    if field not in row or row[field] is None:
        raise InputError(f"{where}: no {field!r} (the relevant document id).")
    value = row[field]
    ids = value if isinstance(value, list) else [value]
    wrong = [doc for doc in ids if isinstance(doc, bool) or not isinstance(doc, str | int)]
    if wrong or not ids:
        raise InputError(
            f"{where}: {field!r} must be a document id (a string or whole number) or a non-empty list of them, "
            f"got {value!r:.80}."
        )
    return [str(doc) for doc in ids]


def _grade(row: dict[str, Any], field: str | None, where: str) -> int:
    """The grade of a log row: a whole number (1 when there is no grade field)."""
    if field is None:
        return 1
    value = row.get(field)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return int(value)
        except ValueError:
            pass
    raise InputError(f"{where}: grade {field!r} is {value!r:.80}, not a whole number.")
