"""Retrieval exposure: how much of the top of the ranking each group of documents gets.

Documents carry a group (for example CVs with a gendered term swapped: the same CV once with "he", once
with "she"). For each query the search callable's top ``k`` is read; a group's *share* is the fraction
of top-k slots it holds, its *exposure* the same weighted by position (``1 / log2(rank + 1)``, as in
DCG), both compared with its share of the corpus. The *gap* is the spread of ``exposure - expected``
across groups: 0 when every group is exactly as visible as its share of the corpus, whatever the sizes.
Any search function of the evaluation suite works (vector, BM25, hybrid, a remote server).

Example:
    >>> result = retrieval_exposure(ExactSearch(encoder, cvs), ["experienced engineer"], groups, k=10)  # doctest: +SKIP
    >>> result.exposure, result.gap  # needs a corpus of CVs with groups  # doctest: +SKIP
    ({'female': 0.46, 'male': 0.54}, 0.08)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.bias.association import is_text_list
from embedlab.errors import InputError
from embedlab.evaluate.retrieval import SearchFn
from embedlab.io import read_records

UNGROUPED = "(no group)"


@dataclass(frozen=True)
class ExposureResult:
    """Top-k share and position-weighted exposure of each group, the corpus shares, and the gap."""

    k: int
    queries: int
    share: dict[str, float]
    exposure: dict[str, float]
    expected: dict[str, float]
    gap: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def load_exposure_documents(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """Documents for :func:`retrieval_exposure` from records with ``id``, ``text`` and ``group``.

    Returns ``(corpus {id: text}, groups {id: group})``.

    Raises:
        InputError: no documents, a record without a non-empty text and group or with a repeated id (its line).
    """
    rows = read_records(path)
    corpus: dict[str, str] = {}
    groups: dict[str, str] = {}
    for index, row in enumerate(rows):
        doc, text, group = row.get("id"), row.get("text"), row.get("group")
        if isinstance(doc, bool) or not isinstance(doc, str | int) or not is_text_list([text, group]):
            raise InputError(
                f"{rows.where(index)}: each document needs an id and a non-empty text and group (strings)."
            )
        if str(doc) in corpus:
            raise InputError(f"{rows.where(index)}: the id {doc} is repeated.")
        corpus[str(doc)], groups[str(doc)] = str(text), str(group)
    if not corpus:
        raise InputError(f"{path}: no documents.")
    return corpus, groups


def retrieval_exposure(
    search: SearchFn, queries: Sequence[str], doc_groups: dict[str, str], *, k: int = 10
) -> ExposureResult:
    """Measure each group's share of the top ``k`` over ``queries`` (see the module docstring)."""
    if not queries:
        raise InputError("Exposure needs at least one query.")
    groups = sorted(set(doc_groups.values()))
    if len(groups) < 2:
        raise InputError(f"Exposure compares groups; the documents have {len(groups)}.")
    slots = dict.fromkeys([*groups, UNGROUPED], 0.0)
    weights = dict.fromkeys([*groups, UNGROUPED], 0.0)
    for ranking in search(list(queries), k):
        for rank, (doc, _) in enumerate(ranking[:k], start=1):
            group = doc_groups.get(doc, UNGROUPED)
            slots[group] += 1
            weights[group] += 1 / np.log2(rank + 1)
    if not slots[UNGROUPED] and not weights[UNGROUPED]:
        slots.pop(UNGROUPED)
        weights.pop(UNGROUPED)
    total_slots, total_weight = sum(slots.values()), sum(weights.values())
    if total_slots == 0:
        raise InputError("The search returned no documents for any query.")
    share = {g: float(v / total_slots) for g, v in slots.items()}
    exposure = {g: float(v / total_weight) for g, v in weights.items()}
    counts = {g: sum(1 for value in doc_groups.values() if value == g) for g in groups}
    expected = {g: counts[g] / len(doc_groups) for g in groups}
    excess = [exposure.get(g, 0.0) - expected[g] for g in groups]
    return ExposureResult(k, len(queries), share, exposure, expected, float(max(excess) - min(excess)))
