"""The split verdict: test queries on documents seen in training vs new documents, with a known answer."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from embedlab.evaluate.coverage import Coverage, GroupVerdict, coverage, coverage_evaluators, split_by_seen
from embedlab.evaluate.data import RetrievalBenchmark
from embedlab.evaluate.evaluators import RetrievalEvaluator
from embedlab.evaluate.stats import Estimate, PairedComparison
from embedlab.evaluate.suite import SystemResult, build_report

# Ten queries, each with one relevant document; q0-q5 point at documents training saw, q6-q9 at new ones.
CORPUS = {**{f"d{i}": f"document {i}" for i in range(10)}, "filler": "a document relevant to nothing"}
QUERIES = {f"q{i}": f"query {i}" for i in range(10)}
QRELS = {f"q{i}": {f"d{i}": 1} for i in range(10)}
BENCH = RetrievalBenchmark(CORPUS, QUERIES, QRELS, name="tiny/test")
SEEN = {f"d{i}" for i in range(6)}
SECOND = 1 / math.log2(3)  # NDCG@10 of a single relevant document ranked second


def _ranker(first_for: set[str]) -> object:
    """Ranks each query's relevant document first when the query is in ``first_for``, else after the filler."""
    by_text = {text: qid for qid, text in QUERIES.items()}

    def search(queries: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        rankings = []
        for text in queries:
            qid = by_text[text]
            relevant = f"d{qid[1:]}"
            order = [relevant, "filler"] if qid in first_for else ["filler", relevant]
            rankings.append([(doc, 1.0 - rank / 10) for rank, doc in enumerate(order)])
        return rankings

    return search


def _report() -> Coverage:
    evaluators = [RetrievalEvaluator(BENCH), *coverage_evaluators(BENCH, SEEN)]
    systems = [
        SystemResult(name, "model", results={e.name: e.search(_ranker(first)) for e in evaluators})  # type: ignore[arg-type]
        for name, first in (("base", set()), ("adapted", {f"q{i}" for i in range(6)}))
    ]
    report = build_report(systems, evaluators)
    return coverage(report, "adapted")


def test_queries_are_grouped_by_whether_training_saw_a_relevant_document() -> None:
    groups = split_by_seen(BENCH, SEEN)
    assert list(groups["seen"].queries) == [f"q{i}" for i in range(6)]
    assert list(groups["unseen"].queries) == [f"q{i}" for i in range(6, 10)]
    assert groups["seen"].corpus is CORPUS  # ranked against the whole corpus, as in the full test
    assert list(split_by_seen(BENCH, set())) == ["unseen"]


def test_the_split_verdict_on_a_tiny_benchmark_with_a_known_answer() -> None:
    result = _report()
    seen, unseen = result.groups["seen"], result.groups["unseen"]
    assert (seen.queries, unseen.queries) == (6, 4)
    # base ranks every relevant document second; adapted ranks the seen ones first, the new ones as before
    assert seen.base.value == pytest.approx(SECOND) and seen.adapted.value == pytest.approx(1.0)
    assert seen.test.difference.value == pytest.approx(1 - SECOND)
    assert seen.test.p_value == pytest.approx(2 / 2**6)  # exact sign-flip test: only all-up or all-down as extreme
    assert seen.test.verdict == "better"
    assert unseen.base.value == pytest.approx(SECOND) == unseen.adapted.value
    assert (unseen.test.p_value, unseen.test.verdict) == (1.0, "no significant difference")


def test_the_report_says_when_the_lift_lives_only_in_seen_documents() -> None:
    text = _report().sentence()
    assert text == (
        "NDCG@10 on 6 test queries on documents seen in training: 0.6309 -> 1.0000 (+0.3691, p = 0.031, better); "
        "on 4 test queries on documents training never saw: 0.6309 -> 0.6309 (+0.0000, p = 1, no significant "
        "difference). The lift lives only in documents seen in training: on new documents the adapted model is no "
        "better than the base."
    )
    recorded = _report().to_dict()
    assert recorded["seen"]["queries"] == 6 and recorded["unseen"]["p_value"] == 1.0 and recorded["verdict"] == text


def _group(group: str, difference: float, p_value: float) -> GroupVerdict:
    test = PairedComparison(Estimate(difference, difference - 0.01, difference + 0.01), p_value, 50)
    return GroupVerdict(group, 50, Estimate(0.5, 0.45, 0.55), Estimate(0.5 + difference, 0.4, 0.6), test)


def test_the_other_verdicts_in_words() -> None:
    worse = Coverage("ndcg@10", {"seen": _group("seen", 0.1, 0.001), "unseen": _group("unseen", -0.05, 0.01)})
    assert "worse than the base on new documents: keep the base" in worse.sentence()
    both = Coverage("ndcg@10", {"seen": _group("seen", 0.1, 0.001), "unseen": _group("unseen", 0.05, 0.01)})
    assert both.sentence().endswith("The lift holds on documents training never saw.")
    only_seen = Coverage("ndcg@10", {"seen": _group("seen", 0.1, 0.001)})
    assert "Every test query points at a document training saw" in only_seen.sentence()
    assert "--split-by document" in only_seen.sentence()
    only_new = Coverage("ndcg@10", {"unseen": _group("unseen", 0.0, 1.0)})
    assert only_new.sentence().endswith("the figure measures new documents.")
