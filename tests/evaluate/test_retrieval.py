from __future__ import annotations

import math

import pytest

from embedlab import Encoder
from embedlab.evaluate import BenchmarkWarning, BM25Search, ExactSearch, RetrievalBenchmark, evaluate, retrieval_metrics

ALL = ["ndcg@10", "mrr@10", "map@10", "recall@1", "recall@2", "precision@2", "hit_rate@1"]


def test_binary_relevance_by_hand() -> None:
    result = retrieval_metrics({"q": {"a": 1}}, {"q": [("b", 0.9), ("a", 0.5), ("c", 0.1)]}, ALL)
    assert result.mean == pytest.approx(
        {
            "ndcg@10": 1 / math.log2(3),  # the one relevant document at rank 2
            "mrr@10": 0.5,
            "map@10": 0.5,
            "recall@1": 0.0,
            "recall@2": 1.0,
            "precision@2": 0.5,
            "hit_rate@1": 0.0,
        }
    )


def test_graded_ndcg_uses_linear_gains() -> None:
    result = retrieval_metrics({"q": {"a": 2, "b": 1}}, {"q": [("b", 0.9), ("a", 0.8)]}, ["ndcg@10"])
    dcg = 1 / math.log2(2) + 2 / math.log2(3)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert result.mean["ndcg@10"] == pytest.approx(dcg / ideal)


def test_ties_keep_the_order_returned() -> None:
    qrels = {"q": {"a": 1}}
    assert retrieval_metrics(qrels, {"q": [("b", 0.5), ("a", 0.5)]}, ["mrr@10"]).mean["mrr@10"] == 0.5
    assert retrieval_metrics(qrels, {"q": [("a", 0.5), ("b", 0.5)]}, ["mrr@10"]).mean["mrr@10"] == 1.0


def test_a_query_with_no_results_scores_zero_and_still_counts() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    result = retrieval_metrics(qrels, {"q1": [("a", 1.0)], "q2": []}, ["mrr@10", "recall@2"])
    assert result.per_query == {"q1": {"mrr@10": 1.0, "recall@2": 1.0}, "q2": {"mrr@10": 0.0, "recall@2": 0.0}}
    assert result.mean == {"mrr@10": 0.5, "recall@2": 0.5}


def test_repeated_documents_count_once() -> None:
    result = retrieval_metrics({"q": {"a": 1, "b": 1}}, {"q": [("a", 0.9), ("a", 0.8), ("b", 0.7)]}, ["recall@2"])
    assert result.mean["recall@2"] == 1.0


CORPUS = {
    "cat": "The cat sleeps on the warm windowsill.",
    "stock": "Stock markets fell sharply after the announcement.",
    "soccer": "The team won the football match in extra time.",
    "bake": "Preheat the oven before baking the bread.",
}
BENCH = RetrievalBenchmark(
    corpus=CORPUS,
    queries={"q1": "Where is the kitten napping?", "q2": "Which club won the game?", "q3": "baking bread in an oven"},
    qrels={"q1": {"cat": 1}, "q2": {"soccer": 1}, "q3": {"bake": 1}},
)


def test_exact_search_finds_the_paraphrases(encoder: Encoder) -> None:
    result = evaluate(ExactSearch(encoder, CORPUS), BENCH, k=4)
    assert result.mean["mrr@10"] == 1.0
    assert result.rankings["q1"][0][0] == "cat"
    scores = [score for _, score in result.rankings["q2"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 4


def test_bm25_matches_terms_only() -> None:
    search = BM25Search(CORPUS)
    rankings = search(["baking bread in an oven", "kitten napping"], 10)
    assert rankings[0][0][0] == "bake"  # "baking" and "bake" share the stem
    assert rankings[1] == []  # no shared term: BM25 returns nothing
    result = evaluate(search, BENCH)
    assert result.per_query["q3"]["mrr@10"] == 1.0
    assert result.per_query["q1"]["mrr@10"] == 0.0


def test_per_query_values_belong_to_their_queries_whatever_the_id_order() -> None:
    # ranx sorts query ids internally; our per-query values must still follow our ids.
    qrels = {"qb": {"d1": 1}, "qa": {"d2": 1}, "qc": {"d3": 1}}
    rankings = {"qb": [("d1", 1.0)], "qa": [("d9", 1.0), ("d2", 0.5)], "qc": [("d9", 1.0)]}
    result = retrieval_metrics(qrels, rankings, ["mrr@10"])
    assert {qid: scores["mrr@10"] for qid, scores in result.per_query.items()} == {"qb": 1.0, "qa": 0.5, "qc": 0.0}
    assert result.values("mrr@10").tolist() == [1.0, 0.5, 0.0]


def test_queries_without_a_relevant_document_are_left_out_and_counted() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 0}}
    with pytest.warns(BenchmarkWarning, match="1 queries have no relevant document"):
        result = retrieval_metrics(qrels, {"q1": [("a", 1.0)], "q2": [("b", 1.0)]}, ["mrr@10"])
    assert result.per_query == {"q1": {"mrr@10": 1.0}}


def test_sts_needs_enough_pairs(encoder: Encoder) -> None:
    from embedlab import InputError
    from embedlab.evaluate import PairSet, sts_correlation

    with pytest.raises(InputError, match="at least 10 scored pairs"):
        sts_correlation(encoder, PairSet(["a", "b", "c", "d"], ["a", "b", "c", "e"], [5, 4, 3, 0]))
