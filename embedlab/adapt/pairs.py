"""Synthetic (query, document) pairs: what a pair is, the report of what was kept, the round-trip filter.

:func:`filter_pairs` drops empty and too-short queries, queries identical to their document and
duplicates, then keeps a pair only if its document comes back in the top ``k`` for its query from at
least one search function (round-trip filtering, e.g. the base model and BM25). :func:`write_pairs`
writes ``anchor``, ``positive``, ``doc_id`` rows that :func:`embedlab.adapt.data.read_training_pairs`
reads. The generators are :func:`embedlab.adapt.doc2query.doc2query` (an LLM) and
:func:`embedlab.adapt.synthetic.inverse_cloze` (no model); :func:`embedlab.adapt.synthetic.synthesize`
chains a generator and the filter.

Example:
    >>> corpus = {"bread": "Sourdough rises with a wild yeast starter.", "tea": "Green tea is steamed."}
    >>> pairs = [SyntheticPair("how does sourdough rise", "bread", "doc2query"),
    ...          SyntheticPair("How does sourdough rise?", "bread", "doc2query")]
    >>> kept, report = filter_pairs(pairs, corpus, search=lambda queries, k: [[("bread", 1.0)] for _ in queries])
    >>> [pair.query for pair in kept], report.duplicates
    (['how does sourdough rise'], 1)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from embedlab.encode import normalize_text
from embedlab.errors import InputError
from embedlab.evaluate.retrieval import SearchFn
from embedlab.io import write_records


@dataclass(frozen=True)
class SyntheticPair:
    """A generated query for document ``doc_id``; ``positive`` is set only when it differs from the document.

    ``method`` is ``"doc2query"`` or ``"inverse_cloze"``.
    """

    query: str
    doc_id: str
    method: str
    positive: str | None = None

    def positive_text(self, corpus: dict[str, str]) -> str:
        """The text to train on as this query's positive: :attr:`positive`, else the document."""
        return self.positive if self.positive is not None else corpus[self.doc_id]


@dataclass
class SyntheticReport:
    """What was generated and what was dropped, and why.

    ``documents``: documents asked about; ``generated``: queries produced; ``llm_errors``: documents whose
    request failed after retries (``errors`` keeps a few messages); ``documents_without_query``: documents
    that gave no query (no usable sentence, or an empty answer). The filter's drops: ``too_short``,
    ``same_as_document``, ``duplicates``, ``failed_round_trip``; ``kept`` pairs remain.
    """

    method: str
    documents: int = 0
    generated: int = 0
    llm_errors: int = 0
    documents_without_query: int = 0
    too_short: int = 0
    same_as_document: int = 0
    duplicates: int = 0
    failed_round_trip: int = 0
    kept: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)


def filter_pairs(
    pairs: Sequence[SyntheticPair],
    corpus: dict[str, str],
    *,
    search: SearchFn | Sequence[SearchFn],
    k: int = 10,
    min_words: int = 2,
    report: SyntheticReport | None = None,
) -> tuple[list[SyntheticPair], SyntheticReport]:
    """Deduplicate and round-trip filter ``pairs``; returns the kept pairs (in order) and the counts.

    In order, a pair is dropped when its query has fewer than ``min_words`` words (``too_short``), equals
    its document or positive (``same_as_document``), repeats an earlier query (``duplicates``: compared
    after Unicode and whitespace normalisation, case-insensitively and without end punctuation, across
    all documents, the first kept), or when no search function returns its document in the top ``k``
    (``failed_round_trip``). Each search function is called once with all the queries still undecided.

    Args:
        pairs: generated pairs; every ``doc_id`` must be in ``corpus``.
        corpus: ``{doc_id: text}``.
        search: one search function ``search(queries, k) -> [[(doc_id, score), ...], ...]`` or several
            (a pair passes if any of them finds its document), e.g. ``ExactSearch`` and ``BM25Search``
            over ``corpus``.
        k: how deep the document must be found.
        min_words: shorter queries are dropped.
        report: the generator's report, copied and completed; a new one when ``None``.

    Example:
        >>> searches = [ExactSearch(encoder, corpus), BM25Search(corpus)]  # doctest: +SKIP
        >>> kept, report = filter_pairs(pairs, corpus, search=searches, k=10)  # doctest: +SKIP
        >>> report.failed_round_trip  # needs generated pairs and an encoder  # doctest: +SKIP
        3
    """
    searches = [search] if callable(search) else list(search)
    if not searches:
        raise InputError("filter_pairs needs at least one search function.")
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}.")
    unknown = sorted({pair.doc_id for pair in pairs} - set(corpus))
    if unknown:
        raise InputError(f"{len(unknown)} pairs name documents not in the corpus: {unknown[:5]}")
    if report is None:
        report = SyntheticReport(method=",".join(sorted({pair.method for pair in pairs})), generated=len(pairs))
    report = replace(report, errors=list(report.errors))
    seen: set[str] = set()
    documents: dict[str, str] = {}
    candidates: list[SyntheticPair] = []
    for pair in pairs:
        query = normalize_text(pair.query)
        if len(query.split()) < max(min_words, 1):
            report.too_short += 1
            continue
        document = documents.setdefault(pair.doc_id, normalize_text(corpus[pair.doc_id]).casefold())
        if query.casefold() in (document, normalize_text(pair.positive or "").casefold()):
            report.same_as_document += 1
            continue
        key = _dedup_key(query)
        if key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        candidates.append(replace(pair, query=query))
    passed = [False] * len(candidates)
    for search_fn in searches:
        undecided = [i for i, ok in enumerate(passed) if not ok]
        if not undecided:
            break
        rankings = search_fn([candidates[i].query for i in undecided], k)
        if len(rankings) != len(undecided):
            raise InputError(f"A search function returned {len(rankings)} rankings for {len(undecided)} queries.")
        for i, ranking in zip(undecided, rankings, strict=True):
            passed[i] = any(doc == candidates[i].doc_id for doc, _ in ranking[:k])
    kept = [pair for pair, ok in zip(candidates, passed, strict=True) if ok]
    report.failed_round_trip += len(candidates) - len(kept)
    report.kept = len(kept)
    return kept, report


def write_pairs(path: str | Path, pairs: Sequence[SyntheticPair], corpus: dict[str, str]) -> Path:
    """Write ``anchor``, ``positive`` (the text to train on) and ``doc_id`` rows to .jsonl or .csv, atomically.

    Example:
        >>> write_pairs("pairs.jsonl", pairs, corpus)  # writes into the working folder  # doctest: +SKIP
        PosixPath('pairs.jsonl')
    """
    if Path(path).suffix.lower() not in (".jsonl", ".csv"):
        raise InputError(f"{path}: write pairs as .jsonl or .csv, not {Path(path).suffix!r}.")
    rows = [{"anchor": pair.query, "positive": pair.positive_text(corpus), "doc_id": pair.doc_id} for pair in pairs]
    return write_records(path, rows)


def sample_ids(corpus: dict[str, str], max_docs: int | None, seed: int) -> list[str]:
    """All ids, or a seeded sample of ``max_docs`` of them, in corpus order."""
    doc_ids = list(corpus)
    if max_docs is not None and max_docs < 0:
        raise InputError(f"max_docs must not be negative, got {max_docs}.")
    if max_docs is None or max_docs >= len(doc_ids):
        return doc_ids
    chosen = set(random.Random(seed).sample(range(len(doc_ids)), max_docs))
    return [doc_id for i, doc_id in enumerate(doc_ids) if i in chosen]


def _dedup_key(query: str) -> str:
    return normalize_text(query).casefold().rstrip("?.!… ")
