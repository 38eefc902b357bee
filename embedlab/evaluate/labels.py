"""From zero to fifty labels: judge the candidates a search proposes for your queries, saved as BEIR qrels.

:func:`label_queries` walks a list of queries; for each one not judged yet it asks ``propose`` (e.g. hybrid
search over an index) for ``k`` candidates, shows them, reads an answer (the ranks that are relevant) and
appends one ``query-id, corpus-id, score`` row per candidate shown to a BEIR qrels file: 1 for relevant,
0 for judged not relevant. Every query's rows are written and flushed to disk before the next query, so an
interrupted session loses at most the query on screen, and the next run resumes with the first query
without a judgement. Query ids are the file's ids, or, for a .txt file, a hash of the text, so adding or
reordering lines does not mix judgements up. ``queries.jsonl`` is written beside ``qrels/`` so that the
qrels, the queries and the index's corpus make a benchmark (``embedlab eval``, ``adapt auto``).

The guidance's table: about 50 labelled pairs is where adaptation moves from synthetic data to
fine-tuning on real pairs (:func:`embedlab.adapt.auto.choose_strategy`).

Example:
    >>> answers = iter(["1,3", "", "q"])
    >>> summary = label_queries(queries, propose, "labels/qrels/test.tsv", answer=lambda q, c: next(answers))
    ... # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from embedlab.atomic import write_file
from embedlab.errors import InputError
from embedlab.evaluate.data import read_qrels
from embedlab.io import read_texts

#: ``propose(query, k) -> [(doc_id, text), ...]``, best first.
Propose = Callable[[str, int], list[tuple[str, str]]]
#: ``answer(query, candidates) -> str``: the user's answer (see :func:`parse_answer`).
Answer = Callable[[str, list[tuple[str, str]]], str]
#: The number of relevant pairs from which ``adapt auto`` fine-tunes on real pairs.
ENOUGH_PAIRS = 50
_HEADER = "query-id\tcorpus-id\tscore\n"
_RANKS = re.compile(r"[\s,;]+")


@dataclass
class LabelSummary:
    """What the session did: queries judged now and before, skipped, relevant pairs in the file, stopped early."""

    judged: int = 0
    already_judged: int = 0
    skipped: int = 0
    relevant_pairs: int = 0
    stopped: bool = False
    remaining: int = 0


def read_queries(path: str | Path) -> dict[str, str]:
    """``{query_id: text}`` from a .txt (one query a line; the id is a hash of the text) or records with ids."""
    records = read_texts(path)
    if Path(path).suffix.lower() == ".txt":
        queries = {query_id(text): text.strip() for text in records.texts}
    else:
        queries = {str(i): text.strip() for i, text in zip(records.ids, records.texts, strict=True)}
    if not queries:
        raise InputError(f"{path} holds no query.")
    return queries


def query_id(text: str) -> str:
    """A stable id for a query given without one.

    Example:
        >>> query_id("reset my password")
        'q-a488074ce8'
    """
    return "q-" + hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:10]


def parse_answer(answer: str, shown: int) -> list[int] | str:
    """The 1-based ranks an answer marks relevant, or ``"skip"``/``"quit"``.

    ``"1,3"`` or ``"1 3"``: those are relevant, the others shown are not; ``""``, ``"0"`` or ``"n"``: none
    is; ``"s"``: skip this query (asked again next time); ``"q"``: stop here.

    Example:
        >>> parse_answer("1, 3", 5), parse_answer("", 5), parse_answer("q", 5)
        ([1, 3], [], 'quit')
    """
    text = answer.strip().lower()
    if text in ("q", "quit"):
        return "quit"
    if text in ("s", "skip"):
        return "skip"
    if text in ("", "0", "n", "none"):
        return []
    ranks: list[int] = []
    for token in _RANKS.split(text):
        if not token.isdigit() or not 1 <= int(token) <= shown:
            raise InputError(f"{answer!r}: give ranks between 1 and {shown} (e.g. 1,3), nothing for none, s or q.")
        if int(token) not in ranks:
            ranks.append(int(token))
    return sorted(ranks)


def label_queries(
    queries: dict[str, str],
    propose: Propose,
    qrels: str | Path,
    *,
    answer: Answer,
    k: int = 10,
    on_error: Callable[[str], None] | None = None,
) -> LabelSummary:
    """Judge each query of ``queries`` not yet in ``qrels`` (a BEIR .tsv, made if missing), in order.

    Args:
        queries: ``{query_id: text}`` (:func:`read_queries`).
        propose: the candidates for a query (e.g. ``Index.search(query, k, mode="hybrid")``'s ids and texts).
        qrels: the qrels file; rows are appended, one query at a time; ``queries.jsonl`` is written into the
            folder above ``qrels/`` when the file sits in one, else beside it.
        answer: asked once per query with its candidates.
        k: candidates shown per query.
        on_error: told why :func:`parse_answer` refused an answer, which is then asked again; without it
            the refusal is raised.

    Raises:
        InputError: a qrels file that is not BEIR's, ``k`` below 1.
    """
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}.")
    path = Path(qrels)
    judged = read_qrels(path) if path.is_file() else {}
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, lambda tmp: tmp.write_text(_HEADER, encoding="utf-8"))
    folder = path.parent.parent if path.parent.name == "qrels" else path.parent
    lines = "".join(json.dumps({"_id": q, "text": t}, ensure_ascii=False) + "\n" for q, t in queries.items())
    write_file(folder / "queries.jsonl", lambda tmp: tmp.write_text(lines, encoding="utf-8"))
    summary = LabelSummary(already_judged=sum(q in judged for q in queries))
    pending = [q for q in queries if q not in judged]
    for position, qid in enumerate(pending):
        candidates = propose(queries[qid], k)[:k]
        verdict = _ask(queries[qid], candidates, answer, on_error)
        if verdict == "quit":
            summary.stopped, summary.remaining = True, len(pending) - position
            break
        if verdict == "skip" or not candidates:
            summary.skipped += 1
            continue
        assert isinstance(verdict, list)
        rows = "".join(f"{qid}\t{doc}\t{int(rank in verdict)}\n" for rank, (doc, _) in enumerate(candidates, 1))
        _append(path, rows)
        judged[qid] = {doc: int(rank in verdict) for rank, (doc, _) in enumerate(candidates, 1)}
        summary.judged += 1
    summary.relevant_pairs = sum(grade > 0 for docs in judged.values() for grade in docs.values())
    return summary


def _ask(query: str, candidates: list[tuple[str, str]], answer: Answer,
         on_error: Callable[[str], None] | None) -> list[int] | str:  # fmt: skip
    while True:
        try:
            return parse_answer(answer(query, candidates), len(candidates))
        except InputError as exc:
            if on_error is None:
                raise
            on_error(str(exc))


def _append(path: Path, rows: str) -> None:
    """Append one query's rows and push them to disk before the next query is shown."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(rows)
        handle.flush()
        os.fsync(handle.fileno())
