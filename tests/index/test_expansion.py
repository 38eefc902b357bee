"""Query expansion: RM3's terms on a tiny corpus against a hand computation, and what they do to a search."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedlab import Encoder, InputError
from embedlab.index import Index
from embedlab.index.expansion import Vocabulary, expand
from embedlab.index.settings import update_settings

# 20 rows: "risk" is in 4 of them (over 10%: too common to add), "stroke" and "aspirin" in 2, "common" in 18
ROWS = ["aspirin lowers stroke risk", "aspirin prevents strokes", *["common risk"] * 3, *["common"] * 15]


def test_rm3_terms_and_weights_by_hand() -> None:
    vocabulary = Vocabulary.of(ROWS)
    assert (vocabulary.rows, vocabulary.frequencies["stroke"], vocabulary.frequencies["risk"]) == (20, 2, 4)
    feedback = [("Aspirin lowers the stroke risk", 3.0), ("Aspirin prevents strokes", 1.0)]
    # kept terms (stop word "the" and the too common "risk" left out): aspirin, lower, stroke | aspirin, prevent, stroke
    # relevance model: aspirin 3/3 + 1/3 = 4/3, stroke 4/3, lower 1, prevent 1/3 (sum 4); one query term, the
    # query's share 0.5: each term weighs 1 * 1 * model / 4 (aspirin's on top of the plain query's 1)
    expansion = expand("aspirin", feedback, vocabulary)
    assert expansion.query == "aspirin"
    assert [word for word, _ in expansion.terms] == ["aspirin", "stroke", "lowers", "prevents"]  # ties by term
    assert [weight for _, weight in expansion.terms] == pytest.approx([1 / 3, 1 / 3, 1 / 4, 1 / 12])
    # the query's share 0.2, two terms (aspirin, stroke: 8/3): 4 * 1 / (8/3) = 1.5 per unit, a new term at most 1
    assert expand("aspirin", feedback, vocabulary, terms=2, original=0.2).terms == (("aspirin", 2.0), ("stroke", 1.0))
    assert expand("aspirin", [], vocabulary).terms == ()  # no feedback, nothing added
    assert expand("aspirin", feedback, Vocabulary.of(ROWS[:5])).terms == ()  # 5 rows: every term is too common
    assert expand("the", feedback, vocabulary).terms == ()  # only stop words: no query term to weigh against


CORPUS = [
    {"id": "a", "text": "Cats have whiskers."},
    {"id": "b", "text": "Whiskers sense the air."},
    *({"id": f"f{i}", "text": f"Filler note {i}."} for i in range(18)),
]


@pytest.fixture
def index(tmp_path: Path, encoder: Encoder) -> Index:
    """20 documents: "cats" is only in a, which also has "whiskers" (and the stop word "have"), as has b."""
    return Index.build(tmp_path / "index", CORPUS, encoder)


def test_expansion_finds_a_document_without_the_query_terms(index: Index) -> None:
    assert [hit.doc_id for hit in index.search("cats", mode="bm25")] == ["a"]
    expanded = index.search("cats", mode="bm25", expand=True)  # feedback: a alone; model: cat 1/2, whisker 1/2
    cats = {hit.doc_id: hit.score for hit in index.search("cats", mode="bm25")}
    whiskers = {hit.doc_id: hit.score for hit in index.search("whiskers", mode="bm25")}
    assert [hit.doc_id for hit in expanded] == ["a", "b"]
    assert [hit.score for hit in expanded] == pytest.approx(
        [1.5 * cats["a"] + 0.5 * whiskers["a"], 0.5 * whiskers["b"]]
    )
    hybrid = {hit.doc_id: hit.components for hit in index.search("cats", k=20, mode="hybrid", expand=True)}
    plain = {hit.doc_id: hit.components for hit in index.search("cats", k=20, mode="hybrid")}
    assert "bm25" in hybrid["b"] and "bm25" not in plain["b"]  # the vector side is the same query's
    index.add([{"id": "c", "text": "Whiskers again."}, {"id": "d", "text": "More whiskers."}])  # now in 4 of 22 rows
    assert [hit.doc_id for hit in index.search("cats", mode="bm25", expand=True)] == ["a"]  # too common to add


def test_the_index_setting_is_the_default(index: Index) -> None:
    update_settings(index.path, index.settings, {"expand": {"bm25": True, "hybrid": False}})
    reopened = Index.open(index.path, index.encoder)
    assert [hit.doc_id for hit in reopened.search("cats", mode="bm25")] == ["a", "b"]
    assert [hit.doc_id for hit in reopened.search("cats", mode="bm25", expand=False)] == ["a"]
    assert "bm25" not in {h.doc_id: h.components for h in reopened.search("cats", k=20, mode="hybrid")}["b"]
    assert reopened.search("cats", k=1)[0].components.keys() == {"vector"}  # vector search: the setting is moot


def test_expansion_refused_where_it_cannot_apply(tmp_path: Path, index: Index) -> None:
    with pytest.raises(InputError, match="expand adds terms to the BM25 query: use it with mode bm25 or hybrid"):
        index.search("cats", expand=True)
    with pytest.raises(InputError, match="use it with mode bm25 or hybrid"):
        index.search_vectors(index.encoder.encode(["cats"]), expand=True)
    with pytest.raises(InputError, match="expand must be true, false or unset; got 'yes'"):
        index.search("cats", mode="bm25", expand="yes")
    assert index.search("   ", mode="bm25", expand=True) == []  # a blank query: nothing to expand or find
    with pytest.raises(InputError, match="No embedlab index"):
        Index.open(tmp_path / "nowhere")
