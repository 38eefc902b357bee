from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from embedlab import InputError
from embedlab.bias import load_exposure_documents, retrieval_exposure
from embedlab.evaluate import BM25Search
from embedlab.evaluate.retrieval import Ranking

GROUPS = {"a1": "A", "a2": "A", "b1": "B", "b2": "B"}


def _fixed(order: list[str]) -> object:
    def search(queries: Sequence[str], k: int) -> list[Ranking]:
        return [[(doc, 1.0) for doc in order[:k]] for _ in queries]

    return search


def test_exposure_by_hand() -> None:
    # ranks 1, 2, 3 hold A, B, A: weights 1, 1/log2(3), 1/2.
    result = retrieval_exposure(_fixed(["a1", "b1", "a2"]), ["q"], GROUPS, k=3)  # type: ignore[arg-type]
    total = 1 + 1 / math.log2(3) + 0.5
    assert result.exposure == pytest.approx({"A": 1.5 / total, "B": (1 / math.log2(3)) / total})
    assert result.share == pytest.approx({"A": 2 / 3, "B": 1 / 3})
    assert result.expected == {"A": 0.5, "B": 0.5}
    assert result.gap == pytest.approx((1.5 - 1 / math.log2(3)) / total)


def test_planted_preference_through_bm25() -> None:
    corpus = {"a1": "senior engineer he", "a2": "engineer he leads", "b1": "she bakes bread", "b2": "she sings"}
    result = retrieval_exposure(BM25Search(corpus, language=None), ["engineer", "he"], GROUPS, k=2)
    assert result.share == {"A": 1.0, "B": 0.0}
    assert result.gap == 1.0


def test_exposure_needs_groups_and_queries() -> None:
    with pytest.raises(InputError, match="compares groups"):
        retrieval_exposure(_fixed(["a1"]), ["q"], {"a1": "A"})  # type: ignore[arg-type]
    with pytest.raises(InputError, match="at least one query"):
        retrieval_exposure(_fixed(["a1"]), [], GROUPS)  # type: ignore[arg-type]


def test_gap_is_relative_to_corpus_share() -> None:
    groups = {"a1": "A", "a2": "A", "a3": "A", "a4": "A", "b1": "B"}  # A is 80% of the corpus
    proportional = retrieval_exposure(_fixed(["a1", "a2", "b1", "a3", "a4"]), ["q"], groups, k=5)  # type: ignore[arg-type]
    assert proportional.share == pytest.approx({"A": 0.8, "B": 0.2})
    total = sum(1 / math.log2(rank + 1) for rank in range(1, 6))
    # B holds rank 3: exposure 0.5 / total = 0.170 against 0.2 expected; A the rest; the spread is twice that.
    assert proportional.gap == pytest.approx(2 * (0.2 - 0.5 / total))
    favoured = retrieval_exposure(_fixed(["b1", "a1", "a2", "a3", "a4"]), ["q"], groups, k=5)  # type: ignore[arg-type]
    assert favoured.gap > proportional.gap


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "1", "text": "a", "group": "f"}\n{"id": ["2"], "text": "b", "group": "m"}\n', r"docs.jsonl:2: each"),
        ('{"id": "1", "text": {"a": 1}, "group": "f"}\n', r"docs.jsonl:1: each document needs"),
        ('{"id": "1", "text": "a", "group": 5}\n', r"docs.jsonl:1: each document needs"),
        ('{"id": "1", "text": "a", "group": "f"}\n{"id": "1", "text": "b", "group": "m"}\n', "id 1 is repeated"),
        ("", "no documents"),
    ],
)
def test_exposure_documents_are_validated(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_exposure_documents(path)


def test_exposure_documents_load(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": 1, "text": "a", "group": "f"}\n{"id": "2", "text": "b", "group": "m"}\n')
    assert load_exposure_documents(path) == ({"1": "a", "2": "b"}, {"1": "f", "2": "m"})
